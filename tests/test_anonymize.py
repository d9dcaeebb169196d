"""Anonymization: faces covered so that a detector no longer finds them, formats kept, metadata gone."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import discreet
from discreet.analyzers.faces import FaceDetector
from discreet.errors import ValidationError
from discreet.evaluation.coverage import covered_shares
from discreet.evaluation.video import COVERED_SHARE
from discreet.evaluation.packs import read_dlib
from discreet.geometry import iou
from discreet.imaging import decode
from discreet.schema import Box


@pytest.fixture(scope="module")
def group_photos(data_dir):
    return read_dlib(data_dir / "dlib-faces" / "testing.xml")


# Pixelation keeps a head's outline, which the detector still finds now and then: its figure is
# measured by `discreet eval anonymize --method pixelate` and reported in the README, not promised.
@pytest.mark.parametrize("method", ["blur", "solid"])
def test_no_annotated_face_is_detected_after_anonymization(group_photos, method):
    detector = FaceDetector("accurate")
    for item in group_photos:
        result = discreet.anonymize(item.path, method)
        assert result.regions >= len(item.boxes)
        faces = detector.analyze(decode(result.data))
        still_found = [g for g in item.boxes if any(iou(g.box, f.box) >= 0.3 for f in faces)]
        assert still_found == [], (item.path.name, method)


def test_only_the_face_regions_change(data_dir):
    path = data_dir / "dlib-faces" / "2008_002506.jpg"
    original = decode(path).pixels
    result = discreet.anonymize(path, "solid", scale=1.0, redact=["faces"])  # plate covers stray on shirts
    covered = decode(result.data).pixels.astype(int)
    inside = np.zeros(original.shape[:2], dtype=bool)
    for face in result.scan.faces:
        b = face.box
        inside[int(b.y1) : int(b.y2) + 1, int(b.x1) : int(b.x2) + 1] = True
    changed = np.abs(covered - original).max(axis=2) > 40  # JPEG re-encoding moves pixels a little
    assert changed[inside].mean() > 0.5
    assert changed[~inside].mean() < 0.01
    # elliptical: the corners of a face box are left alone
    b = result.scan.faces[0].box
    assert not changed[int(b.y1) + 1, int(b.x1) + 1]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_output_keeps_the_format(data_dir, fmt):
    out = io.BytesIO()
    Image.open(data_dir / "dlib-faces" / "2008_001009.jpg").save(out, format=fmt)
    result = discreet.anonymize(out.getvalue())
    assert result.format == fmt
    assert Image.open(io.BytesIO(result.data)).format == fmt


def test_metadata_is_stripped(data_dir):
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}  # GPSInfo
    source = io.BytesIO()
    Image.open(data_dir / "dlib-faces" / "2008_001009.jpg").save(source, format="JPEG", exif=exif)
    assert b"PhoneMaker" in source.getvalue()
    result = discreet.anonymize(source.getvalue())
    assert b"PhoneMaker" not in result.data and b"Exif" not in result.data
    assert not Image.open(io.BytesIO(result.data)).getexif()


def test_bad_options_are_validation_errors(data_dir):
    with pytest.raises(ValidationError):
        discreet.anonymize(data_dir / "dlib-faces" / "2008_001009.jpg", "smudge")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        discreet.anonymize(data_dir / "dlib-faces" / "2008_001009.jpg", scale=0.5)


# Faces of the scenes pack's design split that the scan's `default` preset does not find, picked by
# measurement: masked, soft (blurred or out of focus) and small faces; (photo, annotated box, why).
MISSED_BY_DEFAULT = [
    ("maksssksksss44.jpg", (43, 139, 80, 182), "masked, 37 px"),
    ("maksssksksss112.jpg", (90, 84, 138, 131), "mask worn below the nose, 48 px"),
    ("maksssksksss340.jpg", (59, 1, 105, 55), "masked, cut by the top edge"),
    ("maksssksksss268.jpg", (73, 76, 148, 137), "masked and soft, 75 px"),
    ("maksssksksss254.jpg", (130, 63, 152, 85), "masked and blurred, 22 px"),
    ("maksssksksss758.jpg", (318, 48, 338, 72), "masked and blurred, 20 px"),
    ("maksssksksss240.jpg", (184, 201, 198, 211), "small, 14 px"),
    ("maksssksksss240.jpg", (314, 231, 328, 244), "small, 14 px"),
]


@pytest.mark.parametrize(("photo", "corners", "why"), MISSED_BY_DEFAULT,
                         ids=[f"{p}-{w}" for p, _, w in MISSED_BY_DEFAULT])
def test_faces_the_default_preset_misses_are_covered(data_dir, photo, corners, why):
    path = data_dir / "scenes" / "images" / photo
    face = Box(x1=corners[0], y1=corners[1], x2=corners[2], y2=corners[3])
    found = FaceDetector("default").analyze(decode(path))
    assert all(iou(face, f.box) < 0.3 for f in found), "the default preset finds it: not a missed face"
    mask = discreet.anonymize(path, "solid", redact=["faces"]).cover_mask
    assert covered_shares(mask, [face])[0] >= COVERED_SHARE
