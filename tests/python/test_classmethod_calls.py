"""Calls of classmethods loaded from their class in compiled code (`Strength.weaker(a, b)`):
the method load gives the classmethod's callable with the class as its self, as the
interpreter's bound method would call it (cm_descr_get, Objects/funcobject.c), without making
the bound method (runtime_ic.c, classmethod_callable). Compared with the interpreter in the
middle of a hot loop: results, the class passed (a subclass's own), exceptions and tracebacks
from inside the classmethod, the classmethod replaced by another, by a staticmethod and by a
plain function, and rebound in place by classmethod.__init__ (which gives the class no new type
version). References to the class and the callable are checked too."""

import sys

import pytest

from conftest import both, run_both

SRC = """
class Strength:
    def __init__(self, v):
        self.v = v
    @classmethod
    def weaker(cls, a, b):
        return (cls.__name__, a.v > b.v)
    @classmethod
    def boom(cls, a):
        return 1 // a

class Sub(Strength):
    pass

def other(cls, a, b):
    return ("other", cls.__name__, a.v < b.v)

def plain(a, b):
    return ("plain", a.v + b.v)

def f(n, change=None):
    a, b = Strength(1), Strength(2)
    out = []
    for i in range(n):
        if i == n // 2 and change is not None:
            change()
        out.append((Strength.weaker(a, b), Sub.weaker(b, a)))
    return out

def g(n):
    out = []
    for i in range(n):
        out.append(Strength.boom(n - 1 - i))
    return out
"""


def pair(name="f"):
    return both(SRC, name, warm=[(8,)] if name == "f" else [(3,)])


def test_classmethod_calls_agree(ember_mod):
    fi, fc = pair()
    run_both(fi, fc, 200)


def test_an_exception_inside_the_classmethod_has_the_interpreters_traceback(ember_mod):
    fi, fc = pair("g")
    run_both(fi, fc, 50)   # ZeroDivisionError at the last call, from inside boom


def replaced(ns):
    def change():
        ns["Strength"].weaker = classmethod(ns["other"])
    return change


def made_static(ns):
    def change():
        ns["Strength"].weaker = staticmethod(ns["plain"])
    return change


def made_plain(ns):
    def change():
        ns["Strength"].weaker = ns["plain"]
    return change


def rebound_in_place(ns):
    def change():
        ns["Strength"].__dict__["weaker"].__init__(ns["other"])
    return change


def sub_overrides(ns):
    def change():
        ns["Sub"].weaker = classmethod(ns["other"])
    return change


@pytest.mark.parametrize("change", [replaced, made_static, made_plain, rebound_in_place, sub_overrides])
def test_a_changed_classmethod_is_seen_at_once(ember_mod, change):
    fi, fc = pair()
    oi = fi(100, change(fi.__globals__))
    oc = fc(100, change(fc.__globals__))
    assert oi == oc
    assert oc[0] != oc[-1]   # the change took effect in the loop


def test_references_to_the_class_and_the_callable(ember_mod):
    fi, fc = pair()
    cls = fc.__globals__["Strength"]
    func = cls.__dict__["weaker"].__func__
    fc(50)
    before = (sys.getrefcount(cls), sys.getrefcount(func))
    fc(500)
    assert (sys.getrefcount(cls), sys.getrefcount(func)) == before
