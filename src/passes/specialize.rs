//! Turns the interpreter's profile into typed, guarded HIR: a `BINARY_OP` or `COMPARE_OP` the
//! specialising interpreter quickened for exact ints or floats (`BINARY_OP_ADD_FLOAT`,
//! `COMPARE_OP_INT`, ... of `Python/bytecodes.c`; the shim passes the kind as an immediate)
//! becomes type guards on both operands, unboxing, machine arithmetic and one box:
//!
//! ```text
//! v2 = BinaryOp<10, 5, 1> v0 v1 @8[]
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
//! A generic `BINARY_OP` or `COMPARE_OP` (not quickened for numbers, e.g. `**`, `/`, `>>`)
//! whose operand types are already known (constants, results of typed operations, block
//! parameters; see `infer`) gets the same typed form without guards, including mixed int and
//! float arithmetic (`IntToFloat`). Its checks (a non-compact int, an overflow, a zero divisor)
//! still deopt.
//!
//! `/`, which the interpreter never quickens (so the profile says nothing), is speculated on
//! when one operand is a known `Float` or a load of a local that only ever holds floats
//! ([`float_locals`]) and the other's type is unknown: both are read as numbers
//! (`UnboxNumbers`, deopting for anything but floats and compact ints, not both ints), as for
//! float's `Point.normalize`, `self.x /= norm` with `norm = sqrt(...)`. The division keeps
//! the operand objects for its frame state, so a zero divisor deopts with them on the stack.
//! A `COMPARE_OP` quickened for floats reads its operands the same way (`UnboxNumbers`, or
//! `UnboxNumber` beside a known `Float`) and compares doubles: a compact int operand converts
//! exactly, so `x > best` with `best = -1` before the first float does not deopt.
//! A site whose guards kept failing arrives as [`BinarySpec::Despecialised`] and is left
//! generic.
//!
//! Nothing is done when the function may not speculate ([`Function::speculate`]).

use std::collections::HashSet;

use super::instr;
use crate::hir::imms::{BinaryOpImms, CompareOpImms};
use crate::hir::op::{Arith, BinarySpec, Cmp, CompareSpec};
use crate::hir::{Function, Instr, Op, Type, Value};

/// What one instruction becomes: the operand types to establish (guarded when the profile
/// says so, known otherwise) and the typed operation.
#[derive(Clone, Copy)]
enum Plan {
    /// `a k b` on values of types (ta, tb); `guard`: from the profile, operands not yet known.
    Arith { ta: Type, tb: Type, k: Arith, guard: bool },
    /// `a c b` on two values of type `t`.
    Compare { t: Type, c: Cmp, guard: bool },
}

/// Which arithmetic typed code does for operands of these types.
pub(crate) fn typed_arith(ta: Type, tb: Type, k: Arith) -> bool {
    use Arith::*;
    match (ta, tb) {
        (Type::Float, Type::Float) => matches!(k, Add | Subtract | Multiply | TrueDivide | Power),
        (Type::Int, Type::Int) => matches!(k, Add | Subtract | Multiply | FloorDivide | Remainder | LShift | RShift | And | Or | Xor),
        (Type::Int, Type::Float) | (Type::Float, Type::Int) => matches!(k, Add | Subtract | Multiply | TrueDivide),
        _ => false,
    }
}

/// True when a `BinaryOp` of `k` with profile `spec` on operands of types `types` is a division
/// `specialize` speculates on: `/`, which the interpreter never quickens, with both operands
/// possibly numbers and one known or likely (`floaty`) to be a float; both are then read as
/// numbers. `passes::inline_method` asks the same to know that a body's division will be typed.
pub(crate) fn speculated_divide(spec: BinarySpec, k: Arith, types: [Type; 2], floaty: [bool; 2]) -> bool {
    let number_like = |t: Type| matches!(t, Type::Float | Type::Int | Type::Object);
    k == Arith::TrueDivide && spec == BinarySpec::Generic && types.iter().all(|t| number_like(*t)) && floaty.iter().any(|f| *f)
}

