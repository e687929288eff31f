"""Render the markdown summary (``summary.md``) of an analysed run.

Sections: settings and environment, peers' status, one table per regime for
the CPython 3.13 modes (speedup over ``nojit`` with its CI), one per regime
for the peers (against their own interpreter and against CPython 3.13),
median times with spread, the JIT-activity proof, and Ember log excerpts.
"""

from __future__ import annotations

import math
from pathlib import Path

from . import stats
from .configs import BASELINE, JIT_WARMUP_S
from .results import RunData

NOT_SIGNIFICANT = "~"
REGIME_TITLE = {
    "steady": "Steady state (in-process: warm-up values, then timed values)",
    "cold": "Cold (whole process, one workload run, wall time)",
}


def _ratio_cell(est: stats.RatioEstimate | None) -> str:
    if est is None:
        return "n/a"
    txt = stats.format_ratio(est)
    return txt + (f" {NOT_SIGNIFICANT}" if est.crosses_one else "")


def _geomean(ests: list) -> str:
    vals = [e.ratio for e in ests if e is not None and e.ratio > 0]
    if not vals:
        return "n/a"
    return f"{math.exp(sum(math.log(v) for v in vals) / len(vals)):.2f}x"


def _cell_text(data: RunData, regime: str, bench: str, cfg: dict, attr: str) -> str:
    cell = data.cells.get((regime, bench, cfg["name"]))
    if cell is None:
        return "n/a"
    if cell.summary is None:
        return f"ERROR: {cell.error[:80]}" if cell.error else "n/a"
    text = _ratio_cell(getattr(cell, attr))
    if cell.invalid:
        text = f"INVALID ({cell.jit.why[:60]}) {text}"
    elif cell.error:
        text += f" (partial: {cell.error[:60]})"
    return text


def _table(header: list, rows: list) -> list:
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in rows]
    return out


def cpython_table(data: RunData, regime: str) -> list:
    """Markdown lines: benchmark x CPython-3.13 mode, speedup over nojit with CI."""
    modes = [c for c in data.configs if c.get("family") == "cpython3.13"]
    others = [c for c in modes if c["name"] != BASELINE]
    header = ["benchmark", "nojit median (IQR)"] + [c["label"] for c in others]
    rows = []
    for b in data.benches:
        base = data.cells.get((regime, b, BASELINE))
        if base is not None and base.summary:
            s = base.summary
            bt = f"{stats.format_seconds(s.median)} ({100 * s.rel_iqr:.1f}%)"
        else:
            bt = f"ERROR: {base.error[:60]}" if base is not None and base.error else "n/a"
        rows.append([b, bt] + [_cell_text(data, regime, b, c, "vs_cpython") for c in others])
    if not others:
        return _table(header, rows)
    geo = ["geometric mean", ""]
    for c in others:
        ests = [data.cells[(regime, b, c["name"])].vs_cpython for b in data.benches
                if (regime, b, c["name"]) in data.cells
                and not data.cells[(regime, b, c["name"])].invalid]
        geo.append(_geomean(ests))
    rows.append(geo)
    return _table(header, rows)


def peer_table(data: RunData, regime: str) -> list:
    """Markdown lines: each peer against its own interpreter and CPython 3.13."""
    peers = [c for c in data.configs if c.get("own_baseline")]
    if not peers:
        return []
    header = ["benchmark"]
    cols = []
    bases_shown = set()
    for p in peers:
        base = data.config(p["own_baseline"])
        header += [f"{p['name']} / {base['name']}", f"{p['name']} / {BASELINE}"]
        cols += [(p, "vs_own"), (p, "vs_cpython")]
        if base["name"] not in bases_shown:   # a baseline shared by two JITs: one column
            bases_shown.add(base["name"])
            header.append(f"{base['name']} / {BASELINE}")
            cols.append((base, "vs_cpython"))
    rows = [[b] + [_cell_text(data, regime, b, c, a) for c, a in cols] for b in data.benches]
    geo = ["geometric mean"]
    for c, a in cols:
        geo.append(_geomean([getattr(data.cells[(regime, b, c["name"])], a)
                             for b in data.benches if (regime, b, c["name"]) in data.cells]))
    rows.append(geo)
    return _table(header, rows)


