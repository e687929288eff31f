//! The straight-line form of a callee body whose conditional expressions only choose between
//! reads: not a pass of the pipeline, but the view `passes::inline_method` admits and inlines
//! (if-conversion).
//!
//! float's `Point.maximize` is
//!
//! ```python
//! def maximize(self, other):
//!     self.x = self.x if self.x > other.x else other.x
//!     self.y = self.y if self.y > other.y else other.y
//!     self.z = self.z if self.z > other.z else other.z
//!     return self
//! ```
//! and its HIR has a diamond per line: the comparison ends a block in `PopJumpIfFalse`, each
//! arm is a block that loads a parameter and reads its attribute and jumps to a join block whose
//! one parameter is the chosen value. CPython duplicates the last line's small tail
//! (`STORE_ATTR`, `return self`) into both arms instead of joining them. [`straighten`] walks
//! such a body from its entry and returns its instructions in order, each diamond replaced by
//! one [`Step::Select`]:
//!
//! ```text
//! bb0:                                          v4 = CompareOp<..> v1 v3
//!   v4 = CompareOp<..> v1 v3                    v7 = Select v4 [self.x] [other.x]
//!   PopJumpIfFalse v4 -> bb1(), bb2()           v10 = LoadFastBorrow<0>
//! bb1:                                          StoreAttr<..> v7 v10
//!   v5 = LoadFastBorrow<1>            =>
//!   v6 = LoadAttr<x> v5
//!   Jump -> bb3(v6)
//! bb2:
//!   v8 = LoadFastBorrow<0>
//!   v9 = LoadAttr<x> v8
//!   Jump -> bb3(v9)
//! bb3(v7):
//!   v10 = LoadFastBorrow<0>
//!   StoreAttr<..> v7 v10
//! ```
//! An arm is a load of a local, optionally followed by an attribute read of it ([`Arm`]): it
//! computes nothing and calls nothing, so whoever inlines the body may evaluate both arms and
//! choose (whether reading the arm that did not run is safe is the inliner's question:
//! `inline_method` requires an earlier read of the same attribute). A diamond is folded when
//! the branch passes no stack values and either both arms jump to one join block that has no
//! other predecessor and takes exactly the chosen value, or both arms return, and the rest of
//! their instructions are the same up to the chosen value (the tail CPython duplicated). In the
//! second case an attribute access that ran in one copy and not in the other is taken with the
//! profile of the copy that ran ([`merge`]).
//!
//! A body with any other control flow (loops, `and`/`or` chains, statements in the arms) has
//! no straight-line form: [`straighten`] returns `None`. A one-block body is its own form.

use crate::hir::{Block, BlockId, Function, Instr, Op, Value};

/// One arm of a conditional expression: what it loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arm {
    /// Local `k` (`LOAD_FAST k`).
    Local(i64),
    /// Attribute `attr` of local `k` (`LOAD_FAST k; LOAD_ATTR name`): `attr` is the arm's
    /// `LoadAttr` (its imm0 is the name; its profile may be empty, when this arm never ran).
    Attr(i64, usize),
}

/// One step of a straight-line body.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// An instruction of the body, in order.
    Ins(Instr),
    /// `result = if_true if cond else if_false`: a folded diamond. `cond` is the branch's
    /// operand (consumed), `arms` are `[if true, if false]`, and `attrs` holds the `LoadAttr`
    /// instructions that [`Arm::Attr`] indexes.
    Select {
        /// The tested value.
        cond: Value,
        /// The arms: the value when `cond` is true, then when it is false.
        arms: [Arm; 2],
        /// The value the body's later instructions use for the choice.
        result: Value,
        /// The arms' attribute reads.
        attrs: Vec<Instr>,
    },
}

/// A straight-line body: its steps and the terminator (a return) they end in.
#[derive(Clone, Debug)]
pub(crate) struct Straight {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The return that ends the body (`ReturnValue` or `ReturnConst`).
    pub term: Instr,
}

impl Straight {
    /// The body's instructions, the arms' attribute reads included (for questions about the
    /// whole body, such as whether it reads globals).
    pub fn instrs(&self) -> impl Iterator<Item = &Instr> {
        self.steps.iter().flat_map(|s| match s {
            Step::Ins(i) => std::slice::from_ref(i),
            Step::Select { attrs, .. } => attrs.as_slice(),
        })
    }
}

/// The arm at the start of block `b`: the local it loads, the attribute read of it (if any),
/// the value it leaves and how many instructions it takes.
fn arm(b: &Block) -> Option<(i64, Option<&Instr>, Value, usize)> {
    let load = b.instrs.first()?;
    if !matches!(load.op, Op::LoadFast | Op::LoadFastBorrow) || !b.params.is_empty() {
        return None;
    }
    let k = load.imms[0];
    match b.instrs.get(1) {
        Some(a) if a.op == Op::LoadAttr && a.args == [load.results[0]] && a.results.len() == 1 => Some((k, Some(a), a.results[0], 2)),
        _ => Some((k, None, load.results[0], 1)),
    }
}

