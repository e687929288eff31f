//! Lowering of iteration, generators and coroutines.
//!
//! Ops: `ForIter`, `ReturnGenerator`, `YieldValue`, `ResumeAt` and `GenInterp` (HIR-only: the
//! resume dispatch of a generator-family function, see `hir::build`), `Send`, `EndSend`,
//! `GetYieldFromIter`, `GetAwaitable`, `GetAiter`, `GetAnext`. They mirror CPython's FOR_ITER (and
//! FOR_ITER_RANGE, _LIST, _TUPLE, _GEN), RETURN_GENERATOR, YIELD_VALUE, SEND, END_SEND,
//! GET_YIELD_FROM_ITER, GET_AWAITABLE, GET_AITER and GET_ANEXT (END_ASYNC_FOR is reached only
//! through the exception table; [`Lower::check_async_for`] does its work on the loop's exit
//! edge). `GetIter` is lowered with the unary operators ([`super::operators`]).

use inkwell::context::ContextRef;
use inkwell::module::Linkage;
use inkwell::types::StructType;
use inkwell::values::{IntValue, PointerValue};
use inkwell::{AddressSpace, IntPredicate};

use super::{llvm, Lower, Pre};
use crate::error::EmberError;
use crate::hir::imms::ForIterImms;
use crate::hir::op::ForIterSpec;
use crate::hir::{BlockCall, FrameState, Instr, Op, Type};

