"""Open a video with PyAV (its wheels bundle FFmpeg: no system ffmpeg needed), check the limits, read frames.

Limits are checked from the container header before any frame is decoded, like the image limits.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from discreet.errors import DiscreetError
from discreet.imaging import IMAGE_SUFFIXES
from discreet.settings import VideoLimits

VideoInput = bytes | str | Path

#: what a name ending decides for `discreet anonymize`; probing decides for anything else.
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi"})


class VideoError(DiscreetError):
    """The input video cannot be used. Codes: see ``VIDEO_ERROR_CODES``."""

    code = "video_unreadable"
    http_status = 422


VIDEO_ERROR_CODES = {
    "video_empty": "the input has no bytes",
    "video_unreadable": "corrupt, truncated, or not a video container at all",
    "no_video_stream": "a readable container with no video stream (an audio-only file)",
    "unsupported_codec": "a video stream whose codec the bundled FFmpeg cannot decode",
    "video_too_long": "longer than the duration limit",
    "video_too_large": "over the byte limit, or frames over the pixel limit",
    "audio_not_supported_by_container": "the output's container cannot hold the input's audio codec as it is",
}


class VideoInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int
    height: int
    fps: float = Field(description="average frame rate")
    frames: int = Field(description="number of frames (from the header, or duration x fps)")
    duration: float = Field(description="seconds")
    codec: str
    has_audio: bool


@contextmanager
def open_video(source: VideoInput, limits: VideoLimits | None = None) -> Iterator[tuple[av.container.InputContainer, av.VideoStream, VideoInfo]]:
    """The opened container, its first video stream (decoded on all cores) and what it declares."""
    limits = limits or VideoLimits()
    size = len(source) if isinstance(source, bytes) else _file_size(Path(source))
    if size == 0:
        raise VideoError("the video has no bytes", code="video_empty")
    if size > limits.max_bytes:
        raise VideoError(f"the video is {size:,} bytes; the limit is {limits.max_bytes:,}", code="video_too_large")
    try:
        container = av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise VideoError(f"not a readable video ({exc})", code="video_unreadable") from exc
    try:
        info, stream = _check(container, limits)
        yield container, stream, info
    finally:
        container.close()


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise VideoError(f"cannot read {path}: {exc.strerror}", code="video_unreadable") from exc


def _check(container: av.container.InputContainer, limits: VideoLimits) -> tuple[VideoInfo, av.VideoStream]:
    if not container.streams.video:
        raise VideoError("the file has no video stream", code="no_video_stream")
    stream = container.streams.video[0]
    if stream.codec_context is None or not stream.codec_context.codec.is_decoder:
        # A stream FFmpeg has no decoder for has no codec object to name either.
        raise VideoError("the video stream's codec is not supported", code="unsupported_codec")
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise VideoError("the video stream declares no frame size", code="video_unreadable")
    if width * height > limits.max_pixels:
        raise VideoError(f"frames of {width}x{height} are over the {limits.max_pixels:,} pixel limit",
                         code="video_too_large")
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    duration = _duration(container, stream)
    if duration > limits.max_seconds:
        raise VideoError(f"the video lasts {duration:.0f} s; the limit is {limits.max_seconds:.0f} s",
                         code="video_too_long")
    frames = stream.frames or round(duration * float(rate))
    stream.thread_type = "AUTO"
    info = VideoInfo(width=width, height=height, fps=float(rate), frames=frames, duration=duration,
                     codec=stream.codec.name, has_audio=bool(container.streams.audio))
    return info, stream


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def decoded_frames(container: av.container.InputContainer, stream: av.VideoStream) -> Iterator[av.VideoFrame]:
    """Every frame of the stream in order; a decoding failure midway is ``video_unreadable``."""
    for packet in demuxed(container, stream):
        yield from decode_packet(packet)


def demuxed(container: av.container.InputContainer, *streams: av.stream.Stream) -> Iterator[av.Packet]:
    """The packets of ``streams`` in file order; a broken container midway is ``video_unreadable``."""
    try:
        yield from container.demux(*streams)
    except av.error.FFmpegError as exc:
        raise VideoError(f"the video could not be read to its end ({exc})", code="video_unreadable") from exc


def decode_packet(packet: av.Packet) -> list[av.VideoFrame]:
    """The frames one packet completes (the empty packet that ends a stream returns those still held)."""
    try:
        return packet.decode()
    except av.error.FFmpegError as exc:
        raise VideoError(f"the video could not be decoded to its end ({exc})", code="video_unreadable") from exc


def frame_time(frame: av.VideoFrame, index: int, fps: float) -> float:
    """Seconds from the start: the frame's own timestamp when it has one."""
    return float(frame.time) if frame.time is not None else index / fps


def to_rgb(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")


def is_video(path: Path) -> bool:
    """Whether ``path`` names a video: by its name ending, else by probing it for a video stream."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return True
    if path.suffix.lower() in IMAGE_SUFFIXES or not path.is_file():
        return False
    try:
        with av.open(str(path)) as container:
            return bool(container.streams.video) and container.format.name not in _IMAGE_DEMUXERS
    except av.error.FFmpegError:
        return False


# FFmpeg opens still images as one-frame "videos": these demuxers mean an image.
_IMAGE_DEMUXERS = frozenset({"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "gif", "bmp_pipe", "tiff_pipe"})
