"""The API function: the same FastAPI app (API and dashboard) as ``covid-etl serve``, behind
API Gateway through Mangum, reading the store of ``COVID_ETL_ENVIRONMENT``."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

from ..settings import Settings
from ..store import open_store
from .events import store_url_for


def build_api(settings: Settings) -> Callable[[Any, Any], Any]:
    """The Mangum adapter around the app. No scheduler: the ETL function loads the data; the
    store stays open across invocations of the container."""
    from mangum import Mangum

    if "schedule" in {f.name for f in dataclasses.fields(Settings)}:
        settings = settings.replace(schedule="off")
    store = open_store(store_url_for(settings.database_url, settings.environment))
    web = importlib.import_module("covid_etl.web.app")
    app = web.create_app(settings, store=store)
    # lifespan off: Mangum would otherwise run startup and shutdown around every request.
    handler: Callable[[Any, Any], Any] = Mangum(app, lifespan="off")
    return handler
