"""Typed HIR under CPython: every guard kind made to fail in the middle of a hot loop, compared
with the interpreter (result, exception, traceback, arguments, f_locals), the deopt counted;
recompilation after repeated failures; references on deopt paths; random programs compiled
after a warm-up with one type and run with others (docs/typed-hir.md)."""

import sys
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Call, Make, assert_same, both, call_outcome, run_both


@pytest.fixture(autouse=True)
def _speculation_on(ember_mod):
    ember_mod._shim.set_speculate(True)


def deopts(ember):
    return ember.stats()["deopts"]


# Each case: a loop whose arithmetic or comparison the interpreter quickens for exact ints or
# floats during the warm-up, then inputs whose middle element breaks that.
LOOPS = {
    "sum": "def f(xs):\n    t = xs[0]\n    for x in xs[1:]:\n        t = t + x * x\n    return t\n",
    "sub_mul": "def f(xs):\n    t = xs[0]\n    for x in xs[1:]:\n        t = (t - x) * x % 1009\n    return t\n",
    "compare": ("def f(xs):\n    n = 0\n    m = xs[0]\n    for x in xs:\n        if x < m:\n"
                "            m = x\n        n = n + 1\n    return n, m\n"),
    "locals": ("import sys\n"
               "def f(xs):\n    t = xs[0]\n    seen = None\n    for x in xs[1:]:\n        t = t + x\n"
               "        if t != t or x is None:\n            seen = dict(sys._getframe().f_locals)\n"
               "    return t, sorted(seen) if seen else None\n"),
}

INT_WARM = [list(range(1, 40))]
FLOAT_WARM = [[0.5 * i for i in range(1, 40)]]

BREAKERS = {
    "int->float": (INT_WARM, [1, 2, 3, 4.5, 6, 7]),
    "int->bool": (INT_WARM, [1, 2, True, 3, False]),
    "int->bigint": (INT_WARM, [1, 2, 3, 2 ** 40, 5, 6]),
    "int->str": (INT_WARM, [1, 2, "x", 4]),
    "int->overflow": (INT_WARM, [3, 2 ** 29, 2 ** 29, 2 ** 29, 5]),
    "float->int": (FLOAT_WARM, [0.5, 1.5, 2, 3.5]),
    "float->str": (FLOAT_WARM, [0.5, 1.5, "s", 3.5]),
    "float->nan": (FLOAT_WARM, [0.5, float("nan"), 1.0, 2.0]),
    "float->None": (FLOAT_WARM, [0.5, 1.5, None, 3.5]),
}


@pytest.mark.parametrize("breaker", sorted(BREAKERS))
@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_a_guard_fails_mid_loop_and_the_interpreter_finishes_the_call(ember_mod, loop, breaker):
    warm, bad = BREAKERS[breaker]
    fi, fc = both(LOOPS[loop], warm=[(w,) for w in warm])
    before = deopts(ember_mod)
    run_both(fi, fc, warm[0])
    assert deopts(ember_mod) == before, "no guard fails on the warm-up input"
    run_both(fi, fc, bad)
    run_both(fi, fc, warm[0])


@pytest.mark.parametrize("breaker", ["int->float", "int->str", "float->int"])
def test_the_failed_guard_is_counted(ember_mod, breaker):
    warm, bad = BREAKERS[breaker]
    fi, fc = both(LOOPS["sum"], warm=[(w,) for w in warm])
    before = deopts(ember_mod)
    run_both(fi, fc, bad)
    assert deopts(ember_mod) > before


def test_unboxed_values_reach_the_interpreter_boxed_at_a_deopt(ember_mod):
    # (a * b) is computed unboxed; c breaks the guard of the addition, so the deopt exit boxes
    # the product for the interpreter, which adds a str to a float and raises TypeError.
    src = "def f(a, b, c):\n    return a * b + c\n"
    fi, fc = both(src, warm=[(1.5, 2.0, 0.25)] * 3)
    before = deopts(ember_mod)
    run_both(fi, fc, 1.5, 2.0, "x")
    assert deopts(ember_mod) == before + 1
    # An int c is read by UnboxNumber (float(c), as float_add converts it): no deopt.
    run_both(fi, fc, 1.5, 2.0, 3)
    assert deopts(ember_mod) == before + 1
    run_both(fi, fc, 1.5, 2.0, 2 ** 80)   # not compact: deopts
    assert deopts(ember_mod) == before + 2
    assert fc(1.5, 2.0, 0.25) == 3.25


def test_a_guard_that_keeps_failing_gets_its_function_recompiled_generic(ember_mod):
    src = ("def f(xs):\n    t = 0\n    for x in xs:\n        t = t + x\n    return t\n")
    fi, fc = both(src, warm=[([1.5, 2.5, 3.5],)] * 3)
    recompiles = ember_mod.stats()["recompiles"]
    # Quickened for floats; lists of ints make int + int at the float addition, which deopts
    # at the first iteration of each call.
    for _ in range(20):
        run_both(fi, fc, [1, 2, 3])
    assert ember_mod.stats()["recompiles"] > recompiles
    assert not ember_mod.is_compiled(fc), "withdrawn to the interpreter"
    assert ember_mod.force_compile(fc)
    before = deopts(ember_mod)
    for _ in range(5):
        run_both(fi, fc, [1, 2, 3])
        run_both(fi, fc, [1.5, 2.5, 3.5])
    assert deopts(ember_mod) == before, "the failing site is compiled generic now"
    assert ember_mod.is_compiled(fc)


def test_a_float_comparison_reads_a_compact_int_as_a_number(ember_mod):
    """COMPARE_OP_FLOAT with an int operand (go's UCTNode.best_child: `child.score > best`,
    `best = -1` before the first float) compares as doubles, as float_richcompare does for a
    compact int: no deopt. Two ints, a big int and a str still deopt to the interpreter."""
    src = ("def f(xs):\n    best = -1\n    k = None\n    for i, x in enumerate(xs):\n"
           "        if x > best:\n            best = x\n            k = i\n    return k, best\n")
    fi, fc = both(src, warm=[([0.5, 2.5, 1.5],)] * 3)
    hir = ember_mod.dump(fc, "hir")
    assert "UnboxNumbers" in hir and "FloatCompare" in hir, hir
    before = deopts(ember_mod)
    for xs in ([0.5, 2.5, 1.5], [-3.0, -2.0], [1.0, 1, 2, 2.0], [0.5, 3, 2.0, float("nan")]):
        run_both(fi, fc, xs)
    assert deopts(ember_mod) == before
    for xs in ([1, 2], [2 ** 80, 1.0], ["a", 1.0]):
        run_both(fi, fc, xs)
    assert deopts(ember_mod) > before


def test_an_accumulator_whose_type_flips_is_despecialised_at_all_its_updates(ember_mod):
    """go's Board.score: `count += 1` in two branches, `count` an int or a float by the
    argument. When one update's guards made the function withdraw, the compile after it takes
    every update of that local generic (serialize.c, despecialised_with), not only the one that
    failed: neither kind of call deopts any more."""
    src = ("def f(xs, start):\n    count = start\n    for x in xs:\n        if x > 0:\n"
           "            count += 1\n        else:\n            count += 2\n    return count\n")
    xs = [1, -1] * 8
    fi, fc = both(src, warm=[(xs, 0)] * 3)
    recompiles = ember_mod.stats()["recompiles"]
    for _ in range(20):
        run_both(fi, fc, xs, 0.5)
    assert ember_mod.stats()["recompiles"] > recompiles
    # Interpreted, calls with an int re-specialise the update that did not fail for ints.
    for _ in range(25):
        run_both(fi, fc, xs, 3)
    assert ember_mod.force_compile(fc)
    assert ember_mod.dump(fc, "hir").count("BinaryOp<13, 9,") == 2
    before = deopts(ember_mod)
    for _ in range(5):
        run_both(fi, fc, xs, 0.5)
        run_both(fi, fc, xs, 3)
    assert deopts(ember_mod) == before


def test_deopt_paths_keep_reference_counts(ember_mod):
    src = "def f(a, b, c):\n    return (a - b) * c\n"
    fi, fc = both(src, warm=[(4.0, 1.5, 2.0)] * 3)
    a, b, c = 4.25, 1.5, 7   # c breaks the multiply's guard after a - b ran unboxed
    counts = [sys.getrefcount(x) for x in (a, b, c)]
    for _ in range(50):
        assert fc(a, b, c) == (a - b) * c
        assert fc(a, b, 2.0) == (a - b) * 2.0
    assert [sys.getrefcount(x) for x in (a, b, c)] == counts


# ---- random straight-line programs: warm with one type, run with others -------------------

VALUES = st.one_of(st.integers(-50, 50), st.sampled_from([2 ** 31, -(2 ** 62), 2 ** 64, True, False]),
                   st.floats(-1e6, 1e6, width=32), st.sampled_from([0.0, -0.0, float("inf"), "s", None]))


def _expr(depth):
    leaf = st.sampled_from(["a", "b", "c", "1", "2.5"])
    if depth == 0:
        return leaf
    sub = _expr(depth - 1)
    # `**`, `<<` and `>>` only with a small literal right operand: between arbitrary values
    # (2 ** 64 ** 50, x << 2 ** 31) they build ints so big that the interpreter alone runs for
    # minutes.
    return st.one_of(
        leaf,
        st.tuples(sub, st.sampled_from(["+", "-", "*", "<", ">=", "==", "/", "//", "%", "&", "|", "^"]), sub)
        .map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(sub, st.sampled_from(["**", "<<", ">>"]), st.sampled_from(["-2", "0", "1", "3", "2.5", "-1.5"]))
        .map(lambda t: f"({t[0]} {t[1]} {t[2]})"))


