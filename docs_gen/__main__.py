"""``python -m docs_gen`` (``make reference``): write the reference pages under docs/reference/
from the code. ``--check`` writes nothing and exits with 1 when a committed page is stale."""

from __future__ import annotations

import argparse
import sys

from .pages import stale_pages, write_reference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docs_gen", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="list stale pages instead of writing them"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages()
        for path in stale:
            print(f"docs/{path} differs from what the code writes: run `make reference`")
        return 1 if stale else 0
    written = write_reference()
    for path in written:
        print(f"wrote docs/{path}")
    if not written:
        print("the reference pages under docs/reference/ are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
