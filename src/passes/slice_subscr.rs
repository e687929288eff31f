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

use crate::hir::{Function, Instr, Op};

/// Runs the pass; returns the number of subscripts fused.
pub fn run(f: &mut Function) -> usize {
    let uses = super::use_counts(f);
    super::fuse_runs(f, |instrs, i| {
        let ins = &instrs[i];
        let next = instrs.get(i + 1)?;
        let slice = *ins.results.first()?;
        let fusable = ins.op == Op::BuildSlice
            && ins.imms == [3]
            && next.op == Op::BinarySubscr
            && next.args.get(1) == Some(&slice)
            && uses.get(&slice) == Some(&1);
        if !fusable {
            return None;
        }
        let mut args = vec![next.args[0]];
        args.extend_from_slice(&ins.args);
        let fused = Instr { op: Op::SubscrSlice, imms: vec![], args, results: next.results.clone(), targets: vec![], fs: next.fs.clone() };
        Some((fused, 2))
    })
}
