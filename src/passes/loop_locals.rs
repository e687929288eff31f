//! SSA locals in loops that run no code: the locals a loop stores are held in SSA values (block
//! parameters) from its entry to its exits, instead of being written to and read from the frame
//! at every statement.
//!
//! **The rule** (issue 16, "SSA locals"): Python code can see a frame's locals only by running
//! (`sys._getframe(n).f_locals`, a tracer, a signal handler, `__del__`, a debugger) or through a
//! traceback. So a loop qualifies when nothing in it can run Python code: every instruction is
//! one of [`super::borrow::quiet`]'s (loads, constants, guards, unboxing, boxing, machine
//! arithmetic, releases of values whose deallocator is trivial), a store of a local, a branch on
//! a `bool`, a jump, a `FOR_ITER_RANGE`, or a comprehension's `LIST_APPEND` onto its own list;
//! the function is not a generator and may speculate.
//! Inside such a loop the frame is written at every way out:
//! - **the loop's exits**: each exit edge gets a block that stores the held locals
//!   (`StoreFast`, into slots that hold NULL);
//! - **side exits** (a failed guard, an exception): their frame states list the held locals
//!   ([`crate::hir::FrameState::locals`], text `L<slot>=v<n>`) and the exit writes them, boxed
//!   where unboxed, before handing the frame to the interpreter;
//! - **the back edge's eval-breaker check** (a signal handler or a pending call is Python code
//!   that may read or rebind them): with the breaker set, the held locals are written to the
//!   frame before the pending work runs and read back and re-checked after it
//!   (`Lower::periodic_held`);
//! - **a `FOR_ITER_RANGE` over something else** deopts instead of taking the generic path.
//!
//! At the loop's entry each held local is taken out of the frame (`LoadFastAndClear`, leaving
//! NULL) and checked, so that the release of its old value at the loop's first store runs no
//! code either: a local the loop reads before it writes it (live at the header) is guarded to the
//! type every store in the loop gives it (`GuardType`); another must be releasable without code
//! (`GuardReleasable`: NULL, other references, or an exact `int`, `float`, `str`, `bool`,
//! `None`). Every store's value must have such a type. A failed entry check deopts at the
//! loop header with the locals written back. The stores become releases of the previous value
//! (`PopTop`) and the loads copies of the current one (`Copy`):
//!
//! ```text
//! bb1(v6):                                       bb1(v6, v20):
//!   v7 = ForIter<25, 1> v6 -> bb2(v6, v7), bb3()   v7 = ForIter<25, 1> v6 -> bb2(v6, v7, v20), bb5(v20) @14[v6 L1=v20]
//! bb2(v8, v9):                                   bb2(v8, v9, v21):
//!   StoreFast<2> v9                                PopTop v21 ... (the loop's second local)
//!   v10 = LoadFast<1>                 =>           v10 = Copy<1> v20
//!   ...                                            ...
//!   StoreFast<1> v12                               PopTop v20
//!   JumpBackward<14> -> bb1(v8) @21[v8]            JumpBackward<14> -> bb1(v8, v12) @21[v8 L1=v12]
//! ```
//! with an entry block (`LoadFastAndClear<1>`, `GuardType<Int>`, a jump to the header) on every
//! edge into the header from outside, including on-stack replacement's `ResumeAt`, and an exit
//! block (`StoreFast<1>`, a jump) on every edge out. Nested loops are taken whole by the
//! outermost loop that qualifies.
//!
//! **The loop variable of `for i in range(...)`** ([`range_var`]) is held as a machine integer:
//! the header's `FOR_ITER_RANGE` yields a `CInt64` (`ember_for_iter_range_i64`, no int object),
//! reads of `i` read the number, and an exit boxes it once. The header's other stack values
//! (a comprehension's list and the outer value of its variable) pass through to the loop's
//! exit; so `[i * i for i in range(n)]` makes one int object per item, the product. Its header
//! value must be an item on every pass, so the entry tests the range first (`RangeNonEmpty`,
//! which deopts unless the iterator is a range iterator): with no item left it releases the
//! iterator and goes to the loop's exit target with the locals untouched in the frame;
//! otherwise it releases `i`'s old
//! value at once (a first item is certain, nothing runs before the first store, where the
//! interpreter releases it, and `GuardReleasable` made sure the release runs no code) and starts
//! the header with 0, which the first item replaces before anything reads it.

use std::collections::{BTreeSet, HashMap};

