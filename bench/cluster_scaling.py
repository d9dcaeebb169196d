"""Tasks a second of a local scale-out cluster with 1 and with 2 worker processes, and the ratio.

    python bench/cluster_scaling.py [--tasks 300] [--data ../shared/data]

Each run: one API process, N ``discreet worker --concurrency 1`` processes, ``--tasks`` CelebA photos
(faces scene). The figure is worker-side throughput (first task start to last finish in the store),
so start-up and submission do not count. CPU is shared with whatever else runs on the machine.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from cluster_run import REPO, celeba, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    images = celeba(args.data, args.tasks)
    rates = {}
    for workers in (1, 2):
        figures = run(images, apis=1, workers=workers)
        assert figures["statuses"] == {"succeeded": args.tasks}, figures
        rates[workers] = figures["worker-side tasks/s"]
        print(f"{workers} worker process(es): {rates[workers]:.2f} tasks/s "
              f"(end to end {figures['end-to-end tasks/s']:.2f})", flush=True)
    print(f"scaling 1 -> 2 workers: x{rates[2] / rates[1]:.2f} on {os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
