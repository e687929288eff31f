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
