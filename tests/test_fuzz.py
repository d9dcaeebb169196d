"""Short coverage-guided fuzz runs (bench/fuzz.py, atheris) of image, request and video intake, and
the regressions the fuzzers and schemathesis found, each pinned to the input that broke it."""

from __future__ import annotations

import importlib.util
import sys
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
