"""The tables (SQLAlchemy 2). Times are naive UTC. Image bytes live in ``task_inputs``, a row deleted the moment its task ends; picture lists keep hashes, never pictures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


#: The key row that anonymous requests use when no key is configured (local, loopback-only mode).
LOCAL_KEY_ID = "local"
LOCAL_TENANT = "local"


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    key_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, doc="sha256 hex; NULL for the local key")
    webhook_secret: Mapped[str] = mapped_column(String(100), doc="signs this key's callbacks (whsec_...)")
    created_at: Mapped[datetime] = mapped_column(DateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


class TaskRow(Base):
    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("tenant", "idempotency_key", "position", name="uq_tasks_idempotency"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    key_id: Mapped[str] = mapped_column(String(32))
    data_id: Mapped[str] = mapped_column(String(500))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(
        String(64), nullable=True, doc="sha256 of the request, to refuse an Idempotency-Key reused for another"
    )
    position: Mapped[int] = mapped_column(Integer, default=0, doc="index of the task in its request")
    scenes: Mapped[list[str]] = mapped_column(JSON)
    attributes: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    lease_owner: Mapped[str | None] = mapped_column(
        String(100), nullable=True, index=True, doc="the worker process running the task"
    )
    lease_until: Mapped[datetime | None] = mapped_column(
        DateTime(), nullable=True, doc="renewed by the owner's heartbeat; once past, another process may take over"
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, doc="times the task was claimed to run")
    kind: Mapped[str | None] = mapped_column(String(16), nullable=True, doc="NULL: an image scan; 'video'")
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True, doc="a video task's options; an image task's moderation request")
    progress: Mapped[float | None] = mapped_column(Float, nullable=True, doc="share of a video's frames done")
    output_path: Mapped[str | None] = mapped_column(Text, nullable=True, doc="the anonymized video, deleted with the task")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(), index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True, index=True)
    callback_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    callback_state: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0)
    callback_next_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    callback_last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class TaskInput(Base):
    """What a queued task will read: the uploaded bytes or the URL. Deleted when the task ends."""

    __tablename__ = "task_inputs"

    task_id: Mapped[str] = mapped_column(String(36), ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    image: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    image_path: Mapped[str | None] = mapped_column(
        Text, nullable=True, doc="where the bytes wait instead, in the shared input folder (deleted with the row)"
    )
    url: Mapped[str | None] = mapped_column(Text, nullable=True)


class ModerationPolicyRow(Base):
    """A tenant's named moderation policy; ``version`` goes up at each change so a result names the rules that decided it."""

    __tablename__ = "moderation_policies"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_moderation_policies_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    updated_at: Mapped[datetime] = mapped_column(DateTime())


class PictureListRow(Base):
    __tablename__ = "picture_lists"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_picture_lists_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), doc="block, review or pass")
    revision: Mapped[int] = mapped_column(
        Integer, default=0, doc="bumped by every entry change, so each process knows when its in-memory copy is stale"
    )
    created_at: Mapped[datetime] = mapped_column(DateTime())


class PictureListEntry(Base):
    """Hashes only (PDQ, 32 bytes each, concatenated): the picture itself is never stored."""

    __tablename__ = "picture_list_entries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    list_id: Mapped[str] = mapped_column(String(36), ForeignKey("picture_lists.id", ondelete="CASCADE"), index=True)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)
    added_at: Mapped[datetime] = mapped_column(DateTime())


class TermListRow(Base):
    __tablename__ = "term_lists"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_term_lists_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(100))
    entries: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    updated_at: Mapped[datetime] = mapped_column(DateTime())