/// One instruction of the duplicated tails: `a` from the first copy, `b` from the second with
/// its operands renamed into the first's. Equal instructions, or the same attribute access with
/// a profile in one copy only (the one that ran): the merged instruction, else `None`.
fn merge(a: &Instr, b: &Instr) -> Option<Instr> {
    if a.op != b.op || a.args != b.args || a.results.len() != b.results.len() || a.imms.len() != b.imms.len() {
        return None;
    }
    if a.imms == b.imms {
        return Some(a.clone());
    }
    // LoadAttr / StoreAttr: imm0 the name, imm1 the specialisation (0: none), imm2 the version.
    let profiled = |i: &Instr| i.imms.get(2).is_some_and(|&v| v != 0);
    if !matches!(a.op, Op::LoadAttr | Op::StoreAttr) || a.imms[0] != b.imms[0] {
        return None;
    }
    match (profiled(a), profiled(b)) {
        (true, false) => Some(a.clone()),
        (false, true) => {
            let mut m = b.clone();
            m.results.clone_from(&a.results);
            m.fs.clone_from(&a.fs);
            Some(m)
        }
        _ => None,
    }
}

/// The number of jumps and branches into each block.
fn predecessors(c: &Function) -> Vec<usize> {
    let mut n = vec![0; c.blocks.len()];
    for b in &c.blocks {
        for t in &b.term.targets {
            n[t.block.0 as usize] += 1;
        }
    }
    n
}

/// The straight-line form of `c` (see the module doc), or `None`.
pub(crate) fn straighten(c: &Function) -> Option<Straight> {
    let preds = predecessors(c);
    let mut steps = vec![];
    let mut cur = BlockId(0);
    // Jumps and diamonds only go forward in block order, so the walk ends; this bounds it anyway.
    for _ in 0..=c.blocks.len() {
        let b = c.blocks.get(cur.0 as usize)?;
        steps.extend(b.instrs.iter().cloned().map(Step::Ins));
        let t = &b.term;
        match t.op {
            Op::ReturnValue | Op::ReturnConst => return Some(Straight { steps, term: t.clone() }),
            Op::Jump if t.targets[0].args.is_empty() && preds[t.targets[0].block.0 as usize] == 1 => cur = t.targets[0].block,
            Op::PopJumpIfFalse | Op::PopJumpIfTrue if t.targets.iter().all(|x| x.args.is_empty()) => {
                // [taken, fall-through] → [if true, if false].
                let (yes, no) = match t.op {
                    Op::PopJumpIfTrue => (t.targets[0].block, t.targets[1].block),
                    _ => (t.targets[1].block, t.targets[0].block),
                };
                if preds[yes.0 as usize] != 1 || preds[no.0 as usize] != 1 {
                    return None;
                }
                let (by, bn) = (&c.blocks[yes.0 as usize], &c.blocks[no.0 as usize]);
                let (ky, ry, vy, ny) = arm(by)?;
                let (kn, rn, vn, nn) = arm(bn)?;
                let mut attrs = vec![];
                let mut place = |k: i64, r: Option<&Instr>| match r {
                    Some(i) => {
                        attrs.push(i.clone());
                        Arm::Attr(k, attrs.len() - 1)
                    }
                    None => Arm::Local(k),
                };
                let arms = [place(ky, ry), place(kn, rn)];
                let cond = t.args[0];
                let (jy, jn) = (&by.term, &bn.term);
                if jy.op == Op::Jump && jn.op == Op::Jump {
                    // Both arms jump to one join block with the chosen value.
                    let (ty, tn) = (&jy.targets[0], &jn.targets[0]);
                    let join = &c.blocks[ty.block.0 as usize];
                    let only = preds[ty.block.0 as usize] == 2 && join.params.len() == 1;
                    if by.instrs.len() != ny || bn.instrs.len() != nn || ty.block != tn.block || !only || ty.args != [vy] || tn.args != [vn]
                    {
                        return None;
                    }
                    steps.push(Step::Select { cond, arms, result: join.params[0], attrs });
                    cur = ty.block;
                    continue;
                }
                // Both arms return: the same tail after the choice.
                let (ty, tn) = (&by.instrs[ny..], &bn.instrs[nn..]);
                if !matches!(jy.op, Op::ReturnValue | Op::ReturnConst) || ty.len() != tn.len() {
                    return None;
                }
                let mut rename: std::collections::HashMap<Value, Value> = [(vn, vy)].into();
                let renamed = |i: &Instr, rename: &std::collections::HashMap<Value, Value>| {
                    let mut r = i.clone();
                    for a in r.args.iter_mut() {
                        *a = *rename.get(a).unwrap_or(a);
                    }
                    r
                };
                steps.push(Step::Select { cond, arms, result: vy, attrs });
                for (x, y) in ty.iter().zip(tn) {
                    let y = renamed(y, &rename);
                    let m = merge(x, &y)?;
                    for (ry, rx) in y.results.iter().zip(&x.results) {
                        rename.insert(*ry, *rx);
                    }
                    steps.push(Step::Ins(m));
                }
                let (mut ey, en) = (jy.clone(), renamed(jn, &rename));
                if ey.op != en.op || ey.args != en.args || ey.imms != en.imms {
                    return None;
                }
                ey.targets.clear();
                return Some(Straight { steps, term: ey });
            }
            _ => return None,
        }
    }
    None
}
