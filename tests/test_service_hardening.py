"""Web security and admission control of the service, and the regressions schemathesis found."""

from __future__ import annotations

import asyncio
import io
import os
import re
import stat
import threading
import time

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from PIL import Image
from service_support import LOOPBACK, b64, dripping_server, settings

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
    with TestClient(app, raise_server_exceptions=False, **LOOPBACK) as test_client:
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
    with TestClient(app, **LOOPBACK) as test_client:
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
                      headers={"Content-Type": "application/json"})
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
        await receive()  # the body has arrived: the request now holds a work slot
        started.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    admission = _admission(slow_route, limit=1, per_key=1)

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
        queued = asyncio.create_task(call("/v1/scan"))  # its body is there: it waits for the work slot
        while admission.waiting.total < 1:
            await asyncio.sleep(0)
        refused = await call("/v1/scan")  # no waiting place left: refused at once
        other_route = asyncio.create_task(call("/v1/tasks", "GET"))  # not bounded: waits like the first
        release.set()
        return await first, await queued, refused, await other_route

    first, queued, refused, other_route = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert first[0]["status"] == 200 and queued[0]["status"] == 200 and other_route[0]["status"] == 200
    assert refused[0]["status"] == 503
    headers = dict(refused[0]["headers"])
    assert int(headers[b"retry-after"]) >= 1
    assert b'"overloaded"' in refused[1]["body"]
    assert admission.working.total == 0 and admission.waiting.total == 0 and admission.receiving.total == 0


def test_one_key_holding_its_share_of_slots_leaves_the_rest_to_other_keys():
    """A tenant whose bodies are slow holds its own slots; another key (or none) is still admitted."""
    release = asyncio.Event()
    held = 0

    async def slow_route(scope, receive, send):
        nonlocal held
        await receive()
        held += 1
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    admission = _admission(slow_route, limit=3, per_key=1)

    async def call(key: str) -> int:
        sent: list[dict] = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        headers = [(b"authorization", f"Bearer dsk_{key}_secret".encode())] if key else []
        await admission({"type": "http", "method": "POST", "path": "/v1/scan", "headers": headers}, receive, send)
        return sent[0]["status"]

    async def scenario():
        first_of_a = asyncio.create_task(call("aaaa"))
        while held < 1:
            await asyncio.sleep(0)
        second_of_a = asyncio.create_task(call("aaaa"))  # waits: A's one work slot is taken
        while admission.waiting.by_key["aaaa"] < 1:
            await asyncio.sleep(0)
        third_of_a = await call("aaaa")  # over A's share of waiting places: refused at once
        others = [asyncio.create_task(call("bbbb")), asyncio.create_task(call(""))]
        while held < 3:  # B and the anonymous caller are served beside A's first
            await asyncio.sleep(0)
        release.set()
        return await first_of_a, await second_of_a, third_of_a, [await other for other in others]

    answers = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert answers == (200, 200, 503, [200, 200])
    assert admission.working.total == 0 and admission.waiting.total == 0 and not admission.working.by_key


def _admission(app, *, limit: int, per_key: int, waiting: int | None = None) -> AdmissionControl:
    return AdmissionControl(app, limit=limit, per_key=per_key, waiting=waiting or limit, receiving_bytes=100_000_000,
                            max_body=1_000_000, paths=re.compile(r"/v1/scan"))


def test_a_body_still_arriving_holds_no_work_slot():
    """One work slot: a request whose body is still on its way does not keep a ready one waiting or refused."""
    first_chunk_read, rest_of_body = asyncio.Event(), asyncio.Event()

    async def reads_then_answers(scope, receive, send):
        while (await receive()).get("more_body"):
            first_chunk_read.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    admission = _admission(reads_then_answers, limit=1, per_key=1, waiting=2)

    async def call(chunks: list[bytes], wait_before_last: asyncio.Event | None = None) -> int:
        sent: list[dict] = []
        pending = list(chunks)

        async def receive():
            if len(pending) == 1 and wait_before_last is not None:
                await wait_before_last.wait()
            return {"type": "http.request", "body": pending.pop(0), "more_body": len(pending) > 0}

        async def send(message):
            sent.append(message)

        length = str(sum(map(len, chunks))).encode()
        await admission({"type": "http", "method": "POST", "path": "/v1/scan", "headers": [(b"content-length", length)]},
                        receive, send)
        return sent[0]["status"]

    async def scenario():
        slow = asyncio.create_task(call([b"{", b"}"], wait_before_last=rest_of_body))
        await first_chunk_read.wait()
        ready = await call([b"{}"])  # served while the slow body is still arriving
        rest_of_body.set()
        return ready, await slow

    assert asyncio.run(asyncio.wait_for(scenario(), 30)) == (200, 200)
    assert admission.working.total == 0 and admission.waiting.total == 0 and admission.receiving.total == 0


