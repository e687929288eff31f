"""Callee bodies evaluated in place (passes::inline_trivial's pure callees, lower::inline): a
method that only reads attributes, globals, list and tuple items and lengths, compares, tests
truth and branches runs in the
caller with every value borrowed, and each read or test that cannot answer without running
code makes the call instead. Every such way out is made to happen in the middle of a hot loop
and compared with the interpreter (results, exceptions, tracebacks, side effects): a class
attribute or global changed, rebound or deleted, globals added, operands that are big ints,
floats, str subclasses, objects with __eq__ or __bool__, attributes deleted, shadowed by a
property or moved to a __dict__, containers of other types, a __len__ or __getitem__ of a
subclass, an index out of range or not an int, a length too large for a small int, `len`
rebound. References are checked too."""

import sys

import pytest

from conftest import Make, both, run_both

SRC = """
LOG = []

class Direction:
    FORWARD = 1
    BACKWARD = -1

class C:
    def __init__(self):
        self.direction = 1
        self.v1 = "v1"
        self.v2 = "v2"
        self.holding = False
        self.pending = True
        self.waiting = False
        self.items = [1]
        self.f = 0.5
        self.name = "a"
        self.nothing = None
    def output(self):
        if self.direction == Direction.FORWARD:
            return self.v2
        else:
            return self.v1
    def holding_or_waiting(self):
        return self.holding or (not self.pending and self.waiting)
    def waiting_with_packet(self):
        return self.pending and self.waiting and not self.holding
    def has_items(self):
        return 1 if self.items else 0
    def small(self):
        return self.f < 1.0
    def named(self):
        return self.name == "a" or self.name != "b"
    def none(self):
        return self.nothing is None
    def builtin(self):
        return self.items is not list

class Weird:
    def __eq__(self, other):
        LOG.append("eq")
        return True
    __hash__ = None

class Truthy:
    def __bool__(self):
        LOG.append("bool")
        return True

class Empty(list):
    def __len__(self):
        LOG.append("len")
        return 0

class Name(str):
    def __eq__(self, other):
        LOG.append("streq")
        return False
    __hash__ = str.__hash__

def f(c, n, change=None):
    out = []
    for i in range(n):
        if i == n // 2 and change is not None:
            change(c)
        out.append((c.output(), c.holding_or_waiting(), c.waiting_with_packet(), c.has_items(),
                    c.small(), c.named(), c.none(), c.builtin()))
    return out, list(LOG)
"""

METHODS = 8


@pytest.fixture(autouse=True)
def _speculation_on(ember_mod):
    ember_mod._shim.set_speculate(True)


def make_c(ns):
    return ns["C"]()


def pair():
    return both(SRC, warm=[(Make(make_c, "C()"), 40)])


def g(c):
    return type(c).output.__globals__


def test_pure_methods_are_evaluated_in_place_and_agree(ember_mod):
    fi, fc = pair()
    hir = ember_mod.dump(fc, "hir")
    assert hir.count("CallTrivial") == METHODS, hir
    assert hir.count("endcallee") == METHODS, hir
    run_both(fi, fc, Make(make_c, "C()"), 500)


def forward_changed(c):
    g(c)["Direction"].FORWARD = -1   # a new type version: the cache classifies the class again


def direction_rebound(c):
    ns = g(c)
    ns["Direction"] = type("D", (), {"FORWARD": 7})


def direction_deleted(c):
    del g(c)["Direction"]   # NameError from the call


def globals_added(c):
    g(c).update({f"_new{i}": i for i in range(40)})   # a new keys version: looked up by name


def big_int(c):
    c.direction = 2 ** 60 + 1   # not compact; its lowest digit is 1, FORWARD


def int_becomes_float(c):
    c.direction = 1.0


def weird_eq(c):
    c.direction = g(c)["Weird"]()


def truthy_holding(c):
    c.holding = g(c)["Truthy"]()
    c.pending = g(c)["Truthy"]()


def list_subclass(c):
    c.items = g(c)["Empty"]([1])


def str_subclass(c):
    c.name = g(c)["Name"]("a")


def float_becomes_int(c):
    c.f = 0


def none_becomes_zero(c):
    c.nothing = 0


