"""Train the eye-state model on eyes cut from whole faces, at the sizes photos give, and export it.

    python -m discreet.training.eyes --data ../shared/data --out src/discreet/models/artifacts/ \
        --out-of-fold /tmp/eye-state-out-of-fold.json
    python -m discreet.training.eyes --data ../shared/data --shipped \
        --out-of-fold /tmp/eye-state-out-of-fold.json    # the same file from the shipped model, no training

The model reads one 32x32 eye crop (``attribute_crops.eye_crops``) and gives two logits: eye open,
and eye visible (an eye shows at all). It learns from four sources:

- ``eyes-faces/no_eyes_open``: whole faces with both eyes closed;
- CelebA and GENKI-4K portraits checked by eye (``labels/eyes_open_celeba_genki.csv``, ``use``
  ``train``): open or closed ones teach both logits, ``unclear`` ones (sunglasses, blur, a turn or
  shadow hide the eyes) only that no eye shows; those of ``use`` ``measure`` are never trained on;
- CelebA portraits the previous eye model called closed, checked by eye (``HARD_EXAMPLES``): open
  and closed ones as above, ``squint`` ones (the eye a slit) only as visible, ``unclear`` ones as
  hidden;
- the ``eyes`` pack's close-ups, which keep the model right on large, sharp eyes.

Whole faces go through the product's path: the face detector (``find_face_in_crop``) gives the box
and the eye landmarks, the image is shrunk so the face is 20 to 120 px wide (a few sizes per face,
drawn at random, plus the face as it is) and the eyes are cut from the shrunk image, as the analyzer
cuts them from a photo. A share of the copies of faces whose eyes show (``--out-of-focus``) is first
blurred out of focus (a Gaussian blur of 6-10% of the face width, around ``eye_bounds.OUT_OF_FOCUS``)
and its eyes taught only that no eye shows: a blurred eye does not show, so ``eyes_hidden`` can say
"cannot tell" where the face model's blur bound lets such a face through (none of the portraits
``eye_bounds`` blurs to measure this is among the training faces). Each half of the design faces
(``cross_fit``) gets one network a seed (``--seeds``), trained on the other half; a half's networks
together read it for the out-of-fold file ``eye_bounds`` chooses the bounds and the two-eye rule on,
and the shipped model averages all networks (``EyeAverage``, fold by fold: ``fold_readers``);
``--shipped`` reads that file again from the shipped model's own networks (``shipped_readers``).
The held-out split (``attribute_packs.is_heldout``) of every source never reaches training; the
figures printed at the end are on it.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnx
import torch
import torch.nn.functional as F

from discreet.analyzers.attribute_crops import EYE_SIZE, eye_crops, whole_image_crop
from discreet.analyzers.attributes import ABSTAIN, artifact, both_eyes, read_eyes, threshold, to_input
from discreet.analyzers.faces import FaceDetector
from discreet.evaluation.attribute_bands import shrunk
from discreet.evaluation.attribute_packs import (
    HELDOUT_ONE_IN,
    find_face_in_crop,
    is_heldout,
    LabelledImage,
    read_checked_eyes,
    read_labelled,
    read_unclear_eyes,
)
from discreet.evaluation.eye_bounds import CROSS_FIT_WIDTHS, OUT_OF_FOCUS
from discreet.imaging import decode
from discreet.models import new_session
from discreet.schema import Face
from discreet.training.attributes import Augmentation, EyeStateNet, export, fit, predict
from discreet.training.crops import LABELS

#: face widths (px) the training faces are shrunk to, drawn log-uniformly
WIDTHS = (20.0, 120.0)
#: shrunk copies of each training face, besides the face as it is
COPIES = 6
#: share of the open and closed faces' copies blurred out of focus and taught as eyes that do not show
OUT_OF_FOCUS_SHARE = 0.15
#: their Gaussian blur (sigma as a fraction of the face width), around the one ``eye_bounds`` measures
OUT_OF_FOCUS_BLURS = (0.75 * OUT_OF_FOCUS, 1.25 * OUT_OF_FOCUS)
#: the widths the held-out figures are given at
REPORT_WIDTHS = (20, 30, 40, 50, 60, 80, 120)
EPOCHS = 10
#: cross-fit folds: the shipped model averages one network per fold
FOLDS = 2
CROSS_FIT_FILE = "eye-state-out-of-fold.json"
#: CelebA design portraits (none among those ``eye_bounds`` measures on) that the previous eye model
#: called closed, each looked at on an eye-region contact sheet: ``pack,file,label,checked`` with
#: label ``open``, ``closed``, ``squint`` (the eye a slit: neither clearly open nor shut) or
#: ``unclear`` (sunglasses, shadow, blur, or the landmarks off the eyes)
HARD_EXAMPLES = Path(__file__).parent / "labels" / "eyes_celeba_hard.csv"
#: the training label column of "an eye shows", after the ``LABELS`` columns
VISIBLE = len(LABELS)
#: label -> (eyes_open, visible) of the hard examples; NaN: not trained on
_HARD = {"open": (1.0, 1.0), "closed": (0.0, 1.0), "squint": (math.nan, 1.0), "unclear": (math.nan, 0.0)}


@dataclass(frozen=True)
class WholeFace:
    key: str
    path: Path
    open: float  # NaN where the eyes are hidden or a slit
    visible: float
    face: Face | None  # None when the detector finds no face: such images are left out


def hard_examples(data: Path) -> list[LabelledImage]:
    rows = list(csv.DictReader(HARD_EXAMPLES.read_text().splitlines()))
    return [
        LabelledImage(
            data / r["pack"] / r["file"], r["file"], dict(zip(("eyes_open", "visible"), _HARD[r["label"]]))
        )
        for r in rows
    ]


def whole_faces(data: Path, detector: FaceDetector, cache: Path) -> list[WholeFace]:
    """The labelled whole faces with the detector's face in each; the faces found are kept in
    ``cache`` (keyed by image path), so a second run does not detect them again."""
    hidden = [
        LabelledImage(i.path, i.key, {"eyes_open": math.nan, "visible": 0.0})
        for i in read_unclear_eyes(data, ("train",))
    ]
    items = read_labelled(data / "eyes-faces") + read_checked_eyes(data, ("train",))
    items += hidden + hard_examples(data)
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
        WholeFace(
            i.key,
            i.path,
            i.labels["eyes_open"],
            i.labels.get("visible", 1.0),
            known[str(i.path)] and Face(**known[str(i.path)]),
        )
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


def _row(open_: float, visible: float = 1.0) -> list[float]:
    row = [math.nan] * (VISIBLE + 1)
    row[LABELS.index("eyes_open")] = open_
    row[VISIBLE] = visible
    return row


def training_set(
    faces: list[WholeFace], data: Path, seed: int, out_of_focus: float = OUT_OF_FOCUS_SHARE
) -> dict[str, np.ndarray]:
    """The eye crops of the design faces at their widths, and the design close-ups; ``out_of_focus``
    of the copies of faces whose eyes show are blurred before the cut and labelled hidden."""
    rng = np.random.default_rng(seed)
    crops, labels = [], []
    for item in faces:
        if item.face is None or is_heldout(item.key):
            continue
        pixels = decode(item.path).pixels
        widths = [item.face.box.width, *np.exp(rng.uniform(*np.log(WIDTHS), COPIES))]
        for width in widths:
            image, row = pixels, _row(item.open, item.visible)
            if item.visible == 1.0 and rng.random() < out_of_focus:
                sigma = rng.uniform(*OUT_OF_FOCUS_BLURS) * item.face.box.width
                image, row = cv2.GaussianBlur(pixels, (0, 0), sigma), _row(math.nan, 0.0)
            for crop in eyes_at_width(image, item.face, width):
                crops.append(crop)
                labels.append(row)
    for item in read_labelled(data / "eyes"):
        if not is_heldout(item.key):
            crops.append(whole_image_crop(decode(item.path).pixels, EYE_SIZE))
            labels.append(_row(item.labels["eyes_open"]))
    return {
        "crops": np.stack(crops),
        "landmarks": np.full((len(crops), 5, 2), math.nan, np.float32),
        "labels": np.asarray(labels, np.float32),
    }


def face_eyes(read, pixels: np.ndarray, face: Face, width: float) -> dict[str, list[list[float]]]:
    """Both eyes' readings as the analyzer takes them (``attributes.read_eyes``: open and visible
    probabilities of each eye's crop and of the crop mirrored) where the face is ``width`` px wide.
    ``read``: eye crops -> logits (N x 2)."""
    (readings,) = read_eyes(_Probabilities(read), np.stack(eyes_at_width(pixels, face, width)))
    return readings


class _Probabilities:
    """A network's logits as the eye model's ``read``: open and visible probabilities."""

    def __init__(self, read) -> None:
        self._read = read

    def read(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probabilities = 1.0 / (1.0 + np.exp(-self._read(crops)))
        return probabilities[:, 0], probabilities[:, 1]


def network_reader(model: EyeStateNet):
    """Eye crops -> the logits of a network being trained."""
    return lambda crops: predict(model, crops, np.full((len(crops), 5, 2), math.nan, np.float32))[0]


def shipped_readers(onnx_model: bytes) -> list:
    """Eye crops -> the logits of each cross-fit network inside the shipped model (``EyeAverage``
    exports their logits stacked before the mean), in the order ``cross_fit`` trains them (fold by
    fold, a fold's seeds together): ``fold_readers`` groups them, so the out-of-fold readings can be
    read again without training."""
    graph = onnx.load_from_string(onnx_model)
    (stack,) = (n for n in graph.graph.node if n.op_type == "Concat" and n.name == "/Concat")
    stacked = stack.output[0]
    graph.graph.output.append(onnx.helper.make_empty_tensor_value_info(stacked))
    session = new_session(graph.SerializeToString(), 1)

    def reader(member: int):
        return lambda crops: session.run([stacked], {"crops": to_input(crops)})[0][member]

    return [reader(member) for member in range(len(stack.input))]


def fold_readers(readers: list, folds: int) -> list:
    """One reader a fold from the networks' readers in ``cross_fit``'s order (fold by fold, the same
    number of seeds in each): eye crops -> the mean of the logits of that fold's networks, as the
    shipped model averages them."""
    if len(readers) % folds:
        raise ValueError(f"{len(readers)} networks do not split into {folds} folds")
    seeds = len(readers) // folds

    def mean(group: list):
        return lambda crops: np.mean([read(crops) for read in group], axis=0)

    return [mean(readers[fold * seeds : (fold + 1) * seeds]) for fold in range(folds)]


def report(model, faces: list[WholeFace], data: Path) -> None:
    """Held-out, per face width: closed whole faces called closed (of all: hidden is a miss), open
    checked portraits called closed (of all) and unclear ones said hidden."""
    held = [f for f in faces if f.face is not None and is_heldout(f.key)]
    hidden_below = ABSTAIN["eyes_open"]["eyes_hidden"]

    def shows(eyes: dict[str, float]) -> bool:
        return eyes["eyes_visible"] >= hidden_below

    def closed(eyes: dict[str, float]) -> bool:
        return shows(eyes) and eyes["eyes_open"] < threshold("eyes_open")

    groups = (
        ("closed faces called closed", lambda f: f.open == 0.0, closed),
        ("open portraits called closed", lambda f: f.open == 1.0, closed),
        ("unclear portraits said hidden", lambda f: f.visible == 0.0, lambda e: not shows(e)),
    )
    for name, member, counted in groups:
        group = [f for f in held if member(f)]
        cells = []
        for width in (*REPORT_WIDTHS, None):
            hits = []
            for f in group:
                pixels = decode(f.path).pixels
                eyes = face_eyes(network_reader(model), pixels, f.face, width or f.face.box.width)
                hits.append(counted(both_eyes(eyes)))
            cells.append(f"{'as is' if width is None else f'{width} px'} {np.mean(hits):.3f}")
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


def train(
    faces: list[WholeFace], data: Path, epochs: int, seed: int, out_of_focus: float = OUT_OF_FOCUS_SHARE
) -> EyeStateNet:
    """An eye-state network trained on the design split of ``faces`` and of the close-ups."""
    crops = training_set(faces, data, seed, out_of_focus)
    column = crops["labels"][:, LABELS.index("eyes_open")]
    known = column[~np.isnan(column)]
    hidden = int((crops["labels"][:, VISIBLE] == 0).sum())
    print(
        f"eye-state: {len(column)} training eye crops, {int(known.sum())} open, "
        f"{int((known == 0).sum())} closed, {hidden} hidden",
        flush=True,
    )
    # closed eyes outnumber open ones in training; weighting them alike keeps the 0.5 threshold central
    weight = torch.tensor(float((known < 0.5).sum() / max(known.sum(), 1.0)))
    index = LABELS.index("eyes_open")

    def eye_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        opened = ~torch.isnan(y[:, index])
        loss = F.binary_cross_entropy_with_logits(logits[:, 1], y[:, VISIBLE])
        if opened.any():
            loss = loss + F.binary_cross_entropy_with_logits(
                logits[opened, 0], y[opened, index], pos_weight=weight
            )
        return loss

    # the sizes come from shrinking whole faces; augmentation adds only a little extra softness
    settings = Augmentation(
        blur_share=0.1, blur_radii=(1, 1), low_resolution_share=0.1, shrink=(1 / 3, 1 / 2)
    )
    model = EyeStateNet()
    fit(model, crops, eye_loss, epochs, 64, seed, settings)
    return model


class EyeAverage(torch.nn.Module):
    """The shipped eye model: the cross-fit networks' logits averaged (``members`` in ``cross_fit``'s
    order, which ``shipped_readers`` relies on)."""

    def __init__(self, members: list[EyeStateNet]) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def forward(self, x: torch.Tensor, landmarks: torch.Tensor | None = None) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members]).mean(0)


def design_faces(faces: list[WholeFace]) -> list[WholeFace]:
    """The faces cross-fitting trains and reads out of fold: design split, a face found."""
    return [f for f in faces if f.face is not None and not is_heldout(f.key)]


def cross_fit(
    faces: list[WholeFace],
    data: Path,
    epochs: int,
    seeds: list[int],
    folds: int,
    out_of_focus: float = OUT_OF_FOCUS_SHARE,
) -> tuple[list[EyeStateNet], dict[str, dict]]:
    """One network per fold of the design faces and seed, trained on the other folds (and on the
    close-ups), fold by fold (a fold's seeds together), and the out-of-fold eye readings of every
    design whole face (``out_of_fold``) by the mean of its fold's networks. Fold ``f`` trains seed
    ``s`` as ``s + f``, so one seed trains the networks it did before seeds could be several."""
    design = design_faces(faces)
    models = []
    for fold in range(folds):
        own = [f for f in design if design_fold(f.key, folds) != fold]
        models += [train(own, data, epochs, seed + fold, out_of_focus) for seed in seeds]
    readers = fold_readers([network_reader(m) for m in models], folds)
    return models, out_of_fold(design, data, readers)


def out_of_fold(design: list[WholeFace], data: Path, readers: list) -> dict[str, dict]:
    """Every design whole face read by its fold's networks (``readers[fold]``, which never saw
    it), so abstention bounds, the decision rule and threshold can be chosen on the design split
    without the optimism of faces the model learnt. Readings per image path inside ``data``:
    ``{"as is": eyes, "<width>": eyes, ...}`` at ``CROSS_FIT_WIDTHS``, ``eyes`` as ``face_eyes``
    gives them."""
    scored: dict[str, dict] = {}
    for item in design:
        pixels = decode(item.path).pixels
        read = readers[design_fold(item.key, len(readers))]
        scored[str(item.path.relative_to(data))] = {
            "as is" if width is None else str(width): face_eyes(
                read, pixels, item.face, width or item.face.box.width
            )
            for width in (None, *CROSS_FIT_WIDTHS)
        }
    print(f"{len(scored)} design faces scored out of fold", flush=True)
    return scored


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, help="folder eye-state.onnx is written to")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "discreet-training")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="one network a seed in each fold (fold f trains seed s as s + f)",
    )
    parser.add_argument(
        "--folds", type=int, default=FOLDS, help="cross-fit folds: the shipped model averages their networks"
    )
    parser.add_argument(
        "--out-of-focus",
        type=float,
        default=OUT_OF_FOCUS_SHARE,
        help="share of the faces' copies blurred out of focus and taught as eyes that do not show (0: none)",
    )
    parser.add_argument(
        "--out-of-fold",
        type=Path,
        help=f"where the out-of-fold readings go (default: {CROSS_FIT_FILE} in --cache); "
        "python -m discreet.evaluation.eye_bounds reads them",
    )
    parser.add_argument(
        "--shipped",
        action="store_true",
        help="train nothing: write the out-of-fold readings of the shipped model's own cross-fit networks",
    )
    args = parser.parse_args(argv)
    if args.out is None and not args.shipped:
        parser.error("give --out (train) or --shipped (read the design faces with the shipped networks)")
    torch.set_num_threads(args.threads)
    faces = whole_faces(args.data, FaceDetector("default", threads=args.threads), args.cache)
    target = args.out_of_fold or args.cache / CROSS_FIT_FILE
    if args.shipped:
        design = design_faces(faces)
        readers = fold_readers(shipped_readers(artifact("eye-state.onnx")), args.folds)
        target.write_text(json.dumps(out_of_fold(design, args.data, readers)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    models, scored = cross_fit(
        faces, args.data, args.epochs, args.seeds, args.folds, args.out_of_focus
    )
    target.write_text(json.dumps(scored))
    model = EyeAverage(models)
    report(model, faces, args.data)
    export(model, EYE_SIZE, args.out / "eye-state.onnx", ["logits"], False)


if __name__ == "__main__":
    main()