PROGRAMS = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), _expr(2)), min_size=1, max_size=5).map(
    lambda stmts: "def f(a, b, c):\n" + "".join(f"    {v} = {e}\n" for v, e in stmts) + "    return a, b, c\n")


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(PROGRAMS, st.sampled_from([(3, 4, 5), (1.5, -2.0, 0.25)]), VALUES, VALUES, VALUES)
def test_property_typed_straight_line_programs(src, warm, a, b, c):
    """Straight-line programs over int, float, bool, str and None values, compiled after the
    interpreter specialised them for all-int or all-float inputs: interpreter and Ember agree
    on result, exception, message and traceback for any inputs. The operators include the
    ones typed code computes only when the operand types are known (`/ // % ** << >> & | ^`),
    with their zero divisors, negative shifts, overflows and complex powers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fi, fc = both(src, warm=[warm] * 3)
        run_both(fi, fc, a, b, c)
        run_both(fi, fc, *warm)


def test_an_int_accumulator_of_float_products_stays_in_compiled_code(ember_mod):
    src = ("def f(xs, ys):\n    t = 0\n    for x, y in zip(xs, ys):\n        t += x * y\n    return t\n")
    xs, ys = [0.5 * i for i in range(50)], [1.5] * 50
    fi, fc = both(src, warm=[(xs, ys)] * 3)
    before = deopts(ember_mod)
    for _ in range(30):
        run_both(fi, fc, xs, ys)
    assert deopts(ember_mod) == before, "the int 0 + float is typed code, not a deopt"
    run_both(fi, fc, [], [])
    run_both(fi, fc, xs, ["s"] * 50)
    run_both(fi, fc, [2 ** 70] * 3, [1.5] * 3)


TYPED_OPS = ["(a + 0) // (b + 0)", "(a + 0) % (b + 0)", "(a + 0) << (b + 0)", "(a + 0) >> (b + 0)",
             "(a + 0) & (b - 0)", "(a + 0) | (b * 1)", "(a - 0) ^ (b + 0)", "(x * 1.0) ** (y * 1.0)",
             "(x * 1.0) / (y * 1.0)", "(a + 0) / (x * 1.0)", "(a + 0) * (x * 1.0) - (b + 0)",
             "(x * 1.0) ** 2.5", "(a * b) // 7", "(a + b) % -3", "(x + y) < (x * y)"]
EDGES = [(7, 2, 1.5, 2.0), (-7, 2, -1.5, 0.5), (7, -2, 0.0, -1.0), (0, 0, -8.0, 1 / 3), (1, 63, 1e300, 10.0),
         (-1, 63, 2.0, -1075.0), (2 ** 29, 40, float("inf"), 0.0), (5, -1, float("nan"), 2.0),
         (-(2 ** 29), 3, -0.0, -0.0), (3, 70, 4.0, 0.5)]


@pytest.mark.parametrize("expr", TYPED_OPS)
def test_operations_typed_from_known_operand_types_match_the_interpreter(ember_mod, expr):
    """Generic operations whose operand types are known (results of quickened int or float
    arithmetic, typed constants) run as typed code; on every edge (zero divisors, negative
    shifts, 64-bit overflow, complex powers, inf, nan, -0.0) they agree with the interpreter,
    deopting where it raises or computes a big int."""
    src = f"def f(a, b, x, y):\n    return {expr}\n"
    fi, fc = both(src, warm=[(6, 3, 1.5, 2.5)] * 3)
    for args in EDGES:
        run_both(fi, fc, *args)


# CALL's specialised forms (EmberCallSpec): each fast path makes the interpreter's checks and
# takes the generic call when one fails, so every input below must agree with the interpreter.
CALLS_SRC = """
import math

def f(xs, s, d, out):
    t = 0.0
    for x in xs:
        t += math.sqrt(x)              # CALL_BUILTIN_O
        out.append(len(xs))            # CALL_LEN, CALL_LIST_APPEND
        if isinstance(x, int):         # CALL_ISINSTANCE
            t += 1
        t += divmod(x, 3)[0]           # CALL_BUILTIN_FAST
        u = s.upper()                  # CALL_METHOD_DESCRIPTOR_NOARGS
        t += d.get(u, 0)               # CALL_METHOD_DESCRIPTOR_FAST
        out.append(", ".join([u, u]))  # CALL_METHOD_DESCRIPTOR_O
    return t, out[-3:]
"""


class _Str(str):
    def upper(self):
        return "sub"


class _Dict(dict):
    def get(self, k, default=None):
        return 100


class _List(list):
    def append(self, v):
        super().append(("sub", v))


CALL_INPUTS = {
    "warm shape": ([1, 4, 9], "ab", {"AB": 2}, []),
    "C function raises": ([1, -4, 9], "ab", {}, []),
    "str argument": ([1, "x"], "ab", {}, []),
    "float argument": ([1, 2.5, 9], "ab", {}, []),
    "str subclass self": ([1, 4], _Str("ab"), {}, []),
    "dict subclass self": ([1, 4], "ab", _Dict(), []),
    "None self": ([1, 4], "ab", None, []),
    "list subclass self": ([1, 4], "ab", {}, _List()),
    "tuple self": ([1, 4], "ab", {}, ()),
}


@pytest.mark.parametrize("case", sorted(CALL_INPUTS))
def test_specialised_calls_match_the_interpreter_when_their_checks_fail(ember_mod, case):
    fi, fc = both(CALLS_SRC, warm=[CALL_INPUTS["warm shape"]] * 2)
    run_both(fi, fc, *CALL_INPUTS["warm shape"])
    run_both(fi, fc, *CALL_INPUTS[case])
    run_both(fi, fc, *CALL_INPUTS["warm shape"])


def test_specialised_calls_follow_rebound_builtins(ember_mod):
    fi, fc = both(CALLS_SRC, warm=[CALL_INPUTS["warm shape"]] * 2)
    for f in (fi, fc):
        f.__globals__["len"] = lambda x: -7
        f.__globals__["isinstance"] = lambda a, b: False
        f.__globals__["divmod"] = lambda a, b: (0.5, 0)
        f.__globals__["math"] = type(sys)("fake_math")
        f.__globals__["math"].sqrt = lambda x: 1
    run_both(fi, fc, *CALL_INPUTS["warm shape"])
    for f in (fi, fc):
        for name in ("len", "isinstance", "divmod"):
            del f.__globals__[name]
        import math
        f.__globals__["math"] = math
    run_both(fi, fc, *CALL_INPUTS["warm shape"])


def test_specialised_calls_keep_reference_counts(ember_mod):
    fi, fc = both(CALLS_SRC, warm=[CALL_INPUTS["warm shape"]] * 2)
    xs, s, d, out = [1, 4, 9], "ab" * 3, {"ABABAB": 2}, []
    before = [sys.getrefcount(o) for o in (xs, s, d, out)]
    for _ in range(50):
        fc(xs, s, d, out)
        with pytest.raises(ValueError):
            fc([1, -1], s, d, out)
    del out[:]
    assert [sys.getrefcount(o) for o in (xs, s, d, out)] == before


# Borrowed attribute owners (passes/borrow.rs): `o.x` and `o.y = v` on a local take no reference
# to `o` on a cache hit. Here the attribute operation itself runs Python code that drops the
# frame's reference to `o` through f_locals (PEP 667) while the operation still uses `o`: the
# getter, a data descriptor's __set__, and the __del__ of the value a store replaces.
BORROW_SRC = """
import sys

class Rebind:
    def __del__(self):
        frame = sys._getframe(1)
        if "o" in frame.f_locals:
            frame.f_locals["o"] = "rebound by __del__"

class Setter:
    def __set__(self, obj, value):
        sys._getframe(1).f_locals["o"] = "rebound by __set__"
        obj.__dict__["s"] = value

class P:
    s = Setter()

    def __init__(self, n):
        self.n = n
        self.v = None

    @property
    def x(self):
        sys._getframe(1).f_locals["o"] = "rebound by the getter"
        return self.n + 1

def f(n, which):
    o = P(n)
    t = o.n                        # a hit: no reference taken
    if which == 1:
        t += o.x                   # the getter drops the frame's reference
    elif which == 2:
        o.s = n                    # __set__ drops it
    elif which == 3:
        o.v = Rebind()
        o.v = n                    # the old value's __del__ drops it
    return t, o
"""


@pytest.mark.parametrize("which", [0, 1, 2, 3])
def test_borrowed_attribute_owners_survive_code_that_unbinds_them(ember_mod, which):
    fi, fc = both(BORROW_SRC, warm=[(3, 0), (4, which)] * 2)
    for n in range(5):
        run_both(fi, fc, n, which)
        run_both(fi, fc, n, 0)


def test_borrowed_identity_tests_keep_reference_counts(ember_mod):
    src = ("def f(o, p):\n    n = 0\n    for i in range(3):\n        if o is None:\n            n += 1\n"
           "        if p is not None:\n            n += p.k\n    return n\n")

    class K:
        k = 2
    fi, fc = both(src, warm=[(None, K()), (1, None)] * 2)
    o, p = object(), K()
    before = (sys.getrefcount(o), sys.getrefcount(p))
    for _ in range(100):
        assert fc(o, p) == fi(o, p) == 6
        assert fc(None, None) == fi(None, None) == 3
    assert (sys.getrefcount(o), sys.getrefcount(p)) == before


# Borrowed attribute values (passes/borrow.rs, LoadAttrBorrow): a slot or inline-value read
# that is only compared or unboxed takes no reference. Where the interpreter's quickened form
# would not read it (another type version: a class changed, a subclass; an attribute deleted,
# invalidated inline values, another key at the dict hint) the site's cache answers if it can
# without running code, and otherwise it deopts to the LOAD_ATTR.
# Slots (S), inline values (V) and an assigned __dict__ (H: LOAD_ATTR_WITH_HINT).
ATTR_VALUE_SRC = """
class S:
    __slots__ = ("x", "y")
    def __init__(self, x, y):
        self.x = x
        self.y = y

