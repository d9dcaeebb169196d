"""The scene list: every scene Discreet answers, declared once.

A scene is one analyzer module (a ``SceneAnalyzer`` subclass: its model, its result type, what to
cover) and one entry in ``BUILT_IN`` below. Everything that names scenes derives from ``SCENES``:
``ScanResult``, the HTTP item model and OpenAPI document, the video frame result, the anonymizer,
``discreet models`` (each analyzer's ``models``), and the web page (which reads ``GET /v1/scenes``).

Scenes from other packages join through the ``discreet.scenes`` entry-point group (a name and a
``module:Class``), with no edit here.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from discreet.analyzers.attributes import FaceAttributeAnalyzer
from discreet.analyzers.base import Analyzer, SceneAnalyzer
from discreet.analyzers.codes import CodeReader
from discreet.analyzers.faces import FaceDetector
from discreet.analyzers.nudity import NudityDetector
from discreet.analyzers.plates import PlateDetector
from discreet.analyzers.text import TextReader

BUILT_IN: tuple[type[SceneAnalyzer], ...] = (
    FaceDetector,
    CodeReader,
    TextReader,
    NudityDetector,
    PlateDetector,
)

#: the analyzer that adds attributes to the faces scene's faces
ATTRIBUTES: type[Analyzer] = FaceAttributeAnalyzer


def _installed_plugins() -> list[type[SceneAnalyzer]]:
    analyzers = [entry.load() for entry in entry_points(group="discreet.scenes")]
    for analyzer in analyzers:
        if not (isinstance(analyzer, type) and issubclass(analyzer, SceneAnalyzer)):
            raise TypeError(f"the discreet.scenes entry point {analyzer!r} is not a SceneAnalyzer")
    return analyzers


#: scene name -> its analyzer class, in the order results list them
SCENES: dict[str, type[SceneAnalyzer]] = {
    analyzer.scene: analyzer for analyzer in (*BUILT_IN, *_installed_plugins())
}

__all__ = ["ATTRIBUTES", "BUILT_IN", "SCENES", "Analyzer", "SceneAnalyzer"]
