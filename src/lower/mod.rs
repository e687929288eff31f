//! HIR → LLVM IR.
//!
//! A compiled function has the C signature `PyObject *fn(PyThreadState *ts,
//! _PyInterpreterFrame *frame)`: the shim has pushed and linked the frame with the arguments
//! bound in `localsplus`. Locals are loads and stores of `localsplus[i]`; value-stack entries are
//! SSA registers; every operation is a call to a named runtime helper (see [`helpers`]), which
//! the JIT resolves to the shim's address or inlines from the helper bitcode. Each instruction
//! that can raise gets a cold side exit that spills its frame-state stack into
//! `localsplus[nlocalsplus..]` and returns `ember_rt_raise(ts, frame, bc, depth)`: the runtime
//! unwinds exactly as the interpreter would (`Python/ceval.c`, `exception_unwind`).

pub mod helpers;

mod attrs;
mod calls;
mod containers;
mod control;
mod inline;
mod iter;
mod locals;
mod numbers;
mod operators;

pub use attrs::attr_ic_type;
pub use iter::resume_ic_type;

use std::collections::HashMap;

use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::basic_block::BasicBlock;
use inkwell::builder::Builder;
use inkwell::context::ContextRef;
use inkwell::module::{Linkage, Module};
use inkwell::values::{AnyValue, BasicMetadataValueEnum, BasicValueEnum, FunctionValue, IntValue, PhiValue, PointerValue};
use inkwell::{AddressSpace, IntPredicate};

use crate::error::EmberError;
use crate::hir::{BlockCall, FrameState, Function, Instr, Op, Type, Value};

use helpers::{Arg, Ret};

/// Name of the compiled entry symbol for function number `id`.
pub fn entry_symbol(id: u64) -> String {
    format!("ember_fn_{id}")
}

/// Name of the binding table that goes with entry `symbol`: `[n x i64]` of writable data
/// (external linkage, so the JIT can find it and the optimiser cannot assume its contents),
/// where slot `k - 1` holds the value of binding ordinal `k` ([`crate::hir::bind`]).
pub fn bindings_symbol(symbol: &str) -> String {
    format!("{symbol}_bindings")
}

/// Deopt exit blocks keyed by code unit, stack depth, the (value, type, borrowed) triples they
/// spill (then release: an inlined callee's values, past the depth; then the held locals' values)
/// and the held locals' slots.
type GuardExits<'ctx> = HashMap<(u32, usize, Vec<(BasicValueEnum<'ctx>, Type, bool)>, Vec<u32>), BasicBlock<'ctx>>;

struct Lower<'ctx, 'f> {
    ctx: ContextRef<'ctx>,
    /// The binding table ([`bindings_symbol`]).
    table: PointerValue<'ctx>,
    /// What `table` holds.
    bindings: &'f crate::hir::bind::Bindings,
    /// Its loads are `!invariant.load` ([`Bound::invariant`]).
    invariant: bool,
    m: Module<'ctx>,
    b: Builder<'ctx>,
    f: &'f Function,
    func: FunctionValue<'ctx>,
    ts: PointerValue<'ctx>,
    frame: PointerValue<'ctx>,
    locals: PointerValue<'ctx>,
    self_slot: PointerValue<'ctx>,
    /// An `int64_t` out-parameter for helpers (`ember_int_to_i64`).
    i64_slot: PointerValue<'ctx>,
    vals: HashMap<Value, BasicValueEnum<'ctx>>,
    /// `Bool` values made by `Box` of a `CBool`, with that `i1` (a branch on them tests it).
    bools: HashMap<Value, IntValue<'ctx>>,
    /// Borrowed references (`LoadFastBorrow` results and guards of them): a spill increfs.
    borrowed: std::collections::HashSet<Value>,
    /// Deopt exits by code unit and spilled values ([`Lower::exit_block`]).
    guard_exits: GuardExits<'ctx>,
    blocks: Vec<BasicBlock<'ctx>>,
    phis: Vec<Vec<PhiValue<'ctx>>>,
    last_ip: Option<u32>,
    /// [`Bound::call_site_cache`].
    call_site_cache: bool,
    /// Whether unpacking sites inline their helper (`containers::UNPACK_INLINE_SITES`).
    inline_unpack: bool,
    /// [`Bound::inline_helpers`].
    inline_helpers: bool,
}

/// Leading runtime arguments of a helper call.
#[derive(Clone, Copy)]
enum Pre {
    Ts,
    Frame,
    /// The instruction's name constant (`imms[0]`).
    Name,
}

/// The LLVM type that holds a value of HIR type `t`: a pointer for objects, `i64`, `double`
/// or `i1` for the unboxed types.
fn machine_type(ctx: ContextRef<'_>, t: Type) -> inkwell::types::BasicTypeEnum<'_> {
    match t {
        Type::CInt64 => ctx.i64_type().into(),
        Type::CDouble => ctx.f64_type().into(),
        Type::CBool => ctx.bool_type().into(),
        _ => ctx.ptr_type(AddressSpace::default()).into(),
    }
}

fn llvm(e: impl std::fmt::Display) -> EmberError {
    EmberError::Llvm(e.to_string())
}

/// Lowers `f` into a new module in `ctx`, defining the entry function `symbol` and its
/// binding table initialised with `f`'s own process-specific values (a self-contained object,
/// for tests; code-unit addresses are derived from the code base). The JIT and cross-compiles
/// use [`lower_split`].
///
/// Errors: as [`lower_split`].
pub fn lower<'ctx>(ctx: ContextRef<'ctx>, f: &Function, symbol: &str) -> Result<Module<'ctx>, EmberError> {
    let (split, bindings) = crate::hir::bind::split(f, false);
    lower_split(ctx, &split, &bindings, symbol, Bound { init: true, invariant: false, call_site_cache: false, inline_helpers: false })
}

