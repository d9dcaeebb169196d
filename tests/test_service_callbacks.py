"""Signed callbacks end to end, verified by the receiver example of docs/callbacks.md."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from service_support import b64, client, face_image, local_server, wait_until
from standardwebhooks import WebhookVerificationError

from discreet.service.tasks.callbacks import signed_request

DOC = Path(__file__).resolve().parents[1] / "docs" / "callbacks.md"


def _docs_receiver_class() -> type:
    """The first Python block of docs/callbacks.md, run as it is written there."""
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)[0]
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - the documented example itself
    return namespace["CallbackReceiver"]


@pytest.fixture(scope="module")
def receiver_class() -> type:
    return _docs_receiver_class()


def test_signed_callback_is_retried_then_delivered(tmp_path, data_dir, receiver_class):
    image = face_image(data_dir)
    with local_server(image) as server, client(
        tmp_path, url_allowlist="127.0.0.1", callback_first_delay_seconds=0.2
    ) as api:
        server.post_statuses.extend([500])  # the first delivery fails, the retry succeeds
        body = {"scenes": ["faces"], "callback_url": server.url("/hook"),
                "tasks": [{"data_id": "by-url", "url": server.url("/image.jpg")}]}
        task_id = api.post("/v1/scan/async", json=body).json()["tasks"][0]["task_id"]

        def delivered():
            view = api.get(f"/v1/tasks/{task_id}").json()
            return view if view.get("callback", {}).get("state") == "delivered" else None

        view = wait_until(delivered, "the callback to be delivered")
        assert view["callback"]["attempts"] == 2 and view["callback"]["last_error"] is None
        assert len(server.received) == 2
        first, retry = server.received
        assert first.headers["webhook-id"] == retry.headers["webhook-id"] == task_id

        receiver = receiver_class(api.get("/v1/callbacks/secret").json()["secret"])
        task = receiver.receive(retry.body, retry.headers)
        assert task["task_id"] == task_id and task["status"] == "succeeded"
        assert task["data_id"] == "by-url" and len(task["result"]["faces"]) > 0
        assert receiver.receive(retry.body, retry.headers) is None  # a replay is not processed twice


def test_forged_and_stale_callbacks_are_rejected(receiver_class):
    secret = "whsec_" + "c2VjcmV0LW9mLXRoZS1rZXktaG9sZGVy"
    payload = {"type": "task.finished", "data": {"task_id": "t1", "status": "succeeded"}}
    body, headers = signed_request(secret, "t1", payload)
    assert receiver_class(secret).receive(body, headers)["task_id"] == "t1"

    altered = json.dumps({**payload, "data": {"task_id": "t1", "status": "failed"}}).encode()
    with pytest.raises(WebhookVerificationError):
        receiver_class(secret).receive(altered, headers)
    with pytest.raises(WebhookVerificationError):
        receiver_class("whsec_" + "b3RoZXItc2VjcmV0LW9mLWFuLWF0dGFja2Vy").receive(body, headers)
    stale_body, stale_headers = signed_request(secret, "t1", payload, now=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(WebhookVerificationError):
        receiver_class(secret).receive(stale_body, stale_headers)
    with pytest.raises(WebhookVerificationError):
        receiver_class(secret).receive(body, {k: v for k, v in headers.items() if k != "webhook-signature"})


def test_undeliverable_callback_ends_failed(tmp_path, data_dir):
    image = face_image(data_dir)
    with local_server(image) as server, client(
        tmp_path, url_allowlist="127.0.0.1", callback_first_delay_seconds=0.1, callback_retry_seconds=1
    ) as api:
        server.post_statuses.extend([503] * 50)
        body = {"callback_url": server.url("/hook"), "tasks": [{"data_id": "a", "image_base64": b64(image)}]}
        task_id = api.post("/v1/scan/async", json=body).json()["tasks"][0]["task_id"]

        def given_up():
            view = api.get(f"/v1/tasks/{task_id}").json()
            return view if view.get("callback", {}).get("state") == "failed" else None

        view = wait_until(given_up, "the callback to be given up")
        assert view["callback"]["last_error"] == "HTTP 503"
        assert view["callback"]["attempts"] == len(server.received) >= 2
