"""The HTTP routes. Each is a thin shell: parse, check, hand the CPU work to a thread, answer."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from datetime import datetime, timedelta
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError as PydanticValidationError
from starlette.datastructures import UploadFile

from discreet.anonymize import DEFAULT_REDACT, anonymize
from discreet.errors import (
    DiscreetError,
    ImageError,
    NotFound,
    QueueUnavailable,
    TooManyTasks,
    ValidationError,
)
from discreet.geometry import COVER_METHODS
from discreet.imaging import SUPPORTED_FORMATS
from discreet.pipeline import check_scenes
from discreet.policy import check_attributes
from discreet.service.api.dependencies import Caller, Services, ServicesDep, SettingsDep, StoreDep
from discreet.service.api.errors import ERROR_RESPONSES
from discreet.service.api.schemas import (
    AsyncScanRequest,
    AsyncScanResponse,
    CallbackSecret,
    DeletedTask,
    ScanRequest,
    ScanResponse,
    TaskIn,
    TaskList,
    TaskView,
)
from discreet.service.metrics import TASKS
from discreet.service.store import ApiKey, NewTask, TaskRow
from discreet.service.tasks.views import task_view
from discreet.service.tasks.work import scan_image, task_error
from discreet.settings import ImageLimits, ServiceSettings
from discreet.states import TaskStatus

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


def _body_schema(model: type) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"request": {"type": "string", "description": f"{model.__name__} as JSON"}},
                        "additionalProperties": {"type": "string", "format": "binary"},
                        "description": "form field `request` holds the JSON; each file's form name is a data_id",
                    }
                },
            },
        }
    }


async def parse_scan_request(request: Request, settings: ServiceSettings,
                 model: type[ScanRequest]) -> tuple[ScanRequest, dict[str, bytes]]:
    """Read a JSON or multipart scan request; returns it and the uploaded files by form name."""
    files: dict[str, bytes] = {}
    try:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            max_tasks = settings.max_tasks
            form = await request.form(max_files=max_tasks, max_fields=max_tasks + 10,
                                      max_part_size=settings.max_request_bytes)
            raw = form.get("request") or "{}"
            parsed = model.model_validate_json(raw if isinstance(raw, str) else await raw.read())
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    files[name] = await value.read()
            listed = {task.data_id for task in parsed.tasks}
            # files not named in `tasks` are tasks of their own, in the order they were sent
            parsed.tasks.extend(TaskIn(data_id=name) for name in files if name not in listed)
        else:
            _refuse_raw_upload(request.headers.get("content-type", ""))
            parsed = model.model_validate_json(await request.body())
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise ValidationError(problems, code="invalid_request") from exc
    max_tasks = settings.max_tasks
    if not parsed.tasks:
        raise ValidationError("send at least one task", code="invalid_request")
    if len(parsed.tasks) > max_tasks:
        raise TooManyTasks(f"{len(parsed.tasks)} tasks in one request; the limit is {max_tasks}")
    parsed.scenes = check_scenes(parsed.scenes)
    parsed.attributes = check_attributes(parsed.attributes)
    return parsed, files


def _refuse_raw_upload(content_type: str) -> None:
    """A picture posted as the whole body would otherwise be reported as invalid JSON."""
    media = content_type.partition(";")[0].strip().lower()
    if media.startswith("video/"):
        raise ValidationError(f"the body is a video ({media}); queue videos at POST /v1/video/async",
                              code="invalid_request")
    if media.startswith("image/") or media == "application/octet-stream":
        raise ValidationError(
            f"the body is raw bytes ({media}); send multipart/form-data with a file part named after its data_id "
            "(curl -F photo=@image.jpg), or JSON with the image in tasks[].image_base64", code="invalid_request")


# ISO base media files (ftyp box) that are still pictures; any other brand is a video container.
_PICTURE_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"})


def _refuse_video(image: bytes) -> None:
    is_mp4_family = image[4:8] == b"ftyp" and image[8:12] not in _PICTURE_BRANDS
    if is_mp4_family or image.startswith(b"\x1a\x45\xdf\xa3"):  # ...or Matroska/WebM
        raise ImageError("this is a video, not an image; queue videos at POST /v1/video/async",
                         code="unsupported_format")


def task_source(task: TaskIn, files: dict[str, bytes]) -> tuple[bytes | None, str | None]:
    """The task's bytes or URL; raises a DiscreetError that belongs to this task alone."""
    given = [task.image_base64 is not None, task.url is not None, task.data_id in files]
    if sum(given) != 1:
        raise ValidationError(
            "give exactly one of image_base64, url, or a file part named after the data_id", code="invalid_task"
        )
    if task.url is not None:
        if "://" not in task.url:
            raise ValidationError(f"the url '{task.url[:100]}' has no scheme: start it with https:// or http://",
                                  code="invalid_task")
        return None, task.url
    if task.image_base64 is not None:
        try:
            return base64.b64decode(task.image_base64, validate=True), None
        except (binascii.Error, ValueError) as exc:
            raise ImageError("image_base64 is not valid base64", code="image_unreadable") from exc
    return files[task.data_id], None


