"""Fetch the raw bytes of a source: an http(s) URL, a local file, or the bundled snapshot.

Only transient failures (timeouts, connection errors, HTTP 429 and 5xx) are retried, with
exponential backoff and full jitter, honouring ``Retry-After``, inside an overall deadline.
Conditional requests (ETag / Last-Modified) let an unchanged source cost one round trip.
This module knows nothing about CSV semantics or the database.
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .errors import TerminalFetchError, TransientFetchError, source_label
from .models import SourceMeta
from .redact import mask_url

if TYPE_CHECKING:
    import httpx

ProgressCallback = Callable[[str, int, int | None], None]

SNAPSHOT_FILES = {
    "nyt": "nyt-us.csv",
    "jhu": "jhu-combined-us.csv",
    "states": "nyt-us-states.csv",
}
USER_AGENT = "covid-etl (+https://github.com/covid-etl/covid-etl)"
_CHUNK = 64 * 1024


class FetchPolicy(NamedTuple):
    """How hard to try: timeouts, deadline, size limit and retry schedule."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    deadline: float = 300.0
    max_bytes: int = 64 * 1024 * 1024
    retries: int = 4
    retry_backoff: float = 1.0
    max_backoff: float = 60.0


class Fetched(NamedTuple):
    """A download's metadata and, unless the source was not modified, its body."""

    meta: SourceMeta
    body: bytes | None
    content_type: str | None = None


