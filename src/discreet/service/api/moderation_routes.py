"""Moderation routes: a tenant's policies, picture lists and their entries, term lists, and feedback.

A picture sent to a list or as feedback is decoded under the normal image limits, hashed, and
dropped in the same request: only its PDQ hashes are stored, and only of the whole picture.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.datastructures import UploadFile

from discreet.errors import ImageError, ValidationError
from discreet.imaging import decode
from discreet.moderation.hashing import listed_hashes, parse_hash, pdq_with_mirror
from discreet.service.api.dependencies import Caller, SettingsDep, StoreDep
from discreet.service.api.errors import ERROR_RESPONSES
from discreet.service.api.schemas import (
    EntryAdded,
    FeedbackAnswer,
    FeedbackIn,
    PictureIn,
    PictureListIn,
    PictureLists,
    PictureListView,
    PolicyIn,
    PolicyList,
    PolicyUpdate,
    PolicyView,
    TermListIn,
    TermLists,
    TermListView,
)
from discreet.service.store.moderation import FEEDBACK_LISTS
from discreet.service.store.tables import ModerationPolicyRow, PictureListRow, TermListRow
from discreet.settings import ServiceSettings

router = APIRouter(prefix="/v1/moderation", tags=["moderation"], responses=ERROR_RESPONSES)


def _picture_body(model: type[BaseModel], fields: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema(ref_template="#/components/schemas/{model}")},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "image": {"type": "string", "format": "binary"}, **fields}}},
    }}}


async def _read_picture(request: Request, settings: ServiceSettings, model: type[BaseModel]) -> tuple[Any, bytes | None]:
    """The request's fields (as ``model``) and the picture's bytes, from multipart (part ``image``) or JSON."""
    try:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_part_size=settings.max_request_bytes)
            upload = form.get("image")
            fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
            return model.model_validate(fields), await upload.read() if isinstance(upload, UploadFile) else None
        parsed = model.model_validate_json(await request.body() or b"{}")
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise ValidationError(problems, code="invalid_request") from exc
    if parsed.image_base64 is None:
        return parsed, None
    try:
        return parsed, base64.b64decode(parsed.image_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError("image_base64 is not valid base64", code="image_unreadable") from exc


def _hashes(data: bytes) -> list[bytes]:
    return listed_hashes(decode(data))


def _policy_view(row: ModerationPolicyRow) -> PolicyView:
    return PolicyView(name=row.name, version=row.version, labels=row.labels, is_default=row.is_default,
                      created_at=row.created_at, updated_at=row.updated_at)


def _list_view(row: PictureListRow, entries: int) -> PictureListView:
    return PictureListView(id=row.id, name=row.name, kind=row.kind, entries=entries, created_at=row.created_at)


def _terms_view(row: TermListRow) -> TermListView:
    return TermListView(id=row.id, name=row.name, entries=row.entries, created_at=row.created_at,
                        updated_at=row.updated_at)


# policies


@router.post("/policies", status_code=201, response_model=PolicyView)
async def create_policy(body: PolicyIn, key: Caller, store: StoreDep) -> PolicyView:
    """Make a named policy (version 1). Labels are checked against those the scenes raise."""
    row = await anyio.to_thread.run_sync(store.moderation.create_policy, key.tenant, body.name,
                                         body.model_dump()["labels"], body.is_default)
    return _policy_view(row)


@router.get("/policies", response_model=PolicyList)
async def list_policies(key: Caller, store: StoreDep) -> PolicyList:
    rows = await anyio.to_thread.run_sync(store.moderation.list_policies, key.tenant)
    return PolicyList(policies=[_policy_view(row) for row in rows])


@router.get("/policies/{name}", response_model=PolicyView)
async def get_policy(name: str, key: Caller, store: StoreDep) -> PolicyView:
    return _policy_view(await anyio.to_thread.run_sync(store.moderation.get_policy, key.tenant, name))


@router.put("/policies/{name}", response_model=PolicyView)
async def update_policy(name: str, body: PolicyUpdate, key: Caller, store: StoreDep) -> PolicyView:
    """Replace the policy's labels (and default mark); its version goes up by one."""
    row = await anyio.to_thread.run_sync(store.moderation.update_policy, key.tenant, name,
                                         body.model_dump()["labels"], body.is_default)
    return _policy_view(row)


@router.delete("/policies/{name}", status_code=204, response_class=Response)
async def delete_policy(name: str, key: Caller, store: StoreDep) -> Response:
    await anyio.to_thread.run_sync(store.moderation.delete_policy, key.tenant, name)
    return Response(status_code=204)


# picture lists


@router.post("/image-lists", status_code=201, response_model=PictureListView)
async def create_list(body: PictureListIn, key: Caller, store: StoreDep) -> PictureListView:
    """Make a picture list (at most 10 a tenant): a match in it blocks, sends to review, or passes the image."""
    row = await anyio.to_thread.run_sync(store.moderation.create_list, key.tenant, body.name, body.kind)
    return _list_view(row, 0)


@router.get("/image-lists", response_model=PictureLists)
async def list_lists(key: Caller, store: StoreDep) -> PictureLists:
    rows = await anyio.to_thread.run_sync(store.moderation.list_lists, key.tenant)
    return PictureLists(lists=[_list_view(row, n) for row, n in rows])