/// Locals that only ever hold floats once written: every write of the local in the function is
/// a `StoreFast` of a value known to be a `Float` (or a `StoreFastFloat`), there is at least
/// one, and the local is not a parameter. A load of such a local is *likely* a float: nothing
/// compiled code does puts anything else there, though Python code that writes the frame
/// through `f_locals` could.
fn float_locals(f: &Function) -> HashSet<i64> {
    let mut good = HashSet::new();
    let mut bad = HashSet::new();
    for ins in f.blocks.iter().flat_map(|b| b.instrs.iter().chain(std::iter::once(&b.term))) {
        match ins.op {
            Op::StoreFast if f.ty(ins.args[0]) == Type::Float => {
                good.insert(ins.imms[0]);
            }
            Op::StoreFastFloat => {
                good.insert(ins.imms[0]);
            }
            Op::StoreFast | Op::DeleteFast | Op::LoadFastAndClear | Op::MakeCell => {
                bad.insert(ins.imms[0]);
            }
            Op::UnpackStore => bad.extend(ins.imms[1]..ins.imms[1] + ins.imms[0]),
            _ => {}
        }
    }
    good.retain(|k| !bad.contains(k) && *k >= i64::from(f.argcount));
    good
}

/// The values that are loads of [`float_locals`].
fn likely_floats(f: &Function) -> HashSet<Value> {
    let locals = float_locals(f);
    let mut out = HashSet::new();
    for ins in f.blocks.iter().flat_map(|b| b.instrs.iter()) {
        if matches!(ins.op, Op::LoadFast | Op::LoadFastCheck | Op::LoadFastBorrow) && locals.contains(&ins.imms[0]) {
            out.insert(ins.results[0]);
        }
    }
    out
}

fn plan(f: &Function, ins: &Instr, likely: &HashSet<Value>) -> Option<Plan> {
    match ins.op {
        Op::BinaryOp => {
            let BinaryOpImms { spec, arith: k, .. } = BinaryOpImms::of(ins)?;
            if let Some(t) = spec.number_type() {
                return Some(Plan::Arith { ta: t, tb: t, k, guard: true });
            }
            // Not quickened for numbers, but both operand types are known (constants, results
            // of typed operations, block parameters): typed code needs no guard.
            let (ta, tb) = (f.ty(ins.args[0]), f.ty(ins.args[1]));
            if typed_arith(ta, tb, k) {
                return Some(Plan::Arith { ta, tb, k, guard: false });
            }
            let floaty = |v: Value| f.ty(v) == Type::Float || likely.contains(&v);
            speculated_divide(spec, k, [ta, tb], [floaty(ins.args[0]), floaty(ins.args[1])]).then_some(Plan::Arith {
                ta: Type::Float,
                tb: Type::Float,
                k,
                guard: true,
            })
        }
        Op::CompareOp => {
            let CompareOpImms { spec, cmp: c, .. } = CompareOpImms::of(ins)?;
            match spec {
                CompareSpec::Int => Some(Plan::Compare { t: Type::Int, c, guard: true }),
                CompareSpec::Float => Some(Plan::Compare { t: Type::Float, c, guard: true }),
                CompareSpec::Generic | CompareSpec::Str => {
                    let (ta, tb) = (f.ty(ins.args[0]), f.ty(ins.args[1]));
                    (ta == tb && matches!(ta, Type::Int | Type::Float)).then_some(Plan::Compare { t: ta, c, guard: false })
                }
            }
        }
        _ => None,
    }
}

