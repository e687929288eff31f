"""On-stack replacement (issue 15, item 3): a frame running in the interpreter when its code's
compiled version is installed moves into compiled code at its next backward jump
(cpython-glue/shim.c, "on-stack replacement").

Each case is differential: the same script runs under the interpreter (EMBER_DISABLE=1) and under
Ember, and stdout (results, tracebacks, frame checks) must be identical. Under Ember the move is
made deterministic: EMBER_AUTO=0 with background compilation queues a function's compile at its
first call, which goes on in the interpreter; the loop calls `sync()` (ember.wait_for_compiles)
after a few iterations, which installs the code and arms the running frame, so the next backward
jump moves it. The Ember log must show the move (or, where a move is not allowed, its absence).
"""
from __future__ import annotations

import re

import pytest

from test_modes import clean_env, run_script

ember = pytest.importorskip("ember")

PRELUDE = """
import sys, traceback
try:
    import ember
    def sync():
        ember.wait_for_compiles(60)
except ImportError:
    def sync():
        pass
"""


#: A counting loop that calls sync() at its fourth iteration; format with the function's name.
SUM_LOOP = """
def {name}(n):
    t = 0
    for i in range(n):
        if i == 3:
            sync()
        t += i
    return t
"""


def osr_moves(log):
    return re.findall(r"on-stack replacement of (\S+) at code unit (\d+)", log)


def differential(tmp_path, body, **env):
    """Runs PRELUDE + body plainly and under Ember (EMBER_OSR=2, first-call compiles in the
    background, unless `env` says otherwise, e.g. the stress mode EMBER_OSR=3 with
    EMBER_BACKGROUND=0); returns (Ember's stdout, the moves Ember logged). Asserts equal output."""
    script = PRELUDE + body
    plain = run_script(tmp_path, script, env=clean_env(EMBER_DISABLE="1"), name="plain.py")
    log = tmp_path / "ember.log"
    jl = tmp_path / "jitlist.txt"
    jl.write_text("__main__:*\n")
    settings = dict(EMBER_AUTO="0", EMBER_BACKGROUND="1", EMBER_OSR="2", EMBER_LOG=str(log), EMBER_JIT_LIST=str(jl))
    em = run_script(tmp_path, script, name="plain.py", env=clean_env(**{**settings, **env}))
    assert plain.returncode == 0, plain.stderr
    assert em.returncode == 0, em.stdout + em.stderr
    assert em.stdout == plain.stdout
    assert em.stderr == plain.stderr
    return em.stdout, osr_moves(log.read_text() if log.exists() else "")


def test_for_loop_moves_with_its_iterator_and_returns_the_result(tmp_path):
    out, moves = differential(tmp_path, """
def f(n):
    t = 0
    for i in range(n):
        if i == 3:
            sync()
        t += i * i % 7
    return t
print(f(2000), f(10))
""")
    assert out.split() == [str(sum(i * i % 7 for i in range(2000))), str(sum(i * i % 7 for i in range(10)))]
    assert moves == [("__main__:f", moves[0][1])], moves


def test_while_loop_returning_none_and_a_constant(tmp_path):
    out, moves = differential(tmp_path, """
def g(n):
    i = 0
    while i < n:
        if i == 3:
            sync()
        i += 1
def h(n):
    i = 0
    while True:
        if i == 3:
            sync()
        i += 1
        if i == n:
            return 12345
print(g(500), h(500))
""")
    assert out.split() == ["None", "12345"]
    assert sorted(m[0] for m in moves) == ["__main__:g", "__main__:h"], moves


def test_nested_loops_move_with_both_iterators_and_cells(tmp_path):
    out, moves = differential(tmp_path, """
def f(rows, cols):
    acc = []
    total = 0
    def seen():
        return total
    for r in range(rows):
        for c in range(cols):
            if r == 1 and c == 2:
                sync()
            total += r * c
        acc.append(seen())
    return acc, total
print(f(30, 40))
""")
    assert moves and moves[0][0] == "__main__:f", moves


def test_an_exception_after_the_move_has_the_interpreters_traceback_and_locals(tmp_path):
    out, moves = differential(tmp_path, """
def f(n):
    xs = [1, 2, 3]
    secret = "kept"
    for i in range(n):
        if i == 3:
            sync()
        if i == 50:
            xs[i]
    return 0
try:
    f(100)
except IndexError as e:
    traceback.print_exc(file=sys.stdout)
    tb = e.__traceback__
    frames = []
    while tb:
        frames.append((tb.tb_frame.f_code.co_name, tb.tb_lineno, sorted(k for k in tb.tb_frame.f_locals if k != "sync")))
        tb = tb.tb_next
    print(frames)
    print(e.__traceback__.tb_next.tb_frame.f_locals["secret"], e.__traceback__.tb_next.tb_frame.f_locals["i"])
""")
    assert "IndexError: list index out of range" in out
    assert "kept 50" in out
    assert [m[0] for m in moves] == ["__main__:f"], moves