/// How [`lower_split`] treats the binding table.
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    /// Initialise the table with the bindings' values (a self-contained object); else zero,
    /// filled by the JIT after linking.
    pub init: bool,
    /// Mark the table's loads `!invariant.load`, so LLVM may hoist them and keep values in
    /// registers across calls (see `passes_llvm::Target::invariant_bindings`).
    pub invariant: bool,
    /// Give each plain `Call` its own cache of the compiled callee's entry (`ember_call_ic`;
    /// see `passes_llvm::Target::call_site_cache`).
    pub call_site_cache: bool,
    /// The helper bitcode is linked into the module: call the helper forms that exist for
    /// their inlined fast path (`ember_binary_op_float_first`, the `_outline` unpacking calls
    /// beyond `containers::UNPACK_INLINE_SITES`). Without it every such site calls the plain
    /// helper, which computes the same, so a host that implements only the plain helpers
    /// (`examples/embed`) keeps working.
    pub inline_helpers: bool,
}

/// Lowers a function split by [`crate::hir::bind::split`] into a new module in `ctx`,
/// defining the entry function `symbol` and its binding table [`bindings_symbol`] with one
/// slot per entry of `bindings`, as `how` says ([`Bound`]: the JIT fills a zero table after
/// linking, so the object carries no process-specific value).
///
/// Errors: [`EmberError::Unsupported`] for an instruction with no lowering (e.g. a reachable
/// [`Op::Unsupported`]), [`EmberError::Llvm`] if LLVM rejects the generated IR.
pub fn lower_split<'ctx>(
    ctx: ContextRef<'ctx>,
    f: &Function,
    bindings: &crate::hir::bind::Bindings,
    symbol: &str,
    how: Bound,
) -> Result<Module<'ctx>, EmberError> {
    let m = ctx.create_module(&f.full_name());
    let i64t = ctx.i64_type();
    let table_t = i64t.array_type(bindings.values.len().max(1) as u32);
    let table = m.add_global(table_t, None, &bindings_symbol(symbol));
    table.set_linkage(Linkage::External);
    // Protected: exported for the JIT's lookup but never preempted, so code addresses it
    // PC-relative (one load per use) instead of through a GOT entry held in a register.
    table.set_visibility(inkwell::GlobalVisibility::Protected);
    table.set_alignment(8);
    if how.init {
        let vals: Vec<IntValue> = bindings.values.iter().map(|v| i64t.const_int(*v, false)).collect();
        table.set_initializer(&if vals.is_empty() { table_t.const_zero() } else { i64t.const_array(&vals) });
    } else {
        table.set_initializer(&table_t.const_zero());
    }
    let table = table.as_pointer_value();
    let ptr = ctx.ptr_type(AddressSpace::default());
    let fnty = ptr.fn_type(&[ptr.into(), ptr.into()], false);
    let func = m.add_function(symbol, fnty, Some(Linkage::External));
    let b = ctx.create_builder();
    let entry = ctx.append_basic_block(func, "entry");
    b.position_at_end(entry);
    let ts = func.get_nth_param(0).unwrap().into_pointer_value();
    let frame = func.get_nth_param(1).unwrap().into_pointer_value();
    let i8t = ctx.i8_type();
    let locals =
        unsafe { b.build_in_bounds_gep(i8t, frame, &[ctx.i64_type().const_int(f.layout.localsplus_offset as u64, false)], "locals") }
            .map_err(llvm)?;
    let self_slot = b.build_alloca(ptr, "self_slot").map_err(llvm)?;
    let i64_slot = b.build_alloca(ctx.i64_type(), "i64_slot").map_err(llvm)?;
    let mut blocks = vec![];
    let mut phis = vec![];
    for (i, blk) in f.blocks.iter().enumerate() {
        let bb = ctx.append_basic_block(func, &format!("bb{i}"));
        b.position_at_end(bb);
        let mut ps = vec![];
        for p in &blk.params {
            ps.push(b.build_phi(machine_type(ctx, f.ty(*p)), &format!("v{}", p.0)).map_err(llvm)?);
        }
        blocks.push(bb);
        phis.push(ps);
    }
    b.position_at_end(entry);
    b.build_unconditional_branch(blocks[0]).map_err(llvm)?;
    let mut l = Lower {
        ctx,
        table,
        bindings,
        invariant: how.invariant,
        m,
        b,
        f,
        func,
        ts,
        frame,
        locals,
        self_slot,
        i64_slot,
        vals: HashMap::new(),
        bools: HashMap::new(),
        borrowed: crate::hir::borrowed_values(f.blocks.iter().flat_map(|b| &b.instrs)),
        guard_exits: HashMap::new(),
        blocks,
        phis,
        last_ip: None,
        call_site_cache: how.call_site_cache,
        inline_unpack: !how.inline_helpers
            || f.blocks.iter().flat_map(|b| &b.instrs).filter(|i| matches!(i.op, Op::UnpackSequence | Op::UnpackStore)).count()
                <= containers::UNPACK_INLINE_SITES,
        inline_helpers: how.inline_helpers,
    };
    for (i, blk) in f.blocks.iter().enumerate() {
        for (p, phi) in blk.params.iter().zip(&l.phis[i]) {
            l.vals.insert(*p, phi.as_basic_value());
        }
    }
    for (i, blk) in f.blocks.iter().enumerate() {
        l.b.position_at_end(l.blocks[i]);
        l.last_ip = None;
        for ins in &blk.instrs {
            l.instr(ins)?;
        }
        l.instr(&blk.term)?;
    }
    if !l.func.verify(false) {
        let ir = l.func.print_to_string().to_string();
        return Err(EmberError::Llvm(format!("generated function failed verification:\n{ir}")));
    }
    Ok(l.m)
}

