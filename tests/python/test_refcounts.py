"""Reference-count and leak checks of Ember-compiled code.

Each check calls a compiled function 100,000 times and verifies that
* sys.getrefcount of the arguments, of the objects the function returns or stores, and of the
  globals and constants it touches is the same afterwards (no reference gained or lost per
  call), on success paths and on exception paths (exception handled inside the compiled
  function, or propagated to and caught by the caller);
* sys.getallocatedblocks() and tracemalloc's traced memory grow by a bounded amount that does
  not scale with the number of calls;
* the immortal singletons None/True/False keep their (immortal) refcounts.
"""
from __future__ import annotations

import gc
import sys
import tracemalloc
import types

import pytest

from conftest import both, run_both

ember = pytest.importorskip("ember")

N = 100_000

SRC = """
class Obj:
    def __init__(self, v):
        self.v = v
        self.items = [v]
    def get(self):
        return self.v
    def boom(self):
        raise ValueError(self.v)

class Err(Exception):
    pass

class Weak:
    pass

def hold_and_raise(o):
    local = [o]
    raise Err(local)

class Slotted:
    __slots__ = ("a",)
    def __init__(self, a):
        self.a = a

G = []
CONST = "a constant string"

def arith(a, b):
    return a + b * 2 - a // 3

def floats(x, y):
    return x * y + x - y

def build(a, b):
    t = (a, b)
    l = [a, b, t]
    d = {"a": a, "b": b}
    return len(t) + len(l) + len(d)

def attrs(o, v):
    o.v = v
    o.extra = o.v
    return o.get()

def slots(s, v):
    s.a = v
    return s.a

def subscr(l, d, k):
    l[0] = k
    d[k] = l[0]
    x = d[k]
    del d[k]
    return x

def loop(xs):
    n = 0
    for x in xs:
        if x is not None:
            n += 1
    i = 0
    while i < 3:
        i += 1
    return n

def identity(a):
    return a

def store_global(a):
    global LAST
    LAST = a
    G.append(a)
    G.pop()
    return CONST

def unpack(t):
    a, b = t
    return b

def slices(l, t, o):
    l[1:1] = [o, o]
    a = l[:2]
    b = l[::-1]
    c = t[1:]
    d = t[::-1]
    del l[1:3]
    return a[1], b[0], c[0], d[-1]

def slice_move(l, o):
    l[0:2] = l[1::-1]
    l[0:2] = [l[1], l[0]]
    x = l[2]
    l[2:3] = [o]
    l[2:3] = [x]
    return l[0]

def slice_step_error(l, o):
    return l[::0]

def raise_key(d, k):
    return d[k]

def raise_attr(o):
    return o.nope

def raise_zero(a):
    return a / 0

def raise_method(o):
    return o.boom()

def raise_custom(a):
    raise LookupError(a)

def raise_unbound(c):
    if c:
        x = 1
    return x

def raise_name(a):
    return a + not_defined_anywhere

def catch_inside(d, k):
    try:
        return d[k]
    except KeyError:
        return k

def catch_with_stack(a, b, c):
    try:
        return [a, b, c / 0]
    except ZeroDivisionError:
        return a

def catch_in_loop(xs, a):
    try:
        for x in xs:
            y = a / x
    except ZeroDivisionError:
        return a
    return None

def deep3(a):
    return deep2(a) + 1

def deep2(a):
    return deep1(a) + 1

def deep1(a):
    return a.nope

def call_kw(a, b):
    return kwtarget(a, b=b)

def kwtarget(a, b=None):
    return b

def call_error(a):
    return kwtarget(a, c=a)

def raise_from(a, b):
    raise ValueError(a) from b

def raise_bad_cause(a):
    raise ValueError(a) from 5

def raise_class(a):
    raise Err

def bare_reraise(a):
    try:
        raise KeyError(a)
    except KeyError:
        raise

def unpack_iter_error(it):
    x, y = it
    return x

def compare(a, b):
    return a < b, a == b, a is b, a in [b]

def singletons(a, b):
    if a is None or not b:
        return a is b, a == b, not a, [a, b, None, True, False]
    return None
"""


@pytest.fixture(scope="module")
def pair():
    """Interpreted and compiled copies of the refcount corpus (all functions compiled)."""
    p = both(SRC, "arith")
    return p


def _rc(*objs):
    return [sys.getrefcount(o) for o in objs]


