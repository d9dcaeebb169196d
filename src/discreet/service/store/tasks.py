"""Task rows: submission (idempotent), claims under a lease, outcomes, erasure. Every state change of a
task is one short transaction here."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from discreet.errors import ValidationError
from discreet.service.store.database import Database
from discreet.service.store.tables import ApiKey, TaskInput, TaskRow
from discreet.states import CallbackState, TaskStatus


@dataclass(frozen=True)
class TaskSource:
    """What a claimed task reads: its image bytes (from the database or the input folder) or its URL."""

    image: bytes | None
    url: str | None


@dataclass(frozen=True)
class NewTask:
    data_id: str
    image: bytes | None = None
    url: str | None = None


class TaskRepository:
    def __init__(self, db: Database, input_dir: Path | None = None) -> None:
        """``input_dir``: queued images wait there (a folder every worker reads) instead of in the database."""
        self.db, self.input_dir = db, input_dir

    def submit(
        self,
        key: ApiKey,
        scenes: Sequence[str],
        attributes: Sequence[str],
        tasks: Sequence[NewTask],
        *,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        kind: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[list[TaskRow], bool]:
        """Queue the tasks; returns them and whether they are new (False: an idempotent replay).

        A replay must repeat the same request: the same key with other content is refused.
        ``kind`` and ``options``: see ``TaskRow`` (a video task and what it was asked; an image task's
        moderation request).
        """
        request_hash = _fingerprint(scenes, attributes, tasks, callback_url, {"kind": kind, "options": options}
                                    if kind or options else None)
        if idempotency_key:
            earlier = self.tasks_of_submission(key.tenant, idempotency_key)
            if earlier:
                return _same_request(earlier, request_hash), False
        now = self.db.clock()
        rows = [
            TaskRow(id=str(uuid.uuid4()), tenant=key.tenant, key_id=key.id, data_id=spec.data_id,
                 idempotency_key=idempotency_key, request_hash=request_hash, position=position, scenes=list(scenes),
                 attributes=list(attributes), status=TaskStatus.QUEUED, cancel_requested=False, created_at=now,
                 callback_url=callback_url, callback_attempts=0, kind=kind, options=options)
            for position, spec in enumerate(tasks)
        ]
        try:
            with self.db.session() as session:
                session.add_all(rows)
                session.flush()
                session.add_all(self._input(row.id, spec) for row, spec in zip(rows, tasks))
        except IntegrityError:
            if idempotency_key:  # a concurrent retry with the same key committed first
                return _same_request(self.tasks_of_submission(key.tenant, idempotency_key), request_hash), False
            raise
        return rows, True

    def _input(self, task_id: str, spec: NewTask) -> TaskInput:
        if self.input_dir is None or spec.image is None:
            return TaskInput(task_id=task_id, image=spec.image, url=spec.url)
        self.input_dir.mkdir(parents=True, exist_ok=True)
        path = self.input_dir / task_id
        partial = path.with_suffix(".part")
        partial.write_bytes(spec.image)
        partial.replace(path)  # a reader never sees half a file
        return TaskInput(task_id=task_id, image_path=str(path.resolve()), url=None)

    def tasks_of_submission(self, tenant: str, idempotency_key: str) -> list[TaskRow]:
        with self.db.session() as session:
            return list(session.scalars(
                select(TaskRow).where(TaskRow.tenant == tenant, TaskRow.idempotency_key == idempotency_key)
                .order_by(TaskRow.position)
            ))

    def _unexpired(self) -> Any:
        """Reads never serve an expired result, even when the sweep that erases it is late."""
        return or_(TaskRow.expires_at.is_(None), TaskRow.expires_at >= self.db.clock())

    def get_task(self, tenant: str, task_id: str) -> TaskRow | None:
        with self.db.session() as session:
            return session.scalar(select(TaskRow).where(TaskRow.id == task_id, TaskRow.tenant == tenant,
                                                        self._unexpired()))

    def get_tasks(self, tenant: str, task_ids: Sequence[str]) -> list[TaskRow]:
        with self.db.session() as session:
            rows = {t.id: t for t in session.scalars(select(TaskRow).where(
                TaskRow.tenant == tenant, TaskRow.id.in_(task_ids), self._unexpired()))}
        return [rows[i] for i in task_ids if i in rows]

    def list_tasks(self, tenant: str, status: str | None, limit: int,
                   after: tuple[datetime, str] | None = None) -> list[TaskRow]:
        """The tenant's tasks newest first (ties by id), from just past ``after`` (created_at, id)."""
        query = select(TaskRow).where(TaskRow.tenant == tenant)
        if status is not None:
            query = query.where(TaskRow.status == status)
        if after is not None:
            created, task_id = after
            query = query.where(or_(TaskRow.created_at < created,
                                    and_(TaskRow.created_at == created, TaskRow.id < task_id)))
        with self.db.session() as session:
            return list(session.scalars(query.order_by(TaskRow.created_at.desc(), TaskRow.id.desc()).limit(limit)))

    def count_by_status(self) -> dict[str, int]:
        with self.db.session() as session:
            return dict(session.execute(select(TaskRow.status, func.count()).group_by(TaskRow.status)).all())

    def cancel_or_erase(self, tenant: str, task_id: str, ttl: timedelta) -> str | None:
        """Cancel a queued task, ask a running one to stop, erase a finished one.

        Returns the task's status after the call ("erased" when the row is gone), None if unknown.
        """
        with self.db.session() as session:
            task = session.scalar(select(TaskRow).where(TaskRow.id == task_id, TaskRow.tenant == tenant).with_for_update())
            if task is None:
                return None
            if task.status == TaskStatus.QUEUED:
                task.status, task.finished_at = TaskStatus.CANCELED, self.db.clock()
                task.expires_at = task.finished_at + ttl
                _delete_inputs(session, TaskInput.task_id == task_id)
                return TaskStatus.CANCELED
            if task.status == TaskStatus.RUNNING:
                task.cancel_requested = True
                return TaskStatus.RUNNING
            _delete_inputs(session, TaskInput.task_id == task_id)
            _delete_outputs(session, TaskRow.id == task_id)
            session.delete(task)
            return "erased"

    def record_progress(self, task_id: str, progress: float) -> bool:
        """Store how far a running task is (0 to 1); False when the task was asked to stop."""
        with self.db.session() as session:
            session.execute(update(TaskRow).where(TaskRow.id == task_id).values(progress=progress))
            return not session.scalar(select(TaskRow.cancel_requested).where(TaskRow.id == task_id))

    def record_output(self, task_id: str, path: Path) -> None:
        """Name the file a task writes before writing it, so it is deleted with the task whatever happens."""
        with self.db.session() as session:
            session.execute(update(TaskRow).where(TaskRow.id == task_id).values(output_path=str(path)))

    def claim_next(self, owner: str, lease: timedelta) -> tuple[TaskRow, TaskSource | None] | None:
        """Atomically move the oldest queued task to running under ``owner``'s lease; None when nothing is queued."""
        for _ in range(5):  # another worker may claim the same row first: try the next one
            with self.db.session() as session:
                task_id = session.scalar(
                    select(TaskRow.id).where(TaskRow.status == TaskStatus.QUEUED).order_by(TaskRow.created_at, TaskRow.position).limit(1)
                )
                if task_id is None:
                    return None
                claimed = _claim(session, task_id, owner, lease, self.db.clock())
                if claimed:
                    return claimed
        return None

    def claim(self, task_id: str, owner: str, lease: timedelta) -> tuple[TaskRow, TaskSource | None] | None:
        """Take this task to run if it is queued, or running under an expired lease; None otherwise
        (finished, canceled, erased, or running in a live process: a duplicate delivery)."""
        with self.db.session() as session:
            return _claim(session, task_id, owner, lease, self.db.clock())

    def renew_leases(self, owner: str, lease: timedelta) -> int:
        """The heartbeat: extend the lease of every task ``owner`` runs."""
        with self.db.session() as session:
            return session.execute(
                update(TaskRow).where(TaskRow.lease_owner == owner, TaskRow.status == TaskStatus.RUNNING)
                .values(lease_until=self.db.clock() + lease)
            ).rowcount

    def requeue_expired(self) -> list[str]:
        """Put back running tasks whose lease expired (their process died or hangs); returns their ids.

        A task running before leases existed has none and counts as expired.
        """
        with self.db.session() as session:
            return list(session.scalars(
                update(TaskRow).where(TaskRow.status == TaskStatus.RUNNING, or_(TaskRow.lease_until.is_(None), TaskRow.lease_until < self.db.clock()))
                .values(status=TaskStatus.QUEUED, started_at=None, lease_owner=None, lease_until=None)
                .returning(TaskRow.id)
            ))

    def release(self, owner: str) -> int:
        """Put back the tasks ``owner`` still runs (its shutdown grace is over)."""
        with self.db.session() as session:
            return session.execute(
                update(TaskRow).where(TaskRow.lease_owner == owner, TaskRow.status == TaskStatus.RUNNING)
                .values(status=TaskStatus.QUEUED, started_at=None, lease_owner=None, lease_until=None)
            ).rowcount

    def queued_ids(self, created_before: datetime | None = None) -> list[str]:
        query = select(TaskRow.id).where(TaskRow.status == TaskStatus.QUEUED).order_by(TaskRow.created_at, TaskRow.position)
        if created_before is not None:
            query = query.where(TaskRow.created_at < created_before)
        with self.db.session() as session:
            return list(session.scalars(query))

    def discard(self, task_ids: Sequence[str]) -> None:
        """Delete tasks that could not be queued, so the client's retry starts clean."""
        with self.db.session() as session:
            _delete_inputs(session, TaskInput.task_id.in_(task_ids))
            session.execute(delete(TaskRow).where(TaskRow.id.in_(task_ids)))

    def finish(self, task_id: str, *, result: dict[str, Any] | None, error: dict[str, Any] | None,
               ttl: timedelta) -> TaskRow | None:
        """Record the outcome, delete the image bytes, and arm the callback if one was asked.

        Only the first run to finish records anything: a task run twice (its lease expired while it
        ran, or its message was delivered again) keeps the first outcome and arms one callback.
        Returns None when the outcome was not recorded.
        """
        now = self.db.clock()
        with self.db.session() as session:
            task = session.get(TaskRow, task_id, with_for_update=True, populate_existing=True)
            if task is None or task.status not in (TaskStatus.QUEUED, TaskStatus.RUNNING):
                return None
            _delete_inputs(session, TaskInput.task_id == task_id)
            if task.cancel_requested:
                task.status, result, error = TaskStatus.CANCELED, None, None
            else:
                task.status = TaskStatus.FAILED if error else TaskStatus.SUCCEEDED
            if task.status != TaskStatus.SUCCEEDED:
                _delete_outputs(session, TaskRow.id == task_id)
            task.result, task.error = result, error
            task.finished_at, task.expires_at = now, now + ttl
            task.lease_owner = task.lease_until = None
            if task.callback_url and task.status != TaskStatus.CANCELED:
                task.callback_state, task.callback_next_at = CallbackState.PENDING, now
            return task

    def erase_expired(self) -> int:
        now = self.db.clock()
        with self.db.session() as session:
            expired = select(TaskRow.id).where(TaskRow.expires_at.is_not(None), TaskRow.expires_at < now)
            _delete_inputs(session, TaskInput.task_id.in_(expired))
            _delete_outputs(session, TaskRow.id.in_(expired))
            return session.execute(delete(TaskRow).where(TaskRow.id.in_(expired.scalar_subquery()))).rowcount

    def finished_since(self, since: datetime, limit: int = 10_000) -> list[tuple[datetime, datetime | None, datetime]]:
        """(created, started, finished) of tasks that ended after ``since``, newest first."""
        with self.db.session() as session:
            return [tuple(row) for row in session.execute(
                select(TaskRow.created_at, TaskRow.started_at, TaskRow.finished_at)
                .where(TaskRow.finished_at >= since).order_by(TaskRow.finished_at.desc()).limit(limit)
            )]


