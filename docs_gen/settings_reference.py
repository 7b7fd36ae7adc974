"""docs/reference/settings.md: every setting, from the metadata of the settings dataclass."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, NamedTuple

# How each field type reads in an environment variable.
KINDS = {
    "str": "text",
    "int": "whole number",
    "float": "number",
    "bool": "true or false",
    "tuple[str, ...]": "words separated by spaces",
}


class SettingRow(NamedTuple):
    env: str
    kind: str
    default: str
    description: str


def as_written(default: object) -> str:
    """A default as one would write it in the environment variable."""
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    if isinstance(default, tuple):
        return " ".join(default)
    return str(default)


def setting_rows(settings_class: Any) -> list[SettingRow]:
    rows = []
    for f in dataclasses.fields(settings_class):
        kind = KINDS.get(str(f.type), str(f.type))
        rows.append(SettingRow(f.metadata["env"], kind, as_written(f.default), f.metadata["doc"]))
    return rows


def meaning(description: str) -> str:
    """A description's first sentence without its asides in parentheses: the setting's line in
    the summary table."""
    plain = " ".join(re.sub(r"\s\([^()]*\)", "", description).split())
    return re.split(r"(?<=\.)\s+(?=[A-Z0-9`])", plain, maxsplit=1)[0]


def summary_table(rows: list[SettingRow]) -> list[str]:
    from .markdown import code, table

    return table(
        ("Variable", "Default", "Meaning"),
        [
            (f"[`{row.env}`](#{row.env.lower()})", code(row.default) if row.default else "(empty)",
             meaning(row.description))
            for row in rows
        ],
    )  # fmt: skip


def settings_page(rows: list[SettingRow]) -> str:
    """A summary table, then one section per setting, so each has its own link
    (``#covid_etl_retries``)."""
    from .markdown import code, generated_note

    lines = [
        "# Settings",
        "",
        generated_note("the settings dataclass (`src/covid_etl/settings.py`)"),
        "",
        "Every setting is an environment variable; the command line's options, where a command "
        "has one, win over it. Each value is checked before anything runs: a value out of range "
        "or of the wrong form stops the command with exit code 2 and one line naming the "
        "variable and the form it accepts. How settings are read and checked, and which parts "
        "of a URL are kept secret, is told in [Configuration](../configuration.md).",
        "",
        *summary_table(rows),
        "",
    ]
    for row in rows:
        default = code(row.default) if row.default else "(empty)"
        lines += [
            f"## `{row.env}` {{#{row.env.lower()}}}",
            "",
            row.description,
            "",
            f"Value: {row.kind}. Default: {default}.",
            "",
        ]
    return "\n".join(lines)


def page() -> str:
    from covid_etl.settings import Settings

    return settings_page(setting_rows(Settings))
