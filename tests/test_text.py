"""The text scene on real photos: text printed in a photo, text drawn onto a photo, no download,
redaction of text."""

from __future__ import annotations

import socket

import cv2
import numpy as np
import pytest

import discreet
from discreet.analyzers.text import TextReader
from discreet.anonymize import anonymize
from discreet.imaging import decode


@pytest.fixture(scope="module")
def reader() -> TextReader:
    reader = TextReader()
    reader.load()
    return reader


def _overlap(box, x1, y1, x2, y2) -> float:
    inter_w = max(0.0, min(box.x2, x2) - max(box.x1, x1))
    inter_h = max(0.0, min(box.y2, y2) - max(box.y1, y1))
    return inter_w * inter_h / (box.width * box.height)


def test_reads_the_url_printed_under_a_photographed_code(data_dir):
    """The pack's payload file is the ground truth: the same URL is printed under the code."""
    path = data_dir / "qr" / "qrcode-2" / "28.png"
    url = (data_dir / "qr" / "qrcode-2" / "28.txt").read_bytes().decode("utf-8")
    result = discreet.scan(path, scenes=["codes", "text"])
    (line,) = [line for line in result.text if "webtech" in line.text]
    assert line.text.replace(" ", "") == url
    assert 0.5 <= line.confidence <= 1
    assert line.box.y1 > result.codes[0].box.y2  # printed below the code
    assert len(line.polygon) == 4


def test_reads_text_drawn_onto_a_street_photo_where_it_is(data_dir, reader):
    photo = decode(data_dir / "scenes" / "images" / "maksssksksss10.jpg").pixels.copy()
    cv2.rectangle(photo, (20, 20), (330, 80), (245, 245, 245), thickness=-1)
    cv2.putText(photo, "PRIVATE 2048", (30, 65), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (10, 10, 10), 3, cv2.LINE_AA)
    lines = [line for line in reader.read(photo) if "PRIVATE" in line.text.upper()]
    assert len(lines) == 1
    assert lines[0].text.replace(" ", "").upper() == "PRIVATE2048"
    assert _overlap(lines[0].box, 20, 20, 330, 80) > 0.8


def test_the_engine_loads_its_bundled_models_with_the_network_cut_off(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access during model loading")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    fresh = TextReader()
    fresh.load()
    blank = np.full((120, 320, 3), 255, np.uint8)
    cv2.putText(blank, "OFFLINE", (20, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)
    assert [line.text for line in fresh.read(blank)] == ["OFFLINE"]


def test_a_photo_without_text_gives_an_empty_list(reader):
    plain = np.full((200, 300, 3), 128, np.uint8)
    assert reader.read(plain) == []


def test_anonymized_text_can_no_longer_be_read(data_dir, reader):
    path = data_dir / "qr" / "qrcode-2" / "28.png"
    result = anonymize(path, "pixelate", redact=["text"])
    assert result.regions == len(result.scan.text) >= 1
    left = reader.read(decode(result.data).pixels)
    assert not any("webtech" in line.text for line in left)