def _loop(f, args, catch=None, n=N):
    if catch is None:
        for _ in range(n):
            f(*args)
    else:
        for _ in range(n):
            try:
                f(*args)
            except catch:
                pass


SUCCESS = [
    ("arith", lambda ns: (10 ** 30, 7)),
    ("floats", lambda ns: (1.5, 2.5)),
    ("build", lambda ns: ("a", object())),
    ("attrs", lambda ns: (ns["Obj"](1), object())),
    ("slots", lambda ns: (ns["Slotted"](0), object())),
    ("subscr", lambda ns: ([0], {}, object())),
    ("loop", lambda ns: ([object(), None, "x"],)),
    ("identity", lambda ns: (object(),)),
    ("store_global", lambda ns: (object(),)),
    ("unpack", lambda ns: ((object(), object()),)),
    ("slices", lambda ns: ([object(), object(), object()], (object(), object()), object())),
    ("slice_move", lambda ns: ([object(), object(), object()], object())),
    ("catch_inside", lambda ns: ({}, object())),
    ("catch_with_stack", lambda ns: (object(), object(), 1)),
    ("catch_in_loop", lambda ns: ([1, 2, 0, 4], 1.5)),
    ("call_kw", lambda ns: (object(), object())),
    ("compare", lambda ns: (1.5, 2.5)),
    ("singletons", lambda ns: (None, False)),
]

RAISING = [
    ("raise_key", lambda ns: ({}, object()), KeyError),
    ("raise_attr", lambda ns: (object(),), AttributeError),
    ("raise_zero", lambda ns: (12345678901234567890,), ZeroDivisionError),
    ("raise_method", lambda ns: (ns["Obj"](object()),), ValueError),
    ("raise_custom", lambda ns: (object(),), LookupError),
    ("raise_unbound", lambda ns: (0,), UnboundLocalError),
    ("raise_name", lambda ns: (object(),), NameError),
    ("deep3", lambda ns: (object(),), AttributeError),
    ("call_error", lambda ns: (object(),), TypeError),
    ("arith", lambda ns: (object(), 1), TypeError),
    ("unpack", lambda ns: ((object(),),), ValueError),
    ("slice_step_error", lambda ns: ([object(), object()], object()), ValueError),
    ("raise_from", lambda ns: (object(), KeyError("cause")), ValueError),
    ("raise_bad_cause", lambda ns: (object(),), TypeError),
    ("raise_class", lambda ns: (object(),), Exception),
    ("bare_reraise", lambda ns: (object(),), KeyError),
    ("unpack_iter_error", lambda ns: ([object(), object(), object()],), ValueError),
]


def _watched(ns, args):
    """Objects whose refcounts must not move: the arguments, what they contain, the module's
    globals and constants."""
    objs = list(args)
    for a in args:
        if isinstance(a, (list, tuple)):
            objs.extend(a)
        elif isinstance(a, dict):
            objs.extend(a.keys())
            objs.extend(a.values())
        elif hasattr(a, "__dict__"):
            objs.extend(vars(a).values())
    objs.extend([ns["G"], ns["CONST"], ns["Obj"], ns["kwtarget"]])
    return objs


@pytest.mark.parametrize("name,make", SUCCESS, ids=[s[0] for s in SUCCESS])
def test_refcounts_success_paths(pair, name, make):
    """100k successful calls leave the refcounts of arguments, contents, globals and
    constants unchanged."""
    f = pair.ns_c[name]
    assert ember.is_compiled(f)
    args = make(pair.ns_c)
    f(*args)  # first call may create caches / attributes
    watched = _watched(pair.ns_c, args)
    gc.collect()
    before = _rc(*watched)
    _loop(f, args)
    gc.collect()
    after = _rc(*watched)
    assert after == before, f"{name}: refcounts moved {before} -> {after}"


@pytest.mark.parametrize("name,make,exc", RAISING, ids=[r[0] for r in RAISING])
def test_refcounts_exception_paths(pair, name, make, exc):
    """100k calls that raise and are caught by the (interpreted) caller leave refcounts of
    arguments, contents and globals unchanged."""
    f = pair.ns_c[name]
    assert ember.is_compiled(f)
    args = make(pair.ns_c)
    _loop(f, args, exc, n=10)
    watched = _watched(pair.ns_c, args)
    gc.collect()
    before = _rc(*watched)
    _loop(f, args, exc)
    gc.collect()
    after = _rc(*watched)
    assert after == before, f"{name}: refcounts moved {before} -> {after}"


