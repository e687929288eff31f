"""Class calls whose __init__ only stores its parameters and constants, inlined at the call
(passes::inline_init, AllocInstance and InitStore): the instance is allocated in compiled code
and filled without a frame of __init__. Every condition that sends the call back to the
interpreter (a class changed, __init__ replaced or given other code, the global rebound,
__setattr__ defined, tracing, the recursion limit) is made to happen in the middle of a hot
loop, and result, exception, traceback, tracer events, gc callbacks and references are compared
with the interpreter."""

import sys

import pytest

from conftest import both, collections_seen, run_both, signal_landings, traced

SRC = """
class V:
    def __init__(self, x, y, z):
        self.x = x
        self.y = y
        self.z = z

class P:
    def __init__(self, a):
        self.a = a
        self.k = 7
        self.none = None

class W(V):
    pass

def f(n, change=None):
    out = []
    for i in range(n):
        if i == n // 2 and change is not None:
            change(globals())
        v = V(i, i * 0.5, "s")
        p = P(v)
        out.append((vars(v), vars(p.a) is vars(v), p.k, p.none, type(v).__name__))
    return out

def g(xs):
    return [vars(V(x, x, x)) for x in xs]

def h(k):
    return vars(P(k))

def mixed(n):
    return [type(V(i, 1, 2) if i % 2 else W(i, 1, 2)).__name__ for i in range(n)]
"""


@pytest.fixture(autouse=True)
def _speculation_on(ember_mod):
    ember_mod._shim.set_speculate(True)


WARM = {"f": [(30,)], "g": [([1, 2.5, "x"] * 10,)], "h": [(3,)], "mixed": [(40,)]}


def pair(name="f", src=SRC):
    """The interpreted and the compiled copy of `name`, warmed up before the compile."""
    return both(src, name=name, warm=WARM.get(name), own_code=True)


def test_class_calls_run_inlined_and_agree(ember_mod):
    fi, fc = pair()
    hir = ember_mod.dump(fc, "hir")
    assert hir.count("AllocInstance") == 2, hir
    assert hir.count("InitStore") == 6, hir
    run_both(fi, fc, 200)
    gi, gc_ = pair("g")
    assert "AllocInstance" in ember_mod.dump(gc_, "hir")
    run_both(gi, gc_, [1, 2.5, "x", None, (), 2 ** 80] * 20)
    hi, hc = pair("h")
    run_both(hi, hc, object)


def test_a_subclass_and_its_base_at_one_call_site(ember_mod):
    fi, fc = pair("mixed")
    run_both(fi, fc, 300)


def replace_init(g):
    def __init__(self, x, y, z):
        self.x = -x
        self.w = z
    g["V"].__init__ = __init__


def class_attribute(g):
    g["V"].extra = 5


def replace_code(g):
    def other(self, x, y, z):
        self.z = x
        self.y = "other"
    g["V"].__init__.__code__ = other.__code__


def rebind_to_other_class(g):
    class Q:
        def __init__(self, x, y, z):
            self.q = (x, y, z)
    g["V"] = Q


def rebind_to_function(g):
    class R:
        pass

    def make(x, y, z):
        r = R()
        r.x = x
        return r
    g["V"] = make


def define_setattr(g):
    def __setattr__(self, name, value):
        object.__setattr__(self, name, (name, value))
    g["V"].__setattr__ = __setattr__


def init_raises(g):
    def __init__(self, a):
        raise ValueError(type(a).__name__)
    g["P"].__init__ = __init__


def new_instead(g):
    g["P"].__new__ = lambda cls, a: ("new", a)


@pytest.mark.parametrize("change", [replace_init, class_attribute, replace_code, rebind_to_other_class,
                                    rebind_to_function, define_setattr, init_raises, new_instead])
def test_the_call_is_made_when_the_class_is_not_as_compiled(ember_mod, change):
    fi, fc = pair()
    oi, _ = run_both(fi, fc, 60, change)
    if change is init_raises:
        assert oi.kind == "raise" and oi.value == ("ValueError", "V"), oi.describe()


def test_tracing_switched_on_mid_loop_sees_init(ember_mod):
    src = SRC + """
def t(n, start):
    r = []
    for i in range(n):
        if i == n // 2:
            start()
        r.append(vars(V(i, 2, 3)))
    return r
"""
    ti, tc = both(src, name="t", warm=[(20, lambda: None)], own_code=True)
    assert "AllocInstance" in ember_mod.dump(tc, "hir")
    ri, ei = traced(lambda start: ti(8, start), ("__init__",))
    rc, ec = traced(lambda start: tc(8, start), ("__init__",))
    assert ri == rc
    assert ei == ec
    assert ("__init__", "call", ei[0][2]) in ei and ("__init__", "return", ei[-1][2]) in ei


