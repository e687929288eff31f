"""Peer JITs: detect the installed ones and describe their process configurations.

Each peer comes with its own no-JIT baseline (same interpreter binary), so its
speedup can be reported against its own interpreter and against CPython 3.13:

* ``pypy``   -- Debian's ``pypy3`` in the venv ``.venv-pypy`` (``pyperf``
  installed with ``--no-deps``: psutil does not build for PyPy without
  headers); baseline ``pypy-nojit`` = ``pypy3 --jit off``.
* ``pyston`` -- ``pyston_lite_autoload`` in ``.venv-pyston`` (pyenv's CPython
  3.10); baseline ``cpython3.10`` = the same venv with ``DISABLE_PYSTON=1``.
* ``cpython-3.14`` -- Debian's PGO-built CPython 3.14 in the private prefix
  ``.peers/cpython-3.14`` (see :mod:`ember_bench.debprefix`): config
  ``cpython-3.14-jit`` (``PYTHON_JIT=1``, CPython's own JIT) against
  ``cpython-3.14`` (``PYTHON_JIT=0``).
* ``cinderx`` -- the ``cinderx`` wheel in that prefix; ``ember_bench_cinderx.pth``
  calls ``cinderx.jit.auto()`` when ``EMBER_BENCH_CINDERX=1``; baseline
  ``cpython-3.14``; the driver records ``cinderx.jit.get_compiled_functions()``.
* ``ember-pgo`` -- Ember built for Debian's PGO-built CPython 3.13 (``.peers/cpython-3.13``),
  run as ``python -m ember`` at its defaults like the ``ember`` mode; baseline
  ``cpython-3.13-pgo`` (the same interpreter with ``EMBER_DISABLE=1``), whose loop count
  it shares.

The venvs and prefixes are created by ``bench/bench.mk`` (``make peers``). A peer
that is missing or broken is reported with a reason, never fatal.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import debprefix
from .configs import EMBER_DEFAULT_ARGS, JIT_WARMUP_S, Config, base_environ

PEERS = ("pypy", "pyston", "cpython-3.14", "cinderx", "ember-pgo")
#: The configurations each peer brings (its JIT and its own baseline), for ``-c/--configs``.
PEER_CONFIGS = {"pypy": ("pypy", "pypy-nojit"), "pyston": ("pyston", "cpython3.10"),
                "cpython-3.14": ("cpython-3.14", "cpython-3.14-jit"),
                "cinderx": ("cpython-3.14", "cinderx"),
                "ember-pgo": ("cpython-3.13-pgo", "ember-pgo")}

#: Run inside the Debian 3.13 prefix: does Ember load, activate and compile there?
_EMBER_PROBE = (
    "import json, os, sys; import ember\n"
    "def _probe(a, b): return a + b\n"
    "print(json.dumps({'built_for': ember.built_for, 'inactive': ember.inactive,"
    " 'compiled': ember.force_compile(_probe) and _probe(1, 2) == 3}))"
)

_PROBE = (
    "import json, sys, pyperf;"
    "print(json.dumps({'impl': sys.implementation.name,"
    " 'version': sys.version.split()[0], 'full': sys.version.replace(chr(10), ' '),"
    " 'modules': sorted(m for m in ('pyston_lite', 'cinderx') if m in sys.modules),"
    " 'jit_enabled': bool(getattr(getattr(sys, '_jit', None), 'is_enabled', bool)())}))"
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


def _probe(argv: list, extra_env: dict, timeout: float = 120.0,
           code: bool = True) -> tuple[dict | None, str]:
    """Run the probe snippet (``code``: append ``-c _PROBE``) with ``argv``; return
    (the JSON it printed last, error-text)."""
    env = base_environ()
    env.update(extra_env)
    try:
        out = subprocess.run(argv + (["-c", _PROBE] if code else []), capture_output=True,
                             text=True, env=env, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        return None, " | ".join(tail)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1]), ""
    except (ValueError, IndexError):
        return None, f"unexpected probe output: {out.stdout[-200:]!r}"


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
                 own_baseline="pypy-nojit", family="pypy", warmup_s=JIT_WARMUP_S)
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
                 own_baseline="cpython3.10", family="pyston", warmup_s=JIT_WARMUP_S)
    base = Config("cpython3.10", f"CPython {v} (no JIT)", [str(py)],
                  {"DISABLE_PYSTON": "1"}, family="pyston")
    return PeerStatus("pyston", True, f"pyston-lite on CPython {v}", [jit, base], v)


def _deb_probe(root: Path, minor: str, peer: str, env: dict) -> tuple:
    """Debian's ``minor`` in its private prefix, probed with ``env``: (launcher, version,
    probe info), or a not-available :class:`PeerStatus` for ``peer`` saying why."""
    st = debprefix.detect(root / ".peers", minor)
    if not st.ok:
        return PeerStatus(peer, False, st.message)
    info, err = _probe([str(st.python)], env)
    if info is None:
        return PeerStatus(peer, False, f"broken (pyperf missing? run `make peers`): {err}")
    return st.python, st.version, info


def detect_cpython314(root: Path) -> PeerStatus:
    """Debian's PGO-built CPython 3.14 with its own JIT (``PYTHON_JIT=1``) and without."""
    found = _deb_probe(root, "3.14", "cpython-3.14", {"PYTHON_JIT": "1"})
    if isinstance(found, PeerStatus):
        return found
    py, v, info = found
    if not info.get("jit_enabled"):
        return PeerStatus("cpython-3.14", False, f"CPython {v}: sys._jit.is_enabled() is False "
                          "with PYTHON_JIT=1 (built without --enable-experimental-jit?)")
    jit = Config("cpython-3.14-jit", f"CPython {v} JIT", [str(py)], {"PYTHON_JIT": "1"},
                 own_baseline="cpython-3.14", family="cpython3.14", warmup_s=JIT_WARMUP_S)
    return PeerStatus("cpython-3.14", True, f"Debian CPython {v} (PGO, PYTHON_JIT=1)",
                      [_cpython314_base(py, v), jit], v)


