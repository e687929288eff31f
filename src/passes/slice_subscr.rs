//! Fuses an extended slice into the subscript that reads it: `x[a:b:c]` compiles to
//! `BUILD_SLICE 3` immediately followed by `BINARY_SUBSCR` (`Python/bytecodes.c`), and
//!
//! ```text
//! v4 = BuildSlice<3> v1 v2 v3 @6[v0]
//! v5 = BinarySubscr<0> v0 v4 @8[]
//! ```
//! becomes
//! ```text
//! v5 = SubscrSlice v0 v1 v2 v3 @8[]
//! ```
//! when the slice is used by nothing else. One helper call (`ember_subscr_slice`) then slices
//! an exact list or tuple with `None` or small-int bounds directly, with no slice object to
//! allocate, unpack and free (pyperformance's fannkuch reverses a prefix with
//! `perm[k::-1]` in its inner loop); anything else builds the slice and subscripts as the two
//! instructions do, releasing references in their order.
//!
//! The only difference the interpreter could see is where a `MemoryError` from allocating the
//! slice object is raised: at the subscript's code unit instead of `BUILD_SLICE`'s. Both are in
//! the same expression, and the fast path allocates no slice at all.

use std::collections::HashMap;

use crate::hir::{Function, Instr, Op, Value};

/// How many times each value is used (operands, edge arguments, frame states).
fn uses(f: &Function) -> HashMap<Value, usize> {
    let mut n: HashMap<Value, usize> = HashMap::new();
    for b in &f.blocks {
        for ins in b.instrs.iter().chain(std::iter::once(&b.term)) {
            let edges = ins.targets.iter().flat_map(|t| t.args.iter());
            for v in ins.args.iter().chain(edges).chain(ins.fs.iter().flat_map(|fs| fs.stack.iter())) {
                *n.entry(*v).or_default() += 1;
            }
        }
    }
    n
}

/// Runs the pass; returns the number of subscripts fused.
pub fn run(f: &mut Function) -> usize {
    let uses = uses(f);
    let mut fused = 0;
    for b in &mut f.blocks {
        let mut out: Vec<Instr> = Vec::with_capacity(b.instrs.len());
        let mut i = 0;
        while i < b.instrs.len() {
            let ins = &b.instrs[i];
            if let (Op::BuildSlice, [3], Some(next)) = (ins.op, ins.imms.as_slice(), b.instrs.get(i + 1)) {
                let slice = ins.results[0];
                if next.op == Op::BinarySubscr && next.args.get(1) == Some(&slice) && uses.get(&slice) == Some(&1) {
                    let mut args = vec![next.args[0]];
                    args.extend_from_slice(&ins.args);
                    out.push(Instr {
                        op: Op::SubscrSlice,
                        imms: vec![],
                        args,
                        results: next.results.clone(),
                        targets: vec![],
                        fs: next.fs.clone(),
                    });
                    fused += 1;
                    i += 2;
                    continue;
                }
            }
            out.push(ins.clone());
            i += 1;
        }
        b.instrs = out;
    }
    fused
}
