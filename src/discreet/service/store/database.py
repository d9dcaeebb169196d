"""The engine and session factory the repositories share, and the Alembic migration at start."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Database:
    def __init__(self, url: str, clock: Callable[[], datetime] = utcnow) -> None:
        """``clock``: naive UTC now, which every lease, expiry and callback schedule is measured against
        (tests move it by hand)."""
        self.url, self.clock = url, clock
        self.engine: Engine = _engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with self.sessions.begin() as session:
            yield session

    def upgrade(self) -> None:
        """Bring the schema to the newest Alembic revision shipped in the package."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


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
