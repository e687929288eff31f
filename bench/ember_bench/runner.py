"""Run the benchmarks: calibration, then interleaved rounds of both regimes.

For each benchmark, in this order:

1. *Calibration* (steady state only, unless ``--loops`` is given): one pyperf
   worker with ``--calibrate-loops`` so each value lasts at least
   ``--min-time``, for ``nojit`` (whose loop count all Ember modes share) and
   for each peer interpreter; the loop count is fixed for all later rounds.
   Calibration results are kept apart and never reported.
2. *Rounds*: round ``r`` runs one steady-state process for every
   configuration (A B C ...), then one cold process for every configuration,
   so that machine drift is spread over all of them (A B A B ...).

Steady state: a pyperf worker process (``run_benchmark.py --worker``) does
``--warmups`` warm-up values then ``--values`` timed values in-process and
appends them to ``steady/<config>.json`` (pyperf JSON).

Cold: ``pyperf command`` times a whole process that runs the workload once
(:mod:`ember_bench.driver` ``--oneshot``), appending to ``cold/<config>.json``.

Each process gets its own Ember log (``EMBER_LOG``), proof file and output
file under ``logs/<bench>/<config>/``; the manifest records them all.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pyperf

from .benchmarks import BenchmarkScript
from .configs import Config, base_environ
from .emberlog import BENCH_MODULE, parse_log, validity
from .jitlist import write_jit_list

DRIVER = Path(__file__).resolve().with_name("driver.py")


@dataclass
class Settings:
    """Run parameters. Times are in seconds; counts are per configuration.

    ``processes``: steady-state worker processes (rounds); ``warmups`` and
    ``values``: per steady process; ``min_time``: minimum duration of one
    value (pyperf ``--min-time``); ``loops``: fixed inner loops (None =
    calibrate); ``cold_runs``: cold processes; ``cold_iterations``: workload
    iterations per cold process (the driver's ``--iterations``); ``jit_warmup_s``: the
    minimum warm-up of a JIT configuration's steady process in seconds, None for each
    configuration's own (``configs.JIT_WARMUP_S``); ``jit_settle_s``: the most seconds a
    JIT configuration's steady process runs the workload, before those warm-up values, until
    the JIT has settled (no compile for ``max(2 s, a third of that time)``; the driver's
    ``--settle``), 0 for none; ``regimes``: subset of
    ("steady", "cold"); ``timeout``: limit for one process.
    """

    processes: int = 4
    warmups: int = 5
    values: int = 5
    min_time: float = 0.1
    loops: int | None = None
    cold_runs: int = 5
    cold_iterations: int = 1
    jit_warmup_s: float | None = None
    jit_settle_s: float = 20.0
    regimes: tuple = ("steady", "cold")
    auto_threshold: int = 2
    timeout: float = 900.0


@dataclass
class Chunk:
    """The record of one benchmark process (one row of the manifest)."""

    bench: str
    config: str
    regime: str          # "calibration", "steady" or "cold"
    tag: str             # "cal" or the round number
    ok: bool
    returncode: int | None
    seconds: float
    output: str
    log: dict | None = None
    proof: list | None = None
    error: str = ""


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the process group led by ``proc`` (started with a new session) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


class RunError(RuntimeError):
    """A benchmark process failed; the message holds its output's tail."""


def _precompile_running(folder: Path) -> bool:
    """True while a process compiling a file of wires under ``folder`` for later runs is alive
    (its command line names the file: ember._cli starts it as ``python -I -S -c ... PARENT
    FOLDER/NAME.wires``), read from /proc; False where /proc cannot be read."""
    needle = str(folder).encode() + b"/"
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return False
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read()
        except OSError:
            continue
        if b"ember._precompile" in cmdline and needle in cmdline:
            return True
    return False


def wait_for_precompile(cache: Path, timeout: float) -> bool:
    """Waits until the detached process an Ember run starts at exit to compile, for later runs,
    the functions it left interpreted (docs/compilation.md, "Compiling for the next run") has
    finished with ``cache`` and exited: its file under ``cache/precompile`` is gone and no such
    process is left. So that process never runs beside the next timed process (its exit, after
    it removes the file, takes 1-3 ms more with LLVM loaded). True when none is left within
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    folder = cache / "precompile"
    while time.monotonic() < deadline:
        if (not folder.is_dir() or not any(p.suffix == ".wires" for p in folder.iterdir())) and \
                not _precompile_running(folder):
            return True
        time.sleep(0.02)
    return False


def calibrated_value_s(run) -> float:
    """Wall seconds of one value at the calibrated loop count, from a pyperf calibration run
    (0.0 when it has no warm-up values). pyperf stores warm-up values per loop and per inner
    loop (a benchmark repeating its statement N times inside one loop divides by N, e.g.
    unpack_sequence's 400): the last warm-up is the calibrated one, and its wall time is
    loops x inner loops x that value."""
    if not run.warmups:
        return 0.0
    loops, per_loop = run.warmups[-1]
    inner = int(run.get_metadata().get("inner_loops", 1) or 1)
    return loops * inner * per_loop


class BenchRunner:
    """Runs benchmarks for a set of configurations into ``run_dir``.

    ``python`` is the project venv's interpreter: it runs ``pyperf command``
    for the cold regime (with Ember disabled). ``progress`` is any object with
    ``advance(description)`` (see :mod:`ember_bench.progress`), or None.
    """

    def __init__(self, run_dir: Path, scripts: list, configs: list,
                 settings: Settings, python: str, progress=None, console=None):
        self.run_dir = Path(run_dir)
        self.scripts: list[BenchmarkScript] = scripts
        self.configs: list[Config] = configs
        self.settings = settings
        self.python = python
        self.progress = progress
        self.console = console
        self.chunks: list[Chunk] = []
        self.loops: dict = {}
        self.value_s: dict = {}   # (bench, config) -> seconds of one calibrated value
        self.failed: dict = {}
        self.env_tool = shutil.which("env") or "/usr/bin/env"

    # -- planning ---------------------------------------------------------
    def total_processes(self) -> int:
        """Number of benchmark processes the run will start (for progress bars)."""
        s = self.settings
        total = 0
        for cfg in self.configs:
            if "steady" in s.regimes:
                total += s.processes
                if not s.loops and not self.shares_calibration(cfg):
                    total += 1
            if "cold" in s.regimes:
                total += s.cold_runs
        return total * len(self.scripts)

    # -- helpers ----------------------------------------------------------
    def _paths(self, bench: str, cfg: str, regime: str, tag: str) -> dict:
        d = self.run_dir / "logs" / bench / cfg
        d.mkdir(parents=True, exist_ok=True)
        stem = f"{regime}-{tag}"
        return {"log": d / f"{stem}.ember.log", "proof": d / f"{stem}.proof.jsonl",
                "out": d / f"{stem}.out.txt", "cache": d / f"{stem}.code-cache"}

    def _env(self, cfg: Config, bench: BenchmarkScript, paths: dict) -> dict:
        env = base_environ()
        env.update(cfg.env)
        if cfg.ember_log:
            # nojit too: a log with compiled functions would expose a leak.
            env["EMBER_LOG"] = str(paths["log"])
        if cfg.jit_list_per_bench:
            env["EMBER_JIT_LIST"] = str(self.jit_list(bench))
        if cfg.cache == "fresh":
            env["EMBER_CACHE_DIR"] = str(paths["cache"])
        elif cfg.cache == "warm":
            env["EMBER_CACHE_DIR"] = str(self.warm_cache(bench, cfg))
        return env

    def warm_cache(self, bench: BenchmarkScript, cfg: Config) -> Path:
        """Return the shared code-cache directory of ``cfg`` for ``bench``, filling it first
        with one untimed whole-process run of the benchmark (its output in ``logs/``)."""
        path = self.run_dir / "code-cache" / bench.name / cfg.name
        if not path.exists():
            path.mkdir(parents=True)
            paths = self._paths(bench.name, cfg.name, "fill", "0")
            env = base_environ()
            env.update(cfg.env)
            env.update(EMBER_CACHE_DIR=str(path), EMBER_LOG=str(paths["log"]))
            cmd = list(cfg.argv) + [str(DRIVER), *self._oneshot_args(), *self._proof_args(cfg, paths),
                                    str(bench.script)]
            rc, _, err = self._exec(cmd, env, paths["out"])
            if rc != 0:
                self._warn(f"{bench.name}/{cfg.name}: filling the code cache failed: {err}")
        return path

    def jit_list(self, bench: BenchmarkScript) -> Path:
        """Return (generating on first use) the JIT list file for ``bench``."""
        path = self.run_dir / "jitlists" / f"{bench.name}.txt"
        if not path.exists():
            write_jit_list(bench.script, path)
        return path

    def _exec(self, cmd: list, env: dict, out_path: Path) -> tuple[int | None, float, str]:
        t0 = time.perf_counter()
        with open(out_path, "w") as out:
            out.write("$ " + " ".join(cmd) + "\n")
            out.flush()
            # A new session per process, so a timeout (or Ctrl-C) ends the whole
            # tree this harness started (pyperf command -> timer -> benchmark).
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=str(self.run_dir),
                                    start_new_session=True)
            err = ""
            try:
                rc = proc.wait(timeout=self.settings.timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                rc = None
                err = f"timed out after {self.settings.timeout:g} s"
            except BaseException:
                _kill_group(proc)
                raise
        dt = time.perf_counter() - t0
        if env.get("EMBER_CACHE_DIR"):
            wait_for_precompile(Path(env["EMBER_CACHE_DIR"]), self.settings.timeout)
        if rc != 0 and not err:
            tail = out_path.read_text(errors="replace").strip().splitlines()[-8:]
            err = f"exit code {rc}: " + " | ".join(tail)
        return rc, dt, err

    def _record(self, bench, cfg, regime, tag, paths, rc, dt, err) -> Chunk:
        log = None
        if cfg.ember_log:
            st = parse_log(paths["log"])
            # Ember's default policy may rightly compile nothing in a whole-process run.
            valid, why = validity(st, cfg.require_bench_compiled,
                                  cost_policy_may_skip=regime == "cold" and not cfg.require_bench_compiled)
            log = st.as_dict()
            log.pop("functions", None)
            log.pop("compile_ms_each", None)   # the report reads them from the log file
            log["valid"] = valid
            log["why"] = why
        proof = []
        if paths["proof"].exists():
            for line in paths["proof"].read_text().splitlines():
                try:
                    p = json.loads(line)
                except ValueError:
                    continue
                if "compiled_functions" in p:
                    p["compiled_bench"] = sum(1 for f in p["compiled_functions"]
                                              if f.startswith(BENCH_MODULE + ":"))
                    p["compiled_functions"] = p["compiled_functions"][:50]
                proof.append(p)
        ch = Chunk(bench.name, cfg.name, regime, tag, rc == 0, rc, round(dt, 3),
                   str(paths["out"].relative_to(self.run_dir)), log, proof, err)
        self.chunks.append(ch)
        return ch

    def _advance(self, text: str) -> None:
        if self.progress is not None:
            self.progress.advance(text)

    def _warn(self, text: str) -> None:
        if self.console is not None:
            self.console.print(f"[yellow]warning:[/] {text}")

    # -- process kinds ----------------------------------------------------
    def _steady_cmd(self, cfg: Config, bench: BenchmarkScript, paths: dict,
                    dest: Path, calibrate: bool) -> list:
        s = self.settings
        cmd = list(cfg.argv) + [str(DRIVER), *self._proof_args(cfg, paths),
                                str(bench.script), "--worker",
                                "--min-time", str(s.min_time),
                                "--append", str(dest)]
        if calibrate:
            # pyperf doubles the loops until one value lasts --min-time.
            cmd += ["--calibrate-loops", "--warmups", "1", "--values", "1"]
        else:
            if cfg.proof and s.jit_settle_s > 0:
                i = cmd.index(str(bench.script))
                cmd[i:i] = ["--settle", f"{s.jit_settle_s:g}"]
            cmd += ["--loops", str(self.loops[(bench.name, cfg.name)]),
                    "--warmups", str(self.warmups(bench.name, cfg)), "--values", str(s.values)]
        return cmd

    def warmups(self, bench: str, cfg: Config) -> int:
        """Warm-up values of a steady process: ``--warmups``, raised for a configuration with
        ``warmup_s`` until the warm-up is at least that many seconds of calibrated values."""
        n = self.settings.warmups
        value = self.value_s.get((bench, cfg.name))
        warmup_s = cfg.warmup_s
        if warmup_s > 0 and self.settings.jit_warmup_s is not None:
            warmup_s = self.settings.jit_warmup_s
        if warmup_s > 0 and value:
            n = max(n, math.ceil(warmup_s / value))
        return n

    def _cold_cmd(self, cfg: Config, bench: BenchmarkScript, paths: dict, dest: Path,
                  env: dict) -> tuple[list, dict]:
        inner = [self.env_tool, "-i"] + [f"{k}={v}" for k, v in sorted(env.items())]
        inner += list(cfg.argv) + [str(DRIVER), *self._oneshot_args(), *self._proof_args(cfg, paths),
                                   str(bench.script)]
        outer_env = base_environ()
        outer_env["EMBER_DISABLE"] = "1"  # the timing process itself never runs Ember
        cmd = [self.python, "-m", "pyperf", "command", "--worker", "--loops", "1",
               "--warmups", "0", "--values", "1", "--name", bench.name,
               "--append", str(dest), "--"] + inner
        return cmd, outer_env

    def _oneshot_args(self) -> list:
        """The driver's options for one cold process: the workload run ``cold_iterations``
        times."""
        n = self.settings.cold_iterations
        return ["--oneshot"] + (["--iterations", str(n)] if n != 1 else [])

    @staticmethod
    def _proof_args(cfg: Config, paths: dict) -> list:
        """The driver's options that make it report ``cfg.proof``'s compiled functions."""
        if not cfg.proof:
            return ["--proof", str(paths["proof"])]
        return ["--proof", str(paths["proof"]), "--jit", cfg.proof]

    def shares_calibration(self, cfg: Config) -> bool:
        """True for configurations that reuse another's loop count (``calibrate_with``,
        e.g. Ember modes reuse nojit's: same interpreter).

        Equal loops mean every value of a JIT and its interpreter times the same
        amount of work, and no JIT process is spent on calibration.
        """
        return cfg.calibrate_with is not None and any(
            c.name == cfg.calibrate_with for c in self.configs)

    def calibrate(self, bench: BenchmarkScript, cfg: Config) -> None:
        """Find the inner loop count for (bench, cfg); raises RunError on failure."""
        if self.settings.loops:
            self.loops[(bench.name, cfg.name)] = self.settings.loops
            return
        if self.shares_calibration(cfg):
            key = (bench.name, cfg.calibrate_with)
            if key not in self.loops:
                raise RunError(f"the {cfg.calibrate_with} calibration failed, "
                               "so no loop count to share")
            self.loops[(bench.name, cfg.name)] = self.loops[key]
            if key in self.value_s:
                self.value_s[(bench.name, cfg.name)] = self.value_s[key]
            return
        paths = self._paths(bench.name, cfg.name, "calibration", "cal")
        dest = self.run_dir / "calibration" / f"{cfg.name}.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        env = self._env(cfg, bench, paths)
        rc, dt, err = self._exec(self._steady_cmd(cfg, bench, paths, dest, True), env,
                                 paths["out"])
        self._record(bench, cfg, "calibration", "cal", paths, rc, dt, err)
        self._advance(f"{bench.name} {cfg.name} calibration")
        if rc != 0:
            raise RunError(err)
        suite = pyperf.BenchmarkSuite.load(str(dest))
        runs = suite.get_benchmark(bench.name).get_runs()
        loops = runs[-1].get_metadata().get("calibrate_loops")
        if not loops:
            raise RunError(f"no calibrate_loops in {dest}")
        self.loops[(bench.name, cfg.name)] = int(loops)
        value = calibrated_value_s(runs[-1])
        if value:
            self.value_s[(bench.name, cfg.name)] = value

    def steady(self, bench: BenchmarkScript, cfg: Config, rnd: int) -> Chunk:
        """Run one steady-state worker process (round ``rnd``)."""
        tag = str(rnd)
        paths = self._paths(bench.name, cfg.name, "steady", tag)
        dest = self.run_dir / "steady" / f"{cfg.name}.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        env = self._env(cfg, bench, paths)
        rc, dt, err = self._exec(self._steady_cmd(cfg, bench, paths, dest, False), env,
                                 paths["out"])
        ch = self._record(bench, cfg, "steady", tag, paths, rc, dt, err)
        self._advance(f"{bench.name} {cfg.name} steady #{rnd + 1}")
        return ch

    def cold(self, bench: BenchmarkScript, cfg: Config, rnd: int) -> Chunk:
        """Run one cold process, timed whole by ``pyperf command`` (round ``rnd``)."""
        tag = str(rnd)
        paths = self._paths(bench.name, cfg.name, "cold", tag)
        dest = self.run_dir / "cold" / f"{cfg.name}.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        env = self._env(cfg, bench, paths)
        cmd, outer_env = self._cold_cmd(cfg, bench, paths, dest, env)
        rc, dt, err = self._exec(cmd, outer_env, paths["out"])
        ch = self._record(bench, cfg, "cold", tag, paths, rc, dt, err)
        self._advance(f"{bench.name} {cfg.name} cold #{rnd + 1}")
        return ch

    # -- the whole run ----------------------------------------------------
    def _skip(self, bench, cfg, regime, n) -> None:
        for _ in range(n):
            self._advance(f"{bench} {cfg} {regime} (skipped)")

    def run_benchmark(self, bench: BenchmarkScript) -> None:
        """Calibrate and run all rounds of one benchmark for every configuration."""
        s = self.settings
        do_steady = "steady" in s.regimes
        do_cold = "cold" in s.regimes
        broken: dict = {}  # (cfg, regime) -> error
        if do_steady:
            for cfg in self.configs:
                try:
                    self.calibrate(bench, cfg)
                except (RunError, OSError, KeyError, ValueError) as exc:
                    broken[(cfg.name, "steady")] = f"calibration failed: {exc}"
                    self._warn(f"{bench.name}/{cfg.name}: calibration failed: {exc}")
                    self._skip(bench.name, cfg.name, "steady", s.processes)
        rounds = max(s.processes if do_steady else 0, s.cold_runs if do_cold else 0)
        for rnd in range(rounds):
            for regime, n, fn in (("steady", s.processes, self.steady),
                                  ("cold", s.cold_runs, self.cold)):
                if regime not in s.regimes or rnd >= n:
                    continue
                for cfg in self.configs:
                    if (cfg.name, regime) in broken:
                        continue
                    ch = fn(bench, cfg, rnd)
                    if not ch.ok:
                        broken[(cfg.name, regime)] = ch.error
                        self._warn(f"{bench.name}/{cfg.name} {regime}: {ch.error}")
                        self._skip(bench.name, cfg.name, regime, n - rnd - 1)
        for (cfg, regime), err in broken.items():
            self.failed[(bench.name, cfg, regime)] = err

    def run(self) -> None:
        """Run every benchmark in order; failures are recorded, not raised."""
        for bench in self.scripts:
            self.run_benchmark(bench)

    def manifest_part(self) -> dict:
        """Return what this runner learned, for ``manifest.json``."""
        return {
            "settings": asdict(self.settings),
            "loops": {f"{b}/{c}": n for (b, c), n in self.loops.items()},
            "warmups": {f"{b}/{c.name}": self.warmups(b, c) for (b, cn) in self.loops
                        for c in self.configs if c.name == cn},
            "failed": [{"bench": b, "config": c, "regime": r, "error": e}
                       for (b, c, r), e in self.failed.items()],
            "chunks": [asdict(ch) for ch in self.chunks],
        }
