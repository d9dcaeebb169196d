"""Outbound HTTP without SSRF: image URLs and callbacks go only to public addresses.

Every hop (the first URL and each redirect, followed by hand) is resolved with DNS, and every
address it resolves to must be public (``ip.is_global`` and not multicast, IPv6-mapped and 6to4
IPv4 checked as the IPv4 they carry). The connection then goes to the checked address itself with
the original ``Host`` header and TLS server name, so a second DNS answer (rebinding) is never used.
Hosts in ``DISCREET_URL_ALLOWLIST`` skip the address check (and only that). Bodies are streamed and
cut at the byte limit; a whole-fetch deadline stops servers that drip bytes.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from discreet.errors import FetchError
from discreet.settings import ServiceSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def refused(message: str) -> FetchError:
    return FetchError(message, code="url_refused")


def is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        carried = ip.ipv4_mapped or ip.sixtofour
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
        # trust_env=False: a proxy from the environment would do its own DNS and undo the pinning.
        self.client = httpx.Client(follow_redirects=False, trust_env=False, http2=False)

    def close(self) -> None:
        self.client.close()

    def check(self, url: str) -> Target:
        """Parse, resolve and vet one URL; returns the address to connect to."""
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
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        addresses = _resolve(host, port)
        if host not in self.allowed_hosts:
            bad = [str(ip) for ip in addresses if not is_public(ip)]
            if bad:
                raise refused(f"'{host}' resolves to a non-public address ({', '.join(bad)})")
        return Target(parsed, host, str(addresses[0]))

    def _send(self, method: str, target: Target, *, timeout: float, **kwargs: object) -> httpx.Response:
        url = target.url
        pinned = url.copy_with(host=target.address)
        headers = dict(kwargs.pop("headers", None) or {})  # type: ignore[arg-type]
        headers["Host"] = url.netloc.decode("ascii")
        request = self.client.build_request(
            method, pinned, headers=headers, timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            extensions={"sni_hostname": target.host} if url.scheme == "https" else {}, **kwargs,  # type: ignore[arg-type]
        )
        return self.client.send(request, stream=True)

    def fetch_image(self, url: str) -> bytes:
        """GET an image, following redirects by hand and vetting each hop."""
        deadline = time.monotonic() + self.timeout
        for _hop in range(self.max_redirects + 1):
            target = self.check(url)
            try:
                response = self._send("GET", target, timeout=self.timeout)
                try:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        url = urljoin(str(target.url), location)
                        continue
                    if response.status_code >= 400:
                        raise FetchError(f"the URL answered HTTP {response.status_code}", code="url_fetch_failed")
                    return self._read_capped(response, deadline)
                finally:
                    response.close()
            except httpx.TimeoutException as exc:
                raise FetchError("the URL's server is too slow", code="url_timeout") from exc
            except httpx.HTTPError as exc:
                raise FetchError(f"the URL could not be fetched: {type(exc).__name__}", code="url_fetch_failed") from exc
        raise FetchError(f"more than {self.max_redirects} redirects", code="url_fetch_failed")

    def _read_capped(self, response: httpx.Response, deadline: float) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(f"the URL's body is {int(declared):,} bytes, over {self.max_bytes:,}", code="url_too_large")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                raise FetchError(f"the URL's body is over {self.max_bytes:,} bytes", code="url_too_large")
            if time.monotonic() > deadline:
                raise FetchError(f"the URL took over {self.timeout:g} s", code="url_timeout")
        return bytes(body)

    def post(self, url: str, content: bytes, headers: dict[str, str]) -> int:
        """POST once without following redirects; returns the status. Raises FetchError."""
        target = self.check(url)
        try:
            response = self._send("POST", target, timeout=self.callback_timeout, content=content, headers=headers)
            response.close()
            return response.status_code
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}", code="callback_failed") from exc


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
