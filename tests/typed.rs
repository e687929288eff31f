//! Typed HIR through LLVM against the mock runtime: the specialisation pass's guards, unboxed
//! arithmetic and boxes, and every way a guard fails (a wrong type, a non-compact int, a 64-bit
//! overflow) with the frame-state stack the interpreter gets, boxed where it was unboxed, and
//! every object freed.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use ember::compile::{Compiler, Config};
use ember::hir::{build, Op};
use serial_test::serial;

fn compiler() -> Compiler {
    Compiler::new(Config { helpers: helpers(), bitcode: vec![], opt_level: 1, ..Config::default() }).expect("compiler")
}

/// The operation (`Arith`) of a BINARY_OP quickened with `spec` (1/4 add, 2/5 subtract,
/// 3/6 multiply).
fn arith(spec: i64) -> i64 {
    (spec - 1) % 3
}

/// `return a <op1> b <op2> c` (locals 0..3), both BINARY_OPs quickened with `spec1`/`spec2`.
fn chain(spec1: i64, spec2: i64) -> Vec<(Op, Vec<i64>)> {
    vec![
        (Op::LoadFast, vec![0]),
        (Op::LoadFast, vec![1]),
        (Op::BinaryOp, vec![0, spec1, arith(spec1)]),
        (Op::LoadFast, vec![2]),
        (Op::BinaryOp, vec![0, spec2, arith(spec2)]),
        (Op::ReturnValue, vec![]),
    ]
}

/// Compiles `code` (constant k is `consts[k]`, an object of the given exact type) and runs it
/// with `args` as locals 0..; returns the result and frees the locals and constants.
unsafe fn run_with(code: &[(Op, &[i64])], consts: &[(*mut Obj, ember::hir::Type)], args: &[*mut Obj]) -> *mut Obj {
    let mut w = asm(8, args.len() as u32, 3, consts.iter().map(|c| c.0 as u64).collect(), code);
    w.const_types = consts.iter().map(|c| c.1).collect();
    let mut c = compiler();
    let compiled = c.compile_hir(build::build(&w).unwrap()).unwrap();
    let entry: Entry = std::mem::transmute(compiled.entry);
    let mut fr = Frame::new();
    for (i, a) in args.iter().enumerate() {
        fr.locals[i] = *a;
    }
    let r = entry(std::ptr::null_mut(), &mut *fr);
    for i in 0..args.len() {
        ember_xdecref(fr.locals[i]);
    }
    for (k, _) in consts {
        ember_decref(*k);
    }
    r
}

/// [`run_with`] without constants.
unsafe fn run(code: &[(Op, Vec<i64>)], args: &[*mut Obj]) -> *mut Obj {
    let code: Vec<(Op, &[i64])> = code.iter().map(|(o, i)| (*o, i.as_slice())).collect();
    run_with(&code, &[], args)
}

fn stack() -> Vec<(i64, i64)> {
    GUARD_STACK.lock().unwrap().clone()
}

#[test]
#[serial]
fn float_chain_runs_unboxed_and_frees_everything() {
    reset();
    unsafe {
        // (a * b) + c with BINARY_OP_MULTIPLY_FLOAT (6) then BINARY_OP_ADD_FLOAT (4)
        let r = run(&chain(6, 4), &[float(3.0), float(2.5), float(0.25)]);
        assert_eq!((*r).kind, 5);
        assert_eq!(fval(r), 7.75);
        ember_decref(r);
    }
    assert_eq!(GUARD_FAILS.load(Ordering::SeqCst), 0);
    assert_eq!(LIVE.load(Ordering::SeqCst), 0, "every object freed");
}

#[test]
#[serial]
fn a_wrong_type_deopts_at_the_instruction_with_its_operands() {
    reset();
    unsafe {
        // a * b quickened for floats: None is no number, so the operands' check fails.
        let r = run(&chain(6, 4), &[none(), float(2.5), float(0.25)]);
        assert_eq!(r, &raw mut DEOPTED);
    }
    assert_eq!(GUARD_FAILS.load(Ordering::SeqCst), 1);
    assert_eq!(DEOPT_AT.load(Ordering::SeqCst), 2, "at the first BINARY_OP");
    assert_eq!(stack(), vec![(2, 0), (5, 2.5f64.to_bits() as i64)], "both operands on the stack, as they were");
    assert_eq!(LIVE.load(Ordering::SeqCst), 0, "every object freed");
    // Two ints at a float multiply: int arithmetic in Python, so it deopts too.
    reset();
    unsafe {
        let r = run(&chain(6, 4), &[int(3), int(2), float(0.25)]);
        assert_eq!(r, &raw mut DEOPTED);
    }
    assert_eq!(stack(), vec![(0, 3), (0, 2)]);
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
    // One int: float(3) * 2.5, typed, no deopt.
    reset();
    unsafe {
        let r = run(&chain(6, 4), &[int(3), float(2.5), float(0.25)]);
        assert_eq!(((*r).kind, fval(r)), (5, 7.75));
        ember_decref(r);
    }
    assert_eq!(GUARD_FAILS.load(Ordering::SeqCst), 0);
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
}

