"""Shared helpers of Ember's Python test suite.

The differential helpers build two copies of the same functions from one source string:

* ``both(src, name)`` execs ``src`` into two fresh module-like namespaces (same ``__name__``,
  same file name, so tracebacks and qualnames agree), force-compiles every function and method
  the source defines in the second namespace (a test fails if Ember refuses one), and returns
  ``(interpreted, compiled)``.
* ``run_both(fi, fc, *args, **kw)`` calls each copy on its own deep copy of the arguments and
  returns the two ``Outcome`` records after asserting that they agree: result (or exception
  type, message, cause/context), traceback of the test code (function, lineno, end_lineno,
  colno, end_colno and ``tb_lasti`` of every frame), the state of the arguments after the
  call (side effects) and the data globals of the module.

Arguments that must be built inside each namespace (instances of a class the source defines)
are passed as ``Make(lambda ns: ns["C"](1))``. Helpers import ``ember`` lazily so that test
modules which do not need the JIT (test_bench_stats.py) do not depend on it being built.
"""
from __future__ import annotations

import copy
import gc
import itertools
import linecache
import math
import os
import re
import signal
import sys
import traceback
import types
import warnings
from dataclasses import dataclass, field

import pytest

# The persistent code cache stays off in tests (and in the child processes they start from this
# environment) unless a test switches it on: tests must not depend on what earlier runs left
# in ~/.cache/ember. test_cache.py covers the cache.
os.environ.setdefault("EMBER_CACHE", "0")

MODULE_NAME = "ember_difftest"
_counter = itertools.count()


def _ember():
    import ember  # noqa: PLC0415 (lazy on purpose, see the module docstring)
    return ember


# --------------------------------------------------------------------------------------------
# Building the two copies
# --------------------------------------------------------------------------------------------

class Pair(tuple):
    """(interpreted, compiled) with the two namespaces attached as .ns_i / .ns_c."""

    ns_i: dict
    ns_c: dict
    compiled: list


def _namespace(filename, extra_globals):
    ns = {"__name__": MODULE_NAME, "__file__": filename, "__builtins__": __builtins__}
    if extra_globals:
        ns.update(copy.copy(extra_globals))
    return ns


def defined_functions(ns, filename):
    """Every function (and method of a class) defined by the source at `filename` in `ns`,
    as (qualname, function) in a stable order."""
    seen = {}

    def visit(obj, depth=0):
        if isinstance(obj, types.FunctionType):
            if obj.__code__.co_filename == filename and obj.__qualname__ not in seen:
                seen[obj.__qualname__] = obj
        elif isinstance(obj, (staticmethod, classmethod)):
            visit(obj.__func__, depth)
        elif isinstance(obj, property):
            for part in (obj.fget, obj.fset, obj.fdel):
                if part is not None:
                    visit(part, depth)
        elif isinstance(obj, type) and depth < 3 and obj.__module__ == MODULE_NAME:
            for v in list(vars(obj).values()):
                visit(v, depth + 1)

    for v in list(ns.values()):
        visit(v)
    return sorted(seen.items())


def both(src, name="f", *, exclude=(), extra_globals=None, warm=None, own_code=False):
    """Exec `src` into two fresh namespaces and force-compile, in the second one, every function
    the source defines except the qualnames in `exclude` (those stay interpreted in both).
    Fails the test when Ember refuses one of them. `warm` is an optional list of argument
    tuples: both copies are called with each of them twice *before* compiling, so the
    specialising interpreter fills the inline caches that Ember turns into fast paths (the
    outcomes of these interpreted calls are compared too). The copies share their code objects,
    and so their inline caches, unless `own_code` (the source is compiled once for each: a
    cache that holds a class's type version then holds the copy's own class). Returns a Pair
    (fi, fc)."""
    ember = _ember()
    filename = f"<ember-diff-{next(_counter)}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    code = compile(src, filename, "exec")
    ns_i = _namespace(filename, extra_globals)
    ns_c = _namespace(filename, extra_globals)
    exec(code, ns_i)
    exec(compile(src, filename, "exec") if own_code else code, ns_c)
    fi, fc = _resolve(ns_i, name), _resolve(ns_c, name)
    for spec in warm or ():
        args, kwargs = _as_args(spec)
        for _ in range(2):
            run_both(fi, fc, *args, **kwargs)
    compiled = []
    for qualname, func in defined_functions(ns_c, filename):
        if qualname in exclude:
            continue
        ok = ember.force_compile(func)
        assert ok, f"Ember refused to compile {qualname} (see EMBER_LOG for the reason):\n{src}"
        assert ember.is_compiled(func), qualname
        compiled.append(qualname)
    for qualname, func in defined_functions(ns_i, filename):
        assert not ember.is_compiled(func), f"interpreted copy {qualname} is compiled"
    pair = Pair((fi, fc))
    pair.ns_i, pair.ns_c, pair.compiled = ns_i, ns_c, compiled
    return pair


