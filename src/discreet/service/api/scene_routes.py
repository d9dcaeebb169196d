"""What this server can answer: its scenes (and whether their models are installed) and the face
attributes, so a client such as the web page never keeps a list of its own."""

from __future__ import annotations

from fastapi import APIRouter

from discreet.analyzers import SCENES
from discreet.policy import REFUSED_ATTRIBUTES, SUPPORTED_ATTRIBUTES
from discreet.service.api.schemas import AttributeInfo, RefusedAttribute, SceneInfo, ScenesResponse

router = APIRouter(prefix="/v1")


def scenes_answer() -> ScenesResponse:
    return ScenesResponse(
        scenes=[SceneInfo(scene=name, description=analyzer.description, installed=analyzer.installed(),
                          extra=analyzer.extra) for name, analyzer in SCENES.items()],
        attributes=[AttributeInfo(name=name, description=why) for name, why in SUPPORTED_ATTRIBUTES.items()],
        refused_attributes=[RefusedAttribute(name=name, reason=why) for name, why in REFUSED_ATTRIBUTES.items()],
    )


# No key needed: like the OpenAPI document, it describes the server, never a tenant's data.
@router.get("/scenes", response_model=ScenesResponse)
async def scenes() -> ScenesResponse:
    """The scenes this server offers, with whether each is installed, and the face attributes."""
    return scenes_answer()
