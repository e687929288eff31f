"""Tests of bench/shares.py's sample categories and its report (synthetic ``perf report`` text:
no perf, no benchmark process)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import shares  # noqa: E402

REPORT = """\
# To display the perf.data header info, please use --header/--header-only options.
#
     9.41%|1173|python|jitted-17249-3.so|[.] ember:bm:Point.normalize
     7.50%|934|python|libpython3.13.so.1.0|[.] _PyObject_Free
     4.90%|610|python|libpython3.13.so.1.0|[.] _PyEval_EvalFrameDefault
     3.41%|425|python|libm.so.6|[.] __sin_fma
     2.60%|324|python|libpython3.13.so.1.0|[.] subtype_dealloc
     2.00%|250|python|libpython3.13.so.1.0|[.] subtype_traverse
     1.90%|240|python|libpython3.13.so.1.0|[.] gc_collect_main
     1.07%|133|python|_shim.cpython-313-x86_64-linux-gnu.so|[.] ember_call_class
     1.40%|175|python|[kernel.kallsyms]|[k] exc_page_fault
     1.32%|165|python|libpython3.13.so.1.0|[.] list_slice_lock_held
     0.50%|60|ember-compile|libLLVM.so.19.1|[.] llvm::SelectionDAG::Combine
"""


def test_categories_of_known_symbols():
    assert shares.category("jitted-1-2.so", "ember:m:f") == "compiled"
    assert shares.category("libpython3.13.so.1.0", "_PyEval_EvalFrameDefault") == "interpreter"
    assert shares.category("libpython3.13.so.1.0", "visit_decref") == "gc"
    assert shares.category("libpython3.13.so.1.0", "list_traverse") == "gc"
    assert shares.category("libpython3.13.so.1.0", "_PyFloat_ExactDealloc") == "memory"
    assert shares.category("libpython3.13.so.1.0", "list_dealloc") == "memory"
    assert shares.category("ld-linux-x86-64.so.2", "__tls_get_addr") == "memory"
    assert shares.category("_shim.cpython-313-x86_64-linux-gnu.so", "push_stolen_and_enter") == "ember helpers"
    assert shares.category("libm.so.6", "__cos_fma") == "libm"
    assert shares.category("[kernel.kallsyms]", "clear_page_erms") == "kernel"
    assert shares.category("libpython3.13.so.1.0", "PyLong_FromLong") == "other C"


def test_parse_report_sums_per_category_without_the_compile_thread():
    got = shares.parse_report(REPORT)
    assert got == {"compiled": 1173, "interpreter": 610, "ember helpers": 133, "gc": 490, "memory": 1258,
                   "libm": 425, "kernel": 175, "other C": 165}


def test_report_gives_ceilings_from_the_samples():
    nojit = dict.fromkeys(shares.CATEGORIES, 0)
    nojit.update({"interpreter": 3000, "memory": 1000})
    ember = dict.fromkeys(shares.CATEGORIES, 0)
    ember.update({"compiled": 500, "ember helpers": 100, "memory": 1000})
    text = shares.report("b", [(nojit, ember)], runs=10)
    # 4000 samples over 1600: 2.5x; without compiled code 4000 / 1100; without helpers 4000 / 1000.
    assert "profiled speedup: 2.50" in text
    assert "ceiling(compiled): 3.64" in text
    assert "ceiling(compiled+helpers): 4.00" in text
    # 3000 samples at 2000 Hz over 10 calls: 150 ms a call.
    assert "| interpreter | 150.00 [150.00, 150.00] | 0.00 [0.00, 0.00] | 0.0% |" in text
