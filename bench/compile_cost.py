"""Compile time per function against its size: the data behind the cost model's
``EMBER_COST_FIXED_US`` and ``EMBER_COST_PER_CODE_UNIT_US`` (``src/policy.rs``).

Usage: ``.venv/bin/python bench/compile_cost.py [BENCH ...] [--json FILE]`` (default: richards,
go, nbody).

One child process runs under Ember with every function compiled synchronously after two calls
(``EMBER_AUTO=2``, ``EMBER_BACKGROUND=0``) and the code cache off, and calls each benchmark's
workload (``bench/inprocess.py``) three times: the benchmark's own functions and the standard
library's it touches are compiled, as the issue's per-function figures were measured. Every
``Finished compiling`` line of its log is paired with the function's size in code units
(``Py_SIZE`` of the code object: ``len(co_code) // 2``, inline caches included), and the
parent fits ``compile ms = fixed + per_unit * units`` with the Theil-Sen estimator
(``scipy.stats.theilslopes``: a median of pairwise slopes, robust to the outliers a shared
machine gives), with the 95 % interval of the slope, then prints the median compile time by
size band beside what the current constants (read from ``include/ember.h``) predict. A single
process on a noisy machine: rerun it before changing a constant.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import inprocess  # noqa: E402
from ember_bench.emberlog import compile_times  # noqa: E402

BANDS = ((0, 50), (50, 100), (100, 200), (200, 400), (400, 800), (800, 1 << 30))


def child(benches: list, out: str) -> None:
    """Runs the workloads (in this process, under Ember), then writes one JSON object per
    compiled function (name, code units, compile ms) to `out`."""
    for name in benches:
        module = inprocess.load(name)
        for _ in range(3):
            inprocess.WORKLOADS[name](module)
    units = {}
    for o in gc.get_objects():
        if isinstance(o, types.FunctionType):
            units[f"{o.__module__}:{o.__qualname__}"] = len(o.__code__.co_code) // 2
    with open(out, "w") as fh:
        for name, ms in compile_times(Path(os.environ["EMBER_LOG"]).read_text()):
            if name in units:
                fh.write(json.dumps({"name": name, "units": units[name], "ms": ms}) + "\n")


def constants() -> dict:
    """The cost model's constants, from the generated header (µs)."""
    text = (ROOT / "include" / "ember.h").read_text()
    return {k: int(re.search(rf"#define {k} (\d+)", text).group(1))
            for k in ("EMBER_COST_FIXED_US", "EMBER_COST_PER_CODE_UNIT_US")}


def report(rows: list) -> list:
    """Markdown lines: the Theil-Sen fit and the medians by size band."""
    import numpy as np
    from scipy import stats

    u = np.array([r["units"] for r in rows], dtype=float)
    t = np.array([r["ms"] for r in rows], dtype=float)
    fit = stats.theilslopes(t, u)
    c = constants()
    fixed, per = c["EMBER_COST_FIXED_US"] / 1000, c["EMBER_COST_PER_CODE_UNIT_US"] / 1000
    lines = [f"{len(rows)} functions; compile time median {np.median(t):.1f} ms, "
             f"p95 {np.percentile(t, 95):.1f} ms",
             f"Theil-Sen fit: {fit.intercept:.1f} ms + {fit.slope:.3f} ms per code unit "
             f"(slope 95% CI [{fit.low_slope:.3f}, {fit.high_slope:.3f}]); "
             f"current model: {fixed:.1f} ms + {per:.3f} ms per code unit", "",
             "| code units | functions | median compile | fit | current model |",
             "|---|---|---|---|---|"]
    for lo, hi in BANDS:
        m = (u >= lo) & (u < hi)
        if m.any():
            mu = np.median(u[m])
            band = f"{lo}-{hi - 1}" if hi < 1 << 30 else f"{lo}+"
            lines.append(f"| {band} | {int(m.sum())} | {np.median(t[m]):.1f} ms | "
                         f"{fit.intercept + fit.slope * mu:.1f} ms | {fixed + per * mu:.1f} ms |")
    return lines


def main(argv: list | None = None) -> int:
    """Entry point; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("benches", nargs="*", default=["richards", "go", "nbody"])
    p.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    p.add_argument("--json", help="also write the (name, units, ms) rows here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        child(a.benches, a.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="ember-compile-cost-") as d:
        out = os.path.join(d, "rows.jsonl")
        env = dict(os.environ, EMBER_AUTO="2", EMBER_BACKGROUND="0", EMBER_CACHE="0",
                   EMBER_LOG=os.path.join(d, "ember.log"))
        env.pop("EMBER_DISABLE", None)
        subprocess.run([a.python, "-m", "ember", __file__, "--child", out, *a.benches],
                       env=env, check=True)
        rows = [json.loads(line) for line in open(out)]
    if not rows:
        raise SystemExit("no compiled function was logged")
    if a.json:
        Path(a.json).write_text(json.dumps(rows))
    print("\n".join(report(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
