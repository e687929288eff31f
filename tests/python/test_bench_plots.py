"""bench/ember_bench/plots.py: every bar of both plot kinds carries its ratio as text, invalid
results are labelled INVALID, and the log axis has numbered ticks (issue 17, item 8)."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from ember_bench import plots  # noqa: E402
from ember_bench.results import Cell, JitActivity, RunData  # noqa: E402
from ember_bench.stats import RatioEstimate  # noqa: E402


def est(r):
    return RatioEstimate(r, r * 0.9, r * 1.1, 0.95, 5, 5, "BCa")


def data(tmp_path):
    configs = [{"name": "nojit", "label": "CPython 3.13"}, {"name": "ember", "label": "Ember", "ember": True},
               {"name": "peer", "label": "Peer", "own_baseline": True}]
    cells = {}
    ratios = {("a", "ember"): 1.5, ("a", "peer"): 0.8, ("b", "ember"): 2.25, ("b", "peer"): 1.1}
    for (bench, cfg), r in ratios.items():
        cells[("steady", bench, cfg)] = Cell(vs_cpython=est(r), vs_own=est(r * 1.2) if cfg == "peer" else None)
    bad = JitActivity(processes=1, compiled_bench=(0, 0), compiled_total=(0, 0), compile_ms=0.0, valid=False,
                      why="no compile", excerpt=[], api_counts=[], deopts=0, withdrawn=0)
    cells[("steady", "c", "ember")] = Cell(vs_cpython=est(1.3), jit=bad)
    manifest = {"settings": {"regimes": ["steady"]}}
    return RunData(run_dir=tmp_path, manifest=manifest, configs=configs, benches=["a", "b", "c"], cells=cells)


@pytest.fixture
def texts(monkeypatch):
    seen = []
    real = plots.plt.Axes.text

    def record(self, x, y, s, *a, **k):
        seen.append(s)
        return real(self, x, y, s, *a, **k)

    monkeypatch.setattr(plots.plt.Axes, "text", record)
    return seen


def test_overview_labels_every_bar(tmp_path, texts):
    d = data(tmp_path)
    assert plots.plot_overview(d, "steady", tmp_path / "o.png").exists()
    for r in (1.5, 0.8, 2.25, 1.1):
        assert f"{r:.2f}x" in texts
    assert "INVALID" in texts


def test_benchmark_plot_labels_own_interpreter_bars_too(tmp_path, texts):
    d = data(tmp_path)
    assert plots.plot_benchmark(d, "a", tmp_path / "a.png").exists()
    assert {"1.50x", "0.80x", f"{0.8 * 1.2:.2f}x"} <= set(texts)


def test_log_axis_ticks_are_numbered():
    labels = [plots._minor_label(v, None) for v in (0.2, 0.3, 0.5, 2, 3, 5, 20, 0.7, 4)]
    assert labels == ["0.2x", "0.3x", "0.5x", "2x", "3x", "5x", "20x", "", ""]
    assert math.isclose(float(plots._minor_label(30, None)[:-1]), 30)
