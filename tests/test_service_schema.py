"""Schema-driven testing (schemathesis) of every operation in the service's own OpenAPI document:
no 5xx, and every answer (status, content type, headers, body) is one the document describes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from service_support import settings as service_settings

from discreet.service.api.app import create_app

EXAMPLES_PER_OPERATION = 100  # bounded so the whole run stays near a minute on a busy machine

# Built at import because schemathesis parametrizes from the schema; its lifespan (store, workers)
# starts on the first request and ends at exit. Generated URLs must fail fast: there is no network.
_store_dir = tempfile.TemporaryDirectory(prefix="discreet-schema-")


def _from_loopback(app):
    """Anonymous requests are served only to a loopback Host from a loopback client: the generated
    requests come from schemathesis's test client, so they are given those here."""
    async def on_loopback(scope, receive, send):
        if scope["type"] == "http":
            headers = [(name, value) for name, value in scope["headers"] if name.lower() not in (b"host", b"origin")]
            scope = {**scope, "client": ("127.0.0.1", 50000), "headers": [*headers, (b"host", b"127.0.0.1")]}
        await app(scope, receive, send)

    return on_loopback


schema = schemathesis.openapi.from_asgi("/openapi.json", _from_loopback(create_app(service_settings(
    Path(_store_dir.name), preload_models=False, fetch_timeout_seconds=2, rate_limit="100000/minute"))))


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case):
    # Every check except the two that expect the document to express cross-field rules it cannot
    # (exactly one of image_base64/url/file part; scenes by name): a generated request may be
    # schema-valid and still refused with a documented 400, and a schema-invalid one may be taken.
    case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance,
                                            schemathesis.checks.negative_data_rejection])
