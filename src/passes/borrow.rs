//! Borrowed local loads: a `LoadFast` whose value is only type-guarded, unboxed and released (or
//! read as a number by `UnboxNumber` / `UnboxNumbers`, then released)
//! becomes a `LoadFastBorrow` (no incref) and its release goes (no decref), when nothing
//! between the load and the release can rebind or release the local.
//!
//! ```text
//! v0 = LoadFast<0>                          v0 = LoadFastBorrow<0>
//! v5:Float = GuardType<Float> v0 @4[v0 v1]  v5:Float = GuardType<Float> v0 @4[v0 v1]
//! v7:CDouble = Unbox v5 @4[v5 v6]     =>    v7:CDouble = Unbox v5 @4[v5 v6]
//! PopTop v5
//! ```
//! The frame owns a reference to the local's object for as long as the local is bound; the
//! load's reference is only needed if something could unbind it meanwhile: a store or delete
//! of that local, or any Python code (which could write the frame through `f_locals`). So the
//! instructions between the load and the release must all be from a set that runs no Python
//! code: loads, constants, guards, unboxing, boxing, machine arithmetic and releases of values
//! whose deallocator is trivial ([`crate::hir::Type::trivial_release`]). A side exit inside the
//! range spills the borrowed value with a new reference (`lower`).
//!
//! A `LoadFast` whose only use is the owner of a `LoadAttr` (not the module form) or a
//! `StoreAttr` in the same block, an operand of a `BinarySubscr` quickened for lists or tuples
//! (`BINARY_SUBSCR_LIST_INT`, `_TUPLE_INT`: the element read runs no Python code), the
//! sequence of an `UnpackStore` (its exact tuple and list paths reference the items before
//! any store can run code, and do not touch the sequence after; its generic path takes a
//! reference first), or the
//! operand of the block's `PopJumpIfNone` /
//! `PopJumpIfNotNone` (an identity test, whose release the lowering then skips), with only
//! such instructions between, is borrowed too:
//!
//! ```text
//! v0 = LoadFast<0>                  v0 = LoadFastBorrow<0>
//! v1 = LoadAttr<1, 1, ..> v0 @2[]   v1 = LoadAttr<1, 1, ..> v0 @2[]
//! ```
//! The lowering then calls the attribute helpers' `_borrowed` forms, which take no reference
//! on a cache hit (no Python code runs there) and take one around the generic path, which may
//! run Python code that unbinds the local.

use std::collections::HashMap;

use crate::hir::imms::{BinarySubscrImms, LoadAttrImms};
use crate::hir::op::{AttrSpec, SubscrSpec};
use crate::hir::{Function, Instr, Op, Value};

/// True when `ins` can run no Python code and rebinds no local.
pub(crate) fn quiet(f: &Function, ins: &Instr) -> bool {
    match ins.op {
        Op::LoadFast
        | Op::LoadFastBorrow
        | Op::LoadAttrBorrow
        | Op::LoadConst
        | Op::GuardType
        | Op::Unbox
        | Op::UnboxNumber
        | Op::UnboxNumbers
        | Op::IntToFloat
        | Op::Box
        | Op::FloatBinOp
        | Op::IntBinOp
        | Op::FloatCompare
        | Op::IntCompare
        | Op::Copy
        | Op::Select
        | Op::PushNull
        | Op::Nop => true,
        Op::PopTop => f.ty(ins.args[0]).trivial_release(),
        _ => false,
    }
}

/// True when the instructions `instrs[from + 1..to]` can neither run Python code nor rebind
/// local `local`, so the frame keeps its reference to the local's object throughout (releases
/// this pass already removed, at `dropped`, do not count).
fn quiet_between(f: &Function, instrs: &[Instr], from: usize, to: usize, local: i64, dropped: &[usize]) -> bool {
    let rebinds = |x: &Instr| match x.op {
        Op::StoreFast | Op::DeleteFast | Op::LoadFastAndClear => x.imms[0] == local,
        _ => false,
    };
    // A release of a value an earlier `UnboxNumber(s)` of the block read runs no code either:
    // past that check the value is an exact float or a compact int.
    let number = |k: usize, x: &Instr| {
        x.op == Op::PopTop && instrs[..k].iter().any(|y| matches!(y.op, Op::UnboxNumber | Op::UnboxNumbers) && y.args.contains(&x.args[0]))
    };
    instrs[from + 1..to]
        .iter()
        .enumerate()
        .all(|(k, x)| dropped.contains(&(from + 1 + k)) || ((quiet(f, x) || number(from + 1 + k, x)) && !rebinds(x)))
}

