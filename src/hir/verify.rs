//! Structural checks of SSA HIR: what every pass may assume and must preserve.

use std::collections::HashSet;

use crate::error::EmberError;
use crate::hir::{Function, Value};

/// Verifies `f`.
///
/// Checks: at least one block and the entry has no parameters; terminators only at block
/// ends; every successor exists and gets one argument per parameter; every value is defined
/// exactly once and every use refers to a defined value; each instruction has the
/// immediates its opcode needs; instructions that can raise carry a frame state.
///
/// Errors: [`EmberError::Verify`] naming the block and the problem.
pub fn verify(f: &Function) -> Result<(), EmberError> {
    let err = |m: String| Err(EmberError::Verify(format!("{}: {m}", f.full_name())));
    if f.blocks.is_empty() {
        return err("no blocks".into());
    }
    if !f.blocks[0].params.is_empty() {
        return err("entry block has parameters".into());
    }
    let mut defined: HashSet<Value> = HashSet::new();
    let mut def = |v: Value| -> bool { (v.0 as usize) < f.types.len() && defined.insert(v) };
    for (bi, b) in f.blocks.iter().enumerate() {
        for &p in &b.params {
            if !def(p) {
                return err(format!("bb{bi}: v{} defined twice or untyped", p.0));
            }
        }
        for ins in b.instrs.iter().chain(std::iter::once(&b.term)) {
            for &r in &ins.results {
                if !def(r) {
                    return err(format!("bb{bi}: v{} defined twice or untyped", r.0));
                }
            }
        }
    }
    for (bi, b) in f.blocks.iter().enumerate() {
        for ins in &b.instrs {
            if ins.op.info().terminator {
                return err(format!("bb{bi}: terminator {} in the middle of a block", ins.op.info().name));
            }
        }
        if !b.term.op.info().terminator {
            return err(format!("bb{bi}: block ends with non-terminator {}", b.term.op.info().name));
        }
        for ins in b.instrs.iter().chain(std::iter::once(&b.term)) {
            let name = ins.op.info().name;
            if ins.imms.len() != ins.op.info().nimm {
                return err(format!("bb{bi}: {name} has {} immediates, needs {}", ins.imms.len(), ins.op.info().nimm));
            }
            if ins.op.info().can_raise && ins.fs.is_none() {
                return err(format!("bb{bi}: {name} can raise but has no frame state"));
            }
            let uses = ins.args.iter().chain(ins.targets.iter().flat_map(|t| t.args.iter())).chain(ins.fs.iter().flat_map(|s| s.values()));
            for u in uses {
                if !defined.contains(u) {
                    return err(format!("bb{bi}: {name} uses undefined v{}", u.0));
                }
            }
            for t in &ins.targets {
                let Some(tb) = f.blocks.get(t.block.0 as usize) else {
                    return err(format!("bb{bi}: {name} jumps to missing bb{}", t.block.0));
                };
                if tb.params.len() != t.args.len() {
                    return err(format!(
                        "bb{bi}: edge to bb{} passes {} values for {} parameters",
                        t.block.0,
                        t.args.len(),
                        tb.params.len()
                    ));
                }
                if t.block.0 == 0 {
                    return err(format!("bb{bi}: edge to the entry block"));
                }
            }
        }
    }
    Ok(())
}
