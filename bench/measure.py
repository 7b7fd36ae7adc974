"""Run child processes and measure each: wall time, CPU time and peak RSS of that child alone."""

from __future__ import annotations

import compileall
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured process."""

    wall: float  # seconds, perf_counter around spawn .. reap (in the launcher)
    cpu: float  # seconds, user + system of the child (from wait4)
    rss_kib: int  # peak resident set size of the child, KiB (Linux ru_maxrss)
    stdout: str


class ChildFailed(RuntimeError):
    pass


def byte_compile_package() -> None:
    """Byte-compile covid_etl where it is installed, as ``pip install`` does for a wheel.

    An editable install is compiled lazily, on first import, and not at all when
    ``PYTHONDONTWRITEBYTECODE`` is set: every run would then pay for compiling our modules from
    source while pandas, installed from wheels, loads its bytecode. Compiling first measures what a
    user of an installed package runs.
    """
    spec = importlib.util.find_spec("covid_etl")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("covid_etl is not installed in this environment")
    package = Path(next(iter(spec.submodule_search_locations)))
    if not compileall.compile_dir(package, quiet=1):
        raise SystemExit(f"could not byte-compile {package}")


class Launcher:
    """Runs measured children through ``bench/launcher.py`` (see there for why).

    The launcher's own size (a bare interpreter, about 10 MB) is the floor under every peak RSS
    it reports, instead of the benchmark process's size.
    """

    def __init__(self) -> None:
        script = Path(__file__).with_name("launcher.py")
        self._proc = subprocess.Popen(
            [sys.executable, "-S", "-E", str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-out-")

    def run(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Sample:
        """Run ``argv`` (``argv[0]`` an absolute path) to completion; raise on non-zero exit."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        out, err = Path(self._tmp.name, "stdout"), Path(self._tmp.name, "stderr")
        request = {
            "argv": list(argv),
            "env": dict(env) if env is not None else None,
            "stdout": str(out),
            "stderr": str(err),
        }
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise ChildFailed("the launcher process died")
        reply = json.loads(line)
        stdout = out.read_text(encoding="utf-8", errors="replace")
        if reply["status"] != 0:
            stderr = err.read_text(encoding="utf-8", errors="replace")
            raise ChildFailed(
                f"{' '.join(argv)} exited with {reply['status']}\n"
                f"--- stdout\n{stdout}\n--- stderr\n{stderr}"
            )
        return Sample(wall=reply["wall"], cpu=reply["cpu"], rss_kib=reply["rss_kib"], stdout=stdout)

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait()
        self._tmp.cleanup()

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Series:
    """The samples of one benchmark case."""

    key: str
    label: str
    samples: list[Sample] = field(default_factory=list)

    def stat(self, metric: str, how: str) -> float:
        values = [float(getattr(s, metric)) for s in self.samples]
        if how == "median":
            return statistics.median(values)
        if how == "min":
            return min(values)
        if how == "max":
            return max(values)
        raise ValueError(how)

    def to_json(self) -> dict[str, object]:
        return {
            "label": self.label,
            "wall_s": [round(s.wall, 4) for s in self.samples],
            "cpu_s": [round(s.cpu, 4) for s in self.samples],
            "peak_rss_kib": [s.rss_kib for s in self.samples],
            "median": {m: round(self.stat(m, "median"), 4) for m in ("wall", "cpu", "rss_kib")},
            "min": {m: round(self.stat(m, "min"), 4) for m in ("wall", "cpu", "rss_kib")},
            "max": {m: round(self.stat(m, "max"), 4) for m in ("wall", "cpu", "rss_kib")},
        }
