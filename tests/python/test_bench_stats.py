"""Tests of the benchmark harness's statistics and ``compare`` command (bench/ember_bench).

Synthetic data only: no Ember, no network, no benchmark process. Known
ratios must be recovered inside their bootstrap confidence intervals.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy")
pyperf = pytest.importorskip("pyperf")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from ember_bench import stats  # noqa: E402
from ember_bench.cli import main as cli_main  # noqa: E402
from ember_bench.compare import (CompareError, compare_files, compare_values,  # noqa: E402
                                 format_comparisons)
from ember_bench.emberlog import parse_log, parse_log_text, validity  # noqa: E402
from ember_bench.jitlist import function_qualnames  # noqa: E402

RESAMPLES = 2000


def timings(median_s: float, n: int, rng: np.random.Generator, noise: float = 0.03) -> list:
    """Log-normal timings whose true median is ``median_s`` seconds."""
    return list(median_s * np.exp(rng.normal(0.0, noise, n)))


def write_pyperf(path: Path, benches: dict, processes: int = 4) -> None:
    """Write ``{name: [values]}`` as a pyperf suite, values split over runs."""
    suite = None
    for name, values in benches.items():
        runs = [pyperf.Run(list(chunk), warmups=[(1, float(chunk[0]))],
                           metadata={"name": name, "loops": 1},
                           collect_metadata=False)
                for chunk in np.array_split(np.asarray(values), processes)]
        bench = pyperf.Benchmark(runs)
        if suite is None:
            suite = pyperf.BenchmarkSuite([bench])
        else:
            suite.add_benchmark(bench)
    suite.dump(str(path))


# -- stats ----------------------------------------------------------------

def test_summarize_median_and_spread():
    s = stats.summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s.n == 5
    assert s.median == 3.0
    assert (s.q1, s.q3) == (2.0, 4.0)
    assert s.iqr == pytest.approx(2.0)
    assert s.rel_iqr == pytest.approx(2.0 / 3.0)
    assert (s.minimum, s.maximum) == (1.0, 100.0)


@pytest.mark.parametrize("true_ratio", [0.5, 0.8, 1.0, 1.25, 2.0, 10.0])
def test_known_ratio_recovered_within_ci(true_ratio):
    rng = np.random.default_rng(int(true_ratio * 1000))
    base = timings(0.100, 40, rng)
    cand = timings(0.100 / true_ratio, 40, rng)
    est = stats.speedup(base, cand, n_resamples=RESAMPLES)
    assert est.has_ci
    assert est.low <= true_ratio <= est.high
    assert est.low <= est.ratio <= est.high
    assert est.ratio == pytest.approx(true_ratio, rel=0.05)
    assert est.method in ("BCa", "percentile")


def test_significance_verdicts():
    rng = np.random.default_rng(1)
    base = timings(0.1, 40, rng, noise=0.01)
    faster = stats.speedup(base, timings(0.1 / 1.2, 40, rng, noise=0.01), n_resamples=RESAMPLES)
    slower = stats.speedup(base, timings(0.1 * 1.2, 40, rng, noise=0.01), n_resamples=RESAMPLES)
    same = stats.speedup(base, timings(0.1, 40, rng, noise=0.01), n_resamples=RESAMPLES)
    assert (faster.crosses_one, faster.verdict) == (False, "faster")
    assert (slower.crosses_one, slower.verdict) == (False, "slower")
    assert same.crosses_one and same.verdict == "no significant change"


def test_ci_coverage_is_close_to_nominal():
    """Over many synthetic experiments the 95% CI holds the true ratio most of the time."""
    true_ratio = 1.3
    hits = 0
    trials = 40
    for seed in range(trials):
        rng = np.random.default_rng(1000 + seed)
        est = stats.speedup(timings(0.05, 25, rng, 0.05), timings(0.05 / true_ratio, 25, rng, 0.05),
                            n_resamples=1000, seed=seed)
        hits += est.low <= true_ratio <= est.high
    assert hits / trials >= 0.8


def test_ci_is_reproducible_with_seed():
    rng = np.random.default_rng(7)
    a, b = timings(0.2, 20, rng), timings(0.1, 20, rng)
    e1 = stats.speedup(a, b, n_resamples=RESAMPLES, seed=3)
    e2 = stats.speedup(a, b, n_resamples=RESAMPLES, seed=3)
    assert (e1.low, e1.high) == (e2.low, e2.high)


def test_median_not_mean_resists_outliers():
    base = [0.1] * 19 + [10.0]            # one huge outlier (e.g. a GC pause)
    cand = [0.05] * 19 + [0.051]
    est = stats.speedup(base, cand, n_resamples=RESAMPLES)
    assert est.ratio == pytest.approx(2.0)


def test_tiny_and_degenerate_samples():
    one = stats.speedup([0.2], [0.1])
    assert one.ratio == pytest.approx(2.0)
    assert not one.has_ci and one.crosses_one and one.method == "none"
    assert stats.format_ratio(one) == "2.00x [n/a]"
    flat = stats.speedup([0.2, 0.2, 0.2], [0.1, 0.1, 0.1])
    assert (flat.low, flat.high) == (2.0, 2.0) and not flat.crosses_one


@pytest.mark.parametrize("bad", [[], [0.0, 1.0], [-1.0], [float("nan")]])
def test_invalid_samples_raise(bad):
    with pytest.raises(ValueError):
        stats.speedup(bad, [1.0, 1.0])


def test_invalid_confidence_raises():
    with pytest.raises(ValueError):
        stats.speedup([1.0, 2.0], [1.0, 2.0], confidence=1.5)


def test_format_helpers():
    est = stats.RatioEstimate(1.234, 1.1, 1.4, 0.95, 5, 5, "BCa")
    assert stats.format_ratio(est) == "1.23x [1.10, 1.40]"
    assert stats.format_seconds(0.0123) == "12.3 ms"
    assert stats.format_seconds(2.5e-7) == "250 ns"
    assert est.as_dict()["verdict"] == "faster"


# -- compare ---------------------------------------------------------------

def test_compare_values_recovers_ratios():
    rng = np.random.default_rng(42)
    frm = {"a": timings(0.1, 30, rng), "b": timings(0.2, 30, rng), "only_from": [1.0, 1.0]}
    to = {"a": timings(0.05, 30, rng), "b": timings(0.2, 30, rng), "only_to": [1.0, 1.0]}
    rows = compare_values(frm, to, n_resamples=RESAMPLES)
    assert [r.bench for r in rows] == ["a", "b"]
    a, b = rows
    assert a.estimate.low <= 2.0 <= a.estimate.high and not a.estimate.crosses_one
    assert b.estimate.low <= 1.0 <= b.estimate.high and b.estimate.crosses_one
    table = format_comparisons(rows)
    assert "| a |" in table and "faster" in table and "no significant change" in table


def test_compare_nothing_in_common():
    with pytest.raises(CompareError):
        compare_values({"a": [1.0, 2.0]}, {"b": [1.0, 2.0]})


def test_compare_files_roundtrip(tmp_path):
    rng = np.random.default_rng(5)
    f_from, f_to = tmp_path / "from.json", tmp_path / "to.json"
    write_pyperf(f_from, {"richards": timings(0.04, 20, rng), "go": timings(0.3, 20, rng)})
    write_pyperf(f_to, {"richards": timings(0.04 / 1.5, 20, rng), "go": timings(0.3 * 1.25, 20, rng)})
    rows = {r.bench: r for r in compare_files(f_from, f_to, n_resamples=RESAMPLES)}
    assert rows["richards"].estimate.low <= 1.5 <= rows["richards"].estimate.high
    assert rows["richards"].estimate.verdict == "faster"
    assert rows["go"].estimate.low <= 0.8 <= rows["go"].estimate.high
    assert rows["go"].estimate.verdict == "slower"
    assert rows["go"].from_median == pytest.approx(0.3, rel=0.05)


def test_compare_cli(tmp_path, capsys):
    rng = np.random.default_rng(9)
    f_from, f_to = tmp_path / "from.json", tmp_path / "to.json"
    write_pyperf(f_from, {"nbody": timings(0.1, 20, rng)})
    write_pyperf(f_to, {"nbody": timings(0.1 * 1.3, 20, rng)})
    assert cli_main(["compare", str(f_from), str(f_to), "--resamples", "1000"]) == 0
    out = capsys.readouterr().out
    assert "| nbody |" in out and "slower" in out
    assert cli_main(["compare", str(f_from), str(f_to), "--resamples", "1000",
                     "--fail-on-slowdown"]) == 4
    capsys.readouterr()
    assert cli_main(["compare", str(f_from), str(f_to), "--json", "--resamples", "1000"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["bench"] == "nbody" and data[0]["crosses_one"] is False
    assert data[0]["low"] <= 1 / 1.3 <= data[0]["high"]
    assert cli_main(["compare", str(f_from), str(tmp_path / "missing.json")]) == 1


# -- JIT proof helpers ------------------------------------------------------

LOG = """\
[ember 123] Finished compiling __main__:Richards.run (2048 bytes, 1.5 ms)
Finished compiling __main__:TaskState.isTaskHolding (128 bytes, 0.25 ms)
Not compiling __main__:main.<locals>.<genexpr>: generators are not supported
Finished compiling pyperf._runner:Runner.bench_func (512 bytes, 2 ms)
Finished compiling __main__:_ember_bench_main (64 bytes, 0.1 ms)
"""


def test_emberlog_counts_and_validity(tmp_path):
    st = parse_log_text(LOG)
    assert (st.compiled, st.compiled_bench) == (3, 2)
    assert st.compile_ms == pytest.approx(3.75)
    assert st.compile_ms_each == [1.5, 0.25, 2.0]
    assert st.code_bytes == 2048 + 128 + 512
    assert st.rejected == 1 and "generators are not supported" in st.reasons
    assert validity(st)[0]
    assert not validity(parse_log_text("Finished compiling pyperf:x (1 bytes, 1 ms)\n"))[0]
    missing = parse_log(tmp_path / "nope.log")
    assert not missing.exists and not validity(missing)[0]


def test_a_cost_policy_run_that_compiled_nothing_is_valid_only_in_whole_process_runs():
    """The cost policy's exit line proves Ember ran; compiling nothing is valid only where the
    caller allows it (cold runs of the default configuration), and never without that line."""
    st = parse_log_text("Ember: cost policy took 412 samples; 0 functions compiled, 0 queued\n")
    assert st.samples == 412 and st.compiled == 0
    assert validity(st, False, cost_policy_may_skip=True) == (
        True, "0 functions compiled: the cost policy found none worth it (412 samples)")
    assert not validity(st, False)[0]
    assert not validity(parse_log_text("\n"), False, cost_policy_may_skip=True)[0]


def test_the_exit_line_gives_failed_guards_and_withdrawals():
    st = parse_log_text("Ember: cost policy took 9 samples; 2 functions compiled, 2 queued; "
                        "37 failed guards, 1 withdrawn\n")
    assert (st.samples, st.deopts, st.withdrawn) == (9, 37, 1)
    old = parse_log_text("Ember: cost policy took 9 samples; 2 functions compiled, 2 queued\n")
    assert (old.samples, old.deopts, old.withdrawn) == (9, 0, 0)


def test_jitlist_qualnames():
    src = ("def f():\n    def g(): pass\n"
           "class A:\n    def m(self): pass\n    class B:\n        async def n(self): pass\n"
           "x = lambda: 0\n")
    assert function_qualnames(src) == ["f", "f.<locals>.g", "A.m", "A.B.n"]


def test_nan_free_summary_of_identical_values():
    s = stats.summarize([0.5, 0.5])
    assert s.iqr == 0.0 and not math.isnan(s.rel_iqr)


def test_difference_recovers_a_known_offset():
    rng = np.random.default_rng(7)
    base = [0.020 + x for x in rng.normal(0.0, 0.0005, 40)]
    cand = [0.023 + x for x in rng.normal(0.0, 0.0005, 40)]
    d = stats.difference(base, cand, n_resamples=RESAMPLES)
    assert d.diff == pytest.approx(float(np.median(cand) - np.median(base)))
    assert d.diff == pytest.approx(0.003, abs=0.0005)
    assert 0 < d.low < d.diff < d.high < 0.006
    same = stats.difference(base, base, n_resamples=RESAMPLES)
    assert same.low <= 0 <= same.high
    assert math.isnan(stats.difference([1.0], [2.0]).low)
    with pytest.raises(ValueError):
        stats.difference([], [1.0])


def test_ember_ab_config_takes_the_other_build_from_its_directory(tmp_path, monkeypatch):
    """`ember-ab` runs `python -m ember` with another build's package first on PYTHONPATH, and
    refuses a directory that holds no `ember/` package (a typo would time the same build twice)."""
    from ember_bench.configs import cpython_config

    monkeypatch.setenv("EMBER_BENCH_AB_PATH", str(tmp_path))
    with pytest.raises(ValueError, match="EMBER_BENCH_AB_PATH"):
        cpython_config("ember-ab", "python", 2)
    (tmp_path / "ember").mkdir()
    c = cpython_config("ember-ab", "python", 2)
    assert c.env["PYTHONPATH"] == str(tmp_path)
    assert c.argv == ["python", "-m", "ember"]
    assert c.calibrate_with == "nojit" and c.cache == "fresh"
