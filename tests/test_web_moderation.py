"""Moderation decisions on the web page, in real headless Chromium against a real server: the
policy picker is filled from the tenant's policies, and each result shows its decision."""

from __future__ import annotations

import json

import httpx
from test_web import WAIT_MS, _auth, _open_view, browser, page, server  # noqa: F401 - fixtures shared with the page tests

from discreet.evaluation.video import build_stills

URL_CODE = "qr/qrcode-2/28.png"  # a photographed code with "http://www.webtech.co.jp/k/" printed below it
PLAIN_PHOTO = "dlib-faces/2008_002470.jpg"


def _post(server, path: str, body: dict, method: str = "POST") -> dict:
    answer = httpx.request(method, f"{server.url}{path}", headers=_auth(server), json=body)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def _choose_policy(page, label: str, prefix: str = "") -> None:
    page.check(f"#{prefix}moderate")
    page.locator(f"#{prefix}policy option", has_text=label).wait_for(state="attached")
    page.select_option(f"#{prefix}policy", label=label)


def _scan(page, image, scenes: list[str]) -> tuple[dict, dict]:
    """Scans through the page; the request the page sent and the result it got."""
    for scene in ("faces", "codes", "text", "nudity"):
        page.set_checked(f'input[name="scene"][value="{scene}"]', scene in scenes)
    page.set_input_files("#files", str(image))
    with page.expect_response(lambda r: r.url.endswith("/v1/scan"), timeout=WAIT_MS) as answer:
        page.click("#scan")
    assert answer.value.status == 200, answer.value.text()
    sent = json.loads(answer.value.request.post_data_buffer.split(b'name="request"\r\n\r\n')[1].split(b"\r\n")[0])
    (result,) = answer.value.json()["results"]
    page.wait_for_selector(".result.drawn")
    return sent, result


def test_a_term_in_the_photos_text_blocks_it_with_the_policy_and_the_span_shown(page, server, data_dir):
    _post(server, "/v1/moderation/policies", {"name": "strict", "labels": {"code_url": {"review": 0.5}}})
    _post(server, "/v1/moderation/policies/strict", {"labels": {"code_url": {"block": 0.5}}}, method="PUT")
    _post(server, "/v1/moderation/term-lists", {"name": "banned-sites", "entries": [{"term": "webtech"}]})
    page.reload()
    _choose_policy(page, "strict v2")
    sent, result = _scan(page, data_dir / URL_CODE, ["codes", "text"])
    assert sent["moderation"] == "strict"
    decision = result["moderation"]
    assert (decision["suggestion"], decision["policy"], decision["policy_version"]) == ("block", "strict", 2)
    card = page.locator(".result .decision")
    assert card.locator(".decision-title .suggestion").inner_text() == "block"
    assert "block" in card.get_attribute("class").split()
    assert card.locator(".decision-policy").inner_text() == "policy strict v2"
    for label in decision["labels"]:
        assert label in card.locator(".decision-labels").inner_text()
    assert card.locator('.scene-decision[data-scene="text"] .suggestion').inner_text() == "block"
    assert card.locator('.scene-decision[data-scene="codes"] .suggestion').inner_text() == "block"  # URL code by "strict"
    text_matches = [m for m in decision["terms"] if m["scene"] == "text"]
    assert text_matches
    first = text_matches[0]
    line = result["text"][first["index"]]["text"]
    shown = card.locator(".term-matches li").first
    assert shown.locator("mark.term-span").inner_text().lower() == "webtech"
    assert shown.locator("q.found-text").inner_text() == line
    assert page.eval_on_selector(".result mark.term-span", "m => getComputedStyle(m).backgroundColor") != "rgba(0, 0, 0, 0)"


def test_a_plain_photo_shows_pass_with_the_default_policy(page, data_dir):
    page.check("#moderate")
    page.locator("#policy option").first.wait_for(state="attached")
    sent, result = _scan(page, data_dir / PLAIN_PHOTO, ["faces"])
    assert sent["moderation"] is True
    assert result["moderation"]["suggestion"] == "pass"
    decision = page.locator(".result .decision")
    assert decision.locator(".decision-title .suggestion").inner_text() == "pass"
    assert "pass" in decision.get_attribute("class").split()
    assert decision.locator(".term-matches").count() == 0


