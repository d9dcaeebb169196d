"""Video: a real test video (labelled photos filmed with a panning, zooming camera, cut together)
with known face boxes in every frame; broken and audio-only files for the error codes."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from discreet.analyzers.faces import FaceDetector
from discreet.cli import app
from discreet.errors import ValidationError
from discreet.evaluation.video import (
    FilmedVideo,
    build_audio_only,
    build_video,
    discreet_mask,
    shot_photos,
    uncovered_faces,
)
from discreet.video import VideoError, VideoLimits, anonymize_video, is_video, open_video, scan_video
from discreet.schema import Box, Face, Landmarks, Point
from discreet.video.tracker import CoverTracker

WIDTH, HEIGHT, FPS = 384, 216, 12


@pytest.fixture(scope="module")
def clip(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> FilmedVideo:
    photos = shot_photos(data_dir)[:4]
    return build_video(photos, tmp_path_factory.mktemp("video") / "clip.mp4", width=WIDTH, height=HEIGHT, fps=FPS,
                       shot_frames=12)


@pytest.fixture(scope="module")
def anonymized(clip: FilmedVideo, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, list]]:
    covers: dict[int, list] = {}
    target = tmp_path_factory.mktemp("out") / "anonymized.mp4"
    anonymize_video(clip.path, target, on_covers=lambda index, boxes: covers.__setitem__(index, boxes))
    return target, covers


def test_the_test_video_has_faces_in_view_and_cuts(clip: FilmedVideo) -> None:
    assert clip.frames == 48
    assert all(len(boxes) for boxes in clip.faces)
    assert sum(len(boxes) for boxes in clip.faces) > 100


def test_no_ground_truth_face_is_left_uncovered_at_default_settings(clip: FilmedVideo, anonymized) -> None:
    _, covers = anonymized
    assert sorted(covers) == list(range(clip.frames))
    uncovered, counted, frames = uncovered_faces(clip.faces, lambda i: discreet_mask(covers[i], WIDTH, HEIGHT, 1.6))
    assert counted == sum(len(boxes) for boxes in clip.faces)
    assert (uncovered, frames) == (0, [])


def test_covers_change_the_pixels_of_every_face(clip: FilmedVideo, anonymized) -> None:
    target, _ = anonymized
    with open_video(clip.path) as (container, _stream, _info):
        before = [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]
    with open_video(target) as (container, _stream, _info):
        after = [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]
    for index, boxes in enumerate(clip.faces):
        for x1, y1, x2, y2 in boxes.round().astype(int):
            change = np.abs(after[index][y1:y2, x1:x2] - before[index][y1:y2, x1:x2]).mean()
            assert change > 4, (index, (x1, y1, x2, y2), change)  # re-encoding alone changes ~1 level


def test_output_keeps_frames_duration_rate_and_audio(clip: FilmedVideo, anonymized) -> None:
    target, _ = anonymized
    with open_video(clip.path) as (source, _s, before):
        audio_before = source.streams.audio[0]
        audio_in = (audio_before.codec_context.name, audio_before.sample_rate, audio_before.frames)
    with open_video(target) as (output, _s, after):
        assert output.streams.audio, "the audio track was dropped"
        audio_after = output.streams.audio[0]
        audio_out = (audio_after.codec_context.name, audio_after.sample_rate, audio_after.frames)
    assert after.frames == before.frames == clip.frames
    assert after.fps == pytest.approx(before.fps)
    assert abs(after.duration - before.duration) <= 1 / before.fps
    assert audio_out == audio_in


def test_audio_a_container_cannot_hold_is_a_clear_error(clip: FilmedVideo, tmp_path: Path) -> None:
    target = tmp_path / "out.webm"  # WebM holds Opus or Vorbis, not the clip's AAC
    with pytest.raises(VideoError) as error:
        anonymize_video(clip.path, target)
    assert error.value.code == "audio_not_supported_by_container"
    assert not target.exists()


def test_stopping_midway_leaves_no_file_and_no_detection_running(clip: FilmedVideo, tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        anonymize_video(clip.path, target, on_progress=stop)
    assert not target.exists()
    assert not [t for t in threading.enumerate() if t.name.startswith("discreet-video-detect")]


class _Flicker(FaceDetector):
    """A face detector that finds one face at a new place at every look, at the score given
    (as CenterFace's faces under RetinaFace's score come and go)."""

    def __init__(self, score: float) -> None:
        super().__init__("default")
        self.score, self.looks = score, 0

    def analyze(self, image):
        self.looks += 1
        x = 20.0 + 150 * (self.looks % 2)  # further than a track follows
        return [Face(box=Box(x1=x, y1=40, x2=x + 40, y2=90), score=self.score, landmarks=_LANDMARKS)]


_LANDMARKS = Landmarks(**{name: Point(x=0, y=0) for name in Landmarks.model_fields})


@pytest.mark.parametrize("score, held_looks", [(0.1, False), (0.9, True)])
def test_held_frames_are_looked_at_only_for_a_new_face_the_held_look_can_find(
    clip: FilmedVideo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, score: float, held_looks: bool
) -> None:
    flicker = _Flicker(score)
    monkeypatch.setattr("discreet.video.anonymize._analyzers", lambda *args: {"faces": flicker})
    covers: dict[int, list] = {}
    result = anonymize_video(clip.path, tmp_path / "out.mp4",
                             on_covers=lambda i, boxes: covers.__setitem__(i, boxes))
    # every look is the flickering detector's unless the held frames were looked at too (by RetinaFace)
    assert (result.detections > flicker.looks) is held_looks
    # either way the face of the second look (frame 3) is covered where it was found on the frames before
    assert all(any(np.allclose(box, [20, 40, 60, 90]) for box in covers[frame]) for frame in (1, 2))


def test_a_face_missed_between_detections_stays_covered() -> None:
    tracker = CoverTracker(keep_frames=6)
    moving = lambda frame: np.array([[100 + 4 * frame, 50, 140 + 4 * frame, 100]], dtype=float)
    assert len(tracker.advance(0, moving(0))) == 1
    between = tracker.advance(3, moving(3))
    assert [b[0].tolist() for b in between] == [moving(f)[0].tolist() for f in (1, 2, 3)]
    # the detector misses the face at frame 6: its cover moves on at the same speed
    missed = tracker.advance(6, np.zeros((0, 4)))
    np.testing.assert_allclose([b[0] for b in missed], [moving(f)[0] for f in (4, 5, 6)])
    # and ends keep_frames after the last detection (frame 3 + 6)
    later = tracker.advance(12, np.zeros((0, 4)))
    assert [len(b) for b in later] == [1, 1, 1, 0, 0, 0]


def test_a_face_found_late_is_covered_in_the_frames_before() -> None:
    tracker = CoverTracker(keep_frames=6)
    tracker.advance(0, np.zeros((0, 4)))
    box = np.array([[10, 10, 50, 60]], dtype=float)
    assert [len(b) for b in tracker.advance(3, box)] == [1, 1, 1]


def test_scan_at_an_interval_gives_timestamped_frames(clip: FilmedVideo) -> None:
    result = scan_video(clip.path, ["faces", "codes"], interval=1.0)
    assert [f.time for f in result.frames] == pytest.approx([0.0, 1.0, 2.0, 3.0])
    assert [f.index for f in result.frames] == [0, 12, 24, 36]
    assert result.video.frames == clip.frames and result.video.has_audio
    for frame in result.frames:
        assert frame.codes == [] and frame.text is None
        assert len(frame.faces) >= 1
    every = scan_video(clip.path, ["codes"], interval=None)
    assert [f.index for f in every.frames] == list(range(clip.frames))
    assert every.frames[0].faces is None


def test_scan_refuses_a_bad_interval(clip: FilmedVideo) -> None:
    with pytest.raises(ValidationError) as error:
        scan_video(clip.path, interval=0)
    assert error.value.code == "invalid_interval"


def _code(source, limits: VideoLimits | None = None) -> str:
    with pytest.raises(VideoError) as error, open_video(source, limits):
        pass
    return error.value.code


def test_bad_videos_have_stable_codes(clip: FilmedVideo, tmp_path: Path) -> None:
    data = clip.path.read_bytes()
    assert _code(data[: len(data) // 2]) == "video_unreadable"  # truncated: the index at the end is gone
    assert _code(b"") == "video_empty"
    assert _code(b"not a video at all" * 100) == "video_unreadable"
    assert _code(build_audio_only(tmp_path / "tone.m4a", 1.0)) == "no_video_stream"
    assert _code(clip.path, VideoLimits(max_seconds=2)) == "video_too_long"
    assert _code(clip.path, VideoLimits(max_bytes=len(data) - 1)) == "video_too_large"
    assert _code(clip.path, VideoLimits(max_pixels=WIDTH * HEIGHT - 1)) == "video_too_large"
    assert _code(tmp_path / "missing.mp4") == "video_unreadable"


def test_video_is_told_from_images(clip: FilmedVideo, data_dir: Path, tmp_path: Path) -> None:
    unnamed = tmp_path / "clip.bin"
    unnamed.write_bytes(clip.path.read_bytes())
    assert is_video(clip.path) and is_video(unnamed)
    assert not is_video(data_dir / "dlib-faces" / "2008_001322.jpg")


def test_cli_anonymizes_a_video_and_reports_bad_ones(clip: FilmedVideo, tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "out.mp4"
    done = runner.invoke(app, ["anonymize", str(clip.path), str(target)])
    assert done.exit_code == 0, done.output
    with open_video(target) as (container, _s, info):
        assert info.frames == clip.frames and container.streams.audio
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.path.read_bytes()[:5000])
    failed = runner.invoke(app, ["anonymize", str(broken), str(tmp_path / "never.mp4")])
    assert failed.exit_code == 2 and "video_unreadable" in failed.output
