"""The service's store (SQLite or PostgreSQL, migrated by Alembic at start): one database shared by
four repositories, by what they keep: ``keys``, ``tasks``, ``callbacks`` and ``moderation``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from discreet.service.store.callbacks import CallbackRepository
from discreet.service.store.database import Database, utcnow
from discreet.service.store.keys import KeyRepository
from discreet.service.store.moderation import ModerationRepository, ScanModeration
from discreet.service.store.tables import ApiKey, TaskInput, TaskRow
from discreet.service.store.tasks import NewTask, TaskRepository, TaskSource


class Store(Database):
    def __init__(self, url: str, input_dir: Path | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        """``input_dir``: queued images wait there (a folder every worker reads) instead of in the database;
        ``clock``: what task leases and expiry are measured against."""
        super().__init__(url, clock)
        self.keys = KeyRepository(self)
        self.tasks = TaskRepository(self, input_dir)
        self.callbacks = CallbackRepository(self)
        self.moderation = ModerationRepository(self)

    def migrate(self) -> None:
        """Bring the schema to the newest revision, and make sure the local key exists."""
        self.upgrade()
        self.keys.ensure_local_key()


def open_store(url: str) -> Store:
    """The store at ``url``, migrated to the newest schema."""
    store = Store(url)
    store.migrate()
    return store


__all__ = ["ApiKey", "NewTask", "ScanModeration", "Store", "TaskInput", "TaskRow", "TaskSource", "open_store"]
