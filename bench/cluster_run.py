"""Run a batch of async tasks through a local scale-out cluster and check nothing is lost.

    python bench/cluster_run.py --tasks 5000 [--apis 2] [--workers 2] [--concurrency 1] [--data ../shared/data]

Starts its own redis-server (free port), a fresh PostgreSQL database on 127.0.0.1:5432 (dropped
after), ``--apis`` ``discreet serve`` processes and ``--workers`` ``discreet worker`` processes, then
queues ``--tasks`` CelebA photos (faces scene, one callback each) in requests of 20 spread over the
API processes. Prints the outcome counts, callbacks per task, lost tasks, and throughput: end to end
(first request to last callback) and worker side (first start to last finish in the store).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from cluster import local_cluster

REPO = Path(__file__).resolve().parents[1]


def celeba(data: Path, count: int) -> list[tuple[str, bytes]]:
    paths = sorted((data / "celeba" / "images").glob("*.jpg"))
    if count > len(paths):
        raise SystemExit(f"only {len(paths)} CelebA images in {data}")
    return [(p.name, p.read_bytes()) for p in paths[:count]]


def run(images: list[tuple[str, bytes]], *, apis: int, workers: int, concurrency: int = 1) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir, local_cluster(
        Path(workdir), apis=apis, workers=workers, concurrency=concurrency
    ) as cluster:
        started = time.perf_counter()
        ids = cluster.submit(images)
        submitted = time.perf_counter() - started
        views = cluster.wait(ids, deadline=6 * 3600)
        elapsed = time.perf_counter() - started
        (worker_seconds,) = cluster.sql(
            "SELECT extract(epoch FROM max(finished_at) - min(started_at)) FROM tasks WHERE id = ANY(%s)", ids)[0]
        deliveries = Counter(cluster.receiver.deliveries[i] for i in ids)
        return {
            "tasks": len(ids), "statuses": dict(Counter(v["status"] for v in views)),
            "lost": len(ids) - len(views), "callbacks per task": dict(deliveries),
            "extra callbacks": sum(cluster.receiver.deliveries.values()) - len(ids),
            "submit seconds": round(submitted, 1), "end-to-end seconds": round(elapsed, 1),
            "end-to-end tasks/s": round(len(ids) / elapsed, 2),
            "worker-side tasks/s": round(len(ids) / float(worker_seconds), 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--apis", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    figures = run(celeba(args.data, args.tasks), apis=args.apis, workers=args.workers, concurrency=args.concurrency)
    for name, value in figures.items():
        print(f"{name:>22}: {value}")
    ok = figures["statuses"] == {"succeeded": args.tasks} and figures["callbacks per task"] == {1: args.tasks}
    print("all succeeded, every callback once" if ok else "PROBLEM: see the counts above")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
