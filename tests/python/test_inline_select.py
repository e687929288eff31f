"""Conditional expressions in inlined method bodies (passes::straighten, passes::inline_method,
Select): float's `Point.maximize`, whose three lines each choose between two slot reads, runs
as its body in the caller with every diamond folded into a typed comparison and a `Select` of
the two slots read again. The arm that never ran when the caller was compiled (no profile),
the tail CPython duplicated into both arms, arms that are parameters or locals, and each way
out (a slot holding something else, NaN, the same object twice, an unset slot, the class or
the method changed, a `__setattr__` that looks at its caller, tracing) are compared with the
interpreter: result, exception, traceback, tracer events and the instances' state.
References are checked too."""

import pytest

from conftest import SLOT_CLASSES, assert_argument_references_kept, assert_tracing_sees_the_calls, both, run_both

SRC = SLOT_CLASSES.format(methods="""
    def maximize(self, other):
        self.x = self.x if self.x > other.x else other.x
        self.y = self.y if self.y > other.y else other.y
        self.z = self.z if self.z > other.z else other.z
        return self

    def clamp(self, lo):
        x = self.x
        self.x = x if x > lo else lo

    def better(self, other):
        self.x = self.x if self.x < other.x else other.x
        return self if self.y > other.y else other
""") + """
def f(data, change=None):
    ps = [P(*t) for t in data]
    best = ps[0]
    for i in range(1, len(ps)):
        if change is not None and i == len(ps) // 2:
            change(ps, i, globals())
        best = best.maximize(ps[i])
    return (best.x, best.y, best.z), [(p.x, p.y, p.z) for p in ps]

def clamp_all(data, lo):
    ps = [P(*t) for t in data]
    for p in ps:
        p.clamp(lo)
    return [p.x for p in ps]

def pick(data):
    ps = [P(*t) for t in data]
    best = ps[0]
    for p in ps[1:]:
        best = best.better(p)
    return (best.x, best.y), [(p.x, p.y) for p in ps]
"""

# x rises, y falls, z goes up and down: each arm of each line is taken somewhere.
DATA = [(float(i) + 0.5, 100.0 - 2.0 * i, 3.25 + (i % 7) * 0.5) for i in range(60)]


@pytest.fixture(autouse=True)
def _speculation_on(ember_mod):
    ember_mod._shim.set_speculate(True)


def pair(src=SRC, warm=DATA, name="f", more=()):
    """The interpreted and the compiled copy of `name`, warmed up on `(warm, *more)` before the
    compile."""
    return both(src, name=name, warm=[(warm, *more)] * 3, own_code=True)


def test_the_conditional_expressions_run_inlined_and_agree(ember_mod):
    fi, fc = pair()
    hir = ember_mod.dump(fc, "hir")
    assert hir.count("GuardMethodCallee") == 1 and hir.count("= Select ") == 3, hir
    body = hir[hir.index("GuardMethodCallee"):]
    assert body.rindex("= Select ") < body.index("StoreAttr"), hir
    deopts = ember_mod.stats()["deopts"]
    for data in (DATA, DATA[::-1], DATA[::3] + DATA[1::3]):
        run_both(fi, fc, data)
    assert ember_mod.stats()["deopts"] == deopts


def test_the_arm_that_never_ran_reads_with_the_profile_of_the_first_read(ember_mod):
    """Warmed on rising x only, the `other.x` ... arm of each line ran and `self.x` never did
    (its LOAD_ATTR has no profile): it is read with the profile of the comparison's read, and
    data that takes it runs without a deopt."""
    rising = [(float(i), float(i), float(i)) for i in range(40)]
    fi, fc = pair(warm=rising)
    assert ember_mod.dump(fc, "hir").count("= Select ") == 3
    deopts = ember_mod.stats()["deopts"]
    run_both(fi, fc, rising[::-1])
    assert fc(rising[::-1])[0] == (39.0, 39.0, 39.0)
    assert ember_mod.stats()["deopts"] == deopts


