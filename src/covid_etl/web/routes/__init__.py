"""The API's routes, one module per concern: records (and the summary), runs (and health),
compat (the original design's endpoint) and pages (docs and the dashboard's files)."""
