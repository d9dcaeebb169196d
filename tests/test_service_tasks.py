"""Queued tasks: polling, idempotency, expiry, cancel, tenants, rate limit."""

from __future__ import annotations

import pytest
from service_support import b64, client, face_image, settings, wait_for_task, wait_until

import discreet
from discreet.service.auth import create_key
from discreet.service.store import Store, TaskInput


def _body(image: bytes, count: int = 1) -> dict:
    return {"scenes": ["faces"], "tasks": [{"data_id": f"img-{n}", "image_base64": b64(image)} for n in range(count)]}


def test_async_scan_with_polling_and_bytes_erased(tmp_path, data_dir):
    image = face_image(data_dir)
    with client(tmp_path) as api:
        body = _body(image, 2)
        body["tasks"].append({"data_id": "broken", "image_base64": b64(b"no image")})
        answer = api.post("/v1/scan/async", json=body)
        assert answer.status_code == 202
        queued = answer.json()["tasks"]
        assert [t["data_id"] for t in queued] == ["img-0", "img-1", "broken"]
        assert {t["status"] for t in queued} == {"queued"}
        ids = [t["task_id"] for t in queued]
        assert answer.headers["location"] == f"/v1/tasks?ids={','.join(ids)}"

        views = [wait_for_task(api, task_id) for task_id in ids]
        assert [v["status"] for v in views] == ["succeeded", "succeeded", "failed"]
        assert len(views[0]["result"]["faces"]) == len(discreet.scan(image).faces)
        assert views[2]["error"]["code"] == "image_unreadable"

        listed = api.get("/v1/tasks", params={"ids": f"{ids[2]},{ids[0]},unknown-id"}).json()["tasks"]
        assert [t["task_id"] for t in listed] == [ids[2], ids[0]]

        store: Store = api.app.state.services.store
        with store.session() as session:
            assert all(session.get(TaskInput, task_id) is None for task_id in ids)


def test_idempotency_key_returns_the_same_tasks(tmp_path, data_dir):
    image = face_image(data_dir)
    with client(tmp_path) as api:
        first = api.post("/v1/scan/async", json=_body(image, 2), headers={"Idempotency-Key": "order-42"})
        again = api.post("/v1/scan/async", json=_body(image, 2), headers={"Idempotency-Key": "order-42"})
        other = api.post("/v1/scan/async", json=_body(image, 2), headers={"Idempotency-Key": "order-43"})
        ids = [t["task_id"] for t in first.json()["tasks"]]
        assert [t["task_id"] for t in again.json()["tasks"]] == ids
        assert not set(ids) & {t["task_id"] for t in other.json()["tasks"]}
        assert sum(api.app.state.services.store.tasks.count_by_status().values()) == 4
        reused = api.post("/v1/scan/async", json=_body(image, 3), headers={"Idempotency-Key": "order-42"})
        assert reused.status_code == 400 and reused.json()["error"]["code"] == "idempotency_key_reused"


def test_results_expire_and_are_erased(tmp_path, data_dir):
    with client(tmp_path, result_ttl_seconds=1, sweep_interval_seconds=0.2) as api:
        task_id = api.post("/v1/scan/async", json=_body(face_image(data_dir))).json()["tasks"][0]["task_id"]
        assert wait_for_task(api, task_id)["status"] == "succeeded"
        wait_until(lambda: api.get(f"/v1/tasks/{task_id}").status_code == 404, "the result to expire")
        # reads refuse an expired result at once; the sweep erases it on its next round
        wait_until(lambda: api.app.state.services.store.tasks.count_by_status() == {}, "the sweep to erase it")


def test_cancel_a_queued_task_and_erase_a_finished_one(tmp_path, data_dir):
    with client(tmp_path, workers=1) as api:
        tasks = api.post("/v1/scan/async", json=_body(face_image(data_dir), 20)).json()["tasks"]
        last = tasks[-1]["task_id"]
        assert api.delete(f"/v1/tasks/{last}").json() == {"task_id": last, "status": "canceled"}
        first = wait_for_task(api, tasks[0]["task_id"])
        assert first["status"] == "succeeded"
        view = wait_for_task(api, last)
        assert view["status"] == "canceled" and "result" not in view
        assert api.delete(f"/v1/tasks/{first['task_id']}").json()["status"] == "erased"
        assert api.get(f"/v1/tasks/{first['task_id']}").json()["error"]["code"] == "not_found"
        assert api.delete(f"/v1/tasks/{first['task_id']}").status_code == 404


