"""Outbound HTTP without SSRF: image URLs and callbacks go only to public addresses.

Every hop (the first URL and each redirect, followed by hand) is resolved with DNS, and every
address it resolves to must be public (``ip.is_global`` and not multicast; an IPv6 address that
carries an IPv4 one -- mapped ``::ffff:0:0/96``, compatible ``::/96``, translated ``::ffff:0:0:0/96``,
NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16`` -- is checked as the IPv4 it carries, and the local-use
NAT64 prefix ``64:ff9b:1::/48`` is refused). A refusal never names the address a host resolved to. The connection then goes to the checked address itself with
the original ``Host`` header and TLS server name, so a second DNS answer (rebinding) is never used.
Hosts in ``DISCREET_URL_ALLOWLIST`` skip the address check (and only that). Bodies are streamed and
cut at the byte limit. Each fetch (all its hops) and each callback delivery runs under one overall
deadline (``asyncio.timeout`` around the DNS lookups and the async httpx calls), so a resolver that
hangs or a server that drips its status line and headers is cut at the deadline too, not only one
whose body is slow.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urljoin

import httpx

from discreet.errors import FetchError
from discreet.settings import ServiceSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
T = TypeVar("T")
log = logging.getLogger("discreet.service.fetch")

NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")


def refused(message: str) -> FetchError:
    return FetchError(message, code="url_refused")


def carried_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, translated, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in IPV4_COMPATIBLE or ip in IPV4_TRANSLATED or ip in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id or ip in NAT64_LOCAL_USE:
            return False
        carried = carried_ipv4(ip)
        if carried is not None:
            return is_public(carried)
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class Target:
    url: httpx.URL
    host: str
    address: str


class SafeHttp:
    def __init__(self, settings: ServiceSettings) -> None:
        self.allowed_hosts = settings.allowed_hosts
        self.max_bytes = settings.fetch_max_bytes
        self.timeout = settings.fetch_timeout_seconds
        self.max_redirects = settings.fetch_max_redirects
        self.callback_timeout = settings.callback_timeout_seconds
        self.ssl_context = httpx.create_ssl_context()  # built once; each fetch gets its own client

    def close(self) -> None:
        pass

    def _client(self) -> httpx.AsyncClient:
        # trust_env=False: a proxy from the environment would do its own DNS and undo the pinning.
        return httpx.AsyncClient(follow_redirects=False, trust_env=False, http2=False, verify=self.ssl_context)

    async def check(self, url: str) -> Target:
        """Parse, resolve and vet one URL; returns the address to connect to. The lookup is awaited,
        so the caller's deadline also cuts a resolver that hangs."""
        parsed, host, port = self._parse(url)
        return self._vet(parsed, host, await _resolve_in_thread(host, port))

    def _parse(self, url: str) -> tuple[httpx.URL, str, int]:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise refused(f"not a valid URL: {exc}") from exc
        if parsed.scheme not in ("http", "https"):
            raise refused(f"only http and https URLs are fetched, not '{parsed.scheme}'")
        host = (parsed.host or "").lower().rstrip(".")
        if not host:
            raise refused("the URL has no host")
        if parsed.userinfo:
            raise refused("URLs with credentials are not fetched")
        return parsed, host, parsed.port or (443 if parsed.scheme == "https" else 80)

    def _vet(self, parsed: httpx.URL, host: str, addresses: list[IPAddress]) -> Target:
        if host not in self.allowed_hosts:
            bad = [str(ip) for ip in addresses if not is_public(ip)]
            if bad:  # the address stays in the server's log: naming it would map the internal network
                log.info("refused %s: resolves to %s", host, ", ".join(bad))
                raise refused(f"'{host}' resolves to a non-public address")
        return Target(parsed, host, str(addresses[0]))

    async def _send(self, client: httpx.AsyncClient, method: str, target: Target, *, timeout: float,
                    **kwargs: object) -> httpx.Response:
        url = target.url
        pinned = url.copy_with(host=target.address)
        headers = dict(kwargs.pop("headers", None) or {})  # type: ignore[arg-type]
        headers["Host"] = url.netloc.decode("ascii")
        request = client.build_request(
            method, pinned, headers=headers, timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            extensions={"sni_hostname": target.host} if url.scheme == "https" else {}, **kwargs,  # type: ignore[arg-type]
        )
        return await client.send(request, stream=True)

    def check_callback(self, url: str) -> Target:
        """Vet a callback URL when tasks are submitted, its lookup within the callback deadline."""
        return _within(self.callback_timeout, lambda: self.check(url),
                       FetchError(f"the callback URL's host took over {self.callback_timeout:g} s to resolve",
                                  code="url_timeout"))

    def fetch_image(self, url: str) -> bytes:
        """GET an image, following redirects by hand and vetting each hop, all within the deadline."""
        return _within(self.timeout, lambda: self._fetch_image(url),
                       FetchError(f"the URL took over {self.timeout:g} s", code="url_timeout"))

    async def _fetch_image(self, url: str) -> bytes:
        async with self._client() as client:
            for _hop in range(self.max_redirects + 1):
                target = await self.check(url)
                try:
                    response = await self._send(client, "GET", target, timeout=self.timeout)
                    try:
                        if response.is_redirect:
                            location = response.headers.get("location", "")
                            url = urljoin(str(target.url), location)
                            continue
                        if response.status_code >= 400:
                            raise FetchError(f"the URL answered HTTP {response.status_code}", code="url_fetch_failed")
                        return await self._read_capped(response)
                    finally:
                        await response.aclose()
                except httpx.TimeoutException as exc:
                    raise FetchError("the URL's server is too slow", code="url_timeout") from exc
                except httpx.HTTPError as exc:
                    raise FetchError(f"the URL could not be fetched: {type(exc).__name__}",
                                     code="url_fetch_failed") from exc
        raise FetchError(f"more than {self.max_redirects} redirects", code="url_fetch_failed")

    async def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(f"the URL's body is {int(declared):,} bytes, over {self.max_bytes:,}", code="url_too_large")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                raise FetchError(f"the URL's body is over {self.max_bytes:,} bytes", code="url_too_large")
        return bytes(body)

    def post(self, url: str, content: bytes, headers: dict[str, str]) -> int:
        """POST once without following redirects, within the callback deadline; returns the status.
        Raises FetchError."""
        return _within(self.callback_timeout, lambda: self._post(url, content, headers),
                       FetchError(f"the callback took over {self.callback_timeout:g} s", code="callback_failed"))

    async def _post(self, url: str, content: bytes, headers: dict[str, str]) -> int:
        target = await self.check(url)
        try:
            async with self._client() as client:
                response = await self._send(client, "POST", target, timeout=self.callback_timeout,
                                            content=content, headers=headers)
                await response.aclose()
                return response.status_code
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}", code="callback_failed") from exc


