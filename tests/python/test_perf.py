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


def perf_record(tmp_path, env, program=HOT, options=("-k", "1")):
    """`perf record` (cpu-clock, 1 kHz, plus `options`) of `program`, which prints its pid
    last; (perf.data path, pid). Skips where perf is missing or may not record."""
    if shutil.which("perf") is None:
        pytest.skip("perf is not installed")
    script = tmp_path / "prog.py"
    script.write_text(program)
    data = tmp_path / "perf.data"
    rec = subprocess.run(["perf", "record", *options, "-e", "cpu-clock", "-F", "1000", "-o", str(data), "--",
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


NESTED_HOT = textwrap.dedent("""
    import os, time, ember
    def step(i):
        return i * 3 % 7
    def spin(n):
        t = 0
        for i in range(n):
            t += step(i)          # a compiled function calling a compiled function
        return t
    for f in (step, spin):
        assert ember.force_compile(f), ember.why_not(f)
    end = time.monotonic() + 0.8
    while time.monotonic() < end:
        spin(20000)
    print(os.getpid())
""")


def callchains(tmp_path, env):
    """`perf record -g` (frame-pointer call graphs) of NESTED_HOT; `perf script`'s samples as
    lists of symbol names, innermost first."""
    data, pid = perf_record(tmp_path, env, NESTED_HOT, ("-g",))
    try:
        out = subprocess.run(["perf", "script", "-i", str(data), "-F", "ip,sym"], capture_output=True, text=True,
                             timeout=300).stdout
    finally:
        if os.path.exists(f"/tmp/perf-{pid}.map"):
            os.remove(f"/tmp/perf-{pid}.map")
    samples, cur = [], []
    for line in out.splitlines():
        if not line.strip():
            if cur:
                samples.append(cur)
            cur = []
        else:
            parts = line.split(None, 1)
            cur.append(parts[1].strip() if len(parts) > 1 else "[unknown]")
    if cur:
        samples.append(cur)
    return samples


def test_perf_call_graphs_walk_through_compiled_code(tmp_path):
    """With EMBER_PERF on, compiled code keeps frame pointers: samples in `step` unwind to
    `spin` (compiled calling compiled) and on to the shim's entry and the interpreter."""
    samples = callchains(tmp_path, clean_env(EMBER_PERF="map"))
    in_step = [s for s in samples if s and s[0] == "ember:__main__:step"]
    assert in_step, f"{len(samples)} samples, none in step"
    walked = [s for s in in_step if "ember:__main__:spin" in s[1:]]
    assert len(walked) >= len(in_step) // 2, (len(walked), len(in_step), in_step[:5])
    # ... past spin, into the shim and the interpreter that called it.
    assert any(any(name.startswith(("ember_vectorcall", "_PyEval_EvalFrameDefault")) for name in s) for s in walked), \
        walked[:5]
