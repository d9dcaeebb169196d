"""Leases: a running task is taken over only when its process stopped renewing the lease; a task run
twice keeps its first outcome and one callback; a task that keeps killing its worker ends failed."""

from __future__ import annotations

from datetime import timedelta

from service_support import settings

from discreet.service.store import NewTask, Store
from discreet.service.store.database import utcnow
from discreet.service.store.tables import LOCAL_KEY_ID, TaskInput

TTL = timedelta(hours=1)


def _store(tmp_path) -> Store:
    store = Store(settings(tmp_path).store_url())
    store.migrate()
    return store


def test_only_an_expired_lease_is_taken_over(tmp_path):
    now = [utcnow()]
    store = Store(settings(tmp_path).store_url(), clock=lambda: now[0])
    store.migrate()
    key = store.keys.get_key(LOCAL_KEY_ID)
    (task,), _ = store.tasks.submit(key, ["faces"], [], [NewTask("a", image=b"x")], callback_url="https://example.org/h")
    claimed, _ = store.tasks.claim_next("process-a", timedelta(seconds=0.5))
    assert claimed.id == task.id and claimed.attempts == 1

    assert store.tasks.requeue_expired() == []  # process A is alive (its lease holds): nobody takes the task
    assert store.tasks.claim(task.id, "process-b", timedelta(minutes=1)) is None
    assert store.tasks.renew_leases("process-a", timedelta(seconds=0.5)) == 1
    now[0] += timedelta(seconds=0.6)  # A stops renewing: the lease runs out
    assert store.tasks.requeue_expired() == [task.id]
    retaken, task_input = store.tasks.claim(task.id, "process-b", timedelta(minutes=1))
    assert retaken.lease_owner == "process-b" and retaken.attempts == 2 and task_input.image == b"x"

    first = store.tasks.finish(task.id, result={"width": 1, "height": 1}, error=None, ttl=TTL)
    late = store.tasks.finish(task.id, result=None, error={"code": "x", "message": "late run"}, ttl=TTL)
    assert first.status == "succeeded" and late is None  # the first finish wins
    assert store.tasks.get_task(key.tenant, task.id).result == {"width": 1, "height": 1}

    assert store.callbacks.claim_callback(task.id, timedelta(minutes=1)) is True
    assert store.callbacks.claim_callback(task.id, timedelta(minutes=1)) is False  # claimed: no second sender
    store.close()


def test_release_gives_back_only_the_owners_tasks(tmp_path):
    store = _store(tmp_path)
    key = store.keys.get_key(LOCAL_KEY_ID)
    store.tasks.submit(key, ["faces"], [], [NewTask("a", image=b"x"), NewTask("b", image=b"y")])
    store.tasks.claim_next("process-a", timedelta(minutes=1))
    store.tasks.claim_next("process-b", timedelta(minutes=1))
    assert store.tasks.release("process-a") == 1
    assert store.tasks.count_by_status() == {"queued": 1, "running": 1}
    store.close()


def test_a_task_claimed_too_often_ends_failed(tmp_path):
    from discreet.service.fetch import SafeHttp
    from discreet.service.tasks.queue import TaskRunner

    service_settings = settings(tmp_path)
    store = _store(tmp_path)
    key = store.keys.get_key(LOCAL_KEY_ID)
    (task,), _ = store.tasks.submit(key, ["faces"], [], [NewTask("a", image=b"x")])
    for _ in range(2):  # two runs that died with their worker: claimed, never finished
        store.tasks.claim(task.id, "dead", timedelta(seconds=-1))
    runner = TaskRunner(store, SafeHttp(service_settings), TTL, lease=timedelta(minutes=1), max_tries=2)
    ended = runner.run(task.id)
    assert ended.status == "failed" and ended.error["code"] == "task_crashed"
    store.close()


def test_queued_images_can_wait_in_a_shared_folder(tmp_path, data_dir):
    from service_support import b64, client, face_image, wait_for_task

    inbox = tmp_path / "inbox"
    store = Store(settings(tmp_path).store_url(), input_dir=inbox)
    store.migrate()
    (waiting,), _ = store.tasks.submit(store.keys.get_key(LOCAL_KEY_ID), ["faces"], [], [NewTask("held", image=b"held bytes")])
    with store.session() as session:
        assert session.get(TaskInput, waiting.id).image is None
    assert (inbox / waiting.id).read_bytes() == b"held bytes"
    store.close()

    with client(tmp_path, input_dir=inbox) as api:
        image = b64(face_image(data_dir))
        task_id = api.post("/v1/scan/async", json={"tasks": [{"data_id": "a", "image_base64": image}]}).json()["tasks"][0]
        assert wait_for_task(api, task_id["task_id"])["status"] == "succeeded"
        assert wait_for_task(api, waiting.id)["error"]["code"] == "image_unreadable"  # the bytes came from the file
    assert list(inbox.iterdir()) == []  # every file deleted when its task ended
