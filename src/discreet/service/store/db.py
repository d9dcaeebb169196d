"""The store's operations. Every state change of a task is one short transaction here."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import and_, create_engine, delete, event, func, or_, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from discreet.errors import ValidationError
from discreet.service.store.models import LOCAL_KEY_ID, LOCAL_TENANT, ApiKey, Task, TaskInput

MIGRATIONS = Path(__file__).with_name("migrations")

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED = "queued", "running", "succeeded", "failed", "canceled"
FINISHED = (SUCCEEDED, FAILED, CANCELED)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


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


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class Store:
    def __init__(self, url: str, input_dir: Path | None = None) -> None:
        """``input_dir``: queued images wait there (a folder every worker reads) instead of in the database."""
        self.url, self.input_dir = url, input_dir
        self.engine: Engine = _engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision shipped in the package."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        self._ensure_local_key()

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()

    # --- keys ---------------------------------------------------------------------------

    def _ensure_local_key(self) -> None:
        with self.session() as session:
            if session.get(ApiKey, LOCAL_KEY_ID) is None:
                session.add(
                    ApiKey(id=LOCAL_KEY_ID, tenant=LOCAL_TENANT, name="anonymous local requests",
                           key_hash=None, webhook_secret=new_webhook_secret(), created_at=utcnow())
                )

    def add_key(self, key_id: str, key_hash: str, tenant: str, name: str) -> ApiKey:
        row = ApiKey(id=key_id, tenant=tenant, name=name, key_hash=key_hash,
                     webhook_secret=new_webhook_secret(), created_at=utcnow())
        with self.session() as session:
            session.add(row)
        return row

    def get_key(self, key_id: str) -> ApiKey | None:
        with self.session() as session:
            return session.get(ApiKey, key_id)

    def list_keys(self) -> list[ApiKey]:
        with self.session() as session:
            rows = session.scalars(select(ApiKey).where(ApiKey.key_hash.is_not(None)).order_by(ApiKey.created_at))
            return list(rows)

    def has_active_keys(self) -> bool:
        with self.session() as session:
            count = session.scalar(
                select(func.count()).select_from(ApiKey)
                .where(ApiKey.key_hash.is_not(None), ApiKey.revoked_at.is_(None))
            )
            return bool(count)

    def revoke_key(self, key_id: str) -> bool:
        with self.session() as session:
            done = session.execute(
                update(ApiKey).where(ApiKey.id == key_id, ApiKey.key_hash.is_not(None), ApiKey.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            return done.rowcount == 1

    # --- tasks --------------------------------------------------------------------------

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
    ) -> tuple[list[Task], bool]:
        """Queue the tasks; returns them and whether they are new (False: an idempotent replay).

        A replay must repeat the same request: the same key with other content is refused.
        ``kind`` and ``options``: see ``Task`` (a video task and what it was asked).
        """
        request_hash = _fingerprint(scenes, attributes, tasks, callback_url, {"kind": kind, "options": options}
                                    if kind else None)
        if idempotency_key:
            earlier = self.tasks_of_submission(key.tenant, idempotency_key)
            if earlier:
                return _same_request(earlier, request_hash), False
        now = utcnow()
        rows = [
            Task(id=str(uuid.uuid4()), tenant=key.tenant, key_id=key.id, data_id=spec.data_id,
                 idempotency_key=idempotency_key, request_hash=request_hash, position=position, scenes=list(scenes),
                 attributes=list(attributes), status=QUEUED, cancel_requested=False, created_at=now,
                 callback_url=callback_url, callback_attempts=0, kind=kind, options=options)
            for position, spec in enumerate(tasks)
        ]
        try:
            with self.session() as session:
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

    def tasks_of_submission(self, tenant: str, idempotency_key: str) -> list[Task]:
        with self.session() as session:
            return list(session.scalars(
                select(Task).where(Task.tenant == tenant, Task.idempotency_key == idempotency_key)
                .order_by(Task.position)
            ))

    def get_task(self, tenant: str, task_id: str) -> Task | None:
        with self.session() as session:
            return session.scalar(select(Task).where(Task.id == task_id, Task.tenant == tenant))

    def get_tasks(self, tenant: str, task_ids: Sequence[str]) -> list[Task]:
        with self.session() as session:
            rows = {t.id: t for t in session.scalars(select(Task).where(Task.tenant == tenant, Task.id.in_(task_ids)))}
        return [rows[i] for i in task_ids if i in rows]

    def count_by_status(self) -> dict[str, int]:
        with self.session() as session:
            return dict(session.execute(select(Task.status, func.count()).group_by(Task.status)).all())

    def cancel_or_erase(self, tenant: str, task_id: str, ttl: timedelta) -> str | None:
        """Cancel a queued task, ask a running one to stop, erase a finished one.

        Returns the task's status after the call ("erased" when the row is gone), None if unknown.
        """
        with self.session() as session:
            task = session.scalar(select(Task).where(Task.id == task_id, Task.tenant == tenant).with_for_update())
            if task is None:
                return None
            if task.status == QUEUED:
                task.status, task.finished_at = CANCELED, utcnow()
                task.expires_at = task.finished_at + ttl
                _delete_inputs(session, TaskInput.task_id == task_id)
                return CANCELED
            if task.status == RUNNING:
                task.cancel_requested = True
                return RUNNING
            _delete_inputs(session, TaskInput.task_id == task_id)
            _delete_outputs(session, Task.id == task_id)
            session.delete(task)
            return "erased"

    def record_progress(self, task_id: str, progress: float) -> bool:
        """Store how far a running task is (0 to 1); False when the task was asked to stop."""
        with self.session() as session:
            session.execute(update(Task).where(Task.id == task_id).values(progress=progress))
            return not session.scalar(select(Task.cancel_requested).where(Task.id == task_id))

    def record_output(self, task_id: str, path: Path) -> None:
        """Name the file a task writes before writing it, so it is deleted with the task whatever happens."""
        with self.session() as session:
            session.execute(update(Task).where(Task.id == task_id).values(output_path=str(path)))

    def claim_next(self, owner: str, lease: timedelta) -> tuple[Task, TaskSource | None] | None:
        """Atomically move the oldest queued task to running under ``owner``'s lease; None when nothing is queued."""
        for _ in range(5):  # another worker may claim the same row first: try the next one
            with self.session() as session:
                task_id = session.scalar(
                    select(Task.id).where(Task.status == QUEUED).order_by(Task.created_at, Task.position).limit(1)
                )
                if task_id is None:
                    return None
                claimed = _claim(session, task_id, owner, lease)
                if claimed:
                    return claimed
        return None

    def claim(self, task_id: str, owner: str, lease: timedelta) -> tuple[Task, TaskSource | None] | None:
        """Take this task to run if it is queued, or running under an expired lease; None otherwise
        (finished, canceled, erased, or running in a live process: a duplicate delivery)."""
        with self.session() as session:
            return _claim(session, task_id, owner, lease)

    def renew_leases(self, owner: str, lease: timedelta) -> int:
        """The heartbeat: extend the lease of every task ``owner`` runs."""
        with self.session() as session:
            return session.execute(
                update(Task).where(Task.lease_owner == owner, Task.status == RUNNING)
                .values(lease_until=utcnow() + lease)
            ).rowcount

    def requeue_expired(self) -> list[str]:
        """Put back running tasks whose lease expired (their process died or hangs); returns their ids.

        A task running before leases existed has none and counts as expired.
        """
        with self.session() as session:
            return list(session.scalars(
                update(Task).where(Task.status == RUNNING, or_(Task.lease_until.is_(None), Task.lease_until < utcnow()))
                .values(status=QUEUED, started_at=None, lease_owner=None, lease_until=None)
                .returning(Task.id)
            ))

    def release(self, owner: str) -> int:
        """Put back the tasks ``owner`` still runs (its shutdown grace is over)."""
        with self.session() as session:
            return session.execute(
                update(Task).where(Task.lease_owner == owner, Task.status == RUNNING)
                .values(status=QUEUED, started_at=None, lease_owner=None, lease_until=None)
            ).rowcount

    def queued_ids(self, created_before: datetime | None = None) -> list[str]:
        query = select(Task.id).where(Task.status == QUEUED).order_by(Task.created_at, Task.position)
        if created_before is not None:
            query = query.where(Task.created_at < created_before)
        with self.session() as session:
            return list(session.scalars(query))

    def discard(self, task_ids: Sequence[str]) -> None:
        """Delete tasks that could not be queued, so the client's retry starts clean."""
        with self.session() as session:
            _delete_inputs(session, TaskInput.task_id.in_(task_ids))
            session.execute(delete(Task).where(Task.id.in_(task_ids)))

    def finish(self, task_id: str, *, result: dict[str, Any] | None, error: dict[str, Any] | None,
               ttl: timedelta) -> Task | None:
        """Record the outcome, delete the image bytes, and arm the callback if one was asked.

        Only the first run to finish records anything: a task run twice (its lease expired while it
        ran, or its message was delivered again) keeps the first outcome and arms one callback.
        Returns None when the outcome was not recorded.
        """
        now = utcnow()
        with self.session() as session:
            task = session.get(Task, task_id, with_for_update=True, populate_existing=True)
            if task is None or task.status not in (QUEUED, RUNNING):
                return None
            _delete_inputs(session, TaskInput.task_id == task_id)
            if task.cancel_requested:
                task.status, result, error = CANCELED, None, None
            else:
                task.status = FAILED if error else SUCCEEDED
            if task.status != SUCCEEDED:
                _delete_outputs(session, Task.id == task_id)
            task.result, task.error = result, error
            task.finished_at, task.expires_at = now, now + ttl
            task.lease_owner = task.lease_until = None
            if task.callback_url and task.status != CANCELED:
                task.callback_state, task.callback_next_at = "pending", now
            return task

    def erase_expired(self) -> int:
        now = utcnow()
        with self.session() as session:
            expired = select(Task.id).where(Task.expires_at.is_not(None), Task.expires_at < now)
            _delete_inputs(session, TaskInput.task_id.in_(expired))
            _delete_outputs(session, Task.id.in_(expired))
            return session.execute(delete(Task).where(Task.id.in_(expired.scalar_subquery()))).rowcount

    def due_callbacks(self, limit: int = 20) -> list[Task]:
        with self.session() as session:
            return list(session.scalars(
                select(Task).where(Task.callback_state == "pending", Task.callback_next_at <= utcnow())
                .order_by(Task.callback_next_at).limit(limit)
            ))

    def claim_callback(self, task_id: str, hold: timedelta) -> bool:
        """Take the due delivery of this task's callback for ``hold``; False when another process has it
        (or it was delivered). A process that dies while sending lets it fall due again after ``hold``."""
        now = utcnow()
        with self.session() as session:
            return session.execute(
                update(Task).where(Task.id == task_id, Task.callback_state == "pending", Task.callback_next_at <= now)
                .values(callback_next_at=now + hold)
            ).rowcount == 1

    def finished_since(self, since: datetime, limit: int = 10_000) -> list[tuple[datetime, datetime | None, datetime]]:
        """(created, started, finished) of tasks that ended after ``since``, newest first."""
        with self.session() as session:
            return [tuple(row) for row in session.execute(
                select(Task.created_at, Task.started_at, Task.finished_at)
                .where(Task.finished_at >= since).order_by(Task.finished_at.desc()).limit(limit)
            )]

    def record_callback(self, task_id: str, *, state: str, error: str | None, next_at: datetime | None) -> None:
        with self.session() as session:
            session.execute(
                update(Task).where(Task.id == task_id).values(
                    callback_state=state, callback_last_error=error, callback_next_at=next_at,
                    callback_attempts=Task.callback_attempts + 1,
                )
            )


