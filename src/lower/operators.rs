//! Lowering of the generic (object) operators: one runtime helper call each, specialised by
//! the interpreter's inline-cache profile where the wire carries one.
//!
//! Ops: `BinaryOp`, `UnaryNot`, `UnaryNegative`, `UnaryInvert`, `ToBool`, `CompareOp`, `IsOp`,
//! `ContainsOp`, `FormatSimple`, `FormatWithSpec`, `ConvertValue`; and `GetIter` and
//! `LoadAssertionError`, which share the unary operators' one-helper arm. They mirror CPython's
//! BINARY_OP (and its _ADD_INT, _ADD_FLOAT, _ADD_UNICODE, ... specialisations), UNARY_NOT,
//! UNARY_NEGATIVE, UNARY_INVERT, TO_BOOL (and TO_BOOL_*), COMPARE_OP (and COMPARE_OP_INT,
//! _FLOAT, _STR), IS_OP, CONTAINS_OP, FORMAT_SIMPLE, FORMAT_WITH_SPEC, CONVERT_VALUE, GET_ITER
//! and LOAD_ASSERTION_ERROR. Their typed, inline forms are in [`super::numbers`].

use inkwell::values::BasicValueEnum;

use super::Lower;
use crate::error::EmberError;
use crate::hir::imms::{BinaryOpImms, CompareOpImms, ToBoolImms};
use crate::hir::op::{Arith, BinarySpec, CompareSpec, ToBoolSpec};
use crate::hir::{FrameState, Instr, Op};

impl<'ctx> Lower<'ctx, '_> {
    /// Generic operators (see the module doc).
    pub(super) fn lower_operators(&mut self, ins: &Instr, fs: &FrameState) -> Result<(), EmberError> {
        let imm = |k: usize| ins.imms[k];
        let arg = |k: usize| ins.args[k];
        let unsupported = || super::unsupported(ins);
        match ins.op {
            Op::BinaryOp => {
                let op = BinaryOpImms::of(ins).ok_or_else(unsupported)?;
                let float_first =
                    self.inline_helpers && matches!(op.arith, Arith::Add | Arith::Subtract | Arith::Multiply | Arith::TrueDivide);
                let name = match op.spec {
                    BinarySpec::Generic | BinarySpec::Despecialised if float_first => "ember_binary_op_float_first",
                    BinarySpec::Generic | BinarySpec::Despecialised | BinarySpec::Unreached => "ember_binary_op",
                    BinarySpec::AddInt => "ember_binary_op_add_int",
                    BinarySpec::SubtractInt => "ember_binary_op_subtract_int",
                    BinarySpec::MultiplyInt => "ember_binary_op_multiply_int",
                    BinarySpec::AddFloat => "ember_binary_op_add_float",
                    BinarySpec::SubtractFloat => "ember_binary_op_subtract_float",
                    BinarySpec::MultiplyFloat => "ember_binary_op_multiply_float",
                    BinarySpec::AddStr => "ember_binary_op_add_unicode",
                };
                let (a, b, nb) = (self.val(arg(0))?.into(), self.val(arg(1))?.into(), self.i64c(op.oparg).into());
                // The helpers box float results through the thread state's free list.
                let r = self.call_ptr(name, &[self.ts.into(), a, b, nb])?;
                self.check_null(r, fs)?;
                self.def(ins.results[0], r);
            }
            Op::UnaryNot | Op::UnaryNegative | Op::UnaryInvert | Op::GetIter | Op::LoadAssertionError => {
                let name = match ins.op {
                    Op::UnaryNot => "ember_unary_not",
                    Op::UnaryNegative => "ember_unary_negative",
                    Op::UnaryInvert => "ember_unary_invert",
                    Op::GetIter => "ember_get_iter",
                    _ => "ember_load_assertion_error",
                };
                let a: Vec<BasicValueEnum> = ins.args.iter().map(|v| self.val(*v).map(Into::into)).collect::<Result<_, _>>()?;
                let r = self.call_ptr(name, &a)?;
                if ins.op.info().can_raise {
                    self.check_null(r, fs)?;
                }
                self.def(ins.results[0], r);
            }
            Op::FormatSimple | Op::FormatWithSpec => {
                let name = if ins.op == Op::FormatSimple { "ember_format_simple" } else { "ember_format_with_spec" };
                let a: Vec<BasicValueEnum> = ins.args.iter().map(|v| self.val(*v).map(Into::into)).collect::<Result<_, _>>()?;
                let r = self.call_ptr(name, &a)?;
                self.check_null(r, fs)?;
                self.def(ins.results[0], r);
            }
            Op::ConvertValue => {
                let r = self.call_ptr("ember_convert_value", &[self.val(arg(0))?.into(), self.i64c(imm(0)).into()])?;
                self.check_null(r, fs)?;
                self.def(ins.results[0], r);
            }
            Op::ToBool => {
                let v = self.val(arg(0))?.into();
                let tb = ToBoolImms::of(ins).ok_or_else(unsupported)?;
                let r = match tb.spec {
                    ToBoolSpec::Generic => self.call_ptr("ember_to_bool", &[v])?,
                    ToBoolSpec::Bool => self.call_ptr("ember_to_bool_bool", &[v])?,
                    ToBoolSpec::Int => self.call_ptr("ember_to_bool_int", &[v])?,
                    ToBoolSpec::None => self.call_ptr("ember_to_bool_none", &[v])?,
                    ToBoolSpec::List => self.call_ptr("ember_to_bool_list", &[v])?,
                    ToBoolSpec::Str => self.call_ptr("ember_to_bool_str", &[v])?,
                    ToBoolSpec::AlwaysTrue => self.call_ptr("ember_to_bool_always_true", &[v, self.bound_imm(tb.type_version)?.into()])?,
                };
                self.check_null(r, fs)?;
                self.def(ins.results[0], r);
            }
            Op::CompareOp | Op::IsOp | Op::ContainsOp => {
                let name = match ins.op {
                    Op::CompareOp => match CompareOpImms::of(ins).ok_or_else(unsupported)?.spec {
                        CompareSpec::Generic => "ember_compare_op",
                        CompareSpec::Int => "ember_compare_op_int",
                        CompareSpec::Float => "ember_compare_op_float",
                        CompareSpec::Str => "ember_compare_op_str",
                    },
                    Op::IsOp => "ember_is_op",
                    Op::ContainsOp => "ember_contains_op",
                    _ => return Err(unsupported()),
                };
                let r = self.call_ptr(name, &[self.val(arg(0))?.into(), self.val(arg(1))?.into(), self.i64c(imm(0)).into()])?;
                self.check_null(r, fs)?;
                self.def(ins.results[0], r);
            }
            _ => return Err(unsupported()),
        }
        Ok(())
    }
}
