"""A Python client for the Discreet HTTP service, sync (:class:`Client`) and asyncio (:class:`AsyncClient`).

Both speak the same API through one request/response layer (:class:`_Protocol`); only the I/O differs.
Results come back as the library's own types (:class:`discreet.schema.ScanResult`), and an error
answer is raised as the :class:`discreet.errors.DiscreetError` subclass that carries the server's code,
so code written against the library and against the service branches on errors the same way.

    from discreet.client import Client
    with Client("http://localhost:8000", api_key="...") as client:
        for item in client.scan(["photo.jpg"], scenes=["faces"]):
            print(item.data_id, item.result.faces if item.ok else item.error.code)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field
from standardwebhooks import Webhook, WebhookVerificationError

from discreet.errors import DiscreetError, NotFound, ServiceError, SignatureError, error_class
from discreet.results import ScanResult
from discreet.states import TaskStatus

#: An image to scan: a path, raw bytes, or an ``http(s)://`` URL the server fetches itself.
ImageSource = str | Path | bytes



class _Open(BaseModel):
    # answers may grow fields; the client should keep working when they do
    model_config = ConfigDict(extra="ignore", frozen=True)


class ErrorInfo(_Open):
    code: str
    message: str
    request_id: str | None = None

    def to_exception(self, http_status: int | None = None) -> DiscreetError:
        return _exception(self.code, self.message, http_status, self.request_id)


@dataclass(frozen=True)
class ImageResult:
    """One image of a scan: its ``result``, or the ``error`` that stopped that image alone."""

    data_id: str
    result: ScanResult | None = None
    error: DiscreetError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Task(_Open):
    task_id: str
    data_id: str
    status: TaskStatus
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    expires_at: datetime | None = Field(None, description="when the server erases the result")
    result: ScanResult | None = None
    error: ErrorInfo | None = None

    @property
    def finished(self) -> bool:
        return self.status.finished


def _exception(code: str, message: str, http_status: int | None, request_id: str | None) -> DiscreetError:
    """The DiscreetError subclass for a server error, carrying the server's code and request id.

    The class is the one ``discreet.errors.ERROR_CODES`` declares for the code (``ServiceError`` for a
    code declared nowhere); ``rate_limited`` and ``queue_unavailable`` carry the Retry-After seconds in
    ``retry_after``.
    """
    exc = error_class(code)(message, code=code)
    exc.request_id = request_id  # type: ignore[attr-defined]
    if http_status is not None:
        exc.http_status = http_status
    return exc


def _raise_for_error(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        info = ErrorInfo.model_validate(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        info = ErrorInfo(code="http_error", message=f"HTTP {response.status_code}: {response.text[:200]}")
    exc = info.to_exception(response.status_code)
    if response.headers.get("retry-after", "").isdigit():
        exc.retry_after = int(response.headers["retry-after"])  # type: ignore[attr-defined]
    raise exc


def _image_result(item: Mapping[str, Any]) -> ImageResult:
    data_id = str(item["data_id"])
    if item.get("error"):
        return ImageResult(data_id, error=ErrorInfo.model_validate(item["error"]).to_exception())
    fields = {k: v for k, v in item.items() if k != "data_id"}
    return ImageResult(data_id, result=ScanResult.model_validate(fields))


def _is_url(source: ImageSource) -> bool:
    return isinstance(source, str) and source.startswith(("http://", "https://"))


def _read(source: str | Path | bytes) -> bytes:
    return source if isinstance(source, bytes) else Path(source).read_bytes()


def _default_data_id(source: ImageSource, index: int) -> str:
    if isinstance(source, bytes):
        return str(index)
    return str(source) if _is_url(source) else Path(source).name


def _scan_request(
    images: ImageSource | Sequence[ImageSource] | Mapping[str, ImageSource],
    scenes: Iterable[str],
    attributes: Iterable[str],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The httpx arguments of a scan. ``images`` is one source, a list (data ids default to file
    names, URLs or indexes) or a mapping ``data_id -> source``.

    Local images go as multipart parts named by their data_id (bytes, not base64); the JSON request
    rides in the ``request`` field and lists every task, so the order of the answer is the order given.
    """
    if isinstance(images, Mapping):
        pairs = list(images.items())
    else:
        sources = [images] if isinstance(images, (str, Path, bytes)) else list(images)
        pairs = [(_default_data_id(s, i), s) for i, s in enumerate(sources)]
    tasks = [{"data_id": data_id, "url": str(s)} if _is_url(s) else {"data_id": data_id} for data_id, s in pairs]
    body = {"scenes": list(scenes), "attributes": list(attributes), "tasks": tasks, **(extra or {})}
    files = [(data_id, (data_id, _read(s))) for data_id, s in pairs if not _is_url(s)]
    if not files:
        return {"json": body}
    return {"data": {"request": json.dumps(body)}, "files": files}


