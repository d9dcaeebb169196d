"""Log lines of the service and its workers, each carrying the id of the request it serves."""

from __future__ import annotations

import logging
from contextvars import ContextVar

#: the X-Request-ID of the request being served ("-" outside a request: workers, housekeeping)
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger("discreet")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