class V:
    def __init__(self, x, y):
        self.x = x
        self.y = y

class H:
    def __init__(self, x, y):
        self.__dict__ = {"x": x, "y": y}

def f(ps):
    best = ps[0]
    t = 0.0
    for p in ps:
        if p.x > best.x:
            best = p
        t = t + p.x * p.y
    return best.x, t
"""


def _attr_points(cls, n=20):
    return [cls(0.5 * i, 1.0 + i) for i in range(n)]


@pytest.mark.parametrize("cls", ["S", "V", "H"])
def test_borrowed_attribute_values_deopt_where_the_interpreter_would(ember_mod, cls):
    fi, fc = both(ATTR_VALUE_SRC, warm=[(Make(lambda ns: _attr_points(ns[cls])),)] * 2, own_code=True)
    assert "LoadAttrBorrow" in ember_mod.dump(fc, "hir")
    ki, kc = fi.__globals__[cls], fc.__globals__[cls]
    before = deopts(ember_mod)
    run_both(fi, fc, Make(lambda ns: _attr_points(ns[cls])))
    assert deopts(ember_mod) == before, "no guard fails on the warm input"

    def sub(ns):      # a subclass instance: another type version
        ps = _attr_points(ns[cls])
        ps[7] = type("Sub", (ns[cls],), {"__slots__": ()} if cls == "S" else {})(9.5, 2.0)
        return ps

    def deleted(ns):  # an attribute deleted: the interpreter raises AttributeError
        ps = _attr_points(ns[cls])
        del ps[5].x
        return ps

    def int_coord(ns):  # an int read by UnboxNumbers: no deopt of the read
        ps = _attr_points(ns[cls])
        ps[3].x = 3
        return ps

    for make in (sub, deleted, int_coord):
        run_both(fi, fc, Make(make))
    assert deopts(ember_mod) > before
    if cls == "V":
        def many(ns):  # many attributes added to one instance: its inline values go invalid
            ps = _attr_points(ns[cls])
            for k in range(40):
                setattr(ps[4], f"a{k}", k)
            return ps
        run_both(fi, fc, Make(many))
    if cls == "H":
        def reordered(ns):  # y before x in one instance's dict: another key at the hint
            ps = _attr_points(ns[cls])
            ps[4].__dict__ = {"y": 2.0, "x": 9.0}
            return ps
        run_both(fi, fc, Make(reordered))
    # The class itself changes: its version moves on; the sites' caches answer from then on.
    ki.z = kc.z = 1
    for _ in range(3):
        run_both(fi, fc, Make(lambda ns: _attr_points(ns[cls])))


def test_borrowed_attribute_reads_of_a_polymorphic_site_take_the_cache(ember_mod):
    """richards's `self.priority > old.priority` on tasks of four classes: the reads are borrowed
    for the profile's class, and the site's cache answers for the others: no deopt, no
    withdrawal."""
    src = ATTR_VALUE_SRC + "class V2(V):\n    pass\nclass V3(V):\n    pass\n"
    fi, fc = both(src, warm=[(Make(lambda ns: _attr_points(ns["V"])),)] * 2, own_code=True)
    assert "LoadAttrBorrow" in ember_mod.dump(fc, "hir")

    def mixed(ns):
        return [ns[("V", "V2", "V3")[i % 3]](0.5 * i, 1.0 + i) for i in range(30)]

    run_both(fi, fc, Make(mixed))
    before, recompiles = deopts(ember_mod), ember_mod.stats()["recompiles"]
    for _ in range(20):
        run_both(fi, fc, Make(mixed))
    assert deopts(ember_mod) == before
    assert ember_mod.stats()["recompiles"] == recompiles
    assert ember_mod.is_compiled(fc)


def test_borrowed_attribute_values_keep_reference_counts(ember_mod):
    fi, fc = both(ATTR_VALUE_SRC, warm=[(Make(lambda ns: _attr_points(ns["S"])),)] * 2, own_code=True)
    assert "LoadAttrBorrow" in ember_mod.dump(fc, "hir")
    k = fc.__globals__["S"]
    ps = _attr_points(k)
    xs = [float(1000 + i) for i in range(len(ps))]
    for p, x in zip(ps, xs):
        p.x = x
    counts = [sys.getrefcount(x) for x in xs]
    for _ in range(50):
        fc(ps)
    ps[6] = type("Sub", (k,), {"__slots__": ()})(xs[6], 2.0)  # deopts mid-loop
    for _ in range(50):
        fc(ps)
    assert [sys.getrefcount(x) for x in xs] == counts


# `p.x *= d` (LOAD_FAST, COPY 1, LOAD_ATTR, ..., STORE_ATTR): the local load and the read are
# both borrowed (passes/borrow.rs), so the update takes no reference at all. Breakers: a zero
# divisor (ZeroDivisionError from `1.0 / d`, with its traceback, mid-loop), an int attribute, a
# subclass, a deleted attribute, and a `d` with __rmul__ / __rtruediv__ (generic path).
AUG_ATTR_SRC = ATTR_VALUE_SRC + """
class R:
    def __rtruediv__(self, other):
        return 1.5

    def __rmul__(self, other):
        return other

def g(ps, ds):
    for p in ps:
        for d in ds:
            p.x *= d
            p.y = p.y + 1.0 / d
    return [(p.x, p.y) for p in ps]
"""


@pytest.mark.parametrize("cls", ["S", "V", "H"])
def test_borrowed_augmented_attribute_updates_match_the_interpreter(ember_mod, cls):
    pts = Make(lambda ns: _attr_points(ns[cls], 6))
    fi, fc = both(AUG_ATTR_SRC, "g", warm=[(pts, [2.0, 4.0])] * 2, own_code=True)
    assert "LoadAttrBorrow" in ember_mod.dump(fc, "hir")
    run_both(fi, fc, pts, [2.0, 0.5])
    for ds in ([2.0, 0.0, 1.0], [2, 3], [2.0, Make(lambda ns: ns["R"]()), 1.0]):
        run_both(fi, fc, pts, ds)

    def sub(ns):
        ps = _attr_points(ns[cls], 6)
        ps[2] = type("Sub", (ns[cls],), {"__slots__": ()} if cls == "S" else {})(9.5, 2.0)
        return ps

    def deleted(ns):
        ps = _attr_points(ns[cls], 6)
        del ps[3].x
        return ps

    def int_x(ns):
        ps = _attr_points(ns[cls], 6)
        ps[1].x = 7
        return ps

    for make in (sub, deleted, int_x):
        run_both(fi, fc, Make(make), [2.0, 4.0])


def test_borrowed_augmented_attribute_updates_keep_reference_counts(ember_mod):
    fi, fc = both(AUG_ATTR_SRC, "g", warm=[(Make(lambda ns: _attr_points(ns["V"], 6)), [2.0, 4.0])] * 2,
                  own_code=True)
    ps = _attr_points(fc.__globals__["V"], 6)
    ds = [float(1000 + i) for i in range(3)]
    counts = [sys.getrefcount(p) for p in ps] + [sys.getrefcount(d) for d in ds]
    for _ in range(30):
        fc(ps, ds)
    with pytest.raises(ZeroDivisionError):
        fc(ps, [2.0, 0.0])
    assert [sys.getrefcount(p) for p in ps] + [sys.getrefcount(d) for d in ds] == counts


# Borrowed subscript operands (BINARY_SUBSCR_LIST_INT / _TUPLE_INT on locals): the fast path
# reads the element without references; every other case takes the generic path, including a
# __getitem__ that drops the frame's reference to the container through f_locals.
SUBSCR_SRC = """
import sys

class L(list):
    def __getitem__(self, i):
        sys._getframe(1).f_locals["xs"] = "rebound"
        return list.__getitem__(self, i) * 10

def f(xs, i):
    t = 0
    for k in range(3):
        t += xs[i] + xs[k]
    return t, xs
"""

SUBSCR_INPUTS = {
    "list": ([1, 2, 3, 4], 3),
    "tuple": ((1, 2, 3, 4), 1),
    "negative index": ([1, 2, 3, 4], -1),
    "out of range": ([1, 2, 3], 7),
    "big index": ([1, 2, 3], 2 ** 70),
    "bool index": ([1, 2, 3], True),
    "float index": ([1, 2, 3], 1.0),
    "dict": ({0: 5, 1: 6, 2: 7, 3: 8}, 3),
    "list subclass": ("L", 2),
}


@pytest.mark.parametrize("case", sorted(SUBSCR_INPUTS))
def test_borrowed_subscript_operands_match_the_interpreter(ember_mod, case):
    fi, fc = both(SUBSCR_SRC, warm=[([1, 2, 3, 4], 1)] * 2)
    xs, i = SUBSCR_INPUTS[case]
    if xs == "L":
        xs = fi.__globals__["L"]([1, 2, 3])   # its __getitem__ rebinds the caller's `xs`
    run_both(fi, fc, xs, i)
    before = (sys.getrefcount(xs), sys.getrefcount(i))
    for _ in range(20):
        try:
            fc(xs, i)
        except (IndexError, TypeError, KeyError):
            pass
    assert (sys.getrefcount(xs), sys.getrefcount(i)) == before


# On x86-64 a plain CALL caches its compiled callee's entry (EmberResumeIC, ember_call_ic): it must
# follow a callee whose code is replaced and one withdrawn after failing guards.
CALLSITE_SRC = """
def g(x):
    return x + 1