def _moderation(moderation: bool | str | None) -> dict[str, Any]:
    return {} if moderation is None else {"moderation": moderation}


def _anonymize_request(image: ImageSource, method: str, redact: Iterable[str]) -> dict[str, Any]:
    """A local image goes as the multipart part ``image``; a URL as JSON, fetched by the server."""
    if _is_url(image):
        return {"json": {"url": str(image), "method": method, "redact": list(redact)}}
    name = "image" if isinstance(image, bytes) else Path(image).name
    return {"data": {"method": method, "redact": ",".join(redact)}, "files": {"image": (name, _read(image))}}


def _picture(image: str | Path | bytes) -> dict[str, Any]:
    name = "image" if isinstance(image, bytes) else Path(image).name
    return {"files": {"image": (name, _read(image))}}


class ModerationApi:
    """The tenant's moderation setup (``client.moderation``): policies, picture lists, term lists and
    feedback. Each method answers the service's JSON; on :class:`AsyncClient`, await it.

    A picture sent here is hashed by the service and dropped; only its hashes are kept.
    """

    def __init__(self, call: Callable[..., Any]) -> None:
        self._call = call

    def create_policy(self, name: str, labels: Mapping[str, Mapping[str, float | None]] | None = None,
                      *, is_default: bool = False) -> Any:
        return self._call("POST", "/v1/moderation/policies", json={"name": name, "labels": dict(labels or {}),
                                                                    "is_default": is_default})

    def list_policies(self) -> Any:
        return self._call("GET", "/v1/moderation/policies")

    def get_policy(self, name: str) -> Any:
        return self._call("GET", f"/v1/moderation/policies/{name}")

    def update_policy(self, name: str, labels: Mapping[str, Mapping[str, float | None]] | None = None,
                      *, is_default: bool = False) -> Any:
        """Replace the labels (and default mark); the policy's version goes up by one."""
        return self._call("PUT", f"/v1/moderation/policies/{name}",
                          json={"labels": dict(labels or {}), "is_default": is_default})

    def delete_policy(self, name: str) -> Any:
        return self._call("DELETE", f"/v1/moderation/policies/{name}")

    def create_image_list(self, name: str, kind: str) -> Any:
        """``kind``: ``block``, ``review`` or ``pass``."""
        return self._call("POST", "/v1/moderation/image-lists", json={"name": name, "kind": kind})

    def list_image_lists(self) -> Any:
        return self._call("GET", "/v1/moderation/image-lists")

    def get_image_list(self, list_id: str) -> Any:
        return self._call("GET", f"/v1/moderation/image-lists/{list_id}")

    def delete_image_list(self, list_id: str) -> Any:
        return self._call("DELETE", f"/v1/moderation/image-lists/{list_id}")

    def add_image(self, list_id: str, image: str | Path | bytes) -> Any:
        """Add a picture (a path or bytes); answers the entry id and the picture's PDQ hash."""
        return self._call("POST", f"/v1/moderation/image-lists/{list_id}/images", **_picture(image))

    def add_hash(self, list_id: str, pdq_hash: str) -> Any:
        """Add a PDQ hash (64 hex digits) shared by a partner."""
        return self._call("POST", f"/v1/moderation/image-lists/{list_id}/images", json={"hash": pdq_hash})

    def delete_image(self, list_id: str, entry_id: str) -> Any:
        return self._call("DELETE", f"/v1/moderation/image-lists/{list_id}/images/{entry_id}")

    def create_term_list(self, name: str, entries: Iterable[Mapping[str, str]]) -> Any:
        """``entries``: ``{"term": ..., "kind": "word"|"phrase"|"pattern", "action": "block"|"review"|"pass"}``."""
        return self._call("POST", "/v1/moderation/term-lists", json={"name": name, "entries": list(entries)})

    def list_term_lists(self) -> Any:
        return self._call("GET", "/v1/moderation/term-lists")

    def get_term_list(self, list_id: str) -> Any:
        return self._call("GET", f"/v1/moderation/term-lists/{list_id}")

    def update_term_list(self, list_id: str, name: str, entries: Iterable[Mapping[str, str]]) -> Any:
        return self._call("PUT", f"/v1/moderation/term-lists/{list_id}", json={"name": name, "entries": list(entries)})

    def delete_term_list(self, list_id: str) -> Any:
        return self._call("DELETE", f"/v1/moderation/term-lists/{list_id}")

    def feedback(self, image: str | Path | bytes, should_be: str) -> Any:
        """Say a picture should ``pass`` or ``block``: its copies are decided that way from then on."""
        return self._call("POST", "/v1/moderation/feedback", data={"should_be": should_be}, **_picture(image))


