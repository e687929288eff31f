"""Process driver: runs one unmodified pyperformance script inside a benchmark process.

Usage (by the harness, with any interpreter: CPython 3.13, PyPy 3.9, 3.10)::

    python driver.py [--proof FILE [--jit ember|cinderx]] [--oneshot [--iterations N]] SCRIPT [arguments...]

The script is executed with ``runpy.run_path(..., run_name="__main__")``, so
its functions live in module ``__main__`` exactly as when run directly.

* Without ``--oneshot`` the script's arguments (pyperf ``--worker ...``) are
  passed through: this is the steady-state regime, one pyperf worker process.
* With ``--oneshot``, ``pyperf.Runner`` is replaced by a subclass that calls
  the benchmark function once, or ``--iterations N`` times (``loops=N`` for
  time functions), and records nothing: this is the cold regime, the process
  a user running the script once would see. Its wall time is measured from outside by
  ``pyperf command``.
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
    with open(path, "a") as fh:
        fh.write(json.dumps(info) + "\n")


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
        else:
            sys.exit("driver.py: unknown option %s" % opt)
    if not argv:
        sys.exit("usage: driver.py [--proof FILE [--jit ember|cinderx]] [--oneshot [--iterations N]] SCRIPT [ARGS...]")
    script = os.path.abspath(argv[0])
    if proof:
        atexit.register(_ember_bench_write_proof, proof, jit)
    if oneshot:
        _ember_bench_install_oneshot(iterations)
    sys.argv = [script] + argv[1:]
    sys.path[0] = os.path.dirname(script)
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    _ember_bench_main(sys.argv[1:])
