"""What the API keeps per store revision: each derived series and the rendered responses.

Every stored row is written by a run's final transaction, so the latest run's id and status
identify the data completely: that pair is the store's *revision*, and when either changes,
everything cached is stale. Checking it is one indexed single-row query, far cheaper than
reading and rendering 800 rows per request.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

# The store's revision: (latest run id, its status), (0, "none") before the first run.
Revision = tuple[int, str]

# Below this, gzip's header and the extra CPU are not worth it.
GZIP_MIN_BYTES = 512


@dataclass(frozen=True, slots=True)
class Rendered:
    """One representation of a response, ready to send."""

    body: bytes
    media_type: str
    etag: str
    gzipped: bytes | None = None

    @classmethod
    def of(cls, body: bytes, media_type: str) -> Rendered:
        etag = '"' + hashlib.sha256(body).hexdigest()[:24] + '"'
        gzipped = gzip.compress(body, compresslevel=6) if len(body) >= GZIP_MIN_BYTES else None
        return cls(body=body, media_type=media_type, etag=etag, gzipped=gzipped)

    @property
    def gzip_etag(self) -> str:
        # A different representation needs its own strong validator (RFC 9110 8.8.3).
        return self.etag[:-1] + '-gz"'

    def matches(self, if_none_match: str) -> bool:
        """Whether an If-None-Match header names this content (weak comparison, as the RFC asks
        for If-None-Match)."""
        if if_none_match.strip() == "*":
            return True
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return self.etag in tags or self.gzip_etag in tags


class ResponseCache:
    """A small LRU of rendered responses; keys start with the store revision they were built
    from, and :meth:`clear` drops everything when the revision moves on."""

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, Rendered] = OrderedDict()
        self._lock = threading.Lock()
        self.misses = 0

    def get(self, key: Hashable) -> Rendered | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
            else:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Hashable, rendered: Rendered) -> None:
        with self._lock:
            self._entries[key] = rendered
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class _OfRevision(Protocol):
    @property
    def revision(self) -> Revision: ...


S = TypeVar("S", bound=_OfRevision)


class SeriesCache(Generic[S]):
    """The derived series of the latest revision asked for, and only that one (a whole series
    in memory, shared by every request). It is built under a lock, so that concurrent requests
    missing it together derive it once instead of each reading the store."""

    def __init__(self, build: Callable[[Revision], S]) -> None:
        self._build = build
        self._current: S | None = None
        self._lock = threading.Lock()

    def get(self, revision: Revision) -> S:
        current = self._current
        if current is None or current.revision != revision:
            with self._lock:
                current = self._current
                if current is None or current.revision != revision:
                    current = self._current = self._build(revision)
        return current
