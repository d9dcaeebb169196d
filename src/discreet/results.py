"""Result types derived from the scene list (``discreet.analyzers.SCENES``): one field per scene,
typed by its analyzer's ``result``, ``None`` when the scene was not asked for. Conventions
(coordinates, units) are those of ``discreet.schema``."""

from __future__ import annotations

from typing import Any

from pydantic import Field, create_model

from discreet.analyzers import SCENES
from discreet.moderation.decisions import Moderation
from discreet.schema import Strict


def scene_fields() -> dict[str, Any]:
    """Field definitions for ``pydantic.create_model``, one per scene in the list's order."""
    return {
        name: (analyzer.result | None, Field(None, description=analyzer.description))
        for name, analyzer in SCENES.items()
    }


class ImageSize(Strict):
    width: int = Field(description="pixels, after EXIF orientation")
    height: int = Field(description="pixels, after EXIF orientation")


ScanResult = create_model(
    "ScanResult",
    __base__=ImageSize,
    __doc__="The result of one image. A scene's field is ``None`` when that scene was not asked for.",
    __module__=__name__,
    **scene_fields(),
    moderation=(Moderation | None, Field(None, description="the moderation decision, when one was asked for")),
)
