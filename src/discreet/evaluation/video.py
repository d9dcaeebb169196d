"""A test video with known face boxes in every frame, made from labelled photos, and how well covers cover them.

``build_video`` films labelled photos with a virtual camera: each photo is one shot that pans
and zooms, and shots are joined by hard cuts. The ground-truth boxes go through the same
transform as the pixels, so every frame has exact face boxes. A sine tone fills the audio track.
``build_stills`` holds pictures still, one after the other, for what is matched on whole frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from discreet.evaluation.packs import AnnotatedImage, read_dlib, read_voc
from discreet.geometry import Cover, draw_cover
from discreet.imaging import decode
from discreet.schema import Box

#: Faces narrower than this many pixels in a frame are not counted (nor identifiable).
MIN_FACE_PIXELS = 12
#: A face counts as covered when at least this share of its box lies under covers.
COVERED_SHARE = 0.8


@dataclass(frozen=True)
class FilmedVideo:
    path: Path
    fps: int
    frames: int
    faces: list[np.ndarray]  # per frame, rows x1 y1 x2 y2 of the faces in view


def shot_photos(data_dir: Path, scenes: int = 4, dlib: int = 3) -> list[AnnotatedImage]:
    """Landscape photos with 2 to 6 faces none tiny, the first ``scenes`` of the scenes pack and
    the first ``dlib`` of the dlib-faces pack (rule-chosen, not hand-picked)."""

    def usable(image: AnnotatedImage) -> bool:
        width, height = decode(image.path).pixels.shape[1::-1]
        sizes = [b.box.width for b in image.boxes]
        return width > height and 2 <= len(sizes) <= 6 and min(sizes) >= 0.04 * width

    scenes_pack = [i for i in read_voc(data_dir / "scenes")[:80] if usable(i)][:scenes]
    dlib_pack = [i for i in read_dlib(data_dir / "dlib-faces" / "training.xml") if usable(i)][:dlib]
    return [photo for pair in zip(scenes_pack, dlib_pack) for photo in pair] + scenes_pack[len(dlib_pack):]


def build_video(
    photos: Sequence[AnnotatedImage], path: Path, *, width: int, height: int, fps: int, shot_frames: int,
    audio: bool = True,
) -> FilmedVideo:
    """Write an H.264 MP4 (AAC sine tone when ``audio``) of one panning, zooming shot per photo."""
    faces: list[np.ndarray] = []
    with av.open(str(path), mode="w") as output:
        video = output.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "18"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        tone = _tone_stream(output) if audio else None
        index = 0
        for number, photo in enumerate(photos):
            pixels = decode(photo.path).pixels
            boxes = np.array([[b.box.x1, b.box.y1, b.box.x2, b.box.y2] for b in photo.boxes], dtype=np.float64)
            for step in range(shot_frames):
                progress = step / max(1, shot_frames - 1)
                matrix = _camera(pixels.shape[1], pixels.shape[0], width, height, progress, zoom_in=number % 2 == 0,
                                 aim_y=float(((boxes[:, 1] + boxes[:, 3]) / 2).mean()))
                frame = cv2.warpAffine(pixels, matrix, (width, height), flags=cv2.INTER_LINEAR)
                faces.append(_visible(boxes, matrix, width, height))
                out = av.VideoFrame.from_ndarray(frame, format="rgb24")
                out.pts = index
                output.mux(video.encode(out))
                index += 1
        output.mux(video.encode(None))
        if tone is not None:
            _write_tone(output, tone, seconds=index / fps)
    return FilmedVideo(path, fps, index, faces)


def build_stills(pictures: Sequence[Path], path: Path, *, width: int, height: int, fps: int,
                 frames_each: int) -> Path:
    """Write an H.264 MP4 holding each picture still (stretched to the frame) for ``frames_each``
    frames: a frame shows the whole picture, as a copy a picture list should still match."""
    with av.open(str(path), mode="w") as output:
        video = output.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "18"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        for number, picture in enumerate(pictures):
            pixels = cv2.resize(decode(picture).pixels, (width, height), interpolation=cv2.INTER_AREA)
            for step in range(frames_each):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
                frame.pts = number * frames_each + step
                output.mux(video.encode(frame))
        output.mux(video.encode(None))
    return path


def _camera(photo_w: int, photo_h: int, width: int, height: int, progress: float, *, zoom_in: bool,
            aim_y: float) -> np.ndarray:
    """The affine map photo -> frame of a camera that zooms 1x -> 1.3x (or back) while panning
    sideways, held at the height of the faces (``aim_y``) as a camera operator would."""
    zoom = 1 + 0.3 * (progress if zoom_in else 1 - progress)
    fit = min(photo_w / width, photo_h / height)  # the largest window of the frame's shape inside the photo
    window_w, window_h = width * fit / zoom, height * fit / zoom
    centre_x = window_w / 2 + (photo_w - window_w) * (progress if zoom_in else 1 - progress)
    centre_y = min(max(aim_y, window_h / 2), photo_h - window_h / 2)
    scale = width / window_w
    return np.array([[scale, 0, width / 2 - centre_x * scale], [0, scale, height / 2 - centre_y * scale]])


def _visible(boxes: np.ndarray, matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """The boxes in frame pixels that are mostly in view and not tiny."""
    if len(boxes) == 0:
        return boxes.reshape(0, 4)
    scale, offset = matrix[0, 0], matrix[:, 2]
    moved = boxes * scale + np.tile(offset, 2)
    clipped = moved.copy()
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, width)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, height)
    area = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
    in_view = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = (in_view >= 0.5 * area) & (clipped[:, 2] - clipped[:, 0] >= MIN_FACE_PIXELS)
    return clipped[keep]


def build_audio_only(path: Path, seconds: float) -> Path:
    """An M4A file with a sine tone and no video stream."""
    with av.open(str(path), mode="w", format="mp4") as output:
        _write_tone(output, _tone_stream(output), seconds)
    return path


def _tone_stream(output: av.container.OutputContainer) -> av.AudioStream:
    stream = output.add_stream("aac", rate=48000)
    stream.layout = "mono"
    return stream


def _write_tone(output: av.container.OutputContainer, stream: av.AudioStream, seconds: float) -> None:
    samples_per_frame, rate = 1024, 48000
    total = int(seconds * rate)
    for start in range(0, total, samples_per_frame):
        t = (np.arange(start, min(total, start + samples_per_frame)) / rate).astype(np.float32)
        wave = (0.3 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        output.mux(stream.encode(frame))
    output.mux(stream.encode(None))


def uncovered_faces(
    faces: Sequence[np.ndarray], cover_masks: Callable[[int], np.ndarray]
) -> tuple[int, int, list[int]]:
    """(faces left uncovered, faces counted, frames with an uncovered face) given each frame's cover mask."""
    uncovered, counted, frames = 0, 0, []
    for index, boxes in enumerate(faces):
        mask = cover_masks(index)
        missed = 0
        for x1, y1, x2, y2 in boxes.round().astype(int):
            region = mask[y1:y2, x1:x2]
            counted += 1
            if region.size and region.mean() < COVERED_SHARE:
                missed += 1
        uncovered += missed
        if missed:
            frames.append(index)
    return uncovered, counted, frames


def discreet_mask(boxes: Sequence[np.ndarray], width: int, height: int, scale: float) -> np.ndarray:
    """Where Discreet's covers of these boxes fall, drawn by the anonymizer's own cover function."""
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for x1, y1, x2, y2 in (row[:4] for row in boxes):
        if x2 > x1 and y2 > y1:
            draw_cover(canvas, Cover(Box(x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2)), "ellipse"), scale, "solid")
    return canvas[:, :, 0] == 0