use super::borrow::quiet;
use super::instr;
use crate::hir::imms::ForIterImms;
use crate::hir::op::ForIterSpec;
use crate::hir::{Block, BlockCall, BlockId, FrameState, Function, Instr, Op, Type, Value};

/// A loop: its header block, its blocks (the header's natural loop) and the header's code unit.
struct Loop {
    header: usize,
    body: BTreeSet<usize>,
    bc: u32,
}

/// What promoting a loop's locals needs: each held local's slot, the type its stores give it,
/// and whether the loop reads it before writing it (live at the header).
struct Plan {
    locals: Vec<(u32, Type, bool)>,
    /// The loop variable of a range loop, held as a machine integer ([`range_var`]).
    range_var: Option<u32>,
}

/// Runs the pass; returns the number of loops whose locals it holds in SSA values.
pub fn run(f: &mut Function) -> usize {
    if !f.speculate || f.blocks.iter().flat_map(|b| &b.instrs).any(|i| matches!(i.op, Op::ReturnGenerator | Op::YieldValue)) {
        return 0;
    }
    let mut taken: BTreeSet<usize> = BTreeSet::new();
    let mut n = 0;
    for lp in loops(f) {
        if lp.body.iter().any(|b| taken.contains(b)) {
            continue;
        }
        if let Some(plan) = plan(f, &lp) {
            promote(f, &lp, &plan);
            taken.extend(lp.body.iter().copied());
            n += 1;
        }
    }
    n
}

/// Each block's predecessors.
fn preds(f: &Function) -> Vec<Vec<usize>> {
    let mut p = vec![vec![]; f.blocks.len()];
    for (bi, b) in f.blocks.iter().enumerate() {
        for t in &b.term.targets {
            p[t.block.0 as usize].push(bi);
        }
    }
    p
}

/// The natural loops of `f`'s `JumpBackward`s (all back edges to one header together), outer
/// loops first, each with a single entry (only the header has predecessors outside it).
fn loops(f: &Function) -> Vec<Loop> {
    let preds = preds(f);
    let mut by_header: HashMap<usize, Loop> = HashMap::new();
    for (bi, b) in f.blocks.iter().enumerate() {
        if b.term.op != Op::JumpBackward {
            continue;
        }
        let h = b.term.targets[0].block.0 as usize;
        let lp = by_header.entry(h).or_insert_with(|| Loop { header: h, body: BTreeSet::from([h]), bc: b.term.imms[0] as u32 });
        let mut work = vec![bi];
        while let Some(x) = work.pop() {
            if lp.body.insert(x) {
                work.extend(preds[x].iter().copied());
            }
        }
    }
    let mut out: Vec<Loop> = by_header
        .into_values()
        .filter(|lp| lp.body.iter().all(|&b| b == lp.header || preds[b].iter().all(|p| lp.body.contains(p))))
        .collect();
    out.sort_by_key(|lp| lp.header);
    out
}

/// True when `ins` may stand in a loop whose locals are held: it runs no Python code.
/// `held_loads`: the values loaded from the locals the loop stores, whose release is trivial
/// once they are held (every value they can have has a type that [`plan`] checks).
fn allowed(f: &Function, ins: &Instr, held_loads: &BTreeSet<Value>) -> bool {
    match ins.op {
        Op::PopTop if held_loads.contains(&ins.args[0]) => true,
        Op::StoreFast | Op::Swap | Op::Jump | Op::JumpBackward => true,
        // A comprehension's LIST_APPEND onto its own list: no code runs (it may raise).
        Op::ListAppend => true,
        Op::PopJumpIfFalse | Op::PopJumpIfTrue => matches!(f.ty(ins.args[0]), Type::Bool | Type::CBool),
        Op::ForIter => ForIterImms::of(ins).is_some_and(|i| i.spec == ForIterSpec::Range),
        _ => quiet(f, ins),
    }
}

/// The `FOR_ITER_RANGE` results in `lp`, which are exact ints once the loop is promoted.
fn range_items(f: &Function, lp: &Loop) -> Vec<Value> {
    lp.body.iter().map(|&b| &f.blocks[b].term).filter(|t| t.op == Op::ForIter).map(|t| t.results[0]).collect()
}

