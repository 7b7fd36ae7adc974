"""A run record as the public API shows it: without the server's file layout.

The store keeps each source's URL as the run used it (the operator needs the full path of a
local file to find it). A public answer must not reveal where files live on the server, so a
local source is shown by its file name and an http(s) URL with its secrets masked; an absolute
path quoted in a run's error or warnings (``cannot read NYT file /srv/...``) is cut to its file
name the same way.
"""

from __future__ import annotations

import re
from typing import Any

from covid_etl.redact import mask_url

_REMOTE = re.compile(r"^https?://", re.IGNORECASE)
_FILE_SCHEME = re.compile(r"^file://", re.IGNORECASE)
# A path standing on its own in a message (after a space, a quote or a bracket, or at the
# start): its directories up to the last slash. An absolute one (with or without file://)
# always; a relative one only when it ends in a file name with an extension (`in/us.csv`), so
# that prose such as "cases/deaths" stays. A URL's path follows its host, so it never matches.
# A directory name holding a space is cut at the space.
_PATH_IN_TEXT = re.compile(
    r"""(?:^|(?<=[\s'"(\[]))"""
    r"""(?:(?:file://)?/(?:[^\s'"/]+/)+|(?:[^\s'"/:]+/)+(?=[^\s'"/:]*\.[A-Za-z0-9]{1,8}\b))"""
)


def public_source_url(url: str) -> str:
    """An http(s) URL with its secrets masked; anything else is a local file, shown by its
    file name alone (``/srv/etl/us.csv``, ``file:///srv/etl/us.csv`` -> ``us.csv``)."""
    if _REMOTE.match(url):
        return mask_url(url)
    path = _FILE_SCHEME.sub("", url)
    return re.split(r"[/\\]", path)[-1]


def without_paths(text: str) -> str:
    """``text`` with the directories of every absolute path in it removed."""
    return _PATH_IN_TEXT.sub("", text)


def public_run(run: dict[str, Any]) -> dict[str, Any]:
    """A run's public dict form (``RunRecord.to_dict()``) with its sources, error and warnings
    rewritten as the module docstring says; the other fields as they are."""
    shown = dict(run)
    shown["sources"] = [
        {**source, "url": public_source_url(source["url"])} for source in run["sources"]
    ]
    if run["error"] is not None:
        shown["error"] = without_paths(run["error"])
    shown["warnings"] = [without_paths(warning) for warning in run["warnings"]]
    return shown
