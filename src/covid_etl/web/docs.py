"""The interactive API docs page, served from this server only.

FastAPI's built-in ``/docs`` loads Swagger UI from a CDN and starts it with an inline script;
both are blocked by our Content-Security-Policy. This page uses the vendored copy under
``static/vendor/swagger-ui/`` and a separate init script. Relative URLs keep it working when the
service is mounted under a path prefix. The empty icon link stops browsers from asking for
``/favicon.ico``, a 404 that shows as a console error.
"""

from __future__ import annotations

DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>covid-etl API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="vendor/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body>
</html>
"""

# validatorUrl null: otherwise Swagger UI sends the spec to an external validator service.
DOCS_INIT_JS = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true
  });
});
"""
