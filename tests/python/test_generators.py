"""Differential tests for generators, coroutines and async generators (issue 4).

Every generator-family function of a case's source is compiled by Ember in the second copy
(conftest.both), and a driver `f` (also compiled) runs it: values, `send`, `throw`, `close`,
`yield from` / `await` delegation, StopIteration -> RuntimeError, GeneratorExit, introspection
(gi_frame, gi_running, gi_suspended, gi_yieldfrom, cr_await, f_lineno, f_locals),
finalisation, and async iteration driven by an asyncio event loop. The two copies must agree
on result, exception, message and traceback (run_both). Tests also check that compiled
generator frames really were resumed in compiled code (ember.stats()["gen_resumes"]).
"""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import weakref

import pytest

from conftest import both, run_both

ember = pytest.importorskip("ember")


def resumes():
    return ember.stats()["gen_resumes"]


class GCase:
    def __init__(self, id, src, calls=((),)):
        self.id, self.src, self.calls = id, src, calls


# Runs a coroutine or awaitable to completion without an event loop (shared by the cases).
DRIVE = """
def drive(aw):
    try:
        while True:
            aw.send(None)
    except StopIteration as e:
        return e.value
"""

CASES = [
    GCase("values_send_return", """
def gen(n):
    total = 0
    for i in range(n):
        x = yield i * 2
        if x is not None:
            total += x
    return total

def f(n):
    out = list(gen(n))
    g = gen(3)
    out.append(next(g))
    out.append(g.send(10))
    out.append(g.send(20))
    try:
        g.send(30)
    except StopIteration as e:
        out.append(("stop", e.value))
    try:
        next(g)
    except StopIteration as e:
        out.append(("again", e.value))
    return out
""", [(0,), (5,)]),
    GCase("send_non_none_to_fresh", """
def gen():
    yield 1

def f():
    g = gen()
    return g.send(5)
"""),
    GCase("throw_caught_and_uncaught", """
def gen(log):
    i = 0
    while True:
        try:
            x = yield i
            log.append(("got", x))
        except ValueError as e:
            log.append(("caught", str(e)))
            i += 100
        i += 1
        if i > 500:
            return "end"

def f():
    log = []
    g = gen(log)
    log.append(next(g))
    log.append(g.throw(ValueError("a")))
    log.append(g.send("s"))
    log.append(g.throw(ValueError("b")))
    log.append(next(g))
    try:
        g.throw(KeyError("k"))
    except KeyError as e:
        log.append(("escaped", repr(e)))
    log.append(g.gi_frame)
    return log
"""),
    GCase("close_finally_and_ignored_exit", """
def gen(log):
    try:
        yield 1
        yield 2
    finally:
        log.append("finally")

def stubborn():
    n = 0
    while n < 2:
        try:
            yield 1
        except GeneratorExit:
            n += 1

def f():
    log = []
    g = gen(log)
    log.append(next(g))
    g.close()
    log.append(g.gi_frame is None)
    g.close()
    s = stubborn()
    next(s)
    try:
        s.close()
    except RuntimeError as e:
        log.append(str(e))
    h = gen(log)
    h.close()
    log.append(h.gi_frame is None)
    return log
"""),
    GCase("stopiteration_becomes_runtimeerror", """
def gen():
    yield 1
    raise StopIteration("inner")

def gen2():
    yield next(iter([]))

def f(which):
    g = gen() if which else gen2()
    return list(g)
""", [(1,), (0,)]),
    GCase("exception_in_body_traceback", """
def gen(xs):
    for x in xs:
        yield 10 // x

def f(xs):
    return [v for v in gen(xs)]
""", [([1, 2, 5],), ([1, 0, 3],), ([1, "a"],)]),
    GCase("yield_from_delegation", """
def inner(log):
    try:
        x = yield "i1"
        log.append(("inner got", x))
        y = yield "i2"
        log.append(("inner got", y))
    except KeyError as e:
        log.append(("inner caught", repr(e)))
        yield "recovered"
    return "inner done"

def middle(log):
    r = yield from inner(log)
    log.append(("middle got", r))
    r2 = yield from [7, 8]
    log.append(("list returned", r2))
    return "middle done"

def outer(log):
    r = yield from middle(log)
    yield r

def f():
    log = []
    g = outer(log)
    log.append(next(g))
    log.append(g.send("a"))
    log.append(g.gi_yieldfrom is not None)
    log.append(g.send("b"))
    log.append(next(g))
    log.append(next(g))
    try:
        next(g)
    except StopIteration:
        log.append("stop")
    g2 = outer(log)
    next(g2)
    log.append(g2.throw(KeyError("k")))
    g2.close()
    return log
"""),
    GCase("yield_from_coroutine_in_plain_generator", """
async def co():
    return 1

def gen():
    c = co()
    try:
        yield from c
    finally:
        c.close()

def f():
    return list(gen())
"""),
    GCase("generator_expressions", """
def f(n):
    k = 3
    a = sum(x * k for x in range(n))
    b = list((x, y) for x in range(n) for y in range(x) if (x + y) % 2)
    c = max((len(s) for s in ["a", "bbb", "cc"]), default=None)
    it = (1 // (x - 2) for x in range(n))
    try:
        d = list(it)
    except ZeroDivisionError as e:
        d = repr(e)
    return a, b, c, d
""", [(0,), (6,)]),
    GCase("introspection", """
import sys as _sys

def gen(box):
    box.append(("running inside", box[0].gi_running, box[0].gi_suspended))
    fr = _sys._getframe()
    box.append(("frame", fr.f_code.co_name, fr.f_back.f_code.co_name))
    a = 1
    yield a
    b = 2
    yield a + b

def f():
    box = []
    g = gen(box)
    box.insert(0, g)
    box.append(("created", g.gi_running, g.gi_suspended, g.gi_frame.f_lineno, g.gi_frame.f_lasti))
    next(g)
    box.append(("suspended", g.gi_running, g.gi_suspended, g.gi_frame.f_lineno, g.gi_frame.f_lasti,
                sorted(g.gi_frame.f_locals)))
    next(g)
    box.append(("second", g.gi_frame.f_lineno, g.gi_frame.f_locals["b"]))
    try:
        next(g)
    except StopIteration:
        pass
    box.append(("done", g.gi_frame, g.gi_running, g.gi_suspended))
    return box[1:]
"""),
    GCase("reentrant_generator_raises", """
def gen(box):
    yield next(box[0])

def f():
    box = []
    g = gen(box)
    box.append(g)
    try:
        next(g)
    except ValueError as e:
        return str(e)
"""),
    GCase("finalisation_of_unfinished", """
import gc as _gc

def gen(log):
    try:
        yield 1
        yield 2
    finally:
        log.append("finalised")

def f():
    log = []
    g = gen(log)
    next(g)
    del g
    _gc.collect()
    return log
"""),
    GCase("closures_and_cells_in_generators", """
def gen(n):
    acc = []
    def push(v):
        acc.append(v)
        return len(acc)
    for i in range(n):
        yield push(i)
    yield acc

def f(n):
    return list(gen(n))
""", [(4,)]),
    GCase("with_inside_generator", """
class CM:
    def __init__(self, log):
        self.log = log
    def __enter__(self):
        self.log.append("enter")
        return self
    def __exit__(self, *exc):
        self.log.append(("exit", exc[0].__name__ if exc[0] else None))
        return False

def gen(log, fail):
    with CM(log):
        yield 1
        if fail:
            raise ValueError("in with")
        yield 2

def f(fail):
    log = []
    try:
        for v in gen(log, fail):
            log.append(v)
    except ValueError as e:
        log.append(str(e))
    g = gen(log, fail)
    next(g)
    g.close()
    return log
""", [(False,), (True,)]),
    GCase("coroutine_driven_by_send", """
class Aw:
    def __init__(self, v):
        self.v = v
    def __await__(self):
        got = yield ("pause", self.v)
        return got

async def co(n):
    t = []
    for i in range(n):
        t.append(await Aw(i))
    return t

def f(n):
    c = co(n)
    out = []
    try:
        out.append(c.send(None))
        out.append(type(c.cr_await).__name__)
        for k in range(n):
            out.append(c.send(k * 10))
    except StopIteration as e:
        out.append(("ret", e.value))
    out.append((c.cr_await, c.cr_running, c.cr_suspended, c.cr_frame))
    return out
""", [(0,), (3,)]),
    GCase("await_errors", """
import types as _types

class NoAwait:
    pass

class BadAenter:
    async def __aenter__(self):
        return 1
    def __aexit__(self, *a):
        return 5

async def a1():
    return await NoAwait()

async def a2():
    return await 3

async def a3():
    async for x in 5:
        pass

async def a4():
    async with object():
        pass

async def a5():
    async with BadAenter():
        pass

async def inner():
    await _types.coroutine(lambda: (yield))()

async def a6():
    c = inner()
    c.send(None)
    async def again():
        await c
    try:
        await again()
    finally:
        c.close()

""" + DRIVE + """
def f(k):
    return drive([a1, a2, a3, a4, a5, a6][k]())
""", [(0,), (1,), (2,), (3,), (4,), (5,)]),
    GCase("asyncio_event_loop", """
import asyncio as _asyncio

async def agen(n, log):
    try:
        for i in range(n):
            await _asyncio.sleep(0)
            yield i
    finally:
        log.append("agen closed")

class ACM:
    def __init__(self, log):
        self.log = log
    async def __aenter__(self):
        await _asyncio.sleep(0)
        self.log.append("aenter")
        return "entered"
    async def __aexit__(self, t, v, tb):
        self.log.append(("aexit", t.__name__ if t else None))
        return t is KeyError

async def worker(q, k):
    await _asyncio.sleep(0.001 * k)
    await q.put(k * k)
    return k

async def main(n):
    log = []
    async for v in agen(n, log):
        log.append(v)
    log.append([x async for x in agen(3, log)])
    async with ACM(log) as e:
        log.append(e)
    async with ACM(log):
        raise KeyError("swallowed")
    try:
        async with ACM(log):
            raise ValueError("propagated")
    except ValueError as ex:
        log.append(str(ex))
    q = _asyncio.Queue()
    done = await _asyncio.gather(*(worker(q, k) for k in range(n)))
    log.append(done)
    log.append(sorted([q.get_nowait() for _ in range(q.qsize())]))
    ag = agen(5, log)
    log.append(await ag.__anext__())
    log.append(await ag.asend(None))
    await ag.aclose()
    t = _asyncio.ensure_future(_asyncio.sleep(10))
    await _asyncio.sleep(0)
    t.cancel()
    try:
        await t
    except _asyncio.CancelledError:
        log.append("cancelled")
    return log

def f(n):
    return _asyncio.run(main(n))
""", [(0,), (4,)]),
    GCase("async_for_loop_ends", """
# Every way an async for ends: exhaustion of an async generator (StopAsyncIteration from the
# awaited __anext__), a synchronous __anext__ raising StopAsyncIteration (from GET_ANEXT), an
# awaited __anext__ raising another error, break, a StopAsyncIteration instance that is kept
# (its traceback shows the frame entries the interpreter adds), nested loops, and code and
# yields after the loop.
KEPT = StopAsyncIteration("kept")

async def agen(n):
    for i in range(n):
        yield i

class SyncStop:
    def __init__(self, n):
        self.n = n
    def __aiter__(self):
        return self
    def __anext__(self):
        if self.n == 0:
            raise StopAsyncIteration
        self.n -= 1
        return agen_value(self.n)

class AwaitStop:
    def __init__(self, n, exc):
        self.n, self.exc = n, exc
    def __aiter__(self):
        return self
    async def __anext__(self):
        if self.n == 0:
            raise self.exc
        self.n -= 1
        return self.n

async def agen_value(v):
    return v * 10

async def tree(depth):
    if depth:
        async for i in tree(depth - 1):
            yield i
    yield depth
    if depth:
        async for i in tree(depth - 1):
            yield -i

async def body(n, mode):
    out = []
    async for x in agen(n):
        out.append(x)
    out.append("after first loop")
    async for x in SyncStop(n):
        out.append(await x)
    for k in range(2):
        async for x in agen(k + n):
            if x == 2:
                break
            async for y in agen(x):
                out.append((k, x, y))
    out.append([i async for i in tree(3)])
    if mode == 1:
        async for x in AwaitStop(n, ValueError("not a stop")):
            out.append(x)
    if mode == 2:
        async for x in AwaitStop(n, KEPT):
            out.append(x)
        tb, frames = KEPT.__traceback__, []
        while tb is not None:
            frames.append(tb.tb_frame.f_code.co_name)
            tb = tb.tb_next
        out.append(frames)
        KEPT.__traceback__ = None
    out.append("end")
    return out

""" + DRIVE + """
def f(n, mode):
    return drive(body(n, mode))
""", [(0, 0), (3, 0), (3, 1), (2, 2)]),
    GCase("async_generator_asend_protocol", """
# Compiled SEND resuming a compiled async generator through its asend awaitable directly:
# values that are tuples, exceptions and None (what StopIteration would carry), asend() with a
# value (also into a fresh generator), awaits inside the generator that suspend the whole
# chain, ag_running while running and after, re-awaiting a used awaitable, __anext__ of a
# running generator, an exception and a return leaving the generator, and aclose/athrow/anext
# after exhaustion (the closed flag the exhaustion sets).
class Pause:
    def __await__(self):
        got = yield "paused"
        return got

async def values(log, box):
    log.append(("running", box[0].ag_running))
    got = yield (1, 2)
    log.append(("got", got))
    got = yield ValueError("a value, not raised")
    log.append(("got", got))
    log.append(("resumed with", await Pause()))
    yield None
    try:
        await box[0].__anext__()
    except RuntimeError as e:
        log.append(str(e))
    yield "last"

async def fails(n):
    yield n
    raise KeyError(n)

async def body(log):
    box = [None]
    ag = box[0] = values(log, box)
    async for v in ag:
        log.append(v)
    log.append(("after", ag.ag_running))
    a = ag.__anext__()
    try:
        await a
    except StopAsyncIteration:
        log.append("exhausted")
    try:
        await a
    except RuntimeError as e:
        log.append(str(e))
    try:
        log.append(await ag.athrow(ValueError("late")))
    except BaseException as e:
        log.append(("athrow", type(e).__name__))
    log.append(await ag.aclose())
    g2 = values(log, [None])
    try:
        await g2.asend("not none")
    except TypeError as e:
        log.append(str(e))
    g3 = values(log, [None])
    g3_first = g3.asend(None)
    log.append(await g3_first)
    log.append(await g3.asend("sent"))
    await g3.aclose()
    try:
        async for v in fails(7):
            log.append(v)
    except KeyError as e:
        tb, frames = e.__traceback__, []
        while tb is not None:
            frames.append(tb.tb_frame.f_code.co_name)
            tb = tb.tb_next
        log.append(("KeyError", frames))
    return log

def f():
    log = []
    c = body(log)
    steps = []
    try:
        while True:
            steps.append(c.send("from driver" if steps else None))
    except StopIteration as e:
        steps.append(e.value is log)
    return steps, log
"""),
    GCase("generator_calls_and_for_loops", """
# A call of a generator or coroutine function made by the shim without entering compiled code
# (no cells: plain, coroutine) or by compiled code (a cell, a closure), seen through the frame
# of the fresh generator and through cr_origin (which _Py_MakeCoro computes from the caller's
# frame); FOR_ITER over exact generators that return a value (dropped), raise, and are
# re-entered while running.
import sys as _sys

def plain(n):
    for i in range(n):
        yield i
    return "dropped"

def with_cell(n):
    total = 0
    def add(k):
        nonlocal total
        total += k
    for i in range(n):
        add(i)
        yield total

def make_closure(k):
    def inner():
        yield k
        yield k * 2
    return inner

async def co(x):
    return x

def raises(n):
    yield n
    raise ValueError(n)

def reenter(box):
    yield 1
    yield next(box[0])

def f(n):
    out = []
    for v in plain(n):
        out.append(v)
    out.append(list(with_cell(n)))
    out.append([list(make_closure(k)()) for k in range(3)])
    try:
        for v in raises(n):
            out.append(v)
    except ValueError as e:
        out.append(("ValueError", e.args))
    box = [None]
    box[0] = g = reenter(box)
    try:
        for v in g:
            out.append(v)
    except ValueError as e:
        out.append(str(e))
    old = _sys.get_coroutine_origin_tracking_depth()
    _sys.set_coroutine_origin_tracking_depth(2)
    try:
        c = co(n)
        out.append(c.cr_origin)
        c.close()
    finally:
        _sys.set_coroutine_origin_tracking_depth(old)
    g = plain(2)
    out.append((g.gi_frame.f_lasti, g.gi_frame.f_lineno, g.gi_suspended, g.gi_running))
    out.append(next(g))
    # Closures' generators (COPY_FREE_VARS, then RETURN_GENERATOR: made by the shim too).
    c = make_closure(n + 5)()
    out.append((c.gi_frame.f_lasti, c.gi_frame.f_lineno, sorted(c.gi_frame.f_locals.items()), c.gi_suspended))
    out.append(list(c))
    ge = (v * n for v in range(3))
    out.append((ge.gi_frame.f_lasti, sorted(ge.gi_frame.f_locals), ge.gi_code.co_freevars))
    out.append((list(ge), tuple(v + n for v in range(n)), set(-v for v in range(n))))
    return out
""", [(0,), (3,)]),
    GCase("class_iter_is_a_compiled_generator", """
# GET_ITER and GET_YIELD_FROM_ITER on instances of Python classes whose __iter__ is compiled:
# the shim pushes __iter__'s frame itself (ember_iter_direct) instead of slot_tp_iter's call.
# Covers the tree walk of pyperformance's generators benchmark, inherited and replaced
# __iter__, __iter__ returning self or a non-iterator, __iter__ = None, an instance attribute
# named __iter__ (ignored: special method lookup), __iter__ with a default argument (not a
# simple call: generic path) and an exception raised by __iter__'s generator.
class Tree:
    def __init__(self, left, value, right):
        self.left, self.value, self.right = left, value, right
    def __iter__(self):
        if self.left:
            yield from self.left
        yield self.value
        if self.right:
            yield from self.right

def tree(lo, hi):
    if lo >= hi:
        return None
    mid = (lo + hi) // 2
    return Tree(tree(lo, mid), mid, tree(mid + 1, hi))

class Sub(Tree):
    pass

class Counter:
    def __init__(self):
        self.i = 0
    def __iter__(self):
        return self
    def __next__(self):
        self.i += 1
        if self.i > 3:
            raise StopIteration
        return self.i

class Bad:
    def __iter__(self):
        return 5

class NoIter:
    __iter__ = None

class Defaults:
    def __iter__(self, k=2):
        yield k

class Fails:
    def __iter__(self):
        yield 1
        raise KeyError("inside")

class Swapped:
    def __iter__(self):
        yield "old"

def swapped_iter(self):
    yield "new"

class Base:
    def __iter__(self):
        yield "base"

class Derived(Base):
    pass

def delegate(o):
    yield from o

def collect(o):
    out = []
    for x in o:
        out.append(x)
    return out

def f(n):
    out = []
    t = tree(0, n)
    out.append(collect(t))
    out.append(list(delegate(t)))
    out.append(collect(Sub(None, "s", Sub(None, "t", None))))
    out.append((collect(Counter()), list(delegate(Counter()))))
    inst = Tree(None, 1, None)
    inst.__iter__ = lambda: iter("ignored")
    out.append(collect(inst))
    out.append((collect(Defaults()), list(delegate(Defaults()))))
    for bad in (Bad(), NoIter()):
        for use in (collect, lambda o: list(delegate(o))):
            try:
                use(bad)
            except TypeError as e:
                out.append(("TypeError", str(e)))
    for use in (collect, lambda o: list(delegate(o))):
        try:
            use(Fails())
        except KeyError as e:
            out.append(("KeyError", e.args))
    s = Swapped()
    out.append(collect(s))
    old = Swapped.__iter__
    Swapped.__iter__ = swapped_iter
    try:
        out.append((collect(s), list(delegate(s))))
    finally:
        Swapped.__iter__ = old
    out.append(collect(s))
    d = Derived()
    out.append(collect(d))
    old = Base.__iter__
    Base.__iter__ = swapped_iter          # a base's change reaches the subclass
    try:
        out.append((collect(d), list(delegate(d))))
    finally:
        Base.__iter__ = old
    Derived.__iter__ = lambda self: iter(("own",))
    try:
        out.append((collect(d), collect(Base())))
    finally:
        del Derived.__iter__
    out.append((collect(d), list(delegate(d))))
    return out
""", [(0,), (1,), (40,)]),
    GCase("async_generator_athrow_and_wrapping", """
async def agen():
    try:
        x = yield 1
        yield ("sent", x)
    except ValueError as e:
        yield ("caught", str(e))

""" + DRIVE + """
def f():
    out = []
    a = agen()
    out.append(drive(a.__anext__()))
    out.append(drive(a.asend("hello")))
    out.append(drive(a.athrow(ValueError("v"))))
    try:
        drive(a.__anext__())
    except StopAsyncIteration:
        out.append("exhausted")
    return out
"""),
]


