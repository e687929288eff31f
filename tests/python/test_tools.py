"""Debuggers and coverage tools see the same program with Ember on: `pdb` driven by a fixed
command script prints the same session, and `coverage` (settrace core and sys.monitoring core,
started from the command line or from inside the program after its functions were compiled)
records the same lines and arcs. Each tool runs in a fresh process, once plain and once with
Ember compiling every function of the program at its first call (a jit list of `__main__:*`, so
that the tools' own code stays interpreted and the test stays fast; `make test-cpython` covers
compile-everything)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("ember")
coverage = pytest.importorskip("coverage")

PROGRAM = """
import contextlib

def work(n):
    total = 0
    for i in range(n):
        if i % 3 == 0:
            total += i
        elif i % 3 == 1:
            total -= 1
        else:
            try:
                total += helper(i)
            except ValueError:
                total += 100
    return total

def helper(i):
    if i > 4:
        raise ValueError(i)
    with contextlib.nullcontext(i) as v:
        return v * 2

def main(rounds):
    out = []
    for r in range(rounds):
        out.append(work(10 + r))
    return out
"""

WARM_THEN_COVER = PROGRAM + """
import coverage, sys
for _ in range(5):
    main(3)               # compiled (EMBER_AUTO=0) before the tool starts
cov = coverage.Coverage(branch=True, data_file=None)
cov.start()
res = main(2)
cov.stop()
data = cov.get_data()
fname = [f for f in data.measured_files() if f.endswith("prog.py")][0]
print(res)
print(sorted(data.lines(fname)))
print(sorted(data.arcs(fname)))
"""


def _env(ember_on, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBER_") and k != "COVERAGE_CORE"}
    if ember_on:
        jl = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "results", "jitlist-main.txt")
        os.makedirs(os.path.dirname(jl), exist_ok=True)
        with open(jl, "w") as fh:
            fh.write("__main__:*\n")
        env["EMBER_JIT_LIST"] = jl
        env["EMBER_LOG"] = "-"
        # Compiled before the tool starts (the programs rely on it): synchronous compiles.
        env["EMBER_BACKGROUND"] = "0"
        env["EMBER_CACHE"] = "0"   # every run compiles (test_cache.py covers the cache)
    env.update(extra)
    return env


def _run(tmp_path, cmd, ember_on, stdin=None, **extra):
    p = subprocess.run(cmd, cwd=tmp_path, env=_env(ember_on, **extra), input=stdin, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def _both(tmp_path, cmd, stdin=None, **extra):
    plain = _run(tmp_path, cmd, False, stdin, **extra)
    jit = _run(tmp_path, cmd, True, stdin, **extra)
    return plain, jit


@pytest.mark.parametrize("core", ["ctrace", "sysmon"])
def test_coverage_command_line_same_lines_and_arcs(tmp_path, core):
    (tmp_path / "prog.py").write_text(textwrap.dedent(PROGRAM) + "\nprint(main(3))\n")
    results = []
    for ember_on in (False, True):
        datafile = tmp_path / f".cov-{ember_on}"
        _run(tmp_path, [sys.executable, "-m", "coverage", "run", "--branch", f"--data-file={datafile}", "prog.py"],
             ember_on, COVERAGE_CORE=core)
        out = tmp_path / f"cov-{ember_on}.json"
        _run(tmp_path, [sys.executable, "-m", "coverage", "json", f"--data-file={datafile}", "-o", str(out)], False)
        files = json.loads(out.read_text())["files"]
        rec = files["prog.py"]
        results.append((rec["executed_lines"], rec["missing_lines"], rec.get("executed_branches"),
                        rec.get("missing_branches")))
    assert results[0] == results[1]
    assert results[0][0], "coverage recorded nothing"


@pytest.mark.parametrize("core", ["ctrace", "sysmon"])
def test_coverage_started_after_compilation(tmp_path, core):
    """Coverage switched on while the program's functions are already compiled records what it
    records for the interpreter."""
    (tmp_path / "prog.py").write_text(textwrap.dedent(WARM_THEN_COVER))
    plain, jit = _both(tmp_path, [sys.executable, "prog.py"], COVERAGE_CORE=core)
    assert plain.stdout == jit.stdout
    assert "Finished compiling __main__:work" in jit.stderr  # the JIT was really on
    lines = json.loads(plain.stdout.splitlines()[1].replace("(", "[").replace(")", "]"))
    assert len(lines) > 10


def test_pdb_session_identical(tmp_path):
    (tmp_path / "prog.py").write_text(textwrap.dedent(PROGRAM) + "\nfor _ in range(3):\n    main(1)\nprint(main(2))\n")
    commands = "\n".join([
        "b helper", "c", "where", "n", "n", "p i", "p total if 'total' in dir() else None", "up", "p total",
        "p i", "down", "cl 1", "b 13", "c", "p i, total", "step", "step", "step", "return", "p total",
        "cl", "c", ""]) + "\n"
    plain, jit = _both(tmp_path, [sys.executable, "-m", "pdb", "prog.py"], stdin=commands)
    assert plain.stdout == jit.stdout
    assert "-> " in plain.stdout and "(Pdb)" in plain.stdout
    assert "Finished compiling" in jit.stderr


MONITORING_EVENTS = """
import sys, types
E = sys.monitoring.events
TOOL = 2
NAMES = {E.PY_START: "start", E.PY_RETURN: "return", E.RAISE: "raise", E.C_RETURN: "c_return",
         E.C_RAISE: "c_raise"}
