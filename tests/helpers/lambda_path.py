"""Run the ETL handler once in this interpreter with the modules the Lambda package lacks made
unimportable; print the summary. Fails if anything on the Lambda path imports them."""

from __future__ import annotations

import importlib.abc
import json
import sys
from types import SimpleNamespace
from typing import Any

ABSENT = ("apprise", "click", "rich", "pandas", "numpy", "aiosmtpd", "uvicorn", "fastapi")


class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name.split(".")[0] in ABSENT:
            raise ImportError(f"{name} is not in the Lambda package")
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, Refuse())
    from covid_etl.aws.handlers import etl_handler, notify_handler  # noqa: F401

    result = etl_handler({"environment": "testing"}, SimpleNamespace(aws_request_id="r-1"))
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ABSENT)
    assert not loaded, loaded
    print(json.dumps(result))