CASES.append(GCase("builtins_collect_generators", """
class T(tuple):
    pass

def gen(n):
    for i in range(n):
        yield i * i

def boom(n):
    for i in range(n):
        if i == 2:
            raise ValueError("boom at 2")
        yield i

def boom_late(n):
    for i in range(n):
        if i == 18:            # past the 16 items a tuple collects on the C stack
            raise ValueError("boom at 18")
        yield [i]

def stop():
    yield 1
    raise StopIteration        # PEP 479: RuntimeError

def f(n):
    out = [tuple(x + 1 for x in range(n)), list(x for x in range(n) if x % 2),
           sorted(set(x % 3 for x in range(n))), sorted(frozenset(gen(n))), T(x for x in range(n))]
    g = gen(n)
    out.append(next(g, None))
    out.append(tuple(g))          # the rest of a partly consumed generator
    out.append(tuple(g))          # an exhausted one
    out.append(list(x for x in ()))
    for make in (tuple, list, set):
        try:
            make(boom(n))
        except ValueError as e:
            out.append((make.__name__, str(e)))
    try:
        out.append(tuple(boom_late(n)))
    except ValueError as e:
        out.append(str(e))
    try:
        set([x] for x in range(n))   # an unhashable item: set's own TypeError
    except TypeError as e:
        out.append(str(e))
    try:
        tuple(stop())
    except RuntimeError as e:
        out.append(str(e))
    return out
""", calls=((0,), (1,), (5,), (16,), (17,), (40,))))


