"""gdb through compiled code (issue 17, item 2): compiled functions are registered with gdb's
JIT interface, so at a breakpoint in a C function that compiled code calls, `bt` names the
compiled function and walks on through the shim and the interpreter to the process's start."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import pytest

from test_modes import clean_env

ember = pytest.importorskip("ember")

SCRIPT = textwrap.dedent("""
    import math, ember
    def f(n):
        return math.factorial(n) + 1     # CALL_BUILTIN_O: compiled code calls math_factorial directly
    for _ in range(20):
        f(5)                              # specialise the call before compiling
    assert ember.force_compile(f), ember.why_not(f)
    print(f(5))
""")


def run_gdb(tmp_path, program=SCRIPT, commands=("bt",), **env):
    """gdb in batch mode on `program`, stopped in the 21st call of math_factorial, then
    `commands`; gdb's output. Skips where gdb is missing or cannot stop there."""
    if shutil.which("gdb") is None:
        pytest.skip("gdb is not installed")
    script = tmp_path / "prog.py"
    script.write_text(program)
    # The breakpoint ignores the 20 interpreted calls, so it stops in the compiled one.
    cmd = ["gdb", "-nx", "-batch", "-ex", "set breakpoint pending on", "-ex", "set pagination off",
           "-ex", "break math_factorial", "-ex", "ignore 1 20", "-ex", "run"]
    for c in commands:
        cmd += ["-ex", c]
    cmd += ["--args", sys.executable, str(script)]
    proc = subprocess.run(cmd, env=clean_env(**env), capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    if "Breakpoint 1, " not in out:
        # An interpreter without symbols (a stripped distribution build) gives gdb no
        # math_factorial to stop in; pyenv's build has them.
        pytest.skip(f"gdb could not stop in math_factorial in {sys.executable}")
    return out


def test_bt_names_compiled_frames_and_reaches_main(tmp_path):
    out = run_gdb(tmp_path)
    bt = out[out.index("math_factorial"):] if "math_factorial" in out else out
    frames = [ln for ln in bt.splitlines() if ln.startswith("#")]
    assert frames and "math_factorial" in frames[0], out[-3000:]
    assert any("ember_fn_" in ln for ln in frames), "\n".join(frames)
    # ... and on through the shim and the interpreter to the C start-up (python's main tail-calls
    # Py_BytesMain, so libc's frames come next).
    assert "_start" in frames[-1] and any("Py_BytesMain" in ln for ln in frames), "\n".join(frames)


def test_without_registration_gdb_cannot_name_them(tmp_path):
    """EMBER_DEBUGGER=0: the same backtrace has no name for the compiled frame (the
    registration above is what names it)."""
    out = run_gdb(tmp_path, EMBER_DEBUGGER=0)
    frames = [ln for ln in out.splitlines() if ln.startswith("#")]
    assert not any("ember_fn_" in ln for ln in frames), "\n".join(frames)


NESTED = textwrap.dedent("""
    import math, ember
    def inner(n):
        return math.factorial(n)
    def mid(n):
        return inner(n) + 1
    def outer(n):
        return mid(n) * 2
    for _ in range(20):
        outer(5)
    assert ember.force_compile(mid), ember.why_not(mid)
    print(outer(5))
""")


def cpython_gdb_script():
    """CPython's gdb extension for this interpreter (pyenv installs python3.13-gdb.py beside the
    executable), or None."""
    for d in {sysconfig.get_config_var("BINDIR"), os.path.dirname(os.path.realpath(sys.executable))}:
        path = os.path.join(d or "", f"python{sys.version_info[0]}.{sys.version_info[1]}-gdb.py")
        if os.path.exists(path):
            return path
    return None


def py_bt(tmp_path, with_ember):
    """`py-bt` at math_factorial in NESTED, with CPython's gdb script and, if `with_ember`,
    Ember's after it; the traceback part of gdb's output."""
    stock = cpython_gdb_script()
    if stock is None:
        pytest.skip(f"no python-gdb.py beside {sys.executable}")
    commands = [f"source {stock}"]
    if with_ember:
        ember_script = subprocess.run([sys.executable, "-m", "ember", "--gdb-script"], capture_output=True, text=True,
                                      check=True).stdout.strip()
        commands.append(f"source {ember_script}")
    out = run_gdb(tmp_path, NESTED, commands + ["py-bt"])
    assert "Traceback (most recent call first):" in out, out[-3000:]
    return out[out.index("Traceback (most recent call first):"):]


def test_py_bt_shows_the_frames_compiled_code_runs(tmp_path):
    """Ember's py-bt: inner (interpreted, called from compiled code), mid (compiled, marked),
    outer and the module, newest first, each with its source line."""
    tb = py_bt(tmp_path, with_ember=True)
    names = [ln.split(" in ")[-1] for ln in tb.splitlines() if ln.startswith('  File "')]
    assert names[:4] == ["inner", "mid", "outer", "<module>"], tb
    lines = tb.splitlines()
    mid = next(i for i, ln in enumerate(lines) if ln.endswith(" in mid"))
    assert lines[mid + 1].strip() == "return inner(n) + 1" and lines[mid + 2].strip() == "[compiled by Ember]", tb
    assert tb.count("[compiled by Ember]") == 1, tb


def test_stock_py_bt_misses_the_compiled_frame(tmp_path):
    """Without Ember's script, CPython's py-bt (which looks for _PyEval_EvalFrameDefault on the
    C stack) leaves the compiled frame out: what the script above adds."""
    tb = py_bt(tmp_path, with_ember=False)
    names = [ln.split(" in ")[-1] for ln in tb.splitlines() if ln.startswith('  File "')]
    assert "inner" in names and "outer" in names and "mid" not in names, tb
