//! Lowering + ORC tests: small HIR programs compiled through LLVM and run natively against a
//! mock runtime (Rust helpers over mock objects), checking results, reference counts, raise
//! and deopt exits, frame-state spills and `instr_ptr` maintenance.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use ember::compile::{Compiler, Config};
use ember::hir::{build, Op};
use serial_test::serial;

fn compiler(opt: u32) -> Compiler {
    Compiler::new(Config { helpers: helpers(), bitcode: vec![], opt_level: opt, ..Config::default() }).expect("compiler")
}

unsafe fn run(c: &mut Compiler, w: &ember::hir::wire::WireFunction, args: &[*mut Obj]) -> (*mut Obj, Box<Frame>) {
    let compiled = c.compile_hir(build::build(w).unwrap()).unwrap();
    assert!(compiled.code_size > 0);
    let entry: Entry = std::mem::transmute(compiled.entry);
    let mut fr = Frame::new();
    for (i, a) in args.iter().enumerate() {
        fr.locals[i] = *a;
    }
    let r = entry(std::ptr::null_mut(), &mut *fr);
    (r, fr)
}

unsafe fn clear_locals(fr: &mut Frame, n: usize) {
    for i in 0..n {
        ember_xdecref(fr.locals[i]);
        fr.locals[i] = std::ptr::null_mut();
    }
}

#[test]
#[serial]
fn sum_loop_runs_at_every_opt_level() {
    for opt in [0, 1, 2] {
        reset();
        let mut c = compiler(opt);
        let zero = int(0);
        let w = asm(3, 1, 3, vec![zero as u64], SUM_LOOP);
        unsafe {
            let (r, mut fr) = run(&mut c, &w, &[int(10)]);
            assert_eq!(val(r), 45, "opt {opt}");
            assert_eq!(PERIODIC_CALLS.load(Ordering::SeqCst), 11, "RESUME + 10 backward jumps");
            ember_decref(r);
            clear_locals(&mut fr, 3);
            ember_decref(zero);
        }
        assert_eq!(LIVE.load(Ordering::SeqCst), 0, "every object freed at opt {opt}");
    }
}

#[test]
#[serial]
fn branches_and_compare() {
    reset();
    let mut c = compiler(2);
    // def f(a, b): return a if a > b else b
    let code: &[(Op, &[i64])] = &[
        (Op::Resume, &[]),
        (Op::LoadFast, &[0]),
        (Op::LoadFast, &[1]),
        (Op::CompareOp, &[(4 << 5) | 16, 0, 4]),
        (Op::PopJumpIfFalse, &[7]),
        (Op::LoadFast, &[0]),
        (Op::ReturnValue, &[]),
        (Op::LoadFast, &[1]),
        (Op::ReturnValue, &[]),
    ];
    for (a, b, want) in [(3, 2, 3), (2, 3, 3), (-5, -5, -5)] {
        unsafe {
            let (r, mut fr) = run(&mut c, &asm(2, 2, 2, vec![], code), &[int(a), int(b)]);
            assert_eq!(val(r), want);
            ember_decref(r);
            clear_locals(&mut fr, 2);
        }
    }
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
}

#[test]
#[serial]
fn raise_spills_frame_state_and_sets_instr_ptr() {
    reset();
    let mut c = compiler(2);
    // return (a, a // b)  modelled as: push a (kept below), a // b fails when b == 0
    let code: &[(Op, &[i64])] = &[
        (Op::Resume, &[]),
        (Op::LoadFast, &[0]),
        (Op::LoadFast, &[0]),
        (Op::LoadFast, &[1]),
        (Op::BinaryOp, &[2, 0, 4]),
        (Op::BinaryOp, &[0, 0, 0]),
        (Op::ReturnValue, &[]),
    ];
    unsafe {
        let (r, mut fr) = run(&mut c, &asm(2, 2, 3, vec![], code), &[int(7), int(0)]);
        assert!(r.is_null(), "the raise exit returns NULL");
        assert_eq!(RAISED_AT.load(Ordering::SeqCst), 4, "raised at the failing BinaryOp");
        assert_eq!(RAISED_DEPTH.load(Ordering::SeqCst), 1, "one value (a) below the consumed inputs");
        assert_eq!(fr.instr_ptr, CODE_BASE + 2 * 4, "instr_ptr points at the failing instruction");
        clear_locals(&mut fr, 2);
        reset();
        let (r, mut fr) = run(&mut c, &asm(2, 2, 3, vec![], code), &[int(7), int(2)]);
        assert_eq!(val(r), 10);
        ember_decref(r);
        clear_locals(&mut fr, 2);
    }
    assert_eq!(LIVE.load(Ordering::SeqCst), 0, "spilled values were released by the runtime");
}

