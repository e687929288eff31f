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
//!     >= (EMBER_COST_FIXED_US + EMBER_COST_PER_CODE_UNIT_US * code_units) * share / 100
//!        + (EMBER_COST_FIRST_COMPILE_US if libember.so is not loaded yet)
//! ```
//!
//! where `share` is [`EMBER_COST_BACKGROUND_PERCENT`] or 100 (see below).
//!
//! The compile cost is what the program waits for, not all the CPU it takes: with background
//! compilation and a spare CPU, only [`EMBER_COST_BACKGROUND_PERCENT`] % of it counts (the
//! compile thread runs beside the program; what remains is contention, the wait for a compile
//! still running at exit, and the chance that the program ends before the code pays). The
//! first compile of a process also loads libember.so and LLVM on the interpreter thread:
//! [`EMBER_COST_FIRST_COMPILE_US`] more. A sample in a frame the interpreter was entered for
//! from C (from compiled code, or from a C function such as `sorted`) counts
//! [`EMBER_BOUNDARY_WEIGHT`] times: compiling that function also saves the C-level entry into
//! the interpreter, which costs about as much as a small function's body, so it saves about
//! all of that time rather than [`EMBER_SAVING_PERCENT`] % of it.
//!
//! So, on the compile thread with a spare CPU, a 20-code-unit function needs 16 ms of
//! interpreted time (4 samples) once LLVM is loaded, and a 4,000-unit one 1.4 s (282 samples):
//! huge functions compile only when very hot; the first compile of a process (a 20-unit
//! function) waits for 60 ms of hot code (225 ms without a spare CPU), so that short scripts
//! compile nothing and never load LLVM. Synchronous compilation
//! (`EMBER_BACKGROUND=0`) counts the whole cost: 64 ms and 5.6 s. The constants live here, in the one
//! definition the generated header (`include/ember.h`) gives the shim, because the shim must
//! decide before libember.so (and LLVM with it) is loaded.

/// Sampling period of the cost policy's sampler thread (µs). At 1 ms the sampler cost about
/// 5 % of a whole-process run's CPU time on a 2-CPU VM (a wake-up plus a pending call, about
/// 15 µs each); at 5 ms no cost was measurable.
pub const EMBER_SAMPLE_INTERVAL_US: u64 = 5000;

/// Fixed compile cost of a function (µs of compile-thread CPU): measured for `return a+b`
/// at the default optimisation level (issue 15: about 9 ms).
///
/// Re-measured on 2026-12-04 by `bench/compile_cost.py` (a Theil-Sen fit of compile time
/// against code units over the 377 functions richards, go and nbody compile): 12.6 ms + 0.216
/// ms per unit, so this model overestimates functions of 100-800 units by 30-50 % (and large
/// typed ones, such as nbody's `advance`, 150 ms for about 400 units, hardly at all). The fitted
/// constants were tried and not kept: with them nbody's first run queued `advance` late, the
/// process ended before its compile did and exit waited 12-115 ms for it (0.74x [0.66, 0.88]
/// the interpreter, run `cold-20261204d`, against 1.02x with these), and raytrace's first runs
/// compiled 1-7 functions instead of 0-2. A cheaper estimate only helps once a compile still
/// running at exit costs nothing; see `docs/compilation.md`.
pub const EMBER_COST_FIXED_US: u64 = 9000;

/// Compile cost per code unit (µs; `Py_SIZE` of the code object, inline caches included):
/// issue 15 measured about 0.35 ms per code unit beyond the fixed cost (see
/// [`EMBER_COST_FIXED_US`] for the re-measurement).
pub const EMBER_COST_PER_CODE_UNIT_US: u64 = 350;

/// Share of the compile cost counted when the compile runs on the compile thread and the
/// machine has a CPU to spare: more than one, and over the last second at least half a CPU idle
/// or used by Ember's own compile thread (shim.c `spare_cpu`; on a busy machine the compile
/// thread's CPU time is the program's) (%).
pub const EMBER_COST_BACKGROUND_PERCENT: u64 = 25;

/// Extra cost of the first compile of a process (µs): loading libember.so with LLVM and
/// initialising the compiler, and the memory that brings (about 46 MB of RSS). With LLVM
/// linked statically (issue 17) the log's "compiler loaded in" reads 12.0–16.2 ms on the
/// calling thread (6 runs, interleaved with the dynamic build's 21.7–35.4 ms; issue 15 had
/// measured about 39 ms). It stays at 40 ms: at 20 ms a 35 ms script (7 samples, some of them
/// weighted) started loading LLVM on Debian's PGO build and ended before anything compiled
/// (`test_a_short_script_compiles_nothing_and_never_loads_llvm`). Under the cost policy the
/// load runs on a loader thread, so it is scaled like a compile by
/// [`EMBER_COST_BACKGROUND_PERCENT`] when a second CPU is free.
pub const EMBER_COST_FIRST_COMPILE_US: u64 = 40_000;

