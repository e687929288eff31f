//! Unboxed loop-carried numbers: a block parameter that holds an exact `int` or `float` (a local
//! `passes::loop_locals` holds in SSA values, typed by `infer`) becomes a `CInt64` or `CDouble`
//! when every value reaching it can be had unboxed and every use of it only reads the number.
//!
//! A parameter `p:Int` qualifies (with every parameter it passes its value to or gets it from,
//! all or none) when each incoming value is
//! - another qualifying parameter,
//! - a `Box x` (its `x` is passed instead; `box_elim` then drops the box), or
//! - a `GuardType<Int>` result in the predecessor, which has the guard's frame state (a loop's
//!   entry block): it is unboxed there, before the jump, and released;
//!
//! and each use of `p` is an `Unbox` (its result becomes `p`), a release (`PopTop`, dropped: a
//! machine number holds no reference), a `Copy` whose own uses are such, an edge argument of
//! another qualifying parameter, a frame state (a side exit boxes it), or a `StoreFast` with a
//! frame state: a store into a NULL slot at a held loop's exit (`loop_locals`), which gets a
//! `Box` first with the store's state (a `MemoryError` is raised at the exit's code unit with
//! the frame as the interpreter would have it). A store without one (an ordinary local) keeps
//! the parameter boxed.
//!
//! ```text
//! bb1(v6, v19:Int, v20:opt):                      bb1(v6, v19:CInt64, v20:opt):
//!   ...                                              ...
//! bb2(v8, v9:Int, v21:Int, v22:opt):              bb2(v8, v9:Int, v21:CInt64, v22:opt):
//!   v10:Int = Copy<1> v21                  =>        v11:Int = Copy<1> v9
//!   v16:CInt64 = Unbox v10 @18[...]                  v17:CInt64 = Unbox v11 @18[...]
//!   PopTop v10                                       PopTop v11
//!   ...                                              v18:CInt64 = IntBinOp<0> v21 v17 @18[v8 v21 v17 L1=v21 L2=v9]
//!   v12:Int = Box v18 @18[v8 L1=v21 L2=v9]           JumpBackward<14> -> bb1(v8, v18, v9) @21[v8 L1=v18 L2=v9]
//!   PopTop v21
//!   JumpBackward<14> -> bb1(v8, v12, v9) @21[...]
//! ```
//! So `s += i` in a loop allocates nothing for `s`: the sum stays in a register until the loop
//! exits or something leaves compiled code, where it is boxed once.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::instr;
use crate::hir::{Function, Op, Type, Value};

/// Where a value is defined: block index and instruction index (`usize::MAX` for a parameter).
fn definitions(f: &Function) -> HashMap<Value, (usize, usize)> {
    let mut d = HashMap::new();
    for (bi, b) in f.blocks.iter().enumerate() {
        for p in &b.params {
            d.insert(*p, (bi, usize::MAX));
        }
        for (ii, ins) in b.instrs.iter().enumerate() {
            for r in &ins.results {
                d.insert(*r, (bi, ii));
            }
        }
    }
    d
}

