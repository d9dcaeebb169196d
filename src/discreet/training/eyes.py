"""Train the eye-state model on eyes cut from whole faces, at the sizes photos give, and export it.

    python -m discreet.training.eyes --data ../shared/data --out src/discreet/models/artifacts/

The model reads one 32x32 eye crop (``attribute_crops.eye_crops``) and gives one logit, eye open.
It learns from three sources:

- ``eyes-faces/no_eyes_open``: whole faces with both eyes closed;
- CelebA and GENKI-4K portraits checked by eye (``labels/eyes_open_celeba_genki.csv``: open or
  closed, of ``use`` ``train``; ``unclear`` ones, where sunglasses, blur or a turn hide the eyes, are
  left out, and so are those kept to measure the abstention bounds on);
- the ``eyes`` pack's close-ups, which keep the model right on large, sharp eyes.

Whole faces go through the product's path: the face detector (``find_face_in_crop``) gives the box
and the eye landmarks, the image is shrunk so the face is 20 to 120 px wide (a few sizes per face,
drawn at random, plus the face as it is) and the eyes are cut from the shrunk image, as the analyzer
cuts them from a photo. The held-out split (``attribute_packs.is_heldout``) of every source never
reaches training; the figures printed at the end are on it.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from discreet.analyzers.attribute_crops import EYE_SIZE, eye_crops, whole_image_crop
from discreet.analyzers.attributes import threshold
from discreet.analyzers.faces import FaceDetector
from discreet.evaluation.attribute_bands import shrunk
from discreet.evaluation.attribute_packs import (
    HELDOUT_ONE_IN,
    find_face_in_crop,
    is_heldout,
    read_checked_eyes,
    read_labelled,
)
from discreet.evaluation.eye_bounds import CROSS_FIT_WIDTHS
from discreet.imaging import decode
from discreet.schema import Face
from discreet.training.attributes import Augmentation, EyeStateNet, export, fit, predict
from discreet.training.crops import LABELS

#: face widths (px) the training faces are shrunk to, drawn log-uniformly
WIDTHS = (20.0, 120.0)
#: shrunk copies of each training face, besides the face as it is
COPIES = 6
#: the widths the held-out figures are given at
REPORT_WIDTHS = (20, 30, 40, 50, 60, 80, 120)
EPOCHS = 10
CROSS_FIT_FILE = "eye-state-out-of-fold.json"


@dataclass(frozen=True)
class WholeFace:
    key: str
    path: Path
    open: float
    face: Face | None  # None when the detector finds no face: such images are left out


def whole_faces(data: Path, detector: FaceDetector, cache: Path) -> list[WholeFace]:
    """The labelled whole faces with the detector's face in each; the faces found are kept in
    ``cache`` (keyed by image path), so a second run does not detect them again."""
    items = read_labelled(data / "eyes-faces") + read_checked_eyes(data, ("train",))
    target = cache / "eye-state-whole-faces.json"
    known = json.loads(target.read_text()) if target.exists() else {}
    started = time.time()
    for item in items:
        if str(item.path) not in known:
            face = find_face_in_crop(detector, decode(item.path).pixels)
            known[str(item.path)] = face.model_dump() if face else None
    cache.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(known))
    faces = [
        WholeFace(i.key, i.path, i.labels["eyes_open"], known[str(i.path)] and Face(**known[str(i.path)]))
        for i in items
    ]
    print(
        f"{len(faces)} whole faces, {sum(f.face is None for f in faces)} without a detected face, "
        f"{time.time() - started:.0f} s",
        flush=True,
    )
    return faces


def eyes_at_width(pixels: np.ndarray, face: Face, width: float) -> list[np.ndarray]:
    """Both eye crops of ``face`` after the image is shrunk so the face box is ``width`` px wide (a face
    already narrower is left as it is): what the analyzer cuts from a photo where the face is that size."""
    image, small = shrunk(pixels, face, width)
    return eye_crops(image, small.landmarks)


def _row(open_: float) -> list[float]:
    row = [math.nan] * len(LABELS)
    row[LABELS.index("eyes_open")] = open_
    return row


def training_set(faces: list[WholeFace], data: Path, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    crops, labels = [], []
    for item in faces:
        if item.face is None or is_heldout(item.key):
            continue
        pixels = decode(item.path).pixels
        widths = [item.face.box.width, *np.exp(rng.uniform(*np.log(WIDTHS), COPIES))]
        for width in widths:
            for crop in eyes_at_width(pixels, item.face, width):
                crops.append(crop)
                labels.append(_row(item.open))
    for item in read_labelled(data / "eyes"):
        if not is_heldout(item.key):
            crops.append(whole_image_crop(decode(item.path).pixels, EYE_SIZE))
            labels.append(_row(item.labels["eyes_open"]))
    return {
        "crops": np.stack(crops),
        "landmarks": np.full((len(crops), 5, 2), math.nan, np.float32),
        "labels": np.asarray(labels, np.float32),
    }


def face_open_probability(model, pixels: np.ndarray, face: Face, width: float) -> float:
    """``eyes_open``'s probability as the analyzer gives it: the less open eye of the two."""
    crops = np.stack(eyes_at_width(pixels, face, width))
    (logits,) = predict(model, crops, np.full((2, 5, 2), math.nan, np.float32))
    return float(1.0 / (1.0 + np.exp(-logits[:, 0].min())))


