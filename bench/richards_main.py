"""The main job (`make run`): pyperformance's `richards` under the interpreter and under Ember.

Runs the installed pyperformance benchmark file with pyperf twice -- interpreter (EMBER_DISABLE=1)
and Ember auto-compile (EMBER_AUTO=N) -- in interleaved rounds, prints both timings, the ratio,
and the functions Ember compiled (from EMBER_LOG), so a run where the JIT did nothing is visible.
Results go to results/ (git-ignored).
"""
import argparse
import ast
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pyperf
import pyperformance

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"


def benchmark_file(name="richards"):
    """Path of pyperformance's run_benchmark.py for `name` (raises FileNotFoundError)."""
    p = Path(pyperformance.__file__).parent / "data-files" / "benchmarks" / f"bm_{name}" / "run_benchmark.py"
    if not p.exists():
        raise FileNotFoundError(p)
    return p


def defined_functions(path):
    """Qualified names of the functions and methods defined in a Python file."""
    out = []

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.append(prefix + child.name)
                walk(child, prefix + child.name + ".<locals>.")
            elif isinstance(child, ast.ClassDef):
                walk(child, prefix + child.name + ".")

    walk(ast.parse(Path(path).read_text()), "")
    return out


def run_once(script, out, env_extra, args):
    """One pyperf run of `script` into JSON file `out` with extra environment variables."""
    env = dict(os.environ)
    env.pop("EMBER_AUTO", None)
    env.pop("EMBER_DISABLE", None)
    env.update(env_extra)
    cmd = [sys.executable, str(script), "-o", str(out), "--inherit-environ", ",".join(sorted(env_extra))] + args
    Path(out).unlink(missing_ok=True)
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return pyperf.BenchmarkSuite.load(str(out)).get_benchmarks()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--auto", type=int, default=100, help="EMBER_AUTO threshold (calls before compiling)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved interpreter/Ember rounds")
    ap.add_argument("--processes", type=int, default=4, help="pyperf worker processes per round")
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    script = benchmark_file()
    log = RESULTS / "richards-ember.log"
    log.unlink(missing_ok=True)
    pyperf_args = ["-p", str(args.processes), "-w", "1", "-n", "5", "-l", "1"]
    interp, ember = [], []
    for r in range(args.rounds):
        b = run_once(script, RESULTS / f"richards-nojit-{r}.json", {"EMBER_DISABLE": "1"}, pyperf_args)
        interp += b.get_values()
        b = run_once(script, RESULTS / f"richards-ember-{r}.json", {"EMBER_AUTO": str(args.auto), "EMBER_LOG": str(log)}, pyperf_args)
        ember += b.get_values()
        print(f"round {r + 1}/{args.rounds}: interpreter {statistics.median(interp) * 1e3:.1f} ms, "
              f"ember {statistics.median(ember) * 1e3:.1f} ms", flush=True)
    mi, me = statistics.median(interp), statistics.median(ember)
    text = log.read_text() if log.exists() else ""
    compiled = list({m[0]: m for m in re.findall(r"Finished compiling (\S+) \((\d+) bytes, ([\d.]+) ms\)", text)}.values())
    compiled.sort()
    rich = sorted({name for name, _, _ in compiled if name.startswith("__main__:")})
    expected = {"__main__:" + q for q in defined_functions(script)}
    missing = sorted(expected - set(rich))
    print()
    print(f"richards (pyperformance {pyperformance.__version__}), steady state, {len(interp)} values each")
    print(f"  interpreter (CPython {sys.version.split()[0]}): median {mi * 1e3:.2f} ms  (min {min(interp) * 1e3:.2f}, max {max(interp) * 1e3:.2f})")
    print(f"  ember (EMBER_AUTO={args.auto}):          median {me * 1e3:.2f} ms  (min {min(ember) * 1e3:.2f}, max {max(ember) * 1e3:.2f})")
    print(f"  speedup interpreter/ember: {mi / me:.3f}x")
    print(f"  functions compiled (distinct, all modules): {len(set(n for n, _, _ in compiled))}")
    print(f"  bm_richards functions compiled: {len(expected) - len(missing)} of {len(expected)}")
    for name, size, ms in compiled:
        if name in expected:
            print(f"    {name:45s} {size:>6} bytes {float(ms):7.2f} ms")
    for name in missing:
        print(f"    not compiled (called fewer than {args.auto + 1} times per process, or refused): {name}")
    not_compiled = sorted(set(re.findall(r"Not compiling (\S+?): (.*)", text)))
    print(f"  refused (distinct): {len(not_compiled)} (see {log})")
    summary = {"interpreter_median_s": mi, "ember_median_s": me, "speedup": mi / me, "compiled": rich, "missing": missing}
    (RESULTS / "richards-summary.json").write_text(json.dumps(summary, indent=2))
    if not rich:
        print("ERROR: Ember compiled no richards function", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