@router.post("/scan", response_model=ScanResponse, openapi_extra=_body_schema(ScanRequest))
async def scan(request: Request, key: Caller, services: ServicesDep) -> JSONResponse:
    """Scan up to 100 images now. One result per task in request order; a bad task is an error in its slot."""
    parsed, files = await parse_scan_request(request, services.settings, ScanRequest)
    moderation = await anyio.to_thread.run_sync(services.store.moderation.for_scan, key.tenant, parsed.moderation)
    # a request's URLs are fetched a few at a time, in the fetch threads (not the ones keys are checked in)
    fetches = anyio.CapacityLimiter(services.settings.fetch_concurrency)

    async def one(task: TaskIn) -> dict[str, Any]:
        try:
            image, url = task_source(task, files)
            if url is not None:
                async with fetches:
                    image = await anyio.to_thread.run_sync(services.http.fetch_image, url,
                                                           limiter=services.fetch_limiter)
            _refuse_video(image)
            result = await anyio.to_thread.run_sync(
                scan_image, image, parsed.scenes, parsed.attributes, moderation, limiter=services.scan_limiter
            )
            TASKS.labels("sync", TaskStatus.SUCCEEDED).inc()
            return {"data_id": task.data_id, **result}
        except Exception as exc:  # noqa: BLE001 - one task's failure stays in its slot
            TASKS.labels("sync", TaskStatus.FAILED).inc()
            return {"data_id": task.data_id, "error": task_error(exc)}

    results = await asyncio.gather(*(one(task) for task in parsed.tasks))
    return JSONResponse({"results": results})


@router.post(
    "/scan/async", status_code=202, response_model=AsyncScanResponse, openapi_extra=_body_schema(AsyncScanRequest)
)
async def scan_async(request: Request, key: Caller, services: ServicesDep) -> JSONResponse:
    """Queue images; answers 202 with a task id per image. Same ``Idempotency-Key`` -> same tasks."""
    parsed, files = await parse_scan_request(request, services.settings, AsyncScanRequest)
    limits = ImageLimits()
    specs = []
    for task in parsed.tasks:
        try:
            image, url = task_source(task, files)
        except DiscreetError as exc:
            raise ValidationError(f"task '{task.data_id}': {exc.message}", code=exc.code) from exc
        if image is not None and len(image) > limits.max_bytes:  # refused now: nothing is stored
            raise ImageError(f"task '{task.data_id}': the image is {len(image):,} bytes, over the limit of "
                             f"{limits.max_bytes:,}", code="image_too_large")
        specs.append(NewTask(task.data_id, image=image, url=url))
    moderation: dict[str, Any] = {}
    if parsed.moderation:  # an unknown policy is refused now; the worker reads policy and lists when it runs
        await anyio.to_thread.run_sync(services.store.moderation.resolve_policy, key.tenant, parsed.moderation)
        moderation = {"options": {"moderation": parsed.moderation}}
    rows = await submit(request, services, key, parsed.scenes, parsed.attributes, specs, parsed.callback_url,
                        **moderation)
    body = {"tasks": [{"task_id": t.id, "data_id": t.data_id, "status": t.status} for t in rows]}
    location = f"/v1/tasks?ids={','.join(t.id for t in rows)}" if len(rows) > 1 else f"/v1/tasks/{rows[0].id}"
    return JSONResponse(body, status_code=202, headers={"Location": location})