/// Decides whether `lp` qualifies (module doc) and what it holds.
fn plan(f: &Function, lp: &Loop) -> Option<Plan> {
    let blocks = || lp.body.iter().map(|&b| &f.blocks[b]);
    let stores: BTreeSet<i64> = blocks().flat_map(|b| &b.instrs).filter(|i| i.op == Op::StoreFast).map(|i| i.imms[0]).collect();
    let held_loads: BTreeSet<Value> =
        blocks().flat_map(|b| &b.instrs).filter(|i| i.op == Op::LoadFast && stores.contains(&i.imms[0])).map(|i| i.results[0]).collect();
    if !blocks().flat_map(|b| b.instrs.iter().chain(std::iter::once(&b.term))).all(|i| allowed(f, i, &held_loads)) {
        return None;
    }
    // A borrowed load would read the slot the loop leaves NULL.
    if blocks().flat_map(|b| &b.instrs).any(|i| i.op == Op::LoadFastBorrow && stores.contains(&i.imms[0])) {
        return None;
    }
    // Types as they will be: range items are ints (infer, on a copy, carries that to the
    // block parameters that receive them).
    let mut g = f.clone();
    for v in range_items(f, lp) {
        g.types[v.0 as usize] = Type::Int;
    }
    super::infer::run(&mut g);
    let mut stored: HashMap<u32, Option<Type>> = HashMap::new();
    for b in blocks() {
        for ins in b.instrs.iter().filter(|i| i.op == Op::StoreFast) {
            let t = g.ty(ins.args[0]);
            let e = stored.entry(ins.imms[0] as u32).or_insert(Some(t));
            *e = e.and_then(|c| c.join(t));
        }
    }
    let mut locals = vec![];
    for (&k, t) in &stored {
        let t = (*t).filter(|t| t.is_exact() && t.trivial_release())?;
        locals.push((k, t, live_at_header(f, lp, k)));
    }
    if locals.is_empty() {
        return None;
    }
    locals.sort_by_key(|l| l.0);
    let range_var = range_var(f, lp, &locals);
    Some(Plan { locals, range_var })
}

/// The local of `for k in range(...)` that the loop holds as a machine integer, when the loop's
/// header is that `FOR_ITER_RANGE` (only the iterator on the stack at it), the body stores the
/// item to `k` first and nowhere else stores `k`, every read of `k` in the loop only reads the
/// number (`GuardType<Int>`, `Unbox`, `UnboxNumber`, `PopTop`, in the reading block), and every
/// exit has a code unit for the `MemoryError` of boxing it there. Its old value is then
/// released at the loop's entry, once a first item is certain (`RangeNonEmpty`): nothing runs
/// between there and the first store, where the interpreter releases it, and the release runs
/// no code (`GuardReleasable`); so its loop-carried value is always a range item.
fn range_var(f: &Function, lp: &Loop, locals: &[(u32, Type, bool)]) -> Option<u32> {
    let hb = &f.blocks[lp.header];
    let term = &hb.term;
    if term.op != Op::ForIter || ForIterImms::of(term)?.spec != ForIterSpec::Range || !hb.instrs.is_empty() {
        return None;
    }
    // The iterator is one of the header's stack values; the others (a comprehension's list
    // and the outer value of its variable) pass through to the exhaustion edge.
    let ex = &term.targets[1];
    if !hb.params.contains(&term.args[0])
        || !ex.args.iter().all(|a| hb.params.contains(a) && *a != term.args[0])
        || lp.body.contains(&(ex.block.0 as usize))
    {
        return None;
    }
    let item = term.results[0];
    let b = term.targets[0].block.0 as usize;
    let j = term.targets[0].args.iter().position(|a| *a == item)?;
    let x = f.blocks[b].params[j];
    let first = f.blocks[b].instrs.first()?;
    if first.op != Op::StoreFast || first.args[0] != x {
        return None;
    }
    let k = first.imms[0];
    if !locals.iter().any(|l| i64::from(l.0) == k && l.1 == Type::Int && !l.2) {
        return None;
    }
    let body = || lp.body.iter().flat_map(|&bi| f.blocks[bi].instrs.iter().chain(std::iter::once(&f.blocks[bi].term)));
    if body().filter(|i| i.op == Op::StoreFast && i.imms[0] == k).count() != 1 {
        return None;
    }
    let mut uses: HashMap<Value, Vec<&Instr>> = HashMap::new();
    let mut on_edges: BTreeSet<Value> = BTreeSet::new();
    for ins in body() {
        for a in &ins.args {
            uses.entry(*a).or_default().push(ins);
        }
        on_edges.extend(ins.targets.iter().flat_map(|t| t.args.iter().copied()));
    }
    if uses.get(&x).map_or(0, |u| u.len()) != 1 || on_edges.contains(&x) {
        return None;
    }
    let reads_number = |v: Value| -> bool {
        !on_edges.contains(&v)
            && uses.get(&v).into_iter().flatten().all(|u| match u.op {
                Op::Unbox | Op::UnboxNumber | Op::PopTop => true,
                Op::GuardType => {
                    u.imms[0] == Type::Int as i64
                        && !on_edges.contains(&u.results[0])
                        && uses.get(&u.results[0]).into_iter().flatten().all(|w| matches!(w.op, Op::Unbox | Op::UnboxNumber | Op::PopTop))
                }
                _ => false,
            })
    };
    if !body().filter(|i| i.op == Op::LoadFast && i.imms[0] == k).all(|i| reads_number(i.results[0])) {
        return None;
    }
    let exits_ok = lp.body.iter().all(|&bi| {
        let t = &f.blocks[bi].term;
        t.targets.iter().enumerate().all(|(ti, c)| lp.body.contains(&(c.block.0 as usize)) || exit_bc(t, ti) >= 0)
    });
    exits_ok.then_some(k as u32)
}