def test_a_scan_without_the_toggle_asks_for_no_decision(page, data_dir):
    sent, result = _scan(page, data_dir / PLAIN_PHOTO, ["faces"])
    assert "moderation" not in sent and "moderation" not in result
    assert page.locator(".result .decision").count() == 0



def test_a_video_scanned_with_moderation_lists_its_segments_with_their_matches(page, server, data_dir, tmp_path):
    """The video view's own toggle: the term found in the first shot blocks that span of the video."""
    _post(server, "/v1/moderation/term-lists", {"name": "video-terms", "entries": [{"term": "webtech"}]})
    clip = build_stills([data_dir / URL_CODE, data_dir / PLAIN_PHOTO], tmp_path / "stills.mp4",
                        width=480, height=448, fps=4, frames_each=4)
    _open_view(page, "video")
    page.set_checked('input[name="video-scene"][value="faces"]', False)
    page.set_checked('input[name="video-scene"][value="text"]', True)
    page.set_input_files("#video-file", str(clip))
    page.fill("#video-interval", "0.5")
    page.check("#video-moderate")
    page.locator("#video-policy option").first.wait_for(state="attached")
    with page.expect_response(lambda r: r.url.endswith("/v1/video/async")) as queued:
        page.click("#video-run")
    assert b'name="moderation"\r\n\r\ntrue' in queued.value.request.post_data_buffer
    shown = page.locator("#video-segments li")
    shown.first.wait_for(timeout=WAIT_MS)  # drawn once the task has succeeded
    segments = httpx.get(f"{server.url}/v1/tasks/{queued.value.json()['task_id']}", headers=_auth(server)).json()["result"]["segments"]
    assert [s["suggestion"] for s in segments] == ["block", "pass"]
    assert shown.count() == 2
    assert shown.nth(0).locator(".suggestion").inner_text() == "block"
    assert shown.nth(0).inner_text().startswith("0:00.0–0:01.0")
    marks = shown.nth(0).locator("mark.term-span").all_inner_texts()  # one per list that matched it
    assert marks and {mark.lower() for mark in marks} == {"webtech"}
    assert shown.nth(1).locator(".suggestion").inner_text() == "pass"
    assert page.locator("#video-ticks .band.block").count() == 1


def test_a_listed_picture_shows_its_list_and_distance(page, server, data_dir):
    listed = sorted((data_dir / "scenes" / "images").iterdir())[10]
    made = _post(server, "/v1/moderation/image-lists", {"name": "known-bad", "kind": "block"})
    added = httpx.post(f"{server.url}/v1/moderation/image-lists/{made['id']}/images", headers=_auth(server),
                       files={"image": listed.read_bytes()})
    assert added.status_code == 201, added.text
    page.check("#moderate")
    page.locator("#policy option").first.wait_for(state="attached")
    _, result = _scan(page, listed, ["faces"])
    (match,) = result["moderation"]["image_lists"]
    decision = page.locator(".result .decision")
    assert decision.locator(".decision-title .suggestion").inner_text() == "block"
    shown = decision.locator(".picture-matches li")
    assert shown.count() == 1
    assert shown.inner_text() == f"block known-bad: distance {match['distance']} of 256 bits"


def test_the_tenants_default_policy_is_marked_and_chosen(page, server):
    _post(server, "/v1/moderation/policies", {"name": "house-rules", "is_default": True})
    page.check("#moderate")
    page.locator("#policy option", has_text="house-rules").wait_for(state="attached")
    options = page.locator("#policy option").all_inner_texts()
    assert "house-rules v1 (default)" in options and "the tenant's default" in options
    assert sum("(default)" in option for option in options) == 1
    assert page.input_value("#policy") == "house-rules"
    page.uncheck("#moderate")
    assert page.is_disabled("#policy")
