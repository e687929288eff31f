"""Command line of the Ember benchmark harness (``python bench/run.py --help``).

Subcommands: ``run`` (the default), ``compare``, ``report``, ``peers``,
``jitlist``.

Exit codes: 0 success; 1 usage or set-up error; 2 an Ember mode was requested
but Ember is unusable; 3 the run finished but some Ember result is invalid
(no proof of JIT activity) or failed, or the nojit baseline failed; 4
``compare --fail-on-slowdown`` found a significant slowdown.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from . import stats
from .benchmarks import (BENCHMARKS, BenchmarkError, check_requirements, find_scripts,
                         locate_benchmarks_dir, parse_selection)
from .configs import BASELINE, CPYTHON_MODES, EMBER_MODES, JIT_WARMUP_S, cpython_config

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODES = "nojit,ember,ember-warm"
DEFAULT_PEERS = "pypy,pyston,cpython-3.14,cinderx,ember-pgo"
# --quick stays under 5 minutes with every peer: Ember processes dominate (at threshold 2
# they compile ~400 functions, 15-20 s per process), so one benchmark, one steady process and
# two cold ones (measured: 2.5 min; richards and nbody together took 4 min 52 s).
QUICK_BENCHMARKS = ("richards",)
QUICK = {"processes": 1, "warmups": 3, "values": 3, "min_time": 0.05, "cold_runs": 2, "cold_iterations": 1}
FULL = {"processes": 4, "warmups": 5, "values": 5, "min_time": 0.1, "cold_runs": 8, "cold_iterations": 1}
SUBCOMMANDS = ("run", "compare", "report", "peers", "setup-peers", "jitlist")

EPILOG = """\
modes (each a separate process configuration of the venv's CPython 3.13):
  nojit       interpreter only (EMBER_DISABLE=1); the baseline of every ratio
  ember       python -m ember: Ember at its defaults, as users run it
  ember-auto  EMBER_AUTO=N: compile a function after N calls (--auto-threshold)
  ember-list  EMBER_JIT_LIST=<the benchmark's own functions, generated>
  ember-all   EMBER_AUTO=0: compile every function at its first call
peers (installed by `make peers`; missing ones are reported, not fatal):
  pypy (vs pypy3 --jit off), pyston (pyston-lite vs CPython 3.10),
  cpython-3.14 (Debian's PGO CPython 3.14: cpython-3.14-jit = PYTHON_JIT=1 vs cpython-3.14),
  cinderx (CinderX's JIT, auto mode, on that CPython 3.14, vs cpython-3.14),
  ember-pgo (Ember built for Debian's PGO CPython 3.13.x, python -m ember, vs cpython-3.13-pgo)
configurations (-c/--configs picks any of these; own baselines are added):
  nojit ember ember-auto ember-list ember-all pypy pypy-nojit pyston cpython3.10
  cpython-3.14 cpython-3.14-jit cinderx cpython-3.13-pgo ember-pgo
regimes (reported separately):
  steady      pyperf worker processes: warm-up values, then timed values
  cold        whole process running the workload once, timed by `pyperf command`

examples:
  python bench/run.py --quick -b richards,nbody
  python bench/run.py -m nojit,ember-auto,ember-all --no-peers
  python bench/run.py compare results/A/steady/ember-auto.json results/B/steady/ember-auto.json
"""


def _csv(text: str) -> list:
    return [t for t in re.split(r"[,\s]+", text.strip()) if t]


def build_parser() -> argparse.ArgumentParser:
    """Return the argparse parser for all subcommands."""
    p = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Honest, repeatable performance comparisons of Ember against the "
                    "CPython 3.13 interpreter and other Python JITs, on pyperformance's "
                    "own benchmark code. Without a subcommand, `run` is assumed.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="{" + ",".join(SUBCOMMANDS) + "}")

    r = sub.add_parser("run", help="run benchmarks (default)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("-b", "--benchmarks",
                   help=f"comma-separated subset of: {', '.join(BENCHMARKS)}, or all "
                        f"(default: all; with --quick: {','.join(QUICK_BENCHMARKS)})")
    r.add_argument("-m", "--modes", default=DEFAULT_MODES,
                   help=f"comma-separated subset of {', '.join(CPYTHON_MODES)} "
                        f"(default: {DEFAULT_MODES}; nojit is always added)")
    r.add_argument("--peers", default=DEFAULT_PEERS,
                   help=f"peers to include when installed (default: {DEFAULT_PEERS})")
    r.add_argument("--no-peers", action="store_true", help="run no peer")
    r.add_argument("-c", "--configs",
                   help="comma-separated configurations (columns) to run, instead of -m and "
                        "--peers: CPython 3.13 modes and peer configurations by name (see "
                        "below); nojit and each one's own baseline are always added")
    r.add_argument("--regimes", default="steady,cold", help="steady, cold or both (default)")
    r.add_argument("--quick", action="store_true",
                   help="smoke run of under 5 minutes: benchmarks "
                        f"{','.join(QUICK_BENCHMARKS)} unless -b is given, "
                        + ", ".join(f"{k}={v}" for k, v in QUICK.items()))
    r.add_argument("-p", "--processes", type=int, help=f"steady-state processes per mode "
                   f"(default {FULL['processes']})")
    r.add_argument("-w", "--warmups", type=int,
                   help=f"warm-up values per steady process (default {FULL['warmups']})")
    r.add_argument("-n", "--values", type=int,
                   help=f"timed values per steady process (default {FULL['values']})")
    r.add_argument("--min-time", type=float,
                   help=f"minimum seconds per value, pyperf --min-time "
                        f"(default {FULL['min_time']})")
    r.add_argument("--loops", type=int, help="fixed inner loops (default: calibrate per mode)")
    r.add_argument("--cold-runs", type=int,
                   help=f"cold processes per mode (default {FULL['cold_runs']})")
    r.add_argument("--cold-iterations", type=int,
                   help="workload iterations in each cold process (default "
                        f"{FULL['cold_iterations']}; issue 15's first measurement used 3)")
    r.add_argument("--jit-warmup", type=float, dest="jit_warmup_s",
                   help="minimum seconds of warm-up values in each steady process of a JIT "
                        "configuration (Ember, peers with a JIT); default: the configuration's own "
                        f"({JIT_WARMUP_S:g} s)")
    r.add_argument("--jit-settle", type=float, dest="jit_settle_s", default=20.0,
                   help="most seconds each steady process of a JIT with a compile count "
                        "(Ember, CinderX) runs the workload before its warm-up values, until "
                        "nothing has been compiled for max(2 s, a third of that time); 0: "
                        "no settling, the fixed warm-up only (default 20)")
    r.add_argument("--auto-threshold", type=int,
                   default=int(os.environ.get("EMBER_BENCH_AUTO_THRESHOLD", "2")),
                   help="EMBER_AUTO call count for ember-auto (default 2, or "
                        "$EMBER_BENCH_AUTO_THRESHOLD); keep it below --warmups, "
                        "since pyperf time functions are called once per value")
    r.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"),
                   help="CPython 3.13 venv interpreter with ember, pyperf, pyperformance "
                        "(default: .venv/bin/python)")
    r.add_argument("--results-dir", default=str(ROOT / "results"),
                   help="where run directories go (default: results/)")
    r.add_argument("--run-id", help="run directory name (default: date-time)")
    r.add_argument("--confidence", type=float, default=stats.DEFAULT_CONFIDENCE,
                   help="CI level (default 0.95)")
    r.add_argument("--resamples", type=int, default=stats.DEFAULT_RESAMPLES,
                   help=f"bootstrap resamples (default {stats.DEFAULT_RESAMPLES})")
    r.add_argument("--timeout", type=float, default=900.0,
                   help="limit in seconds for one benchmark process (default 900)")
    r.add_argument("--no-plots", action="store_true", help="skip the PNG plots")

    c = sub.add_parser("compare", help="compare two pyperf result files (from -> to)")
    c.add_argument("from_file", help="pyperf JSON of the old state (e.g. commit A)")
    c.add_argument("to_file", help="pyperf JSON of the new state (e.g. commit B)")
    c.add_argument("-b", "--benchmarks", help="restrict to these benchmarks")
    c.add_argument("--confidence", type=float, default=stats.DEFAULT_CONFIDENCE)
    c.add_argument("--resamples", type=int, default=stats.DEFAULT_RESAMPLES)
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    c.add_argument("--fail-on-slowdown", action="store_true",
                   help="exit 4 if any benchmark is significantly slower")

    rep = sub.add_parser("report", help="recompute summary.md and plots of a run directory")
    rep.add_argument("run_dir", nargs="?", default=str(ROOT / "results" / "latest"))
    rep.add_argument("--confidence", type=float, default=stats.DEFAULT_CONFIDENCE)
    rep.add_argument("--resamples", type=int, default=stats.DEFAULT_RESAMPLES)
    rep.add_argument("--no-plots", action="store_true")

    sub.add_parser("peers", help="show which peers are installed and usable")
    sp = sub.add_parser("setup-peers", help="fetch Debian's CPython 3.14/3.13 into .peers/, "
                        "install CinderX and pyperf there and build Ember for 3.13 (what `make "
                        "peers` runs)")
    sp.add_argument("minors", nargs="*", metavar="MINOR",
                    help="only these interpreters: 3.14 and/or 3.13 (default: both)")

    j = sub.add_parser("jitlist", help="print the generated ember-list JIT list of a benchmark")
    j.add_argument("benchmark", choices=BENCHMARKS)
    j.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    return p


def _console():
    from rich.console import Console
    return Console(stderr=True, highlight=False)


def _git_describe() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        rev = out.stdout.strip() or "no commit"
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" (dirty)" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def _settings(args):
    from .runner import Settings
    base = dict(QUICK if args.quick else FULL)
    for k in base:
        v = getattr(args, k)
        if v is not None:
            base[k] = v
    regimes = tuple(r for r in ("steady", "cold") if r in _csv(args.regimes))
    if not regimes:
        raise SystemExit("error: --regimes must name steady and/or cold")
    for k in ("processes", "values", "cold_runs", "cold_iterations"):
        if base[k] < 1:
            raise SystemExit(f"error: --{k.replace('_', '-')} must be >= 1")
    if args.jit_warmup_s is not None and args.jit_warmup_s < 0:
        raise SystemExit("error: --jit-warmup must be >= 0")
    if args.jit_settle_s < 0:
        raise SystemExit("error: --jit-settle must be >= 0")
    return Settings(loops=args.loops, regimes=regimes, auto_threshold=args.auto_threshold,
                    timeout=args.timeout, jit_warmup_s=args.jit_warmup_s,
                    jit_settle_s=args.jit_settle_s, **base)


def select_configs(args) -> tuple[list, list, set | None]:
    """Which CPython 3.13 modes and peers to set up, and which configurations to keep.

    With ``-c/--configs`` the named configurations decide everything (``wanted`` is that
    set); otherwise ``-m/--modes`` and ``--peers``/``--no-peers`` do (``wanted`` None).
    Raises ValueError naming unknown modes, peers or configurations.
    """
    from .peers import PEER_CONFIGS, PEERS
    if args.configs:
        wanted = set(_csv(args.configs))
        known = set(CPYTHON_MODES) | {c for cs in PEER_CONFIGS.values() for c in cs}
        bad = sorted(wanted - known)
        if bad:
            raise ValueError(f"unknown configuration(s) {bad}; choose from "
                             f"{', '.join(sorted(known))}")
        modes = [m for m in CPYTHON_MODES if m in wanted or m == BASELINE]
        peers = [p for p in PEERS if wanted & set(PEER_CONFIGS[p])]
        return modes, peers, wanted | {BASELINE}
    modes = _csv(args.modes)
    bad = [m for m in modes if m not in CPYTHON_MODES]
    if bad:
        raise ValueError(f"unknown mode(s) {bad}; choose from {CPYTHON_MODES}")
    modes = [BASELINE] + [m for m in CPYTHON_MODES if m in modes and m != BASELINE]
    peers = [] if args.no_peers else _csv(args.peers)
    bad = [p for p in peers if p not in PEERS]
    if bad:
        raise ValueError(f"unknown peer(s) {bad}; choose from {PEERS}")
    return modes, peers, None


def keep_configs(configs: list, wanted: set | None) -> list:
    """Drop duplicate names (peers sharing a baseline) and, when ``wanted`` is a set, every
    configuration that is neither wanted nor the own baseline or calibration source of a
    wanted one. Order is kept (baselines come before the JITs that need them)."""
    seen: dict = {}
    for c in configs:
        seen.setdefault(c.name, c)
    if wanted is not None:
        need = set(wanted)
        for c in seen.values():
            if c.name in wanted:
                need |= {n for n in (c.own_baseline, c.calibrate_with) if n}
        seen = {n: c for n, c in seen.items() if n in need}
    return list(seen.values())


def cmd_run(args) -> int:
    """The ``run`` subcommand; returns the exit code."""
    from .peers import detect
    from .preflight import EmberUnavailable, check_ember, check_nojit
    from .progress import RunProgress
    from .runner import BenchRunner

    con = _console()
    settings = _settings(args)
    python = args.python
    if not Path(python).exists():
        con.print(f"[red]error:[/] {python} does not exist: create the project venv first "
                  "(`make setup`)")
        return 1
    try:
        modes, peer_names, wanted = select_configs(args)
    except ValueError as exc:
        con.print(f"[red]error:[/] {exc}")
        return 1
    try:
        selection = args.benchmarks
        if selection is None:
            selection = ",".join(QUICK_BENCHMARKS) if args.quick else "all"
        names = parse_selection(selection)
        bench_dir, pp_version = locate_benchmarks_dir(python)
        scripts = find_scripts(bench_dir, names)
    except BenchmarkError as exc:
        con.print(f"[red]error:[/] {exc}")
        return 1
    for problem in check_requirements(scripts):
        con.print(f"[yellow]warning:[/] {problem}")

    preflight = {}
    if any(m in EMBER_MODES for m in modes):
        con.print("pre-flight: checking that Ember loads and compiles ...")
        try:
            preflight["ember"] = check_ember(python)
        except EmberUnavailable as exc:
            con.print(f"[red bold]error: Ember modes requested ({', '.join(m for m in modes if m in EMBER_MODES)}) "
                      f"but Ember is unusable:[/]\n{exc}\n"
                      "Not running: an Ember mode never falls back to the interpreter. "
                      "Use `-m nojit` to benchmark without Ember.")
            return 2
    try:
        preflight["nojit"] = check_nojit(python)
    except EmberUnavailable as exc:
        con.print(f"[red]error:[/] the nojit interpreter does not run: {exc}")
        return 1
    if preflight["nojit"]["log_compiled"] or preflight["nojit"]["compiled"]:
        con.print("[red]error:[/] Ember compiled functions despite EMBER_DISABLE=1; "
                  "nojit would not be an interpreter baseline")
        return 1

    configs = [cpython_config(m, python, settings.auto_threshold) for m in modes]
    statuses = detect(peer_names, ROOT)
    for st in statuses:
        color = "green" if st.available else "yellow"
        con.print(f"peer {st.name}: [{color}]{'available' if st.available else 'not run'}[/]"
                  f" -- {st.message}")
        if st.available:
            configs += st.configs
    configs = keep_configs(configs, wanted)

    run_id = args.run_id or dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    results_dir = Path(args.results_dir)
    run_dir = results_dir / run_id
    if run_dir.exists():
        con.print(f"[red]error:[/] {run_dir} already exists")
        return 1
    run_dir.mkdir(parents=True)

    runner = BenchRunner(run_dir, scripts, configs, settings, python, console=con)
    if "ember-list" in modes:
        for s in scripts:
            runner.jit_list(s)
    manifest = {
        "run_id": run_id,
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "argv": sys.argv,
        "environment": {"host": platform.node(), "cpus": os.cpu_count(),
                        "platform": platform.platform(), "git": _git_describe()},
        "benchmarks_dir": str(bench_dir),
        "pyperformance_version": pp_version,
        "benchmarks": names,
        "configs": [asdict(c) for c in configs],
        "peers": [{"name": s.name, "available": s.available, "message": s.message}
                  for s in statuses],
        "preflight": preflight,
        "confidence": args.confidence,
    }
    total = runner.total_processes()
    con.print(f"running {len(scripts)} benchmark(s) x {len(configs)} configuration(s) "
              f"({', '.join(c.name for c in configs)}): {total} processes -> {run_dir}")
    t0 = time.monotonic()
    with RunProgress(total, con) as prog:
        runner.progress = prog
        try:
            runner.run()
        finally:
            manifest.update(runner.manifest_part())
            manifest["duration_s"] = round(time.monotonic() - t0, 1)
            (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    latest = results_dir / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(run_id)
    except OSError:
        pass
    return _report(run_dir, args.confidence, args.resamples, not args.no_plots, con)


def _report(run_dir: Path, confidence: float, resamples: int, plots: bool, con) -> int:
    from .report import cpython_table, overview_table, peer_table, render
    from .results import analyze
    data = analyze(run_dir, confidence, resamples)
    written = []
    if plots:
        from .plots import plot_all
        written = [str(p.relative_to(run_dir)) for p in plot_all(data, run_dir / "plots")]
    (run_dir / "summary.md").write_text(render(data, written))
    for regime in data.regimes():
        # Plain print: tables must not be re-wrapped to the terminal width.
        print(f"\n## {regime}\n", flush=True)
        print("\n".join(overview_table(data, regime)))
        print()
        print("\n".join(cpython_table(data, regime)))
        pt = peer_table(data, regime)
        if pt:
            print()
            print("\n".join(pt), flush=True)
    con.print(f"\nsummary: {run_dir / 'summary.md'}"
              + (f"; {len(written)} plots in {run_dir / 'plots'}" if written else ""))
    if data.has_invalid:
        con.print("[red bold]some Ember results are INVALID or failed, or the nojit "
                  "baseline failed (see summary.md)[/]")
        return 3
    return 0


def cmd_report(args) -> int:
    """The ``report`` subcommand; returns the exit code."""
    run_dir = Path(args.run_dir).resolve()
    if not (run_dir / "manifest.json").exists():
        print(f"error: {run_dir} has no manifest.json", file=sys.stderr)
        return 1
    return _report(run_dir, args.confidence, args.resamples, not args.no_plots, _console())


def cmd_compare(args) -> int:
    """The ``compare`` subcommand; returns the exit code."""
    from .compare import CompareError, compare_files, format_comparisons
    try:
        rows = compare_files(Path(args.from_file), Path(args.to_file),
                             benches=_csv(args.benchmarks) if args.benchmarks else None,
                             confidence=args.confidence, n_resamples=args.resamples)
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=1))
    else:
        print(format_comparisons(rows, args.from_file, args.to_file))
    if args.fail_on_slowdown and any(r.estimate.verdict == "slower" for r in rows):
        return 4
    return 0


def cmd_peers(args) -> int:
    """The ``peers`` subcommand: print each peer's status; returns 0."""
    from .peers import PEERS, detect
    for st in detect(list(PEERS), ROOT):
        print(f"{st.name:12} {'available' if st.available else 'not run':10} {st.message}")
        for c in st.configs:
            print(f"         config {c.name}: {' '.join(c.argv)} {c.env or ''}")
    return 0


def cmd_setup_peers(args) -> int:
    """The ``setup-peers`` subcommand (see :mod:`ember_bench.peersetup`); returns its status."""
    from .debprefix import MINORS
    from .peersetup import main
    bad = [m for m in args.minors if m not in MINORS]
    if bad:
        print(f"error: unknown interpreter(s) {bad}; choose from {', '.join(MINORS)}",
              file=sys.stderr)
        return 1
    return main(args.minors)


def cmd_jitlist(args) -> int:
    """The ``jitlist`` subcommand: print the generated list; returns the exit code."""
    from .jitlist import jit_list_lines
    try:
        bench_dir, _ = locate_benchmarks_dir(args.python)
        script = find_scripts(bench_dir, [args.benchmark])[0]
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(jit_list_lines(script.script)))
    return 0


def main(argv: list | None = None) -> int:
    """Entry point: parse ``argv`` (default ``sys.argv[1:]``) and run; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help")):
        argv.insert(0, "run")
    args = build_parser().parse_args(argv)
    return {"run": cmd_run, "compare": cmd_compare, "report": cmd_report,
            "peers": cmd_peers, "setup-peers": cmd_setup_peers,
            "jitlist": cmd_jitlist}[args.command](args)
