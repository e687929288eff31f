"""``compare``: speedup from one result file to another, with its bootstrap CI.

Typical use is across commits: run ``make bench`` on commit A and on commit
B, then compare ``results/A/steady/ember-auto.json`` (from) with
``results/B/steady/ember-auto.json`` (to). Any pyperf JSON file works (a
single benchmark or a suite). For every benchmark present in both files it
reports ``median(from) / median(to)`` (above 1.0: *to* is faster), the CI and
whether the CI crosses 1.0. Note that two separate runs are not interleaved:
machine drift between them is not controlled for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import stats
from .results import load_values


@dataclass
class Comparison:
    """One benchmark's comparison: medians (seconds) and the speedup estimate."""

    bench: str
    from_median: float
    to_median: float
    estimate: stats.RatioEstimate

    def as_dict(self) -> dict:
        """Return the comparison as a plain dict (for JSON)."""
        return {"bench": self.bench, "from_median_s": self.from_median,
                "to_median_s": self.to_median, **self.estimate.as_dict()}


class CompareError(ValueError):
    """The files cannot be compared (missing, unreadable, nothing in common)."""


def compare_values(from_values: dict, to_values: dict, *, benches: list | None = None,
                   confidence: float = stats.DEFAULT_CONFIDENCE,
                   n_resamples: int = stats.DEFAULT_RESAMPLES,
                   seed: int | None = stats.DEFAULT_SEED) -> list:
    """Compare ``{bench: [seconds]}`` dicts; returns a list of :class:`Comparison`.

    Only benchmarks in both dicts (and in ``benches`` when given) are
    compared, in sorted order. Raises CompareError when none is common.
    """
    common = sorted(set(from_values) & set(to_values))
    if benches:
        common = [b for b in common if b in benches]
    if not common:
        raise CompareError(
            f"no benchmark in common (from: {sorted(from_values)}, to: {sorted(to_values)})")
    out = []
    for b in common:
        est = stats.speedup(from_values[b], to_values[b], confidence=confidence,
                            n_resamples=n_resamples, seed=seed)
        out.append(Comparison(b, stats.summarize(from_values[b]).median,
                              stats.summarize(to_values[b]).median, est))
    return out


def compare_files(from_path: Path, to_path: Path, **kw) -> list:
    """Load two pyperf JSON files and :func:`compare_values` them.

    Keyword arguments are passed on. Raises CompareError for missing or
    unreadable files.
    """
    loaded = []
    for p in (from_path, to_path):
        if not Path(p).is_file():
            raise CompareError(f"no such result file: {p}")
        try:
            loaded.append(load_values(Path(p)))
        except Exception as exc:  # pyperf raises assorted errors for bad JSON
            raise CompareError(f"cannot read {p} as pyperf JSON: {exc}") from exc
    return compare_values(loaded[0], loaded[1], **kw)


def format_comparisons(rows: list, from_name: str = "from", to_name: str = "to") -> str:
    """Render comparisons as a markdown table with a verdict per benchmark."""
    conf = int(round(100 * rows[0].estimate.confidence)) if rows else 95
    lines = [f"Speedup of {to_name} over {from_name} = median(from) / median(to); "
             "above 1.0 means faster.", "",
             f"| benchmark | from | to | speedup [{conf}% CI] | crosses 1.0 | verdict |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        e = r.estimate
        lines.append(f"| {r.bench} | {stats.format_seconds(r.from_median)} | "
                     f"{stats.format_seconds(r.to_median)} | {stats.format_ratio(e, 3)} | "
                     f"{'yes' if e.crosses_one else 'no'} | {e.verdict} |")
    return "\n".join(lines)
