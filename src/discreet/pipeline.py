"""The Scanner: which scenes were asked for, which analyzer answers each, and one result per image.

The policy is checked here, once, before any image is decoded, so the library, the CLI, the HTTP
service and the workers all refuse the same way. Analyzers are built once per process and
reused (``_analyzer`` is cached), so models load once.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any, Protocol

from discreet.errors import DiscreetError, SceneUnavailableError, ValidationError
from discreet.imaging import DecodedImage, ImageInput, decode
from discreet.policy import check_attributes
from discreet.schema import Face, ScanResult
from discreet.settings import ImageLimits, get_settings


class Analyzer(Protocol):
    """Adapts one model's raw output to result types; ``analyze`` returns the scene's field value."""

    def analyze(self, image: DecodedImage) -> Any: ...


#: scene name -> "module:class" of its analyzer, and the pip extra when the scene is optional.
ANALYZERS: dict[str, tuple[str, str | None]] = {
    "faces": ("discreet.analyzers.faces:FaceDetector", None),
    "codes": ("discreet.analyzers.codes:CodeReader", None),
    "text": ("discreet.analyzers.text:TextReader", None),
    "nudity": ("discreet.analyzers.nudity:NudityDetector", "nudity"),
}

#: the analyzer that adds attributes to faces (issue: face attributes).
ATTRIBUTE_ANALYZER = "discreet.analyzers.attributes:AttributeModel"


def _import(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@lru_cache(maxsize=None)
def _analyzer(path: str, threads: int, options: tuple[tuple[str, Any], ...]) -> Any:
    return _import(path)(threads=threads, **dict(options))


def check_scenes(scenes: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(s.strip().lower() for s in scenes if s.strip()))
    if not wanted:
        raise ValidationError("ask for at least one scene", code="no_scene")
    unknown = [s for s in wanted if s not in ANALYZERS]
    if unknown:
        raise ValidationError(
            f"unknown scene(s): {', '.join(unknown)}; choose from {', '.join(ANALYZERS)}",
            code="unknown_scene",
        )
    return wanted


class Scanner:
    """Scans images for the scenes (and face attributes) chosen at construction."""

    def __init__(
        self,
        scenes: Sequence[str] = ("faces",),
        attributes: Sequence[str] = (),
        *,
        preset: str | None = None,
        face_min_score: float | None = None,
        threads: int | None = None,
        limits: ImageLimits | None = None,
    ) -> None:
        self.attributes = check_attributes(attributes)
        scenes = list(scenes)
        if self.attributes and "faces" not in [s.strip().lower() for s in scenes]:
            scenes.append("faces")  # attributes describe faces, so they need the faces scene
        self.scenes = check_scenes(scenes)
        settings = get_settings()
        self.threads = threads or settings.threads
        self.preset = preset or settings.face_preset
        self.face_min_score = face_min_score
        self.limits = limits or ImageLimits()
        self._analyzers = {scene: self._build(scene) for scene in self.scenes}
        self._attributes = (
            _analyzer(ATTRIBUTE_ANALYZER, self.threads, ()) if self.attributes else None
        )

    def _build(self, scene: str) -> Analyzer:
        path, extra = ANALYZERS[scene]
        options = (("preset", self.preset), ("min_score", self.face_min_score)) if scene == "faces" else ()
        try:
            return _analyzer(path, self.threads, options)
        except ImportError as exc:
            raise SceneUnavailableError(
                f"the '{scene}' scene needs an optional extra: pip install 'discreet[{extra}]' ({exc})"
            ) from exc

    def load(self) -> None:
        """Load every model now rather than on the first image."""
        for analyzer in [*self._analyzers.values(), self._attributes]:
            if analyzer is not None and hasattr(analyzer, "load"):
                analyzer.load()

    def scan(self, image: ImageInput) -> ScanResult:
        decoded = decode(image, self.limits)
        fields: dict[str, Any] = {}
        for scene, analyzer in self._analyzers.items():
            fields[scene] = analyzer.analyze(decoded)
        if self._attributes is not None:
            fields["faces"] = self._with_attributes(decoded, fields["faces"])
        return ScanResult(width=decoded.width, height=decoded.height, **fields)

    def _with_attributes(self, image: DecodedImage, faces: list[Face]) -> list[Face]:
        return self._attributes.annotate(image, faces, self.attributes)

    def scan_many(self, images: Iterable[ImageInput]) -> Iterator[ScanResult | DiscreetError]:
        """One result per image, in order; an image that fails yields its error and the rest go on."""
        for image in images:
            try:
                yield self.scan(image)
            except DiscreetError as exc:
                yield exc


@lru_cache(maxsize=32)
def _scanner(scenes: tuple[str, ...], attributes: tuple[str, ...], preset: str | None, threads: int | None) -> Scanner:
    return Scanner(scenes, attributes, preset=preset, threads=threads)


def scan(
    image: ImageInput,
    scenes: Sequence[str] = ("faces",),
    attributes: Sequence[str] = (),
    *,
    preset: str | None = None,
    threads: int | None = None,
) -> ScanResult:
    """Scan one image. Scanners (and so models) are reused between calls with the same options."""
    return _scanner(tuple(scenes), tuple(attributes), preset, threads).scan(image)


def scan_batch(
    images: Iterable[ImageInput],
    scenes: Sequence[str] = ("faces",),
    attributes: Sequence[str] = (),
    *,
    preset: str | None = None,
    threads: int | None = None,
) -> list[ScanResult | DiscreetError]:
    """Scan many images; a failed image gives its ``DiscreetError`` in its slot."""
    return list(_scanner(tuple(scenes), tuple(attributes), preset, threads).scan_many(images))