#[test]
#[serial]
fn periodic_check_can_deopt_mid_loop() {
    reset();
    let mut c = compiler(1);
    let zero = int(0);
    let w = asm(3, 1, 3, vec![zero as u64], SUM_LOOP);
    PERIODIC_RESULT.store(1, Ordering::SeqCst);
    unsafe {
        let (r, mut fr) = run(&mut c, &w, &[int(10)]);
        assert_eq!(r, &raw mut DEOPTED, "the deopt exit's result is returned");
        assert_eq!(DEOPT_AT.load(Ordering::SeqCst), 0, "deopt at RESUME, before any work");
        clear_locals(&mut fr, 3);
        ember_decref(zero);
    }
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
}

#[test]
#[serial]
fn raise_varargs_exits() {
    reset();
    let mut c = compiler(0);
    let code: &[(Op, &[i64])] = &[(Op::Resume, &[]), (Op::LoadFast, &[0]), (Op::RaiseVarargs, &[1])];
    unsafe {
        let (r, mut fr) = run(&mut c, &asm(1, 1, 1, vec![], code), &[int(1)]);
        assert!(r.is_null());
        assert_eq!(RAISED_AT.load(Ordering::SeqCst), 2);
        assert_eq!(RAISED_DEPTH.load(Ordering::SeqCst), 0);
        clear_locals(&mut fr, 1);
    }
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
}

#[test]
#[serial]
fn missing_helper_is_an_llvm_error_not_a_crash() {
    let mut c = Compiler::new(Config { helpers: vec![], bitcode: vec![], opt_level: 0, ..Config::default() }).unwrap();
    let code: &[(Op, &[i64])] = &[(Op::LoadConst, &[0]), (Op::ReturnValue, &[])];
    let err = c.compile_hir(build::build(&asm(1, 0, 1, vec![1], code)).unwrap()).err().expect("link must fail");
    assert!(matches!(err, ember::EmberError::Llvm(ref m) if m.contains("ember_incref") || m.contains("ember_rt_leave")), "{err}");
}

/// `Config::frame_pointers` (the shim sets it under `EMBER_PERF`): every compiled function sets
/// up `rbp` as its frame pointer, so frame-pointer unwinders walk through it; without it the
/// same function does not (the default, which the code-size figures measure). The code runs the
/// same either way.
#[test]
#[serial]
#[cfg(target_arch = "x86_64")]
fn frame_pointers_are_kept_only_when_asked() {
    use ember::compile::Dump;
    let zero = int(0);
    let w = asm(3, 1, 3, vec![zero as u64], SUM_LOOP);
    let bytes = ember::hir::wire::encode(&w);
    for fp in [false, true] {
        reset();
        let mut c = Compiler::new(Config { helpers: helpers(), frame_pointers: fp, ..Config::default() }).unwrap();
        let text = c.dump(&bytes, Dump::Asm).unwrap();
        assert_eq!(text.contains("movq\t%rsp, %rbp"), fp, "frame pointers {fp}:\n{text}");
        unsafe {
            let (r, mut fr) = run(&mut c, &w, &[int(10)]);
            assert_eq!(val(r), 45);
            ember_decref(r);
            clear_locals(&mut fr, 3);
        }
    }
    ember_decref(zero);
}
