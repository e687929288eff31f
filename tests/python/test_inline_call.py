"""Small functions called through a global inlined at their call sites (passes::inline_call,
GuardCallee): a function whose body is arithmetic that typed code computes runs as that body in
its caller. Every condition that sends the call back to the interpreter (a failed guard inside
the body, an overflow, a zero divisor, a rebound global, a replaced __code__, tracing, the
recursion limit) is made to happen in the middle of a hot loop, and result, exception, traceback
and tracer events are compared with the interpreter. References are checked too."""

import sys

import pytest

from conftest import assert_pending_work_runs_in_the_callee, both, run_both, signal_landings, traced

SRC = """
import sys
import traceback

def eval_A(i, j):
    return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)

def scale(x):
    return x * 2.5 + 1.0

def f(n, k, change=None):
    t = 0.0
    for i in range(n):
        if i == n // 2 and change is not None:
            change(globals())
        for j in range(k):
            t += eval_A(i, j) * 1.5 + scale(j * 0.5)
    return t

def g(xs):
    return [scale(x) for x in xs]

def h(a, b, n=1):
    for _ in range(n):
        r = eval_A(a, b)
    return r
"""


@pytest.fixture(autouse=True)
def _speculation_on(ember_mod):
    ember_mod._shim.set_speculate(True)


# The two copies share their code objects, so their inline caches (a LOAD_GLOBAL's keys
# version) hold what the last run saw: each warm-up runs long enough that the copy compiled,
# which runs second, re-specialises its own loads.
WARM = {"f": [(30, 20)], "g": [([float(i) for i in range(300)],)], "h": [(3, 4, 50)]}


def pair(name="f"):
    """The interpreted and the compiled copy of `name`, warmed up before the compile."""
    return both(SRC, name=name, warm=WARM[name])


def test_arithmetic_callees_run_inlined_and_agree(ember_mod):
    for name in ("f", "g", "h"):
        fi, fc = pair(name)
        hir = ember_mod.dump(fc, "hir")
        assert hir.count("GuardCallee") == (2 if name == "f" else 1), hir
        # The other calls stay: range(n), range(k), change(globals()) and globals() in f, range(n)
        # in h.
        assert hir.count("Call<") == {"f": 4, "g": 0, "h": 1}[name], hir
    fi, fc = pair()
    run_both(fi, fc, 200, 30)
    fi, fc = pair("g")
    run_both(fi, fc, [float(i) for i in range(100)])


@pytest.mark.parametrize("xs", [
    [1.0, 2, 3.5],                       # an int: read as a number, no deopt
    [1.0, 2 ** 70, 4.0],                 # a big int: deopt, the interpreter computes float(2**70)
    [1.0, True, 2.0],                    # a bool: deopt
    [1.0, "ab", 2.0],                    # a str: TypeError inside scale, with its traceback entry
    [1.0, None],                         # TypeError
], ids=["int", "bigint", "bool", "str", "none"])
def test_a_failed_guard_in_the_body_makes_the_call(ember_mod, xs):
    gi, gc = pair("g")
    oi, _ = run_both(gi, gc, [float(i) for i in range(50)] + xs + [5.0])
    if xs[1] in ("ab", None):
        assert oi.kind == "raise" and oi.traceback[-1][0] == "scale", oi.describe()


@pytest.mark.parametrize("args", [(-1, 0), (2 ** 40, 2 ** 40), (2 ** 62, 1), (3, -3), (0.5, 2)],
                         ids=["zero-divisor", "int64-overflow", "add-overflow", "negative", "float"])
def test_overflow_and_zero_division_inside_the_body(ember_mod, args):
    hi, hc = pair("h")
    for _ in range(3):
        run_both(hi, hc, 5, 7)
    oi, _ = run_both(hi, hc, *args)
    if args == (-1, 0):
        assert oi.kind == "raise" and "ZeroDivisionError" in oi.describe() and oi.traceback[-1][0] == "eval_A", oi.describe()


def rebind_global(g):
    g["eval_A"] = lambda i, j: 7.0


def replace_code(g):
    def other(i, j):
        return float(i - j)
    g["scale"].__code__ = (lambda x: x - 1.0).__code__
    g["eval_A"].__code__ = other.__code__


def rebind_to_a_builtin(g):
    g["scale"] = abs


