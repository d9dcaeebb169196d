"""Face detection on real photos: the dlib-faces pack's per-face boxes and a slice of the scenes pack."""

from __future__ import annotations

import numpy as np
import pytest

import discreet
from discreet.analyzers.faces import PRESETS, FaceDetector
from discreet.errors import ValidationError
from discreet.evaluation.faces import evaluate_faces
from discreet.evaluation.packs import read_dlib
from discreet.geometry import iou


@pytest.fixture(scope="module")
def dlib_images(data_dir):
    return [*read_dlib(data_dir / "dlib-faces" / "training.xml"), *read_dlib(data_dir / "dlib-faces" / "testing.xml")]


def test_every_annotated_face_is_found_with_few_extras(dlib_images):
    truth = found = extras = 0
    for item in dlib_images:
        faces = discreet.scan(item.path).faces
        for face in faces:
            box = face.box
            assert 0 <= box.x1 < box.x2 and 0 <= box.y1 < box.y2
            points = face.landmarks.model_dump().values()
            assert all(box.x1 - box.width * 0.2 <= p["x"] <= box.x2 + box.width * 0.2 for p in points)
        truth += len(item.boxes)
        found += sum(any(iou(g.box, f.box) >= 0.5 for f in faces) for g in item.boxes)
        extras += max(0, len(faces) - len(item.boxes))
    assert truth == 43
    assert found == truth
    assert extras <= 3


def test_landmarks_are_in_picture_order(data_dir):
    face = max(discreet.scan(data_dir / "dlib-faces" / "2008_002506.jpg").faces, key=lambda f: f.box.width)
    marks = face.landmarks
    assert marks.left_eye.x < marks.right_eye.x
    assert marks.mouth_left.x < marks.mouth_right.x
    assert marks.left_eye.y < marks.nose.y < marks.mouth_left.y


@pytest.fixture(scope="module")
def scene_reports(data_dir):
    return {preset: evaluate_faces(data_dir / "scenes", preset, limit=40) for preset in PRESETS}


@pytest.mark.parametrize("preset", list(PRESETS))
def test_presets_score_well_on_small_faces_of_scenes(scene_reports, preset):
    report = scene_reports[preset]
    assert report["images"] == 40 and report["faces"] > 150
    assert report["ap50"] > 0.72


def test_the_accurate_preset_finds_at_least_as_much(scene_reports):
    assert scene_reports["accurate"]["ap50"] >= scene_reports["default"]["ap50"] - 0.01


def test_an_image_without_faces(data_dir):
    assert discreet.scan(np.full((200, 300, 3), 127, dtype=np.uint8)).faces == []


def test_boxes_are_in_original_pixels_for_large_images(data_dir):
    small = discreet.scan(data_dir / "dlib-faces" / "2008_002506.jpg")
    pixels = discreet.imaging.decode(data_dir / "dlib-faces" / "2008_002506.jpg").pixels
    big = discreet.scan(np.repeat(np.repeat(pixels, 3, axis=0), 3, axis=1))
    assert (big.width, big.height) == (small.width * 3, small.height * 3)
    for face in small.faces:
        assert max(iou(face.box.model_copy(update={k: v * 3 for k, v in face.box.model_dump().items()}), f.box)
                   for f in big.faces) > 0.6


def test_unknown_preset_is_a_validation_error():
    with pytest.raises(ValidationError) as caught:
        FaceDetector("fastest")
    assert caught.value.code == "unknown_preset"


def test_batch_keeps_going_past_a_bad_image(data_dir):
    results = discreet.scan_batch([data_dir / "dlib-faces" / "2008_001009.jpg", b"not an image", data_dir / "dlib-faces" / "2009_004587.jpg"])
    assert [type(r).__name__ for r in results] == ["ScanResult", "ImageError", "ScanResult"]
    assert results[1].code == "image_unreadable"
    assert len(results[0].faces) == 2 and len(results[2].faces) == 2


def test_models_are_loaded_once(data_dir):
    first = discreet.Scanner(["faces"])
    second = discreet.Scanner(["faces"])
    assert first.analyzers["faces"] is second.analyzers["faces"]
