"""Trivial callees inlined at their call sites (passes::inline_trivial, CallTrivial): a method
whose body only returns a parameter or a constant runs as that body, and every condition that
makes compiled code make the call instead is made to happen in the middle of a hot loop and
compared with the interpreter: another function at the site, a function whose __code__ was
replaced, an instance attribute in place of the method, tracing switched on, the recursion
limit. References are checked too."""

import subprocess
import sys

import pytest

from conftest import Make, both, run_both, traced

SRC = """
import sys

class V:
    def __init__(self, x):
        self.x = x
    def me(self):
        return self
    def no(self):
        return False
    def first(self, a, b):
        return a
    def name(self):
        return "v"
    def getx(self):
        return self.x

def f(v, n, change=None):
    t = 0
    out = []
    for i in range(n):
        if i == n // 2 and change is not None:
            change(v)
        r = (v.me() is v, v.no(), v.first(i, 2), v.name(), v.getx())
        if r == (True, False, i, "v", 1):
            t += 1
        else:
            out.append(repr(r))
    return t, out
"""


@pytest.fixture(autouse=True)
def _speculation_on(ember_mod):
    ember_mod._shim.set_speculate(True)


def make_v(ns):
    return ns["V"](1)


def pair():
    return both(SRC, warm=[(Make(make_v, "V(1)"), 40)])


def test_trivial_methods_run_inlined_and_agree(ember_mod):
    fi, fc = pair()
    hir = ember_mod.dump(fc, "hir")
    assert hir.count("CallTrivial") == 5, hir
    run_both(fi, fc, Make(make_v, "V(1)"), 500)


def rebind_method(v):
    type(v).me = lambda self: None


def replace_code(v):
    def other(self):
        return 42
    type(v).name.__code__ = other.__code__


def shadow_with_attribute(v):
    v.no = lambda: "instance"


def other_class(v):
    class W(type(v)):
        def first(self, a, b):
            return b
    v.__class__ = W


def delete_the_attribute(v):
    del v.x   # the getter raises AttributeError: the call is made


def shadow_the_attribute_with_a_property(v):
    type(v).x = property(lambda self: 2)   # a new type version


def materialise_the_dict(v):
    v.__dict__["x"] = 3   # a dict over the inline values


def move_the_values_to_the_dict(v):
    v.__dict__.update({f"k{i}": i for i in range(40)})   # the inline values are given up
    v.x = 7


def change_the_attribute(v):
    v.x = 4


@pytest.mark.parametrize("change", [delete_the_attribute, shadow_the_attribute_with_a_property, materialise_the_dict,
                                    move_the_values_to_the_dict, change_the_attribute])
def test_an_inlined_getter_follows_its_attribute(ember_mod, change):
    fi, fc = pair()
    run_both(fi, fc, Make(make_v, "V(1)"), 200, change)


@pytest.mark.parametrize("change", [rebind_method, replace_code, shadow_with_attribute, other_class])
def test_the_call_is_made_when_the_callee_is_not_that_code(ember_mod, change):
    fi, fc = pair()
    t, changed = fc(fc.__globals__["V"](1), 200, change)
    assert t == 100 and len(changed) == 100   # the second half saw the new callee
    fi, fc = pair()
    run_both(fi, fc, Make(make_v, "V(1)"), 200, change)


def store_the_method_on_the_instance(v):
    v.me = type(v).me   # the same code, called without self: TypeError


def test_the_same_function_without_self_is_called(ember_mod):
    fi, fc = pair()
    oi, _ = run_both(fi, fc, Make(make_v, "V(1)"), 200, store_the_method_on_the_instance)
    assert oi.kind == "raise" and "TypeError" in str(oi.value), oi.describe()


def test_tracing_switched_on_mid_loop_sees_the_calls(ember_mod):
    fi, fc = pair()
    names = ("me", "no", "first", "name")
    ri, ei = traced(lambda start: fi(fi.__globals__["V"](1), 20, start), names)
    rc, ec = traced(lambda start: fc(fc.__globals__["V"](1), 20, start), names)
    assert ri == rc
    assert ei == ec
    assert ("me", "call") in [e[:2] for e in ei]


