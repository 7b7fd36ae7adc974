"""``/api/v1/{series}/{partition}/records`` for any declared partitioned series beyond the
national and per-state ones (whose pages carry more than records and have routes of their own):
one partition's records with the columns its declaration documents, as a JSON page or CSV,
filtered and paged like every series. Nothing here names a series.

No ``from __future__ import annotations`` here: the route's path parameter is declared with the
series' own column name, so its annotation must be evaluated where the route is built.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import Field, create_model
from starlette.concurrency import run_in_threadpool

from covid_etl.series.spec import Series
from covid_etl.web.cache import Rendered
from covid_etl.web.context import cached, current_revision, web_context
from covid_etl.web.errors import ApiError
from covid_etl.web.params import (
    End,
    Format,
    Limit,
    Offset,
    Start,
    date_window,
    json_or_csv,
    response_format,
)
from covid_etl.web.render import render_page
from covid_etl.web.schemas import PAGE_LIMIT, PAGE_OFFSET, PAGE_TOTAL, ErrorBody, record_model


def series_router(series: Series) -> APIRouter:
    """The records route of one partitioned series, its OpenAPI models built from the
    declaration."""
    assert series.partition is not None, "only a partitioned series has partitions to serve"
    column = series.partition
    doc = next(c.doc for c in series.columns if c.name == column)
    title = series.name.title().replace("_", "")
    record = record_model(
        f"{title}RecordOut",
        series,
        f"One day of one {column}'s records of the {series.name} series, with the columns its "
        "declaration documents.",
    )
    fields_of_page: dict[str, Any] = {
        column: (str, Field(description=doc)),
        "records": (
            list[record],  # type: ignore[valid-type]
            Field(description="The page's records, in date order."),
        ),
        "total": (int, Field(description=PAGE_TOTAL)),
        "limit": (int, Field(description=PAGE_LIMIT)),
        "offset": (int, Field(description=PAGE_OFFSET)),
    }
    page = create_model(
        f"{title}RecordsPage",
        __doc__=f"One page of one {column}'s records of the {series.name} series, by date.",
        **fields_of_page,
    )
    fields = tuple(c.name for c in series.record_columns)
    not_found: dict[int | str, Any] = {
        404: {"model": ErrorBody, "description": f"No stored series for this {column}"}
    }
    router = APIRouter()

    @router.get(
        f"/api/v1/{series.name}/{{{column}}}/records",
        summary=f"One {column}'s daily records of the {series.name} series",
        response_class=Response,
        responses={**json_or_csv(page), **not_found},
        operation_id=f"{series.name}_records",
    )
    async def records(
        request: Request,
        partition: Annotated[str, Path(alias=column, description=doc)],
        start: Start = None,
        end: End = None,
        limit: Limit = None,
        offset: Offset = 0,
        fmt: Format = None,
    ) -> Response:
        first, last = date_window(start, end)
        form = response_format(request, fmt)
        service = web_context(request).service
        revision = await current_revision(request)
        rows = await run_in_threadpool(service.partition_rows, series, revision, partition)
        if rows is None:
            raise ApiError(404, f"no stored series for {column} {partition}")

        def build() -> Rendered:
            return render_page(rows, first, last, limit, offset, form, fields, {column: partition})

        key = (series.name, revision, partition, first, last, limit, offset, form)
        return await cached(request, revision, key, build)

    return router


__all__ = ["series_router"]