def attribute_deleted(c):
    del c.v2   # AttributeError from the call


def attribute_becomes_property(c):
    type(c).v2 = property(lambda self: LOG_APPEND(self))


def values_moved_to_dict(c):
    c.__dict__.update({f"k{i}": i for i in range(40)})
    c.v2 = "moved"


def dict_materialised(c):
    c.__dict__["v2"] = "via dict"


def class_changed(c):
    class D(type(c)):
        def output(self):
            return "D.output"
    c.__class__ = D


def LOG_APPEND(obj):
    return "property"


CHANGES = [forward_changed, direction_rebound, direction_deleted, globals_added, big_int, int_becomes_float, weird_eq,
           truthy_holding, list_subclass, str_subclass, float_becomes_int, none_becomes_zero, attribute_deleted,
           attribute_becomes_property, values_moved_to_dict, dict_materialised, class_changed]


@pytest.mark.parametrize("change", CHANGES)
def test_every_way_out_agrees_with_the_interpreter(ember_mod, change):
    fi, fc = pair()
    run_both(fi, fc, Make(make_c, "C()"), 200, change)


def test_a_changed_class_attribute_is_seen_at_once(ember_mod):
    fi, fc = pair()
    c = fc.__globals__["C"]()
    out, _ = fc(c, 10)
    assert [r[0] for r in out] == ["v2"] * 10
    fc.__globals__["Direction"].FORWARD = 0
    out, _ = fc(c, 10)
    assert [r[0] for r in out] == ["v1"] * 10


def test_code_that_the_body_would_run_runs_once_per_call(ember_mod):
    fi, fc = pair()
    c = fc.__globals__["C"]()
    c.direction = fc.__globals__["Weird"]()
    out, log = fc(c, 7)
    assert log.count("eq") == 7   # the call ran __eq__ once each time, the body never


def test_references_are_kept(ember_mod):
    fi, fc = pair()
    c = fc.__globals__["C"]()
    fc(c, 100)
    before = (sys.getrefcount(c), sys.getrefcount(c.v2), sys.getrefcount(c.v1))
    for _ in range(5):
        fc(c, 100)
    assert (sys.getrefcount(c), sys.getrefcount(c.v2), sys.getrefcount(c.v1)) == before


def test_a_callee_that_writes_or_calls_stays_a_call(ember_mod):
    g = {}
    exec("class C:\n"
         "    def __init__(self):\n        self.x = 1\n"
         "    def store(self):\n        self.x = 2\n        return self.x\n"
         "    def calls(self):\n        return abs(self.x) > 0\n"
         "def f(c, n):\n    for _ in range(n):\n        r = (c.store(), c.calls())\n    return r\n", g)
    c = g["C"]()
    g["f"](c, 10)
    g["f"](c, 10)
    assert ember_mod.force_compile(g["f"])
    assert "CallTrivial" not in ember_mod.dump(g["f"], "hir")
    assert g["f"](c, 3) == (2, True)


POLY = """
class Base:
    def output(self):
        if self.direction == 1:
            return self.v2
        return self.v1

class A(Base):
    def __init__(self):
        self.direction = 1; self.v1 = "A1"; self.v2 = "A2"

class B(Base):
    def __init__(self):
        self.v2 = "B2"; self.v1 = "B1"; self.direction = 0

class C(Base):
    def __init__(self):
        self.x = 0; self.v1 = "C1"; self.direction = 1; self.v2 = "C2"

class D(Base):
    def __init__(self):
        self.v1 = "D1"; self.y = 0; self.z = 1; self.v2 = "D2"; self.direction = 1

class E(Base):
    __slots__ = ("direction", "v1", "v2")
    def __init__(self):
        self.direction = 0; self.v1 = "E1"; self.v2 = "E2"

def f(objs, n):
    out = []
    for i in range(n):
        for o in objs:
            out.append(o.output())
    return out
"""


