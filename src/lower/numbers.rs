//! Lowering of typed HIR (issue 16): the HIR-only operations on unboxed numbers that
//! `passes::specialize` makes of BINARY_OP and COMPARE_OP sites quickened for, or inferred to
//! have, exact int or float operands (BINARY_OP_ADD_FLOAT, COMPARE_OP_INT, ...; `infer`,
//! `box_elim` and `borrow` refine them). Inline machine code whose guards deopt
//! (`ember_rt_guard_fail`: the interpreter runs the original instruction) instead of helper
//! calls; the generic forms are in [`super::operators`].
//!
//! - [`Lower::lower_boxing`]: `GuardType`, `GuardReleasable`, `RangeNonEmpty`, `Unbox`, `Box`,
//!   `UnboxNumber`, `UnboxNumbers`, `IntToFloat` (type checks and conversions between objects
//!   and `i64` / `double` / `i1`);
//! - [`Lower::lower_arith`]: `FloatBinOp`, `IntBinOp`, `FloatCompare`, `IntCompare` (the
//!   arithmetic and comparisons of BINARY_OP / COMPARE_OP on `i64` and `double`, with Python's
//!   semantics), `MathCall` (a `math` function as its C library function, made by
//!   `passes::math_call`) and `IntConst` (a machine integer, made by `passes::loop_locals`).

use inkwell::values::{BasicValueEnum, IntValue, PointerValue};
use inkwell::{FloatPredicate, IntPredicate};

use super::{llvm, Lower};
use crate::error::EmberError;
use crate::hir::imms::{FloatBinOpImms, FloatCompareImms, IntBinOpImms, IntCompareImms, MathCallImms};
use crate::hir::op::{Arith, Cmp, MathFn};
use crate::hir::{FrameState, Instr, Op, Type};

