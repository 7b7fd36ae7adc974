"""Fetch the raw bytes of a source: an http(s) URL, a local file, or the bundled snapshot.

Only transient failures (timeouts, connection errors, HTTP 429 and 5xx) are retried, with
exponential backoff and full jitter, honouring ``Retry-After``. One deadline bounds a source's
whole download: connects, response headers, bodies, retries and the sleeps between them, however
slowly the server sends. The size limit applies to the body as inflated, while it inflates.
Conditional requests (ETag / Last-Modified) let an unchanged source cost one round trip.
This module knows nothing about CSV semantics or the database.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from covid_etl.catalog import Source, source_label
from covid_etl.errors import DeadlineReached, TerminalFetchError, TransientFetchError
from covid_etl.models import SourceMeta
from covid_etl.redact import mask_url

if TYPE_CHECKING:
    import httpx

ProgressCallback = Callable[[str, int, int | None], None]

USER_AGENT = "covid-etl (+https://github.com/covid-etl/covid-etl)"
_CHUNK = 64 * 1024
# Content codings we decode ourselves, a bounded piece at a time (see _inflate).
ACCEPT_ENCODING = "gzip, deflate"


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


def snapshot_path(source: Source) -> str:
    """Path of the bundled snapshot of a source (shipped inside the package)."""
    from importlib import resources  # only offline runs need it

    return str(resources.files("covid_etl") / "data" / source.snapshot)


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


def fetch_sources(
    urls: Mapping[str, str],
    policy: FetchPolicy,
    *,
    stored: Sequence[SourceMeta] = (),
    client: httpx.Client | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Fetched]:
    """Fetch every source by name. A source is asked conditionally (If-None-Match /
    If-Modified-Since) when ``stored``, the last successful load's metadata, has it for the same
    URL. When only some sources answer 304 Not Modified, those are fetched again in full: the
    join needs every body, and the bodies behind a 304 were not kept."""
    own_client = client is None and any(is_remote(u) for u in urls.values())
    if own_client:
        client = open_http_client()
    try:
        previous = {meta.name: meta for meta in stored}
        fetched = {
            name: fetch_source(
                name, url, client=client, policy=policy, progress=progress,
                previous=_validators_for(url, previous.get(name)),
            )
            for name, url in urls.items()
        }  # fmt: skip
        missing = [name for name, f in fetched.items() if f.body is None]
        if missing and len(missing) < len(fetched):
            for name in missing:
                fetched[name] = fetch_source(
                    name, urls[name], client=client, policy=policy, progress=progress
                )
        return fetched
    finally:
        if own_client and client is not None:
            client.close()


def _validators_for(url: str, prior: SourceMeta | None) -> SourceMeta | None:
    """The stored metadata to ask ``url`` conditionally with, if it was recorded for that URL.
    URLs are stored masked, so the masked form is compared: a secret is never stored."""
    if prior is None or prior.url != mask_url(url):
        return None
    return prior._replace(url=url)


def unchanged_since(fetched: Mapping[str, Fetched], stored: Sequence[SourceMeta]) -> bool:
    """Whether every fetched source is byte-identical (same SHA-256) to its stored metadata."""
    hashes = {meta.name: meta.sha256 for meta in stored}
    return all(f.meta.sha256 == hashes.get(name) for name, f in fetched.items())


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
    """Download with retries for transient failures only, all within ``policy.deadline``."""
    deadline = time.monotonic() + policy.deadline
    attempt = 0
    while True:
        try:
            return _fetch_once(name, url, client, policy, previous, progress, deadline)
        except DeadlineReached:
            raise
        except TransientFetchError as exc:
            if attempt >= policy.retries:
                raise TransientFetchError(
                    f"{exc.message} (gave up after {attempt + 1} attempt(s))",
                    source=name,
                    retry_after=exc.retry_after,
                ) from exc
            delay = backoff_delay(attempt, policy, exc.retry_after)
            if delay >= deadline - time.monotonic():
                raise DeadlineReached(
                    f"{exc.message} (deadline of {policy.deadline:g}s was reached after "
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
    deadline: float,
) -> Fetched:
    import httpx

    label = source_label(name)
    shown = mask_url(url)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _deadline_error(name, shown, policy, "before the next attempt")
    headers = _request_headers(url, previous)
    # No single wait may outlast the deadline; the watchdog covers a server that keeps each
    # wait short but never finishes (one byte every half second).
    timeout = httpx.Timeout(
        min(policy.read_timeout, remaining), connect=min(policy.connect_timeout, remaining)
    )
    watchdog = Watchdog(remaining)
    try:
        with (
            watchdog,
            client.stream(
                "GET", url, headers=headers, timeout=timeout, extensions=watchdog.extensions
            ) as response,
        ):
            watchdog.watch_stream(response.extensions.get("network_stream"))
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
            body = _read_body(name, shown, response, policy, deadline, total, progress)
            content_type = response.headers.get("content-type")
            etag = response.headers.get("etag")
            last_modified = response.headers.get("last-modified")
    except httpx.HTTPError as exc:
        if watchdog.fired:
            raise _deadline_error(name, shown, policy, "before the download was complete") from exc
        raise _translate(name, shown, exc) from exc
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


def _request_headers(url: str, previous: SourceMeta | None) -> dict[str, str]:
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "text/csv, text/plain;q=0.9, */*;q=0.1",
        "Accept-Encoding": ACCEPT_ENCODING,
    }
    if previous is not None and previous.url == url:
        if previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
    return headers


def _read_body(
    name: str,
    shown: str,
    response: httpx.Response,
    policy: FetchPolicy,
    deadline: float,
    total: int | None,
    progress: ProgressCallback | None,
) -> bytes:
    """The decoded body, checked against the size limit and the deadline piece by piece."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    chunks: list[bytes] = []
    for received, chunk in _inflate(name, response.iter_raw(), encoding, policy.max_bytes):
        if time.monotonic() > deadline:
            raise _deadline_error(name, shown, policy, f"after {received} bytes")
        chunks.append(chunk)
        if progress is not None:
            progress(name, received, total)
    return b"".join(chunks)


