"""pyperformance's bm_richards under Ember's autojit.

The benchmark file is located in the installed pyperformance package (not copied) and loaded
as module `bm_richards` in a subprocess with EMBER_AUTO=2 and EMBER_LOG=file. The driver runs
Richards several times (the later runs execute compiled code) and also calls the two functions
the benchmark never reaches (`trace`, `Task.fn`) enough times to be compiled. The benchmark's
own result check (holdCount/qpktCount) must pass, and every function the file defines must be
logged as `Finished compiling bm_richards:<qualname>` with no `Not compiling` line.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


def richards_path():
    """run_benchmark.py of bm_richards inside the installed pyperformance package."""
    spec = importlib.util.find_spec("pyperformance")
    if spec is None or spec.origin is None:
        pytest.skip("pyperformance is not installed")
    path = Path(spec.origin).parent / "data-files" / "benchmarks" / "bm_richards" / "run_benchmark.py"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


def defined_qualnames(path):
    """Qualified names of every function (and method) the file defines."""
    tree = ast.parse(path.read_text())
    names = []

    def visit(body, prefix):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.append(prefix + node.name)
                visit(node.body, prefix + node.name + ".<locals>.")
            elif isinstance(node, ast.ClassDef):
                visit(node.body, prefix + node.name + ".")

    visit(tree.body, "")
    return names


DRIVER = r"""
import contextlib, importlib.util, io, json, sys
import ember

path = sys.argv[1]
spec = importlib.util.spec_from_file_location("bm_richards", path)
mod = importlib.util.module_from_spec(spec)
sys.modules["bm_richards"] = mod
spec.loader.exec_module(mod)

r = mod.Richards()
results = [r.run(1) for _ in range(3)]        # the third call compiles Richards.run
results.append(r.run(5))                      # fully compiled run, checked by the benchmark
# functions the benchmark defines but never calls (or calls once): call them enough to be
# compiled too
with contextlib.redirect_stdout(io.StringIO()) as out:
    for i in range(4):
        mod.trace(i)
# TaskWorkArea() runs once at import. Three distinct call sites: a call site the interpreter
# has specialised to CALL_ALLOC_AND_ENTER_INIT enters __init__ without Ember seeing the call
# (see test_modes.py::test_auto_counts_init_called_from_interpreted_loop).
work_areas = [mod.TaskWorkArea(), mod.TaskWorkArea(), mod.TaskWorkArea()]
fn_errors = 0
for _ in range(4):
    try:
        mod.Task.fn(None, None, None)
    except NotImplementedError:
        fn_errors += 1
# Getters (`return self.packet_pending`) and methods that only read and test
# (`isWaitingWithPacket`) are inlined at their compiled call sites (CallTrivial,
# tests/python/test_inline.py, test_inline_pure.py), so the benchmark may never call them once
# its callers are compiled: called here from interpreted code, they are counted and compiled
# like the rest.
ts = mod.TaskState()
for _ in range(3):
    ts.isPacketPending(), ts.isTaskHolding(), ts.isTaskWaiting()
    ts.isWaitingWithPacket(), ts.isTaskHoldingOrWaiting()
# So are class calls whose __init__ only stores constants (`DeviceTaskRec()`: inline_init,
# tests/python/test_inline_init.py): those __init__s are called here as functions.
for cls in (mod.DeviceTaskRec, mod.IdleTaskRec, mod.HandlerTaskRec):
    for _ in range(3):
        cls.__init__(cls.__new__(cls))
results.append(r.run(2))
compiled = [n for n in ember.compiled_functions() if n.startswith("bm_richards:")]
print(json.dumps({"results": results, "trace_out": out.getvalue(), "fn_errors": fn_errors,
                  "compiled": compiled, "hold": mod.taskWorkArea.holdCount,
                  "qpkt": mod.taskWorkArea.qpktCount}))
"""


def test_richards_compiles_every_function_and_is_correct(tmp_path):
    """bm_richards with EMBER_AUTO=2: correct benchmark result (holdCount 9297, qpktCount
    23246 on every run, including fully compiled ones) and every function of the file logged
    as compiled, none refused."""
    path = richards_path()
    expected = defined_qualnames(path)
    assert "Richards.run" in expected and "TaskState.isWaitingWithPacket" in expected
    log = tmp_path / "ember.log"
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBER_")}
    # Synchronous compiles: every function is compiled by the time it is called a third time.
    env.update(EMBER_AUTO="2", EMBER_LOG=str(log), EMBER_BACKGROUND="0", EMBER_CACHE="0")
    proc = subprocess.run([sys.executable, str(driver), str(path)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["results"] == [True] * 5
    assert (data["hold"], data["qpkt"]) == (9297, 23246)
    assert data["fn_errors"] == 4
    assert data["trace_out"] == "\n0123"
    text = log.read_text()
    finished = set(re.findall(r"^Finished compiling bm_richards:(\S+) \(\d+ bytes, [0-9.]+ ms\)$", text, re.M))
    refused = re.findall(r"^Not compiling bm_richards:.*$", text, re.M)
    assert refused == [], refused
    missing = sorted(set(expected) - finished)
    assert missing == [], f"not compiled: {missing}\nlog:\n{text}"
    assert set(data["compiled"]) == {f"bm_richards:{q}" for q in finished}
