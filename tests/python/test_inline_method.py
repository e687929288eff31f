"""Method bodies inlined at their call sites (passes::inline_method, GuardMethodCallee): a
method that reads slots of `self`, computes on the numbers and writes slots back (float's
`Point.normalize`) runs as its body in the caller, every check first and every store after
them. Each way out (a slot holding something else, a zero norm, an unset slot, the instance's
class changed, the method replaced on the class or through `__code__`, a staticmethod, other
globals, a rebound `sqrt`, tracing, pending work at the call) is made to happen in the middle of
a hot loop, and result, exception, traceback, tracer events and the arguments' state are
compared with the interpreter. References are checked too."""

import sys
import types

import pytest

from conftest import (SLOT_CLASSES, assert_argument_references_kept, assert_pending_work_runs_in_the_callee,
                      assert_tracing_sees_the_calls, both, run_both)

SRC = SLOT_CLASSES.format(methods="""
    def normalize(self):
        x = self.x
        y = self.y
        z = self.z
        norm = sqrt(x * x + y * y + z * z)
        self.x /= norm
        self.y /= norm
        self.z /= norm

    def bump(self, k):
        self.x = self.x * k
        self.y = self.y * k
""") + """
from math import sqrt

def bump_all(data, k):
    ps = [P(*t) for t in data]
    for p in ps:
        p.bump(k)
    return [(p.x, p.y) for p in ps]

def f(data, change=None):
    ps = [P(*t) for t in data]
    for i in range(len(ps)):
        if change is not None and i == len(ps) // 2:
            change(ps, i, globals())
        ps[i].normalize()
    return [(p.x, p.y, p.z) for p in ps]
"""

DATA = [(float(i) + 0.5, 2.0 * i + 1.0, 3.25) for i in range(60)]


@pytest.fixture(autouse=True)
def _speculation_on(ember_mod):
    ember_mod._shim.set_speculate(True)


def pair(src=SRC):
    """The interpreted and the compiled copy of `f`, warmed up before the compile."""
    return both(src, warm=[(DATA,)] * 3)


def test_the_method_runs_inlined_and_agrees(ember_mod):
    fi, fc = pair()
    hir = ember_mod.dump(fc, "hir")
    assert hir.count("GuardMethodCallee") == 1, hir
    # The slot stores come after every check, and write the dying floats in place.
    body = hir[hir.index("GuardMethodCallee"):]
    assert body.count("StoreAttrFloat") == 3, hir
    assert body.rindex("LoadAttrBorrow") < body.index("StoreAttrFloat"), hir
    deopts = ember_mod.stats()["deopts"]
    for _ in range(5):
        run_both(fi, fc, DATA)
    assert ember_mod.stats()["deopts"] == deopts


@pytest.mark.parametrize("row", [
    (3, 4, 12),                 # ints: read as numbers, no deopt; the results are floats
    (2 ** 70, 1.0, 1.0),        # a big int: deopt, the interpreter computes it
    (1.0, "ab", 2.0),           # TypeError from the callee's frame
    (0.0, 0.0, 0.0),            # ZeroDivisionError at the first division
    (1.0, True, 2.0),           # a bool: deopt
    (1e200, 1e200, 1e200),      # an infinite norm: the slots become 0.0
], ids=["ints", "bigint", "str", "zero", "bool", "overflow"])
def test_a_slot_holding_something_else_makes_the_call(ember_mod, row):
    fi, fc = pair()
    data = DATA[:30] + [row] + DATA[30:]
    oi, _ = run_both(fi, fc, data)
    if row[1] == "ab" or row[0] == 0.0:
        assert oi.kind == "raise" and oi.traceback[-1][0] == "P.normalize", oi.describe()


def unset_slot(ps, i, g):
    del ps[i].y


def change_class(ps, i, g):
    for p in ps[i:]:
        p.__class__ = g["Q"]


def replace_method(ps, i, g):
    def normalize(self):
        self.x = -1.0
    g["P"].normalize = normalize


def replace_code(ps, i, g):
    def other(self):
        self.z = 7.0
    g["P"].normalize.__code__ = other.__code__


def static_method(ps, i, g):
    # The same function and code, found without `self`: TypeError (missing argument).
    g["P"].normalize = staticmethod(g["P"].normalize)


def other_globals(ps, i, g):
    fn = g["P"].normalize
    g["P"].normalize = types.FunctionType(fn.__code__, {"sqrt": lambda v: 2.0, "__builtins__": __builtins__})


