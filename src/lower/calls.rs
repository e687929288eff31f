//! Lowering of calls and of what makes functions and enters context managers.
//!
//! Ops: `Call`, `CallKw`, `CallFunctionEx`, `CallIntrinsic1`, `CallIntrinsic2`, `MakeFunction`,
//! `SetFunctionAttribute`, `BeforeWith`, `BeforeAsyncWith`. They mirror CPython's CALL, CALL_KW,
//! CALL_FUNCTION_EX, CALL_INTRINSIC_1, CALL_INTRINSIC_2, MAKE_FUNCTION, SET_FUNCTION_ATTRIBUTE,
//! BEFORE_WITH and BEFORE_ASYNC_WITH (which call `__enter__` / `__aenter__`). `Call` and
//! `CallKw` spill their arguments into the frame's value stack and call `ember_call` with the
//! vector (a plain `Call` through `ember_call_ic_fast`, with a per-site cache of the compiled
//! callee's entry); a `Call` the interpreter specialised for a builtin ([`CallSpec`]) calls that form's
//! fast path instead (`ember_call_builtin_o`, `ember_call_len`, ...).

use inkwell::values::BasicValueEnum;

use super::{llvm, Lower, Pre};
use crate::error::EmberError;
use crate::hir::imms::CallImms;
use crate::hir::op::CallSpec;
use crate::hir::{FrameState, Instr, Op};

impl<'ctx> Lower<'ctx, '_> {
    /// Calls, function creation and context-manager entry (see the module doc).
    pub(super) fn lower_calls(&mut self, ins: &Instr, fs: &FrameState) -> Result<(), EmberError> {
        let ptr_null = self.ptr_t().const_null();
        let imm = |k: usize| ins.imms[k];
        let arg = |k: usize| ins.args[k];
        let unsupported = || super::unsupported(ins);
        match ins.op {
            Op::Call | Op::CallKw => {
                let (pos, kw) = if ins.op == Op::CallKw {
                    let (last, rest) = ins.args.split_last().unwrap();
                    (rest, self.val(*last)?)
                } else {
                    (&ins.args[..], ptr_null)
                };
                let base = self.spill_args(pos, fs.stack.len())?;
                let spec = match ins.op {
                    Op::Call => CallImms::of(ins).ok_or_else(unsupported)?.spec,
                    _ => CallSpec::Generic,
                };
                let special = match spec {
                    CallSpec::Generic => None,
                    CallSpec::BuiltinO => Some("ember_call_builtin_o"),
                    CallSpec::BuiltinFast => Some("ember_call_builtin_fast"),
                    CallSpec::Len => Some("ember_call_len"),
                    CallSpec::IsInstance => Some("ember_call_isinstance"),
                    CallSpec::ListAppend => Some("ember_call_list_append"),
                    CallSpec::MethodDescriptorO => Some("ember_call_method_descriptor_o"),
                    CallSpec::MethodDescriptorNoargs => Some("ember_call_method_descriptor_noargs"),
                    CallSpec::MethodDescriptorFast => Some("ember_call_method_descriptor_fast"),
                };
                let n = self.i64c(imm(0)).into();
                let r = match special {
                    Some(name) => self.call_ptr(name, &[self.ts.into(), base.into(), n])?,
                    // A plain CALL caches its compiled callee's entry in its own EmberResumeIC,
                    // where the target affords the site's address (Bound::call_site_cache).
                    None if ins.op == Op::Call && self.call_site_cache => {
                        let ic = self.resume_ic();
                        self.call_ptr("ember_call_ic_fast", &[self.ts.into(), base.into(), n, ic.into()])?
                    }
                    None => self.call_ptr("ember_call", &[self.ts.into(), base.into(), n, kw.into()])?,
                };
                self.check_null(r, fs)?;
                self.def(ins.results[0], r);
            }
            Op::MakeFunction => self.helper_op(ins, fs, "ember_make_function", &[Pre::Frame], false)?,
            Op::SetFunctionAttribute => self.helper_op(ins, fs, "ember_set_function_attribute", &[], true)?,
            Op::CallIntrinsic1 => self.helper_op(ins, fs, "ember_call_intrinsic_1", &[Pre::Ts], true)?,
            Op::CallIntrinsic2 => self.helper_op(ins, fs, "ember_call_intrinsic_2", &[Pre::Ts], true)?,
            Op::CallFunctionEx => {
                let mut a: Vec<BasicValueEnum> = vec![self.ts.into()];
                for v in &ins.args {
                    a.push(self.val(*v)?.into());
                }
                if ins.args.len() == 3 {
                    a.push(ptr_null.into());
                }
                let r = self.call_ptr("ember_call_function_ex", &a)?;
                self.check_null(r, fs)?;
                self.def(ins.results[0], r);
            }
            Op::BeforeWith | Op::BeforeAsyncWith => {
                let name = if ins.op == Op::BeforeWith { "ember_before_with" } else { "ember_before_async_with" };
                let r = self.call_ptr(name, &[self.ts.into(), self.val(arg(0))?.into(), self.self_slot.into()])?;
                self.check_null(r, fs)?;
                let exit = self.b.build_load(self.ptr_t(), self.self_slot, "exit").map_err(llvm)?.into_pointer_value();
                self.def(ins.results[0], exit);
                self.def(ins.results[1], r);
            }
            _ => return Err(unsupported()),
        }
        Ok(())
    }
}