CASES.append(GCase("builtins_reduce_generators", """
class R:
    def __radd__(self, other):
        return "r"

class Falsy:
    def __bool__(self):
        raise KeyError("no truth")

def each(xs):
    for x in xs:
        yield x

def above(xs, k):
    for x in xs:
        yield x > k

def gen(n, log):
    try:
        for i in range(n):
            log.append(i)
            yield i < 2
    finally:
        log.append("closed")

def boom(n):
    for i in range(n):
        if i == 2:
            raise ValueError("boom at 2")
        yield i

def f(n):
    xs = list(range(-n, n)) + [True, False]
    out = [sum(each(xs)), sum(each([x * x for x in range(n)])), sum(each(())),
           sum(each([2 ** 62] * 3)),            # the C sum overflows
           sum(each([1, 2 ** 40, n])),          # a non-compact int
           sum(each([1, 1e100, 1.0, -1e100])),  # int phase, then the float phase
           sum(each([x / 3 for x in range(n)])),
           sum(each([n, R()])),                 # a str result: the generic loop
           any(above(xs, n - 2)), any(above(xs, n)), all(above(xs, -n - 1)), all(above(xs, 0))]
    for reduce in (sum, any, all):
        log = []
        out.append(reduce(gen(n, log)))
        out.append(list(log))                   # where it stopped; closed when dropped
        try:
            out.append(reduce(boom(n)))
        except ValueError as e:
            out.append((reduce.__name__, str(e)))
    for bad in ([1, "a"], [n, R(), 3]):
        try:
            out.append(sum(each(bad)))
        except TypeError as e:
            out.append(str(e))
    try:
        out.append(any(each([Falsy()])))
    except KeyError as e:
        out.append(str(e))
    return out
""", calls=((0,), (1,), (5,))))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_generator_corpus(case):
    pair = both(case.src)
    before = resumes()
    for args in case.calls:
        run_both(*pair, *args)
        run_both(*pair, *args)
    assert pair.compiled, "nothing was compiled"
    assert resumes() >= before  # counter is monotonic


