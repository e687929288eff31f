"""Process configurations: what interpreter, flags and environment each mode uses.

Every mode is a separate process configuration. Child processes never inherit
the caller's environment wholesale: :func:`base_environ` keeps a short
whitelist (like ``pyperf``'s own worker environment) and each configuration
adds exactly the variables it needs, so an ``EMBER_*`` variable can only reach
a child on purpose.

CPython 3.13 modes (all use the project venv's interpreter):

* ``nojit``      -- ``EMBER_DISABLE=1``: the plain interpreter.
* ``ember``      -- ``python -m ember``: Ember at its defaults, as a user runs it the first
  time: every process starts with an empty code cache of its own.
* ``ember-nospec`` -- ``python -m ember`` with ``EMBER_SPECULATE=0``: no type guards, no
  unboxing (the first tier as it was before typed HIR), for A/B runs.
* ``ember-ab``   -- ``python -m ember`` with another build of the ``ember`` package first on
  ``PYTHONPATH`` (the directory ``$EMBER_BENCH_AB_PATH`` names, holding an ``ember/`` copied
  from an install): the B side of an interleaved A/B run of two builds against ``ember``.
* ``ember-warm`` -- the same, on a second run: every process starts with the code cache one
  untimed run of the same benchmark left (``EMBER_CACHE_DIR`` shared per benchmark).
* ``ember-ab-warm`` -- ``ember-ab`` on a second run (its own warm cache, as ``ember-warm``).
* ``ember-auto`` -- ``EMBER_AUTO=N``: compile a function after N calls.
* ``ember-list`` -- ``EMBER_JIT_LIST=<generated list>``: only the benchmark's functions.
* ``ember-all``  -- ``EMBER_AUTO=0``: compile every function at its first call.

Peers are added by :mod:`ember_bench.peers`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

EMBER_MODES = ("ember", "ember-nospec", "ember-ab", "ember-warm", "ember-ab-warm", "ember-auto", "ember-list", "ember-all")
#: How ``ember`` (and ``ember-pgo``) start a benchmark: as a user runs Ember, ``python -m
#: ember script``, at its default threshold.
EMBER_DEFAULT_ARGS = ("-m", "ember")
#: Minimum steady-state warm-up of every JIT configuration (Ember, CinderX, CPython's JIT,
#: PyPy, pyston-lite), in seconds of calibrated values: CinderX compiles after 1000 calls in a
#: background thread and reaches its speed only after ~1.5 s of richards, so a fixed count of
#: short warm-up values would time it mid-warm-up.
JIT_WARMUP_S = 2.0
CPYTHON_MODES = ("nojit",) + EMBER_MODES
BASELINE = "nojit"

_ENV_WHITELIST = ("PATH", "HOME", "TMPDIR", "TEMP", "LANG", "LC_ALL", "LC_CTYPE",
                  "PYTHON_CPU_COUNT")


@dataclass
class Config:
    """One process configuration.

    ``argv`` is the interpreter plus its own flags (the driver and the script
    follow). ``env`` holds the extra environment variables; per-process
    values such as ``EMBER_LOG`` are filled in by the runner. ``ember`` marks
    configurations that must prove JIT activity. ``own_baseline`` names the
    configuration with the same interpreter and no JIT (None for CPython 3.13
    modes, whose baseline is ``nojit``). ``family`` groups a peer and its
    baseline; ``label`` is the human name used in tables and plots.
    """

    name: str
    label: str
    argv: list
    env: dict = field(default_factory=dict)
    ember: bool = False
    own_baseline: str | None = None
    family: str = "cpython3.13"
    jit_list_per_bench: bool = False
    note: str = ""
    # The interpreter has Ember installed: every process gets its own EMBER_LOG (nojit too,
    # so a compiled function there would show).
    ember_log: bool = False
    # Name of the configuration whose calibrated loop count this one reuses (same
    # interpreter, so every value times the same work), or None to calibrate itself.
    calibrate_with: str | None = None
    # Which JIT's compiled functions the driver reports at exit: "ember", "cinderx" or "".
    proof: str = ""
    # Minimum warm-up of each steady-state process, in seconds of the calibration run's value
    # time (so in units of work: a JIT that compiles after N calls, in the background, gets
    # that much work before its timed values). 0: just --warmups values.
    warmup_s: float = 0.0
    # A process is valid JIT evidence only if it compiled a function of the benchmark module
    # (False for Ember at its defaults: any compiled function proves it active).
    require_bench_compiled: bool = True
    # Ember's persistent code cache (EMBER_CACHE_DIR): "fresh" (an empty directory per
    # process: a first run), "warm" (one directory per benchmark, filled by one untimed run
    # first: a second run) or "" (not set: the configuration does not run Ember).
    cache: str = ""


def base_environ() -> dict:
    """Return the minimal environment every benchmark child starts from."""
    env = {k: os.environ[k] for k in _ENV_WHITELIST if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["PYTHONHASHSEED"] = "0"  # identical dict/set layout in every process
    return env


def cpython_config(mode: str, python: str, auto_threshold: int) -> Config:
    """Build the :class:`Config` for one CPython 3.13 mode.

    ``python`` is the project venv's interpreter, ``auto_threshold`` the call
    count for ``ember-auto``. Raises ValueError for an unknown mode.
    """
    shared = {"ember": True, "ember_log": True, "calibrate_with": BASELINE, "proof": "ember",
              "warmup_s": JIT_WARMUP_S, "cache": "fresh"}
    if mode == "nojit":
        return Config("nojit", "CPython 3.13 (no JIT)", [python],
                      {"EMBER_DISABLE": "1"}, ember_log=True)
    if mode == "ember":
        return Config("ember", "Ember defaults (python -m ember)",
                      [python, *EMBER_DEFAULT_ARGS], {}, require_bench_compiled=False, **shared)
    if mode == "ember-nospec":
        return Config("ember-nospec", "Ember defaults, no type speculation",
                      [python, *EMBER_DEFAULT_ARGS], {"EMBER_SPECULATE": "0"}, require_bench_compiled=False,
                      **shared)
    if mode in ("ember-ab", "ember-ab-warm"):
        path = os.environ.get("EMBER_BENCH_AB_PATH", "")
        if not os.path.isdir(os.path.join(path, "ember")):
            raise ValueError(f"{mode} needs EMBER_BENCH_AB_PATH: a directory holding another build's "
                             "ember/ package")
        warm = mode == "ember-ab-warm"
        return Config(mode, f"Ember defaults, build in {path}" + (", warm code cache" if warm else ""),
                      [python, *EMBER_DEFAULT_ARGS], {"PYTHONPATH": path}, require_bench_compiled=False,
                      **{**shared, "cache": "warm" if warm else "fresh"})
    if mode == "ember-warm":
        return Config("ember-warm", "Ember defaults, warm code cache",
                      [python, *EMBER_DEFAULT_ARGS], {}, require_bench_compiled=False,
                      **{**shared, "cache": "warm"})
    if mode == "ember-auto":
        return Config("ember-auto", f"Ember auto (N={auto_threshold})", [python],
                      {"EMBER_AUTO": str(auto_threshold)}, **shared)
    if mode == "ember-list":
        return Config("ember-list", "Ember jit-list", [python], {},
                      jit_list_per_bench=True, **shared)
    if mode == "ember-all":
        return Config("ember-all", "Ember all (first call)", [python],
                      {"EMBER_AUTO": "0"}, **shared)
    raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(CPYTHON_MODES)}")