#[test]
#[serial]
fn a_deopt_after_unboxed_arithmetic_boxes_the_unboxed_value() {
    reset();
    unsafe {
        // a * b is computed unboxed; c is None, so the second operation's operand check fails.
        let r = run(&chain(6, 4), &[float(3.0), float(2.5), none()]);
        assert_eq!(r, &raw mut DEOPTED);
    }
    assert_eq!(DEOPT_AT.load(Ordering::SeqCst), 4, "at the second BINARY_OP");
    assert_eq!(stack(), vec![(5, 7.5f64.to_bits() as i64), (2, 0)], "the product boxed as a float");
    assert_eq!(LIVE.load(Ordering::SeqCst), 0, "every object freed, the exit's box too");
    reset();
    unsafe {
        // An int c is read by UnboxNumber: float(7) + 7.5, no deopt.
        let r = run(&chain(6, 4), &[float(3.0), float(2.5), int(7)]);
        assert_eq!(((*r).kind, fval(r)), (5, 14.5));
        ember_decref(r);
    }
    assert_eq!(GUARD_FAILS.load(Ordering::SeqCst), 0);
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
}

#[test]
#[serial]
fn int_chain_overflow_deopts_with_both_operands_boxed() {
    reset();
    let big = (1i64 << 30) - 1;
    unsafe {
        // a * b with BINARY_OP_MULTIPLY_INT (3), then * c (3): the second product overflows.
        let r = run(&chain(3, 3), &[int(big), int(big), int(big)]);
        assert_eq!(r, &raw mut DEOPTED);
    }
    assert_eq!(DEOPT_AT.load(Ordering::SeqCst), 4);
    assert_eq!(stack(), vec![(0, big * big), (0, big)], "the unboxed product boxed as an int");
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
    reset();
    unsafe {
        let r = run(&chain(3, 1), &[int(-6), int(7), int(50)]);
        assert_eq!(((*r).kind, val(r)), (0, 8));
        ember_decref(r);
    }
    assert_eq!(GUARD_FAILS.load(Ordering::SeqCst), 0);
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
}

#[test]
#[serial]
fn a_non_compact_int_is_read_out_of_line_and_one_beyond_64_bits_deopts() {
    // More than one digit but within 64 bits: read by ember_int_to_i64, no deopt.
    reset();
    unsafe {
        let r = run(&chain(1, 1), &[int(1 << 40), int(1), int(1)]);
        assert_eq!(((*r).kind, val(r)), (0, (1 << 40) + 2));
        ember_decref(r);
    }
    assert_eq!(GUARD_FAILS.load(Ordering::SeqCst), 0);
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
    // Too big for the machine value (the mock's limit is 2**62): deopt before unboxing.
    reset();
    unsafe {
        let r = run(&chain(1, 1), &[int(1 << 62), int(1), int(1)]);
        assert_eq!(r, &raw mut DEOPTED);
    }
    assert_eq!(DEOPT_AT.load(Ordering::SeqCst), 2);
    assert_eq!(stack(), vec![(0, 1 << 62), (0, 1)]);
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
}

#[test]
#[serial]
fn compare_branches_on_the_machine_comparison() {
    // if a < b: return a  else: return b   (COMPARE_OP_INT, bool-coerced: oparg 18, Py_LT)
    let code = vec![
        (Op::LoadFast, vec![0]),
        (Op::LoadFast, vec![1]),
        (Op::CompareOp, vec![18, 1, 0]),
        (Op::PopJumpIfFalse, vec![6]),
        (Op::LoadFast, vec![0]),
        (Op::ReturnValue, vec![]),
        (Op::LoadFast, vec![1]),
        (Op::ReturnValue, vec![]),
    ];
    for (a, b, want) in [(1, 2, 1), (5, 2, 2), (-3, -3, -3)] {
        reset();
        unsafe {
            let r = run(&code, &[int(a), int(b)]);
            assert_eq!(val(r), want, "{a} < {b}");
            ember_decref(r);
        }
        assert_eq!(GUARD_FAILS.load(Ordering::SeqCst), 0);
        assert_eq!(LIVE.load(Ordering::SeqCst), 0);
    }
}