def h(x):
    return x * 10

G_CODE = g.__code__

def f(n, swap_at):
    t = 0
    try:
        for i in range(n):
            t += g(i)
            if i == swap_at:
                g.__code__ = h.__code__
    finally:
        g.__code__ = G_CODE
    return t

def k(x, y):
    return x * y + 0.5

def caller(xs):
    return [k(x, x) for x in xs]
"""


def test_call_site_entry_cache_follows_a_replaced_code_object(ember_mod):
    fi, fc = both(CALLSITE_SRC, warm=[(6, -1)] * 2)
    for swap_at in (-1, 0, 3, 5):
        run_both(fi, fc, 6, swap_at)


def test_call_site_entry_cache_follows_a_withdrawn_callee(ember_mod):
    fi, fc = both(CALLSITE_SRC, "caller", warm=[([1.5, 2.5, 3.5],)] * 2)
    recompiles = ember_mod.stats()["recompiles"]
    # k was quickened for floats: ints make its guards fail until it is withdrawn.
    for _ in range(20):
        run_both(fi, fc, [1, 2, 3])
    assert ember_mod.stats()["recompiles"] > recompiles
    run_both(fi, fc, [1.5, 2.5])
    assert ember_mod.force_compile(fc.__globals__["k"])
    run_both(fi, fc, [1.5, 2, 3.5])


# Attribute inline caches whose class changes version after they were filled (a class attribute
# assigned later, as lazily initialised class state does): the entry filled for that class is
# refilled at its version (runtime_ic.c entry_for), entry 0 included, so that the inlined test
# answers again instead of every lookup taking the out-of-line path for good.
_STALE_IC_LOOP = (
    "def {name}(objs, bump_at):\n"
    "    t = 0\n"
    "    for i, o in enumerate(objs):\n"
    "        if i == bump_at:\n"
    "            type(o).tag = i\n"
    "        t += o.get() + o.x\n"
    "        o.x = o.x + 1\n"
    "    return t\n"
)
STALE_IC_SRC = (
    "class P:\n"
    "    def __init__(self, x):\n"
    "        self.x = x\n"
    "    def get(self):\n"
    "        return self.x\n"
    "class S:\n"
    "    __slots__ = ('x',)\n"
    "    def __init__(self, x):\n"
    "        self.x = x\n"
    "    def get(self):\n"
    "        return -self.x\n"
    + _STALE_IC_LOOP.format(name="fp") + _STALE_IC_LOOP.format(name="fs")
)


def test_attribute_caches_follow_a_class_whose_version_moved_on(ember_mod):
    """fp's sites see instances of P only (inline values), fs's of S only (__slots__): one
    class each, so every lookup is the inlined test's while the cache is current."""
    pairs = [(both(STALE_IC_SRC, name), cls) for name, cls in (("fp", "P"), ("fs", "S"))]
    runs = []
    for (fi, fc), cls in pairs:
        objs_i = [fi.__globals__[cls](i) for i in range(40)]
        objs_c = [fc.__globals__[cls](i) for i in range(40)]
        runs.append((fi, fc, objs_i, objs_c))
        for bump_at in (-1, -1, 7, -1, 0, 12, -1):
            assert fi(objs_i, bump_at) == fc(objs_c, bump_at)
    # The classes' versions move on once more; later lookups are answered by the inlined tests
    # again after one refill per site (3 sites per function, get's 1), where caches that kept
    # the old versions took their out-of-line paths about 4 x 40 times per call.
    for fi, fc, objs_i, objs_c in runs:
        for bump_at in (0, 1):
            assert fi(objs_i, bump_at) == fc(objs_c, bump_at)
    before = ember_mod.stats().get("ic_slow", 0)
    for _ in range(20):
        for fi, fc, objs_i, objs_c in runs:
            assert fi(objs_i, -1) == fc(objs_c, -1)
    assert ember_mod.stats().get("ic_slow", 10**6) - before <= 16
    for fi, fc, objs_i, objs_c in runs:
        assert [o.x for o in objs_i] == [o.x for o in objs_c]


# A base class's method run on four subclasses (richards' Task methods, deltablue's
# Plan.execute): every entry of its sites' caches answers without the miss path, in the
# instance-value, method-with-values, __slots__ and lazy-__dict__ (a list subclass) forms; and
# an instance whose __dict__ shadows the method, or that gained one, still gets what the
# interpreter gives.
POLY_IC_SRC = (
    "class Base:\n"
    "    def __init__(self, x):\n"
    "        self.x = x\n"
    "        self.n = 0\n"
    "    def step(self):\n"
    "        self.n = self.n + self.x\n"
    "        return self.kind()\n"
    "class A(Base):\n"
    "    def kind(self):\n"
    "        return 1\n"
    "class B(Base):\n"
    "    def kind(self):\n"
    "        return 2\n"
    "class C(Base):\n"
    "    def kind(self):\n"
    "        return 3\n"
    "class D(Base):\n"
    "    def kind(self):\n"
    "        return 4\n"
    "class L(list):\n"
    "    pass\n"
    "def f(objs, ls):\n"
    "    t = 0\n"
    "    for o in objs:\n"
    "        t += o.step() * 10 + o.n\n"
    "    for l in ls:\n"
    "        l.append(t)\n"
    "        t += l.pop()\n"
    "    return t\n"
)


def test_polymorphic_attribute_sites_hit_every_entry(ember_mod):
    fi, fc = both(POLY_IC_SRC)

    def objects(f):
        g = f.__globals__
        return [g[c](i) for i in range(10) for c in "ABCD"], [g["L"]() for _ in range(4)]

    (oi, li), (oc, lc) = objects(fi), objects(fc)
    for _ in range(3):
        assert fi(oi, li) == fc(oc, lc)
    before = ember_mod.stats()["ic_slow"]
    for _ in range(20):
        assert fi(oi, li) == fc(oc, lc)
    # 20 calls x (40 objects x 4 lookups + 4 lists x 2 method loads): all answered by entries.
    assert ember_mod.stats()["ic_slow"] - before == 0
    # A __dict__ entry that shadows a method, and lists that gained a __dict__: other forms.
    for objs in (oi, oc):
        objs[5].kind = lambda: 7
    for ls in (li, lc):
        ls[1].tag = 1
    for _ in range(3):
        assert fi(oi, li) == fc(oc, lc)
    assert [(o.n, o.x) for o in oi] == [(o.n, o.x) for o in oc]


# Calls of math functions compiled to the C library function (passes/math_call.rs, MathCall):
# every check deopts and the interpreter makes the call, raising what math raises.
MATH_SRC = (
    "from math import sqrt, sin, cos, exp, fabs\n"
    "class FloatSub(float):\n"
    "    pass\n"
    "def f(x, y):\n"
    "    return sqrt(x * 0.5 + y), sin(x) * 2.0, cos(y), exp(x), fabs(y)\n"
)
MATH_INPUTS = {
    "floats": (1.5, 2.25),
    "ints": (3, 4),
    "negative zero": (-0.0, -0.0),
    "sqrt of a negative": (0.5, -9.0),
    "exp overflow": (1000.0, 1.0),
    "sin of inf": (float("inf"), 1.0),
    "nan": (float("nan"), float("nan")),
    "big int": (2 ** 80, 1.0),
    "bool": (True, 2.0),
    "str": ("a", 1.0),
}


@pytest.mark.parametrize("case", sorted(MATH_INPUTS))
def test_math_calls_match_the_interpreter(ember_mod, case):
    fi, fc = both(MATH_SRC, warm=[MATH_INPUTS["floats"]] * 2)
    assert ember_mod.dump(fc, "hir").count("MathCall<") == 5
    before = deopts(ember_mod)
    run_both(fi, fc, *MATH_INPUTS["floats"])
    run_both(fi, fc, *MATH_INPUTS["ints"])   # compact ints are converted, as PyFloat_AsDouble does
    assert deopts(ember_mod) == before, "no check fails for floats and small ints"
    run_both(fi, fc, *MATH_INPUTS[case])
    run_both(fi, fc, *MATH_INPUTS["floats"])


def test_math_call_errors_and_odd_arguments_deopt(ember_mod):
    fi, fc = both(MATH_SRC, warm=[MATH_INPUTS["floats"]] * 2)
    for case in ("sqrt of a negative", "exp overflow", "sin of inf", "big int"):
        before = deopts(ember_mod)
        run_both(fi, fc, *MATH_INPUTS[case])
        assert deopts(ember_mod) == before + 1, case
    # A float subclass is no exact float: UnboxNumber deopts and the interpreter calls sqrt.
    before = deopts(ember_mod)
    run_both(fi, fc, fi.__globals__["FloatSub"](2.0), 1.0)
    assert deopts(ember_mod) > before


