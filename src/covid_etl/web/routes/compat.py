"""``/covid_data``: the original design's table, for its existing front-end."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from covid_etl.web.context import ERRORS, NOT_MODIFIED, cached, current_revision, web_context
from covid_etl.web.render import render_json
from covid_etl.web.schemas import LegacyData

router = APIRouter()


@router.get(
    "/covid_data",
    summary="The original design's 13-column table (compatibility)",
    response_class=Response,
    responses={200: {"model": LegacyData}, **NOT_MODIFIED, **ERRORS},
)
async def covid_data(request: Request) -> Response:
    service = web_context(request).service
    revision = await current_revision(request)
    return await cached(
        request, revision, ("legacy", revision), lambda: render_json(service.legacy(revision))
    )
