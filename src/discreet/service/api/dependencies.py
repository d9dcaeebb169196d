"""What the routes are given: the service's parts as typed FastAPI dependencies, and the caller."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import anyio
from fastapi import Depends, Request

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


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_service_settings(services: ServicesDep) -> ServiceSettings:
    return services.settings


def get_store(services: ServicesDep) -> Store:
    return services.store


SettingsDep = Annotated[ServiceSettings, Depends(get_service_settings)]
StoreDep = Annotated[Store, Depends(get_store)]


def caller(request: Request, services: ServicesDep) -> ApiKey:
    """The calling key, after authentication and the rate limit."""
    key = authenticate(services.store, request.headers.get("authorization"), allow_anonymous=services.local_mode)
    services.rate_limiter.check(key.id)
    request.state.key_id = key.id
    return key


Caller = Annotated[ApiKey, Depends(caller)]
