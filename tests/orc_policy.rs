//! Every call-site policy under the real host JIT (ORC on x86-64): the mock-runtime programs
//! of `tests/jit.rs` must give the same results, refcounts and exits with each policy, and the
//! time of a helper-call-heavy loop is printed per policy (the measurement behind the host
//! default in `src/passes_llvm/policy.rs`).

mod common;

use std::sync::atomic::Ordering;
use std::time::Instant;

use common::*;
use ember::compile::{Compiler, Config};
use ember::hir::build;
use ember::passes_llvm::{Options, Policy};
use serial_test::serial;

fn sum_loop(zero: u64) -> ember::hir::wire::WireFunction {
    asm(3, 1, 3, vec![zero], SUM_LOOP)
}

#[test]
#[serial]
fn every_policy_runs_correctly_under_orc() {
    let mut report = vec![];
    for policy in Policy::ALL {
        for opt in [0, 1, 2] {
            reset();
            let mut c = Compiler::new(Config { helpers: helpers(), bitcode: vec![], opt_level: opt, ..Config::default() }).unwrap();
            c.set_llvm_passes(Options { policy, ..Options::default() }); // exits shared too
            let zero = int(0);
            let compiled = c.compile_hir(build::build(&sum_loop(zero as u64)).unwrap()).unwrap();
            let entry: Entry = unsafe { std::mem::transmute(compiled.entry) };
            let n = 100_000;
            let mut ns = f64::MAX;
            for _ in 0..5 {
                PERIODIC_CALLS.store(0, Ordering::SeqCst);
                let mut fr = Frame::new();
                fr.locals[0] = int(n);
                let t = Instant::now();
                let r = unsafe { entry(std::ptr::null_mut(), &mut *fr) };
                ns = ns.min(t.elapsed().as_nanos() as f64 / n as f64);
                assert_eq!(unsafe { val(r) }, n * (n - 1) / 2, "{policy:?} opt {opt}");
                assert_eq!(PERIODIC_CALLS.load(Ordering::SeqCst), n as u64 + 1);
                ember_decref(r);
                for i in 0..3 {
                    ember_xdecref(fr.locals[i]);
                }
            }
            ember_decref(zero);
            assert_eq!(LIVE.load(Ordering::SeqCst), 0, "{policy:?} opt {opt}: every object freed");
            // A raise exit (periodic check reports an error) and a deopt exit still work.
            for (pr, want_raise, want_deopt) in [(-1, 0, -1), (1, -1, 0)] {
                reset();
                PERIODIC_RESULT.store(pr, Ordering::SeqCst);
                let mut fr = Frame::new();
                fr.locals[0] = int(3);
                let r = unsafe { entry(std::ptr::null_mut(), &mut *fr) };
                assert_eq!(RAISED_AT.load(Ordering::SeqCst), want_raise, "{policy:?} opt {opt}");
                assert_eq!(DEOPT_AT.load(Ordering::SeqCst), want_deopt, "{policy:?} opt {opt}");
                assert!(r.is_null() == (pr < 0));
                ember_xdecref(fr.locals[0]);
            }
            report.push(format!("{:>8} opt{opt}: {:6.1} ns/iteration, {} B", policy.name(), ns, compiled.code_size));
            c.free(compiled.tracker, compiled.key);
        }
    }
    eprintln!("ORC host JIT, sum loop (7 helper calls per iteration; best of 5 runs of 100k iterations):\n{}", report.join("\n"));
}

/// The host default passes over a module linked with the real helper bitcode (what the JIT
/// inside CPython compiles): every pipeline level and policy still verifies.
/// `f` lowered as `ember_fn_1` into a module of `ctx` for `tm`'s target, with `bitcode` linked.
fn lowered_and_linked<'ctx>(
    ctx: &'ctx inkwell::context::Context,
    tm: &inkwell::targets::TargetMachine,
    f: &ember::hir::Function,
    bitcode: &[u8],
) -> inkwell::module::Module<'ctx> {
    let cref = unsafe { inkwell::context::ContextRef::new(ctx.raw()) };
    let m = ember::lower::lower(cref, f, "ember_fn_1").unwrap();
    m.set_triple(&tm.get_triple());
    m.set_data_layout(&tm.get_target_data().get_data_layout());
    ember::compile::link_bitcode(cref, &m, bitcode, "ember_fn_1").unwrap();
    m
}

#[test]
fn passes_accept_modules_linked_with_helper_bitcode() {
    use inkwell::passes::PassBuilderOptions;
    if ember::BUILTIN_BITCODE.is_empty() {
        eprintln!("SKIPPED: no helper bitcode in this build (clang-19 or CPython headers missing)");
        return;
    }
    let zero = 0x7f00_0000_1000u64;
    let f = build::build(&sum_loop(zero)).unwrap();
    let host = ember::orc::host_triple();
    let target = ember::passes_llvm::Target::parse(&host).expect("host target");
    for policy in Policy::ALL {
        for (opt, pipeline) in [(0, "globaldce"), (1, ember::compile::LIGHT_PIPELINE), (2, "globaldce,default<O2>")] {
            let ctx = inkwell::context::Context::create();
            let tm = ember::orc::target_machine(&host, inkwell::OptimizationLevel::Default).unwrap();
            let m = lowered_and_linked(&ctx, &tm, &f, ember::BUILTIN_BITCODE);
            let o = Options { policy, ..Options::default() };
            let shared = ember::passes_llvm::run_early(&m, &o).unwrap();
            assert!(shared >= 2, "{policy:?} opt {opt}: exits shared");
            m.run_passes(pipeline, &tm, PassBuilderOptions::create()).unwrap();
            let addrs = helpers().into_iter().collect();
            let st = ember::passes_llvm::run(&m, target, &o, &addrs).unwrap();
            assert!(st.lowering.sites > 0, "{policy:?} opt {opt}");
        }
    }
}

#[test]
fn prepared_helper_bitcode_links_only_the_helpers_a_function_calls() {
    // Issue 15, item 4: the helper bitcode is prepared once per compiler (linkonce_odr
    // definitions) and loaded lazily per compile, so a small function links the few helpers
    // it calls (and theirs), not all of them.
    if ember::BUILTIN_BITCODE.is_empty() {
        eprintln!("SKIPPED: no helper bitcode in this build (clang-19 or CPython headers missing)");
        return;
    }
    let f = build::build(&sum_loop(0x7f00_0000_1000)).unwrap();
    let host = ember::orc::host_triple();
    let prepared = ember::compile::prepare_bitcode(ember::BUILTIN_BITCODE).unwrap();
    let defined = |bitcode: &[u8]| {
        let ctx = inkwell::context::Context::create();
        let tm = ember::orc::target_machine(&host, inkwell::OptimizationLevel::Default).unwrap();
        let m = lowered_and_linked(&ctx, &tm, &f, bitcode);
        let mut names = vec![];
        let mut g = m.get_first_function();
        while let Some(func) = g {
            if func.count_basic_blocks() > 0 {
                names.push(func.get_name().to_string_lossy().into_owned());
            }
            g = func.get_next_function();
        }
        names
    };
    let all = defined(ember::BUILTIN_BITCODE);
    let needed = defined(&prepared);
    assert!(needed.contains(&"ember_fn_1".to_string()) && needed.iter().any(|n| n == "ember_incref"), "{needed:?}");
    assert!(needed.len() * 4 < all.len(), "prepared: {} definitions, raw: {}", needed.len(), all.len());
    assert!(needed.iter().all(|n| all.contains(n)));
    eprintln!("definitions linked: {} of {}", needed.len(), all.len());
}
