"""Shared fixtures. Real data comes from ../shared/data beside the repository, or $DISCREET_DATA."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DISCREET_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "DATA.md").is_file():
        pytest.fail(f"the data packs are missing: expected {DATA}/DATA.md (set DISCREET_DATA)")
    return DATA