def _deadline_error(name: str, shown: str, policy: FetchPolicy, where: str) -> DeadlineReached:
    return DeadlineReached(
        f"{source_label(name)} download stopped: the deadline of {policy.deadline:g}s was "
        f"reached {where} ({shown})",
        source=name,
    )


def _translate(name: str, shown: str, exc: httpx.HTTPError) -> Exception:
    """Our error for an httpx one: what happened, to which source, at which URL."""
    import httpx

    label = source_label(name)
    if isinstance(exc, httpx.TimeoutException):
        return TransientFetchError(
            f"{label} download timed out ({type(exc).__name__}) from {shown}", source=name
        )
    if isinstance(exc, httpx.TooManyRedirects):
        last = mask_url(str(exc.request.url))
        return TerminalFetchError(
            f"{label} download failed: too many redirects (a redirect loop?) starting at {shown}, "
            f"last at {last}",
            source=name,
        )
    if _caused_by_tls_verification(exc):
        # A certificate that fails verification will fail again: do not retry.
        return TerminalFetchError(
            f"{label} download failed: TLS certificate verification failed ({shown}): {exc}",
            source=name,
        )
    if isinstance(exc, httpx.TransportError):
        return TransientFetchError(
            f"{label} download failed: {type(exc).__name__}: {exc} ({shown})", source=name
        )
    return TerminalFetchError(
        f"{label} download failed: {type(exc).__name__}: {exc} ({shown})", source=name
    )


def _caused_by_tls_verification(exc: BaseException) -> bool:
    import ssl

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _inflate(
    name: str, raw_chunks: Iterator[bytes], encoding: str, max_bytes: int
) -> Iterator[tuple[int, bytes]]:
    """(raw bytes received so far, decoded piece) for each bounded piece of the body.

    A compressed body is inflated at most _CHUNK bytes at a time, and stopped as soon as the
    decoded total passes ``max_bytes``: a small gzip bomb can never become a large buffer.
    (httpx's own decoding inflates each network read whole, which a bomb turns into tens of
    megabytes at once.)
    """
    import zlib

    label = source_label(name)
    if encoding in ("identity", ""):
        for received, raw in _running_total(raw_chunks):
            if received > max_bytes:
                raise TerminalFetchError(
                    f"{label} body is over the {max_bytes}-byte limit", source=name
                )
            yield received, raw
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise TerminalFetchError(
            f"{label} body uses an unsupported Content-Encoding: {encoding}", source=name
        )
    # 32 + MAX_WBITS accepts both a gzip and a zlib header (what servers send as deflate).
    inflater = zlib.decompressobj(32 + zlib.MAX_WBITS)
    decoded = received = 0
    try:
        for received, raw in _running_total(raw_chunks):
            pending = raw
            while pending:
                piece = inflater.decompress(pending, _CHUNK)
                pending = inflater.unconsumed_tail
                decoded += len(piece)
                if decoded > max_bytes:
                    raise TerminalFetchError(
                        f"{label} body inflates past the {max_bytes}-byte limit "
                        f"(Content-Encoding: {encoding}, {received} bytes received)",
                        source=name,
                    )
                yield received, piece
        # No input is left, so what zlib still holds is less than its 32 KiB window.
        rest = inflater.flush()
    except zlib.error as exc:
        raise TerminalFetchError(
            f"{label} body is not valid {encoding} data: {exc}", source=name
        ) from exc
    if decoded + len(rest) > max_bytes:
        raise TerminalFetchError(
            f"{label} body inflates past the {max_bytes}-byte limit", source=name
        )
    if received and not inflater.eof:
        raise TerminalFetchError(
            f"{label} body ends inside its {encoding} data (truncated download?)", source=name
        )
    yield received, rest


def _running_total(chunks: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        yield total, chunk


class Watchdog:
    """Ends one attempt at the deadline by shutting its socket down, which wakes a blocked read.

    A read timeout cannot catch a server that sends one byte every half second, in the headers
    or in the body. httpx's documented ``trace`` request extension hands us each new connection's
    network stream, and the ``network_stream`` response extension the one a response came on.
    """

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._sockets: list[Any] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self.extensions = {"trace": self._trace}

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event.endswith("connect_tcp.complete"):
            self.watch_stream(info.get("return_value"))

    def watch_stream(self, stream: Any) -> None:
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            fired = self.fired
        if fired:
            _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: Any) -> None:
    import socket
    from contextlib import suppress

    with suppress(OSError):  # already closed: the attempt ended on its own
        sock.shutdown(socket.SHUT_RDWR)


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


def open_http_client() -> httpx.Client:
    """The production HTTP client: httpx's defaults (proxies from ``HTTPS_PROXY``/``HTTP_PROXY``/
    ``ALL_PROXY``/``NO_PROXY``, CA bundle from ``SSL_CERT_FILE``/``SSL_CERT_DIR``), redirects
    followed.

    Keep-alive is off: every attempt opens its own connection, so the deadline watchdog always
    learns the socket to shut down. The two sources cost one extra handshake a run.
    """
    import httpx

    return httpx.Client(
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_keepalive_connections=0),
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
