"""Run modules of CPython 3.13's own test suite with and without Ember, and compare.

For every module, ``python -m test MODULE`` runs twice in fresh processes of the same
interpreter: once plain (the baseline) and once with ``EMBER_AUTO=0`` (Ember compiles every
function at its first call, through ``ember-jit.pth``). Per-test-case results come from
regrtest's ``--junit-xml``. A test case that passes in the baseline but fails, errors or is
missing under Ember is a *new failure*; a crashed or timed-out Ember process fails the module.

Per module the report gives pass/fail under both, the number of new failures, the number of
functions Ember compiled and refused (from ``EMBER_LOG``: ``Finished compiling`` /
``Not compiling`` lines) and the compile time. The totals add the refusal reasons and counts.
Test cases listed in ``known_failures.txt`` (``module test_id  # reason``) are documented
refusals: they are reported, not counted as new failures.

Usage::

    python tests/cpython/run.py [-j N] [--timeout S] [--json OUT] [--quick] [--ember-env EMBER_X=V] [MODULE ...]

Exit status: 0 when no module has a new failure, 1 otherwise.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: The module list of issue 3.
FULL = """test_grammar test_opcodes test_int test_float test_long test_bool test_list test_tuple
test_dict test_set test_string test_unpack test_augassign test_scope test_class test_exceptions
test_raise test_with test_contextlib test_functools test_itertools test_builtin test_richcmp
test_compare test_slice test_sort test_math test_operator test_keywordonlyarg
test_positional_only_arg test_dataclasses test_enum test_format test_fstring test_patma
test_collections test_heapq test_bisect test_deque test_descr test_super test_property
test_funcattrs test_extcall test_call test_isinstance test_iter test_binop test_unary
test_baseexception test_exception_group test_except_star test_dictviews test_defaultdict
test_ordered_dict test_userdict test_userlist test_abc test_typing test_sys_settrace
test_monitoring
test_generators test_coroutines test_asyncgen test_contextlib_async test_asyncio.test_tasks
test_asyncio.test_futures test_asyncio.test_locks test_asyncio.test_queues""".split()

#: The fast subset `make test` runs (about a minute on two cores).
QUICK = """test_grammar test_opcodes test_unpack test_scope test_class test_raise test_with
test_slice test_keywordonlyarg test_extcall test_fstring test_patma test_exception_group
test_except_star test_super test_funcattrs test_binop test_unary test_generators""".split()

_FINISHED = re.compile(r"Finished compiling (\S+) \((\d+) bytes, ([0-9.]+) ms\)")
_LOADED = re.compile(r"Loaded from cache (\S+) \((\d+) bytes, ([0-9.]+) ms\)")
_REFUSED = re.compile(r"Not compiling (\S+): (.*)")
_OSR = re.compile(r"on-stack replacement of (\S+) at code unit")


@dataclass
class Run:
    """One ``python -m test`` process: exit status, wall time (s) and per-case outcomes
    (``'pass' | 'fail' | 'skip'``, keyed by ``classname.name``)."""
    rc: int | None
    seconds: float
    cases: dict[str, str] = field(default_factory=dict)
    tail: str = ""


@dataclass
class ModuleResult:
    """Baseline and Ember runs of one module plus Ember's compile log summary."""
    module: str
    base: Run
    ember: Run
    compiled: int = 0
    compile_ms: float = 0.0
    code_bytes: int = 0
    osr: int = 0
    loaded: int = 0
    refused: collections.Counter = field(default_factory=collections.Counter)
    new_failures: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)


def _load_known() -> dict[str, dict[str, str]]:
    known: dict[str, dict[str, str]] = collections.defaultdict(dict)
    path = HERE / "known_failures.txt"
    if path.exists():
        for line in path.read_text().splitlines():
            body, _, reason = line.partition("#")
            parts = body.split()
            if len(parts) == 2:
                known[parts[0]][parts[1]] = reason.strip()
    return known


