"""Turn the data packs into the crops the attribute models train on, cached as one ``.npz`` per pack.

Face crops come from the face detector's box, exactly as at inference: a pack image that is one
face is run through ``find_face_in_crop``; the scenes pack is run through the detector and each
detected face matched to an annotated one (``metrics.match_to_truth``, IoU >= 0.5, as ``discreet
eval attributes`` matches them) takes that annotation's mask state.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from discreet.analyzers.attribute_crops import (
    EYE_SIZE,
    FACE_SIZE,
    face_crop,
    landmarks_in_crop,
    whole_image_crop,
    whole_image_face,
)
from discreet.analyzers.faces import FaceDetector
from discreet.evaluation.attribute_packs import (
    MASK_STATES,
    find_face_in_crop,
    is_heldout,
    read_labelled,
)
from discreet.evaluation.metrics import match_to_truth
from discreet.evaluation.packs import read_voc
from discreet.imaging import decode

#: the label columns of every cache, in this order; NaN where a pack does not label one
LABELS = ("smile", "mouth_open", "eyeglasses", "blurry", "mask", "yaw", "pitch", "roll", "eyes_open")

FACE_PACKS = ("genki4k", "celeba", "masks", "scenes")
EYE_PACKS = ("eyes",)


def build_cache(data: Path, cache: Path, pack: str, detector: FaceDetector) -> Path:
    """Write ``<cache>/<pack>-<crop side>.npz`` (crops, landmarks, labels, keys, heldout, found) unless
    it exists. ``landmarks`` are the detector's five points as fractions of each face crop
    (``landmarks_in_crop``); eye close-ups have none (NaN)."""
    side = EYE_SIZE if pack in EYE_PACKS else FACE_SIZE
    target = cache / f"{pack}-{side}.npz"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    started = time.time()
    if pack == "scenes":
        crops, landmarks, labels, keys, found = _scene_faces(data / pack, detector)
    else:
        crops, landmarks, labels, keys, found = [], [], [], [], []
        for item in read_labelled(data / pack):
            pixels = decode(item.path).pixels
            if pack in EYE_PACKS:
                crops.append(whole_image_crop(pixels, EYE_SIZE))
                landmarks.append(np.full((5, 2), math.nan, np.float32))
                found.append(True)
            else:
                detected = find_face_in_crop(detector, pixels)
                face = detected or whole_image_face(pixels)
                crops.append(face_crop(pixels, face.box))
                landmarks.append(landmarks_in_crop(face.box, face.landmarks))
                found.append(detected is not None)
            labels.append([item.labels.get(name, math.nan) for name in LABELS])
            keys.append(item.key)
    np.savez_compressed(
        target,
        crops=np.stack(crops),
        landmarks=np.stack(landmarks),
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
    crops, landmarks, labels, keys, found = [], [], [], [], []
    for image in read_voc(root):
        decoded = decode(image.path)
        pixels = decoded.pixels
        detections = detector.analyze(decoded)
        key = str(image.path.relative_to(root))
        matches = match_to_truth([truth.box for truth in image.boxes], [face.box for face in detections])
        for truth, best in zip(image.boxes, matches):
            if best is None or truth.label not in MASK_STATES:
                continue
            face = detections[best]
            crops.append(face_crop(pixels, face.box))
            landmarks.append(landmarks_in_crop(face.box, face.landmarks))
            row = [math.nan] * len(LABELS)
            row[LABELS.index("mask")] = MASK_STATES[truth.label]
            labels.append(row)
            keys.append(key)
            found.append(True)
    return crops, landmarks, labels, keys, found


def load_cache(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}
