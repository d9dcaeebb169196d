"""Where ``eyes_open`` says "cannot tell", how it reads a face from its two eyes, and from which
score it says open: the trade-off behind ``discreet.analyzers.attributes.ABSTAIN["eyes_open"]``,
``EYE_RULE``, ``EYE_MIRRORED`` and ``THRESHOLDS["eyes_open"]``.

    python -m discreet.training.eyes --shipped --out-of-fold /tmp/eye-state-out-of-fold.json
    python -m discreet.evaluation.eye_bounds --out-of-fold /tmp/eye-state-out-of-fold.json [--all]
    python -m discreet.evaluation.eye_bounds --split heldout      # once, to report the chosen bounds

Faces, each found by the detector and read by the face model (width, blurry, yaw) as the analyzer
reads it: ``eyes-faces`` (closed), the checked portraits (``attribute_packs.read_checked_eyes``:
open or closed, blurry ones among them never trained on; ``read_unclear_eyes``: eyes a person
cannot make out), the first ``PORTRAITS``
unchecked CelebA portraits of the split (nearly all open-eyed) and every face the detector finds in
the ``scenes`` photos (most with open eyes, unlabelled). Eye readings: on the design split, the
eye model is trained on the closed, most checked and the unclear ``train`` faces, so theirs come
from the out-of-fold file (each fold read by the cross-fit networks that never saw it); the other
faces are never trained on and are read by the shipped model. On the held-out split every face is
read by the shipped model.

Printed per candidate (``CANDIDATE``: two-eye rule of ``EYE_RULES``, each eye read plain or with
its mirrored crop, face_too_small, too_blurred, turned_away, eyes_hidden, threshold; by default
the shipped size, blur and turn bounds, all with ``--all``), over the faces as they are: closed
faces called closed of all ("cannot tell" counts as a miss), open faces called closed of those
answered, unclear faces answered, CelebA portraits called closed of all, street faces under 40 px
that say "cannot tell", street faces called closed of those answered;
open faces shrunk to 30-40 px called closed of those answered; and the CelebA portraits blurred out
of focus (``OUT_OF_FOCUS``) called closed of all (nearly all have open eyes).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

import cv2
import numpy as np

from discreet.analyzers.attributes import ABSTAIN, EYE_RULES, FaceAttributeAnalyzer, both_eyes, cannot_tell
from discreet.analyzers.faces import FaceDetector
from discreet.evaluation.attribute_bands import BLURS, read_face, shrunk
from discreet.evaluation.attribute_packs import (
    find_face_in_crop,
    is_heldout,
    read_checked_eyes,
    read_labelled,
    read_unclear_eyes,
)
from discreet.evaluation.packs import read_voc
from discreet.imaging import decode

#: face widths (px) the cross-fit file gives eye probabilities at, besides the face as it is
CROSS_FIT_WIDTHS = (24, 30, 36, 40, 50, 60)
#: candidate bounds and decision thresholds; ``math.inf`` is no bound
SMALL = (30, 32, 34, 36, 40)
BLURRED = (0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, math.inf)
TURNED = (30, 35, 45)
#: ``eyes_hidden`` bounds on the more visible eye's probability; 0 never says hidden
HIDDEN = (0.0, 0.3, 0.5, 0.7)
DECISIONS = (0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8)
#: street faces narrower than this must say "cannot tell"
STREET_WIDTH = 40
#: unchecked CelebA portraits scored (nearly all open-eyed; some closed, downcast or hidden)
PORTRAITS = 600
#: open faces are also scored shrunk to these widths (px), where a lower ``face_too_small`` answers
SHRUNK_WIDTHS = tuple(w for w in CROSS_FIT_WIDTHS if 30 <= w <= 40)
#: the portraits are also scored out of focus: a Gaussian blur of this share of the face width
#: (the heaviest of ``attribute_bands.BLURS``), where the blur bound must say "cannot tell"
OUT_OF_FOCUS = BLURS[-1]


def measure(data: Path, split: str) -> list[dict]:
    """One row per face (and, for open faces, per shrunk width; for portraits, also out of focus:
    kind ``blurred``): kind, width, blurry, yaw, and the eye readings of the shipped model;
    ``trained_on`` marks the faces the eye model learns from on the design split, whose readings
    ``with_out_of_fold`` replaces."""
    detector, model = FaceDetector("default", threads=1), FaceAttributeAnalyzer(threads=1)

    def wanted(key: str) -> bool:
        return is_heldout(key) == (split == "heldout")

    faces = [("closed", i) for i in read_labelled(data / "eyes-faces")]
    faces += [("open" if i.labels["eyes_open"] else "closed", i) for i in read_checked_eyes(data)]
    faces += [("unclear", i) for i in read_unclear_eyes(data)]
    trained = {
        i.path
        for i in read_labelled(data / "eyes-faces")
        + read_checked_eyes(data, ("train",))
        + read_unclear_eyes(data, ("train",))
    }
    checked = {i.path for i in read_checked_eyes(data) + read_unclear_eyes(data)}
    portraits = [i for i in read_labelled(data / "celeba") if i.path not in checked and wanted(i.key)]
    faces += [("portrait", i) for i in portraits[:PORTRAITS]]
    rows = []
    for kind, item in faces:
        if not wanted(item.key):
            continue
        pixels = decode(item.path).pixels
        face = find_face_in_crop(detector, pixels)
        if face is None:
            continue
        for width in (None, *(SHRUNK_WIDTHS if kind == "open" else ())):
            rows.append(
                {
                    "kind": kind,
                    "path": str(item.path.relative_to(data)),
                    "at": "as is" if width is None else str(width),
                    "shrunk": width is not None,
                    "trained_on": item.path in trained and split == "design",
                    **read_face(model, *shrunk(pixels, face, width)),
                }
            )
        if kind == "portrait":
            blurred = cv2.GaussianBlur(pixels, (0, 0), OUT_OF_FOCUS * face.box.width)
            reading = read_face(model, blurred, face)
            rows.append({"kind": "blurred", "shrunk": False, "trained_on": False, **reading})
    root = data / "scenes"
    for image in read_voc(root):
        if not wanted(str(image.path.relative_to(root))):
            continue
        decoded = decode(image.path)
        for face in detector.analyze(decoded):
            reading = read_face(model, decoded.pixels, face)
            rows.append({"kind": "street", "shrunk": False, "trained_on": False, **reading})
    return rows


def with_out_of_fold(rows: list[dict], out_of_fold: dict[str, dict]) -> list[dict]:
    """``rows`` with the out-of-fold eye readings of every face the eye model was trained on."""
    return [
        {**row, "eyes": out_of_fold[row["path"]][row["at"]]} if row["trained_on"] else row for row in rows
    ]


KINDS = ("closed", "open", "unclear", "portrait", "street", "blurred")
SHARES = (
    "closed_called_closed",
    "open_called_closed",
    "unclear_answered",
    "portraits_called_closed",
    "street_small_cannot_tell",
    "street_called_closed",
    "open_30_40_called_closed",
    "blurred_portraits_called_closed",
)
#: the candidates' columns, in the order printed
CANDIDATE = ("rule", "mirrored", "face_too_small", "too_blurred", "turned_away", "eyes_hidden", "threshold")


def candidates(shipped_bounds: bool = False):
    """Every (rule, mirrored, small, blurred, turned, hidden, threshold); with ``shipped_bounds``
    only the size, blur and turn bounds of ``ABSTAIN["eyes_open"]``."""
    bounds = ABSTAIN["eyes_open"]
    sizes, blurs, turns = (
        ((bounds["face_too_small"],), (bounds["too_blurred"],), (bounds["turned_away"],))
        if shipped_bounds
        else (SMALL, BLURRED, TURNED)
    )
    return itertools.product(EYE_RULES, (False, True), sizes, blurs, turns, HIDDEN, DECISIONS)


def trade_off(rows: list[dict], grid=None) -> list[dict]:
    """Per candidate rule, mirroring, bounds and threshold in ``grid`` (``candidates()`` by default), the
    ``SHARES``; each face is read as ``both_eyes`` reads it and told or not as ``cannot_tell``
    says with the candidate bounds."""
    groups = {kind: [r for r in rows if r["kind"] == kind and not r["shrunk"]] for kind in KINDS}
    groups["small_street"] = [r for r in groups["street"] if r["width"] < STREET_WIDTH]
    groups["shrunk_open"] = [r for r in rows if r["kind"] == "open" and r["shrunk"]]
    eyes: dict[tuple, dict[str, tuple]] = {}
    answers: dict[tuple, dict[str, np.ndarray]] = {}
    out = []
    for rule, mirrored, small, blurred, turned, hidden, threshold in grid or candidates():
        if (rule, mirrored) not in eyes:
            eyes[rule, mirrored] = {
                name: tuple(both_eyes(r["eyes"], rule, mirrored) for r in group)
                for name, group in groups.items()
            }
        read = eyes[rule, mirrored]
        bounds = dict(zip(CANDIDATE[2:6], (small, blurred, turned, hidden)))
        key = (mirrored, small, blurred, turned, hidden)
        if key not in answers:
            answers[key] = {
                name: np.array(
                    [
                        cannot_tell("eyes_open", r["width"], {**r, **e}, bounds) is None
                        for r, e in zip(group, read[name])
                    ],
                    bool,
                )
                for name, group in groups.items()
            }
        told = answers[key]

        def closed(name: str) -> np.ndarray:
            return told[name] & np.array([e["eyes_open"] < threshold for e in read[name]], bool)

        def share(count: int, of: int) -> float:
            return count / of if of else math.nan

        out.append(
            {
                **dict(zip(CANDIDATE, (rule, mirrored, small, blurred, turned, hidden, threshold))),
                "closed_called_closed": share(closed("closed").sum(), len(groups["closed"])),
                "open_called_closed": share(closed("open").sum(), told["open"].sum()),
                "unclear_answered": share(told["unclear"].sum(), len(groups["unclear"])),
                "portraits_called_closed": share(closed("portrait").sum(), len(groups["portrait"])),
                "street_small_cannot_tell": 1
                - share(told["small_street"].sum(), len(groups["small_street"])),
                "street_called_closed": share(closed("street").sum(), told["street"].sum()),
                "open_30_40_called_closed": share(closed("shrunk_open").sum(), told["shrunk_open"].sum()),
                "blurred_portraits_called_closed": share(closed("blurred").sum(), len(groups["blurred"])),
            }
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--split", choices=("design", "heldout"), default="design")
    parser.add_argument("--out-of-fold", type=Path, help="the cross-fit file (needed on the design split)")
    parser.add_argument(
        "--all", action="store_true", help="every candidate (default: the shipped size, blur and turn bounds)"
    )
    parser.add_argument("--rows", type=Path, help="also write the faces' readings here (JSON)")
    args = parser.parse_args(argv)
    if args.split == "design" and args.out_of_fold is None:
        parser.error("the design split needs --out-of-fold: the eye model was trained on its faces")
    rows = measure(args.data, args.split)
    if args.rows:
        args.rows.write_text(json.dumps(rows, default=str))
    if args.split == "design":
        rows = with_out_of_fold(rows, json.loads(args.out_of_fold.read_text()))
    counts = {kind: sum(r["kind"] == kind and not r["shrunk"] for r in rows) for kind in KINDS}
    print(f"{args.split} faces: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    print(
        "rule | mirrored | small blurred turned hidden threshold | closed called closed (of all) | "
        "open called closed (of answered) | "
        "unclear answered | CelebA called closed (of all) | street < 40 px cannot tell | "
        "street called closed (of answered) | open at 30-40 px called closed (of answered) | "
        "CelebA out of focus called closed (of all)"
    )
    for row in trade_off(rows, candidates(shipped_bounds=not args.all)):
        shares = " | ".join(f"{row[name]:.3f}" for name in SHARES)
        print(
            f"{row['rule']} | {'mirrored' if row['mirrored'] else 'plain'} | {row['face_too_small']:>3} "
            f"{row['too_blurred']:>5} {row['turned_away']:>3} {row['eyes_hidden']:>4} {row['threshold']:>4} "
            f"| {shares}"
        )


if __name__ == "__main__":
    main()
