//! Turns the interpreter's profile into typed, guarded HIR: a `BINARY_OP` or `COMPARE_OP` the
//! specialising interpreter quickened for exact ints or floats (`BINARY_OP_ADD_FLOAT`,
//! `COMPARE_OP_INT`, ... of `Python/bytecodes.c`; the shim passes the kind as an immediate)
//! becomes type guards on both operands, unboxing, machine arithmetic and one box:
//!
//! ```text
//! v2 = BinaryOp<10, 5> v0 v1 @8[]
//! ```
//! becomes
//! ```text
//! v3:Float = GuardType<Float> v0 @8[v0 v1]
//! v4:Float = GuardType<Float> v1 @8[v3 v1]
//! v5:CDouble = Unbox v3 @8[v3 v4]
//! v6:CDouble = Unbox v4 @8[v3 v4]
//! PopTop v3
//! PopTop v4
//! v7:CDouble = FloatBinOp<1> v5 v6 @8[v5 v6]
//! v2:Float = Box v7 @8[]
//! ```
//! A guard that fails deopts to the interpreter at the instruction, with the operands on the
//! stack as the interpreter expects them, so the interpreter runs it (and re-specialises it).
//! The interpreter's own guards are the same (`DEOPT_IF(!PyFloat_CheckExact(left))`); the int
//! forms also need one-digit ("compact") operands, as `COMPARE_OP_INT` does, and deopt on a
//! 64-bit overflow. Later passes remove guards whose operand type is known (`infer`) and
//! boxes that only feed unboxing (`box_elim`).
//!
//! Nothing is done when the function may not speculate ([`Function::speculate`]).

use crate::hir::op::{Arith, Cmp};
use crate::hir::{FrameState, Function, Instr, Op, Type, Value};

/// What one instruction becomes.
#[derive(Clone, Copy)]
enum Plan {
    Arith(Type, Arith),
    Compare(Type, Cmp),
}

fn plan(ins: &Instr) -> Option<Plan> {
    match ins.op {
        Op::BinaryOp => {
            let (ty, k) = match ins.imms[1] {
                1 => (Type::Int, Arith::Add),
                2 => (Type::Int, Arith::Subtract),
                3 => (Type::Int, Arith::Multiply),
                4 => (Type::Float, Arith::Add),
                5 => (Type::Float, Arith::Subtract),
                6 => (Type::Float, Arith::Multiply),
                _ => return None,
            };
            Some(Plan::Arith(ty, k))
        }
        Op::CompareOp => {
            let ty = match ins.imms[1] {
                1 => Type::Int,
                2 => Type::Float,
                _ => return None,
            };
            Some(Plan::Compare(ty, Cmp::from_imm(ins.imms[2])?))
        }
        _ => None,
    }
}

fn instr(op: Op, imms: Vec<i64>, args: Vec<Value>, results: Vec<Value>, fs: Option<FrameState>) -> Instr {
    Instr { op, imms, args, results, targets: vec![], fs }
}

/// Appends the typed form of `ins` (see the module doc) to `out`.
fn expand(f: &mut Function, ins: Instr, p: Plan, out: &mut Vec<Instr>) {
    let fs = ins.fs.clone().unwrap_or_default();
    let at = |extra: &[Value]| Some(FrameState { bc: fs.bc, stack: fs.stack.iter().chain(extra).copied().collect() });
    let ty = match p {
        Plan::Arith(t, _) | Plan::Compare(t, _) => t,
    };
    let machine = ty.unboxed().unwrap_or(Type::CInt64);
    let (a, b) = (ins.args[0], ins.args[1]);
    let a1 = f.new_value(ty);
    out.push(instr(Op::GuardType, vec![ty as i64], vec![a], vec![a1], at(&[a, b])));
    let b1 = f.new_value(ty);
    out.push(instr(Op::GuardType, vec![ty as i64], vec![b], vec![b1], at(&[a1, b])));
    let da = f.new_value(machine);
    out.push(instr(Op::Unbox, vec![], vec![a1], vec![da], at(&[a1, b1])));
    let db = f.new_value(machine);
    out.push(instr(Op::Unbox, vec![], vec![b1], vec![db], at(&[a1, b1])));
    out.push(instr(Op::PopTop, vec![], vec![a1], vec![], None));
    out.push(instr(Op::PopTop, vec![], vec![b1], vec![], None));
    let res = ins.results[0];
    match p {
        Plan::Arith(_, k) => {
            let r = f.new_value(machine);
            let op = if ty == Type::Float { Op::FloatBinOp } else { Op::IntBinOp };
            out.push(instr(op, vec![k as i64], vec![da, db], vec![r], at(&[da, db])));
            f.types[res.0 as usize] = ty;
            out.push(instr(Op::Box, vec![], vec![r], vec![res], ins.fs));
        }
        Plan::Compare(_, c) => {
            let r = f.new_value(Type::CBool);
            let op = if ty == Type::Float { Op::FloatCompare } else { Op::IntCompare };
            out.push(instr(op, vec![c as i64], vec![da, db], vec![r], None));
            f.types[res.0 as usize] = Type::Bool;
            out.push(instr(Op::Box, vec![], vec![r], vec![res], ins.fs));
        }
    }
}

/// Runs the pass; returns the number of instructions specialised.
pub fn run(f: &mut Function) -> usize {
    if !f.speculate {
        return 0;
    }
    let mut n = 0;
    for bi in 0..f.blocks.len() {
        let instrs = std::mem::take(&mut f.blocks[bi].instrs);
        let mut out = Vec::with_capacity(instrs.len());
        for ins in instrs {
            match plan(&ins) {
                Some(p) => {
                    expand(f, ins, p, &mut out);
                    n += 1;
                }
                None => out.push(ins),
            }
        }
        f.blocks[bi].instrs = out;
    }
    n
}
