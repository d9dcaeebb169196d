"""Starting the server: refuse to expose an unauthenticated server beyond loopback."""

from __future__ import annotations

import ipaddress
import logging
import threading
import time

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
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(
        app, host=host, port=port, log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 5,
    ))
    threading.Thread(target=_announce_when_ready, args=(server, app, host, port), daemon=True).start()
    server.run()


def ready_line(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"Discreet ready at http://{shown}:{port} — web page /, API docs /docs"


def _announce_when_ready(server: uvicorn.Server, app: object, host: str, port: int) -> None:
    """Print the ready line once the socket listens and the models are loaded: before that, the
    first request would wait for the models or find nothing listening."""
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.1)
    app.state.services.models_ready.wait()  # type: ignore[attr-defined]
    print(ready_line(host, port), flush=True)
