"""POST /v1/video/async on a real filmed test video: progress, per-frame results, the anonymized
video to download until the result expires, and bad videos refused with their codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from service_support import client, wait_for_task, wait_until

from discreet.evaluation.video import FilmedVideo, build_audio_only, build_stills, build_video, shot_photos
from discreet.video import open_video


@pytest.fixture(scope="module")
def clip(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> FilmedVideo:
    return build_video(shot_photos(data_dir)[:2], tmp_path_factory.mktemp("video") / "clip.mp4",
                       width=320, height=180, fps=10, shot_frames=10)


def test_video_task_scans_anonymizes_and_serves_the_video_until_it_expires(tmp_path: Path, clip: FilmedVideo) -> None:
    with client(tmp_path, result_ttl_seconds=3, sweep_interval_seconds=0.2) as api:
        answer = api.post("/v1/video/async", files={"video": ("clip.mp4", clip.path.read_bytes(), "video/mp4")},
                          data={"scenes": "faces,codes", "interval": "0.5", "anonymize": "true", "data_id": "mine"})
        assert answer.status_code == 202, answer.text
        task_id = answer.json()["task_id"]
        assert answer.headers["location"] == f"/v1/tasks/{task_id}"
        view = wait_for_task(api, task_id)
        assert view["status"] == "succeeded", view
        assert view["progress"] == 1.0
        result = view["result"]
        assert result["video"]["frames"] == clip.frames and result["video"]["has_audio"]
        assert [f["index"] for f in result["frames"]] == list(range(0, clip.frames, 5))
        assert all(f["faces"] and f["codes"] == [] for f in result["frames"])
        assert result["anonymized"]["frames"] == clip.frames
        download = api.get(result["anonymized"]["download"])
        assert download.status_code == 200 and download.headers["content-type"] == "video/mp4"
        saved = tmp_path / "downloaded.mp4"
        saved.write_bytes(download.content)
        with open_video(saved) as (container, _stream, info):
            assert info.frames == clip.frames and container.streams.audio
        files = list((tmp_path / "videos").iterdir())
        assert len(files) == 1
        wait_until(lambda: api.get(f"/v1/tasks/{task_id}").status_code == 404, "the result to expire")
        assert api.get(f"/v1/tasks/{task_id}/video").status_code == 404
        # reads refuse an expired result at once; the sweep deletes its file on its next round
        wait_until(lambda: not files[0].exists(), "the sweep to delete the expired video")


def test_scan_only_task_has_no_video_to_download(tmp_path: Path, clip: FilmedVideo) -> None:
    with client(tmp_path) as api:
        answer = api.post("/v1/video/async", files={"video": ("clip.mp4", clip.path.read_bytes(), "video/mp4")},
                          data={"interval": "none"})
        view = wait_for_task(api, answer.json()["task_id"])
        assert view["status"] == "succeeded" and len(view["result"]["frames"]) == clip.frames
        assert "anonymized" not in view["result"]
        assert api.get(f"/v1/tasks/{view['task_id']}/video").status_code == 404


def test_bad_videos_are_refused_with_their_codes(tmp_path: Path, clip: FilmedVideo) -> None:
    data = clip.path.read_bytes()
    audio = build_audio_only(tmp_path / "tone.m4a", 1.0).read_bytes()
    with client(tmp_path) as api:
        for body, code in ((data[: len(data) // 2], "video_unreadable"), (audio, "no_video_stream"),
                           (b"", "video_empty")):
            answer = api.post("/v1/video/async", files={"video": ("v.mp4", body, "video/mp4")})
            assert answer.status_code == 422 and answer.json()["error"]["code"] == code, answer.text
        answer = api.post("/v1/video/async", data={"attributes": "age"}, files={"video": ("v.mp4", data, "video/mp4")})
        assert answer.status_code == 403
        assert api.post("/v1/video/async", json={}).json()["error"]["code"] == "invalid_request"


def test_too_long_a_video_is_refused(tmp_path: Path, clip: FilmedVideo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCREET_VIDEO_MAX_SECONDS", "1")
    with client(tmp_path) as api:
        answer = api.post("/v1/video/async", files={"video": ("clip.mp4", clip.path.read_bytes(), "video/mp4")})
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "video_too_long"


def test_a_video_task_is_decided_by_the_named_policy_as_it_was_when_submitted(tmp_path: Path, clip: FilmedVideo) -> None:
    with client(tmp_path) as api:
        assert api.post("/v1/moderation/policies", json={"name": "strict"}).status_code == 201
        missing = api.post("/v1/video/async", files={"video": ("clip.mp4", clip.path.read_bytes(), "video/mp4")},
                           data={"moderation": "lenient"})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "policy_not_found"
        answer = api.post("/v1/video/async", files={"video": ("clip.mp4", clip.path.read_bytes(), "video/mp4")},
                          data={"scenes": "codes", "interval": "0.5", "moderation": "strict"})
        assert answer.status_code == 202, answer.text
        api.put("/v1/moderation/policies/strict", json={})  # version 2: the queued task keeps version 1
        view = wait_for_task(api, answer.json()["task_id"])
        assert view["status"] == "succeeded", view
        decisions = {(f["moderation"]["policy"], f["moderation"]["policy_version"]) for f in view["result"]["frames"]}
        assert decisions == {("strict", 1)} and view["result"]["segments"] is not None


def test_a_video_task_applies_the_tenants_term_and_picture_lists_to_its_frames(tmp_path: Path, data_dir: Path) -> None:
    code = data_dir / "qr" / "qrcode-2" / "28.png"  # "http://www.webtech.co.jp/k/" printed below the code
    photos = sorted((data_dir / "scenes" / "images").iterdir())
    listed, plain = photos[10], photos[11]
    video = build_stills([code, listed, plain], tmp_path / "stills.mp4", width=480, height=448, fps=4, frames_each=4)
    with client(tmp_path) as api:
        api.post("/v1/moderation/term-lists", json={"name": "banned-sites", "entries": [{"term": "webtech"}]})
        known = api.post("/v1/moderation/image-lists", json={"name": "known-bad", "kind": "block"}).json()
        added = api.post(f"/v1/moderation/image-lists/{known['id']}/images", files={"image": listed.read_bytes()})
        assert added.status_code == 201, added.text
        answer = api.post("/v1/video/async", files={"video": ("stills.mp4", video.read_bytes(), "video/mp4")},
                          data={"scenes": "text,codes", "interval": "0.5", "moderation": "true"})
        assert answer.status_code == 202, answer.text
        view = wait_for_task(api, answer.json()["task_id"])
    assert view["status"] == "succeeded", view
    segments = view["result"]["segments"]
    assert [s["suggestion"] for s in segments] == ["block", "block", "pass"]
    worded, pictured, passed = segments
    assert (worded["start"], pictured["start"], passed["start"]) == (0.0, 1.0, 2.0)
    assert "text:term:banned-sites" in worded["labels"]
    assert {m["text"].lower() for m in worded["terms"]} == {"webtech"} and not worded["image_lists"]
    assert pictured["labels"] == ["image_list:known-bad"] and not pictured["terms"]
    assert [(m["list_name"], m["kind"]) for m in pictured["image_lists"]] == [("known-bad", "block")]
    assert pictured["image_lists"][0]["distance"] <= 44
    assert passed["labels"] == [] and not passed["terms"] and not passed["image_lists"]