/// Runs the pass; returns the number of loads made borrowed.
pub fn run(f: &mut Function) -> usize {
    // Uses of each value as an operand or edge argument (frame states do not count: a spill
    // takes its own reference).
    let uses = super::operand_uses(f);
    let count = |v: Value| uses.get(&v).copied().unwrap_or(0);
    // Removed copies → the borrowed values their uses read instead.
    let mut copies: HashMap<Value, Value> = HashMap::new();
    let mut n = 0;
    for bi in 0..f.blocks.len() {
        let mut drop_at = vec![];
        let mut borrow_at = vec![];
        let instrs = &f.blocks[bi].instrs;
        for (i, ins) in instrs.iter().enumerate() {
            if ins.op != Op::LoadFast {
                continue;
            }
            let local = ins.imms[0];
            let Some(pi) = read_then_released(instrs, i, &count) else {
                continue;
            };
            if quiet_between(f, instrs, i, pi, local, &drop_at) {
                borrow_at.push(i);
                drop_at.push(pi);
            }
        }
        // Loads whose one use needs no reference: attribute owners, list/tuple subscript
        // operands, None tests.
        for (i, ins) in instrs.iter().enumerate() {
            if ins.op != Op::LoadFast || count(ins.results[0]) != 1 {
                continue;
            }
            let (v, local) = (ins.results[0], ins.imms[0]);
            let owner_of = |x: &Instr| match x.op {
                Op::LoadAttr => x.args[0] == v && LoadAttrImms::of(x).is_some_and(|a| a.spec != AttrSpec::Module),
                Op::StoreAttr | Op::StoreAttrFloat => x.args[1] == v,
                Op::BinarySubscr => BinarySubscrImms::of(x).is_some_and(|s| matches!(s.spec, SubscrSpec::ListInt | SubscrSpec::TupleInt)),
                // The sequence of a fused unpacking (`ember_unpack_store_borrowed_outline`).
                Op::UnpackStore => x.args[0] == v,
                _ => false,
            };
            let term = &f.blocks[bi].term;
            let j = match instrs.iter().skip(i + 1).position(|x| x.args.contains(&v)) {
                Some(k) if owner_of(&instrs[k + i + 1]) => k + i + 1,
                None if matches!(term.op, Op::PopJumpIfNone | Op::PopJumpIfNotNone) && term.args[0] == v => instrs.len(),
                _ => continue,
            };
            if quiet_between(f, instrs, i, j, local, &drop_at) {
                borrow_at.push(i);
            }
        }
        let b = &mut f.blocks[bi];
        for i in &borrow_at {
            b.instrs[*i].op = Op::LoadFastBorrow;
        }
        n += borrow_at.len();
        let mut k = 0;
        b.instrs.retain(|_| {
            k += 1;
            !drop_at.contains(&(k - 1))
        });
        n += borrow_attrs(f, bi, &count);
        n += borrow_copies(f, bi, &count, &mut copies);
    }
    super::infer::substitute(f, &copies);
    n
}

/// The copies of block `bi` that go: a `Copy<1>` of a value of the block that is borrowed
/// ([`crate::hir::borrowed_values`]: a `LoadFastBorrow`, `LoadAttrBorrow` or `Select` result, or
/// a guard of one) whose copy is only read and released ([`read_then_released`]), with nothing
/// between the copy and the release that runs Python code or rebinds a local. Whatever keeps the
/// borrowed value alive (the frame's local, the owner's slot, a chosen operand) keeps it
/// throughout, so the reads can use it directly: the copy and its release are removed (an
/// inlined method body's slot read that is only compared, `self.x > other.x`), and `copies`
/// maps the copy to the borrowed value for [`super::infer::substitute`]. Returns the number
/// removed.
fn borrow_copies(f: &mut Function, bi: usize, count: &dyn Fn(Value) -> usize, copies: &mut HashMap<Value, Value>) -> usize {
    let borrowed = crate::hir::borrowed_values(&f.blocks[bi].instrs);
    let mut n = 0;
    let mut i = f.blocks[bi].instrs.len();
    while i > 0 {
        i -= 1;
        let instrs = &f.blocks[bi].instrs;
        let c = &instrs[i];
        if c.op != Op::Copy || c.imms.first() != Some(&1) || !borrowed.contains(&c.args[0]) {
            continue;
        }
        let Some(pi) = read_then_released(instrs, i, count) else {
            continue;
        };
        if !quiet_between(f, instrs, i, pi, -1, &[]) {
            continue;
        }
        copies.insert(c.results[0], c.args[0]);
        let blk = &mut f.blocks[bi];
        blk.instrs.remove(pi);
        blk.instrs.remove(i);
        n += 1;
    }
    n
}

