"""Every ``EMBER_*`` environment variable, read and checked in one place.

:data:`SETTINGS` is the table: each :class:`Setting` has the variable's name, its kind, its
default and what it does. :func:`read` turns an environment into a dict of checked values plus
warning lines; ``ember/__init__.py`` prints the warnings (one line each, on stderr) and passes
the values to the shim and the compiler, which read no environment variable themselves. A bad
value is never an exception in the user's program and never a silent fallback: it gives one
line naming the variable, the value, the accepted values and the default used instead.
``docs/configuration.md`` is generated from the same table (:func:`markdown`), and a test
checks that the two agree and that every ``EMBER_*`` variable the sources mention is here.

Kinds: ``bool`` (1/0, true/false, yes/no, on/off, any case; empty = default), ``int`` (a whole
number in ``[low, high]``), ``choice`` (one of ``choices``), ``auto`` (``cost`` or a whole
number >= ``low``: EMBER_AUTO), ``path`` (any string).

This module imports nothing, so it can be tested without the shim.
"""

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_BAD = object()   # Setting.parse: the raw value is not one of the accepted ones


class Setting:
    """One environment variable: ``name``, ``kind`` (see the module doc), ``default`` (the
    value used when unset, empty or bad; None = off / not given), ``doc`` (one sentence for
    the reference), and for ``int`` its bounds ``low``/``high`` (None = unbounded), for
    ``choice`` its ``choices``; ``group`` is the reference's section."""

    __slots__ = ("name", "kind", "default", "doc", "low", "high", "choices", "group")

    def __init__(self, name, kind, default, doc, low=None, high=None, choices=(), group="use"):
        self.name, self.kind, self.default, self.doc = name, kind, default, doc
        self.low, self.high, self.choices, self.group = low, high, tuple(choices), group

    def accepted(self):
        """The accepted values, as the warning line and the reference state them."""
        if self.kind == "bool":
            return "1/0, true/false, yes/no or on/off"
        if self.kind == "int":
            if self.high is None:
                return f"a whole number >= {self.low}"
            return f"a whole number from {self.low} to {self.high}"
        if self.kind == "choice":
            return ", ".join(self.choices)
        if self.kind == "auto":
            return f"'cost' or a whole number >= {self.low}"
        return "a path"

    def parse(self, raw):
        """``(value, warning or None)`` for the raw string ``raw`` (None: unset)."""
        if raw is None or raw.strip() == "":
            return self.default, None
        text = raw.strip()
        value = _BAD
        if self.kind == "bool":
            low = text.lower()
            value = True if low in _TRUE else False if low in _FALSE else _BAD
        elif self.kind in ("int", "auto"):
            if self.kind == "auto" and text.lower() == "cost":
                value = "cost"
            else:
                try:
                    n = int(text)
                    if (self.low is None or n >= self.low) and (self.high is None or n <= self.high):
                        value = n
                except ValueError:
                    pass
        elif self.kind == "choice":
            value = text if text in self.choices else _BAD
        else:
            value = raw
        if value is _BAD:
            return self.default, (f"Ember: ignoring {self.name}={raw!r} (expected {self.accepted()}); "
                                  f"using {self.describe(self.default)}")
        return value, None

    def describe(self, value):
        """How the warning line names the value used instead."""
        if self.kind == "auto" and value in (None, "cost"):
            return "the cost policy"
        if self.kind == "bool":
            return "1" if value else "0"
        if value is None:
            return "none (off)"
        return str(value)