def test_math_calls_follow_a_rebound_global(ember_mod):
    fi, fc = both(MATH_SRC, warm=[MATH_INPUTS["floats"]] * 2)
    for f in (fi, fc):
        f.__globals__["sqrt"] = lambda x: -1.0
        f.__globals__["fabs"] = abs
    before = deopts(ember_mod)
    run_both(fi, fc, *MATH_INPUTS["floats"])
    assert deopts(ember_mod) == before + 1, "the callee check fails once per call"
    import math
    for f in (fi, fc):
        f.__globals__["sqrt"] = math.sqrt
        f.__globals__["fabs"] = math.fabs
    run_both(fi, fc, *MATH_INPUTS["floats"])


def test_only_the_math_modules_own_functions_are_identified(ember_mod):
    # A Python function named sqrt, and math.sqrt replaced before the compile, stay calls.
    src = ("import math\n"
           "def sqrt(x):\n    return x + 1\n"
           "math.cos = lambda x: 2.0\n"
           "cos = math.cos\n"
           "def f(x):\n    return sqrt(x) + cos(x)\n")
    import math
    real_cos = math.cos
    try:
        fi, fc = both(src, warm=[(2.0,)] * 2)
        assert "MathCall" not in ember_mod.dump(fc, "hir")
        run_both(fi, fc, 2.0)
    finally:
        math.cos = real_cos


def test_math_calls_keep_reference_counts(ember_mod):
    fi, fc = both(MATH_SRC, warm=[MATH_INPUTS["floats"]] * 2)
    import math
    x, y = float("1.5"), float("2.25")   # objects of their own, not shared constants
    before = [sys.getrefcount(o) for o in (x, y, math.sqrt, math.sin, math.exp)]
    for _ in range(50):
        fc(x, y)
        try:
            fc(x, -y)   # sqrt of a negative: deopt, ValueError
        except ValueError:
            pass
    after = [sys.getrefcount(o) for o in (x, y, math.sqrt, math.sin, math.exp)]
    assert after == before


def test_math_attribute_calls_follow_the_module_and_its_attributes(ember_mod):
    # `math.sqrt(x)`: the attribute of the global module, identified through LOAD_ATTR_MODULE.
    src = "import math\ndef f(x):\n    return math.sqrt(x) + math.cos(x)\n"
    fi, fc = both(src, warm=[(2.0,)] * 2)
    assert ember_mod.dump(fc, "hir").count("MathCall<") == 2
    run_both(fi, fc, 2.0)
    run_both(fi, fc, -1.0)   # ValueError from sqrt, raised by the interpreter after the deopt
    import math
    real = math.sqrt
    try:
        math.sqrt = lambda x: 7.0   # the module's dict keeps its keys: the callee check fails
        before = deopts(ember_mod)
        run_both(fi, fc, 2.0)
        assert deopts(ember_mod) == before + 1
    finally:
        math.sqrt = real
    fake = type(sys)("math")
    fake.sqrt, fake.cos = (lambda x: 1.0), (lambda x: 2.0)
    for f in (fi, fc):
        f.__globals__["math"] = fake
    run_both(fi, fc, 2.0)
    for f in (fi, fc):
        f.__globals__["math"] = math
    run_both(fi, fc, 2.0)


# The generic BINARY_OP helper computes the float arithmetic CPython 3.13 does not quicken
# (float with int, `/`) itself (runtime_slow.c float_arith); everything it does not take (zero
# divisors, big ints, bools, subclasses) goes through the number protocol as before.
GENERIC_ARITH_SRC = (
    "def f(a, b):\n"
    "    c = a\n"
    "    c /= b\n"
    "    d = a\n"
    "    d -= b\n"
    "    return a + b, a - b, a * b, a / b, c, d, b - a, b / a\n"
)
GENERIC_ARITH_INPUTS = [
    (1.5, 2), (2, 1.5), (3, 4), (-7, 2), (0.5, -0.0), (-0.0, 3), (0, 2.5), (2.5, 0),
    (1e308, 10), (float("inf"), 2), (float("nan"), 1), (2 ** 40, 0.5), (2 ** 80, 3.0),
    (True, 2.5), (7, 2 ** 62), (-(2 ** 30) + 1, 3), (1.5, "x"),
]


@pytest.mark.parametrize("args", GENERIC_ARITH_INPUTS, ids=repr)
def test_generic_float_arithmetic_matches_the_interpreter(ember_mod, args):
    # Warmed with mixed operands, so the interpreter leaves every site generic.
    fi, fc = both(GENERIC_ARITH_SRC, warm=[(1.5, 2), (3, 0.25)])
    run_both(fi, fc, *args)
    run_both(fi, fc, 1.5, 2)


def test_generic_float_arithmetic_keeps_reference_counts(ember_mod):
    fi, fc = both(GENERIC_ARITH_SRC, warm=[(1.5, 2), (3, 0.25)])
    a, b = float("1.25"), 10 ** 3
    before = (sys.getrefcount(a), sys.getrefcount(b))
    for _ in range(100):
        fc(a, b)
        fc(b, a)
    assert (sys.getrefcount(a), sys.getrefcount(b)) == before


# Operators a class defines in Python, called directly from the generic BINARY_OP helper
# (shim.c ember_binop_direct) for an operand of the same class or an exact float or int.
OPERATOR_SRC = '''
import sys
class V:
    def __init__(self, x):
        self.x = x
    def __add__(self, o):
        if isinstance(o, V):
            return V(self.x + o.x)
        if o == "ni":
            return NotImplemented
        return V(self.x + o)
    def __sub__(self, o):
        if isinstance(o, V) and o.x == "boom":
            raise ValueError("boom")
        return (sys.getrefcount(self), sys.getrefcount(o)) if o is self else V(self.x - o.x)
    def __mul__(self, o):
        return NotImplemented if o == 0 else V(self.x * (o.x if isinstance(o, V) else o))
    def __truediv__(self, o):
        return V(self.x / (o.x if isinstance(o, V) else o))
    def __repr__(self):
        return f"V({self.x!r})"
    def __eq__(self, o):
        return isinstance(o, V) and self.x == o.x
    __hash__ = None
class W(V):
    def __radd__(self, o):
        return "W.__radd__"
class I(V):
    def __iadd__(self, o):
        return "I.__iadd__"
class R:
    def __radd__(self, o):
        return "R.__radd__"
class F(float):
    def __add__(self, o):
        return NotImplemented
class L(list):
    def __add__(self, o):
        return "L.__add__"
def f(a, b):
    c = a
    c += b
    return a + b, a - b, a * b, a / b, c
def g(a):
    return a - a
'''
OPERATOR_INPUTS = {
    "same class": ("V(1.5)", "V(2)"),
    "float right": ("V(1.5)", "2.5"),
    "int right": ("V(3)", "2"),
    "not implemented": ("V(1)", "0"),
    "raises": ("V(1)", "V('boom')"),
    "subclass with __radd__": ("V(1)", "W(2)"),
    "subclass on the left": ("W(1)", "V(2)"),
    "in-place method": ("I(1)", "I(2)"),
    "only __radd__": ("R()", "R()"),
    "float subclass": ("F(1.5)", "2.5"),
    "list subclass": ("L([1])", "L([2])"),
    "str right": ("V(1)", "'ni'"),
}


@pytest.mark.parametrize("case", sorted(OPERATOR_INPUTS))
def test_python_operators_match_the_interpreter(ember_mod, case):
    # The operands are instances of each copy's own classes, made from the same source text.
    fi, fc = both(OPERATOR_SRC, warm=[(1.5, 2)])
    ai = tuple(eval(e, fi.__globals__) for e in OPERATOR_INPUTS[case])
    ac = tuple(eval(e, fc.__globals__) for e in OPERATOR_INPUTS[case])
    assert_same(call_outcome(fi, Call(*ai)), call_outcome(fc, Call(*ac)), case)


def test_python_operators_follow_a_redefined_method_and_keep_reference_counts(ember_mod):
    fi, fc = both(OPERATOR_SRC, warm=[(1.5, 2)])
    Vi, Vc = fi.__globals__["V"], fc.__globals__["V"]
    gc = fc.__globals__["g"]
    assert ember_mod.is_compiled(gc)
    vc = Vc(1.0)
    assert fc(Vc(1.5), Vc(2)) == tuple(
        (Vc(x.x) if isinstance(x, Vi) else x) for x in fi(Vi(1.5), Vi(2)))
    for V in (Vi, Vc):
        V.__add__ = lambda self, o: "redefined"
    assert fc(Vc(1.5), Vc(2))[0] == fi(Vi(1.5), Vi(2))[0] == "redefined"
    before = sys.getrefcount(vc)
    for _ in range(100):
        fc(vc, vc)
        gc(vc)
    assert sys.getrefcount(vc) == before


# Class instantiation from compiled code (shim.c ember_call_class) finds __init__ by the class's
# type version: redefining it on the class or on a base must be seen at the next call.
CLASS_CALL_SRC = '''
class Base:
    def __init__(self, x):
        self.x = x
class C(Base):
    pass
def make(n):
    return [C(i).x for i in range(n)]
'''


def test_class_instantiation_follows_a_redefined_init(ember_mod):
    fi, fc = both(CLASS_CALL_SRC, name="make", warm=[(3,)])
    run_both(fi, fc, 5)
    for f in (fi, fc):
        f.__globals__["Base"].__init__ = lambda self, x: setattr(self, "x", -x)
    run_both(fi, fc, 5)
    for f in (fi, fc):
        f.__globals__["C"].__init__ = lambda self, x: setattr(self, "x", x * 10)
    run_both(fi, fc, 5)
    for f in (fi, fc):
        f.__globals__["C"].__init__ = lambda self, x: 1   # __init__() should return None
    run_both(fi, fc, 5)
    for f in (fi, fc):
        del f.__globals__["C"].__init__
    run_both(fi, fc, 5)