def _parse_junit(path: Path) -> dict[str, str]:
    cases: dict[str, str] = {}
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, FileNotFoundError):
        return cases
    for tc in root.iter("testcase"):
        key = f"{tc.get('classname', '')}.{tc.get('name', '')}"
        kinds = {child.tag for child in tc}
        if kinds & {"failure", "error"}:
            cases[key] = "fail"
        elif "skipped" in kinds:
            cases[key] = "skip"
        else:
            cases[key] = "pass"
    return cases


#: Extra EMBER_* settings for the Ember runs (``--ember-env``), e.g. the OSR stress mode.
EXTRA_ENV: dict[str, str] = {}


def _run(module: str, ember: bool, timeout: float, workdir: Path) -> Run:
    env = dict(os.environ)
    for k in [k for k in env if k.startswith("EMBER_")]:
        del env[k]
    xml = workdir / f"{module}-{'ember' if ember else 'base'}.xml"
    xml.unlink(missing_ok=True)  # a run that dies before writing it must not read a stale one
    if ember:
        env["EMBER_AUTO"] = "0"
        env["EMBER_CACHE"] = "0"   # unless --ember-env says otherwise (make test-cpython-cache)
        env.update(EXTRA_ENV)
        log = workdir / f"{module}.log"
        # Ember appends to its log (the test's child processes share it), so a kept work
        # directory would otherwise count the functions of every earlier run again.
        log.unlink(missing_ok=True)
        env["EMBER_LOG"] = str(log)
    cmd = [sys.executable, "-m", "test", "--junit-xml", str(xml), "--timeout", str(int(timeout)), module]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, env=env, cwd=workdir, capture_output=True, text=True, timeout=timeout + 60)
        rc, out = p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        rc = None
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
    return Run(rc, time.monotonic() - t0, _parse_junit(xml), "\n".join(out.splitlines()[-25:]))


def run_module(module: str, timeout: float, workdir: Path, known: dict[str, str]) -> ModuleResult:
    """Runs `module` plain and under Ember and compares the per-case outcomes."""
    base = _run(module, False, timeout, workdir)
    em = _run(module, True, timeout, workdir)
    r = ModuleResult(module, base, em)
    log = workdir / f"{module}.log"
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            if m := _FINISHED.search(line) or _LOADED.search(line):
                r.compiled += 1
                r.loaded += m.re is _LOADED
                r.code_bytes += int(m.group(2))
                r.compile_ms += float(m.group(3))
            elif _OSR.search(line):
                r.osr += 1
            elif m := _REFUSED.search(line):
                reason = re.sub(r" at code unit \d+", "", m.group(2))
                r.refused[reason] += 1
    for case, outcome in base.cases.items():
        if outcome != "pass":
            continue
        got = em.cases.get(case, "missing")
        if got in ("pass", "skip"):
            continue
        if any(case.endswith(k) for k in known):
            r.known.append(f"{case} ({got})")
        else:
            r.new_failures.append(f"{case} ({got})")
    if em.rc is None or (em.rc < 0):
        r.new_failures.append(f"<process {'timed out' if em.rc is None else f'killed by signal {-em.rc}'}>")
    elif not em.cases and base.cases:
        r.new_failures.append(f"<no results, exit {em.rc}>")
    return r


