"""CenterFace's decoding, checked on a real group photo against its annotations and against RetinaFace."""

from __future__ import annotations

import numpy as np
import pytest

from discreet.analyzers.centerface import CenterFace
from discreet.analyzers.faces import FaceDetector
from discreet.evaluation.packs import read_dlib
from discreet.geometry import box_row, iou_one_to_many
from discreet.imaging import decode


@pytest.fixture(scope="module")
def group_photo(data_dir):
    photos = read_dlib(data_dir / "dlib-faces" / "testing.xml")
    item = next(i for i in photos if i.path.name == "2008_002506.jpg")
    return item, decode(item.path).pixels


def test_every_annotated_face_is_found_where_it_is(group_photo):
    item, pixels = group_photo
    rows = CenterFace(side=640, min_score=0.5).predict([pixels])[0]
    assert rows.shape[1] == 15 and len(rows) >= len(item.boxes)
    for labelled in item.boxes:
        assert iou_one_to_many(box_row(labelled.box), rows[:, :4]).max() >= 0.4, labelled.box
    assert (rows[:, 4] >= 0.5).all() and (rows[:, 4] <= 1).all()


def test_boxes_and_landmarks_agree_with_retinaface(group_photo):
    """Two independent decoders of two networks put the same faces' boxes and five points in the
    same places, in the same order (eyes, nose, mouth corners)."""
    _, pixels = group_photo
    rows = CenterFace(side=640, min_score=0.5).detect(pixels)
    faces = FaceDetector("default").detect(pixels)
    assert faces
    for face in faces:
        overlaps = iou_one_to_many(box_row(face.box), rows[:, :4])
        row = rows[overlaps.argmax()]
        assert overlaps.max() >= 0.4
        theirs = np.array([[p.x, p.y] for p in (face.landmarks.left_eye, face.landmarks.right_eye,
                                                  face.landmarks.nose, face.landmarks.mouth_left,
                                                  face.landmarks.mouth_right)])
        ours = row[5:].reshape(5, 2)
        assert np.abs(ours - theirs).max() < 0.2 * face.box.width, (ours, theirs)


def test_a_lower_threshold_only_adds_faces(group_photo):
    _, pixels = group_photo
    model = CenterFace(side=640, min_score=0.5)
    strict, loose = model.detect(pixels), model.detect(pixels, min_score=0.1)
    assert len(loose) >= len(strict)
    for row in strict:
        assert iou_one_to_many(row, loose[:, :4]).max() > 0.99