# Stores of a float that reuse the float they replace (passes/store_float.rs): `d = x * y`
# writes into the float `d` held when only the frame references it, `out[k] = ...` into the
# list's item when only the list does. Each `alias` makes the old float visible elsewhere, or
# not a float at all, at one iteration; the reused float must then be left alone and a new one
# made, and a replaced non-float released at the same point as in the interpreter.
STORE_FLOAT_SRC = """
import sys

class F(float):
    pass

class Noisy:
    log = []

    def __init__(self, tag):
        self.tag = tag

    def __del__(self):
        Noisy.log.append(self.tag)

def f(xs, ys, alias):
    Noisy.log = []
    keep = []
    out = [0.5, 1.5, 2.5]
    d = 0.25
    for i in range(len(xs)):
        d = xs[i] * ys[i]
        if alias == 1 and i == 1:
            keep.append(d)                          # a second reference to the local's float
        out[i % 3] = d * 2.0
        if alias == 2 and i == 2:
            keep.append(out[0])                     # a second reference to a list item
        if alias == 3 and i == 0:
            d = Noisy("local")                      # released by the next iteration's store
            out[1] = Noisy("item")                  # released by the store into out[1]
            Noisy.log.append("stored")
        if alias == 4 and i == 0:
            d = F(1.0)                              # a float subclass: never overwritten
            out[1] = F(2.0)
            keep.append((d, out[1]))
        if alias == 5 and i == 3:
            keep.append(sys._getframe().f_locals["d"])   # the frame holds the current value
    return d, keep, out, list(Noisy.log)
"""

XS = [0.5 * i for i in range(1, 8)]
YS = [1.25 + i for i in range(7)]


@pytest.mark.parametrize("alias", [0, 1, 2, 3, 4, 5])
def test_float_stores_reuse_only_floats_nothing_else_references(ember_mod, alias):
    fi, fc = both(STORE_FLOAT_SRC, warm=[(XS, YS, 0)] * 3)
    hir = ember_mod.dump(fc)
    assert "StoreFastFloat" in hir and "StoreSubscrFloat" in hir, hir
    for _ in range(3):
        run_both(fi, fc, XS, YS, alias)
        run_both(fi, fc, XS, YS, 0)


def test_float_stores_leave_shared_floats_alone(ember_mod):
    src = ("def f(xs, out):\n    d = 0.0\n    for x in xs:\n        d = x * 1.5\n        out[0] = d + 1.0\n"
           "    return d\n")
    fi, fc = both(src, warm=[([1.0, 2.0], [0.0])] * 3)
    assert "StoreFastFloat" in ember_mod.dump(fc) and "StoreSubscrFloat" in ember_mod.dump(fc)
    xs = [float(i) for i in range(50)]
    out = [0.0]
    for _ in range(100):
        assert fc(xs, out) == 49 * 1.5
    kept = out[0]
    assert kept == 49 * 1.5 + 1.0 and sys.getrefcount(kept) == 3   # out and `kept` (and the call)
    fc(xs, out)
    assert kept == 49 * 1.5 + 1.0 and out[0] is not kept           # a new float was made
    assert sys.getrefcount(kept) == 2


def same_on(fi, fc, args, label):
    """Calls both copies with the arguments `args`, a tuple expression evaluated in each copy's
    own namespace (so that the classes it names are that copy's own), and asserts that the
    outcomes agree."""
    oi = call_outcome(fi, Call(*eval(args, fi.__globals__)))
    oc = call_outcome(fc, Call(*eval(args, fc.__globals__)))
    assert_same(oi, oc, label)


# `x in seq` for an exact list or tuple compares exact ints and strs itself (ember_contains_op,
# contains_exact_items); every other item goes through the generic comparison, in order, and may
# change the list while the scan runs.
CONTAINS_SRC = """
class Eq:
    def __init__(self, lst, log):
        self.lst, self.log = lst, log
    def __eq__(self, other):
        self.log.append(other)
        self.lst.clear()
        return False
    __hash__ = None

class Boom:
    def __eq__(self, other):
        raise ValueError("boom")
    __hash__ = None

class S(str):
    pass

class I(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__

def f(x, seq):
    return x in seq, x not in seq, [x in seq for _ in range(3)].count(True)

NAN = float("nan")

def mutating(x):
    log = []
    lst = [1, 2, x]
    lst.insert(0, Eq(lst, log))
    return x in lst, lst, log
"""

# Each case: the arguments of f, as an expression evaluated in each copy's namespace (so that
# the classes are each copy's own).
CONTAINS_CASES = {
    "int found": "3, [1, 2, 3]",
    "int missing": "4, [1, 2, 3]",
    "bool in ints": "True, [1]",
    "int in bools": "1, [True]",
    "float in ints": "1.0, [1]",
    "int in floats": "1, [1.0]",
    "big int": "10 ** 30, [1, 10 ** 30]",
    "big int in tuple": "10 ** 30, (1, 2, 10 ** 30)",
    "negative": "-5, (1, -5)",
    "large compact": "-2 ** 62, [-(2 ** 62)]",
    "str": "'ab', ['a', 'abc'[:2]]",
    "str subclass item": "'ab', [S('ab')]",
    "str subclass needle": "S('ab'), ['ab']",
    "int subclass item": "2, [I(7)]",
    "int subclass needle": "I(7), [2]",
    "nan identity": "NAN, [NAN]",
    "nan equal": "float('nan'), [float('nan')]",
    "tuple item": "(1,), [(1,)]",
    "empty": "3, []",
    "mixed": "0, [0.0, '0']",
    "raising eq": "3, [Boom()]",
    "dict": "3, {3: 1}",
    "range": "3, range(5)",
}


@pytest.mark.parametrize("case", sorted(CONTAINS_CASES))
def test_contains_on_lists_and_tuples_matches_the_interpreter(ember_mod, case):
    fi, fc = both(CONTAINS_SRC, warm=[(1, [1, 2]), ("a", ("a",))])
    same_on(fi, fc, CONTAINS_CASES[case], case)
    run_both(fi.__globals__["mutating"], fc.__globals__["mutating"], 5)


# CALL_LEN reads the length of an exact list, tuple, dict, str, set or frozenset inline and boxes
# a small result without a call (ember_len_exact, ember_int_box); everything else, subclasses
# with their own __len__ included, takes PyObject_Length as before.
LEN_SRC = """
class L(list):
    def __len__(self):
        return 41

class Neg:
    def __len__(self):
        return -1

def f(x):
    n = 0
    for _ in range(3):
        n += len(x)
    return n, len(x) - 1, len(x) == 1
"""

LEN_CASES = {
    "list": "[1, 2, 3]",
    "empty list": "[]",
    "tuple": "(1,) * 300",
    "dict": "{i: i for i in range(5)}",
    "str": "'héllo'",
    "long str": "'x' * 100000",
    "set": "{1, 2}",
    "frozenset": "frozenset(range(256))",
    "bytes": "b'abc'",
    "range": "range(10 ** 6)",
    "list subclass": "L([1])",
    "negative len": "Neg()",
    "no len": "3",
}


@pytest.mark.parametrize("case", sorted(LEN_CASES))
def test_len_of_builtin_containers_matches_the_interpreter(ember_mod, case):
    fi, fc = both(LEN_SRC, warm=[([1, 2],), ((1,),)])
    same_on(fi, fc, f"({LEN_CASES[case]},)", case)


# A site the interpreter quickened to LOAD_ATTR_WITH_HINT (objects whose attributes live in a
# combined __dict__) tests entry 0's dict-hint form inline (ember_load_attr_ic_hint); every other
# layout falls through to the rest of the cache and the miss path. The objects are made inside
# f, each copy from its own classes (argument copies would not keep a replaced __dict__).
HINT_SRC = """
class P:
    pass

class Q:
    pass

def make(order, cls=P):
    o = cls()
    o.__dict__ = {k: k.upper() for k in order}   # a combined dict, not inline values
    return o

def inline(order):
    o = P()
    for k in order:
        setattr(o, k, k.lower())
    return o

def f(orders, mode=None):
    objs = [inline(o[1:]) if o[0] == "i" else make(o) for o in orders]
    if mode == "deleted":
        del objs[0].a
    elif mode == "dict replaced":
        objs[0].__dict__ = {"b": 1, "a": 2}
    elif mode == "class attribute":
        P.a = "class"
    elif mode == "other class":
        objs.append(make("ab", Q))
    out = []
    for o in objs:
        try:
            out.append((o.a, o.b))
        except AttributeError as e:
            out.append(str(e))
    return out
"""

HINT_CASES = {
    "same order": (["cab"] * 3, None),
    "other order": (["cab", "cba", "bca", "ab"], None),
    "inline values": (["iab", "cab", "iba", "ib"], None),
    "missing": (["cab", "ac", "bc"], None),
    "deleted": (["cab", "cab"], "deleted"),
    "dict replaced": (["cab", "cab"], "dict replaced"),
    "class attribute": (["cb", "cab"], "class attribute"),
    "other class": (["cab"], "other class"),
}


