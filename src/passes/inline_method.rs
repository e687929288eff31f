//! Inlines a method call whose body reads slots of its parameters, computes on the numbers it
//! read and writes slots back: float's `Point.normalize`
//!
//! ```python
//! def normalize(self):
//!     x = self.x
//!     y = self.y
//!     z = self.z
//!     norm = sqrt(x * x + y * y + z * z)
//!     self.x /= norm
//!     self.y /= norm
//!     self.z /= norm
//! ```
//!
//! called as `p.normalize()` in a loop. The shim sends the function a `LoadMethod`'s inline
//! cache holds ([`crate::hir::Callee`], site = the load). When its body is admitted
//! ([`admissible`]), the call
//!
//! ```text
//! v1, v2:opt = LoadMethod<3, 2, 131813, 0, 4096> v0 @44[]
//! v3 = Call<0, 0> v1 v2 @54[]
//! ```
//! becomes `GuardMethodCallee<code> v1 v2` ([`Op::GuardMethodCallee`]), then the body in two
//! sections:
//!
//! 1. **Checks and computation.** Every read, every local (an SSA value: the body has no
//!    frame), every constant, `math` call and arithmetic, in the body's order. A slot read is
//!    `LoadAttrBorrow` of the call's own operand, exact to the profile's type version, and a
//!    `Copy` that owns the value. Each of these has the call's frame state with the call's
//!    operands on the stack and the body's owned values (its stack, its locals, the values
//!    waiting to be stored) after the bar, so any check that fails deopts *to the call*: the
//!    interpreter then makes the call from the start, with the callee's frame, traceback entry
//!    and events its own. The typed passes then type this section as the caller's own code.
//! 2. **Effects.** The locals are released (each holds an int or a float, checked in section 1,
//!    whose release runs no code), then the slot stores are made in the body's order, then the
//!    call's operands are released as the callee's frame would release them.
//!
//! Moving every store after every check is what makes a deopt to the call exact: nothing the
//! body does before a check can be seen. That holds because (see [`admissible`]) a slot is
//! read only before any store to the same offset (so reordering cannot change what a read
//! sees, even when two parameters are the same object), each stored slot was read first from
//! the same parameter at the same type version (so its type version is checked in section 1,
//! the store takes the interpreter's `STORE_ATTR_SLOT` path, and its old value is a number
//! checked in section 1, whose release runs no code), and no two stores write the same offset.
//! Releasing the locals before the stores lets `store_float` write a dying slot float in place
//! (`self.x /= norm`: the slot's float has no other reference left), as the interpreter could
//! not with the frame holding `x`.
//!
//! `GuardMethodCallee` also checks that the load found a method (`self` is there), that the
//! function's globals and builtins are the caller's (a `math` global of the body is read from
//! the caller's frame), and what `GuardCallee` checks (the code object, no monitoring, the
//! recursion limit; pending eval-breaker work runs in a frame of the callee first). The
//! body's own eval-breaker checks after its calls (`CallBreaker`) are left out: work that
//! becomes pending in the body runs at the caller's next check, with the caller's frame.
//!
//! A call whose body kept failing is withdrawn with the rest of the function and, once its call
//! site is recorded as despecialised, no longer offered by the shim. Nothing is done when the
//! function may not speculate ([`Function::speculate`]).

use std::collections::{HashMap, HashSet};

use super::inline_call::typed_result;
use super::instr;
use super::specialize::speculated_divide;
use super::straighten::{straighten, Arm, Step, Straight};
use crate::hir::imms::{BinaryOpImms, CallImms, CompareOpImms, LoadAttrImms, LoadGlobalImms, StoreAttrImms};
use crate::hir::op::{AttrSpec, CallSpec, CompareSpec, MathFn, StoreAttrSpec};
use crate::hir::{FrameState, Function, Instr, Op, Type, Value};

