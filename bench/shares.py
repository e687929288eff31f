"""Where a benchmark's time goes, under the interpreter and under Ember, and what that bounds.

Usage: ``.venv/bin/python bench/shares.py [-b float,nbody] [--reps 3] [--runs 20] [--warmups 30]``

For each benchmark and repetition it runs ``bench/inprocess.py BENCH`` twice, interleaved:
under the interpreter (``EMBER_DISABLE=1``) and under Ember at its defaults (``python -m
ember``, with ``EMBER_PERF=jitdump`` so that compiled functions have names): ``bench/run.py``'s
``nojit`` and ``ember`` configurations, from its whitelisted environment. Each runs inside
``perf record -e cpu-clock``, enabled only around the timed calls (``inprocess.py
--perf-ctl``, after at least ``WARMUP_SECONDS`` of warm-up), so start-up, warm-up and compilation
are not in the profile. Samples of
Ember's compile thread (``ember-compile``) are left out: the timed thread never waits for it.

Every sample of the timed thread goes to one category ([CATEGORIES], by symbol and object),
given in milliseconds per workload call (samples / frequency / runs): the median over the
repetitions, and the smallest and largest. Two bounds follow, for each repetition, then their
median:

* ``ceiling(compiled)``: the interpreter's time over Ember's time without its compiled code
  (the ``ember:`` functions): the speedup Ember would have if its compiled code took no time
  at all, the rest (allocation, garbage collection, the runtime's helpers and C functions)
  unchanged;
* ``ceiling(compiled+helpers)``: the same, without Ember's runtime helpers too (the shim's
  call and attribute paths), as if every call were inlined.

A performance target above ``ceiling(compiled)`` cannot be met by better code generation; it
needs less work in the runtime (fewer allocations, fewer objects for the collector to scan).

This is a diagnostic (one process per configuration and repetition, perf's sampling error);
speedups are claimed from ``bench/run.py`` only. Needs ``perf`` (Debian ``linux-perf``) and
permission to profile (``kernel.perf_event_paranoid`` at most 2 for a process's own samples).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from ember_bench.configs import base_environ, cpython_config

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
INPROCESS = HERE / "inprocess.py"

#: Sampling frequency of ``perf record`` (Hz).
FREQ = 2000

#: The categories, in report order: name and meaning. ``category`` decides.
CATEGORIES = {
    "compiled": "Ember's compiled code (ember:module:Qual.name)",
    "interpreter": "_PyEval_EvalFrameDefault",
    "ember helpers": "Ember's runtime helpers outside compiled code (the _shim and libember objects)",
    "gc": "the cyclic garbage collector (gc_collect_main, tp_traverse, visit_*)",
    "memory": "allocation, deallocation and reference bookkeeping (obmalloc, *_dealloc, GC links)",
    "libm": "the C maths library (sin, cos, sqrt, ...)",
    "kernel": "the kernel (page faults of new arenas, munmap of freed ones)",
    "other C": "everything else: CPython's C functions (list, dict, int, call paths) and libc",
}

_GC = {"gc_collect_main", "visit_decref", "visit_reachable", "move_unreachable", "update_refs", "subtract_refs",
       "deduce_unreachable", "gc_collect_region", "_PyGC_Collect", "gc_list_merge", "move_legacy_finalizers",
       "handle_weakrefs", "_PyObject_GC_Link"}
_MEMORY_PREFIX = ("_PyObject_Malloc", "_PyObject_Free", "PyObject_Malloc", "PyObject_Free", "PyObject_Realloc",
                  "_PyObject_Realloc", "PyObject_GC_Del", "PyObject_GC_UnTrack", "PyObject_GC_Track",
                  "_PyObject_GC_New", "_PyObject_GC_NewVar", "PyType_GenericAlloc", "_PyType_AllocNoTrack",
                  "_Py_Dealloc", "_Py_NewReference", "allocate_from_new_pool", "new_arena", "_PyMem_",
                  "PyMem_", "__tls_get_addr", "malloc", "free", "_int_malloc", "_int_free", "cfree",
                  "PyFloat_FromDouble", "_PyFloat_ExactDealloc", "_Py_DecRef", "Py_DecRef", "_Py_IncRef")


def category(dso: str, sym: str) -> str:
    """The category ([CATEGORIES]) of a sample in object ``dso`` at symbol ``sym`` (as
    ``perf report --sort dso,sym`` prints them)."""
    if sym.startswith("ember:") or dso.startswith("jitted-"):
        return "compiled"
    if sym == "_PyEval_EvalFrameDefault":
        return "interpreter"
    if dso.startswith("[kernel") or dso == "[unknown]" and sym.startswith("0xffff"):
        return "kernel"
    if dso.startswith("_shim.") or dso.startswith("libember.") or sym.startswith("ember_"):
        return "ember helpers"
    if sym in _GC or sym.endswith("_traverse"):
        return "gc"
    if sym.endswith("_dealloc") or sym.startswith(_MEMORY_PREFIX):
        return "memory"
    if dso.startswith("libm."):
        return "libm"
    return "other C"


def parse_report(text: str) -> dict[str, int]:
    """Samples per category from ``perf report --stdio -n -t '|' --sort comm,dso,sym``, without
    the compile thread's."""
    out = dict.fromkeys(CATEGORIES, 0)
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 5:
            continue
        _, samples, comm, dso, sym = parts[:5]
        if comm == "ember-compile":
            continue
        sym = sym.split("] ", 1)[-1]
        out[category(dso, sym)] += int(samples)
    return out