def is_remote(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def snapshot_path(name: str) -> str:
    """Path of the bundled snapshot of a source (shipped inside the package)."""
    from importlib import resources  # only offline runs need it

    return str(resources.files("covid_etl") / "data" / SNAPSHOT_FILES[name])


def fetch_source(
    name: str,
    url: str,
    *,
    client: httpx.Client | None,
    policy: FetchPolicy,
    previous: SourceMeta | None = None,
    progress: ProgressCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Fetched:
    """Fetch one source; a local path is read from disk, an http(s) URL downloaded."""
    if not is_remote(url):
        return read_local(name, url, max_bytes=policy.max_bytes)
    if client is None:
        raise ValueError("an http client is required for remote sources")
    return fetch_http(
        name, url, client=client, policy=policy, previous=previous, progress=progress, sleep=sleep
    )


def read_local(name: str, path: str, *, max_bytes: int) -> Fetched:
    """Read a source from a local file (``file://`` prefix allowed)."""
    file_path = Path(path.removeprefix("file://"))
    label = source_label(name)
    try:
        size = file_path.stat().st_size
        if size > max_bytes:
            raise TerminalFetchError(
                f"{label} file {file_path} is {size} bytes, over the {max_bytes}-byte limit",
                source=name,
            )
        body = file_path.read_bytes()
    except OSError as exc:
        raise TerminalFetchError(
            f"cannot read {label} file {file_path}: {exc.strerror or exc}", source=name
        ) from exc
    if not body:
        raise TerminalFetchError(f"{label} file {file_path} is empty", source=name)
    meta = SourceMeta(
        name=name, url=str(file_path), bytes=len(body), sha256=hashlib.sha256(body).hexdigest()
    )
    return Fetched(meta=meta, body=body, content_type="text/csv")


def fetch_http(
    name: str,
    url: str,
    *,
    client: httpx.Client,
    policy: FetchPolicy,
    previous: SourceMeta | None = None,
    progress: ProgressCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Fetched:
    """Download with retries for transient failures only, inside ``policy.deadline`` seconds."""
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return _fetch_once(name, url, client, policy, previous, progress, started)
        except TransientFetchError as exc:
            remaining = policy.deadline - (time.monotonic() - started)
            if attempt >= policy.retries:
                raise TransientFetchError(
                    f"{exc.message} (gave up after {attempt + 1} attempt(s))",
                    source=name,
                    retry_after=exc.retry_after,
                ) from exc
            delay = backoff_delay(attempt, policy, exc.retry_after)
            if delay >= remaining:
                raise TransientFetchError(
                    f"{exc.message} (deadline of {policy.deadline:g}s reached after "
                    f"{attempt + 1} attempt(s))",
                    source=name,
                ) from exc
            sleep(delay)
            attempt += 1


def backoff_delay(attempt: int, policy: FetchPolicy, retry_after: float | None) -> float:
    """Full-jitter exponential backoff; a server's Retry-After is a floor, not a suggestion."""
    ceiling = min(policy.max_backoff, policy.retry_backoff * (2**attempt))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.max_backoff))
    return delay


def _fetch_once(
    name: str,
    url: str,
    client: httpx.Client,
    policy: FetchPolicy,
    previous: SourceMeta | None,
    progress: ProgressCallback | None,
    started: float,
) -> Fetched:
    skip_httpx_cli()
    import httpx

    label = source_label(name)
    shown = mask_url(url)
    headers = {"User-Agent": USER_AGENT, "Accept": "text/csv, text/plain;q=0.9, */*;q=0.1"}
    if previous is not None and previous.url == url:
        if previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
    timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
    try:
        with client.stream("GET", url, headers=headers, timeout=timeout) as response:
            status = response.status_code
            if status == 304 and previous is not None:
                meta = SourceMeta(
                    name=name,
                    url=url,
                    status=status,
                    bytes=previous.bytes,
                    sha256=previous.sha256,
                    etag=response.headers.get("etag", previous.etag),
                    last_modified=response.headers.get("last-modified", previous.last_modified),
                    not_modified=True,
                )
                return Fetched(meta=meta, body=None)
            if status == 429 or status >= 500:
                raise TransientFetchError(
                    f"{label} download failed: HTTP {status} {response.reason_phrase} from {shown}",
                    source=name,
                    retry_after=parse_retry_after(response.headers.get("retry-after")),
                )
            if status >= 300:
                raise TerminalFetchError(
                    f"{label} download failed: HTTP {status} {response.reason_phrase} from {shown}",
                    source=name,
                )
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                raise TerminalFetchError(
                    f"{label} body of {declared} bytes is over the {policy.max_bytes}-byte limit "
                    f"({shown})",
                    source=name,
                )
            total = int(declared) if declared and declared.isdigit() else None
            body = _read_body(name, response, policy, started, total, progress)
            content_type = response.headers.get("content-type")
            etag = response.headers.get("etag")
            last_modified = response.headers.get("last-modified")
    except httpx.TimeoutException as exc:
        raise TransientFetchError(
            f"{label} download timed out ({type(exc).__name__}) from {shown}", source=name
        ) from exc
    except httpx.TransportError as exc:
        if _caused_by_tls_verification(exc):
            # A certificate that fails verification will fail again: do not retry.
            raise TerminalFetchError(
                f"{label} download failed: TLS certificate verification failed ({shown}): {exc}",
                source=name,
            ) from exc
        raise TransientFetchError(
            f"{label} download failed: {type(exc).__name__}: {exc} ({shown})", source=name
        ) from exc
    if not body:
        raise TerminalFetchError(f"{label} download returned an empty body ({shown})", source=name)
    meta = SourceMeta(
        name=name,
        url=url,
        status=status,
        bytes=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        etag=etag,
        last_modified=last_modified,
    )
    return Fetched(meta=meta, body=body, content_type=content_type)


def _caused_by_tls_verification(exc: BaseException) -> bool:
    import ssl

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _read_body(
    name: str,
    response: httpx.Response,
    policy: FetchPolicy,
    started: float,
    total: int | None,
    progress: ProgressCallback | None,
) -> bytes:
    label = source_label(name)
    chunks: list[bytes] = []
    received = 0
    for chunk in response.iter_bytes(_CHUNK):
        received += len(chunk)
        if received > policy.max_bytes:
            raise TerminalFetchError(
                f"{label} body is over the {policy.max_bytes}-byte limit", source=name
            )
        if time.monotonic() - started > policy.deadline:
            raise TransientFetchError(
                f"{label} download exceeded the {policy.deadline:g}s deadline "
                f"after {received} bytes",
                source=name,
            )
        chunks.append(chunk)
        if progress is not None:
            progress(name, received, total)
    return b"".join(chunks)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # rare path: an HTTP-date Retry-After

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def skip_httpx_cli() -> None:
    """Import httpx without its optional command-line client.

    ``httpx/__init__`` imports ``httpx._main`` (its own CLI), which loads rich, pygments and
    click: about 55 ms of every daily run for code we never call. Registering a stand-in first
    skips that import; the HTTP client is untouched.
    """
    if "httpx" not in sys.modules and "httpx._main" not in sys.modules:
        stand_in = types.ModuleType("httpx._main")
        stand_in.main = _no_httpx_cli  # type: ignore[attr-defined]
        sys.modules["httpx._main"] = stand_in


def _no_httpx_cli() -> None:
    raise SystemExit("the httpx command-line client is not available inside covid-etl")


def open_http_client() -> httpx.Client:
    """The production HTTP client: redirects followed, TLS verified with the CA bundle.

    The TLS context (loading the CA bundle costs ~35 ms) is built on the first https request,
    so runs against plain-http sources, such as a mirror on the local network, do not pay it.
    """
    skip_httpx_cli()
    import httpx

    class LazyTlsTransport(httpx.BaseTransport):
        def __init__(self) -> None:
            self.transports: dict[str, httpx.HTTPTransport] = {}

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            scheme = request.url.scheme
            transport = self.transports.get(scheme)
            if transport is None:
                # Plain http never negotiates TLS, so its transport needs no CA bundle; https
                # gets the default, fully verifying one.
                transport = (
                    httpx.HTTPTransport()
                    if scheme == "https"
                    else httpx.HTTPTransport(verify=False)
                )
                self.transports[scheme] = transport
            return transport.handle_request(request)

        def close(self) -> None:
            for transport in self.transports.values():
                transport.close()

    return httpx.Client(
        follow_redirects=True, headers={"User-Agent": USER_AGENT}, transport=LazyTlsTransport()
    )


def source_unreachable(exc: BaseException) -> bool:
    """Whether a failed download never reached the source: connection refused, DNS failure,
    connection reset or timeout, after the retries. Not an HTTP error, a bad certificate, an
    oversized body or bad data, which a server did send."""
    import httpx

    if isinstance(exc, TerminalFetchError):
        return False
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, httpx.TimeoutException | httpx.NetworkError):
            return True
        seen = seen.__cause__
    return False
