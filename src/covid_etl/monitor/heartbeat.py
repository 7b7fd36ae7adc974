"""The heartbeat: one GET to a push monitor after each successful run.

Services such as healthchecks.io, Cronitor or Uptime Kuma push monitors expect a ping on a
schedule and raise their own alarm when it is late. A failed run sends none, so the alarm also
covers runs that fail every day. The ping is a courtesy to that service: it is bounded by a short
timeout and its failure is logged, never turned into a failed run.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from covid_etl.redact import redact, secrets_in_heartbeat_url

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

# Seconds for the whole ping: the run is already committed, and a monitor that does not answer
# this quickly will not answer later either.
HEARTBEAT_TIMEOUT = 5.0


def heartbeat_label(url: str) -> str:
    """The URL's host, which is all a log line needs to name the monitor."""
    return urlsplit(url).hostname or "the heartbeat URL"


def send_heartbeat(
    url: str, *, client: httpx.Client | None = None, timeout: float = HEARTBEAT_TIMEOUT
) -> bool:
    """GET ``url``; True when the monitor answered 2xx. Every failure is logged, none raised."""
    import httpx

    secrets = secrets_in_heartbeat_url(url)
    try:
        if client is None:
            with httpx.Client(timeout=timeout, follow_redirects=True) as own:
                response = own.get(url)
        else:
            response = client.get(url, timeout=timeout)
        response.raise_for_status()
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        detail = redact(str(exc) or type(exc).__name__, secrets)
        log.warning("heartbeat to %s failed: %s", heartbeat_label(url), detail)
        return False
    log.info("heartbeat sent to %s", heartbeat_label(url))
    return True
