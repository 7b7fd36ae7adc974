"""One store read shared by the requests waiting for it.

Every API request first reads the store revision (latest run id and status) to find its cached
response. That read runs in a worker thread, so that a slow PostgreSQL or S3 round trip never
stalls the event loop; but a thread hop and a query per request cost more than the cached answer
itself under load. Requests that arrive while a read is in flight therefore wait for the *next*
read and share it: each request still gets a revision read after it arrived (a run committed before
the request is always seen), and a burst of requests costs two reads, not one per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


class SharedRead(Generic[T]):
    """Calls ``read`` in a worker thread; concurrent callers share the next call."""

    def __init__(self, read: Callable[[], T]) -> None:
        self._read = read
        self._running: asyncio.Future[T] | None = None  # the read in flight
        self._next: asyncio.Future[T] | None = None  # what callers arriving now will get

    async def __call__(self) -> T:
        waiting = self._next
        if waiting is None:
            waiting = self._next = asyncio.get_running_loop().create_future()
            if self._running is None:
                self._start()
        # Shielded: one caller giving up (a client disconnect) must not cancel the others' read.
        return await asyncio.shield(waiting)

    def _start(self) -> None:
        waiting, self._next = self._next, None
        assert waiting is not None
        running = asyncio.ensure_future(run_in_threadpool(self._read))
        self._running = running

        def finished(done: asyncio.Future[T]) -> None:
            self._running = None
            if done.cancelled():
                waiting.cancel()
            elif (error := done.exception()) is not None:
                waiting.set_exception(error)
            else:
                waiting.set_result(done.result())
            if self._next is not None:  # callers arrived during this read: one more, for them
                self._start()

        running.add_done_callback(finished)