def _json_or_none(response: httpx.Response) -> Any:
    return response.json() if response.content else None


class _Protocol:
    """Builds requests and reads answers; the sync and async clients only send them."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = timeout

    @staticmethod
    def _idempotency(key: str | None) -> dict[str, str]:
        return {"Idempotency-Key": key} if key else {}

    @staticmethod
    def _tasks(answer: Mapping[str, Any]) -> list[Task]:
        return [Task.model_validate(t) for t in answer["tasks"]]

    @staticmethod
    def _ids_param(task_ids: Iterable[str]) -> dict[str, str]:
        return {"ids": ",".join(task_ids)}

    @staticmethod
    def _all_finished(task_ids: Sequence[str], tasks: list[Task]) -> bool:
        """True when every task has finished; a task the server no longer knows is an error, not a finish."""
        missing = set(task_ids) - {t.task_id for t in tasks}
        if missing:
            raise NotFound(f"no task {', '.join(sorted(missing))} (deleted, expired or unknown)")
        return all(t.finished for t in tasks)


class Client(_Protocol):
    """Synchronous client. Use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout)
        self._http = httpx.Client(base_url=self.base_url, headers=self.headers, timeout=timeout, transport=transport)
        self.moderation = ModerationApi(lambda method, path, **kwargs: _json_or_none(self._send(method, path, **kwargs)))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceError(f"cannot reach {self.base_url}: {exc}", code="service_unreachable") from exc
        _raise_for_error(response)
        return response

    def health(self) -> bool:
        try:
            return self._http.get("/healthz").is_success
        except httpx.TransportError:
            return False

    def scan(
        self,
        images: ImageSource | Sequence[ImageSource] | Mapping[str, ImageSource],
        scenes: Iterable[str] = ("faces",),
        attributes: Iterable[str] = (),
        *,
        moderation: bool | str | None = None,
    ) -> list[ImageResult]:
        """Scan now; one :class:`ImageResult` per image, in order. ``moderation``: ``True`` for the
        tenant's default policy, or a policy's name; the decision is in ``result.moderation``."""
        answer = self._send("POST", "/v1/scan", **_scan_request(images, scenes, attributes,
                                                                _moderation(moderation))).json()
        return [_image_result(item) for item in answer["results"]]

    def scan_async(
        self,
        images: ImageSource | Sequence[ImageSource] | Mapping[str, ImageSource],
        scenes: Iterable[str] = ("faces",),
        attributes: Iterable[str] = (),
        *,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        moderation: bool | str | None = None,
        wait: bool = False,
        poll_interval: float = 0.5,
        wait_timeout: float | None = None,
    ) -> list[Task]:
        """Queue a scan; with ``wait=True``, poll until every task has finished and return them finished."""
        extra = {**({"callback_url": callback_url} if callback_url else {}), **_moderation(moderation)}
        request = _scan_request(images, scenes, attributes, extra)
        answer = self._send("POST", "/v1/scan/async", **request, headers=self._idempotency(idempotency_key))
        tasks = self._tasks(answer.json())
        return self.wait([t.task_id for t in tasks], poll_interval, wait_timeout) if wait else tasks

    def wait(self, task_ids: Sequence[str], poll_interval: float = 0.5, timeout: float | None = None) -> list[Task]:
        """Poll until every task has finished. Raises ``TimeoutError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            tasks = self.list_tasks(task_ids)
            if self._all_finished(task_ids, tasks):
                return tasks
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"tasks not finished after {timeout} s: {[t.task_id for t in tasks if not t.finished]}")
            time.sleep(poll_interval)

    def get_task(self, task_id: str) -> Task:
        return Task.model_validate(self._send("GET", f"/v1/tasks/{task_id}").json())

    def list_tasks(self, task_ids: Iterable[str]) -> list[Task]:
        return self._tasks(self._send("GET", "/v1/tasks", params=self._ids_param(task_ids)).json())

    def delete_task(self, task_id: str) -> str:
        """Cancel a queued task or erase a finished one; returns ``canceled``, ``canceling`` or ``erased``."""
        return self._send("DELETE", f"/v1/tasks/{task_id}").json()["status"]

    def callback_secret(self) -> str:
        """The ``whsec_...`` secret that signs this key's callbacks (give it to :func:`verify_signature`)."""
        return self._send("GET", "/v1/callbacks/secret").json()["secret"]

    def anonymize(self, image: ImageSource, method: str = "blur", redact: Iterable[str] = ("faces",)) -> bytes:
        """The image with faces (and any other ``redact`` scene) covered, re-encoded without metadata."""
        return self._send("POST", "/v1/anonymize", **_anonymize_request(image, method, redact)).content


