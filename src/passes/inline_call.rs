//! Inlines a small Python function called through a global, when its body is arithmetic that
//! typed code computes (spectral_norm's `eval_A(i, j)`, `return 1.0 / ((i + j) * (i + j + 1)
//! // 2 + i + 1)`). The shim sends the function a `LOAD_GLOBAL`'s inline cache holds, when a
//! `CALL` of it follows ([`crate::hir::Callee`], site = the load); for a body of one block of
//! parameter loads, int and float constants and `BinaryOp`s that `specialize` will type
//! ([`admissible`]), returning one of them, the call
//!
//! ```text
//! v0 = LoadGlobal<1, 1, 2, 57, 0, 3, 0, 0, 0, 0> @2[]
//! v1:opt = PushNull
//! v2 = LoadFast<0>
//! v3 = LoadFast<1>
//! v4 = Call<2, 0> v0 v1 v2 v3 @10[]
//! ```
//! of `def add(a, b): return a + b` (quickened `BINARY_OP_ADD_INT`) becomes
//! ```text
//! GuardCallee<4096> v0 @10[v0 v1 v2 v3]
//! v5 = Copy<1> v2
//! v6 = Copy<1> v3
//! v4 = BinaryOp<0, 1, 0> v5 v6 @10[v0 v1 v2 v3 |]
//! PopTop v0
//! PopTop v2
//! PopTop v3
//! ```
//! and the rest of the pipeline types it (guards, `IntBinOp`, a `Box` that `box_elim` removes
//! when the caller's own arithmetic consumes the result).
//!
//! Every instruction of the body has the call's frame state, with the call's operands on the
//! stack: a guard that fails inside the body deopts to the call, which the interpreter then
//! makes as if compiled code had never started it. That is exact because nothing the body does
//! before a check can be seen: typed arithmetic runs no code, raises nothing and allocates only
//! floats and ints (no collection can start). The body's own values (its operands at a check)
//! are released by the exit, not written to the frame ([`crate::hir::FrameState::inlined`]).
//! `GuardCallee` first checks that the callable is still a function of that code object and
//! that nothing would have run at the callee's `RESUME` (eval breaker, monitoring, recursion
//! limit); so no frame of the callee is ever missing where Python code could look for it. The
//! one difference: a `MemoryError` boxing the result is raised at the call, without the callee's
//! traceback entry.
//!
//! A call whose inlined body kept failing its guards is withdrawn with the rest of the function
//! and, once its call site is recorded as despecialised, no longer offered by the shim.
//! Nothing is done when the function may not speculate ([`Function::speculate`]).

use std::collections::{HashMap, HashSet};

use super::specialize::typed_arith;
use super::{instr, GlobalCalls};
use crate::hir::imms::BinaryOpImms;
use crate::hir::op::Arith;
use crate::hir::{Function, Op, Type, Value};

/// The type typed code gives the result of `a k b` on operands of types `ta` and `tb`
/// (`specialize`'s plan), or `None` when it leaves the operation generic (which could run
/// code: not admitted in an inlined body).
pub(crate) fn typed_result(spec: Option<Type>, ta: Type, tb: Type, k: Arith) -> Option<Type> {
    let (ta, tb) = match spec {
        // Quickened: both are guarded to the profile's type, except that a float form reads an
        // int operand as a number (UnboxNumber), while an int form on a known float never holds.
        Some(Type::Int) => {
            if ta == Type::Float || tb == Type::Float {
                return None;
            }
            (Type::Int, Type::Int)
        }
        Some(t) => (t, t),
        None => (ta, tb),
    };
    if !typed_arith(ta, tb, k) {
        return None;
    }
    Some(if ta == Type::Float || tb == Type::Float || k == Arith::TrueDivide { Type::Float } else { Type::Int })
}

