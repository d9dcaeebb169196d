"""discreet.client against a real `discreet serve` subprocess."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from live_server import live_server
from PIL import Image
from service_support import local_server, wait_until

import discreet
from discreet.client import AsyncClient, Client, SignatureError, verify_signature
from discreet.errors import FetchError, ImageError, NotFound, PolicyError, Unauthorized, ValidationError
from discreet.results import ScanResult

FACE_PHOTO = "dlib-faces/2008_002470.jpg"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # loopback is trusted only so the test's own image and callback server can be reached
    with live_server(tmp_path_factory.mktemp("client-store"), url_allowlist="127.0.0.1") as running:
        yield running


@pytest.fixture(scope="module")
def photo(data_dir):
    return data_dir / FACE_PHOTO


@pytest.fixture(scope="module")
def expected(photo) -> ScanResult:
    return discreet.scan(photo.read_bytes(), ["faces"])


@pytest.fixture
def client(server):
    with Client(server.url, server.key) as api:
        yield api


def test_scan_paths_bytes_and_urls_in_order(client, photo, expected):
    with local_server(photo.read_bytes()) as images:
        results = client.scan(
            {
                "by-path": photo,
                "by-bytes": photo.read_bytes(),
                "by-url": images.url("/image.jpg"),
                "junk": b"no image",
                "cloud-metadata": "http://169.254.169.254/latest/meta-data/",
            },
            scenes=["faces"],
        )
    assert [r.data_id for r in results] == ["by-path", "by-bytes", "by-url", "junk", "cloud-metadata"]
    for item in results[:3]:
        assert item.ok and isinstance(item.result, ScanResult)
        assert (item.result.width, item.result.height) == (expected.width, expected.height)
        assert [f.box for f in item.result.faces] == [f.box for f in expected.faces]
    assert isinstance(results[3].error, ImageError) and results[3].error.code == "image_unreadable"
    assert isinstance(results[4].error, FetchError) and results[4].error.code == "url_refused"


def test_default_data_ids_are_file_names(client, photo):
    (item,) = client.scan([photo])
    assert item.data_id == photo.name and item.ok


def test_errors_are_raised_with_the_server_code(server, client, photo):
    with pytest.raises(PolicyError) as refused:
        client.scan(photo, attributes=["age"])
    assert refused.value.code == "attribute_refused_by_policy" and refused.value.http_status == 403
    assert refused.value.request_id
    with pytest.raises(NotFound) as missing:
        client.get_task("no-such-task")
    assert missing.value.code == "not_found"
    with Client(server.url, "dsk_0_wrong") as stranger, pytest.raises(Unauthorized) as denied:
        stranger.scan(photo)
    assert denied.value.code == "unauthorized"


def test_async_scan_waits_lists_and_deletes(client, photo, expected):
    tasks = client.scan_async({"a": photo, "b": photo}, idempotency_key="client-test-1", wait=True, poll_interval=0.1)
    assert [t.data_id for t in tasks] == ["a", "b"]
    assert all(t.status == "succeeded" and t.finished for t in tasks)
    assert [f.box for f in tasks[0].result.faces] == [f.box for f in expected.faces]
    again = client.scan_async({"a": photo, "b": photo}, idempotency_key="client-test-1")
    assert [t.task_id for t in again] == [t.task_id for t in tasks]
    assert client.get_task(tasks[0].task_id).result == tasks[0].result
    assert [t.task_id for t in client.list_tasks([tasks[1].task_id, tasks[0].task_id])] == [
        tasks[1].task_id, tasks[0].task_id,
    ]
    assert client.delete_task(tasks[0].task_id) == "erased"
    with pytest.raises(NotFound):
        client.get_task(tasks[0].task_id)
    with pytest.raises(NotFound):  # an erased task never "finishes": waiting on it is an error
        client.wait([tasks[0].task_id, tasks[1].task_id])


def test_anonymize_returns_the_covered_image(client, photo):
    original = Image.open(photo)
    with local_server(photo.read_bytes()) as images:
        answers = [client.anonymize(photo, method="pixelate"), client.anonymize(images.url("/image.jpg"))]
    for covered in answers:
        output = Image.open(io.BytesIO(covered))
        assert output.format == original.format and output.size == original.size
        assert output.convert("RGB").tobytes() != original.convert("RGB").tobytes()
    with pytest.raises(ValidationError) as refused:
        client.anonymize(photo, method="smudge")
    assert refused.value.code == "unknown_method"


def test_signed_callback_verifies_and_a_tampered_one_does_not(client, photo):
    secret = client.callback_secret()
    with local_server(photo.read_bytes()) as receiver:
        (task,) = client.scan_async(photo, callback_url=receiver.url("/hook"), wait=True, poll_interval=0.1)
        delivery = wait_until(lambda: receiver.received, "the callback")[0]
    payload = verify_signature(secret, delivery.headers, delivery.body)
    assert payload["type"] == "task.finished" and payload["data"]["task_id"] == task.task_id
    tampered = json.dumps({**payload, "data": {**payload["data"], "status": "failed"}}, separators=(",", ":")).encode()
    with pytest.raises(SignatureError) as rejected:
        verify_signature(secret, delivery.headers, tampered)
    assert rejected.value.code == "invalid_signature"


def test_async_client_does_the_same(server, photo, expected):
    async def run() -> tuple:
        async with AsyncClient(server.url, server.key) as api:
            (now,) = await api.scan([photo])
            (queued,) = await api.scan_async([photo], wait=True, poll_interval=0.1)
            covered = await api.anonymize(photo)
            with pytest.raises(PolicyError):
                await api.scan(photo, attributes=["ethnicity"])
            return now, queued, covered

    now, queued, covered = asyncio.run(run())
    assert [f.box for f in now.result.faces] == [f.box for f in expected.faces]
    assert queued.status == "succeeded" and queued.result == now.result
    assert Image.open(io.BytesIO(covered)).size == (expected.width, expected.height)
