"""The Alembic migrations shipped in the package build exactly the schema the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from discreet.service.store import Store
from discreet.service.store.tables import Base


def test_migrations_match_the_models(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.migrate()
    store.migrate()  # a second start finds nothing to do
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    store.close()