def test_a_loop_inside_a_try_block_is_not_moved_and_its_handler_runs_once(tmp_path):
    out, moves = differential(tmp_path, """
def f(n):
    caught = 0
    try:
        for i in range(n):
            if i == 3:
                sync()
            if i == 40:
                raise KeyError(i)
    except KeyError as e:
        caught += 1
    return caught
print(f(100))
""")
    assert out.split() == ["1"]
    assert moves == [], moves


def test_a_frame_object_taken_before_the_move_is_the_frame_after_it(tmp_path):
    out, moves = differential(tmp_path, """
def f(n):
    me = sys._getframe()
    same = []
    for i in range(n):
        if i == 3:
            sync()
        if i in (2, 60):
            same.append(sys._getframe() is me)
    return same, me.f_code.co_name, me.f_back.f_code.co_name
print(f(100))
""")
    assert out.strip() == "([True, True], 'f', '<module>')"
    assert [m[0] for m in moves] == ["__main__:f"], moves


def test_generators_and_traced_frames_are_not_moved(tmp_path):
    out, moves = differential(tmp_path, """
def gen(n):
    for i in range(n):
        if i == 3:
            sync()
        yield i
print(sum(gen(300)))
lines = []
def tracer(frame, event, arg):
    if event == "line" and frame.f_code.co_name == "traced":
        lines.append(frame.f_lineno)
    return tracer
""" + SUM_LOOP.format(name="traced") + """
sys.settrace(tracer)
r = traced(20)
sys.settrace(None)
print(r, len(lines))
""")
    assert out.split() == [str(sum(range(300))), str(sum(range(20))), out.split()[2]]
    assert moves == [], moves


def test_mode_1_moves_nothing_outside_the_cost_policy(tmp_path):
    """EMBER_OSR=1 moves frames under the cost policy only: with EMBER_AUTO=0 the same script
    runs without a move."""
    out, moves = differential(tmp_path, SUM_LOOP.format(name="f") + "print(f(1000))\n", EMBER_OSR="1")
    assert out.split() == [str(sum(range(1000)))]
    assert moves == []


def test_default_moves_only_under_the_cost_policy(tmp_path):
    """Without EMBER_OSR (the default, 1) nothing moves with EMBER_AUTO=N, even in the setting
    where EMBER_OSR=2 moves the frame; test_cost_policy_moves_a_loop_by_default covers the cost
    policy."""
    out, moves = differential(tmp_path, SUM_LOOP.format(name="f") + "print(f(1000))\n", EMBER_OSR="")
    assert moves == []


