//! HIR optimisation passes, one per file, behind one interface: a pass is a named function
//! that takes a verified [`Function`], leaves it verified and returns how many changes it made.
//! [`PIPELINE`] is the default order; [`run_all`] runs it and reports each pass's count and
//! time.

pub mod borrow;
pub mod box_elim;
pub mod infer;
pub mod inline_call;
pub mod inline_init;
pub mod inline_method;
pub mod inline_trivial;
pub mod loop_locals;
pub mod math_call;
pub mod pure_pop;
pub mod slice_subscr;
pub mod specialize;
pub mod store_float;
pub mod straighten;
pub mod unbox_locals;
pub mod unpack_store;

use std::collections::{HashMap, HashSet};

use crate::error::EmberError;
use crate::hir::imms::{CallImms, LoadGlobalImms};
use crate::hir::op::CallSpec;
use crate::hir::{FrameState, Function, Instr, Op, Type, Value};

/// One HIR pass: its name (for logs and filetests) and its entry point, which returns the
/// number of changes it made.
#[derive(Clone, Copy)]
pub struct Pass {
    /// The pass's name (its module's name).
    pub name: &'static str,
    /// Runs the pass.
    pub run: fn(&mut Function) -> usize,
}

/// The default pipeline, in order.
pub const PIPELINE: &[Pass] = &[
    // First: these four consume the callees, which nothing after them reads.
    Pass { name: "inline_init", run: inline_init::run },
    Pass { name: "inline_call", run: inline_call::run },
    Pass { name: "inline_method", run: inline_method::run },
    Pass { name: "inline_trivial", run: inline_trivial::run },
    Pass { name: "pure_pop", run: pure_pop::run },
    Pass { name: "unpack_store", run: unpack_store::run },
    Pass { name: "slice_subscr", run: slice_subscr::run },
    Pass { name: "infer", run: infer::run },
    Pass { name: "specialize", run: specialize::run },
    // Before the second round: a `math` call's Float result makes what uses it typed.
    Pass { name: "math_call", run: math_call::run },
    Pass { name: "infer", run: infer::run },
    // Block parameters typed by the second `infer` make more operations typed.
    Pass { name: "specialize", run: specialize::run },
    Pass { name: "infer", run: infer::run },
    // On typed code: its guards and arithmetic are what lets a loop qualify.
    Pass { name: "loop_locals", run: loop_locals::run },
    // The held locals' block parameters get their types, and guards of them go.
    Pass { name: "infer", run: infer::run },
    Pass { name: "unbox_locals", run: unbox_locals::run },
    Pass { name: "box_elim", run: box_elim::run },
    Pass { name: "store_float", run: store_float::run },
    Pass { name: "borrow", run: borrow::run },
];

/// Looks a pass up by name.
pub fn find(name: &str) -> Option<Pass> {
    PIPELINE.iter().copied().find(|p| p.name == name)
}

/// What one pass did: its name, the number of changes and its time in nanoseconds.
#[derive(Clone, Debug)]
pub struct PassStat {
    /// The pass's name.
    pub name: &'static str,
    /// Changes it made.
    pub changes: usize,
    /// Wall time, ns.
    pub ns: u64,
}

/// The compile pipeline's HIR stage: verifies `f`, runs every pass ([`run_all`]) and verifies
/// the result, so that lowering only ever sees well-formed HIR. Returns the passes' stats.
///
/// Errors: [`EmberError::Verify`] (or the verifier's other errors) for malformed input or
/// output.
pub fn run_verified(f: &mut Function) -> Result<Vec<PassStat>, EmberError> {
    crate::hir::verify::verify(f)?;
    let stats = run_all(f)?;
    crate::hir::verify::verify(f)?;
    Ok(stats)
}

/// Runs the default pass pipeline; returns each pass's statistics.
///
/// Errors: [`EmberError::Verify`] when a pass leaves the function malformed (checked in debug
/// builds only).
pub fn run_all(f: &mut Function) -> Result<Vec<PassStat>, EmberError> {
    let mut stats = Vec::with_capacity(PIPELINE.len());
    for p in PIPELINE {
        let t = std::time::Instant::now();
        let changes = (p.run)(f);
        stats.push(PassStat { name: p.name, changes, ns: t.elapsed().as_nanos() as u64 });
        if cfg!(debug_assertions) {
            crate::hir::verify::verify(f).map_err(|e| EmberError::Verify(format!("after pass {}: {e}", p.name)))?;
        }
    }
    Ok(stats)
}

