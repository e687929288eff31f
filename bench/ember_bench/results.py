"""Load a finished run directory and compute every reported number.

A run directory holds ``manifest.json`` (settings, configurations, peers,
one record per process), ``steady/<config>.json`` and ``cold/<config>.json``
(pyperf suites). :func:`analyze` turns them into :class:`RunData`: per regime
and benchmark, the timing summary of each configuration, its speedup against
CPython 3.13 ``nojit`` and (for peers) against its own interpreter, and the
JIT-activity verdict of each Ember configuration. Regimes are never mixed.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import pyperf

from . import stats
from .configs import BASELINE

REGIMES = ("steady", "cold")


@dataclass
class JitActivity:
    """JIT proof for one (benchmark, Ember configuration, regime).

    ``processes``: timed processes; ``compiled_bench``/``compiled_total``:
    (min, max) per process; ``compile_ms``: median per process (milliseconds);
    ``valid``: every process compiled benchmark code and exited 0; ``why``:
    the reason when not valid; ``excerpt``: log lines of the first process
    (those about benchmark functions, else the first lines);
    ``api_counts``: ``len(ember.compiled_functions())`` seen at exit; ``deopts`` and
    ``withdrawn``: failed type guards and functions withdrawn for them, median per process;
    ``settle_s``: median seconds a steady process ran the workload until the JIT settled
    (the driver's ``--settle``; None without it), ``settle_limit``: processes that reached
    the limit instead.
    """

    processes: int = 0
    compiled_bench: tuple = (0, 0)
    compiled_total: tuple = (0, 0)
    compile_ms: float = 0.0
    valid: bool = False
    why: str = ""
    excerpt: list = field(default_factory=list)
    reasons: dict = field(default_factory=dict)
    api_counts: list = field(default_factory=list)
    deopts: float = 0.0
    withdrawn: float = 0.0
    settle_s: float | None = None
    settle_limit: int = 0


@dataclass
class Cell:
    """One (regime, benchmark, configuration) result.

    ``summary`` is None when there is no data (``error`` then says why);
    ``vs_cpython`` is the speedup over CPython 3.13 nojit and ``vs_own`` over
    the configuration's own interpreter (peers only).
    """

    summary: stats.Summary | None = None
    values: list = field(default_factory=list)
    vs_cpython: stats.RatioEstimate | None = None
    vs_own: stats.RatioEstimate | None = None
    jit: JitActivity | None = None
    error: str = ""

    @property
    def invalid(self) -> bool:
        """True when this is a JIT result (Ember, CinderX) without proof of JIT activity."""
        return self.jit is not None and not self.jit.valid


@dataclass
class RunData:
    """Everything the report and plots need about one run."""

    run_dir: Path
    manifest: dict
    configs: list                      # dicts from the manifest, run order
    benches: list
    cells: dict                        # (regime, bench, config) -> Cell

    def labels(self) -> dict:
        """Map configuration name -> human label."""
        return {c["name"]: c["label"] for c in self.configs}

    def config(self, name: str) -> dict:
        """Return the manifest entry of configuration ``name`` (KeyError if absent)."""
        for c in self.configs:
            if c["name"] == name:
                return c
        raise KeyError(name)

    def regimes(self) -> list:
        """Regimes present in this run, in canonical order."""
        return [r for r in REGIMES if r in self.manifest["settings"]["regimes"]]

    @property
    def has_invalid(self) -> bool:
        """True if any Ember cell lacks proof of JIT activity or failed, or the
        nojit baseline has no data (so no Ember ratio can be computed)."""
        return any(c.invalid or (c.summary is None and (self.config(k[2]).get("ember")
                                                        or k[2] == BASELINE))
                   for k, c in self.cells.items())


def load_values(path: Path) -> dict:
    """Return ``{benchmark name: [values in seconds]}`` from a pyperf JSON file.

    A missing file gives an empty dict. Raises ValueError for unreadable JSON.
    """
    if not Path(path).exists():
        return {}
    suite = pyperf.BenchmarkSuite.load(str(path))
    return {b.get_name(): list(b.get_values()) for b in suite.get_benchmarks()}


def _count_and_check(ja: JitActivity, chunks: list, bench: list, total: list) -> None:
    """Fills ``ja``'s (min, max) counts from per-process ``bench``/``total`` counts, and its
    ``why`` when a process failed."""
    ja.compiled_bench = (min(bench), max(bench))
    ja.compiled_total = (min(total), max(total))
    bad = [c for c in chunks if not c.get("ok")]
    if bad:
        ja.why = f"{len(bad)} process(es) failed: {bad[0].get('error', '')[:200]}"


def _settle(ja: JitActivity, chunks: list) -> None:
    """Fills ``ja``'s settling figures from the driver's exit records, if it settled."""
    settles = [p["settle"] for c in chunks for p in (c.get("proof") or []) if "settle" in p]
    if settles:
        ja.settle_s = float(statistics.median([st["seconds"] for st in settles]))
        ja.settle_limit = sum(1 for st in settles if st.get("limit"))


def _jit_activity(chunks: list) -> JitActivity:
    ja = JitActivity(processes=len(chunks))
    if not chunks:
        ja.why = "no process ran"
        return ja
    logs = [c.get("log") or {} for c in chunks]
    _count_and_check(ja, chunks, [lg.get("compiled_bench", 0) for lg in logs],
                     [lg.get("compiled", 0) for lg in logs])
    ja.compile_ms = float(statistics.median([lg.get("compile_ms", 0.0) for lg in logs]))
    ja.deopts = float(statistics.median([lg.get("deopts", 0) for lg in logs]))
    ja.withdrawn = float(statistics.median([lg.get("withdrawn", 0) for lg in logs]))
    ja.excerpt = logs[0].get("bench_excerpt") or logs[0].get("excerpt", [])
    reasons: dict = {}
    for lg in logs:
        for k, v in (lg.get("reasons") or {}).items():
            reasons[k] = reasons.get(k, 0) + v
    ja.reasons = dict(sorted(reasons.items(), key=lambda kv: -kv[1])[:8])
    _settle(ja, chunks)
    for c in chunks:
        for p in c.get("proof") or []:
            if "compiled_count" in p:
                ja.api_counts.append(p["compiled_count"])
    if ja.why:
        return ja
    invalid = [lg for lg in logs if not lg.get("valid")]
    if invalid:
        ja.why = f"{len(invalid)}/{len(logs)} processes: {invalid[0].get('why')}"
        return ja
    ja.valid = True
    return ja


def _proof_activity(chunks: list) -> JitActivity:
    """JIT proof of a peer JIT from the driver's exit records (``--jit cinderx``): the
    functions it reports compiled; valid when every process ran and had the JIT loaded."""
    ja = JitActivity(processes=len(chunks))
    if not chunks:
        ja.why = "no process ran"
        return ja
    proofs = [(c.get("proof") or [{}])[-1] for c in chunks]
    ja.api_counts = [p.get("compiled_count", 0) for p in proofs]
    _count_and_check(ja, chunks, [p.get("compiled_bench", 0) for p in proofs], ja.api_counts)
    ja.excerpt = list(proofs[0].get("compiled_functions", []))[:10]
    _settle(ja, chunks)
    if ja.why:
        return ja
    unloaded = [p for p in proofs if not p.get("jit_loaded")]
    if unloaded:
        ja.why = (f"{len(unloaded)}/{len(proofs)} processes without the JIT loaded "
                  f"{unloaded[0].get('error', '')}")
        return ja
    ja.valid = True
    return ja


def analyze(run_dir: Path, confidence: float = stats.DEFAULT_CONFIDENCE,
            n_resamples: int = stats.DEFAULT_RESAMPLES) -> RunData:
    """Load ``run_dir`` and compute summaries, speedups and JIT verdicts.

    Raises FileNotFoundError when ``manifest.json`` is missing.
    """
    run_dir = Path(run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    configs = manifest["configs"]
    benches = manifest["benchmarks"]
    failed = {(f["bench"], f["config"], f["regime"]): f["error"]
              for f in manifest.get("failed", [])}
    chunks_by: dict = {}
    for ch in manifest.get("chunks", []):
        chunks_by.setdefault((ch["regime"], ch["bench"], ch["config"]), []).append(ch)

    cells: dict = {}
    for regime in [r for r in REGIMES if r in manifest["settings"]["regimes"]]:
        values = {c["name"]: load_values(run_dir / regime / f"{c['name']}.json")
                  for c in configs}
        for bench in benches:
            base_vals = values.get(BASELINE, {}).get(bench)
            for c in configs:
                cell = Cell()
                vals = values[c["name"]].get(bench)
                chunks = chunks_by.get((regime, bench, c["name"]), [])
                if c.get("ember"):
                    cell.jit = _jit_activity(chunks)
                elif c.get("proof"):
                    cell.jit = _proof_activity(chunks)
                err = failed.get((bench, c["name"], regime))
                if err:
                    cell.error = err
                if vals:
                    cell.values = vals
                    cell.summary = stats.summarize(vals)
                    if c["name"] != BASELINE and base_vals:
                        cell.vs_cpython = stats.speedup(
                            base_vals, vals, confidence=confidence, n_resamples=n_resamples)
                    own = c.get("own_baseline")
                    own_vals = values.get(own, {}).get(bench) if own else None
                    if own_vals:
                        cell.vs_own = stats.speedup(
                            own_vals, vals, confidence=confidence, n_resamples=n_resamples)
                elif not cell.error:
                    cell.error = "no data"
                cells[(regime, bench, c["name"])] = cell
    return RunData(run_dir, manifest, configs, benches, cells)
