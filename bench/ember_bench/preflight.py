"""Pre-flight checks run before any timing, so broken set-ups fail fast and loudly.

* :func:`check_ember` proves, for the Ember modes, that the venv's interpreter
  loads Ember from the environment and that it compiles a trivial function.
  Any failure raises :class:`EmberUnavailable` with the reason -- an Ember mode
  never silently degrades to an interpreter-only result.
* :func:`check_nojit` reports whether the ``nojit`` configuration imports the
  ``ember`` module at all (it should not compile anything).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from .configs import base_environ
from .emberlog import parse_log

_SNIPPET = r"""
import json, sys
def ember_bench_preflight_probe(x):
    return x * 2 + 1
for i in range(200):
    ember_bench_preflight_probe(i)
mod = sys.modules.get("ember")
info = {"ember_loaded": mod is not None}
if mod is not None:
    info["has_api"] = hasattr(mod, "compiled_functions")
    if hasattr(mod, "wait_for_compiles"):   # background compilation: let the queue drain
        mod.wait_for_compiles(120)
    if info["has_api"]:
        info["compiled"] = [str(f) for f in mod.compiled_functions()]
print(json.dumps(info))
"""


class EmberUnavailable(RuntimeError):
    """Ember cannot be used for the requested modes; the message says why."""


def _run(python: str, env_extra: dict, log: Path, timeout: float) -> tuple[dict, str]:
    env = base_environ()
    env.update(env_extra)
    env["EMBER_LOG"] = str(log)
    try:
        out = subprocess.run([python, "-c", _SNIPPET], capture_output=True, text=True,
                             env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EmberUnavailable(f"{python} with {env_extra} did not finish in {timeout:.0f} s")
    except OSError as exc:
        raise EmberUnavailable(f"cannot run {python}: {exc}") from exc
    if out.returncode != 0:
        raise EmberUnavailable(
            f"{python} with {env_extra} exited with {out.returncode}:\n"
            + "\n".join((out.stderr or out.stdout).strip().splitlines()[-15:]))
    try:
        return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr
    except (ValueError, IndexError):
        raise EmberUnavailable(f"unexpected output from {python}: {out.stdout[-300:]!r}")


def check_ember(python: str, timeout: float = 300.0) -> dict:
    """Prove Ember works in ``python`` (compile-everything mode, ``EMBER_AUTO=0``).

    Returns a dict with the probe's findings (``compiled`` names, log stats).
    Raises EmberUnavailable when Ember is not importable, not activated by the
    environment, lacks ``compiled_functions()``, or compiled nothing.
    """
    with tempfile.TemporaryDirectory(prefix="ember-bench-preflight-") as tmp:
        log = Path(tmp) / "ember.log"
        info, stderr = _run(python, {"EMBER_AUTO": "0"}, log, timeout)
        stats = parse_log(log)
    if not info.get("ember_loaded"):
        raise EmberUnavailable(
            f"Ember is not loaded in {python} with EMBER_AUTO=0: the `ember` module "
            "was never imported (is the ember package with its ember.pth hook installed "
            "in this venv? run `make setup`)")
    if not info.get("has_api"):
        raise EmberUnavailable("the imported `ember` module has no compiled_functions()")
    compiled = info.get("compiled", [])
    if not compiled and stats.compiled == 0:
        raise EmberUnavailable(
            "Ember is loaded but compiled nothing with EMBER_AUTO=0 "
            f"(log {'empty' if stats.exists else 'not written'}; "
            f"rejections: {stats.reasons or 'none'}; stderr: {stderr.strip()[-300:]!r})")
    return {"compiled": compiled, "log": stats.as_dict()}


def check_nojit(python: str, timeout: float = 120.0) -> dict:
    """Run the probe with ``EMBER_DISABLE=1``; report whether Ember loaded/compiled.

    Returns ``{"ember_loaded": bool, "compiled": [...], "log_compiled": int}``.
    Raises EmberUnavailable only when the interpreter itself fails; the caller
    decides whether a loaded-but-disabled Ember is acceptable (it is, as long as
    nothing is compiled).
    """
    with tempfile.TemporaryDirectory(prefix="ember-bench-preflight-") as tmp:
        log = Path(tmp) / "ember.log"
        info, _ = _run(python, {"EMBER_DISABLE": "1"}, log, timeout)
        stats = parse_log(log)
    return {"ember_loaded": bool(info.get("ember_loaded")),
            "compiled": info.get("compiled", []),
            "log_compiled": stats.compiled}
