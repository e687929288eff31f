"""gdb through compiled code (issue 17, item 2): compiled functions are registered with gdb's
JIT interface, so at a breakpoint in a C function that compiled code calls, `bt` names the
compiled function and walks on through the shim and the interpreter to the process's start."""
from __future__ import annotations

import shutil
import subprocess
import sys
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


def run_gdb(tmp_path, **env):
    if shutil.which("gdb") is None:
        pytest.skip("gdb is not installed")
    script = tmp_path / "prog.py"
    script.write_text(SCRIPT)
    # The breakpoint ignores the 20 interpreted calls, so it stops in the compiled one.
    cmd = ["gdb", "-nx", "-batch", "-ex", "set breakpoint pending on", "-ex", "set pagination off",
           "-ex", "break math_factorial", "-ex", "ignore 1 20", "-ex", "run", "-ex", "bt",
           "--args", sys.executable, str(script)]
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
