"""`discreet scan --remote`: a batch through the service, interrupted, then resumed from its state file."""

from __future__ import annotations

import json
import shutil

import pytest
from service_support import client
from typer.testing import CliRunner

from discreet.cli import app
from discreet.client import Client, RemoteBatch, read_state


class Interrupted(Exception):
    pass


def test_an_interrupted_batch_resumes_without_sending_done_images_again(tmp_path, data_dir, monkeypatch):
    folder = tmp_path / "images"
    folder.mkdir()
    for path in sorted((data_dir / "celeba" / "images").glob("*.jpg"))[:6]:
        shutil.copy(path, folder / path.name)
    (folder / "broken.jpg").write_bytes(b"not an image")
    sources = {str(p): p for p in sorted(folder.iterdir())}
    state = tmp_path / "state.jsonl"

    with client(tmp_path / "store") as api:
        remote = Client("http://127.0.0.1", transport=api._transport)
        seen: list[str] = []

        def stop_after_three(row: dict) -> None:
            seen.append(row["data_id"])
            if len(seen) == 3:
                raise Interrupted

        with pytest.raises(Interrupted):
            RemoteBatch(remote, state, ["faces"], batch_size=2, window=2, poll_interval=0.05).run(sources, stop_after_three)
        assert len(read_state(state)) == 3

        sent: list[str] = []
        submit = remote.scan_async
        monkeypatch.setattr(remote, "scan_async", lambda images, *a, **k: sent.extend(images) or submit(images, *a, **k))
        outcomes = RemoteBatch(remote, state, ["faces"], batch_size=2, poll_interval=0.05).run(sources, lambda row: None)
        assert sorted(sent) == sorted(set(sources) - set(seen))  # only what was not done before
        assert set(outcomes) == set(sources)
        assert outcomes[str(folder / "broken.jpg")]["error"]["code"] == "image_unreadable"
        assert all(outcomes[d]["status"] == "succeeded" and outcomes[d]["width"] == 178
                   for d in sources if not d.endswith("broken.jpg"))

        # everything is in the state file now: the CLI prints the outcomes without sending anything
        monkeypatch.setattr("discreet.client.Client", lambda *a, **k: remote)
        result = CliRunner().invoke(app, ["scan", str(folder), "--remote", "http://127.0.0.1",
                                          "--state", str(state), "-o", "json"])
        assert result.exit_code == 1  # the broken image
        rows = json.loads(result.stdout)
        assert sorted(r["path"] for r in rows) == sorted(sources) and len(sent) == len(sources) - 3
