//! Removes a pure load whose result is released unused: `v = LoadFast|LoadConst|Copy|PushNull`
//! immediately followed by `PopTop v`, with no other use of `v`. The pair's net
//! effect is an incref and a matching decref of an object that stays alive through the local,
//! constant table or copied stack slot, so dropping both preserves every refcount.

use std::collections::HashMap;

use crate::hir::{Function, Op, Value};

fn uses(f: &Function) -> HashMap<Value, usize> {
    let mut n = HashMap::new();
    for b in &f.blocks {
        for ins in b.instrs.iter().chain(std::iter::once(&b.term)) {
            let all =
                ins.args.iter().chain(ins.targets.iter().flat_map(|t| t.args.iter())).chain(ins.fs.iter().flat_map(|s| s.stack.iter()));
            for v in all {
                *n.entry(*v).or_insert(0) += 1;
            }
        }
    }
    n
}

/// Runs the pass; returns the number of instruction pairs removed.
pub fn run(f: &mut Function) -> usize {
    let counts = uses(f);
    let mut removed = 0;
    for b in &mut f.blocks {
        let mut dead = vec![false; b.instrs.len()];
        for (i, ins) in b.instrs.iter().enumerate() {
            if !matches!(ins.op, Op::LoadFast | Op::LoadConst | Op::Copy | Op::PushNull) {
                continue;
            }
            let v = ins.results[0];
            if counts.get(&v) != Some(&1) {
                continue;
            }
            if b.instrs.get(i + 1).is_some_and(|x| x.op == Op::PopTop && x.args[0] == v) {
                dead[i] = true;
                dead[i + 1] = true;
                removed += 1;
            }
        }
        let mut k = 0;
        b.instrs.retain(|_| {
            k += 1;
            !dead[k - 1]
        });
    }
    removed
}
