//! Removes boxes that only feed unboxing: `r = Box d` whose every use is `Unbox r` (it becomes
//! `d`), `PopTop r` (nothing to release) or a frame state (the side exit boxes `d` itself, see
//! `lower`). The float that `(a * b) + c` would allocate for `a * b` is never made. A box that
//! escapes (stored to a local, passed to a call, an edge argument, returned) stays. A `Copy` of
//! a box counts as the box, its uses as the box's: in a loop whose locals `loop_locals` holds,
//! `i = i + 1` stores a box and the next read of `i` copies it, so the copy's unboxing reads
//! the machine integer and the box goes.

use std::collections::{HashMap, HashSet};

use crate::hir::{Function, Op, Value};

/// Runs the pass; returns the number of boxes removed.
pub fn run(f: &mut Function) -> usize {
    let mut boxes: HashMap<Value, Value> = HashMap::new();
    for b in &f.blocks {
        for ins in &b.instrs {
            if ins.op == Op::Box {
                boxes.insert(ins.results[0], ins.args[0]);
            }
        }
    }
    // A `Copy` of a box (a load of a local that `loop_locals` holds, after a store of a box)
    // stands for the box: its uses count as the box's.
    let mut copy_of: HashMap<Value, Value> = HashMap::new();
    for b in &f.blocks {
        for ins in &b.instrs {
            if ins.op == Op::Copy && boxes.contains_key(&ins.args[0]) {
                copy_of.insert(ins.results[0], ins.args[0]);
            }
        }
    }
    let box_of = |v: &Value| boxes.get(v).map(|_| *v).or_else(|| copy_of.get(v).copied());
    // A box escapes through any use other than Unbox, PopTop, a Copy of it and frame states.
    let mut escapes: HashSet<Value> = HashSet::new();
    for b in &f.blocks {
        for ins in b.instrs.iter().chain(std::iter::once(&b.term)) {
            let copies_box = ins.op == Op::Copy && boxes.contains_key(&ins.args[0]);
            if !matches!(ins.op, Op::Unbox | Op::PopTop) && !copies_box {
                escapes.extend(ins.args.iter().filter_map(box_of));
            }
            escapes.extend(ins.targets.iter().flat_map(|t| t.args.iter()).filter_map(box_of));
        }
    }
    boxes.retain(|r, _| !escapes.contains(r));
    copy_of.retain(|_, b| boxes.contains_key(b));
    let mut map: HashMap<Value, Value> = boxes.clone();
    for (c, b) in &copy_of {
        map.insert(*c, boxes[b]);
    }
    let gone = |v: &Value| boxes.contains_key(v) || copy_of.contains_key(v);
    for b in &mut f.blocks {
        b.instrs.retain(|ins| match ins.op {
            Op::Box => !boxes.contains_key(&ins.results[0]),
            Op::Copy => !copy_of.contains_key(&ins.results[0]),
            Op::PopTop => !gone(&ins.args[0]),
            Op::Unbox if gone(&ins.args[0]) => {
                map.insert(ins.results[0], map[&ins.args[0]]);
                false
            }
            _ => true,
        });
    }
    crate::passes::infer::substitute(f, &map);
    boxes.len()
}