/// Where a callee value comes from, for [`admissible`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Origin {
    /// Parameter k (a reference the call holds).
    Param(u32),
    /// A read of parameter k's slot at this byte offset.
    Slot(u32, i64),
    /// A result of typed arithmetic or of a `math` call: an int or a float.
    Number,
    /// A constant.
    Const,
    /// A global the shim identified as a `math` function.
    Math,
    /// The NULL pushed with it.
    Null,
    /// The result of a typed comparison: a bool.
    Truth,
    /// The value a conditional expression chose ([`Step::Select`]): a parameter's object, a
    /// local's or a slot's value read before any store to the slot. Whichever it is, something
    /// the call keeps (a parameter, a local, a slot not yet written) holds it until the body's
    /// stores, so releasing the choice runs no code.
    Chosen,
}

/// The type `specialize` gives the result of `BinaryOp` `ins` on operands of types `ta` and
/// `tb`: `inline_call`'s plan, and the division it speculates on when one operand is a known
/// `Float` and the other of unknown type (`norm` after `sqrt`). `None`: left generic.
fn planned(ins: &Instr, ta: Type, tb: Type) -> Option<Type> {
    let imms = BinaryOpImms::of(ins)?;
    if let Some(t) = typed_result(imms.spec.number_type(), ta, tb, imms.arith) {
        return Some(t);
    }
    speculated_divide(imms.spec, imms.arith, [ta, tb], [ta == Type::Float, tb == Type::Float]).then_some(Type::Float)
}

/// What a callee body is inlined as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// A method called through a `LoadMethod` (this pass).
    Method,
    /// The `__init__` of a class of this type version, called through the class
    /// (`passes::inline_init`): parameter 0 is the new instance, made after the body's first
    /// section, so the body may only store into it.
    Init {
        /// The class's type version.
        version: i64,
    },
}

/// True when `c`'s body can be inlined by this pass: one block of `Resume`, `Nop`,
/// `CallBreaker`, loads of parameters and of locals it stored before, stores of locals other
/// than parameters (each once), constants, `Copy<1>`, `LoadAttr`s quickened to
/// `LOAD_ATTR_SLOT` on a parameter (at an offset no store before it writes), one-argument calls
/// of globals the shim identified as `math` functions, `BinaryOp`s that `specialize` will type
/// ([`planned`]) and `StoreAttr`s quickened to `STORE_ATTR_SLOT` on a parameter, at least one,
/// each at its own offset and after a read of that slot of that parameter at the same type
/// version; ending in a return. Every local must end up holding a number or a constant, and
/// every stored slot's old value must be a number (an operand of typed arithmetic or of a
/// `math` call), so that releasing either runs no code.
pub fn admissible(c: &Function) -> bool {
    admissible_as(c, Body::Method)
}

/// [`admissible`] for a body inlined as `kind`. For [`Body::Init`]: no slot reads, parameter 0
/// (the instance) used only as the owner of stores, each store quickened for the class's type
/// version (`STORE_ATTR_SLOT` or `STORE_ATTR_INSTANCE_VALUE`) at its own place (the place is
/// empty: no read comes first), and the body returns `None`.
pub(crate) fn admissible_as(c: &Function, kind: Body) -> bool {
    straighten(c).is_some_and(|s| admit(c, &s, kind))
}

