"""URL fetching without SSRF. Refused addresses are refused before any connection is made."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time

import pytest
from service_support import client, dripping_server, face_image, local_server, settings

from discreet.errors import FetchError
from discreet.service.fetch import SafeHttp


@pytest.fixture(scope="module")
def image(data_dir) -> bytes:
    return face_image(data_dir)


@pytest.fixture
def server(image):
    with local_server(image) as running:
        yield running


def _fetcher(tmp_path, **overrides) -> SafeHttp:
    return SafeHttp(settings(tmp_path, **overrides))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.jpg",
        "http://localhost/x.jpg",
        "http://2130706433/x.jpg",  # 127.0.0.1 written as one number
        "http://[::1]/x.jpg",
        "http://[::ffff:127.0.0.1]/x.jpg",  # IPv6-mapped IPv4
        "http://[::ffff:10.0.0.1]/x.jpg",
        "http://10.0.0.1/x.jpg",
        "http://192.168.1.1/x.jpg",
        "http://172.16.5.4/x.jpg",
        "http://100.64.0.1/x.jpg",  # carrier-grade NAT
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/x.jpg",
        "http://224.0.0.1/x.jpg",
        "http://0.0.0.0/x.jpg",
        "http://240.0.0.1/x.jpg",  # reserved
        "file:///etc/passwd",
        "ftp://example.org/x.jpg",
        "gopher://example.org/",
        "http://user:pw@example.org/x.jpg",
    ],
)
def test_refused_urls(tmp_path, url):
    with pytest.raises(FetchError) as refused:
        _fetcher(tmp_path).fetch_image(url)
    assert refused.value.code == "url_refused"


def test_allowlisted_host_is_fetched_and_others_still_refused(tmp_path, server, image):
    assert _fetcher(tmp_path, url_allowlist="127.0.0.1").fetch_image(server.url("/image.jpg")) == image
    with pytest.raises(FetchError) as refused:
        _fetcher(tmp_path).fetch_image(server.url("/image.jpg"))
    assert refused.value.code == "url_refused"


@pytest.mark.parametrize(
    "target",
    ["http://10.1.2.3/x.jpg", "http://169.254.169.254/latest/meta-data/", "http://[::ffff:192.168.0.1]/",
     "http://localhost:{port}/image.jpg", "file:///etc/passwd"],
)
def test_every_redirect_hop_is_checked(tmp_path, server, target):
    url = server.url("/redirect?to=" + target.format(port=server.port))
    with pytest.raises(FetchError) as refused:
        _fetcher(tmp_path, url_allowlist="127.0.0.1").fetch_image(url)
    assert refused.value.code == "url_refused"


def test_redirect_to_an_allowed_target_is_followed(tmp_path, server, image):
    url = server.url("/redirect?to=" + server.url("/image.jpg"))
    assert _fetcher(tmp_path, url_allowlist="127.0.0.1").fetch_image(url) == image


def test_body_over_the_limit_is_cut(tmp_path, server):
    with pytest.raises(FetchError) as cut:
        _fetcher(tmp_path, url_allowlist="127.0.0.1", fetch_max_bytes=100_000).fetch_image(server.url("/big"))
    assert cut.value.code == "url_too_large"


def test_slow_server_times_out(tmp_path, server):
    with pytest.raises(FetchError) as slow:
        _fetcher(tmp_path, url_allowlist="127.0.0.1", fetch_timeout_seconds=0.5).fetch_image(server.url("/slow"))
    assert slow.value.code == "url_timeout"


def test_the_connection_goes_to_the_checked_address(tmp_path, server, image, monkeypatch):
    """DNS rebinding: a second lookup answering a private address must not be used."""
    from discreet.service import fetch

    answers = iter([["127.0.0.1"], ["10.9.9.9"]])
    real = fetch._resolve
    monkeypatch.setattr(fetch, "_resolve", lambda host, port: real(next(answers)[0], port))
    fetcher = _fetcher(tmp_path, url_allowlist="rebind.test")
    assert fetcher.fetch_image(f"http://rebind.test:{server.port}/image.jpg") == image


def test_scan_by_url_through_the_api(tmp_path, server, image):
    with client(tmp_path, url_allowlist="127.0.0.1") as api:
        tasks = [
            {"data_id": "ok", "url": server.url("/image.jpg")},
            {"data_id": "missing", "url": server.url("/nothing.jpg")},
            {"data_id": "to-private", "url": server.url("/redirect?to=http://10.0.0.7/x.jpg")},
        ]
        results = api.post("/v1/scan", json={"tasks": tasks}).json()["results"]
        assert len(results[0]["faces"]) > 0
        assert results[1]["error"]["code"] == "url_fetch_failed"
        assert results[2]["error"]["code"] == "url_refused"


def test_a_server_dripping_its_head_is_cut_at_the_fetch_deadline(tmp_path):
    """One byte of status line and headers every 0.1 s: each read is quick, the whole is not."""
    with dripping_server() as port:
        fetcher = _fetcher(tmp_path, url_allowlist="127.0.0.1", fetch_timeout_seconds=0.6)
        started = time.monotonic()
        with pytest.raises(FetchError) as slow:
            fetcher.fetch_image(f"http://127.0.0.1:{port}/x.jpg")
        assert time.monotonic() - started < 2.0
        assert slow.value.code == "url_timeout"


def test_a_callback_receiver_dripping_its_head_is_cut_at_the_callback_deadline(tmp_path):
    with dripping_server() as port:
        fetcher = _fetcher(tmp_path, url_allowlist="127.0.0.1", callback_timeout_seconds=0.6)
        started = time.monotonic()
        with pytest.raises(FetchError) as slow:
            fetcher.post(f"http://127.0.0.1:{port}/hook", b"{}", {"content-type": "application/json"})
        assert time.monotonic() - started < 2.0
        assert slow.value.code == "callback_failed"


@pytest.mark.parametrize("address", [
    "::ffff:127.0.0.1",          # IPv4-mapped
    "::ffff:169.254.169.254",
    "::7f00:1",                  # IPv4-compatible 127.0.0.1
    "::a00:1",                   # IPv4-compatible 10.0.0.1
    "::ffff:0:a00:1",            # IPv4-translated 10.0.0.1
    "::ffff:0:7f00:1",
    "64:ff9b::a9fe:a9fe",        # NAT64 well-known prefix, 169.254.169.254 (metadata)
    "64:ff9b::a00:1",
    "64:ff9b:1::a00:1",          # NAT64 local-use prefix
    "64:ff9b:1:a9fe:a9:fe00::",
    "2002:a00:1::1",             # 6to4 of 10.0.0.1
    "2002:7f00:1::",
])
def test_ipv6_forms_carrying_a_private_ipv4_are_refused(tmp_path, monkeypatch, address):
    from discreet.service import fetch

    monkeypatch.setattr(fetch, "_resolve", lambda host, port: [ipaddress.ip_address(address)])
    monkeypatch.setattr(socket.socket, "connect", lambda *a: pytest.fail("no connection may be made"))
    with pytest.raises(FetchError) as refused:
        asyncio.run(_fetcher(tmp_path).check("http://innocent.example/x.jpg"))
    assert refused.value.code == "url_refused"
    assert address not in refused.value.message


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "2606:4700::1111", "8.8.8.8"])
def test_ipv6_forms_carrying_a_public_ipv4_pass_the_check(tmp_path, monkeypatch, address):
    from discreet.service import fetch

    monkeypatch.setattr(fetch, "_resolve", lambda host, port: [ipaddress.ip_address(address)])
    assert asyncio.run(_fetcher(tmp_path).check("http://public.example/x.jpg")).address == address


def test_a_refusal_does_not_name_the_internal_address(tmp_path, monkeypatch):
    from discreet.service import fetch

    monkeypatch.setattr(fetch, "_resolve", lambda host, port: [ipaddress.ip_address("10.20.30.40")])
    with pytest.raises(FetchError) as refused:
        asyncio.run(_fetcher(tmp_path).check("http://intranet.example/x.jpg"))
    assert "10.20.30.40" not in refused.value.message and "intranet.example" in refused.value.message


@pytest.fixture
def hanging_resolver(monkeypatch):
    """getaddrinfo that answers nothing until the test ends (30 s at most, a hang guard)."""
    released = threading.Event()

    def hang(*_args, **_kwargs):
        released.wait(30)
        raise socket.gaierror("the resolver gave up")

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    yield
    released.set()


def test_a_hanging_resolver_is_cut_at_the_fetch_deadline(tmp_path, hanging_resolver):
    fetcher = _fetcher(tmp_path, fetch_timeout_seconds=0.6)
    started = time.monotonic()
    with pytest.raises(FetchError) as slow:
        fetcher.fetch_image("http://slow-dns.example/x.jpg")
    assert time.monotonic() - started < 20  # a hang guard: the resolver would hold it 30 s
    assert slow.value.code == "url_timeout"


def test_a_hanging_resolver_is_cut_at_the_callback_deadline(tmp_path, hanging_resolver):
    fetcher = _fetcher(tmp_path, callback_timeout_seconds=0.6)
    started = time.monotonic()
    with pytest.raises(FetchError) as slow:
        fetcher.post("http://slow-dns.example/hook", b"{}", {"content-type": "application/json"})
    assert time.monotonic() - started < 20
    assert slow.value.code == "callback_failed"


def test_a_hanging_resolver_is_cut_when_a_callback_url_is_submitted(tmp_path, hanging_resolver):
    fetcher = _fetcher(tmp_path, callback_timeout_seconds=0.6)
    started = time.monotonic()
    with pytest.raises(FetchError) as slow:
        fetcher.check_callback("http://slow-dns.example/hook")
    assert time.monotonic() - started < 20
    assert slow.value.code == "url_timeout"