@pytest.mark.parametrize("case", sorted(HINT_CASES))
def test_dict_hint_attribute_sites_match_the_interpreter(ember_mod, case):
    fi, fc = both(HINT_SRC, exclude=("make", "inline"), warm=[(["cab"] * 3,)])
    before = ember_mod.stats()["ic_slow"]
    run_both(fi, fc, ["cab"] * 40)
    assert ember_mod.stats()["ic_slow"] - before <= 4, "the dict-hint sites missed their entry"
    run_both(fi, fc, *HINT_CASES[case])


UNREACHED_SRC = """
class Num:
    def __init__(self, v):
        self.v = v
    def __mul__(self, other):
        return Num(self.v * 10 + other)
    def __rsub__(self, other):
        return other - self.v
    def __eq__(self, other):
        return isinstance(other, Num) and other.v == self.v

def f(xs, flag):
    t = 0
    for x in xs:
        t += 1
        if flag:
            t = t + x * x - x / 4
    return t
"""


@pytest.mark.parametrize("xs", [[1, 2, 3], [0.5, 1.5], [2 ** 70, 3], [True, False], ["ab"],
                                Make(lambda ns: [ns["Num"](2)], "[Num(2)]"), [1, 2.5, 0.0, 3]],
                         ids=["ints", "floats", "bigints", "bools", "str", "user-class", "zero-float"])
def test_arithmetic_the_interpreter_never_ran_matches_it_when_reached(ember_mod, xs):
    """`BINARY_OP`s that were never executed when the function was compiled (their branch not
    yet taken) are serialised `BinarySpec::Unreached` and lowered as the plain helper call
    (docs/typed-hir.md); taken later with any operand types they compute what the interpreter
    computes, exceptions and tracebacks included (a str operand's TypeError, `Num`'s own
    operators and its missing `__truediv__`)."""
    fi, fc = both(UNREACHED_SRC, warm=[([1, 2, 3], False)])
    run_both(fi, fc, xs, False)
    run_both(fi, fc, xs, True)