def callee(x):
    if x < 0:
        raise ValueError(x)
    return x + 1
def gather(func, arg, local):
    events = []
    for ev, name in NAMES.items():
        def record(*args, name=name):
            events.append((name, getattr(args[0], "co_name", None)))
        sys.monitoring.register_callback(TOOL, ev, record)
    def record_call(code, offset, obj, arg0):
        events.append(("py_call" if isinstance(obj, types.FunctionType) else "c_call", code.co_name))
    sys.monitoring.register_callback(TOOL, E.CALL, record_call)
    evs = E.CALL | E.C_RETURN | E.C_RAISE | E.PY_START | E.PY_RETURN | E.RAISE
    if local:
        sys.monitoring.set_local_events(TOOL, gather.__code__, E.CALL | E.C_RETURN | E.C_RAISE)
    else:
        sys.monitoring.set_events(TOOL, evs)
    try:
        func(arg)
        len("x")
    except ValueError:
        pass
    sys.monitoring.set_events(TOOL, 0)
    sys.monitoring.set_local_events(TOOL, gather.__code__, 0)
    return events
sys.monitoring.use_tool_id(TOOL, "ember-test")
for i in range(3):
    callee(i)          # compiled (EMBER_AUTO=0) before any tool is active
for local in (False, True):
    for arg in (1, -1, 2):
        print(gather(callee, arg, local))
import ember
print(ember.is_compiled(callee))   # parked for good after set_local_events
"""


def test_monitoring_call_events_identical(tmp_path):
    """sys.monitoring CALL / C_RETURN / C_RAISE events (global and local) are the interpreter's:
    Ember parks its functions while a tool wants them (otherwise the interpreter would report a
    C_RETURN after every call of an Ember-watched function) and unparks them afterwards,
    except after set_local_events, which parks for good."""
    (tmp_path / "prog.py").write_text(textwrap.dedent(MONITORING_EVENTS))
    plain = _run(tmp_path, [sys.executable, "prog.py"], False)
    jit = _run(tmp_path, [sys.executable, "prog.py"], True, EMBER_AUTO="0")
    assert plain.stdout == jit.stdout
    assert "('c_call', 'gather')" in plain.stdout and "('c_return', 'gather')" in plain.stdout
    assert "Finished compiling __main__:callee" in jit.stderr


LOCAL_ONLY = """
import sys
E = sys.monitoring.events
def total(n):
    t = 0
    for i in range(n):
        t += i
    return t
print(total(100))      # compiled (EMBER_AUTO=0) at this call
events = []
sys.monitoring.use_tool_id(3, "ember-test")
sys.monitoring.register_callback(3, E.JUMP, lambda code, a, b: events.append(("jump", code.co_name)))
sys.monitoring.register_callback(3, E.PY_START, lambda code, off: events.append(("start", code.co_name)))
sys.monitoring.set_local_events(3, total.__code__, E.JUMP | E.PY_START)
print(total(5), events)
sys.monitoring.set_local_events(3, total.__code__, 0)
print(total(5), len(events))
"""


def test_local_events_only_on_a_compiled_function(tmp_path):
    """A tool that only ever sets local events (no global event was switched on in the
    process) gets them from a compiled function's code: its calls run in the interpreter."""
    (tmp_path / "prog.py").write_text(textwrap.dedent(LOCAL_ONLY))
    plain = _run(tmp_path, [sys.executable, "prog.py"], False)
    jit = _run(tmp_path, [sys.executable, "prog.py"], True, EMBER_AUTO="0")
    assert plain.stdout == jit.stdout
    assert "('jump', 'total')" in plain.stdout
    assert "Finished compiling __main__:total" in jit.stderr


def test_large_functions_refused_with_reason(tmp_path):
    (tmp_path / "prog.py").write_text("def big(x):\n" + "".join(f"    x = x + {i}\n" for i in range(400)) +
                                      "    return x\nfor _ in range(3):\n    print(big(1))\n")
    plain = _run(tmp_path, [sys.executable, "prog.py"], False)
    jit = _run(tmp_path, [sys.executable, "prog.py"], True, EMBER_AUTO="0", EMBER_MAX_CODE_UNITS="1000")
    assert plain.stdout == jit.stdout
    assert "Not compiling __main__:big: function too large" in jit.stderr


def test_parking_is_undone_when_tools_stop():
    """A compiled function is parked while a tool wants CALL events and runs compiled again
    once the tool stops (global events)."""
    import ember
    ns = {}
    exec("def f(x):\n    return x + 1\n", ns)
    assert ember.force_compile(ns["f"])
    E = sys.monitoring.events
    sys.monitoring.use_tool_id(3, "ember-test")
    try:
        sys.monitoring.set_events(3, E.CALL)
        assert not ember.is_compiled(ns["f"]) and ns["f"](1) == 2
        sys.monitoring.set_events(3, E.PY_START)     # no call events: unparked
        assert ember.is_compiled(ns["f"])
        sys.monitoring.set_events(3, 0)
        assert ember.is_compiled(ns["f"]) and ns["f"](1) == 2
    finally:
        sys.monitoring.set_events(3, 0)
        sys.monitoring.free_tool_id(3)
