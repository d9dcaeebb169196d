"""The web page at / in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright),
against a real `discreet serve` subprocess. scripts/test installs Chromium, so its absence fails."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import httpx
import pytest
from live_server import live_server
from PIL import Image

from discreet.evaluation.video import build_video, shot_photos
from discreet.states import TaskStatus
from discreet.video import open_video

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: The page must work under this policy: nothing inline, nothing from elsewhere.
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
FACE_PHOTO = "dlib-faces/2008_002470.jpg"
QR_PHOTO = "qr/qrcode-1/1.png"
WAIT_MS = 120_000  # a hang guard for scans on a busy machine, not a speed requirement

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("web-store")) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, server):
    """The page with the API key entered; every document is served under STRICT_CSP, and any
    script error or CSP violation fails the test."""
    context = browser.new_context(accept_downloads=True)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" and "Content Security Policy" in m.text else None)

    def with_csp(route):
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": STRICT_CSP})

    tab.route(lambda url: url.rstrip("/") == server.url, with_csp)
    tab.goto(server.url)
    tab.fill("#api-key", server.key)
    tab.click("#key-form button")
    yield tab
    context.close()
    assert not problems, problems


def _scan(page, image: Path, scenes: list[str]) -> dict:
    for scene in ("faces", "codes", "text", "nudity"):
        page.set_checked(f'input[name="scene"][value="{scene}"]', scene in scenes)
    page.set_input_files("#files", str(image))
    with page.expect_response(lambda r: r.url.endswith("/v1/scan"), timeout=WAIT_MS) as answer:
        page.click("#scan")
    assert answer.value.status == 200
    (result,) = answer.value.json()["results"]
    page.wait_for_selector(".result.drawn")
    return result


def test_faces_are_drawn_over_the_photo(page, data_dir):
    result = _scan(page, data_dir / FACE_PHOTO, ["faces"])
    faces = result["faces"]
    assert faces
    boxes = page.locator("svg.overlay rect.face")
    assert boxes.count() == len(faces)
    assert page.locator(".findings-faces li").count() == len(faces)
    assert float(boxes.first.get_attribute("x")) == faces[0]["box"]["x1"]
    assert page.locator("svg.overlay").get_attribute("viewBox") == f"0 0 {result['width']} {result['height']}"
    # the overlay covers exactly the displayed picture, so pixel boxes land on the faces
    picture = page.locator(".result .picture").bounding_box()
    overlay = page.locator(".result svg.overlay").bounding_box()
    assert overlay == picture


def test_qr_code_payload_is_shown(page, data_dir):
    image = data_dir / QR_PHOTO
    expected = image.with_suffix(".txt").read_text(encoding="utf-8").strip()
    result = _scan(page, image, ["codes"])
    assert [code["payload"] for code in result["codes"]] == [expected]
    assert page.locator("svg.overlay polygon.code").count() == 1
    assert expected in page.locator(".findings-codes li").inner_text()


def _open_view(page, name: str) -> None:
    page.click(f'nav.views [data-view="{name}"]')
    page.locator(f"#view-{name}").wait_for()


def test_anonymize_shows_the_photo_before_and_after_with_the_count_and_downloads_it(page, data_dir):
    image = data_dir / FACE_PHOTO
    _open_view(page, "anonymize")
    covers = page.locator('input[name="anon-scene"]')
    page.locator('input[name="anon-scene"][value="faces"]').wait_for(state="attached")
    assert "nudity" not in [covers.nth(i).get_attribute("value") for i in range(covers.count())]  # nothing to cover
    assert page.is_checked('input[name="anon-scene"][value="faces"]')
    page.set_checked('input[name="anon-method"][value="pixelate"]', True)
    page.set_input_files("#anon-file", str(image))
    with page.expect_response(lambda r: r.url.endswith("/v1/anonymize"), timeout=WAIT_MS) as answer:
        page.click("#anon-run")
    regions = int(answer.value.headers["x-discreet-regions"])
    assert regions > 1
    page.wait_for_function("() => ['#anon-before', '#anon-after'].every((s) => document.querySelector(s).naturalWidth > 0)")
    assert page.inner_text("#anon-count") == f"{regions} regions covered"
    before, after = page.locator("#anon-before").bounding_box(), page.locator("#anon-after").bounding_box()
    assert after["x"] >= before["x"] + before["width"] and after["y"] == before["y"]  # side by side
    assert before["width"] > 400
    with page.expect_download() as download:
        page.click("#anon-download")
    assert download.value.suggested_filename == f"{image.stem}-anonymized.jpg"
    covered = Image.open(io.BytesIO(Path(download.value.path()).read_bytes()))
    original = Image.open(image)
    assert covered.size == original.size
    assert covered.convert("RGB").tobytes() != original.convert("RGB").tobytes()


def test_anonymize_covers_only_the_scenes_ticked(page, data_dir):
    _open_view(page, "anonymize")
    for scene in ("faces", "plates", "codes"):
        page.set_checked(f'input[name="anon-scene"][value="{scene}"]', scene == "codes")
    page.set_input_files("#anon-file", str(data_dir / QR_PHOTO))
    page.click("#anon-run")
    page.locator("#anon-result").wait_for(timeout=WAIT_MS)
    assert page.inner_text("#anon-count") == "1 region covered"


def test_queued_task_reaches_succeeded_and_its_result_is_drawn(page, server, data_dir):
    page.set_checked('input[name="scene"][value="faces"]', True)
    page.set_input_files("#files", str(data_dir / FACE_PHOTO))
    with page.expect_response(lambda r: r.url.endswith("/v1/scan/async")) as answer:
        page.click("#queue")
    assert answer.value.status == 202
    (task,) = answer.value.json()["tasks"]
    row = page.locator(f'tr.task[data-task-id="{task["task_id"]}"]')
    row.locator(".status").get_by_text("succeeded").wait_for(timeout=WAIT_MS)
    row.get_by_role("button", name="Show").click()
    page.wait_for_selector(".result.drawn")
    view = httpx.get(f"{server.url}/v1/tasks/{task['task_id']}", headers={"Authorization": f"Bearer {server.key}"})
    faces = view.json()["result"]["faces"]
    assert faces and page.locator("svg.overlay rect.face").count() == len(faces)

    page.reload()  # the tab remembers its tasks (ids only) and fetches their state again
    row.locator(".status").get_by_text("succeeded").wait_for()
    row.get_by_role("button", name="Delete").click()
    row.wait_for(state="detached")
    gone = httpx.get(f"{server.url}/v1/tasks/{task['task_id']}", headers={"Authorization": f"Bearer {server.key}"})
    assert gone.status_code == 404


def test_errors_are_shown_with_their_code(page, server, data_dir):
    page.fill("#api-key", "dsk_0_not-a-key")
    page.click("#key-form button")
    page.set_input_files("#files", str(data_dir / FACE_PHOTO))
    page.click("#scan")
    error = page.locator("#error")
    error.wait_for()
    assert "unauthorized" in error.inner_text()
    assert "request" in error.inner_text()  # the request id, to quote when asking for help


def test_face_attributes_are_offered_and_listed(page, data_dir):
    offered = page.locator('input[name="attribute"]')
    offered.first.wait_for()
    from discreet.schema import FaceAttributes

    assert [offered.nth(i).get_attribute("value") for i in range(offered.count())] == list(FaceAttributes.model_fields)
    for name in ("smile", "head_pose"):
        page.set_checked(f'input[name="attribute"][value="{name}"]', True)
    result = _scan(page, data_dir / FACE_PHOTO, ["faces"])
    faces = result["faces"]
    assert faces and all(set(face["attributes"]) >= {"smile", "head_pose"} for face in faces)
    assert page.locator(".findings-faces li.attribute-smile").count() == len(faces)
    assert page.locator(".findings-faces li.attribute-head_pose").count() == len(faces)


def _drop(page, image: Path, mime_type: str) -> None:
    """Drop a file on the drop zone the way a browser does: a drop event carrying a DataTransfer."""
    transfer = page.evaluate_handle(
        """([name, encoded, type]) => {
            const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type }));
            return transfer;
        }""",
        [image.name, base64.b64encode(image.read_bytes()).decode(), mime_type],
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def test_dropped_photo_shows_its_code_and_text_lines(page, data_dir):
    image = data_dir / "qr" / "qrcode-2" / "28.png"  # a photographed code with its URL printed below
    url = image.with_suffix(".txt").read_text(encoding="utf-8").strip()
    _drop(page, image, "image/png")
    assert image.name in page.inner_text("#picked")
    for scene in ("faces", "codes", "text", "nudity"):
        page.set_checked(f'input[name="scene"][value="{scene}"]', scene in ("codes", "text"))
    with page.expect_response(lambda r: r.url.endswith("/v1/scan"), timeout=WAIT_MS) as answer:
        page.click("#scan")
    (result,) = answer.value.json()["results"]
    page.wait_for_selector(".result.drawn")
    assert result["text"] and result["codes"]
    assert page.locator("svg.overlay polygon.text").count() == len(result["text"])
    assert page.locator("svg.overlay polygon.code").count() == len(result["codes"])
    assert page.locator(".findings-text li").count() == len(result["text"])
    assert url in page.inner_text(".findings-codes")


def test_a_photo_stored_sideways_is_drawn_upright(page, data_dir, tmp_path):
    """Stored rotated with an EXIF orientation: the server's pixels and the browser's picture are
    both upright, so the boxes still land on the faces."""
    upright = Image.open(data_dir / FACE_PHOTO)
    sideways = tmp_path / "sideways.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    upright.transpose(Image.Transpose.ROTATE_90).save(sideways, exif=exif, quality=95)
    result = _scan(page, sideways, ["faces"])
    assert (result["width"], result["height"]) == upright.size
    picture = page.locator(".result .picture")
    shown = picture.evaluate("img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])")
    assert tuple(shown) == upright.size
    assert page.locator("svg.overlay rect.face").count() == len(result["faces"]) > 0


def test_nudity_regions_are_drawn_with_the_suggestion(page, data_dir):
    for scene in ("faces", "codes", "text", "nudity"):
        page.set_checked(f'input[name="scene"][value="{scene}"]', scene == "nudity")
    page.set_input_files("#files", str(data_dir / FACE_PHOTO))
    with page.expect_response(lambda r: r.url.endswith("/v1/scan"), timeout=WAIT_MS) as answer:
        page.click("#scan")
    assert answer.value.status == 200, "scripts/test installs the nudity extra"
    (result,) = answer.value.json()["results"]
    page.wait_for_selector(".result.drawn")
    nudity = result["nudity"]
    assert page.locator("svg.overlay rect.nudity").count() == len(nudity["regions"])
    assert page.locator(".findings-nudity li").count() == len(nudity["regions"])
    assert f"Nudity: {nudity['suggestion']}" in page.inner_text(".findings")


def test_scene_boxes_are_the_servers_scenes(page):
    from discreet.analyzers import SCENES

    boxes = page.locator('input[name="scene"]')
    boxes.first.wait_for()
    assert [boxes.nth(i).get_attribute("value") for i in range(boxes.count())] == list(SCENES)
    assert page.locator('input[name="scene"][value="faces"]').is_checked()


def test_a_scene_not_installed_is_greyed_out_with_how_to_install_it(page):
    def without_nudenet(route):
        offer = route.fetch().json()
        for scene in offer["scenes"]:
            if scene["scene"] == "nudity":
                scene["installed"] = False
        route.fulfill(json=offer)

    page.route("**/v1/scenes", without_nudenet)
    page.reload()
    nudity = page.locator('input[name="scene"][value="nudity"]')
    nudity.wait_for()
    assert nudity.is_disabled()
    assert "needs the nudity extra: scripts/install nudity" in page.inner_text("#scenes")
    assert page.locator('input[name="scene"][value="faces"]').is_enabled()


def test_the_page_loads_nothing_that_is_missing(browser, server):
    tab = browser.new_page()
    failed: list[str] = []
    tab.on("response", lambda r: failed.append(r.url) if r.status == 404 else None)
    tab.goto(server.url)
    tab.locator('input[name="scene"]').first.wait_for()
    tab.wait_for_load_state("networkidle")
    tab.close()
    assert not failed


def test_api_docs_render_offline_under_the_servers_policy(browser, server):
    """Nothing but this server is reachable, and the server's own CSP applies: Swagger UI still
    lists the operations."""
    tab = browser.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.route(lambda url: not url.startswith(server.url), lambda route: (problems.append(route.request.url), route.abort()))
    tab.goto(f"{server.url}/docs")
    tab.locator('.opblock-summary-path[data-path="/v1/scan"]').wait_for(timeout=30_000)
    assert tab.locator('.opblock-summary-path[data-path="/v1/scenes"]').count() == 1
    tab.close()
    assert not problems, problems


def test_the_server_says_where_it_is_once_ready(server):
    expected = f"Discreet ready at {server.url} — web page /, API docs /docs"
    deadline = time.monotonic() + 30  # printed just after /readyz first answers 200
    while expected not in server.log.read_text(encoding="utf-8") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert expected in server.log.read_text(encoding="utf-8")


def test_the_result_takes_the_width_with_its_list_beside_it(page, data_dir):
    page.set_viewport_size({"width": 1280, "height": 900})
    _scan(page, data_dir / FACE_PHOTO, ["faces"])
    picture = page.locator(".result .picture").bounding_box()
    findings = page.locator(".result .findings").bounding_box()
    assert picture["width"] > 700
    assert findings["x"] >= picture["x"] + picture["width"] and findings["y"] < picture["y"] + picture["height"]
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the list goes below the picture
    picture = page.locator(".result .picture").bounding_box()
    assert page.locator(".result .findings").bounding_box()["y"] >= picture["y"] + picture["height"]


def test_pointing_at_a_box_or_its_line_lights_up_the_other(page, data_dir):
    _scan(page, data_dir / FACE_PHOTO, ["faces"])
    line = page.locator(".findings-faces li.face").nth(1)
    box = page.locator('svg.overlay .mark[data-ref="faces-1"]')
    line.hover()
    assert "highlight" in box.get_attribute("class")
    page.locator('svg.overlay .mark[data-ref="faces-3"] rect').hover()
    assert "highlight" in page.locator(".findings-faces li.face").nth(3).get_attribute("class")
    assert "highlight" not in line.get_attribute("class")


def test_labels_in_a_crowd_do_not_cover_each_other(page, data_dir):
    page.set_viewport_size({"width": 1280, "height": 900})
    result = _scan(page, data_dir / "scenes" / "images" / "maksssksksss240.jpg", ["faces"])
    assert len(result["faces"]) >= 15
    # the letters' own rectangles (outline included), not the taller line box of the font
    shown = page.eval_on_selector_all(
        "svg.overlay text.label:not(.crowded)",
        "labels => labels.map(l => { const r = l.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })",
    )
    assert len(shown) >= len(result["faces"]) // 2
    for i, (left, top, right, bottom) in enumerate(shown):
        for other in shown[i + 1:]:
            apart = right <= other[0] or other[2] <= left or bottom <= other[1] or other[3] <= top
            assert apart, f"labels overlap: {shown[i]} {other}"
    # a box whose label is hidden or shortened is still named by its tooltip and its list line
    marks = page.locator('svg.overlay .mark[data-scene="faces"]')
    assert marks.count() == len(result["faces"])
    assert page.locator('svg.overlay .mark[data-ref="faces-11"] title').text_content() == "face 12"
    assert page.locator(".findings-faces li.face").count() == len(result["faces"])


def test_zooming_in_keeps_the_boxes_on_the_faces(page, data_dir):
    page.set_viewport_size({"width": 1280, "height": 900})
    _scan(page, data_dir / FACE_PHOTO, ["faces"])
    fitted = page.locator(".result .picture").bounding_box()
    page.get_by_role("button", name="Zoom in").click()
    page.get_by_role("button", name="Zoom in").click()
    assert page.inner_text(".zoom-level") == "200%"
    picture = page.locator(".result .picture").bounding_box()
    assert picture["width"] == pytest.approx(2 * fitted["width"], abs=2)
    assert page.locator(".result svg.overlay").bounding_box() == picture
    frame = page.locator(".result .frame")
    assert frame.evaluate("node => node.scrollWidth > node.clientWidth")  # the frame scrolls, not the page
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280
    page.locator(".findings-faces li.face").nth(1).click()  # its box is scrolled into the frame
    box = page.locator('svg.overlay .mark[data-ref="faces-1"] rect').bounding_box()
    seen = frame.bounding_box()
    assert seen["x"] <= box["x"] and box["x"] + box["width"] <= seen["x"] + seen["width"]
    page.get_by_role("button", name="Zoom out").click()
    assert page.inner_text(".zoom-level") == "150%"


def test_each_scene_drawn_can_be_hidden(page, data_dir):
    _scan(page, data_dir / FACE_PHOTO, ["faces"])
    faces = page.locator("svg.overlay rect.face")
    assert faces.first.is_visible()
    page.get_by_label("show faces").uncheck()
    assert not any(faces.nth(i).is_visible() for i in range(faces.count()))
    page.get_by_label("show faces").check()
    assert faces.first.is_visible()


def test_an_attribute_the_face_does_not_show_reads_cannot_tell(page, data_dir):
    page.set_checked('input[name="attribute"][value="smile"]', True)
    result = _scan(page, data_dir / FACE_PHOTO, ["faces"])
    lines = page.locator(".findings-faces li.attribute-smile")
    abstained = [i for i, face in enumerate(result["faces"]) if face["attributes"]["smile"]["value"] is None]
    assert abstained, "the photo has faces too small or blurred to tell"
    for i, face in enumerate(result["faces"]):
        smile = face["attributes"]["smile"]
        expected = (f"smile: cannot tell ({smile['reason'].replace('_', ' ')})" if i in abstained
                    else f"smile: {'yes' if smile['value'] else 'no'}")
        assert lines.nth(i).inner_text().startswith(expected)


def test_an_error_replaces_the_results_of_before(page, data_dir):
    _scan(page, data_dir / FACE_PHOTO, ["faces"])
    page.fill("#api-key", "dsk_0_not-a-key")
    page.click("#key-form button")
    page.click("#scan")
    page.locator("#error").wait_for()
    assert page.locator(".result").count() == 0


def test_the_drop_zone_has_no_browser_file_button(page):
    drop = page.locator("#drop")
    assert drop.inner_text().strip() == "Drop images here or choose files"
    chooser = page.locator("#files").bounding_box()
    assert chooser["width"] <= 1 and chooser["height"] <= 1
    with page.expect_file_chooser() as chooser_opened:
        drop.click()
    assert chooser_opened.value.is_multiple()


def test_the_key_field_is_folded_away_when_the_server_needs_none(browser, server):
    """Local mode (no key exists) is stood in for by the server's answer to GET /v1/scenes saying so;
    the page learns it from that answer, never from a request refused with 401."""
    def local_mode(route):
        offer = route.fetch().json()
        assert offer["auth"] == "key"  # the real server has a key
        route.fulfill(json={**offer, "auth": "none"})

    tab = browser.new_page()
    refused: list[str] = []
    tab.on("response", lambda r: refused.append(r.url) if r.status == 401 else None)
    tab.route("**/v1/scenes", local_mode)
    tab.goto(server.url)
    tab.get_by_text("not needed: this server runs in local mode").wait_for()
    assert not tab.locator("#api-key").is_visible()
    tab.close()
    keyed = browser.new_page()  # the real server has a key: the field stays open
    keyed.on("response", lambda r: refused.append(r.url) if r.status == 401 else None)
    keyed.goto(server.url)
    keyed.locator('input[name="scene"]').first.wait_for()
    keyed.wait_for_load_state("networkidle")
    assert keyed.locator("#api-key").is_visible()
    keyed.close()
    assert not refused


def test_the_page_script_is_a_module_that_shares_its_functions(page):
    """Views in their own modules import these from app.js; importing it again reuses the same module."""
    assert page.locator('script[type="module"][src="app.js"]').count() == 1
    exported = page.evaluate("async () => Object.keys(await import('./app.js')).sort()")
    assert {"$", "api", "ApiError", "showError", "busy", "clearResults", "button", "checkbox"} <= set(exported)


def test_a_video_upload_reaches_100_percent_and_its_frames_are_ticks_on_a_timeline(page, server, data_dir, tmp_path):
    clip = build_video(shot_photos(data_dir)[:2], tmp_path / "clip.mp4", width=384, height=216, fps=12, shot_frames=12)
    _open_view(page, "video")
    page.set_input_files("#video-file", str(clip.path))
    page.fill("#video-interval", "0.25")
    page.check("#video-anonymize")
    with page.expect_response(lambda r: r.url.endswith("/v1/video/async")) as queued:
        page.click("#video-run")
    task_id = queued.value.json()["task_id"]
    # the last frame's progress (100%) is stored a moment before the task is marked succeeded
    page.wait_for_function("() => document.querySelector('#video-status').textContent === 'clip.mp4: succeeded'",
                           timeout=WAIT_MS)
    assert page.inner_text("#video-percent") == "100%"
    assert page.eval_on_selector("#video-progress", "node => node.value") == 100
    task = httpx.get(f"{server.url}/v1/tasks/{task_id}", headers=_auth(server)).json()
    frames = task["result"]["frames"]
    assert len(frames) == 8  # 2 s at one frame every 0.25 s
    ticks = page.locator("#video-timeline .tick")
    assert ticks.count() == len(frames)
    with_faces = [i for i, frame in enumerate(frames) if frame["faces"]]
    assert with_faces and page.locator("#video-timeline .tick.found").count() == len(with_faces)
    first, last = ticks.first.bounding_box(), ticks.last.bounding_box()
    assert last["x"] > first["x"] + 0.5 * page.locator("#video-ticks").bounding_box()["width"]  # spread along it
    ticks.nth(with_faces[-1]).click()
    assert f"faces {len(frames[with_faces[-1]]['faces'])}" in page.inner_text("#video-frame")
    with page.expect_download(timeout=WAIT_MS) as download:
        page.click("#video-download")
    assert download.value.suggested_filename == "clip-anonymized.mp4"
    with open_video(Path(download.value.path())) as (_container, _stream, info):
        assert info.frames == clip.frames


def _queue(server, name: str, image: bytes) -> str:
    answer = httpx.post(f"{server.url}/v1/scan/async", headers=_auth(server),
                        json={"scenes": ["codes"],
                              "tasks": [{"data_id": name, "image_base64": base64.b64encode(image).decode()}]})
    task_id = answer.json()["tasks"][0]["task_id"]
    deadline = time.monotonic() + WAIT_MS / 1000
    # one at a time, so the order they were created in is certain
    while time.monotonic() < deadline and httpx.get(f"{server.url}/v1/tasks/{task_id}", headers=_auth(server)).json()["status"] in ("queued", "running"):
        time.sleep(0.1)
    return task_id


def _auth(server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.key}"}


def test_the_tasks_view_lists_the_tenants_tasks_newest_first_filters_and_deletes(page, server, data_dir):
    broken = _queue(server, "broken.jpg", b"not an image")
    good = _queue(server, "qr.png", (data_dir / QR_PHOTO).read_bytes())
    _open_view(page, "tasks")
    rows = page.locator("#all-tasks tbody tr")
    page.locator(f'#all-tasks tr[data-task-id="{good}"] .status').get_by_text("succeeded").wait_for(timeout=WAIT_MS)
    ids = [rows.nth(i).get_attribute("data-task-id") for i in range(rows.count())]
    assert ids.index(good) < ids.index(broken)  # newest first
    assert "qr.png" in page.locator(f'#all-tasks tr[data-task-id="{good}"]').inner_text()
    # the filter offers the statuses the server names, after "any"
    assert page.locator("#tasks-status option").all_inner_texts() == ["any", *TaskStatus]
    page.select_option("#tasks-status", "failed")
    page.locator(f'#all-tasks tr[data-task-id="{good}"]').wait_for(state="detached")
    statuses = [rows.nth(i).locator(".status").inner_text() for i in range(rows.count())]
    assert statuses and set(statuses) == {"failed"}
    assert page.locator(f'#all-tasks tr[data-task-id="{broken}"]').count() == 1
    page.select_option("#tasks-status", "")
    page.locator(f'#all-tasks tr[data-task-id="{good}"]').get_by_role("button", name="Delete").click()
    page.locator(f'#all-tasks tr[data-task-id="{good}"]').wait_for(state="detached")
    assert page.locator(f'#all-tasks tr[data-task-id="{broken}"]').count() == 1
    gone = httpx.get(f"{server.url}/v1/tasks/{good}", headers=_auth(server))
    assert gone.status_code == 404


def test_escape_dismisses_an_error_then_closes_the_view(page, data_dir):
    page.fill("#api-key", "dsk_0_not-a-key")
    page.click("#key-form button")
    page.set_input_files("#files", str(data_dir / FACE_PHOTO))
    page.click("#scan")
    page.locator("#error").wait_for()
    page.keyboard.press("Escape")
    assert not page.locator("#error").is_visible()
    page.keyboard.press("3")
    assert page.locator("#view-video").is_visible() and not page.locator("#view-scan").is_visible()
    page.keyboard.press("Escape")
    assert page.locator("#view-scan").is_visible() and not page.locator("#view-video").is_visible()


def test_keys_open_the_file_picker_and_scan_with_a_visible_focus(page, data_dir):
    page.locator("#results-title").click()  # the focus leaves the key field, where letters are typed
    with page.expect_file_chooser() as chooser:
        page.evaluate("0")  # a round trip, so the file chooser is intercepted before the key goes down
        page.keyboard.press("o")
    chooser.value.set_files(str(data_dir / FACE_PHOTO))
    with page.expect_response(lambda r: r.url.endswith("/v1/scan"), timeout=WAIT_MS):
        page.keyboard.press("s")
    page.wait_for_selector(".result.drawn")
    page.keyboard.press("4")
    focused = page.evaluate("() => [document.activeElement.dataset.view, getComputedStyle(document.activeElement).outlineStyle]")
    assert focused == ["tasks", "solid"]
    page.keyboard.press("Tab")  # the focus goes on from the tabs into the view shown
    assert page.evaluate("() => document.activeElement.closest('main') !== null")


def test_the_tasks_view_pages_through_the_tasks(page, server):
    answer = httpx.post(f"{server.url}/v1/scan/async", headers=_auth(server), json={
        "scenes": ["codes"], "tasks": [{"data_id": f"page-{n}", "url": "ftp://nowhere"} for n in range(21)]})
    assert answer.status_code == 202
    _open_view(page, "tasks")
    rows = page.locator("#all-tasks tbody tr")
    rows.first.wait_for()
    first_page = [rows.nth(i).get_attribute("data-task-id") for i in range(rows.count())]
    assert len(first_page) == 20 and page.inner_text("#tasks-page") == "Page 1"
    assert page.is_disabled("#tasks-newer")
    page.click("#tasks-older")
    page.get_by_text("Page 2").wait_for()
    second_page = [rows.nth(i).get_attribute("data-task-id") for i in range(rows.count())]
    assert second_page and not set(second_page) & set(first_page)
    page.click("#tasks-newer")
    page.get_by_text("Page 1").wait_for()
    assert [rows.nth(i).get_attribute("data-task-id") for i in range(rows.count())] == first_page


@pytest.mark.parametrize("view", ["scan", "anonymize", "video", "tasks"])
def test_a_phone_wide_page_does_not_scroll_sideways(page, server, data_dir, view):
    page.set_viewport_size({"width": 390, "height": 844})
    if view == "scan":
        _scan(page, data_dir / FACE_PHOTO, ["faces"])
    else:
        _open_view(page, view)
    if view == "tasks":
        _queue(server, "a-name-long-enough-to-need-wrapping-on-a-phone.png", (data_dir / QR_PHOTO).read_bytes())
        page.click("#tasks-refresh")
        page.locator("#all-tasks tbody tr").first.wait_for()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    for tab in ("Scan", "Anonymize", "Video", "Tasks"):
        assert page.get_by_role("navigation", name="Views").get_by_role("button", name=tab).is_visible()
