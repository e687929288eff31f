# bench/bench.mk -- Makefile fragment of Ember's benchmark harness (see bench/README.md).
#
# Included by the main Makefile, which must define `setup` (creates .venv from
# pyenv's CPython 3.13.0 and installs ember, pyperformance, pyperf, pytest).
#
#   make bench                     full run (< 60 min): 12 benchmarks, nojit + ember-auto + peers
#   make bench-quick               5-minute smoke run (same, with --quick)
#   make bench BENCH_ARGS="-b richards,go -c ember-auto,cinderx,ember-pgo"
#   make peers                     (re)install the peers only: PyPy, pyston-lite, Debian's
#                                  CPython 3.14 (+ its JIT, CinderX) and 3.13 (+ ember-pgo)
#   make bench-test                the harness's own tests (statistics, compare)
#
# Peers are best effort: a peer that cannot be installed is reported by the run
# ("NOT RUN: <reason>"), it never fails the target.

BENCH_DIR          := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
BENCH_ROOT         := $(abspath $(BENCH_DIR)/..)
BENCH_VENV         ?= $(BENCH_ROOT)/.venv
BENCH_PY           := $(BENCH_VENV)/bin/python
BENCH_ARGS         ?=
BENCH_PYPY_VENV    := $(BENCH_ROOT)/.venv-pypy
BENCH_PYSTON_VENV  := $(BENCH_ROOT)/.venv-pyston
BENCH_CINDERX_VENV := $(BENCH_ROOT)/.venv-cinderx
BENCH_PYSTON_BASE  ?= 3.10.13
BENCH_DEPS_STAMP   := $(BENCH_VENV)/.ember-bench-deps
# The harness process itself never runs under Ember; each benchmark process
# gets exactly the EMBER_* variables of its mode.
BENCH_RUN = env -u EMBER_AUTO -u EMBER_JIT_LIST -u EMBER_LOG EMBER_DISABLE=1 \
	$(BENCH_PY) $(abspath $(BENCH_DIR))/run.py run --python $(BENCH_PY)
# Same pyperf version in every interpreter where it installs (pyperf 2.11 needs Python 3.11;
# PyPy 3.9 and CPython 3.10 fall back to the newest pyperf that supports them).
BENCH_PYPERF_PIN = $$($(BENCH_PY) -c 'import pyperf; print("pyperf==" + pyperf.__version__)' 2>/dev/null || echo pyperf)

.PHONY: bench bench-quick bench-deps bench-peers bench-peer-pypy bench-peer-pyston \
	peers bench-test

# Exit code 3 means the tables were written but some Ember results are INVALID (no proof
# of JIT activity, e.g. every benchmark function refused); the tables say so, so make
# still succeeds. Any other failure fails the target.
BENCH_OK_IF_INVALID = st=$$?; if [ $$st -eq 3 ]; then echo "bench: some Ember results are INVALID (see summary.md)"; else exit $$st; fi

BENCH_PEERS_DEP = $(if $(findstring --no-peers,$(BENCH_ARGS)),,peers)

bench: setup bench-deps $(BENCH_PEERS_DEP)
	$(BENCH_RUN) $(BENCH_ARGS) || { $(BENCH_OK_IF_INVALID); }

bench-quick: setup bench-deps $(BENCH_PEERS_DEP)
	$(BENCH_RUN) --quick $(BENCH_ARGS) || { $(BENCH_OK_IF_INVALID); }

bench-deps: $(BENCH_DEPS_STAMP)

$(BENCH_DEPS_STAMP): $(BENCH_DIR)/requirements.txt | setup
	$(BENCH_PY) -m pip install -q -r $(BENCH_DIR)/requirements.txt
	touch $@

bench-test: bench-deps
	$(BENCH_PY) -m pytest -q $(BENCH_ROOT)/tests/python/test_bench_stats.py

bench-peers: peers

