"""Privacy audit of a real server after a mixed run (sync JSON and multipart, async, async with a
signed callback, anonymize): no image bytes left in its data folder (database, WAL, logs, any file),
no API key, callback secret or signature in its logs, and stored results hold only documented fields.
The run includes pictures added to a moderation list and sent as feedback, which keep only their hashes."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from live_server import live_server
from service_support import local_server, wait_until

from discreet.results import ScanResult

INPUTS = ["dlib-faces/2008_002470.jpg", "qr/qrcode-1/1.png", "genki4k/files/file0001.jpg",
          "dlib-faces/2008_004176.jpg", "scenes/images/maksssksksss0.jpg"]
IMAGE_SIGNATURES = {"JPEG": b"\xff\xd8\xff", "PNG": b"\x89PNG\r\n\x1a\n", "GIF": b"GIF8", "WebP": b"WEBPVP8"}
DOCUMENTED_TASK_FIELDS = {"task_id", "data_id", "status", "created_at", "started_at", "finished_at", "expires_at",
                          "result", "error", "callback"}


def _fingerprints(data: bytes) -> list[bytes]:
    """Windows of an input (past its header, where bytes are its own) and the base64 of its start."""
    windows = [data[offset:offset + 48] for offset in (len(data) // 4, len(data) // 2, len(data) - 60)]
    return [*windows, base64.b64encode(data)[:64]]


def _files_containing(folder: Path, needles: dict[str, bytes]) -> list[str]:
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        content = path.read_bytes()
        found += [f"{name} in {path.name}" for name, needle in needles.items() if needle in content]
    return found


def _pick_inputs(data_dir: Path) -> list[bytes]:
    picked = [data_dir / name for name in INPUTS]
    missing = [str(p) for p in picked if not p.is_file()]
    if missing:
        pytest.fail(f"audit inputs missing: {missing}")
    return [p.read_bytes() for p in picked]


def test_a_mixed_run_leaves_no_image_bytes_no_secrets_and_only_documented_fields(data_dir, tmp_path):
    photo, qr, small_face, second_photo, scene = _pick_inputs(data_dir)
    store_dir = tmp_path / "server"
    with local_server(photo) as receiver, live_server(store_dir, url_allowlist="127.0.0.1",
                                                      callback_first_delay_seconds="0.2") as server:
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}, timeout=300)
        sync_json = client.post("/v1/scan", json={"scenes": ["faces", "codes"], "tasks": [
            {"data_id": "sync-json", "image_base64": base64.b64encode(photo).decode()}]})
        sync_multipart = client.post("/v1/scan", data={"request": '{"scenes": ["codes"]}'},
                                     files={"sync-multipart": ("qr.png", qr, "image/png")})
        assert sync_json.status_code == sync_multipart.status_code == 200
        queued = client.post("/v1/scan/async", data={"request": '{"scenes": ["faces"]}'},
                             files={"async-multipart": ("face.jpg", small_face, "image/jpeg")}).json()["tasks"]
        queued += client.post("/v1/scan/async", json={
            "scenes": ["faces", "text"], "callback_url": receiver.url("/hook"),
            "tasks": [{"data_id": "async-callback", "image_base64": base64.b64encode(second_photo).decode()}]},
        ).json()["tasks"]
        anonymized = client.post("/v1/anonymize", files={"image": ("scene.jpg", scene, "image/jpeg")})
        assert anonymized.status_code == 200
        # pictures added to a list and sent as feedback are hashed and dropped: only hashes are kept
        list_id = client.post("/v1/moderation/image-lists", json={"name": "known", "kind": "block"}).json()["id"]
        assert client.post(f"/v1/moderation/image-lists/{list_id}/images",
                           files={"image": ("scene.jpg", scene, "image/jpeg")}).status_code == 201
        assert client.post(f"/v1/moderation/image-lists/{list_id}/images",
                           json={"image_base64": base64.b64encode(photo).decode()}).status_code == 201
        assert client.post("/v1/moderation/feedback", data={"should_be": "pass"},
                           files={"image": ("qr.png", qr, "image/png")}).status_code == 201
        moderated = client.post("/v1/scan", json={"scenes": ["faces"], "moderation": True, "tasks": [
            {"data_id": "moderated", "image_base64": base64.b64encode(scene).decode()}]}).json()["results"][0]
        assert moderated["moderation"]["suggestion"] == "block"

        def finished() -> list[dict] | None:
            views = client.get("/v1/tasks", params={"ids": ",".join(t["task_id"] for t in queued)}).json()["tasks"]
            return views if all(v["status"] == "succeeded" for v in views) and receiver.received else None

        views = wait_until(finished, "async tasks to succeed and the callback to arrive")
        wait_until(lambda: client.get(f"/v1/tasks/{queued[1]['task_id']}").json()["callback"]["state"] == "delivered",
                   "the callback to be recorded as delivered")
        for view in views:
            assert set(view) <= DOCUMENTED_TASK_FIELDS
            ScanResult.model_validate(view["result"])  # extra=forbid: nothing beyond the documented fields
        callback = receiver.received[0]
        assert json.loads(callback.body)["data"]["task_id"] == queued[1]["task_id"]
        signatures = [value for name, value in callback.headers.items() if name.lower() == "webhook-signature"]
        assert signatures
        folder_while_running = _files_containing(store_dir, _needles(photo, qr, small_face, second_photo, scene))
    # the same after shutdown, when the database has been checkpointed and closed
    folder_after = _files_containing(store_dir, _needles(photo, qr, small_face, second_photo, scene))
    assert folder_while_running == [] and folder_after == []

    log = (store_dir / "serve.log").read_bytes()
    assert b"POST /v1/scan" in log  # the log is the server's, and it did log the requests
    secrets = {"API key": server.key, "callback secret": server.webhook_secret,
               "callback secret body": server.webhook_secret.removeprefix("whsec_"),
               **{f"signature {n}": s.split(",", 1)[-1] for n, s in enumerate(signatures)}}
    assert [name for name, secret in secrets.items() if secret.encode() in log] == []


def _needles(*inputs: bytes) -> dict[str, bytes]:
    needles = {f"signature of {name}": signature for name, signature in IMAGE_SIGNATURES.items()}
    for index, data in enumerate(inputs):
        needles.update({f"input {index} window {n}": window for n, window in enumerate(_fingerprints(data))})
    return needles
