"""Keep secrets out of everything we show: logs, run records, notifications, CLI output.

Two tools: :func:`mask_url` rewrites a URL for display, and :func:`redact` scrubs known secret
strings out of arbitrary text (error messages from libraries often echo a URL back).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

MASK = "***"
_SECRET_QUERY_KEYS = re.compile(
    r"(pass|secret|token|key|auth|sig|signature|credential|apikey|api_key|access)", re.IGNORECASE
)
# Schemes whose host and path are plain addresses; any other Apprise scheme (slack://, discord://,
# msteams://...) carries its tokens in the "host" and path, so all of it is secret.
_ADDRESS_SCHEMES = frozenset(
    {
        "http", "https", "json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos",
        "ntfy", "ntfys", "file", "sqlite", "postgresql", "postgres", "postgresql+psycopg", "s3",
    }
)  # fmt: skip
# A path segment this long and made of letters and digits is a token in a webhook URL.
_TOKEN_SEGMENT = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_\-]{16,}$")


def secrets_in_url(url: str) -> list[str]:
    """The secret parts of a URL: password, secret query values, token-like path segments."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    if not parts.scheme or len(parts.scheme) == 1:  # a plain or Windows path
        return []
    found = []
    if parts.password:
        found.append(parts.password)
        # Libraries often echo the decoded form back in their error messages.
        found.append(unquote(parts.password))
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        if _SECRET_QUERY_KEYS.search(key) and value:
            found.append(value)
    if parts.scheme.lower() in _ADDRESS_SCHEMES:
        found.extend(seg for seg in parts.path.split("/") if _TOKEN_SEGMENT.match(seg))
    else:
        if parts.username:
            found.append(parts.username)
        # .hostname is lower-cased; tokens are case-sensitive, so take the netloc as written.
        host = parts.netloc.rsplit("@", 1)[-1].split(":", 1)[0]
        found.extend(seg for seg in [host, *parts.path.split("/")] if len(seg) >= 4)
    return [s for s in found if len(s) >= 3]


def mask_url(url: str) -> str:
    """The URL with every secret replaced by ``***``."""
    return redact(url, secrets_in_url(url))


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret (longest first, so overlaps mask fully)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text
