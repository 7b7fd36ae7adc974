from __future__ import annotations

import hashlib
import json
import ssl
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from click.testing import CliRunner

from covid_etl.cli import app
from covid_etl.errors import TerminalFetchError, TransientFetchError
from covid_etl.sources.fetch import (
    FetchPolicy,
    backoff_delay,
    fetch_source,
    fetch_sources,
    parse_retry_after,
    unchanged_since,
)
from tests.helpers.data import serve_real
from tests.helpers.env import cli_env
from tests.helpers.proxy import ForwardProxy
from tests.helpers.servers import Response, SourceServer, gzip_bomb, running, serve_in_background

BODY = b"date,cases,deaths\n2020-01-21,1,0\n"
POLICY = FetchPolicy(
    read_timeout=0.5, connect_timeout=0.5, deadline=5, retries=2, retry_backoff=0.01
)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def test_fetch_records_status_bytes_sha_and_etag(
    source_server: SourceServer, client: httpx.Client
) -> None:
    url = source_server.serve("/us.csv", BODY)
    got = fetch_source("nyt", url, client=client, policy=POLICY)
    assert got.body == BODY
    assert got.meta.status == 200
    assert got.meta.bytes == len(BODY)
    assert got.meta.sha256 == hashlib.sha256(BODY).hexdigest()
    assert got.meta.etag and got.meta.etag.startswith('"')


def test_fetch_with_previous_etag_gets_304_without_body(
    source_server: SourceServer, client: httpx.Client
) -> None:
    url = source_server.serve("/us.csv", BODY)
    first = fetch_source("nyt", url, client=client, policy=POLICY)
    second = fetch_source("nyt", url, client=client, policy=POLICY, previous=first.meta)
    assert second.body is None
    assert second.meta.not_modified
    assert second.meta.sha256 == first.meta.sha256
    assert source_server.hits("/us.csv")[-1]["headers"]["If-None-Match"] == first.meta.etag


def test_fetch_sources_refetches_the_not_modified_one_when_another_changed(
    source_server: SourceServer, client: httpx.Client
) -> None:
    urls = {"nyt": source_server.serve("/us.csv", BODY), "jhu": source_server.serve("/j.csv", BODY)}
    first = fetch_sources(urls, POLICY, client=client)
    source_server.serve("/us.csv", BODY + b"2020-01-22,2,0\n")
    stored = [f.meta for f in first.values()]
    second = fetch_sources(urls, POLICY, stored=stored, client=client)
    # JHU answered 304 first, then was fetched in full: the join needs both bodies.
    assert second["nyt"].body is not None and second["jhu"].body == BODY
    jhu_hits = source_server.hits("/j.csv")
    assert [h["headers"].get("If-None-Match") for h in jhu_hits[1:]] == [
        first["jhu"].meta.etag,
        None,
    ]
    assert not unchanged_since(second, stored)


def test_fetch_sources_all_not_modified_keeps_no_body_and_counts_as_unchanged(
    source_server: SourceServer, client: httpx.Client
) -> None:
    urls = {"nyt": source_server.serve("/us.csv", BODY), "jhu": source_server.serve("/j.csv", BODY)}
    stored = [f.meta for f in fetch_sources(urls, POLICY, client=client).values()]
    again = fetch_sources(urls, POLICY, stored=stored, client=client)
    assert all(f.body is None and f.meta.not_modified for f in again.values())
    assert unchanged_since(again, stored)


def test_fetch_sources_asks_unconditionally_when_the_stored_url_differs(
    source_server: SourceServer, client: httpx.Client
) -> None:
    old = fetch_sources({"nyt": source_server.serve("/old.csv", BODY)}, POLICY, client=client)
    url = source_server.serve("/us.csv", BODY)
    got = fetch_sources({"nyt": url}, POLICY, stored=[old["nyt"].meta], client=client)
    assert got["nyt"].body == BODY
    assert "If-None-Match" not in source_server.hits("/us.csv")[-1]["headers"]


def test_fetch_retries_500_then_succeeds(source_server: SourceServer, client: httpx.Client) -> None:
    url = source_server.serve("/us.csv", BODY)
    source_server.script("/us.csv", [Response(500, b"oops"), Response(503, b"busy")])
    got = fetch_source("nyt", url, client=client, policy=POLICY)
    assert got.body == BODY
    assert len(source_server.hits("/us.csv")) == 3


def test_fetch_gives_up_after_retries_on_persistent_500(
    source_server: SourceServer, client: httpx.Client
) -> None:
    url = source_server.url("/us.csv")
    source_server.script("/us.csv", [Response(500, b"x")] * 5)
    with pytest.raises(TransientFetchError, match=r"HTTP 500 .*gave up after 3 attempt"):
        fetch_source("nyt", url, client=client, policy=POLICY)
    assert len(source_server.hits("/us.csv")) == 3


