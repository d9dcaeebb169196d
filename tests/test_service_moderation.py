"""Moderation through the service: picture lists matched on edited copies, term lists, feedback,
named policies, tenant isolation, async tasks, limits and the OpenAPI document."""

from __future__ import annotations

import asyncio
import io

import pytest
from live_server import live_server
from PIL import Image
from service_support import b64, client, settings, wait_for_task

from discreet.client import AsyncClient, Client
from discreet.errors import NotFound
from discreet.service.auth import create_key
from discreet.service.store import Store
from discreet.service.store import moderation as store_moderation

URL_CODE = "qr/qrcode-2/28.png"  # a photographed code with "http://www.webtech.co.jp/k/" printed below it


def _edited(data: bytes, *, scale: float = 0.5, crop: float = 0.05, quality: int = 70) -> bytes:
    """The picture re-encoded as JPEG, resized and cropped by ``crop`` of each side."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = image.size
    image = image.crop((int(w * crop), int(h * crop), int(w * (1 - crop)), int(h * (1 - crop))))
    image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


@pytest.fixture
def tenants(tmp_path):
    store = Store(settings(tmp_path).store_url())
    store.migrate()
    key_a, _ = create_key(store, "tenant-a")
    key_b, _ = create_key(store, "tenant-b")
    store.close()
    return {"Authorization": f"Bearer {key_a}"}, {"Authorization": f"Bearer {key_b}"}


def _scan(api, headers, image: bytes, scenes=("faces",), moderation=True) -> dict:
    answer = api.post("/v1/scan", headers=headers, json={
        "scenes": list(scenes), "moderation": moderation, "tasks": [{"data_id": "x", "image_base64": b64(image)}]})
    assert answer.status_code == 200, answer.text
    (item,) = answer.json()["results"]
    assert "error" not in item, item
    return item["moderation"]


def test_a_listed_picture_is_blocked_in_edited_copies_and_only_for_its_tenant(tmp_path, data_dir, tenants):
    as_a, as_b = tenants
    photos = sorted((data_dir / "scenes" / "images").iterdir())
    listed, other = photos[10].read_bytes(), photos[11].read_bytes()
    with client(tmp_path) as api:
        made = api.post("/v1/moderation/image-lists", headers=as_a, json={"name": "known-bad", "kind": "block"})
        assert made.status_code == 201
        list_id = made.json()["id"]
        added = api.post(f"/v1/moderation/image-lists/{list_id}/images", headers=as_a,
                         files={"image": ("listed.jpg", listed, "image/jpeg")})
        assert added.status_code == 201 and len(added.json()["hash"]) == 64 and added.json()["hashes"] == 5
        assert api.get(f"/v1/moderation/image-lists/{list_id}", headers=as_a).json()["entries"] == 1

        decision = _scan(api, as_a, _edited(listed))
        assert decision["suggestion"] == "block" and decision["labels"] == ["image_list:known-bad"]
        assert decision["image_lists"][0]["entry_id"] == added.json()["entry_id"]
        assert _scan(api, as_a, other)["suggestion"] == "pass"
        # moderation not asked: no decision at all
        plain = api.post("/v1/scan", headers=as_a, json={"tasks": [{"data_id": "x", "image_base64": b64(listed)}]})
        assert "moderation" not in plain.json()["results"][0]

        # tenant B neither sees A's list nor is affected by it
        assert _scan(api, as_b, _edited(listed))["suggestion"] == "pass"
        assert api.get("/v1/moderation/image-lists", headers=as_b).json() == {"lists": []}
        for method, path in (("get", f"/v1/moderation/image-lists/{list_id}"),
                             ("delete", f"/v1/moderation/image-lists/{list_id}"),
                             ("delete", f"/v1/moderation/image-lists/{list_id}/images/{added.json()['entry_id']}")):
            answer = api.request(method, path, headers=as_b)
            assert answer.status_code == 404, (method, path)
        assert api.post(f"/v1/moderation/image-lists/{list_id}/images", headers=as_b,
                        json={"hash": added.json()["hash"]}).status_code == 404

        # a hash given by a partner is one entry; removing entries takes effect at the next scan
        shared = api.post(f"/v1/moderation/image-lists/{list_id}/images", headers=as_a, json={"hash": "ab" * 32})
        assert shared.status_code == 201 and shared.json()["hashes"] == 1
        assert api.post(f"/v1/moderation/image-lists/{list_id}/images", headers=as_a,
                        json={"hash": "abc"}).json()["error"]["code"] == "invalid_hash"
        assert api.delete(f"/v1/moderation/image-lists/{list_id}/images/{added.json()['entry_id']}",
                          headers=as_a).status_code == 204
        assert _scan(api, as_a, _edited(listed))["suggestion"] == "pass"

        # async tasks carry the request to the worker
        api.post(f"/v1/moderation/image-lists/{list_id}/images", headers=as_a, json={"image_base64": b64(listed)})
        queued = api.post("/v1/scan/async", headers=as_a, json={
            "moderation": True, "tasks": [{"data_id": "q", "image_base64": b64(_edited(listed))}]}).json()
        view = wait_for_task(api, queued["tasks"][0]["task_id"], headers=as_a)
        assert view["result"]["moderation"]["suggestion"] == "block"


def test_term_lists_feedback_and_named_policies(tmp_path, data_dir, tenants):
    as_a, as_b = tenants
    code = (data_dir / URL_CODE).read_bytes()
    with client(tmp_path) as api:
        terms = api.post("/v1/moderation/term-lists", headers=as_a, json={
            "name": "banned-sites", "entries": [{"term": "webtech", "kind": "word", "action": "block"}]})
        assert terms.status_code == 201
        decision = _scan(api, as_a, code, scenes=["text"])
        assert decision["suggestion"] == "block" and decision["scenes"]["text"]["labels"] == ["term:banned-sites"]
        assert decision["terms"][0]["text"].lower() == "webtech"
        assert _scan(api, as_b, code, scenes=["text"])["suggestion"] == "pass"
        assert api.get(f"/v1/moderation/term-lists/{terms.json()['id']}", headers=as_b).status_code == 404
        updated = api.put(f"/v1/moderation/term-lists/{terms.json()['id']}", headers=as_a, json={
            "name": "banned-sites", "entries": [{"term": "nothing-printed-here"}]})
        assert updated.status_code == 200
        assert _scan(api, as_a, code, scenes=["text"])["suggestion"] == "pass"
        bad_pattern = api.post("/v1/moderation/term-lists", headers=as_a, json={
            "name": "broken", "entries": [{"term": "(", "kind": "pattern"}]})
        assert bad_pattern.json()["error"]["code"] == "invalid_term_pattern"

        # a URL code goes to review by default; feedback that it should pass makes its copies pass
        default = _scan(api, as_a, code, scenes=["codes"])
        assert (default["suggestion"], default["labels"], default["policy"]) == ("review", ["codes:code_url"], "default")
        given = api.post("/v1/moderation/feedback", headers=as_a, json={"image_base64": b64(code), "should_be": "pass"})
        assert given.status_code == 201 and given.json()["list_name"] == "feedback-pass"
        passed = _scan(api, as_a, _edited(code, scale=0.8, crop=0.02), scenes=["codes"])
        assert (passed["suggestion"], passed["labels"]) == ("pass", ["image_list:feedback-pass"])
        assert _scan(api, as_b, code, scenes=["codes"])["suggestion"] == "review"
        lists = api.get("/v1/moderation/image-lists", headers=as_a).json()["lists"]
        assert [(entry["name"], entry["kind"], entry["entries"]) for entry in lists] == [("feedback-pass", "pass", 1)]
        # the latest correction wins: the picture leaves the pass list when it should block after all
        api.post("/v1/moderation/feedback", headers=as_a, files={"image": ("c.png", code, "image/png")},
                 data={"should_be": "block"})
        counts = {entry["name"]: entry["entries"] for entry in api.get("/v1/moderation/image-lists", headers=as_a).json()["lists"]}
        assert counts == {"feedback-pass": 0, "feedback-block": 1}
        assert _scan(api, as_a, code, scenes=["codes"])["suggestion"] == "block"
        api.post("/v1/moderation/feedback", headers=as_a, json={"image_base64": b64(code), "should_be": "pass"})

        # named policies: versioned, one the default, another tenant's unknown
        strict = api.post("/v1/moderation/policies", headers=as_a, json={
            "name": "strict", "labels": {"code_url": {"review": None, "block": 0.5}}})
        assert strict.status_code == 201 and strict.json()["version"] == 1
        assert api.post("/v1/moderation/policies", headers=as_a,
                        json={"name": "strict"}).json()["error"]["code"] == "name_taken"
        unknown = api.post("/v1/moderation/policies", headers=as_a, json={"name": "odd", "labels": {"ethnicity": {}}})
        assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "invalid_policy"
        other = (data_dir / "qr" / "qrcode-2").iterdir()
        photo = next(p for p in sorted(other) if p.name != "28.png").read_bytes()
        named = _scan(api, as_a, photo, scenes=["codes"], moderation="strict")
        assert (named["policy"], named["policy_version"]) == ("strict", 1)
        put = api.put("/v1/moderation/policies/strict", headers=as_a, json={
            "labels": {"code_url": {"block": 0.4}}, "is_default": True})
        assert put.json()["version"] == 2 and put.json()["is_default"]
        by_default = _scan(api, as_a, photo, scenes=["codes"])
        assert (by_default["policy"], by_default["policy_version"]) == ("strict", 2)
        missing = api.post("/v1/scan", headers=as_b, json={
            "moderation": "strict", "scenes": ["codes"], "tasks": [{"data_id": "x", "image_base64": b64(photo)}]})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "policy_not_found"
        assert api.post("/v1/scan/async", headers=as_b, json={
            "moderation": "strict", "tasks": [{"data_id": "x", "image_base64": b64(photo)}]}).status_code == 404
        assert _scan(api, as_b, photo, scenes=["codes"])["policy"] == "default"
        assert api.get("/v1/moderation/policies", headers=as_b).json() == {"policies": []}
        assert api.delete("/v1/moderation/policies/strict", headers=as_b).status_code == 404
        assert api.delete("/v1/moderation/policies/strict", headers=as_a).status_code == 204
        assert api.get("/v1/moderation/policies/strict", headers=as_a).status_code == 404


def test_list_limits_are_refused_with_their_codes(tmp_path, tenants, monkeypatch):
    as_a, _ = tenants
    monkeypatch.setattr(store_moderation, "MAX_ENTRIES", 2)
    with client(tmp_path) as api:
        ids = [api.post("/v1/moderation/image-lists", headers=as_a, json={"name": f"l{n}", "kind": "review"}).json()["id"]
               for n in range(store_moderation.MAX_LISTS)]
        eleventh = api.post("/v1/moderation/image-lists", headers=as_a, json={"name": "one-more", "kind": "block"})
        assert eleventh.status_code == 409 and eleventh.json()["error"]["code"] == "too_many_lists"
        for digit in "12":
            assert api.post(f"/v1/moderation/image-lists/{ids[0]}/images", headers=as_a,
                            json={"hash": digit * 64}).status_code == 201
        full = api.post(f"/v1/moderation/image-lists/{ids[0]}/images", headers=as_a, json={"hash": "3" * 64})
        assert full.status_code == 409 and full.json()["error"]["code"] == "list_full"


def test_the_openapi_document_lists_the_moderation_routes(tmp_path):
    with client(tmp_path) as api:
        document = api.get("/openapi.json").json()
    paths = document["paths"]
    assert {"post", "get"} <= set(paths["/v1/moderation/policies"])
    assert {"get", "put", "delete"} <= set(paths["/v1/moderation/policies/{name}"])
    assert {"post", "get"} <= set(paths["/v1/moderation/image-lists"])
    assert {"get", "delete"} <= set(paths["/v1/moderation/image-lists/{list_id}"])
    assert "post" in paths["/v1/moderation/image-lists/{list_id}/images"]
    assert "delete" in paths["/v1/moderation/image-lists/{list_id}/images/{entry_id}"]
    assert {"get", "put", "delete"} <= set(paths["/v1/moderation/term-lists/{list_id}"])
    assert "post" in paths["/v1/moderation/feedback"]
    scan_body = paths["/v1/scan"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "moderation" in scan_body["properties"]
    assert "moderation" in document["components"]["schemas"]["ScanItem"]["properties"]


def test_the_python_clients_drive_moderation_on_a_real_server(tmp_path, data_dir):
    photos = sorted((data_dir / "scenes" / "images").iterdir())
    listed, other = photos[10], photos[11]
    code = data_dir / URL_CODE
    with live_server(tmp_path / "server") as server, Client(server.url, api_key=server.key, timeout=300) as api:
        made = api.moderation.create_image_list("known-bad", "block")
        entry = api.moderation.add_image(made["id"], listed)
        assert api.moderation.get_image_list(made["id"])["entries"] == 1
        (blocked, passed) = api.scan({"copy": _edited(listed.read_bytes()), "other": other}, moderation=True)
        assert blocked.result.moderation.suggestion == "block" and passed.result.moderation.suggestion == "pass"
        (task,) = api.scan_async([_edited(listed.read_bytes())], moderation=True, wait=True, wait_timeout=120)
        assert task.result.moderation.suggestion == "block"
        assert api.moderation.delete_image(made["id"], entry["entry_id"]) is None
        assert api.moderation.create_policy("strict", {"code_url": {"block": 0.5}})["version"] == 1
        assert api.moderation.update_policy("strict", {"code_url": {"block": 0.4}}, is_default=True)["version"] == 2
        terms = api.moderation.create_term_list("sites", [{"term": "webtech"}])
        assert api.moderation.list_term_lists()["lists"][0]["id"] == terms["id"]
        assert api.moderation.feedback(code, "pass")["list_name"] == "feedback-pass"
        (decided,) = api.scan([code], scenes=["codes"], moderation="strict")
        assert (decided.result.moderation.suggestion, decided.result.moderation.policy_version) == ("pass", 2)

        async def asynchronously() -> None:
            async with AsyncClient(server.url, api_key=server.key, timeout=300) as aio:
                assert [p["name"] for p in (await aio.moderation.list_policies())["policies"]] == ["strict"]
                await aio.moderation.delete_policy("strict")
                with pytest.raises(NotFound):
                    await aio.moderation.get_policy("strict")
                (item,) = await aio.scan([other], moderation=True)
                assert item.result.moderation.policy == "default"

        asyncio.run(asynchronously())


def test_lists_are_rebuilt_only_when_they_change_and_idempotency_covers_moderation(tmp_path, tenants):
    as_a, _ = tenants
    store = Store(settings(tmp_path).store_url())
    store.migrate()
    listed = store.moderation.create_list("tenant-a", "known", "block")
    store.moderation.add_entry("tenant-a", listed.id, [bytes(32)])
    (first,) = store.moderation.picture_lists("tenant-a")
    assert store.moderation.picture_lists("tenant-a")[0] is first  # unchanged: the built list is reused
    store.moderation.add_entry("tenant-a", listed.id, [bytes([1]) * 32])
    (second,) = store.moderation.picture_lists("tenant-a")
    assert second is not first and len(second) == 2
    assert store.moderation.picture_lists("tenant-b") == []
    store.moderation.delete_list("tenant-a", listed.id)
    assert store.moderation.picture_lists("tenant-a") == []
    store.close()

    body = {"tasks": [{"data_id": "x", "url": "http://127.0.0.1:9/never-fetched.jpg"}]}
    with client(tmp_path, url_allowlist="127.0.0.1") as api:
        first_submit = api.post("/v1/scan/async", headers={**as_a, "Idempotency-Key": "k"}, json=body)
        assert first_submit.status_code == 202
        reused = api.post("/v1/scan/async", headers={**as_a, "Idempotency-Key": "k"}, json={**body, "moderation": True})
        assert reused.status_code == 400 and reused.json()["error"]["code"] == "idempotency_key_reused"


def _framed(data: bytes, left: float, right: float) -> bytes:
    """The part of the photo between ``left`` and ``right`` (shares of its width), as a new JPEG:
    two framings of one street scene that share a strip but are not copies of each other."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    out = io.BytesIO()
    image.crop((int(image.width * left), 0, int(image.width * right), image.height)).save(out, format="JPEG", quality=90)
    return out.getvalue()


def test_another_framing_of_the_same_scene_is_not_matched(tmp_path, data_dir, tenants):
    as_a, _ = tenants
    scenes = sorted((data_dir / "scenes" / "images").iterdir())[10:14]
    with client(tmp_path) as api:
        list_id = api.post("/v1/moderation/image-lists", headers=as_a, json={"name": "known-bad", "kind": "block"}).json()["id"]
        for photo in scenes:
            data = photo.read_bytes()
            added = api.post(f"/v1/moderation/image-lists/{list_id}/images", headers=as_a,
                             json={"image_base64": b64(_framed(data, 0.0, 0.6))})
            assert added.status_code == 201, added.text
            assert _scan(api, as_a, _edited(_framed(data, 0.0, 0.6)))["suggestion"] == "block", photo.name
            other_framing = _scan(api, as_a, _framed(data, 0.4, 1.0))
            assert (other_framing["suggestion"], other_framing["image_lists"]) == ("pass", []), photo.name
