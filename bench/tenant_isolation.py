"""Tenant isolation: tenant B's synchronous scans without and during tenant A's attacks, in one run.

    python bench/tenant_isolation.py                 # 30 s without, 30 s during the attack
    python bench/tenant_isolation.py --seconds 20 --victims 2

Starts a real ``discreet serve`` (temporary store, two tenants' keys, ``DISCREET_URL_ALLOWLIST=127.0.0.1``
so a hostile server on loopback is reached, 5 s fetch and callback deadlines, 10 s body deadline) and a
hostile server on loopback that sends its status line and headers one byte every half second. Tenant B
runs ``--victims`` clients in a closed loop of ``POST /v1/scan`` (one photo each), first alone, then
while tenant A at once:

* sends ``POST /v1/scan`` requests of 20 URLs on the hostile server, one after another from 2 clients;
* holds 2 ``POST /v1/scan`` bodies open, one byte a second (each ends at the body deadline; it is
  opened again);
* queues one async scan a second whose ``callback_url`` is on the hostile server (with a second key
  of tenant A, so these do not compete with the slow requests above for the first key's share).

An attacker refused (503) tries again after ``REFUSED_PAUSE_SECONDS``: these are slow attacks, not a
flood (which the per-key rate limit answers). Prints B's p50/p99 latency and refusals without and
during the attack, the p99 ratio (the target is under 2, with no refusal of B), and what A's
requests were answered.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DISCREET_DATA", REPO.parent / "shared" / "data"))
PHOTO = DATA / "dlib-faces" / "2008_002470.jpg"
sys.path.insert(0, str(REPO / "tests"))
from live_server import live_server  # the one way the project starts a real server
from service_support import dripping_server  # the hostile server of the deadline tests

URLS_PER_REQUEST = 20
# together the per-key bound (DISCREET_MAX_IN_FLIGHT_PER_KEY, 4): more of either is refused at once
URL_ATTACKERS = 2
SLOW_BODIES = 2
SLOW_BODY_BYTE_SECONDS = 1.0
REFUSED_PAUSE_SECONDS = 0.5
DEADLINES = {"fetch_timeout_seconds": "5", "callback_timeout_seconds": "5", "body_timeout_seconds": "10"}


def scan_body(image: bytes) -> dict:
    return {"scenes": ["faces"], "tasks": [{"data_id": "photo", "image_base64": base64.b64encode(image).decode()}]}


def create_key(data_dir: Path, tenant: str) -> str:
    env = {**os.environ, "DISCREET_DATA_DIR": str(data_dir)}
    env.pop("DISCREET_DATABASE_URL", None)
    created = subprocess.run([sys.executable, "-c", "from discreet.cli import app; app()", "keys", "create", tenant],
                             env=env, capture_output=True, text=True, check=True)
    return json.loads(created.stdout)["key"]


def victims(url: str, key: str, clients: int, seconds: float) -> list[tuple[int, float]]:
    """(status, ms) of every scan tenant B's closed-loop clients sent in ``seconds``."""
    body, answers, deadline = scan_body(PHOTO.read_bytes()), [], time.monotonic() + seconds

    def loop() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                status = client.post("/v1/scan", json=body).status_code
                answers.append((status, (time.perf_counter() - started) * 1000))

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


class Attack:
    """Tenant A's three attacks, each in its own threads, until ``stop``; counts A's answers."""

    def __init__(self, url: str, key: str, callback_key: str, hostile_port: int) -> None:
        self.url, self.key, self.callback_key = url, key, callback_key
        self.hostile = f"http://127.0.0.1:{hostile_port}"
        self.stop = threading.Event()
        self.answers: Counter = Counter()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.hostile_urls, daemon=True) for _ in range(URL_ATTACKERS)]
        self.threads += [threading.Thread(target=self.slow_body, daemon=True) for _ in range(SLOW_BODIES)]
        self.threads.append(threading.Thread(target=self.slow_callbacks, daemon=True))

    def count(self, attack: str, status: int | str) -> None:
        with self.lock:
            self.answers[f"{attack}: {status}"] += 1
        if status == 503:
            self.stop.wait(REFUSED_PAUSE_SECONDS)

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=300)

    def hostile_urls(self) -> None:
        tasks = [{"data_id": str(n), "url": f"{self.hostile}/{n}.jpg"} for n in range(URLS_PER_REQUEST)]
        with self.client(self.key) as client:
            while not self.stop.is_set():
                answer = client.post("/v1/scan", json={"scenes": ["faces"], "tasks": tasks})
                self.count("hostile urls", answer.status_code)

    def slow_body(self) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        head = (f"POST /v1/scan HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {self.key}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n").encode()
        while not self.stop.is_set():
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                conn.sendall(head)
                conn.settimeout(SLOW_BODY_BYTE_SECONDS)
                answer = b""
                while not self.stop.is_set() and not answer:
                    try:
                        conn.sendall(b"{")
                        answer = conn.recv(64)
                        if not answer:
                            break  # closed without an answer
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                self.count("slow body", int(answer.split(b" ")[1]) if answer.count(b" ") else "closed")

    def slow_callbacks(self) -> None:
        body = {**scan_body(PHOTO.read_bytes()), "callback_url": f"{self.hostile}/hook"}
        with self.client(self.callback_key) as client:
            while not self.stop.wait(1.0):
                self.count("async with slow callback", client.post("/v1/scan/async", json=body).status_code)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def end(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def summary(answers: list[tuple[int, float]], seconds: float) -> dict:
    served = np.array([ms for status, ms in answers if status == 200])
    return {
        "served_req_per_s": round(len(served) / seconds, 2),
        "p50_ms": round(float(np.percentile(served, 50)), 1) if served.size else None,
        "p99_ms": round(float(np.percentile(served, 99)), 1) if served.size else None,
        "answers_by_status": dict(sorted(Counter(status for status, _ in answers).items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="length of each phase")
    parser.add_argument("--victims", type=int, default=2, help="tenant B's closed-loop clients")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="discreet-isolation-") as folder, \
            dripping_server(byte_interval=0.5) as hostile_port, \
            live_server(Path(folder), tenant="tenant-a", rate_limit="1000000/minute", url_allowlist="127.0.0.1", **DEADLINES) as server:
        key_b = create_key(Path(folder), "tenant-b")
        callback_key_a = create_key(Path(folder), "tenant-a")
        victims(server.url, key_b, args.victims, 3)  # warm-up
        alone = victims(server.url, key_b, args.victims, args.seconds)
        attack = Attack(server.url, server.key, callback_key_a, hostile_port)
        attack.start()
        time.sleep(2)  # every attack under way before B is measured again
        attacked = victims(server.url, key_b, args.victims, args.seconds)
        attack.end()
    without, during = summary(alone, args.seconds), summary(attacked, args.seconds)
    ratio = during["p99_ms"] / without["p99_ms"] if during["p99_ms"] and without["p99_ms"] else None
    print(json.dumps({
        "victim_clients": args.victims, "phase_seconds": args.seconds,
        "tenant_b_without_attack": without, "tenant_b_during_attack": during,
        "p99_ratio_during_over_without": round(ratio, 2) if ratio else None, "target_ratio": "< 2",
        "tenant_a_answers": dict(sorted(attack.answers.items())),
        "machine_load_average": round(os.getloadavg()[0], 1),
    }, indent=2))


if __name__ == "__main__":
    main()