def _resolve(ns, dotted):
    obj = ns[dotted.split(".")[0]]
    for part in dotted.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def _as_args(spec):
    """A call spec is a tuple of positional args or a Call."""
    if isinstance(spec, Call):
        return spec.args, spec.kwargs
    return tuple(spec), {}


@dataclass
class Call:
    """A call with keyword arguments: Call(1, 2, key=3)."""

    args: tuple
    kwargs: dict

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs

    def __repr__(self):
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"({', '.join(parts)})"


class Make:
    """An argument built separately inside each namespace: Make(lambda ns: ns["C"](1))."""

    def __init__(self, build, label="Make"):
        self.build = build
        self.label = label

    def __repr__(self):
        return self.label


# --------------------------------------------------------------------------------------------
# Comparable snapshots of values and state
# --------------------------------------------------------------------------------------------

_ADDR = re.compile(r" at 0x[0-9a-fA-F]+")


def snapshot(v, depth=0, memo=None):
    """A structure that compares equal for equivalent values built in two namespaces: type
    names instead of types, reprs for scalars (so nan == nan and -0.0 != 0.0), recursion into
    containers and instance state, object addresses removed."""
    if memo is None:
        memo = {}
    if depth > 12:
        return ("...",)
    if id(v) in memo:
        return ("<cycle>", memo[id(v)])
    t = type(v)
    tname = t.__qualname__
    if v is None or isinstance(v, (bool, int, float, complex, str, bytes)):
        return (tname, repr(v))
    memo[id(v)] = len(memo)
    try:
        if isinstance(v, (list, tuple)):
            return (tname, tuple(snapshot(x, depth + 1, memo) for x in v))
        if isinstance(v, dict):
            return (tname, tuple((snapshot(k, depth + 1, memo), snapshot(x, depth + 1, memo))
                                 for k, x in v.items()))
        if isinstance(v, (set, frozenset)):
            return (tname, tuple(sorted(repr(snapshot(x, depth + 1, memo)) for x in v)))
        if isinstance(v, BaseException):
            return (tname, str(v))
        if isinstance(v, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
            return (tname, getattr(v, "__qualname__", repr(v)))
        if isinstance(v, type):
            return ("type", v.__qualname__)
        if isinstance(v, types.ModuleType):
            return ("module", v.__name__)
        state = []
        d = getattr(v, "__dict__", None)
        if isinstance(d, dict):
            state.append(snapshot(d, depth + 1, memo))
        for klass in t.__mro__:
            for slot in klass.__dict__.get("__slots__", ()):
                if slot in ("__dict__", "__weakref__"):
                    continue
                state.append((slot, snapshot(getattr(v, slot, "<unset>"), depth + 1, memo)))
        if state:
            return (tname, tuple(state))
        return (tname, _ADDR.sub("", repr(v)))
    finally:
        memo.pop(id(v), None)


def data_globals(ns):
    """The module's data: globals that are not dunders, functions, classes or modules."""
    return {k: v for k, v in ns.items()
            if not k.startswith("__")
            and not isinstance(v, (types.FunctionType, type, types.ModuleType, types.BuiltinFunctionType))}


# --------------------------------------------------------------------------------------------
# Running both copies
# --------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What one call did, in comparable form."""

    kind: str                 # "return" or "raise"
    value: object             # snapshot of the result, or (exception type, message)
    chain: tuple = ()         # (__cause__, __context__) snapshots for an exception
    traceback: list = field(default_factory=list)  # frames of the test code
    args_after: object = None
    globals_after: object = None
    warnings: list = field(default_factory=list)  # (category, message, filename, lineno)

    def describe(self):
        return (f"{self.kind} {self.value!r}\n  chain={self.chain!r}\n  traceback={self.traceback!r}\n"
                f"  args after={self.args_after!r}\n  globals after={self.globals_after!r}\n"
                f"  warnings={self.warnings!r}")


def traceback_summary(exc, filename):
    """(qualname, lineno, end_lineno, colno, end_colno, tb_lasti) of the traceback frames whose
    code comes from `filename`, innermost last. Positions come from traceback.extract_tb."""
    tb = exc.__traceback__
    frames = []
    summaries = traceback.extract_tb(tb)
    for fs, t in zip(summaries, _walk_tb(tb)):
        code = t.tb_frame.f_code
        if code.co_filename != filename:
            continue
        assert fs.name == code.co_name
        frames.append((code.co_qualname, fs.lineno, fs.end_lineno, fs.colno, fs.end_colno, t.tb_lasti))
    return frames


def _walk_tb(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _exc_chain(exc):
    out = []
    for e in (exc.__cause__, exc.__context__):
        out.append(None if e is None else (type(e).__qualname__, str(e)))
    return tuple(out) + (exc.__suppress_context__,)


def _prepare(spec, ns):
    args, kw = _as_args(spec)
    memo = {}
    args = tuple(a.build(ns) if isinstance(a, Make) else copy.deepcopy(a, memo) for a in args)
    kw = {k: (a.build(ns) if isinstance(a, Make) else copy.deepcopy(a, memo)) for k, a in kw.items()}
    return args, kw


def call_outcome(f, spec, filename=None):
    """Calls f with fresh copies of the arguments in `spec` and records an Outcome."""
    ns = f.__globals__
    filename = filename or f.__code__.co_filename
    args, kw = _prepare(spec, ns)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            r = f(*args, **kw)
        except Exception as e:  # noqa: BLE001 -- every exception is part of the outcome
            out = Outcome("raise", (type(e).__qualname__, str(e)), _exc_chain(e),
                          traceback_summary(e, filename))
            del e
        else:
            out = Outcome("return", snapshot(r))
    out.warnings = [(w.category.__name__, str(w.message), w.filename, w.lineno) for w in caught]
    out.args_after = snapshot((args, kw))
    out.globals_after = snapshot(data_globals(ns))
    return out


def assert_same(oi, oc, label=""):
    """Fails with both outcomes shown when they differ in any recorded respect."""
    if oi != oc:
        pytest.fail(f"interpreter and Ember disagree{(' on ' + label) if label else ''}:\n"
                    f"interpreter: {oi.describe()}\nember:       {oc.describe()}", pytrace=False)


def run_both(fi, fc, *args, **kw):
    """Calls the interpreted and the compiled copy with equal fresh arguments, asserts that
    result / exception, message, traceback, argument state and module data agree, and returns
    (outcome_interpreted, outcome_compiled)."""
    spec = Call(*args, **kw)
    oi = call_outcome(fi, spec)
    oc = call_outcome(fc, spec)
    assert_same(oi, oc, f"{fc.__qualname__}{spec!r}")
    return oi, oc


def traced(run, names):
    """Calls `run(start)`, where calling `start` (with any arguments) switches on a trace
    function that records (function name, event, line) for the functions named in `names`;
    tracing is off again afterwards. Returns (run's result, the events)."""
    events = []

    def tracer(frame, event, arg):
        if frame.f_code.co_name in names:
            events.append((frame.f_code.co_name, event, frame.f_lineno))
        return tracer

    def start(*_):
        sys.settrace(tracer)
    try:
        r = run(start)
    finally:
        sys.settrace(None)
    return r, events



def collections_seen(f, arg, snapshot):
    """Calls f(arg) with the collector's threshold at 1, so that tracked allocations schedule
    collections, which run at the next eval-breaker check; a gc callback appends
    `snapshot(frame)` of the frame that was current when each collection started. Returns
    (f's result, the snapshots)."""
    seen = []

    def callback(phase, info):
        if phase == "start":
            seen.append(snapshot(sys._getframe(1)))

    old = gc.get_threshold()
    gc.collect()
    gc.callbacks.append(callback)
    gc.set_threshold(1)
    try:
        r = f(arg)
    finally:
        gc.set_threshold(*old)
        gc.callbacks.remove(callback)
    return r, seen


class SignalStop(Exception):
    """What `signal_landings`' handler raises."""


def assert_pending_work_runs_in_the_callee(ember, fi, fc, arg, marker, callee, least):
    """The collections that allocations schedule just before an inlined call (`collections_seen`
    with `arg`) are seen from the same frames under the interpreter (`fi`) and compiled code
    (`fc`, whose HIR must contain `marker`), with no deopt: at least `least` of them from a
    frame of `callee`."""
    assert marker in ember.dump(fc, "hir")
    ri, si = collections_seen(fi, arg, lambda fr: fr.f_code.co_name)
    deopts = ember.stats()["deopts"]
    rc, sc = collections_seen(fc, arg, lambda fr: fr.f_code.co_name)
    assert ember.stats()["deopts"] == deopts
    assert ri == rc and si == sc
    assert si.count(callee) >= least, si


def signal_landings(f, arg, caller, callee, call_line, first_line, tries):
    """Calls f(arg) up to `tries` times, each with a SIGALRM handler that raises SignalStop in
    the frame it interrupts when that is `caller`'s or `callee`'s, until it has raised in
    both. A raise in `callee` must have the interpreter's traceback: `caller`'s entry at
    `call_line`, then `callee`'s at `first_line` (its RESUME). Returns the names of the frames
    it raised in."""
    def handler(signum, frame):
        # Only in the test's own code: a collection's callbacks (hypothesis has one) run
        # Python code too, and an exception there would be unraisable. Try again soon.
        if frame is not None and frame.f_code.co_name in (caller, callee):
            raise SignalStop
        signal.setitimer(signal.ITIMER_REAL, 0.0005)

    old = signal.signal(signal.SIGALRM, handler)
    where = set()
    try:
        for _ in range(tries):
            signal.setitimer(signal.ITIMER_REAL, 0.0005)
            try:
                f(arg)
            except SignalStop as e:
                # The frame the handler interrupted, and its caller.
                tb = [(t.name, t.lineno) for t in traceback.extract_tb(e.__traceback__) if t.name != "handler"]
                assert tb[-1][0] in (callee, caller), tb
                if tb[-1][0] == callee:
                    assert tb[-2:] == [(caller, call_line), (callee, first_line)], tb
                where.add(tb[-1][0])
            if where == {callee, caller}:
                break
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return where

def same_float(a, b):
    """Equality for floats that treats two nans as equal and tells -0.0 from 0.0."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) and math.isnan(b):
            return True
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return type(a) is type(b) and a == b


@pytest.fixture
def ember_mod():
    """The `ember` module (imported lazily)."""
    return _ember()


def assert_tracing_sees_the_calls(fi, fc, data, name):
    """Runs `fi(data, change)` and `fc(data, change)` where `change` switches a tracer on
    mid-loop (`traced`), and asserts that both return the same and that the tracer saw the
    same events, among them calls of the function named `name`: an inlined call is made as a
    call once tracing is on."""
    ri, ei = traced(lambda start: fi(data, lambda *a: start()), (name,))
    rc, ec = traced(lambda start: fc(data, lambda *a: start()), (name,))
    assert ri == rc
    assert ei == ec and (name, "call", ei[0][2]) in ei


def assert_argument_references_kept(fi, fc, data):
    """Calls `fc(data)` 20 times, `data` a list of tuples of fresh floats, and asserts that the
    result equals `fi(data)`'s and that every float of `data` has its reference count back."""
    data = [tuple(float(v) + 0.25 for v in t) for t in data]
    counts = [[sys.getrefcount(v) for v in t] for t in data]
    for _ in range(20):
        r = fc(data)
    assert r == fi(data)
    del r
    assert [[sys.getrefcount(v) for v in t] for t in data] == counts


#: The slot classes of the inlined-method tests (test_inline_method, test_inline_select): `P`
#: with three slots and the methods given as `{methods}` (a class body's text), its subclass `Q`
#: and `R`, whose `__setattr__` records the name stored and the function that stored it.
SLOT_CLASSES = """
import sys

class P:
    __slots__ = ('x', 'y', 'z')

    def __init__(self, x, y, z):
        self.x = x
        self.y = y
        self.z = z
{methods}
class Q(P):
    __slots__ = ()

class R(P):
    __slots__ = ()
    seen = []

    def __setattr__(self, name, value):
        R.seen.append((name, sys._getframe(1).f_code.co_name))
        object.__setattr__(self, name, value)
"""
