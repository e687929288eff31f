//! Fuses a tuple/list unpacking into consecutive fresh locals: `UnpackSequence<n> seq`
//! immediately followed by the `n` `StoreFast`s that pop its results into locals
//! `base, base+1, ..., base+n-1` (`a, b, c = t` when a, b, c are numbered in order) becomes
//! one `UnpackStore<n, base> seq`, a single helper call that stores the items and releases the
//! old values in the interpreter's order (`UNPACK_SEQUENCE` then `STORE_FAST` one by one, in
//! `Python/bytecodes.c`). Only for `n` up to [`MAX_FUSED`]. The machine code of an unpacking
//! shrinks from a call, `n` loads and `n` inline refcount updates to one call: pyperformance's
//! unpack_sequence, 400 unpackings in one loop, was bound by instruction-cache misses.

use crate::hir::{Function, Instr, Op};

/// Largest unpacking the pass fuses (the helper keeps the items in a fixed buffer).
pub const MAX_FUSED: usize = 16;

/// The first local when `stores` are the `StoreFast`s of `unpack`'s results into consecutive
/// locals (results are in push order, so the first store pops the last one, item 0).
fn fusable_stores(unpack: &Instr, stores: Option<&[Instr]>) -> Option<i64> {
    let stores = stores?;
    let n = unpack.results.len();
    let base = *stores.first()?.imms.first()?;
    let ok = stores
        .iter()
        .enumerate()
        .all(|(k, s)| s.op == Op::StoreFast && s.args == [unpack.results[n - 1 - k]] && s.imms == [base + k as i64]);
    (ok && base >= 0).then_some(base)
}

/// Runs the pass; returns the number of unpackings fused.
pub fn run(f: &mut Function) -> usize {
    super::fuse_runs(f, |instrs, i| {
        let ins = &instrs[i];
        let n = ins.results.len();
        if ins.op != Op::UnpackSequence || !(1..=MAX_FUSED).contains(&n) {
            return None;
        }
        let base = fusable_stores(ins, instrs.get(i + 1..i + 1 + n))?;
        let fused = Instr {
            op: Op::UnpackStore,
            imms: vec![n as i64, base],
            args: ins.args.clone(),
            results: vec![],
            targets: vec![],
            fs: ins.fs.clone(),
        };
        Some((fused, 1 + n))
    })
}