@router.get("/image-lists/{list_id}", response_model=PictureListView)
async def get_list(list_id: str, key: Caller, store: StoreDep) -> PictureListView:
    return _list_view(*await anyio.to_thread.run_sync(store.moderation.get_list, key.tenant, list_id))


@router.delete("/image-lists/{list_id}", status_code=204, response_class=Response)
async def delete_list(list_id: str, key: Caller, store: StoreDep) -> Response:
    await anyio.to_thread.run_sync(store.moderation.delete_list, key.tenant, list_id)
    return Response(status_code=204)


@router.post("/image-lists/{list_id}/images", status_code=201, response_model=EntryAdded,
             openapi_extra=_picture_body(PictureIn, {}))
async def add_image(list_id: str, request: Request, key: Caller, store: StoreDep, settings: SettingsDep) -> EntryAdded:
    """Add a picture (file part ``image``, or ``image_base64``) or a shared PDQ ``hash`` (at most 100,000
    entries a list). The picture is hashed and dropped; the answer gives its hash to share."""
    parsed, data = await _read_picture(request, settings, PictureIn)
    if (data is None) == (parsed.hash is None):
        raise ValidationError("send one picture (file part 'image' or image_base64) or one hash", code="invalid_request")
    await anyio.to_thread.run_sync(store.moderation.get_list, key.tenant, list_id)  # 404 before any decoding
    hashes = [parse_hash(parsed.hash)] if data is None else await anyio.to_thread.run_sync(_hashes, data)
    entry = await anyio.to_thread.run_sync(store.moderation.add_entry, key.tenant, list_id, hashes)
    return EntryAdded(entry_id=entry.id, list_id=list_id, hash=hashes[0].hex(), hashes=len(hashes))


@router.delete("/image-lists/{list_id}/images/{entry_id}", status_code=204, response_class=Response)
async def delete_image(list_id: str, entry_id: str, key: Caller, store: StoreDep) -> Response:
    await anyio.to_thread.run_sync(store.moderation.delete_entry, key.tenant, list_id, entry_id)
    return Response(status_code=204)


# term lists


@router.post("/term-lists", status_code=201, response_model=TermListView)
async def create_terms(body: TermListIn, key: Caller, store: StoreDep) -> TermListView:
    """Words, phrases or patterns matched in the text and codes scenes' output of moderated scans."""
    row = await anyio.to_thread.run_sync(store.moderation.create_terms, key.tenant, body.name, body.entries)
    return _terms_view(row)


@router.get("/term-lists", response_model=TermLists)
async def list_terms(key: Caller, store: StoreDep) -> TermLists:
    rows = await anyio.to_thread.run_sync(store.moderation.list_terms, key.tenant)
    return TermLists(lists=[_terms_view(row) for row in rows])


@router.get("/term-lists/{list_id}", response_model=TermListView)
async def get_terms(list_id: str, key: Caller, store: StoreDep) -> TermListView:
    return _terms_view(await anyio.to_thread.run_sync(store.moderation.get_terms, key.tenant, list_id))


@router.put("/term-lists/{list_id}", response_model=TermListView)
async def update_terms(list_id: str, body: TermListIn, key: Caller, store: StoreDep) -> TermListView:
    row = await anyio.to_thread.run_sync(store.moderation.update_terms, key.tenant, list_id, body.name, body.entries)
    return _terms_view(row)


@router.delete("/term-lists/{list_id}", status_code=204, response_class=Response)
async def delete_terms(list_id: str, key: Caller, store: StoreDep) -> Response:
    await anyio.to_thread.run_sync(store.moderation.delete_terms, key.tenant, list_id)
    return Response(status_code=204)


# feedback


@router.post("/feedback", status_code=201, response_model=FeedbackAnswer,
             openapi_extra=_picture_body(FeedbackIn, {"should_be": {"type": "string", "enum": ["pass", "block"]}}))
async def feedback(request: Request, key: Caller, store: StoreDep, settings: SettingsDep) -> FeedbackAnswer:
    """Correct the decision of a picture: its hashes go to the tenant's ``feedback-pass`` or
    ``feedback-block`` list (made on first use), so its copies are decided that way from then on.
    The latest correction wins: the picture leaves the other feedback list."""
    parsed, data = await _read_picture(request, settings, FeedbackIn)
    if data is None:
        raise ValidationError("send the picture (file part 'image' or image_base64)", code="invalid_request")
    image = await anyio.to_thread.run_sync(decode, data)
    hashes = await anyio.to_thread.run_sync(listed_hashes, image)
    queries = await anyio.to_thread.run_sync(pdq_with_mirror, image)
    name = FEEDBACK_LISTS[parsed.should_be]
    other = FEEDBACK_LISTS["block" if parsed.should_be == "pass" else "pass"]
    await anyio.to_thread.run_sync(store.moderation.forget_copies, key.tenant, other, queries)
    row = await anyio.to_thread.run_sync(store.moderation.list_named, key.tenant, name, parsed.should_be)
    entry = await anyio.to_thread.run_sync(store.moderation.add_entry, key.tenant, row.id, hashes)
    return FeedbackAnswer(list_id=row.id, list_name=name, entry_id=entry.id, hash=hashes[0].hex())