impl<'ctx> Lower<'ctx, '_> {
    fn ptr_t(&self) -> inkwell::types::PointerType<'ctx> {
        self.ctx.ptr_type(AddressSpace::default())
    }

    fn i64c(&self, v: i64) -> IntValue<'ctx> {
        self.ctx.i64_type().const_int(v as u64, true)
    }

    /// The value of binding ordinal `k` ([`crate::hir::bind`]): a load from the binding table
    /// at the use (one PC-relative load, smaller than a 64-bit immediate); ordinal 0 is the
    /// constant 0. The loads are not marked invariant on purpose: LLVM would hoist them to the
    /// entry and keep them in callee-saved registers or stack slots across the helper calls,
    /// which costs more code (calls200 on x86-64: +7 % instructions) than reloading.
    ///
    /// Errors: [`EmberError::Verify`] for an ordinal beyond the table.
    fn bound(&self, k: u64) -> Result<IntValue<'ctx>, EmberError> {
        let i64t = self.ctx.i64_type();
        if k == 0 {
            return Ok(i64t.const_zero());
        }
        if k > self.bindings.values.len() as u64 {
            return Err(EmberError::Verify(format!("binding {k} out of range")));
        }
        let slot = unsafe { self.b.build_in_bounds_gep(i64t, self.table, &[i64t.const_int(k - 1, false)], "bslot") }.map_err(llvm)?;
        let v = self.b.build_load(i64t, slot, &format!("b{k}")).map_err(llvm)?.into_int_value();
        if self.invariant {
            let inst = v.as_instruction().ok_or_else(|| EmberError::Llvm("binding load is not an instruction".into()))?;
            let empty = self.ctx.metadata_node(&[]);
            inst.set_metadata(empty, self.ctx.get_kind_id("invariant.load")).map_err(llvm)?;
        }
        Ok(v)
    }

    /// [`Lower::bound`] as a pointer (an object handle or code address).
    fn bound_ptr(&self, k: u64) -> Result<PointerValue<'ctx>, EmberError> {
        let v = self.bound(k)?;
        self.b.build_int_to_ptr(v, self.ptr_t(), "h").map_err(llvm)
    }

    /// A bound immediate (one [`Op::bound_imms`] names) as an `i64` argument: its binding
    /// when positive, else the structural constant itself.
    fn bound_imm(&self, v: i64) -> Result<IntValue<'ctx>, EmberError> {
        if v > 0 {
            self.bound(v as u64)
        } else {
            Ok(self.i64c(v))
        }
    }

    fn konst(&self, k: i64) -> Result<PointerValue<'ctx>, EmberError> {
        let addr = *self.f.consts.get(k as usize).ok_or_else(|| EmberError::Verify(format!("constant {k} out of range")))?;
        self.bound_ptr(addr)
    }

    fn val(&self, v: Value) -> Result<PointerValue<'ctx>, EmberError> {
        match self.val_any(v)? {
            BasicValueEnum::PointerValue(p) => Ok(p),
            _ => Err(EmberError::Verify(format!("v{} is unboxed ({}) where an object is needed", v.0, self.f.ty(v).name()))),
        }
    }

    /// The LLVM value of `v`, object or unboxed ([`machine_type`]).
    fn val_any(&self, v: Value) -> Result<BasicValueEnum<'ctx>, EmberError> {
        self.vals.get(&v).copied().ok_or_else(|| EmberError::Verify(format!("v{} used before definition", v.0)))
    }

    fn helper(&self, name: &str) -> Result<FunctionValue<'ctx>, EmberError> {
        if let Some(fv) = self.m.get_function(name) {
            return Ok(fv);
        }
        let sig = helpers::find(name).ok_or_else(|| EmberError::Llvm(format!("unknown helper {name}")))?;
        let ptr = self.ptr_t();
        let params: Vec<inkwell::types::BasicMetadataTypeEnum> = sig
            .params
            .iter()
            .map(|a| match a {
                Arg::P => ptr.into(),
                Arg::I => self.ctx.i64_type().into(),
                Arg::F => self.ctx.f64_type().into(),
            })
            .collect();
        let fnty = match sig.ret {
            Ret::Ptr => ptr.fn_type(&params, false),
            Ret::I32 => self.ctx.i32_type().fn_type(&params, false),
            Ret::Void => self.ctx.void_type().fn_type(&params, false),
            Ret::F64 => self.ctx.f64_type().fn_type(&params, false),
            Ret::I64 => self.ctx.i64_type().fn_type(&params, false),
        };
        Ok(self.m.add_function(name, fnty, Some(Linkage::External)))
    }

    /// Calls helper `name`; returns its result (None for void).
    fn call(&self, name: &str, args: &[BasicValueEnum<'ctx>]) -> Result<Option<BasicValueEnum<'ctx>>, EmberError> {
        let fv = self.helper(name)?;
        let a: Vec<BasicMetadataValueEnum> = args.iter().map(|&x| x.into()).collect();
        let cs = self.b.build_call(fv, &a, "").map_err(llvm)?;
        if helpers::find(name).is_some_and(|h| h.cold) {
            let kind = Attribute::get_named_enum_kind_id("cold");
            cs.add_attribute(AttributeLoc::Function, self.ctx.create_enum_attribute(kind, 0));
        }
        Ok(match cs.try_as_basic_value() {
            inkwell::values::ValueKind::Basic(v) => Some(v),
            inkwell::values::ValueKind::Instruction(_) => None,
        })
    }

    fn call_ptr(&self, name: &str, args: &[BasicValueEnum<'ctx>]) -> Result<PointerValue<'ctx>, EmberError> {
        Ok(self.call(name, args)?.ok_or_else(|| EmberError::Llvm(format!("{name} returns void")))?.into_pointer_value())
    }

    fn local_slot(&self, i: u64) -> Result<PointerValue<'ctx>, EmberError> {
        unsafe { self.b.build_in_bounds_gep(self.ptr_t(), self.locals, &[self.ctx.i64_type().const_int(i, false)], "slot") }.map_err(llvm)
    }

    /// Address of value-stack slot `depth` in the frame (`localsplus[nlocalsplus + depth]`).
    fn stack_slot(&self, depth: usize) -> Result<PointerValue<'ctx>, EmberError> {
        self.local_slot(self.f.nlocalsplus as u64 + depth as u64)
    }

    fn set_ip(&mut self, bc: u32) -> Result<(), EmberError> {
        if self.last_ip == Some(bc) {
            return Ok(());
        }
        let addr = self.code_unit_addr(bc)?;
        self.b.build_store(self.ip_slot()?, addr).map_err(llvm)?;
        self.last_ip = Some(bc);
        Ok(())
    }

    /// Address of the frame's `instr_ptr` field.
    fn ip_slot(&self) -> Result<PointerValue<'ctx>, EmberError> {
        unsafe { self.b.build_in_bounds_gep(self.ctx.i8_type(), self.frame, &[self.i64c(self.f.layout.instr_ptr_offset as i64)], "ipslot") }
            .map_err(llvm)
    }

    /// The `instr_ptr` value of code unit `bc` (`code_base + 2 * bc`).
    fn code_unit_addr(&self, bc: u32) -> Result<PointerValue<'ctx>, EmberError> {
        if let Some(&k) = self.bindings.code_units.get(&bc) {
            return self.bound_ptr(k);
        }
        let base = self.bound_ptr(self.f.layout.code_base)?;
        unsafe { self.b.build_in_bounds_gep(self.ctx.i8_type(), base, &[self.i64c(2 * bc as i64)], "ip") }.map_err(llvm)
    }

    fn new_block(&self, name: &str) -> BasicBlock<'ctx> {
        self.ctx.append_basic_block(self.func, name)
    }

    /// Emits a side exit for `fs` calling `rt` (`ember_rt_raise` or `ember_rt_deopt`) and
    /// returns the exit block; the builder position is preserved.
    fn exit_block(&mut self, fs: &FrameState, rt: &str) -> Result<BasicBlock<'ctx>, EmberError> {
        // The guards of one instruction share their deopt exit when they spill the same machine
        // values: a guard's result is its operand's register, so `[a, b]`, `[a1, b]` and
        // `[a1, b1]` are one exit. (Every spilled value dominates each guard, hence the exit.)
        let key = if rt == "ember_rt_guard_fail" {
            let vals: Result<Vec<_>, EmberError> =
                fs.values().map(|v| Ok((self.val_any(*v)?, self.f.ty(*v), self.borrowed.contains(v)))).collect();
            Some((fs.bc, fs.stack.len(), vals?, fs.locals.iter().map(|(k, _)| *k).collect()))
        } else {
            None
        };
        if let Some(bb) = key.as_ref().and_then(|k| self.guard_exits.get(k)) {
            return Ok(*bb);
        }
        let bb = self.exit_block_new(fs, rt)?;
        if let Some(k) = key {
            self.guard_exits.insert(k, bb);
        }
        Ok(bb)
    }

    fn exit_block_new(&mut self, fs: &FrameState, rt: &str) -> Result<BasicBlock<'ctx>, EmberError> {
        let here = self.b.get_insert_block().unwrap();
        let bb = self.new_block(&format!("{}_{}", rt.trim_start_matches("ember_rt_"), fs.bc));
        self.b.position_at_end(bb);
        self.spill_args(&fs.stack, 0)?;
        self.write_held_locals(fs)?;
        // An inlined callee's own values: released, not written (FrameState::inlined).
        for v in fs.inlined.iter().flatten() {
            self.release(*v)?;
        }
        let r = self
            .call_ptr(rt, &[self.ts.into(), self.frame.into(), self.i64c(fs.bc as i64).into(), self.i64c(fs.stack.len() as i64).into()])?;
        self.b.build_return(Some(&r)).map_err(llvm)?;
        self.b.position_at_end(here);
        Ok(bb)
    }

    /// Branches to a raise exit when `failed` is true, continuing in a fresh block otherwise.
    fn check(&mut self, failed: IntValue<'ctx>, fs: &FrameState) -> Result<(), EmberError> {
        let exit = self.exit_block(fs, "ember_rt_raise")?;
        let cont = self.new_block("ok");
        self.b.build_conditional_branch(failed, exit, cont).map_err(llvm)?;
        self.b.position_at_end(cont);
        Ok(())
    }

    /// Continues in a fresh block when `ok` is true; otherwise leaves through a deopt exit for
    /// `fs` (`ember_rt_guard_fail`: the interpreter runs the instruction at `fs.bc` with the
    /// frame-state stack, boxed where unboxed).
    fn guard(&mut self, ok: IntValue<'ctx>, fs: &FrameState) -> Result<(), EmberError> {
        let exit = self.exit_block(fs, "ember_rt_guard_fail")?;
        let cont = self.new_block("guarded");
        self.b.build_conditional_branch(ok, cont, exit).map_err(llvm)?;
        self.b.position_at_end(cont);
        Ok(())
    }

    fn check_null(&mut self, p: PointerValue<'ctx>, fs: &FrameState) -> Result<(), EmberError> {
        let c = self.b.build_is_null(p, "isnull").map_err(llvm)?;
        self.check(c, fs)
    }

    fn check_int(&mut self, r: Option<BasicValueEnum<'ctx>>, fs: &FrameState) -> Result<(), EmberError> {
        let r = r.ok_or_else(|| EmberError::Llvm("int helper returned void".into()))?.into_int_value();
        let c = self.b.build_int_compare(IntPredicate::SLT, r, self.ctx.i32_type().const_zero(), "failed").map_err(llvm)?;
        self.check(c, fs)
    }

    fn incref(&self, v: PointerValue<'ctx>) -> Result<(), EmberError> {
        self.call("ember_incref", &[v.into()]).map(|_| ())
    }

    /// The machine truth (`i1`) of `v`, a `CBool` or an exact bool: the value itself, the machine
    /// value the `Box` that made it recorded (`bools`), or a comparison with `True`.
    fn truth(&self, v: Value) -> Result<IntValue<'ctx>, EmberError> {
        if self.f.ty(v) == Type::CBool {
            return Ok(self.val_any(v)?.into_int_value());
        }
        if let Some(c) = self.bools.get(&v) {
            return Ok(*c);
        }
        let vi = self.b.build_ptr_to_int(self.val(v)?, self.ctx.i64_type(), "b").map_err(llvm)?;
        self.b.build_int_compare(IntPredicate::EQ, vi, self.bound(self.f.layout.true_)?, "truth").map_err(llvm)
    }

    fn release(&self, v: Value) -> Result<(), EmberError> {
        let t = self.f.ty(v);
        // Unboxed values hold no reference, borrowed ones (passes::borrow) none of their own.
        if t.is_unboxed() || self.borrowed.contains(&v) {
            return Ok(());
        }
        let p = self.val(v)?;
        match t {
            Type::OptObject => self.call("ember_xdecref", &[p.into()]),
            Type::Float => self.call("ember_decref_float", &[self.ts.into(), p.into()]),
            Type::Int => self.call("ember_decref_int", &[p.into()]),
            _ => self.call("ember_decref", &[p.into()]),
        }
        .map(|_| ())
    }

    fn jump(&mut self, t: &BlockCall) -> Result<(), EmberError> {
        let here = self.b.get_insert_block().unwrap();
        for (phi, a) in self.phis[t.block.0 as usize].clone().iter().zip(&t.args) {
            phi.add_incoming(&[(&self.val_any(*a)?, here)]);
        }
        self.b.build_unconditional_branch(self.blocks[t.block.0 as usize]).map_err(llvm)?;
        Ok(())
    }

    /// Two-way branch on `cond` to the HIR edges `if_true` / `if_false`.
    fn branch(&mut self, cond: IntValue<'ctx>, if_true: &BlockCall, if_false: &BlockCall) -> Result<(), EmberError> {
        let tb = self.new_block("taken");
        let fb = self.new_block("not_taken");
        self.b.build_conditional_branch(cond, tb, fb).map_err(llvm)?;
        self.b.position_at_end(tb);
        self.jump(if_true)?;
        self.b.position_at_end(fb);
        self.jump(if_false)
    }

    /// Stores `args` into the frame's value-stack area starting at `depth`; returns its address.
    fn spill_args(&self, args: &[Value], depth: usize) -> Result<PointerValue<'ctx>, EmberError> {
        for (k, v) in args.iter().enumerate() {
            self.store_for_exit(self.stack_slot(depth + k)?, *v)?;
        }
        self.stack_slot(depth)
    }

    /// Writes the locals `fs` holds in SSA values into their frame slots, which hold NULL (the
    /// frame takes the references).
    fn write_held_locals(&self, fs: &FrameState) -> Result<(), EmberError> {
        for (k, v) in &fs.locals {
            self.store_for_exit(self.local_slot(u64::from(*k))?, *v)?;
        }
        Ok(())
    }

    /// Stores into frame slot `slot` an owned reference for `v` ([`Lower::boxed_for_exit`], a
    /// new reference taken for a borrowed value).
    fn store_for_exit(&self, slot: PointerValue<'ctx>, v: Value) -> Result<(), EmberError> {
        let obj = self.boxed_for_exit(v)?;
        if self.borrowed.contains(&v) {
            self.incref(obj)?;
        }
        self.b.build_store(slot, obj).map_err(llvm)?;
        Ok(())
    }

    /// The object a side exit stores for `v`: `v` itself, or for an unboxed value a new box
    /// (`ember_box_for_exit_*`: on allocation failure it is `None` with `MemoryError` set,
    /// and the exit raises instead of deoptimising; see `ember_rt_guard_fail`).
    fn boxed_for_exit(&self, v: Value) -> Result<PointerValue<'ctx>, EmberError> {
        let x = self.val_any(v)?;
        Ok(match self.f.ty(v) {
            Type::CDouble => self.call_ptr("ember_box_for_exit_float", &[x])?,
            Type::CInt64 => self.call_ptr("ember_box_for_exit_int", &[x])?,
            Type::CBool => self.bool_object(x.into_int_value())?,
            _ => x.into_pointer_value(),
        })
    }

    /// `True` or `False` for an `i1` (both immortal: no reference to take).
    fn bool_object(&self, c: IntValue<'ctx>) -> Result<PointerValue<'ctx>, EmberError> {
        let t = self.bound_ptr(self.f.layout.true_)?;
        let f = self.bound_ptr(self.f.layout.false_)?;
        Ok(self.b.build_select(c, t, f, "bool").map_err(llvm)?.into_pointer_value())
    }

    fn def(&mut self, v: Value, p: impl Into<BasicValueEnum<'ctx>>) {
        self.vals.insert(v, p.into());
    }

    /// Lowers an instruction as one helper call: `pre` (thread state / frame), then the
    /// operands in stack order, then imm0 when `with_imm`. A pointer result is checked for NULL
    /// and defines the instruction's result; an int result is checked for < 0.
    fn helper_op(&mut self, ins: &Instr, fs: &FrameState, name: &str, pre: &[Pre], with_imm: bool) -> Result<(), EmberError> {
        let mut a: Vec<BasicValueEnum> = Vec::with_capacity(pre.len() + ins.args.len() + 1);
        for p in pre {
            a.push(match p {
                Pre::Ts => self.ts.into(),
                Pre::Frame => self.frame.into(),
                Pre::Name => self.konst(ins.imms[0])?.into(),
            });
        }
        for v in &ins.args {
            a.push(self.val(*v)?.into());
        }
        if with_imm {
            a.push(self.i64c(ins.imms[0]).into());
        }
        let sig = helpers::find(name).ok_or_else(|| EmberError::Llvm(format!("unknown helper {name}")))?;
        let r = self.call(name, &a)?;
        match sig.ret {
            Ret::Ptr => {
                let p = r.unwrap().into_pointer_value();
                self.check_null(p, fs)?;
                if let Some(res) = ins.results.first() {
                    self.def(*res, p);
                }
            }
            Ret::I32 => self.check_int(r, fs)?,
            Ret::Void | Ret::F64 | Ret::I64 => {}
        }
        Ok(())
    }

    /// Raises `UnboundLocalError` for local `idx` when `v` (its value) is NULL
    /// (`LOAD_FAST_CHECK`, `DELETE_FAST`); continues in a fresh block otherwise.
    fn raise_if_unbound(&mut self, v: PointerValue<'ctx>, idx: i64, fs: &FrameState) -> Result<(), EmberError> {
        let isnull = self.b.build_is_null(v, "unbound").map_err(llvm)?;
        let err = self.new_block("unbound");
        let ok = self.new_block("bound");
        self.b.build_conditional_branch(isnull, err, ok).map_err(llvm)?;
        self.b.position_at_end(err);
        self.call("ember_raise_unbound_local", &[self.ts.into(), self.frame.into(), self.i64c(idx).into()])?;
        let exit = self.exit_block(fs, "ember_rt_raise")?;
        self.b.build_unconditional_branch(exit).map_err(llvm)?;
        self.b.position_at_end(ok);
        Ok(())
    }

    /// An i1 that is true when the thread state has an exception set (`ember_err_occurred`).
    fn err_occurred(&self) -> Result<IntValue<'ctx>, EmberError> {
        let e = self.call("ember_err_occurred", &[self.ts.into()])?.unwrap().into_int_value();
        self.b.build_int_compare(IntPredicate::NE, e, self.ctx.i32_type().const_zero(), "failed").map_err(llvm)
    }

    /// The eval-breaker check of `RESUME`, `JUMP_BACKWARD` and a `CALL` (`ember_rt_periodic`):
    /// pending work runs with the frame's `instr_ptr` at code unit `at` (the instruction making
    /// the check: for a call's [`Op::CallBreaker`], the call, where `fs.bc` is the next
    /// instruction), and an exception it raises leaves from `at`; a hand-off to the interpreter
    /// (monitoring switched on) resumes it at `fs.bc` with `fs`'s stack.
    fn periodic(&mut self, fs: &FrameState, at: u32) -> Result<(), EmberError> {
        self.set_ip(at)?;
        if !fs.locals.is_empty() {
            return self.periodic_held(fs);
        }
        let r = self.call("ember_rt_periodic", &[self.ts.into(), self.frame.into()])?.unwrap().into_int_value();
        let zero = self.ctx.i32_type().const_zero();
        let bad = self.b.build_int_compare(IntPredicate::NE, r, zero, "pending").map_err(llvm)?;
        let slow = self.new_block("periodic_slow");
        let cont = self.new_block("periodic_ok");
        self.b.build_conditional_branch(bad, slow, cont).map_err(llvm)?;
        self.b.position_at_end(slow);
        let raise = self.exit_block(&FrameState { bc: at, ..fs.clone() }, "ember_rt_raise")?;
        let deopt = self.exit_block(fs, "ember_rt_deopt")?;
        let neg = self.b.build_int_compare(IntPredicate::SLT, r, zero, "err").map_err(llvm)?;
        self.b.build_conditional_branch(neg, raise, deopt).map_err(llvm)?;
        self.b.position_at_end(cont);
        Ok(())
    }

    /// The eval-breaker check of a back edge in a loop whose locals are held in SSA values
    /// (`passes::loop_locals`): with the breaker set, the held locals are written to the frame
    /// (boxed where unboxed; the frame takes the references) before pending work runs, since a
    /// signal handler, a pending call, a finaliser or another thread may read or rebind them;
    /// then they are read back and checked as the loop's entry checks them (the type the loop
    /// holds, unboxed again; a releasable object), their slots cleared, and the loop goes on
    /// with them. An exception from the work, a hand-off to the interpreter (monitoring) or a
    /// local that no longer passes its check leaves with the frame as it is. Rebinds the held
    /// values to the reloaded ones for the back edge (the block's terminator).
    fn periodic_held(&mut self, fs: &FrameState) -> Result<(), EmberError> {
        let zero = self.ctx.i32_type().const_zero();
        let set = self.call("ember_rt_eval_breaker", &[self.ts.into(), self.frame.into()])?.unwrap().into_int_value();
        let set = self.b.build_int_compare(IntPredicate::NE, set, zero, "breaker").map_err(llvm)?;
        let fast_end = self.b.get_insert_block().unwrap();
        let (slow, cont) = (self.new_block("held_slow"), self.new_block("held_ok"));
        self.b.build_conditional_branch(set, slow, cont).map_err(llvm)?;
        self.b.position_at_end(slow);
        self.write_held_locals(fs)?;
        let bare = FrameState { locals: vec![], ..fs.clone() };
        let r = self.call("ember_rt_periodic", &[self.ts.into(), self.frame.into()])?.unwrap().into_int_value();
        let bad = self.b.build_int_compare(IntPredicate::NE, r, zero, "pending").map_err(llvm)?;
        let (left, reload) = (self.new_block("held_left"), self.new_block("held_reload"));
        self.b.build_conditional_branch(bad, left, reload).map_err(llvm)?;
        self.b.position_at_end(left);
        let raise = self.exit_block(&bare, "ember_rt_raise")?;
        let deopt = self.exit_block(&bare, "ember_rt_deopt")?;
        let neg = self.b.build_int_compare(IntPredicate::SLT, r, zero, "err").map_err(llvm)?;
        self.b.build_conditional_branch(neg, raise, deopt).map_err(llvm)?;
        // Read back and check every held local before taking any out of the frame.
        self.b.position_at_end(reload);
        let none = self.b.build_int_to_ptr(self.bound(self.f.layout.none)?, self.ptr_t(), "none").map_err(llvm)?;
        let mut ok = self.ctx.bool_type().const_int(1, false);
        let mut loaded = vec![];
        for (k, v) in &fs.locals {
            let p = self.b.build_load(self.ptr_t(), self.local_slot(u64::from(*k))?, "held").map_err(llvm)?.into_pointer_value();
            let isnull = self.b.build_is_null(p, "unbound").map_err(llvm)?;
            // A typed check reads the type: NULL is tested as None (never an int or a float).
            let q = self.b.build_select(isnull, none, p, "q").map_err(llvm)?.into_pointer_value();
            let t = self.f.ty(*v);
            let good = match t.boxed().unwrap_or(t) {
                Type::Object | Type::OptObject => self.call("ember_release_is_trivial", &[p.into()])?.unwrap().into_int_value(),
                bt => {
                    let c = self.call("ember_type_check", &[q.into(), self.i64c(bt as i64).into()])?.unwrap().into_int_value();
                    if t == Type::CInt64 {
                        // Unboxed again inline only when compact (else the loop leaves).
                        let c = self.b.build_int_compare(IntPredicate::NE, c, zero, "is").map_err(llvm)?;
                        let compact = self.call("ember_int_is_compact", &[q.into()])?.unwrap().into_int_value();
                        let compact = self.b.build_int_compare(IntPredicate::NE, compact, zero, "compact").map_err(llvm)?;
                        let both = self.b.build_and(c, compact, "ok").map_err(llvm)?;
                        self.b.build_int_z_extend(both, self.ctx.i32_type(), "ok32").map_err(llvm)?
                    } else {
                        c
                    }
                }
            };
            let good = self.b.build_int_compare(IntPredicate::NE, good, zero, "good").map_err(llvm)?;
            ok = self.b.build_and(ok, good, "ok").map_err(llvm)?;
            loaded.push((p, q));
        }
        let take = self.new_block("held_take");
        self.b.build_conditional_branch(ok, take, deopt).map_err(llvm)?;
        self.b.position_at_end(take);
        let mut again = vec![];
        for ((k, v), (p, q)) in fs.locals.iter().zip(&loaded) {
            self.b.build_store(self.local_slot(u64::from(*k))?, self.ptr_t().const_null()).map_err(llvm)?;
            let x: BasicValueEnum = match self.f.ty(*v) {
                Type::CInt64 => {
                    let x = self.call("ember_int_value", &[(*q).into()])?.unwrap();
                    self.call("ember_decref", &[(*p).into()])?;
                    x
                }
                Type::CDouble => {
                    let x = self.call("ember_float_value", &[(*q).into()])?.unwrap();
                    self.call("ember_decref", &[(*p).into()])?;
                    x
                }
                Type::CBool => {
                    let t = self.b.build_int_to_ptr(self.bound(self.f.layout.true_)?, self.ptr_t(), "true").map_err(llvm)?;
                    let x = self.b.build_int_compare(IntPredicate::EQ, *p, t, "b").map_err(llvm)?;
                    self.call("ember_decref", &[(*p).into()])?;
                    x.into()
                }
                _ => (*p).into(),
            };
            again.push(x);
        }
        let take_end = self.b.get_insert_block().unwrap();
        self.b.build_unconditional_branch(cont).map_err(llvm)?;
        self.b.position_at_end(cont);
        for ((_, v), x) in fs.locals.iter().zip(again) {
            let old = self.val_any(*v)?;
            let phi = self.b.build_phi(old.get_type(), "held").map_err(llvm)?;
            phi.add_incoming(&[(&old, fast_end), (&x, take_end)]);
            self.vals.insert(*v, phi.as_basic_value());
        }
        Ok(())
    }

    /// Lowers one instruction: stores its code unit in the frame's `instr_ptr` when it has a
    /// frame state (`Resume`, `CallBreaker` and `JumpBackward` do it in [`Lower::periodic`]), then
    /// hands it to the method of its [`Family`].
    fn instr(&mut self, ins: &Instr) -> Result<(), EmberError> {
        let fs = ins.fs.clone().unwrap_or_default();
        if ins.fs.is_some() && !matches!(ins.op, Op::Resume | Op::CallBreaker | Op::JumpBackward) {
            self.set_ip(fs.bc)?;
        }
        let Some(family) = family(ins.op) else { return Err(unsupported(ins)) };
        match family {
            Family::Locals => self.lower_locals(ins, &fs),
            Family::Operators => self.lower_operators(ins, &fs),
            Family::Boxing => self.lower_boxing(ins, &fs),
            Family::Arith => self.lower_arith(ins, &fs),
            Family::Attrs => self.lower_attrs(ins, &fs),
            Family::Calls => self.lower_calls(ins, &fs),
            Family::Containers => self.lower_containers(ins, &fs),
            Family::Control => self.lower_control(ins, &fs),
            Family::Iter => self.lower_iter(ins, &fs),
        }
    }
}

