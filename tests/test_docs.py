"""Tests that keep the documentation honest."""

from __future__ import annotations

from pathlib import Path

import click

from covid_etl.cli import app
from covid_etl.settings import setting_docs

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_documents_every_setting() -> None:
    missing = [env for env, _, _ in setting_docs() if f"`{env}`" not in README]
    assert missing == []


def test_every_setting_has_a_description() -> None:
    assert all(doc.strip() for _, _, doc in setting_docs())


def test_readme_lists_every_command() -> None:
    def names(group: click.Group, prefix: str = "covid-etl") -> list[str]:
        out = []
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                out += names(command, f"{prefix} {name}")
            else:
                out.append(f"{prefix} {name}")
        return out

    missing = [name for name in names(app) if f"`{name}" not in README]
    assert missing == []


def test_readme_quick_start_has_the_two_commands() -> None:
    assert "make run " in README and "make test " in README
    assert "make run OFFLINE=1" in README


def test_changelog_and_contributing_exist() -> None:
    assert (ROOT / "CHANGELOG.md").read_text().startswith("# Changelog")
    assert "make test" in (ROOT / "CONTRIBUTING.md").read_text()
