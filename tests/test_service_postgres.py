"""The store on a real PostgreSQL server (127.0.0.1:5432, trust auth), in a database made for the test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from service_support import b64, client, face_image, wait_for_task

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from cluster import postgres_database  # the one fresh-database helper, shared with the cluster tests


@pytest.fixture
def postgres_url():
    try:
        with postgres_database() as url:
            yield url
    except ConnectionError as exc:  # raised only while connecting: pytest does not throw test failures into fixtures
        print(exc)
        pytest.skip(str(exc))


def test_service_on_postgresql(tmp_path, data_dir, postgres_url):
    image = face_image(data_dir)
    with client(tmp_path, database_url=postgres_url) as api:
        assert api.app.state.services.store.engine.dialect.name == "postgresql"
        tasks = [{"data_id": "a", "image_base64": b64(image)}, {"data_id": "b", "image_base64": b64(b"junk")}]
        sync = api.post("/v1/scan", json={"tasks": tasks}).json()["results"]
        assert "faces" in sync[0] and sync[1]["error"]["code"] == "image_unreadable"

        submitted = api.post("/v1/scan/async", json={"tasks": tasks}, headers={"Idempotency-Key": "k1"}).json()
        again = api.post("/v1/scan/async", json={"tasks": tasks}, headers={"Idempotency-Key": "k1"}).json()
        assert [t["task_id"] for t in again["tasks"]] == [t["task_id"] for t in submitted["tasks"]]
        views = [wait_for_task(api, t["task_id"]) for t in submitted["tasks"]]
        assert [v["status"] for v in views] == ["succeeded", "failed"]
        assert views[0]["result"]["faces"] == sync[0]["faces"]
        assert api.get("/readyz").status_code == 200
        assert api.delete(f"/v1/tasks/{views[0]['task_id']}").json()["status"] == "erased"
    with client(tmp_path, database_url=postgres_url) as api:  # migrations are idempotent at the next start
        assert api.get(f"/v1/tasks/{views[1]['task_id']}").json()["status"] == "failed"


def test_moderation_on_postgresql(tmp_path, data_dir, postgres_url):
    photo = sorted((data_dir / "scenes" / "images").iterdir())[10].read_bytes()
    with client(tmp_path, database_url=postgres_url) as api:
        list_id = api.post("/v1/moderation/image-lists", json={"name": "known-bad", "kind": "block"}).json()["id"]
        added = api.post(f"/v1/moderation/image-lists/{list_id}/images", json={"image_base64": b64(photo)}).json()
        assert added["hashes"] == 5
        assert api.post("/v1/moderation/policies", json={"name": "strict", "is_default": True}).status_code == 201
        assert api.put("/v1/moderation/policies/strict", json={"is_default": True}).json()["version"] == 2
        assert api.post("/v1/moderation/term-lists", json={"name": "t", "entries": [{"term": "x"}]}).status_code == 201
        scanned = api.post("/v1/scan", json={"moderation": True, "tasks": [{"data_id": "a", "image_base64": b64(photo)}]})
        decision = scanned.json()["results"][0]["moderation"]
        assert (decision["suggestion"], decision["policy"], decision["policy_version"]) == ("block", "strict", 2)
    with client(tmp_path, database_url=postgres_url) as api:  # kept across a restart, hashes read back intact
        assert api.get(f"/v1/moderation/image-lists/{list_id}").json()["entries"] == 1
        scanned = api.post("/v1/scan", json={"moderation": True, "tasks": [{"data_id": "a", "image_base64": b64(photo)}]})
        assert scanned.json()["results"][0]["moderation"]["image_lists"][0]["entry_id"] == added["entry_id"]
