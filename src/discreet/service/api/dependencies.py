"""What the routes are given: the service's parts as typed FastAPI dependencies, and the caller."""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import anyio
from fastapi import Depends, Request

from discreet.errors import Forbidden, UnsupportedMediaType
from discreet.service.auth import RateLimiter, authenticate
from discreet.service.fetch import SafeHttp
from discreet.service.store import ApiKey, Store
from discreet.service.tasks.queue import InProcessQueue
from discreet.settings import ServiceSettings

if TYPE_CHECKING:
    from discreet.service.tasks.celery_worker import CeleryQueue


@dataclass
class Services:
    """Everything one API process holds while it runs, made by the app's lifespan."""

    settings: ServiceSettings
    store: Store
    http: SafeHttp
    queue: InProcessQueue | CeleryQueue
    rate_limiter: RateLimiter
    scan_limiter: anyio.CapacityLimiter
    models_ready: threading.Event
    local_mode: bool  # no API key exists: anonymous requests are accepted (loopback only)
    fetch_limiter: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(32))
    _local_checked_at: float = 0.0

    def anonymous_allowed(self) -> bool:
        """Local mode, read from the store at most once a second: a key created while the server runs
        ends anonymous access within a second, without a restart."""
        now = time.monotonic()
        if now - self._local_checked_at > LOCAL_MODE_CACHE_SECONDS:
            self.local_mode = not self.store.keys.has_active_keys()
            self._local_checked_at = now
        return self.local_mode


LOCAL_MODE_CACHE_SECONDS = 1.0
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
#: the body types a page of another origin can POST without a CORS preflight (multipart aside, which
#: the routes read): refused in anonymous mode. Any other type is preflighted, and the preflight fails.
SIMPLE_BODY_TYPES = ("text/plain", "application/x-www-form-urlencoded", "")


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_service_settings(services: ServicesDep) -> ServiceSettings:
    return services.settings


def get_store(services: ServicesDep) -> Store:
    return services.store


SettingsDep = Annotated[ServiceSettings, Depends(get_service_settings)]
StoreDep = Annotated[Store, Depends(get_store)]


def check_local_request(request: Request) -> None:
    """An anonymous request must come from this machine, to this machine, by its own pages or tools:

    the Host is a loopback name (a DNS-rebound name is refused), the client address is loopback
    (whatever address the server was bound to), an ``Origin`` is the Host's own, and a POST body is
    not of a type another origin may send without a preflight (text/plain, form-encoded, none).
    """
    host = request.headers.get("host", "").lower()
    name = host[: host.find("]") + 1] if host.startswith("[") else host.rpartition(":")[0] or host
    if name not in LOOPBACK_NAMES:
        raise Forbidden("anonymous requests are served only to Host localhost, 127.0.0.1 or [::1]")
    try:
        loopback = request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise Forbidden("anonymous requests are served only from this machine; send an API key")
    origin = request.headers.get("origin")
    if origin is not None and origin.lower() not in (f"http://{host}", f"https://{host}"):
        raise Forbidden("anonymous requests from another origin are refused")
    if request.method == "POST":
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media in SIMPLE_BODY_TYPES:
            raise UnsupportedMediaType("send the body as application/json or multipart/form-data")


def caller(request: Request, services: ServicesDep) -> ApiKey:
    """The calling key, after authentication and the rate limit."""
    authorization = request.headers.get("authorization")
    anonymous = not authorization and services.anonymous_allowed()
    if anonymous:
        check_local_request(request)
    key = authenticate(services.store, authorization, allow_anonymous=anonymous)
    services.rate_limiter.check(key.id)
    request.state.key_id = key.id
    return key


Caller = Annotated[ApiKey, Depends(caller)]
