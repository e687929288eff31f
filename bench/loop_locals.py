"""Loops that run no code (issue 16, SSA locals: src/passes/loop_locals.rs and unbox_locals.rs):
pyperf times four kernels, interpreted or compiled by Ember, per loop iteration.

- ``range_sum``: ``for i in range(n): s += i`` (the loop variable and the sum held as machine
  integers);
- ``float_recurrence``: ``x = x * 0.999 + 1.0`` over ``range(n)`` (the float held as a double);
- ``while_count``: ``while i < n: i = i + 1; t = t + i`` (ints, no range);
- ``squares``: ``[i * i for i in range(n)]`` (a comprehension: the variable held as a machine
  integer, the product boxed and appended).

Usage: ``python bench/loop_locals.py -o interp.json``, ``python bench/loop_locals.py --ember -o
ember.json``, then ``python -m pyperf compare_to interp.json ember.json``; for two builds, the
second with ``PYTHONPATH=<dir holding another build's ember package>``. With ``--ember`` each
worker calls the kernels a few times (so the interpreter quickens them), compiles them
(``ember.force_compile``) and checks that they are compiled before timing; without it nothing
is compiled. pyperf's worker processes interleave and repeat the runs. ``--check`` prints
whether each kernel's compiled HIR holds its loop's locals, and exits.
"""

from __future__ import annotations

import pyperf

N = 100_000


def range_sum(n):
    s = 0
    for i in range(n):
        s += i
    return s


def float_recurrence(n):
    x = 0.5
    for _ in range(n):
        x = x * 0.999 + 1.0
    return x


def while_count(n):
    i = 0
    t = 0
    while i < n:
        i = i + 1
        t = t + i
    return t


def squares(n):
    return [i * i for i in range(n)]


KERNELS = (range_sum, float_recurrence, while_count, squares)


def add_cmdline_args(cmd, args):
    if args.ember:
        cmd.append("--ember")


def compile_all():
    import ember

    for k in KERNELS:
        for _ in range(3):
            k(1000)
        ember.force_compile(k)
    ember.wait_for_compiles()
    missing = [k.__name__ for k in KERNELS if not ember.is_compiled(k)]
    if missing:
        raise SystemExit(f"not compiled: {', '.join(missing)}")
    return ember


def main():
    runner = pyperf.Runner(add_cmdline_args=add_cmdline_args)
    runner.argparser.add_argument("--ember", action="store_true", help="compile the kernels with Ember first")
    runner.argparser.add_argument("--check", action="store_true", help="print whether each loop's locals are held, and exit")
    args = runner.parse_args()
    if args.check:
        ember = compile_all()
        for k in KERNELS:
            hir = ember.dump(k)
            print(f"{k.__name__}: locals held {'LoadFastAndClear' in hir}, machine-integer range variable {':CInt64 = ForIter' in hir}")
        return
    if args.ember:
        compile_all()
    for k in KERNELS:
        runner.bench_func(k.__name__, k, N, inner_loops=N)


if __name__ == "__main__":
    main()