def test_fetch_does_not_retry_404(source_server: SourceServer, client: httpx.Client) -> None:
    url = source_server.url("/missing.csv")
    with pytest.raises(TerminalFetchError, match="NYT download failed: HTTP 404 Not Found"):
        fetch_source("nyt", url, client=client, policy=POLICY)
    assert len(source_server.hits("/missing.csv")) == 1


def test_fetch_honours_retry_after_on_429(
    source_server: SourceServer, client: httpx.Client
) -> None:
    url = source_server.serve("/us.csv", BODY)
    source_server.script("/us.csv", [Response(429, b"", {"Retry-After": "1"})])
    slept: list[float] = []
    got = fetch_source("nyt", url, client=client, policy=POLICY, sleep=slept.append)
    assert got.body == BODY
    assert slept and slept[0] >= 1.0


def test_fetch_times_out_and_retries(source_server: SourceServer, client: httpx.Client) -> None:
    url = source_server.serve("/us.csv", BODY)
    source_server.script("/us.csv", [Response(200, BODY, delay=1.5)])
    got = fetch_source("nyt", url, client=client, policy=POLICY)
    assert got.body == BODY
    assert len(source_server.hits("/us.csv")) == 2


def test_fetch_persistent_timeout_is_transient_error(
    source_server: SourceServer, client: httpx.Client
) -> None:
    url = source_server.url("/slow.csv")
    source_server.script("/slow.csv", [Response(200, BODY, delay=1.0)] * 3)
    with pytest.raises(TransientFetchError, match="timed out"):
        fetch_source("jhu", url, client=client, policy=POLICY)


def test_fetch_refuses_body_over_limit(source_server: SourceServer, client: httpx.Client) -> None:
    url = source_server.serve("/big.csv", b"x" * 5000)
    small = FetchPolicy(max_bytes=1000, retries=0)
    with pytest.raises(TerminalFetchError, match="over the 1000-byte limit"):
        fetch_source("jhu", url, client=client, policy=small)


def test_fetch_refuses_empty_body(source_server: SourceServer, client: httpx.Client) -> None:
    url = source_server.serve("/empty.csv", b"")
    with pytest.raises(TerminalFetchError, match="empty body"):
        fetch_source("nyt", url, client=client, policy=POLICY)


def test_fetch_connection_refused_is_transient(client: httpx.Client) -> None:
    with pytest.raises(TransientFetchError, match="ConnectError"):
        fetch_source("nyt", "http://127.0.0.1:9/us.csv", client=client, policy=POLICY)


def test_fetch_local_file_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "us.csv"
    path.write_bytes(BODY)
    got = fetch_source("nyt", str(path), client=None, policy=POLICY)
    assert got.body == BODY and got.meta.status is None
    with pytest.raises(TerminalFetchError, match="cannot read NYT file"):
        fetch_source("nyt", str(tmp_path / "nope.csv"), client=None, policy=POLICY)


def test_backoff_grows_exponentially_within_jitter_bounds() -> None:
    policy = FetchPolicy(retry_backoff=1.0, max_backoff=60)
    for attempt in range(5):
        delay = backoff_delay(attempt, policy, None)
        assert 2**attempt / 2 <= delay <= 2**attempt


def test_parse_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None


def test_production_client_verifies_tls_certificates(tmp_path: Path) -> None:
    """The lazily built TLS transport still refuses a certificate nobody vouches for."""
    import http.server
    import shutil
    import ssl
    import subprocess

    from covid_etl.sources.fetch import open_http_client

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    serve_in_background(httpd).start()
    try:
        with (
            open_http_client() as client,
            pytest.raises(TerminalFetchError, match="TLS certificate verification failed"),
        ):
            fetch_source(
                "nyt",
                f"https://127.0.0.1:{httpd.server_address[1]}/us.csv",
                client=client,
                policy=FetchPolicy(retries=3, retry_backoff=0.01),
            )
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_production_client_fetches_plain_http(source_server: SourceServer) -> None:
    from covid_etl.sources.fetch import open_http_client

    url = source_server.serve("/us.csv", BODY)
    with open_http_client() as client:
        assert fetch_source("nyt", url, client=client, policy=POLICY).body == BODY


@pytest.mark.serial  # a 100 ms bound
def test_loopback_source_server_stops_at_once() -> None:
    """Teardown must not wait for the serve loop's next poll (0.5 s by default)."""
    server = SourceServer().start()
    started = time.perf_counter()
    server.stop()
    assert time.perf_counter() - started < 0.1


SLOW = FetchPolicy(read_timeout=3, connect_timeout=3, deadline=4, retries=3, retry_backoff=0.01)


