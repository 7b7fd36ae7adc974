"""The API function: the same FastAPI app (API and dashboard) as the self-hosted server, behind
API Gateway through Mangum, reading the store of ``COVID_ETL_ENVIRONMENT``."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

from ..settings import Settings
from ..store import open_store
from .events import store_url_for


def api_settings(settings: Settings) -> Settings:
    """No scheduler inside the API function: the ETL function loads the data."""
    if "schedule" in {f.name for f in dataclasses.fields(Settings)}:
        return settings.replace(schedule="off")
    return settings


def build_app(settings: Settings) -> Any:
    """The FastAPI app over the environment's store (``s3://bucket`` -> ``s3://bucket/<env>``)."""
    settings = api_settings(settings)
    store = open_store(store_url_for(settings.database_url, settings.environment))
    web = importlib.import_module("covid_etl.web.app")
    return web.create_app(settings, store=store)


def build_api(settings: Settings) -> Callable[[Any, Any], Any]:
    """The Mangum adapter around the app; built once per container, so the store (and the
    app's response cache) live as long as the container."""
    from mangum import Mangum

    # lifespan off: Mangum would otherwise run startup and shutdown around every request.
    handler: Callable[[Any, Any], Any] = Mangum(build_app(settings), lifespan="off")
    return handler
