"""Discreet's code reader beside one plain zxing-cpp call, measured in the same run on one thread.

    python bench/qr_vs_zxing.py --data ../shared/data/qr [--degrade] [--negatives ../shared/data/scenes]

``--degrade`` also scores every reader on copies of the pack made harder in fixed, seeded ways
(blur, half size, noise, low contrast, heavy JPEG), a check that the cascade helps on photos it
was not tuned on. ``--negatives`` counts images of an extra folder of ordinary photos (no codes)
on which each reader reports a code.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import cv2
import numpy as np
import zxingcpp
from PIL import Image

from discreet.analyzers.codes import ATTEMPTS, CodeReader
from discreet.evaluation.packs import iter_images
from discreet.evaluation.qr import evaluate_qr
from discreet.imaging import decode


def _zxing_one_call(text_mode: zxingcpp.TextMode):
    return lambda pixels: [b.text for b in zxingcpp.read_barcodes(pixels, text_mode=text_mode)]


def _cascade(attempts=ATTEMPTS):
    reader = CodeReader(attempts=attempts)
    return lambda pixels: [code.payload for code in reader.read(pixels)]


READERS = {
    "zxing-cpp, one call, defaults": _zxing_one_call(zxingcpp.TextMode.HRI),
    "zxing-cpp, one call, plain text": _zxing_one_call(zxingcpp.TextMode.Plain),
    "discreet cascade": _cascade(),
}


def _jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=quality)
    return np.asarray(Image.open(out).convert("RGB"))


def _noise(pixels: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(abs(hash(pixels.shape)) % 2**32 + int(pixels[::7, ::7].sum()) % 1000)
    return np.clip(pixels + rng.normal(0, 14, pixels.shape), 0, 255).astype(np.uint8)


DEGRADATIONS = {
    "blur (sigma 1.5)": lambda p: cv2.GaussianBlur(p, (0, 0), 1.5),
    "half size": lambda p: cv2.resize(p, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
    "noise (sigma 14)": _noise,
    "low contrast (35%)": lambda p: (p * 0.35 + 120).astype(np.uint8),
    "JPEG quality 15": lambda p: _jpeg(p, 15),
}


def _false_positives(folder: Path, reader) -> tuple[int, int]:
    images = list(iter_images([folder]))
    return sum(bool(reader(decode(path).pixels)) for path in images), len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--degrade", action="store_true")
    parser.add_argument("--negatives", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    conditions = {"as is": None, **(DEGRADATIONS if args.degrade else {})}
    rows = []
    for condition, alteration in conditions.items():
        for name, reader in READERS.items():
            row = {
                "condition": condition,
                "reader": name,
                **evaluate_qr(args.data, reader, alteration=alteration),
            }
            if args.negatives and alteration is None:
                row["extra_false_positive_images"], row["extra_negatives"] = _false_positives(
                    args.negatives, reader
                )
            rows.append(row)
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                extra = (
                    f", {row['extra_false_positive_images']}/{row['extra_negatives']} extra negatives with a code"
                    if "extra_negatives" in row
                    else ""
                )
                print(
                    f"{condition:20} {name:32} {row['decoded']:3}/{row['codes']} = {row['decode_rate']:.3f}, "
                    f"false positives {row['false_positive_images']}/{row['negatives']}{extra}, "
                    f"median {row['ms_median']:.1f} ms",
                    flush=True,
                )


if __name__ == "__main__":
    main()