# The next two run in a fresh process, once compiled and once interpreted (Ember imported first
# in both, as `python -m ember` does: the shim sends only callees it saw made). Once any tool
# or trace function was ever switched on in a process, the instrumentation version in every
# thread's eval breaker stays set and compiled code makes every such call, so the conditions
# they test only decide anything before that.
FRESH = "import ember\n" + SRC + """
class Box:
    def __init__(self, v, start):
        self._v = v
        self.start = start
    @property
    def v(self):
        if self.start is not None and self._v.x > 30:
            self.start()
        return self._v

def g(b, n):
    t = 0
    for i in range(n):
        b._v.x = i
        if b.v.me() is b._v:
            t += 1
    return t

def deep(v, k):
    if k == 0:
        return v.me() is v
    return deep(v, k - 1)

import os
for _ in range(3):
    g(Box(V(1), None), 20)
    deep(V(1), 3)
if os.environ.get("INLINE_TEST_COMPILE") == "1":
    assert ember.force_compile(g) and ember.force_compile(deep)
    assert all("CallTrivial" in ember.dump(h) for h in (g, deep))
"""


def run_fresh(body):
    """Runs FRESH + body with g and deep compiled, then interpreted; returns both outputs."""
    from test_modes import clean_env
    outs = []
    for extra in ({"INLINE_TEST_COMPILE": "1"}, {}):
        p = subprocess.run([sys.executable, "-c", FRESH + body], env=clean_env(**extra), capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        outs.append(p.stdout)
    return outs


def test_tracing_switched_on_by_an_attribute_load_sees_the_next_call():
    # Between the property's getter (interpreted, where tracing comes on) and the call there is
    # no eval-breaker check in compiled code: only the CallTrivial condition sees it.
    compiled, interpreted = run_fresh("""
events = []
def tracer(frame, event, arg):
    if frame.f_code.co_name == "me":
        events.append(event)
    return tracer
r = g(Box(V(1), lambda: sys.settrace(tracer)), 40)
sys.settrace(None)
print(r, events)
""")
    assert compiled == interpreted
    assert "['call', 'line', 'return'" in compiled


def test_at_the_recursion_limit_the_call_raises_as_in_the_interpreter():
    compiled, interpreted = run_fresh("""
sys.setrecursionlimit(120)
outcomes = []
for k in range(1, 130):
    try:
        outcomes.append(deep(V(1), k))
    except RecursionError:
        outcomes.append("RecursionError")
print(outcomes)
""")
    assert compiled == interpreted
    assert "True" in compiled and "RecursionError" in compiled


def test_references_of_self_arguments_and_results_are_kept(ember_mod):
    fi, fc = pair()
    v = fc.__globals__["V"](1)
    arg = object()
    fc(v, 100)
    before = (sys.getrefcount(v), sys.getrefcount(arg))
    for _ in range(5):
        fc(v, 100)
    g = fc.__globals__
    exec("def h(v, a, n):\n    for _ in range(n):\n        r = v.first(a, 2)\n    return r\n", g)
    h = g["h"]
    h(v, arg, 5)
    h(v, arg, 5)
    assert ember_mod.force_compile(h)
    assert "CallTrivial" in ember_mod.dump(h, "hir")
    assert h(v, arg, 1000) is arg
    assert (sys.getrefcount(v), sys.getrefcount(arg)) == before


def test_a_stale_method_cache_sends_no_callee(ember_mod):
    # The interpreter's LOAD_ATTR_METHOD cache keeps pointing at a method that was replaced
    # (and freed) until the instruction runs again; the shim must not read it.
    g = {}
    exec("class C:\n    def me(self):\n        return self\n"
         "def f(c, n):\n    for _ in range(n):\n        r = c.me()\n    return r\n", g)
    c = g["C"]()
    g["f"](c, 10)
    g["f"](c, 10)
    assert "CallTrivial" in ember_mod.dump(g["f"], "hir")
    g["C"].me = lambda self: 1   # the old function dies: only the class held it
    assert "CallTrivial" not in ember_mod.dump(g["f"], "hir")
    assert ember_mod.force_compile(g["f"]) and g["f"](c, 3) == 1
