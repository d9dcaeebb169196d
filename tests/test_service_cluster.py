"""Scale-out on this machine: API processes and Celery workers (`discreet worker`) on a redis-server
of the test's own (free port) and a PostgreSQL database made for the test. Tasks are real CelebA
photos; every task must end, once, with one callback, through a killed worker, a broker restart and
a task that kills its worker."""

from __future__ import annotations

import base64
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from service_support import wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
pytest.importorskip("celery")
if not shutil.which("redis-server"):
    pytest.skip("redis-server is not installed", allow_module_level=True)

from cluster import local_cluster, postgres_database

from discreet.client import read_status
from discreet.service.auth import create_key
from discreet.service.store import NewTask, Store
from discreet.service.store.tables import LOCAL_KEY_ID

CRASHING_WORKER = Path(__file__).with_name("crashing_worker.py")
DEADLINE = 400  # a hang guard on 2 shared cores, not a speed requirement
# short leases and timeouts, so a lost worker's tasks are taken over within seconds
FAST_RECOVERY = {"lease_seconds": 3, "task_time_limit_seconds": 20, "visibility_timeout_seconds": 30}


@pytest.fixture(scope="module", autouse=True)
def _postgres_reachable():
    try:
        with postgres_database():
            pass
    except ConnectionError as exc:
        pytest.skip(str(exc))


def _images(data_dir: Path, count: int, offset: int = 0) -> list[tuple[str, bytes]]:
    paths = sorted((data_dir / "celeba" / "images").glob("*.jpg"))[offset:offset + count]
    return [(path.name, path.read_bytes()) for path in paths]


def _assert_all_done_once(cluster, ids: list[str], views: list[dict]) -> None:
    assert [v["status"] for v in views] == ["succeeded"] * len(ids)
    assert all(v["result"]["width"] == 178 for v in views)
    assert set(cluster.receiver.deliveries) == set(ids)
    assert set(cluster.receiver.deliveries.values()) == {1}  # every callback once, none repeated
    assert cluster.sql("SELECT count(*) FROM tasks WHERE status = 'running'") == [(0,)]
    assert cluster.sql("SELECT count(*) FROM task_inputs") == [(0,)]  # no image bytes left behind


def test_two_apis_two_workers_and_a_worker_killed_mid_run(tmp_path, data_dir):
    with local_cluster(tmp_path, apis=2, workers=2, **FAST_RECOVERY) as cluster:
        ids = cluster.submit(_images(data_dir, 200))
        doomed = cluster.workers[0]

        def doomed_runs_a_task() -> list[str]:
            if cluster.sql("SELECT count(*) FROM tasks WHERE status = 'succeeded'")[0][0] < 20:
                return []
            # paused while looking, so a task seen running cannot end before the kill
            doomed.pause()
            owners = [f":{pid}:" for pid in doomed.children()]
            running = cluster.sql("SELECT id, lease_owner FROM tasks WHERE status = 'running'")
            held = [task_id for task_id, owner in running if any(mark in owner for mark in owners)]
            if not held:
                doomed.pause(False)
            return held

        held = wait_until(doomed_runs_a_task, "the first worker to be running a task", DEADLINE)
        doomed.kill()

        views = cluster.wait(ids, DEADLINE)
        _assert_all_done_once(cluster, ids, views)
        rerun = dict(cluster.sql("SELECT id, attempts FROM tasks WHERE id = ANY(%s)", held))
        assert all(attempts >= 2 for attempts in rerun.values())  # ran again, on the worker left

        figures = read_status(cluster.urls[1])
        assert figures["tasks queued"] == 0 and figures["tasks ended (last 5 min)"] >= len(ids)
        assert wait_until(lambda: read_status(cluster.urls[0])["workers"] == 1, "the dead worker to drop out", 30)


