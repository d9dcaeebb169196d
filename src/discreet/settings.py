"""Every setting of Discreet in one object, read from ``DISCREET_*`` environment variables.

``Settings`` holds the library's own settings and three parts, each read under its own prefix so the
variable names stay short and flat: ``image`` (``DISCREET_IMAGE_*``), ``video`` (``DISCREET_VIDEO_*``,
``discreet.video.VideoLimits``) and ``service`` (``DISCREET_*``, the HTTP service and its workers).
Each part can also be built alone (``ImageLimits()``, ``ServiceSettings()``) from the same variables.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ImageLimits(BaseSettings):
    """Limits enforced before any pixel is decoded (defaults near the cloud APIs')."""

    model_config = SettingsConfigDict(env_prefix="DISCREET_IMAGE_")

    max_bytes: int = Field(20 * 1024 * 1024, description="largest encoded image, bytes")
    max_side: int = Field(30_000, description="largest width or height, pixels")
    max_pixels: int = Field(50_000_000, description="largest width x height, pixels")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DISCREET_")

    data_dir: Path = Field(Path("data"), description="where the embedded SQLite store lives")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the store, e.g. postgresql+psycopg://user@host/db; default SQLite"
    )
    input_dir: Path | None = Field(
        None, description="a folder every worker reads (NFS, a mounted object store) where queued images wait "
        "instead of the database; each file is deleted when its task ends"
    )
    video_dir: Path | None = Field(
        None, description="where anonymized videos wait for download (default <data_dir>/videos); every worker "
        "and API process must see the same folder"
    )
    workers: int = Field(1, ge=1, description="in-process threads that run queued tasks")
    scan_concurrency: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="synchronous scans running at once"
    )
    max_tasks: int = Field(100, ge=1, description="tasks in one request")
    max_request_bytes: int = Field(110 * 1024 * 1024, description="largest request body")
    body_timeout_seconds: float = Field(
        10.0, gt=0, description="a request body not fully received this long after the request began gets 408"
    )
    fetch_concurrency: int = Field(4, ge=1, description="URLs of one synchronous request fetched at once")
    fetch_threads: int = Field(32, ge=1, description="URL fetches running at once in one API process, in "
                               "threads of their own (not those that check keys and read the store)")
    callback_concurrency: int = Field(8, ge=1, description="callbacks delivered at once by one process")
    result_ttl_seconds: int = Field(24 * 3600, ge=1, description="how long a finished task's result is kept")
    sweep_interval_seconds: float = Field(30.0, gt=0, description="how often expired results are erased")
    rate_limit: str = Field("600/minute", description="requests per API key, in the `limits` notation")
    url_allowlist: str = Field(
        "", description="comma-separated hosts trusted even when they resolve to private or loopback addresses"
    )
    fetch_max_bytes: int = Field(20 * 1024 * 1024, description="largest image body fetched from a URL")
    fetch_timeout_seconds: float = Field(10.0, gt=0, description="whole-fetch deadline for one URL")
    fetch_max_redirects: int = Field(5, ge=0)
    callback_timeout_seconds: float = Field(10.0, gt=0)
    callback_retry_seconds: int = Field(3600, ge=0, description="how long failed callbacks are retried")
    callback_first_delay_seconds: float = Field(1.0, gt=0, description="first retry delay; doubles each time")
    shutdown_grace_seconds: float = Field(20.0, ge=0, description="how long running tasks may finish at shutdown")
    preload_models: bool = Field(True, description="load the face model at start, so /readyz means ready")
    max_in_flight_requests: int = Field(
        8, ge=1, description="upload requests (scan, anonymize, async scan and video) whose body has arrived "
        "served at once; more wait (see max_waiting_requests)"
    )
    max_in_flight_per_key: int = Field(
        4, ge=1, description="of those, served at once for one API key, so one tenant's requests leave slots "
        "to the others; the same share of the receiving budget is one key's"
    )
    max_waiting_requests: int = Field(
        16, ge=1, description="upload requests whose body is arriving or that wait for one of those slots; "
        "more get 503 overloaded before their body is read (one key gets the same share as of the slots)"
    )
    max_receiving_bytes: int = Field(
        256 * 1024 * 1024, ge=1, description="declared lengths of the waiting requests' bodies (the request "
        "limit for a body that declares none); a request that does not fit gets 503 overloaded"
    )
    cors_origins: str = Field("", description="comma-separated origins allowed to call the API from a browser; "
                              "none by default (CORS closed)")
    lease_seconds: float = Field(
        15.0, gt=0, description="a running task's lease, renewed by its worker's heartbeat; once expired another "
        "process takes the task over"
    )
    task_max_tries: int = Field(3, ge=1, description="runs of a task that kill their worker before it ends failed")
    # scale-out (issue 6): with a broker, `discreet serve` only stores and enqueues; `discreet worker` runs tasks
    broker_url: str | None = Field(
        None, description="redis://host:6379/0 switches queued tasks to Celery workers (`discreet worker`)"
    )
    worker_concurrency: int = Field(1, ge=1, description="task processes of one `discreet worker`")
    task_time_limit_seconds: int = Field(600, ge=1, description="a task running longer is killed (then retried)")
    visibility_timeout_seconds: int = Field(
        3600, ge=1, description="an unacknowledged task goes back to the broker queue after this; keep it above "
        "the task time limit"
    )

    @model_validator(mode="after")
    def _visibility_covers_the_longest_task(self) -> ServiceSettings:
        if self.visibility_timeout_seconds <= self.task_time_limit_seconds:
            raise ValueError("visibility_timeout_seconds must be longer than task_time_limit_seconds, or a "
                             "running task would be handed to a second worker")
        return self

    @property
    def allowed_hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.url_allowlist.split(",") if h.strip())

    def video_output_dir(self) -> Path:
        """Where anonymized videos wait for download (each deleted with its task)."""
        return self.video_dir or self.data_dir / "videos"

    def store_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # mkdir's mode is cut by the umask, and an existing folder keeps its own
        database = (self.data_dir / "discreet.sqlite3").resolve()
        # created now, owner-only; SQLite gives its -wal and -shm files the database file's mode
        os.close(os.open(database, os.O_CREAT | os.O_WRONLY, 0o600))
        database.chmod(0o600)
        return f"sqlite:///{database}"


class VideoLimits(BaseSettings):
    """Limits enforced from the header, before any frame is decoded."""

    model_config = SettingsConfigDict(env_prefix="DISCREET_VIDEO_")

    max_bytes: int = Field(500 * 1024 * 1024, description="largest video file, bytes")
    max_seconds: float = Field(3600.0, description="longest duration, seconds")
    max_pixels: int = Field(4096 * 2304, description="largest width x height of a frame")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DISCREET_")

    threads: int = Field(1, ge=1, description="CPU threads each model may use")
    face_preset: str = Field("default", description="face detector preset: default or accurate")
    image: ImageLimits = Field(default_factory=ImageLimits)
    service: ServiceSettings = Field(default_factory=ServiceSettings)

    video: VideoLimits = Field(default_factory=VideoLimits)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