def test_never_executed_arithmetic_is_serialised_unreached_and_kept_small(tmp_path):
    """The shim marks a `BINARY_OP` whose adaptive counter is still at its warm-up value as
    `Unreached` (spec 8 in the HIR text) and one the interpreter ran but left generic as
    `Generic` (0); the first is one call to the plain helper. A function with 40 branches of
    such arithmetic that never ran compiles to at most 40 KB of x86-64 code (176 KB when each
    site inlined the two-float fast path, 88 KB with only its mixed case out of line)."""
    import subprocess
    branches = "".join(f"        if flag == {k}:\n            t += {k} * i - flag\n" for k in range(40))
    prog = ("import ember\n"
            "def g(n, d):\n    t = 0\n    for i in range(n):\n        t += i / d\n    return t\n"
            "def f(n, flag):\n    t = 0\n    for i in range(n):\n        t += i\n" + branches + "    return t\n"
            "for _ in range(3):\n    f(50, -1), g(50, 3)\n"
            "assert ember.force_compile(f) and ember.force_compile(g)\n"
            "assert [f(10, k) for k in (-1, 0, 7, 39)] == [45, 45, 45 + 7 * 45 - 70, 45 + 39 * 45 - 390]\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("EMBER_")}
    env.update(EMBER_DUMP_HIR="1", EMBER_LOG="-", EMBER_CACHE="0")
    proc = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    import re
    hir_f = proc.stderr.split("HIR for __main__:f:")[1].split("Finished compiling")[0]
    hir_g = proc.stderr.split("HIR for __main__:g:")[1].split("Finished compiling")[0]
    # f: `t += i` ran (quickened to an int form); the 120 in the branches (`*`, `-`, `+=`) never ran.
    assert len(re.findall(r"BinaryOp<\d+, 8, ", hir_f)) == 120, hir_f
    # g: `i / d` ran and stays generic (3.13 has no true-division form).
    assert re.search(r"BinaryOp<11, 0, ", hir_g) and not re.search(r"BinaryOp<\d+, 8, ", hir_g), hir_g
    size = int(re.search(r"Finished compiling __main__:f \((\d+) bytes", proc.stderr).group(1))
    assert size <= 40_000, size


# Instance attributes read and written at sites the interpreter quickened to
# LOAD_ATTR_INSTANCE_VALUE / STORE_ATTR_INSTANCE_VALUE: compiled code tests the profile's type
# version and index first (ember_load_attr_iv, ember_store_attr_iv), then the cache. Each case
# makes that test fail in the middle of the loop, for one object or for the rest.
IV_SRC = (
    "class P:\n"
    "    def __init__(self, x):\n"
    "        self.x = x\n"
    "        self.y = 0\n"
    "class Q(P):\n"
    "    pass\n"
    "class Gone:\n"
    "    def __init__(self, log, i):\n"
    "        self.log, self.i = log, i\n"
    "    def __del__(self):\n"
    "        self.log.append(self.i)\n"
    "log = []\n"
    "def f(objs, k):\n"
    "    t = 0\n"
    "    for i, o in enumerate(objs):\n"
    "        if i == k:\n"
    "            BREAK\n"
    "        o.y = o.y + o.x\n"
    "        t += o.x * o.y\n"
    "    return t\n"
)
IV_BREAKS = {
    "nothing": "pass",
    "the class's version moves on": "type(o).tag = i",
    "a __dict__ materialised": "o.__dict__",
    "a __dict__ written": "o.__dict__['y'] = 5",
    "the read attribute deleted": "del o.x",
    "the stored attribute deleted": "del o.y",
    "a subclass instance": "o.__class__ = Q",
    "an attribute added": "o.z = i",
    "a stored value with a finaliser": "o.y = Gone(log, i); o.y = 0",
    "a read value with a finaliser": "o.x = Gone(log, i)",
}


def _iv_objects(n):
    return Make(lambda ns: [ns["P"](i) for i in range(n)], f"[P(0..{n - 1})]")


@pytest.mark.parametrize("case", sorted(IV_BREAKS))
def test_instance_attribute_profile_tests_fail_to_what_the_interpreter_does(ember_mod, case):
    src = IV_SRC.replace("BREAK", IV_BREAKS[case])
    fi, fc = both(src, warm=[(_iv_objects(8), -1)], own_code=True)
    for k in (-1, 0, 5, 11):
        run_both(fi, fc, _iv_objects(12), k)
    assert fi.__globals__["log"] == fc.__globals__["log"]
    run_both(fi, fc, _iv_objects(12), -1)


def test_instance_attribute_sites_answer_from_the_profile_without_the_cache(ember_mod):
    """Every site's first test is the profile's: the caches stay empty, so not even the first
    lookup of each site takes the miss path that fills them."""
    fi, fc = both(IV_SRC.replace("BREAK", "pass"), warm=[(_iv_objects(8), -1)], own_code=True)
    objs = [fc.__globals__["P"](i) for i in range(50)]
    before = ember_mod.stats()["ic_slow"]
    for _ in range(10):
        fc(objs, -1)
    assert ember_mod.stats()["ic_slow"] == before
    # A class whose version moved on: one miss per site (f has five: four loads, borrowed reads
    # here (LoadAttrBorrow, whose miss is ember_inl_attr_miss), and a store) fills its cache,
    # then the cache answers; nothing deopts.
    d = deopts(ember_mod)
    fc.__globals__["P"].tag = 1
    for _ in range(10):
        fc(objs, -1)
    assert ember_mod.stats()["ic_slow"] - before == 5
    assert deopts(ember_mod) == d
    assert [o.y for o in objs] == [20 * i for i in range(50)]


def test_instance_attribute_profile_stores_keep_reference_counts(ember_mod):
    src = ("class P:\n    def __init__(self):\n        self.v = None\n"
           "def f(o, vals):\n    for v in vals:\n        o.v = v\n    return o.v\n")
    fi, fc = both(src, warm=[(Make(lambda ns: ns["P"]()), [1.5, 2.5])], own_code=True)
    vals = [object() for _ in range(4)]
    counts = [sys.getrefcount(v) for v in vals]
    o = fc.__globals__["P"]()
    for _ in range(50):
        assert fc(o, vals) is vals[-1]
    o.v = None
    assert [sys.getrefcount(v) for v in vals] == counts


# Method loads at sites the interpreter quickened to LOAD_ATTR_METHOD_WITH_VALUES (instances
# with inline values), _NO_DICT (__slots__ instances) and _LAZY_DICT (a list subclass's
# instances, whose __dict__ is not made yet): the profile's type version, keys version and
# method are tested first (ember_load_method_wv, _nd, _ld), then the cache; each case makes that
# test fail in the middle of the loop.
METHOD_SRC = (
    "class P:\n"
    "    def __init__(self, x):\n"
    "        self.x = x\n"
    "    def m(self, k):\n"
    "        return self.x + k\n"
    "class S:\n"
    "    __slots__ = ('x',)\n"
    "    def __init__(self, x):\n"
    "        self.x = x\n"
    "    def m(self, k):\n"
    "        return self.x * k\n"
    "class Q(P):\n"
    "    def m(self, k):\n"
    "        return -k\n"
    "class L(list):\n"
    "    def __init__(self, x):\n"
    "        list.__init__(self, [x])\n"
    "    def m(self, k):\n"
    "        return self[0] - k\n"
    "def f(objs, k):\n"
    "    t = 0\n"
    "    for i, o in enumerate(objs):\n"
    "        if i == k:\n"
    "            BREAK\n"
    "        t += o.m(i)\n"
    "    return t\n"
)
METHOD_BREAKS = {
    "nothing": "pass",
    "the method replaced on the class": "type(o).m = lambda self, k: 100 + k",
    "the class's version moves on": "type(o).tag = i",
    "the method shadowed on the instance": "o.m = lambda k: 1000 + k",
    "a __dict__ materialised": "getattr(o, '__dict__', None)",
    "a subclass instance": "o.__class__ = Q if type(o) is P else type(o)",
    "an attribute deleted": "del o.x",
}


@pytest.mark.parametrize("cls", ["P", "S", "L"])
@pytest.mark.parametrize("case", sorted(METHOD_BREAKS))
def test_method_load_profile_tests_fail_to_what_the_interpreter_does(ember_mod, case, cls):
    src = METHOD_SRC.replace("BREAK", METHOD_BREAKS[case])

    def objs(n):
        return Make(lambda ns: [ns[cls](i) for i in range(n)], f"[{cls}(0..{n - 1})]")

    fi, fc = both(src, warm=[(objs(8), -1)], own_code=True)
    for k in (-1, 0, 5, 11):
        run_both(fi, fc, objs(12), k)
    run_both(fi, fc, objs(12), -1)


@pytest.mark.parametrize("cls", ["P", "S", "L"])
def test_method_load_sites_answer_from_the_profile_without_the_cache(ember_mod, cls):
    fi, fc = both(METHOD_SRC.replace("BREAK", "pass"), exclude=("P.m", "S.m", "Q.m", "L.__init__", "L.m"),
                  warm=[(Make(lambda ns: [ns[cls](i) for i in range(8)]), -1)], own_code=True)
    objs = [fc.__globals__[cls](i) for i in range(50)]
    before = ember_mod.stats()["ic_slow"]
    for _ in range(10):
        fc(objs, -1)
    assert ember_mod.stats()["ic_slow"] == before
    fc.__globals__[cls].tag = 1
    for _ in range(10):
        assert fc(objs, -1) == fi(objs, -1)
    assert 0 < ember_mod.stats()["ic_slow"] - before <= 2


# Class attributes read from the class at sites the interpreter quickened to LOAD_ATTR_CLASS
# (`Direction.FORWARD`): the class's type version and the attribute's value are tested first
# (ember_load_attr_class), then the cache; each case makes that test fail mid-loop.
CLASS_ATTR_SRC = (
    "class D:\n"
    "    FORWARD = 1\n"
    "    BACKWARD = -1\n"
    "class E(D):\n"
    "    FORWARD = 10\n"
    "def f(n, k, cls=D):\n"
    "    t = 0\n"
    "    for i in range(n):\n"
    "        if i == k:\n"
    "            BREAK\n"
    "        t += cls.FORWARD * i + cls.BACKWARD\n"
    "    return t\n"
)
CLASS_ATTR_BREAKS = {
    "nothing": "pass",
    "the attribute rebound": "cls.FORWARD = 7",
    "another class attribute added": "cls.OTHER = i",
    "a subclass": "cls = E",
    "an instance instead of the class": "cls = cls()",
    "the attribute deleted": "del cls.BACKWARD",
    "a metaclass attribute": "cls = type('M', (type,), {'FORWARD': 3})('X', (), {'BACKWARD': 2})",
}


@pytest.mark.parametrize("case", sorted(CLASS_ATTR_BREAKS))
def test_class_attribute_profile_tests_fail_to_what_the_interpreter_does(ember_mod, case):
    src = CLASS_ATTR_SRC.replace("BREAK", CLASS_ATTR_BREAKS[case])
    fi, fc = both(src, warm=[(8, -1)], own_code=True)
    for k in (-1, 0, 5, 11):
        run_both(fi, fc, 12, k)
        fi.__globals__["D"].FORWARD, fc.__globals__["D"].FORWARD = 1, 1
        fi.__globals__["D"].BACKWARD, fc.__globals__["D"].BACKWARD = -1, -1
    run_both(fi, fc, 12, -1)


def test_class_attribute_sites_answer_from_the_profile_without_the_cache(ember_mod):
    fi, fc = both(CLASS_ATTR_SRC.replace("BREAK", "pass"), warm=[(8, -1)], own_code=True)
    before = ember_mod.stats()["ic_slow"]
    for _ in range(10):
        assert fc(50, -1) == fi(50, -1)
    assert ember_mod.stats()["ic_slow"] == before
    fc.__globals__["D"].tag = 1
    for _ in range(10):
        assert fc(50, -1) == fi(50, -1)
    assert ember_mod.stats()["ic_slow"] - before == 2


# `/` speculated on numbers (passes/specialize.rs) and float stores into slots
# (passes/store_float.rs, StoreAttrFloat): float's `Point.normalize`. `norm` is a local that
# only ever holds floats, so `self.x /= norm` reads both operands as numbers; the quotient is
# written into the slot's float when only the instance references it. Each case breaks one
# assumption at one call: a zero divisor (the interpreter raises its own ZeroDivisionError), an
# int or a str in a slot, a float subclass, a slot float referenced elsewhere, a replaced value
# with a __del__, an unset slot.
SLOT_DIVIDE_SRC = """
from math import sqrt

class F(float):
    pass

class Noisy:
    log = []

    def __init__(self, v):
        self.v = v

    def __truediv__(self, other):
        Noisy.log.append("div")
        return self.v / other

    def __del__(self):
        Noisy.log.append("del")

class P:
    __slots__ = ("x", "y", "z")

    def __init__(self, x, y, z):
        self.x = x
        self.y = y
        self.z = z

    def normalize(self):
        norm = sqrt(self.x * self.x + self.y * self.y) + self.z
        self.x /= norm
        self.y /= norm
        return self.x + self.y

def f(case):
    Noisy.log = []
    keep = []
    p = P(3.0, 4.0, 0.0)
    for i in range(6):
        if i == 3:
            if case == "zero":
                p.x, p.y, p.z = 0.0, 0.0, 0.0
            elif case == "int":
                p.x = 3
            elif case == "str":
                p.y = "s"
            elif case == "subclass":
                p.x = F(2.0)
                keep.append(p.x)
            elif case == "shared":
                keep.append(p.x)
            elif case == "noisy":
                p.y = Noisy(8.0)
            elif case == "unset":
                del p.y
        r = p.normalize()
        keep.append(type(p.x).__name__)
    return r, p.x, p.y, keep, list(Noisy.log)
"""

SLOT_DIVIDE_CASES = ["plain", "zero", "int", "str", "subclass", "shared", "noisy", "unset"]


@pytest.mark.parametrize("case", SLOT_DIVIDE_CASES)
def test_speculated_division_and_slot_float_stores_match_the_interpreter(ember_mod, case):
    fi, fc = both(SLOT_DIVIDE_SRC, warm=[("plain",)] * 3, own_code=True)
    norm = fc.__globals__["P"].normalize
    hir = ember_mod.dump(norm)
    assert "UnboxNumbers" in hir and "StoreAttrFloat" in hir, hir
    for _ in range(3):
        run_both(fi, fc, case)
        run_both(fi, fc, "plain")


def test_slot_float_stores_reuse_only_floats_nothing_else_references():
    """In a fresh process (a reference tracer, which tracemalloc sets and 3.13.0 does not
    unset, rules out every in-place store): the slot's float is written in place only when
    the instance is its one holder."""
    import os
    import subprocess
    prog = SLOT_DIVIDE_SRC + (
        "import ember, sys\n"
        "for _ in range(3):\n    f('plain')\n"
        "assert ember.force_compile(P.normalize) and 'StoreAttrFloat' in ember.dump(P.normalize)\n"
        "p = P(3.0, 4.0, 0.0)\n"
        "p.normalize()\n"
        "x = p.x\n"                      # only p and this name reference it
        "p.normalize()\n"
        "assert x == 0.6 and p.x is not x, 'a referenced float is never overwritten'\n"
        "before = id(p.x)\n"
        "p.normalize()\n"
        "assert id(p.x) == before, 'a float only the instance references is written in place'\n"
        "assert sys.getrefcount(p.x) == 2 and p.x == 0.6\n"
        "print('ok')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBER_")}
    env.update(EMBER_CACHE="0")
    proc = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_a_division_that_keeps_failing_is_recompiled_generic(ember_mod):
    src = ("def f(xs, a):\n    t = []\n    for x in xs:\n        norm = a * 2.0\n"
           "        t.append(x / norm)\n    return t\n")
    fi, fc = both(src, warm=[([1.5, 2.5], 4.0)] * 3)
    assert "UnboxNumbers" in ember_mod.dump(fc)
    recompiles = ember_mod.stats()["recompiles"]
    import fractions
    for _ in range(20):
        run_both(fi, fc, [fractions.Fraction(1, 3)], 4.0)   # Fraction / float: deopts
    assert ember_mod.stats()["recompiles"] > recompiles
    assert ember_mod.force_compile(fc)
    assert "UnboxNumbers" not in ember_mod.dump(fc), "the failing division is left generic"
    before = deopts(ember_mod)
    for _ in range(5):
        run_both(fi, fc, [fractions.Fraction(1, 3)], 4.0)
        run_both(fi, fc, [1.5], 4.0)
    assert deopts(ember_mod) == before


def test_speculated_division_keeps_reference_counts(ember_mod):
    fi, fc = both(SLOT_DIVIDE_SRC, warm=[("plain",)] * 3, own_code=True)
    P = fc.__globals__["P"]
    one, seven = 1.0, 7
    counts = [sys.getrefcount(v) for v in (one, seven)]
    for _ in range(50):
        p = P(one, seven, 0.0)
        p.normalize()
        p = P(seven, one, 0.0)
        p.normalize()
    del p
    assert [sys.getrefcount(v) for v in (one, seven)] == counts