/// [`admissible_as`] on the straight-line form `s` of `c`'s body.
fn admit(c: &Function, s: &Straight, kind: Body) -> bool {
    let init = matches!(kind, Body::Init { .. });
    // In an __init__, the instance does not exist yet where the body computes.
    let instance = |o: Option<&Origin>| init && o == Some(&Origin::Param(0));
    let argc = c.argcount;
    let mut origin: HashMap<Value, Origin> = HashMap::new();
    let mut ty: HashMap<Value, Type> = HashMap::new();
    let mut locals: HashMap<i64, Value> = HashMap::new();
    let mut reads: Vec<(u32, i64, i64)> = vec![];
    // (parameter, name) → the offset of its first slot read.
    let mut named: HashMap<(u32, u64), i64> = HashMap::new();
    let mut stored: HashSet<i64> = HashSet::new();
    let mut old_values: Vec<Origin> = vec![];
    let mut checked: HashSet<Origin> = HashSet::new();
    for step in &s.steps {
        let ins = match step {
            Step::Ins(ins) => ins,
            Step::Select { cond, arms, result, attrs } => {
                if origin.get(cond) != Some(&Origin::Truth) {
                    return false;
                }
                for arm in arms {
                    let ok = match *arm {
                        Arm::Local(k) if k >= 0 && (k as u64) < argc as u64 => !instance(Some(&Origin::Param(k as u32))),
                        Arm::Local(k) => locals.contains_key(&k),
                        // Read before, at an offset nothing has stored to yet.
                        Arm::Attr(k, i) => {
                            let name = c.consts.get(attrs[i].imms[0] as usize).copied().unwrap_or(0);
                            let first = u32::try_from(k).ok().and_then(|p| named.get(&(p, name)));
                            !init && first.is_some_and(|off| !stored.contains(off))
                        }
                    };
                    if !ok {
                        return false;
                    }
                }
                origin.insert(*result, Origin::Chosen);
                ty.insert(*result, Type::Object);
                continue;
            }
        };
        let r = ins.results.first().copied();
        let (o, t) = match ins.op {
            Op::Resume | Op::Nop | Op::CallBreaker => continue,
            Op::LoadFast | Op::LoadFastBorrow | Op::LoadFastCheck => {
                let k = ins.imms[0];
                if k >= 0 && (k as u64) < argc as u64 {
                    (Origin::Param(k as u32), Type::Object)
                } else {
                    let Some(v) = locals.get(&k) else { return false };
                    (origin[v], ty[v])
                }
            }
            Op::StoreFast => {
                let k = ins.imms[0];
                if k < argc as i64 || locals.contains_key(&k) || !origin.contains_key(&ins.args[0]) || instance(origin.get(&ins.args[0])) {
                    return false;
                }
                locals.insert(k, ins.args[0]);
                continue;
            }
            Op::LoadConst => (Origin::Const, c.const_type(ins.imms[0])),
            Op::Copy if ins.imms.first() == Some(&1) => match origin.get(&ins.args[0]) {
                Some(&o) => (o, ty[&ins.args[0]]),
                None => return false,
            },
            Op::LoadAttr => {
                let Some(a) = LoadAttrImms::of(ins) else { return false };
                let Some(&Origin::Param(p)) = origin.get(&ins.args[0]) else { return false };
                if init || a.spec != AttrSpec::Slot || a.version <= 0 || stored.contains(&a.index) {
                    return false;
                }
                reads.push((p, a.index, a.version));
                named.entry((p, c.consts.get(a.name as usize).copied().unwrap_or(0))).or_insert(a.index);
                (Origin::Slot(p, a.index), Type::Object)
            }
            Op::LoadGlobal => match LoadGlobalImms::of(ins) {
                Some(g) if g.push_null && g.known != MathFn::None && g.object != 0 => (Origin::Math, Type::Object),
                _ => return false,
            },
            Op::PushNull => (Origin::Null, Type::OptObject),
            Op::Call => {
                let one = CallImms::of(ins).is_some_and(|k| k.nargs == 1 && k.spec != CallSpec::Len) && ins.args.len() == 3;
                let (Some(&f0), Some(&f1), Some(&x)) =
                    (origin.get(&ins.args[0]), origin.get(&ins.args[1]), origin.get(ins.args.get(2).unwrap_or(&ins.args[0])))
                else {
                    return false;
                };
                if !one || f0 != Origin::Math || f1 != Origin::Null || matches!(x, Origin::Math | Origin::Null) || instance(Some(&x)) {
                    return false;
                }
                checked.insert(x);
                (Origin::Number, Type::Float)
            }
            Op::BinaryOp => {
                let (Some(&ta), Some(&tb)) = (ty.get(&ins.args[0]), ty.get(&ins.args[1])) else { return false };
                let Some(t) = planned(ins, ta, tb) else { return false };
                if ins.args.iter().any(|a| instance(origin.get(a))) {
                    return false;
                }
                for a in &ins.args {
                    checked.insert(origin[a]);
                }
                (Origin::Number, t)
            }
            Op::CompareOp => {
                let (Some(&ta), Some(&tb)) = (ty.get(&ins.args[0]), ty.get(&ins.args[1])) else { return false };
                let Some(k) = CompareOpImms::of(ins) else { return false };
                let typed = matches!(k.spec, CompareSpec::Int | CompareSpec::Float) || (ta == tb && matches!(ta, Type::Int | Type::Float));
                if !typed || ins.args.iter().any(|a| instance(origin.get(a))) {
                    return false;
                }
                for a in &ins.args {
                    checked.insert(origin[a]);
                }
                (Origin::Truth, Type::Bool)
            }
            Op::StoreAttr => {
                let Some(s) = StoreAttrImms::of(ins) else { return false };
                let (Some(&Origin::Param(p)), Some(v)) = (origin.get(&ins.args[1]), origin.get(&ins.args[0])) else { return false };
                if s.version <= 0 || !stored.insert(s.index) || instance(Some(v)) {
                    return false;
                }
                match kind {
                    Body::Method => {
                        if s.spec != StoreAttrSpec::Slot || !reads.contains(&(p, s.index, s.version)) {
                            return false;
                        }
                        old_values.push(Origin::Slot(p, s.index));
                    }
                    Body::Init { version } => {
                        let place = matches!(s.spec, StoreAttrSpec::Slot | StoreAttrSpec::InstanceValue);
                        if p != 0 || !place || s.version != version || s.index < 0 {
                            return false;
                        }
                    }
                }
                continue;
            }
            _ => return false,
        };
        let Some(r) = r else { return false };
        origin.insert(r, o);
        ty.insert(r, t);
    }
    let term = &s.term;
    let returns = match (term.op, kind) {
        (Op::ReturnValue, Body::Method) => {
            term.args.first().and_then(|v| origin.get(v)).is_some_and(|o| !matches!(o, Origin::Math | Origin::Null))
        }
        (Op::ReturnConst, Body::Method) => true,
        // `return None`: the constant, loaded or returned directly.
        (Op::ReturnValue, Body::Init { .. }) => {
            let none =
                |v: &Value| s.instrs().any(|i| i.op == Op::LoadConst && i.results[0] == *v && c.const_type(i.imms[0]) == Type::NoneType);
            term.args.first().is_some_and(none)
        }
        (Op::ReturnConst, Body::Init { .. }) => term.imms.first().is_some_and(|&k| c.const_type(k) == Type::NoneType),
        _ => false,
    };
    let releasable =
        |o: &Origin| matches!(o, Origin::Number | Origin::Truth | Origin::Chosen | Origin::Const | Origin::Param(_)) || checked.contains(o);
    returns
        && (init || !old_values.is_empty())
        && old_values.iter().all(|o| checked.contains(o))
        && locals.values().all(|v| releasable(&origin[v]))
}

