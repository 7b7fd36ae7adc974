"""The documentation site's generated pages: written from the code at every site build, never by
hand, so the reference cannot drift from the CLI, the settings or the HTTP API.

``pages.generated_pages()`` lists them; ``hooks.py`` is the MkDocs hook that adds them to the
site (``hooks:`` in ``mkdocs.yml``).
"""
