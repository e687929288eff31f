//! Replaces the call of a method whose body only returns one of its parameters, a constant or
//! an instance attribute of a parameter (`def mustBeVector(self): return self`, `def
//! isPoint(self): return False`, `def getX(self): return self.x`) by that body,
//! behind a check that the callee is still that code. The shim sends the function a method
//! load's inline cache holds with the caller ([`crate::hir::Callee`], the wire's callees
//! section); when its body is trivial:
//!
//! ```text
//! v1, v2:opt = LoadMethod<1, 1, 7, 0, 4096> v0 @2[]
//! v3 = Call<0, 0> v1 v2 @12[]
//! callee @2 code=0x5000
//! function m:C.mustBeVector nlocals=1 argcount=1 stacksize=1
//! ...
//! bb0:
//!   Resume @0[]
//!   v0 = LoadFast<0>
//!   ReturnValue v0
//! endcallee
//! ```
//! becomes
//! ```text
//! v1, v2:opt = LoadMethod<1, 1, 7, 0, 4096> v0 @2[]
//! v3 = CallTrivial<0, 20480, 0, 0> v1 v2 @12[]
//! ```
//! ([`Op::CallTrivial`]: imm1 the callee's code object, imm2 [`TrivialBody`], imm3 the
//! parameter, or the constant the pass appends to the caller's; imm4 and imm5 the type version
//! and inline-values index of the callee's `LOAD_ATTR_INSTANCE_VALUE` for an attribute). At
//! run time the body is taken when the callable is a function of exactly that code object,
//! `self` is there, nothing could have run at the callee's `RESUME` (no pending event, no
//! monitoring, room under the recursion limit) and, for an attribute, the interpreter's own
//! checks of that instruction hold (type version, valid inline values, the value set);
//! anything else makes the call. Such a body cannot raise, run code or be observed (no frame
//! object, no event, no allocation), so leaving out its frame changes nothing a program can
//! see.
//!
//! A callee whose body is not trivial but only reads and tests (`pure`: attribute and global
//! loads, comparisons, truth tests, `not`, `is`, `and`/`or` branches; richards'
//! `isWaitingWithPacket`, deltablue's `BinaryConstraint.output`) becomes
//! `CallTrivial<nargs, code, 3, k, 0, 0>` ([`TrivialBody::Inline`]): its body is evaluated in
//! place from the caller's callee `k` (`lower::inline`), every value borrowed, and any read or
//! test that cannot answer without running code makes the call.
//!
//! The callee must take exactly the call's arguments plus `self` (the shim sends only
//! functions with plain positional parameters). The pass replaces [`Function::callees`] by the
//! pure callees it used (compiled code and its cache key depend only on what is made of them
//! here). Nothing is done when the function may not speculate ([`Function::speculate`]).

use std::collections::HashMap;

use crate::hir::imms::{CallImms, LoadAttrImms, LoadGlobalImms};
use crate::hir::op::{AttrSpec, CallSpec, TrivialBody};
use crate::hir::{Function, Op, Type, Value};

/// What a trivial callee returns: a parameter, a constant (its handle and exact type), or a
/// parameter's instance attribute (the parameter, the type version, the inline-values index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Returns {
    Param(u32),
    Const(u64, Type),
    Attr(u32, i64, i64),
    /// Not trivial, but [`pure`]: the body is evaluated in place ([`TrivialBody::Inline`]).
    Pure,
}

/// The body of `f` when it is only a return of a parameter, a constant or a parameter's
/// instance attribute: one block of `Resume`, `Nop` and the loads of the value it returns (an
/// attribute only as `LOAD_ATTR_INSTANCE_VALUE` with a type version).
fn trivial(f: &Function) -> Option<Returns> {
    let [b] = f.blocks.as_slice() else { return None };
    let mut loaded: HashMap<Value, Returns> = HashMap::new();
    for ins in &b.instrs {
        match ins.op {
            Op::Resume | Op::Nop => {}
            Op::LoadFast | Op::LoadFastBorrow => {
                let k = u32::try_from(*ins.imms.first()?).ok().filter(|&k| k < f.argcount)?;
                loaded.insert(ins.results[0], Returns::Param(k));
            }
            Op::LoadConst => {
                let k = *ins.imms.first()?;
                loaded.insert(ins.results[0], Returns::Const(*f.consts.get(usize::try_from(k).ok()?)?, f.const_type(k)));
            }
            Op::LoadAttr => {
                let a = LoadAttrImms::of(ins)?;
                let Some(Returns::Param(k)) = loaded.remove(ins.args.first()?) else { return None };
                if a.spec != AttrSpec::InstanceValue || a.version <= 0 || a.index < 0 {
                    return None;
                }
                loaded.insert(ins.results[0], Returns::Attr(k, a.version, a.index));
            }
            _ => return None,
        }
    }
    match b.term.op {
        Op::ReturnValue => loaded.get(b.term.args.first()?).copied(),
        Op::ReturnConst if loaded.is_empty() => {
            let k = *b.term.imms.first()?;
            Some(Returns::Const(*f.consts.get(usize::try_from(k).ok()?)?, f.const_type(k)))
        }
        _ => None,
    }
}

