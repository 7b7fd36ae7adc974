"""The documentation's pages written from the code, never by hand, so the reference cannot drift
from the CLI, the settings, the HTTP API or the database schema.

``pages.REFERENCE`` lists the reference pages, committed under docs/reference/ and written by
``python -m docs_gen`` (``make reference``); ``hooks.py`` is the MkDocs hook (``hooks:`` in
``mkdocs.yml``) that adds the changelog page to the site and fits repository links to it.
"""
