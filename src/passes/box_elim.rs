//! Removes boxes that only feed unboxing: `r = Box d` whose every use is `Unbox r` (it becomes
//! `d`), `PopTop r` (nothing to release) or a frame state (the side exit boxes `d` itself, see
//! `lower`). The float that `(a * b) + c` would allocate for `a * b` is never made. A box that
//! escapes (stored to a local, passed to a call, an edge argument, returned) stays.

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
    // A box escapes through any use other than Unbox, PopTop and frame states.
    let mut escapes: HashSet<Value> = HashSet::new();
    for b in &f.blocks {
        for ins in b.instrs.iter().chain(std::iter::once(&b.term)) {
            if !matches!(ins.op, Op::Unbox | Op::PopTop) {
                escapes.extend(ins.args.iter().filter(|a| boxes.contains_key(a)));
            }
            escapes.extend(ins.targets.iter().flat_map(|t| t.args.iter()).filter(|a| boxes.contains_key(a)));
        }
    }
    boxes.retain(|r, _| !escapes.contains(r));
    let mut map: HashMap<Value, Value> = boxes.clone();
    for b in &mut f.blocks {
        b.instrs.retain(|ins| match ins.op {
            Op::Box => !boxes.contains_key(&ins.results[0]),
            Op::PopTop => !boxes.contains_key(&ins.args[0]),
            Op::Unbox if boxes.contains_key(&ins.args[0]) => {
                map.insert(ins.results[0], boxes[&ins.args[0]]);
                false
            }
            _ => true,
        });
    }
    crate::passes::infer::substitute(f, &map);
    boxes.len()
}