@pytest.mark.serial  # the deadline within 1 s
@pytest.mark.parametrize("where", ["headers", "body"])
def test_fetch_deadline_ends_slow_drip_download(
    where: str, source_server: SourceServer, client: httpx.Client
) -> None:
    """One byte every 0.5 s never trips the 3 s read timeout; the 4 s deadline still ends it."""
    url = source_server.url("/drip.csv")
    source_server.script("/drip.csv", [Response(200, BODY * 10, drip=where)] * 4)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(TransientFetchError) as info:
        fetch_source("nyt", url, client=client, policy=SLOW)
    elapsed = time.monotonic() - started
    assert SLOW.deadline - 0.1 <= elapsed < SLOW.deadline + 1.0
    message = str(info.value)
    assert message.startswith("NYT download")
    assert "deadline of 4s was reached" in message
    assert url in message


@pytest.mark.serial  # the deadline within 1 s
def test_fetch_deadline_bounds_read_timeouts_across_retries(
    source_server: SourceServer, client: httpx.Client
) -> None:
    """A silent server: the second attempt gets only what is left of the deadline, not 3 s."""
    url = source_server.url("/silent.csv")
    source_server.script("/silent.csv", [Response(200, BODY, delay=30)] * 4)
    started = time.monotonic()
    with pytest.raises(TransientFetchError) as info:
        fetch_source("jhu", url, client=client, policy=SLOW)
    assert time.monotonic() - started < SLOW.deadline + 1.0
    assert "deadline of 4s was reached" in str(info.value)


@pytest.mark.serial  # the deadline within 1 s
def test_fetch_deadline_covers_backoff_sleeps(
    source_server: SourceServer, client: httpx.Client
) -> None:
    """Retries of a 503 sleep between attempts, and the sleeps count against the deadline."""
    url = source_server.url("/busy.csv")
    source_server.script("/busy.csv", [Response(503, b"busy")] * 20)
    policy = FetchPolicy(deadline=3, retries=20, retry_backoff=1.0)
    started = time.monotonic()
    with pytest.raises(TransientFetchError, match=r"HTTP 503 .*deadline of 3s was reached"):
        fetch_source("jhu", url, client=client, policy=policy)
    assert time.monotonic() - started < policy.deadline + 1.0
    assert 2 <= len(source_server.hits("/busy.csv")) < 20


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb()


def test_fetch_stops_gzip_bomb_while_inflating(
    bomb: bytes, source_server: SourceServer, client: httpx.Client
) -> None:
    """The size limit applies to the inflated body, and memory stays near the limit."""
    url = source_server.url("/bomb.csv")
    source_server.script("/bomb.csv", [Response(200, bomb, {"Content-Encoding": "gzip"})])
    limit = 4 * 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(TerminalFetchError) as info:
            fetch_source("jhu", url, client=client, policy=FetchPolicy(max_bytes=limit))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * limit + 32 * 1024 * 1024
    assert "JHU body inflates past the 4194304-byte limit (Content-Encoding: gzip" in str(
        info.value
    )


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_fetch_decodes_compressed_body(
    encoding: str, source_server: SourceServer, client: httpx.Client
) -> None:
    wbits = zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    packed = packer.compress(BODY * 1000) + packer.flush()
    url = source_server.url("/packed.csv")
    source_server.script("/packed.csv", [Response(200, packed, {"Content-Encoding": encoding})])
    got = fetch_source("nyt", url, client=client, policy=POLICY)
    assert got.body == BODY * 1000
    assert got.meta.bytes == len(BODY) * 1000


def test_fetch_corrupt_gzip_body_names_source(
    source_server: SourceServer, client: httpx.Client
) -> None:
    url = source_server.url("/corrupt.csv")
    source_server.script("/corrupt.csv", [Response(200, b"not gzip", {"Content-Encoding": "gzip"})])
    with pytest.raises(TerminalFetchError, match=r"^NYT body is not valid gzip data"):
        fetch_source("nyt", url, client=client, policy=POLICY)


def test_fetch_redirect_loop_names_source_and_url(
    source_server: SourceServer, client: httpx.Client
) -> None:
    url = source_server.url("/loop.csv")
    loop = Response(302, b"", {"Location": "/loop.csv"})
    source_server.script("/loop.csv", [loop] * 30)
    with (
        httpx.Client(follow_redirects=True) as following,
        pytest.raises(TerminalFetchError) as info,
    ):
        fetch_source("nyt", url, client=following, policy=POLICY)
    message = str(info.value)
    assert message.startswith("NYT download failed: too many redirects")
    assert url in message


# Proxies and private CAs, through a whole `covid-etl run`: the production client must behave
# as httpx does by default (proxy and CA settings from the environment).

