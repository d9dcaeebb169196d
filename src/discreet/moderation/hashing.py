"""Lists of known pictures, matched by PDQ perceptual hash (Meta's open hash for sharing hashes of
known images between platforms; the ``pdqhash`` package).

A hash is of a whole image, never of a face crop: a list matches copies of one picture
(re-encoded, resized, slightly cropped, mirrored), not the same person in another picture. The
picture's bytes are hashed on arrival and never kept.

PDQ itself barely survives cropping (a 5% crop of each side moves a hash by 70 to 100 of its 256
bits), so a picture added to a list is kept as the hashes of ``CROPS``, centre crops of itself; a
copy cropped by up to about 8% a side then lands near one of them. Queries are hashed as they are
and mirrored. Matching is an exact Hamming-distance scan over 256-bit hashes held as four 64-bit
words with numpy's ``bitwise_count``, stored word by word so each pass reads one contiguous
column; ``bench/moderation_hashes.py`` measures it at 100,000 entries, and the false and true
match rates at ``MATCH_DISTANCE``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from discreet.errors import ValidationError
from discreet.imaging import DecodedImage
from discreet.moderation.decisions import ImageListMatch, Suggestion

HASH_BYTES = 32
#: PDQ's own recommendation: hashes of images with less structure than this (flat colour, tiny
#: pictures) match too much to act on
MIN_QUALITY = 50
#: share of each side cut off for the hashes a listed picture is kept as
CROPS = (0.0, 0.02, 0.04, 0.06, 0.08)
#: chosen with bench/moderation_hashes.py on the packs' photos: 98% of copies resized to half,
#: cropped 5% a side and re-encoded fall within it; the nearest distinct photos beyond it are two
#: shots of one person taken a moment apart (46 bits), which a list must not match
MATCH_DISTANCE = 44


def pdq(image: DecodedImage) -> bytes:
    """The PDQ hash of an image, as 32 bytes; refuses images too flat to hash usefully."""
    import pdqhash

    bits, quality = pdqhash.compute(np.ascontiguousarray(image.pixels))
    if quality < MIN_QUALITY:
        raise ValidationError(f"the image has too little structure to match by hash (PDQ quality {quality} < {MIN_QUALITY})",
                              code="image_hash_low_quality")
    return np.packbits(bits.astype(np.uint8)).tobytes()


def _centre_crop(image: DecodedImage, share: float) -> DecodedImage:
    h, w = image.pixels.shape[:2]
    dy, dx = int(h * share), int(w * share)
    return DecodedImage(np.ascontiguousarray(image.pixels[dy:h - dy, dx:w - dx]), image.format)


def listed_hashes(image: DecodedImage) -> list[bytes]:
    """The hashes a picture added to a list is kept as: its centre crops of ``CROPS``."""
    return [pdq(_centre_crop(image, share)) for share in CROPS]


def pdq_with_mirror(image: DecodedImage) -> list[bytes]:
    """The hash of the image and of its mirror image, so a mirrored copy matches too."""
    return [pdq(image), pdq(DecodedImage(np.ascontiguousarray(image.pixels[:, ::-1]), image.format))]


def parse_hash(text: str) -> bytes:
    """A PDQ hash given as 64 hexadecimal digits (the form hash-sharing programmes exchange)."""
    try:
        value = bytes.fromhex(text.strip())
    except ValueError:
        value = b""
    if len(value) != HASH_BYTES:
        raise ValidationError("a PDQ hash is 64 hexadecimal digits", code="invalid_hash")
    return value


def _words(hashes: Iterable[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(hashes), dtype=np.uint64).reshape(-1, HASH_BYTES // 8)


@dataclass
class PictureList:
    """One tenant list of known pictures held for matching, in memory: each entry's id and hashes
    (``listed_hashes`` of a picture, or the one hash a hash-sharing partner gave)."""

    list_id: str
    name: str
    kind: Suggestion
    entry_ids: list[str] = field(default_factory=list)
    _hashes: np.ndarray = field(default_factory=lambda: np.zeros((HASH_BYTES // 8, 0), np.uint64))  # word x hash
    _owners: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # entry index of each hash

    @classmethod
    def of(cls, list_id: str, name: str, kind: Suggestion, entries: Iterable[tuple[str, list[bytes]]]) -> PictureList:
        entries = list(entries)
        owners = np.array([i for i, (_, hashes) in enumerate(entries) for _ in hashes], dtype=np.int64)
        hashes = np.ascontiguousarray(_words(h for _, entry_hashes in entries for h in entry_hashes).T)
        return cls(list_id, name, kind, [entry_id for entry_id, _ in entries], hashes, owners)

    def __len__(self) -> int:
        return len(self.entry_ids)

    def closest(self, queries: list[bytes]) -> tuple[str, int] | None:
        """The entry closest to any of ``queries`` and its distance, or ``None`` for an empty list."""
        if not self.entry_ids:
            return None
        best_row, best = 0, HASH_BYTES * 8 + 1
        for query in _words(queries):
            distances = np.bitwise_count(self._hashes[0] ^ query[0]).astype(np.uint16)
            for word in range(1, len(query)):
                distances += np.bitwise_count(self._hashes[word] ^ query[word])
            row = int(distances.argmin())
            if distances[row] < best:
                best_row, best = row, int(distances[row])
        return self.entry_ids[self._owners[best_row]], best


def match_lists(image: DecodedImage, lists: Iterable[PictureList], max_distance: int = MATCH_DISTANCE) -> list[ImageListMatch]:
    """The lists holding a copy of ``image`` (closest entry within ``max_distance``)."""
    lists = [picture_list for picture_list in lists if len(picture_list)]
    if not lists:
        return []
    try:
        queries = pdq_with_mirror(image)
    except ValidationError:
        return []  # a flat image matches nothing rather than everything
    matches = []
    for picture_list in lists:
        closest = picture_list.closest(queries)
        if closest is not None and closest[1] <= max_distance:
            matches.append(ImageListMatch(list_id=picture_list.list_id, list_name=picture_list.name,
                                          kind=picture_list.kind, distance=closest[1], entry_id=closest[0]))
    return matches
