//! Lowering of calls and of what makes functions and enters context managers.
//!
//! Ops: `Call`, `CallTrivial`, `GuardCallee`, `GuardMethodCallee`, `AllocInstance`, `CallKw`, `CallFunctionEx`, `CallIntrinsic1`, `CallIntrinsic2`, `MakeFunction`,
//! `SetFunctionAttribute`, `BeforeWith`, `BeforeAsyncWith`. They mirror CPython's CALL, CALL_KW,
//! CALL_FUNCTION_EX, CALL_INTRINSIC_1, CALL_INTRINSIC_2, MAKE_FUNCTION, SET_FUNCTION_ATTRIBUTE,
//! BEFORE_WITH and BEFORE_ASYNC_WITH (which call `__enter__` / `__aenter__`). `Call` and
//! `CallKw` spill their arguments into the frame's value stack and call `ember_call` with the
//! vector (a plain `Call` through `ember_call_ic_fast`, with a per-site cache of the compiled
//! callee's entry); a `Call` the interpreter specialised for a builtin ([`CallSpec`]) calls that form's
//! fast path instead (`ember_call_builtin_o`, `ember_call_len`, ...). `CallTrivial` (from
//! `passes::inline_trivial`) is such a `Call` with its callee's body (a parameter, a constant,
//! an attribute, or a body that only reads and tests, `lower::inline`) in front of it, taken
//! when `ember_trivial_callee_ok` allows. `GuardCallee` (from `passes::inline_call`) checks
//! with `ember_inline_callee_ok` that an inlined callee's body may run in place of its call,
//! and deopts to the call otherwise; `GuardMethodCallee` (from `passes::inline_method`) does the
//! same for a method's body with `ember_inline_method_ok`. `AllocInstance` (from `passes::inline_init`) makes the
//! instance of a class call whose `__init__` runs inline after the same checks
//! (`ember_alloc_instance_ok`, then `ember_alloc_instance`), and deopts to the call otherwise.

use inkwell::values::{BasicValueEnum, PointerValue};

use super::{llvm, Lower, Pre};
use crate::error::EmberError;
use crate::hir::imms::{AllocInstanceImms, CallImms, CallTrivialImms};
use crate::hir::op::{CallSpec, TrivialBody};
use crate::hir::{FrameState, Instr, Op};