def test_compiled_generators_resume_in_compiled_code():
    """A compiled generator's resumptions enter compiled code through the PEP 523 hook (one
    per next() after the first), and the log-free counters say so."""
    fi, fc = both("""
def gen(n):
    for i in range(n):
        yield i

def f(n):
    return sum(gen(n))
""")
    # A first run lets the interpreter bring the new code object's instrumentation version up
    # to date (its first RESUME does, if tracing was ever on in this process; until then the
    # frame resumes in the interpreter), so the count below is exact in any test order.
    fc(10)
    before = resumes()
    assert fc(1000) == fi(1000) == sum(range(1000))
    assert ember.stats()["gen_hook"]
    # 1000 yields plus the final return: 1001 resumptions, all compiled.
    assert resumes() - before == 1001


def test_generator_handed_to_interpreter_and_back():
    """Tracing switched on while a compiled generator is suspended: the interpreter resumes it
    (every line event is reported; Ember takes its PEP 523 hook off while a tool is active), and
    once tracing is off again (and a compiled function has been called, which puts the hook
    back) compiled code resumes it."""
    src = """
def gen(n):
    for i in range(n):
        yield i

def f():
    return gen(6)
"""
    fi, fc = both(src)
    events = {}
    for label, f in (("i", fi), ("c", fc)):
        g = f()
        got = [next(g), next(g)]
        lines = []

        def tracer(frame, event, arg):
            if frame.f_code.co_name == "gen":
                lines.append((event, frame.f_lineno))
            return tracer

        sys.settrace(tracer)
        try:
            got += [next(g), next(g)]
        finally:
            sys.settrace(None)
        f()  # the next call of a compiled function puts the PEP 523 hook back
        before = resumes()
        got += list(g)
        events[label] = (got, lines, resumes() - before if label == "c" else None)
    assert events["i"][:2] == events["c"][:2]
    assert events["c"][0] == [0, 1, 2, 3, 4, 5]
    assert events["c"][1], "no trace events from the resumed generator"
    # Three resumptions remain (two yields and the return). The first one runs in the
    # interpreter, whose RESUME removes the stale instrumentation; the other two are compiled.
    assert events["c"][2] == 2


