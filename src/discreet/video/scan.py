"""Scan a video at an interval (or every frame): one result per sampled frame, with its timestamp."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field, create_model

from discreet.errors import ValidationError
from discreet.imaging import DecodedImage
from discreet.moderation import ImageListMatch, Moderation, ModerationPolicy, Suggestion, TermList, TermMatch
from discreet.moderation.hashing import PictureList
from discreet.pipeline import Scanner
from discreet.results import scene_fields
from discreet.schema import Strict
from discreet.video.container import (
    VideoInfo,
    VideoInput,
    VideoLimits,
    decoded_frames,
    frame_time,
    open_video,
    to_rgb,
)

Progress = Callable[[int, int], None]


class FrameTime(Strict):
    index: int = Field(description="frame number from 0")
    time: float = Field(description="seconds from the start")


FrameScan = create_model(
    "FrameScan",
    __base__=FrameTime,
    __doc__="What one sampled frame holds; a scene not asked for is absent (None).",
    __module__=__name__,
    **scene_fields(),
    moderation=(Moderation | None, Field(None, description="the frame's decision, when moderation was asked for")),
)


class Segment(Strict):
    """A run of sampled frames with the same decision: from the first one's time to the next run's."""

    start: float = Field(description="seconds")
    end: float = Field(description="seconds")
    suggestion: Suggestion
    labels: list[str]
    terms: list[TermMatch] = Field(
        default_factory=list, description="the term-list matches in the run's frames, each distinct text once")
    image_lists: list[ImageListMatch] = Field(
        default_factory=list, description="the picture-list entries the run's frames matched, each at its closest")


class VideoScan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    video: VideoInfo
    interval: float | None = Field(description="seconds between sampled frames; None: every frame")
    frames: list[FrameScan]
    segments: list[Segment] | None = Field(None, description="the decisions over time, when moderation was asked for")


def scan_video(
    source: VideoInput,
    scenes: Sequence[str] = ("faces",),
    attributes: Sequence[str] = (),
    *,
    interval: float | None = 1.0,
    preset: str | None = None,
    moderation: ModerationPolicy | bool = False,
    term_lists: Sequence[TermList] = (),
    picture_lists: Sequence[PictureList] = (),
    threads: int | None = None,
    limits: VideoLimits | None = None,
    on_progress: Progress | None = None,
) -> VideoScan:
    """Scan the frame at every ``interval`` seconds (``None``: every frame) for ``scenes``.

    ``on_progress(decoded, total)`` is called after each frame; it may raise to stop the scan.
    ``moderation``, ``term_lists`` and ``picture_lists`` decide each sampled frame as ``Scanner``
    decides an image (term lists against the frame's text lines and code payloads, picture lists
    against the whole frame's hash); runs of frames with the same decision become ``segments``.
    """
    if interval is not None and interval <= 0:
        raise ValidationError("interval must be over 0 seconds (or None for every frame)", code="invalid_interval")
    scanner = Scanner(scenes, attributes, preset=preset, moderation=moderation, term_lists=term_lists,
                      picture_lists=picture_lists, threads=threads)
    results = []
    with open_video(source, limits) as (container, stream, info):
        next_time = 0.0
        for index, frame in enumerate(decoded_frames(container, stream)):
            moment = frame_time(frame, index, info.fps)
            half_frame = 0.5 / info.fps
            if interval is None or moment + half_frame >= next_time:
                scanned = scanner.scan(DecodedImage(to_rgb(frame), "video"))
                fields = scanned.model_dump(exclude={"width", "height"}, exclude_none=True)
                results.append(FrameScan(index=index, time=round(moment, 4), **fields))
                if interval is not None:
                    next_time = (int((moment + half_frame) // interval) + 1) * interval
            if on_progress is not None:
                on_progress(index + 1, max(info.frames, index + 1))
    segments = _segments(results, info.duration) if scanner.policy is not None else None
    return VideoScan(video=info, interval=interval, frames=results, segments=segments)


def _segments(frames: list[FrameScan], duration: float) -> list[Segment]:
    segments: list[Segment] = []
    for frame in frames:
        decision = frame.moderation
        if not segments or (segments[-1].suggestion, segments[-1].labels) != (decision.suggestion, decision.labels):
            if segments:
                segments[-1] = segments[-1].model_copy(update={"end": frame.time})
            segments.append(Segment(start=frame.time, end=duration, suggestion=decision.suggestion,
                                    labels=decision.labels))
        segments[-1] = _with_matches(segments[-1], decision)
    return segments


def _with_matches(segment: Segment, decision: Moderation) -> Segment:
    """The segment with the frame's matches added: a text found again counts once (its first frame's
    match), a picture-list entry keeps its closest distance."""
    terms: dict[tuple[str, str, str, str], TermMatch] = {}
    for match in segment.terms + decision.terms:
        terms.setdefault((match.list, match.term, match.scene, match.text.lower()), match)
    closest: dict[tuple[str, str], ImageListMatch] = {}
    for listed in sorted(segment.image_lists + decision.image_lists, key=lambda m: m.distance):
        closest.setdefault((listed.list_id, listed.entry_id), listed)
    return segment.model_copy(update={"terms": list(terms.values()), "image_lists": list(closest.values())})
