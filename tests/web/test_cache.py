"""The series cache: one derived series kept per store revision, derived once when concurrent
requests miss it together."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from covid_etl.web.cache import Revision, SeriesCache

FIRST: Revision = (1, "succeeded")
SECOND: Revision = (2, "succeeded")


@dataclass(frozen=True, slots=True)
class Derived:
    revision: Revision


def test_series_cache_derives_once_for_concurrent_misses() -> None:
    builds: list[Revision] = []
    building = threading.Event()
    release = threading.Event()

    def build(revision: Revision) -> Derived:
        builds.append(revision)
        building.set()
        release.wait(5)
        return Derived(revision)

    cache = SeriesCache(build)
    with ThreadPoolExecutor(4) as pool:
        answers = [pool.submit(cache.get, FIRST) for _ in range(4)]
        assert building.wait(5)
        time.sleep(0.2)  # the other requests reach the cache while the first one derives
        release.set()
        derived = {id(answer.result()) for answer in answers}
    assert builds == [FIRST]
    assert len(derived) == 1


def test_series_cache_keeps_a_series_under_the_revision_it_was_derived_from() -> None:
    builds: list[Revision] = []

    def build(asked: Revision) -> Derived:
        builds.append(asked)
        return Derived(SECOND)  # a run committed after the request read its revision

    cache = SeriesCache(build)
    assert cache.get(FIRST).revision == SECOND
    assert cache.get(SECOND).revision == SECOND  # no second derivation
    assert builds == [FIRST]
