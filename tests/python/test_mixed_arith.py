"""Generic `+ - * /` sites (the interpreter left them unspecialised: they see ints and floats
mixed) whose float cases compiled code computes inline (ember_binary_op_float_first): two exact
floats, or an exact float and a compact int in either order. Compared with the interpreter on
every pairing of float, compact int, big int, bool, int and float subclasses and a class with
the reflected operators, with zero divisors of both types, signed zeros, infinities and NaNs;
and the references of operands that die there or live on."""

import itertools
import sys

import pytest

from conftest import both, run_both

SRC = """
class F(float):
    pass

class I(int):
    pass

class R:
    def __radd__(self, o): return ("radd", o)
    def __rsub__(self, o): return ("rsub", o)
    def __rmul__(self, o): return ("rmul", o)
    def __rtruediv__(self, o): return ("rtruediv", o)

def ops(a, b):
    out = []
    for x, y in ((a, b), (b, a)):
        for op in range(4):
            try:
                if op == 0:
                    r = x + y
                elif op == 1:
                    r = x - y
                elif op == 2:
                    r = x * y
                else:
                    r = x / y
            except Exception as e:
                r = (type(e).__name__, str(e))
            out.append(r)
    return out

def fresh(k):
    # Operands made here die in the operation: a float result may reuse one.
    out = []
    for i in range(k):
        out.append((i + 0.5) * (1000 + i) - (2000 + i) / (i + 0.25) + (3000 + i) * 1.5)
    return out

def mixed_warm():
    for v in (1, 2.5, 3, 4.5, 7, 0.25):
        ops(v, 2)
        ops(2.5, v)
"""

VALUES = ["1.5", "-0.0", "0.0", "0", "7", "-3", "2**40", "2**80", "True", "float('inf')", "float('nan')",
          "F(2.5)", "I(3)", "R()", "1e308", "-(2**29)"]


def pair(name="ops"):
    fi, fc = both(SRC, name, exclude=("mixed_warm",), warm=[((1, 2.5),), ((2.5, 3),), ((4, 8),), ((0.5, 0.25),)])
    return fi, fc


@pytest.mark.parametrize("a", VALUES)
def test_every_pairing_agrees_with_the_interpreter(ember_mod, a):
    fi, fc = pair()
    for b in VALUES:
        va, vb = eval(a, fi.__globals__), eval(b, fi.__globals__)
        ca, cb = eval(a, fc.__globals__), eval(b, fc.__globals__)
        oi, oc = fi(va, vb), fc(ca, cb)
        assert repr(oi).replace("__main__", "") == repr(oc).replace("__main__", ""), (a, b)


def test_dying_operands_and_results(ember_mod):
    fi, fc = both(SRC, "fresh", warm=[((5,),)])
    run_both(fi, fc, 300)


def test_references_of_operands_that_live_on(ember_mod):
    fi, fc = pair()
    x, n = 2.5, 1234567
    fc(x, n)
    before = (sys.getrefcount(x), sys.getrefcount(n))
    for _ in range(200):
        fc(x, n)
    assert (sys.getrefcount(x), sys.getrefcount(n)) == before