def _claim(session: Session, task_id: str, owner: str, lease: timedelta,
           now: datetime) -> tuple[TaskRow, TaskSource | None] | None:
    claimed = session.execute(
        update(TaskRow).where(TaskRow.id == task_id, or_(TaskRow.status == TaskStatus.QUEUED,
                                                    and_(TaskRow.status == TaskStatus.RUNNING, TaskRow.lease_until < now)))
        .values(status=TaskStatus.RUNNING, started_at=now, lease_owner=owner, lease_until=now + lease, attempts=TaskRow.attempts + 1)
    ).rowcount
    if not claimed:
        return None
    task_input = session.get(TaskInput, task_id)
    if task_input is None:
        return session.get(TaskRow, task_id, populate_existing=True), None
    try:
        image = Path(task_input.image_path).read_bytes() if task_input.image_path else task_input.image
    except FileNotFoundError:
        return session.get(TaskRow, task_id, populate_existing=True), None
    return session.get(TaskRow, task_id, populate_existing=True), TaskSource(image, task_input.url)


def _delete_inputs(session: Session, which: Any) -> None:
    """Delete input rows and the files some of them point to (the files after the rows: a file left
    by a crash in between is an orphan in the input folder, never a task without its image)."""
    paths = session.scalars(select(TaskInput.image_path).where(which, TaskInput.image_path.is_not(None))).all()
    session.execute(delete(TaskInput).where(which))
    session.flush()
    for path in paths:
        Path(path).unlink(missing_ok=True)


def _delete_outputs(session: Session, which: Any) -> None:
    """Delete the files tasks wrote (an anonymized video) and forget them."""
    paths = session.scalars(select(TaskRow.output_path).where(which, TaskRow.output_path.is_not(None))).all()
    session.execute(update(TaskRow).where(which).values(output_path=None))
    for path in paths:
        Path(path).unlink(missing_ok=True)


def _fingerprint(scenes: Sequence[str], attributes: Sequence[str], tasks: Sequence[NewTask],
                 callback_url: str | None, extra: dict[str, Any] | None = None) -> str:
    described = {
        "scenes": list(scenes), "attributes": list(attributes), "callback_url": callback_url,
        "tasks": [[t.data_id, t.url, hashlib.sha256(t.image).hexdigest() if t.image is not None else None]
                  for t in tasks],
    }
    if extra:
        described["extra"] = extra
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def _same_request(earlier: list[TaskRow], request_hash: str) -> list[TaskRow]:
    if earlier and earlier[0].request_hash != request_hash:
        raise ValidationError(
            "this Idempotency-Key was used for a different request; use a new key for new content",
            code="idempotency_key_reused",
        )
    return earlier