/// The LLVM type of a resume cache, [`ResumeIc`](crate::ic::ResumeIc) field by field: `{code,
/// entry, epoch}`, two pointers and an `i64`. `tests/contract.rs` checks that its size and field
/// offsets are those of the Rust (hence the C) definition on x86-64 and AArch64.
pub fn resume_ic_type(ctx: ContextRef<'_>) -> StructType<'_> {
    let ptr_t = ctx.ptr_type(AddressSpace::default());
    ctx.struct_type(&[ptr_t.into(), ptr_t.into(), ctx.i64_type().into()], false)
}

impl<'ctx> Lower<'ctx, '_> {
    /// Iteration, generators and coroutines (see the module doc).
    pub(super) fn lower_iter(&mut self, ins: &Instr, fs: &FrameState) -> Result<(), EmberError> {
        let imm = |k: usize| ins.imms[k];
        let arg = |k: usize| ins.args[k];
        let unsupported = || super::unsupported(ins);
        match ins.op {
            Op::ForIter if self.f.ty(ins.results[0]) == Type::CInt64 => {
                // The loop variable of a range loop held as a machine integer
                // (`passes::loop_locals`): the loop's entry checked the iterator's kind.
                let it = self.val(arg(0))?;
                let got = self.call("ember_for_iter_range_i64", &[it.into(), self.i64_slot.into()])?.unwrap().into_int_value();
                let got = self.b.build_int_compare(IntPredicate::NE, got, self.ctx.i32_type().const_zero(), "item").map_err(llvm)?;
                let (body, stop) = (self.new_block("for_body"), self.new_block("for_stop"));
                self.b.build_conditional_branch(got, body, stop).map_err(llvm)?;
                self.b.position_at_end(stop);
                self.call("ember_decref", &[it.into()])?;
                self.jump(&ins.targets[1])?;
                self.b.position_at_end(body);
                let x = self.b.build_load(self.ctx.i64_type(), self.i64_slot, "i").map_err(llvm)?;
                self.def(ins.results[0], x);
                self.jump(&ins.targets[0])?;
            }
            Op::ForIter => {
                // Generic sites too resume an exact generator inline: while Ember's PEP 523 hook
                // is installed the interpreter never specialises FOR_ITER_GEN, so a loop over a
                // generator has no profile.
                let it = self.val(arg(0))?;
                let item = match ForIterImms::of(ins).ok_or_else(unsupported)?.spec {
                    ForIterSpec::Generic | ForIterSpec::Gen => {
                        self.call_ptr("ember_for_iter_gen", &[self.ts.into(), it.into(), self.resume_ic().into()])?
                    }
                    ForIterSpec::Range => {
                        if !fs.locals.is_empty() {
                            // In a loop whose locals compiled code holds (`passes::loop_locals`)
                            // the generic path, which may run code, is a deopt instead; the item
                            // is then an exact int.
                            let r = self.call("ember_range_iter_state", &[it.into()])?.unwrap().into_int_value();
                            let ok =
                                self.b.build_int_compare(IntPredicate::SGE, r, self.ctx.i32_type().const_zero(), "range").map_err(llvm)?;
                            self.guard(ok, fs)?;
                        }
                        self.call_ptr("ember_for_iter_range", &[self.ts.into(), it.into()])?
                    }
                    ForIterSpec::List => self.call_ptr("ember_for_iter_list", &[self.ts.into(), it.into()])?,
                    ForIterSpec::Tuple => self.call_ptr("ember_for_iter_tuple", &[self.ts.into(), it.into()])?,
                };
                self.def(ins.results[0], item);
                let isnull = self.b.build_is_null(item, "done").map_err(llvm)?;
                let body = self.new_block("for_body");
                let stop = self.new_block("for_stop");
                self.b.build_conditional_branch(isnull, stop, body).map_err(llvm)?;
                self.b.position_at_end(stop);
                let failed = self.err_occurred()?;
                self.check(failed, fs)?;
                self.call("ember_decref", &[it.into()])?;
                self.jump(&ins.targets[1])?;
                self.b.position_at_end(body);
                self.jump(&ins.targets[0])?;
            }
            Op::ReturnGenerator => {
                let r = self.call_ptr("ember_rt_return_generator", &[self.ts.into(), self.frame.into()])?;
                self.check_null(r, fs)?;
                self.b.build_return(Some(&r)).map_err(llvm)?;
            }
            Op::YieldValue => {
                // The saved stack goes into the frame exactly where the interpreter keeps it,
                // so either tier can resume the generator; instr_ptr (set above) is the RESUME.
                self.spill_args(&fs.stack, 0)?;
                let a = [
                    self.ts.into(),
                    self.frame.into(),
                    self.val(arg(0))?.into(),
                    self.i64c(fs.stack.len() as i64).into(),
                    self.i64c(imm(0)).into(),
                ];
                let r = self.call_ptr("ember_rt_yield", &a)?;
                self.b.build_return(Some(&r)).map_err(llvm)?;
            }
            Op::ResumeAt => {
                // instr_ptr == code_base + 2 * imm0: the frame is suspended (or starts) here.
                let at = self.b.build_load(self.ptr_t(), self.ip_slot()?, "ip").map_err(llvm)?.into_pointer_value();
                let want = self.code_unit_addr(imm(0) as u32)?;
                let hit = self.b.build_int_compare(IntPredicate::EQ, at, want, "resume_here").map_err(llvm)?;
                let yes = self.new_block(&format!("resume_{}", imm(0)));
                let no = self.new_block("resume_next");
                self.b.build_conditional_branch(hit, yes, no).map_err(llvm)?;
                self.b.position_at_end(yes);
                for (d, r) in ins.results.iter().enumerate() {
                    let slot = self.stack_slot(d)?;
                    let v = self.b.build_load(self.ptr_t(), slot, "saved").map_err(llvm)?.into_pointer_value();
                    self.def(*r, v);
                }
                if !ins.results.is_empty() {
                    self.call("ember_gen_take_stack", &[self.frame.into()])?;
                }
                self.jump(&ins.targets[0])?;
                self.b.position_at_end(no);
                self.jump(&ins.targets[1])?;
            }
            Op::GenInterp => {
                let r = self.call_ptr("ember_rt_gen_interp", &[self.ts.into(), self.frame.into()])?;
                self.b.build_return(Some(&r)).map_err(llvm)?;
            }
            Op::Send => {
                let a =
                    [self.ts.into(), self.val(arg(0))?.into(), self.val(arg(1))?.into(), self.self_slot.into(), self.resume_ic().into()];
                let r = self.call("ember_send", &a)?.unwrap().into_int_value();
                let zero = self.ctx.i32_type().const_zero();
                let failed = self.b.build_int_compare(IntPredicate::SLT, r, zero, "failed").map_err(llvm)?;
                self.check_async_for(failed, fs, ins.targets.get(2))?;
                let retval = self.b.build_load(self.ptr_t(), self.self_slot, "retval").map_err(llvm)?.into_pointer_value();
                self.def(ins.results[0], retval);
                let done = self.b.build_int_compare(IntPredicate::NE, r, zero, "returned").map_err(llvm)?;
                self.branch(done, &ins.targets[1], &ins.targets[0])?;
            }
            Op::EndSend => self.release(arg(0))?,
            Op::GetYieldFromIter => self.helper_op(ins, fs, "ember_get_yield_from_iter", &[Pre::Ts, Pre::Frame], false)?,
            Op::GetAwaitable => self.helper_op(ins, fs, "ember_get_awaitable", &[Pre::Ts], true)?,
            Op::GetAiter => self.helper_op(ins, fs, "ember_get_aiter", &[Pre::Ts], false)?,
            Op::GetAnext => {
                let r = self.call_ptr("ember_get_anext", &[self.ts.into(), self.val(arg(0))?.into()])?;
                let failed = self.b.build_is_null(r, "failed").map_err(llvm)?;
                self.check_async_for(failed, fs, ins.targets.get(1))?;
                self.def(ins.results[0], r);
                self.jump(&ins.targets[0])?;
            }
            _ => return Err(unsupported()),
        }
        Ok(())
    }

    /// One `EmberResumeIC` ([`ResumeIc`](crate::ic::ResumeIc), type [`resume_ic_type`]) in the
    /// module's data for a SEND, FOR_ITER or CALL site: the code object it last entered
    /// (borrowed), that code's compiled entry and the code epoch, all zero to start.
    pub(super) fn resume_ic(&self) -> PointerValue<'ctx> {
        let ty = resume_ic_type(self.ctx);
        let g = self.m.add_global(ty, None, "ember_resume_ic");
        g.set_linkage(Linkage::Private);
        g.set_initializer(&ty.const_zero());
        g.set_alignment(8);
        g.as_pointer_value()
    }

    /// [`Self::check`] for an operation of an `async for` (GET_ANEXT, SEND): when it failed
    /// with `StopAsyncIteration` and `stop` (the loop's exit edge) exists, the exception is
    /// handled as END_ASYNC_FOR handles it (`ember_rt_async_for_stop`), the values of the
    /// frame state above the exit depth are released, and control goes to the exit.
    fn check_async_for(&mut self, failed: IntValue<'ctx>, fs: &FrameState, stop: Option<&BlockCall>) -> Result<(), EmberError> {
        let Some(stop) = stop else { return self.check(failed, fs) };
        let raise = self.exit_block(fs, "ember_rt_raise")?;
        let (err, ended, cont) = (self.new_block("async_for_err"), self.new_block("async_for_end"), self.new_block("ok"));
        self.b.build_conditional_branch(failed, err, cont).map_err(llvm)?;
        self.b.position_at_end(err);
        let r = self
            .call("ember_rt_async_for_stop", &[self.ts.into(), self.frame.into(), self.i64c(fs.bc as i64).into()])?
            .ok_or_else(|| EmberError::Llvm("ember_rt_async_for_stop returned void".into()))?
            .into_int_value();
        let is_stop = self.b.build_int_compare(IntPredicate::NE, r, self.ctx.i32_type().const_zero(), "stop").map_err(llvm)?;
        self.b.build_conditional_branch(is_stop, ended, raise).map_err(llvm)?;
        self.b.position_at_end(ended);
        for v in &fs.stack[stop.args.len()..] {
            self.release(*v)?;
        }
        self.jump(stop)?;
        self.b.position_at_end(cont);
        Ok(())
    }
}
