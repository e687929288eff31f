"""The persistent code cache across processes (docs/compilation.md, "The code cache").

Each test runs a program several times over one cache directory and compares its output
(results, exceptions, tracebacks) with the plain interpreter's: the first run compiles and
stores, later runs load ("Loaded from cache m:q") and must behave the same. Entries that are
corrupt, truncated or belong to another key are rejected and never run.
"""
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from ember._cli import _read_marker
from test_modes import clean_env

PROGRAM = textwrap.dedent("""
    import sys, traceback

    class Point:
        def __init__(self, x, y):
            self.x, self.y = x, y
        def norm1(self):
            return abs(self.x) + abs(self.y)

    LIMIT = 7

    def walk(n):
        total = 0
        for i in range(n):
            p = Point(i, -i)
            if p.norm1() % LIMIT == 0 and p is not None:
                total += p.norm1()
        return total

    def words(s):
        return sorted({w.lower(): len(w) for w in s.split() if w != "the"}.items())

    def fails(d, k):
        return d[k] + 1

    print(walk(500), words("The quick brown fox jumps over the lazy dog"))
    try:
        fails({"a": 1}, "b")
    except KeyError:
        print("".join(traceback.format_exc().splitlines(True)[1:]).replace(__file__, "PROG"))
    if "ember" in sys.modules:
        import ember
        s = ember.stats()
        print("STATS", s["cache_loaded"], s["cache_stored"], s["cache_rejected"], file=sys.stderr)
""")

MAIN_FUNCS = ["__main__:Point.__init__", "__main__:Point.norm1", "__main__:walk", "__main__:words", "__main__:fails"]


def _env(cache_dir, **extra):
    """Compile __main__'s functions at their first call, on the calling thread, with the cache
    in `cache_dir`."""
    jitlist = cache_dir.parent / "jitlist.txt"
    if not jitlist.parent.is_dir():
        jitlist = cache_dir.parent.parent / "jitlist.txt"
    jitlist.write_text("__main__:*\n")
    settings = dict(EMBER_AUTO="0", EMBER_LOG="-", EMBER_CACHE="1", EMBER_CACHE_DIR=str(cache_dir),
                    EMBER_JIT_LIST=str(jitlist))
    settings.update(extra)
    return clean_env(**settings)


def _run(tmp_path, env, ember=True):
    prog = tmp_path / "prog.py"
    prog.write_text(PROGRAM)
    cmd = [sys.executable] + (["-m", "ember"] if ember else []) + [str(prog)]
    return subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)


