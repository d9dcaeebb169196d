"""The delivery schedule of callbacks, kept on the task rows so retries survive a restart."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from discreet.service.store.database import Database
from discreet.service.store.tables import TaskRow
from discreet.states import CallbackState


class CallbackRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def due_callbacks(self, limit: int = 20) -> list[TaskRow]:
        with self.db.session() as session:
            return list(session.scalars(
                select(TaskRow).where(TaskRow.callback_state == CallbackState.PENDING, TaskRow.callback_next_at <= self.db.clock())
                .order_by(TaskRow.callback_next_at).limit(limit)
            ))

    def claim_callback(self, task_id: str, hold: timedelta) -> bool:
        """Take the due delivery of this task's callback for ``hold``; False when another process has it
        (or it was delivered). A process that dies while sending lets it fall due again after ``hold``."""
        now = self.db.clock()
        with self.db.session() as session:
            return session.execute(
                update(TaskRow).where(TaskRow.id == task_id, TaskRow.callback_state == CallbackState.PENDING,
                                      TaskRow.callback_next_at <= now)
                .values(callback_next_at=now + hold)
            ).rowcount == 1

    def record_callback(self, task_id: str, *, state: CallbackState, error: str | None,
                        next_at: datetime | None) -> None:
        with self.db.session() as session:
            session.execute(
                update(TaskRow).where(TaskRow.id == task_id).values(
                    callback_state=state, callback_last_error=error, callback_next_at=next_at,
                    callback_attempts=TaskRow.callback_attempts + 1,
                )
            )