PROXY_AND_CA_VARIABLES = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR",
)  # fmt: skip
ONLY_VIA_PROXY = "covid-source.test"  # a name no resolver knows; the test proxy maps it
runner = CliRunner()


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    """A certificate authority nobody trusts by default, and its certificate as a PEM file."""
    ca = trustme.CA()
    pem = tmp_path_factory.mktemp("ca") / "private-ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    return ca, pem


def tls_server(ca: trustme.CA, host: str | None = None) -> SourceServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(ONLY_VIA_PROXY, "127.0.0.1").configure_cert(context)
    return SourceServer(tls=context, host=host)


def run_cli(sqlite_url: str, urls: dict[str, str], **network: str) -> tuple[int, dict[str, Any]]:
    """`covid-etl run --json` with exactly the given proxy / CA variables set."""
    env: dict[str, str | None] = dict.fromkeys(PROXY_AND_CA_VARIABLES)
    env.update({name.lower(): None for name in PROXY_AND_CA_VARIABLES})
    env.update(cli_env(sqlite_url, COVID_ETL_NYT_URL=urls["nyt_url"],
                       COVID_ETL_JHU_URL=urls["jhu_url"], COVID_ETL_RETRIES="0"))  # fmt: skip
    env.update(network)
    result = runner.invoke(app, ["run", "--json"], env=env)
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


def test_run_loads_http_sources_through_a_forward_proxy(sqlite_url: str) -> None:
    with (
        running(SourceServer(host=ONLY_VIA_PROXY)) as server,
        running(ForwardProxy({ONLY_VIA_PROXY: "127.0.0.1"})) as proxy,
    ):
        urls = serve_real(server)
        code, out = run_cli(sqlite_url, urls, HTTP_PROXY=proxy.url)
    assert (code, out["status"], out["inserted"]) == (0, "succeeded", 1100), out
    assert proxy.carried == [f"GET {urls['nyt_url']}", f"GET {urls['jhu_url']}"]


def test_run_loads_https_sources_through_a_connect_proxy_with_a_private_ca(
    sqlite_url: str, private_ca: tuple[trustme.CA, Path]
) -> None:
    ca, pem = private_ca
    with (
        running(tls_server(ca, host=ONLY_VIA_PROXY)) as server,
        running(ForwardProxy({ONLY_VIA_PROXY: "127.0.0.1"})) as proxy,
    ):
        urls = serve_real(server)
        code, out = run_cli(sqlite_url, urls, HTTPS_PROXY=proxy.url, SSL_CERT_FILE=str(pem))
    assert (code, out["status"], out["inserted"]) == (0, "succeeded", 1100), out
    assert proxy.carried == [f"CONNECT {ONLY_VIA_PROXY}:{server.port}"] * 2


def test_no_proxy_sends_listed_hosts_direct(sqlite_url: str, source_server: SourceServer) -> None:
    urls = serve_real(source_server)
    with running(ForwardProxy()) as proxy:
        code, out = run_cli(sqlite_url, urls, HTTP_PROXY=proxy.url, NO_PROXY="127.0.0.1")
    assert (code, out["status"]) == (0, "succeeded"), out
    assert proxy.carried == []


def test_private_ca_source_loads_with_ssl_cert_file_and_fails_clearly_without(
    sqlite_url: str, private_ca: tuple[trustme.CA, Path]
) -> None:
    ca, pem = private_ca
    with running(tls_server(ca)) as server:
        urls = serve_real(server)
        refused_code, refused = run_cli(sqlite_url, urls)
        code, out = run_cli(sqlite_url, urls, SSL_CERT_FILE=str(pem))
    assert (refused_code, refused["status"], refused["failed_stage"]) == (1, "failed", "extract")
    assert str(refused["error"]).startswith(
        f"NYT download failed: TLS certificate verification failed ({urls['nyt_url']})"
    )
    assert (code, out["status"], out["inserted"]) == (0, "succeeded", 1100), out


def test_fetch_truncated_gzip_body_and_unknown_encoding_are_refused(
    source_server: SourceServer, client: httpx.Client
) -> None:
    packer = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    packed = packer.compress(BODY * 1000) + packer.flush()
    url = source_server.url("/cut.csv")
    source_server.script(
        "/cut.csv",
        [
            Response(200, packed[: len(packed) // 2], {"Content-Encoding": "gzip"}),
            Response(200, b"....", {"Content-Encoding": "br"}),
        ],
    )
    with pytest.raises(TerminalFetchError, match=r"^NYT body ends inside its gzip data"):
        fetch_source("nyt", url, client=client, policy=POLICY)
    with pytest.raises(TerminalFetchError, match=r"^NYT body uses an unsupported Content-Enc"):
        fetch_source("nyt", url, client=client, policy=POLICY)
