//! Inlines a class call whose `__init__` only stores its parameters and constants into the new
//! instance (raytrace's `Vector(x, y, z)`, chaos's `GVector(x, y, z)`): the work of the
//! interpreter's `CALL_ALLOC_AND_ENTER_INIT` and of `__init__`'s frame, without the frame.
//! The shim identifies a global's value as such a class (metaclass `type`, `object.__new__`,
//! inline values) and sends its `__init__` as the load's callee, with the class's type version
//! and `__init__`'s address in the load's imm8 and imm9 ([`crate::hir::imms::LoadGlobalImms`]). For
//!
//! ```text
//! class V:
//!     def __init__(self, x, y):
//!         self.x = x
//!         self.y = y
//! ```
//! whose stores the interpreter quickened to `STORE_ATTR_INSTANCE_VALUE` for that type version
//! ([`admissible`]), the call
//!
//! ```text
//! v0 = LoadGlobal<1, 1, 1, 57, 0, 3, 0, 0, 9, 4096> @2[]
//! v1:opt = PushNull
//! v2 = LoadFast<0>
//! v3 = LoadFast<1>
//! v4 = Call<2, 0> v0 v1 v2 v3 @10[]
//! ```
//! becomes
//! ```text
//! v4, v5:CBool = AllocInstance<8192, 9, 4096> v0 v2 v3 @10[v0 v1 v2 v3]
//! InitStore<0> v4 v2 v5
//! InitStore<1> v4 v3 v5
//! PopTop v0
//! PopTop v2
//! PopTop v3
//! ```
//! `AllocInstance` checks the class's type version (which keeps `__init__` in the class and
//! the store indices valid), that `__init__` still has the code the body came from, and what
//! `__init__`'s `RESUME` would check (monitoring, the recursion limit); it deopts to the call
//! otherwise, with the call's frame state. When eval-breaker work is pending after the
//! allocation, `AllocInstance` calls `__init__` itself (its `RESUME` runs that work with the new
//! instance in its frame, as in the interpreter; the work may change the instance or its class,
//! so the body then makes the stores) and its second result tells the stores to do nothing.
//! Otherwise nothing after the allocation can fail or run code: a store takes a new reference
//! to a value the caller still holds, into a slot of an instance nobody else can see yet, so
//! no frame of `__init__` is ever missing where Python code could look for it.
//!
//! A call whose check kept failing is withdrawn with the rest of the function and, once its
//! call site is recorded as despecialised, no longer offered by the shim. Nothing is done when
//! the function may not speculate ([`Function::speculate`]).

use std::collections::{HashMap, HashSet};

use super::inline_method::{admissible_as, inline, Body, InitOf};
use super::{instr, GlobalCalls};
use crate::hir::imms::StoreAttrImms;
use crate::hir::op::StoreAttrSpec;
use crate::hir::{Function, Op, Type, Value};

/// Where a stored value comes from in the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Parameter `k` of `__init__` (k ≥ 1: the call's argument k - 1).
    Param(usize),
    /// The callee's constant at this index.
    Const(i64),
}

/// One `self.name = value` of an admitted `__init__`: the inline-values index and the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Store {
    /// Index in the instance's inline values.
    pub index: i64,
    /// What is stored.
    pub value: Source,
}

