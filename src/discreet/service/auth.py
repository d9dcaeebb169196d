"""API keys: ``dsk_<id>_<secret>``, stored only as a sha256 of the whole key, compared in constant time.

The id part finds the row; the hash of the presented key is then compared with ``hmac.compare_digest``.
A key belongs to a tenant, and every task query is filtered by the caller's tenant.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from discreet.errors import RateLimited, Unauthorized, ValidationError
from discreet.service.store import ApiKey, Store
from discreet.service.store.tables import LOCAL_KEY_ID

KEY_PREFIX = "dsk_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(store: Store, tenant: str, name: str = "") -> tuple[str, ApiKey]:
    """Make a key; the plain key is returned once and never stored."""
    if not tenant.strip():
        raise ValidationError("a key needs a tenant name", code="invalid_request")
    key_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return key, store.keys.add_key(key_id, hash_key(key), tenant.strip(), name)


def presented_key(authorization: str) -> tuple[str, str] | None:
    """The key in an ``Authorization: Bearer dsk_<id>_<secret>`` header and its id, not yet checked;
    None when the header is not of that form."""
    scheme, _, presented = authorization.partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented.startswith(KEY_PREFIX):
        return None
    return presented, presented[len(KEY_PREFIX):].partition("_")[0]


def authenticate(store: Store, authorization: str | None, *, allow_anonymous: bool) -> ApiKey:
    if not authorization:
        if allow_anonymous:
            key = store.keys.get_key(LOCAL_KEY_ID)
            assert key is not None  # created by Store.migrate
            return key
        raise Unauthorized("send an API key: Authorization: Bearer dsk_...")
    parsed = presented_key(authorization)
    if parsed is None:
        raise Unauthorized("the Authorization header must be 'Bearer dsk_...'")
    presented, key_id = parsed
    row = store.keys.get_key(key_id)
    expected = row.key_hash if row is not None and row.key_hash else hash_key(secrets.token_hex(16))
    if not hmac.compare_digest(expected, hash_key(presented)) or row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked API key")
    return row


class RateLimiter:
    """Per-key moving-window limit (the ``limits`` package), answering ``rate_limited`` with Retry-After."""

    def __init__(self, rule: str) -> None:
        self.item: RateLimitItem = parse(rule)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, key_id: str) -> None:
        if not self.limiter.hit(self.item, key_id):
            reset_at, _remaining = self.limiter.get_window_stats(self.item, key_id)
            retry_after = max(1, int(reset_at - time.time()) + 1)
            raise RateLimited(f"over {self.item} for this key; retry in {retry_after} s", retry_after=retry_after)