impl<'ctx> Lower<'ctx, '_> {
    /// Type guards, unboxing, boxing and `IntToFloat` (see the module doc).
    pub(super) fn lower_boxing(&mut self, ins: &Instr, fs: &FrameState) -> Result<(), EmberError> {
        let imm = |k: usize| ins.imms[k];
        let arg = |k: usize| ins.args[k];
        let unsupported = || super::unsupported(ins);
        match ins.op {
            Op::GuardType => {
                let v = self.val(arg(0))?;
                let r = self.call("ember_type_check", &[v.into(), self.i64c(imm(0)).into()])?.unwrap().into_int_value();
                let ok = self.b.build_int_compare(IntPredicate::NE, r, self.ctx.i32_type().const_zero(), "is").map_err(llvm)?;
                self.guard(ok, fs)?;
                self.def(ins.results[0], v);
            }
            Op::RangeNonEmpty => {
                let it = self.val(arg(0))?;
                let r = self.call("ember_range_iter_state", &[it.into()])?.unwrap().into_int_value();
                let zero = self.ctx.i32_type().const_zero();
                let ok = self.b.build_int_compare(IntPredicate::SGE, r, zero, "range").map_err(llvm)?;
                self.guard(ok, fs)?;
                let c = self.b.build_int_compare(IntPredicate::SGT, r, zero, "nonempty").map_err(llvm)?;
                self.def(ins.results[0], c);
            }
            Op::GuardReleasable => {
                let v = self.val(arg(0))?;
                let r = self.call("ember_release_is_trivial", &[v.into()])?.unwrap().into_int_value();
                let ok = self.b.build_int_compare(IntPredicate::NE, r, self.ctx.i32_type().const_zero(), "trivial").map_err(llvm)?;
                self.guard(ok, fs)?;
            }
            Op::Unbox => {
                let v = self.val(arg(0))?;
                let r: BasicValueEnum = match self.f.ty(arg(0)) {
                    Type::Float => self.call("ember_float_value", &[v.into()])?.unwrap(),
                    Type::Int => {
                        // Compact (one digit) inline; a bigger int that fits in 64 bits out of
                        // line (ember_int_to_i64, an accumulator past 2**30); else deopt.
                        let i64t = self.ctx.i64_type();
                        let c = self.call("ember_int_is_compact", &[v.into()])?.unwrap().into_int_value();
                        let c = self.b.build_int_compare(IntPredicate::NE, c, self.ctx.i32_type().const_zero(), "compact").map_err(llvm)?;
                        let (fast, slow, done) = (self.new_block("int_compact"), self.new_block("int_big"), self.new_block("int_done"));
                        self.b.build_conditional_branch(c, fast, slow).map_err(llvm)?;
                        self.b.position_at_end(fast);
                        let x1 = self.call("ember_int_value", &[v.into()])?.unwrap().into_int_value();
                        let fast_end = self.b.get_insert_block().unwrap();
                        self.b.build_unconditional_branch(done).map_err(llvm)?;
                        self.b.position_at_end(slow);
                        let ok = self.call("ember_int_to_i64", &[v.into(), self.i64_slot.into()])?.unwrap().into_int_value();
                        let ok = self.b.build_int_compare(IntPredicate::NE, ok, self.ctx.i32_type().const_zero(), "fits").map_err(llvm)?;
                        self.guard(ok, fs)?;
                        let x2 = self.b.build_load(i64t, self.i64_slot, "big").map_err(llvm)?.into_int_value();
                        let slow_end = self.b.get_insert_block().unwrap();
                        self.b.build_unconditional_branch(done).map_err(llvm)?;
                        self.b.position_at_end(done);
                        let phi = self.b.build_phi(i64t, "int").map_err(llvm)?;
                        phi.add_incoming(&[(&x1, fast_end), (&x2, slow_end)]);
                        phi.as_basic_value()
                    }
                    Type::Bool => self.truth(arg(0))?.into(),
                    t => return Err(EmberError::Verify(format!("Unbox of a {} value", t.name()))),
                };
                self.def(ins.results[0], r);
            }
            Op::Box => {
                let x = self.val_any(arg(0))?;
                let r = match self.f.ty(arg(0)) {
                    Type::CDouble => self.call_ptr("ember_float_box", &[self.ts.into(), x])?,
                    Type::CInt64 => self.call_ptr("ember_int_box", &[x])?,
                    Type::CBool => {
                        let c = x.into_int_value();
                        self.bools.insert(ins.results[0], c);
                        self.bool_object(c)?
                    }
                    t => return Err(EmberError::Verify(format!("Box of a {} value", t.name()))),
                };
                if self.f.ty(arg(0)) != Type::CBool {
                    self.check_null(r, fs)?;
                }
                self.def(ins.results[0], r);
            }
            Op::UnboxNumber => {
                let (x, _, ok) = self.number_of(self.val(arg(0))?)?;
                self.guard(ok, fs)?;
                self.def(ins.results[0], x);
            }
            Op::UnboxNumbers => {
                // Two floats, the common case, read both values with no further test; anything
                // else takes the general path (number_of each, not both ints).
                let (a, b) = (self.val(arg(0))?, self.val(arg(1))?);
                let (fa, fb) = (self.is_float(a)?, self.is_float(b)?);
                let both = self.b.build_and(fa, fb, "both_float").map_err(llvm)?;
                let (fast, slow, join) = (self.new_block("nums_float"), self.new_block("nums_any"), self.new_block("nums_done"));
                self.b.build_conditional_branch(both, fast, slow).map_err(llvm)?;
                self.b.position_at_end(fast);
                let xf = self.call("ember_float_value", &[a.into()])?.unwrap().into_float_value();
                let yf = self.call("ember_float_value", &[b.into()])?.unwrap().into_float_value();
                let fast_end = self.b.get_insert_block().unwrap();
                self.b.build_unconditional_branch(join).map_err(llvm)?;
                self.b.position_at_end(slow);
                let (x, xi, xok) = self.number_of_checked(a, fa)?;
                let (y, yi, yok) = self.number_of_checked(b, fb)?;
                let both_int = self.b.build_and(xi, yi, "both_int").map_err(llvm)?;
                let not_both = self.b.build_not(both_int, "not_both").map_err(llvm)?;
                let ok = self.b.build_and(xok, yok, "ok").map_err(llvm)?;
                let ok = self.b.build_and(ok, not_both, "ok").map_err(llvm)?;
                self.guard(ok, fs)?;
                let slow_end = self.b.get_insert_block().unwrap();
                self.b.build_unconditional_branch(join).map_err(llvm)?;
                self.b.position_at_end(join);
                let f64t = self.ctx.f64_type();
                let xp = self.b.build_phi(f64t, "nx").map_err(llvm)?;
                xp.add_incoming(&[(&xf, fast_end), (&x, slow_end)]);
                let yp = self.b.build_phi(f64t, "ny").map_err(llvm)?;
                yp.add_incoming(&[(&yf, fast_end), (&y, slow_end)]);
                self.def(ins.results[0], xp.as_basic_value());
                self.def(ins.results[1], yp.as_basic_value());
            }
            Op::IntToFloat => {
                let x = self.val_any(arg(0))?.into_int_value();
                let d = self.b.build_signed_int_to_float(x, self.ctx.f64_type(), "itof").map_err(llvm)?;
                self.def(ins.results[0], d);
            }
            _ => return Err(unsupported()),
        }
        Ok(())
    }

    /// Arithmetic and comparisons on unboxed numbers (see the module doc).
    pub(super) fn lower_arith(&mut self, ins: &Instr, fs: &FrameState) -> Result<(), EmberError> {
        let arg = |k: usize| ins.args[k];
        let unsupported = || super::unsupported(ins);
        match ins.op {
            Op::FloatBinOp => {
                let a = self.val_any(arg(0))?.into_float_value();
                let b = self.val_any(arg(1))?.into_float_value();
                let r = match FloatBinOpImms::of(ins).ok_or_else(unsupported)?.arith {
                    Arith::Add => self.b.build_float_add(a, b, "fadd"),
                    Arith::Subtract => self.b.build_float_sub(a, b, "fsub"),
                    Arith::Multiply => self.b.build_float_mul(a, b, "fmul"),
                    Arith::TrueDivide => {
                        let zero = self.ctx.f64_type().const_zero();
                        let ok = self.b.build_float_compare(FloatPredicate::UNE, b, zero, "nonzero").map_err(llvm)?;
                        self.guard(ok, fs)?;
                        self.b.build_float_div(a, b, "fdiv")
                    }
                    Arith::Power => return self.float_pow(ins, a, b, fs),
                    _ => return Err(unsupported()),
                }
                .map_err(llvm)?;
                self.def(ins.results[0], r);
            }
            Op::IntBinOp => {
                let a = self.val_any(arg(0))?;
                let b = self.val_any(arg(1))?;
                let name = match IntBinOpImms::of(ins).ok_or_else(unsupported)?.arith {
                    Arith::Add => "llvm.sadd.with.overflow",
                    Arith::Subtract => "llvm.ssub.with.overflow",
                    Arith::Multiply => "llvm.smul.with.overflow",
                    k => return self.int_arith(ins, k, a.into_int_value(), b.into_int_value(), fs),
                };
                let intr = inkwell::intrinsics::Intrinsic::find(name).ok_or_else(|| EmberError::Llvm(format!("no intrinsic {name}")))?;
                let decl = intr.get_declaration(&self.m, &[self.ctx.i64_type().into()]).ok_or_else(|| EmberError::Llvm(name.into()))?;
                let pair = self.b.build_call(decl, &[a.into(), b.into()], "ovf").map_err(llvm)?;
                let pair = match pair.try_as_basic_value() {
                    inkwell::values::ValueKind::Basic(v) => v.into_struct_value(),
                    inkwell::values::ValueKind::Instruction(_) => return Err(EmberError::Llvm(format!("{name} returned void"))),
                };
                let r = self.b.build_extract_value(pair, 0, "r").map_err(llvm)?;
                let o = self.b.build_extract_value(pair, 1, "o").map_err(llvm)?.into_int_value();
                let ok = self.b.build_not(o, "fits").map_err(llvm)?;
                self.guard(ok, fs)?;
                self.def(ins.results[0], r);
            }
            Op::FloatCompare => {
                let a = self.val_any(arg(0))?.into_float_value();
                let b = self.val_any(arg(1))?.into_float_value();
                let pred = match FloatCompareImms::of(ins).ok_or_else(unsupported)?.cmp {
                    Cmp::Lt => FloatPredicate::OLT,
                    Cmp::Le => FloatPredicate::OLE,
                    Cmp::Eq => FloatPredicate::OEQ,
                    Cmp::Ne => FloatPredicate::UNE,
                    Cmp::Gt => FloatPredicate::OGT,
                    Cmp::Ge => FloatPredicate::OGE,
                };
                let r = self.b.build_float_compare(pred, a, b, "fcmp").map_err(llvm)?;
                self.def(ins.results[0], r);
            }
            Op::IntConst => {
                let c = self.ctx.i64_type().const_int(ins.imms[0] as u64, true);
                self.def(ins.results[0], c);
            }
            Op::IntCompare => {
                let a = self.val_any(arg(0))?.into_int_value();
                let b = self.val_any(arg(1))?.into_int_value();
                let pred = match IntCompareImms::of(ins).ok_or_else(unsupported)?.cmp {
                    Cmp::Lt => IntPredicate::SLT,
                    Cmp::Le => IntPredicate::SLE,
                    Cmp::Eq => IntPredicate::EQ,
                    Cmp::Ne => IntPredicate::NE,
                    Cmp::Gt => IntPredicate::SGT,
                    Cmp::Ge => IntPredicate::SGE,
                };
                let r = self.b.build_int_compare(pred, a, b, "icmp").map_err(llvm)?;
                self.def(ins.results[0], r);
            }
            Op::MathCall => {
                let MathCallImms { func, object } = MathCallImms::of(ins).ok_or_else(unsupported)?;
                // The callee is still the object the shim identified (a rebound global is not).
                let callee = self.val(arg(0))?;
                let got = self.b.build_ptr_to_int(callee, self.ctx.i64_type(), "callee").map_err(llvm)?;
                let same = self.b.build_int_compare(IntPredicate::EQ, got, self.bound_imm(object)?, "same_fn").map_err(llvm)?;
                self.guard(same, fs)?;
                let x = self.val_any(arg(1))?.into_float_value();
                let name = match func {
                    MathFn::Sqrt => "llvm.sqrt",
                    MathFn::Sin => "llvm.sin",
                    MathFn::Cos => "llvm.cos",
                    MathFn::Exp => "llvm.exp",
                    MathFn::Fabs => "llvm.fabs",
                    MathFn::None => return Err(unsupported()),
                };
                let r = self.float_intrinsic(name, &[x])?;
                // math_1's errors: a NaN the argument does not explain, an infinity from a
                // finite argument. The interpreter raises them after the deopt.
                let f64t = self.ctx.f64_type();
                let inf = f64t.const_float(f64::INFINITY);
                let r_nan = self.b.build_float_compare(FloatPredicate::UNO, r, r, "r_nan").map_err(llvm)?;
                let x_num = self.b.build_float_compare(FloatPredicate::ORD, x, x, "x_num").map_err(llvm)?;
                let domain = self.b.build_and(r_nan, x_num, "domain").map_err(llvm)?;
                let r_abs = self.float_intrinsic("llvm.fabs", &[r])?;
                let x_abs = self.float_intrinsic("llvm.fabs", &[x])?;
                let r_inf = self.b.build_float_compare(FloatPredicate::OEQ, r_abs, inf, "r_inf").map_err(llvm)?;
                let x_fin = self.b.build_float_compare(FloatPredicate::OLT, x_abs, inf, "x_fin").map_err(llvm)?;
                let range = self.b.build_and(r_inf, x_fin, "range").map_err(llvm)?;
                let bad = self.b.build_or(domain, range, "math_err").map_err(llvm)?;
                let ok = self.b.build_not(bad, "math_ok").map_err(llvm)?;
                self.guard(ok, fs)?;
                self.def(ins.results[0], r);
            }
            _ => return Err(unsupported()),
        }
        Ok(())
    }

    /// A call of the `double` LLVM intrinsic `name` on `args` (`llvm.sqrt`, `llvm.fabs`,
    /// `llvm.pow`, ...; those without an instruction become calls of the C library function).
    fn float_intrinsic(
        &mut self,
        name: &str,
        args: &[inkwell::values::FloatValue<'ctx>],
    ) -> Result<inkwell::values::FloatValue<'ctx>, EmberError> {
        let f64t = self.ctx.f64_type();
        let intr = inkwell::intrinsics::Intrinsic::find(name).ok_or_else(|| EmberError::Llvm(format!("no intrinsic {name}")))?;
        let decl = intr.get_declaration(&self.m, &[f64t.into()]).ok_or_else(|| EmberError::Llvm(name.into()))?;
        let args: Vec<inkwell::values::BasicMetadataValueEnum> = args.iter().map(|&x| x.into()).collect();
        match self.b.build_call(decl, &args, "mathf").map_err(llvm)?.try_as_basic_value() {
            inkwell::values::ValueKind::Basic(v) => Ok(v.into_float_value()),
            inkwell::values::ValueKind::Instruction(_) => Err(EmberError::Llvm(format!("{name} returned void"))),
        }
    }

    /// Reads `v` as a number for [`Op::UnboxNumber`]: (its value as a double, true when it was
    /// an int, true when it is an exact float or a compact exact int); the value is
    /// meaningless when the last is false.
    fn number_of(
        &mut self,
        v: PointerValue<'ctx>,
    ) -> Result<(inkwell::values::FloatValue<'ctx>, IntValue<'ctx>, IntValue<'ctx>), EmberError> {
        let is_float = self.is_float(v)?;
        self.number_of_checked(v, is_float)
    }

    /// `v`'s type is exactly `float` (an `i1`).
    fn is_float(&mut self, v: PointerValue<'ctx>) -> Result<IntValue<'ctx>, EmberError> {
        let i32z = self.ctx.i32_type().const_zero();
        let is_float = self.call("ember_type_check", &[v.into(), self.i64c(Type::Float as i64).into()])?.unwrap().into_int_value();
        self.b.build_int_compare(IntPredicate::NE, is_float, i32z, "isf").map_err(llvm)
    }

    /// [`Lower::number_of`] with `is_float` (from [`Lower::is_float`]) already computed.
    fn number_of_checked(
        &mut self,
        v: PointerValue<'ctx>,
        is_float: IntValue<'ctx>,
    ) -> Result<(inkwell::values::FloatValue<'ctx>, IntValue<'ctx>, IntValue<'ctx>), EmberError> {
        // A float inline; anything else through the out-of-line (cold) int path, which returns
        // the NaN EMBER_NOT_A_NUMBER_BITS for what is no compact int.
        let f64t = self.ctx.f64_type();
        let (fb, ib, done) = (self.new_block("num_float"), self.new_block("num_int"), self.new_block("num_done"));
        self.b.build_conditional_branch(is_float, fb, ib).map_err(llvm)?;
        self.b.position_at_end(fb);
        let x = self.call("ember_float_value", &[v.into()])?.unwrap().into_float_value();
        let fb_end = self.b.get_insert_block().unwrap();
        self.b.build_unconditional_branch(done).map_err(llvm)?;
        self.b.position_at_end(ib);
        let y = self.call("ember_number_from_int", &[v.into()])?.unwrap().into_float_value();
        // Only the int path can fail (its "no compact int" answer is a NaN with these bits), so
        // the test is made there; the float path gives `true` as a constant.
        let bits = self.b.build_bit_cast(y, self.ctx.i64_type(), "bits").map_err(llvm)?.into_int_value();
        let nan = self.ctx.i64_type().const_int(crate::hir::EMBER_NOT_A_NUMBER_BITS, false);
        let int_ok = self.b.build_int_compare(IntPredicate::NE, bits, nan, "num_ok").map_err(llvm)?;
        let ib_end = self.b.get_insert_block().unwrap();
        self.b.build_unconditional_branch(done).map_err(llvm)?;
        self.b.position_at_end(done);
        let val = self.b.build_phi(f64t, "num").map_err(llvm)?;
        val.add_incoming(&[(&x, fb_end), (&y, ib_end)]);
        let val = val.as_basic_value().into_float_value();
        let boolt = self.ctx.bool_type();
        let ok = self.b.build_phi(boolt, "num_ok").map_err(llvm)?;
        ok.add_incoming(&[(&boolt.const_all_ones(), fb_end), (&int_ok, ib_end)]);
        let isint = self.b.build_phi(boolt, "num_isint").map_err(llvm)?;
        isint.add_incoming(&[(&boolt.const_zero(), fb_end), (&boolt.const_all_ones(), ib_end)]);
        Ok((val, isint.as_basic_value().into_int_value(), ok.as_basic_value().into_int_value()))
    }

    /// `a ** b` on doubles for `FloatBinOp<Power>`: C's `pow` when the base is positive and
    /// finite and the exponent finite (there CPython's `float_pow` computes exactly `pow`, and
    /// raises only on overflow), a deopt otherwise and when the result overflows.
    fn float_pow(
        &mut self,
        ins: &Instr,
        a: inkwell::values::FloatValue<'ctx>,
        b: inkwell::values::FloatValue<'ctx>,
        fs: &FrameState,
    ) -> Result<(), EmberError> {
        let f64t = self.ctx.f64_type();
        let inf = f64t.const_float(f64::INFINITY);
        let pos = self.b.build_float_compare(FloatPredicate::OGT, a, f64t.const_zero(), "pos").map_err(llvm)?;
        let fin_a = self.b.build_float_compare(FloatPredicate::OLT, a, inf, "fa").map_err(llvm)?;
        let abs_b = self.float_intrinsic("llvm.fabs", &[b])?;
        let fin_b = self.b.build_float_compare(FloatPredicate::OLT, abs_b, inf, "fb").map_err(llvm)?;
        let ok = self.b.build_and(pos, fin_a, "ok").map_err(llvm)?;
        let ok = self.b.build_and(ok, fin_b, "ok").map_err(llvm)?;
        self.guard(ok, fs)?;
        let r = self.float_intrinsic("llvm.pow", &[a, b])?;
        let abs_r = self.float_intrinsic("llvm.fabs", &[r])?;
        let fin_r = self.b.build_float_compare(FloatPredicate::OLT, abs_r, inf, "fr").map_err(llvm)?;
        self.guard(fin_r, fs)?;
        self.def(ins.results[0], r);
        Ok(())
    }

    /// `IntBinOp` for `// % << >> & | ^` on `i64` with Python's semantics; the cases CPython
    /// raises for (a zero divisor, a negative shift) or that leave 64 bits deopt.
    fn int_arith(&mut self, ins: &Instr, k: Arith, a: IntValue<'ctx>, b: IntValue<'ctx>, fs: &FrameState) -> Result<(), EmberError> {
        let i64t = self.ctx.i64_type();
        let zero = i64t.const_zero();
        let b_ = &self.b;
        let r = match k {
            Arith::And => b_.build_and(a, b, "and").map_err(llvm)?,
            Arith::Or => b_.build_or(a, b, "or").map_err(llvm)?,
            Arith::Xor => b_.build_xor(a, b, "xor").map_err(llvm)?,
            Arith::FloorDivide | Arith::Remainder => {
                // b != 0, and not i64::MIN / -1 (the one quotient that overflows).
                let nz = b_.build_int_compare(IntPredicate::NE, b, zero, "nz").map_err(llvm)?;
                let min = b_.build_int_compare(IntPredicate::EQ, a, i64t.const_int(i64::MIN as u64, true), "min").map_err(llvm)?;
                let m1 = b_.build_int_compare(IntPredicate::EQ, b, i64t.const_all_ones(), "m1").map_err(llvm)?;
                let bad = b_.build_and(min, m1, "ovf").map_err(llvm)?;
                let nbad = b_.build_not(bad, "nbad").map_err(llvm)?;
                let ok = b_.build_and(nz, nbad, "ok").map_err(llvm)?;
                self.guard(ok, fs)?;
                let b_ = &self.b;
                let q = b_.build_int_signed_div(a, b, "q").map_err(llvm)?;
                let rem = b_.build_int_signed_rem(a, b, "r").map_err(llvm)?;
                // C truncates; Python floors: adjust when the remainder's sign differs from b's.
                let rnz = b_.build_int_compare(IntPredicate::NE, rem, zero, "rnz").map_err(llvm)?;
                let sx = b_.build_xor(rem, b, "sx").map_err(llvm)?;
                let neg = b_.build_int_compare(IntPredicate::SLT, sx, zero, "neg").map_err(llvm)?;
                let adj = b_.build_and(rnz, neg, "adj").map_err(llvm)?;
                if k == Arith::FloorDivide {
                    let q1 = b_.build_int_sub(q, i64t.const_int(1, false), "q1").map_err(llvm)?;
                    b_.build_select(adj, q1, q, "floor").map_err(llvm)?.into_int_value()
                } else {
                    let r1 = b_.build_int_add(rem, b, "r1").map_err(llvm)?;
                    b_.build_select(adj, r1, rem, "mod").map_err(llvm)?.into_int_value()
                }
            }
            Arith::RShift => {
                let ok = b_.build_int_compare(IntPredicate::SGE, b, zero, "nonneg").map_err(llvm)?;
                self.guard(ok, fs)?;
                let b_ = &self.b;
                let big = b_.build_int_compare(IntPredicate::SGT, b, i64t.const_int(63, false), "big").map_err(llvm)?;
                let n = b_.build_select(big, i64t.const_int(63, false), b, "n").map_err(llvm)?.into_int_value();
                b_.build_right_shift(a, n, true, "shr").map_err(llvm)?
            }
            Arith::LShift => {
                // 0 <= b < 64 and the shift loses no bit (shifting back gives a); else deopt.
                let nonneg = b_.build_int_compare(IntPredicate::SGE, b, zero, "nonneg").map_err(llvm)?;
                let small = b_.build_int_compare(IntPredicate::SLT, b, i64t.const_int(64, false), "small").map_err(llvm)?;
                let inrange = b_.build_and(nonneg, small, "inrange").map_err(llvm)?;
                // Shift by b masked to 0..63 so the IR has no poison; the range is checked too.
                let n = b_.build_and(b, i64t.const_int(63, false), "n").map_err(llvm)?;
                let r = b_.build_left_shift(a, n, "shl").map_err(llvm)?;
                let back = b_.build_right_shift(r, n, true, "back").map_err(llvm)?;
                let exact = b_.build_int_compare(IntPredicate::EQ, back, a, "exact").map_err(llvm)?;
                let ok = b_.build_and(inrange, exact, "ok").map_err(llvm)?;
                self.guard(ok, fs)?;
                r
            }
            _ => return Err(EmberError::Unsupported(format!("IntBinOp<{}>", k as u8))),
        };
        self.def(ins.results[0], r);
        Ok(())
    }
}