def test_generator_objects_are_freed():
    """No reference leaks: exhausted, closed and abandoned compiled generators are freed, and
    values passing through send/yield keep their refcounts."""
    fi, fc = both("""
def gen(v):
    x = yield v
    yield x

def f(v):
    g = gen(v)
    a = next(g)
    b = g.send(v)
    return a is v and b is v
""")
    class Obj:
        pass
    o = Obj()
    base = sys.getrefcount(o)
    for _ in range(1000):
        assert fc(o)
    gc.collect()
    assert sys.getrefcount(o) == base
    _, fc2 = both("""
def gen():
    yield 1
    yield 2

def f():
    return gen()
""")
    g = fc2()
    r = weakref.ref(g)
    next(g)
    del g
    gc.collect()
    assert r() is None


def test_pending_signal_is_delivered_in_the_delegate():
    """A signal pending when a `yield from` chain is resumed is raised in the innermost
    generator, as in the interpreter: RESUME after `yield from`/`await` does not check the
    eval breaker (CPython's SignalAndYieldFromTest)."""
    _testcapi = pytest.importorskip("_testcapi")
    src = """
def inner():
    try:
        yield
    except KeyboardInterrupt:
        return "PASSED"
    else:
        return "FAILED"

def outer():
    return (yield from inner())

def f():
    return outer()
"""
    import signal
    # SIGINT may be ignored (pytest run as a background job of a non-interactive shell): use
    # the handler Python installs by default, which raises KeyboardInterrupt.
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        for fn in both(src):
            g = fn()
            g.send(None)
            try:
                _testcapi.raise_SIGINT_then_send_None(g)
            except BaseException as e:
                exc = e
            assert type(exc) is StopIteration and exc.value == "PASSED"
    finally:
        signal.signal(signal.SIGINT, old)


