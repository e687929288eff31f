"""ember.dump, ember.why_not and the argument rules of every function-taking call (issue 17,
item 6): dump returns the HIR, LLVM IR or assembly of compiling a function now without
installing it; why_not gives the reason a function is not running compiled code; each call
takes a function or a bound method and raises TypeError for anything else."""
from __future__ import annotations

import pytest

from test_modes import clean_env, ok, run_script

ember = pytest.importorskip("ember")


def scale(a, b):
    return a * b + 1.5


class Box:
    def grow(self, x):
        return x + 1


def warm():
    for _ in range(100):
        scale(1.5, 2.0)   # the interpreter quickens the multiply to BINARY_OP_MULTIPLY_FLOAT


def test_dump_hir_llvm_and_asm_of_a_function_without_installing_it():
    warm()
    hir = ember.dump(scale)
    assert hir.startswith("function ")
    assert "FloatBinOp" in hir and "UnboxNumbers" in hir, hir   # typed by the profile
    llvm = ember.dump(scale, "llvm")
    assert "define " in llvm and "fmul double" in llvm, llvm[:2000]
    asm = ember.dump(scale, "asm")
    assert "mulsd" in asm and "ret" in asm, asm[:2000]
    assert not ember.is_compiled(scale)
    assert ember.dump(Box().grow) == ember.dump(Box.grow)   # a bound method names its function


def test_dump_errors():
    with pytest.raises(ValueError, match="what must be one of"):
        ember.dump(scale, "x86")
    with pytest.raises(TypeError, match=r"dump\(\) needs a Python function or bound method, not int"):
        ember.dump(3)


@pytest.mark.parametrize("api", ["force_compile", "is_compiled", "compiled_size", "why_not", "dump"])
@pytest.mark.parametrize("thing", [len, 3, Box, "scale"], ids=["builtin", "int", "class", "str"])
def test_every_function_taking_call_raises_the_same_type_error(api, thing):
    with pytest.raises(TypeError, match=rf"^{api}\(\) needs a Python function or bound method, not "):
        getattr(ember, api)(thing)


def test_force_compile_of_a_bound_method_compiles_its_function():
    b = Box()
    assert ember.force_compile(b.grow)
    assert ember.is_compiled(Box.grow) and ember.is_compiled(b.grow)
    assert ember.compiled_size(b.grow) == ember.compiled_size(Box.grow) > 0
    assert ember.why_not(b.grow) is None
    assert b.grow(41) == 42


def test_why_not_names_each_reason(tmp_path):
    """In one process: no policy, n of m calls, the jit list, too large (with the log's own
    words), compiled (None)."""
    proc = ok(run_script(tmp_path, """
        import ember
        def small(x):
            return x
        def big(x):
            y = x + 1
            y = y * 2
            y = y - 3
            return y
        print(ember.why_not(small))
        ember.auto(5)
        small(1)
        print(ember.why_not(small))
        for i in range(10):
            small(i); big(i)
        print(ember.why_not(small))
        print(ember.why_not(big))
        ember.jit_list(["__main__:other"])
        def late(x):
            return x
        for i in range(10):
            late(i)
        print(ember.why_not(late))
    """, env=clean_env(EMBER_MAX_CODE_UNITS=12, EMBER_LOG="-")))
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("no compile policy is on")
    assert lines[1] == "not called often enough yet (1 of 6 calls)"
    assert lines[2] == "None"
    assert lines[3].startswith("function too large")
    assert f"Not compiling __main__:big: {lines[3]}" in proc.stderr
    assert lines[4] == "not on the jit list"


def test_the_cost_policy_waits_for_the_interpreters_profile(tmp_path):
    """Under the cost policy a function is not compiled before the specialising interpreter
    has specialised (or tried to specialise) one of its instructions: an instruction is tried
    at its second execution, so `add` is unprofiled after one call and profiled after two.
    Code with nothing to specialise counts as profiled from the start."""
    proc = ok(run_script(tmp_path, """
        import ember
        def add(x):
            return x + 1
        def ident(x):
            return x
        print(ember.why_not(add))
        add(1)
        print(ember.why_not(add))
        add(2)
        print(ember.why_not(add))
        print(ember.why_not(ident))
    """, env=clean_env(EMBER_AUTO="cost")))
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("not profiled yet: the interpreter has specialised none")
    assert lines[1].startswith("not profiled yet")
    assert lines[2].startswith("not hot enough yet for the cost policy")
    assert lines[3].startswith("not hot enough yet for the cost policy")


def test_stats_documents_every_key():
    """Every key ember.stats() returns is described in its docstring."""
    for key in ember.stats():
        assert f"``{key}``" in ember.stats.__doc__, key