def _count(cell) -> str:
    """Compiled-function count of a JIT cell: all functions (benchmark module's), max over
    processes; empty for configurations without a JIT proof."""
    if cell is None or cell.jit is None:
        return ""
    j = cell.jit
    return f"; {j.compiled_total[1]} fn ({j.compiled_bench[1]} bench)"


def overview_table(data: RunData, regime: str) -> list:
    """Markdown lines: every configuration's median time per iteration, its speedup over
    pyenv's CPython 3.13.0 (``nojit``, with CI) and over its own interpreter, and for JITs
    with a proof (Ember, CinderX) the functions compiled."""
    cfgs = [c for c in data.configs if c["name"] != BASELINE]
    header = ["benchmark", f"{BASELINE} time"] + [c["name"] for c in cfgs]
    rows = []
    for b in data.benches:
        base = data.cells.get((regime, b, BASELINE))
        row = [b, stats.format_seconds(base.summary.median) if base and base.summary else "n/a"]
        for c in cfgs:
            cell = data.cells.get((regime, b, c["name"]))
            if cell is None or cell.summary is None:
                row.append(_cell_text(data, regime, b, c, "vs_cpython"))
                continue
            text = (f"{stats.format_seconds(cell.summary.median)}; "
                    f"{_cell_text(data, regime, b, c, 'vs_cpython')}")
            if c.get("own_baseline"):
                text += f"; own {_cell_text(data, regime, b, c, 'vs_own')}"
            row.append(text + _count(cell))
        rows.append(row)
    geo = ["geometric mean", ""]
    for c in cfgs:
        ok = [data.cells[(regime, b, c["name"])] for b in data.benches
              if (regime, b, c["name"]) in data.cells
              and not data.cells[(regime, b, c["name"])].invalid]
        text = _geomean([x.vs_cpython for x in ok])
        if c.get("own_baseline"):
            text += f"; own {_geomean([x.vs_own for x in ok])}"
        geo.append(text)
    rows.append(geo)
    return _table(header, rows)


def times_table(data: RunData, regime: str) -> list:
    """Markdown lines: median time, IQR and number of values per configuration."""
    header = ["benchmark"] + [c["label"] for c in data.configs]
    rows = []
    for b in data.benches:
        row = [b]
        for c in data.configs:
            cell = data.cells.get((regime, b, c["name"]))
            if cell is None or cell.summary is None:
                row.append("n/a")
            else:
                s = cell.summary
                row.append(f"{stats.format_seconds(s.median)} "
                           f"+- {stats.format_seconds(s.iqr / 2)} (n={s.n})")
        rows.append(row)
    return _table(header, rows)


def jit_table(data: RunData) -> list:
    """Markdown lines: JIT-activity proof per benchmark, Ember mode and regime."""
    ember = [c for c in data.configs if c.get("ember") or c.get("proof")]
    if not ember:
        return []
    header = ["benchmark", "mode", "regime", "processes",
              "compiled (benchmark code, min-max per process)", "compiled (all)",
              "compile time per process (median)", "failed guards / withdrawn per process (median)",
              "compiled functions listed at exit", "settled after (median; at the limit)",
              "status"]
    rows = []
    for b in data.benches:
        for c in ember:
            for regime in data.regimes():
                cell = data.cells.get((regime, b, c["name"]))
                if cell is None or cell.jit is None:
                    continue
                j = cell.jit
                api = (f"{min(j.api_counts)}-{max(j.api_counts)}" if j.api_counts else "n/a")
                rows.append([b, c["name"], regime, j.processes,
                             f"{j.compiled_bench[0]}-{j.compiled_bench[1]}",
                             f"{j.compiled_total[0]}-{j.compiled_total[1]}",
                             f"{j.compile_ms:.1f} ms" if c.get("ember") else "n/a",
                             f"{j.deopts:g} / {j.withdrawn:g}" if c.get("ember") else "n/a", api,
                             f"{j.settle_s:.1f} s; {j.settle_limit}" if j.settle_s is not None else "",
                             "valid" if j.valid else f"**INVALID**: {j.why}"])
    return _table(header, rows)


