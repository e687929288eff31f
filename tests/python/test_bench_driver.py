"""Tests of the benchmark driver: its cold mode (``--oneshot``) and its steady-state
settling (``--settle``).

The driver replaces ``pyperf.Runner`` so that a pyperformance script runs its workload a
fixed number of times and records nothing. These tests run the driver on small scripts (with
Ember switched off: only the harness is under test) and count the workload's calls.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyperf")

DRIVER = Path(__file__).resolve().parents[2] / "bench" / "ember_bench" / "driver.py"

SCRIPT = """
import asyncio, pyperf, sys

calls = []

def work(tag):
    calls.append(tag)

def timed(loops, tag):
    for _ in range(loops):
        calls.append(tag)
    return 0.0

async def coro(tag):
    await asyncio.sleep(0)
    calls.append(tag)

runner = pyperf.Runner()
runner.bench_func("f", work, "func")
runner.bench_time_func("t", timed, "time")
runner.bench_async_func("a", coro, "async")
print(sorted((t, calls.count(t)) for t in set(calls)))
"""


def run_driver(tmp_path: Path, *options: str) -> str:
    script = tmp_path / "bm.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, EMBER_DISABLE="1")
    out = subprocess.run([sys.executable, str(DRIVER), *options, str(script)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_oneshot_runs_each_workload_once(tmp_path):
    assert run_driver(tmp_path, "--oneshot") == "[('async', 1), ('func', 1), ('time', 1)]"


def test_oneshot_iterations_runs_each_workload_n_times(tmp_path):
    assert run_driver(tmp_path, "--oneshot", "--iterations", "3") == \
        "[('async', 3), ('func', 3), ('time', 3)]"


HOT = """
import pyperf

def work():
    t = 0
    for i in range(200000):
        t += i % 7
    return t

pyperf.Runner().bench_func("hot", work)
"""


def test_settle_runs_until_the_jit_stops_compiling(tmp_path):
    """``--settle``: the steady worker first runs the workload while Ember compiles it, and
    stops once nothing changed for 2 s; the proof line says when."""
    import json
    script = tmp_path / "hot.py"
    script.write_text(HOT)
    proof = tmp_path / "proof.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBER_")}
    env["EMBER_CACHE"] = "0"
    out = subprocess.run([sys.executable, "-m", "ember", str(DRIVER), "--proof", str(proof),
                          "--settle", "30", str(script), "--worker", "--loops", "1",
                          "--warmups", "1", "--values", "1", "--append",
                          str(tmp_path / "out.json")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rec = json.loads(proof.read_text().splitlines()[-1])
    st = rec["settle"]
    assert any(f.endswith(":work") for f in rec["compiled_functions"])
    assert st["limit"] is False
    assert 0 < st["last_change_s"] < 30
    assert st["seconds"] >= st["last_change_s"] + 2.0
    assert st["calls"] > 1
