"""The API docs page and the dashboard's static files."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from starlette.staticfiles import StaticFiles

from covid_etl.web.docs import DOCS_HTML, DOCS_INIT_JS

STATIC_DIR = Path(__file__).parents[1] / "static"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def docs() -> Response:
    return Response(DOCS_HTML, media_type="text/html; charset=utf-8")


@router.get("/docs/init.js")
async def docs_init() -> Response:
    return Response(DOCS_INIT_JS, media_type="text/javascript; charset=utf-8")


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard's files at ``/``. Mount it last, so API routes win; html=True
    serves index.html at ``/``."""
    if STATIC_DIR.is_dir():
        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="dashboard")
