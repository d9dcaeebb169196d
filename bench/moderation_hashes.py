"""Picture lists by PDQ hash: how fast a match is at 1,000 / 10,000 / 100,000 list entries, and how
often it is right, on the photos of ../shared/data.

- true matches: each photo is listed, then edited copies of it are matched against the list
  (resized to half, cropped 5% a side and re-encoded as JPEG 70; mirrored; JPEG 40);
- false matches: every pair of distinct photos whose hashes come within the distance;
- time: one query (hashed as it is and mirrored) against lists of random hashes, each entry kept as
  ``len(CROPS)`` hashes as a listed picture is; the hashing of the query itself is timed apart.

    .venv/bin/python bench/moderation_hashes.py [--data ../shared/data] [--limit N] [--distance 48]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from discreet.imaging import IMAGE_SUFFIXES, decode
from discreet.moderation.hashing import CROPS, MATCH_DISTANCE, PictureList, listed_hashes, pdq_with_mirror

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PACKS = ("scenes/images", "plates/images", "dlib-faces", "qr")
#: two photos this close are the same picture stored twice in the packs
COPY_DISTANCE = 4


def _edits(path: Path) -> dict[str, bytes]:
    image = Image.open(path).convert("RGB")
    w, h = image.size

    def jpeg(picture: Image.Image, quality: int) -> bytes:
        out = io.BytesIO()
        picture.save(out, format="JPEG", quality=quality)
        return out.getvalue()

    cropped = image.crop((int(w * 0.05), int(h * 0.05), int(w * 0.95), int(h * 0.95)))
    return {
        "half, cropped 5% a side, JPEG 70": jpeg(cropped.resize((max(1, cropped.width // 2), max(1, cropped.height // 2))), 70),
        "mirrored": jpeg(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 90),
        "JPEG 40": jpeg(image, 40),
    }


def _photos(data: Path, limit: int | None) -> list[Path]:
    found = []
    for pack in PACKS:
        found += sorted(p for p in (data / pack).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    return found[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--distance", type=int, default=MATCH_DISTANCE, help="the distance to report as chosen")
    args = parser.parse_args()

    listed, queries, names = [], [], []
    for path in _photos(args.data, args.limit):
        try:
            image = decode(path)
            entry, query = listed_hashes(image), pdq_with_mirror(image)
        except Exception:  # noqa: BLE001 - a flat image (low PDQ quality) cannot be listed: leave it out
            continue
        listed.append(entry)
        queries.append(query)
        names.append(path)
    print(f"{len(names)} photos hashed from {', '.join(PACKS)} (PDQ, {len(CROPS)} hashes a listed photo)")

    # The packs hold some copies of one picture under two names (same pixels, or cut one pixel
    # narrower): a match between them is right, so they are counted apart.
    nearest_other = []
    for i, query in enumerate(queries):
        others = PictureList.of("o", "o", "block", [(str(j), h) for j, h in enumerate(listed) if j != i])
        entry, distance = others.closest(query)
        nearest_other.append((distance, names[int(entry)]))
    copies = sum(distance <= COPY_DISTANCE for distance, _ in nearest_other)
    print(f"photos with a copy elsewhere in the packs (distance <= {COPY_DISTANCE}): {copies}")

    edited: dict[str, list[int]] = {edit: [] for edit in _edits(names[0])}
    for i, path in enumerate(names):
        single = PictureList.of("s", "s", "block", [("x", listed[i])])
        for edit, data in _edits(path).items():
            edited[edit].append(single.closest(pdq_with_mirror(decode(data)))[1])

    print(f"{'distance':>8} | false: distinct photos matching another | " + " | ".join(f"true: {e}" for e in edited))
    for limit in sorted({32, 36, 40, 44, args.distance}):
        false = [(d, other, names[i]) for i, (d, other) in enumerate(nearest_other) if COPY_DISTANCE < d <= limit]
        trues = [f"{sum(d <= limit for d in ds) / len(ds):.4f}" for ds in edited.values()]
        mark = " (chosen)" if limit == args.distance else ""
        print(f"{limit:>8} | {len(false)} of {len(names) - copies} ({len(false) / (len(names) - copies):.4f}){mark} | "
              + " | ".join(trues))
    for (distance, other), path in sorted(zip(nearest_other, names), key=lambda item: item[0][0]):
        if COPY_DISTANCE < distance <= args.distance:
            print(f"  near at {distance}: {path.relative_to(args.data)} ~ {other.relative_to(args.data)}")

    start = time.perf_counter()
    for path in names[:50]:
        pdq_with_mirror(decode(path))
    print(f"hashing a query (decoded, as is and mirrored): {(time.perf_counter() - start) / min(50, len(names)) * 1000:.1f} ms")
    rng = np.random.default_rng(0)
    query = queries[0]
    for size in (1_000, 10_000, 100_000):
        random = rng.integers(0, 256, size=(size, len(CROPS), 32), dtype=np.uint8)
        picture_list = PictureList.of("r", "r", "block", [(str(i), [bytes(h) for h in row]) for i, row in enumerate(random)])
        times = []
        for _ in range(20):
            start = time.perf_counter()
            picture_list.closest(query)
            times.append((time.perf_counter() - start) * 1000)
        print(f"match against {size:>7,} entries ({size * len(CROPS):,} hashes): median {statistics.median(times):.2f} ms")


if __name__ == "__main__":
    main()