async def submit(request: Request, services: Services, key: ApiKey, scenes: list[str], attributes: list[str],
                 specs: list[NewTask], callback_url: str | None, **kind: Any) -> list[TaskRow]:
    """Store and queue tasks (``kind``: the video task's kind and options), honouring ``Idempotency-Key``."""
    if callback_url:
        await anyio.to_thread.run_sync(services.http.check_callback, callback_url)
    idempotency_key = request.headers.get("idempotency-key") or None
    if idempotency_key and len(idempotency_key) > 200:
        raise ValidationError("Idempotency-Key is longer than 200 characters", code="invalid_request")
    rows, created = await anyio.to_thread.run_sync(
        lambda: services.store.tasks.submit(key, scenes, attributes, specs,
                                   callback_url=callback_url, idempotency_key=idempotency_key, **kind)
    )
    if created:
        task_ids = [t.id for t in rows]
        try:
            await anyio.to_thread.run_sync(services.queue.enqueue, task_ids)
        except QueueUnavailable:
            await anyio.to_thread.run_sync(services.store.tasks.discard, task_ids)  # so the client's retry starts clean
            raise
    return rows


@router.get("/tasks/{task_id}", response_model=TaskView)
async def get_task(task_id: str, key: Caller, store: StoreDep) -> JSONResponse:
    task = await anyio.to_thread.run_sync(store.tasks.get_task, key.tenant, task_id)
    if task is None:
        raise NotFound(f"no task '{task_id}' (unknown, erased, expired, or another tenant's)")
    return JSONResponse(task_view(task))