def test_result_refcount_matches_interpreter(pair):
    """The object a compiled function returns carries exactly the references the interpreted
    function's result carries (no extra or missing reference on the return path)."""
    for name, make in SUCCESS:
        ri = pair.ns_i[name](*make(pair.ns_i))
        rc = pair.ns_c[name](*make(pair.ns_c))
        if isinstance(ri, (bool, type(None))) or (isinstance(ri, int) and -5 <= ri <= 256):
            continue
        assert sys.getrefcount(rc) == sys.getrefcount(ri), name
    o = object()
    base = sys.getrefcount(o)
    r = pair.ns_c["identity"](o)
    assert r is o and sys.getrefcount(o) == base + 1
    del r
    assert sys.getrefcount(o) == base


def test_exception_objects_released(pair):
    """An exception raised in compiled code and caught by the caller is freed once the caller
    drops it: no reference cycle or leaked reference keeps it (or the frames) alive."""
    import weakref
    f = pair.ns_c["hold_and_raise"]
    assert ember.is_compiled(f)
    refs = []
    for _ in range(100):
        o = pair.ns_c["Weak"]()
        try:
            f(o)
        except pair.ns_c["Err"] as e:
            refs.append((weakref.ref(e), weakref.ref(o)))
        del o
    assert all(r() is None and w() is None for r, w in refs), "leaked without gc"


def _blocks():
    gc.collect()
    return sys.getallocatedblocks()


