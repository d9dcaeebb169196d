"""The service's store: SQLAlchemy 2 models, migrated by Alembic at start (SQLite or PostgreSQL)."""

from discreet.service.store.db import Store
from discreet.service.store.models import ApiKey, Task, TaskInput

__all__ = ["ApiKey", "Store", "Task", "TaskInput"]
