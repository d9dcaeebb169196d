"""Moderation decisions in the library: policies, term lists, picture lists, video segments."""

from __future__ import annotations

import io

import pytest
from PIL import Image

import discreet
from discreet.imaging import decode
from discreet.moderation import LabelRule, ModerationPolicy, TermEntry, TermList
from discreet.moderation.hashing import (
    MATCH_DISTANCE,
    PictureList,
    listed_hashes,
    match_lists,
    parse_hash,
    pdq,
)
from discreet.schema import Box, Nudity, NudityRegion

URL_CODE = "qr/qrcode-2/28.png"  # a photographed code with its URL printed below it


def _edited(path, *, scale=0.5, crop=0.05, quality=70, mirror=False) -> bytes:
    """The picture re-encoded as JPEG, resized and cropped by ``crop`` of each side."""
    image = Image.open(path).convert("RGB")
    w, h = image.size
    image = image.crop((int(w * crop), int(h * crop), int(w * (1 - crop)), int(h * (1 - crop))))
    image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
    if mirror:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def test_a_url_code_goes_to_review_by_default_and_the_policy_decides(data_dir):
    image = data_dir / URL_CODE
    default = discreet.scan(image, ["codes"], moderation=True).moderation
    assert default.scenes["codes"].suggestion == "review" and default.scenes["codes"].labels == ["code_url"]
    assert (default.suggestion, default.labels, default.policy, default.policy_version) == (
        "review", ["codes:code_url"], "default", 1)
    strict = ModerationPolicy(name="strict", version=3, labels={"code_url": LabelRule(block=0.5)})
    decided = discreet.scan(image, ["codes"], moderation=strict).moderation
    assert (decided.suggestion, decided.policy, decided.policy_version) == ("block", "strict", 3)
    lenient = ModerationPolicy(name="lenient", labels={"code_url": LabelRule()})
    assert discreet.scan(image, ["codes"], moderation=lenient).moderation.suggestion == "pass"


def test_a_face_photo_passes_and_no_decision_is_made_unless_asked(data_dir):
    image = data_dir / "dlib-faces" / "2008_002470.jpg"
    assert discreet.scan(image, ["faces"]).moderation is None
    decision = discreet.scan(image, ["faces"], moderation=True).moderation
    assert (decision.suggestion, decision.labels, decision.scenes["faces"].suggestion) == ("pass", [], "pass")


def test_unknown_labels_are_refused_in_a_policy():
    with pytest.raises(ValueError, match="unknown label"):
        ModerationPolicy(labels={"ethnicity": LabelRule(block=0.1)})


def test_nudity_labels_follow_the_same_thresholds_as_the_scene_suggestion():
    from discreet.analyzers.nudity import NudityDetector, suggest
    from discreet.moderation.decisions import decide
    from discreet.results import ScanResult

    for category, score in [("exposed_genitalia", 0.6), ("exposed_genitalia", 0.45), ("exposed_breast", 0.7),
                            ("covered_feet", 0.9), ("exposed_buttocks", 0.3)]:
        regions = [NudityRegion(category=category, score=score, box=Box(x1=0, y1=0, x2=5, y2=5))]
        nudity: Nudity = suggest(regions)
        decision = decide(ScanResult(width=10, height=10, nudity=nudity))
        assert decision.scenes["nudity"].suggestion == nudity.suggestion, (category, score)
        assert NudityDetector.moderation_labels(nudity) == {category: score}


def test_a_term_list_blocks_an_image_whose_text_contains_it_with_the_span(data_dir):
    image = data_dir / URL_CODE  # its printed line reads http://www.webtech.co.jp/k/
    word = "WebTech"
    terms = TermList(name="spam", entries=[TermEntry(term=word, kind="word", action="block")])
    result = discreet.Scanner(["text"], term_lists=[terms]).scan(image)
    assert result.moderation.suggestion == "block"
    in_text = [m for m in result.moderation.terms if m.scene == "text"]
    assert in_text, result.moderation.terms
    match = in_text[0]
    assert match.list == "spam" and match.action == "block"
    assert result.text[match.index].text[match.start:match.end].lower() == word.lower()
    assert result.moderation.scenes["text"].labels == ["term:spam"]
    unrelated = TermList(name="other", entries=[TermEntry(term="zebra crossing", kind="phrase")])
    assert discreet.Scanner(["text"], term_lists=[unrelated]).scan(image).moderation.suggestion == "pass"


