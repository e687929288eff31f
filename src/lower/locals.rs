//! Lowering of locals, constants, cells and the value-stack shuffles.
//!
//! Ops: `LoadFast`, `LoadFastCheck`, `LoadFastAndClear`, `LoadFastBorrow` (HIR-only, made by
//! `passes::borrow`), `StoreFast`, `StoreFastFloat` (HIR-only, made by `passes::store_float`),
//! `DeleteFast`, `LoadConst`, `PushNull`, `PopTop`, `Copy`, `Swap`, `Select` (HIR-only, made by
//! `passes::inline_method`: a machine select of two borrowed objects), `Nop`, `MakeCell`,
//! `CopyFreeVars`, `LoadDeref`, `StoreDeref`, `DeleteDeref`. They mirror CPython's
//! LOAD_FAST, LOAD_FAST_CHECK, LOAD_FAST_AND_CLEAR (and the halves of LOAD_FAST_LOAD_FAST,
//! STORE_FAST_LOAD_FAST, STORE_FAST_STORE_FAST), STORE_FAST, DELETE_FAST, LOAD_CONST, PUSH_NULL,
//! POP_TOP / END_FOR, COPY, SWAP, NOP, MAKE_CELL, COPY_FREE_VARS, LOAD_DEREF, STORE_DEREF and
//! DELETE_DEREF. A local is a load or store of `localsplus[i]`; value-stack entries are SSA
//! values, so `Swap` and `Nop` emit nothing and `Copy` only takes a reference.

use super::{llvm, Lower, Pre};
use crate::error::EmberError;
use crate::hir::{FrameState, Instr, Op, Type};

impl<'ctx> Lower<'ctx, '_> {
    /// Locals, constants, cells and stack shuffles (see the module doc).
    pub(super) fn lower_locals(&mut self, ins: &Instr, fs: &FrameState) -> Result<(), EmberError> {
        let ptr_null = self.ptr_t().const_null();
        let imm = |k: usize| ins.imms[k];
        let arg = |k: usize| ins.args[k];
        let unsupported = || super::unsupported(ins);
        match ins.op {
            Op::Nop => {}
            Op::Select => {
                let c = self.truth(arg(0))?;
                let (a, b) = (self.val(arg(1))?, self.val(arg(2))?);
                let v = self.b.build_select(c, a, b, "chosen").map_err(llvm)?.into_pointer_value();
                self.def(ins.results[0], v);
            }
            Op::LoadFastBorrow => {
                let slot = self.local_slot(imm(0) as u64)?;
                let v = self.b.build_load(self.ptr_t(), slot, "local").map_err(llvm)?.into_pointer_value();
                self.def(ins.results[0], v);
            }
            Op::LoadFast | Op::LoadFastCheck => {
                let slot = self.local_slot(imm(0) as u64)?;
                let v = self.b.build_load(self.ptr_t(), slot, "local").map_err(llvm)?.into_pointer_value();
                if ins.op == Op::LoadFastCheck {
                    self.raise_if_unbound(v, imm(0), fs)?;
                }
                self.incref(v)?;
                self.def(ins.results[0], v);
            }
            Op::LoadFastAndClear => {
                let slot = self.local_slot(imm(0) as u64)?;
                let v = self.b.build_load(self.ptr_t(), slot, "local").map_err(llvm)?.into_pointer_value();
                self.b.build_store(slot, ptr_null).map_err(llvm)?;
                self.def(ins.results[0], v);
            }
            Op::StoreFast => {
                let slot = self.local_slot(imm(0) as u64)?;
                let old = self.b.build_load(self.ptr_t(), slot, "old").map_err(llvm)?;
                self.b.build_store(slot, self.val(arg(0))?).map_err(llvm)?;
                if self.f.ty(arg(0)) == Type::Float {
                    // A local that gets a float most likely held one: released through `ts`.
                    self.call("ember_release_local_float", &[self.ts.into(), old])?;
                } else {
                    self.call("ember_xdecref", &[old])?;
                }
            }
            Op::StoreFastFloat => {
                let slot = self.local_slot(imm(0) as u64)?;
                let r = self.call("ember_store_local_float", &[self.ts.into(), slot.into(), self.val_any(arg(0))?])?;
                self.check_int(r, fs)?;
            }
            Op::DeleteFast => {
                let slot = self.local_slot(imm(0) as u64)?;
                let old = self.b.build_load(self.ptr_t(), slot, "old").map_err(llvm)?.into_pointer_value();
                self.raise_if_unbound(old, imm(0), fs)?;
                self.b.build_store(slot, ptr_null).map_err(llvm)?;
                self.call("ember_decref", &[old.into()])?;
            }
            Op::LoadConst => {
                let addr = self.f.consts[imm(0) as usize];
                let c = self.konst(imm(0))?;
                if !self.is_immortal_singleton(addr) {
                    self.incref(c)?;
                }
                self.def(ins.results[0], c);
            }
            Op::PushNull => self.def(ins.results[0], ptr_null),
            Op::PopTop => self.release(arg(0))?,
            Op::Copy if self.f.ty(arg(0)).is_unboxed() => {
                let v = self.val_any(arg(0))?;
                self.def(ins.results[0], v);
            }
            Op::Copy => {
                let v = self.val(arg(0))?;
                match self.f.ty(arg(0)) {
                    Type::OptObject => {
                        let isnull = self.b.build_is_null(v, "n").map_err(llvm)?;
                        let inc = self.new_block("copy_inc");
                        let cont = self.new_block("copy_done");
                        self.b.build_conditional_branch(isnull, cont, inc).map_err(llvm)?;
                        self.b.position_at_end(inc);
                        self.incref(v)?;
                        self.b.build_unconditional_branch(cont).map_err(llvm)?;
                        self.b.position_at_end(cont);
                    }
                    _ => self.incref(v)?,
                }
                self.def(ins.results[0], v);
            }
            Op::Swap => {}
            Op::MakeCell => self.helper_op(ins, fs, "ember_make_cell", &[Pre::Ts, Pre::Frame], true)?,
            Op::CopyFreeVars => self.helper_op(ins, fs, "ember_copy_free_vars", &[Pre::Frame], true)?,
            Op::LoadDeref => self.helper_op(ins, fs, "ember_load_deref", &[Pre::Ts, Pre::Frame], true)?,
            Op::StoreDeref => {
                self.call("ember_store_deref", &[self.frame.into(), self.i64c(imm(0)).into(), self.val(arg(0))?.into()])?;
            }
            Op::DeleteDeref => self.helper_op(ins, fs, "ember_delete_deref", &[Pre::Ts, Pre::Frame], true)?,
            _ => return Err(unsupported()),
        }
        Ok(())
    }

    fn is_immortal_singleton(&self, addr: u64) -> bool {
        let l = &self.f.layout;
        l.immortal_singletons && (addr == l.none || addr == l.true_ || addr == l.false_)
    }
}
