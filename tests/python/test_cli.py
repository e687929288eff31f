"""`python -m ember` runs code as `python` does (issue 17, item 4): for a script, `-m module`
and `-c code`, an uncaught exception prints the same traceback as plain `python` (no frames of
Ember's own, no extra runpy frames) and gives the same exit status, a SyntaxError reads the
same, SystemExit's code passes through, and KeyboardInterrupt ends the process by SIGINT."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from test_modes import clean_env

ember = pytest.importorskip("ember")

RAISES = """
def inner(x):
    return 1 / x

def outer():
    return inner(0)

print("before", flush=True)
outer()
"""


def both_ways(tmp_path, argv, env_extra=None):
    """(plain, ember) CompletedProcess for `python ARGV` and `python -m ember ARGV`; under
    Ember the program's own functions are compiled at their first call (a jit list), so the
    exception comes out of compiled code."""
    env = clean_env(**(env_extra or {}))
    plain = subprocess.run([sys.executable, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    listing = tmp_path / "jit-list.txt"
    listing.write_text("__main__:*\nprogmod:*\n")
    jit = subprocess.run([sys.executable, "-m", "ember", *argv], cwd=tmp_path,
                         env=clean_env(EMBER_JIT_LIST=listing, **(env_extra or {})), capture_output=True, text=True, timeout=60)
    return plain, jit


def same(plain, jit):
    assert (jit.returncode, jit.stdout, jit.stderr) == (plain.returncode, plain.stdout, plain.stderr), \
        f"python:\n{plain.stderr}\npython -m ember:\n{jit.stderr}"


def test_script_traceback_and_status_as_python(tmp_path):
    (tmp_path / "prog.py").write_text(RAISES)
    plain, jit = both_ways(tmp_path, [str(tmp_path / "prog.py")])
    assert plain.returncode == 1 and "ZeroDivisionError" in plain.stderr
    same(plain, jit)


def test_module_traceback_and_status_as_python(tmp_path):
    (tmp_path / "progmod.py").write_text(RAISES)
    plain, jit = both_ways(tmp_path, ["-m", "progmod"], {"PYTHONPATH": str(tmp_path)})
    assert "<frozen runpy>" in plain.stderr   # python -m shows its own runpy frames; so must we
    same(plain, jit)


def test_c_traceback_and_status_as_python(tmp_path):
    plain, jit = both_ways(tmp_path, ["-c", textwrap.dedent(RAISES)])
    same(plain, jit)


def test_syntax_error_reads_as_python(tmp_path):
    (tmp_path / "bad.py").write_text("x = 1\ndef f(:\n    pass\n")
    plain, jit = both_ways(tmp_path, [str(tmp_path / "bad.py")])
    assert "SyntaxError" in plain.stderr
    same(plain, jit)


def test_system_exit_code_passes_through(tmp_path):
    plain, jit = both_ways(tmp_path, ["-c", "import sys\nprint('bye')\nsys.exit(7)"])
    assert plain.returncode == 7
    same(plain, jit)


def test_keyboard_interrupt_ends_by_sigint(tmp_path):
    plain, jit = both_ways(tmp_path, ["-c", "def f():\n    raise KeyboardInterrupt\nf()"])
    assert plain.returncode == -2
    same(plain, jit)


def test_a_main_jit_list_names_only_the_users_functions(tmp_path):
    """`__main__:*` under `python -m ember` compiles the script's functions only: the command
    line's own code lives in `ember._cli`, so none of it is named `__main__:...`."""
    (tmp_path / "prog.py").write_text("def work(x):\n    return x + 1\nprint(work(1))\n")
    listing = tmp_path / "jit-list.txt"
    listing.write_text("__main__:*\n")
    proc = subprocess.run([sys.executable, "-m", "ember", str(tmp_path / "prog.py")], cwd=tmp_path,
                          env=clean_env(EMBER_JIT_LIST=listing, EMBER_LOG="-"), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "2\n", proc.stderr
    compiled = [ln.split()[2] for ln in proc.stderr.splitlines() if ln.startswith("Finished compiling")]
    assert compiled == ["__main__:work"], proc.stderr
