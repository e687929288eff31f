"""The benchmark set and where pyperformance installed its benchmark scripts.

The scripts are never copied: they are used from the ``pyperformance`` package
installed in the CPython 3.13 venv (``data-files/benchmarks/bm_NAME/
run_benchmark.py``). Each of the fifteen scripts needs only ``pyperf`` and the
standard library (checked against pyperformance 1.14.0's ``pyproject.toml``
files; :func:`check_requirements` re-checks this at run time).
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

BENCHMARKS: tuple[str, ...] = (
    "richards", "nbody", "deltablue", "float", "chaos", "go", "raytrace",
    "spectral_norm", "nqueens", "fannkuch", "hexiom", "unpack_sequence",
    "generators", "coroutines", "async_generators",
)

_LOCATE = (
    "import json, os, pyperformance;"
    "d = os.path.join(os.path.dirname(pyperformance.__file__), 'data-files', 'benchmarks');"
    "print(json.dumps({'dir': d, 'version': getattr(pyperformance, '__version__', '?')}))"
)


@dataclass(frozen=True)
class BenchmarkScript:
    """One pyperformance benchmark: its name, script path and declared deps."""

    name: str
    script: Path
    dependencies: tuple[str, ...]


class BenchmarkError(RuntimeError):
    """Raised when the benchmark scripts cannot be located or are unusable."""


def parse_selection(text: str | None) -> list[str]:
    """Turn a ``-b`` value (comma/space separated names, or ``all``) into names.

    Keeps the canonical order of :data:`BENCHMARKS`. Raises BenchmarkError for
    unknown names.
    """
    if not text or text.strip() == "all":
        return list(BENCHMARKS)
    wanted = [t for t in re.split(r"[,\s]+", text.strip()) if t]
    unknown = [w for w in wanted if w not in BENCHMARKS]
    if unknown:
        raise BenchmarkError(
            f"unknown benchmark(s): {', '.join(unknown)}; "
            f"choose from: {', '.join(BENCHMARKS)}")
    return [b for b in BENCHMARKS if b in wanted]


def locate_benchmarks_dir(python: str) -> tuple[Path, str]:
    """Ask ``python`` where its installed pyperformance keeps benchmark scripts.

    Returns ``(directory, pyperformance_version)``. The child runs with
    ``EMBER_DISABLE=1``. Raises BenchmarkError when pyperformance is missing.
    """
    import os
    env = dict(os.environ, EMBER_DISABLE="1")
    for k in ("EMBER_AUTO", "EMBER_JIT_LIST", "EMBER_LOG"):
        env.pop(k, None)
    try:
        out = subprocess.run([python, "-c", _LOCATE], capture_output=True,
                             text=True, env=env, timeout=120)
    except OSError as exc:
        raise BenchmarkError(f"cannot run {python}: {exc}") from exc
    if out.returncode != 0:
        raise BenchmarkError(
            f"pyperformance is not importable by {python} "
            f"(install it in the venv, e.g. `make setup`):\n{out.stderr.strip()}")
    info = json.loads(out.stdout.strip().splitlines()[-1])
    path = Path(info["dir"])
    if not path.is_dir():
        raise BenchmarkError(f"pyperformance has no benchmark directory at {path}")
    return path, str(info["version"])


def _declared_dependencies(pyproject: Path) -> tuple[str, ...]:
    if not pyproject.exists():
        return ()
    import tomllib
    data = tomllib.loads(pyproject.read_text())
    deps = data.get("project", {}).get("dependencies", [])
    req = pyproject.parent / "requirements.txt"
    if req.exists():
        deps += [line.strip() for line in req.read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
    return tuple(deps)


def find_scripts(bench_dir: Path, names: list[str]) -> list[BenchmarkScript]:
    """Return the :class:`BenchmarkScript` for each name, in order.

    Raises BenchmarkError when a ``bm_NAME/run_benchmark.py`` is missing.
    """
    found = []
    for name in names:
        script = bench_dir / f"bm_{name}" / "run_benchmark.py"
        if not script.is_file():
            raise BenchmarkError(f"missing benchmark script {script}")
        deps = _declared_dependencies(script.parent / "pyproject.toml")
        found.append(BenchmarkScript(name, script, deps))
    return found


def check_requirements(scripts: list[BenchmarkScript]) -> list[str]:
    """List problems with dependencies beyond pyperf (empty list = all fine).

    The harness installs only pyperf into the peers' interpreters, so a
    benchmark that declares anything else is reported here.
    """
    problems = []
    for s in scripts:
        extra = [d for d in s.dependencies
                 if re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0].lower() != "pyperf"]
        if extra:
            problems.append(f"{s.name} needs extra packages: {', '.join(extra)}")
    return problems
