//! Removes a pure load whose result is released unused: `v = LoadFast|LoadConst|Copy|PushNull`
//! immediately followed by `PopTop v`, with no other use of `v`. The pair's net
//! effect is an incref and a matching decref of an object that stays alive through the local,
//! constant table or copied stack slot, so dropping both preserves every refcount.

use crate::hir::{Function, Op};

/// Runs the pass; returns the number of instruction pairs removed.
pub fn run(f: &mut Function) -> usize {
    let counts = super::use_counts(f);
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
