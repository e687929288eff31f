//! Lowering of an inlined callee body: `CallTrivial` with [`TrivialBody::Inline`]
//! (`passes::inline_trivial` keeps such a callee in [`Function::callees`] when its body only
//! reads and tests).
//!
//! The body's blocks become LLVM blocks of the caller, its block parameters phis. Every value is
//! *borrowed*: a parameter from the call's operands, an attribute from its owner, a global from
//! its dict, a class attribute from its class, a constant from the code object; nothing can run
//! between the loads and the return, so none of them can be released under the body's feet.
//! Each read and test goes through a helper that answers as the callee's instruction would,
//! without running code, or returns NULL: then control goes to `leave`, the call the body
//! replaced, which does everything again with nothing done here to undo.
//!
//! | callee instruction | here |
//! |---|---|
//! | `LOAD_FAST` of a parameter, `LOAD_CONST`, `COPY`, `POP_TOP`, `RESUME`, `NOP` | the value, or nothing |
//! | `LOAD_ATTR` (attribute form) | `ember_inl_attr` through the site's own attribute cache |
//! | `LOAD_GLOBAL` (and its NULL) | `ember_inl_global` in the callee's `func_globals` / `func_builtins` |
//! | `BINARY_SUBSCR` | `ember_inl_subscr`: an exact list or tuple by a non-negative compact int in range |
//! | `CALL` quickened to `CALL_LEN` | `ember_inl_len`: the builtin len of an exact list, tuple, dict, str or set, a small int |
//! | `COMPARE_OP` | `ember_inl_compare`: exact compact ints, exact floats, exact strs (`==`, `!=`) |
//! | `TO_BOOL` | `ember_inl_truth`: bool, None, exact int, str, list, tuple, dict |
//! | `UNARY_NOT`, `IS_OP` | a pointer comparison and a select of `True` / `False` |
//! | `POP_JUMP_IF_*`, `JUMP_FORWARD` | a branch (`POP_JUMP_IF_TRUE`/`_FALSE` test a bool: 3.13 emits `TO_BOOL` first) |
//! | `RETURN_VALUE`, `RETURN_CONST` | the result |

use std::collections::HashMap;

use inkwell::basic_block::BasicBlock;
use inkwell::values::{BasicValueEnum, PhiValue, PointerValue};
use inkwell::IntPredicate;

use super::{llvm, Lower};
use crate::error::EmberError;
use crate::hir::imms::{CallImms, CompareOpImms, LoadAttrImms, LoadGlobalImms};
use crate::hir::op::{CallSpec, GlobalSpec};
use crate::hir::{BlockCall, Function, Instr, Op, Value};

/// Per-body state: the LLVM value of each callee value, the blocks and their phis.
struct Body<'ctx> {
    vals: HashMap<Value, PointerValue<'ctx>>,
    blocks: Vec<BasicBlock<'ctx>>,
    phis: Vec<Vec<PhiValue<'ctx>>>,
}

impl<'ctx> Body<'ctx> {
    fn get(&self, v: Value) -> Result<PointerValue<'ctx>, EmberError> {
        self.vals.get(&v).copied().ok_or_else(|| EmberError::Verify(format!("inlined body: v{} used before it is defined", v.0)))
    }
}