impl<'ctx> Lower<'ctx, '_> {
    /// A `CALL` without keywords of the `nargs` arguments spilled at `base` (callable and
    /// self-or-NULL first; all consumed), as `Call` makes it when the interpreter did not
    /// specialise it for a builtin: through the site's own `EmberResumeIC`, which caches its
    /// compiled callee's entry, where the target affords the site's address
    /// (`Bound::call_site_cache`), else `ember_call`. The result is NULL with an exception set.
    fn plain_call(&mut self, base: PointerValue<'ctx>, nargs: i64) -> Result<PointerValue<'ctx>, EmberError> {
        let n = self.i64c(nargs).into();
        if self.call_site_cache {
            let ic = self.resume_ic();
            self.call_ptr("ember_call_ic_fast", &[self.ts.into(), base.into(), n, ic.into()])
        } else {
            self.call_ptr("ember_call", &[self.ts.into(), base.into(), n, self.ptr_t().const_null().into()])
        }
    }

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
                    None if ins.op == Op::Call => self.plain_call(base, imm(0))?,
                    None => self.call_ptr("ember_call", &[self.ts.into(), base.into(), n, kw.into()])?,
                };
                self.check_null(r, fs)?;
                self.def(ins.results[0], r);
            }
            Op::CallTrivial => {
                let t = CallTrivialImms::of(ins).ok_or_else(unsupported)?;
                let code = self.b.build_int_to_ptr(self.bound_imm(t.code)?, self.ptr_t(), "code").map_err(llvm)?;
                let ok = self
                    .call("ember_trivial_callee_ok", &[self.ts.into(), self.val(arg(0))?.into(), self.val(arg(1))?.into(), code.into()])?
                    .ok_or_else(|| crate::error::EmberError::Llvm("ember_trivial_callee_ok returned void".into()))?
                    .into_int_value();
                let ok = self.b.build_int_compare(inkwell::IntPredicate::NE, ok, ok.get_type().const_zero(), "trivial_ok").map_err(llvm)?;
                let (fast, slow, done) = (self.new_block("trivial_body"), self.new_block("trivial_call"), self.new_block("trivial_done"));
                self.b.build_conditional_branch(ok, fast, slow).map_err(llvm)?;
                // The body: the parameter (0 is self, operand 1), the constant, or the parameter's
                // attribute (when the callee's LOAD_ATTR_INSTANCE_VALUE checks hold: NULL makes
                // the call), a new reference; the call's operands are released as the callee's
                // frame would release them.
                self.b.position_at_end(fast);
                let param = |k: i64| ins.args.get(1 + usize::try_from(k).ok()?).copied();
                let r_fast = match t.body {
                    TrivialBody::Param => self.val(param(t.index).ok_or_else(unsupported)?)?,
                    TrivialBody::Const => self.konst(t.index)?,
                    TrivialBody::Attr => {
                        let owner = self.val(param(t.index).ok_or_else(unsupported)?)?;
                        let attr = self
                            .call_ptr("ember_trivial_attr", &[owner.into(), self.bound_imm(t.version)?.into(), self.i64c(t.slot).into()])?;
                        let isnull = self.b.build_is_null(attr, "no_attr").map_err(llvm)?;
                        let found = self.new_block("trivial_attr");
                        self.b.build_conditional_branch(isnull, slow, found).map_err(llvm)?;
                        self.b.position_at_end(found);
                        attr
                    }
                    TrivialBody::Inline => {
                        let args = ins.args.iter().map(|v| self.val(*v)).collect::<Result<Vec<_>, _>>()?;
                        self.inline_body(t.index, &args, slow)?
                    }
                };
                self.incref(r_fast)?;
                for v in &ins.args {
                    self.release(*v)?;
                }
                let fast_end = self.b.get_insert_block().unwrap();
                self.b.build_unconditional_branch(done).map_err(llvm)?;
                // Anything else: the call.
                self.b.position_at_end(slow);
                let base = self.spill_args(&ins.args, fs.stack.len())?;
                let r_slow = self.plain_call(base, t.nargs)?;
                self.check_null(r_slow, fs)?;
                let slow_end = self.b.get_insert_block().unwrap();
                self.b.build_unconditional_branch(done).map_err(llvm)?;
                self.b.position_at_end(done);
                let phi = self.b.build_phi(self.ptr_t(), "trivial_result").map_err(llvm)?;
                phi.add_incoming(&[(&r_fast, fast_end), (&r_slow, slow_end)]);
                self.def(ins.results[0], phi.as_basic_value().into_pointer_value());
            }
            Op::GuardCallee | Op::GuardMethodCallee => {
                let code = self.b.build_int_to_ptr(self.bound_imm(imm(0))?, self.ptr_t(), "code").map_err(llvm)?;
                let r = if ins.op == Op::GuardCallee {
                    self.call("ember_inline_callee_ok", &[self.ts.into(), self.val(arg(0))?.into(), code.into()])?
                } else {
                    let (callable, self_or_null) = (self.val(arg(0))?.into(), self.val(arg(1))?.into());
                    self.call("ember_inline_method_ok", &[self.ts.into(), self.frame.into(), callable, self_or_null, code.into()])?
                }
                .ok_or_else(|| crate::error::EmberError::Llvm("ember_inline_callee_ok returned void".into()))?
                .into_int_value();
                let one = r.get_type().const_int(1, false);
                let ok = self.b.build_int_compare(inkwell::IntPredicate::EQ, r, one, "callee_ok").map_err(llvm)?;
                let (body, check) = (self.new_block("callee_body"), self.new_block("callee_check"));
                self.b.build_conditional_branch(ok, body, check).map_err(llvm)?;
                // 2: eval-breaker work the callee's RESUME would run, run in a frame of the
                // callee (ember_rt_inline_pending); 0: deopt to the call.
                self.b.position_at_end(check);
                let two = r.get_type().const_int(2, false);
                let pending = self.b.build_int_compare(inkwell::IntPredicate::EQ, r, two, "callee_pending").map_err(llvm)?;
                self.guard(pending, fs)?;
                // The arguments (borrowed) where the interpreter's stack holds them at the call,
                // the top of the frame state's stack: scratch, past the frame's stack top.
                let args = &ins.args[1..];
                let base = fs.stack.len().checked_sub(args.len()).ok_or_else(unsupported)?;
                for (k, a) in args.iter().enumerate() {
                    let slot = self.stack_slot(base + k)?;
                    self.b.build_store(slot, self.val(*a)?).map_err(llvm)?;
                }
                let arr = self.stack_slot(base)?;
                let n = self.i64c(args.len() as i64);
                let done = self.call("ember_rt_inline_pending", &[self.ts.into(), self.val(arg(0))?.into(), arr.into(), n.into()])?;
                self.check_int(done, fs)?;
                self.b.build_unconditional_branch(body).map_err(llvm)?;
                self.b.position_at_end(body);
            }
            Op::AllocInstance => {
                let m = AllocInstanceImms::of(ins).ok_or_else(unsupported)?;
                let code = self.b.build_int_to_ptr(self.bound_imm(m.code)?, self.ptr_t(), "init_code").map_err(llvm)?;
                let init = self.b.build_int_to_ptr(self.bound_imm(m.init)?, self.ptr_t(), "init").map_err(llvm)?;
                let cls = self.val(arg(0))?;
                let version = self.bound_imm(m.version)?;
                let r = self
                    .call(
                        "ember_alloc_instance_ok",
                        &[
                            self.ts.into(),
                            self.frame.into(),
                            cls.into(),
                            version.into(),
                            init.into(),
                            code.into(),
                            self.i64c(m.same_globals as i64).into(),
                        ],
                    )?
                    .ok_or_else(|| crate::error::EmberError::Llvm("ember_alloc_instance_ok returned void".into()))?
                    .into_int_value();
                let ok = self.b.build_int_compare(inkwell::IntPredicate::NE, r, r.get_type().const_zero(), "init_ok").map_err(llvm)?;
                self.guard(ok, fs)?;
                // The arguments (borrowed) where the interpreter's stack holds them at the call,
                // under them the NULL's slot for the instance: scratch, past the frame's stack
                // top, the call's vector when eval-breaker work after the allocation makes
                // `__init__` run as a call (the slot then holds the instance: the stores are
                // skipped).
                let args = &ins.args[1..];
                let base = fs.stack.len().checked_sub(args.len() + 1).ok_or_else(unsupported)?;
                for (k, a) in args.iter().enumerate() {
                    let slot = self.stack_slot(base + 1 + k)?;
                    self.b.build_store(slot, self.val(*a)?).map_err(llvm)?;
                }
                let self_slot = self.stack_slot(base)?;
                let n = self.i64c(args.len() as i64);
                let obj = self.call_ptr("ember_alloc_instance", &[self.ts.into(), cls.into(), init.into(), self_slot.into(), n.into()])?;
                self.check_null(obj, fs)?;
                let ran = self.b.build_load(self.ptr_t(), self_slot, "init_ran").map_err(llvm)?.into_pointer_value();
                let ran = self.b.build_is_not_null(ran, "initialised").map_err(llvm)?;
                self.def(ins.results[0], obj);
                self.def(ins.results[1], ran);
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