class AsyncClient(_Protocol):
    """asyncio client with the same methods as :class:`Client`, as coroutines."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=self.headers, timeout=timeout, transport=transport
        )
        self.moderation = ModerationApi(self._json)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceError(f"cannot reach {self.base_url}: {exc}", code="service_unreachable") from exc
        _raise_for_error(response)
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return _json_or_none(await self._send(method, path, **kwargs))

    async def health(self) -> bool:
        try:
            return (await self._http.get("/healthz")).is_success
        except httpx.TransportError:
            return False

    async def scan(
        self,
        images: ImageSource | Sequence[ImageSource] | Mapping[str, ImageSource],
        scenes: Iterable[str] = ("faces",),
        attributes: Iterable[str] = (),
        *,
        moderation: bool | str | None = None,
    ) -> list[ImageResult]:
        request = _scan_request(images, scenes, attributes, _moderation(moderation))
        answer = (await self._send("POST", "/v1/scan", **request)).json()
        return [_image_result(item) for item in answer["results"]]

    async def scan_async(
        self,
        images: ImageSource | Sequence[ImageSource] | Mapping[str, ImageSource],
        scenes: Iterable[str] = ("faces",),
        attributes: Iterable[str] = (),
        *,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        moderation: bool | str | None = None,
        wait: bool = False,
        poll_interval: float = 0.5,
        wait_timeout: float | None = None,
    ) -> list[Task]:
        extra = {**({"callback_url": callback_url} if callback_url else {}), **_moderation(moderation)}
        request = _scan_request(images, scenes, attributes, extra)
        answer = await self._send("POST", "/v1/scan/async", **request, headers=self._idempotency(idempotency_key))
        tasks = self._tasks(answer.json())
        return await self.wait([t.task_id for t in tasks], poll_interval, wait_timeout) if wait else tasks

    async def wait(
        self, task_ids: Sequence[str], poll_interval: float = 0.5, timeout: float | None = None
    ) -> list[Task]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            tasks = await self.list_tasks(task_ids)
            if self._all_finished(task_ids, tasks):
                return tasks
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"tasks not finished after {timeout} s: {[t.task_id for t in tasks if not t.finished]}")
            await asyncio.sleep(poll_interval)

    async def get_task(self, task_id: str) -> Task:
        return Task.model_validate((await self._send("GET", f"/v1/tasks/{task_id}")).json())

    async def list_tasks(self, task_ids: Iterable[str]) -> list[Task]:
        return self._tasks((await self._send("GET", "/v1/tasks", params=self._ids_param(task_ids))).json())

    async def delete_task(self, task_id: str) -> str:
        return (await self._send("DELETE", f"/v1/tasks/{task_id}")).json()["status"]

    async def callback_secret(self) -> str:
        return (await self._send("GET", "/v1/callbacks/secret")).json()["secret"]

    async def anonymize(
        self, image: ImageSource, method: str = "blur", redact: Iterable[str] = ("faces",)
    ) -> bytes:
        return (await self._send("POST", "/v1/anonymize", **_anonymize_request(image, method, redact))).content


def verify_signature(secret: str | bytes, headers: Mapping[str, str], body: bytes | str) -> Any:
    """Check a callback's Standard Webhooks signature and return its JSON body.

    ``secret`` is the webhook secret of the API key that queued the task (``whsec_...`` or raw bytes);
    ``headers`` must hold ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``. Raises
    :class:`SignatureError` when the signature does not match or the timestamp is over 5 minutes off.
    """
    try:
        return Webhook(secret).verify(body, dict(headers))
    except WebhookVerificationError as exc:
        raise SignatureError(f"callback signature rejected: {exc}") from exc
