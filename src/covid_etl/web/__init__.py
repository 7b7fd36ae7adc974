"""The HTTP service: read-only API, dashboard and docs (FastAPI, imported only when serving)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..settings import Settings


def create_app(settings: Settings, **kwargs: Any) -> FastAPI:
    """See :func:`covid_etl.web.app.create_app`."""
    from .app import create_app as build

    return build(settings, **kwargs)


__all__ = ["create_app"]
