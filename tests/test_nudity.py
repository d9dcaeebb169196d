"""The nudity scene. There are no explicit images in the data packs (and none are made here), so
the tests check: the class mapping against the package's own labels, our decoding against the
package's own detector on real photos, the suggestion rules, ordinary photos passing, and the
clear error when the optional extra is missing."""

from __future__ import annotations

import sys
import typing

import pytest

from discreet.errors import SceneUnavailableError
from discreet.imaging import decode
from discreet.pipeline import Scanner, forget_analyzers
from discreet.schema import Box, NudityCategory, NudityRegion


def test_without_the_extra_the_scene_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "nudenet", None)  # importing it now raises ImportError
    forget_analyzers()
    try:
        with pytest.raises(SceneUnavailableError) as caught:
            Scanner(["nudity"])
    finally:
        forget_analyzers()
    assert caught.value.code == "scene_not_installed"
    assert "pip install 'discreet[nudity]'" in caught.value.message


def _region(category: str, score: float) -> NudityRegion:
    return NudityRegion(category=category, score=score, box=Box(x1=0, y1=0, x2=10, y2=10))


# scripts/test installs the nudity extra, so a missing extra fails these tests rather than skipping them.
@pytest.fixture(scope="module")
def nudity():
    import discreet.analyzers.nudity as module

    return module


@pytest.fixture(scope="module")
def package():
    import nudenet

    return nudenet


def test_every_raw_class_maps_to_the_neutral_category_of_its_body_part(nudity, package):
    raw_labels = getattr(package.nudenet, "__labels")
    assert len(raw_labels) == len(nudity.CLASS_CATEGORIES)
    allowed = set(typing.get_args(NudityCategory))
    parts = {
        "BREAST": "breast",
        "GENITALIA": "genitalia",
        "BUTTOCKS": "buttocks",
        "ANUS": "anus",
        "BELLY": "belly",
        "ARMPITS": "armpit",
        "FEET": "feet",
    }
    for raw, category in zip(raw_labels, nudity.CLASS_CATEGORIES):
        if raw.startswith("FACE") or raw == "ANUS_COVERED":
            assert category is None, raw
            continue
        assert category in allowed, raw
        state = "exposed" if raw.endswith("_EXPOSED") else "covered"
        part = next(word for key, word in parts.items() if key in raw)
        assert category == f"{state}_{part}", raw


def test_decoding_matches_the_packages_own_detector_on_real_photos(data_dir, nudity, package):
    """Same model file, our session and decoding: the same regions as NudeNet's detect()."""
    theirs_detector = package.NudeDetector()
    ours = nudity.NudityDetector()
    raw_labels = getattr(package.nudenet, "__labels")
    to_category = dict(zip(raw_labels, nudity.CLASS_CATEGORIES))
    compared = 0
    for name in ("maksssksksss152.jpg", "maksssksksss158.jpg", "maksssksksss2.jpg"):
        path = data_dir / "scenes" / "images" / name
        theirs = [
            (to_category[d["class"]], d["score"], d["box"])
            for d in theirs_detector.detect(str(path))
            if to_category[d["class"]] is not None
        ]
        mine = ours.regions(decode(path).pixels)
        assert len(mine) == len(theirs) > 0, name
        for region, (category, score, (x, y, w, h)) in zip(mine, sorted(theirs, key=lambda t: -t[1])):
            assert region.category == category
            assert region.score == pytest.approx(score, abs=0.02)
            assert region.box.x1 == pytest.approx(x, abs=2) and region.box.y1 == pytest.approx(y, abs=2)
            assert region.box.width == pytest.approx(w, abs=3) and region.box.height == pytest.approx(
                h, abs=3
            )
            compared += 1
    assert compared >= 5


@pytest.mark.parametrize(
    ("regions", "suggestion", "score"),
    [
        ([], "pass", 0.0),
        ([("exposed_feet", 0.95), ("covered_belly", 0.9)], "pass", 0.0),
        ([("exposed_breast", 0.2)], "pass", 0.2),
        ([("exposed_breast", 0.8), ("exposed_feet", 0.9)], "review", 0.8),
        ([("exposed_buttocks", 0.45)], "review", 0.45),
        ([("exposed_genitalia", 0.45)], "review", 0.45),
        ([("exposed_genitalia", 0.7), ("exposed_breast", 0.9)], "block", 0.7),
        ([("exposed_anus", 0.55)], "block", 0.55),
    ],
)
def test_suggestion_rules(nudity, regions, suggestion, score):
    result = nudity.suggest([_region(c, s) for c, s in regions])
    assert (result.suggestion, result.score) == (suggestion, pytest.approx(score))
    assert len(result.regions) == len(regions)


def test_ordinary_photos_pass(data_dir, nudity):
    scanner = Scanner(["nudity"])
    photos = [
        *sorted((data_dir / "dlib-faces").glob("*.jpg")),
        *sorted((data_dir / "scenes" / "images").glob("*.jpg"))[:20],
        *sorted((data_dir / "celeba" / "images").glob("*.jpg"))[:20],
    ]
    results = [scanner.scan(p).nudity for p in photos]
    assert len(results) >= 45
    assert [r.suggestion for r in results] == ["pass"] * len(results)