def nojit_check(data: RunData) -> list:
    """Markdown lines stating whether the nojit processes stayed JIT-free."""
    leaks, loaded = [], 0
    for ch in data.manifest.get("chunks", []):
        if ch["config"] != BASELINE:
            continue
        if (ch.get("log") or {}).get("compiled"):
            leaks.append(f"{ch['bench']} {ch['regime']} {ch['tag']}")
        loaded += any(p.get("ember_loaded") for p in ch.get("proof") or [])
    if leaks:
        return [f"**nojit INVALID**: Ember compiled code in nojit processes: {', '.join(leaks[:10])}"]
    msg = "nojit processes compiled nothing (EMBER_DISABLE=1"
    msg += f"; the ember module was imported in {loaded} of them" if loaded else \
        "; the ember module was never imported"
    return [msg + ")."]


def compile_time_table(data: RunData) -> list:
    """Markdown lines: the distribution of compile time per function (ms) for each Ember
    configuration and regime, over every function compiled in every process (read from the
    processes' Ember logs): count, median, 95th percentile, maximum, and the median total per
    process."""
    import numpy as np

    from .emberlog import parse_log
    header = ["configuration", "regime", "functions compiled (all processes)",
              "median ms", "p95 ms", "max ms", "total per process (median)"]
    rows = []
    for c in data.configs:
        if not c.get("ember"):
            continue
        for regime in data.regimes():
            each, totals = [], []
            for ch in data.manifest.get("chunks", []):
                if ch["config"] != c["name"] or ch["regime"] != regime or not ch.get("log"):
                    continue
                path = Path(ch["log"]["path"])
                if not path.exists():   # the run directory was moved: same place under it
                    path = data.run_dir / "logs" / ch["bench"] / ch["config"] / path.name
                st = parse_log(path)
                each += st.compile_ms_each
                totals.append(sum(st.compile_ms_each))
            if not each:
                continue
            a = np.asarray(each)
            rows.append([c["name"], regime, str(len(each)), f"{np.median(a):.1f}",
                         f"{np.percentile(a, 95):.1f}", f"{a.max():.1f}",
                         f"{np.median(totals):.0f} ms"])
    return _table(header, rows) if rows else []


def excerpts(data: RunData, lines_per_log: int = 6) -> list:
    """Markdown lines: a collapsible Ember-log excerpt per benchmark and mode."""
    out = []
    for c in data.configs:
        if not c.get("ember"):
            continue
        out.append(f"<details><summary>Ember log excerpts: {c['name']}</summary>\n")
        for b in data.benches:
            for regime in data.regimes():
                cell = data.cells.get((regime, b, c["name"]))
                if cell is None or cell.jit is None:
                    continue
                out.append(f"**{b}** ({regime}, first process; {cell.jit.compiled_bench[0]} "
                           f"benchmark functions compiled, {cell.jit.compiled_total[0]} in all)")
                out.append("```")
                out += cell.jit.excerpt[:lines_per_log] or ["(log empty or missing)"]
                if cell.jit.reasons:
                    out.append("not compiled, by reason: " + "; ".join(
                        f"{k} x{v}" for k, v in cell.jit.reasons.items()))
                out.append("```")
        out.append("</details>\n")
    return out