def _claim(session: Session, task_id: str, owner: str, lease: timedelta) -> tuple[Task, TaskSource | None] | None:
    now = utcnow()
    claimed = session.execute(
        update(Task).where(Task.id == task_id, or_(Task.status == QUEUED,
                                                    and_(Task.status == RUNNING, Task.lease_until < now)))
        .values(status=RUNNING, started_at=now, lease_owner=owner, lease_until=now + lease, attempts=Task.attempts + 1)
    ).rowcount
    if not claimed:
        return None
    task_input = session.get(TaskInput, task_id)
    if task_input is None:
        return session.get(Task, task_id, populate_existing=True), None
    try:
        image = Path(task_input.image_path).read_bytes() if task_input.image_path else task_input.image
    except FileNotFoundError:
        return session.get(Task, task_id, populate_existing=True), None
    return session.get(Task, task_id, populate_existing=True), TaskSource(image, task_input.url)


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
    paths = session.scalars(select(Task.output_path).where(which, Task.output_path.is_not(None))).all()
    session.execute(update(Task).where(which).values(output_path=None))
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


def _same_request(earlier: list[Task], request_hash: str) -> list[Task]:
    if earlier and earlier[0].request_hash != request_hash:
        raise ValidationError(
            "this Idempotency-Key was used for a different request; use a new key for new content",
            code="idempotency_key_reused",
        )
    return earlier


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: Any, _record: Any) -> None:
            # WAL lets readers (status polls) go on while a worker writes.
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # No image bytes may outlive their task in the folder: deleted rows are zeroed in place,
            # every commit is checkpointed, and the log is cut to nothing when it starts over.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.execute("PRAGMA wal_autocheckpoint=1")
            cursor.execute("PRAGMA journal_size_limit=0")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)
