"""The Scanner: which scenes were asked for, which analyzer answers each, and one result per image.

The policy is checked here, once, before any image is decoded, so the library, the CLI, the HTTP
service and the workers all refuse the same way. Analyzers are built once per process and
reused (``shared_analyzer``), so models load once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cache
from typing import Any

from discreet.analyzers import ATTRIBUTES, SCENES, SceneAnalyzer
from discreet.errors import DiscreetError, SceneUnavailableError, ValidationError
from discreet.imaging import DecodedImage, ImageInput, decode
from discreet.moderation import DEFAULT_POLICY, ModerationPolicy, TermList, decide
from discreet.moderation.hashing import PictureList, match_lists
from discreet.policy import check_attributes, check_scene_names
from discreet.results import ScanResult
from discreet.schema import Face
from discreet.settings import ImageLimits, get_settings

#: per scene, the options its analyzer is built with (keyword arguments of its constructor)
SceneOptions = Mapping[str, Mapping[str, Any]]


@cache
def _shared_analyzer(analyzer: type, threads: int, options: tuple[tuple[str, Any], ...]) -> Any:
    return analyzer(threads=threads, **dict(options))


def shared_analyzer(analyzer: type, threads: int, options: Mapping[str, Any] | None = None) -> Any:
    """The process's one instance of ``analyzer`` built with these options, so models load once."""
    return _shared_analyzer(analyzer, threads, tuple(sorted((options or {}).items())))


def forget_analyzers() -> None:
    """Drop the shared analyzers (the next scan builds them anew), e.g. after an extra was installed."""
    _shared_analyzer.cache_clear()


def check_scenes(scenes: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(s.strip().lower() for s in scenes if s.strip()))
    if not wanted:
        raise ValidationError("ask for at least one scene", code="no_scene")
    check_scene_names(wanted, SCENES)
    unknown = [s for s in wanted if s not in SCENES]
    if unknown:
        raise ValidationError(
            f"unknown scene(s): {', '.join(unknown)}; choose from {', '.join(SCENES)}",
            code="unknown_scene",
        )
    return wanted


class Scanner:
    """Scans images for the scenes (and face attributes) chosen at construction.

    ``options`` gives a scene's analyzer its constructor options; ``preset`` and
    ``face_min_score`` are the faces scene's (``preset`` defaults to ``DISCREET_FACE_PRESET``).
    ``moderation`` (a policy, or ``True`` for the default one) adds a decision to each result,
    with ``term_lists`` matched against text and code payloads and ``picture_lists`` against the
    image's perceptual hash; giving lists implies the default policy.
    """

    def __init__(
        self,
        scenes: Sequence[str] = ("faces",),
        attributes: Sequence[str] = (),
        *,
        preset: str | None = None,
        face_min_score: float | None = None,
        options: SceneOptions | None = None,
        moderation: ModerationPolicy | bool = False,
        term_lists: Sequence[TermList] = (),
        picture_lists: Sequence[PictureList] = (),
        threads: int | None = None,
        limits: ImageLimits | None = None,
    ) -> None:
        self.attribute_names = check_attributes(attributes)
        scenes = list(scenes)
        if self.attribute_names and "faces" not in [s.strip().lower() for s in scenes]:
            scenes.append("faces")  # attributes describe faces, so they need the faces scene
        self.scenes = check_scenes(scenes)
        settings = get_settings()
        self.threads = threads or settings.threads
        self.limits = limits or ImageLimits()
        options = {scene: dict(values) for scene, values in (options or {}).items()}
        faces = options.setdefault("faces", {})
        faces["preset"] = preset or faces.get("preset") or settings.face_preset
        if face_min_score is not None:
            faces["min_score"] = face_min_score
        self.analyzers: dict[str, SceneAnalyzer] = {
            scene: self._build(scene, options.get(scene, {})) for scene in self.scenes
        }
        self.attribute_analyzer = (
            shared_analyzer(ATTRIBUTES, self.threads) if self.attribute_names else None
        )
        self.term_lists, self.picture_lists = list(term_lists), list(picture_lists)
        if isinstance(moderation, ModerationPolicy):
            self.policy: ModerationPolicy | None = moderation
        else:
            self.policy = DEFAULT_POLICY if moderation or self.term_lists or self.picture_lists else None

    def _build(self, scene: str, options: Mapping[str, Any]) -> SceneAnalyzer:
        analyzer = SCENES[scene]
        try:
            return shared_analyzer(analyzer, self.threads, options)
        except ImportError as exc:
            raise SceneUnavailableError(
                f"the '{scene}' scene needs an optional extra: pip install 'discreet[{analyzer.extra}]' ({exc})"
            ) from exc

    def load(self) -> None:
        """Load every model now rather than on the first image."""
        for analyzer in [*self.analyzers.values(), self.attribute_analyzer]:
            if analyzer is not None:
                analyzer.load()

    def scan(self, image: ImageInput) -> ScanResult:
        image = decode(image, self.limits)
        fields: dict[str, Any] = {scene: analyzer.analyze(image) for scene, analyzer in self.analyzers.items()}
        for scene, analyzer in self.analyzers.items():
            fields = analyzer.withhold(fields[scene], fields)
        if self.attribute_analyzer is not None:
            fields["faces"] = self._with_attributes(image, fields["faces"])
        result = ScanResult(width=image.width, height=image.height, **fields)
        if self.policy is None:
            return result
        matches = match_lists(image, self.picture_lists)
        decision = decide(result, self.policy, self.term_lists, matches)
        return result.model_copy(update={"moderation": decision})

    def _with_attributes(self, image: DecodedImage, faces: list[Face]) -> list[Face]:
        return self.attribute_analyzer.annotate(image, faces, self.attribute_names)

    def scan_many(self, images: Iterable[ImageInput]) -> Iterator[ScanResult | DiscreetError]:
        """One result per image, in order; an image that fails yields its error and the rest go on."""
        for image in images:
            try:
                yield self.scan(image)
            except DiscreetError as exc:
                yield exc


def scan(
    image: ImageInput,
    scenes: Sequence[str] = ("faces",),
    attributes: Sequence[str] = (),
    *,
    preset: str | None = None,
    moderation: ModerationPolicy | bool = False,
    threads: int | None = None,
) -> ScanResult:
    """Scan one image. Models are built once per process and shared between calls."""
    return Scanner(scenes, attributes, preset=preset, moderation=moderation, threads=threads).scan(image)


def scan_batch(
    images: Iterable[ImageInput],
    scenes: Sequence[str] = ("faces",),
    attributes: Sequence[str] = (),
    *,
    preset: str | None = None,
    moderation: ModerationPolicy | bool = False,
    threads: int | None = None,
) -> list[ScanResult | DiscreetError]:
    """Scan many images; a failed image gives its ``DiscreetError`` in its slot."""
    return list(Scanner(scenes, attributes, preset=preset, moderation=moderation, threads=threads).scan_many(images))
