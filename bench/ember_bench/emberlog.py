"""Parse Ember's compile log: the proof that the JIT actually ran.

Ember appends one line per function to ``EMBER_LOG``::

    Finished compiling module:qualname (N bytes, T ms)
    Loaded from cache module:qualname (N bytes, T ms)
    Not compiling module:qualname: reason

Lines may carry a prefix (timestamp, pid); the patterns are searched, not
anchored. Functions of the harness's own driver (``_ember_bench*`` /
``_EmberBench*``) are ignored.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_MODULE = "__main__"

_FINISHED = re.compile(
    r"(?P<how>Finished compiling|Loaded from cache) (?P<module>[^\s:]+):(?P<qual>\S+)"
    r"(?: \((?P<bytes>\d+) bytes?, (?P<ms>[0-9.]+(?:[eE][-+]?\d+)?) ?ms\))?")
_NOT = re.compile(r"Not compiling (?P<module>[^\s:]+):(?P<qual>\S+?): (?P<reason>.*)$")
_SAMPLES = re.compile(r"Ember: cost policy took (\d+) samples")
_GUARDS = re.compile(r"(\d+) failed guards, (\d+) withdrawn")
_OFFSET = re.compile(r" at (?:code unit|offset) \d+")
_HARNESS = re.compile(r"(^|\.)(_ember_bench|_EmberBench)")


@dataclass
class LogStats:
    """What one Ember log file says about one process (or several, appended).

    ``compiled`` counts "Finished compiling" and "Loaded from cache" lines (``loaded`` the
    latter: code the persistent cache gave, its "compile" time the load), ``compiled_bench`` those in
    the benchmark module (``__main__``); ``compile_ms`` is the sum of their
    compile times in milliseconds; ``code_bytes`` the sum of machine-code
    sizes; ``rejected`` counts "Not compiling" lines and ``reasons`` groups
    them; ``excerpt`` keeps the first lines verbatim and ``bench_excerpt`` the
    first lines about benchmark-module functions; ``compile_ms_each`` lists
    each compiled function's compile time (ms, log order). ``exists`` is False when
    the file was never written (Ember not loaded or not logging). ``samples`` is what the
    cost policy's exit line reports (``Ember: cost policy took N samples; ...``; 0 without it),
    ``deopts`` and ``withdrawn`` the failed type guards and the functions withdrawn for them that
    the same line reports (typed HIR, docs/typed-hir.md).
    """

    path: str
    exists: bool = False
    compiled: int = 0
    loaded: int = 0
    compiled_bench: int = 0
    compile_ms: float = 0.0
    code_bytes: int = 0
    rejected: int = 0
    reasons: dict = field(default_factory=dict)
    excerpt: list = field(default_factory=list)
    bench_excerpt: list = field(default_factory=list)
    functions: list = field(default_factory=list)
    compile_ms_each: list = field(default_factory=list)
    samples: int = 0
    deopts: int = 0
    withdrawn: int = 0

    def as_dict(self) -> dict:
        """Return the stats as a plain dict (for JSON)."""
        return asdict(self)


def parse_log_text(text: str, path: str = "<text>", excerpt_lines: int = 12) -> LogStats:
    """Parse the text of an Ember log; see :class:`LogStats` for the fields.

    Never raises on malformed lines: unknown lines are only kept in the excerpt.
    """
    st = LogStats(path=path, exists=True)
    reasons: Counter = Counter()
    for line in text.splitlines():
        if len(st.excerpt) < excerpt_lines and line.strip():
            st.excerpt.append(line.rstrip())
        if (len(st.bench_excerpt) < excerpt_lines and f" {BENCH_MODULE}:" in line
                and not _HARNESS.search(line)):
            st.bench_excerpt.append(line.rstrip())
        m = _FINISHED.search(line)
        if m:
            if _HARNESS.search(m.group("qual")):
                continue
            st.compiled += 1
            st.loaded += m.group("how") == "Loaded from cache"
            name = f"{m.group('module')}:{m.group('qual')}"
            st.functions.append(name)
            if m.group("module") == BENCH_MODULE:
                st.compiled_bench += 1
            if m.group("ms"):
                st.compile_ms += float(m.group("ms"))
                st.compile_ms_each.append(float(m.group("ms")))
            if m.group("bytes"):
                st.code_bytes += int(m.group("bytes"))
            continue
        m = _SAMPLES.search(line)
        if m:
            st.samples += int(m.group(1))
            g = _GUARDS.search(line)
            if g:
                st.deopts += int(g.group(1))
                st.withdrawn += int(g.group(2))
            continue
        m = _NOT.search(line)
        if m:
            if _HARNESS.search(m.group("qual")):
                continue
            st.rejected += 1
            # Group "unsupported: opcode X at code unit 12" by opcode, not by offset.
            reasons[_OFFSET.sub("", m.group("reason").strip())] += 1
    st.reasons = dict(reasons.most_common())
    return st


def compile_times(text: str) -> list:
    """Each ``Finished compiling`` line of an Ember log as ``(module:qualname, ms)``, in log
    order (cache loads are not compiles and are left out)."""
    out = []
    for line in text.splitlines():
        m = _FINISHED.search(line)
        if m and m.group("how") == "Finished compiling" and m.group("ms"):
            out.append((f"{m.group('module')}:{m.group('qual')}", float(m.group("ms"))))
    return out


def parse_log(path: Path, excerpt_lines: int = 12) -> LogStats:
    """Parse the Ember log at ``path``; a missing file gives ``exists=False``.

    Raises OSError only for unreadable existing files.
    """
    p = Path(path)
    if not p.exists():
        return LogStats(path=str(p), exists=False)
    return parse_log_text(p.read_text(errors="replace"), str(p), excerpt_lines)


def validity(st: LogStats, require_bench: bool = True, cost_policy_may_skip: bool = False) -> tuple[bool, str]:
    """Decide whether a process's log proves JIT activity (on benchmark code).

    Returns ``(valid, reason)``: valid only when the log exists and at least
    one function of the benchmark module (``__main__``) was compiled; with
    ``require_bench`` False (Ember at its default threshold, which may rightly
    find no benchmark function hot in a short process), one compiled function
    of any module suffices. With ``cost_policy_may_skip`` (Ember's default policy in a
    whole-process run), a process that compiled nothing is valid when the log proves the cost
    policy ran (its exit line with the samples it took): in a short process, compiling nothing
    is the policy's right answer.
    """
    if not st.exists:
        return False, "no Ember log written (Ember not loaded?)"
    if cost_policy_may_skip and st.compiled == 0 and st.samples > 0:
        return True, f"0 functions compiled: the cost policy found none worth it ({st.samples} samples)"
    if not require_bench and st.compiled:
        return True, (f"{st.compiled} functions compiled, {st.compiled_bench} of the "
                      "benchmark module")
    if st.compiled_bench == 0:
        if st.compiled:
            return False, f"0 benchmark functions compiled ({st.compiled} other)"
        return False, "0 functions compiled"
    return True, f"{st.compiled_bench} benchmark functions compiled"
