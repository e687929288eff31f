"""`python -m ember script.py [args]`, `python -m ember -m module [args]` and
`python -m ember -c code [args]`: run a program as `python` would, with autojit on. By default
that is the cost policy (compile where it pays, `ember.auto()`); EMBER_AUTO=N compiles after N
calls instead, and EMBER_JIT_LIST and EMBER_LOG apply as usual.

A script runs in a fresh `__main__` module through `compile` and `exec` rather than
`runpy.run_path`, whose import of `pkgutil` (and with it `typing`, `collections`, `weakref`,
...) cost about 8 ms of start-up, and whose frames would sit under every traceback.

This module is `ember._cli`, not `ember.__main__` itself, so that its functions are not named
`__main__:...`: a jit list such as `__main__:*` names the user's script only."""
import os
import sys

import ember

USAGE = ("usage: python -m ember script.py [args...]\n"
         "       python -m ember -m module [args...]\n"
         "       python -m ember -c code [args...]\n"
         "       python -m ember --preload-path   (the library for LD_PRELOAD=... python app.py)\n"
         "       python -m ember --gdb-script     (gdb's py-bt through compiled code: source it in gdb)\n"
         "Runs the program with Ember's autojit on (default: compile where it pays;\n"
         "EMBER_AUTO=N: after N calls).")


def _start(program=None):
    """Switches autojit on; under the cost policy with the code cache, `program` (bytes naming
    what runs: a script's path, size and modification time, or a module's name) gets a warm
    start (below)."""
    if not ember.settings["EMBER_DISABLE"]:
        if ember.settings["EMBER_JIT_LIST"] or "EMBER_AUTO" in os.environ:
            ember.start_from_env()
        else:
            ember.auto()
            if program is not None:
                _warm_start(program)


def _program_marker(program):
    """The warm-start marker of `program` (a short bytes identity) in the code cache (None when
    the cache is off): ``<cache>/programs/<16 hex digits>``, the key the 64-bit FNV-1a hash of
    `program`, computed here: importing zlib or hashlib would add 0.7-1.6 ms to every start-up
    (a shared library to load), and a collision only starts the compiler early."""
    cache = getattr(ember, "_cache", (None,))[0]
    if cache is None:
        return None
    h = 0xCBF29CE484222325
    for b in program:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return os.path.join(cache, "programs", f"{h:016x}")


def _warm_start(program):
    """A warm start (docs/compilation.md): when an earlier run of the same program ran compiled
    code, the compiler loads now, in the background, the functions the marker names are loaded
    from the cache at their third call, and others with hot markers at their first sample
    (ember._shim.warm_start). At exit, a run that ran compiled code leaves the marker, holding
    its sample counts and its functions, for the next run."""
    path = _program_marker(program)
    if path is None:
        return
    marker = _read_marker(path)
    samples, paying = marker.get("samples", 0), marker.get("paying", 0)
    if 0 < samples < 1 << 40 and 0 <= paying <= samples:   # anything else is not a marker this code wrote
        ember._shim.warm_start(samples, paying, marker.get("fn", []))
    import atexit
    atexit.register(_at_exit, path)


def _read_marker(path):
    """The warm-start marker at `path` (``samples N``, ``paying M`` and ``fn KEY IDENTITY`` lines,
    see _remember_program) as a dict: the counts, and under ``fn`` the list of (key, identity)
    pairs of the functions to preload; empty when it is missing or not one this code wrote (a
    marker of an older Ember, with no ``paying`` line, then reads as paying 0: no warm start)."""
    counts = {"fn": []}
    try:
        with open(path) as fh:
            for line in fh:
                key, _, value = line.partition(" ")
                if key == "fn":
                    k, ident = value.split()
                    counts["fn"].append((int(k, 16), int(ident, 16)))
                else:
                    counts[key] = int(value)
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return counts


def _at_exit(path):
    """At exit: the functions this run sampled but left interpreted go to a detached process
    that compiles them into the code cache (_precompile), then the warm-start marker."""
    precompiling = _precompile_later()
    _remember_program(path, precompiling)


def _precompile_later():
    """Writes the wires of the functions this run sampled but did not compile
    (ember._shim.precompile_write) and starts ``python -I -S`` on ember._precompile for them:
    its own session, stdin/stdout/stderr on /dev/null (so a caller waiting for this program's
    output or exit does not wait for it), by os.posix_spawn (no import of subprocess at exit).
    True when it was started. Off with EMBER_PRECOMPILE=0 or when there is no interpreter
    executable to start."""
    cache = getattr(ember, "_cache", (None,))[0]
    if cache is None or not ember.settings["EMBER_PRECOMPILE"] or not sys.executable:
        return False
    wires = ember._shim.precompile_write(os.path.join(cache, "precompile"))
    if wires is None:
        return False
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(ember.__file__)))
    code = "import sys; sys.path.insert(0, sys.argv[1]); from ember._precompile import main; main(sys.argv[2])"
    null = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    try:
        os.posix_spawn(sys.executable, [sys.executable, "-I", "-S", "-c", code, package_parent, wires],
                       os.environ, file_actions=null, setsid=True)
    except OSError:
        try:
            os.unlink(wires)
        except OSError:
            pass
        return False
    return True