def test_an_inlined_body_on_several_classes_reads_each_ones_layout(ember_mod):
    # The call site is specialised on A alone, so the body is inlined; then it runs on five
    # classes whose attributes sit at different inline-value indices (four fill the attribute
    # caches' entries, each tested inline; the fifth, and E's slots, take the miss path).
    fi, fc = both(POLY, warm=[(Make(lambda ns: [ns["A"]()], "[A()]"), 40)])
    hir = ember_mod.dump(fc, "hir")
    assert hir.count("endcallee") == 1, hir
    every = Make(lambda ns: [ns[k]() for k in "ABCDE"], "[A(), B(), C(), D(), E()]")
    oi, oc = run_both(fi, fc, every, 300)
    before = ember_mod.stats()["ic_slow"]
    run_both(fi, fc, Make(lambda ns: [ns[k]() for k in "ABCD"], "[A(), B(), C(), D()]"), 300)
    # Four classes, four entries: once filled, every read of theirs is answered by an entry
    # (ic_slow counts the reads no entry answered).
    assert ember_mod.stats()["ic_slow"] == before


SRC_LEN = """
LOG = []

class Done:
    def __init__(self, cells):
        self.cells = cells
    def already_done(self, i):
        return len(self.cells[i]) == 1
    def cell(self, i):
        return self.cells[i]
    def count(self):
        return len(self.cells)

class Sized:
    def __len__(self):
        LOG.append("len")
        return 1

class Cells(list):
    def __getitem__(self, i):
        LOG.append("getitem")
        return list.__getitem__(self, i)

def f(d, n, change=None):
    out = []
    for k in range(n):
        if k == n // 2 and change is not None:
            change(d)
        for i in range(3):
            out.append((d.already_done(i), d.cell(i), d.count()))
    return out, list(LOG)
"""


def make_done(ns):
    return ns["Done"]([[1], [1, 2], [3]])


def pair_len():
    return both(SRC_LEN, warm=[(Make(make_done, "Done(cells)"), 40)])


def gl(d):
    return type(d).cell.__globals__


def test_len_and_subscript_bodies_are_evaluated_in_place_and_agree(ember_mod):
    fi, fc = pair_len()
    hir = ember_mod.dump(fc, "hir")
    assert hir.count("CallTrivial") == 3, hir
    run_both(fi, fc, Make(make_done, "Done(cells)"), 300)


LEN_CHANGES = {
    "tuple-cells": lambda d: setattr(d, "cells", ((1,), (1, 2), (3,))),
    "dict-cells": lambda d: setattr(d, "cells", {0: [1], 1: "ab", 2: {3}}),
    "str-set-dict-items": lambda d: setattr(d, "cells", ["a", {1, 2}, {3: 4}]),
    "frozenset-item": lambda d: setattr(d, "cells", [frozenset([1]), (), "xyz"]),
    "sized-item": lambda d: setattr(d, "cells", [gl(d)["Sized"](), [1], [2]]),
    "list-subclass": lambda d: setattr(d, "cells", gl(d)["Cells"]([[1], [2], [3]])),
    "too-short": lambda d: setattr(d, "cells", [[1]]),   # IndexError from the callee
    "not-sized": lambda d: setattr(d, "cells", [1, 2, 3]),   # TypeError from len
    "long-item": lambda d: setattr(d, "cells", [list(range(300)), [1], [1]]),   # len 300: not a small int
    "len-rebound": lambda d: gl(d).__setitem__("len", lambda x: gl(d)["LOG"].append("mylen") or 1),
    "bool-index": lambda d: gl(d).__setitem__("range", lambda n: [False, True, 2]),
}


@pytest.mark.parametrize("change", list(LEN_CHANGES.values()), ids=list(LEN_CHANGES))
def test_every_way_out_of_len_and_subscript_agrees(ember_mod, change):
    fi, fc = pair_len()
    run_both(fi, fc, Make(make_done, "Done(cells)"), 60, change)


def test_len_and_subscript_references(ember_mod):
    fi, fc = pair_len()
    cells = [[1], [object()], ("x",)]
    d = fc.__globals__["Done"](cells)
    counts = [sys.getrefcount(c) for c in cells]
    for _ in range(50):
        r = fc(d, 20)
    assert [sys.getrefcount(c) for c in cells] == [n + 20 * 1 for n in counts]   # each in r 20 times
    del r
    assert [sys.getrefcount(c) for c in cells] == counts
