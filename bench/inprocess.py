"""An in-process loop over one pyperformance benchmark's workload, for profiling.

Usage: ``python [-m ember] bench/inprocess.py BENCH [--warmups N] [--runs N]``, for example
``EMBER_AUTO=2 EMBER_BACKGROUND=0 EMBER_PERF_MAP=1 perf record -e cpu-clock -F 2000 \\
.venv/bin/python -m ember bench/inprocess.py deltablue --runs 8``.

It imports the benchmark's own ``run_benchmark.py`` (from the installed pyperformance
package, unmodified) as a module, calls its workload function ``--warmups`` times, then
``--runs`` times timed with ``time.perf_counter``, and prints the median and minimum per call
and, under Ember, the compile and deopt counts. It is a diagnostic for perf profiles and for
quick looks at one benchmark: a single process gives no interval, so speed claims come from
``bench/run.py`` (interleaved processes, bootstrap intervals), never from this script.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time

import pyperformance

#: The workload of each benchmark: what its ``run_benchmark.py`` times per loop iteration,
#: at the script's default size.
WORKLOADS = {
    # The script runs delta_blue(100). At 10000 (the size here before) a tenth of the time was
    # list.pop(0)'s memmove on long lists, which the benchmark never sees.
    "deltablue": lambda m: m.delta_blue(100),
    "raytrace": lambda m: m.bench_raytrace(1, m.DEFAULT_WIDTH, m.DEFAULT_HEIGHT, None),
    "nqueens": lambda m: m.bench_n_queens(8),
    "richards": lambda m: m.Richards().run(1),
    "nbody": lambda m: m.bench_nbody(1, "sun", 20000),
    "float": lambda m: m.benchmark(m.POINTS),
    "hexiom": lambda m: m.main(1, 25),
    "go": lambda m: m.versus_cpu(),
    "spectral_norm": lambda m: m.bench_spectral_norm(1),
    "fannkuch": lambda m: m.fannkuch(9),
}


def load(name: str):
    """Imports bm_NAME/run_benchmark.py as module ``bm_NAME`` (its ``__main__`` block does not
    run)."""
    root = os.path.join(os.path.dirname(pyperformance.__file__), "data-files", "benchmarks")
    spec = importlib.util.spec_from_file_location(f"bm_{name}", os.path.join(root, f"bm_{name}", "run_benchmark.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", choices=sorted(WORKLOADS))
    ap.add_argument("--warmups", type=int, default=3, help="untimed calls first (default 3)")
    ap.add_argument("--runs", type=int, default=10, help="timed calls (default 10)")
    args = ap.parse_args()
    module = load(args.bench)
    work = WORKLOADS[args.bench]
    for _ in range(args.warmups):
        work(module)
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        work(module)
        times.append(time.perf_counter() - t)
    print(f"{args.bench}: median {statistics.median(times) * 1e3:.1f} ms, min {min(times) * 1e3:.1f} ms "
          f"({args.runs} runs after {args.warmups} warm-up)")
    if "ember" in sys.modules:
        stats = sys.modules["ember"].stats()
        print({k: stats[k] for k in ("compiled", "deopts", "recompiles") if k in stats})
    return 0


if __name__ == "__main__":
    sys.exit(main())
