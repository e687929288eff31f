"""Ember: a JIT compiler for CPython 3.13 (Rust + LLVM).

Importing this module loads the shim only (the compiler, libember.so with LLVM, is loaded by
the first compile); nothing is compiled until a mode is chosen: `auto(n)` (compile a function
after n calls, 0 = at its first call), a jit list (`jit_list([...])`, `module:qualname`
patterns with `*` wildcards), or `force_compile(f)`. `auto()` without a threshold compiles where
it pays: a sampler measures where the interpreter spends its time and a function is compiled
once that time outweighs its estimated compile cost (docs/compilation.md). Hot functions are compiled on a compile
thread while they keep running in the interpreter; `wait_for_compiles()` waits for it.
Settings are environment variables read once at import (``ember.settings`` holds the checked
values): EMBER_AUTO, EMBER_JIT_LIST, EMBER_DISABLE, EMBER_LOG, ... Each with its accepted values and
default: docs/configuration.md (generated from ``ember._config.SETTINGS``). Introspection:
``why_not(f)``, ``dump(f, "hir" | "llvm" | "asm")``, ``stats()``.
"""
import gc
import os
import sys

from . import _compat, _config, _shim

# The function type without importing `types` (start-up: Ember's import pulls in no module
# the interpreter has not loaded already).
_FunctionType = type(lambda: None)

__all__ = ["auto", "force_compile", "is_compiled", "compiled_size", "compiled_functions", "disable", "dump",
           "jit_list", "preload_path", "settings", "stats", "start_from_env", "version", "wait_for_compiles", "why_not"]

_here = os.path.dirname(os.path.abspath(__file__))


def _package_library(prefix):
    """Path of the shared object whose name starts with `prefix` inside the package (its
    name carries the platform tag), or None."""
    found = sorted(n for n in os.listdir(_here) if n.startswith(prefix) and n.endswith(".so"))
    return os.path.join(_here, found[0]) if found else None


def _library_path():
    """Path of libember.so inside the package. Raises ImportError when it is missing."""
    path = _package_library("libember")
    if path is None:
        raise ImportError(f"libember.so not found in {_here}")
    return path


def preload_path():
    """Path of the library that switches Ember on from outside:
    ``LD_PRELOAD=$(python -m ember --preload-path) python app.py`` (or an embedding program
    linked with libpython), configured by the usual EMBER_* settings; see
    docs/user-guide.md."""
    path = _package_library("_preload")
    if path is None:
        raise FileNotFoundError(f"Ember's preload library is not in {_here}")
    return path


def gdb_script():
    """Path of Ember's gdb extension (``py-bt`` through compiled code), to ``source`` in gdb
    after CPython's own python-gdb.py: ``gdb -ex "source $(python -m ember --gdb-script)"``;
    see docs/user-guide.md."""
    return os.path.join(_here, "_gdb.py")