#: The table. ``group``: ``use`` (switching Ember on and off), ``cache``, ``tune`` (what is
#: compiled and how), ``debug`` (logs and dumps).
SETTINGS = (
    Setting("EMBER_AUTO", "auto", None,
            "Switch autojit on in every Python process of the environment (with the .pth file): "
            "'cost' compiles where it pays (the default policy of `python -m ember`), N compiles a "
            "function after N calls (0: at its first call).", low=0),
    Setting("EMBER_JIT_LIST", "path", None,
            "A file of `module:qualname` patterns (fnmatch wildcards, one per line, `#` comments): "
            "only matching functions are compiled; on its own it compiles them at their first call."),
    Setting("EMBER_DISABLE", "bool", False,
            "1: Ember stays off even where EMBER_AUTO, EMBER_JIT_LIST or `python -m ember` would "
            "switch it on."),
    Setting("EMBER_ALLOW_UNTESTED_CPYTHON", "bool", False,
            "1: activate on a CPython patch version this build was not tested on (ember._compat)."),
    Setting("EMBER_BACKGROUND", "bool", True,
            "0: compile on the calling thread at the call that makes a function hot (deterministic; "
            "tests and measurements) instead of on the compile thread.", group="tune"),
    Setting("EMBER_OSR", "int", 1,
            "On-stack replacement of a running interpreted frame at a loop header: 0 off, 1 under "
            "the cost policy, 2 under every policy, 3 the stress mode for tests.", low=0, high=3, group="tune"),
    Setting("EMBER_SPECULATE", "bool", True,
            "0: compile without type speculation (no guards, no unboxing; for A/B runs).", group="tune"),
    Setting("EMBER_OPT", "int", 1,
            "LLVM optimisation: 0 no IR passes, 1 inline helper fast paths and clean up, 2 "
            "LLVM's default<O2>.", low=0, high=2, group="tune"),
    Setting("EMBER_GENERATORS", "bool", True,
            "0: generator, coroutine and async generator functions stay interpreted.", group="tune"),
    Setting("EMBER_MAX_CODE_UNITS", "int", 4000,
            "Functions with more code units than this stay interpreted.", low=1, group="tune"),
    Setting("EMBER_NO_INLINE", "bool", False,
            "1: do not inline the runtime helpers' bitcode into compiled code (measurements).",
            group="tune"),
    Setting("EMBER_CALL_POLICY", "choice", "auto",
            "How compiled code calls runtime helpers (measurements).",
            choices=("auto", "named", "got", "table", "absolute", "hybrid"), group="tune"),
    Setting("EMBER_CACHE", "bool", True,
            "0: no persistent code cache.", group="cache"),
    Setting("EMBER_CACHE_DIR", "path", None,
            "Directory of the code cache (default $XDG_CACHE_HOME/ember, else ~/.cache/ember).",
            group="cache"),
    Setting("EMBER_CACHE_SIZE", "int", 256,
            "Size cap of the code cache in MiB (least recently used entries go first).", low=1,
            group="cache"),
    Setting("EMBER_PRECOMPILE", "bool", True,
            "1: under the cost policy with the code cache, functions a run sampled but did not compile "
            "are compiled into the cache after it exits, by a detached process at idle priority, for "
            "later runs; 0: not.", group="cache"),
    Setting("EMBER_LOG", "path", None,
            "Append Ember's log to this file ('-': stderr): `Finished compiling m:q`, refusals, "
            "deopts, the cost policy's summary at exit.", group="debug"),
    Setting("EMBER_DUMP_HIR", "bool", False,
            "1: log each compiled function's HIR after the passes (to EMBER_LOG, else stderr).",
            group="debug"),
    Setting("EMBER_LOG_PASSES", "bool", False,
            "1: log what each HIR pass changed and its time, per compiled function.", group="debug"),
    Setting("EMBER_DUMP_IR", "path", None,
            "Write each compiled function's optimised LLVM IR to a `.ll` file in this directory.",
            group="debug"),
    Setting("EMBER_DEBUGGER", "bool", True,
            "0: do not register compiled code with gdb's JIT interface (with it, gdb names compiled "
            "functions and `bt` unwinds through them).", group="debug"),
    Setting("EMBER_PERF", "choice", "off",
            "Name compiled code for Linux perf: `map` appends each function to /tmp/perf-PID.map "
            "(`perf report` reads it); `jitdump` writes /tmp/jit-PID.dump with a copy of its code "
            "(`perf record -k 1`, then `perf inject --jit`; symbols and `perf annotate`). Either "
            "also keeps frame pointers in compiled code, so `perf record -g` walks through it.",
            choices=("off", "map", "jitdump"), group="debug"),
    Setting("EMBER_PERF_MAP", "bool", False,
            "1: the same as EMBER_PERF=map (kept for existing scripts).", group="debug"),
)

BY_NAME = {s.name: s for s in SETTINGS}


def read(environ):
    """``(values, warnings)``: ``values`` maps each setting's name to its checked value (the
    default where unset or bad); ``warnings`` has one line per bad value. Variables that start
    with ``EMBER_`` but are not settings are reported too (a misspelt name would otherwise be
    ignored silently), except the build's and the benchmark harness's own."""
    values, warnings = {}, []
    for s in SETTINGS:
        value, warning = s.parse(environ.get(s.name))
        values[s.name] = value
        if warning:
            warnings.append(warning)
    for name in sorted(environ):
        if name.startswith("EMBER_") and name not in BY_NAME and not name.startswith(_NOT_SETTINGS):
            warnings.append(f"Ember: ignoring unknown variable {name} (settings: docs/configuration.md)")
    return values, warnings


#: Prefixes of ``EMBER_*`` variables that are not Ember's runtime settings: the build's
#: (build.rs, the Makefile's header target), the test harness's and the benchmark harness's.
_NOT_SETTINGS = ("EMBER_BENCH_", "EMBER_BUILD_", "EMBER_PYTHON", "EMBER_WRITE_HEADER", "EMBER_REQUIRE_QEMU",
                 "EMBER_DEFAULT_ARGS", "EMBER_MODES", "EMBER_PROBE")

_GROUPS = (("use", "Switching Ember on and off"), ("tune", "What is compiled, and how"),
           ("cache", "The persistent code cache"), ("debug", "Logs and dumps"))


def markdown():
    """The configuration reference (``docs/configuration.md``) as Markdown text."""
    out = ["# Configuration reference", "",
           "Generated from the table in `python/ember/_config.py` "
           "(`python -c 'from ember import _config; print(_config.markdown(), end=\"\")' > docs/configuration.md`); "
           "a test checks that this file is current.", "",
           "Every setting is an environment variable read once, when `ember` is imported. A bad value "
           "gives one warning line on stderr naming the variable and the accepted values, and Ember "
           "runs with the default. Booleans accept 1/0, true/false, yes/no and on/off in any case; "
           "an empty value means the default. An unknown `EMBER_*` name is reported too.", ""]
    for group, title in _GROUPS:
        out += [f"## {title}", "", "| variable | accepted | default | what it does |", "|---|---|---|---|"]
        for s in SETTINGS:
            if s.group == group:
                default = "unset" if s.default is None else s.describe(s.default)
                out.append(f"| `{s.name}` | {s.accepted()} | {default} | {s.doc} |")
        out.append("")
    return "\n".join(out)