/// True when some path from `lp`'s header, inside the loop and before the next pass through
/// the header, loads local `k` before storing it.
fn live_at_header(f: &Function, lp: &Loop, k: u32) -> bool {
    fn visit(f: &Function, lp: &Loop, k: u32, b: usize, seen: &mut BTreeSet<usize>) -> bool {
        if !seen.insert(b) {
            return false;
        }
        let blk = &f.blocks[b];
        for ins in &blk.instrs {
            match ins.op {
                Op::LoadFast | Op::LoadFastBorrow if ins.imms[0] as u32 == k => return true,
                Op::StoreFast if ins.imms[0] as u32 == k => return false,
                _ => {}
            }
        }
        blk.term.targets.iter().map(|t| t.block.0 as usize).any(|s| s != lp.header && lp.body.contains(&s) && visit(f, lp, k, s, seen))
    }
    visit(f, lp, k, lp.header, &mut BTreeSet::new())
}

/// The code unit where the edge `ti` of terminator `term` continues, when its immediates say
/// (a `FOR_ITER`'s exhaustion, a jump, a conditional jump's taken edge); -1 otherwise. An exit
/// block's stores carry it in their frame states (where a box for one, here or in
/// `passes::unbox_locals`, raises its `MemoryError`), and its `Jump` as its immediate.
fn exit_bc(term: &Instr, ti: usize) -> i64 {
    match (term.op, ti) {
        (Op::ForIter, 1) | (Op::Jump | Op::PopJumpIfFalse | Op::PopJumpIfTrue, 0) => term.imms[0],
        _ => -1,
    }
}

/// The frame state's held locals: `slots` paired with their current values.
fn held(slots: &[u32], values: &[Value]) -> Vec<(u32, Value)> {
    slots.iter().copied().zip(values.iter().copied()).collect()
}

