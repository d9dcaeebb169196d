"""Video routes: queue a video scan (and anonymization), download the anonymized video."""

from __future__ import annotations

from pathlib import Path

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import ValidationError as PydanticValidationError
from starlette.datastructures import UploadFile

from discreet.errors import NotFound, ValidationError
from discreet.pipeline import check_scenes
from discreet.policy import check_attributes
from discreet.service.api.dependencies import Caller, ServicesDep, StoreDep
from discreet.service.api.errors import ERROR_RESPONSES
from discreet.service.api.routes import submit
from discreet.service.api.schemas import QueuedTask, VideoTaskRequest
from discreet.service.store import NewTask
from discreet.settings import ServiceSettings
from discreet.states import TaskStatus
from discreet.video import VideoLimits, open_video

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)

_LIST_FIELDS = ("scenes", "attributes")


@router.post(
    "/video/async", status_code=202, response_model=QueuedTask,
    openapi_extra={"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {
            "type": "object", "properties": {"video": {"type": "string", "format": "binary"}},
            "additionalProperties": {"type": "string"},
            "description": "the file part `video`, and the fields of VideoTaskRequest as form fields",
        }},
        "application/json": {"schema": VideoTaskRequest.model_json_schema(ref_template="#/components/schemas/{model}")},
    }}},
)
async def video_async(request: Request, key: Caller, services: ServicesDep) -> JSONResponse:
    """Queue one video; answers 202 with its task. The task's ``progress`` tells the share of frames
    done; its result has one entry per scanned frame and, when ``anonymize`` was asked, the path to
    download the anonymized video (``GET /v1/tasks/{id}/video``) until the result expires."""
    parsed, video = await _parse(request, services.settings)
    if video is None and parsed.url is None:
        raise ValidationError("no video: send it as a multipart file part named 'video' "
                              "(curl -F video=@clip.mp4), or give a url", code="invalid_request")
    if video is not None and parsed.url is not None:
        raise ValidationError("send a file part named 'video' or a url, not both", code="invalid_request")
    if video is not None:  # a bad upload is refused now, with its code, rather than in a failed task
        await anyio.to_thread.run_sync(_check_video, video)
    scenes, attributes = check_scenes(parsed.scenes), check_attributes(parsed.attributes)
    options = {"scenes": scenes, "attributes": attributes, "interval": parsed.interval,
               "anonymize": parsed.anonymize, "method": parsed.method,
               "output_dir": str(services.settings.video_output_dir())}
    if parsed.moderation:  # resolved now: a video's frames are all decided by the policy as it was when asked
        policy = await anyio.to_thread.run_sync(services.store.moderation.resolve_policy, key.tenant, parsed.moderation)
        options["moderation"] = policy.model_dump(mode="json")
    rows = await submit(request, services, key, scenes, attributes, [NewTask(parsed.data_id, image=video, url=parsed.url)],
                        parsed.callback_url, kind="video", options=options)
    task = rows[0]
    return JSONResponse({"task_id": task.id, "data_id": task.data_id, "status": task.status}, status_code=202,
                        headers={"Location": f"/v1/tasks/{task.id}"})


async def _parse(request: Request, settings: ServiceSettings) -> tuple[VideoTaskRequest, bytes | None]:
    try:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_part_size=settings.max_request_bytes)
            fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
            for name in _LIST_FIELDS:
                if name in fields:
                    fields[name] = [v for v in fields[name].split(",") if v.strip()]
            if fields.get("moderation", "").lower() in ("true", "false"):
                fields["moderation"] = fields["moderation"].lower() == "true"
            if fields.get("interval", "").lower() in ("none", "null", "all"):
                fields["interval"] = None
            upload = form.get("video")
            video = await upload.read() if isinstance(upload, UploadFile) else None
            return VideoTaskRequest.model_validate(fields), video
        return VideoTaskRequest.model_validate_json(await request.body() or b"{}"), None
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise ValidationError(problems, code="invalid_request") from exc


def _check_video(video: bytes) -> None:
    with open_video(video, VideoLimits()):
        pass


@router.get("/tasks/{task_id}/video", response_class=FileResponse,
            responses={200: {"content": {"video/mp4": {}}, "description": "the anonymized video"}})
async def task_video(task_id: str, key: Caller, store: StoreDep) -> FileResponse:
    """The anonymized video of a finished video task that asked for it, until its result expires."""
    task = await anyio.to_thread.run_sync(store.tasks.get_task, key.tenant, task_id)
    if task is None or task.status != TaskStatus.SUCCEEDED or not task.output_path or not Path(task.output_path).is_file():
        raise NotFound(f"no anonymized video for task '{task_id}' (unknown, not finished, not asked, or expired)")
    return FileResponse(task.output_path, media_type="video/mp4", filename=f"{task.data_id}-anonymized.mp4")