def report(model, faces: list[WholeFace], data: Path) -> None:
    """Held-out: share called closed of closed whole faces and of open checked portraits, per face width."""
    held = [f for f in faces if f.face is not None and is_heldout(f.key)]
    for label, name in ((0.0, "closed faces called closed"), (1.0, "open portraits called closed")):
        group = [f for f in held if f.open == label]
        cells = []
        for width in (*REPORT_WIDTHS, None):
            closed = []
            for f in group:
                pixels = decode(f.path).pixels
                probability = face_open_probability(model, pixels, f.face, width or f.face.box.width)
                closed.append(probability < threshold("eyes_open"))
            cells.append(f"{'as is' if width is None else f'{width} px'} {np.mean(closed):.3f}")
        print(f"held-out {name} (n={len(group)}): " + ", ".join(cells))
    closeups = [i for i in read_labelled(data / "eyes") if is_heldout(i.key)]
    crops = np.stack([whole_image_crop(decode(i.path).pixels, EYE_SIZE) for i in closeups])
    (logits,) = predict(model, crops, np.full((len(crops), 5, 2), math.nan, np.float32))
    truth = np.array([i.labels["eyes_open"] > 0.5 for i in closeups])
    said_open = 1.0 / (1.0 + np.exp(-logits[:, 0])) >= threshold("eyes_open")
    print(f"held-out eye close-ups: accuracy {np.mean(said_open == truth):.4f} (n={len(truth)})")


def design_fold(key: str, folds: int) -> int:
    """The cross-fitting fold of a training (design) image: a hash of its key apart from the held-out one."""
    return zlib.crc32(key.encode()) // HELDOUT_ONE_IN % folds


def train(faces: list[WholeFace], data: Path, epochs: int, seed: int) -> EyeStateNet:
    """An eye-state network trained on the design split of ``faces`` and of the close-ups."""
    crops = training_set(faces, data, seed)
    column = crops["labels"][:, LABELS.index("eyes_open")]
    print(f"eye-state: {len(column)} training eye crops, {int(column.sum())} open", flush=True)
    # closed eyes outnumber open ones in training; weighting them alike keeps the 0.5 threshold central
    weight = torch.tensor(float((column < 0.5).sum() / max(column.sum(), 1.0)))
    index = LABELS.index("eyes_open")

    def eye_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits[:, 0], y[:, index], pos_weight=weight)

    # the sizes come from shrinking whole faces; augmentation adds only a little extra softness
    settings = Augmentation(
        blur_share=0.1, blur_radii=(1, 1), low_resolution_share=0.1, shrink=(1 / 3, 1 / 2)
    )
    model = EyeStateNet()
    fit(model, crops, eye_loss, epochs, 64, seed, settings)
    return model


def cross_fit(faces: list[WholeFace], data: Path, epochs: int, seed: int, folds: int) -> dict[str, dict]:
    """Out-of-fold ``eyes_open`` probabilities of every design whole face: each fold is scored by a
    network trained on the other folds, so abstention bounds and the decision threshold can be
    chosen on the design split without the optimism of faces the model learnt. Per image path
    inside ``data``: ``{"as is": p, "<width>": p, ...}`` at ``CROSS_FIT_WIDTHS``."""
    scored: dict[str, dict] = {}
    design = [f for f in faces if f.face is not None and not is_heldout(f.key)]
    for fold in range(folds):
        model = train([f for f in design if design_fold(f.key, folds) != fold], data, epochs, seed)
        for item in (f for f in design if design_fold(f.key, folds) == fold):
            pixels = decode(item.path).pixels
            scored[str(item.path.relative_to(data))] = {
                "as is" if width is None else str(width): face_open_probability(
                    model, pixels, item.face, width or item.face.box.width
                )
                for width in (None, *CROSS_FIT_WIDTHS)
            }
        print(f"fold {fold + 1}/{folds}: {len(scored)} design faces scored", flush=True)
    return scored


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, required=True, help="folder eye-state.onnx is written to")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "discreet-training")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cross-fit",
        type=int,
        default=0,
        metavar="FOLDS",
        help=f"instead of training the shipped model, write {CROSS_FIT_FILE} to --out: out-of-fold "
        "probabilities of the design faces (python -m discreet.evaluation.eye_bounds reads it)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    faces = whole_faces(args.data, FaceDetector("default", threads=args.threads), args.cache)
    if args.cross_fit:
        scored = cross_fit(faces, args.data, args.epochs, args.seed, args.cross_fit)
        (args.out / CROSS_FIT_FILE).write_text(json.dumps(scored))
        return
    model = train(faces, args.data, args.epochs, args.seed)
    report(model, faces, args.data)
    export(model, EYE_SIZE, args.out / "eye-state.onnx", ["logits"], False)


if __name__ == "__main__":
    main()