# PyPy 3 from Debian. pypy3 -m pip does not exist there; pypy3-venv brings
# ensurepip, so a venv gets pip. pyperf is installed with --no-deps: its
# psutil dependency does not build for PyPy without pypy3-dev and pyperf runs
# without it.
bench-peer-pypy: bench-deps
	@if ! command -v pypy3 >/dev/null 2>&1; then \
	  echo "bench: installing Debian's pypy3"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pypy3 pypy3-venv >/dev/null; } \
	  || echo "bench: WARNING: could not install pypy3; the PyPy peer will not run"; \
	fi
	@if command -v pypy3 >/dev/null 2>&1 && ! $(BENCH_PYPY_VENV)/bin/python -c 'import pyperf' >/dev/null 2>&1; then \
	  echo "bench: creating $(BENCH_PYPY_VENV)"; \
	  rm -rf $(BENCH_PYPY_VENV); \
	  if ! pypy3 -m venv $(BENCH_PYPY_VENV) >/dev/null 2>&1; then \
	    echo "bench: pypy3 -m venv failed; installing pypy3-venv (pip wheels for ensurepip)"; \
	    rm -rf $(BENCH_PYPY_VENV); \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pypy3-venv; } >/dev/null 2>&1 \
	      && pypy3 -m venv $(BENCH_PYPY_VENV); \
	  fi; \
	  { $(BENCH_PYPY_VENV)/bin/python -m pip install -q --no-deps $(BENCH_PYPERF_PIN) 2>/dev/null \
	    || $(BENCH_PYPY_VENV)/bin/python -m pip install -q --no-deps pyperf; } \
	  || echo "bench: WARNING: PyPy venv set-up failed; the PyPy peer will not run"; \
	fi

# pyston-lite (PyPI, wheels up to CPython 3.10) in a venv of pyenv's CPython 3.10.
# pyston_lite_autoload enables it at start-up unless DISABLE_PYSTON is set,
# which gives the peer's own no-JIT baseline with the same binary.
bench-peer-pyston: bench-deps
	@base=$$(pyenv prefix $(BENCH_PYSTON_BASE) 2>/dev/null || true); \
	[ -n "$$base" ] || base=$${PYENV_ROOT:-$$HOME/.pyenv}/versions/$(BENCH_PYSTON_BASE); \
	if [ ! -x "$$base/bin/python" ]; then \
	  echo "bench: WARNING: no CPython $(BENCH_PYSTON_BASE) from pyenv; the pyston-lite peer will not run"; \
	elif ! $(BENCH_PYSTON_VENV)/bin/python -c 'import pyston_lite, pyperf' >/dev/null 2>&1; then \
	  echo "bench: creating $(BENCH_PYSTON_VENV) from $$base"; \
	  rm -rf $(BENCH_PYSTON_VENV); \
	  { "$$base/bin/python" -m venv $(BENCH_PYSTON_VENV) \
	    && { $(BENCH_PYSTON_VENV)/bin/python -m pip install -q pyston_lite_autoload $(BENCH_PYPERF_PIN) 2>/dev/null \
	      || $(BENCH_PYSTON_VENV)/bin/python -m pip install -q pyston_lite_autoload pyperf; }; } \
	  || echo "bench: WARNING: pyston-lite venv set-up failed; the pyston-lite peer will not run"; \
	fi

# The native-JIT peers (issue 14): Debian sid's PGO-built CPython 3.14 (its own JIT with
# PYTHON_JIT=1, and CinderX) and 3.13.x (with Ember built for it) in private prefixes under
# .peers/ (see bench/ember_bench/debprefix.py and peersetup.py). Idempotent; what cannot be
# fetched is named in a warning and those peers are reported as not run.
peers: bench-deps bench-peer-pypy bench-peer-pyston
	@$(BENCH_PY) $(abspath $(BENCH_DIR))/run.py setup-peers \
	  || echo "bench: WARNING: some native-JIT peers are not set up (see above); the bench reports them as not run"