def _within(seconds: float, work: Callable[[], Awaitable[T]], late: FetchError) -> T:
    """Run ``work`` on a private event loop, cut at ``seconds`` however the server drips its bytes.

    Called from worker threads (no loop of their own), never from the API's event loop.
    """
    async def bounded() -> T:
        try:
            async with asyncio.timeout(seconds):
                return await work()
        except TimeoutError as exc:
            raise late from exc

    return asyncio.run(bounded())


async def _resolve_in_thread(host: str, port: int) -> list[IPAddress]:
    """``_resolve`` in a daemon thread of its own, awaited: ``getaddrinfo`` cannot be interrupted, so a
    lookup cut at the deadline is left to end on the system resolver's own timeout, holding no pool
    slot that another tenant's fetch needs and never keeping the process from exiting."""
    answer: Future[list[IPAddress]] = Future()

    def lookup() -> None:
        if not answer.set_running_or_notify_cancel():
            return
        try:
            answer.set_result(_resolve(host, port))
        except BaseException as exc:  # handed to the awaiting fetch, which raises it
            answer.set_exception(exc)

    threading.Thread(target=lookup, name="discreet-resolve", daemon=True).start()
    return await asyncio.wrap_future(answer)


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve '{host}'", code="url_fetch_failed") from exc
    # scope ids (fe80::1%eth0) are dropped before parsing
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    if not addresses:
        raise FetchError(f"cannot resolve '{host}'", code="url_fetch_failed")
    return addresses
