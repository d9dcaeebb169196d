"""Ground-truth coverage of anonymization: the metric on hand-built covers, the anonymizer's cover
mask against the pixels it changed, and faces today's covers missed (masked, small) now covered."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import discreet
from discreet.evaluation.coverage import CoverageTally, band_of, covered_shares, spurious_share
from discreet.evaluation.packs import read_voc
from discreet.imaging import decode
from discreet.schema import Box


def test_shares_bands_and_spurious_on_a_hand_built_case():
    mask = np.zeros((100, 200), dtype=bool)
    mask[10:20, 10:20] = True  # all of face a
    mask[50:60, 100:110] = True  # the left half of face b
    mask[90:100, 190:200] = True  # 100 pixels far from any face
    a, b = Box(x1=10, y1=10, x2=20, y2=20), Box(x1=100, y1=50, x2=120, y2=60)
    assert covered_shares(mask, [a, b]) == [1.0, 0.5]
    assert spurious_share(mask, [a, b]) == pytest.approx(100 / 20000)
    # b enlarged 1.6x spans x 94-126, y 47-63: a cover just outside its enlargement is spurious
    mask[47:63, 126:130] = True
    assert spurious_share(mask, [a, b]) == pytest.approx((100 + 64) / 20000)
    assert [band_of(w) for w in (11.9, 12, 19.9, 20, 32, 63, 64, 400)] == [
        "<12", "12-20", "12-20", "20-32", "32-64", "32-64", ">=64", ">=64"]
    tally = CoverageTally()
    tally.add(mask, [a, b, Box(x1=150, y1=20, x2=158, y2=28)])
    report = tally.report()
    assert (report["faces"], report["uncovered"], report["faces_12px"], report["uncovered_12px"]) == (3, 2, 1, 1)
    assert report["bands"]["<12"] == {"faces": 2, "uncovered": 1}  # a is 10 px wide, covered
    assert report["bands"]["20-32"] == {"faces": 1, "uncovered": 1}


def test_cover_mask_is_what_changed_for_solid_covers(data_dir):
    source = io.BytesIO()
    Image.open(data_dir / "scenes" / "images" / "maksssksksss52.jpg").save(source, format="PNG")  # lossless out
    original = decode(source.getvalue()).pixels
    result = discreet.anonymize(source.getvalue(), "solid")
    changed = (decode(result.data).pixels != original).any(axis=2)
    assert result.cover_mask.any()
    # a solid cover changes every pixel under it, except those that were black already
    assert np.array_equal(changed, result.cover_mask & original.any(axis=2))


# Faces the accurate preset at 0.3 left under half covered: masked and small. (Held-out
# maksssksksss166.jpg's face cut by the top edge, covered by RetinaFace alone at 0.1, is left
# uncovered by the fusion chosen on the design split: it is counted in the held-out figures.)
MISSED_BEFORE = [
    ("maksssksksss52.jpg", (1, 34, 24, 61)),
    ("maksssksksss134.jpg", (269, 70, 285, 89)),
    ("maksssksksss256.jpg", (128, 58, 144, 73)),
    ("maksssksksss304.jpg", (190, 115, 224, 150)),
    ("maksssksksss314.jpg", (301, 133, 320, 152)),
]


@pytest.mark.parametrize(("name", "box"), MISSED_BEFORE)
def test_faces_missed_before_are_covered(data_dir, name, box):
    annotated = {item.path.name: item for item in read_voc(data_dir / "scenes")}[name]
    face = Box(x1=box[0], y1=box[1], x2=box[2], y2=box[3])
    assert face in [b.box for b in annotated.boxes]
    result = discreet.anonymize(annotated.path, "solid", redact=["faces"])
    assert covered_shares(result.cover_mask, [face])[0] >= 0.8