def test_send_site_cache_follows_code_objects():
    """One compiled SEND site (`yield from`) resumes compiled generators of many code objects,
    each dying before the next is made (their addresses may be reused), alternating with
    interpreted ones: the site's resume cache (EmberResumeIC) must never run the code of a
    code object it saw before. The values come from the generators' own constants, so running
    the wrong code shows."""
    ns = {}
    exec("def delegate(inner):\n    r = yield from inner\n    yield ('returned', r)\n", ns)
    assert ember.force_compile(ns["delegate"])

    def make(k, compiled):
        d = {}
        exec(f"def g(n):\n    for i in range(n):\n        yield i * {k}\n    return {k}\n", d)
        if compiled:
            assert ember.force_compile(d["g"])
        return d["g"]

    before = resumes()
    for k in range(60):
        g = make(k, compiled=k % 3 != 2)
        got = list(ns["delegate"](g(3)))
        assert got == [0, k, 2 * k, ("returned", k)], (k, got)
        del g
        gc.collect()
    kept = [make(k, compiled=True) for k in range(3)]
    for k in range(9):
        assert list(ns["delegate"](kept[k % 3](2))) == [0, k % 3, ("returned", k % 3)]
    assert resumes() > before


def test_builtins_take_a_compiled_generator_without_the_hook():
    """tuple(), list(), set(), frozenset(), sum(), any() and all() called from compiled code on a
    compiled generator resume it directly (`gen_collected`), every resumption in compiled code,
    with the interpreter's results (the corpus cases builtins_collect_generators and
    builtins_reduce_generators check the edge cases:
    errors mid-way, a partly consumed or exhausted generator, unhashable items, PEP 479, a
    tuple subclass). In a process of its own: once any tracing or monitoring tool has been on,
    the direct paths stand aside for good (ember_call_compiled_now) and the hook resumes."""
    prog = textwrap.dedent("""
        import ember
        def double(n):
            for x in range(n):
                yield x * 2
        def sign(n, negative):
            for x in range(n):
                yield (x * 2 < 0) if negative else (x * 2 >= 0)
        def f(n):
            return (tuple(double(n)), len(set(double(n))), list(double(n))[-1:], len(frozenset(double(n))),
                    sum(double(n)), any(sign(n, True)), all(sign(n, False)))
        assert ember.force_compile(double) and ember.force_compile(sign) and ember.force_compile(f)
        f(3)
        s0 = ember.stats()
        r = f(500)
        assert r == (tuple(range(0, 1000, 2)), 500, [998], 500, 249500, False, True), r
        s1 = ember.stats()
        print(s1["gen_resumes"] - s0["gen_resumes"], s1["gen_collected"] - s0["gen_collected"])
    """)
    proc = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("EMBER_")})
    assert proc.returncode == 0, proc.stderr
    # Seven generators of 500 items and a return each (tuple, set, list, frozenset, sum, and any
    # and all, which find no true / false item): 3507 resumptions, all compiled, and all seven
    # calls taken by the builtins directly.
    assert proc.stdout.split() == ["3507", "7"], proc.stdout + proc.stderr


