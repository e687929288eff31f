"""Tests of Ember's CPython version check (python/ember/_compat.py): a build activates only in
the CPython patch version it was compiled for, or one listed as tested, and otherwise says so in
one line and leaves the program uncompiled.

The logic is tested without the shim. The end-to-end test runs the installed Ember in a CPython
of another patch version: under ``make test`` that is Debian's 3.13.x when ``make peers`` has set
it up (else skipped); under ``make test-pgo`` (Ember built for 3.13.x) it is pyenv's 3.13.0.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_compat():
    """python/ember/_compat.py as a module, without importing (or building) ember."""
    spec = importlib.util.spec_from_file_location("ember_compat",
                                                  ROOT / "python" / "ember" / "_compat.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


compat = _load_compat()


def test_same_version_activates():
    assert compat.refusal("3.13.0", "3.13.0", {}) is None
    assert compat.override_note("3.13.0", "3.13.0") is None


def test_other_patch_version_is_refused_in_one_line():
    msg = compat.refusal("3.13.0", "3.13.18", {})
    assert msg is not None and "\n" not in msg
    assert msg.startswith("ember: not activated")
    assert "3.13.0" in msg and "3.13.18" in msg and compat.ALLOW_VAR in msg


def test_release_candidates_are_other_versions():
    assert compat.refusal("3.13.0rc2", "3.13.0", {}) is not None


def test_tested_versions_activate(monkeypatch):
    monkeypatch.setattr(compat, "TESTED_ON", {"3.13.0": ("3.13.1",)})
    assert compat.refusal("3.13.0", "3.13.1", {}) is None
    assert compat.override_note("3.13.0", "3.13.1") is None
    assert compat.refusal("3.13.0", "3.13.2", {}) is not None


@pytest.mark.parametrize("value,refused", [("1", False), ("yes", False), ("TRUE", False),
                                           ("on", False), ("0", True), ("", True),
                                           ("no", True)])
def test_override_variable(value, refused):
    env = {compat.ALLOW_VAR: value}
    assert (compat.refusal("3.13.0", "3.13.18", env) is not None) == refused
    if not refused:
        note = compat.override_note("3.13.0", "3.13.18")
        assert note is not None and "untested" in note and "\n" not in note


def test_running_version_is_py_version():
    assert compat.running_version("3.13.18 (main, Oct 26 2026, 15:12:11) [GCC 16.2.0]") \
        == "3.13.18"
    assert compat.running_version("3.13.0rc2 (main) [Clang]") == "3.13.0rc2"


def _other_313_interpreter(built_for: str) -> str | None:
    """A CPython 3.13 of another patch version than ``built_for``: Debian's 3.13.x in the
    peers prefix, or pyenv's 3.13.0."""
    cands = [ROOT / ".peers" / "cpython-3.13" / "usr" / "bin" / "ember-python3.13"]
    pyenv = shutil.which("pyenv")
    if pyenv:
        out = subprocess.run([pyenv, "prefix", "3.13.0"], capture_output=True, text=True)
        if out.returncode == 0:
            cands.append(Path(out.stdout.strip()) / "bin" / "python3.13")
    for c in cands:
        if not c.exists():
            continue
        v = subprocess.run([str(c), "-c", "import sys; print(sys.version.split()[0])"],
                           capture_output=True, text=True)
        if v.returncode == 0 and v.stdout.strip() != built_for:
            return str(c)
    return None


def test_ember_stays_off_in_another_patch_version(tmp_path):
    """The installed Ember, put on the path of a CPython of another patch version: one line
    on stderr, the program's output unchanged, nothing compiled, no traceback (through the
    .pth activation and through the API)."""
    ember = pytest.importorskip("ember")
    other = _other_313_interpreter(ember.built_for)
    if other is None:
        pytest.skip("no CPython 3.13 of another patch version here (make test-pgo has one)")
    site = str(Path(ember.__file__).parent.parent)
    prog = tmp_path / "prog.py"
    prog.write_text(textwrap.dedent("""
        import ember
        def f(a, b):
            return a + b
        ember.auto(0)
        print(f(1, 2), f(3, 4), ember.force_compile(f), ember.is_compiled(f),
              ember.compiled_functions(), ember.inactive is not None)
    """))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": site,
           "EMBER_AUTO": "0"}
    out = subprocess.run([other, str(prog)], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "7", "False", "False", "[]", "True"]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ember: not activated"), out.stderr
    assert f"CPython {ember.built_for}" in lines[0]