/// The stores of `init`'s body when it can be inlined for a class of type version `version`:
/// one block of `Resume`, `Nop`, loads of parameters and constants and `StoreAttr`s quickened to
/// `STORE_ATTR_INSTANCE_VALUE` for `version`, each storing a parameter other than `self` or a
/// constant into `self` at an index no other store uses, ending in `return None`. `None`
/// otherwise.
pub fn admissible(init: &Function, version: i64) -> Option<Vec<Store>> {
    let [b] = init.blocks.as_slice() else { return None };
    if b.term.op != Op::ReturnValue || version == 0 {
        return None;
    }
    let mut src: HashMap<Value, Source> = HashMap::new();
    let mut stores = Vec::new();
    for ins in &b.instrs {
        match ins.op {
            Op::Resume | Op::Nop => {}
            Op::LoadFast | Op::LoadFastCheck => {
                let k = usize::try_from(*ins.imms.first()?).ok().filter(|&k| (k as u64) < init.argcount as u64)?;
                src.insert(ins.results[0], Source::Param(k));
            }
            Op::LoadConst => {
                src.insert(ins.results[0], Source::Const(ins.imms[0]));
            }
            Op::StoreAttr => {
                let st = StoreAttrImms::of(ins)?;
                if st.spec != StoreAttrSpec::InstanceValue || st.version != version || st.index < 0 {
                    return None;
                }
                if src.get(&ins.args[1]) != Some(&Source::Param(0)) {
                    return None;
                }
                let value = *src.get(&ins.args[0])?;
                if value == Source::Param(0) || stores.iter().any(|s: &Store| s.index == st.index) {
                    return None;
                }
                stores.push(Store { index: st.index, value });
            }
            _ => return None,
        }
    }
    match b.term.args.first().and_then(|r| src.get(r)) {
        Some(&Source::Const(k)) if init.const_type(k) == Type::NoneType => Some(stores),
        _ => None,
    }
}

/// Runs the pass; returns the number of class calls inlined.
pub fn run(f: &mut Function) -> usize {
    if !f.speculate || f.callees.is_empty() {
        return 0;
    }
    // The global loads of a class whose `__init__` can be inlined: its callee index, its
    // stores, the load's immediates.
    let mut sites: HashMap<u32, usize> = HashMap::new();
    for (i, c) in f.callees.iter().enumerate() {
        sites.insert(c.site, i);
    }
    // Bodies of stores only (`stores`), or bodies that compute what they store (None:
    // `inline_method`'s two sections, with the instance made between them).
    let calls = GlobalCalls::find(f, |g, bc| {
        let &ci = sites.get(&bc).filter(|_| g.class_version != 0 && g.init != 0)?;
        let body = &f.callees[ci].body;
        match admissible(body, g.class_version) {
            Some(stores) => Some((ci, Some(stores), *g)),
            None => admissible_as(body, Body::Init { version: g.class_version }).then_some((ci, None, *g)),
        }
    });
    if calls.is_empty() {
        return 0;
    }
    let mut used: HashSet<usize> = HashSet::new();
    let n = super::expand_instrs(f, |f, ins, out| {
        let (ci, stores, g) = match calls.call_of(&ins) {
            Some(((ci, stores, g), nargs)) if nargs + 1 == f.callees[*ci].body.argcount as u64 => (*ci, stores.clone(), *g),
            _ => {
                out.push(ins);
                return false;
            }
        };
        used.insert(ci);
        let Some(stores) = stores else {
            let (code, body) = (f.callees[ci].code, f.callees[ci].body.clone());
            inline(f, &ins, code, &body, Some(InitOf { version: g.class_version, init: g.init }), out);
            return true;
        };
        let code = f.callees[ci].code as i64;
        let body_consts: Vec<(u64, Type)> = {
            let body = &f.callees[ci].body;
            body.consts.iter().enumerate().map(|(k, &c)| (c, body.const_type(k as i64))).collect()
        };
        let obj = ins.results[0];
        let done = f.new_value(Type::CBool);
        let iv = StoreAttrSpec::InstanceValue as i64;
        let alloc_args = super::callable_and_args(&ins);
        out.push(instr(Op::AllocInstance, vec![code, g.class_version, g.init, 0], alloc_args, vec![obj, done], Some(super::at_call(&ins))));
        for s in &stores {
            match s.value {
                Source::Param(k) => out.push(instr(Op::InitStore, vec![iv, s.index], vec![obj, ins.args[1 + k], done], vec![], None)),
                Source::Const(k) => {
                    let (handle, t) = body_consts[k as usize];
                    let kk = super::const_index(f, handle, t);
                    let v = f.new_value(t);
                    out.push(instr(Op::LoadConst, vec![kk], vec![], vec![v], None));
                    out.push(instr(Op::InitStore, vec![iv, s.index], vec![obj, v, done], vec![], None));
                    out.push(instr(Op::PopTop, vec![], vec![v], vec![], None));
                }
            }
        }
        // `__init__`'s frame would release the arguments, the call the class.
        super::release_call_operands(&ins, out);
        true
    });
    super::drop_callees(f, &used);
    n
}