def test_cost_policy_moves_a_loop_by_default_and_then_holds_no_tool_id(tmp_path):
    """The user's defaults (`python -m ember`, no EMBER_OSR): a function called once whose loop
    is hot is compiled while it runs and its frame moves at the loop; afterwards Ember holds no
    tool id (a program gets id 5) and a trace function sees the interpreter's events."""
    proc = run_script(tmp_path, """
        import sys, time, ember
        def main(limit):
            t, end = 0, time.monotonic() + limit
            while not ember.stats()["osr"] and time.monotonic() < end:
                for i in range(1000):
                    t += i % 7
            return ember.stats()["osr"] > 0
        def callee():
            return 1
        moved = main(60)
        # The sampler may have armed `main` again just before it returned (its interpreter frame
        # was still on the stack); the next sample's sweep disarms it and gives the id back.
        deadline = time.monotonic() + 5
        while sys.monitoring.get_tool(5) is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        print(moved, sys.monitoring.get_tool(5))
        sys.monitoring.use_tool_id(5, "mine")
        print(sys.monitoring.get_tool(5))
        sys.monitoring.free_tool_id(5)
        seen = []
        sys.settrace(lambda frame, event, arg: seen.append((event, frame.f_code.co_name)))
        callee()
        sys.settrace(None)
        print(seen)
    """, module_ember=True, env=clean_env(EMBER_BACKGROUND="1", EMBER_LOG="-"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split("\n")[:3] == ["True None", "mine", "[('call', 'callee')]"], proc.stdout + proc.stderr
    assert "on-stack replacement of __main__:main at code unit" in proc.stderr, proc.stderr


def test_stress_mode_moves_every_loop_at_its_first_backward_jump(tmp_path):
    """EMBER_OSR=3: each function with a loop runs its first iteration in the interpreter and
    moves at its first backward jump (compiled there, on the calling thread). Loop shapes:
    for/else with break, while with continue, a return from inside nested loops, a loop over a
    generator, a loop whose body catches an exception, a comprehension, and an exception that
    escapes after the move. Output must equal the interpreter's."""
    body = """
def for_else(xs):
    for x in xs:
        if x == 7:
            break
    else:
        return "no seven"
    return "seven"
def while_continue(n):
    i = t = 0
    while i < n:
        i += 1
        if i % 3:
            continue
        t += i
    return t
def nested_return(n):
    for a in range(n):
        for b in range(n):
            if a * b == 42:
                return (a, b)
    return None
def over_generator(n):
    return [v * 2 for v in (x for x in range(n) if x % 2)]
def catching(n):
    caught = 0
    for i in range(n):
        try:
            if i % 4 == 0:
                raise ValueError(i)
        except ValueError:
            caught += 1
    return caught
def escaping(n):
    total = 0
    for i in range(n):
        total += 10 // (5 - i)
    return total
print(for_else(range(10)), for_else(range(5)), while_continue(30), nested_return(10))
print(over_generator(15), catching(20))
try:
    escaping(10)
except ZeroDivisionError:
    traceback.print_exc(file=sys.stdout)
"""
    _, moves = differential(tmp_path, body, EMBER_BACKGROUND="0", EMBER_OSR="3")
    moved = {m[0] for m in moves}
    assert {"__main__:for_else", "__main__:while_continue", "__main__:nested_return", "__main__:catching",
            "__main__:escaping"} <= moved, moved


# ---- Tracing, profiling and other sys.monitoring tools (cpython-glue/shim.c, "The rule") ----
# Ember's tool (sys.monitoring id 5) is held only while a code object is armed, nothing is armed
# while another tool is on, and the compiled code of a moved frame runs outside Ember's JUMP
# callback, where CPython silences every event.

#: A loop that is moved at its fourth iteration and calls `start()` at its seventh, from
#: compiled code; `helper` is called at every iteration.
STARTS_INSIDE = """
def helper(x):
    return x + 1
def f(n):
    t = 0
    for i in range(n):
        if i == 3:
            sync()
        if i == 6:
            start()
        t += helper(i)
    return t
"""


def test_a_tool_started_inside_a_moved_loop_sees_every_event(tmp_path):
    """A sys.monitoring tool switched on by code the moved frame runs gets the interpreter's
    events: its callees' starts and returns, the lines of the rest of the loop, one return of
    the moved call."""
    out, moves = differential(tmp_path, STARTS_INSIDE + """
E = sys.monitoring.events
seen = []
def record(*what):
    if what[1] in ("f", "helper"):
        seen.append(what)
def start():
    sys.monitoring.use_tool_id(2, "test")
    sys.monitoring.register_callback(2, E.PY_START, lambda code, off: record("start", code.co_name))
    sys.monitoring.register_callback(2, E.PY_RETURN, lambda code, off, rv: record("return", code.co_name, rv))
    sys.monitoring.register_callback(2, E.LINE, lambda code, line: record("line", code.co_name, line))
    sys.monitoring.set_events(2, E.PY_START | E.PY_RETURN | E.LINE)
print(f(12))
sys.monitoring.set_events(2, 0)
sys.monitoring.free_tool_id(2)
print(seen)
""")
    assert "('return', 'f', 78)" in out and out.count("'return', 'f'") == 1, out
    assert [m[0] for m in moves] == ["__main__:f"], moves


def test_settrace_inside_a_moved_loop_traces_its_callees(tmp_path):
    """sys.settrace called from the compiled code of a moved frame: the trace function sees the
    calls, lines and returns of what the frame calls afterwards, as in the interpreter."""
    out, moves = differential(tmp_path, STARTS_INSIDE + """
events = []
def tracer(frame, event, arg):
    events.append((event, frame.f_code.co_name, frame.f_lineno))
    return tracer
def start():
    sys.settrace(tracer)
print(f(12))
sys.settrace(None)
print(events)
""")
    assert "('call', 'helper'" in out, out
    assert [m[0] for m in moves] == ["__main__:f"], moves


def test_setprofile_inside_a_moved_loop_sees_one_return_of_the_call(tmp_path):
    """sys.setprofile from a moved frame: the frame goes back to the interpreter, so the
    profile function sees the moved call return once (and an exception caught in the loop
    afterwards is the interpreter's too)."""
    out, moves = differential(tmp_path, """
def helper(x):
    if x % 4 == 0:
        raise KeyError(x)
    return x + 1
def f(n):
    t = 0
    for i in range(n):
        if i == 3:
            sync()
        if i == 6:
            sys.setprofile(profiler)
        try:
            t += helper(i)
        except KeyError:
            t -= 1
    return t
events = []
def profiler(frame, event, arg):
    if frame.f_code.co_name in ("f", "helper"):
        events.append((event, frame.f_code.co_name, frame.f_lineno))
print(f(12))
sys.setprofile(None)
print(events)
""")
    assert out.count("'return', 'f'") == 1, out
    assert [m[0] for m in moves] == ["__main__:f"], moves


def test_settrace_in_an_armed_loop_stops_the_move_and_frees_the_tool_id(tmp_path):
    """sys.settrace right after the frame was armed: the frame is not moved, the trace function
    sees what the interpreter shows it, and Ember does not keep tool id 5."""
    out, moves = differential(tmp_path, """
events = []
def tracer(frame, event, arg):
    events.append((event, frame.f_code.co_name))
    return tracer
def helper(x):
    return x * 2
def f(n):
    t = 0
    for i in range(n):
        if i == 3:
            sync()
            sys.settrace(tracer)
        t += helper(i)
    return t
print(f(10))
sys.settrace(None)
print(events)
print(sys.monitoring.get_tool(5))
""")
    assert out.split("\n")[-2] == "None", out
    assert moves == [], moves


def test_a_program_gets_tool_id_5_while_a_frame_is_armed_and_after_a_move(tmp_path):
    """sys.monitoring.use_tool_id(5) succeeds while Ember has a frame armed (Ember steps aside:
    no move, and none of Ember's JUMP events reaches the program's callback) and after a move;
    get_tool(5) is None when Ember has nothing armed."""
    out, moves = differential(tmp_path, """
E = sys.monitoring.events
def armed(n):
    t = 0
    hits = []
    for i in range(n):
        if i == 3:
            sync()
            sys.monitoring.use_tool_id(5, "mine")
            sys.monitoring.register_callback(5, E.JUMP, lambda *a: hits.append(a[1:]))
            print("inside:", sys.monitoring.get_tool(5))
        t += i
    sys.monitoring.register_callback(5, E.JUMP, None)
    sys.monitoring.free_tool_id(5)
    return t, hits
""" + SUM_LOOP.format(name="moved") + """
print(armed(100))
print(moved(100), sys.monitoring.get_tool(5))
sys.monitoring.use_tool_id(5, "mine")
print("after:", sys.monitoring.get_tool(5))
sys.monitoring.free_tool_id(5)
""")
    assert "inside: mine" in out and "after: mine" in out, out
    assert [m[0] for m in moves] == ["__main__:moved"], moves


def test_stress_mode_leaves_tool_id_5_free(tmp_path):
    """EMBER_OSR=3 moves every loop; between calls nothing stays armed for a finished frame,
    so tool id 5 is free, and a program's own tool 5 sees only its own events."""
    body = """
E = sys.monitoring.events
def total(n):
    t = 0
    for i in range(n):
        t += i
    return t
def squares(n):
    return [i * i for i in range(n)]
print(total(100), squares(5), sys.monitoring.get_tool(5))
sys.monitoring.use_tool_id(5, "mine")
jumps = []
sys.monitoring.register_callback(5, E.JUMP, lambda code, a, b: jumps.append(code.co_name))
sys.monitoring.set_local_events(5, total.__code__, E.JUMP)
print(total(10), sorted(set(jumps)), len(jumps))
sys.monitoring.set_local_events(5, total.__code__, 0)
sys.monitoring.register_callback(5, E.JUMP, None)
sys.monitoring.free_tool_id(5)
print(total(50), sys.monitoring.get_tool(5))
"""
    _, moves = differential(tmp_path, body, EMBER_BACKGROUND="0", EMBER_OSR="3")
    assert "__main__:total" in {m[0] for m in moves}


def test_a_moved_callee_called_from_compiled_code_still_reports_another_tools_local_events(tmp_path):
    """A code object whose frame moved keeps the monitoring data CPython allocated when Ember
    armed its loop (`_co_monitoring`, never freed). Compiled callers enter such a callee
    directly again (only Ember's own tool had local events on it, and none is left), but once
    another tool sets local events on it (PY_START, which parks nothing), every call from
    compiled code runs it in the interpreter and the tool gets each event, as plain Python."""
    out, moves = differential(tmp_path, SUM_LOOP.format(name="callee") + """
def caller(k):
    s = 0
    for j in range(k):
        s += callee(5)
    return s
print(callee(1000))   # queued at its first call; its frame moves at the loop
print(caller(3))      # queued at its first call
sync()
print(caller(3))      # compiled caller, compiled callee
E = sys.monitoring.events
events = []
sys.monitoring.use_tool_id(3, "ember-test")
sys.monitoring.register_callback(3, E.PY_START, lambda code, offset: events.append(code.co_name))
sys.monitoring.set_local_events(3, callee.__code__, E.PY_START)
print(caller(4), events)
sys.monitoring.set_local_events(3, callee.__code__, 0)
print(caller(2), len(events))
""")
    assert ("__main__:callee", moves[0][1]) in moves, moves
    assert "['callee', 'callee', 'callee', 'callee']" in out, out