def test_tuple_of_a_compiled_generator_keeps_references_exact():
    """tuple(g) of a compiled generator collects up to 16 items on the C stack before it moves
    them into a list (collect_compiled_gen): the items' references are exact whether the tuple
    is made from the array, from the list, or dropped when the generator raises before or after
    the 16th item."""
    prog = textwrap.dedent("""
        import sys, ember
        token = object()
        def items(n, fail_at):
            for i in range(n):
                if i == fail_at:
                    raise KeyError(i)
                yield token
        def f(n, fail_at):
            try:
                return len(tuple(items(n, fail_at)))
            except KeyError as e:
                return ("raised", e.args[0])
        assert ember.force_compile(items) and ember.force_compile(f)
        f(3, -1)
        s0 = ember.stats()["gen_collected"]
        base = sys.getrefcount(token)
        got = [f(n, k) for n, k in ((0, -1), (5, -1), (16, -1), (17, -1), (40, -1), (40, 3), (40, 16), (40, 30))]
        assert got == [0, 5, 16, 17, 40, ("raised", 3), ("raised", 16), ("raised", 30)], got
        assert sys.getrefcount(token) == base, (sys.getrefcount(token), base)
        print(ember.stats()["gen_collected"] - s0)
    """)
    proc = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("EMBER_")})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["8"], proc.stdout + proc.stderr