impl<'ctx> Lower<'ctx, '_> {
    /// Emits the body of callee `k` of the function at the builder's position, with `args` the
    /// call's operands (`[callable, self, arguments...]`, borrowed). Returns the body's result
    /// (borrowed) with the builder at the end of the block that has it; every check that fails
    /// branches to `leave`.
    ///
    /// Errors: [`EmberError::Verify`] for a callee index out of range or a body outside what
    /// `passes::inline_trivial` admits.
    pub(super) fn inline_body(
        &mut self,
        k: i64,
        args: &[PointerValue<'ctx>],
        leave: BasicBlock<'ctx>,
    ) -> Result<PointerValue<'ctx>, EmberError> {
        let f: &Function = self.f;
        let callee = usize::try_from(k)
            .ok()
            .and_then(|k| f.callees.get(k))
            .ok_or_else(|| EmberError::Verify(format!("CallTrivial names callee {k}, which is not there")))?;
        let c = &callee.body;
        let start = self.b.get_insert_block().ok_or_else(|| EmberError::Llvm("no insert block".into()))?;
        let mut body = Body { vals: HashMap::new(), blocks: vec![], phis: vec![] };
        for (i, blk) in c.blocks.iter().enumerate() {
            let bb = self.new_block(&format!("inl{k}_bb{i}"));
            self.b.position_at_end(bb);
            let mut ps = vec![];
            for p in &blk.params {
                let phi = self.b.build_phi(self.ptr_t(), "inl_param").map_err(llvm)?;
                body.vals.insert(*p, phi.as_basic_value().into_pointer_value());
                ps.push(phi);
            }
            body.blocks.push(bb);
            body.phis.push(ps);
        }
        let done = self.new_block(&format!("inl{k}_ret"));
        self.b.position_at_end(done);
        let result = self.b.build_phi(self.ptr_t(), "inl_result").map_err(llvm)?;
        let entry = *body.blocks.first().ok_or_else(|| EmberError::Verify("inlined body has no block".into()))?;
        self.b.position_at_end(start);
        self.b.build_unconditional_branch(entry).map_err(llvm)?;
        for (i, blk) in c.blocks.iter().enumerate() {
            self.b.position_at_end(body.blocks[i]);
            for ins in &blk.instrs {
                self.inline_instr(c, ins, args, leave, &mut body)?;
            }
            self.inline_term(c, &blk.term, &mut body, done, result)?;
        }
        self.b.position_at_end(done);
        Ok(result.as_basic_value().into_pointer_value())
    }

    /// Branches to `leave` when `v` is NULL; the builder continues on the non-NULL side.
    fn leave_if_null(&self, v: PointerValue<'ctx>, leave: BasicBlock<'ctx>) -> Result<(), EmberError> {
        let isnull = self.b.build_is_null(v, "inl_miss").map_err(llvm)?;
        let go = self.new_block("inl_hit");
        self.b.build_conditional_branch(isnull, leave, go).map_err(llvm)?;
        self.b.position_at_end(go);
        Ok(())
    }

    /// `True` or `False` (bound handles) as `cond` says.
    fn select_bool(&self, cond: inkwell::values::IntValue<'ctx>) -> Result<PointerValue<'ctx>, EmberError> {
        let t = self.bound_ptr(self.f.layout.true_)?;
        let fl = self.bound_ptr(self.f.layout.false_)?;
        Ok(self.b.build_select(cond, t, fl, "inl_bool").map_err(llvm)?.into_pointer_value())
    }

    /// One instruction of an inlined body (see the module doc).
    fn inline_instr(
        &mut self,
        c: &Function,
        ins: &Instr,
        args: &[PointerValue<'ctx>],
        leave: BasicBlock<'ctx>,
        body: &mut Body<'ctx>,
    ) -> Result<(), EmberError> {
        let unsupported = || EmberError::Verify(format!("inlined body: {} is not admitted", ins.op.info().name));
        let konst = |me: &Self, k: i64| -> Result<PointerValue<'ctx>, EmberError> {
            let h = *usize::try_from(k).ok().and_then(|k| c.consts.get(k)).ok_or_else(unsupported)?;
            me.bound_ptr(h)
        };
        let arg = |k: usize| -> Result<Value, EmberError> { ins.args.get(k).copied().ok_or_else(unsupported) };
        let r: Option<PointerValue<'ctx>> = match ins.op {
            Op::Resume | Op::Nop | Op::PopTop => None,
            Op::LoadFast | Op::LoadFastBorrow | Op::LoadFastCheck => {
                let k = usize::try_from(*ins.imms.first().ok_or_else(unsupported)?).map_err(|_| unsupported())?;
                Some(*args.get(1 + k).ok_or_else(unsupported)?)
            }
            Op::LoadConst => Some(konst(self, *ins.imms.first().ok_or_else(unsupported)?)?),
            Op::Copy => Some(body.get(arg(0)?)?),
            Op::LoadAttr => {
                let at = LoadAttrImms::of(ins).ok_or_else(unsupported)?;
                let owner = body.get(arg(0)?)?;
                let name = konst(self, at.name)?;
                let ic = self.attr_ic();
                let v = self.call_ptr("ember_inl_attr", &[owner.into(), name.into(), ic.into()])?;
                self.leave_if_null(v, leave)?;
                Some(v)
            }
            Op::LoadGlobal => {
                let g = LoadGlobalImms::of(ins).ok_or_else(unsupported)?;
                let name = konst(self, g.name)?;
                let (gv, bv) = match g.spec {
                    GlobalSpec::Generic => (self.i64c(0), self.i64c(0)),
                    GlobalSpec::Module => (self.bound_imm(g.globals_version)?, self.i64c(0)),
                    GlobalSpec::Builtin => (self.bound_imm(g.globals_version)?, self.bound_imm(g.builtins_version)?),
                };
                let a: [BasicValueEnum; 5] = [args[0].into(), name.into(), gv.into(), bv.into(), self.i64c(g.index).into()];
                let v = self.call_ptr("ember_inl_global", &a)?;
                self.leave_if_null(v, leave)?;
                Some(v)
            }
            Op::CompareOp => {
                let cmp = CompareOpImms::of(ins).ok_or_else(unsupported)?.cmp;
                let (a, b) = (body.get(arg(0)?)?, body.get(arg(1)?)?);
                let v = self.call_ptr("ember_inl_compare", &[a.into(), b.into(), self.i64c(cmp as i64).into()])?;
                self.leave_if_null(v, leave)?;
                Some(v)
            }
            Op::PushNull => Some(self.ptr_t().const_null()),
            Op::BinarySubscr => {
                let (c, k) = (body.get(arg(0)?)?, body.get(arg(1)?)?);
                let v = self.call_ptr("ember_inl_subscr", &[c.into(), k.into()])?;
                self.leave_if_null(v, leave)?;
                Some(v)
            }
            Op::Call => {
                // `len(x)` only (`passes::inline_trivial` admits nothing else).
                CallImms::of(ins).filter(|c| c.spec == CallSpec::Len && c.nargs == 1).ok_or_else(unsupported)?;
                let (callable, x) = (body.get(arg(0)?)?, body.get(arg(2)?)?);
                let v = self.call_ptr("ember_inl_len", &[self.ts.into(), callable.into(), x.into()])?;
                self.leave_if_null(v, leave)?;
                Some(v)
            }
            Op::ToBool => {
                let v = self.call_ptr("ember_inl_truth", &[body.get(arg(0)?)?.into()])?;
                self.leave_if_null(v, leave)?;
                Some(v)
            }
            Op::UnaryNot => {
                let t = self.bound_ptr(self.f.layout.true_)?;
                let is_false = self.b.build_int_compare(IntPredicate::NE, body.get(arg(0)?)?, t, "inl_not").map_err(llvm)?;
                Some(self.select_bool(is_false)?)
            }
            Op::IsOp => {
                let invert = *ins.imms.first().ok_or_else(unsupported)? != 0;
                let pred = if invert { IntPredicate::NE } else { IntPredicate::EQ };
                let same = self.b.build_int_compare(pred, body.get(arg(0)?)?, body.get(arg(1)?)?, "inl_is").map_err(llvm)?;
                Some(self.select_bool(same)?)
            }
            _ => return Err(unsupported()),
        };
        if let Some(v) = r {
            let res = *ins.results.first().ok_or_else(unsupported)?;
            body.vals.insert(res, v);
        }
        Ok(())
    }

    /// Adds the incoming values of edge `t` from the current block to its target's phis.
    fn inline_edge(&self, t: &BlockCall, body: &Body<'ctx>) -> Result<BasicBlock<'ctx>, EmberError> {
        let n = t.block.0 as usize;
        let (bb, phis) = body.blocks.get(n).zip(body.phis.get(n)).ok_or_else(|| EmberError::Verify("inlined body: bad edge".into()))?;
        if phis.len() != t.args.len() {
            return Err(EmberError::Verify("inlined body: edge arguments do not match the parameters".into()));
        }
        let from = self.b.get_insert_block().ok_or_else(|| EmberError::Llvm("no insert block".into()))?;
        for (phi, a) in phis.iter().zip(&t.args) {
            phi.add_incoming(&[(&body.get(*a)?, from)]);
        }
        Ok(*bb)
    }

    /// A terminator of an inlined body (see the module doc).
    fn inline_term(
        &mut self,
        c: &Function,
        t: &Instr,
        body: &mut Body<'ctx>,
        done: BasicBlock<'ctx>,
        result: PhiValue<'ctx>,
    ) -> Result<(), EmberError> {
        let unsupported = || EmberError::Verify(format!("inlined body: {} is not admitted", t.op.info().name));
        let here = self.b.get_insert_block().ok_or_else(|| EmberError::Llvm("no insert block".into()))?;
        match t.op {
            Op::ReturnValue => {
                let v = body.get(*t.args.first().ok_or_else(unsupported)?)?;
                result.add_incoming(&[(&v, here)]);
                self.b.build_unconditional_branch(done).map_err(llvm)?;
            }
            Op::ReturnConst => {
                let k = usize::try_from(*t.imms.first().ok_or_else(unsupported)?).map_err(|_| unsupported())?;
                let v = self.bound_ptr(*c.consts.get(k).ok_or_else(unsupported)?)?;
                result.add_incoming(&[(&v, here)]);
                self.b.build_unconditional_branch(done).map_err(llvm)?;
            }
            Op::Jump => {
                let bb = self.inline_edge(t.targets.first().ok_or_else(unsupported)?, body)?;
                self.b.build_unconditional_branch(bb).map_err(llvm)?;
            }
            Op::PopJumpIfTrue | Op::PopJumpIfFalse | Op::PopJumpIfNone | Op::PopJumpIfNotNone => {
                let v = body.get(*t.args.first().ok_or_else(unsupported)?)?;
                let (h, pred) = match t.op {
                    Op::PopJumpIfTrue => (self.f.layout.true_, IntPredicate::EQ),
                    Op::PopJumpIfFalse => (self.f.layout.false_, IntPredicate::EQ),
                    Op::PopJumpIfNone => (self.f.layout.none, IntPredicate::EQ),
                    _ => (self.f.layout.none, IntPredicate::NE),
                };
                let h = self.bound_ptr(h)?;
                let taken = self.b.build_int_compare(pred, v, h, "inl_cond").map_err(llvm)?;
                let [a, b] = t.targets.as_slice() else { return Err(unsupported()) };
                let (ta, tb) = (self.inline_edge(a, body)?, self.inline_edge(b, body)?);
                self.b.build_conditional_branch(taken, ta, tb).map_err(llvm)?;
            }
            _ => return Err(unsupported()),
        }
        Ok(())
    }
}