@pytest.mark.parametrize("kind", ["success", "raising"])
def test_allocated_blocks_bounded(pair, kind):
    """sys.getallocatedblocks() does not grow with the number of calls: after warming up,
    100k more calls of every corpus function add fewer blocks than a per-call leak would."""
    cases = [(n, m, None) for n, m in SUCCESS] if kind == "success" else RAISING
    prepared = [(pair.ns_c[n], m(pair.ns_c), e) for n, m, e in cases]
    per = max(1, N // len(prepared))
    for f, args, e in prepared:
        _loop(f, args, e, n=200)
    start = _blocks()
    for f, args, e in prepared:
        _loop(f, args, e, n=per)
    grown = _blocks() - start
    # A leak of one block per call would be >= per (~7,000+); allow small caches.
    assert grown < 500, f"{grown} blocks allocated over {per * len(prepared)} calls"


def test_tracemalloc_bounded(pair):
    """tracemalloc's traced memory after 100k mixed successful and raising calls stays within
    a small bound independent of the number of calls."""
    prepared = [(pair.ns_c[n], m(pair.ns_c), None) for n, m in SUCCESS[:6]]
    prepared += [(pair.ns_c[n], m(pair.ns_c), e) for n, m, e in RAISING[:4]]
    per = N // len(prepared) // 5  # tracemalloc makes allocations slow
    for f, args, e in prepared:
        _loop(f, args, e, n=100)
    tracemalloc.start()
    try:
        gc.collect()
        first, _ = tracemalloc.get_traced_memory()
        for f, args, e in prepared:
            _loop(f, args, e, n=per)
        gc.collect()
        mid, _ = tracemalloc.get_traced_memory()
        for f, args, e in prepared:
            _loop(f, args, e, n=per * 4)
        gc.collect()
        last, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Four times as many calls in the second round: a leak would grow ~4x; allow slack.
    assert last - mid < 64 * 1024, (first, mid, last)


def test_immortal_singletons_untouched(pair):
    """None, True, False (and small ints) are immortal in 3.13: heavy use in compiled code
    leaves their refcounts at the immortal value."""
    singles = [None, True, False, 0, 1, 256]
    before = _rc(*singles)
    f = pair.ns_c["singletons"]
    g = pair.ns_c["loop"]
    h = pair.ns_c["identity"]
    xs = [None, True, False, None]
    for _ in range(N // 4):
        f(None, True)
        f(False, False)
        g(xs)
        h(None)
        h(True)
    assert _rc(*singles) == before
    assert all(rc >= 2 ** 30 for rc in before[:3])


OPERAND_SRC = """
class D:
    def __init__(self, log):
        self.log = log
    def __del__(self):
        self.log.append("del")

class Holder:
    def __init__(self, d, v):
        self.d = d
        self.v = v

def owners(log, v, h, l, t):
    log.append(1)
    r = [D(log), v][1]
    log.append(2)
    r2 = (D(log), v)[1]
    log.append(3)
    r3 = Holder(D(log), v).v
    log.append(4)
    a, b = [D(log), v]
    del a
    log.append(5)
    x, y = (v, h)
    return r + r2 + r3 + b + x + h.v + l[0] + t[1] + y.v
"""


def test_operand_releases_by_low_half_keep_counts_and_order():
    """The helpers that consume an attribute owner, a subscript container or an unpacked
    sequence release it reading the count's low half (cpython-glue/ember_refcount.h). The owner
    that dies there dies at the same point as in the interpreter (its item's __del__ logs in
    the same place), and owners that stay alive keep their counts over many calls. Warm calls
    first, so that the compiled copy takes the quickened list, tuple and unpack paths."""
    v = 10**30
    h, l, t = types.SimpleNamespace(v=v), [v], (v, v)
    fi, fc = both(OPERAND_SRC, "owners", warm=[([], v, h, l, t)])
    log_i, log_c = [], []
    run_both(fi, fc, log_i, v, h, l, t)
    fi(log_i, v, h, l, t)
    fc(log_c, v, h, l, t)
    assert log_c == log_i == [1, "del", 2, "del", 3, "del", 4, "del", 5]
    before = _rc(v, h, l, t)
    for _ in range(20_000):
        fc([], v, h, l, t)
    assert _rc(v, h, l, t) == before


WIDTH_SRC = """
class D:
    def __init__(self, log, tag):
        self.log, self.tag = log, tag
    def __del__(self):
        self.log.append(("del", self.tag))

def hold(o, n):
    # Compiled increments (LOAD_FAST, list stores) interleaved with the C runtime's own
    # Py_INCREF (list.append, tuple packing) and releases of both kinds.
    keep = []
    for i in range(n):
        keep.append(o)
        t = (o, o)
        x = t[1]
        keep.append(x)
        del t, x
    return keep

def trim(keep):
    del keep[::2]
    return len(keep)

def churn(log, n):
    # Objects that die in compiled code right after compiled increments.
    for i in range(n):
        d = D(log, i)
        e = d
        f = e
        del d, e
        log.append(("live", i))
        f = None
    return len(log)
"""


def test_increments_written_whole_keep_exact_counts_and_death_points():
    """Compiled code increments a count by reading its low half and writing the whole count
    (ember_rc_incref in cpython-glue/ember_refcount.h), while the C runtime's Py_INCREF writes
    the low half only and releases read either. Mixed, the counts stay exact: after a loop that
    takes 2n references to one object its count is 2n above the start, in the interpreted and
    the compiled copy alike, n above after a compiled slice deletion, and back at the start
    once they are released; and objects made and released in compiled code die at the same
    point (their __del__ logs in the same place) as in the interpreter. (The counts are read
    by the caller: inside a compiled function, sys.getrefcount(o) can see one more reference
    than the interpreter's, see the xfail below.)"""
    o = object()
    fi, fc = both(WIDTH_SRC, "hold")
    base = sys.getrefcount(o)
    for hold, trim in ((fi, fi.__globals__["trim"]), (fc, fc.__globals__["trim"])):
        keep = hold(o, 5000)
        assert sys.getrefcount(o) == base + 10_000
        assert trim(keep) == 5000
        assert sys.getrefcount(o) == base + 5000
        keep.clear()
        assert sys.getrefcount(o) == base
    for _ in range(50):
        fc(o, 200)
    assert sys.getrefcount(o) == base
    gi, gc_ = both(WIDTH_SRC, "churn")
    log_i, log_c = [], []
    run_both(gi, gc_, log_i, 3)
    gi(log_i, 300)
    gc_(log_c, 300)
    assert log_c == log_i
    assert log_c[:4] == [("live", 0), ("del", 0), ("live", 1), ("del", 1)]


@pytest.mark.xfail(reason="pre-existing: a compiled call of a C function holds one more reference "
                   "to its argument than the interpreter's call, seen by sys.getrefcount inside "
                   "the call (3 against 4 when run alone; the outcome depends on the tests that "
                   "ran before)", strict=False)
def test_count_seen_inside_a_compiled_call_matches_the_interpreter():
    """sys.getrefcount(o) called from compiled code reports what the interpreter reports."""
    o = object()
    fi, fc = both("def f(o, out):\n    out.append(sys.getrefcount(o))\n", "f", extra_globals={"sys": sys})
    out_i, out_c = [], []
    fi(o, out_i)
    fc(o, out_c)
    assert out_c == out_i