/// A callee value in the caller: a parameter not taken yet (the call's operand, used where the
/// body only reads it), or a value the inlined body owns.
#[derive(Clone, Copy)]
enum Val {
    Param(u32),
    Owned(Value),
}

/// The inlining of one call (see the module doc).
struct Inliner<'a> {
    call: &'a Instr,
    at_call: FrameState,
    map: HashMap<Value, Val>,
    locals: Vec<(i64, Value)>,
    pending: Vec<(Vec<i64>, Value, u32)>,
    /// (parameter, name handle) → the specialisation, type version and offset of the body's
    /// first slot read of that attribute of that parameter.
    reads: HashMap<(u32, u64), [i64; 3]>,
}

impl Inliner<'_> {
    /// The call's operand for parameter `k` (0: `self`).
    fn operand(&self, k: u32) -> Value {
        self.call.args[1 + k as usize]
    }

    /// An owned value for callee value `v`: a new reference to a parameter's operand, or the
    /// body's own value.
    fn take(&mut self, f: &mut Function, v: Value, out: &mut Vec<Instr>) -> Value {
        match self.map[&v] {
            Val::Owned(x) => x,
            Val::Param(k) => {
                let a = self.operand(k);
                let t = if f.ty(a) == Type::OptObject { Type::Object } else { f.ty(a) };
                let r = f.new_value(t);
                out.push(instr(Op::Copy, vec![1], vec![a], vec![r], None));
                r
            }
        }
    }

    /// The frame state of a body instruction whose own state in the callee is `fs`: the call's,
    /// with the body's owned values after the bar (its stack there, its locals, the values
    /// waiting to be stored).
    fn state(&self, fs: Option<&FrameState>) -> FrameState {
        let mut s = self.at_call.clone();
        let mut owned: Vec<Value> = vec![];
        for v in fs.map(|fs| fs.stack.as_slice()).unwrap_or(&[]) {
            if let Some(Val::Owned(x)) = self.map.get(v) {
                owned.push(*x);
            }
        }
        owned.extend(self.locals.iter().map(|(_, v)| *v));
        owned.extend(self.pending.iter().map(|(_, v, _)| *v));
        s.inlined = Some(owned);
        s
    }

    /// Emits a folded conditional expression (`Step::Select`): each arm as a borrowed value (a
    /// parameter's operand, a local's value, or the slot read again with the profile of the
    /// body's first read of it, which [`admissible`] requires), then `Select` and a `Copy` that
    /// owns the choice, then the release of the tested bool.
    #[allow(clippy::too_many_arguments)]
    fn select(
        &mut self,
        f: &mut Function,
        body: &Function,
        cond: Value,
        arms: &[Arm; 2],
        result: Value,
        attrs: &[Instr],
        out: &mut Vec<Instr>,
    ) {
        let Val::Owned(c) = self.map[&cond] else { unreachable!("admitted: a comparison's result") };
        let mut vals = [c; 2];
        for (j, arm) in arms.iter().enumerate() {
            vals[j] = match *arm {
                Arm::Local(k) if k < i64::from(body.argcount) => self.operand(k as u32),
                Arm::Local(k) => self.locals.iter().find(|(s, _)| *s == k).expect("admitted: stored before").1,
                Arm::Attr(k, i) => {
                    let k_name = attrs[i].imms[0];
                    let name = body.consts[k_name as usize];
                    let [spec, version, index] = self.reads[&(k as u32, name)];
                    let owner = self.operand(k as u32);
                    let peek = f.new_value(Type::Object);
                    let mut st = self.state(None);
                    st.inlined.get_or_insert_with(Vec::new).push(c);
                    let name = super::const_index(f, name, body.const_type(k_name));
                    out.push(instr(Op::LoadAttrBorrow, vec![name, spec, version, index], vec![owner], vec![peek], Some(st)));
                    peek
                }
            };
        }
        let t = match (f.ty(vals[0]), f.ty(vals[1])) {
            (a, b) if a == b && a != Type::OptObject => a,
            _ => Type::Object,
        };
        let s = f.new_value(t);
        out.push(instr(Op::Select, vec![], vec![c, vals[0], vals[1]], vec![s], None));
        let r = f.new_value(t);
        out.push(instr(Op::Copy, vec![1], vec![s], vec![r], None));
        out.push(instr(Op::PopTop, vec![], vec![c], vec![], None));
        self.map.insert(result, Val::Owned(r));
    }
}