def rebind_sqrt(ps, i, g):
    g["sqrt"] = lambda v: 4.0


def class_with_setattr(ps, i, g):
    # Another class whose stores run code: its slots read as P's would, but its __setattr__
    # must see the callee's frame, so the inlined body must not run for it.
    for p in ps[i:]:
        p.__class__ = g["R"]


def shared_floats(ps, i, g):
    # The slots' floats gain other references: they must not be written in place.
    g["KEEP"] = [(p.x, p.y, p.z) for p in ps]


@pytest.mark.parametrize("change", [unset_slot, change_class, replace_method, replace_code, static_method,
                                    other_globals, rebind_sqrt, shared_floats, class_with_setattr])
def test_each_check_failing_mid_loop_agrees_with_the_interpreter(ember_mod, change):
    fi, fc = pair()
    oi, oc = run_both(fi, fc, DATA, change)
    if change is shared_floats:
        keep_i, keep_c = fi.__globals__["KEEP"], fc.__globals__["KEEP"]
        assert keep_i == keep_c and keep_c[-1] == (DATA[-1][0], DATA[-1][1], DATA[-1][2])
    if change in (unset_slot, static_method):
        assert oi.kind == "raise", oi.describe()
    if change is class_with_setattr:
        seen_i, seen_c = fi.__globals__["R"].seen, fc.__globals__["R"].seen
        assert seen_i == seen_c and seen_c[0] == ("x", "normalize"), (seen_i, seen_c)


def test_a_check_after_a_store_in_the_body_deopts_before_any_store(ember_mod):
    """`self.x = self.x * k` then `self.y = self.y * k`: a str in y fails after the
    interpreter stored x. The inlined body checks y before storing anything, so the
    interpreter's call stores x once, as it would have."""
    bi, bc = both(SRC, name="bump_all", warm=[(DATA, 1.5)] * 3)
    assert "GuardMethodCallee" in ember_mod.dump(bc, "hir")
    run_both(bi, bc, DATA, 2.0)
    data = DATA[:20] + [(1.0, "ab", 2.0)] + DATA[20:]
    oi, _ = run_both(bi, bc, data, 2.0)
    assert oi.kind == "raise" and oi.traceback[-1][0] == "P.bump", oi.describe()
    oi, _ = run_both(bi, bc, DATA[:20] + [(1.0, 2 ** 80, 2.0)] + DATA[20:], 2.0)


def test_tracing_switched_on_mid_loop_sees_the_calls(ember_mod):
    fi, fc = pair()
    assert_tracing_sees_the_calls(fi, fc, DATA, "normalize")


def test_references_are_kept(ember_mod):
    fi, fc = pair()
    assert_argument_references_kept(fi, fc, DATA)


def test_a_call_whose_inlined_body_keeps_failing_is_left_as_a_call(ember_mod):
    """Withdrawn after its checks failed (the call site recorded as despecialised), the
    function compiled again keeps the call."""
    fi, fc = pair()
    before = ember_mod.stats()["recompiles"]
    data = [(2 ** 70, 1.0, 1.0)] * 8
    for _ in range(40):
        run_both(fi, fc, data)
    assert ember_mod.stats()["recompiles"] > before
    assert ember_mod.force_compile(fc)
    assert "GuardMethodCallee" not in ember_mod.dump(fc, "hir")
    run_both(fi, fc, DATA)


GC_SRC = SRC + """
def g(n):
    p = P(1.0, 2.0, 3.0)
    node = None
    for i in range(n):
        node = [node, [i]]   # tracked allocations: under threshold 1 they schedule a
        p.x = p.x + 1.0      # collection, which the callee's RESUME runs
        p.normalize()
    return p.x, p.y, p.z
"""


def test_pending_work_at_an_inlined_call_runs_in_a_frame_of_the_callee(ember_mod):
    gi, gc_ = both(GC_SRC, name="g", warm=[(50,)] * 3)
    assert_pending_work_runs_in_the_callee(ember_mod, gi, gc_, 40, "GuardMethodCallee", "normalize", 30)


INIT_SRC = """
from math import sin, cos

class Pt:
    __slots__ = ('x', 'y', 'z')

    def __init__(self, i):
        self.x = x = sin(i)
        self.y = cos(i) * 3
        self.z = (x * x) / 2

def make(xs, change=None):
    out = []
    for k, i in enumerate(xs):
        if change is not None and k == len(xs) // 2:
            change(globals())
        p = Pt(i)
        out.append((p.x, p.y, p.z, type(p).__name__))
    return out
"""