/// Runs the pass; returns the number of parameters unboxed.
pub fn run(f: &mut Function) -> usize {
    let defs = definitions(f);
    let is_param = |v: Value| defs.get(&v).is_some_and(|d| d.1 == usize::MAX);
    // Candidates: parameters of an exact int or float type.
    let mut cand: BTreeSet<Value> =
        f.blocks.iter().flat_map(|b| &b.params).copied().filter(|p| matches!(f.ty(*p), Type::Int | Type::Float)).collect();
    if cand.is_empty() {
        return 0;
    }
    // Each parameter's incoming values, and each value's uses.
    let mut incoming: HashMap<Value, Vec<(usize, Value)>> = HashMap::new();
    let mut uses: HashMap<Value, Vec<(usize, usize)>> = HashMap::new();
    let mut edge_uses: HashMap<Value, Vec<Value>> = HashMap::new();
    for (bi, b) in f.blocks.iter().enumerate() {
        for (ii, ins) in b.instrs.iter().chain(std::iter::once(&b.term)).enumerate() {
            for a in &ins.args {
                uses.entry(*a).or_default().push((bi, ii));
            }
            for t in &ins.targets {
                for (a, p) in t.args.iter().zip(&f.blocks[t.block.0 as usize].params) {
                    incoming.entry(*p).or_default().push((bi, *a));
                    edge_uses.entry(*a).or_default().push(*p);
                }
            }
        }
    }
    let instr_at = |bi: usize, ii: usize| {
        let b = &f.blocks[bi];
        if ii < b.instrs.len() {
            &b.instrs[ii]
        } else {
            &b.term
        }
    };
    // Every use of parameter `v` only reads the number.
    let reads_only = |v: Value| -> bool {
        uses.get(&v).into_iter().flatten().all(|&(bi, ii)| {
            let ins = instr_at(bi, ii);
            match ins.op {
                Op::Unbox | Op::PopTop => true,
                Op::Copy => {
                    uses.get(&ins.results[0]).into_iter().flatten().all(|&(cb, ci)| matches!(instr_at(cb, ci).op, Op::Unbox | Op::PopTop))
                        && !edge_uses.contains_key(&ins.results[0])
                }
                // A store into a NULL slot at a held loop's exit, whose frame state the box's
                // MemoryError uses (`loop_locals`).
                Op::StoreFast => ins.fs.is_some(),
                _ => false,
            }
        })
    };
    let mut changed = true;
    while changed {
        changed = false;
        let snapshot: Vec<Value> = cand.iter().copied().collect();
        for p in snapshot {
            let t = f.ty(p);
            let ok_in = incoming.get(&p).into_iter().flatten().all(|&(pb, a)| {
                if is_param(a) {
                    return cand.contains(&a) && f.ty(a) == t;
                }
                let Some(&(db, di)) = defs.get(&a) else { return false };
                let d = &f.blocks[db].instrs[di];
                match d.op {
                    Op::Box => f.ty(d.args[0]) == t.unboxed().unwrap(),
                    Op::GuardType => db == pb && d.fs.is_some() && f.ty(a) == t,
                    _ => false,
                }
            });
            let ok_out = reads_only(p) && edge_uses.get(&p).into_iter().flatten().all(|q| cand.contains(q) && f.ty(*q) == t);
            if !(ok_in && ok_out) {
                cand.remove(&p);
                changed = true;
            }
        }
    }
    if cand.is_empty() {
        return 0;
    }
    // Rewrite. Values that become a parameter's machine number: unboxes of it and of its copies.
    let mut map: HashMap<Value, Value> = HashMap::new();
    let mut dead: HashSet<(usize, usize)> = HashSet::new();
    for &p in &cand {
        for &(bi, ii) in uses.get(&p).into_iter().flatten() {
            let ins = instr_at(bi, ii);
            match ins.op {
                Op::Unbox => {
                    map.insert(ins.results[0], p);
                    dead.insert((bi, ii));
                }
                Op::PopTop => {
                    dead.insert((bi, ii));
                }
                Op::Copy => {
                    dead.insert((bi, ii));
                    map.insert(ins.results[0], p);
                    for &(cb, ci) in uses.get(&ins.results[0]).into_iter().flatten() {
                        let c = instr_at(cb, ci);
                        if c.op == Op::Unbox {
                            map.insert(c.results[0], p);
                        }
                        dead.insert((cb, ci));
                    }
                }
                _ => {}
            }
        }
    }
    // Incoming values: boxes give their number; guards in entry blocks are unboxed there.
    let mut edge_map: HashMap<(usize, Value), Value> = HashMap::new();
    let mut entry_unboxes: HashMap<usize, Vec<(Value, Value)>> = HashMap::new();
    for &p in &cand {
        for &(pb, a) in incoming.get(&p).into_iter().flatten() {
            if cand.contains(&a) {
                continue;
            }
            let (db, di) = defs[&a];
            let d = &f.blocks[db].instrs[di];
            if d.op == Op::Box {
                edge_map.insert((pb, a), d.args[0]);
            } else if let std::collections::hash_map::Entry::Vacant(e) = edge_map.entry((pb, a)) {
                let u = f.new_value(f.ty(p).unboxed().unwrap());
                e.insert(u);
                entry_unboxes.entry(pb).or_default().push((a, u));
            }
        }
    }
    for &p in &cand {
        let u = f.ty(p).unboxed().unwrap();
        f.types[p.0 as usize] = u;
    }
    for bi in 0..f.blocks.len() {
        let instrs = std::mem::take(&mut f.blocks[bi].instrs);
        let mut out = Vec::with_capacity(instrs.len());
        // Stores of unboxed numbers at a held loop's exit: boxed first, with the store's state.
        for (i, mut x) in instrs.into_iter().enumerate() {
            if x.op == Op::StoreFast && cand.contains(&x.args[0]) {
                let v = x.args[0];
                let r = f.new_value(f.ty(v).boxed().unwrap());
                out.push(instr(Op::Box, vec![], vec![v], vec![r], x.fs.clone()));
                x.args[0] = r;
                out.push(x);
            } else if !dead.contains(&(bi, i)) {
                out.push(x);
            }
        }
        // Entry blocks: unbox the guarded values right after the block's last check, with its
        // frame state (every check and unbox first, then the releases, so no exit names a
        // released object).
        if let Some(us) = entry_unboxes.get(&bi) {
            let at = out.iter().rposition(|x| x.fs.is_some()).map_or(0, |k| k + 1);
            let fs = out.get(at.wrapping_sub(1)).and_then(|x| x.fs.clone());
            let mut add: Vec<_> = us.iter().map(|&(a, u)| instr(Op::Unbox, vec![], vec![a], vec![u], fs.clone())).collect();
            add.extend(us.iter().map(|&(a, _)| instr(Op::PopTop, vec![], vec![a], vec![], None)));
            out.splice(at..at, add);
        }
        f.blocks[bi].instrs = out;
        for t in &mut f.blocks[bi].term.targets {
            for a in &mut t.args {
                if let Some(x) = edge_map.get(&(bi, *a)) {
                    *a = *x;
                }
            }
        }
    }
    crate::passes::infer::substitute(f, &map);
    cand.len()
}