/// Holds `plan`'s locals in SSA values throughout `lp` (module doc).
fn promote(f: &mut Function, lp: &Loop, plan: &Plan) {
    for v in range_items(f, lp) {
        f.types[v.0 as usize] = Type::Int;
    }
    let slots: Vec<u32> = plan.locals.iter().map(|l| l.0).collect();
    let rv = plan.range_var.and_then(|k| slots.iter().position(|&s| s == k));
    let h = lp.header;
    // The range loop's exhaustion edge before it is rewritten (the entry's empty case takes
    // it): the iterator's position among the header's stack values, and those of the values
    // the edge passes on.
    let exhausted = f.blocks[h].term.targets.get(1).map(|ex| {
        let hp = &f.blocks[h].params;
        let at = |v: &Value| hp.iter().position(|p| p == v).unwrap_or(0);
        (ex.block, at(&f.blocks[h].term.args[0]), ex.args.iter().map(at).collect::<Vec<usize>>())
    });
    if rv.is_some() {
        // The item is a machine integer, as is the body's parameter that receives it.
        let term = &f.blocks[h].term;
        let (item, b) = (term.results[0], term.targets[0].block.0 as usize);
        let j = term.targets[0].args.iter().position(|a| *a == item).unwrap();
        let x = f.blocks[b].params[j];
        f.types[item.0 as usize] = Type::CInt64;
        f.types[x.0 as usize] = Type::CInt64;
    }
    let param_ty = |j: usize| if Some(j) == rv { Type::CInt64 } else { Type::OptObject };
    // A parameter per held local on every block of the loop.
    let mut params: HashMap<usize, Vec<Value>> = HashMap::new();
    for &b in &lp.body {
        let ps: Vec<Value> = (0..slots.len()).map(|j| f.new_value(param_ty(j))).collect();
        f.blocks[b].params.extend(ps.iter().copied());
        params.insert(b, ps);
    }
    let mut new_blocks: Vec<Block> = vec![];
    let next_id = |f: &Function, new: &Vec<Block>| BlockId((f.blocks.len() + new.len()) as u32);
    // Reads of the range variable: the values that stand for its machine integer.
    let mut number: HashMap<Value, Value> = HashMap::new();
    for &b in &lp.body {
        let mut cur: Vec<Value> = params[&b].clone();
        let slot_of = |k: i64| slots.iter().position(|&s| i64::from(s) == k);
        let instrs = std::mem::take(&mut f.blocks[b].instrs);
        let mut out = Vec::with_capacity(instrs.len());
        for mut ins in instrs {
            match (ins.op, slot_of(ins.imms.first().copied().unwrap_or(-1))) {
                (Op::LoadFast, Some(j)) if Some(j) == rv => {
                    number.insert(ins.results[0], cur[j]);
                    continue;
                }
                (Op::LoadFast, Some(j)) => {
                    out.push(instr(Op::Copy, vec![1], vec![cur[j]], ins.results.clone(), None));
                    continue;
                }
                (Op::StoreFast, Some(j)) => {
                    if Some(j) != rv {
                        out.push(instr(Op::PopTop, vec![], vec![cur[j]], vec![], None));
                    }
                    cur[j] = ins.args[0];
                    continue;
                }
                _ => {}
            }
            // What reads the range variable reads the machine integer (range_var checked that
            // these are all its reads).
            if let Some(&n) = ins.args.first().and_then(|a| number.get(a)) {
                match ins.op {
                    Op::GuardType | Op::Unbox => {
                        number.insert(ins.results[0], n);
                        continue;
                    }
                    Op::PopTop => continue,
                    Op::UnboxNumber => {
                        out.push(instr(Op::IntToFloat, vec![], vec![n], ins.results.clone(), None));
                        continue;
                    }
                    _ => {}
                }
            }
            if let Some(fs) = &mut ins.fs {
                fs.locals = held(&slots, &cur);
            }
            out.push(ins);
        }
        f.blocks[b].instrs = out;
        let mut term = f.blocks[b].term.clone();
        if let Some(fs) = &mut term.fs {
            fs.locals = held(&slots, &cur);
        }
        for (ti, t) in term.targets.iter_mut().enumerate() {
            let target = t.block.0 as usize;
            if lp.body.contains(&target) {
                t.args.extend(cur.iter().copied());
                continue;
            }
            // An exit: a block that writes the locals to the frame, then goes on.
            let id = next_id(f, &new_blocks);
            let bc = exit_bc(&f.blocks[b].term, ti);
            let stack: Vec<Value> = t.args.iter().map(|a| f.new_value(f.ty(*a))).collect();
            let values: Vec<Value> = cur.iter().map(|v| f.new_value(f.ty(*v))).collect();
            // Each store carries the exit's state before it (its slot and those after it still
            // NULL, held by the block's parameters): a box needed for it (the range variable
            // here, a held number in `unbox_locals`) raises a MemoryError at the exit's code
            // unit with the frame as the interpreter would have it. A `StoreFast` with a frame
            // state is such a store into a NULL slot.
            let mut instrs = vec![];
            for (j, &k) in slots.iter().enumerate() {
                let fs = (bc >= 0).then(|| FrameState {
                    bc: bc as u32,
                    stack: stack.clone(),
                    inlined: None,
                    locals: held(&slots[j..], &values[j..]),
                });
                let mut v = values[j];
                if Some(j) == rv {
                    v = f.new_value(Type::Int);
                    instrs.push(instr(Op::Box, vec![], vec![values[j]], vec![v], fs.clone()));
                }
                instrs.push(instr(Op::StoreFast, vec![i64::from(k)], vec![v], vec![], fs));
            }
            let mut jump = instr(Op::Jump, vec![bc], vec![], vec![], None);
            jump.targets = vec![BlockCall { block: t.block, args: stack.clone() }];
            new_blocks.push(Block { params: stack.iter().chain(&values).copied().collect(), instrs, term: jump });
            t.args.extend(cur.iter().copied());
            t.block = id;
        }
        f.blocks[b].term = term;
    }
    crate::passes::infer::substitute(f, &number);
    // Entries: every edge into the header from outside takes the locals out of the frame.
    let nstack = f.blocks[h].params.len() - slots.len();
    for p in 0..f.blocks.len() {
        if lp.body.contains(&p) {
            continue;
        }
        for ti in 0..f.blocks[p].term.targets.len() {
            if f.blocks[p].term.targets[ti].block.0 as usize != h {
                continue;
            }
            let tys: Vec<Type> = f.blocks[h].params[..nstack].iter().map(|v| f.ty(*v)).collect();
            let fresh = |f: &mut Function| -> Vec<Value> { tys.iter().map(|t| f.new_value(*t)).collect() };
            let stack = fresh(f);
            let entry = next_id(f, &new_blocks);
            if let (Some(_), Some((ex_block, it, ex_args))) = (rv, &exhausted) {
                // A range with no item left: the loop does not run, nothing is taken from the
                // frame; the iterator goes as FOR_ITER's exhaustion releases it.
                let c = f.new_value(Type::CBool);
                let test = instr(
                    Op::RangeNonEmpty,
                    vec![],
                    vec![stack[*it]],
                    vec![c],
                    Some(FrameState { bc: lp.bc, stack: stack.clone(), inlined: None, locals: vec![] }),
                );
                let (go, empty) = (BlockId(entry.0 + 1), BlockId(entry.0 + 2));
                let mut branch = instr(Op::PopJumpIfTrue, vec![i64::from(lp.bc)], vec![c], vec![], None);
                let go_stack = fresh(f);
                let empty_stack = fresh(f);
                branch.targets = vec![BlockCall { block: go, args: stack.clone() }, BlockCall { block: empty, args: stack.clone() }];
                new_blocks.push(Block { params: stack.clone(), instrs: vec![test], term: branch });
                let mut jump = instr(Op::Jump, vec![f.blocks[h].term.imms[0]], vec![], vec![], None);
                jump.targets = vec![BlockCall { block: *ex_block, args: ex_args.iter().map(|&q| empty_stack[q]).collect() }];
                let release = instr(Op::PopTop, vec![], vec![empty_stack[*it]], vec![], None);
                // The go block is pushed next (below), then this one.
                let empty_block = Block { params: empty_stack, instrs: vec![release], term: jump };
                new_blocks.push(entry_block(f, lp, plan, &slots, rv, go_stack));
                new_blocks.push(empty_block);
            } else {
                new_blocks.push(entry_block(f, lp, plan, &slots, rv, stack));
            }
            f.blocks[p].term.targets[ti].block = entry;
        }
    }
    f.blocks.extend(new_blocks);
}

