"""Requests that arrive while the store revision is being read share the next read: a burst costs
two reads, not one per request, and no request gets a revision read before it arrived."""

from __future__ import annotations

import asyncio
import threading
import time

from covid_etl.web.shared_read import SharedRead


def test_concurrent_callers_share_the_next_read_and_each_sees_a_read_after_it_arrived() -> None:
    reads: list[float] = []
    lock = threading.Lock()

    def read() -> int:
        with lock:
            reads.append(time.monotonic())
            number = len(reads)
        time.sleep(0.05)
        return number

    async def burst() -> tuple[list[int], list[float]]:
        shared = SharedRead(read)
        first = asyncio.ensure_future(shared())
        await asyncio.sleep(0.01)  # the first read is in flight
        arrived = time.monotonic()
        rest = await asyncio.gather(*(shared() for _ in range(50)))
        return [await first, *rest], [arrived]

    results, (arrived,) = asyncio.run(burst())
    assert len(reads) == 2  # one for the first caller, one shared by the 50 that came after
    assert results == [1] + [2] * 50
    assert reads[1] >= arrived  # the shared read started after those callers arrived


def test_a_failed_read_reaches_every_caller_waiting_for_it_and_the_next_read_runs_again() -> None:
    calls: list[int] = []

    def read() -> int:
        calls.append(1)
        time.sleep(0.05)
        if len(calls) == 2:
            raise RuntimeError("store unavailable")
        return len(calls)

    async def scenario() -> tuple[int, list[BaseException | int], int]:
        shared = SharedRead(read)
        first = asyncio.ensure_future(shared())
        await asyncio.sleep(0.01)  # read 1 in flight: the next five callers share read 2
        waiting = await asyncio.gather(*(shared() for _ in range(5)), return_exceptions=True)
        return await first, list(waiting), await shared()

    first, waiting, later = asyncio.run(scenario())
    assert first == 1
    assert len(waiting) == 5 and all(isinstance(r, RuntimeError) for r in waiting)
    assert later == 3 and len(calls) == 3