def test_at_the_recursion_limit_the_call_raises_as_in_the_interpreter(ember_mod):
    src = SRC + """
def deep(k):
    if k == 0:
        return vars(V(1, 2, 3))
    return deep(k - 1)
"""
    fi, fc = both(src, name="deep", warm=[(3,)], own_code=True)
    assert "AllocInstance" in ember_mod.dump(fc, "hir")
    depth = 0
    while True:   # the depth this test's stack already takes
        depth += 1
        if sys._getframe(depth - 1).f_back is None:
            break
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 60)
    try:
        outcomes = [(run_both(fi, fc, k)[0].kind) for k in range(30, 70)]
    finally:
        sys.setrecursionlimit(old)
    assert "return" in outcomes and "raise" in outcomes


def test_references_of_the_arguments_and_the_instance(ember_mod):
    src = SRC + """
def keep(xs):
    return [V(x, x, None) for x in xs]
"""
    ki, kc = both(src, name="keep", warm=[([1.5, 2.5],)], own_code=True)
    assert "AllocInstance" in ember_mod.dump(kc, "hir")
    xs = [float(i) + 0.5 for i in range(50)] + [2 ** 70, object()]
    counts = [sys.getrefcount(x) for x in xs]
    r = kc(xs)
    assert [sys.getrefcount(x) for x in xs] == [c + 2 for c in counts]
    assert [sys.getrefcount(v) for v in r] == [sys.getrefcount(v) for v in ki(xs)]
    assert [vars(v) for v in r] == [vars(v) for v in ki(xs)]
    del r
    assert [sys.getrefcount(x) for x in xs] == counts


def test_a_call_whose_class_keeps_changing_is_left_as_a_call(ember_mod):
    """A class attribute updated at every iteration changes the class's type version each
    time: the check fails until the function is withdrawn, the call site is recorded as
    despecialised, and the function compiled again keeps the call."""
    src = SRC + """
def count(n, change):
    r = []
    for i in range(n):
        if change:
            V.made = getattr(V, "made", 0) + 1
        r.append(vars(V(i, 0, 0)))
    return r, getattr(V, "made", None)
"""
    ci, cc = both(src, name="count", warm=[(20, False)], own_code=True)
    assert "AllocInstance" in ember_mod.dump(cc, "hir")
    before = ember_mod.stats()["recompiles"]
    for _ in range(40):
        run_both(ci, cc, 10, True)
    assert ember_mod.stats()["recompiles"] > before
    assert ember_mod.force_compile(cc)
    assert "AllocInstance" not in ember_mod.dump(cc, "hir")
    run_both(ci, cc, 30, True)


GC_SRC = """
import sys

class Node:
    def __init__(self, nxt, i):
        self.nxt = nxt
        self.i = i

def f(n):
    node = None
    for i in range(n):
        node = Node(node, i)   # a tracked allocation that stays alive: under threshold 1 it
    return node.i              # schedules a collection, which __init__'s RESUME runs
"""


def frame_and_self(fr):
    """The frame's function, its locals' names and whether `self` had attributes yet."""
    loc = fr.f_locals
    return fr.f_code.co_name, sorted(loc), dict(vars(loc["self"])) if "self" in loc else None


def test_a_collection_the_allocation_schedules_runs_in_a_frame_of_init(ember_mod):
    """In the interpreter the collection the instance's allocation schedules runs at
    __init__'s RESUME, with the new, still empty instance in __init__'s frame; compiled code
    runs it after the allocation in a frame of __init__ pushed for the purpose, without a
    deopt."""
    fi, fc = both(GC_SRC, warm=[(50,)] * 3, own_code=True)
    assert "AllocInstance" in ember_mod.dump(fc, "hir")
    ri, si = collections_seen(fi, 40, frame_and_self)
    deopts = ember_mod.stats()["deopts"]
    rc, sc = collections_seen(fc, 40, frame_and_self)
    assert ember_mod.stats()["deopts"] == deopts
    assert ri == rc and si == sc
    assert si.count(("__init__", ["i", "nxt", "self"], {})) >= 15, si


def test_an_exception_from_pending_work_at_the_call_has_inits_entry(ember_mod):
    """A signal handler that raises, run after the allocation, raises from __init__'s first
    line (its traceback entry, then the caller's at the call), as the interpreter raises it
    from __init__'s RESUME; at the loop's own check it raises from the caller. Signals land at
    either, so the test repeats until it has seen both."""
    fi, fc = both(GC_SRC, warm=[(50,)] * 3, own_code=True)
    assert "AllocInstance" in ember_mod.dump(fc, "hir")
    first = fc.__globals__["Node"].__init__.__code__.co_firstlineno
    where = signal_landings(fc, 10 ** 7, "f", "__init__", first + 7, first, 300)
    assert where == {"__init__", "f"}, where