@router.get("/tasks", response_model=TaskList)
async def get_tasks(
    key: Caller, store: StoreDep, settings: SettingsDep,
    ids: Annotated[list[str] | None, Query(description="task ids, comma-separated or repeated")] = None,
    status: Annotated[TaskStatus | None, Query(description="without ids: only tasks in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="without ids: tasks per page")] = 20,
    cursor: Annotated[str | None, Query(description="without ids: next_cursor of the previous page")] = None,
) -> JSONResponse:
    """The tasks among ``ids`` that exist and are the caller's, in the order asked; without ``ids``,
    the caller's tasks newest first, a page at a time (follow ``next_cursor``)."""
    if ids is None:
        after = _decode_cursor(cursor) if cursor else None
        page = await anyio.to_thread.run_sync(lambda: store.tasks.list_tasks(key.tenant, status, limit + 1, after))
        more = len(page) > limit
        page = page[:limit]
        next_cursor = _encode_cursor(page[-1]) if more else None
        return JSONResponse({"tasks": [task_view(t) for t in page], "next_cursor": next_cursor})
    wanted = list(dict.fromkeys(i for value in ids for i in value.split(",") if i))
    if len(wanted) > settings.max_tasks:
        raise TooManyTasks(f"ask for at most {settings.max_tasks} tasks at once")
    rows = await anyio.to_thread.run_sync(store.tasks.get_tasks, key.tenant, wanted)
    return JSONResponse({"tasks": [task_view(t) for t in rows]})


# A cursor is the position of the last task shown (its creation time and id), so pages hold
# still while new tasks arrive at the top.
def _encode_cursor(task: TaskRow) -> str:
    return base64.urlsafe_b64encode(f"{task.created_at.isoformat()}|{task.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, _, task_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(created), task_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValidationError("cursor is not a next_cursor this server gave", code="invalid_request") from exc


@router.delete("/tasks/{task_id}", response_model=DeletedTask)
async def delete_task(task_id: str, key: Caller, store: StoreDep, settings: SettingsDep) -> DeletedTask:
    """Cancel a queued task, ask a running one to stop (its result is dropped), or erase a finished one."""
    ttl = timedelta(seconds=settings.result_ttl_seconds)
    status = await anyio.to_thread.run_sync(store.tasks.cancel_or_erase, key.tenant, task_id, ttl)
    if status is None:
        raise NotFound(f"no task '{task_id}'")
    return DeletedTask(task_id=task_id, status={"running": "canceling"}.get(status, status))


@router.get("/callbacks/secret", response_model=CallbackSecret)
async def callback_secret(key: Caller) -> CallbackSecret:
    """The secret that signs this key's callbacks (verify with the standardwebhooks package)."""
    return CallbackSecret(secret=key.webhook_secret)


@router.post(
    "/anonymize",
    response_class=Response,
    responses={200: {"content": {mime: {} for mime in sorted(set(SUPPORTED_FORMATS.values()))},
                     "description": "the covered image, in the input's format"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["image"],
                        "properties": {
                            "image": {"type": "string", "format": "binary"},
                            "method": {"type": "string", "enum": list(COVER_METHODS)},
                            "redact": {"type": "string", "description": "comma-separated scenes"},
                            "scale": {"type": "number"},
                        },
                    }
                },
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "image_base64": {"type": "string"}, "url": {"type": "string"},
                            "method": {"type": "string", "enum": list(COVER_METHODS)},
                            "redact": {"type": "array", "items": {"type": "string"}},
                            "scale": {"type": "number"},
                        },
                    }
                },
            },
        }
    },
)
async def anonymize_image(request: Request, key: Caller, services: ServicesDep) -> Response:
    """Cover faces (and codes or text) and answer with the image, re-encoded without metadata.

    The header ``X-Discreet-Regions`` tells how many regions were covered.
    """
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1)
        upload = form.get("image")
        if not isinstance(upload, UploadFile):
            raise ValidationError("send the image as a file part named 'image'", code="invalid_request")
        image: bytes | None = await upload.read()
        url = None
        options: dict[str, Any] = {k: form.get(k) for k in ("method", "redact", "scale") if form.get(k) is not None}
        if "redact" in options:
            options["redact"] = [s for s in str(options["redact"]).split(",") if s.strip()]
    else:
        try:
            options = json.loads(await request.body() or b"{}")
        except ValueError as exc:  # not JSON, or bytes that are not UTF-8/16/32 text at all
            raise ValidationError(f"the body is not JSON: {exc}", code="invalid_request") from exc
        except RecursionError as exc:  # [[[[...]]]] deeper than the parser's stack
            raise ValidationError("the body is nested too deeply", code="invalid_request") from exc
        if not isinstance(options, dict):
            raise ValidationError("the body must be a JSON object", code="invalid_request")
        try:
            given = TaskIn(data_id="image", image_base64=options.pop("image_base64", None), url=options.pop("url", None))
        except PydanticValidationError as exc:  # e.g. a url that is not a string
            raise ValidationError(f"image_base64 and url must be strings: {exc.errors()[0]['msg']}",
                                  code="invalid_request") from exc
        image, url = task_source(given, {})
    unknown = set(options) - {"method", "redact", "scale"}
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(sorted(unknown))}", code="invalid_request")
    redact = options.get("redact", list(DEFAULT_REDACT))
    if not isinstance(redact, list) or not all(isinstance(scene, str) for scene in redact):
        raise ValidationError("redact must be a list of scene names", code="invalid_request")
    try:
        scale = None if options.get("scale") is None else float(options["scale"])
    except (TypeError, ValueError) as exc:
        raise ValidationError("scale must be a number", code="invalid_scale") from exc
    if url is not None:
        image = await anyio.to_thread.run_sync(services.http.fetch_image, url, limiter=services.fetch_limiter)
    covered = await anyio.to_thread.run_sync(
        lambda: anonymize(image, options.get("method", "blur"), redact=redact, scale=scale),
        limiter=services.scan_limiter,
    )
    return Response(covered.data, media_type=covered.mime_type, headers={"X-Discreet-Regions": str(covered.regions)})
