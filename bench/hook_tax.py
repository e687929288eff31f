"""The PEP 523 generator hook's tax on interpreted calls (`EMBER_GEN_HOOK_TAX_PERCENT` in
src/policy.rs): pyperf times interpreted call-heavy code (a recursive `fib` and a method call
per loop iteration) with Ember's hook off and on, in the same kind of process.

Usage: ``python bench/hook_tax.py -o off.json`` and
``python bench/hook_tax.py --gen-hook -o on.json``, then ``python -m pyperf compare_to off.json
on.json``. With ``--gen-hook`` each worker compiles a one-line generator (`ember.force_compile`),
which installs the hook; nothing else is compiled, so the timed code stays interpreted
(the script checks both). pyperf's own worker processes interleave and repeat the runs.
"""

from __future__ import annotations

import pyperf

import ember


def gen():
    yield 1


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class Point:
    def __init__(self, x):
        self.x = x

    def get(self):
        return self.x


def methods(n):
    p = Point(3)
    t = 0
    for _ in range(n):
        t += p.get()
    return t


def work():
    fib(18)
    methods(20_000)


def add_cmdline_args(cmd, args):
    if args.gen_hook:
        cmd.append("--gen-hook")


def main():
    runner = pyperf.Runner(add_cmdline_args=add_cmdline_args)
    runner.argparser.add_argument("--gen-hook", action="store_true", help="install Ember's generator hook first")
    args = runner.parse_args()
    if args.gen_hook:
        ember.force_compile(gen)
        list(gen())
        if not ember.stats()["gen_hook"]:
            raise SystemExit("the hook did not install")
    runner.bench_func("interpreted_calls", work)
    if ember.is_compiled(fib) or ember.is_compiled(methods):
        raise SystemExit("the timed code was compiled")


if __name__ == "__main__":
    main()