/// Appends the typed form of `ins` (see the module doc) to `out`.
fn expand(f: &mut Function, ins: Instr, p: Plan, out: &mut Vec<Instr>) {
    let fs = ins.fs.clone().unwrap_or_default();
    let at = |extra: &[Value]| Some(fs.with_operands(extra));
    let (ta, tb, guard) = match p {
        Plan::Arith { ta, tb, guard, .. } => (ta, tb, guard),
        Plan::Compare { t, guard, .. } => (t, t, guard),
    };
    let (mut a, mut b) = (ins.args[0], ins.args[1]);
    // Float arithmetic quickened by the profile with one operand already known to be a Float:
    // the other may also be an int (an accumulator that starts at 0), read by UnboxNumber.
    // So is a float comparison: `best.score > maxscore` with `maxscore = -1` before the first
    // float, compared as doubles (a compact int converts exactly), as `float_richcompare` does.
    let floats =
        matches!(p, Plan::Arith { ta: Type::Float, tb: Type::Float, guard: true, .. } | Plan::Compare { t: Type::Float, guard: true, .. });
    let number = if !floats {
        None
    } else if f.ty(a) == Type::Float && f.ty(b) != Type::Float {
        Some(1)
    } else if f.ty(b) == Type::Float && f.ty(a) != Type::Float {
        Some(0)
    } else {
        None
    };
    // Neither known: both may be numbers of either kind (not both ints).
    let numbers = number.is_none() && floats && f.ty(a) != Type::Float && f.ty(b) != Type::Float;
    let (da, db);
    if numbers {
        da = f.new_value(Type::CDouble);
        db = f.new_value(Type::CDouble);
        out.push(instr(Op::UnboxNumbers, vec![], vec![a, b], vec![da, db], at(&[a, b])));
    } else if let Some(k) = number {
        let d = f.new_value(Type::CDouble);
        let other = f.new_value(Type::CDouble);
        let (known, loose) = if k == 1 { (a, b) } else { (b, a) };
        out.push(instr(Op::UnboxNumber, vec![], vec![loose], vec![d], at(&[a, b])));
        out.push(instr(Op::Unbox, vec![], vec![known], vec![other], at(&[a, b])));
        (da, db) = if k == 1 { (other, d) } else { (d, other) };
    } else {
        if guard {
            let a1 = f.new_value(ta);
            out.push(instr(Op::GuardType, vec![ta as i64], vec![a], vec![a1], at(&[a, b])));
            let b1 = f.new_value(tb);
            out.push(instr(Op::GuardType, vec![tb as i64], vec![b], vec![b1], at(&[a1, b])));
            (a, b) = (a1, b1);
        }
        da = f.new_value(ta.unboxed().unwrap_or(Type::CInt64));
        out.push(instr(Op::Unbox, vec![], vec![a], vec![da], at(&[a, b])));
        db = f.new_value(tb.unboxed().unwrap_or(Type::CInt64));
        out.push(instr(Op::Unbox, vec![], vec![b], vec![db], at(&[a, b])));
    }
    // A division whose operands were read as numbers keeps them until it has divided: a zero
    // divisor deopts with the objects themselves on the stack (an int operand stays an int,
    // and the interpreter raises the error its types call for).
    let keep = (numbers || number.is_some()) && matches!(p, Plan::Arith { k: Arith::TrueDivide, .. });
    let pops = move |out: &mut Vec<Instr>| {
        out.push(instr(Op::PopTop, vec![], vec![a], vec![], None));
        out.push(instr(Op::PopTop, vec![], vec![b], vec![], None));
    };
    if !keep {
        pops(out);
    }
    let res = ins.results[0];
    match p {
        Plan::Arith { k, .. } => {
            let float = ta == Type::Float || tb == Type::Float || k == Arith::TrueDivide;
            let to_float = |f: &mut Function, out: &mut Vec<Instr>, v: Value, t: Type| {
                if t == Type::Float {
                    return v;
                }
                let d = f.new_value(Type::CDouble);
                out.push(instr(Op::IntToFloat, vec![], vec![v], vec![d], None));
                d
            };
            let (xa, xb) = if float { (to_float(f, out, da, ta), to_float(f, out, db, tb)) } else { (da, db) };
            let r = f.new_value(if float { Type::CDouble } else { Type::CInt64 });
            let op = if float { Op::FloatBinOp } else { Op::IntBinOp };
            // A deopt here hands the interpreter the operands as they were (ints stay ints).
            // (An operand read by UnboxNumber otherwise only meets `+ - *`, which never deopt
            // on floats.)
            out.push(instr(op, vec![k as i64], vec![xa, xb], vec![r], if keep { at(&[a, b]) } else { at(&[da, db]) }));
            if keep {
                pops(out);
            }
            f.types[res.0 as usize] = if float { Type::Float } else { Type::Int };
            out.push(instr(Op::Box, vec![], vec![r], vec![res], ins.fs));
        }
        Plan::Compare { c, .. } => {
            let r = f.new_value(Type::CBool);
            let op = if ta == Type::Float { Op::FloatCompare } else { Op::IntCompare };
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
    let likely = likely_floats(f);
    super::expand_instrs(f, |f, ins, out| match plan(f, &ins, &likely) {
        Some(p) => {
            expand(f, ins, p, out);
            true
        }
        None => {
            out.push(ins);
            false
        }
    })
}
