//! Lowering of subscripts, slices, container displays, unpacking and structural pattern
//! matching.
//!
//! Ops: `BinarySubscr`, `StoreSubscr`, `StoreSubscrFloat` (HIR-only, made by
//! `passes::store_float`), `DeleteSubscr`, `BinarySlice`, `StoreSlice`, `BuildTuple`,
//! `BuildList`, `BuildMap`, `BuildConstKeyMap`, `BuildString`, `BuildSlice`, `BuildSet`,
//! `ListAppend`, `ListExtend`, `SetAdd`, `SetUpdate`, `MapAdd`, `DictUpdate`, `DictMerge`,
//! `UnpackSequence`, `UnpackEx`, `UnpackStore` (HIR-only, made by `passes::unpack_store`),
//! `SubscrSlice` (HIR-only, made by `passes::slice_subscr`), `MatchClass`, `MatchMapping`,
//! `MatchSequence`, `MatchKeys`, `GetLen`. They mirror CPython's BINARY_SUBSCR (and _LIST_INT,
//! _TUPLE_INT, _DICT), STORE_SUBSCR (and _LIST_INT, _DICT), DELETE_SUBSCR, BINARY_SLICE,
//! STORE_SLICE, the BUILD_* instructions, LIST_APPEND, LIST_EXTEND, SET_ADD, SET_UPDATE,
//! MAP_ADD, DICT_UPDATE, DICT_MERGE, UNPACK_SEQUENCE, UNPACK_EX (`UnpackStore`: UNPACK_SEQUENCE
//! followed by the STORE_FASTs of its items; `SubscrSlice`: BUILD_SLICE 3 followed by the
//! BINARY_SUBSCR that takes the slice), MATCH_CLASS, MATCH_MAPPING, MATCH_SEQUENCE, MATCH_KEYS
//! and GET_LEN.

use super::{llvm, Lower, Pre};

/// Up to this many `UnpackSequence` and `UnpackStore` sites in a function, each gets its own
/// inlined copy of the helper's fast path (its item count is then a constant and the copy
/// loops unroll: nbody's `advance`, 7 sites, ran 1.07x faster); beyond it each is one call
/// (`_outline`): unpack_sequence's 400 inlined sites ran 1.4x slower than 400 calls.
pub(super) const UNPACK_INLINE_SITES: usize = 16;
use crate::error::EmberError;
use crate::hir::imms::{BinarySubscrImms, StoreSubscrImms};
use crate::hir::op::{StoreSubscrSpec, SubscrSpec};
use crate::hir::{FrameState, Instr, Op, Type};