/// One line of `name changes time` per pass, comma-separated, for the log
/// (`EMBER_LOG_PASSES=1`): `pure_pop 2 4us, unpack_store 0 1us, ...`.
pub fn summary(stats: &[PassStat]) -> String {
    let parts: Vec<String> = stats.iter().map(|s| format!("{} {} {}us", s.name, s.changes, s.ns.div_ceil(1000))).collect();
    parts.join(", ")
}

/// The index of constant `handle` (of exact type `ty`) in `f`'s constant table, appended when
/// it is not there yet (a callee's constant used by its caller).
pub(crate) fn const_index(f: &mut Function, handle: u64, ty: Type) -> i64 {
    let k = match f.consts.iter().position(|&c| c == handle) {
        Some(k) => k,
        None => {
            f.consts.push(handle);
            f.const_types.push(ty);
            f.consts.len() - 1
        }
    };
    k as i64
}

/// A new non-terminator instruction (no branch targets) for the passes that build HIR.
pub(crate) fn instr(op: Op, imms: Vec<i64>, args: Vec<Value>, results: Vec<Value>, fs: Option<FrameState>) -> Instr {
    Instr { op, imms, args, results, targets: vec![], fs }
}

/// Rewrites every block's instructions in order: `each` gets each instruction and the block's
/// new instruction list, and appends either the instruction's replacement (returning true) or
/// the instruction itself (false). Returns the number of instructions replaced (the change
/// count of the passes that expand one instruction into several).
pub(crate) fn expand_instrs(f: &mut Function, mut each: impl FnMut(&mut Function, Instr, &mut Vec<Instr>) -> bool) -> usize {
    let mut n = 0;
    for bi in 0..f.blocks.len() {
        let instrs = std::mem::take(&mut f.blocks[bi].instrs);
        let mut out = Vec::with_capacity(instrs.len());
        for ins in instrs {
            if each(f, ins, &mut out) {
                n += 1;
            }
        }
        f.blocks[bi].instrs = out;
    }
    n
}

/// How many times each value is used as an operand or an edge argument, frame states not
/// counted (a side exit takes its own reference, or boxes an unboxed value itself).
pub(crate) fn operand_uses(f: &Function) -> HashMap<Value, usize> {
    let mut uses = HashMap::new();
    for b in &f.blocks {
        for ins in b.instrs.iter().chain(std::iter::once(&b.term)) {
            for a in ins.args.iter().chain(ins.targets.iter().flat_map(|t| t.args.iter())) {
                *uses.entry(*a).or_insert(0) += 1;
            }
        }
    }
    uses
}

/// How many times each value is used: as an operand, an edge argument or a frame-state stack
/// entry (for the passes that rewrite a value with a single use).
pub(crate) fn use_counts(f: &Function) -> HashMap<Value, usize> {
    let mut n = HashMap::new();
    for b in &f.blocks {
        for ins in b.instrs.iter().chain(std::iter::once(&b.term)) {
            let all = ins.args.iter().chain(ins.targets.iter().flat_map(|t| t.args.iter())).chain(ins.fs.iter().flat_map(|s| s.values()));
            for v in all {
                *n.entry(*v).or_insert(0) += 1;
            }
        }
    }
    n
}

/// The peephole passes' rewrite: in every block, at each instruction index `i`, `fuse(instrs,
/// i)` returns the instruction that replaces `instrs[i..i + n]` together with `n` (at least 1),
/// or `None` to keep `instrs[i]`. Returns the number of replacements.
pub(crate) fn fuse_runs(f: &mut Function, mut fuse: impl FnMut(&[Instr], usize) -> Option<(Instr, usize)>) -> usize {
    let mut fused = 0;
    for b in &mut f.blocks {
        let mut out: Vec<Instr> = Vec::with_capacity(b.instrs.len());
        let mut i = 0;
        while i < b.instrs.len() {
            match fuse(&b.instrs, i) {
                Some((ins, n)) => {
                    out.push(ins);
                    fused += 1;
                    i += n.max(1);
                }
                None => {
                    out.push(b.instrs[i].clone());
                    i += 1;
                }
            }
        }
        b.instrs = out;
    }
    fused
}

/// The calls of values loaded from globals, for the passes that put a callee's work in place
/// of such a call (`inline_call`, `inline_init`): the values of the `LoadGlobal`s that push a
/// NULL, have a frame state and that the pass picked, and the NULLs.
pub(crate) struct GlobalCalls<T> {
    loaded: HashMap<Value, T>,
    nulls: HashSet<Value>,
}

