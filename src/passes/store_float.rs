//! Stores of a float that spare its box: a `Box` of a `CDouble` whose only use is a store into
//! a local, a list item (`STORE_SUBSCR_LIST_INT`) or an instance's slot (`STORE_ATTR_SLOT`)
//! becomes one operation on the machine value, which writes it into the float being replaced
//! when only the frame (the list, the instance) references that float.
//!
//! ```text
//! v35:Float = Box v166 @36[v15 v16]          StoreFastFloat<15> v166 @36[v15 v16]
//! StoreFast<15> v35                     =>
//! v71:Float = Box v209 @89[v15 v16 v63 v64]  StoreSubscrFloat v209 v63 v64 @93[v15 v16]
//! StoreSubscr<1> v71 v63 v64 @93[v15 v16]
//! v24:Float = Box v60 @73[v20]               StoreAttrFloat<1, 2, 131813, 16> v60 v20 @76[]
//! StoreAttr<1, 2, 131813, 16> v24 v20 @76[]
//! ```
//!
//! In nbody's `advance`, `dx = x1 - x2` boxed the difference into a new float and freed the
//! float `dx` held since the last iteration; `v1[0] -= dx * b1m` did the same to the list's
//! item. Now each writes the double into the old float, which nothing else can see (its count
//! is 1). float's `Point.normalize` (`self.x /= norm` on a class with `__slots__`) does the
//! same to the instance's float. The new operation keeps the `Box`'s frame state for the
//! `MemoryError` of a box that fails (`StoreFastFloat`) or the store's own (`StoreSubscrFloat`,
//! `StoreAttrFloat`, whose stored value goes from the stack of the box's state to nothing: the
//! store's state has it popped already).
//! Frame states that named the box name the double instead: a side exit boxes it itself.

use std::collections::HashMap;

use super::instr;
use crate::hir::imms::{StoreAttrImms, StoreSubscrImms};
use crate::hir::op::{StoreAttrSpec, StoreSubscrSpec};
use crate::hir::{Function, Instr, Op, Type, Value};

/// Runs the pass; returns the number of stores rewritten.
pub fn run(f: &mut Function) -> usize {
    // Frame states that name a box are rewritten below, so they do not count.
    let uses = super::operand_uses(f);
    let mut map: HashMap<Value, Value> = HashMap::new();
    let mut n = 0;
    for bi in 0..f.blocks.len() {
        let instrs = std::mem::take(&mut f.blocks[bi].instrs);
        // Boxes of doubles in this block not yet rewritten: result → (index in `out`, double).
        let mut boxes: HashMap<Value, (usize, Value)> = HashMap::new();
        let mut out: Vec<Instr> = Vec::with_capacity(instrs.len());
        let mut dead: Vec<usize> = vec![];
        for ins in instrs {
            if ins.op == Op::Box && f.ty(ins.args[0]) == Type::CDouble && ins.fs.is_some() {
                boxes.insert(ins.results[0], (out.len(), ins.args[0]));
                out.push(ins);
                continue;
            }
            let stored = match ins.op {
                Op::StoreFast => Some(ins.args[0]),
                Op::StoreSubscr if StoreSubscrImms::of(&ins).map(|s| s.spec) == Some(StoreSubscrSpec::ListInt) => Some(ins.args[0]),
                Op::StoreAttr if StoreAttrImms::of(&ins).map(|s| s.spec) == Some(StoreAttrSpec::Slot) => Some(ins.args[0]),
                _ => None,
            };
            let Some((at, d)) = stored.filter(|v| uses.get(v) == Some(&1)).and_then(|v| boxes.get(&v).copied()) else {
                out.push(ins);
                continue;
            };
            let bx = out[at].clone();
            dead.push(at);
            map.insert(bx.results[0], d);
            let x = match ins.op {
                Op::StoreFast => instr(Op::StoreFastFloat, ins.imms.clone(), vec![d], vec![], bx.fs),
                Op::StoreAttr => instr(Op::StoreAttrFloat, ins.imms.clone(), vec![d, ins.args[1]], vec![], ins.fs),
                _ => instr(Op::StoreSubscrFloat, vec![], vec![d, ins.args[1], ins.args[2]], vec![], ins.fs),
            };
            out.push(x);
            n += 1;
        }
        f.blocks[bi].instrs = out.into_iter().enumerate().filter(|(k, _)| !dead.contains(k)).map(|(_, x)| x).collect();
    }
    crate::passes::infer::substitute(f, &map);
    n
}
