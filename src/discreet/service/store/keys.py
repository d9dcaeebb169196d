"""API key rows: the local key of anonymous loopback requests, and the tenants' keys (hashes only)."""

from __future__ import annotations

import base64
import secrets

from sqlalchemy import func, select, update

from discreet.service.store.database import Database
from discreet.service.store.tables import LOCAL_KEY_ID, LOCAL_TENANT, ApiKey


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class KeyRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_local_key(self) -> None:
        with self.db.session() as session:
            if session.get(ApiKey, LOCAL_KEY_ID) is None:
                session.add(
                    ApiKey(id=LOCAL_KEY_ID, tenant=LOCAL_TENANT, name="anonymous local requests",
                           key_hash=None, webhook_secret=new_webhook_secret(), created_at=self.db.clock())
                )

    def add_key(self, key_id: str, key_hash: str, tenant: str, name: str) -> ApiKey:
        row = ApiKey(id=key_id, tenant=tenant, name=name, key_hash=key_hash,
                     webhook_secret=new_webhook_secret(), created_at=self.db.clock())
        with self.db.session() as session:
            session.add(row)
        return row

    def get_key(self, key_id: str) -> ApiKey | None:
        with self.db.session() as session:
            return session.get(ApiKey, key_id)

    def list_keys(self) -> list[ApiKey]:
        with self.db.session() as session:
            rows = session.scalars(select(ApiKey).where(ApiKey.key_hash.is_not(None)).order_by(ApiKey.created_at))
            return list(rows)

    def has_active_keys(self) -> bool:
        with self.db.session() as session:
            count = session.scalar(
                select(func.count()).select_from(ApiKey)
                .where(ApiKey.key_hash.is_not(None), ApiKey.revoked_at.is_(None))
            )
            return bool(count)

    def revoke_key(self, key_id: str) -> bool:
        with self.db.session() as session:
            done = session.execute(
                update(ApiKey).where(ApiKey.id == key_id, ApiKey.key_hash.is_not(None), ApiKey.revoked_at.is_(None))
                .values(revoked_at=self.db.clock())
            )
            return done.rowcount == 1
