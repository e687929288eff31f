"""JIT lists for the ember-list mode, generated from a benchmark's own source.

Ember's ``EMBER_JIT_LIST`` file has one ``module:qualname`` pattern per line.
pyperformance scripts run as scripts, so their module is ``__main__``; the
qualnames are computed from the AST exactly as CPython computes
``__qualname__`` (``Class.method``, ``outer.<locals>.inner``). Lambdas and
comprehensions are not listed.
"""

from __future__ import annotations

import ast
from pathlib import Path

MODULE = "__main__"


def function_qualnames(source: str) -> list[str]:
    """Return the qualnames of every ``def``/``async def`` in ``source``.

    Order follows the source. Raises SyntaxError for invalid Python.
    """
    tree = ast.parse(source)
    names: list[str] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qual = prefix + child.name
                names.append(qual)
                visit(child, qual + ".<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return names


def jit_list_lines(script: Path, module: str = MODULE) -> list[str]:
    """Return the JIT-list lines (``module:qualname``) for a benchmark script.

    Raises OSError if the script cannot be read, SyntaxError if it does not parse.
    """
    return [f"{module}:{q}" for q in function_qualnames(script.read_text())]


def write_jit_list(script: Path, dest: Path, module: str = MODULE) -> int:
    """Write the JIT list for ``script`` to ``dest``; return the number of entries.

    Parent directories are created. Raises OSError/SyntaxError as
    :func:`jit_list_lines`, and ValueError when the script defines no function.
    """
    lines = jit_list_lines(script, module)
    if not lines:
        raise ValueError(f"{script} defines no function to list")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # No comment header: Ember's list format is one pattern per line, nothing else.
    dest.write_text("\n".join(lines) + "\n")
    return len(lines)