/// The class of an `__init__` inlined by `passes::inline_init`: its type version and the
/// `__init__` function's address (both bound values, `LoadGlobal`'s imm8 and imm9).
#[derive(Clone, Copy, Debug)]
pub(crate) struct InitOf {
    /// The class's type version.
    pub version: i64,
    /// `__init__`'s address.
    pub init: i64,
}

/// Emits the inlined body of `body` for `call` (see the module doc) into `out`: a method's
/// (`init` None), or, for `passes::inline_init`, the `__init__` of the class `init` describes,
/// whose first section is followed by the `AllocInstance` that makes the instance (the call's
/// result) and the `InitStore`s into it.
pub(crate) fn inline(f: &mut Function, call: &Instr, code: u64, body: &Function, init: Option<InitOf>, out: &mut Vec<Instr>) {
    let at_call = super::at_call(call);
    if init.is_none() {
        out.push(instr(Op::GuardMethodCallee, vec![code as i64], call.args.clone(), vec![], Some(at_call.clone())));
    }
    let mut il = Inliner { call, at_call, map: HashMap::new(), locals: vec![], pending: vec![], reads: HashMap::new() };
    let konst = |f: &mut Function, k: i64| super::const_index(f, body.consts[k as usize], body.const_type(k));
    let straight = straighten(body).expect("admitted: a straight-line body");
    for step in &straight.steps {
        let b = match step {
            Step::Ins(b) => b,
            Step::Select { cond, arms, result, attrs } => {
                il.select(f, body, *cond, arms, *result, attrs, out);
                continue;
            }
        };
        let fs = b.fs.as_ref();
        match b.op {
            Op::LoadFast | Op::LoadFastBorrow | Op::LoadFastCheck => {
                let k = b.imms[0];
                let v = if k < body.argcount as i64 {
                    Val::Param(k as u32)
                } else {
                    let &(_, x) = il.locals.iter().find(|(s, _)| *s == k).expect("admitted: stored before");
                    let r = f.new_value(f.ty(x));
                    out.push(instr(Op::Copy, vec![1], vec![x], vec![r], None));
                    Val::Owned(r)
                };
                il.map.insert(b.results[0], v);
            }
            Op::StoreFast => {
                let x = il.take(f, b.args[0], out);
                il.locals.push((b.imms[0], x));
            }
            Op::Copy => {
                let v = match il.map[&b.args[0]] {
                    Val::Param(k) => Val::Param(k),
                    Val::Owned(x) => {
                        let r = f.new_value(f.ty(x));
                        out.push(instr(Op::Copy, vec![1], vec![x], vec![r], None));
                        Val::Owned(r)
                    }
                };
                il.map.insert(b.results[0], v);
            }
            Op::LoadConst => {
                let k = konst(f, b.imms[0]);
                let r = f.new_value(body.const_type(b.imms[0]));
                out.push(instr(Op::LoadConst, vec![k], vec![], vec![r], None));
                il.map.insert(b.results[0], Val::Owned(r));
            }
            Op::LoadAttr => {
                let a = LoadAttrImms::of(b).expect("admitted");
                let Val::Param(p) = il.map[&b.args[0]] else { unreachable!("admitted: the owner is a parameter") };
                let owner = il.operand(p);
                let peek = f.new_value(Type::Object);
                let name = konst(f, a.name);
                let st = il.state(fs);
                il.reads.entry((p, body.consts[a.name as usize])).or_insert([a.spec as i64, a.version, a.index]);
                out.push(instr(Op::LoadAttrBorrow, vec![name, a.spec as i64, a.version, a.index], vec![owner], vec![peek], Some(st)));
                let r = f.new_value(Type::Object);
                out.push(instr(Op::Copy, vec![1], vec![peek], vec![r], None));
                il.map.insert(b.results[0], Val::Owned(r));
            }
            Op::StoreAttr => {
                let s = StoreAttrImms::of(b).expect("admitted");
                let Val::Param(p) = il.map[&b.args[1]] else { unreachable!("admitted: the owner is a parameter") };
                let v = il.take(f, b.args[0], out);
                let name = konst(f, s.name);
                il.pending.push((vec![name, s.spec as i64, s.version, s.index], v, p));
            }
            Op::LoadGlobal | Op::PushNull | Op::Call | Op::BinaryOp | Op::CompareOp => {
                let mut imms = b.imms.clone();
                if b.op == Op::LoadGlobal {
                    imms[0] = konst(f, imms[0]);
                }
                let st = il.state(fs);
                let args: Vec<Value> = b.args.clone().into_iter().map(|a| il.take(f, a, out)).collect();
                let t = if b.op == Op::PushNull { Type::OptObject } else { Type::Object };
                let r = f.new_value(t);
                let state = (b.op != Op::PushNull).then_some(st);
                out.push(instr(b.op, imms, args, vec![r], state));
                il.map.insert(b.results[0], Val::Owned(r));
            }
            _ => {}
        }
    }
    if let Some(c) = init {
        // The instance, then the stores into it (none when `__init__` ran as a call), then
        // the releases of what the body still owns and of the call's operands.
        let obj = call.results[0];
        f.types[obj.0 as usize] = Type::Object;
        let done = f.new_value(Type::CBool);
        let reads_globals = straight.instrs().any(|i| i.op == Op::LoadGlobal);
        let st = il.state(None);
        let imms = vec![code as i64, c.version, c.init, reads_globals as i64];
        out.push(instr(Op::AllocInstance, imms, super::callable_and_args(call), vec![obj, done], Some(st)));
        for (imms, v, _) in std::mem::take(&mut il.pending) {
            out.push(instr(Op::InitStore, vec![imms[1], imms[3]], vec![obj, v, done], vec![], None));
            out.push(instr(Op::PopTop, vec![], vec![v], vec![], None));
        }
        for (_, x) in std::mem::take(&mut il.locals) {
            out.push(instr(Op::PopTop, vec![], vec![x], vec![], None));
        }
        super::release_call_operands(call, out);
        return;
    }
    // What the call returns, owned.
    let term = &straight.term;
    let ret = match term.op {
        Op::ReturnConst => {
            let k = konst(f, term.imms[0]);
            let r = f.new_value(body.const_type(term.imms[0]));
            out.push(instr(Op::LoadConst, vec![k], vec![], vec![r], None));
            r
        }
        _ => il.take(f, term.args[0], out),
    };
    // Effects: the locals' releases, then the stores.
    for (_, x) in std::mem::take(&mut il.locals) {
        out.push(instr(Op::PopTop, vec![], vec![x], vec![], None));
    }
    let pending = std::mem::take(&mut il.pending);
    for (k, (imms, v, p)) in pending.iter().enumerate() {
        let owner_op = il.operand(*p);
        let owner = f.new_value(Type::Object);
        out.push(instr(Op::Copy, vec![1], vec![owner_op], vec![owner], None));
        let mut st = il.at_call.clone();
        st.inlined = Some(pending[k + 1..].iter().map(|(_, v, _)| *v).chain(std::iter::once(ret)).collect());
        out.push(instr(Op::StoreAttr, imms.clone(), vec![*v, owner], vec![], Some(st)));
    }
    // The call's result is the body's returned value, renamed.
    let result = call.results[0];
    f.types[result.0 as usize] = f.ty(ret);
    for ins in out.iter_mut() {
        for v in ins.results.iter_mut().chain(ins.args.iter_mut()) {
            if *v == ret {
                *v = result;
            }
        }
        if let Some(fs) = ins.fs.as_mut() {
            for v in fs.values_mut() {
                if *v == ret {
                    *v = result;
                }
            }
        }
    }
    // The callee's frame would release `self` and the arguments, the call the callable.
    for a in &call.args {
        out.push(instr(Op::PopTop, vec![], vec![*a], vec![], None));
    }
}

/// Runs the pass; returns the number of calls inlined.
pub fn run(f: &mut Function) -> usize {
    if !f.speculate || f.callees.is_empty() {
        return 0;
    }
    // Site of a method load → callee index, for the admitted callees.
    let mut by_site: HashMap<u32, usize> = HashMap::new();
    for (i, c) in f.callees.iter().enumerate() {
        if admissible(&c.body) {
            by_site.insert(c.site, i);
        }
    }
    if by_site.is_empty() {
        return 0;
    }
    let calls = super::MethodCalls::find(f, |bc| by_site.get(&bc).copied());
    let mut used: HashSet<usize> = HashSet::new();
    let n = super::expand_instrs(f, |f, ins, out| {
        let ci = match calls.call_of(&ins) {
            Some((&ci, nargs)) if nargs + 1 == f.callees[ci].body.argcount as u64 => ci,
            _ => {
                out.push(ins);
                return false;
            }
        };
        used.insert(ci);
        let (code, body) = (f.callees[ci].code, f.callees[ci].body.clone());
        let mut mine = vec![];
        inline(f, &ins, code, &body, None, &mut mine);
        out.extend(mine);
        true
    });
    super::drop_callees(f, &used);
    n
}
