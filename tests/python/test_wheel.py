"""The self-contained wheel (issue 17, item 1): `make wheel` builds it with LLVM linked
statically into a stripped libember.so and has auditwheel tag it manylinux; installed on its
own, it compiles and runs a function in a process that cannot see any libLLVM (a private mount
namespace hides every libLLVM file of the machine)."""
from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBS_ALLOWED = {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2", "linux-vdso.so.1"}
#: What libember.so exports besides its ember_* C ABI: gdb's JIT interface, which it defines
#: itself when LLVM is linked statically (src/gdb_jit.rs).
GDB_JIT_NAMES = {"__jit_debug_descriptor", "__jit_debug_register_code", "llvm_orc_registerJITLoaderGDBWrapper"}

PROGRAM = textwrap.dedent("""
    import ember, sys
    def f(a, b):
        t = 0
        for i in range(a):
            t += i * b
        return t
    assert ember.force_compile(f), ember.why_not(f)
    print(ember.is_compiled(f), f(1000, 3))
    maps = open("/proc/self/maps").read()
    print("libLLVM" in maps, ember.__file__)
""")


@pytest.fixture(scope="module")
def wheel():
    for mod in ("setuptools_rust", "auditwheel"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} is not installed in {sys.executable} (make venv installs it)")
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        pytest.skip("the wheel is built for x86-64 Linux")
    env = dict(os.environ, VENV=str(Path(sys.executable).parent.parent))
    proc = subprocess.run(["make", "-C", str(ROOT), "wheel", f"VENV={env['VENV']}"], capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    wheels = glob.glob(str(ROOT / "dist" / "ember-*-cp313-cp313-manylinux_*_x86_64.whl"))
    assert len(wheels) == 1, wheels
    return Path(wheels[0])


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    target = tmp_path_factory.mktemp("wheel-only")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    return target


def test_auditwheel_accepts_it_as_manylinux(wheel):
    proc = subprocess.run([str(Path(sys.executable).parent / "auditwheel"), "show", str(wheel)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'consistent with the following platform tag: "manylinux_' in " ".join(proc.stdout.split()), proc.stdout


def test_libember_needs_only_libc_and_the_cxx_runtime(installed):
    (lib,) = installed.glob("ember/libember*.so")
    needed = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True, check=True).stdout
    names = {ln.split("[")[1].split("]")[0] for ln in needed.splitlines() if "(NEEDED)" in ln}
    assert names <= LIBS_ALLOWED, names
    ldd = subprocess.run(["ldd", str(lib)], capture_output=True, text=True, check=True).stdout
    assert "LLVM" not in ldd and "not found" not in ldd, ldd


def test_libember_is_stripped_and_exports_only_the_c_abi(installed):
    """No debug information (LLVM's and Rust's, 7.4 MB of it before); the shim keeps its own
    (py-bt through compiled code reads it, ember/_gdb.py)."""
    (lib,) = installed.glob("ember/libember*.so")
    sections = subprocess.run(["readelf", "-S", "-W", str(lib)], capture_output=True, text=True, check=True).stdout
    assert ".debug_" not in sections, sections
    syms = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True, check=True).stdout
    exported = {ln.split()[-1] for ln in syms.splitlines() if ln.strip()}
    assert {s for s in exported if not s.startswith("ember_")} == GDB_JIT_NAMES, exported
    assert lib.stat().st_size < 80 << 20, lib.stat().st_size


def test_it_carries_the_licences_of_what_it_links(installed):
    names = {p.name for p in installed.glob("ember/licenses/*.txt")}
    assert {"LLVM.txt", "zlib.txt", "zstd.txt"} <= names, names
    assert "Apache License" in (installed / "ember/licenses/LLVM.txt").read_text()
    assert list(installed.glob("ember-*.dist-info/licenses/LICENSE"))


def hidden_llvm_command():
    """A shell prefix that runs its command in a private mount namespace where every libLLVM
    file (and LLVM's own directory) is an empty mount; None where namespaces are not allowed."""
    files = sorted(set(glob.glob("/usr/lib/*/libLLVM*") + glob.glob("/usr/lib/libLLVM*") + glob.glob("/lib/*/libLLVM*")))
    dirs = sorted(glob.glob("/usr/lib/llvm-*"))
    hide = [f"mount -t tmpfs none {d}" for d in dirs] + [f"mount --bind /dev/null {f}" for f in files if os.path.isfile(f)]
    script = " && ".join(hide + ['exec "$@"']) if hide else 'exec "$@"'
    if shutil.which("unshare") is None:
        return None
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs none /mnt && echo ok"], capture_output=True,
                           text=True)
    if probe.stdout.strip() != "ok":
        return None
    return ["unshare", "-m", "sh", "-c", script, "sh"]


def test_it_compiles_where_no_libllvm_can_be_loaded(installed, tmp_path):
    prefix = hidden_llvm_command()
    if prefix is None:
        pytest.skip("no private mount namespace here (unshare -m needs CAP_SYS_ADMIN)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EMBER_", "PYTHON", "LD_"))}
    env["PYTHONPATH"] = str(installed)
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM)
    # The namespace really hides LLVM: a process there cannot load the machine's libLLVM.
    probe = subprocess.run(prefix + [sys.executable, "-c",
                           "import ctypes, glob\n"
                           "for p in glob.glob('/usr/lib/*/libLLVM*.so*'):\n"
                           "    try: ctypes.CDLL(p); print('loaded', p)\n"
                           "    except OSError: pass\n"], env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0 and "loaded" not in probe.stdout, probe.stdout + probe.stderr
    proc = subprocess.run(prefix + [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert first == f"True {sum(i * 3 for i in range(1000))}", proc.stdout
    assert second.split()[0] == "False" and second.split()[1].startswith(str(installed)), proc.stdout
