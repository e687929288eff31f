//! Load-time bindings: the process-specific values of a function, split out of its HIR.
//!
//! A function's HIR mixes two kinds of facts. Structural ones (bytecode, opargs,
//! specialisation kinds, inline-values indices, frame layout offsets) are the same in every
//! process that runs the same code under the same builds. Process-specific ones differ from
//! one run to the next: object addresses (constants, names, descriptors, `None`/`True`/
//! `False`, the code object's first code unit) and the type and dict-keys versions the
//! specialising interpreter's inline caches hold ([`Op::bound_imms`]).
//!
//! [`split`] replaces every process-specific value by its **binding ordinal**, a 1-based index
//! into a [`Bindings`] table (equal values share one ordinal, so equality facts such as "this
//! constant is `None`" survive), and returns the table. The compiler only ever sees the split
//! function: the lowering reads each bound value from a per-function table in the object's
//! data, which the JIT fills after linking (see `lower::bindings_symbol`). Compiled code is
//! therefore a function of the split HIR alone, which is what makes it reusable by another
//! process (the persistent code cache, issue 15 item 6): that process splits its own HIR, finds
//! the same structure, and binds its own values.
//!
//! Values `<= 0` are never bound: 0 means "no version" / "no address" and negative values are
//! sentinels; both are structural.

use super::{Function, Op};

/// The process-specific values of one function, in ordinal order: ordinal `k` (1-based) of
/// the split function stands for `values[k - 1]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bindings {
    /// Bound values (addresses and versions), 8 bytes each in the object's table.
    pub values: Vec<u64>,
    /// Code unit → ordinal of its address (`code_base + 2 * bc`), for every code unit the
    /// function can leave compiled code at (frame states, resume points): compiled code stores
    /// `instr_ptr` with one load instead of a load and an add.
    pub code_units: std::collections::BTreeMap<u32, u64>,
}

impl Bindings {
    /// The ordinal of `v` (1-based), adding it when new; `v == 0` stays 0.
    fn ordinal(&mut self, index: &mut std::collections::HashMap<u64, u64>, v: u64) -> u64 {
        if v == 0 {
            return 0;
        }
        *index.entry(v).or_insert_with(|| {
            self.values.push(v);
            self.values.len() as u64
        })
    }

    /// The value ordinal `k` stands for (`k == 0`: 0). `None` for an ordinal out of range.
    pub fn value(&self, k: u64) -> Option<u64> {
        if k == 0 {
            Some(0)
        } else {
            self.values.get(k as usize - 1).copied()
        }
    }
}

/// Replaces `f`'s own process-specific values by their ordinals, in this order: its layout's
/// addresses, its constants, the bound immediates ([`Op::bound_imms`]) of its instructions.
fn split_own(f: &mut Function, b: &mut Bindings, index: &mut std::collections::HashMap<u64, u64>) {
    let l = &mut f.layout;
    for v in [&mut l.code_base, &mut l.none, &mut l.true_, &mut l.false_] {
        *v = b.ordinal(index, *v);
    }
    for c in &mut f.consts {
        *c = b.ordinal(index, *c);
    }
    for blk in &mut f.blocks {
        for ins in blk.instrs.iter_mut().chain(std::iter::once(&mut blk.term)) {
            for &i in Op::bound_imms(ins.op) {
                if let Some(v) = ins.imms.get_mut(i) {
                    if *v > 0 {
                        *v = b.ordinal(index, *v as u64) as i64;
                    }
                }
            }
        }
    }
}

/// Returns `f` with every process-specific value replaced by its binding ordinal, and the
/// table of those values. Bound: `consts` (object handles), `layout.code_base`,
/// `layout.none`/`true_`/`false_`, the immediates [`Op::bound_imms`] names when positive, the
/// same values of each callee (its code object, layout, constants and immediates), and
/// then, in code-unit order, the address of each code unit of a frame state or a
/// [`Op::ResumeAt`] (a function of the structure, so not part of the split HIR itself) when
/// `code_units` holds (see `passes_llvm::Target::binds_code_units`).
pub fn split(f: &Function, code_units: bool) -> (Function, Bindings) {
    let mut s = f.clone();
    let mut b = Bindings::default();
    let mut index = std::collections::HashMap::new();
    split_own(&mut s, &mut b, &mut index);
    // Callees kept for the lowering (their bodies evaluated in place): the same values, in the
    // same table, after the caller's.
    for c in &mut s.callees {
        c.code = b.ordinal(&mut index, c.code);
        split_own(&mut c.body, &mut b, &mut index);
    }
    let base = f.layout.code_base;
    let mut units = std::collections::BTreeSet::new();
    for blk in f.blocks.iter().filter(|_| code_units) {
        for ins in blk.instrs.iter().chain(std::iter::once(&blk.term)) {
            if let Some(fs) = &ins.fs {
                units.insert(fs.bc);
            }
            if ins.op == Op::ResumeAt {
                units.extend(ins.imms.first().and_then(|&u| u32::try_from(u).ok()));
            }
        }
    }
    for u in units {
        b.values.push(base.wrapping_add(2 * u as u64));
        b.code_units.insert(u, b.values.len() as u64);
    }
    (s, b)
}
