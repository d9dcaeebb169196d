"""Coverage-guided fuzzing (atheris / libFuzzer) of what Discreet reads from strangers.

    python bench/fuzz.py --target imaging --runs 200000
    python bench/fuzz.py --target request --runs 50000 --seed 7

Targets: ``imaging`` (``discreet.imaging.decode``), ``request`` (the service's JSON and multipart
scan-request parsing, then each task's source), ``video`` (``discreet.video`` intake, when that
module exists). The contract under test: an input is either accepted or refused with a
``DiscreetError`` (for ``request``, also Starlette's own 4xx answer to a malformed multipart body);
anything else is a crash. The seed corpus is built from ../shared/data (small re-encodings of real
photos in every accepted format, and well-formed requests around them) in a temporary folder.

The parent process runs atheris in a child, so a native crash (a segfault in a decoder) is counted
too, then prints executions, coverage and crashes; crashing inputs are kept in ``--crash-dir``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DISCREET_DATA", REPO.parent / "shared" / "data"))
SEED_PHOTOS = ["dlib-faces/2008_002470.jpg", "qr/qrcode-1/1.png", "genki4k/files/file0001.jpg"]
IMAGE_FORMATS = {"JPEG": {"quality": 70}, "PNG": {}, "WEBP": {"quality": 60}, "GIF": {}, "BMP": {}, "TIFF": {},
                 "MPO": {}}
MULTIPART_BOUNDARY = "fuzzboundary"
TARGETS = ("imaging", "request", "video")


# --- seeds ---------------------------------------------------------------------------------------

def _small_images() -> list[bytes]:
    """Real photos shrunk to at most 48 px a side, in every accepted format, with and without EXIF."""
    from PIL import Image

    images = []
    for relative in SEED_PHOTOS:
        with Image.open(DATA / relative) as photo:
            photo = photo.convert("RGB")
            photo.thumbnail((48, 48))
        exif = Image.Exif()
        exif[0x0112] = 6  # orientation: rotate on display
        for fmt, options in IMAGE_FORMATS.items():
            out = io.BytesIO()
            photo.save(out, format=fmt, **options)
            images.append(out.getvalue())
        out = io.BytesIO()
        photo.save(out, format="JPEG", exif=exif)
        images.append(out.getvalue())
    return images


def _request_bodies(images: list[bytes]) -> list[bytes]:
    """Well-formed bodies, first byte choosing the content type (see ``_request_from``)."""
    image = min(images, key=len)
    json_bodies = [
        {"tasks": [{"data_id": "a", "image_base64": base64.b64encode(image).decode()}]},
        {"scenes": ["faces", "codes"], "attributes": ["mask"], "tasks": [{"data_id": "u", "url": "http://x/y.jpg"}]},
        {"scenes": ["text"], "tasks": [{"data_id": "b", "image_base64": "!!"}], "callback_url": "http://x/cb"},
    ]
    bodies = [b"J" + json.dumps(body).encode() for body in json_bodies]
    part = (f"--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"request\"\r\n\r\n"
            '{"scenes":["faces"],"tasks":[{"data_id":"f1"}]}\r\n'
            f"--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"f1\"; filename=\"../../etc/passwd\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode() + image + f"\r\n--{MULTIPART_BOUNDARY}--\r\n".encode()
    bodies.append(b"M" + part)
    return bodies


def write_seeds(target: str, folder: Path) -> None:
    images = _small_images()
    seeds = images if target == "imaging" else _request_bodies(images) if target == "request" else _video_seeds()
    for seed in seeds:
        (folder / hashlib.sha1(seed).hexdigest()).write_bytes(seed)


def _video_seeds() -> list[bytes]:
    """Short clips of the seed photos in common containers (PyAV encodes them)."""
    import av
    import numpy as np
    from PIL import Image

    frames = []
    for relative in SEED_PHOTOS:
        with Image.open(DATA / relative) as photo:
            frames.append(np.asarray(photo.convert("RGB").resize((48, 32))))
    clips = []
    for container_format, codec in (("mp4", "mpeg4"), ("webm", "libvpx"), ("avi", "mjpeg"), ("matroska", "ffv1")):
        out = io.BytesIO()
        with av.open(out, mode="w", format=container_format) as container:
            stream = container.add_stream(codec, rate=5)
            stream.width, stream.height = 48, 32
            stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
            for pixels in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
            container.mux(stream.encode())
        clips.append(out.getvalue())
    return clips


# --- the code under test, run in the child -------------------------------------------------------

def _imaging_target():
    from PIL import Image

    from discreet.imaging import decode

    Image.init()  # imports every format plugin now, inside the instrumented block

    return decode


def _request_from(data: bytes):
    """A Starlette request whose content type the first byte picks and whose body is the rest."""
    from starlette.requests import Request

    kind, body = data[:1], data[1:]
    content_type = {b"J": "application/json", b"M": f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"}.get(
        kind, "multipart/form-data; boundary=" + body[:20].decode("latin-1").strip()
    )
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    # an "app" in the scope is what makes Starlette turn a malformed form into HTTP 400, as in the server
    scope = {"type": "http", "method": "POST", "path": "/v1/scan", "headers": [
        (b"content-type", content_type.encode("latin-1"))], "app": None, "query_string": b""}
    return Request(scope, receive)


def _request_target():
    from discreet.service.api.routes import parse_scan_request, task_source
    from discreet.service.api.schemas import AsyncScanRequest, ScanRequest
    from discreet.settings import ServiceSettings

    settings = ServiceSettings(max_request_bytes=1 << 20)

    async def parse_and_read_sources(data: bytes) -> None:
        model = AsyncScanRequest if len(data) % 2 else ScanRequest
        parsed, files = await parse_scan_request(_request_from(data), settings, model)
        for task in parsed.tasks:
            try:
                task_source(task, files)
            except _expected_errors():
                pass  # a task's own error stays in its slot; the others still run

    return lambda data: asyncio.run(parse_and_read_sources(data))


def _video_target():
    from itertools import islice

    from discreet.video.container import decoded_frames, open_video, to_rgb

    def open_and_decode(data: bytes) -> None:
        with open_video(data) as (container, stream, _info):
            for frame in islice(decoded_frames(container, stream), 3):
                to_rgb(frame)

    return open_and_decode


def _expected_errors() -> tuple[type[BaseException], ...]:
    from starlette.exceptions import HTTPException

    from discreet.errors import DiscreetError

    return DiscreetError, HTTPException


def run_child(target: str, corpus: Path, crash_dir: Path, runs: int, seed: int, max_len: int) -> None:
    import atheris

    # pydantic (large, its core is Rust) is left out: instrumenting it costs seconds at every start
    with atheris.instrument_imports(include=["discreet", "PIL", "starlette", "multipart", "python_multipart", "av"]):
        entry = {"imaging": _imaging_target, "request": _request_target, "video": _video_target}[target]()
    expected = _expected_errors()
    from starlette.exceptions import HTTPException

    def one_input(data: bytes) -> None:
        try:
            entry(data)
        except expected as exc:
            if isinstance(exc, HTTPException) and exc.status_code >= 500:
                _record(crash_dir, data, exc)
        except Exception as exc:  # noqa: BLE001 - any other exception is exactly what the fuzzer looks for
            _record(crash_dir, data, exc)

    atheris.Setup([sys.argv[0], f"-runs={runs}", f"-seed={seed}", f"-max_len={max_len}", "-timeout=30",
                   "-rss_limit_mb=3000", "-print_final_stats=1", str(corpus)], one_input)
    atheris.Fuzz()


def _record(crash_dir: Path, data: bytes, exc: Exception) -> None:
    """Keep one input per distinct crash site (exception type and innermost frame)."""
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    site = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}"
    name = hashlib.sha1(site.encode()).hexdigest()[:12]
    if not (crash_dir / name).exists():
        crash_dir.mkdir(parents=True, exist_ok=True)
        (crash_dir / name).write_bytes(data)
        (crash_dir / f"{name}.txt").write_text(f"{site}\n{''.join(traceback.format_exception(exc))}")


# --- the parent: seeds, child, figures -----------------------------------------------------------

def fuzz(target: str, runs: int, seed: int, crash_dir: Path, max_len: int = 65536) -> dict:
    if target == "video":
        import importlib.util

        if importlib.util.find_spec("discreet.video") is None:
            return {"target": target, "skipped": "discreet.video does not exist"}
    with tempfile.TemporaryDirectory(prefix=f"discreet-fuzz-{target}-") as corpus_dir:
        corpus = Path(corpus_dir)
        write_seeds(target, corpus)
        seeds = len(list(corpus.iterdir()))
        child = subprocess.run(
            [sys.executable, __file__, "--child", "--target", target, "--runs", str(runs), "--seed", str(seed),
             "--crash-dir", str(crash_dir), "--corpus", str(corpus), "--max-len", str(max_len)],
            capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False,
        )
        corpus_size = len(list(corpus.iterdir()))
    log = child.stderr
    stats = dict(re.findall(r"stat::(\w+):\s+(\d+)", log))
    coverage = re.findall(r"cov: (\d+) ft: (\d+)", log)
    sites = sorted(p.read_text().splitlines()[0] for p in crash_dir.glob("*.txt")) if crash_dir.is_dir() else []
    native_crash = child.returncode != 0
    return {
        "target": target, "seed": seed, "seed_inputs": seeds, "corpus_after": corpus_size,
        "executions": int(stats.get("number_of_executed_units", 0)),
        "exec_per_second": int(stats.get("average_exec_per_sec", 0)),
        "coverage_edges": int(coverage[-1][0]) if coverage else 0,
        "coverage_features": int(coverage[-1][1]) if coverage else 0,
        "peak_rss_mb": int(stats.get("peak_rss_mb", 0)),
        "crashes": len(sites) + int(native_crash),
        "crash_sites": sites + ([f"child exited {child.returncode}: {log[-2000:]}"] if native_crash else []),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=TARGETS, default="imaging")
    parser.add_argument("--runs", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-len", type=int, default=65536)
    parser.add_argument("--crash-dir", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.target, args.corpus, args.crash_dir, args.runs, args.seed, args.max_len)
        return
    crash_dir = args.crash_dir or Path(tempfile.mkdtemp(prefix="discreet-fuzz-crashes-"))
    figures = fuzz(args.target, args.runs, args.seed, crash_dir, args.max_len)
    print(json.dumps({**figures, "crash_dir": str(crash_dir)}, indent=2))
    sys.exit(1 if figures.get("crashes") else 0)


if __name__ == "__main__":
    main()