def _plain(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBER_")}
    env["EMBER_DISABLE"] = "1"
    p = _run(tmp_path, env, ember=False)
    assert p.returncode == 0, p.stderr
    return p.stdout


def _stats(stderr):
    line = [ln for ln in stderr.splitlines() if ln.startswith("STATS")][-1]
    return tuple(int(x) for x in line.split()[1:])


def test_a_second_process_loads_the_code_and_behaves_like_the_interpreter(tmp_path):
    cache = tmp_path / "cache"
    want = _plain(tmp_path)
    first = _run(tmp_path, _env(cache))
    assert first.returncode == 0, first.stderr
    assert first.stdout == want
    for name in MAIN_FUNCS:
        assert f"Finished compiling {name} " in first.stderr, first.stderr
    assert _stats(first.stderr)[1] >= len(MAIN_FUNCS)
    entries = sorted(p.name for p in cache.glob("*.o"))
    assert (cache / "hot").is_dir()
    assert entries and all(len(n) == 66 and n.endswith(".o") for n in entries), entries
    assert oct(cache.stat().st_mode & 0o777) == "0o700"

    second = _run(tmp_path, _env(cache))
    assert second.returncode == 0, second.stderr
    assert second.stdout == want, "same results and tracebacks from cached code"
    for name in MAIN_FUNCS:
        assert f"Loaded from cache {name} " in second.stderr, second.stderr
    assert "Finished compiling __main__:" not in second.stderr
    loaded, stored, rejected = _stats(second.stderr)
    assert loaded >= len(MAIN_FUNCS) and stored == 0 and rejected == 0


def test_corrupt_truncated_and_foreign_entries_are_rejected_and_replaced(tmp_path):
    cache = tmp_path / "cache"
    want = _plain(tmp_path)
    assert _run(tmp_path, _env(cache)).returncode == 0
    entries = sorted(cache.glob("*.o"))
    assert len(entries) >= 3
    # One entry with flipped bytes in its code, one cut short, and two swapped (each file then
    # holds another key's entry).
    data = bytearray(entries[0].read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 8):
        data[i] ^= 0xA5
    entries[0].write_bytes(bytes(data))
    entries[1].write_bytes(entries[1].read_bytes()[:100])
    a, b = entries[2].read_bytes(), entries[-1].read_bytes()
    entries[2].write_bytes(b)
    entries[-1].write_bytes(a)
    third = _run(tmp_path, _env(cache))
    assert third.returncode == 0, third.stderr
    assert third.stdout == want
    rejected = third.stderr.count("was truncated, corrupt or foreign: deleted, not run")
    assert rejected == 4, third.stderr
    assert _stats(third.stderr)[2] == 4
    # The rejected entries were written anew: the next run loads everything.
    fourth = _run(tmp_path, _env(cache))
    assert fourth.stdout == want
    assert _stats(fourth.stderr)[1:] == (0, 0)


def test_processes_writing_the_same_entries_at_once_leave_whole_entries(tmp_path):
    cache = tmp_path / "cache"
    want = _plain(tmp_path)
    (tmp_path / "prog.py").write_text(PROGRAM)
    cmd = [sys.executable, "-m", "ember", str(tmp_path / "prog.py")]
    procs = [subprocess.Popen(cmd, env=_env(cache), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    assert all(o[0] == want for o in outs)
    assert not [p.name for p in cache.iterdir() if p.name != "hot" and (not p.name.endswith(".o") or p.name.startswith("."))]
    after = _run(tmp_path, _env(cache))
    assert after.stdout == want
    assert _stats(after.stderr)[1:] == (0, 0), after.stderr


def test_switched_off_nothing_is_written_and_bad_settings_warn_once(tmp_path):
    cache = tmp_path / "cache"
    want = _plain(tmp_path)
    off = _run(tmp_path, _env(cache, EMBER_CACHE="0"))
    assert off.stdout == want and not cache.exists()
    assert "Finished compiling __main__:walk " in off.stderr
    bad = _run(tmp_path, _env(cache, EMBER_CACHE="maybe", EMBER_CACHE_SIZE="lots"))
    assert bad.returncode == 0 and bad.stdout == want
    warnings = [ln for ln in bad.stderr.splitlines() if ln.startswith("Ember: ignoring")]
    assert len(warnings) == 2, bad.stderr
    assert "EMBER_CACHE='maybe'" in warnings[0] and "EMBER_CACHE_SIZE='lots'" in warnings[1]
    assert "Traceback (most recent" not in bad.stderr


def test_an_unwritable_cache_directory_costs_nothing_but_the_cache(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be\n")
    want = _plain(tmp_path)
    p = _run(tmp_path, _env(blocker / "cache"))
    assert p.returncode == 0, p.stderr
    assert p.stdout == want
    assert "Finished compiling __main__:walk " in p.stderr
    assert "Traceback (most recent" not in p.stderr
    assert _stats(p.stderr)[1] == 0


def test_another_ember_build_never_loads_these_entries(tmp_path):
    """The key covers Ember's build: with libember.so's file changed (here its modification
    time, as a rebuild changes it), no entry of the old build is used."""
    import ember
    lib = ember._library_path()
    cache = tmp_path / "cache"
    want = _plain(tmp_path)
    assert _run(tmp_path, _env(cache)).returncode == 0
    st = os.stat(lib)
    try:
        os.utime(lib, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        other = _run(tmp_path, _env(cache))
    finally:
        os.utime(lib, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert other.returncode == 0, other.stderr
    assert other.stdout == want
    assert "Loaded from cache" not in other.stderr
    for name in MAIN_FUNCS:
        assert f"Finished compiling {name} " in other.stderr
    again = _run(tmp_path, _env(cache))
    assert "Loaded from cache __main__:walk " in again.stderr, "the first build's entries are still there"


HOT = textwrap.dedent("""
    import time
    def spin(n):
        t = 0
        for i in range(n):
            t += (i * 7) % 13
        return t
    deadline = time.perf_counter() + 1.0
    s = 0
    while time.perf_counter() < deadline:
        s += spin(20000)
    print(s > 0)
""")


def test_functions_compiled_before_leave_hot_markers_that_the_cost_policy_uses(tmp_path):
    """A function sent to the compiler leaves a hot marker; under the cost policy a later
    process loads it from the cache (its cost is a load's, EMBER_COST_CACHED_US)."""
    cache = tmp_path / "cache"
    (tmp_path / "hot.py").write_text(HOT)
    env = clean_env(EMBER_LOG="-", EMBER_CACHE="1", EMBER_CACHE_DIR=str(cache), EMBER_BACKGROUND="1")
    cmd = [sys.executable, "-m", "ember", str(tmp_path / "hot.py")]
    first = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and first.stdout == "True\n", first.stderr
    assert "Finished compiling __main__:spin " in first.stderr, first.stderr
    markers = list((cache / "hot").iterdir())
    assert markers and all(len(m.name) == 16 and m.stat().st_size == 0 for m in markers)
    second = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and second.stdout == "True\n"
    assert "Loaded from cache __main__:spin " in second.stderr, second.stderr


#: A function of about 425 code units (its compile cost is priced by size), run until the cost
#: policy has left a hot marker for it (argv[2] "marker") or has compiled it ("compiled"), or
#: for argv[1] seconds.
PROMISING = textwrap.dedent("""
    import sys, time, ember
    src = ("def big(n):\\n    t = 0\\n    for j in range(n):\\n"
           + "".join(f"        t += (j * {i}) % 7\\n" for i in range(40)) + "    return t\\n")
    exec(src)
    deadline = time.perf_counter() + float(sys.argv[1])
    while time.perf_counter() < deadline:
        big(500)
        if sys.argv[2] == "marker" and "hot marker" in (ember.why_not(big) or ""):
            break
        if sys.argv[2] == "compiled" and ember.is_compiled(big):
            break
        if sys.argv[2] == "submitted" and ember.stats()["queued"] > 0:
            break
    print(ember.is_compiled(big), "hot marker" in (ember.why_not(big) or ""), file=sys.stderr)
""")


def test_a_promising_function_leaves_a_marker_for_the_next_process_only(tmp_path):
    """With the code cache on, a function whose saving reached EMBER_PROMISING_PERCENT of its
    compile cost leaves a hot marker without being compiled in that process; the next process
    prices it as a cache load and compiles it at its first sample (then stores it)."""
    cache = tmp_path / "cache"
    (tmp_path / "p.py").write_text(PROMISING)
    # Synchronous compiles: the whole compile cost counts (no spare-CPU discount), so the
    # window between "promising" and "worth compiling" is wide whatever the machine's load.
    env = clean_env(EMBER_LOG="-", EMBER_CACHE="1", EMBER_CACHE_DIR=str(cache), EMBER_BACKGROUND="0")
    first = subprocess.run([sys.executable, "-m", "ember", "p.py", "10", "marker"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "False True" in first.stderr.splitlines(), first.stderr       # not compiled, marked
    assert "__main__:big" not in first.stderr, first.stderr
    assert len(list((cache / "hot").iterdir())) == 1
    second = subprocess.run([sys.executable, "-m", "ember", "p.py", "10", "compiled"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "Finished compiling __main__:big " in second.stderr, second.stderr
    third = subprocess.run([sys.executable, "-m", "ember", "p.py", "10", "compiled"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert "Loaded from cache __main__:big " in third.stderr, third.stderr


def test_a_marked_function_compiling_at_exit_is_finished_and_stored(tmp_path):
    """A background compile started because of an earlier process's hot marker is let finish
    when the interpreter exits (EMBER_WIRE_FLAG_FINISH_AT_EXIT) and stored, so the next process
    loads the function. Given up at exit, as other compiles are, a compile that outlasts its
    process would be started again by every later process and stored by none (nbody's
    `advance`, 175 ms to compile in runs of 160 ms)."""
    cache = tmp_path / "cache"
    (tmp_path / "p.py").write_text(PROMISING)
    sync = clean_env(EMBER_LOG="-", EMBER_CACHE="1", EMBER_CACHE_DIR=str(cache), EMBER_BACKGROUND="0")
    first = subprocess.run([sys.executable, "-m", "ember", "p.py", "10", "marker"], env=sync, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert "False True" in first.stderr.splitlines(), first.stderr
    # The second process exits as soon as `big` is queued for the compile thread: its compile
    # (about 425 code units) is still running then.
    bg = dict(sync, EMBER_BACKGROUND="1")
    second = subprocess.run([sys.executable, "-m", "ember", "p.py", "10", "submitted"], env=bg, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "Finished compiling __main__:big " in second.stderr, second.stderr
    assert list(cache.glob("*.o")), second.stderr
    third = subprocess.run([sys.executable, "-m", "ember", "p.py", "10", "compiled"], env=bg, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert "Loaded from cache __main__:big " in third.stderr, third.stderr


#: A hot loop function run for argv[1] seconds on ints or floats (argv[2]); prints, on stderr,
#: the cost policy's sample count when `spin` first ran compiled code (-1: never) and the stats.
WARM = textwrap.dedent("""
    import sys, time, ember
    def spin(n, x):
        t = x
        for i in range(n):
            t = t + x * 2 - x
        return t
    x = 1.5 if sys.argv[2] == "float" else 3
    first = -1
    deadline = time.perf_counter() + float(sys.argv[1])
    while time.perf_counter() < deadline:
        assert spin(300, x) == x * 301
        if first < 0 and ember.is_compiled(spin):
            first = ember.stats()["samples"]
    s = ember.stats()
    print("WARM", first, s["warm_start"], s["cache_missed"], s["cache_loaded"], s["preloads"], s["preloads_missed"],
          file=sys.stderr)
""")


def _warm_run(tmp_path, env, seconds, kind):
    proc = subprocess.run([sys.executable, "-m", "ember", "w.py", str(seconds), kind], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("WARM ")][0].split()
    return int(line[1]), line[2] == "True", int(line[3]), int(line[4]), proc.stderr


def _compiled_run(tmp_path):
    """A 2-second run of WARM on ints in a fresh cache under `tmp_path`, which compiles `spin`
    and leaves the program's marker: ``(env, first, marker)``, `env` the run's environment (the
    same cache for later runs), `first` the sample count when `spin` first ran compiled code,
    `marker` the program marker's path."""
    cache = tmp_path / "cache"
    (tmp_path / "w.py").write_text(WARM)
    env = clean_env(EMBER_LOG="-", EMBER_CACHE="1", EMBER_CACHE_DIR=str(cache))
    first, _, _, _, err = _warm_run(tmp_path, env, 2, "int")
    assert first > 0, err
    return env, first, next((cache / "programs").iterdir())


def test_a_warm_start_loads_the_code_an_earlier_run_compiled_at_once(tmp_path):
    """A run of a program that ran compiled code leaves a marker for the program; the next run
    of the same script loads the compiler at start-up (the log says "warm start") and loads
    its function from the cache at its first samples, much earlier than the first run could
    compile it. A run that compiles nothing leaves no program marker."""
    cache = tmp_path / "cache"
    (tmp_path / "w.py").write_text(WARM)
    env = clean_env(EMBER_LOG="-", EMBER_CACHE="1", EMBER_CACHE_DIR=str(cache))
    first, warm, _, _, err = _warm_run(tmp_path, env, 0.01, "int")
    assert first == -1 and not warm, err
    assert not (cache / "programs").exists(), "nothing compiled: no program marker"
    first, warm, _, _, err = _warm_run(tmp_path, env, 2, "int")
    assert first > 0 and not warm, err
    assert len(list((cache / "programs").iterdir())) == 1
    second, warm, missed, loaded, err = _warm_run(tmp_path, env, 1, "int")
    assert warm and "warm start: an earlier run of this program ran compiled code" in err, err
    assert "Loaded from cache __main__:spin " in err and loaded >= 1 and missed == 0, err
    assert 0 < second < first, (second, first, err)


def test_a_warm_start_is_taken_only_when_the_earlier_runs_compiled_code_pays_for_it(tmp_path):
    """The marker holds the earlier run's samples and its paying samples (in compiled code, or
    in functions handed on to be compiled for later runs). A warm start's early load of the
    compiler, and everything it then loads, costs the program about 7 ms, so a marker whose
    paying samples save less than EMBER_COST_WARM_START_US gives no warm start (logged), and a
    run that stays as short as that, compiling nothing, then loads no compiler at all; one with
    enough takes it. The 2-second run's marker says most of its samples were in compiled code."""
    env, first, marker = _compiled_run(tmp_path)
    counts = _read_marker(str(marker))
    samples, paying = counts["samples"], counts["paying"]
    assert samples > 200 and samples - first - 40 <= paying <= samples, (samples, paying, first)
    for paying, taken in ((0, False), (5, False), (6, True), (400, True)):
        marker.write_text(f"samples 400\npaying {paying}\n")
        _, warm, _, _, err = _warm_run(tmp_path, env, 0.01, "int")
        assert warm == taken, (paying, err)
        if taken:
            assert "Ember: warm start: an earlier run of this program ran compiled code (400 samples)" in err, err
        else:
            assert (f"Ember: no warm start: an earlier run of this program spent {paying} of its 400 samples in "
                    "compiled code or in functions compiled for later runs, fewer than the 6 that pay") in err, err
            assert "Ember: compiler loaded" not in err, err
        assert "Traceback" not in err, err
    marker.write_text("samples 400\n")   # an older Ember's marker: nothing known to pay
    _, warm, _, _, err = _warm_run(tmp_path, env, 0.01, "int")
    assert not warm and "no warm start" in err, err


def test_a_warm_start_preloads_the_functions_the_marker_names_at_their_third_call(tmp_path):
    """The program marker names the functions the earlier run compiled (``fn KEY IDENTITY``
    lines). A warm start puts a new function with a listed identity on the trampoline and asks
    for its cached code at its third call, before any sample reaches it: in a 30 ms run `spin`
    is loaded (one preload, no miss). Without the lines (an older marker) it is loaded only at
    a sample, as before, and with a line whose identity is another function's, not at all."""
    env, first, marker = _compiled_run(tmp_path)
    counts = _read_marker(str(marker))
    assert len(counts["fn"]) >= 1, marker.read_text()
    _, warm, missed, loaded, err = _warm_run(tmp_path, env, 0.03, "int")
    preloads, preloads_missed = [int(x) for x in [ln for ln in err.splitlines() if ln.startswith("WARM ")][0].split()[5:7]]
    assert warm and preloads == 1 and preloads_missed == 0 and loaded >= 1 and missed == 0, err
    assert "Loaded from cache __main__:spin " in err, err
    key, ident = counts["fn"][0]
    for lines in ("", "".join(f"fn {k:016x} {(i + 1) & 0xFFFFFFFFFFFFFFFF:016x}\n" for k, i in counts["fn"])):
        marker.write_text(f"samples {counts['samples']}\npaying {counts['paying']}\n{lines}")
        _, warm, _, _, err = _warm_run(tmp_path, env, 0.03, "int")
        preloads = int([ln for ln in err.splitlines() if ln.startswith("WARM ")][0].split()[5])
        assert warm and preloads == 0, (lines, err)


def test_a_bad_program_marker_is_ignored(tmp_path):
    """A program marker that is garbage, empty or unreadable gives no warm start and no error:
    the run behaves as a first run (and rewrites the marker when it runs compiled code)."""
    env, _, marker = _compiled_run(tmp_path)
    for content in (b"\xff\x00garbage", b"", b"samples -3\n", b"samples\n", b"samples 99999999999999999999999\n",
                    b"samples 400\npaying 401\n", b"samples 400\npaying -1\n", b"samples 400\npaying x\n",
                    b"samples 400\npaying 400\nfn 12\n", b"samples 400\npaying 400\nfn zz 12\n"):
        marker.write_bytes(content)
        _, warm, _, _, err = _warm_run(tmp_path, env, 0.01, "int")
        assert not warm and "Traceback" not in err and "warm start" not in err, (content, err)
    marker.unlink()
    marker.mkdir()   # not a file at all: unreadable, and not writable over
    _, warm, _, _, err = _warm_run(tmp_path, env, 2, "int")
    assert not warm and "Traceback" not in err, err


def test_a_warm_start_whose_profile_differs_compiles_as_a_first_run_would(tmp_path):
    """The cached code of `spin` was specialised for ints; the next run of the program feeds it
    floats, so its load-only requests find nothing (`cache_missed`), and it is compiled as in
    a first run (priced as a compile, not as a load), then stored; results stay right."""
    env, _, _ = _compiled_run(tmp_path)
    second, warm, missed, loaded, err = _warm_run(tmp_path, env, 2, "float")
    assert warm and missed >= 1 and loaded == 0, err
    assert "Finished compiling __main__:spin " in err and second > 0, err
    third, warm, missed, loaded, err = _warm_run(tmp_path, env, 1, "float")
    assert warm and loaded >= 1 and "Loaded from cache __main__:spin " in err, err


def test_without_a_warm_start_a_marked_function_is_still_asked_for_as_a_load(tmp_path):
    """A function with a hot marker is priced as a cache load in every run, so it is asked for
    as a load only, with or without a warm start: when the cached code's profile differs (ints
    cached, floats now), the request misses (`cache_missed`) and nothing is compiled at the
    price of a load; the function is compiled later, priced as a compile, as in a first run.
    Before, a run without a warm start asked for a compile at once, and each miss became a full
    compile."""
    env, _, marker = _compiled_run(tmp_path)
    marker.write_text("samples 400\npaying 0\n")   # no warm start
    second, warm, missed, loaded, err = _warm_run(tmp_path, env, 2, "float")
    assert not warm and "no warm start" in err, err
    assert missed >= 1 and loaded == 0, err
    assert "Finished compiling __main__:spin " in err and second > 0, err


def test_no_marker_without_the_cache(tmp_path):
    """EMBER_CACHE=0: the same run leaves nothing behind (and why_not mentions no marker)."""
    (tmp_path / "p.py").write_text(PROMISING)
    env = clean_env(EMBER_CACHE="0", EMBER_CACHE_DIR=str(tmp_path / "cache"), EMBER_BACKGROUND="0")
    proc = subprocess.run([sys.executable, "-m", "ember", "p.py", "0.5", "marker"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "False False" in proc.stderr.splitlines(), proc.stderr
    assert not (tmp_path / "cache").exists()


#: Quickened for floats, then fed ints: the float addition's guard fails at every call until
#: the function is withdrawn (EMBER_DEOPT_LIMIT failed guards).
DEOPTS = textwrap.dedent("""
    import sys, ember
    def f(xs):
        t = 0
        for x in xs:
            t = t + x
        return t
    for _ in range(3):
        f([1.5, 2.5, 3.5])
    assert ember.force_compile(f), ember.why_not(f)
    total = sum(f([1, 2, 3]) for _ in range(40))
    s = ember.stats()
    print(total, s["deopts"], s["recompiles"], file=sys.stderr)
""")


def test_failing_guards_are_remembered_across_processes(tmp_path):
    """A function withdrawn for failing guards writes those guards' code units into its hot
    marker; the next process compiles those instructions generic from the start (a different
    cache key), so its guards do not fail again, and the process after loads that code."""
    cache = tmp_path / "cache"
    (tmp_path / "d.py").write_text(DEOPTS)
    env = clean_env(EMBER_LOG="-", EMBER_CACHE="1", EMBER_CACHE_DIR=str(cache), EMBER_BACKGROUND="0")

    def run():
        proc = subprocess.run([sys.executable, "-m", "ember", "d.py"], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        total, deopts, recompiles = next(ln for ln in proc.stderr.splitlines() if ln.startswith("240 ")).split()
        return int(deopts), int(recompiles), proc.stderr

    deopts, recompiles, log = run()
    assert deopts > 0 and recompiles >= 1, log
    # Only f's marker carries guards; another may be there (a promising marker for the
    # generator expression when a loaded machine makes the process long enough).
    (marker,) = [m for m in (cache / "hot").iterdir() if m.read_text().startswith("despec")]
    units = marker.read_text().split()
    assert units[0] == "despec" and len(units) >= 2 and all(u.isdigit() for u in units[1:]), units
    deopts, recompiles, log = run()
    assert (deopts, recompiles) == (0, 0), log
    # Compiled generic at those units, or loaded: when the first process runs long enough to
    # compile f again after withdrawing it, that compile stores the same despecialised code
    # under the same key. Seen once in CI (PGO build): the first process took 3 samples instead
    # of 1, and the second loaded 2,601 bytes, the size of the despecialised compile.
    assert "Finished compiling __main__:f " in log or "Loaded from cache __main__:f " in log, log
    deopts, recompiles, log = run()
    assert (deopts, recompiles) == (0, 0), log
    assert "Loaded from cache __main__:f " in log, log


# A function of about 300 code units, so that a 100 ms run samples it (20 samples) without
# compiling it: its compile would cost about 38 ms of the program's time, 31 samples' worth;
# 9 samples pay for loading it and the compiler in a later run.
PRECOMPILE = textwrap.dedent("""
    import sys, time
    def work(n):
        t = 0
        for i in range(n):
    """ + "".join(f"        t += (i * {k}) % 13 + (i ^ {k}) - (i & {k % 7})\n" for k in range(1, 30)) + """
        return t
    t0 = time.perf_counter()
    r = 0
    while time.perf_counter() - t0 < float(sys.argv[1]):
        r += work(200)
    import ember
    s = ember.stats()
    print("RUN", work(50), ember.is_compiled(work), s["cache_loaded"], file=sys.stderr)
""")


def _wait_for_precompile(cache, timeout=120):
    """bench/run.py's wait for the detached compile process (ember_bench.runner): True once no
    file of compiles for later runs is left under `cache`."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from ember_bench.runner import wait_for_precompile
    return wait_for_precompile(cache, timeout)


def _run_precompiling(tmp_path, cache, *argv, **extra):
    """`python -m ember ARGV...` in `tmp_path` under the cost policy, with background compiles, the
    code cache in `cache` and compiling for the next run on (`extra` EMBER_* settings on top).
    Returns its stderr (Ember's log), after asserting that the process succeeded."""
    settings = dict(EMBER_LOG="-", EMBER_CACHE="1", EMBER_CACHE_DIR=str(cache), EMBER_BACKGROUND="1",
                    EMBER_PRECOMPILE="1")
    settings.update(extra)
    proc = subprocess.run([sys.executable, "-m", "ember", *map(str, argv)], env=clean_env(**settings), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def test_functions_a_run_left_interpreted_are_compiled_for_the_next_run(tmp_path):
    """A short run samples `work` but does not compile it (the compile would not pay in 100 ms).
    At exit its wire goes to a detached process, which compiles it into the cache and leaves
    its hot marker; the program's exit does not wait for that (its output is complete before).
    The next run loads `work` from the cache at its first samples and returns the same result.
    With EMBER_PRECOMPILE=0 nothing is left for later runs."""
    cache = tmp_path / "cache"
    (tmp_path / "p.py").write_text(PRECOMPILE)

    def run(seconds, cache_dir=cache, **extra):
        err = _run_precompiling(tmp_path, cache_dir, tmp_path / "p.py", seconds, **extra)
        return err.split("RUN ")[1].split()[:3], err

    (result, compiled, loaded), err = run(0.1)
    assert compiled == "False" and loaded == "0", err
    assert "to be compiled for later runs" in err, err
    assert _wait_for_precompile(cache)
    assert [p for p in cache.iterdir() if p.suffix == ".o"] and list((cache / "hot").iterdir()), list(cache.rglob("*"))
    (result2, compiled2, loaded2), err2 = run(0.1)
    assert "Loaded from cache __main__:work " in err2, err2
    assert result2 == result and compiled2 == "True" and int(loaded2) >= 1, err2

    other = tmp_path / "off"
    (result3, compiled3, _), err3 = run(0.1, other, EMBER_PRECOMPILE="0")
    assert result3 == result and compiled3 == "False", err3
    assert "later runs" not in err3 and not (other / "precompile").exists(), err3


# Three small functions that a 100 ms run samples a few times each (about 20 samples in all),
# none often enough to pay for loading it and the compiler in a later run on its own (9 samples
# each); together they pay for the later run's warm start (6 samples).
SPREAD = textwrap.dedent("""
    import sys, time
    def a(n):
        t = 0
        for i in range(n):
            t += (i * 3) % 7
        return t
    def b(n):
        t = 0
        for i in range(n):
            t += (i ^ 5) & 9
        return t
    def c(n):
        t = 0
        for i in range(n):
            t += (i + 11) // 3
        return t
    t0 = time.perf_counter()
    r = 0
    while time.perf_counter() - t0 < float(sys.argv[1]):
        r += a(300) + b(300) + c(300)
    import ember
    print("RUN", a(50), b(50), c(50), ember.stats()["cache_loaded"], file=sys.stderr)
""")


def test_functions_that_pay_together_are_compiled_for_the_next_run(tmp_path):
    """A short run whose time is spread over three small functions compiles none of them, and
    none takes the samples that would pay for loading it and the compiler in a later run on
    its own. Together they pay for the later run's warm start, so all three are handed to the
    compile process at exit, and the next run loads them from the cache at its first samples
    and computes the same values. (Priced one by one, such a program never had cached code to
    load: spectral_norm's warm-cache runs ran as its first runs.)"""
    cache = tmp_path / "cache"
    (tmp_path / "s.py").write_text(SPREAD)

    def run():
        err = _run_precompiling(tmp_path, cache, tmp_path / "s.py", 0.1)
        return err.split("RUN ")[1].split()[:4], err

    first, err = run()
    assert first[3] == "0" and "Finished compiling __main__:" not in err, err
    handed = re.search(r"Ember: (\d+) functions that stayed interpreted go to", err)
    assert handed and int(handed.group(1)) >= 2, err
    assert _wait_for_precompile(cache)
    second, err2 = run()
    loaded = re.findall(r"Loaded from cache __main__:(\w+) ", err2)
    assert len(set(loaded) & {"a", "b", "c"}) >= 2, err2
    assert second[:3] == first[:3], (first, second)


# Three short loop-free functions called from a module-level loop (never compiled): a 150 ms run
# samples them at their entries, about as often as SPREAD's functions, none often enough to be
# compiled.
LEAVES = textwrap.dedent("""
    import sys, time
    def a(i):
        return (i * 3) % 7 + (i ^ 5) - (i & 3) + (i | 9) % 5 + i // 7
    def b(i):
        return (i ^ 5) & 9 + (i * 7) % 11 - (i >> 1) + (i << 2) % 13
    def c(i):
        return (i + 11) // 3 + (i * 5) % 17 - (i & 6) + (i ^ 3) % 7
    t0 = time.perf_counter()
    r = i = 0
    while time.perf_counter() - t0 < float(sys.argv[1]):
        r += a(i) + b(i) + c(i)
        i += 1
    import ember, re
    n = sum(int(re.search(r"\\((\\d+) samples", ember.why_not(f)).group(1)) for f in (a, b, c))
    print("LEAVES", n, ember.stats()["compiled"], file=sys.stderr)
""")


def test_short_leaves_alone_are_not_compiled_for_the_next_run(tmp_path):
    """Functions without a loop whose samples would pay for the next run's warm start are not
    handed on by themselves: their cached code would run only under compiled callers, and
    interpreted callers keep running them inline, so a warm start for them costs more than it
    saves (richards' leaves, 4-6 % slower warm-cache runs). The test checks that the leaves did
    take the samples that would have handed them on if they counted."""
    cache = tmp_path / "cache"
    (tmp_path / "l.py").write_text(LEAVES)
    err = _run_precompiling(tmp_path, cache, tmp_path / "l.py", 0.15)
    samples, compiled = map(int, err.split("LEAVES ")[1].split()[:2])
    assert compiled == 0 and samples >= 6, err
    assert "to be compiled for later runs" not in err, err
    assert "are not compiled for later runs" in err, err
    _wait_for_precompile(cache)


# A generator. "mixed": drained by an interpreted loop, it takes about 40 % of the samples,
# and a module-level loop (never compiled) most of the rest; "gen": drained by sum() (from C, as
# nqueens' generator expressions are by tuple() and set()), nearly all of them.
GENS = textwrap.dedent("""
    import sys, time
    def gen(n):
        for i in range(n):
            x = 0
            for j in range(8):
                x += (i * j) % 7 + (i ^ j)
            yield x
    def drain(n):
        t = 0
        for v in gen(n):
            t += v
        return t
    mode, seconds = sys.argv[1], float(sys.argv[2])
    t0 = time.perf_counter()
    r = 0
    while time.perf_counter() - t0 < seconds:
        if mode == "mixed":
            for i in range(3000):
                r += (i * 3) % 7 + (i ^ 5) - (i & 3)
            r += drain(350)
        else:
            r += sum(gen(300))
    import ember
    print("GENS", ember.stats()["compiled"], file=sys.stderr)
""")


def test_generators_are_compiled_for_the_next_run_only_when_they_pay_for_the_hook(tmp_path):
    """Loading a generator's code installs the PEP 523 hook that resumes compiled generators,
    which slows every interpreted Python-to-Python call of the run. So a generator left
    interpreted is handed on for later runs only when its samples pay for that too: a generator
    that took 40 % of a run is not (jinja2's suite handed on its lexer's generators, and its
    warm-cache runs, with the hook, took 0.90x the plain wall time); a generator that took
    nearly the whole run is."""
    (tmp_path / "g.py").write_text(GENS)

    def run(mode, seconds):
        cache = tmp_path / f"cache-{mode}"
        err = _run_precompiling(tmp_path, cache, tmp_path / "g.py", mode, seconds)
        _wait_for_precompile(cache)
        return err, int(err.split("GENS ")[1].split()[0])

    mixed, compiled = run("mixed", 0.2)
    assert compiled == 0, mixed
    assert re.search(r"Ember: 1 generators are not compiled or preloaded for later runs", mixed), mixed
    # Left interpreted, it is handed on; compiled (its compile may pay within the run), it is
    # named for preloading: either way the next run gets it.
    alone, compiled = run("gen", 0.1)
    assert "generators are not compiled" not in alone, alone
    assert compiled == 1 or "to be compiled for later runs" in alone, alone


# A 1 s run, mostly in a module-level loop (never compiled), with `steady` and `even` called
# from it throughout: about a tenth of the samples each, enough together for the next run's warm
# start; their long bodies (80 terms in the loop) make a compile cost more than that. With
# "brief", `brief` runs about 20 ms, once, 0.3 s in, called from C (map), so that each of its
# samples weighs as a frame entered from C.
BRIEF = textwrap.dedent("""
    import sys, time
    def brief(n):
        t = 0
        for i in range(n):
            t += (i * 7) % 5
        return t
    def steady(n):
        t = 0
        for i in range(n):
            t += """ + " + ".join(f"(i * {k}) % 13" for k in range(1, 81)) + """
        return t
    def even(n):
        t = 0
        for i in range(n):
            t += """ + " + ".join(f"(i ^ {k}) % 11" for k in range(1, 81)) + """
        return t
    n, spent = 1000, 0.0
    while spent < 0.003:   # timed on a loop of brief's shape: brief itself runs only once
        n *= 2
        t0 = time.perf_counter()
        t = 0
        for i in range(n):
            t += (i * 7) % 5
        spent = time.perf_counter() - t0
    t0 = time.perf_counter()
    x = 0
    for until in (0.3, 1.0):
        while time.perf_counter() - t0 < until:
            for i in range(3000):
                x += (i * 3) % 7
            steady(12)
            even(12)
        if until == 0.3 and sys.argv[1] == "brief":
            list(map(brief, [int(n * 0.020 / spent)]))
    import ember, re
    def sampled(f):
        return int(re.search(r"\\((\\d+) samples", ember.why_not(f)).group(1))
    print("BRIEF", sampled(brief), file=sys.stderr)
""")


def test_functions_that_ran_only_briefly_are_not_compiled_for_the_next_run(tmp_path):
    """A later run loads a function's cached code at about its first sample or third call, and
    gains only if the function keeps running for a while after. So a function whose samples
    fall within a few per cent of the run is not handed on, however much they weigh: `brief`
    (20 ms, once, in a 1 s run) is not, where `steady` and `even`, sampled all through
    the run, are. A test suite's functions mostly run in one test each (jinja2's warm-cache
    runs loaded about 250 functions and took 0.91x the plain wall time, against 0.95x with the
    110 the cost policy compiled)."""
    (tmp_path / "b.py").write_text(BRIEF)
    cache = tmp_path / "cache"
    err = _run_precompiling(tmp_path, cache, tmp_path / "b.py", "brief")
    _wait_for_precompile(cache)
    assert int(err.split("BRIEF ")[1].split()[0]) >= 4, err   # sampled, so its wire was kept
    handed = re.search(r"Ember: \d+ functions that stayed interpreted go to .*: (.*)", err)
    assert handed, err
    names = handed.group(1).split(", ")
    assert "__main__:brief" not in names and {"__main__:steady", "__main__:even"} <= set(names), err


# A function forced compiled (a generator, or a plain function), then 0.1 s in a module-level
# loop, which is never compiled. The forced compile leaves the function's hot marker, named by
# the identity the program marker's `fn` lines give: printed as IDENT.
FORCED = textwrap.dedent("""
    import os, sys, time, ember
    def g(n):
        for i in range(n):
            yield i * 2
    def f(n):
        return sum(range(n))
    target = g if sys.argv[1] == "gen" else f
    hot = os.path.join(os.environ["EMBER_CACHE_DIR"], "hot")
    before = set(os.listdir(hot)) if os.path.isdir(hot) else set()
    ember.force_compile(target)
    print("IDENT", *(set(os.listdir(hot)) - before), file=sys.stderr)
    t0 = time.perf_counter()
    t = 0
    while time.perf_counter() - t0 < 0.1:
        for i in range(300):
            t += (i * 3) % 7
    print("FORCED", ember.is_compiled(target), file=sys.stderr)
""")


def test_a_generator_that_does_not_pay_for_the_hook_is_not_preloaded_by_the_next_run(tmp_path):
    """The program marker names the functions this run compiled, loaded or handed on, and a
    warm start preloads them at their third call. A generator among them would install the
    PEP 523 hook there for the whole run, so it is named only when the generators' samples pay
    for that: a generator compiled (here forced) that then never ran is left out, where a plain
    function compiled the same way is named."""
    (tmp_path / "f.py").write_text(FORCED)

    def run(kind):
        cache = tmp_path / f"cache-{kind}"
        err = _run_precompiling(tmp_path, cache, tmp_path / "f.py", kind)
        assert "FORCED True" in err, err
        ident = err.split("IDENT")[1].split("\n")[0].split()
        assert len(ident) == 1, err
        _wait_for_precompile(cache)
        markers = list((cache / "programs").iterdir())
        assert len(markers) == 1, markers
        named = [line.split()[2] for line in markers[0].read_text().splitlines() if line.startswith("fn ")]
        return err, ident[0], named

    err_plain, ident_plain, named_plain = run("plain")
    err_gen, ident_gen, named_gen = run("gen")
    assert "generators are not compiled" not in err_plain and ident_plain in named_plain, (err_plain, named_plain)
    assert re.search(r"Ember: 1 generators are not compiled or preloaded for later runs", err_gen), err_gen
    assert ident_gen not in named_gen, (err_gen, named_gen)


IMPORTED = textwrap.dedent("""
    import sys, time
    def work(n):
        t = 0
        for i in range(n):
    """ + "".join(f"        t += (i * {k}) % 13 + (i ^ {k}) - (i & {k % 7})\n" for k in range(1, 30)) + """
        return t
    def spin(seconds):
        t0 = time.perf_counter()
        r = 0
        while time.perf_counter() - t0 < seconds:
            r += work(200)
        return r
    if sys.argv[1] == "import":
        spin(float(sys.argv[2]))
""")


def test_samples_taken_while_importing_do_not_count_for_later_runs(tmp_path):
    """`work` takes about 20 samples, which pay for loading it in a later run, but when all of
    them fall while its module is being imported (a frame of importlib._bootstrap on the
    stack), a later run gains nothing from cached code: its imports run before the compiler
    could load it. So it is not handed to the compile process. Run after the import, the same
    function is."""
    (tmp_path / "imported.py").write_text(IMPORTED)
    (tmp_path / "main.py").write_text("import sys\nimport imported\n"
                                      "if sys.argv[1] == 'after':\n    imported.spin(float(sys.argv[2]))\n")

    def run(mode):
        cache = tmp_path / f"cache-{mode}"
        err = _run_precompiling(tmp_path, cache, tmp_path / "main.py", mode, 0.1)
        assert "Finished compiling imported:work" not in err, err
        _wait_for_precompile(cache)
        return err

    during = run("import")
    assert "to be compiled for later runs" not in during, during
    after = run("after")
    assert "to be compiled for later runs" in after, after


def test_a_bad_file_of_wires_compiles_nothing(tmp_path):
    """precompile_run on files it did not write (garbage, a wrong magic, a truncated record, a
    record whose wire is not HIR) compiles nothing, stores nothing and does not crash."""
    cache = tmp_path / "cache"
    script = textwrap.dedent("""
        import struct, sys, ember
        d = sys.argv[1]
        files = {
            "garbage": b"\\xff" * 40,
            "magic": b"EMBERPC0" + b"\\0" * 40,
            "truncated": b"EMBERPC1" + struct.pack("=I", 4) + b"ab",
            "not hir": b"EMBERPC1" + struct.pack("=I", 0) + struct.pack("=Q", 64) + bytes(range(64)),
            "huge length": b"EMBERPC1" + struct.pack("=I", 0) + struct.pack("=Q", 1 << 40),
        }
        for name, data in files.items():
            path = d + "/" + name.replace(" ", "_")
            with open(path, "wb") as fh:
                fh.write(data)
            print(name, *ember._shim.precompile_run(path))
    """)
    (tmp_path / "b.py").write_text(script)
    env = clean_env(EMBER_CACHE="1", EMBER_CACHE_DIR=str(cache))
    proc = subprocess.run([sys.executable, str(tmp_path / "b.py"), str(tmp_path)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["garbage 0 0", "magic 0 0", "truncated 0 0", "not hir 0 1",
                                        "huge length 0 0"], proc.stdout + proc.stderr
    assert not cache.exists() or not [p for p in cache.rglob("*.o")]