/// `return (a + 0) <k> (b + 0)`: both additions quickened for ints (so their results are known
/// `Int`s), then a generic BINARY_OP with operation `k` (an `Arith`) that the specialisation
/// pass types without guards. Constant 0 is the int 0.
unsafe fn int_op(k: i64, a: i64, b: i64) -> *mut Obj {
    let generic = [99, 0, k];
    let code: Vec<(Op, &[i64])> = vec![
        (Op::LoadFast, &[0]),
        (Op::LoadConst, &[0]),
        (Op::BinaryOp, &[0, 1, 0]),
        (Op::LoadFast, &[1]),
        (Op::LoadConst, &[0]),
        (Op::BinaryOp, &[0, 1, 0]),
        (Op::BinaryOp, &generic),
        (Op::ReturnValue, &[]),
    ];
    run_with(&code, &[(int(0), ember::hir::Type::Int)], &[int(a), int(b)])
}

/// Python's `//` and `%` (floor towards negative infinity), `<<` and `>>` on i64.
fn python_int(k: i64, a: i64, b: i64) -> Option<i64> {
    match k {
        4 | 5 => {
            if b == 0 {
                return None;
            }
            let (q, r) = (a / b, a % b);
            let adjust = r != 0 && (r < 0) != (b < 0);
            Some(if k == 4 { q - adjust as i64 } else { r + if adjust { b } else { 0 } })
        }
        7 => (0..64).contains(&b).then(|| a << b).filter(|r| r >> b == a),
        8 => (b >= 0).then(|| a >> b.min(63)),
        9 => Some(a & b),
        10 => Some(a | b),
        11 => Some(a ^ b),
        _ => unreachable!(),
    }
}

#[test]
#[serial]
fn typed_int_operations_have_python_semantics_and_deopt_where_python_raises() {
    let pairs = [(7, 2), (-7, 2), (7, -2), (-7, -2), (0, 3), (5, 0), (1, 3), (-8, 1), (5, 70), (1, 63), (-1, 63), (3, -1), (1 << 29, 34)];
    for k in [4, 5, 7, 8, 9, 10, 11] {
        for (a, b) in pairs {
            reset();
            unsafe {
                let r = int_op(k, a, b);
                match python_int(k, a, b) {
                    Some(want) => {
                        assert_eq!(((*r).kind, val(r)), (0, want), "arith {k} on {a}, {b}");
                        assert_eq!(GUARD_FAILS.load(Ordering::SeqCst), 0);
                        ember_decref(r);
                    }
                    None => {
                        assert_eq!(r, &raw mut DEOPTED, "arith {k} on {a}, {b} leaves for the interpreter");
                        assert_eq!(DEOPT_AT.load(Ordering::SeqCst), 6);
                        assert_eq!(stack(), vec![(0, a), (0, b)], "the operands, boxed");
                    }
                }
            }
            assert_eq!(LIVE.load(Ordering::SeqCst), 0, "arith {k} on {a}, {b}: every object freed");
        }
    }
}

#[test]
#[serial]
fn typed_float_power_and_mixed_arithmetic() {
    // (a * 1.0) ** b: the product is a known Float; `**` is generic, typed by the pass.
    let cases = [
        (2.0, 0.5, Some(2f64.sqrt())),
        (9.0, -1.5, Some(9f64.powf(-1.5))),
        (-8.0, 1.0 / 3.0, None),
        (0.0, -1.0, None),
        (1e300, 10.0, None),
    ];
    for (a, b, want) in cases {
        reset();
        let code: Vec<(Op, &[i64])> = vec![
            (Op::LoadFast, &[0]),
            (Op::LoadConst, &[0]),
            (Op::BinaryOp, &[5, 6, 2]),
            (Op::LoadFast, &[1]),
            (Op::LoadConst, &[0]),
            (Op::BinaryOp, &[5, 6, 2]),
            (Op::BinaryOp, &[8, 0, 6]),
            (Op::ReturnValue, &[]),
        ];
        unsafe {
            let r = run_with(&code, &[(float(1.0), ember::hir::Type::Float)], &[float(a), float(b)]);
            match want {
                Some(x) => {
                    assert_eq!(fval(r), x, "{a} ** {b}");
                    ember_decref(r);
                }
                None => assert_eq!((r, DEOPT_AT.load(Ordering::SeqCst)), (&raw mut DEOPTED, 6), "{a} ** {b} deopts"),
            }
        }
        assert_eq!(LIVE.load(Ordering::SeqCst), 0);
    }
}