def render(data: RunData, plots: list | None = None) -> str:
    """Return the full markdown summary of ``data`` (``plots``: relative PNG paths)."""
    m = data.manifest
    s = m["settings"]
    env = m.get("environment", {})
    lines = [f"# Ember benchmark results: {m.get('run_id', data.run_dir.name)}", ""]
    lines += [
        f"- date: {m.get('started', '?')}, duration {m.get('duration_s', 0):.0f} s, "
        f"host: {env.get('host', '?')} ({env.get('cpus', '?')} CPUs), "
        f"git: {env.get('git', '?')}",
        f"- pyperformance {m.get('pyperformance_version', '?')} benchmark scripts "
        f"(installed package, unmodified): {m.get('benchmarks_dir', '?')}",
        f"- steady state: {s['processes']} processes x ({s['warmups']} warm-up + "
        f"{s['values']} timed values; JIT configurations warm up for at least "
        f"{s.get('jit_warmup_s') if s.get('jit_warmup_s') is not None else JIT_WARMUP_S:g} s, "
        + (f"after running until the JIT settled, at most {s['jit_settle_s']:g} s: nothing "
           "compiled for max(2 s, a third of that time)), " if s.get("jit_settle_s") else "), ")
        + f"min {s['min_time']} s per value, "
        + (f"fixed {s['loops']} loops" if s.get("loops") else
           "loops calibrated on nojit (shared by the Ember modes) and per peer interpreter"),
        f"- cold: {s['cold_runs']} whole-process runs of {s.get('cold_iterations', 1)} workload "
        f"iteration{'s' if s.get('cold_iterations', 1) != 1 else ''} each, "
        "timed by `pyperf command`",
        f"- ember-auto threshold: {s['auto_threshold']} calls; processes interleaved "
        "round by round (A B C ... A B C ...); PYTHONHASHSEED=0",
        f"- speedup = median(baseline) / median(mode); intervals: "
        f"{int(100 * m.get('confidence', 0.95))}% bootstrap CI "
        "(scipy.stats.bootstrap, BCa, resampling values); "
        f"`{NOT_SIGNIFICANT}` = the interval crosses 1.0 (no significant difference)",
        "",
        "## Configurations and peers", "",
    ]
    for c in data.configs:
        lines.append(f"- `{c['name']}`: {c['label']} -- `{' '.join(c['argv'])}`"
                     + (f" with {c['env']}" if c.get("env") else ""))
    for p in m.get("peers", []):
        state = "available" if p["available"] else "NOT RUN"
        lines.append(f"- peer **{p['name']}**: {state}: {p['message']}")
    lines += ["", *nojit_check(data), ""]
    if data.has_invalid:
        lines += ["> **Warning**: some Ember results are INVALID (no proof of JIT activity "
                  "or failed processes); they must not be read as JIT results.", ""]
    for regime in data.regimes():
        lines += [f"## {REGIME_TITLE[regime]}", "",
                  "### All configurations", "",
                  "Each cell: median time per iteration; speedup over pyenv's CPython 3.13.0 "
                  "(`nojit`) with its interval; `own`: speedup over the configuration's own "
                  "interpreter; for Ember and CinderX the functions compiled (max per "
                  "process; in the benchmark module).", ""]
        lines += overview_table(data, regime) + [""]
        lines += ["### CPython 3.13: Ember modes, speedup over nojit", ""]
        lines += cpython_table(data, regime) + [""]
        pt = peer_table(data, regime)
        if pt:
            lines += ["### Peers: speedup over their own interpreter and over CPython 3.13", "",
                      "Column `A / B` is the speedup of configuration A over B "
                      "(names as listed under Configurations).", ""]
            lines += pt + [""]
        lines += ["### Median times (+- half the IQR)", ""] + times_table(data, regime) + [""]
    jt = jit_table(data)
    if jt:
        lines += ["## JIT activity (Ember: each process's EMBER_LOG; CinderX: "
                  "cinderx.jit.get_compiled_functions() at exit)", ""] + jt + [""]
        ct = compile_time_table(data)
        if ct:
            lines += ["### Compile time per function", "",
                      "Every `Finished compiling` line of every process, by configuration "
                      "and regime (compile time on the thread that compiled).", ""] + ct + [""]
        lines += excerpts(data)
    if m.get("failed"):
        lines += ["## Failures", ""]
        for f in m["failed"]:
            lines.append(f"- {f['bench']} / {f['config']} / {f['regime']}: {f['error'][:300]}")
        lines.append("")
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    lines += ["Raw data: `steady/*.json`, `cold/*.json` (pyperf format: "
              "`python -m pyperf show`), per-process logs in `logs/`, "
              "everything in `manifest.json`.", ""]
    return "\n".join(lines)
