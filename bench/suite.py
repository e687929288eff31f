"""A real library's own test suite, plain and under Ember at its defaults (issue 15).

Usage: ``.venv/bin/python bench/suite.py [--package jinja2==3.1.6] [-n ROUNDS] [--json FILE]``

What a new user meets first is not a benchmark loop but a program that runs lots of code a
few times: a test suite. This script downloads the package's sdist from PyPI (its tests are
in the sdist, not in the wheel), installs the package and its test dependencies into the
interpreter's environment, and runs the suite whole-process, interleaved round by round:

* ``plain``: ``python -m pytest tests``;
* ``ember``: ``python -m ember <pytest> tests`` (Ember's defaults: the cost policy,
  background compilation), a first run: every process starts with an empty code cache;
* ``ember-warm``: the same on a second run: every process starts with the code cache that one
  untimed run left.

Each process is timed by ``pyperf command`` (wall time). The report gives the medians, the
ratio plain/ember with its 95 % bootstrap interval (``ember_bench.stats.speedup``; above 1.0
means Ember is faster), the test outcome of every process (from pytest's JUnit report; the
two configurations must agree), and the
number of functions Ember compiled (from its log). Issue 15 asks for Ember within 1.1x of
plain, every test passing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pyperf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ember_bench import stats  # noqa: E402
from ember_bench.command import time_process  # noqa: E402
from ember_bench.runner import wait_for_precompile  # noqa: E402
from ember_bench.emberlog import parse_log  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: Test dependencies per package (what its requirements/tests.txt pins, unpinned here);
#: others get pytest alone.
TEST_DEPS = {"jinja2": ["pytest", "trio", "markupsafe"],
             # pyparsing[diagrams]: tests/test_diagram.py imports railroad and jinja2.
             "pyparsing": ["pytest", "railroad-diagrams", "jinja2"]}


def prepare(python: str, spec: str, workdir: Path) -> Path:
    """Downloads and unpacks the sdist of `spec` (``name==version``) under `workdir` and
    installs the package and its test dependencies with `python -m pip`. Returns the
    unpacked source directory. Raises subprocess.CalledProcessError when pip fails."""
    name = spec.split("==")[0].lower()
    dl = workdir / "sdist"
    dl.mkdir(parents=True, exist_ok=True)
    if not list(dl.glob("*.tar.gz")):
        subprocess.run([python, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        spec, "-d", str(dl)], check=True)
    sdist = sorted(dl.glob("*.tar.gz"))[0]
    src = workdir / sdist.name[: -len(".tar.gz")]
    if not src.exists():
        with tarfile.open(sdist) as tf:
            tf.extractall(workdir, filter="data")
    subprocess.run([python, "-m", "pip", "install", "-q", spec, *TEST_DEPS.get(name, ["pytest"])],
                   check=True)
    return src


def outcome(junit: Path) -> str:
    """`passed N, failed N, errors N, skipped N` from a pytest JUnit XML file, or why not."""
    if not junit.exists():
        return "no test report (the run failed before pytest finished)"
    root = ET.parse(junit).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    n = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    passed = n["tests"] - n["failures"] - n["errors"] - n["skipped"]
    return f"passed {passed}, failed {n['failures']}, errors {n['errors']}, skipped {n['skipped']}"


def run(python: str, src: Path, rounds: int, workdir: Path) -> dict:
    """Runs the interleaved rounds; returns {config: {"times": [s], "outcomes": [str],
    "compiled": [count]}}. Every process writes a JUnit report, so every run's outcome is
    checked, not only the first."""
    pytest_script = str(Path(python).parent / "pytest")
    ember = [python, "-m", "ember", pytest_script]
    cfgs = {"plain": [python, "-m", "pytest"], "ember": ember, "ember-warm": ember}
    out = {name: {"times": [], "outcomes": [], "compiled": [], "loaded": []} for name in cfgs}
    tail = ["-q", "-p", "no:cacheprovider", "tests"]
    fresh, warm = workdir / "code-cache-fresh", workdir / "code-cache-warm"
    shutil.rmtree(warm, ignore_errors=True)
    fill_env = {**os.environ, "EMBER_CACHE_DIR": str(warm), "EMBER_LOG": str(workdir / "fill.ember.log")}
    subprocess.run(ember + tail, env=fill_env, cwd=src, capture_output=True, check=False,
                   timeout=900)   # fills ember-warm's cache, untimed
    # An Ember process may leave a detached compile for later runs (EMBER_PRECOMPILE): it must
    # not run beside the next timed process, nor write into a cache being removed.
    wait_for_precompile(warm, 900)
    for r in range(rounds):
        for name, head in cfgs.items():
            log = workdir / f"{name}-{r}.ember.log"
            junit = workdir / f"{name}-{r}.xml"
            argv = head + ["-q", "-p", "no:cacheprovider", f"--junitxml={junit}", "tests"]
            env = {}
            if name != "plain":
                shutil.rmtree(fresh, ignore_errors=True)
                env = {"EMBER_LOG": str(log), "EMBER_CACHE_DIR": str(fresh if name == "ember" else warm)}
            time_process(argv, env, workdir / f"{name}.json", name, cwd=src)
            if name != "plain":
                wait_for_precompile(Path(env["EMBER_CACHE_DIR"]), 900)
            out[name]["outcomes"].append(outcome(junit))
            if name != "plain":
                st = parse_log(log)
                out[name]["compiled"].append(st.compiled)
                out[name]["loaded"].append(st.loaded)
        print(f"round {r + 1}/{rounds}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    for name in cfgs:
        res = workdir / f"{name}.json"
        if res.exists():
            runs = pyperf.BenchmarkSuite.load(str(res)).get_benchmarks()[0].get_runs()
            out[name]["times"] = [v for run in runs for v in run.values]
    return out


def report(data: dict, spec: str) -> list:
    """Markdown lines: medians, the ratio with its interval, outcomes, compiled counts."""
    plain = data["plain"]["times"]
    lines = [f"## {spec}: the library's own test suite, whole process", "",
             "| configuration | median wall time | test outcomes (every round) | functions compiled (median) |",
             "|---|---|---|---|"]
    for name, d in data.items():
        comp = d["compiled"]
        outcomes = "; ".join(f"{o} x{d['outcomes'].count(o)}" for o in dict.fromkeys(d["outcomes"]))
        lines.append(f"| {name} | {stats.summarize(d['times']).median:.2f} s | {outcomes} | "
                     + (f"{sorted(comp)[len(comp) // 2]}" if comp else "-") + " |")
    lines.append("")
    for name in [n for n in data if n != "plain"]:
        est = stats.speedup(plain, data[name]["times"])
        loaded = data[name]["loaded"]
        lines.append(f"{name} / plain: {stats.format_ratio(est)} (speedup; above 1.0 = Ember faster; "
                     f"the issue's bound is within 1.1x of plain, i.e. >= {1 / 1.1:.2f}x); "
                     f"loaded from the code cache (median): {sorted(loaded)[len(loaded) // 2] if loaded else 0}")
    lines += ["", f"{len(plain)} interleaved rounds, wall time by pyperf command"]
    return lines


def main(argv: list | None = None) -> int:
    """Entry point; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--package", default="jinja2==3.1.6", help="name==version on PyPI (default jinja2==3.1.6)")
    p.add_argument("-n", "--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"),
                   help="the interpreter with Ember installed (default .venv/bin/python)")
    p.add_argument("--workdir", default=str(ROOT / "results" / "suites"), help="sdists and logs")
    p.add_argument("--json", help="also write the raw samples here")
    a = p.parse_args(argv)
    if a.rounds < 2:
        p.error("--rounds must be at least 2 (an interval needs two values)")
    work = Path(a.workdir) / a.package.replace("==", "-")
    work.mkdir(parents=True, exist_ok=True)
    for f in work.glob("*.json"):
        f.unlink()
    src = prepare(a.python, a.package, work)
    data = run(a.python, src, a.rounds, work)
    if a.json:
        Path(a.json).write_text(json.dumps(data))
    print("\n".join(report(data, a.package)))
    return 0


if __name__ == "__main__":
    os.environ.pop("EMBER_AUTO", None)
    sys.exit(main())
