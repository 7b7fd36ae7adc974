"""The API's routes, one module per concern: records (and the summary), states, changes, runs
(and health), compat (the original design's endpoint) and pages (docs and the dashboard's
files). Each reaches its data through the web context's data service."""
