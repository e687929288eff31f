"""LD_PRELOAD route (issue 17, item 3): `LD_PRELOAD=$(python -m ember --preload-path)` switches
Ember on with no code change, in the venv's python (through the .pth, with EMBER_AUTO=cost set
by the library's constructor) and in a C program that embeds CPython (through the interposed
Py_Initialize), configured by the same EMBER_* variables."""
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

PROBE = textwrap.dedent("""
    import sys
    active = 'ember' in sys.modules    # imported before the program's own code ran
    def f(x):
        return x * 2 + 1
    for i in range(50):
        f(i)
    import ember
    ember.wait_for_compiles()
    print(active, ember.stats()['policy'], ember.is_compiled(f))
""")


def test_preload_path_is_printed_and_exists():
    out = subprocess.run([sys.executable, "-m", "ember", "--preload-path"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ember.preload_path()
    assert os.path.exists(ember.preload_path())


def test_preload_switches_ember_on_in_python(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(PROBE)
    env = clean_env(LD_PRELOAD=ember.preload_path())
    plain = subprocess.run([sys.executable, str(script)], env=clean_env(), capture_output=True, text=True, timeout=60)
    assert plain.stdout.split() == ["False", "off", "False"], plain.stderr
    # The default policy: nothing compiled in a short run, but the cost policy is on.
    on = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert on.stdout.split() == ["True", "cost", "False"], on.stderr
    # Configured by the usual variables: EMBER_AUTO=2 compiles f after two calls.
    env2 = clean_env(LD_PRELOAD=ember.preload_path(), EMBER_AUTO=2, EMBER_LOG="-")
    on2 = subprocess.run([sys.executable, str(script)], env=env2, capture_output=True, text=True, timeout=60)
    assert on2.stdout.split() == ["True", "calls", "True"], on2.stderr
    assert "Finished compiling __main__:f " in on2.stderr
    # EMBER_DISABLE=1 wins.
    off = subprocess.run([sys.executable, str(script)], env=clean_env(LD_PRELOAD=ember.preload_path(), EMBER_DISABLE=1),
                         capture_output=True, text=True, timeout=60)
    assert off.stdout.split()[1:] == ["off", "False"], off.stderr


HOST = r"""
#include <Python.h>
int main(void)
{
    Py_Initialize();
    int rc = PyRun_SimpleString(PROGRAM);
    if (Py_FinalizeEx() < 0) return 120;
    return rc == 0 ? 0 : 1;
}
"""


def test_preload_switches_ember_on_in_an_embedding_host(tmp_path):
    """A C program linked with libpython (pyenv's 3.13.0, whose site-packages do not hold
    ember): the interposed Py_Initialize imports ember from the library's own site-packages."""
    cc = shutil.which("cc") or shutil.which("gcc")
    config = os.path.join(sysconfig.get_config_var("BINDIR") or "", "python3.13-config")
    if cc is None or not os.path.exists(config):
        pytest.skip("no C compiler or python3.13-config")
    flags = subprocess.run([config, "--embed", "--cflags", "--ldflags"], capture_output=True, text=True, check=True).stdout.split()
    program = PROBE.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    src = tmp_path / "host.c"
    src.write_text(HOST.replace("PROGRAM", f'"{program}"'))
    exe = tmp_path / "host"
    subprocess.run([cc, str(src), "-o", str(exe), *flags], check=True, capture_output=True, text=True)
    plain = subprocess.run([str(exe)], env=clean_env(), capture_output=True, text=True, timeout=60)
    # Without the library the host's interpreter has no ember to import.
    assert "No module named 'ember'" in plain.stderr, plain.stderr
    env = clean_env(LD_PRELOAD=ember.preload_path(), EMBER_AUTO=2, EMBER_LOG="-")
    on = subprocess.run([str(exe)], env=env, capture_output=True, text=True, timeout=60)
    assert on.returncode == 0, on.stderr
    assert on.stdout.split() == ["True", "calls", "True"], on.stderr
    assert "Finished compiling __main__:f " in on.stderr
