//! Compiles a call of a `math` function to its C library function on a machine double. The
//! shim identifies the value of a `LOAD_GLOBAL` it specialised as one of the functions of
//! [`MathFn`] (`LoadGlobal`'s imm6, with the object's address in imm7; for `math.sqrt`, a
//! `LOAD_ATTR_MODULE` right after the global holding the module: `LoadAttr`'s imm4 and imm5),
//! so a one-argument call of that value with a NULL self:
//!
//! ```text
//! v0 = LoadGlobal<2, 1, 1, 7, 0, 3, 2, 9, 0, 0> @10[]
//! v1:opt = PushNull
//! v3 = Call<1, 3> v0 v1 v2 @20[]
//! ```
//! becomes
//! ```text
//! v4:CDouble = UnboxNumber v2 @20[v0 v1 v2]
//! v5:CDouble = MathCall<2, 9> v0 v4 @20[v0 v1 v2]
//! PopTop v2
//! PopTop v0
//! v3:Float = Box v5 @20[]
//! ```
//! (`Unbox` instead of `UnboxNumber` for an argument already known to be a `Float`). No
//! `PyFloat_FromDouble` for the result, no conversion of the argument, and `box_elim` then
//! removes the boxes of an argument computed by typed code and of a result that feeds typed
//! code: `sqrt(x * x + y * y)` allocates nothing but the result it stores.
//!
//! Every check deopts to the interpreter at the call with its operands on the stack, which
//! then makes the call itself: an argument that is not an exact float or a compact int (a
//! `__float__` object, a big int), a callee that is no longer the identified object (the global
//! was rebound after the compile), and a result `math` raises for (see [`Op::MathCall`]).
//!
//! Nothing is done when the function may not speculate ([`Function::speculate`]).

use std::collections::{HashMap, HashSet};

use super::instr;
use crate::hir::imms::{CallImms, LoadAttrImms, LoadGlobalImms};
use crate::hir::op::MathFn;
use crate::hir::{Function, Op, Type, Value};

/// Runs the pass; returns the number of calls compiled to `MathCall`.
pub fn run(f: &mut Function) -> usize {
    if !f.speculate {
        return 0;
    }
    // The values a LoadGlobal identified as a math function (with its address immediate), and
    // the NULLs.
    let mut known: HashMap<Value, (MathFn, i64)> = HashMap::new();
    let mut nulls: HashSet<Value> = HashSet::new();
    for b in &f.blocks {
        for ins in &b.instrs {
            let identified = match (LoadGlobalImms::of(ins), LoadAttrImms::of(ins)) {
                (Some(g), _) => Some((g.known, g.object)),
                (_, Some(a)) => Some((a.known, a.object)),
                _ => None,
            };
            if let Some((func, object)) = identified.filter(|&(func, object)| func != MathFn::None && object != 0) {
                known.insert(ins.results[0], (func, object));
            } else if ins.op == Op::PushNull {
                nulls.insert(ins.results[0]);
            }
        }
    }
    if known.is_empty() {
        return 0;
    }
    super::expand_instrs(f, |f, ins, out| {
        let one_arg = CallImms::of(&ins).is_some_and(|c| c.nargs == 1) && ins.args.len() == 3;
        let target = if one_arg && nulls.contains(&ins.args[1]) { known.get(&ins.args[0]).copied() } else { None };
        let Some((func, object)) = target else {
            out.push(ins);
            return false;
        };
        let (callee, null, x) = (ins.args[0], ins.args[1], ins.args[2]);
        let fs = ins.fs.clone().unwrap_or_default();
        let at = Some(fs.with_operands(&[callee, null, x]));
        let d = f.new_value(Type::CDouble);
        let unbox = if f.ty(x) == Type::Float { Op::Unbox } else { Op::UnboxNumber };
        out.push(instr(unbox, vec![], vec![x], vec![d], at.clone()));
        let r = f.new_value(Type::CDouble);
        out.push(instr(Op::MathCall, vec![func as i64, object], vec![callee, d], vec![r], at));
        out.push(instr(Op::PopTop, vec![], vec![x], vec![], None));
        out.push(instr(Op::PopTop, vec![], vec![callee], vec![], None));
        let res = ins.results[0];
        f.types[res.0 as usize] = Type::Float;
        out.push(instr(Op::Box, vec![], vec![r], vec![res], ins.fs));
        true
    })
}
