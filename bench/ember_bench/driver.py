"""Process driver: runs one unmodified pyperformance script inside a benchmark process.

Usage (by the harness, with any interpreter: CPython 3.13, PyPy 3.9, 3.10)::

    python driver.py [--proof FILE [--jit ember|cinderx]] [--oneshot [--iterations N]]
                     [--settle MAX_S] SCRIPT [arguments...]

The script is executed with ``runpy.run_path(..., run_name="__main__")``, so
its functions live in module ``__main__`` exactly as when run directly.

* Without ``--oneshot`` the script's arguments (pyperf ``--worker ...``) are
  passed through: this is the steady-state regime, one pyperf worker process.
* With ``--oneshot``, ``pyperf.Runner`` is replaced by a subclass that calls
  the benchmark function once, or ``--iterations N`` times (``loops=N`` for
  time functions), and records nothing: this is the cold regime, the process
  a user running the script once would see. Its wall time is measured from outside by
  ``pyperf command``.
* ``--settle MAX_S`` (steady state, with ``--proof``'s JIT): before pyperf's own warm-up
  values, the workload runs until the JIT has *settled*: its activity counters (Ember:
  compiled, refused, queued, withdrawn; CinderX: compiled functions) have not changed for
  ``max(2 s, a third of the time spent settling)``, or ``MAX_S`` seconds have passed. A JIT
  that compiles where it pays (Ember's cost policy prices a function by the time it has
  taken so far) reaches its last hot functions after several seconds; a fixed warm-up
  timed it mid-way. How long it took goes into the proof line (``settle``).
* ``--proof FILE`` appends one JSON line at exit: whether the JIT named by
  ``--jit`` (``ember``, the default, or ``cinderx``) was loaded and the
  functions it compiled (``ember.compiled_functions()``,
  ``cinderx.jit.get_compiled_functions()``).

Everything here must stay importable on Python 3.9 and must not define
functions that could be mistaken for benchmark code: the names all start with
``_ember_bench`` / ``_EmberBench`` and the log parser ignores them.
"""

import atexit
import json
import os
import runpy
import sys
import time

#: What ``--settle`` measured: seconds, workload calls, and whether it hit its limit.
_ember_bench_settled = {}


def _ember_bench_compiled(jit):
    """``module:qualname`` of every function ``jit`` ("ember" or "cinderx") compiled in this
    process, or None when that JIT is not loaded."""
    if jit == "cinderx":
        if "cinderx" not in sys.modules:
            return None
        import cinderx.jit
        return ["%s:%s" % (getattr(f, "__module__", "?"), getattr(f, "__qualname__", f))
                for f in cinderx.jit.get_compiled_functions()]
    mod = sys.modules.get("ember")
    return None if mod is None else [str(f) for f in mod.compiled_functions()]


def _ember_bench_write_proof(path, jit):
    """Append a JSON line describing ``jit``'s state in this process to ``path``."""
    info = {"pid": os.getpid(), "executable": sys.executable, "jit": jit,
            "ember_loaded": "ember" in sys.modules, "jit_loaded": False}
    try:
        funcs = _ember_bench_compiled(jit)
        if funcs is not None:
            info["jit_loaded"] = True
            info["compiled_functions"] = funcs
            info["compiled_count"] = len(funcs)
    except Exception as exc:  # report, never hide
        info["error"] = "%s: listing compiled functions failed: %r" % (jit, exc)
    if _ember_bench_settled:
        info["settle"] = dict(_ember_bench_settled)
    with open(path, "a") as fh:
        fh.write(json.dumps(info) + "\n")


def _ember_bench_activity(jit):
    """A tuple of ``jit``'s activity counters ("ember" or "cinderx"); it changes whenever the
    JIT compiles, refuses, queues or withdraws a function. None when the JIT is not loaded."""
    if jit == "cinderx":
        funcs = _ember_bench_compiled(jit)
        return None if funcs is None else (len(funcs),)
    mod = sys.modules.get("ember")
    if mod is None:
        return None
    st = mod.stats()
    # Not osr_arms: the cost policy arms the loops of sampled code again and again while
    # nothing is compiled (richards: 140 arms in 12 s).
    return tuple(st.get(k, 0) for k in ("compiled", "refused", "queued", "bg_queued",
                                         "recompiles", "backend"))


