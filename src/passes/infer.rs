//! Type inference: propagates what guards and typed operations establish, and removes the
//! guards it proves.
//!
//! A `Copy` has its operand's type.
//!
//! Values get their types where they are made (a `GuardType<Float>` result is a `Float`, a
//! `Box` of a `CDouble` is a `Float`); this pass gives each block parameter the join
//! ([`Type::join`]) of the values every predecessor passes to it, iterating to a fixed point
//! (a parameter starts unknown, so a loop-carried value keeps the type that reaches it on every
//! edge), then removes each `GuardType<T> v` whose `v` is already a `T`: uses of its result
//! become uses of `v`.

use std::collections::HashMap;

use crate::hir::{Function, Op, Type, Value};

/// Replaces every use (operands, edge arguments, frame states) of a key of `map` by its value.
pub fn substitute(f: &mut Function, map: &HashMap<Value, Value>) {
    if map.is_empty() {
        return;
    }
    let get = |v: &mut Value| {
        let mut x = *v;
        while let Some(&y) = map.get(&x) {
            x = y;
        }
        *v = x;
    };
    for b in &mut f.blocks {
        for ins in b.instrs.iter_mut().chain(std::iter::once(&mut b.term)) {
            ins.args.iter_mut().for_each(get);
            ins.targets.iter_mut().flat_map(|t| t.args.iter_mut()).for_each(get);
            if let Some(fs) = &mut ins.fs {
                fs.values_mut().for_each(get);
            }
        }
    }
}

/// Runs the pass; returns the number of guards removed.
pub fn run(f: &mut Function) -> usize {
    // Block parameter types: join over incoming edges, to a fixed point.
    let nblocks = f.blocks.len();
    let mut param_ty: Vec<Vec<Option<Type>>> = f.blocks.iter().map(|b| vec![None; b.params.len()]).collect();
    let mut where_param: HashMap<Value, (usize, usize)> = HashMap::new();
    for (bi, b) in f.blocks.iter().enumerate() {
        for (k, p) in b.params.iter().enumerate() {
            where_param.insert(*p, (bi, k));
        }
    }
    let ty_of = |f: &Function, param_ty: &[Vec<Option<Type>>], v: Value| -> Option<Type> {
        match where_param.get(&v) {
            Some(&(bi, k)) => param_ty[bi][k],
            None => Some(f.ty(v)),
        }
    };
    let mut changed = true;
    let mut rounds = 0;
    while changed && rounds < 4 * nblocks + 8 {
        changed = false;
        rounds += 1;
        for bi in 0..nblocks {
            // A copy has its operand's type.
            let mut copies = vec![];
            for ins in &f.blocks[bi].instrs {
                if ins.op == Op::Copy {
                    if let Some(t) = ty_of(f, &param_ty, ins.args[0]) {
                        if t.is_exact() && t.is_subtype(f.ty(ins.results[0])) && f.ty(ins.results[0]) != t {
                            copies.push((ins.results[0], t));
                        }
                    }
                }
            }
            for (r, t) in copies {
                f.types[r.0 as usize] = t;
                changed = true;
            }
            let b = &f.blocks[bi];
            for ins in b.instrs.iter().chain(std::iter::once(&b.term)) {
                for t in &ins.targets {
                    for (k, a) in t.args.iter().enumerate() {
                        let Some(at) = ty_of(f, &param_ty, *a) else { continue };
                        let cur = param_ty[t.block.0 as usize][k];
                        let new = match cur {
                            None => Some(at),
                            Some(c) => c.join(at).or(Some(c)),
                        };
                        if new != cur {
                            param_ty[t.block.0 as usize][k] = new;
                            changed = true;
                        }
                    }
                }
            }
        }
    }
    for (bi, tys) in param_ty.iter().enumerate() {
        for (k, t) in tys.iter().enumerate() {
            let p = f.blocks[bi].params[k];
            // Only narrow object types (never to or from an unboxed type).
            if let Some(t) = t {
                if !t.is_unboxed() && t.is_subtype(f.ty(p)) {
                    f.types[p.0 as usize] = *t;
                }
            }
        }
    }
    // Guards whose operand is already known.
    let mut map = HashMap::new();
    for b in &mut f.blocks {
        let types = &f.types;
        b.instrs.retain(|ins| {
            if ins.op == Op::GuardType {
                let want = u8::try_from(ins.imms[0]).ok().and_then(Type::from_u8);
                if want.is_some_and(|t| types[ins.args[0].0 as usize].is_subtype(t)) {
                    map.insert(ins.results[0], ins.args[0]);
                    return false;
                }
            }
            true
        });
    }
    let n = map.len();
    substitute(f, &map);
    n
}
