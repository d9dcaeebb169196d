"""The web page reads task states as strings: the ones it names are the enum's values."""

from __future__ import annotations

import re
from pathlib import Path

from discreet.states import FINISHED, TaskStatus

PAGE = Path(__file__).resolve().parents[1] / "src" / "discreet" / "service" / "web" / "app.js"


def test_the_page_names_the_same_task_states():
    script = PAGE.read_text()
    finished = re.search(r"const FINISHED = new Set\(\[([^\]]*)\]\)", script).group(1)
    assert {name.strip().strip('"') for name in finished.split(",")} == {str(s) for s in FINISHED}
    compared = set(re.findall(r'status === "([a-z]+)"', script))
    assert compared and compared <= {str(s) for s in TaskStatus}
