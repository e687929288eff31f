"""Tests of the native-JIT peers' set-up (bench/ember_bench/debprefix.py, peersetup.py) and of
the harness's configuration selection, warm-up rule and CinderX proof.

No network: prefixes are built from real ``.deb`` files made here with ``dpkg-deb``, and the
"interpreters" are launchers that run this interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("scipy")   # the harness's statistics (not in make test-pgo's interpreter)
pytest.importorskip("pyperf")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from ember_bench import debprefix, peersetup  # noqa: E402
from ember_bench.cli import keep_configs, select_configs  # noqa: E402
from ember_bench.configs import Config  # noqa: E402
from ember_bench.results import _proof_activity  # noqa: E402
from ember_bench.runner import BenchRunner, Settings  # noqa: E402


# -- private prefixes -------------------------------------------------------------------------

def test_packages_for_names_both_pythons_and_glibc():
    pk = debprefix.packages_for("3.14")
    assert pk[0] == "python3.14" and "libpython3.14-dev" in pk and "libc6" in pk
    assert not any("3.13" in p for p in pk)


def test_apt_options_replace_every_host_location(tmp_path):
    opts = debprefix.apt_options(tmp_path)
    keys = {o.split("=", 1)[0] for o in opts if "=" in o}
    for k in ("Dir::Etc", "Dir::Etc::sourcelist", "Dir::Etc::sourceparts",
              "Dir::Etc::preferencesparts", "Dir::State::Lists", "Dir::State::status",
              "Dir::Cache"):
        assert k in keys, k
    for o in opts:
        if o.startswith("Dir::"):
            assert o.split("=", 1)[1].startswith(str(tmp_path)), o


def test_apt_state_names_only_sid(tmp_path):
    debprefix.write_apt_state(tmp_path)
    assert (tmp_path / "etc" / "sources.list").read_text() == ""
    src = (tmp_path / "etc" / "sources.list.d" / "sid.sources").read_text()
    assert "Suites: sid\n" in src and "Signed-By:" in src
    assert (tmp_path / "status").exists()


def _fake_python(path: Path, fail: bool = False) -> None:
    """A launcher that runs this interpreter, or one that fails (exit 3)."""
    body = "exit 3" if fail else f'exec {sys.executable} "$@"'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def _fake_prefix(root: Path, minor: str, **kw) -> Path:
    prefix = debprefix.prefix_dir(root, minor)
    _fake_python(debprefix.launcher_path(prefix, minor), **kw)
    (prefix / "usr" / "bin" / f"python{minor}").write_text("")
    return prefix


def test_detect_missing_prefix(tmp_path):
    st = debprefix.detect(tmp_path, "3.14")
    assert not st.ok and "not set up" in st.message and "make peers" in st.message


def test_detect_broken_launcher(tmp_path):
    _fake_prefix(tmp_path, "3.14", fail=True)
    st = debprefix.detect(tmp_path, "3.14")
    assert not st.ok and st.message.startswith("broken")


def test_detect_wrong_version(tmp_path):
    mine = "%d.%d" % sys.version_info[:2]
    other = "3.14" if mine != "3.14" else "3.13"
    _fake_prefix(tmp_path, other)
    st = debprefix.detect(tmp_path, other)
    assert not st.ok and f"expected {other}.x" in st.message


def test_detect_working_prefix(tmp_path):
    mine = "%d.%d" % sys.version_info[:2]
    _fake_prefix(tmp_path, mine)
    st = debprefix.detect(tmp_path, mine)
    assert st.ok, st.message
    assert st.version == sys.version.split()[0] and st.include


def _deb(tmp_path: Path, name: str, files: dict) -> Path:
    """A real .deb (dpkg-deb --build) holding ``files`` ({relative path: text})."""
    root = tmp_path / f"pkg-{name}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: t <t@t>\n"
        "Description: test\n")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    out = tmp_path / f"{name}_1.0_amd64.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(out)],
                   check=True, capture_output=True)
    return out


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_unpack_extracts_debs_and_writes_a_launcher(tmp_path):
    debs = [_deb(tmp_path, "python3.99", {"usr/bin/python3.99": "binary"}),
            _deb(tmp_path, "libfoo", {"usr/lib/x86_64-linux-gnu/libfoo.so.1": "lib"})]
    prefix = tmp_path / "prefix"
    launcher = debprefix.unpack(debs, prefix, "3.99")
    assert (prefix / "usr/bin/python3.99").read_text() == "binary"
    assert (prefix / "usr/lib/x86_64-linux-gnu/libfoo.so.1").exists()
    assert launcher == prefix / "usr/bin/ember-python3.99" and os.access(launcher, os.X_OK)
    text = launcher.read_text()
    assert "ld-linux-x86-64.so.2" in text and "--argv0" in text and "python3.99" in text
    assert debprefix.site_dir(prefix).is_dir()


def test_launcher_runs_the_interpreter_next_to_it(tmp_path):
    """The launcher's own logic, with the dynamic loader replaced by a script that records
    its arguments: it must pass the prefix's library directory and itself as argv[0]."""
    prefix = tmp_path / "p"
    launcher = prefix / "usr" / "bin" / "ember-python3.99"
    launcher.parent.mkdir(parents=True)
    launcher.write_text(debprefix.launcher_text("3.99"))
    launcher.chmod(0o755)
    ld = prefix / "usr" / "lib" / debprefix.MULTIARCH / "ld-linux-x86-64.so.2"
    ld.parent.mkdir(parents=True)
    ld.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    ld.chmod(0o755)
    out = subprocess.run([str(launcher), "-c", "pass"], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    lib = str(ld.parent.resolve())
    assert out[0] == "--library-path" and Path(out[1]).resolve() == Path(lib)
    assert out[2:4] == ["--argv0", str(launcher)]
    assert Path(out[4]).resolve() == (launcher.parent / "python3.99").resolve()
    assert out[5:] == ["-c", "pass"]


def test_setup_leaves_a_working_prefix_alone(tmp_path, monkeypatch):
    mine = "%d.%d" % sys.version_info[:2]
    _fake_prefix(tmp_path, mine)

    def no_network(*a, **k):
        raise AssertionError("a working prefix must not be fetched again")

    monkeypatch.setattr(debprefix, "apt_update", no_network)
    monkeypatch.setattr(debprefix, "apt_download", no_network)
    logged = []
    st = debprefix.setup(tmp_path, mine, log=logged.append)
    assert st.ok and "already set up" in logged[0]


def test_setup_reports_a_fetch_failure(tmp_path, monkeypatch):
    def offline(state):
        raise debprefix.PrefixError("apt-get update of Debian sid failed (exit 100): offline")

    monkeypatch.setattr(debprefix, "apt_update", offline)
    with pytest.raises(debprefix.PrefixError, match="offline"):
        debprefix.setup(tmp_path, "3.14", log=lambda m: None)


def test_peersetup_warns_and_fails_when_a_prefix_cannot_be_fetched(monkeypatch, capsys):
    def offline(root, minor, log=print):
        raise debprefix.PrefixError("apt-get update of Debian sid failed: offline")

    monkeypatch.setattr(debprefix, "setup", offline)
    assert peersetup.main(["3.14"]) == 1
    err = capsys.readouterr().err
    assert "WARNING" in err and "offline" in err and "cinderx" in err


def test_apt_download_names_missing_packages(tmp_path, monkeypatch):
    monkeypatch.setattr(debprefix, "_run", lambda *a, **k: "")
    (tmp_path / "python3.14_3.14.10-1_amd64.deb").write_text("")
    with pytest.raises(debprefix.PrefixError, match="libc6"):
        debprefix.apt_download(tmp_path / "state", ["python3.14", "libc6"], tmp_path)


# -- configurations ---------------------------------------------------------------------------

def _cfg(name, **kw):
    return Config(name, name, ["python"], **kw)


def test_keep_configs_adds_baselines_and_drops_duplicates():
    cfgs = [_cfg("nojit"), _cfg("ember-auto", calibrate_with="nojit"), _cfg("cpython-3.14"),
            _cfg("cpython-3.14-jit", own_baseline="cpython-3.14"), _cfg("cpython-3.14"),
            _cfg("cinderx", own_baseline="cpython-3.14"), _cfg("cpython-3.13-pgo"),
            _cfg("ember-pgo", own_baseline="cpython-3.13-pgo",
                 calibrate_with="cpython-3.13-pgo")]
    assert [c.name for c in keep_configs(cfgs, None)] == [
        "nojit", "ember-auto", "cpython-3.14", "cpython-3.14-jit", "cinderx",
        "cpython-3.13-pgo", "ember-pgo"]
    kept = keep_configs(cfgs, {"nojit", "cinderx", "ember-pgo"})
    assert [c.name for c in kept] == ["nojit", "cpython-3.14", "cinderx", "cpython-3.13-pgo",
                                      "ember-pgo"]


def _args(**kw):
    base = {"configs": None, "modes": "nojit,ember-auto", "peers": "cinderx", "no_peers": False}
    base.update(kw)
    return SimpleNamespace(**base)


def test_select_configs_by_name():
    modes, peers, wanted = select_configs(_args(configs="ember-all,cpython-3.14-jit,ember-pgo"))
    assert modes == ["nojit", "ember-all"]
    assert peers == ["cpython-3.14", "ember-pgo"]
    assert wanted == {"nojit", "ember-all", "cpython-3.14-jit", "ember-pgo"}
    with pytest.raises(ValueError, match="unknown configuration"):
        select_configs(_args(configs="ember-auto,bogus"))


def test_select_configs_by_modes_and_peers():
    assert select_configs(_args()) == (["nojit", "ember-auto"], ["cinderx"], None)
    assert select_configs(_args(no_peers=True))[1] == []
    with pytest.raises(ValueError, match="unknown peer"):
        select_configs(_args(peers="graal"))


def test_jit_warmup_is_time_based(tmp_path):
    slow = _cfg("cinderx", warmup_s=2.0)
    plain = _cfg("cpython-3.14")
    r = BenchRunner(tmp_path, [], [plain, slow], Settings(warmups=5), sys.executable)
    r.value_s[("richards", "cinderx")] = 0.06
    r.value_s[("richards", "cpython-3.14")] = 0.06
    assert r.warmups("richards", slow) == 34        # ceil(2.0 / 0.06)
    assert r.warmups("richards", plain) == 5
    r.value_s[("richards", "cinderx")] = 1.0
    assert r.warmups("richards", slow) == 5         # --warmups already covers 2 s
    assert r.warmups("nbody", slow) == 5            # not calibrated: --warmups


def test_cinderx_proof_counts_and_validity():
    good = {"ok": True, "proof": [{"jit_loaded": True, "compiled_count": 20,
                                   "compiled_bench": 15, "compiled_functions": ["__main__:f"]}]}
    ja = _proof_activity([good, good])
    assert ja.valid and ja.compiled_total == (20, 20) and ja.compiled_bench == (15, 15)
    unloaded = {"ok": True, "proof": [{"jit_loaded": False}]}
    ja = _proof_activity([good, unloaded])
    assert not ja.valid and "without the JIT loaded" in ja.why
    assert not _proof_activity([]).valid


def test_driver_reports_no_jit_when_cinderx_is_absent(tmp_path):
    """The driver's --jit cinderx proof in an interpreter without CinderX says so."""
    script = tmp_path / "s.py"
    script.write_text("print('ran')\n")
    proof = tmp_path / "proof.jsonl"
    out = subprocess.run([sys.executable, str(ROOT / "bench/ember_bench/driver.py"), "--proof",
                          str(proof), "--jit", "cinderx", str(script)],
                         capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert out.returncode == 0 and out.stdout == "ran\n", out.stderr
    rec = json.loads(proof.read_text())
    assert rec["jit"] == "cinderx" and rec["jit_loaded"] is False
    assert "compiled_functions" not in rec


def test_calibrated_value_counts_inner_loops():
    """unpack_sequence divides its values by 400 inner loops: a value lasts loops x 400 x the
    stored value (the warm-up of JIT configurations is counted in such values)."""
    import pyperf
    from ember_bench.runner import calibrated_value_s
    run = pyperf.Run([], warmups=[(1024, 1e-7), (8192, 5.4e-8)],
                     metadata={"name": "x", "inner_loops": 400, "calibrate_loops": 8192},
                     collect_metadata=False)
    assert calibrated_value_s(run) == pytest.approx(8192 * 400 * 5.4e-8)
    plain = pyperf.Run([], warmups=[(64, 1e-3)], metadata={"name": "y", "calibrate_loops": 64},
                       collect_metadata=False)
    assert calibrated_value_s(plain) == pytest.approx(0.064)
