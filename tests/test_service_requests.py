"""Requests sent the wrong way get an answer that says how to send them; tasks are listed by page."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from service_support import LOOPBACK, b64, client, face_image, settings, wait_for_task

from discreet.anonymize import DEFAULT_REDACT
from discreet.geometry import COVER_METHODS
from discreet.service import auth
from discreet.service.api import dependencies
from discreet.service.api.app import create_app

MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with client(tmp_path_factory.mktemp("requests")) as test_client:
        yield test_client


def test_video_upload_without_a_video_part_names_the_part(api):
    answer = api.post("/v1/video/async", files={"file": ("clip.mp4", MP4_HEAD, "video/mp4")})
    assert answer.status_code == 400
    assert "'video'" in answer.json()["error"]["message"]


def test_a_video_sent_to_scan_points_to_the_video_route(api):
    answer = api.post("/v1/scan", data={"request": json.dumps({"tasks": [{"data_id": "clip"}]})},
                      files={"clip": ("clip.mp4", MP4_HEAD, "video/mp4")})
    (result,) = answer.json()["results"]
    assert result["error"]["code"] == "unsupported_format"
    assert "/v1/video/async" in result["error"]["message"]
    raw = api.post("/v1/scan", content=MP4_HEAD, headers={"Content-Type": "video/mp4"})
    assert raw.status_code == 400 and "/v1/video/async" in raw.json()["error"]["message"]


def test_a_raw_image_body_gets_how_to_send_it(api, data_dir):
    answer = api.post("/v1/scan", content=face_image(data_dir), headers={"Content-Type": "image/jpeg"})
    assert answer.status_code == 400
    message = answer.json()["error"]["message"]
    assert "multipart/form-data" in message and "image_base64" in message


def test_a_url_without_a_scheme_is_told_to_add_one(api):
    answer = api.post("/v1/scan", json={"tasks": [{"data_id": "x", "url": "example.com/photo.jpg"}]})
    (result,) = answer.json()["results"]
    assert "scheme" in result["error"]["message"] and "https://" in result["error"]["message"]


def test_tasks_are_listed_newest_first_by_page_and_by_status(tmp_path, data_dir):
    with client(tmp_path) as api:
        ids = []
        for n, image in enumerate([b"no image", face_image(data_dir), b"no image either"]):
            answer = api.post("/v1/scan/async", json={"tasks": [{"data_id": f"img-{n}", "image_base64": b64(image)}]})
            ids.append(answer.json()["tasks"][0]["task_id"])
            wait_for_task(api, ids[-1])  # one at a time, so their creation order is certain
        first = api.get("/v1/tasks", params={"limit": 2}).json()
        assert [t["task_id"] for t in first["tasks"]] == [ids[2], ids[1]]
        rest = api.get("/v1/tasks", params={"limit": 2, "cursor": first["next_cursor"]}).json()
        assert [t["task_id"] for t in rest["tasks"]] == [ids[0]] and rest["next_cursor"] is None
        failed = api.get("/v1/tasks", params={"status": "failed"}).json()["tasks"]
        assert [t["task_id"] for t in failed] == [ids[2], ids[0]]
        assert api.get("/v1/tasks", params={"cursor": "not-a-cursor"}).status_code == 400


def test_scenes_lists_the_scene_registry_and_the_attribute_policy(api, monkeypatch):
    from discreet.analyzers import SCENES
    from discreet.policy import REFUSED_ATTRIBUTES, SUPPORTED_ATTRIBUTES

    monkeypatch.setattr(SCENES["nudity"], "installed", classmethod(lambda cls: False))
    offer = api.get("/v1/scenes").json()
    assert [s["scene"] for s in offer["scenes"]] == list(SCENES)
    nudity = next(s for s in offer["scenes"] if s["scene"] == "nudity")
    assert nudity == {"scene": "nudity", "description": SCENES["nudity"].description, "installed": False,
                      "extra": "nudity", "coverable": False}
    coverable = {s["scene"] for s in offer["scenes"] if s["coverable"]}
    assert {"faces", "plates", "codes", "text"} <= coverable
    assert offer["cover_methods"] == list(COVER_METHODS)
    assert offer["covered_by_default"] == list(DEFAULT_REDACT)
    assert offer["task_statuses"] == ["queued", "running", "succeeded", "failed", "canceled"]
    assert {a["name"]: a["description"] for a in offer["attributes"]} == SUPPORTED_ATTRIBUTES
    assert {r["name"]: r["reason"] for r in offer["refused_attributes"]} == REFUSED_ATTRIBUTES
    assert "/v1/scenes" in api.get("/openapi.json").json()["paths"]


def test_scenes_say_whether_the_caller_needs_a_key(tmp_path, monkeypatch):
    """The page learns whether to ask for a key from this answer, not from a request refused with 401."""
    monkeypatch.setattr(dependencies, "LOCAL_MODE_CACHE_SECONDS", 0)  # a new key counts at once
    app = create_app(settings(tmp_path, preload_models=False))
    with TestClient(app, **LOOPBACK) as local, TestClient(app, base_url="http://127.0.0.1",
                                                          client=("192.0.2.7", 40000)) as remote:
        assert local.get("/v1/scenes").json()["auth"] == "none"
        assert remote.get("/v1/scenes").json()["auth"] == "key"  # anonymous requests serve only this machine
        assert local.get("/v1/scenes", headers={"Host": "attacker.example"}).json()["auth"] == "key"
        auth.create_key(app.state.services.store, "tenant")
        assert local.get("/v1/scenes").json()["auth"] == "key"


def test_docs_page_loads_only_this_servers_files(api):
    page = api.get("/docs")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert "<script>" not in page.text and "http" not in page.text
    for asset in ("docs-assets/swagger-ui-bundle.js", "docs-assets/swagger-ui.css", "swagger-init.js"):
        assert api.get(f"/{asset}").status_code == 200
