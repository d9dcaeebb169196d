"""Short coverage-guided fuzz runs (bench/fuzz.py, atheris) of image, request and video intake, and
the regressions the fuzzers and schemathesis found, each pinned to the input that broke it."""

from __future__ import annotations

import base64
import importlib.util
import sys
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUNS = {"imaging": 1500, "request": 600, "video": 200}  # a few seconds each; `bench/fuzz.py` runs long


def _load_fuzz_command():
    spec = importlib.util.spec_from_file_location("discreet_bench_fuzz", REPO / "bench" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


fuzz_command = _load_fuzz_command()


@pytest.mark.parametrize("target", list(RUNS))
def test_short_fuzz_run_finds_no_crash(target, data_dir, tmp_path):
    figures = fuzz_command.fuzz(target, runs=RUNS[target], seed=1, crash_dir=tmp_path / "crashes")
    if "skipped" in figures:
        pytest.skip(figures["skipped"])
    assert figures["executions"] == RUNS[target], figures
    assert figures["coverage_edges"] > 0
    assert figures["crashes"] == 0, figures["crash_sites"]


def test_the_harness_counts_an_unexpected_exception_as_a_crash(tmp_path):
    try:
        {}["missing"]
    except KeyError as exc:
        fuzz_command._record(tmp_path, b"input", exc)
    (site,) = list(tmp_path.glob("*.txt"))
    assert site.read_text().startswith("KeyError at test_fuzz.py")


# Found by `bench/fuzz.py --target video --runs 10000` (seed 1): an MP4 whose one video stream has no
# codec context made `open_video` raise AttributeError (`stream.codec` while naming the codec), which
# the service would answer with 500. The frames' bytes are zeroed here; the box structure is the fuzzer's.
VIDEO_STREAM_WITHOUT_CODEC = zlib.decompress(base64.b64decode(
    "eNpjYGCQSSupLMgszs9lYGBiANFAbJRbYGLIwMDAkVaUmsrAwPogNyWxhGEUjIJRMApGwTADzLa5+fllQEZObllGCprcC2C9EMHA"
    "yABCCMCIZgQa3wG/hUxAlF5SlJgNZMeUZIPtZMY0DWgvA357sNprAMQKYK5KakpJMZCWSc0pLkHogJoL1st4PzclMxGkIzcF3e8a"
    "QCzBEHoEzNHNSMkpgsmUZaakIqsMA/LzPRLzUnJSQWoYu3Iz89KADJGyXLChyM5USYHIyaQUpaYheYOntChHAcJm9CouScoBsm8V"
    "lxSnINTcarva1nNZYrZhz3vbSSVJovuBopsZBNiB1Dbhpks2J8OFBfeaxgZdyc0I3bzp9oZLqrv2JyzZuG260gGTVZ52E1f2nL14"
    "qun21kU7FOLTzus2vlN0Pjc/XFStd6vD9f1vXSLNzn9/1nx7ltlphkWTltSUVclpt9wxkP9VqV13VMjP4dPp5sx7BVOZLFrezpjy"
    "mYFhU7fUPHGOozsU/p+qPinmujpvxc+40tUp87vbp11iOW9y8qanmemhLRkXI0+L3dHaKN0hYxexZvMq7uTIN19znebMf+262b63"
    "WGXpzn1HmVRPb5tg73vtcX1r79kDOnLPfn9m5/6xXvfkKbn190/78Kys2n1uxZu907sPtV5UnuN61tjAW3+yQuUZVnfrk0cqT3NN"
    "W9olcnBHdMhPgxvuS1d6B+TPei4YukOmkj/8wZGe01Pu/Vu54uCR1Wu6yiZ6B79HCjPRFjNx+5NMF2envprwVyCo1qridlD5XHdB"
    "m+9X1RaEF5ZI9GTpPVz1W9psWnZWgIBwpl1cUPDFPyGL7rhbbEjzS+IQNl6R9FThkdHZnM0+z5238Cu31sT8vPnlhmwJZ7dbjviN"
    "7oZH6Tbt9xkYtkjrxIuYzXNx3dtslDjfPJ7544uXG17/iuJ6JaZ4152j5amd7c7jy/oSQ90M7J55z4l3Ofrv1Iz9qayuNvvMrVgz"
    "PadaFWZd0zQsM/gY/zaH3fLcb/0325I4ejJFPo/m3iGTexlOAZvVZTiCAuRxBQYPIO2BUwU6kPj/H0gmpBanFIMju6GhwR+ojQVI"
    "OyoIgpX4vgKRrEARfaCJG0Cu29opDDGcUYHhSG8Hgy5jC4uIM5C7ySexLNnMSM/IQs/QwIgNqIeRCRQKSSVF0OCHmAayubgEHDUw"
    "dwKjnwPElgH6OBlJHCoHphWAclXIaROIrgGlTIDscyB7ikuS80cDiahAguvVAeKk0pQSUB6Iyk0F0yCgiJzegXmkKLGgIAc5WHQz"
    "IZlKdWVJPshAWWAPLxEWoEA/pgH9aGgE8iMAIVS77Q=="
))


def test_a_video_stream_without_a_codec_is_a_video_error():
    from discreet.video import VideoError, open_video

    with pytest.raises(VideoError) as caught, open_video(VIDEO_STREAM_WITHOUT_CODEC):
        pass
    assert caught.value.code in ("unsupported_codec", "video_unreadable")