/// True when `f`'s body only reads and tests, so that compiled code can evaluate it with every
/// value borrowed and make the call instead whenever a read or test cannot answer without
/// running code (`lower::inline`): its instructions are `Resume`, `Nop`, loads of parameters
/// and constants, `LoadAttr`, `LoadGlobal` (and `PushNull`), `BinarySubscr`, a `Call`
/// quickened to `CALL_LEN` (`len(x)`), `CompareOp`, `ToBool`, `UnaryNot`, `IsOp`, `Copy` and
/// `PopTop`; its terminators are `ReturnValue`, `ReturnConst`, `Jump` and the `PopJumpIf*`
/// branches; its blocks form no cycle (no loop, so no eval-breaker check). The lowering
/// evaluates the subscript only on an exact list or tuple and `len` only of the builtin on an
/// exact container (`lower::inline`), and makes the call otherwise. Nothing else: no store,
/// other call or arithmetic, which could run code or raise.
fn pure(f: &Function) -> bool {
    let ok_instr = |ins: &crate::hir::Instr| match ins.op {
        Op::Resume | Op::Nop | Op::LoadConst | Op::LoadAttr | Op::CompareOp | Op::ToBool | Op::UnaryNot | Op::IsOp => true,
        Op::Copy | Op::PopTop => true,
        Op::LoadFast | Op::LoadFastBorrow | Op::LoadFastCheck => {
            ins.imms.first().is_some_and(|&k| k >= 0 && (k as u64) < f.argcount as u64)
        }
        Op::LoadGlobal => LoadGlobalImms::of(ins).is_some(),
        Op::PushNull | Op::BinarySubscr => true,
        // `len(x)`: the interpreter quickened the call to CALL_LEN (which makes no eval-breaker
        // check, so the SSA builder puts no `CallBreaker` after it).
        Op::Call => CallImms::of(ins).is_some_and(|c| c.spec == CallSpec::Len && c.nargs == 1),
        _ => false,
    };
    let ok_term = |t: &crate::hir::Instr| {
        matches!(
            t.op,
            Op::ReturnValue
                | Op::ReturnConst
                | Op::Jump
                | Op::PopJumpIfTrue
                | Op::PopJumpIfFalse
                | Op::PopJumpIfNone
                | Op::PopJumpIfNotNone
        )
    };
    if f.blocks.is_empty() || !f.blocks.iter().all(|b| b.instrs.iter().all(ok_instr) && ok_term(&b.term)) {
        return false;
    }
    // Small bodies only: the last code unit of any instruction, a bound on the body's size.
    let last =
        f.blocks.iter().flat_map(|b| b.instrs.iter().chain(std::iter::once(&b.term))).filter_map(|i| i.fs.as_ref()).map(|s| s.bc).max();
    if last.unwrap_or(0) >= crate::hir::wire::EMBER_TRIVIAL_MAX_CODE_UNITS {
        return false;
    }
    // No cycle: depth-first search with an on-stack mark.
    fn cyclic(f: &Function, b: usize, state: &mut [u8]) -> bool {
        match state[b] {
            1 => return true,
            2 => return false,
            _ => {}
        }
        state[b] = 1;
        for t in &f.blocks[b].term.targets {
            let n = t.block.0 as usize;
            if n >= f.blocks.len() || cyclic(f, n, state) {
                return true;
            }
        }
        state[b] = 2;
        false
    }
    !cyclic(f, 0, &mut vec![0; f.blocks.len()])
}

/// Runs the pass; returns the number of calls replaced.
pub fn run(f: &mut Function) -> usize {
    let callees = std::mem::take(&mut f.callees);
    if !f.speculate || callees.is_empty() {
        return 0;
    }
    // Site of a method load → (callee code, its parameter count, what it returns, its index
    // in `callees`).
    let mut by_site: HashMap<u32, (u64, u32, Returns, usize)> = HashMap::new();
    for (i, c) in callees.iter().enumerate() {
        if let Some(r) = trivial(&c.body).or_else(|| pure(&c.body).then_some(Returns::Pure)) {
            by_site.insert(c.site, (c.code, c.body.argcount, r, i));
        }
    }
    // The callees whose bodies are evaluated in place, kept for the lowering: index in
    // `callees` → index in `f.callees`.
    let mut kept: HashMap<usize, usize> = HashMap::new();
    let calls = super::MethodCalls::find(f, |bc| by_site.get(&bc).copied());
    let mut n = 0;
    for bi in 0..f.blocks.len() {
        for ii in 0..f.blocks[bi].instrs.len() {
            let Some((&(code, argcount, returns, ci), nargs)) = calls.call_of(&f.blocks[bi].instrs[ii]) else { continue };
            if nargs + 1 != argcount as u64 {
                continue;
            }
            let (body, index, version, slot) = match returns {
                Returns::Param(k) => (TrivialBody::Param, k as i64, 0, 0),
                Returns::Attr(k, version, slot) => (TrivialBody::Attr, k as i64, version, slot),
                Returns::Pure => {
                    let k = *kept.entry(ci).or_insert_with(|| {
                        f.callees.push(callees[ci].clone());
                        f.callees.len() - 1
                    });
                    (TrivialBody::Inline, k as i64, 0, 0)
                }
                Returns::Const(handle, ty) => (TrivialBody::Const, super::const_index(f, handle, ty), 0, 0),
            };
            let ins = &mut f.blocks[bi].instrs[ii];
            ins.op = Op::CallTrivial;
            ins.imms = vec![nargs as i64, code as i64, body as i64, index, version, slot];
            n += 1;
        }
    }
    n
}