def test_broker_restart_mid_run(tmp_path, data_dir):
    with local_cluster(tmp_path, apis=1, workers=1, **FAST_RECOVERY) as cluster:
        ids = cluster.submit(_images(data_dir, 60))
        wait_until(lambda: cluster.sql("SELECT count(*) FROM tasks WHERE status = 'succeeded'")[0][0] >= 10,
                   "some tasks to end", DEADLINE)
        cluster.redis.stop()  # shutdown nosave: every queued message is lost

        refused = httpx.post(cluster.urls[0] + "/v1/scan/async", timeout=30,
                             json={"tasks": [{"data_id": "late", "image_base64": "aGVsbG8="}]})
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "queue_unavailable" and int(refused.headers["retry-after"]) > 0
        assert httpx.get(cluster.urls[0] + "/v1/tasks", params={"ids": ids[0]}, timeout=30).status_code == 200
        assert cluster.sql("SELECT count(*) FROM tasks WHERE data_id = 'late'") == [(0,)]  # nothing half-queued

        cluster.redis.start()
        ids += cluster.submit(_images(data_dir, 5, offset=60))
        _assert_all_done_once(cluster, ids, cluster.wait(ids, DEADLINE))


def test_a_task_that_kills_its_worker_ends_failed_and_others_finish(tmp_path, data_dir):
    with local_cluster(tmp_path, apis=1, workers=1, worker_wrapper=CRASHING_WORKER, task_max_tries=2,
                       **FAST_RECOVERY) as cluster:
        images = _images(data_dir, 10)
        ids = cluster.submit([("poison", b"POISON and then anything"), *images])
        views = cluster.wait(ids, DEADLINE)
        poisoned, *others = views
        assert poisoned["status"] == "failed" and poisoned["error"]["code"] == "task_crashed"
        assert [v["status"] for v in others] == ["succeeded"] * len(images)
        assert set(cluster.receiver.deliveries.values()) == {1} and len(cluster.receiver.deliveries) == len(ids)
        assert cluster.sql("SELECT attempts FROM tasks WHERE data_id = 'poison'") == [(3,)]
        assert cluster.workers[0].alive()

        # an API process that died between storing a task and publishing it: the task is not lost
        store = Store(cluster.database_url)
        (orphan,), _ = store.tasks.submit(store.keys.get_key(LOCAL_KEY_ID), ["faces"], [], [NewTask("orphan", image=images[0][1])])
        store.close()
        assert cluster.wait([orphan.id], DEADLINE, callbacks=False)[0]["status"] == "succeeded"


class HeldReceiver(ThreadingHTTPServer):
    """A callback receiver that answers only once ``release`` is set (or after ``hold`` seconds)."""

    daemon_threads = True

    def __init__(self, hold: float) -> None:
        self.arrived, self.release, self.hold = threading.Event(), threading.Event(), hold
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.arrived.set()
                receiver.release.wait(receiver.hold)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


def test_a_slow_callback_receiver_does_not_hold_another_tenants_task_on_a_worker(tmp_path, data_dir):
    """One worker process running one task at a time: tenant A's receiver holds its callback (well
    within the callback deadline) while tenant B's task runs and B's callback arrives."""
    hold = 150  # longer than the test waits for B's callback, so a worker that waits on A fails the test
    with local_cluster(tmp_path, apis=1, workers=1, callback_timeout_seconds=hold + 30) as cluster:
        store = Store(cluster.database_url)
        (key_a, _), (key_b, _) = create_key(store, "tenant-a"), create_key(store, "tenant-b")
        store.close()
        slow = HeldReceiver(hold)
        try:
            (name_a, image_a), (name_b, image_b) = _images(data_dir, 2)

            def submit(key: str, name: str, image: bytes, callback_url: str) -> str:
                answer = httpx.post(cluster.urls[0] + "/v1/scan/async", timeout=60,
                                    headers={"Authorization": f"Bearer {key}"},
                                    json={"scenes": ["faces"], "callback_url": callback_url,
                                          "tasks": [{"data_id": name, "image_base64": base64.b64encode(image).decode()}]})
                assert answer.status_code == 202, answer.text
                return answer.json()["tasks"][0]["task_id"]

            submit(key_a, name_a, image_a, slow.url)
            assert slow.arrived.wait(DEADLINE), "tenant A's callback never left"
            task_b = submit(key_b, name_b, image_b, cluster.receiver.url)
            # A's receiver still holds its delivery: a worker that waited on it would run B after 150 s
            assert wait_until(lambda: cluster.receiver.deliveries[task_b], "tenant B's callback", 100) == 1
        finally:
            slow.release.set()
            slow.shutdown()
            slow.server_close()
