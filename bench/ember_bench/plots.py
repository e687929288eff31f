"""PNG plots of speedups with bootstrap-CI whiskers (matplotlib, Agg backend).

* ``speedup_<regime>.png``: all benchmarks, one bar per configuration, speedup
  over CPython 3.13 nojit (log scale, dashed line at 1.0), each bar labelled with its ratio.
* ``bench_<name>.png``: one benchmark, one panel per regime, speedup over
  CPython 3.13 and, for peers, over their own interpreter (hatched bars), each
  bar labelled with its ratio.

Invalid Ember results (no proof of JIT activity) are drawn grey and labelled.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from .configs import BASELINE  # noqa: E402
from .results import RunData  # noqa: E402


def _err(est) -> tuple:
    if est is None or not est.has_ci:
        return 0.0, 0.0
    return max(est.ratio - est.low, 0.0), max(est.high - est.ratio, 0.0)


def _colors(names: list) -> dict:
    cmap = plt.get_cmap("tab10")
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def _bars(ax, items: list, x0: float, width: float, values: bool = False) -> None:
    """Draw (est, color, hatch, invalid) bars side by side starting at x0; ``values`` writes
    each ratio at the end of its bar."""
    for i, (est, color, hatch, invalid) in enumerate(items):
        if est is None:
            continue
        x = x0 + i * width
        lo, hi = _err(est)
        # Bars grow from 1.0 (no change): up = faster, down = slower.
        ax.bar(x, est.ratio - 1.0, width * 0.9, bottom=1.0,
               color="0.75" if invalid else color,
               hatch=hatch, edgecolor="0.2", linewidth=0.5,
               yerr=np.array([[lo], [hi]]), capsize=2, error_kw={"elinewidth": 0.8})
        if invalid:
            ax.text(x, est.ratio, "INVALID", rotation=90, ha="center", va="bottom", fontsize=6)
        elif values:
            up = est.ratio >= 1.0
            end = (est.high if up else est.low) if est.has_ci else est.ratio
            ax.text(x, end, f"{est.ratio:.2f}x", rotation=90, ha="center",
                    va="bottom" if up else "top", fontsize=6)


def _minor_label(v: float, _pos) -> str:
    """Label minor log ticks whose mantissa is 2, 3 or 5 (e.g. 0.5x, 3x, 20x)."""
    if v <= 0:
        return ""
    mant = round(v / 10 ** math.floor(math.log10(v)), 6)
    return f"{v:g}x" if mant in (2.0, 3.0, 5.0) else ""


def _finish(ax, title: str) -> None:
    ax.axhline(1.0, color="k", linestyle="--", linewidth=0.8)
    ax.set_yscale("log")
    fmt = FuncFormatter(lambda v, _pos: f"{v:g}x")
    ax.yaxis.set_major_formatter(fmt)
    ax.yaxis.set_minor_formatter(FuncFormatter(_minor_label))
    ax.set_ylabel("speedup (x, log scale; >1 = faster)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", which="both", alpha=0.3)


def plot_overview(data: RunData, regime: str, dest: Path) -> Path | None:
    """Write the all-benchmarks speedup plot for ``regime``; returns its path.

    Returns None when there is nothing to plot.
    """
    cfgs = [c for c in data.configs if c["name"] != BASELINE]
    if not cfgs:
        return None
    colors = _colors([c["name"] for c in cfgs])
    n = len(cfgs)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(min(16.0, max(8.0, 2 + 0.3 * n * len(data.benches))), 6))
    for bi, b in enumerate(data.benches):
        items = []
        for c in cfgs:
            cell = data.cells.get((regime, b, c["name"]))
            est = cell.vs_cpython if cell else None
            items.append((est, colors[c["name"]], None, bool(cell and cell.invalid)))
        _bars(ax, items, bi - 0.4 + width / 2, width, values=True)
    ax.set_xticks(range(len(data.benches)))
    ax.set_xticklabels(data.benches, rotation=30, ha="right")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[c["name"]]) for c in cfgs]
    ax.legend(handles, [c["label"] for c in cfgs], fontsize=7, ncol=min(n, 4),
              loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    _finish(ax, f"{regime}: speedup over CPython 3.13 (no JIT), 95% bootstrap CI")
    fig.tight_layout()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest, dpi=110)
    plt.close(fig)
    return dest


def plot_benchmark(data: RunData, bench: str, dest: Path) -> Path | None:
    """Write the per-benchmark plot (one panel per regime); returns its path."""
    cfgs = [c for c in data.configs if c["name"] != BASELINE]
    regimes = data.regimes()
    if not cfgs or not regimes:
        return None
    colors = _colors([c["name"] for c in cfgs])
    n_bars = len(cfgs) + sum(1 for c in cfgs if c.get("own_baseline"))
    panel_w = max(5.5, 0.42 * n_bars + 1.5)
    fig, axes = plt.subplots(1, len(regimes), figsize=(panel_w * len(regimes), 5.0),
                             squeeze=False)
    for ax, regime in zip(axes[0], regimes):
        labels, items = [], []
        for c in cfgs:
            cell = data.cells.get((regime, bench, c["name"]))
            invalid = bool(cell and cell.invalid)
            items.append((cell.vs_cpython if cell else None, colors[c["name"]], None, invalid))
            labels.append(f"{c['name']} vs 3.13")
            if c.get("own_baseline"):
                items.append((cell.vs_own if cell else None, colors[c["name"]], "//", invalid))
                labels.append(f"{c['name']} vs own")
        _bars(ax, items, 0.0, 1.0, values=True)
        ax.set_xticks(range(len(items)))
        ax.set_xticklabels(labels, fontsize=7, rotation=60, ha="right")
        _finish(ax, f"{bench} -- {regime}")
    fig.tight_layout()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest, dpi=100)
    plt.close(fig)
    return dest


def plot_all(data: RunData, out_dir: Path) -> list:
    """Write every plot into ``out_dir``; returns the written paths."""
    written = []
    for regime in data.regimes():
        p = plot_overview(data, regime, out_dir / f"speedup_{regime}.png")
        if p:
            written.append(p)
    for b in data.benches:
        p = plot_benchmark(data, b, out_dir / f"bench_{b}.png")
        if p:
            written.append(p)
    return written
