"""Request and answer shapes of the HTTP API (the OpenAPI document is built from these)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from discreet.analyzers import SCENES
from discreet.moderation import LabelRule, Moderation, TermEntry
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
    moderation: bool | str | None = Field(
        None, description="true: decide pass/review/block with the tenant's default policy (the built-in one when "
        "none is marked default) and apply the tenant's picture and term lists; a name: that policy of the tenant",
    )
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
    moderation=(Moderation | None, Field(None, description="the decision, when moderation was asked for")),
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
    moderation: bool | str | None = Field(None, description="decide each scanned frame by the tenant's default "
                                          "policy (true) or the policy of this name")
    callback_url: str | None = Field(None, max_length=4000)


class TaskList(BaseModel):
    tasks: list[TaskView]
    next_cursor: str | None = Field(None, description="when listing without ids: the next page's cursor, if any")


class DeletedTask(BaseModel):
    task_id: str
    status: Literal["canceled", "canceling", "erased"]


class CallbackSecret(BaseModel):
    secret: str = Field(description="whsec_... secret that signs this key's callbacks")


# moderation

Kind = Literal["block", "review", "pass"]
NAME = Field(min_length=1, max_length=100)


class PolicyIn(_In):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    labels: dict[str, LabelRule] = Field(default_factory=dict, description="per label, its review and block "
                                         "scores; a label left out keeps its default rule")
    is_default: bool = Field(False, description="what scans asking `moderation: true` use")


class PolicyUpdate(_In):
    labels: dict[str, LabelRule] = Field(default_factory=dict)
    is_default: bool = False

#: the store keeps naive UTC times; answers carry the zone, as RFC 3339 date-times must
UtcTime = Annotated[datetime, AfterValidator(lambda moment: moment.replace(tzinfo=moment.tzinfo or UTC))]


class PolicyView(BaseModel):
    name: str
    version: int = Field(description="1 when made, one more at each PUT; results name the version that decided")
    labels: dict[str, LabelRule]
    is_default: bool
    created_at: UtcTime
    updated_at: UtcTime


class PolicyList(BaseModel):
    policies: list[PolicyView]


class PictureListIn(_In):
    name: str = NAME
    kind: Kind = Field(description="what a match does: block, review, or pass (overrides every other label)")


class PictureListView(BaseModel):
    id: str
    name: str
    kind: Kind
    entries: int
    created_at: UtcTime


class PictureLists(BaseModel):
    lists: list[PictureListView]


class PictureIn(_In):
    """A picture to hash (it is decoded, hashed and dropped), or a PDQ hash from a hash-sharing partner."""

    image_base64: str | None = None
    hash: str | None = Field(None, description="a PDQ hash as 64 hexadecimal digits")


class EntryAdded(BaseModel):
    entry_id: str
    list_id: str
    hash: str = Field(description="PDQ hash of the whole picture (hex), the form to share with partners")
    hashes: int = Field(description="hashes kept for the entry (centre crops of a picture, 1 for a given hash)")


class TermListIn(_In):
    name: str = NAME
    entries: list[TermEntry] = Field(max_length=10_000)


class TermListView(BaseModel):
    id: str
    name: str
    entries: list[TermEntry]
    created_at: UtcTime
    updated_at: UtcTime


class TermLists(BaseModel):
    lists: list[TermListView]


class FeedbackIn(_In):
    image_base64: str | None = None
    should_be: Literal["pass", "block"]


class FeedbackAnswer(BaseModel):
    list_id: str
    list_name: str
    entry_id: str
    hash: str


class SceneInfo(BaseModel):
    scene: str
    description: str
    installed: bool = Field(description="whether this server has the scene's model packages")
    extra: str | None = Field(description="the pip extra that installs the scene, when it is optional")
    coverable: bool = Field(description="whether anonymizing can cover what the scene finds (POST /v1/anonymize redact)")


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
    cover_methods: list[str] = Field(description="how anonymizing covers a region (the method of POST /v1/anonymize)")
    covered_by_default: list[str] = Field(description="the scenes POST /v1/anonymize covers when redact is not given")
    task_statuses: list[TaskStatus] = Field(description="the statuses a task can have, in the order it moves "
                                            "through them (the status filter of GET /v1/tasks)")
    auth: Literal["none", "key"] = Field(
        description="whether this caller needs an API key: 'none' in local mode (no key exists) from this machine")
