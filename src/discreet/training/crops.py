"""Turn the data packs into the crops the attribute models train on, cached as one ``.npz`` per pack.

Face crops come from the face detector's box, exactly as at inference: a pack image that is one
face is run through ``find_face_in_crop``; the scenes pack is run through the detector and each
detected face matched (IoU >= 0.5) to an annotated one takes that annotation's mask state.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from discreet.analyzers.attribute_crops import EYE_SIZE, face_crop, whole_image_crop
from discreet.analyzers.faces import FaceDetector
from discreet.evaluation.attribute_packs import (
    MASK_STATES,
    find_face_in_crop,
    is_heldout,
    read_labelled,
    whole_image_face,
)
from discreet.evaluation.metrics import iou
from discreet.evaluation.packs import read_voc
from discreet.imaging import decode
from discreet.schema import Box

#: the label columns of every cache, in this order; NaN where a pack does not label one
LABELS = ("smile", "mouth_open", "eyeglasses", "blurry", "mask", "yaw", "pitch", "roll", "eyes_open")

FACE_PACKS = ("genki4k", "celeba", "masks", "scenes")
EYE_PACKS = ("eyes",)


def build_cache(data: Path, cache: Path, pack: str, detector: FaceDetector) -> Path:
    """Write ``<cache>/<pack>.npz`` (crops, labels, keys, heldout, found) unless it exists."""
    target = cache / f"{pack}.npz"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    started = time.time()
    if pack == "scenes":
        crops, labels, keys, found = _scene_faces(data / pack, detector)
    else:
        crops, labels, keys, found = [], [], [], []
        for item in read_labelled(data / pack):
            pixels = decode(item.path).pixels
            if pack in EYE_PACKS:
                crops.append(whole_image_crop(pixels, EYE_SIZE))
                found.append(True)
            else:
                face = find_face_in_crop(detector, pixels)
                crops.append(face_crop(pixels, (face or whole_image_face(pixels)).box))
                found.append(face is not None)
            labels.append([item.labels.get(name, math.nan) for name in LABELS])
            keys.append(item.key)
    np.savez_compressed(
        target,
        crops=np.stack(crops),
        labels=np.asarray(labels, np.float32),
        keys=np.asarray(keys),
        heldout=np.asarray([is_heldout(k) for k in keys]),
        found=np.asarray(found),
    )
    print(
        f"{pack}: {len(keys)} crops, {int(np.sum(found))} with a detected face, {time.time() - started:.0f} s"
    )
    return target


def _scene_faces(root: Path, detector: FaceDetector):
    crops, labels, keys, found = [], [], [], []
    for image in read_voc(root):
        pixels = decode(image.path).pixels
        detections = [Box(x1=r[0], y1=r[1], x2=r[2], y2=r[3]) for r in detector.detect_array(pixels)]
        key = str(image.path.relative_to(root))
        for truth in image.boxes:
            if truth.label not in MASK_STATES or not detections:
                continue
            overlaps = [iou(truth.box, d) for d in detections]
            best = int(np.argmax(overlaps))
            if overlaps[best] < 0.5:
                continue
            crops.append(face_crop(pixels, detections[best]))
            row = [math.nan] * len(LABELS)
            row[LABELS.index("mask")] = MASK_STATES[truth.label]
            labels.append(row)
            keys.append(key)
            found.append(True)
    return crops, labels, keys, found


def load_cache(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}
