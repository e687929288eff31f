"""Statistics for benchmark timings: medians, spread and bootstrap CIs of ratios.

All timings are in seconds (any unit works as long as both samples share it).
A *speedup* is ``median(baseline) / median(candidate)``: above 1.0 means the
candidate is faster. Confidence intervals come from ``scipy.stats.bootstrap``
(independent resampling of both samples, BCa, falling back to the percentile
method when BCa is undefined, e.g. for tied or tiny samples).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import stats as sps

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 5000
DEFAULT_SEED = 20240513


@dataclass(frozen=True)
class Summary:
    """Location and spread of one sample of timings.

    ``median``, ``q1``, ``q3``, ``iqr``, ``minimum`` and ``maximum`` are in the
    sample's unit (seconds for pyperf data); ``rel_iqr`` is ``iqr / median``
    (dimensionless); ``n`` is the number of values.
    """

    n: int
    median: float
    q1: float
    q3: float
    iqr: float
    rel_iqr: float
    minimum: float
    maximum: float

    def as_dict(self) -> dict:
        """Return the summary as a plain dict (for JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class RatioEstimate:
    """A speedup ``median(baseline) / median(candidate)`` with its bootstrap CI.

    ``low``/``high`` are NaN when an interval cannot be computed (fewer than two
    values in a sample). ``method`` names the bootstrap method that produced the
    interval (``"BCa"``, ``"percentile"`` or ``"none"``).
    """

    ratio: float
    low: float
    high: float
    confidence: float
    n_baseline: int
    n_candidate: int
    method: str

    @property
    def has_ci(self) -> bool:
        """True when both interval bounds are finite numbers."""
        return math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def crosses_one(self) -> bool:
        """True when the interval contains 1.0 (no significant difference).

        An estimate without an interval counts as crossing 1.0: nothing can
        be claimed from it.
        """
        if not self.has_ci:
            return True
        return self.low <= 1.0 <= self.high

    @property
    def verdict(self) -> str:
        """``"faster"``, ``"slower"`` or ``"no significant change"``."""
        if self.crosses_one:
            return "no significant change"
        return "faster" if self.low > 1.0 else "slower"

    def as_dict(self) -> dict:
        """Return the estimate, plus ``crosses_one`` and ``verdict``, as a dict."""
        d = asdict(self)
        d["crosses_one"] = self.crosses_one
        d["verdict"] = self.verdict
        return d


def _as_array(values: Sequence[float], what: str) -> np.ndarray:
    arr = np.asarray(list(values), dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{what}: expected a flat sequence of numbers")
    if arr.size == 0:
        raise ValueError(f"{what}: empty sample")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what}: non-finite value in sample")
    if np.any(arr <= 0):
        raise ValueError(f"{what}: timings must be > 0")
    return arr


def summarize(values: Sequence[float]) -> Summary:
    """Median and spread (quartiles, IQR, relative IQR, range) of ``values``.

    Units are those of ``values``. Raises ValueError for an empty sample or
    non-positive / non-finite values.
    """
    arr = _as_array(values, "values")
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    iqr = float(sps.iqr(arr))
    return Summary(
        n=int(arr.size),
        median=float(med),
        q1=float(q1),
        q3=float(q3),
        iqr=iqr,
        rel_iqr=iqr / float(med),
        minimum=float(arr.min()),
        maximum=float(arr.max()),
    )


def _samples(baseline, candidate, confidence: float) -> tuple:
    """Both samples as arrays, checked (see :func:`_as_array`), and the confidence level."""
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    return _as_array(baseline, "baseline"), _as_array(candidate, "candidate")


def _median_ratio(baseline, candidate, axis=-1):
    return np.median(baseline, axis=axis) / np.median(candidate, axis=axis)


def speedup(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int | None = DEFAULT_SEED,
) -> RatioEstimate:
    """Speedup of ``candidate`` over ``baseline`` with a bootstrap CI.

    ``baseline`` and ``candidate`` are timings (same unit, e.g. seconds per
    loop). The point estimate is ``median(baseline) / median(candidate)``; the
    interval is a two-sided ``confidence`` interval from
    ``scipy.stats.bootstrap`` over the two independent samples (BCa, or the
    percentile method when BCa yields NaN). ``seed`` makes it reproducible.

    Raises ValueError for empty samples, non-positive values or a confidence
    outside (0, 1). Samples with fewer than two values give NaN bounds.
    """
    b, c = _samples(baseline, candidate, confidence)
    ratio = float(_median_ratio(b, c))
    if b.size < 2 or c.size < 2:
        return RatioEstimate(ratio, math.nan, math.nan, confidence,
                             int(b.size), int(c.size), "none")
    if np.ptp(b) == 0 and np.ptp(c) == 0:
        # No variability at all: every resample gives the same ratio.
        return RatioEstimate(ratio, ratio, ratio, confidence,
                             int(b.size), int(c.size), "degenerate")
    low, high, used = _bootstrap_ci(b, c, _median_ratio, confidence, n_resamples, seed)
    return RatioEstimate(ratio, low, high, confidence,
                         int(b.size), int(c.size), used)


def _bootstrap_ci(b: np.ndarray, c: np.ndarray, statistic, confidence: float,
                  n_resamples: int, seed: int | None) -> tuple[float, float, str]:
    """(low, high, method) of ``statistic(b, c)`` by ``scipy.stats.bootstrap`` over the two
    independent samples: BCa, or the percentile method when BCa yields NaN."""
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sps.bootstrap(
                (b, c),
                statistic,
                n_resamples=n_resamples,
                vectorized=True,
                paired=False,
                axis=-1,
                confidence_level=confidence,
                method=method,
                rng=np.random.default_rng(seed),
            )
        low = float(res.confidence_interval.low)
        high = float(res.confidence_interval.high)
        if math.isfinite(low) and math.isfinite(high):
            return low, high, method
    return math.nan, math.nan, "none"


@dataclass(frozen=True)
class Difference:
    """``median(candidate) - median(baseline)`` (in the samples' unit) with its bootstrap CI;
    ``low``/``high`` are NaN when a sample has fewer than two values."""

    diff: float
    low: float
    high: float
    confidence: float
    method: str


def _median_diff(baseline, candidate, axis=-1):
    return np.median(candidate, axis=axis) - np.median(baseline, axis=axis)


def difference(baseline: Sequence[float], candidate: Sequence[float], *,
               confidence: float = DEFAULT_CONFIDENCE, n_resamples: int = DEFAULT_RESAMPLES,
               seed: int | None = DEFAULT_SEED) -> Difference:
    """How much more ``candidate`` costs than ``baseline`` (e.g. start-up seconds or bytes):
    the difference of medians with a bootstrap CI, as :func:`speedup` computes its ratio.

    Raises ValueError for empty samples, non-positive values or a confidence outside (0, 1).
    """
    b, c = _samples(baseline, candidate, confidence)
    d = float(_median_diff(b, c))
    if b.size < 2 or c.size < 2:
        return Difference(d, math.nan, math.nan, confidence, "none")
    if np.ptp(b) == 0 and np.ptp(c) == 0:
        return Difference(d, d, d, confidence, "degenerate")
    low, high, used = _bootstrap_ci(b, c, _median_diff, confidence, n_resamples, seed)
    return Difference(d, low, high, confidence, used)


def format_ratio(est: RatioEstimate, digits: int = 2) -> str:
    """Render an estimate as ``"1.23x [1.18, 1.29]"`` (``"1.23x [n/a]"`` without CI)."""
    r = f"{est.ratio:.{digits}f}x"
    if not est.has_ci:
        return f"{r} [n/a]"
    return f"{r} [{est.low:.{digits}f}, {est.high:.{digits}f}]"


def format_seconds(value: float) -> str:
    """Render a duration given in seconds with a readable unit (ns, us, ms, s)."""
    if not math.isfinite(value):
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"
