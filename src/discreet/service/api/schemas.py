"""Request and answer shapes of the HTTP API (the OpenAPI document is built from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from discreet.analyzers import SCENES
from discreet.results import ScanResult, scene_fields
from discreet.states import CallbackState, TaskStatus
from discreet.video import AnonymizedVideo, VideoInfo, VideoScan


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskIn(_In):
    """One image. Give exactly one of ``image_base64`` or ``url``; in a multipart request, neither,
    and send a file part whose form name is the ``data_id``."""

    data_id: str = Field(min_length=1, max_length=500, description="the caller's own id, echoed back")
    image_base64: str | None = None
    url: str | None = Field(None, max_length=4000)


class ScanRequest(_In):
    scenes: list[str] = Field(default_factory=lambda: ["faces"], description=f"any of: {', '.join(SCENES)}")
    attributes: list[str] = Field(default_factory=list, description="face attributes; see discreet.policy")
    tasks: list[TaskIn] = Field(default_factory=list, description="up to DISCREET_MAX_TASKS (100) images")


class AsyncScanRequest(ScanRequest):
    callback_url: str | None = Field(None, max_length=4000, description="POSTed each task's end, signed")


class TaskError(BaseModel):
    code: str
    message: str


ScanItem = create_model(
    "ScanItem",
    __doc__="A result (``width``, ``height`` and the asked scenes) or an ``error``, for one task.",
    __module__=__name__,
    data_id=(str, ...),
    width=(int | None, None),
    height=(int | None, None),
    **scene_fields(),
    error=(TaskError | None, None),
)


class ScanResponse(BaseModel):
    results: list[ScanItem]


class QueuedTask(BaseModel):
    task_id: str
    data_id: str
    status: TaskStatus


class AsyncScanResponse(BaseModel):
    tasks: list[QueuedTask]


class CallbackView(BaseModel):
    url: str
    state: CallbackState | None = Field(description="None until the task ends")
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None


class TaskView(BaseModel):
    task_id: str
    data_id: str
    status: TaskStatus
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    expires_at: datetime | None = Field(None, description="when the result is erased")
    progress: float | None = Field(None, description="video tasks: share of the frames done, 0 to 1")
    result: ScanResult | VideoTaskResult | None = None
    error: TaskError | None = None
    callback: CallbackView | None = None


class AnonymizedVideoView(AnonymizedVideo):
    model_config = ConfigDict(extra="forbid", frozen=True)

    video: VideoInfo | None = None
    download: str = Field(description="GET this path for the anonymized MP4 until the result expires")


class VideoTaskResult(VideoScan):
    anonymized: AnonymizedVideoView | None = Field(None, description="when the task asked for the anonymized video")


class VideoTaskRequest(_In):
    """A video to scan (and anonymize). In a multipart request the video is the file part ``video``
    and these are form fields (lists comma-separated); in JSON, give ``url``."""

    data_id: str = Field("video", min_length=1, max_length=500)
    url: str | None = Field(None, max_length=4000)
    scenes: list[str] = Field(default_factory=lambda: ["faces"], description=f"any of: {', '.join(SCENES)}")
    attributes: list[str] = Field(default_factory=list)
    interval: float | None = Field(1.0, gt=0, description="seconds between scanned frames; null: every frame")
    anonymize: bool = Field(False, description="also write the video with every face covered (audio kept)")
    method: Literal["blur", "pixelate", "solid"] = "blur"
    callback_url: str | None = Field(None, max_length=4000)


class TaskList(BaseModel):
    tasks: list[TaskView]
    next_cursor: str | None = Field(None, description="when listing without ids: the next page's cursor, if any")


class DeletedTask(BaseModel):
    task_id: str
    status: Literal["canceled", "canceling", "erased"]


class CallbackSecret(BaseModel):
    secret: str = Field(description="whsec_... secret that signs this key's callbacks")


class SceneInfo(BaseModel):
    scene: str
    description: str
    installed: bool = Field(description="whether this server has the scene's model packages")
    extra: str | None = Field(description="the pip extra that installs the scene, when it is optional")


class AttributeInfo(BaseModel):
    name: str
    description: str


class RefusedAttribute(BaseModel):
    name: str
    reason: str


class ScenesResponse(BaseModel):
    scenes: list[SceneInfo]
    attributes: list[AttributeInfo] = Field(description="face attributes this server offers")
    refused_attributes: list[RefusedAttribute] = Field(description="names refused by the privacy policy, and why")