/// The operation families of [`Lower::instr`]: each is lowered by one method in its own
/// module.
#[derive(Clone, Copy)]
enum Family {
    /// [`locals`]: locals, constants, cells, stack shuffles.
    Locals,
    /// [`operators`]: the generic (helper-call) operators.
    Operators,
    /// [`numbers`] ([`Lower::lower_boxing`]): type guards, unboxing and boxing of numbers.
    Boxing,
    /// [`numbers`] ([`Lower::lower_arith`]): arithmetic and comparisons on unboxed numbers.
    Arith,
    /// [`attrs`]: globals, attributes, methods, imports.
    Attrs,
    /// [`calls`]: calls, function creation, context-manager entry.
    Calls,
    /// [`containers`]: subscripts, displays, unpacking, pattern matching.
    Containers,
    /// [`control`]: jumps, branches, returns, raises, deopts.
    Control,
    /// [`iter`]: iteration, generators, coroutines.
    Iter,
}

/// The family that lowers `op`; None for `Op::Unsupported`. Exhaustive on purpose: a new
/// operation does not compile until it is given a family (and an arm in that family's method,
/// or it fails there with the error of [`unsupported`]).
fn family(op: Op) -> Option<Family> {
    // A name here that is no variant would be a binding: an error in an or-pattern, and on its
    // own a catch-all that makes the arms after it unreachable (a warning).
    use Op::*;
    Some(match op {
        Nop | LoadFastBorrow | LoadFast | LoadFastCheck | LoadFastAndClear | StoreFast | StoreFastFloat | DeleteFast | LoadConst
        | PushNull | PopTop | Copy | Swap | Select | MakeCell | CopyFreeVars | LoadDeref | StoreDeref | DeleteDeref => Family::Locals,
        BinaryOp | UnaryNot | UnaryNegative | UnaryInvert | GetIter | LoadAssertionError | FormatSimple | FormatWithSpec | ConvertValue
        | ToBool | CompareOp | IsOp | ContainsOp => Family::Operators,
        GuardType | GuardReleasable | RangeNonEmpty | Unbox | Box | UnboxNumber | UnboxNumbers | IntToFloat => Family::Boxing,
        FloatBinOp | IntBinOp | FloatCompare | IntCompare | MathCall | IntConst => Family::Arith,
        LoadGlobal | StoreGlobal | DeleteGlobal | LoadAttr | LoadAttrBorrow | LoadMethod | StoreAttr | StoreAttrFloat | InitStore
        | DeleteAttr | LoadSuperAttr | LoadBuildClass | ImportName | ImportFrom => Family::Attrs,
        Call | CallTrivial | GuardCallee | GuardMethodCallee | AllocInstance | CallKw | CallFunctionEx | CallIntrinsic1
        | CallIntrinsic2 | MakeFunction | SetFunctionAttribute | BeforeWith | BeforeAsyncWith => Family::Calls,
        BinarySubscr | StoreSubscr | StoreSubscrFloat | DeleteSubscr | BinarySlice | SubscrSlice | StoreSlice | BuildTuple | BuildList
        | BuildMap | BuildConstKeyMap | BuildString | BuildSlice | BuildSet | ListAppend | ListExtend | SetAdd | SetUpdate | MapAdd
        | DictUpdate | DictMerge | UnpackSequence | UnpackEx | UnpackStore | MatchClass | MatchMapping | MatchSequence | MatchKeys
        | GetLen => Family::Containers,
        Resume | CallBreaker | Jump | JumpBackward | PopJumpIfFalse | PopJumpIfTrue | PopJumpIfNone | PopJumpIfNotNone | ReturnValue
        | ReturnConst | RaiseVarargs | Deopt => Family::Control,
        ForIter | ReturnGenerator | YieldValue | ResumeAt | GenInterp | Send | EndSend | GetYieldFromIter | GetAwaitable | GetAiter
        | GetAnext => Family::Iter,
        Unsupported => return None,
    })
}

/// The error for an instruction that has no lowering: `Op::Unsupported`, or immediates (a
/// specialisation) that no arm of its family handles.
fn unsupported(ins: &Instr) -> EmberError {
    EmberError::Unsupported(format!("no lowering for {} with immediates {:?}", ins.op.info().name, ins.imms))
}
