"""Anonymize every frame of a video: faces detected every few frames, covers carried in between.

Frames are decoded and encoded with PyAV (bundled FFmpeg). The audio packets are copied as they
are, and each frame keeps its timestamp, so the frame rate and duration stay the input's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import av
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from discreet.analyzers import SCENES, SceneAnalyzer
from discreet.analyzers.faces import FUSIONS, PRESETS, FaceDetector
from discreet.anonymize import DEFAULT_REDACT
from discreet.errors import ValidationError
from discreet.geometry import COVER_METHODS, Cover, CoverMethod, CoverShape, box_rows, draw_cover
from discreet.imaging import DecodedImage
from discreet.pipeline import check_scenes, shared_analyzer
from discreet.schema import Box
from discreet.video.container import (
    VideoError,
    VideoInfo,
    VideoInput,
    VideoLimits,
    decode_packet,
    demuxed,
    open_video,
    to_rgb,
)
from discreet.video.tracker import CoverTracker

Progress = Callable[[int, int], None]

#: Detection every 3rd frame at 720 px (the default face preset's side), covers carried for a
#: second of 25-30 fps video after a face was last seen: chosen on the test video of the README
#: ("Video"), where no ground-truth face is left uncovered at these settings.
DETECT_EVERY = 3
DETECT_SIDE = 720
KEEP_FRAMES = 25
#: faces are looked for as the still-image anonymizer looks (RetinaFace at this score joined by
#: CenterFace, ``FUSIONS["anonymize"]``), at ``DETECT_SIDE``
DETECT_MIN_SCORE = PRESETS["anonymize"].min_score
#: A cut: the mean absolute difference (0-255) of 32x18 grey thumbnails of consecutive frames is
#: over this and over twice the difference before it (a fast pan changes frames steadily, a cut at once).
CUT_DIFFERENCE = 20.0

# Encoders by output container: x264 "veryfast" at CRF 20 keeps the picture close to the input at a
# speed that does not dominate the anonymization; VP9 in realtime mode for WebM.
_ENCODERS: dict[str, tuple[str, dict[str, str]]] = {
    "webm": ("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0"}),
}
_DEFAULT_ENCODER = ("libx264", {"preset": "veryfast", "crf": "20"})


class AnonymizedVideo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    video: VideoInfo
    frames: int = Field(description="frames written")
    detections: int = Field(description="frames the face detector ran on")
    covered_frames: int = Field(description="frames with at least one cover")
    covers: int = Field(description="covers drawn, summed over frames")


def anonymize_video(
    source: VideoInput,
    target: str | Path,
    method: CoverMethod = "blur",
    *,
    redact: Sequence[str] = DEFAULT_REDACT,
    scale: float | None = None,
    detect_every: int = DETECT_EVERY,
    detect_side: int = DETECT_SIDE,
    keep_frames: int = KEEP_FRAMES,
    min_score: float = DETECT_MIN_SCORE,
    threads: int | None = None,
    limits: VideoLimits | None = None,
    on_progress: Progress | None = None,
    on_covers: Callable[[int, list[np.ndarray]], None] | None = None,
) -> AnonymizedVideo:
    """Write ``target`` (container from its name ending) with what the ``redact`` scenes find
    covered in every frame.

    The analyzers run on every ``detect_every``-th frame (and the last), the face detector (the
    anonymizer's RetinaFace and CenterFace) with RetinaFace's long side at ``detect_side`` pixels,
    on a second thread (each model on ``threads`` threads); one ``CoverTracker`` a scene plans the
    covers of the frames in between. Covers are the scene's box drawn in its shape (a face's ellipse; a tilted
    region's box, since a tracked cover is a box), enlarged by ``scale`` or the scene's own
    ``cover_scale``. ``on_progress(frames done, total)`` may raise to stop; ``on_covers(frame,
    boxes)`` sees each frame's cover boxes as drawn (before scaling), for evaluation.
    """
    if method not in COVER_METHODS:
        raise ValidationError(f"unknown method '{method}'; choose one of {', '.join(COVER_METHODS)}", code="unknown_method")
    if scale is not None and scale < 1.0:
        raise ValidationError("scale must be at least 1.0", code="invalid_scale")
    if detect_every < 1 or keep_frames < 0 or detect_side < 64:
        raise ValidationError("detect_every >= 1, keep_frames >= 0 and detect_side >= 64 are required",
                              code="invalid_request")
    analyzers = _analyzers(check_scenes(redact), detect_side, min_score, threads or 1)
    # The frames held between two detections, looked at one by one when something new appears,
    # are looked at by RetinaFace alone, and only for a scene with a new region that look can find
    # again (a face from RetinaFace's score on): CenterFace's faces are covered on the held frames
    # where the detection frame had them, and those under RetinaFace's score come and go from one
    # detection to the next (on the README's test video they made 75 of 133 looks, covering no face more).
    held_analyzers = {
        scene: FaceDetector(analyzer.strategy, threads=threads or 1) if scene == "faces" else analyzer
        for scene, analyzer in analyzers.items()
    }
    held_min_score = {scene: min_score if scene == "faces" else 0.0 for scene in analyzers}
    trackers = {scene: CoverTracker(keep_frames=keep_frames) for scene in analyzers}
    shapes: dict[str, CoverShape] = {}
    counts = {"frames": 0, "detections": 0, "covered_frames": 0, "covers": 0}
    # The analyzers run on a second thread (onnxruntime lets go of the GIL), one detection ahead:
    # while a batch's detection frame is looked at, the batch before is covered and encoded.
    with open_video(source, limits) as (container, stream, info), \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="discreet-video-detect") as worker:
        output = av.open(str(target), mode="w")
        try:
            video_out = _video_stream(output, Path(target).suffix.lower().lstrip("."), stream, info)
            audio_in = container.streams.audio[0] if container.streams.audio else None
            audio_out = _audio_stream(output, audio_in, target) if audio_in is not None else None
            pending: list[_Frame] = []
            batches: deque[_Batch] = deque()
            previous: np.ndarray | None = None
            last_difference = 0.0

            def look(frame: _Frame, looking: dict[str, SceneAnalyzer]) -> Future[_Found]:
                counts["detections"] += 1
                return worker.submit(_detect, frame.pixels, looking)

            def close_batch(after_cut: bool) -> None:
                batches.append(_Batch(pending.copy(), look(pending[-1], analyzers), after_cut))
                pending.clear()
                while len(batches) > 1:
                    write(batches.popleft())

            def write(batch: _Batch) -> None:
                if batch.after_cut:
                    for tracker in trackers.values():
                        tracker.cut()
                first, last = counts["frames"], counts["frames"] + len(batch.frames) - 1
                found, found_shapes = batch.found.result()
                shapes.update(found_shapes)
                new = {scene: trackers[scene].unexplained(last, rows) for scene, rows in found.items()}
                looking = {scene: held_analyzers[scene] for scene, rows in new.items()
                           if (rows[:, 4] >= held_min_score[scene]).any()}
                held = [look(frame, looking) for frame in batch.frames[:-1]] if looking else []
                planned: dict[str, list[list[np.ndarray]]] = {}
                for scene, tracker in trackers.items():
                    if scene not in looking:
                        planned[scene] = tracker.advance(last, found[scene])
                        continue
                    # something new or fast: look at every frame held rather than interpolate, and keep
                    # the new regions covered on them too (they were likely there, undetected)
                    on_held = [[*tracker.advance(first + n, result.result()[0][scene])[0], *new[scene][:, :4]]
                               for n, result in enumerate(held)]
                    planned[scene] = [*on_held, tracker.advance(last, found[scene])[0]]
                for n, frame in enumerate(batch.frames):
                    covers = {scene: planned[scene][n] for scene in analyzers}
                    _write(output, video_out, frame, covers, analyzers, shapes, method, scale, counts, on_covers)
                if on_progress is not None:
                    on_progress(counts["frames"], max(info.frames, counts["frames"]))

            index = 0
            for packet in demuxed(container, *[s for s in (stream, audio_in) if s is not None]):
                if packet.stream is audio_in:
                    if packet.dts is not None:
                        packet.stream = audio_out
                        output.mux(packet)
                    continue
                # the last packet of the stream is empty: decoding it returns the frames still held
                for frame in decode_packet(packet):
                    thumbnail = _thumbnail(frame)
                    difference = 0.0 if previous is None else float(np.abs(thumbnail - previous).mean())
                    is_cut = difference > CUT_DIFFERENCE and difference > 2 * last_difference
                    previous, last_difference = thumbnail, difference
                    if is_cut and pending:
                        close_batch(after_cut=False)
                    pending.append(_Frame(frame))
                    if is_cut or index % detect_every == 0:
                        close_batch(after_cut=is_cut)
                    index += 1
            if pending:
                close_batch(after_cut=False)
            while batches:
                write(batches.popleft())
            output.mux(video_out.encode(None))
        except BaseException:
            output.close()
            Path(target).unlink(missing_ok=True)  # never leave half a video behind
            raise
        output.close()
    return AnonymizedVideo(video=info, **counts)


class _Frame:
    """A decoded frame; its RGB pixels, converted once when first asked for, serve the detectors
    and then the covers."""

    def __init__(self, frame: av.VideoFrame) -> None:
        self.frame = frame
        self._pixels: np.ndarray | None = None

    @property
    def pixels(self) -> np.ndarray:
        if self._pixels is None:
            self._pixels = to_rgb(self.frame)
        return self._pixels


#: per scene, the regions found as rows ``x1 y1 x2 y2 score``; per scene, the shape its covers are drawn in
_Found = tuple[dict[str, np.ndarray], dict[str, CoverShape]]


@dataclass
class _Batch:
    """The frames up to a detection frame (the last), its detection (running or done), and
    whether the video cuts just before them."""

    frames: list[_Frame]
    found: Future[_Found]
    after_cut: bool


def _detect(pixels: np.ndarray, looking: dict[str, SceneAnalyzer]) -> _Found:
    image = DecodedImage(pixels, "video")
    found, shapes = {}, {}
    for scene, analyzer in looking.items():
        regions = analyzer.analyze(image)
        covers = analyzer.covers(regions)
        # a tracked cover is a box: a tilted region is drawn as its box between detections
        shapes.update((scene, "ellipse" if c.shape == "ellipse" else "rectangle") for c in covers)
        # only faces are told apart by score (``held_min_score``); the other scenes' regions all count
        scores = [face.score for face in regions] if scene == "faces" else [1.0] * len(covers)
        found[scene] = np.column_stack([box_rows([cover.box for cover in covers]), scores])
    return found, shapes


def _analyzers(redact: list[str], detect_side: int, min_score: float, threads: int) -> dict[str, SceneAnalyzer]:
    """The analyzer of each scene to cover; faces as the anonymizer finds them, RetinaFace at
    ``detect_side`` pixels and ``min_score``."""
    built: dict[str, SceneAnalyzer] = {}
    for scene in redact:
        if scene == "faces":
            strategy = replace(PRESETS["anonymize"], target_sides=(detect_side,), min_score=min_score)
            built[scene] = FaceDetector(strategy, threads=threads, fusion=FUSIONS["anonymize"])
        else:
            built[scene] = shared_analyzer(SCENES[scene], threads, SCENES[scene].anonymize_options)
    return built


def _whole_face(row: np.ndarray, width: int, height: int) -> tuple[float, float, float, float]:
    """A face cut by the frame's edge is detected as its visible part: extend the box past that
    edge to a whole face's shape (about as wide as tall), so the cover centres on the whole face."""
    x1, y1, x2, y2 = (float(v) for v in row[:4])
    side = max(x2 - x1, y2 - y1)
    if x1 <= 1:
        x1 = min(x1, x2 - side)
    if x2 >= width - 1:
        x2 = max(x2, x1 + side)
    if y1 <= 1:
        y1 = min(y1, y2 - side)
    if y2 >= height - 1:
        y2 = max(y2, y1 + side)
    return x1, y1, x2, y2


def _audio_stream(output: Any, audio_in: Any, target: str | Path) -> Any:
    """A stream the input's audio packets are copied into, as they are (never re-encoded)."""
    try:
        return output.add_stream_from_template(audio_in)
    except ValueError as exc:
        raise VideoError(f"{Path(target).suffix} files cannot hold the input's '{audio_in.codec_context.name}' "
                         "audio as it is; write .mp4 or .mkv", code="audio_not_supported_by_container") from exc


def _thumbnail(frame: av.VideoFrame) -> np.ndarray:
    return frame.reformat(width=32, height=18, format="gray").to_ndarray().astype(np.float32)


def _video_stream(output: Any, container_name: str, stream: Any, info: VideoInfo) -> Any:
    codec, options = _ENCODERS.get(container_name, _DEFAULT_ENCODER)
    video_out = output.add_stream(codec, rate=stream.average_rate or round(info.fps), options=options)
    video_out.width, video_out.height = info.width, info.height
    video_out.pix_fmt = "yuv420p"
    video_out.time_base = stream.time_base
    video_out.codec_context.time_base = stream.time_base
    return video_out


def _write(output: Any, video_out: Any, decoded: _Frame, covers: dict[str, list[np.ndarray]],
           analyzers: dict[str, SceneAnalyzer], shapes: dict[str, CoverShape], method: str, scale: float | None,
           counts: dict[str, int],
           on_covers: Callable[[int, list[np.ndarray]], None] | None) -> None:
    index, frame = counts["frames"], decoded.frame
    drawn: list[tuple[str, tuple[float, float, float, float]]] = []
    for scene, boxes in covers.items():
        # a face cut by the frame's edge is covered as a whole face; other regions as they are
        whole = (_whole_face(row, frame.width, frame.height) if scene == "faces" else tuple(map(float, row[:4]))
                 for row in boxes)
        drawn += [(scene, box) for box in whole if box[2] > box[0] and box[3] > box[1]]
    if on_covers is not None:
        on_covers(index, [np.array(box) for _, box in drawn])
    if drawn:
        pixels = decoded.pixels
        for scene, (x1, y1, x2, y2) in drawn:
            draw_cover(pixels, Cover(Box(x1=x1, y1=y1, x2=x2, y2=y2), shapes.get(scene, "rectangle")),
                       analyzers[scene].cover_scale if scale is None else scale, method)
        covered = av.VideoFrame.from_ndarray(pixels, format="rgb24")
        covered.pts, covered.time_base = frame.pts, frame.time_base
        frame = covered
        counts["covered_frames"] += 1
        counts["covers"] += len(drawn)
    frame.pict_type = av.video.frame.PictureType.NONE
    output.mux(video_out.encode(frame))
    counts["frames"] += 1