def _cache_settings():
    """``(directory or None, size cap in bytes, host identity)`` of the persistent code cache
    (docs/compilation.md): EMBER_CACHE=0 switches it off; EMBER_CACHE_DIR is its directory
    (default ``$XDG_CACHE_HOME/ember``, else ``~/.cache/ember``; created by the first write);
    EMBER_CACHE_SIZE its cap in MiB (default 256). The identity names this CPython build and
    Ember's two shared objects, so that code cached by another build is never looked up."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    where = settings["EMBER_CACHE_DIR"] or os.path.join(base, "ember")
    parts = [sys.version, sys.abiflags]
    for path in (_shim.__file__, _library_path()):
        st = os.stat(path)
        parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")
    return (where if settings["EMBER_CACHE"] else None, settings["EMBER_CACHE_SIZE"] << 20, "|".join(parts))


#: The checked value of every ``EMBER_*`` setting (``ember._config.SETTINGS``), read once at
#: import; a bad value was reported in one line on stderr and replaced by its default.
settings, _warnings = _config.read(os.environ)
for _w in _warnings:
    print(_w, file=sys.stderr)


#: The CPython version this build is for (``PY_VERSION`` of the headers the shim was compiled with).
built_for = _shim.BUILT_FOR
#: Why Ember stayed off in this process (a CPython patch version this build was not tested on),
#: or None when it is active. See ember._compat.
inactive = _compat.refusal(built_for, _compat.running_version(sys.version), os.environ)
if inactive is None:
    _note = _compat.override_note(built_for, _compat.running_version(sys.version))
    if _note:
        print(_note, file=sys.stderr)
    if not settings["EMBER_LOG"] and (settings["EMBER_DUMP_HIR"] or settings["EMBER_LOG_PASSES"]):
        settings["EMBER_LOG"] = "-"   # what they ask for goes to the log: stderr when none is given
    if settings["EMBER_LOG"]:
        try:
            _shim.set_log(settings["EMBER_LOG"])
        except OSError as e:
            print(f"Ember: ignoring EMBER_LOG={settings['EMBER_LOG']!r} ({e.strerror or e}); no log",
                  file=sys.stderr)
    # EMBER_PERF_MAP=1 is EMBER_PERF=map; the shim numbers the modes (PERF_MODES).
    _perf = "map" if settings["EMBER_PERF"] == "off" and settings["EMBER_PERF_MAP"] else settings["EMBER_PERF"]
    _shim.set_options(settings["EMBER_GENERATORS"], settings["EMBER_MAX_CODE_UNITS"], settings["EMBER_LOG_PASSES"],
                      _shim.PERF_MODES.index(_perf), settings["EMBER_DUMP_HIR"], settings["EMBER_NO_INLINE"],
                      settings["EMBER_CALL_POLICY"], settings["EMBER_DUMP_IR"], settings["EMBER_DEBUGGER"])
    # Remembers libember.so; LLVM is loaded by the first compile, not here.
    _shim.load(_library_path(), settings["EMBER_OPT"])
    _shim.set_background(int(settings["EMBER_BACKGROUND"]))
    _shim.set_osr(settings["EMBER_OSR"])
    _shim.set_speculate(int(settings["EMBER_SPECULATE"]))
    _cache = _cache_settings()
    _shim.set_cache(*_cache)
    _shim.set_precompile(int(settings["EMBER_PRECOMPILE"]))
    _shim.install_monitoring_hooks()
else:
    print(inactive, file=sys.stderr)


def __getattr__(name):
    """``ember.version``: the compiler's version string (loads the compiler, which a plain
    ``import ember`` does not); None when Ember is inactive or the compiler cannot load."""
    if name == "version":
        return None if inactive is not None else _shim.backend_version()
    raise AttributeError(f"module 'ember' has no attribute {name!r}")


def _watch_existing():
    for o in gc.get_objects():
        if isinstance(o, _FunctionType):
            _shim.watch(o)


def auto(n=None):
    """Switch autojit on. Without `n` (the default policy, also `python -m ember`'s), compile
    where it pays: a sampler thread takes one sample of the running Python frame per
    5 ms, and a function is compiled once the interpreted time its samples add up to,
    times the share compiled code saves, reaches its estimated compile cost (so short runs
    compile little or nothing, and huge functions only when very hot). Functions keep the
    interpreter's own (specialised, inlined) calls until their code is installed. With `n`,
    compile every Python function after `n` calls (0: at its first call), counted through
    Ember's call trampoline: deterministic, for tests and experiments. Functions that already
    exist are included."""
    if inactive is not None:
        return
    if n is None:
        global _cost_hooks
        _shim.set_auto_cost()
        if not _cost_hooks:
            _cost_hooks = True
            import atexit
            atexit.register(_shim.stop_sampler)
            os.register_at_fork(before=_shim.before_fork, after_in_parent=_shim.sampler_after_fork_parent,
                                after_in_child=_shim.sampler_after_fork)
        return
    _shim.set_auto(int(n))
    _watch_existing()


_cost_hooks = False


def jit_list(patterns):
    """Restrict compilation to functions whose `module:qualname` matches one of `patterns`
    (fnmatch wildcards); listed functions compile at their first call unless auto() set a
    threshold. `None` removes the restriction."""
    if inactive is not None:
        return
    _shim.set_jit_list(None if patterns is None else [str(p) for p in patterns])
    if patterns is not None and _shim.stats()["policy"] == "off":
        _shim.set_auto(0)
    _watch_existing()


_MethodType = type(_compat.refusal.__get__(0))


def _function(f, api):
    """The Python function `f` names: `f` itself, or a bound method's ``__func__``. Raises
    TypeError (naming `api`) for anything else, as every function-taking call of this module
    does."""
    if isinstance(f, _MethodType):
        f = f.__func__
    if not isinstance(f, _FunctionType):
        raise TypeError(f"{api}() needs a Python function or bound method, not {type(f).__name__}")
    return f


def force_compile(f):
    """Compile function `f` (or a bound method's function) now. Returns True if its calls now
    run compiled code, False if Ember refused it (`why_not(f)` and the log say why). Raises
    TypeError for anything else."""
    f = _function(f, "force_compile")
    if inactive is not None:
        return False
    return _shim.force_compile(f)


def is_compiled(f):
    """True if calls of function `f` (or a bound method's function) run Ember-compiled code.
    Raises TypeError for anything else."""
    return _shim.is_compiled(_function(f, "is_compiled"))


def compiled_size(f):
    """Native code size of function `f` (or a bound method's function) in bytes, 0 if not
    compiled. Raises TypeError for anything else."""
    return _shim.compiled_size(_function(f, "compiled_size"))


def why_not(f):
    """None when calls of function `f` (or a bound method's function) run compiled code; else
    why not, in words: the refusal the log's ``Not compiling`` line gave (an unsupported
    construct, too large, ...), or what it waits for (not hot yet under the cost policy, n of m
    calls, queued for the compile thread, not on the jit list, Ember off). Raises TypeError for
    anything else."""
    f = _function(f, "why_not")
    if inactive is not None:
        return inactive
    return _shim.why_not(f)


def dump(f, what="hir"):
    """The text of compiling function `f` (or a bound method's function) now, with its current
    profile, without installing anything: ``"hir"`` the typed SSA HIR after Ember's passes (the
    text form of docs/typed-hir.md), ``"llvm"`` the LLVM IR after every pass with the runtime
    helpers inlined, ``"asm"`` the machine code as assembly (the same pipeline and code
    generator as installed code; addresses differ). Loads the compiler if needed. Raises
    TypeError for a non-function, ValueError for another `what`, RuntimeError with the
    compiler's message when `f` cannot be compiled (e.g. a construct Ember refuses)."""
    f = _function(f, "dump")
    if what not in _shim.DUMP_KINDS:
        raise ValueError(f"dump() what must be one of {', '.join(map(repr, _shim.DUMP_KINDS))}, not {what!r}")
    if inactive is not None:
        raise RuntimeError(inactive)
    return _shim.dump(f, _shim.DUMP_KINDS.index(what))


def compiled_functions():
    """List of `module:qualname` of every function compiled so far, in order."""
    return _shim.compiled_functions()


def wait_for_compiles(timeout=None):
    """Wait until the compile thread has no queued or running compile (at most `timeout`
    seconds; None: no limit) and install what it finished, so that the functions it compiled
    run compiled from their next call. Returns True when nothing is pending. The GIL is
    released while waiting. Without background compilation it returns True at once."""
    if inactive is not None:
        return True
    if timeout is not None:
        return _shim.wait_for_compiles(float(timeout))
    while not _shim.wait_for_compiles(60.0):
        pass
    return True


def disable():
    """Stop compiling; calls of already compiled functions run in the interpreter again."""
    _shim.disable()


def stats():
    """A dict of Ember's state and counters in this process (counts since start-up):

    - ``policy``: ``"cost"`` (``auto()``), ``"calls"`` (``auto(n)`` or a jit list) or ``"off"``;
      ``auto``: the call threshold n (-1: none); ``enabled``: False after ``disable()``;
      ``inactive``: why Ember stayed off in this interpreter (None when active);
    - ``backend``: the compiler library, ``"unloaded"`` (nothing compiled yet), ``"loading"``,
      ``"ready"`` or ``"failed"``;
    - ``compiled`` / ``refused``: functions compiled and refused; ``compile_ms``: their total
      compile time in ms (on whichever thread compiled them);
    - ``samples``: the cost policy's samples (one per 5 ms of running Python code);
      ``samples_compiled``: those of the functions compiled or loaded (before and after, weighted
      as the cost model weighs them); ``samples_handed``: those of the functions handed at exit
      to be compiled for later runs (the two are what a warm start of the next run is priced
      on); ``samples_at_return``: samples charged to an interpreted callee of compiled code
      where it returned (docs/compilation.md, "A sample falls on the next check");
    - ``background``: compiles go to the compile thread; ``queued``: compiles handed to it;
      ``bg_queued`` / ``bg_max_queued``: its queue length now and at most; ``bg_dropped``:
      compiles dropped from a full queue (under ``EMBER_AUTO=N`` submitted again as finished
      compiles free places, ``bg_retrying`` of them waiting now; under the cost policy at a
      later sample); ``bg_cancelled``: compiles withdrawn because their code object died;
    - ``cache_loaded`` / ``cache_stored`` / ``cache_rejected``: code-cache entries used, written,
      and found truncated, corrupt or foreign (deleted, never run); ``warm_start``: an earlier
      run of this program (``python -m ember``'s script or module) spent enough samples in
      compiled code (or in functions compiled for later runs) to pay for loading the compiler
      at start-up, so it loaded then; ``cache_missed``: load-only requests (those for functions
      with hot markers, which an earlier process compiled) that found no cached code (the
      profile was not yet the cached code's); ``preloads`` / ``preloads_missed``: on a warm
      start, functions the program marker names asked for at their third call, and those of them
      that found no cached code yet (docs/compilation.md, "Preloading"); ``deferred_for_exit``:
      times a compile was held back because the program may end before it does
      (docs/compilation.md, "Exit waits for a compile in code generation");
    - ``osr``: interpreted frames moved into compiled code at a loop header; ``osr_arms``: code
      objects whose loops were armed for that;
    - ``deopts``: failed guards of typed code (each resumes the interpreter); ``recompiles``:
      compiled code withdrawn after failing guards; ``handoffs``: compiled frames handed to the
      interpreter at an eval-breaker check (tracing or monitoring switched on);
    - ``gen_resumes``: generator resumptions that entered compiled code; ``gen_hook``: the PEP
      523 hook that resumes compiled generator frames is installed now; ``gen_collected``:
      ``tuple()``, ``list()``, ``set()``, ``frozenset()``, ``sum()``, ``any()`` or ``all()`` calls
      from compiled code that took a compiled generator's items by resuming it directly (not
      through the hook);
    - ``precompile_kept``: functions this run sampled but left interpreted whose wires it keeps
      to be compiled for later runs after it exits (docs/compilation.md, "Compiling for the
      next run");
    - ``ic_slow``: attribute loads, method loads and attribute stores of compiled code that
      went to their inline cache's miss path: no entry answered in the forms compiled code
      tests (every entry's common forms), so the generic operation runs and the cache is
      re-specialised (after a load's rarer forms are tried);
    - ``trampolines_opened``: compiled functions that interpreted call sites ran inline under a
      caller that is never compiled (a module body, refused code), given back to compiled code
      by clearing their version (docs/compilation.md, "Calls from interpreted code").
    """
    d = _shim.stats()
    d["inactive"] = inactive
    return d


_started = False


def start_from_env():
    """Apply EMBER_DISABLE, EMBER_JIT_LIST and EMBER_AUTO (used by ember-jit.pth). Runs once
    per process: site can process the same .pth twice (a venv's lib64 -> lib symlink makes
    site.addsitepackages visit site-packages under both names)."""
    global _started
    if inactive is not None or _started:
        return
    _started = True
    if settings["EMBER_DISABLE"]:
        disable()
        return
    path = settings["EMBER_JIT_LIST"]
    if path:
        _jit_list_file(path)
    if "EMBER_AUTO" in os.environ:
        auto(None if settings["EMBER_AUTO"] in (None, "cost") else settings["EMBER_AUTO"])


def _jit_list_file(path):
    """Applies the jit list file at `path` (EMBER_JIT_LIST): one pattern per line, `#`
    comments and blank lines skipped. An unreadable file, and a line that is not one
    `module:qualname` pattern (no `:`, or spaces inside), give one warning line each and are
    skipped; with EMBER_LOG on, the patterns that matched no compiled function are logged at
    exit."""
    try:
        with open(path) as fh:
            lines = fh.readlines()
    except OSError as e:
        print(f"Ember: ignoring EMBER_JIT_LIST={path!r} ({e.strerror or e})", file=sys.stderr)
        return
    patterns = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if ":" not in text or any(c.isspace() for c in text):
            print(f"Ember: ignoring line {number} of EMBER_JIT_LIST {path!r}: {text!r} is not a "
                  f"module:qualname pattern", file=sys.stderr)
            continue
        patterns.append(text)
    jit_list(patterns)
    if settings["EMBER_LOG"]:
        import atexit
        atexit.register(_log_unmatched, patterns)


def _log_unmatched(patterns):
    """At exit: logs the jit list's patterns that matched no compiled function."""
    from fnmatch import fnmatchcase
    done = compiled_functions()
    unmatched = [p for p in patterns if not any(fnmatchcase(name, p) for name in done)]
    if unmatched:
        _shim.log(f"Ember: jit list patterns that matched no compiled function: {', '.join(unmatched)}")