/// What a warm start that brings nothing costs the program (µs): the compiler loaded at start-up
/// (libember.so is 57 MB with LLVM linked in; its load on the loader thread contends with the
/// program's own start-up for the dynamic loader's lock and the disk), then every function with a
/// hot marker loaded at its first sample however little it runs, and at exit the functions of
/// 2-3 samples that a process with the compiler loaded keeps for precompilation. Measured on the
/// 2-CPU VM in deltablue's 84 ms process, whose program key (the benchmark driver's) carried a
/// marker from other benchmarks' runs: +7.6 ms [+5.1, +10.8] over the interpreter against +0.8 ms
/// [-1.0, +2.9] without the warm start (16 interleaved runs each, median difference, 95 %
/// bootstrap interval). A warm start is taken only when the earlier run's paying samples (those of
/// the functions it compiled or loaded, before and after, plus those of the functions it handed
/// on to be compiled for later runs) save at least this much at [`EMBER_SAVING_PERCENT`]:
/// `paying * EMBER_SAMPLE_INTERVAL_US * EMBER_SAVING_PERCENT / 100 >= EMBER_COST_WARM_START_US`,
/// 6 samples (shim.c `shim_warm_start`). Without that test such a run (4 paying samples of 13:
/// some cached import machinery) left a marker, and every later run of the program took a warm
/// start for nothing and left the marker again. nbody's and spectral_norm's runs, which a warm
/// start makes 1.1-1.3x faster, have 9-24 paying samples.
pub const EMBER_COST_WARM_START_US: u64 = 7_000;

/// Cost of a function the persistent code cache most likely holds (µs): one that left a hot
/// marker in the cache (shim.c `cache_warm`) because an earlier process compiled it. Loading
/// from the cache took 0.1–0.7 ms per function (`make test-cpython-cache`: 10.4 s for 18,125
/// loads) against 26 ms median for a compile, plus serialisation; it is not scaled by code
/// size. [`EMBER_COST_FIRST_COMPILE_US`] still applies to the first one.
pub const EMBER_COST_CACHED_US: u64 = 1000;

/// With the code cache on, a function whose saving has reached this share (%) of its compile
/// cost, but not all of it, leaves a hot marker for later processes without being compiled in
/// this one (shim.c `take_sample`): it would have paid had the process run about twice as long,
/// and a later process of the same program prices it as a cache load and compiles it at its
/// first sample, which stores it for the processes after. This process's decisions do not
/// change (a first run is not slowed); a program run again and again (tests, scripts, short
/// services) gets compiled code from its second run on.
pub const EMBER_PROMISING_PERCENT: u64 = 50;

/// Load-only requests (`EMBER_WIRE_FLAG_CACHE_ONLY`) a function gets on a warm start before it is
/// priced as a compile for good (shim.c `warm_priced`): its cached code was specialised for a
/// profile this process may reach only later (the interpreter quickens each instruction at its
/// first executions), so a miss waits for twice the samples and asks again.
pub const EMBER_LOAD_ONLY_TRIES: i32 = 3;

/// Samples after a compile first pays, on a warm start, during which a function an earlier
/// process compiled is still only asked for as a load (shim.c `take_sample`): that process
/// compiled it about this much later, after its compiler had loaded (about 13 ms, 3 samples),
/// on the profile its cached code is specialised for. Compiled at once instead, fannkuch's
/// main function was specialised on a profile still forming and ran 10 % slower in every later
/// run, which loaded that code.
pub const EMBER_LOAD_ONLY_GRACE: u64 = 4;

/// Weight of a sample taken in a frame the interpreter was entered for from C (100 % saved
/// instead of [`EMBER_SAVING_PERCENT`] %).
pub const EMBER_BOUNDARY_WEIGHT: u64 = 4;

/// Share of a function's interpreted time that its compiled code saves (%). The median of the
/// 12 benchmarks' steady-state speed-ups at Ember's defaults is 1.34x (run `steady-20261204c`),
/// a saving of 1 - 1 / 1.34 = 25 %; per benchmark they range over 1.09-3.26x (8-69 %). Their
/// geomean, 1.57x (36 %), is pulled up by the numeric benchmarks, whose hot code is a few
/// functions; most functions a program compiles are call- and attribute-heavy code, which saves
/// less. Set to 35 % for one run (`cold-20261204c`), the first runs of raytrace and float
/// compiled 2-5 functions (0-2 before) and ran 0.78x [0.69, 0.92] and 0.86x [0.73, 1.03] of the
/// interpreter, against 0.97x and 0.92x before, so it stays at the median. (It was 25 % from
/// the start, when the first tier ran 1.1-1.3x.)
pub const EMBER_SAVING_PERCENT: u64 = 25;

/// Tax of the PEP 523 generator hook on the rest of a process (% of its time so far). The first
/// compile of a generator-family function (generator, coroutine, async generator, generator
/// expression) installs the hook that resumes compiled generators (shim.c `ember_eval_frame`);
/// with it on, CPython inlines no interpreted Python-to-Python call (`CALL_PY_EXACT_ARGS`,
/// `FOR_ITER_GEN` and `SEND_GEN` deoptimise), so every interpreted call recurses on the C stack.
/// Under the policy's "runs as long again" prediction, the time still to come is about the time
/// sampled so far (`samples` in `ember.stats()` times [`EMBER_SAMPLE_INTERVAL_US`]); the hook
/// slows the part of it that runs outside the functions already compiled (`samples_compiled`)
/// by this share, which the first generator-family compile adds to its cost, unscaled (the
/// interpreter's thread pays it). So with nothing compiled yet the first generator compiled must
/// have taken about 60 % of the samples (15 / 25), more with its compile cost, and less where
/// the rest of the hot code is compiled; once the hook is on, others are priced as functions.
/// Measured (`bench/hook_tax.py`, pyperf, 3 interleaved pairs of `--fast`
/// runs): interpreted call-heavy code (recursive `fib`, a method call per loop iteration), median
/// 1.72 ms with the hook off against 2.37 ms on (1.38x); nqueens' whole process, mostly
/// allocation and C calls, 0.80x the interpreter with the hook against 0.94x without (issue 15's
/// notes: 15-17 % of its time). Programs are seldom all calls, so the constant is nqueens' figure.
pub const EMBER_GEN_HOOK_TAX_PERCENT: u64 = 15;
