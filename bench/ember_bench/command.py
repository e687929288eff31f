"""Time one whole process with ``pyperf command`` (wall time; pyperf also records the child's
peak RSS as ``command_max_rss``), in a clean environment: the child gets exactly
:func:`ember_bench.configs.base_environ` plus the given variables (``env -i``), and the timing
process itself never runs Ember. Used by ``bench/startup.py`` and ``bench/suite.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .configs import base_environ


def time_process(argv: list, env: dict, dest: Path, name: str, cwd: Path | None = None) -> int:
    """Runs `argv` once under ``pyperf command``, appending one value (seconds) to the pyperf
    JSON file `dest` under benchmark `name`. Returns pyperf's exit status (non-zero when the
    child failed)."""
    child = base_environ()
    child.update(env)
    inner = [shutil.which("env") or "/usr/bin/env", "-i"] + [f"{k}={v}" for k, v in sorted(child.items())]
    outer = base_environ()
    outer["EMBER_DISABLE"] = "1"
    proc = subprocess.run([sys.executable, "-m", "pyperf", "command", "--worker", "--loops", "1",
                           "--warmups", "0", "--values", "1", "--name", name,
                           "--append", str(dest), "--", *inner, *argv],
                          env=outer, capture_output=True, text=True, cwd=cwd)
    return proc.returncode
