"""The codes scene: real photos of the ZXing pack, codes of every supported format written by
zxing-cpp onto real photos, redaction of codes, and the CLI."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import zxingcpp
from typer.testing import CliRunner

import discreet
from discreet.analyzers.codes import ATTEMPTS, CodeReader
from discreet.anonymize import anonymize
from discreet.cli import app
from discreet.evaluation.qr import evaluate_qr, read_qr_pack
from discreet.imaging import decode

#: one payload a format, each valid for it (retail formats take digits with a check digit).
#: UPC-A is left out: zxing-cpp reports it as the EAN-13 it is, with a leading 0.
WRITTEN = {
    zxingcpp.QRCode: "https://example.org/discreet?q=1",
    zxingcpp.MicroQRCode: "DISCREET",
    zxingcpp.DataMatrix: "Data Matrix 42",
    zxingcpp.Aztec: "Aztec: zxing-cpp",
    zxingcpp.PDF417: "PDF417 stacked code",
    zxingcpp.EAN13: "4006381333931",
    zxingcpp.EAN8: "96385074",
    zxingcpp.Code128: "Code128-abc/123",
    zxingcpp.Code39: "CODE39 TEST",
    zxingcpp.Code93: "CODE93",
    zxingcpp.ITF: "12345678",
    zxingcpp.Codabar: "A40156B",
}


def _paste_code(
    photo: np.ndarray, fmt: zxingcpp.BarcodeFormat, payload: str, at: tuple[int, int]
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The photo with the code drawn at ``at`` (its quiet zone included), and the code's pixel area."""
    symbol = np.asarray(zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(payload, fmt), scale=3))
    if symbol.ndim == 2:
        symbol = np.repeat(symbol[:, :, None], 3, axis=2)
    x, y = at
    out = photo.copy()
    out[y : y + symbol.shape[0], x : x + symbol.shape[1]] = symbol[:, :, :3]
    return out, (x, y, x + symbol.shape[1], y + symbol.shape[0])


@pytest.fixture(scope="module")
def photo(data_dir) -> np.ndarray:
    pixels = decode(data_dir / "scenes" / "images" / "maksssksksss2.jpg").pixels
    return cv2.resize(pixels, (900, 700))  # room for the widest linear code at scale 3


@pytest.mark.parametrize("fmt", list(WRITTEN), ids=lambda f: f.name)
def test_each_supported_format_is_read_on_a_photo_with_its_place(photo, fmt):
    payload = WRITTEN[fmt]
    image, (x1, y1, x2, y2) = _paste_code(photo, fmt, payload, at=(60, 80))
    codes = discreet.scan(image, scenes=["codes"]).codes
    assert [(c.format, c.payload) for c in codes] == [(fmt.name, payload)]
    box = codes[0].box
    assert x1 <= box.x1 < box.x2 <= x2 and y1 <= box.y1 < box.y2 <= y2
    assert len(codes[0].corners) == 4


def test_the_pack_reaches_the_target_with_no_false_positive(data_dir):
    report = evaluate_qr(data_dir / "qr")
    assert report["codes"] == 97 and report["negatives"] == 22
    assert report["decode_rate"] >= 0.85
    assert report["false_positive_images"] == 0


def test_the_cascade_reads_at_least_what_one_plain_call_reads(data_dir):
    plain = CodeReader(attempts=ATTEMPTS[:1])
    cascade = CodeReader()
    gained = 0
    for sample in read_qr_pack(data_dir / "qr"):
        if sample.payload is None:
            continue
        pixels = decode(sample.path).pixels
        by_plain = sample.payload in [c.payload for c in plain.read(pixels)]
        by_cascade = sample.payload in [c.payload for c in cascade.read(pixels)]
        assert by_cascade or not by_plain, sample.path
        gained += by_cascade and not by_plain
    assert gained >= 1  # the fallback attempts are there for codes the plain call misses


def test_payloads_are_exact_bytes_as_text(data_dir):
    """CRLF line ends and control characters survive (zxing-cpp's default text mode escapes them)."""
    for relative in ("qrcode-1/16", "qrcode-2/33"):
        expected = (data_dir / "qr" / f"{relative}.txt").read_bytes().decode("utf-8")
        codes = discreet.scan(data_dir / "qr" / f"{relative}.png", scenes=["codes"]).codes
        assert [c.payload for c in codes] == [expected]
        assert "\r\n" in expected or "\x01" in expected


def test_corners_are_in_the_order_of_the_code_itself(photo):
    image, _ = _paste_code(photo, zxingcpp.QRCode, "rotated", at=(100, 100))
    turned = np.ascontiguousarray(np.rot90(image))  # a quarter turn anticlockwise
    top_left, top_right, bottom_right, bottom_left = discreet.scan(turned, scenes=["codes"]).codes[0].corners
    # the code's top edge now runs upwards on the left of the picture
    assert top_right.y < top_left.y and abs(top_right.x - top_left.x) < 3
    assert bottom_right.x > top_right.x and abs(bottom_right.y - top_right.y) < 3
    assert bottom_left.x > top_left.x


def test_ordinary_photos_have_no_code(data_dir):
    photos = sorted((data_dir / "scenes" / "images").glob("*.jpg"))[:30]
    assert all(discreet.scan(p, scenes=["codes"]).codes == [] for p in photos)


@pytest.mark.parametrize("method", ["blur", "pixelate", "solid"])
def test_an_anonymized_code_can_no_longer_be_read(data_dir, method):
    path = data_dir / "qr" / "qrcode-2" / "28.png"  # a QR code printed on a cracker, photographed
    assert discreet.scan(path, scenes=["codes"]).codes
    result = anonymize(path, method, redact=["codes"])
    assert result.regions == 1
    covered = decode(result.data).pixels
    assert CodeReader().read(covered) == []
    assert zxingcpp.read_barcodes(covered) == []


def test_cli_scan_prints_codes_and_text(data_dir):
    path = data_dir / "qr" / "qrcode-2" / "28.png"
    run = CliRunner().invoke(app, ["scan", str(path), "--scenes", "codes,text", "-o", "json"])
    assert run.exit_code == 0, run.output
    (row,) = json.loads(run.stdout)
    expected = (data_dir / "qr" / "qrcode-2" / "28.txt").read_bytes().decode("utf-8")
    assert [c["payload"] for c in row["codes"]] == [expected]
    assert any("webtech" in line["text"] for line in row["text"])


def test_cli_eval_qr_prints_the_figures_as_json(data_dir):
    run = CliRunner().invoke(app, ["eval", "qr", "--data", str(data_dir / "qr"), "--json"])
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout)
    assert set(report) >= {"decode_rate", "codes", "false_positive_images", "negatives", "ms_median"}


@pytest.mark.parametrize("fmt", [zxingcpp.EAN13, zxingcpp.Code128, zxingcpp.DataMatrix], ids=lambda f: f.name)
def test_an_anonymized_written_code_can_no_longer_be_read(photo, fmt):
    image, _ = _paste_code(photo, fmt, WRITTEN[fmt], at=(120, 200))
    result = anonymize(image, "pixelate", redact=["codes"])
    assert result.regions == 1
    covered = decode(result.data).pixels
    assert CodeReader().read(covered) == []
