"""Tests of the benchmark driver's cold mode (``bench/ember_bench/driver.py --oneshot``).

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
