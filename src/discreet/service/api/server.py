"""Starting the server: refuse to expose an unauthenticated server beyond loopback."""

from __future__ import annotations

import ipaddress
import logging

import uvicorn

from discreet.service.api.app import create_app
from discreet.service.log import configure_logging
from discreet.service.store import open_store
from discreet.settings import ServiceSettings

log = logging.getLogger("discreet.service")

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(host: str, port: int) -> None:
    configure_logging()
    settings = ServiceSettings()
    store = open_store(settings.store_url())
    has_keys = store.keys.has_active_keys()
    store.close()
    if not has_keys:
        if not is_loopback(host):
            log.warning("no API key exists, so the server listens on %s only, not %s; "
                        "create one with `discreet keys create TENANT`", LOOPBACK, host)
            host = LOOPBACK
        log.warning("no API key configured: anonymous requests are accepted, from this machine only")
    uvicorn.run(
        create_app(settings), host=host, port=port, log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 5,
    )
