"""Build the Lambda deployment package the way ``sam build`` does, inspect and measure it.

    python -m tests.helpers.lambda_package            # offline: from this environment
    python -m tests.helpers.lambda_package --pip      # pip install -r src/requirements.txt -t

``sam build`` runs ``pip install -r src/requirements.txt -t <dir>`` and copies ``src/`` next to
it. ``--pip`` does exactly that for the functions' runtime (CPython 3.12, manylinux x86_64
wheels), so it needs the package index. The default, used by the test suite (which must not
touch the network), copies the same distributions out of the current environment, found by
walking the requirements' dependency metadata; the versions may differ from a fresh install,
the set of packages does not.

The report: size unzipped and zipped (deflate, as ``sam build`` uploads it), file count, the
forbidden packages found, and the cold import times of docs/benchmarks-aws.md (the handlers, and
what the API function imports on its first request), each in a fresh ``python -S -X importtime``
whose only import path is the package (stdlib aside), which also proves the package is
self-sufficient.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "src" / "requirements.txt"
FORBIDDEN = ("pandas", "numpy", "apprise", "uvicorn", "click", "rich")
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")
# The modules whose cold import docs/benchmarks-aws.md reports: every function imports the
# handlers at init; the API function imports the app and Mangum on its first request.
TIMED_MODULES = ("covid_etl.aws.handlers", "covid_etl.web.app", "mangum")


def requirement_names() -> list[tuple[str, set[str]]]:
    found = []
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[([^\]]+)\])?", line)
        assert match, line
        extras = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
        found.append((match.group(1), extras))
    return found


def _closure() -> set[str]:
    """Distribution names needed by the requirements, following installed metadata."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = requirement_names()
    while todo:
        name, extras = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        for spec in metadata.requires(name) or []:
            req = Requirement(spec)
            env = {"extra": ""}
            wanted = req.marker is None or req.marker.evaluate(env)
            marker = req.marker
            if marker is not None:
                wanted = wanted or any(marker.evaluate({"extra": e}) for e in extras)
            if wanted:
                todo.append((req.name, set(req.extras)))
    return seen


def build_offline(target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in sorted(_closure()):
        dist = metadata.distribution(name)
        for file in dist.files or []:
            if file.parts[0].endswith(".dist-info") or ".." in file.parts:
                continue
            if file.parts[0] == "bin" or "__pycache__" in file.parts:
                continue
            source = Path(str(dist.locate_file(file)))
            if source.is_file():
                dest = target / file
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest)
    _copy_source(target)


def build_with_pip(target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "-r", str(REQUIREMENTS),
         "-t", str(target), "--platform", "manylinux2014_x86_64", "--python-version", "3.12",
         "--implementation", "cp", "--only-binary=:all:"],
        check=True,
    )  # fmt: skip
    _copy_source(target)


def _copy_source(target: Path) -> None:
    shutil.copytree(
        ROOT / "src" / "covid_etl",
        target / "covid_etl",
        ignore=shutil.ignore_patterns("__pycache__"),
        dirs_exist_ok=True,
    )


def inspect(target: Path) -> dict[str, Any]:
    files = [p for p in target.rglob("*") if p.is_file()]
    top = sorted({p.relative_to(target).parts[0] for p in files})
    packages = sorted({t.split(".")[0].split("-")[0].lower() for t in top})
    return {
        "bytes": sum(p.stat().st_size for p in files),
        "files": len(files),
        "top_level": top,
        "forbidden": [f for f in FORBIDDEN if f in packages],
        "runtime_provided": [p for p in RUNTIME_PROVIDED if p in packages],
    }


def zipped_bytes(target: Path) -> int:
    """Size of the package zipped with deflate, every file under its path in the package."""
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "package.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(p for p in target.rglob("*") if p.is_file()):
                zf.write(path, path.relative_to(target))
        return archive.stat().st_size


def import_time(
    target: Path, module: str = "covid_etl.aws.handlers", python: str = sys.executable
) -> float:
    """Seconds of a cold ``import module`` (sum of -X importtime's top-level entries)."""
    proc = subprocess.run(
        [python, "-S", "-X", "importtime", "-c", f"import {module}"],
        env={"PYTHONPATH": str(target), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    total = 0
    for line in proc.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package"; top level = no indent
        parts = line.split("|")
        if len(parts) == 3 and parts[0].startswith("import time:") and parts[2].startswith(" "):
            name = parts[2][1:]
            if not name.startswith(" ") and parts[1].strip().isdigit():
                total += int(parts[1].strip())
    return total / 1e6


def main() -> None:
    target = ROOT / "build" / "lambda"
    if "--pip" in sys.argv:
        build_with_pip(target)
    else:
        build_offline(target)
    report = inspect(target)
    report["zipped_bytes"] = zipped_bytes(target)
    # --python PATH: measure with another interpreter (the runtime's 3.12 for a --pip build).
    python = sys.argv[sys.argv.index("--python") + 1] if "--python" in sys.argv else sys.executable
    # A --pip build holds the runtime's compiled wheels, which only the runtime's interpreter
    # can import: without --python it is measured for size only.
    timed = TIMED_MODULES if "--pip" not in sys.argv or "--python" in sys.argv else ()
    for module in timed:
        times = [import_time(target, module, python) for _ in range(15)]
        report[f"import_seconds {module}"] = {
            "median": round(statistics.median(times), 3),
            "min": round(min(times), 3),
            "max": round(max(times), 3),
        }
    report.pop("top_level")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
