"""Keep secrets out of everything we show: logs, run records, notifications, CLI output.

Two tools: :func:`mask_url` rewrites a URL for display, and :func:`redact` scrubs known secret
strings out of arbitrary text (error messages from libraries often echo a URL back).

What counts as a secret in a URL (docs/configuration.md, "Secrets"):

- the password, whatever its length (``postgresql://etl:***@db/covid``);
- the value of a query parameter whose name ends in password, passwd, pass, pwd, secret, token,
  key, sig, signature, auth, authorization, credential or credentials, ignoring case, ``-`` and
  ``_`` (``api_key``, ``access_token``, ``X-Amz-Signature``, ``client_secret``...);
- for Apprise schemes that carry their tokens in the URL's host and path (``slack://A/B/C``,
  ``discord://id/token``, ``msteams://``, ``tgram://``, ``pover://``... and any scheme we do not
  know), the user, host and every path segment; for self-hosted ones (``gotify://host/token``,
  ``mmost://host/token``) the path;
- in an https webhook (a host named ``hooks.*`` or ``*webhook*``, or a ``/api/webhooks/`` path),
  the id- and token-shaped path segments (8+ letters, digits, ``-`` or ``_``, with a digit).

Never a secret: the scheme, a user name in a plain URL, hosts and ports, file and directory names
(however long), other query parameters and ``#fragments`` (a Slack channel).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

MASK = "***"
_SECRET_KEY_ENDINGS = (
    "password", "passwd", "pass", "pwd", "secret", "token", "key", "sig", "signature", "auth",
    "authorization", "credential", "credentials",
)  # fmt: skip
# Schemes whose host and path are plain addresses (databases, sources, e-mail, generic webhooks).
_ADDRESS_SCHEMES = frozenset(
    {
        "http", "https", "json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos",
        "ntfy", "ntfys", "file", "sqlite", "postgresql", "postgres", "postgresql+psycopg", "s3",
    }
)  # fmt: skip
# Apprise schemes of self-hosted servers: the host is an address, the path is the token.
_SERVER_THEN_TOKEN_SCHEMES = frozenset({"gotify", "gotifys", "mmost", "mmosts"})
# Schemes that can be an https webhook whose path holds the token.
_WEB_SCHEMES = frozenset({"http", "https", "json", "jsons", "xml", "xmls", "form", "forms"})
# In a webhook's path: ids and tokens (8+ letters, digits, - or _, with a digit), not words
# like "services" or "webhooks".
_TOKEN_SEGMENT = re.compile(r"^(?=.*\d)[A-Za-z0-9_\-]{8,}$")
# RFC 3986, appendix B: scheme, authority, path, query, fragment, each kept exactly as written.
_URL = re.compile(
    r"^([A-Za-z][A-Za-z0-9+.\-]*):(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(#.*)?$", re.S
)
# Shorter secrets are scrubbed from free text only where they stand as a URL or connection
# string part (":pw@", "password=pw", "/token/"): replacing every "a" in a message would mangle
# it and reveal the secret's length and position anyway.
_SHORT = 3


class _Parts(NamedTuple):
    scheme: str
    authority: str | None
    path: str
    query: str | None
    fragment: str


def _split(url: str) -> _Parts | None:
    match = _URL.match(url)
    if match is None or len(match.group(1)) == 1:  # not a URL, or a Windows drive letter
        return None
    scheme, authority, path, query, fragment = match.groups()
    return _Parts(scheme.lower(), authority, path, query, fragment or "")


def _is_secret_key(key: str) -> bool:
    name = unquote(key).lower().lstrip("+-:").replace("-", "").replace("_", "")
    return name.endswith(_SECRET_KEY_ENDINGS)


def _is_webhook(parts: _Parts, host: str) -> bool:
    host = host.lower()
    return parts.scheme in _WEB_SCHEMES and (
        host.startswith("hooks.") or "webhook" in host or "/api/webhooks/" in parts.path
    )


def _masked(parts: _Parts) -> tuple[_Parts, list[str]]:
    """The URL's parts with every secret replaced by ``***``, and the secrets themselves."""
    secrets: list[str] = []

    def hide(value: str) -> str:
        if not value:
            return value
        secrets.append(value)
        return MASK

    authority = parts.authority
    host = ""
    tokens_everywhere = parts.scheme not in _ADDRESS_SCHEMES | _SERVER_THEN_TOKEN_SCHEMES
    if authority is not None:
        userinfo, at, host = authority.rpartition("@")
        user, colon, password = userinfo.partition(":")
        if tokens_everywhere:
            user, host = hide(user), hide(host)
        password = hide(password)
        authority = f"{user}{colon}{password}{at}{host}"
    segments = parts.path.split("/")
    if tokens_everywhere or parts.scheme in _SERVER_THEN_TOKEN_SCHEMES:
        segments = [hide(s) for s in segments]
    elif _is_webhook(parts, host):
        segments = [hide(s) if _TOKEN_SEGMENT.match(s) else s for s in segments]
    query = parts.query
    if query:
        pairs = [pair.partition("=") for pair in query.split("&")]
        query = "&".join(k + eq + (hide(v) if _is_secret_key(k) else v) for k, eq, v in pairs)
    return parts._replace(authority=authority, path="/".join(segments), query=query), secrets


def _join(parts: _Parts, original_scheme: str) -> str:
    authority = "" if parts.authority is None else f"//{parts.authority}"
    query = "" if parts.query is None else f"?{parts.query}"
    return f"{original_scheme}:{authority}{parts.path}{query}{parts.fragment}"


def secrets_in_url(url: str) -> list[str]:
    """The secret parts of a URL (see the module docstring), as written and percent-decoded."""
    parts = _split(url)
    if parts is None:
        return []
    _, found = _masked(parts)
    decoded = [unquote(s) for s in found]
    return list(dict.fromkeys([*found, *(d for d in decoded if d not in found)]))


def mask_url(url: str) -> str:
    """The URL with every secret replaced by ``***``; everything else exactly as written."""
    parts = _split(url)
    if parts is None:
        return url
    masked, found = _masked(parts)
    return _join(masked, url.split(":", 1)[0]) if found else url


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret (longest first, so overlaps mask fully); a
    secret of one or two characters only where it stands as a URL or connection-string part."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if not secret:
            continue
        if len(secret) >= _SHORT:
            text = text.replace(secret, MASK)
        else:
            text = _short_secret(secret).sub(MASK, text)
    return text


@functools.lru_cache(maxsize=64)  # the log filter redacts every record with the same secrets
def _short_secret(secret: str) -> re.Pattern[str]:
    value = re.escape(secret)
    return re.compile(
        rf"(?<=[:=])['\"]?{value}['\"]?(?=[@&\s;,)]|$)"  # user:pw@, password=pw, ?key=pw&
        rf"|(?<=[/@]){value}(?=[/?#@\s]|$)"  # slack://A/B/C, discord://avatar@1/t
        rf"|(?<=//){value}(?=[/?#@:\s]|$)"
    )


# The monitors put their check's token in the path (hc-ping.com/<uuid>, /api/push/<token>,
# /p/<key>/<monitor>): any segment this long is treated as one.
_HEARTBEAT_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{8,}$")


def secrets_in_heartbeat_url(url: str) -> list[str]:
    """What must not be shown of a heartbeat URL: its usual secrets plus token-like path
    segments (whoever knows them can ping, and so hide an outage)."""
    found = secrets_in_url(url)
    for segment in urlsplit(url).path.split("/"):
        if _HEARTBEAT_TOKEN.match(segment):
            found.append(segment)
    return found
