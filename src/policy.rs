//! The cost model of autojit's default policy, "compile where it pays" (issue 15; the shim's
//! `take_sample` in `cpython-glue/shim.c` applies it, `docs/compilation.md` explains it).
//!
//! A sampler thread asks every [`EMBER_SAMPLE_INTERVAL_US`] for one sample of the Python
//! frame that holds the GIL (a pending call, run at the interpreter's next eval-breaker
//! check). A code object found running in the interpreter `n` times has spent about
//! `n * EMBER_SAMPLE_INTERVAL_US` µs there, calls and loops alike. Assuming it runs as long
//! again (the usual prediction of adaptive systems, e.g. Jikes RVM's), compiling it saves
//! [`EMBER_SAVING_PERCENT`] % of that, and costs
//! `EMBER_COST_FIXED_US + EMBER_COST_PER_CODE_UNIT_US * code_units` µs of compile time. It is
//! compiled once the saving reaches the cost:
//!
//! ```text
//! n * EMBER_SAMPLE_INTERVAL_US * EMBER_SAVING_PERCENT / 100
//!     >= EMBER_COST_FIXED_US + EMBER_COST_PER_CODE_UNIT_US * code_units
//! ```
//!
//! So a 20-code-unit function needs 64 samples (64 ms of interpreted time) and a 4,000-unit
//! one 5,636 (5.6 s): huge functions compile only when very hot. The constants live here, in the one
//! definition the generated header (`include/ember.h`) gives the shim, because the shim must
//! decide before libember.so (and LLVM with it) is loaded.

/// Sampling period of the cost policy's sampler thread (µs).
pub const EMBER_SAMPLE_INTERVAL_US: u64 = 1000;

/// Fixed compile cost of a function (µs of compile-thread CPU): measured for `return a+b`
/// at the default optimisation level (issue 15: about 9 ms).
pub const EMBER_COST_FIXED_US: u64 = 9000;

/// Compile cost per code unit (µs; `Py_SIZE` of the code object, inline caches included):
/// issue 15 measured about 0.35 ms per code unit beyond the fixed cost.
pub const EMBER_COST_PER_CODE_UNIT_US: u64 = 350;

/// Share of a function's interpreted time that its compiled code saves (%): the first tier's
/// measured steady-state speed-up is about 1.1–1.3× (`make bench`), a saving of 10–25 %.
pub const EMBER_SAVING_PERCENT: u64 = 25;