/// An entry block of `lp` with stack parameters `stack`: takes the held locals out of the
/// frame, checks them (module doc), releases the range variable's old value and starts it at
/// 0 (overwritten by the first item before anything reads it), and jumps to the header.
fn entry_block(f: &mut Function, lp: &Loop, plan: &Plan, slots: &[u32], rv: Option<usize>, stack: Vec<Value>) -> Block {
    let taken: Vec<Value> = slots.iter().map(|_| f.new_value(Type::OptObject)).collect();
    let mut instrs: Vec<Instr> =
        slots.iter().zip(&taken).map(|(&k, &v)| instr(Op::LoadFastAndClear, vec![i64::from(k)], vec![], vec![v], None)).collect();
    let fs = FrameState { bc: lp.bc, stack: stack.clone(), inlined: None, locals: held(slots, &taken) };
    let mut entered = vec![];
    for (&(_, t, live), &v) in plan.locals.iter().zip(&taken) {
        if live {
            let g = f.new_value(t);
            instrs.push(instr(Op::GuardType, vec![t as i64], vec![v], vec![g], Some(fs.clone())));
            entered.push(g);
        } else {
            instrs.push(instr(Op::GuardReleasable, vec![], vec![v], vec![], Some(fs.clone())));
            entered.push(v);
        }
    }
    if let Some(j) = rv {
        instrs.push(instr(Op::PopTop, vec![], vec![taken[j]], vec![], None));
        let z = f.new_value(Type::CInt64);
        instrs.push(instr(Op::IntConst, vec![0], vec![], vec![z], None));
        entered[j] = z;
    }
    let mut jump = instr(Op::Jump, vec![i64::from(lp.bc)], vec![], vec![], None);
    jump.targets = vec![BlockCall { block: BlockId(lp.header as u32), args: stack.iter().chain(&entered).copied().collect() }];
    Block { params: stack, instrs, term: jump }
}