#: Least warm-up time (s) per process: at its defaults Ember compiles a function once its sampled
#: interpreted time covers its compile cost, which a few calls of a short workload (deltablue's
#: 4 ms) do not reach.
WARMUP_SECONDS = 3.0


def profile(bench: str, ember: bool, runs: int, warmups: int, work: Path) -> dict[str, int]:
    """Runs ``inprocess.py bench`` under ``perf record`` (Ember or the interpreter) and returns
    its samples per category. Raises ``RuntimeError`` with perf's message when a step fails."""
    ctl, ack, data = work / "ctl", work / "ack", work / "perf.data"
    for fifo in (ctl, ack):
        if fifo.exists():
            fifo.unlink()
        os.mkfifo(fifo)
    # The harness's own configurations of the two modes (their argv and EMBER_* variables) and
    # its whitelisted environment.
    config = cpython_config("ember" if ember else "nojit", str(ROOT / ".venv" / "bin" / "python"), 0)
    env = {**base_environ(), **config.env}
    if ember:
        env["EMBER_PERF"] = "jitdump"
    cmd = config.argv + [str(INPROCESS), bench, "--runs", str(runs), "--warmups", str(warmups),
                         "--warmup-seconds", str(WARMUP_SECONDS), "--perf-ctl", f"{ctl},{ack}"]
    rec = ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(FREQ), "-k", "1", "-D", "-1",
           "--control", f"fifo:{ctl},{ack}", "-o", str(data), "--"] + cmd
    run = subprocess.run(rec, env=env, cwd=work, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"perf record failed: {run.stderr.strip()[-500:]}")
    print("   ", ("ember " if ember else "nojit ") + run.stdout.strip().splitlines()[0], file=sys.stderr)
    if ember:
        injected = work / "perf.jit.data"
        inj = subprocess.run(["perf", "inject", "--jit", "-i", str(data), "-o", str(injected)],
                             capture_output=True, text=True, cwd=work)
        if inj.returncode != 0:
            raise RuntimeError(f"perf inject failed: {inj.stderr.strip()[-500:]}")
        data = injected
    rep = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "-n", "-t", "|", "--no-children",
                          "--sort", "comm,dso,sym"], capture_output=True, text=True, cwd=work)
    if rep.returncode != 0:
        raise RuntimeError(f"perf report failed: {rep.stderr.strip()[-500:]}")
    return parse_report(rep.stdout)


def ms_per_call(samples: int, runs: int) -> float:
    """Milliseconds per workload call that ``samples`` cpu-clock samples at [FREQ] Hz over
    ``runs`` calls stand for."""
    return samples / FREQ / runs * 1e3


def report(bench: str, reps: list[tuple[dict[str, int], dict[str, int]]], runs: int) -> str:
    """The markdown table of one benchmark: per category, the interpreter's and Ember's ms per
    call (median [min, max] over repetitions), then the two ceilings."""

    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} [{min(values):.2f}, {max(values):.2f}]"

    lines = [f"### {bench}", "", "| category | interpreter, ms/call | Ember, ms/call | Ember share |",
             "|---|---|---|---|"]
    for cat in list(CATEGORIES) + ["total"]:
        nj = [ms_per_call(sum(n.values()) if cat == "total" else n[cat], runs) for n, _ in reps]
        em = [ms_per_call(sum(e.values()) if cat == "total" else e[cat], runs) for _, e in reps]
        share = statistics.median([(sum(e.values()) if cat == "total" else e[cat]) / max(1, sum(e.values()))
                                   for _, e in reps])
        lines.append(f"| {cat} | {cell(nj)} | {cell(em)} | {share:.1%} |")
    speed = [sum(n.values()) / max(1, sum(e.values())) for n, e in reps]
    c1 = [sum(n.values()) / max(1, sum(e.values()) - e["compiled"]) for n, e in reps]
    c2 = [sum(n.values()) / max(1, sum(e.values()) - e["compiled"] - e["ember helpers"]) for n, e in reps]
    lines += ["", f"- profiled speedup: {cell(speed)}x",
              f"- ceiling(compiled): {cell(c1)}x", f"- ceiling(compiled+helpers): {cell(c2)}x", ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-b", "--benchmarks", default="float", help="comma-separated (inprocess.py's names)")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions per configuration (default 3)")
    ap.add_argument("--runs", type=int, default=20, help="timed workload calls per process (default 20)")
    ap.add_argument("--warmups", type=int, default=30, help="untimed calls first (default 30: compilation done)")
    args = ap.parse_args()
    if shutil.which("perf") is None:
        print("bench/shares.py: perf is not installed (apt-get install linux-perf)", file=sys.stderr)
        return 2
    out = []
    with tempfile.TemporaryDirectory(prefix="ember-shares-") as tmp:
        work = Path(tmp)
        for bench in args.benchmarks.split(","):
            reps = []
            for k in range(args.reps):
                print(f"{bench}: repetition {k + 1}/{args.reps}", file=sys.stderr)
                try:
                    nojit = profile(bench, False, args.runs, args.warmups, work)
                    ember = profile(bench, True, args.runs, args.warmups, work)
                except RuntimeError as e:
                    print(f"bench/shares.py: {bench}: {e}", file=sys.stderr)
                    return 1
                reps.append((nojit, ember))
            out.append(report(bench, reps, args.runs))
            print(out[-1], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