def test_a_runaway_pattern_counts_as_no_match_instead_of_stalling():
    from discreet.moderation.terms import match_terms

    evil = TermList(name="evil", entries=[TermEntry(term="(a+)+$", kind="pattern")])
    assert match_terms({"text": ["a" * 40 + "!"]}, [evil]) == []


def test_picture_lists_match_edited_copies_and_not_other_photos(data_dir, tmp_path):
    photos = sorted((data_dir / "scenes" / "images").iterdir())
    listed, other = photos[10], photos[11]
    blocked = PictureList.of("l1", "known-bad", "block", [("e1", listed_hashes(decode(listed)))])
    for variant in (_edited(listed), _edited(listed, mirror=True), _edited(listed, scale=1.0, crop=0.0, quality=40)):
        (match,) = match_lists(decode(variant), [blocked])
        assert (match.list_name, match.kind, match.entry_id) == ("known-bad", "block", "e1")
        assert match.distance <= MATCH_DISTANCE
    assert match_lists(decode(other), [blocked]) == []

    scanner = discreet.Scanner(["faces"], picture_lists=[blocked])
    assert scanner.scan(_edited(listed)).moderation.suggestion == "block"
    assert scanner.scan(other).moderation.suggestion == "pass"


def test_a_pass_list_match_overrides_the_models(data_dir):
    image = data_dir / URL_CODE
    allowed = PictureList.of("l2", "known-good", "pass", [("e9", listed_hashes(decode(image)))])
    decision = discreet.Scanner(["codes"], picture_lists=[allowed]).scan(_edited(image, scale=0.8)).moderation
    assert decision.scenes["codes"].suggestion == "review"  # the scene's own decision is still shown
    assert (decision.suggestion, decision.labels) == ("pass", ["image_list:known-good"])


def test_hashes_are_exchanged_as_64_hex_digits(data_dir):
    digest = pdq(decode(data_dir / URL_CODE))
    assert parse_hash(digest.hex()) == digest
    with pytest.raises(discreet.ValidationError):
        parse_hash("abc")
    flat = decode(_flat_png())
    with pytest.raises(discreet.ValidationError) as caught:
        pdq(flat)
    assert caught.value.code == "image_hash_low_quality"


def _flat_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(out, format="PNG")
    return out.getvalue()


def test_video_decisions_come_as_segments(data_dir, tmp_path):
    from discreet.evaluation.packs import AnnotatedImage, LabelledBox
    from discreet.evaluation.video import build_video
    from discreet.video import scan_video

    def shot(path):  # the virtual camera aims at the labelled boxes: aim at the middle of the picture
        w, h = Image.open(path).size
        return AnnotatedImage(path, [LabelledBox(Box(x1=w * 0.4, y1=h * 0.4, x2=w * 0.6, y2=h * 0.6), "middle")])

    shots = [shot(data_dir / "dlib-faces" / "2008_002470.jpg"), shot(data_dir / URL_CODE)]
    video = build_video(shots, tmp_path / "two-shots.mp4", width=640, height=480, fps=10, shot_frames=20, audio=False)
    scan = scan_video(video.path, ["codes"], interval=0.5, moderation=True)
    assert all(frame.moderation is not None for frame in scan.frames)
    suggestions = [segment.suggestion for segment in scan.segments]
    assert suggestions[0] == "pass" and "review" in suggestions
    review = next(s for s in scan.segments if s.suggestion == "review")
    assert review.labels == ["codes:code_url"] and 1.5 <= review.start < review.end <= scan.video.duration + 1e-6
    for earlier, later in zip(scan.segments, scan.segments[1:]):
        assert earlier.end == later.start


def test_cli_shows_the_decision_and_fails_on_request(data_dir, tmp_path):
    from typer.testing import CliRunner

    from discreet.cli import app

    image = str(data_dir / URL_CODE)
    shown = CliRunner().invoke(app, ["scan", image, "--scenes", "codes", "--moderate"])
    assert shown.exit_code == 0 and "review" in shown.output and "code_url" in shown.output
    assert CliRunner().invoke(app, ["scan", image, "--scenes", "codes", "--fail-on", "review"]).exit_code == 3
    assert CliRunner().invoke(app, ["scan", image, "--scenes", "codes", "--fail-on", "block"]).exit_code == 0
    strict = tmp_path / "strict.json"
    strict.write_text(ModerationPolicy(name="strict", labels={"code_url": LabelRule(block=0.5)}).model_dump_json())
    blocked = CliRunner().invoke(app, ["scan", image, "--scenes", "codes", "--policy", str(strict), "-o", "json"])
    assert '"suggestion": "block"' in blocked.output and '"policy": "strict"' in blocked.output