impl<'ctx> Lower<'ctx, '_> {
    /// Subscripts, displays, unpacking and pattern matching (see the module doc).
    pub(super) fn lower_containers(&mut self, ins: &Instr, fs: &FrameState) -> Result<(), EmberError> {
        let imm = |k: usize| ins.imms[k];
        let arg = |k: usize| ins.args[k];
        let unsupported = || super::unsupported(ins);
        match ins.op {
            Op::BinarySubscr => {
                let spec = BinarySubscrImms::of(ins).ok_or_else(unsupported)?.spec;
                // With a borrowed operand (passes::borrow), the list and tuple forms take both
                // operands borrowed and the owned one is released after the call.
                let borrowed = ins.args.iter().any(|a| self.borrowed.contains(a));
                let name = match (spec, borrowed) {
                    (SubscrSpec::Generic, _) => "ember_binary_subscr",
                    (SubscrSpec::ListInt, false) => "ember_binary_subscr_list_int",
                    (SubscrSpec::ListInt, true) => "ember_binary_subscr_list_int_borrowed",
                    (SubscrSpec::TupleInt, false) => "ember_binary_subscr_tuple_int",
                    (SubscrSpec::TupleInt, true) => "ember_binary_subscr_tuple_int_borrowed",
                    (SubscrSpec::Dict, _) => "ember_binary_subscr_dict",
                };
                let r = self.call_ptr(name, &[self.val(arg(0))?.into(), self.val(arg(1))?.into()])?;
                if borrowed {
                    self.release(arg(0))?;
                    self.release(arg(1))?;
                }
                self.check_null(r, fs)?;
                self.def(ins.results[0], r);
            }
            Op::StoreSubscr
                if StoreSubscrImms::of(ins).map(|s| s.spec) == Some(StoreSubscrSpec::ListInt) && self.f.ty(arg(0)) == Type::Float =>
            {
                // A float stored into a list most likely replaces one: released through `ts`.
                let a = [self.ts.into(), self.val(arg(1))?.into(), self.val(arg(2))?.into(), self.val(arg(0))?.into()];
                let r = self.call("ember_store_subscr_list_int_float", &a)?;
                self.check_int(r, fs)?;
            }
            Op::StoreSubscrFloat => {
                let a = [self.ts.into(), self.val(arg(1))?.into(), self.val(arg(2))?.into(), self.val_any(arg(0))?];
                let r = self.call("ember_store_subscr_list_float", &a)?;
                self.check_int(r, fs)?;
            }
            Op::StoreSubscr => {
                let name = match StoreSubscrImms::of(ins).ok_or_else(unsupported)?.spec {
                    StoreSubscrSpec::Generic => "ember_store_subscr",
                    StoreSubscrSpec::ListInt => "ember_store_subscr_list_int",
                    StoreSubscrSpec::Dict => "ember_store_subscr_dict",
                };
                let r = self.call(name, &[self.val(arg(1))?.into(), self.val(arg(2))?.into(), self.val(arg(0))?.into()])?;
                self.check_int(r, fs)?;
            }
            Op::DeleteSubscr => {
                let r = self.call("ember_delete_subscr", &[self.val(arg(0))?.into(), self.val(arg(1))?.into()])?;
                self.check_int(r, fs)?;
            }
            Op::BuildTuple | Op::BuildList | Op::BuildMap | Op::BuildConstKeyMap | Op::BuildString | Op::BuildSlice | Op::BuildSet => {
                let name = match ins.op {
                    Op::BuildTuple => "ember_build_tuple",
                    Op::BuildList => "ember_build_list",
                    Op::BuildMap => "ember_build_map",
                    Op::BuildString => "ember_build_string",
                    Op::BuildSlice => "ember_build_slice",
                    Op::BuildSet => "ember_build_set",
                    _ => "ember_build_const_key_map",
                };
                let base = self.spill_args(&ins.args, fs.stack.len())?;
                let r = self.call_ptr(name, &[base.into(), self.i64c(imm(0)).into()])?;
                self.check_null(r, fs)?;
                self.def(ins.results[0], r);
            }
            Op::ListAppend | Op::ListExtend => {
                let name = if ins.op == Op::ListAppend { "ember_list_append" } else { "ember_list_extend" };
                let r = self.call(name, &[self.val(arg(0))?.into(), self.val(arg(1))?.into()])?;
                self.check_int(r, fs)?;
            }
            Op::UnpackSequence => {
                let out = self.stack_slot(fs.stack.len())?;
                let name = if self.inline_unpack { "ember_unpack_sequence" } else { "ember_unpack_sequence_outline" };
                let r = self.call(name, &[self.val(arg(0))?.into(), self.i64c(imm(0)).into(), out.into()])?;
                self.check_int(r, fs)?;
                for (k, res) in ins.results.iter().enumerate() {
                    let slot = self.stack_slot(fs.stack.len() + k)?;
                    let v = self.b.build_load(self.ptr_t(), slot, "item").map_err(llvm)?.into_pointer_value();
                    self.def(*res, v);
                }
            }
            Op::BinarySlice => self.helper_op(ins, fs, "ember_binary_slice", &[], false)?,
            Op::SubscrSlice => self.helper_op(ins, fs, "ember_subscr_slice", &[], false)?,
            Op::StoreSlice => self.helper_op(ins, fs, "ember_store_slice", &[], false)?,
            Op::SetAdd => self.helper_op(ins, fs, "ember_set_add", &[], false)?,
            Op::SetUpdate => self.helper_op(ins, fs, "ember_set_update", &[], false)?,
            Op::MapAdd => self.helper_op(ins, fs, "ember_map_add", &[], false)?,
            Op::DictUpdate => self.helper_op(ins, fs, "ember_dict_update", &[Pre::Ts], false)?,
            Op::DictMerge => self.helper_op(ins, fs, "ember_dict_merge", &[Pre::Ts], false)?,
            Op::MatchClass => self.helper_op(ins, fs, "ember_match_class", &[Pre::Ts], true)?,
            Op::MatchMapping | Op::MatchSequence => {
                let name = if ins.op == Op::MatchMapping { "ember_match_mapping" } else { "ember_match_sequence" };
                let r = self.call_ptr(name, &[self.val(arg(0))?.into()])?;
                self.def(ins.results[0], r);
            }
            Op::MatchKeys => self.helper_op(ins, fs, "ember_match_keys", &[Pre::Ts], false)?,
            Op::GetLen => self.helper_op(ins, fs, "ember_get_len", &[], false)?,
            Op::UnpackStore => {
                let dst = self.local_slot(imm(1) as u64)?;
                // A borrowed sequence (passes::borrow) takes the form that does not release it.
                let name = if self.borrowed.contains(&arg(0)) {
                    "ember_unpack_store_borrowed_outline"
                } else if self.inline_unpack {
                    "ember_unpack_store"
                } else {
                    "ember_unpack_store_outline"
                };
                let r = self.call(name, &[self.val(arg(0))?.into(), self.i64c(imm(0)).into(), dst.into()])?;
                self.check_int(r, fs)?;
            }
            Op::UnpackEx => {
                let out = self.stack_slot(fs.stack.len())?;
                let r = self.call("ember_unpack_ex", &[self.ts.into(), self.val(arg(0))?.into(), self.i64c(imm(0)).into(), out.into()])?;
                self.check_int(r, fs)?;
                for (k, res) in ins.results.iter().enumerate() {
                    let slot = self.stack_slot(fs.stack.len() + k)?;
                    let v = self.b.build_load(self.ptr_t(), slot, "item").map_err(llvm)?.into_pointer_value();
                    self.def(*res, v);
                }
            }
            _ => return Err(unsupported()),
        }
        Ok(())
    }
}
