"""Start-up cost of switching Ember on: wall time and peak RSS of a process that does nothing.

Usage: ``.venv/bin/python bench/startup.py [-n ROUNDS] [--python PY] [--json FILE]``

Configurations (each a whole process, timed by ``pyperf command``, which also records the
child's peak RSS as ``command_max_rss``), run interleaved round by round (A B C D, A B C D,
...) so machine drift reaches all alike:

* ``plain -c pass``: ``python -c pass`` with no EMBER_* variable (the ``.pth`` does nothing);
* ``EMBER_AUTO=100 -c pass``: Ember switched on through the ``.pth`` (a call threshold);
* ``EMBER_AUTO=cost -c pass``: the same with the default policy (its sampler thread starts);
* ``plain empty.py``: ``python empty.py``;
* ``python -m ember empty.py``: Ember's command line on an empty script;
* ``plain cold harness`` and ``python -m ember cold harness``: the fixed part of every process
  of ``bench/run.py``'s cold regime, which runs ``ember_bench/driver.py --oneshot`` on a
  pyperformance script: the driver on a script whose workload does nothing (it still imports
  ``pyperf``, as every pyperformance script does). No JIT can shorten this part, so it bounds
  a cold speed-up: a benchmark whose interpreted process takes ``T`` with ``H`` of harness
  reaches at most ``T / H``, and ``T / (H + (T - H) / s)`` at a steady speed-up ``s`` from the
  first instruction.

The report gives each one's median time and peak RSS, and the extra cost of each Ember
configuration over its plain twin: the difference of medians with a 95 % bootstrap interval
(``ember_bench.stats.difference``). Issue 15 asks for at most 5 ms and 5 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import pyperf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ember_bench import stats  # noqa: E402
from ember_bench.command import time_process  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "bench" / "ember_bench" / "driver.py"
#: A pyperformance-shaped script whose workload does nothing: the cold regime's harness.
EMPTY_BENCH = "import pyperf\n\npyperf.Runner().bench_func('empty', lambda: None)\n"
MIB = 1024 * 1024


def configs(python: str, empty: str, empty_bench: str = "empty_bench.py") -> list:
    """(name, argv, extra environment, plain twin's name) of each configuration."""
    harness = [str(DRIVER), "--oneshot", empty_bench]
    return [("plain -c pass", [python, "-c", "pass"], {}, None),
            ("EMBER_AUTO=100 -c pass", [python, "-c", "pass"], {"EMBER_AUTO": "100"},
             "plain -c pass"),
            ("EMBER_AUTO=cost -c pass", [python, "-c", "pass"], {"EMBER_AUTO": "cost"},
             "plain -c pass"),
            ("plain empty.py", [python, empty], {}, None),
            ("python -m ember empty.py", [python, "-m", "ember", empty], {}, "plain empty.py"),
            ("plain cold harness", [python, *harness], {}, None),
            ("python -m ember cold harness", [python, "-m", "ember", *harness], {},
             "plain cold harness")]


def run(python: str, rounds: int, workdir: Path) -> dict:
    """Runs the interleaved rounds; returns {name: (times in s, peak RSS in bytes)}."""
    empty = workdir / "empty.py"
    empty.write_text("")
    empty_bench = workdir / "empty_bench.py"
    empty_bench.write_text(EMPTY_BENCH)
    cfgs = configs(python, str(empty), str(empty_bench))
    for r in range(rounds):
        for i, (name, argv, env, _) in enumerate(cfgs):
            # A code cache of its own per process: a warm-start marker that an earlier run of
            # the harness's driver left in the user's cache made the Ember harness load LLVM
            # (+8 ms, +41 MiB, measured 2026-12-05); this measures a first run.
            env = dict(env, EMBER_CACHE_DIR=str(workdir / f"cache-{r}-{i}"))
            if time_process(argv, env, workdir / f"{i}.json", "startup", cwd=workdir) != 0:
                raise SystemExit(f"{name}: the process failed")
        print(f"round {r + 1}/{rounds}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    out = {}
    for i, (name, *_rest) in enumerate(cfgs):
        runs = pyperf.BenchmarkSuite.load(str(workdir / f"{i}.json")).get_benchmarks()[0].get_runs()
        out[name] = ([v for run in runs for v in run.values],
                     [run.get_metadata()["command_max_rss"] for run in runs])
    return out


def report(data: dict, python: str) -> list:
    """Markdown lines: medians and the Ember configurations' extra cost with intervals."""
    cfgs = {c[0]: c[3] for c in configs(python, "empty.py")}
    lines = ["| configuration | median time | median peak RSS | extra time (95% CI) | "
             "extra RSS (95% CI) |", "|---|---|---|---|---|"]
    for name, (times, rss) in data.items():
        row = [name, f"{1e3 * stats.summarize(times).median:.1f} ms",
               f"{stats.summarize(rss).median / MIB:.1f} MiB"]
        twin = cfgs[name]
        if twin:
            dt = stats.difference(data[twin][0], times)
            dm = stats.difference(data[twin][1], rss)
            row += [f"{1e3 * dt.diff:+.1f} ms [{1e3 * dt.low:+.1f}, {1e3 * dt.high:+.1f}]",
                    f"{dm.diff / MIB:+.1f} MiB [{dm.low / MIB:+.1f}, {dm.high / MIB:+.1f}]"]
        else:
            row += ["(baseline)", "(baseline)"]
        lines.append("| " + " | ".join(row) + " |")
    n = len(next(iter(data.values()))[0])
    lines.append(f"\n{n} interleaved rounds; {python}")
    return lines


def main(argv: list | None = None) -> int:
    """Entry point; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--rounds", type=int, default=20, help="interleaved rounds (default 20)")
    p.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"),
                   help="the interpreter with Ember installed (default .venv/bin/python)")
    p.add_argument("--json", help="also write the raw samples here")
    a = p.parse_args(argv)
    if a.rounds < 2:
        p.error("--rounds must be at least 2 (an interval needs two values)")
    with tempfile.TemporaryDirectory(prefix="ember-startup-") as d:
        data = run(a.python, a.rounds, Path(d))
    if a.json:
        Path(a.json).write_text(json.dumps(data))
    print("\n".join(report(data, a.python)))
    return 0


if __name__ == "__main__":
    os.environ.pop("EMBER_AUTO", None)
    sys.exit(main())
