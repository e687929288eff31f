"""``make peers``: set up the native-JIT peers that live in Debian ``sid`` prefixes.

Steps, each idempotent and each reported in one line:

1. :mod:`ember_bench.debprefix` fetches Debian's PGO-built CPython 3.14 and 3.13 into
   ``.peers/cpython-3.14`` and ``.peers/cpython-3.13``;
2. pip, bootstrapped from a pip wheel the project venv downloads, installs into each prefix
   the bench's dependencies (the project venv's ``pyperf`` version), into 3.14 the ``cinderx``
   wheel and ``bench/peers/ember_bench_cinderx.pth``, into 3.13 the packages that build and
   test Ember (setuptools-rust, pytest, hypothesis);
3. Ember is built for and installed into the 3.13 prefix (``pip install .`` run by that
   interpreter, so the shim and the helper bitcode see 3.13.x's own headers; Cargo's target
   directory is ``target-pgo`` and setuptools' is ``build-pgo``, so the two builds never
   share objects).

A step that cannot be done (no network, a package gone from ``sid``) prints a warning
naming it and the peers that depend on it; the bench then reports them as not run. The exit
status is 0 when every peer is usable, 1 otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import debprefix

ROOT = Path(__file__).resolve().parents[2]
CINDERX_PTH = ROOT / "bench" / "peers" / "ember_bench_cinderx.pth"
#: Packages each prefix gets besides pyperf (import name -> requirement).
EXTRA = {"3.14": {"cinderx": "cinderx"},
         "3.13": {"setuptools": "setuptools", "setuptools_rust": "setuptools-rust",
                  "wheel": "wheel", "pytest": "pytest", "hypothesis": "hypothesis",
                  "coverage": "coverage", "pyperformance": "pyperformance==1.14.0"}}


def _pyperf_requirement() -> str:
    try:
        import pyperf
        return f"pyperf=={pyperf.__version__}"
    except ImportError:
        return "pyperf"


def pip_wheel(peers_root: Path) -> Path:
    """A pip wheel in ``<peers_root>/wheels`` (downloaded by this venv's pip when missing)."""
    d = Path(peers_root) / "wheels"
    found = sorted(d.glob("pip-*.whl"))
    if found:
        return found[-1]
    d.mkdir(parents=True, exist_ok=True)
    out = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                          "-d", str(d), "pip"], capture_output=True, text=True)
    found = sorted(d.glob("pip-*.whl"))
    if out.returncode != 0 or not found:
        raise debprefix.PrefixError(f"cannot download a pip wheel: {out.stderr.strip()[-300:]}")
    return found[-1]


def install_packages(peers_root: Path, status: debprefix.PrefixStatus, log=print) -> None:
    """Install pip, pyperf and the minor's extra packages into its prefix when missing."""
    prefix = debprefix.prefix_dir(peers_root, status.minor)
    wanted = {"pip": "pip", "pyperf": _pyperf_requirement(), **EXTRA[status.minor]}
    if debprefix.has_modules(status.python, list(wanted)):
        log(f"peers: python{status.minor} has {', '.join(wanted)} (already installed)")
    else:
        log(f"peers: installing {', '.join(wanted.values())} for python{status.minor}")
        debprefix.pip_install(status.python, prefix, list(wanted.values()),
                              pip_wheel(peers_root), ["--root-user-action=ignore"])
    if status.minor == "3.14":
        shutil.copy(CINDERX_PTH, debprefix.site_dir(prefix) / CINDERX_PTH.name)


def build_ember(peers_root: Path, status: debprefix.PrefixStatus, log=print) -> None:
    """Build Ember for the 3.13 prefix's interpreter and install it there."""
    prefix = debprefix.prefix_dir(peers_root, status.minor)
    log(f"peers: building Ember for CPython {status.version} (target-pgo/)")
    env = dict(os.environ)
    env.pop("EMBER_PYTHON_INCLUDE", None)  # setup.py takes the building interpreter's
    env["CARGO_TARGET_DIR"] = str(ROOT / "target-pgo")
    env["EMBER_BUILD_BASE"] = str(ROOT / "build-pgo")  # never the venv build's objects
    debprefix.pip_install(status.python, prefix, [str(ROOT)],
                          extra=["--root-user-action=ignore", "--no-build-isolation"], env=env)


#: What each prefix serves, for the warning when it cannot be set up.
SERVES = {"3.14": "cpython-3.14, cpython-3.14-jit, cinderx",
          "3.13": "cpython-3.13-pgo, ember-pgo, make test-pgo"}


def main(minors: list | None = None) -> int:
    """Set up the prefixes of ``minors`` (default both); returns 0 when all are usable,
    else 1 (with a warning per failed prefix)."""
    peers_root = ROOT / ".peers"
    ok = True
    for minor in minors or debprefix.MINORS:
        needs = SERVES[minor]
        try:
            st = debprefix.setup(peers_root, minor)
            install_packages(peers_root, st)
            if minor == "3.13":
                build_ember(peers_root, st)
        except debprefix.PrefixError as exc:
            print(f"peers: WARNING: {exc}; not run: {needs}", file=sys.stderr)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
