"""What this server can answer: its scenes (and whether their models are installed) and the face
attributes, so a client such as the web page never keeps a list of its own."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request

from discreet.analyzers import SCENES, SceneAnalyzer
from discreet.anonymize import DEFAULT_REDACT
from discreet.errors import DiscreetError
from discreet.geometry import COVER_METHODS
from discreet.policy import REFUSED_ATTRIBUTES, SUPPORTED_ATTRIBUTES
from discreet.service.api.dependencies import ServicesDep, check_local_request
from discreet.service.api.schemas import AttributeInfo, RefusedAttribute, SceneInfo, ScenesResponse
from discreet.states import TaskStatus

router = APIRouter(prefix="/v1")


def scenes_answer(auth: Literal["none", "key"]) -> ScenesResponse:
    return ScenesResponse(
        scenes=[SceneInfo(scene=name, description=analyzer.description, installed=analyzer.installed(),
                          extra=analyzer.extra, coverable=analyzer.covers is not SceneAnalyzer.covers)
                for name, analyzer in SCENES.items()],
        attributes=[AttributeInfo(name=name, description=why) for name, why in SUPPORTED_ATTRIBUTES.items()],
        refused_attributes=[RefusedAttribute(name=name, reason=why) for name, why in REFUSED_ATTRIBUTES.items()],
        cover_methods=list(COVER_METHODS),
        covered_by_default=list(DEFAULT_REDACT),
        task_statuses=list(TaskStatus),
        auth=auth,
    )


# No key needed: like the OpenAPI document, it describes the server, never a tenant's data.
@router.get("/scenes", response_model=ScenesResponse)
def scenes(request: Request, services: ServicesDep) -> ScenesResponse:
    """The scenes this server offers, with whether each is installed, the face attributes, and whether
    this caller needs a key (so a page learns it without a request that fails with 401). A plain def:
    local mode is read from the store, so FastAPI runs it in its thread pool."""
    return scenes_answer("none" if _anonymous_would_pass(request, services) else "key")


def _anonymous_would_pass(request: Request, services: ServicesDep) -> bool:
    if not services.anonymous_allowed():
        return False
    try:
        check_local_request(request)
    except DiscreetError:
        return False
    return True