def test_a_tenant_sees_only_its_own_tasks(tmp_path, data_dir):
    store = Store(settings(tmp_path).store_url())
    store.migrate()
    key_a, _ = create_key(store, "tenant-a")
    key_b, _ = create_key(store, "tenant-b")
    key_gone, row_gone = create_key(store, "tenant-a")
    store.keys.revoke_key(row_gone.id)
    store.close()
    as_a, as_b = {"Authorization": f"Bearer {key_a}"}, {"Authorization": f"Bearer {key_b}"}
    with client(tmp_path) as api:
        task_id = api.post("/v1/scan/async", json=_body(face_image(data_dir)), headers=as_a).json()["tasks"][0]["task_id"]
        assert wait_for_task(api, task_id, headers=as_a)["status"] == "succeeded"
        assert api.get(f"/v1/tasks/{task_id}", headers=as_b).status_code == 404
        assert api.get("/v1/tasks", params={"ids": task_id}, headers=as_b).json() == {"tasks": []}
        assert api.delete(f"/v1/tasks/{task_id}", headers=as_b).status_code == 404
        assert api.get(f"/v1/tasks/{task_id}", headers=as_a).status_code == 200
        for headers in ({}, {"Authorization": f"Bearer {key_gone}"}, {"Authorization": key_a},
                        {"Authorization": f"Bearer {key_a[:-2]}xx"}):
            answer = api.get(f"/v1/tasks/{task_id}", headers=headers)
            assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"
        assert api.get("/v1/callbacks/secret", headers=as_a).json()["secret"] != \
            api.get("/v1/callbacks/secret", headers=as_b).json()["secret"]


def test_burst_over_the_rate_limit_gets_429(tmp_path):
    with client(tmp_path, rate_limit="5/minute") as api:
        statuses = [api.get("/v1/tasks", params={"ids": "x"}) for _ in range(8)]
        assert [a.status_code for a in statuses] == [200] * 5 + [429] * 3
        limited = statuses[-1]
        assert limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60


@pytest.mark.parametrize("callback_url", ["ftp://example.org/hook", "http://127.0.0.1:9/hook", "http://[::1]/hook"])
def test_callback_url_is_checked_at_submission(tmp_path, data_dir, callback_url):
    with client(tmp_path) as api:
        body = {**_body(face_image(data_dir)), "callback_url": callback_url}
        answer = api.post("/v1/scan/async", json=body)
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "url_refused"


def test_canceling_a_running_task_drops_its_result(tmp_path):
    from datetime import timedelta

    from discreet.service.store import NewTask
    from discreet.service.store.tables import LOCAL_KEY_ID

    store = Store(settings(tmp_path).store_url())
    store.migrate()
    key = store.keys.get_key(LOCAL_KEY_ID)
    (task,), _ = store.tasks.submit(key, ["faces"], [], [NewTask("a", image=b"bytes")], callback_url="https://example.org/h")
    claimed, task_input = store.tasks.claim_next("test-worker", timedelta(minutes=1))
    assert claimed.id == task.id and task_input.image == b"bytes"
    assert store.tasks.cancel_or_erase(key.tenant, task.id, timedelta(hours=1)) == "running"
    finished = store.tasks.finish(task.id, result={"width": 1, "height": 1}, error=None, ttl=timedelta(hours=1))
    assert finished.status == "canceled" and finished.result is None and finished.callback_state is None
    with store.session() as session:
        assert session.get(TaskInput, task.id) is None
    store.close()


def test_an_unexpected_failure_ends_only_its_own_task(tmp_path, data_dir, monkeypatch):
    from discreet.service.tasks import work

    real_scan = work.scan

    def breaks_on_boom(image, scenes, attributes):
        if image == b"boom":
            raise RuntimeError("an analyzer bug")
        return real_scan(image, scenes, attributes)

    monkeypatch.setattr(work, "scan", breaks_on_boom)
    tasks = [{"data_id": "boom", "image_base64": b64(b"boom")}, {"data_id": "ok", "image_base64": b64(face_image(data_dir))}]
    with client(tmp_path) as api:
        sync = api.post("/v1/scan", json={"tasks": tasks}).json()["results"]
        assert sync[0]["error"]["code"] == "internal_error" and "faces" in sync[1]
        queued = api.post("/v1/scan/async", json={"tasks": tasks}).json()["tasks"]
        views = [wait_for_task(api, t["task_id"]) for t in queued]
        assert [v["status"] for v in views] == ["failed", "succeeded"]
        assert views[0]["error"]["code"] == "internal_error"