def _remember_program(path, precompiling=False):
    """At exit: leaves the warm-start marker at `path` if this process ran compiled code
    (compiled or loaded a function) or handed functions to be compiled for later runs; best
    effort, written whole (a temporary file renamed). It holds the run's samples and its
    *paying* samples: those of the functions it compiled or loaded plus those of the functions
    handed on, which the next run's warm start is priced on (ember._shim.warm_start), and one
    ``fn KEY IDENTITY`` line (hex) per function it compiled, loaded or handed on, which the next
    run's warm start preloads (ember._shim.preload_list)."""
    s = ember.stats()
    if s.get("compiled", 0) + s.get("cache_loaded", 0) == 0 and not precompiling:
        return
    samples = s.get("samples", 0)
    paying = min(samples, s.get("samples_compiled", 0) + s.get("samples_handed", 0))
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "w") as fh:
            fh.write(f"samples {samples}\npaying {paying}\n")
            fh.writelines(f"fn {key:016x} {ident:016x}\n" for key, ident in ember._shim.preload_list())
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _fresh_main(file=None):
    """A new, empty `__main__` module (installed in sys.modules), as the interpreter makes
    for a script: `__name__`, `__builtins__`, and `__file__` when there is one."""
    import builtins
    mod = type(sys)("__main__")
    mod.__builtins__ = builtins
    mod.__spec__ = None
    if file is not None:
        from importlib.machinery import SourceFileLoader
        mod.__file__ = file
        mod.__cached__ = None
        mod.__loader__ = SourceFileLoader("__main__", file)
    sys.modules["__main__"] = mod
    return mod


def _exec(source, filename, namespace):
    """Compiles and runs `source` (str or bytes) as `filename` in `namespace` (a SyntaxError
    comes from here, inside _run, and is reported as `python` reports it)."""
    exec(compile(source, filename, "exec"), namespace)


def _run(run, *args, skip=1):
    """Runs the user's program (`run(*args)`) as the interpreter's own top level would: an
    uncaught exception goes to sys.excepthook with a traceback that starts at the user's code
    (this module's `skip` frames are dropped, and `python -m ember`'s runpy frames were never in
    it, so it reads as under plain `python`), then the exit status is 1; KeyboardInterrupt ends the process by
    SIGINT as `python` does; SystemExit passes through."""
    try:
        run(*args)
    except SystemExit:
        raise
    except BaseException as e:
        tb = e.__traceback__
        for _ in range(skip):
            tb = tb.tb_next if tb is not None else None
        e.__traceback__ = tb
        sys.last_exc = e
        sys.excepthook(type(e), e, tb)
        if isinstance(e, KeyboardInterrupt):
            import signal
            sys.stdout.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        return 1
    return 0


def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    if args[0] == "--preload-path":
        print(ember.preload_path())
        return 0
    if args[0] == "--gdb-script":
        print(ember.gdb_script())
        return 0
    if args[0] in ("-m", "-c") and len(args) < 2:
        print(f"python -m ember: argument expected for the {args[0]} option\n{USAGE}", file=sys.stderr)
        return 2
    if args[0] == "-m":
        _start(b"-m " + args[1].encode(errors="surrogateescape"))
        import runpy
        sys.argv = args[1:]
        return _run(runpy._run_module_as_main, args[1], True)
    if args[0] == "-c":
        _start()
        sys.argv = ["-c"] + args[2:]
        mod = _fresh_main()
        # `python -c` tracebacks show the lines of the code (3.13); so do ours: the source is
        # in linecache under "<string>", an entry checkcache never drops (no mtime).
        import linecache
        linecache.cache["<string>"] = (len(args[1]), None, args[1].splitlines(True), "<string>")
        return _run(_exec, args[1], "<string>", mod.__dict__, skip=2)
    script = os.path.abspath(args[0])
    try:
        with open(script, "rb") as fh:   # bytes: compile() honours the coding cookie
            source = fh.read()
            st = os.fstat(fh.fileno())
    except OSError as e:
        print(f"python -m ember: can't open file {args[0]!r}: [Errno {e.errno}] {e.strerror}", file=sys.stderr)
        return 2
    # The script's identity for a warm start: its path, size and modification time (an edit
    # makes it another program).
    _start(f"{script}\0{st.st_size}\0{st.st_mtime_ns}".encode(errors="surrogateescape"))
    sys.argv = args
    sys.path[0] = os.path.dirname(script)
    mod = _fresh_main(script)
    return _run(_exec, source, script, mod.__dict__, skip=2)
