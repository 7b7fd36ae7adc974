"""The HTTP service: read-only API, dashboard and docs (FastAPI, imported only when serving).
Build it with :func:`covid_etl.web.app.create_app`."""