def _ember_bench_settle(jit, limit_s, call):
    """Call ``call()`` until ``jit``'s activity counters have not changed for
    ``max(2 s, a third of the time so far)`` or ``limit_s`` seconds have passed; record the
    outcome in ``_ember_bench_settled``."""
    start = last_change = time.perf_counter()
    seen = _ember_bench_activity(jit)
    calls = 0
    while True:
        call()
        calls += 1
        now = time.perf_counter()
        cur = _ember_bench_activity(jit)
        if cur != seen:
            seen, last_change = cur, now
        if now - last_change >= max(2.0, (now - start) / 3.0):
            hit_limit = False
            break
        if now - start >= limit_s:
            hit_limit = True
            break
    _ember_bench_settled.update(seconds=round(now - start, 3), calls=calls,
                                last_change_s=round(last_change - start, 3), limit=hit_limit)


def _ember_bench_install_settle(jit, limit_s):
    """Replace ``pyperf.Runner`` by a runner whose bench methods first let ``jit`` settle
    (:func:`_ember_bench_settle`), then run pyperf's worker as usual."""
    import pyperf

    class _EmberBenchSettlingRunner(pyperf.Runner):
        """pyperf.Runner that runs the workload until the JIT settles before its values."""

        def bench_func(self, name, func, *args, **kwargs):
            _ember_bench_settle(jit, limit_s, lambda: func(*args))
            return super().bench_func(name, func, *args, **kwargs)

        def bench_time_func(self, name, time_func, *args, **kwargs):
            _ember_bench_settle(jit, limit_s, lambda: time_func(1, *args))
            return super().bench_time_func(name, time_func, *args, **kwargs)

        def bench_async_func(self, name, func, *args, **kwargs):
            import asyncio
            _ember_bench_settle(jit, limit_s, lambda: asyncio.run(func(*args)))
            return super().bench_async_func(name, func, *args, **kwargs)

    pyperf.Runner = _EmberBenchSettlingRunner


def _ember_bench_install_oneshot(iterations):
    """Replace ``pyperf.Runner`` by a runner that calls the workload ``iterations`` times."""
    import pyperf

    class _EmberBenchOneShotRunner(pyperf.Runner):
        """pyperf.Runner whose bench methods run the workload ``iterations`` times, as pyperf
        runs ``loops`` of it in one value."""

        def bench_func(self, name, func, *args, **kwargs):
            self.parse_args()
            for _ in range(iterations):
                func(*args)

        def bench_time_func(self, name, time_func, *args, **kwargs):
            self.parse_args()
            time_func(iterations, *args)

        def bench_async_func(self, name, func, *args, **kwargs):
            import asyncio
            self.parse_args()

            async def loops():
                for _ in range(iterations):
                    await func(*args)

            asyncio.run(loops())

        def bench_command(self, name, command):
            raise NotImplementedError("cold mode does not support bench_command")

        def timeit(self, *args, **kwargs):
            raise NotImplementedError("cold mode does not support timeit")

    pyperf.Runner = _EmberBenchOneShotRunner


def _ember_bench_main(argv):
    """Parse the driver's own options, then run the script; returns nothing."""
    proof = None
    jit = "ember"
    oneshot = False
    iterations = 1
    settle = None
    while argv and argv[0].startswith("--"):
        opt = argv.pop(0)
        if opt == "--proof":
            proof = argv.pop(0)
        elif opt == "--jit":
            jit = argv.pop(0)
        elif opt == "--oneshot":
            oneshot = True
        elif opt == "--iterations":
            iterations = int(argv.pop(0))
        elif opt == "--settle":
            settle = float(argv.pop(0))
        else:
            sys.exit("driver.py: unknown option %s" % opt)
    if not argv:
        sys.exit("usage: driver.py [--proof FILE [--jit ember|cinderx]] [--oneshot [--iterations N]] "
                 "[--settle MAX_S] SCRIPT [ARGS...]")
    script = os.path.abspath(argv[0])
    if proof:
        atexit.register(_ember_bench_write_proof, proof, jit)
    if oneshot:
        _ember_bench_install_oneshot(iterations)
    elif settle:
        _ember_bench_install_settle(jit, settle)
    sys.argv = [script] + argv[1:]
    sys.path[0] = os.path.dirname(script)
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    _ember_bench_main(sys.argv[1:])
