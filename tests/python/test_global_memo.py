"""Global loads of compiled code after the module's dict changed (runtime_slow.c
ember_load_global's memo; docs/typed-hir.md, "Global loads after the module gains globals").
A compiled LOAD_GLOBAL site keeps the keys versions the interpreter had cached; once the module
gains, loses or shadows a global, its loads go to ember_load_global, which answers from a memo
of where each name was found while the dicts' keys versions and the entry's key say it still
holds. Each change is made in the middle of a hot loop and the result compared with the
interpreter."""

import pytest

from conftest import both, run_both

SRC = """
K = 1

def helper(x):
    return x + 1

def f(n, change=None):
    out = []
    for i in range(n):
        if i == n // 2 and change is not None:
            change(globals())
        out.append((K, len("ab"), helper(i)))
    return out
"""


@pytest.fixture(autouse=True)
def _speculation_on(ember_mod):
    ember_mod._shim.set_speculate(True)


def add_a_global(g):
    g["added_after_compile"] = 1


def add_many_globals(g):
    g.update({f"g{i}": i for i in range(200)})   # the keys are reallocated


def rebind_k(g):
    g["K"] = 2


def add_then_rebind(g):
    g["added_after_compile"] = 1
    g["K"] = 3


def delete_k(g):
    del g["K"]   # NameError at the next load, as in the interpreter


def shadow_a_builtin(g):
    g["len"] = lambda s: 99


def shadow_then_unshadow(g):
    g["len"] = lambda s: 99
    f = g["f"]
    f(2)          # the shadowing global is found and remembered
    del g["len"]  # then the builtin again


def add_then_shadow(g):
    g["added_after_compile"] = 1
    g["f"](2)           # `len` is found in the builtins and remembered
    g["len"] = lambda s: 99


def add_then_delete(g):
    g["added_after_compile"] = 1
    g["f"](2)           # `K` is found in the globals and remembered
    del g["K"]


def rebind_helper(g):
    g["added_after_compile"] = 1
    g["helper"] = lambda x: -x


@pytest.mark.parametrize("change", [add_a_global, add_many_globals, rebind_k, add_then_rebind, delete_k,
                                    shadow_a_builtin, shadow_then_unshadow, add_then_shadow, add_then_delete,
                                    rebind_helper])
def test_global_loads_follow_the_module_after_it_changed(ember_mod, change):
    fi, fc = both(SRC, warm=[(300,)])
    run_both(fi, fc, 200, change)
    run_both(fi, fc, 50)   # and later calls, with the memo filled


def test_many_names_in_many_modules_stay_right(ember_mod):
    """More names than memo slots, in two modules whose globals differ: collisions and stale
    entries never answer for another name or module."""
    src = "\n".join(f"V{i} = {i}" for i in range(400)) + "\n" + (
        "def f(n):\n    t = 0\n    for _ in range(n):\n        t += " + " + ".join(f"V{i}" for i in range(0, 400, 7)) + "\n    return t\n")
    fi, fc = both(src, warm=[(50,)])
    fc.__globals__["added_after_compile"] = 1
    fi.__globals__["added_after_compile"] = 1
    run_both(fi, fc, 30)
    fc.__globals__["V7"] = 1000
    fi.__globals__["V7"] = 1000
    run_both(fi, fc, 30)
