"""Loops the interpreter never ran when a function was compiled (Deopt<ColdLoop>, serialize.c
`never_ran`): a function compiled from a partial profile (on-stack replacement in its first
loop, before a later loop ever ran) leaves compiled code at such a loop's FOR_ITER, withdraws
the code when a second call gets there, and is compiled again with a profile of the loop (float's `benchmark`: its
`p.normalize()` loop had no profile, so the method load was generic and never inlined)."""

import pytest

from conftest import both, run_both

SRC = """
class P:
    __slots__ = ('x',)

    def __init__(self, x):
        self.x = x

    def double(self):
        self.x = self.x * 2.0

def f(n, second):
    ps = []
    for i in range(n):
        ps.append(P(float(i)))
    if second:
        for p in ps:
            p.double()
    return [p.x for p in ps]

def g(n, second):
    for i in range(n):
        yield i
    if second:
        for i in range(n):
            yield -i
"""


@pytest.fixture(autouse=True)
def _speculation_on(ember_mod):
    ember_mod._shim.set_speculate(True)


def test_a_loop_that_never_ran_leaves_and_the_function_is_compiled_again_with_its_profile(ember_mod):
    fi, fc = both(SRC, warm=[(20, False)], own_code=True, exclude=("P.double", "P.__init__"))
    hir = ember_mod.dump(fc, "hir")
    assert hir.count("Deopt<1>") == 1, hir
    before = ember_mod.stats()
    run_both(fi, fc, 30, True)
    after = ember_mod.stats()
    # Met once: the interpreter runs the loop, the code stays.
    assert after["deopts"] == before["deopts"] + 1
    assert after["recompiles"] == before["recompiles"]
    assert ember_mod.is_compiled(fc)
    # Met in a second call: withdrawn.
    run_both(fi, fc, 30, True)
    after = ember_mod.stats()
    assert after["deopts"] == before["deopts"] + 2
    assert after["recompiles"] == before["recompiles"] + 1
    assert not ember_mod.is_compiled(fc)
    # Interpreted now, the loop gets its profile; compiled again, the method call is inlined.
    for _ in range(2):
        run_both(fi, fc, 30, True)
    assert ember_mod.force_compile(fc)
    hir = ember_mod.dump(fc, "hir")
    assert "Deopt<1>" not in hir and "GuardMethodCallee" in hir, hir
    deopts = ember_mod.stats()["deopts"]
    run_both(fi, fc, 40, True)
    run_both(fi, fc, 40, False)
    assert ember_mod.stats()["deopts"] == deopts


def test_without_any_loop_run_there_is_no_profile_to_complete(ember_mod):
    """Compiled before anything ran (a jit list, a forced compile): nothing is cold-trapped."""
    _, fc = both(SRC)
    assert "Deopt<1>" not in ember_mod.dump(fc, "hir")


def test_generators_keep_their_loops(ember_mod):
    """A generator is never withdrawn, so its unprofiled loops stay compiled generic."""
    gi, gc = both(SRC, name="g", warm=[(5, False)])
    assert "Deopt<1>" not in ember_mod.dump(gc, "hir")
    oi, oc = run_both(lambda n: list(gi(n, True)), lambda n: list(gc(n, True)), 6)
