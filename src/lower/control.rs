//! Lowering of control flow: jumps, conditional branches, returns, raises and leaving
//! compiled code.
//!
//! Ops: `Resume`, `CallBreaker`, `Jump`, `JumpBackward`, `PopJumpIfFalse`, `PopJumpIfTrue`,
//! `PopJumpIfNone`, `PopJumpIfNotNone`, `ReturnValue`, `ReturnConst`, `RaiseVarargs`, `Deopt`.
//! They mirror CPython's RESUME, JUMP_BACKWARD and a CALL's check after its callee (all check
//! the eval breaker: [`Lower::periodic`]), JUMP_FORWARD / JUMP_BACKWARD_NO_INTERRUPT (`Jump`),
//! the POP_JUMP_IF_* instructions,
//! RETURN_VALUE, RETURN_CONST (the builder turns it into `LoadConst` and `ReturnValue`; left
//! unsupported here) and RAISE_VARARGS; `Deopt` is what the shim emits for the namespace
//! instructions compiled code does not model (LOAD_NAME, STORE_NAME, ...): the interpreter
//! runs the frame from there. Exception handlers are not compiled: a raise leaves through
//! `ember_rt_raise` / `ember_rt_reraise` and the runtime unwinds as `exception_unwind` does.

use inkwell::values::BasicValueEnum;
use inkwell::IntPredicate;

use super::{llvm, Lower};
use crate::error::EmberError;
use crate::hir::op::DeoptReason;
use crate::hir::{FrameState, Instr, Op, Type};

impl<'ctx> Lower<'ctx, '_> {
    /// Jumps, branches, returns, raises and deopts (see the module doc).
    pub(super) fn lower_control(&mut self, ins: &Instr, fs: &FrameState) -> Result<(), EmberError> {
        let ptr_null = self.ptr_t().const_null();
        let imm = |k: usize| ins.imms[k];
        let arg = |k: usize| ins.args[k];
        let unsupported = || super::unsupported(ins);
        match ins.op {
            Op::Resume => self.periodic(fs, fs.bc)?,
            Op::CallBreaker => self.periodic(fs, u32::try_from(imm(0)).map_err(|_| unsupported())?)?,
            Op::Jump => self.jump(&ins.targets[0])?,
            Op::JumpBackward => {
                self.periodic(fs, fs.bc)?;
                self.jump(&ins.targets[0])?;
            }
            Op::PopJumpIfFalse | Op::PopJumpIfTrue if self.f.ty(arg(0)) == Type::CBool => {
                // A machine truth value (`passes::loop_locals`' entry test): nothing to release.
                let c = self.val_any(arg(0))?.into_int_value();
                let taken = if ins.op == Op::PopJumpIfTrue { c } else { self.b.build_not(c, "taken").map_err(llvm)? };
                self.branch(taken, &ins.targets[0], &ins.targets[1])?;
            }
            Op::PopJumpIfFalse | Op::PopJumpIfTrue | Op::PopJumpIfNone | Op::PopJumpIfNotNone => {
                let cond = self.val(arg(0))?;
                let (cmp_to, pred) = match ins.op {
                    Op::PopJumpIfFalse => (self.f.layout.false_, IntPredicate::EQ),
                    Op::PopJumpIfTrue => (self.f.layout.true_, IntPredicate::EQ),
                    Op::PopJumpIfNone => (self.f.layout.none, IntPredicate::EQ),
                    _ => (self.f.layout.none, IntPredicate::NE),
                };
                let taken = match (ins.op, self.bools.get(&arg(0))) {
                    (Op::PopJumpIfTrue, Some(c)) => *c,
                    (Op::PopJumpIfFalse, Some(c)) => self.b.build_not(*c, "taken").map_err(llvm)?,
                    _ => {
                        let ci = self.b.build_ptr_to_int(cond, self.ctx.i64_type(), "c").map_err(llvm)?;
                        self.b.build_int_compare(pred, ci, self.bound(cmp_to)?, "taken").map_err(llvm)?
                    }
                };
                let is_bool_test = matches!(ins.op, Op::PopJumpIfFalse | Op::PopJumpIfTrue);
                if !(self.f.layout.immortal_singletons && is_bool_test) {
                    self.release(arg(0))?;
                }
                self.branch(taken, &ins.targets[0], &ins.targets[1])?;
            }
            Op::ReturnValue => {
                let n = self.i64c(i64::from(self.f.nlocalsplus));
                let leave = if self.f.computes_floats() { "ember_rt_leave_floats" } else { "ember_rt_leave" };
                let r = self.call_ptr(leave, &[self.ts.into(), self.frame.into(), self.val(arg(0))?.into(), n.into()])?;
                self.b.build_return(Some(&r)).map_err(llvm)?;
            }
            Op::ReturnConst => return Err(unsupported()),
            Op::RaiseVarargs => {
                let mut a: Vec<BasicValueEnum> = vec![self.ts.into(), ptr_null.into(), ptr_null.into()];
                for (k, v) in ins.args.iter().enumerate() {
                    a[1 + k] = self.val(*v)?.into();
                }
                a.push(self.i64c(imm(0)).into());
                self.call("ember_raise_varargs", &a)?;
                let rt = if imm(0) == 0 { "ember_rt_reraise" } else { "ember_rt_raise" };
                let exit = self.exit_block(fs, rt)?;
                self.b.build_unconditional_branch(exit).map_err(llvm)?;
            }
            Op::Deopt => {
                let rt = match DeoptReason::from_imm(imm(0)) {
                    Some(DeoptReason::ColdLoop) => "ember_rt_deopt_cold",
                    _ => "ember_rt_deopt",
                };
                let exit = self.exit_block(fs, rt)?;
                self.b.build_unconditional_branch(exit).map_err(llvm)?;
            }
            _ => return Err(unsupported()),
        }
        Ok(())
    }
}
