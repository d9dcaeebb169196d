"""Web security and admission control of the service, and the regressions schemathesis found."""

from __future__ import annotations

import asyncio
import io
import re

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from service_support import b64, settings

from discreet.service import auth
from discreet.service.api.app import create_app
from discreet.service.api.middleware import AdmissionControl
from discreet.service.store import Store


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 16), (90, 120, 200)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    app = create_app(settings(tmp_path_factory.mktemp("hardening"), preload_models=False))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize("path", ["/", "/app.js", "/openapi.json", "/v1/tasks/nothing", "/no-such-page"])
def test_every_answer_carries_the_security_headers(api, path):
    headers = api.get(path).headers
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"


def test_cors_is_closed_by_default(api):
    simple = api.get("/openapi.json", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in simple.headers
    preflight = api.options("/v1/scan", headers={"Origin": "https://elsewhere.example",
                                                 "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code == 405


def test_cors_opens_only_to_the_configured_origins(tmp_path):
    app = create_app(settings(tmp_path, preload_models=False, cors_origins="https://app.example, https://b.example"))
    with TestClient(app) as test_client:
        asked = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        allowed = test_client.options("/v1/scan", headers={"Origin": "https://app.example", **asked})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        other = test_client.options("/v1/scan", headers={"Origin": "https://evil.example", **asked})
        assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("OPTIONS", "/v1/scan", "POST"), ("GET", "/v1/scan", "POST"), ("PUT", "/v1/tasks/abc", "DELETE, GET"),
    ("POST", "/v1/tasks", "GET"),
])
def test_a_method_a_path_does_not_take_gets_405_naming_the_methods_it_does(api, method, path, allowed):
    answer = api.request(method, path)
    assert answer.status_code == 405
    assert answer.headers["allow"] == allowed
    assert answer.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(("body", "code"), [
    (b'{"image_base64": "", "url": {}}', "invalid_request"),          # was a 500 (pydantic error escaped)
    (b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary", "invalid_request"),      # was a 500 (UnicodeDecodeError)
    (b'{"image_base64": "IMAGE", "redact": 5}', "invalid_request"),    # was a 500 (int is not iterable)
    (b'{"image_base64": "IMAGE", "redact": [{}]}', "invalid_request"),  # was a 500 (dict has no strip)
    (b'{"image_base64": "IMAGE", "scale": NaN}', "invalid_scale"),     # was accepted
    (b'{"image_base64": "IMAGE", "scale": 1e308}', "invalid_scale"),   # overflowed on a face box
])
def test_anonymize_refuses_malformed_options_with_a_400(api, body, code):
    answer = api.post("/v1/anonymize", content=body.replace(b"IMAGE", b64(_png()).encode()),
                      headers={"Content-Type": "text/plain"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == code


def test_uploaded_file_names_are_never_used_as_paths(api, tmp_path):
    target = tmp_path / "written-by-the-server"
    files = [("../../escape", (str(target), _png(), "image/png")),
             (str(tmp_path / "absolute"), ("../../../../etc/cron.d/x", _png(), "image/png"))]
    answer = api.post("/v1/scan", data={"request": '{"scenes": ["codes"]}'}, files=files)
    assert answer.status_code == 200, answer.text
    assert [r["data_id"] for r in answer.json()["results"]] == ["../../escape", str(tmp_path / "absolute")]
    assert list(tmp_path.iterdir()) == []


def test_api_keys_are_compared_in_constant_time_whether_or_not_the_id_exists(tmp_path, monkeypatch):
    store = Store(f"sqlite:///{tmp_path / 'keys.sqlite3'}")
    store.migrate()
    key, _row = auth.create_key(store, "tenant")
    compared: list[tuple[str, str]] = []
    real = auth.hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    key_id = key.split("_")[1]
    for presented in (key[:-1] + ("A" if key[-1] != "A" else "B"), f"dsk_{'0' * len(key_id)}_whatever"):
        with pytest.raises(auth.Unauthorized):
            auth.authenticate(store, f"Bearer {presented}", allow_anonymous=False)
    assert auth.authenticate(store, f"Bearer {key}", allow_anonymous=False).tenant == "tenant"
    # one digest comparison of equal-length sha256 hex strings per attempt, known id or not
    assert len(compared) == 3 and all(len(a) == len(b) == 64 for a, b in compared)
    store.close()


def test_admission_refuses_over_the_bound_with_503_and_retry_after():
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow_route(scope, receive, send):
        started.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    admission = AdmissionControl(slow_route, limit=1, paths=re.compile(r"/v1/scan"))

    async def call(path: str, method: str = "POST") -> list[dict]:
        sent: list[dict] = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        await admission({"type": "http", "method": method, "path": path, "headers": []}, receive, send)
        return sent

    async def scenario():
        first = asyncio.create_task(call("/v1/scan"))
        await started.wait()
        refused = await call("/v1/scan")
        other_route = asyncio.create_task(call("/v1/tasks", "GET"))  # not bounded: waits like the first
        release.set()
        return await first, refused, await other_route

    first, refused, other_route = asyncio.run(scenario())
    assert first[0]["status"] == 200 and other_route[0]["status"] == 200
    assert refused[0]["status"] == 503
    headers = dict(refused[0]["headers"])
    assert int(headers[b"retry-after"]) >= 1
    assert b'"overloaded"' in refused[1]["body"]
    assert admission.in_flight == 0