@pytest.mark.parametrize("row", [
    (3, 4, 12),                   # ints where the profile had floats: deopt, the call compares
    (2 ** 70, 1.0, 1.0),          # a big int
    (1.0, "ab", 2.0),             # TypeError from the callee's frame, after it stored x
    (float("nan"), 1.0, 2.0),     # NaN: the comparison is false both ways
    (1.0, True, 2.0),             # a bool
    (None, 1.0, 2.0),             # None: TypeError at the first line
], ids=["ints", "bigint", "str", "nan", "bool", "none"])
def test_a_slot_holding_something_else_makes_the_call(ember_mod, row):
    fi, fc = pair()
    data = DATA[:30] + [row] + DATA[30:]
    oi, _ = run_both(fi, fc, data)
    if row[1] == "ab" or row[0] is None:
        assert oi.kind == "raise" and oi.traceback[-1][0] == "P.maximize", oi.describe()


def test_a_check_after_a_store_in_the_body_deopts_before_any_store(ember_mod):
    """A str in `best.y`: the interpreter stores x, then fails comparing y. The inlined body
    checks y before storing anything, so the call the deopt makes stores x once, as the
    interpreter does, and the traceback is the callee's."""
    fi, fc = pair()
    data = [(1.0, "ab", 2.0)] + DATA
    oi, oc = run_both(fi, fc, data)
    assert oi.kind == "raise" and oi.traceback[-1][0] == "P.maximize", oi.describe()


def same_object(ps, i, g):
    ps[i] = ps[0]


def unset_slot(ps, i, g):
    del ps[i].x


def change_class(ps, i, g):
    for p in ps[i:]:
        p.__class__ = g["Q"]


def change_best_class(ps, i, g):
    # The chosen instance is ps[0] or whichever was best; all of them change.
    for p in ps:
        p.__class__ = g["Q"]


def replace_method(ps, i, g):
    def maximize(self, other):
        self.x = -1.0
        return other
    g["P"].maximize = maximize


def replace_code(ps, i, g):
    def other(self, other):
        self.z = 7.0
        return self
    g["P"].maximize.__code__ = other.__code__


def class_with_setattr(ps, i, g):
    for p in ps:
        p.__class__ = g["R"]


def float_subclass(ps, i, g):
    class F(float):
        def __lt__(self, other):
            g["GT"] = g.get("GT", 0) + 1
            return float.__lt__(self, other)
    ps[i].y = F(ps[i].y)


@pytest.mark.parametrize("change", [same_object, unset_slot, change_class, change_best_class, replace_method,
                                    replace_code, class_with_setattr, float_subclass])
def test_each_check_failing_mid_loop_agrees_with_the_interpreter(ember_mod, change):
    fi, fc = pair()
    oi, oc = run_both(fi, fc, DATA, change)
    if change is unset_slot:
        assert oi.kind == "raise", oi.describe()
    if change is class_with_setattr:
        seen_i, seen_c = fi.__globals__["R"].seen, fc.__globals__["R"].seen
        assert seen_i == seen_c and seen_c[0] == ("x", "maximize"), (seen_i, seen_c)
    if change is float_subclass:
        assert fi.__globals__["GT"] == fc.__globals__["GT"] >= 1


def test_a_local_and_a_parameter_as_the_arms(ember_mod):
    """`x if x > lo else lo`: a local of the body and a parameter of the call."""
    ci, cc = pair(name="clamp_all", more=(50.0,))
    assert ember_mod.dump(cc, "hir").count("= Select ") == 1
    for lo in (50.0, -1.0, 1e9):
        run_both(ci, cc, DATA, lo)
    run_both(ci, cc, DATA, 10)           # an int: deopt, the call compares
    oi, _ = run_both(ci, cc, DATA, "a")  # TypeError from clamp's frame
    assert oi.kind == "raise" and oi.traceback[-1][0] == "P.clamp", oi.describe()


def test_parameters_chosen_and_returned(ember_mod):
    """`return self if self.y > other.y else other`: the call's result is the chosen operand."""
    pi, pc = pair(name="pick")
    assert ember_mod.dump(pc, "hir").count("= Select ") == 2
    for data in (DATA, DATA[::-1]):
        run_both(pi, pc, data)


def test_tracing_switched_on_mid_loop_sees_the_calls(ember_mod):
    fi, fc = pair()
    assert_tracing_sees_the_calls(fi, fc, DATA, "maximize")


def test_references_are_kept(ember_mod):
    fi, fc = pair()
    assert_argument_references_kept(fi, fc, DATA)
