"""The analyzer interface. An analyzer adapts one model's raw output to ``discreet.schema`` types.

It builds on the model interface (``discreet.models.Model``: an identity, ``load`` once,
``predict`` on a batch) and adds what the rest of Discreet needs to know about a scene, so that
nothing else names scenes by hand:

- ``scene``: the name callers ask for, and the field of ``ScanResult`` it fills;
- ``result``: that field's type (schema types only: raw model rows never leave the analyzer);
- ``analyze(image)``: that value for one decoded image;
- ``covers(found)``: what anonymizing the scene hides, with the shape to draw;
- ``models``: the model files it runs, with versions and licences (``discreet models``);
- ``moderation_labels(found)``: the moderation labels it raises with their scores, and
  ``moderation_rules`` the labels' default review and block scores (``discreet.moderation``).

The scene list itself is ``discreet.analyzers.SCENES``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from discreet.geometry import Cover
from discreet.imaging import DecodedImage
from discreet.models import Model, ModelInfo

Output = TypeVar("Output")


class Analyzer(Model[Output], Generic[Output]):
    """A model adapter that speaks schema types; the scene analyzers and the face attribute analyzer."""

    #: the model files it runs (``discreet models`` lists them)
    models: ClassVar[tuple[ModelInfo, ...]] = ()


class SceneAnalyzer(Analyzer[Output], Generic[Output]):
    """The analyzer of one scene. Constructed as ``cls(threads=..., **options)``."""

    scene: ClassVar[str]
    #: the type of the scene's field in ``ScanResult`` (``None`` there when the scene was not asked for)
    result: ClassVar[Any]
    #: one line for the API documentation and the web page
    description: ClassVar[str]
    #: the pip extra that installs the scene's model, when it is optional; constructing the
    #: analyzer without it raises ImportError
    extra: ClassVar[str | None] = None
    #: how far the anonymizer enlarges each cover around the region found (1.0: the region itself)
    cover_scale: ClassVar[float] = 1.0
    #: whether anonymizing looks again at the covered output and covers what it still finds
    recheck_covers: ClassVar[bool] = False
    #: options the anonymizer builds this analyzer with (a cover wants recall where a scan wants precision)
    anonymize_options: ClassVar[dict[str, Any]] = {}
    #: options of the looks at covered output (``recheck_covers``)
    recheck_options: ClassVar[dict[str, Any]] = {}
    #: per moderation label it raises, the default scores at which it goes to ``review`` and ``block``
    moderation_rules: ClassVar[dict[str, dict[str, float]]] = {}

    @classmethod
    def installed(cls) -> bool:
        """Whether every package the scene's models come in is installed."""
        return all(info.installed_version is not None for info in cls.models)

    def analyze(self, image: DecodedImage) -> Output:
        return self.predict([image.pixels])[0]

    @classmethod
    def moderation_labels(cls, found: Output) -> dict[str, float]:
        """The moderation labels ``found`` raises, each with its score in [0, 1]."""
        return {}

    @classmethod
    def withhold(cls, found: Output, fields: dict[str, Any]) -> dict[str, Any]:
        """The scan's scene fields with what this scene's finding makes unsafe to return left out
        (the plates scene removes text read inside a plate); most scenes change nothing."""
        return fields

    def covers(self, found: Output) -> list[Cover]:
        """The regions to hide for what ``analyze`` found; a scene with nothing to hide returns none."""
        return []
