"""perf through compiled code (issue 17, item 2): EMBER_PERF=jitdump writes perf's jitdump
file, so `perf record -k 1` then `perf inject --jit` gives `perf report` the compiled
functions' names; EMBER_PERF=map writes /tmp/perf-PID.map. Skips with the reason where perf
is missing or the kernel does not let it record."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from test_modes import clean_env

ember = pytest.importorskip("ember")

HOT = textwrap.dedent("""
    import os, time, ember
    def spin(n):
        t = 0
        for i in range(n):
            t += i * 3 % 7
        return t
    assert ember.force_compile(spin), ember.why_not(spin)
    end = time.monotonic() + 0.6
    while time.monotonic() < end:
        spin(20000)
    print(os.getpid())
""")


def perf_record(tmp_path, env):
    if shutil.which("perf") is None:
        pytest.skip("perf is not installed")
    script = tmp_path / "hot.py"
    script.write_text(HOT)
    data = tmp_path / "perf.data"
    rec = subprocess.run(["perf", "record", "-k", "1", "-e", "cpu-clock", "-F", "1000", "-o", str(data), "--",
                          sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    if rec.returncode != 0 or not data.exists():
        pytest.skip(f"perf cannot record here: {rec.stderr.strip()[-300:]}")
    return data, int(rec.stdout.split()[-1])


def report(data):
    out = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--sort", "sym"], capture_output=True,
                         text=True, timeout=120)
    return out.stdout


def test_jitdump_names_compiled_functions_in_perf_report(tmp_path):
    data, pid = perf_record(tmp_path, clean_env(EMBER_PERF="jitdump"))
    dump = f"/tmp/jit-{pid}.dump"
    try:
        assert os.path.getsize(dump) > 40, "header and at least one code record"
        jitted = tmp_path / "perf.jit.data"
        inj = subprocess.run(["perf", "inject", "--jit", "-i", str(data), "-o", str(jitted)], capture_output=True,
                             text=True, timeout=120)
        assert inj.returncode == 0, inj.stderr
        text = report(jitted)
        assert "ember:__main__:spin" in text, text[:3000]
    finally:
        for path in [dump, *glob.glob(f"/tmp/jitted-{pid}-*.so")]:
            if os.path.exists(path):
                os.remove(path)


def test_perf_map_names_compiled_functions(tmp_path):
    data, pid = perf_record(tmp_path, clean_env(EMBER_PERF="map"))
    try:
        with open(f"/tmp/perf-{pid}.map") as fh:
            assert any(line.rstrip().endswith(" ember:__main__:spin") for line in fh)
        assert "ember:__main__:spin" in report(data)
    finally:
        if os.path.exists(f"/tmp/perf-{pid}.map"):
            os.remove(f"/tmp/perf-{pid}.map")