/// The attribute reads of block `bi` that become `LoadAttrBorrow`: a `LoadAttr` quickened to
/// `LOAD_ATTR_SLOT`, `_INSTANCE_VALUE` or `_WITH_HINT` whose owner is a borrowed local of the block and
/// whose value is only read ([`read_then_released`]) and released, with nothing between the read and the
/// release that runs Python code or rebinds the owner's local. The owner's object then keeps
/// its reference to the value throughout: only Python code (a store, a `__del__`) could drop
/// it. Taken last to first, so that an earlier read's range may contain a later borrowed one
/// (`self.x > other.x`). Returns the number made borrowed; their releases are removed.
fn borrow_attrs(f: &mut Function, bi: usize, count: &dyn Fn(Value) -> usize) -> usize {
    let mut n = 0;
    let mut i = f.blocks[bi].instrs.len();
    while i > 0 {
        i -= 1;
        let instrs = &f.blocks[bi].instrs;
        let ins = &instrs[i];
        let spec = |a: LoadAttrImms| matches!(a.spec, AttrSpec::Slot | AttrSpec::InstanceValue | AttrSpec::WithHint);
        if ins.op != Op::LoadAttr || !LoadAttrImms::of(ins).is_some_and(spec) {
            continue;
        }
        let owner = ins.args[0];
        // The owner: a borrowed local, or (`self.x += d`) the copy, right before the read, of an
        // owned local load whose other use is the owner of a store after the read's range.
        let copied = copied_owner(instrs, i, count);
        let local = match (instrs[..i].iter().find(|x| x.op == Op::LoadFastBorrow && x.results[0] == owner), copied) {
            (Some(x), _) => x.imms[0],
            (None, Some((wi, _))) => instrs[wi].imms[0],
            _ => continue,
        };
        let Some(pi) = read_then_released(instrs, i, count) else {
            continue;
        };
        if !quiet_between(f, instrs, i, pi, local, &[]) {
            continue;
        }
        // A copied owner: the local load is borrowed too when nothing from it to its store can
        // run code or rebind the local (the copy and this read will not).
        if let Some((wi, si)) = copied {
            if pi > si || !quiet_between(f, instrs, wi, si, local, &[i - 1, i]) {
                continue;
            }
        }
        let b = &mut f.blocks[bi];
        b.instrs[i].op = Op::LoadAttrBorrow;
        b.instrs[i].imms.truncate(4);
        b.instrs.remove(pi);
        if let Some((wi, _)) = copied {
            b.instrs[wi].op = Op::LoadFastBorrow;
            b.instrs[i].args[0] = b.instrs[wi].results[0];
            b.instrs.remove(i - 1);
            i -= 1;
        }
        n += 1;
    }
    n
}

/// For the `LoadAttr` at `i` whose owner is `Copy<1> w` right before it, `w` the result of a
/// `LoadFast` of the block (an owned reference) with one other use, the owner of a `StoreAttr`
/// or `StoreAttrFloat` after `i` (`self.x += d`): the indices of that load and that store.
fn copied_owner(instrs: &[Instr], i: usize, count: &dyn Fn(Value) -> usize) -> Option<(usize, usize)> {
    let c = instrs.get(i.checked_sub(1)?)?;
    if c.op != Op::Copy || c.imms.first() != Some(&1) || c.results.first() != Some(&instrs[i].args[0]) || count(c.results[0]) != 1 {
        return None;
    }
    let w = c.args[0];
    let wi = instrs[..i - 1].iter().position(|x| x.op == Op::LoadFast && x.results[0] == w)?;
    if count(w) != 2 {
        return None;
    }
    let si = instrs.iter().skip(i + 1).position(|x| x.args.contains(&w)).map(|k| k + i + 1)?;
    matches!(instrs[si].op, Op::StoreAttr | Op::StoreAttrFloat).then_some(())?;
    (instrs[si].args[1] == w && instrs[si].args[0] != w).then_some((wi, si))
}

/// When the value `instrs[i]` defines is only read and then released in the block (either its
/// only use is a `GuardType` whose result is unboxed and released once, or its uses are number
/// reads, `UnboxNumber` / `UnboxNumbers`, and one release), the index of that release.
fn read_then_released(instrs: &[Instr], i: usize, count: &dyn Fn(Value) -> usize) -> Option<usize> {
    let v = instrs[i].results[0];
    let g = match instrs.iter().skip(i + 1).position(|x| x.op == Op::GuardType && x.args[0] == v) {
        Some(k) if count(v) == 1 => instrs[i + 1 + k].results[0],
        _ => v,
    };
    let from = instrs.iter().position(|x| x.results.contains(&g)).unwrap_or(i);
    let pi = instrs.iter().skip(from + 1).position(|x| x.op == Op::PopTop && x.args[0] == g)? + from + 1;
    let reads = |x: &&Instr| matches!(x.op, Op::Unbox | Op::UnboxNumber | Op::UnboxNumbers) && x.args.contains(&g);
    let unboxes: usize = instrs[from + 1..pi].iter().filter(reads).map(|x| x.args.iter().filter(|a| **a == g).count()).sum();
    (unboxes > 0 && count(g) == unboxes + 1).then_some(pi)
}
