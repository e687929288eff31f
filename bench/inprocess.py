"""An in-process loop over one pyperformance benchmark's workload, for profiling.

Usage: ``python [-m ember] bench/inprocess.py BENCH [--warmups N] [--warmup-seconds S] [--runs N]
[--perf-ctl CTL,ACK]``,
for example
``EMBER_AUTO=2 EMBER_BACKGROUND=0 EMBER_PERF_MAP=1 perf record -e cpu-clock -F 2000 \\
.venv/bin/python -m ember bench/inprocess.py deltablue --runs 8``.

It imports the benchmark's own ``run_benchmark.py`` (from the installed pyperformance
package, unmodified) as a module, calls its workload function ``--warmups`` times (and on until
``--warmup-seconds`` have passed), then
``--runs`` times timed with ``time.perf_counter``, and prints the median and minimum per call
and, under Ember, the compile and deopt counts. It is a diagnostic for perf profiles and for
quick looks at one benchmark: a single process gives no interval, so speed claims come from
``bench/run.py`` (interleaved processes, bootstrap intervals), never from this script.

``--perf-ctl CTL,ACK`` names the two FIFOs of ``perf record -D -1 --control fifo:CTL,ACK``: the
script sends ``enable`` before the timed calls and ``disable`` after them (waiting for perf's
``ack`` each time), so that the profile holds the timed calls only, not start-up, warm-up or
compilation (``bench/shares.py`` runs it so).
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


class PerfControl:
    """The two FIFOs of ``perf record --control fifo:CTL,ACK`` (``fifos`` = ``"CTL,ACK"``), open for
    the whole run (perf reads its control FIFO until it is closed); no-op when ``fifos`` is None."""

    def __init__(self, fifos: str | None):
        self.ctl = self.ack = None
        if fifos:
            ctl, ack = fifos.split(",")
            self.ctl = open(ctl, "w", buffering=1)
            self.ack = open(ack)

    def send(self, command: str) -> None:
        """Sends ``command`` (``enable`` or ``disable``) and waits for perf's ``ack``."""
        if self.ctl is not None:
            self.ctl.write(command + "\n")
            self.ack.readline()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", choices=sorted(WORKLOADS))
    ap.add_argument("--warmups", type=int, default=3, help="untimed calls first (default 3)")
    ap.add_argument("--warmup-seconds", type=float, default=0.0,
                    help="go on warming up until this much time (s) has passed (default 0): at its defaults "
                         "Ember compiles a function once its sampled time covers the compile cost")
    ap.add_argument("--runs", type=int, default=10, help="timed calls (default 10)")
    ap.add_argument("--perf-ctl", metavar="CTL,ACK", help="perf record's control and ack FIFOs: profile the timed calls only")
    args = ap.parse_args()
    module = load(args.bench)
    work = WORKLOADS[args.bench]
    start = time.perf_counter()
    warmups = 0
    while warmups < args.warmups or time.perf_counter() - start < args.warmup_seconds:
        work(module)
        warmups += 1
    times = []
    perf = PerfControl(args.perf_ctl)
    perf.send("enable")
    for _ in range(args.runs):
        t = time.perf_counter()
        work(module)
        times.append(time.perf_counter() - t)
    perf.send("disable")
    print(f"{args.bench}: median {statistics.median(times) * 1e3:.1f} ms, min {min(times) * 1e3:.1f} ms "
          f"({args.runs} runs after {warmups} warm-up)")
    if "ember" in sys.modules:
        stats = sys.modules["ember"].stats()
        print({k: stats[k] for k in ("compiled", "deopts", "recompiles") if k in stats})
    return 0


if __name__ == "__main__":
    sys.exit(main())