def _asgi_call(app, method: str, path: str, receive, headers=()) -> list[dict]:
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def run():
        await app({"type": "http", "method": method, "path": path, "headers": list(headers), "query_string": b"",
                   "root_path": "", "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
                   "http_version": "1.1", "app": app}, receive, send)

    asyncio.run(run())
    return sent


def test_a_body_that_does_not_arrive_in_time_gets_408_and_frees_its_slot():
    from discreet.service.api.middleware import RequestContext

    async def reads_the_body(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read"})

    admission = _admission(reads_the_body, limit=1, per_key=1)
    app = RequestContext(admission, max_body=1_000_000, body_timeout=0.3)
    chunks = iter([{"type": "http.request", "body": b"{", "more_body": True}])

    async def slow_receive():
        for chunk in chunks:
            return chunk
        await asyncio.sleep(30)  # the rest never comes (bounded by the body deadline)
        return {"type": "http.disconnect"}

    started = time.monotonic()
    sent = _asgi_call(app, "POST", "/v1/scan", slow_receive)
    assert time.monotonic() - started < 3
    assert sent[0]["status"] == 408 and b'"request_timeout"' in sent[1]["body"]
    assert admission.working.total == 0 and admission.waiting.total == 0 and admission.receiving.total == 0


def test_admission_covers_the_async_upload_routes():
    from discreet.service.api.middleware import ADMITTED_PATHS

    for path in ("/v1/scan", "/v1/anonymize", "/v1/scan/async", "/v1/video/async"):
        assert ADMITTED_PATHS.fullmatch(path), path


def test_an_async_image_over_the_image_limit_is_refused_and_nothing_is_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("DISCREET_IMAGE_MAX_BYTES", "1000")
    app = create_app(settings(tmp_path, preload_models=False))
    with TestClient(app, **LOOPBACK) as test_client:
        big = b64(b"\xff" * 5000)
        answer = test_client.post("/v1/scan/async", json={"tasks": [{"data_id": "big", "image_base64": big}]})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "image_too_large"
        assert app.state.services.store.tasks.count_by_status() == {}


def test_deeply_nested_json_is_a_400_with_request_id_and_security_headers(api):
    body = b"[" * 100_000 + b"]" * 100_000
    answer = api.post("/v1/anonymize", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.headers["x-request-id"] and answer.headers["x-content-type-options"] == "nosniff"
    assert answer.json()["error"]["code"] == "invalid_request"


def test_a_client_disconnecting_mid_body_is_one_log_line():
    from starlette.requests import ClientDisconnect

    from discreet.service.api.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.post("/v1/echo")
    async def echo(request: Request) -> dict:
        await request.body()
        return {}

    messages = iter([{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}])

    async def receive():
        return next(messages)

    from unittest import mock

    from discreet.service.api import errors

    with mock.patch.object(errors, "log") as log:
        sent = _asgi_call(app, "POST", "/v1/echo", receive, headers=[(b"content-type", b"application/json")])
    assert sent[0]["status"] == 400, sent
    assert log.info.call_count == 1 and "disconnected" in log.info.call_args[0][0]
    assert not log.exception.called and not log.error.called
    assert ClientDisconnect  # the exception starlette raises, answered without a traceback


@pytest.mark.parametrize(("headers", "status"), [
    ({"Host": "attacker.example"}, 403),                         # DNS rebinding: the Host is the attacker's name
    ({"Host": "localhost.attacker.example:8000"}, 403),
    ({"Host": "localhost:8000"}, 200), ({"Host": "[::1]:8000"}, 200), ({"Host": "127.0.0.1"}, 200),
    ({"Origin": "https://attacker.example"}, 403),
    ({"Origin": "http://127.0.0.1"}, 200),                        # the page served by this server
])
def test_anonymous_requests_need_a_loopback_host_and_their_own_origin(api, headers, status):
    answer = api.post("/v1/scan", json={"tasks": [{"data_id": "x", "image_base64": b64(_png())}],
                                        "scenes": ["codes"]}, headers=headers)
    assert answer.status_code == status, answer.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_anonymous_simple_posts_are_refused_with_415(api, content_type):
    answer = api.post("/v1/anonymize", content=b'{"image_base64": "x"}', headers={"Content-Type": content_type})
    assert answer.status_code == 415, answer.text
    assert answer.json()["error"]["code"] == "unsupported_media_type"


def test_anonymous_requests_from_a_non_loopback_client_are_refused(tmp_path):
    app = create_app(settings(tmp_path, preload_models=False))
    with TestClient(app, base_url="http://127.0.0.1", client=("192.0.2.7", 40000)) as remote:
        answer = remote.get("/v1/tasks/nothing")
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"


def test_a_key_created_while_running_ends_anonymous_access(tmp_path, monkeypatch):
    from discreet.service.api import dependencies

    monkeypatch.setattr(dependencies, "LOCAL_MODE_CACHE_SECONDS", 0.2)
    app = create_app(settings(tmp_path, preload_models=False))
    with TestClient(app, **LOOPBACK) as test_client:
        assert test_client.get("/v1/tasks/nothing").status_code == 404
        auth.create_key(app.state.services.store, "tenant")
        time.sleep(0.3)
        assert test_client.get("/v1/tasks/nothing").status_code == 401


def test_hostile_urls_in_one_request_do_not_starve_other_callers(tmp_path):
    app = create_app(settings(tmp_path, preload_models=False, url_allowlist="127.0.0.1", fetch_timeout_seconds=3))
    with dripping_server(byte_interval=0.2) as port, TestClient(app, **LOOPBACK) as test_client:
        tasks = [{"data_id": str(n), "url": f"http://127.0.0.1:{port}/{n}.jpg"} for n in range(60)]
        hostile = threading.Thread(target=lambda: test_client.post("/v1/scan", json={"tasks": tasks}), daemon=True)
        hostile.start()
        time.sleep(0.5)
        started = time.monotonic()
        assert test_client.get("/v1/tasks/nothing").status_code == 404
        assert time.monotonic() - started < 1.0
        hostile.join(60)
        assert not hostile.is_alive()


def test_the_database_file_and_data_folder_are_private(tmp_path):
    data = tmp_path / "data"
    app = create_app(settings(data, preload_models=False))
    with TestClient(app, **LOOPBACK) as test_client:
        test_client.get("/v1/tasks/nothing")
        assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
        for path in data.iterdir():
            if path.name.startswith("discreet.sqlite3"):
                assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


def test_callbacks_go_out_concurrently_and_the_housekeeper_does_not_wait_on_them():
    from datetime import datetime
    from types import SimpleNamespace

    from discreet.service.tasks.callbacks import CallbackSender

    tasks = [SimpleNamespace(id=f"t{n}", key_id="k", callback_url=f"https://hook.example/{n}", callback_attempts=0,
                             finished_at=datetime(2026, 1, 1)) for n in range(4)]
    recorded: list[str] = []
    secret = "whsec_" + b64(b"0" * 24)
    store = SimpleNamespace(
        callbacks=SimpleNamespace(due_callbacks=lambda: tasks, claim_callback=lambda task_id, hold: True,
                                  record_callback=lambda task_id, **kw: recorded.append(task_id)),
        keys=SimpleNamespace(get_key=lambda key_id: SimpleNamespace(webhook_secret=secret)))
    gate = threading.Barrier(4, timeout=5)  # all four must be in flight at once

    class SlowReceivers:
        def post(self, url, content, headers):
            gate.wait()
            return 204

    sender = CallbackSender(store, SlowReceivers(), first_delay=1, give_up_after=60, concurrency=4)
    started = time.monotonic()
    assert sender.deliver_due(lambda task: {"task_id": task.id}) == 4
    assert time.monotonic() - started < 0.5
    deadline = time.monotonic() + 5
    while not sender.idle() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(recorded) == ["t0", "t1", "t2", "t3"]
    sender.close()


def test_an_expired_result_is_not_served_even_when_the_sweep_is_late(tmp_path):
    app = create_app(settings(tmp_path, preload_models=False, result_ttl_seconds=1, sweep_interval_seconds=3600))
    with TestClient(app, **LOOPBACK) as test_client:
        answer = test_client.post("/v1/scan/async", json={"tasks": [{"data_id": "x", "image_base64": b64(_png())}],
                                                          "scenes": ["codes"]})
        assert answer.status_code == 202, answer.text
        task_id = answer.json()["tasks"][0]["task_id"]
        deadline = time.monotonic() + 30
        while test_client.get(f"/v1/tasks/{task_id}").json().get("status") not in ("succeeded", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.5)
        assert test_client.get(f"/v1/tasks/{task_id}").status_code == 404
        assert test_client.get("/v1/tasks", params={"ids": task_id}).json()["tasks"] == []
