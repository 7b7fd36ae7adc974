"""The API function: the same FastAPI app (API and dashboard) as ``covid-etl serve``, behind
API Gateway through Mangum, reading the store of ``COVID_ETL_ENVIRONMENT``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from covid_etl.aws.events import store_url_for
from covid_etl.settings import Settings
from covid_etl.store import open_store

if TYPE_CHECKING:
    from fastapi import FastAPI


def build_app(settings: Settings) -> FastAPI:
    """The FastAPI app over the environment's store (``s3://bucket`` -> ``s3://bucket/<env>``)."""
    from covid_etl.web.app import create_app  # FastAPI: imported by the API function only

    # No scheduler is passed: the ETL function loads the data.
    url = store_url_for(settings.database_url, settings.environment)
    store = open_store(url, s3_revalidate=settings.s3_revalidate)
    return create_app(settings, store=store)


def build_api(settings: Settings) -> Callable[[Any, Any], Any]:
    """The Mangum adapter around the app; built once per container, so the store (and the
    app's response cache) live as long as the container."""
    from mangum import Mangum

    # lifespan off: Mangum would otherwise run startup and shutdown around every request.
    handler: Callable[[Any, Any], Any] = Mangum(build_app(settings), lifespan="off")
    return handler