XS = list(range(60))


def init_pair(src=INIT_SRC, **kw):
    return both(src, name="make", warm=[(XS,)] * 3, **kw)


def test_a_slot_class_whose_init_computes_is_made_inline(ember_mod):
    """float's `Point(i)`: `__init__` computes `sin`, `cos` and arithmetic and stores slots; the
    computation runs first, then AllocInstance and the stores (passes::inline_init with
    inline_method's two sections)."""
    fi, fc = init_pair()
    hir = ember_mod.dump(fc, "hir")
    assert hir.count("AllocInstance") == 1 and hir.count("InitStore<2,") == 3, hir
    assert hir.index("MathCall") < hir.index("AllocInstance"), hir
    deopts = ember_mod.stats()["deopts"]
    for _ in range(3):
        run_both(fi, fc, XS)
    run_both(fi, fc, [0.5, 1.5] + XS)   # floats where the profile had ints: read as numbers
    assert ember_mod.stats()["deopts"] == deopts
    run_both(fi, fc, [True, 2] + XS)     # a bool: deopt, the interpreter makes the call


@pytest.mark.parametrize("x", [2 ** 2000, "ab", float("inf"), None], ids=["bigint", "str", "inf", "none"])
def test_an_init_whose_computation_fails_raises_from_its_frame(ember_mod, x):
    fi, fc = init_pair()
    oi, _ = run_both(fi, fc, XS[:30] + [x] + XS[30:])
    assert oi.kind == "raise" and oi.traceback[-1][0] == "Pt.__init__", oi.describe()


def rebind_sin(g):
    g["sin"] = lambda v: 4.0


def replace_init(g):
    def __init__(self, i):
        self.x = self.y = self.z = -1.0
    g["Pt"].__init__ = __init__


def subclass(g):
    class Sub(g["Pt"]):
        __slots__ = ()
    g["Pt"] = Sub


@pytest.mark.parametrize("change", [rebind_sin, replace_init, subclass])
def test_an_init_changed_mid_loop_agrees_with_the_interpreter(ember_mod, change):
    fi, fc = init_pair()
    run_both(fi, fc, XS, change)


def test_an_init_with_other_globals_than_its_caller_is_called(ember_mod):
    """The class comes from another module, and the caller's `sin` is math.cos: the inlined
    body would read the caller's `sin`, so AllocInstance checks that `__init__`'s globals are
    the caller's (and the math call checks which function it got)."""
    lib = INIT_SRC.split("def make")[0]
    user = "def make(xs, change=None):" + INIT_SRC.split("def make(xs, change=None):")[1]
    ns = {"__name__": "ember_other_lib"}
    exec(compile(lib, "<ember-other-lib>", "exec"), ns)
    fi, fc = both("from math import cos as sin\n" + user, name="make", warm=[(XS,)] * 3, extra_globals={"Pt": ns["Pt"]})
    oi, _ = run_both(fi, fc, XS)
    assert oi.kind == "return", oi.describe()


def test_references_of_the_made_instances(ember_mod):
    """The floats the inlined __init__ stores are referenced by the instance alone (then by the
    result's tuple), as the interpreter leaves them; the arguments keep their counts."""
    fi, fc = init_pair()
    xs = [float(i) + 0.5 for i in range(40)]
    counts = [sys.getrefcount(x) for x in xs]
    for _ in range(10):
        rc = fc(xs)
    ri = fi(xs)
    assert rc == ri
    assert [sys.getrefcount(v) for t in rc for v in t[:3]] == [sys.getrefcount(v) for t in ri for v in t[:3]]
    del rc, ri
    assert [sys.getrefcount(x) for x in xs] == counts


INIT_GC_SRC = INIT_SRC + """
def many(n):
    node = None
    t = 0.0
    for i in range(n):
        node = [node, [i]]
        t += Pt(i).y
    return t
"""


def test_a_collection_the_allocation_schedules_runs_in_a_frame_of_init(ember_mod):
    gi, gc_ = both(INIT_GC_SRC, name="many", warm=[(50,)] * 3)
    assert_pending_work_runs_in_the_callee(ember_mod, gi, gc_, 40, "AllocInstance", "__init__", 10)