impl<T> GlobalCalls<T> {
    /// Scans `f`: `pick` gets each such load, its immediates and its code unit (the site of
    /// the callee the shim sent with it), and answers what the pass keeps for its calls.
    pub(crate) fn find(f: &Function, mut pick: impl FnMut(&LoadGlobalImms, u32) -> Option<T>) -> Self {
        let mut loaded = HashMap::new();
        let mut nulls = HashSet::new();
        for ins in f.blocks.iter().flat_map(|b| &b.instrs) {
            match (ins.op, &ins.fs) {
                (Op::LoadGlobal, Some(fs)) => {
                    if let Some(t) = LoadGlobalImms::of(ins).filter(|g| g.push_null).and_then(|g| pick(&g, fs.bc)) {
                        loaded.insert(ins.results[0], t);
                    }
                }
                (Op::PushNull, _) => {
                    nulls.insert(ins.results[0]);
                }
                _ => {}
            }
        }
        GlobalCalls { loaded, nulls }
    }

    /// True when no load was picked.
    pub(crate) fn is_empty(&self) -> bool {
        self.loaded.is_empty()
    }

    /// When `ins` is a generic `Call` (with a frame state) of a picked value and its NULL,
    /// without keywords: what was picked for the load, and the call's argument count.
    pub(crate) fn call_of(&self, ins: &Instr) -> Option<(&T, u64)> {
        let call = CallImms::of(ins).filter(|c| c.spec == CallSpec::Generic)?;
        let nargs = u64::try_from(call.nargs).ok()?;
        match (ins.args.first().and_then(|c| self.loaded.get(c)), ins.args.get(1), &ins.fs) {
            (Some(t), Some(null), Some(_)) if self.nulls.contains(null) => Some((t, nargs)),
            _ => None,
        }
    }
}

/// The calls of methods loaded by `LoadMethod`, for the passes that put a callee's work in place
/// of such a call (`inline_trivial`, `inline_method`): the callable values of the loads the pass
/// picked, with their `self` values.
pub(crate) struct MethodCalls<T> {
    loads: HashMap<Value, (Value, T)>,
}

impl<T> MethodCalls<T> {
    /// Scans `f`: `pick` gets the code unit of each `LoadMethod` with a frame state (the site
    /// of the callee the shim sent with it) and answers what the pass keeps for its calls.
    pub(crate) fn find(f: &Function, mut pick: impl FnMut(u32) -> Option<T>) -> Self {
        let mut loads = HashMap::new();
        for ins in f.blocks.iter().flat_map(|b| &b.instrs) {
            if let (Op::LoadMethod, Some(fs)) = (ins.op, &ins.fs) {
                if let Some(t) = pick(fs.bc) {
                    loads.insert(ins.results[0], (ins.results[1], t));
                }
            }
        }
        MethodCalls { loads }
    }

    /// When `ins` is a generic `Call` (with a frame state) of a picked load's callable and its
    /// `self` value, without keywords: what was picked for the load, and the call's argument
    /// count (`self` not counted).
    pub(crate) fn call_of(&self, ins: &Instr) -> Option<(&T, u64)> {
        let call = CallImms::of(ins).filter(|c| c.spec == CallSpec::Generic && ins.fs.is_some())?;
        let nargs = u64::try_from(call.nargs).ok()?;
        let (self_value, t) = self.loads.get(ins.args.first()?)?;
        (ins.args.get(1) == Some(self_value)).then_some((t, nargs))
    }
}

/// The frame state of call `ins` with its operands on the stack: where a check in front of
/// an inlined callee deopts to, so that the interpreter makes the call.
pub(crate) fn at_call(ins: &Instr) -> FrameState {
    let mut fs = ins.fs.clone().unwrap_or_default();
    fs.stack.extend_from_slice(&ins.args);
    fs
}

/// Call `ins`'s callable and arguments, without the NULL between them.
pub(crate) fn callable_and_args(ins: &Instr) -> Vec<Value> {
    ins.args.iter().enumerate().filter(|&(k, _)| k != 1).map(|(_, a)| *a).collect()
}

/// Appends the releases of call `ins`'s callable and arguments to `out`, where the callee's
/// body replaced the call: the callee's frame would release the arguments, the call the
/// callable (the NULL holds nothing).
pub(crate) fn release_call_operands(ins: &Instr, out: &mut Vec<Instr>) {
    for a in callable_and_args(ins) {
        out.push(instr(Op::PopTop, vec![], vec![a], vec![], None));
    }
}

/// Drops `f`'s callees whose index is in `used`: their bodies are in place now, and later
/// passes have no use for them.
pub(crate) fn drop_callees(f: &mut Function, used: &HashSet<usize>) {
    let callees = std::mem::take(&mut f.callees);
    f.callees = callees.into_iter().enumerate().filter(|(i, _)| !used.contains(i)).map(|(_, c)| c).collect();
}