def _status(run: Run) -> str:
    if run.rc is None:
        return "TIMEOUT"
    if run.rc < 0:
        return f"SIG{-run.rc}"
    n = len(run.cases)
    fails = sum(1 for v in run.cases.values() if v == "fail")
    return f"{'ok' if run.rc == 0 else 'FAIL'} {n - fails}/{n}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("modules", nargs="*")
    ap.add_argument("-j", type=int, default=2, help="modules run in parallel (default 2)")
    ap.add_argument("--timeout", type=float, default=900, help="per process, seconds")
    ap.add_argument("--quick", action="store_true", help="the fast subset `make test` runs")
    ap.add_argument("--json", help="write the results as JSON here")
    ap.add_argument("--keep", help="directory for logs and XML (default: a temporary one)")
    ap.add_argument("--ember-env", action="append", default=[], metavar="EMBER_X=V",
                    help="an extra setting for the Ember runs, e.g. EMBER_OSR=3 (repeatable)")
    args = ap.parse_args(argv)
    for kv in args.ember_env:
        key, sep, value = kv.partition("=")
        if not sep or not key.startswith("EMBER_"):
            ap.error(f"--ember-env wants EMBER_NAME=VALUE, got {kv!r}")
        EXTRA_ENV[key] = value
    modules = args.modules or (QUICK if args.quick else FULL)
    known = _load_known()
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="ember-cpython-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    results: dict[str, ModuleResult] = {}
    with cf.ThreadPoolExecutor(max_workers=max(1, args.j)) as pool:
        futs = {pool.submit(run_module, m, args.timeout, workdir, known.get(m, {})): m for m in modules}
        for fut in cf.as_completed(futs):
            r = fut.result()
            results[r.module] = r
            flag = "NEW FAILURES" if r.new_failures else "same"
            print(f"[{len(results)}/{len(modules)}] {r.module}: base {_status(r.base)}, ember {_status(r.ember)}, "
                  f"{r.compiled} compiled ({r.loaded} from the code cache), {sum(r.refused.values())} refused, "
                  f"{r.osr} frames moved (OSR), "
                  f"{r.compile_ms / 1000:.1f} s compile "
                  f"-> {flag}", flush=True)
            for f in r.new_failures[:20]:
                print(f"      new failure: {f}")
            if r.new_failures and not r.ember.cases:
                print("      " + r.ember.tail.replace("\n", "\n      "))
    ordered = [results[m] for m in modules]
    print()
    print(f"| module | interpreter | Ember (EMBER_AUTO=0) | new failures | compiled | refused | compile s |")
    print("|---|---|---|---|---|---|---|")
    for r in ordered:
        print(f"| {r.module} | {_status(r.base)} | {_status(r.ember)} | {len(r.new_failures)} | {r.compiled} | "
              f"{sum(r.refused.values())} | {r.compile_ms / 1000:.1f} |")
    total_new = sum(len(r.new_failures) for r in ordered)
    reasons = collections.Counter()
    for r in ordered:
        reasons.update(r.refused)
    print()
    print(f"modules: {len(ordered)}, with new failures: {sum(1 for r in ordered if r.new_failures)}, "
          f"new failing cases: {total_new}")
    print(f"functions compiled: {sum(r.compiled for r in ordered)} "
          f"(loaded from the code cache: {sum(r.loaded for r in ordered)}) "
          f"({sum(r.code_bytes for r in ordered) / 1e6:.1f} MB of code, "
          f"{sum(r.compile_ms for r in ordered) / 1000:.1f} s compile), refused: {sum(reasons.values())}, "
          f"frames moved by on-stack replacement: {sum(r.osr for r in ordered)}")
    for reason, n in reasons.most_common():
        print(f"  {n:6d}  {reason}")
    known_hits = [(r.module, k) for r in ordered for k in r.known]
    if known_hits:
        print("documented refusals hit:")
        for m, k in known_hits:
            print(f"  {m}: {k}")
    # Repeated last, so that a log that keeps only its tail (CI) still names what failed.
    for r in ordered:
        for f in r.new_failures[:20]:
            print(f"new failure: {r.module}: {f}")
        if r.new_failures and not r.ember.cases:
            print(f"  {r.module} under Ember ended: " + r.ember.tail[-600:].replace("\n", "\n  "))
    print(f"wall time {time.monotonic() - t0:.0f} s; logs in {workdir}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            r.module: {"base": _status(r.base), "ember": _status(r.ember), "new_failures": r.new_failures,
                       "known": r.known, "compiled": r.compiled, "compile_ms": r.compile_ms, "osr": r.osr,
                       "refused": dict(r.refused)} for r in ordered}, indent=1))
    return 1 if total_new else 0


if __name__ == "__main__":
    sys.exit(main())