/// True when `c`'s body can be inlined: one block of `Resume`, `Nop`, loads of parameters,
/// loads of int and float constants and `BinaryOp`s whose typed form is known from the profile
/// and the types before them (`typed_result`), ending in a `ReturnValue`.
pub fn admissible(c: &Function) -> bool {
    let [b] = c.blocks.as_slice() else { return false };
    if b.term.op != Op::ReturnValue {
        return false;
    }
    let mut ty: HashMap<Value, Type> = HashMap::new();
    for ins in &b.instrs {
        match ins.op {
            Op::Resume | Op::Nop => {}
            Op::LoadFast | Op::LoadFastBorrow | Op::LoadFastCheck => {
                if !ins.imms.first().is_some_and(|&k| k >= 0 && (k as u64) < c.argcount as u64) {
                    return false;
                }
                ty.insert(ins.results[0], Type::Object);
            }
            Op::LoadConst => {
                let t = c.const_type(ins.imms[0]);
                if !matches!(t, Type::Int | Type::Float) {
                    return false;
                }
                ty.insert(ins.results[0], t);
            }
            Op::BinaryOp => {
                let Some(imms) = BinaryOpImms::of(ins) else { return false };
                let (Some(&ta), Some(&tb)) = (ty.get(&ins.args[0]), ty.get(&ins.args[1])) else { return false };
                match typed_result(imms.spec.number_type(), ta, tb, imms.arith) {
                    Some(t) => ty.insert(ins.results[0], t),
                    None => return false,
                };
            }
            _ => return false,
        }
    }
    b.term.args.first().is_some_and(|r| ty.contains_key(r))
}

/// Runs the pass; returns the number of calls inlined.
pub fn run(f: &mut Function) -> usize {
    if !f.speculate || f.callees.is_empty() {
        return 0;
    }
    // The global loads whose callee can be inlined: loaded value → callee index.
    let mut sites: HashMap<u32, usize> = HashMap::new();
    for (i, c) in f.callees.iter().enumerate() {
        if admissible(&c.body) {
            sites.insert(c.site, i);
        }
    }
    let calls = GlobalCalls::find(f, |_, bc| sites.get(&bc).copied());
    if calls.is_empty() {
        return 0;
    }
    let mut used: HashSet<usize> = HashSet::new();
    let n = super::expand_instrs(f, |f, ins, out| {
        let ci = match calls.call_of(&ins) {
            Some((&ci, nargs)) if nargs == f.callees[ci].body.argcount as u64 => ci,
            _ => {
                out.push(ins);
                return false;
            }
        };
        let (code, body) = (f.callees[ci].code, f.callees[ci].body.clone());
        used.insert(ci);
        let at_call = super::at_call(&ins);
        let mut inlined = at_call.clone();
        inlined.inlined = Some(vec![]);
        out.push(instr(Op::GuardCallee, vec![code as i64], super::callable_and_args(&ins), vec![], Some(at_call)));
        let block = &body.blocks[0];
        let ret = block.term.args[0];
        let call_result = ins.results[0];
        let mut map: HashMap<Value, Value> = HashMap::new();
        for b in &block.instrs {
            let result = |f: &mut Function, t: Type| {
                if b.results.first() == Some(&ret) {
                    f.types[call_result.0 as usize] = t;
                    call_result
                } else {
                    f.new_value(t)
                }
            };
            match b.op {
                Op::LoadFast | Op::LoadFastBorrow | Op::LoadFastCheck => {
                    let arg = ins.args[2 + b.imms[0] as usize];
                    let r = result(f, f.ty(arg));
                    out.push(instr(Op::Copy, vec![1], vec![arg], vec![r], None));
                    map.insert(b.results[0], r);
                }
                Op::LoadConst => {
                    let t = body.const_type(b.imms[0]);
                    let k = super::const_index(f, body.consts[b.imms[0] as usize], t);
                    let r = result(f, t);
                    out.push(instr(Op::LoadConst, vec![k], vec![], vec![r], None));
                    map.insert(b.results[0], r);
                }
                Op::BinaryOp => {
                    let r = result(f, Type::Object);
                    let args = b.args.iter().map(|a| map[a]).collect();
                    // The body's values on its stack below the operands (`1.0` in `1.0 / (...)`)
                    // are owned too: a side exit releases them.
                    let mut st = inlined.clone();
                    if let (Some(list), Some(bfs)) = (st.inlined.as_mut(), b.fs.as_ref()) {
                        list.extend(bfs.stack.iter().filter_map(|v| map.get(v).copied()));
                    }
                    out.push(instr(Op::BinaryOp, b.imms.clone(), args, vec![r], Some(st)));
                    map.insert(b.results[0], r);
                }
                _ => {}
            }
        }
        super::release_call_operands(&ins, out);
        true
    });
    super::drop_callees(f, &used);
    n
}
