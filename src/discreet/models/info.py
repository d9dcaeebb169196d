"""What Discreet records of a model file: where it comes from, its version and licence, whether it is here.

Each analyzer declares the files it runs (``Analyzer.models``); ``discreet models`` lists them.

No model is ever downloaded: each comes inside a Python package or is the project's own artifact
in ``src/discreet/models/artifacts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata


@dataclass(frozen=True)
class ModelInfo:
    name: str
    task: str
    package: str
    version: str
    licence: str
    extra: str | None = None  # pip extra that installs it, when it is optional

    @property
    def installed_version(self) -> str | None:
        try:
            return metadata.version(self.package)
        except metadata.PackageNotFoundError:
            return None
