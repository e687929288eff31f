"""Tests of Ember's lazy start-up (issue 15, item 5): switching Ember on (the ``.pth`` with
EMBER_AUTO, ``import ember``) maps no compiler and imports no module the interpreter has not
loaded already; the compiler (libember.so, with LLVM) is loaded by the first compile; a
compiler that cannot be loaded leaves the program running uncompiled with one log line.

Each case runs in a fresh subprocess (what is loaded is per process).
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from test_modes import clean_env

ember = pytest.importorskip("ember")

PROBE = textwrap.dedent("""
    import sys
    def mapped():
        # One read, no generator: a generator over the maps' lines would itself be resumed
        # more than EMBER_AUTO times and get compiled, loading the compiler it probes for.
        with open("/proc/self/maps") as fh:
            return "libember" in fh.read()
    before = set(sys.modules)
    at_start = mapped()
    import ember
    new = sorted(set(sys.modules) - before)
    after_import = mapped()
    def f(a, b):
        return a + b
    compiled = ember.force_compile(f)
    import json  # only now: importing json (and re) at EMBER_AUTO=100 compiles re's parser
    print(json.dumps({"at_start": at_start, "after_import": after_import, "new": new,
                      "compiled": compiled, "after_compile": mapped(), "f": f(2, 3)}))
""")


def _probe(**env):
    out = subprocess.run([sys.executable, "-c", PROBE], env=clean_env(**env),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


@pytest.mark.parametrize("env", [{}, {"EMBER_AUTO": "100"}], ids=["import", "pth"])
def test_compiler_is_loaded_by_the_first_compile(env):
    r, _ = _probe(**env)
    assert not r["at_start"] and not r["after_import"], r
    assert r["compiled"] and r["after_compile"] and r["f"] == 5, r


def test_import_pulls_in_no_heavy_module():
    r, _ = _probe()
    heavy = [m for m in r["new"] if m.split(".")[0] in ("glob", "re", "typing", "fnmatch",
                                                        "types", "collections", "enum")]
    assert heavy == [], r["new"]


def test_version_loads_the_compiler():
    out = subprocess.run([sys.executable, "-c", "import ember; print(ember.version)"],
                         env=clean_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "bitcode" in out.stdout and out.stdout.strip() != "None"


def test_unloadable_compiler_leaves_the_program_interpreted(tmp_path):
    """libember.so replaced by a file that is not a shared object: the first compile logs one
    line naming the problem and the program runs interpreted, with no exception."""
    import shutil
    pkg = tmp_path / "ember"
    shutil.copytree(__import__("os").path.dirname(ember.__file__), pkg,
                    ignore=shutil.ignore_patterns("__pycache__"))
    for lib in pkg.glob("libember*.so"):
        lib.write_text("not a shared object\n")
    prog = textwrap.dedent("""
        import ember
        def f(a, b):
            return a + b
        print(ember.force_compile(f), f(2, 3), ember.is_compiled(f), ember.version)
    """)
    log = tmp_path / "ember.log"
    out = subprocess.run([sys.executable, "-c", prog],
                         env=clean_env(PYTHONPATH=str(tmp_path), EMBER_LOG=str(log)),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "5", "False", "None"], out.stdout
    lines = [ln for ln in log.read_text().splitlines()
             if ln.startswith("Ember: the compiler could not be loaded")]
    assert len(lines) == 1 and "libember" in lines[0], log.read_text()