def _cpython314_base(py: Path, version: str) -> Config:
    # PYTHON_JIT=0 explicitly: the Debian build's JIT is off by default ("yes-off").
    return Config("cpython-3.14", f"CPython {version} (PGO)", [str(py)], {"PYTHON_JIT": "0"},
                  family="cpython3.14")


def detect_cinderx(root: Path) -> PeerStatus:
    """CinderX's JIT in auto mode on Debian's CPython 3.14 (``make peers`` installs the
    ``cinderx`` wheel and ``ember_bench_cinderx.pth``, which calls ``cinderx.jit.auto()``
    when ``EMBER_BENCH_CINDERX=1``)."""
    found = _deb_probe(root, "3.14", "cinderx", {"EMBER_BENCH_CINDERX": "1"})
    if isinstance(found, PeerStatus):
        return found
    py, v, info = found
    if "cinderx" not in info["modules"]:
        return PeerStatus("cinderx", False,
                          "cinderx not loaded with EMBER_BENCH_CINDERX=1 (run `make peers`)")
    jit = Config("cinderx", f"CinderX (CPython {v})", [str(py)],
                 {"EMBER_BENCH_CINDERX": "1", "PYTHON_JIT": "0"}, own_baseline="cpython-3.14",
                 family="cpython3.14", proof="cinderx", warmup_s=JIT_WARMUP_S)
    return PeerStatus("cinderx", True, f"CinderX on Debian CPython {v}",
                      [_cpython314_base(py, v), jit], v)


def detect_ember_pgo(root: Path) -> PeerStatus:
    """Ember built for and running on Debian's PGO-built CPython 3.13 (``make peers`` builds
    and installs it into that prefix) at its defaults (``python -m ember``, like the ``ember``
    mode), beside that interpreter without Ember."""
    st = debprefix.detect(root / ".peers", "3.13")
    if not st.ok:
        return PeerStatus("ember-pgo", False, st.message)
    py, v = st.python, st.version
    info, err = _probe([str(py), "-c", _EMBER_PROBE], {}, code=False)
    if info is None:
        return PeerStatus("ember-pgo", False, f"Ember does not load in CPython {v}: {err} "
                          "(run `make peers`)")
    if info.get("inactive") or not info.get("compiled"):
        return PeerStatus("ember-pgo", False, f"Ember inactive in CPython {v}: "
                          f"{info.get('inactive') or 'a trivial function did not compile'}")
    base = Config("cpython-3.13-pgo", f"CPython {v} (PGO)", [str(py)], {"EMBER_DISABLE": "1"},
                  family="cpython3.13-pgo", ember_log=True)
    jit = Config("ember-pgo", f"Ember defaults (python -m ember) on {v}",
                 [str(py), *EMBER_DEFAULT_ARGS], {}, ember=True, ember_log=True,
                 own_baseline="cpython-3.13-pgo", family="cpython3.13-pgo",
                 calibrate_with="cpython-3.13-pgo", proof="ember", warmup_s=JIT_WARMUP_S,
                 require_bench_compiled=False, cache="fresh")
    return PeerStatus("ember-pgo", True, f"Ember {info['built_for']} build on Debian CPython {v}",
                      [base, jit], v)


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
        elif n == "cpython-3.14":
            out.append(detect_cpython314(root))
        elif n == "cinderx":
            out.append(detect_cinderx(root))
        elif n == "ember-pgo":
            out.append(detect_ember_pgo(root))
        else:
            raise ValueError(f"unknown peer {n!r}; choose from {', '.join(PEERS)}")
    return out
