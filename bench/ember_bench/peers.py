"""Peer JITs: detect the installed ones and describe their process configurations.

Each peer comes with its own no-JIT baseline (same interpreter binary), so its
speedup can be reported against its own interpreter and against CPython 3.13:

* ``pypy``   -- Debian's ``pypy3`` in the venv ``.venv-pypy`` (``pyperf``
  installed with ``--no-deps``: psutil does not build for PyPy without
  headers); baseline ``pypy-nojit`` = ``pypy3 --jit off``.
* ``pyston`` -- ``pyston_lite_autoload`` in ``.venv-pyston`` (pyenv's CPython
  3.10); baseline ``cpython3.10`` = the same venv with ``DISABLE_PYSTON=1``.
* ``cinderx`` -- ``cinderx`` in ``.venv-cinderx`` made from a ``python3.14``;
  the venv holds ``ember_bench_cinderx.pth``, which calls
  ``cinderx.jit.auto()`` when ``EMBER_BENCH_CINDERX=1``; baseline
  ``cpython3.14`` = the same venv without that variable.

The venvs are created by ``bench/bench.mk`` (target ``bench-peers``). A peer
that is missing or broken is reported with a reason, never fatal.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .configs import Config, base_environ

PEERS = ("pypy", "pyston", "cinderx")

_PROBE = (
    "import json, sys, pyperf;"
    "print(json.dumps({'impl': sys.implementation.name,"
    " 'version': sys.version.split()[0], 'full': sys.version.replace(chr(10), ' '),"
    " 'modules': sorted(m for m in ('pyston_lite', 'cinderx') if m in sys.modules)}))"
)


@dataclass
class PeerStatus:
    """Whether a peer can run: ``available``, a human ``message`` and its configs.

    ``configs`` lists the JIT configuration first, then its own baseline.
    """

    name: str
    available: bool
    message: str
    configs: list = field(default_factory=list)
    version: str = ""


def _probe(argv: list, extra_env: dict, timeout: float = 120.0) -> tuple[dict | None, str]:
    """Run the probe snippet with ``argv``; return (info, error-text)."""
    env = base_environ()
    env.update(extra_env)
    try:
        out = subprocess.run(argv + ["-c", _PROBE], capture_output=True, text=True,
                             env=env, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        return None, " | ".join(tail)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1]), ""
    except (ValueError, IndexError):
        return None, f"unexpected probe output: {out.stdout[-200:]!r}"


def find_python314() -> str | None:
    """Return a CPython 3.14 interpreter path (PATH or pyenv), or None."""
    exe = shutil.which("python3.14")
    if exe:
        return exe
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for cand in sorted(glob.glob(os.path.join(root, "versions", "3.14*", "bin", "python3.14"))):
        if os.access(cand, os.X_OK):
            return cand
    return None


def detect_pypy(venv: Path) -> PeerStatus:
    """Check the PyPy venv at ``venv``; see the module docstring."""
    py = venv / "bin" / "python"
    if not py.exists():
        why = "pypy3 not installed" if not shutil.which("pypy3") else f"no venv at {venv}"
        return PeerStatus("pypy", False, f"not set up ({why}; run `make bench-peers`)")
    info, err = _probe([str(py)], {})
    if info is None:
        return PeerStatus("pypy", False, f"broken: {err}")
    if info["impl"] != "pypy":
        return PeerStatus("pypy", False, f"{py} is {info['impl']}, not PyPy")
    ver = info["full"]
    jit = Config("pypy", f"PyPy {info['version']} (JIT)", [str(py)],
                 own_baseline="pypy-nojit", family="pypy")
    base = Config("pypy-nojit", f"PyPy {info['version']} --jit off", [str(py), "--jit", "off"],
                  family="pypy")
    return PeerStatus("pypy", True, f"PyPy {ver}", [jit, base], ver)


def detect_pyston(venv: Path) -> PeerStatus:
    """Check the pyston-lite venv at ``venv``; see the module docstring."""
    py = venv / "bin" / "python"
    if not py.exists():
        return PeerStatus("pyston", False, f"not set up (no venv at {venv}; run `make bench-peers`)")
    info, err = _probe([str(py)], {})
    if info is None:
        return PeerStatus("pyston", False, f"broken: {err}")
    if "pyston_lite" not in info["modules"]:
        return PeerStatus("pyston", False, "pyston_lite_autoload did not enable pyston_lite")
    off, err = _probe([str(py)], {"DISABLE_PYSTON": "1"})
    if off is None or "pyston_lite" in off["modules"]:
        return PeerStatus("pyston", False, f"cannot disable pyston_lite for the baseline {err}")
    v = info["version"]
    jit = Config("pyston", f"pyston-lite (CPython {v})", [str(py)],
                 own_baseline="cpython3.10", family="pyston")
    base = Config("cpython3.10", f"CPython {v} (no JIT)", [str(py)],
                  {"DISABLE_PYSTON": "1"}, family="pyston")
    return PeerStatus("pyston", True, f"pyston-lite on CPython {v}", [jit, base], v)


def detect_cinderx(venv: Path) -> PeerStatus:
    """Check CinderX: needs a python3.14 and the venv at ``venv``."""
    py314 = find_python314()
    if py314 is None:
        return PeerStatus("cinderx", False,
                          "skipped: no python3.14 interpreter on this machine "
                          "(CinderX requires CPython 3.14)")
    py = venv / "bin" / "python"
    if not py.exists():
        return PeerStatus("cinderx", False,
                          f"not set up ({py314} found, no venv at {venv}; run `make bench-peers`)")
    info, err = _probe([str(py)], {"EMBER_BENCH_CINDERX": "1"})
    if info is None:
        return PeerStatus("cinderx", False, f"broken: {err}")
    if "cinderx" not in info["modules"]:
        return PeerStatus("cinderx", False,
                          "cinderx not loaded with EMBER_BENCH_CINDERX=1 (missing .pth hook?)")
    v = info["version"]
    jit = Config("cinderx", f"CinderX (CPython {v})", [str(py)],
                 {"EMBER_BENCH_CINDERX": "1"}, own_baseline="cpython3.14", family="cinderx")
    base = Config("cpython3.14", f"CPython {v} (no JIT)", [str(py)], family="cinderx")
    return PeerStatus("cinderx", True, f"CinderX on CPython {v}", [jit, base], v)


def detect(names: list, root: Path) -> list:
    """Detect the requested peers (subset of :data:`PEERS`) under repo ``root``.

    Returns one :class:`PeerStatus` per name. Raises ValueError for unknown names.
    """
    out = []
    for n in names:
        if n == "pypy":
            out.append(detect_pypy(root / ".venv-pypy"))
        elif n == "pyston":
            out.append(detect_pyston(root / ".venv-pyston"))
        elif n == "cinderx":
            out.append(detect_cinderx(root / ".venv-cinderx"))
        else:
            raise ValueError(f"unknown peer {n!r}; choose from {', '.join(PEERS)}")
    return out
