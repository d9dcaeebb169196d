"""Synchronous routes of the HTTP service: scan, anonymize, errors, operations."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from service_support import b64, client, face_image

import discreet


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with client(tmp_path_factory.mktemp("scan")) as test_client:
        yield test_client


def test_multi_task_scan_keeps_order_and_isolates_a_bad_task(api, data_dir):
    image = face_image(data_dir)
    expected = discreet.scan(image, ["faces"])
    body = {
        "scenes": ["faces"],
        "tasks": [
            {"data_id": "first", "image_base64": b64(image)},
            {"data_id": "broken", "image_base64": b64(b"these bytes are no image")},
            {"data_id": "not-base64", "image_base64": "%%%"},
            {"data_id": "loopback-url", "url": "http://127.0.0.1/x.jpg"},
            {"data_id": "last", "image_base64": b64(image)},
        ],
    }
    answer = api.post("/v1/scan", json=body)
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [r["data_id"] for r in results] == ["first", "broken", "not-base64", "loopback-url", "last"]
    for good in (results[0], results[4]):
        assert "error" not in good
        assert (good["width"], good["height"]) == (expected.width, expected.height)
        assert len(good["faces"]) == len(expected.faces) > 0
    assert results[1]["error"]["code"] == "image_unreadable"
    assert results[2]["error"]["code"] == "image_unreadable"
    assert results[3]["error"]["code"] == "url_refused"


def test_multipart_files_are_named_by_data_id(api, data_dir):
    image = face_image(data_dir)
    request = {"scenes": ["faces"], "tasks": [{"data_id": "photo"}]}
    answer = api.post(
        "/v1/scan",
        data={"request": json.dumps(request)},
        files=[("photo", ("a.jpg", image, "image/jpeg")), ("extra", ("b.jpg", b"junk", "image/jpeg"))],
    )
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [r["data_id"] for r in results] == ["photo", "extra"]
    assert len(results[0]["faces"]) == len(discreet.scan(image).faces)
    assert results[1]["error"]["code"] == "image_unreadable"


def test_refused_attribute_is_the_policy_error(api, data_dir):
    answer = api.post(
        "/v1/scan",
        json={"attributes": ["smile", "ethnicity"], "tasks": [{"data_id": "a", "image_base64": b64(face_image(data_dir))}]},
        headers={"X-Request-ID": "req-policy-1"},
    )
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["code"] == discreet.PolicyError.code == "attribute_refused_by_policy"
    assert error["request_id"] == "req-policy-1" == answer.headers["x-request-id"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"tasks": [{"data_id": str(n), "url": "https://example.org/x.jpg"} for n in range(101)]}, 413, "too_many_tasks"),
        ({"tasks": []}, 400, "invalid_request"),
        ({"scenes": ["palmistry"], "tasks": [{"data_id": "a", "url": "https://example.org/x.jpg"}]}, 400, "unknown_scene"),
        ({"tasks": [{"data_id": "a", "image_base64": "x", "colour": 1}]}, 400, "invalid_request"),
        ({"tasks": "all of them"}, 400, "invalid_request"),
    ],
)
def test_request_errors_have_one_shape(api, body, status, code):
    answer = api.post("/v1/scan", json=body)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["code"] == code
    assert error["message"] and error["request_id"] == answer.headers["x-request-id"]


def test_query_validation_error_has_the_same_shape(api):
    answer = api.get("/v1/tasks", params={"limit": 0})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_request" and "limit" in answer.json()["error"]["message"]


def test_unknown_route_and_body_over_limit(tmp_path):
    with client(tmp_path, max_request_bytes=1000) as small:
        assert small.get("/v1/nothing").json()["error"]["code"] == "not_found"
        answer = small.post("/v1/scan", content=b"{" + b" " * 2000 + b"}", headers={"content-type": "application/json"})
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == "payload_too_large"


def test_anonymize_returns_a_covered_image(api, data_dir):
    image = face_image(data_dir)
    answer = api.post("/v1/anonymize", files={"image": ("a.jpg", image, "image/jpeg")}, data={"method": "solid"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/jpeg"
    covered = Image.open(io.BytesIO(answer.content))
    assert covered.size == Image.open(io.BytesIO(image)).size
    assert int(answer.headers["x-discreet-regions"]) > 0
    assert len(discreet.scan(answer.content, ["faces"]).faces) < len(discreet.scan(image, ["faces"]).faces)
    wrong = api.post("/v1/anonymize", json={"image_base64": b64(image), "method": "smudge"})
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "unknown_method"


def test_operations_routes(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").status_code == 200
    metrics = api.get("/metrics").text
    assert 'discreet_http_requests_total{method="POST",route="/v1/scan"' in metrics
    assert "discreet_queue_depth" in metrics and "discreet_tasks_total" in metrics
    spec = api.get("/openapi.json").json()
    scan_responses = spec["paths"]["/v1/scan"]["post"]["responses"]
    assert scan_responses["429"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