@pytest.mark.parametrize("change", [rebind_global, replace_code, rebind_to_a_builtin])
def test_the_call_is_made_when_the_global_is_not_that_function(ember_mod, change):
    fi, fc = pair()
    run_both(fi, fc, 60, 10, change)


def test_tracing_switched_on_mid_loop_sees_the_calls(ember_mod):
    fi, fc = pair()
    ri, ei = traced(lambda start: fi(6, 5, start), ("eval_A", "scale"))
    rc, ec = traced(lambda start: fc(6, 5, start), ("eval_A", "scale"))
    assert ri == rc
    assert ei == ec
    assert ("eval_A", "call", ei[0][2]) in ei and ("scale", "return", ei[-1][2]) in ei


def test_at_the_recursion_limit_the_call_raises_as_in_the_interpreter(ember_mod):
    src = SRC + """
def deep(k):
    if k == 0:
        return scale(3.0)
    return deep(k - 1)
"""
    fi, fc = both(src, name="deep", warm=[(3,)])
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


def test_references_of_arguments_and_results_are_kept(ember_mod):
    gi, gc = pair("g")
    xs = [float(i) + 0.5 for i in range(100)] + [2 ** 70, 7]
    counts = [sys.getrefcount(x) for x in xs]
    for _ in range(20):
        r = gc(xs)
    assert r == gi(xs)
    del r
    assert [sys.getrefcount(x) for x in xs] == counts


def test_a_deopt_inside_the_body_releases_the_bodys_own_values(ember_mod):
    """`1.0 / (...)`: the constant 1.0 is on eval_A's stack while the int arithmetic after it
    checks its operands; a deopt there releases the body's reference to it."""
    hi, hc = pair("h")
    one = next(c for c in hc.__globals__["eval_A"].__code__.co_consts if c == 1.0)
    before = sys.getrefcount(one)
    for _ in range(10):
        run_both(hi, hc, 2 ** 70, 1, 3)   # a big int: deopts at the first addition
    assert sys.getrefcount(one) == before


def test_a_call_whose_inlined_body_keeps_failing_is_left_as_a_call(ember_mod):
    """Withdrawn after its guards failed (the failing call site is recorded as despecialised),
    the function compiled again keeps the call: the shim no longer offers the callee."""
    gi, gc = pair("g")
    before = ember_mod.stats()["recompiles"]
    xs = [2 ** 70] * 4
    for _ in range(40):
        run_both(gi, gc, xs)
    assert ember_mod.stats()["recompiles"] > before
    assert ember_mod.force_compile(gc)
    hir = ember_mod.dump(gc, "hir")
    assert "GuardCallee" not in hir, hir
    run_both(gi, gc, xs + [1.5])


GC_SRC = """
import ctypes, gc, sys, threading

def eval_A(i, j):
    return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)

def f(n):
    t = 0.0
    node = None
    for i in range(n):
        node = [node, [i]]   # two tracked allocations that stay alive: under threshold 1 they
        t += eval_A(i, 1)    # schedule a collection, which the callee's RESUME runs
    return t
"""


def test_pending_work_at_an_inlined_call_runs_in_a_frame_of_the_callee(ember_mod):
    """A collection scheduled just before the call runs at the callee's RESUME in the
    interpreter, with the callee's frame current; compiled code runs it in a frame of the
    callee pushed for the purpose (ember_rt_inline_pending), without a deopt."""
    fi, fc = both(GC_SRC, warm=[(50,)] * 3)
    assert_pending_work_runs_in_the_callee(ember_mod, fi, fc, 40, "GuardCallee", "eval_A", 30)


def test_an_exception_from_pending_work_at_an_inlined_call_has_the_callees_entry(ember_mod):
    """A signal handler that raises, run at an inlined call's check, raises from the callee's
    first line (its traceback entry, then the caller's at the call), as the interpreter raises
    it from the callee's RESUME; at the loop's own check it raises from the caller. Signals
    land at either, so the test repeats until it has seen both (each about half the time)."""
    fi, fc = both(GC_SRC, warm=[(50,)] * 3)
    first = fc.__globals__["eval_A"].__code__.co_firstlineno
    where = signal_landings(fc, 10 ** 7, "f", "eval_A", first + 8, first, 200)
    assert where == {"eval_A", "f"}, where
