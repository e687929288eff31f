"""Calls from compiled code that leave out parameters with defaults enter a compiled callee
directly, its frame pushed with the defaults bound (ember_simple_call and ember_push_stolen in
cpython-glue/ember_runtime.h; the interpreter's CALL_PY_WITH_DEFAULTS). Compared with the
interpreter: results, the identity of default objects (a mutable default shared by every call),
`__defaults__` replaced, shortened or removed in the middle of a hot loop (TypeError with the
interpreter's message and traceback), methods, and the references the defaults hold."""

import functools
import sys

import pytest

from conftest import Make, both, run_both

SRC = """
SHARED = []

def g(a, b=2, c=3):
    return a * 100 + b * 10 + c

def acc(x, seen=SHARED):
    seen.append(x)
    return len(seen)

def kw(a, *, k=1):
    return a + k

class Sq:
    def __init__(self, pos):
        self.pos = pos
        self.ref = self
    def find(self, update=False):
        ref = self.ref
        if update:
            self.ref = ref
        return ref.pos

def f(n, change=None):
    out = []
    s = Sq(7)
    for i in range(n):
        if i == n // 2 and change is not None:
            change()
        out.append((g(i), g(i, 5), g(i, 5, 6), acc(i), kw(i), s.find(), s.find(True)))
    return out, len(SHARED)
"""


def pair():
    return both(SRC, warm=[(5,)])


def test_defaulted_calls_agree(ember_mod):
    fi, fc = pair()
    run_both(fi, fc, 300)


def setter(path, value):
    """An argument that, called, sets the attribute `path` ("g.__defaults__") of the namespace
    it is built in (each copy its own) to `value`."""
    name, *attrs = path.split(".")

    def build(ns):
        owner = functools.reduce(getattr, attrs[:-1], ns[name])
        return lambda: setattr(owner, attrs[-1], value)

    return Make(build, f"{path} = {value!r}")


CHANGES = [
    setter("g.__defaults__", (8, 9)),          # other defaults, read at each call
    setter("g.__defaults__", (9,)),            # g(i) now misses b: TypeError
    setter("g.__defaults__", None),            # no defaults at all: TypeError
    setter("Sq.find.__defaults__", (True,)),   # a method's default
]


@pytest.mark.parametrize("change", CHANGES, ids=repr)
def test_defaults_changed_mid_loop_agree(ember_mod, change):
    fi, fc = pair()
    run_both(fi, fc, 200, change)


def test_default_objects_keep_their_references(ember_mod):
    fi, fc = pair()
    default = fc.__globals__["SHARED"]
    fc(10)
    before = sys.getrefcount(default), sys.getrefcount(fc.__globals__["g"].__defaults__)
    for _ in range(5):
        fc(50)
    assert (sys.getrefcount(default), sys.getrefcount(fc.__globals__["g"].__defaults__)) == before
