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

use std::collections::HashMap;

use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::basic_block::BasicBlock;
use inkwell::builder::Builder;
use inkwell::context::ContextRef;
use inkwell::module::{Linkage, Module};
use inkwell::values::{AnyValue, BasicMetadataValueEnum, BasicValueEnum, FunctionValue, IntValue, PhiValue, PointerValue};
use inkwell::{AddressSpace, FloatPredicate, IntPredicate};

use crate::error::EmberError;
use crate::hir::op::{Arith, Cmp};
use crate::hir::{BlockCall, FrameState, Function, Instr, Op, Type, Value};

use helpers::{Arg, Ret};

/// Entries per attribute inline cache (`EMBER_IC_WAYS` of `ember_runtime.h`): the number of
/// type versions one LOAD_ATTR / STORE_ATTR site keeps specialised at once.
const IC_WAYS: usize = 4;

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

/// Deopt exit blocks keyed by code unit and the (value, type, borrowed) triples they spill.
type GuardExits<'ctx> = HashMap<(u32, Vec<(BasicValueEnum<'ctx>, Type, bool)>), BasicBlock<'ctx>>;

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

/// The values of `f` that are borrowed references: results of `LoadFastBorrow` and of guards
/// on borrowed values (`passes::borrow`).
fn borrowed_values(f: &Function) -> std::collections::HashSet<Value> {
    let mut s = std::collections::HashSet::new();
    for b in &f.blocks {
        for ins in &b.instrs {
            match ins.op {
                Op::LoadFastBorrow => {
                    s.insert(ins.results[0]);
                }
                Op::GuardType if s.contains(&ins.args[0]) => {
                    s.insert(ins.results[0]);
                }
                _ => {}
            }
        }
    }
    s
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
    lower_split(ctx, &split, &bindings, symbol, Bound { init: true, invariant: false })
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
        borrowed: borrowed_values(f),
        guard_exits: HashMap::new(),
        blocks,
        phis,
        last_ip: None,
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

    /// A new, empty attribute inline cache (`EmberAttrIC` of `ember_runtime.h`, 136 bytes) in
    /// the module's data; its first lookups specialise it (`runtime_ic.c`). It is not seeded
    /// from the interpreter's profile: the type versions and descriptor addresses that profile
    /// holds are process-specific, and compiled code must not carry any (see
    /// [`crate::hir::bind`]). The cost is one miss per site and process.
    fn attr_ic(&self) -> PointerValue<'ctx> {
        // EmberICEntry {version, kind, index, keys_version, descr, hint, unused} x EMBER_IC_WAYS,
        // then {misses, victim}; an empty entry has version u32::MAX and kind 0.
        let i32t = self.ctx.i32_type();
        let entry_t = self
            .ctx
            .struct_type(&[i32t.into(), i32t.into(), i32t.into(), i32t.into(), self.ptr_t().into(), i32t.into(), i32t.into()], false);
        let z: BasicValueEnum = i32t.const_zero().into();
        let fields = [i32t.const_int(u32::MAX as u64, false).into(), z, z, z, self.ptr_t().const_null().into(), z, z];
        let empty = entry_t.const_named_struct(&fields);
        let entries = vec![empty; IC_WAYS];
        let ty = self.ctx.struct_type(&[entry_t.array_type(IC_WAYS as u32).into(), i32t.into(), i32t.into()], false);
        let init =
            ty.const_named_struct(&[entry_t.const_array(&entries).into(), i32t.const_zero().into(), i32t.const_int(1, false).into()]);
        let g = self.m.add_global(ty, None, "ember_ic");
        g.set_linkage(Linkage::Private);
        g.set_initializer(&init);
        g.set_alignment(8);
        g.as_pointer_value()
    }

    /// One `EmberResumeIC` (ember_runtime.h) in the module's data for a SEND or FOR_ITER site: the code
    /// object it last resumed (borrowed), that code's compiled entry and the code epoch, all
    /// zero to start.
    fn resume_ic(&self) -> PointerValue<'ctx> {
        let ty = self.ctx.struct_type(&[self.ptr_t().into(), self.ptr_t().into(), self.ctx.i64_type().into()], false);
        let g = self.m.add_global(ty, None, "ember_resume_ic");
        g.set_linkage(Linkage::Private);
        g.set_initializer(&ty.const_zero());
        g.set_alignment(8);
        g.as_pointer_value()
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
                fs.stack.iter().map(|v| Ok((self.val_any(*v)?, self.f.ty(*v), self.borrowed.contains(v)))).collect();
            Some((fs.bc, vals?))
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

    /// Reads `v` as a number for [`Op::UnboxNumber`]: (its value as a double, true when it was
    /// an int, true when it is an exact float or a compact exact int); the value is
    /// meaningless when the last is false.
    fn number_of(
        &mut self,
        v: PointerValue<'ctx>,
    ) -> Result<(inkwell::values::FloatValue<'ctx>, IntValue<'ctx>, IntValue<'ctx>), EmberError> {
        // A float inline; anything else through the out-of-line (cold) int path, which returns
        // the NaN EMBER_NOT_A_NUMBER_BITS for what is no compact int.
        let i32z = self.ctx.i32_type().const_zero();
        let f64t = self.ctx.f64_type();
        let is_float = self.call("ember_type_check", &[v.into(), self.i64c(Type::Float as i64).into()])?.unwrap().into_int_value();
        let is_float = self.b.build_int_compare(IntPredicate::NE, is_float, i32z, "isf").map_err(llvm)?;
        let (fb, ib, done) = (self.new_block("num_float"), self.new_block("num_int"), self.new_block("num_done"));
        self.b.build_conditional_branch(is_float, fb, ib).map_err(llvm)?;
        self.b.position_at_end(fb);
        let x = self.call("ember_float_value", &[v.into()])?.unwrap().into_float_value();
        let fb_end = self.b.get_insert_block().unwrap();
        self.b.build_unconditional_branch(done).map_err(llvm)?;
        self.b.position_at_end(ib);
        let y = self.call("ember_number_from_int", &[v.into()])?.unwrap().into_float_value();
        let ib_end = self.b.get_insert_block().unwrap();
        self.b.build_unconditional_branch(done).map_err(llvm)?;
        self.b.position_at_end(done);
        let val = self.b.build_phi(f64t, "num").map_err(llvm)?;
        val.add_incoming(&[(&x, fb_end), (&y, ib_end)]);
        let val = val.as_basic_value().into_float_value();
        let isint = self.b.build_not(is_float, "num_isint").map_err(llvm)?;
        let bits = self.b.build_bit_cast(val, self.ctx.i64_type(), "bits").map_err(llvm)?.into_int_value();
        let nan = self.ctx.i64_type().const_int(crate::hir::EMBER_NOT_A_NUMBER_BITS, false);
        let ok = self.b.build_int_compare(IntPredicate::NE, bits, nan, "num_ok").map_err(llvm)?;
        Ok((val, isint, ok))
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
        let fabs = inkwell::intrinsics::Intrinsic::find("llvm.fabs").ok_or_else(|| EmberError::Llvm("no llvm.fabs".into()))?;
        let fabs = fabs.get_declaration(&self.m, &[f64t.into()]).ok_or_else(|| EmberError::Llvm("llvm.fabs".into()))?;
        let abs = |l: &Self, x: inkwell::values::FloatValue<'ctx>| -> Result<inkwell::values::FloatValue<'ctx>, EmberError> {
            let c = l.b.build_call(fabs, &[x.into()], "abs").map_err(llvm)?;
            match c.try_as_basic_value() {
                inkwell::values::ValueKind::Basic(v) => Ok(v.into_float_value()),
                inkwell::values::ValueKind::Instruction(_) => Err(EmberError::Llvm("fabs returned void".into())),
            }
        };
        let pos = self.b.build_float_compare(FloatPredicate::OGT, a, f64t.const_zero(), "pos").map_err(llvm)?;
        let fin_a = self.b.build_float_compare(FloatPredicate::OLT, a, inf, "fa").map_err(llvm)?;
        let fin_b = self.b.build_float_compare(FloatPredicate::OLT, abs(self, b)?, inf, "fb").map_err(llvm)?;
        let ok = self.b.build_and(pos, fin_a, "ok").map_err(llvm)?;
        let ok = self.b.build_and(ok, fin_b, "ok").map_err(llvm)?;
        self.guard(ok, fs)?;
        let pow = inkwell::intrinsics::Intrinsic::find("llvm.pow").ok_or_else(|| EmberError::Llvm("no llvm.pow".into()))?;
        let pow = pow.get_declaration(&self.m, &[f64t.into()]).ok_or_else(|| EmberError::Llvm("llvm.pow".into()))?;
        let r = match self.b.build_call(pow, &[a.into(), b.into()], "pow").map_err(llvm)?.try_as_basic_value() {
            inkwell::values::ValueKind::Basic(v) => v.into_float_value(),
            inkwell::values::ValueKind::Instruction(_) => return Err(EmberError::Llvm("pow returned void".into())),
        };
        let fin_r = self.b.build_float_compare(FloatPredicate::OLT, abs(self, r)?, inf, "fr").map_err(llvm)?;
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

    fn release(&self, v: Value) -> Result<(), EmberError> {
        let t = self.f.ty(v);
        if t.is_unboxed() {
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
            let slot = self.stack_slot(depth + k)?;
            let obj = self.boxed_for_exit(*v)?;
            if self.borrowed.contains(v) {
                self.incref(obj)?;
            }
            self.b.build_store(slot, obj).map_err(llvm)?;
        }
        self.stack_slot(depth)
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

    fn periodic(&mut self, fs: &FrameState) -> Result<(), EmberError> {
        self.set_ip(fs.bc)?;
        let r = self.call("ember_rt_periodic", &[self.ts.into(), self.frame.into()])?.unwrap().into_int_value();
        let zero = self.ctx.i32_type().const_zero();
        let bad = self.b.build_int_compare(IntPredicate::NE, r, zero, "pending").map_err(llvm)?;
        let slow = self.new_block("periodic_slow");
        let cont = self.new_block("periodic_ok");
        self.b.build_conditional_branch(bad, slow, cont).map_err(llvm)?;
        self.b.position_at_end(slow);
        let raise = self.exit_block(fs, "ember_rt_raise")?;
        let deopt = self.exit_block(fs, "ember_rt_deopt")?;
        let neg = self.b.build_int_compare(IntPredicate::SLT, r, zero, "err").map_err(llvm)?;
        self.b.build_conditional_branch(neg, raise, deopt).map_err(llvm)?;
        self.b.position_at_end(cont);
        Ok(())
    }

    fn instr(&mut self, ins: &Instr) -> Result<(), EmberError> {
        let ptr_null = self.ptr_t().const_null();
        let fs = ins.fs.clone().unwrap_or_default();
        if ins.fs.is_some() && !matches!(ins.op, Op::Resume | Op::JumpBackward) {
            self.set_ip(fs.bc)?;
        }
        let imm = |k: usize| ins.imms[k];
        let arg = |k: usize| ins.args[k];
        let unsupported = || EmberError::Unsupported(format!("no lowering for {} with immediates {:?}", ins.op.info().name, ins.imms));
        match ins.op {
            Op::Nop => {}
            Op::Unsupported => return Err(unsupported()),
            Op::Resume => self.periodic(&fs)?,
            Op::LoadFastBorrow => {
                let slot = self.local_slot(imm(0) as u64)?;
                let v = self.b.build_load(self.ptr_t(), slot, "local").map_err(llvm)?.into_pointer_value();
                self.def(ins.results[0], v);
            }
            Op::LoadFast | Op::LoadFastCheck => {
                let slot = self.local_slot(imm(0) as u64)?;
                let v = self.b.build_load(self.ptr_t(), slot, "local").map_err(llvm)?.into_pointer_value();
                if ins.op == Op::LoadFastCheck {
                    self.raise_if_unbound(v, imm(0), &fs)?;
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
            Op::DeleteFast => {
                let slot = self.local_slot(imm(0) as u64)?;
                let old = self.b.build_load(self.ptr_t(), slot, "old").map_err(llvm)?.into_pointer_value();
                self.raise_if_unbound(old, imm(0), &fs)?;
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
            Op::BinaryOp => {
                let name = match imm(1) {
                    0 => "ember_binary_op",
                    1 => "ember_binary_op_add_int",
                    2 => "ember_binary_op_subtract_int",
                    3 => "ember_binary_op_multiply_int",
                    4 => "ember_binary_op_add_float",
                    5 => "ember_binary_op_subtract_float",
                    6 => "ember_binary_op_multiply_float",
                    7 => "ember_binary_op_add_unicode",
                    _ => return Err(unsupported()),
                };
                let r = self.call_ptr(name, &[self.val(arg(0))?.into(), self.val(arg(1))?.into(), self.i64c(imm(0)).into()])?;
                self.check_null(r, &fs)?;
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
                    self.check_null(r, &fs)?;
                }
                self.def(ins.results[0], r);
            }
            Op::FormatSimple | Op::FormatWithSpec => {
                let name = if ins.op == Op::FormatSimple { "ember_format_simple" } else { "ember_format_with_spec" };
                let a: Vec<BasicValueEnum> = ins.args.iter().map(|v| self.val(*v).map(Into::into)).collect::<Result<_, _>>()?;
                let r = self.call_ptr(name, &a)?;
                self.check_null(r, &fs)?;
                self.def(ins.results[0], r);
            }
            Op::ConvertValue => {
                let r = self.call_ptr("ember_convert_value", &[self.val(arg(0))?.into(), self.i64c(imm(0)).into()])?;
                self.check_null(r, &fs)?;
                self.def(ins.results[0], r);
            }
            Op::ToBool => {
                let v = self.val(arg(0))?.into();
                let r = match imm(0) {
                    0 => self.call_ptr("ember_to_bool", &[v])?,
                    1 => self.call_ptr("ember_to_bool_bool", &[v])?,
                    2 => self.call_ptr("ember_to_bool_int", &[v])?,
                    3 => self.call_ptr("ember_to_bool_none", &[v])?,
                    4 => self.call_ptr("ember_to_bool_list", &[v])?,
                    5 => self.call_ptr("ember_to_bool_str", &[v])?,
                    6 => self.call_ptr("ember_to_bool_always_true", &[v, self.bound_imm(imm(1))?.into()])?,
                    _ => return Err(unsupported()),
                };
                self.check_null(r, &fs)?;
                self.def(ins.results[0], r);
            }
            Op::CompareOp | Op::IsOp | Op::ContainsOp => {
                let name = match (ins.op, if ins.op == Op::CompareOp { imm(1) } else { 0 }) {
                    (Op::CompareOp, 0) => "ember_compare_op",
                    (Op::CompareOp, 1) => "ember_compare_op_int",
                    (Op::CompareOp, 2) => "ember_compare_op_float",
                    (Op::CompareOp, 3) => "ember_compare_op_str",
                    (Op::IsOp, _) => "ember_is_op",
                    (Op::ContainsOp, _) => "ember_contains_op",
                    _ => return Err(unsupported()),
                };
                let r = self.call_ptr(name, &[self.val(arg(0))?.into(), self.val(arg(1))?.into(), self.i64c(imm(0)).into()])?;
                self.check_null(r, &fs)?;
                self.def(ins.results[0], r);
            }
            Op::LoadGlobal => {
                let base: Vec<BasicValueEnum> = vec![self.ts.into(), self.frame.into(), self.konst(imm(0))?.into()];
                let r = match imm(2) {
                    0 => self.call_ptr("ember_load_global", &base)?,
                    1 => self.call_ptr(
                        "ember_load_global_module",
                        &[base[0], base[1], base[2], self.bound_imm(imm(3))?.into(), self.i64c(imm(5)).into()],
                    )?,
                    2 => self.call_ptr(
                        "ember_load_global_builtin",
                        &[
                            base[0],
                            base[1],
                            base[2],
                            self.bound_imm(imm(3))?.into(),
                            self.bound_imm(imm(4))?.into(),
                            self.i64c(imm(5)).into(),
                        ],
                    )?,
                    _ => return Err(unsupported()),
                };
                self.check_null(r, &fs)?;
                self.def(ins.results[0], r);
            }
            Op::StoreGlobal => {
                let r = self.call(
                    "ember_store_global",
                    &[self.ts.into(), self.frame.into(), self.konst(imm(0))?.into(), self.val(arg(0))?.into()],
                )?;
                self.check_int(r, &fs)?;
            }
            Op::LoadAttr => {
                let base: [BasicValueEnum; 3] = [self.ts.into(), self.val(arg(0))?.into(), self.konst(imm(0))?.into()];
                let (a, b2) = (self.bound_imm(imm(2))?.into(), self.i64c(imm(3)).into());
                let r = match imm(1) {
                    0 | 1 => {
                        let ic = self.attr_ic();
                        self.call_ptr("ember_load_attr_ic", &[base[0], base[1], base[2], ic.into()])?
                    }
                    2 => self.call_ptr("ember_load_attr_slot", &[base[0], base[1], base[2], a, b2])?,
                    3 => self.call_ptr("ember_load_attr_module", &[base[0], base[1], base[2], a, b2])?,
                    4 => {
                        // LOAD_ATTR_WITH_HINT seeds the instance-any cache (kind 5): the site
                        // may also see objects whose values are still inline.
                        let ic = self.attr_ic();
                        self.call_ptr("ember_load_attr_ic", &[base[0], base[1], base[2], ic.into()])?
                    }
                    _ => return Err(unsupported()),
                };
                self.check_null(r, &fs)?;
                self.def(ins.results[0], r);
            }
            Op::LoadMethod => {
                let base: [BasicValueEnum; 3] = [self.ts.into(), self.val(arg(0))?.into(), self.konst(imm(0))?.into()];
                let slot = self.self_slot.into();
                let r = match imm(1) {
                    0..=3 => {
                        let ic = self.attr_ic();
                        self.call_ptr("ember_load_method_ic", &[base[0], base[1], base[2], ic.into(), slot])?
                    }
                    _ => return Err(unsupported()),
                };
                self.check_null(r, &fs)?;
                let s = self.b.build_load(self.ptr_t(), self.self_slot, "self").map_err(llvm)?.into_pointer_value();
                self.def(ins.results[0], r);
                self.def(ins.results[1], s);
            }
            Op::StoreAttr => {
                let (v, owner) = (self.val(arg(0))?.into(), self.val(arg(1))?.into());
                let base: [BasicValueEnum; 4] = [self.ts.into(), owner, self.konst(imm(0))?.into(), v];
                let (a, b2) = (self.bound_imm(imm(2))?.into(), self.i64c(imm(3)).into());
                let r = match imm(1) {
                    0 | 1 => {
                        let ic = self.attr_ic();
                        self.call("ember_store_attr_ic", &[base[0], base[1], base[2], base[3], ic.into()])?
                    }
                    2 => self.call("ember_store_attr_slot", &[base[0], base[1], base[2], base[3], a, b2])?,
                    3 => {
                        let ic = self.attr_ic();
                        self.call("ember_store_attr_ic", &[base[0], base[1], base[2], base[3], ic.into()])?
                    }
                    _ => return Err(unsupported()),
                };
                self.check_int(r, &fs)?;
            }
            Op::BinarySubscr => {
                let name = match imm(0) {
                    0 => "ember_binary_subscr",
                    1 => "ember_binary_subscr_list_int",
                    2 => "ember_binary_subscr_tuple_int",
                    3 => "ember_binary_subscr_dict",
                    _ => return Err(unsupported()),
                };
                let r = self.call_ptr(name, &[self.val(arg(0))?.into(), self.val(arg(1))?.into()])?;
                self.check_null(r, &fs)?;
                self.def(ins.results[0], r);
            }
            Op::StoreSubscr if imm(0) == 1 && self.f.ty(arg(0)) == Type::Float => {
                // A float stored into a list most likely replaces one: released through `ts`.
                let a = [self.ts.into(), self.val(arg(1))?.into(), self.val(arg(2))?.into(), self.val(arg(0))?.into()];
                let r = self.call("ember_store_subscr_list_int_float", &a)?;
                self.check_int(r, &fs)?;
            }
            Op::StoreSubscr => {
                let name = match imm(0) {
                    0 => "ember_store_subscr",
                    1 => "ember_store_subscr_list_int",
                    2 => "ember_store_subscr_dict",
                    _ => return Err(unsupported()),
                };
                let r = self.call(name, &[self.val(arg(1))?.into(), self.val(arg(2))?.into(), self.val(arg(0))?.into()])?;
                self.check_int(r, &fs)?;
            }
            Op::DeleteSubscr => {
                let r = self.call("ember_delete_subscr", &[self.val(arg(0))?.into(), self.val(arg(1))?.into()])?;
                self.check_int(r, &fs)?;
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
                self.check_null(r, &fs)?;
                self.def(ins.results[0], r);
            }
            Op::ListAppend | Op::ListExtend => {
                let name = if ins.op == Op::ListAppend { "ember_list_append" } else { "ember_list_extend" };
                let r = self.call(name, &[self.val(arg(0))?.into(), self.val(arg(1))?.into()])?;
                self.check_int(r, &fs)?;
            }
            Op::Call | Op::CallKw => {
                let (pos, kw) = if ins.op == Op::CallKw {
                    let (last, rest) = ins.args.split_last().unwrap();
                    (rest, self.val(*last)?)
                } else {
                    (&ins.args[..], ptr_null)
                };
                let base = self.spill_args(pos, fs.stack.len())?;
                let r = self.call_ptr("ember_call", &[self.ts.into(), base.into(), self.i64c(imm(0)).into(), kw.into()])?;
                self.check_null(r, &fs)?;
                self.def(ins.results[0], r);
            }
            Op::UnpackSequence => {
                let out = self.stack_slot(fs.stack.len())?;
                let r = self.call("ember_unpack_sequence", &[self.val(arg(0))?.into(), self.i64c(imm(0)).into(), out.into()])?;
                self.check_int(r, &fs)?;
                for (k, res) in ins.results.iter().enumerate() {
                    let slot = self.stack_slot(fs.stack.len() + k)?;
                    let v = self.b.build_load(self.ptr_t(), slot, "item").map_err(llvm)?.into_pointer_value();
                    self.def(*res, v);
                }
            }
            Op::ForIter => {
                // Generic sites too resume an exact generator inline: while Ember's PEP 523 hook
                // is installed the interpreter never specialises FOR_ITER_GEN, so a loop over a
                // generator has no profile.
                let it = self.val(arg(0))?;
                let item = match imm(1) {
                    0 | 4 => self.call_ptr("ember_for_iter_gen", &[self.ts.into(), it.into(), self.resume_ic().into()])?,
                    1 => self.call_ptr("ember_for_iter_range", &[self.ts.into(), it.into()])?,
                    2 => self.call_ptr("ember_for_iter_list", &[self.ts.into(), it.into()])?,
                    3 => self.call_ptr("ember_for_iter_tuple", &[self.ts.into(), it.into()])?,
                    _ => return Err(unsupported()),
                };
                self.def(ins.results[0], item);
                let isnull = self.b.build_is_null(item, "done").map_err(llvm)?;
                let body = self.new_block("for_body");
                let stop = self.new_block("for_stop");
                self.b.build_conditional_branch(isnull, stop, body).map_err(llvm)?;
                self.b.position_at_end(stop);
                let failed = self.err_occurred()?;
                self.check(failed, &fs)?;
                self.call("ember_decref", &[it.into()])?;
                self.jump(&ins.targets[1])?;
                self.b.position_at_end(body);
                self.jump(&ins.targets[0])?;
            }
            Op::Jump => self.jump(&ins.targets[0])?,
            Op::JumpBackward => {
                self.periodic(&fs)?;
                self.jump(&ins.targets[0])?;
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
                let r = self.call_ptr("ember_rt_leave", &[self.ts.into(), self.frame.into(), self.val(arg(0))?.into()])?;
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
                let exit = self.exit_block(&fs, rt)?;
                self.b.build_unconditional_branch(exit).map_err(llvm)?;
            }
            Op::MakeCell => self.helper_op(ins, &fs, "ember_make_cell", &[Pre::Ts, Pre::Frame], true)?,
            Op::CopyFreeVars => self.helper_op(ins, &fs, "ember_copy_free_vars", &[Pre::Frame], true)?,
            Op::LoadDeref => self.helper_op(ins, &fs, "ember_load_deref", &[Pre::Ts, Pre::Frame], true)?,
            Op::StoreDeref => {
                self.call("ember_store_deref", &[self.frame.into(), self.i64c(imm(0)).into(), self.val(arg(0))?.into()])?;
            }
            Op::DeleteDeref => self.helper_op(ins, &fs, "ember_delete_deref", &[Pre::Ts, Pre::Frame], true)?,
            Op::MakeFunction => self.helper_op(ins, &fs, "ember_make_function", &[Pre::Frame], false)?,
            Op::SetFunctionAttribute => self.helper_op(ins, &fs, "ember_set_function_attribute", &[], true)?,
            Op::BinarySlice => self.helper_op(ins, &fs, "ember_binary_slice", &[], false)?,
            Op::StoreSlice => self.helper_op(ins, &fs, "ember_store_slice", &[], false)?,
            Op::SetAdd => self.helper_op(ins, &fs, "ember_set_add", &[], false)?,
            Op::SetUpdate => self.helper_op(ins, &fs, "ember_set_update", &[], false)?,
            Op::MapAdd => self.helper_op(ins, &fs, "ember_map_add", &[], false)?,
            Op::DictUpdate => self.helper_op(ins, &fs, "ember_dict_update", &[Pre::Ts], false)?,
            Op::DictMerge => self.helper_op(ins, &fs, "ember_dict_merge", &[Pre::Ts], false)?,
            Op::CallIntrinsic1 => self.helper_op(ins, &fs, "ember_call_intrinsic_1", &[Pre::Ts], true)?,
            Op::CallIntrinsic2 => self.helper_op(ins, &fs, "ember_call_intrinsic_2", &[Pre::Ts], true)?,
            Op::CallFunctionEx => {
                let mut a: Vec<BasicValueEnum> = vec![self.ts.into()];
                for v in &ins.args {
                    a.push(self.val(*v)?.into());
                }
                if ins.args.len() == 3 {
                    a.push(ptr_null.into());
                }
                let r = self.call_ptr("ember_call_function_ex", &a)?;
                self.check_null(r, &fs)?;
                self.def(ins.results[0], r);
            }
            Op::LoadSuperAttr => {
                let a: Vec<BasicValueEnum> = vec![
                    self.ts.into(),
                    self.val(arg(0))?.into(),
                    self.val(arg(1))?.into(),
                    self.val(arg(2))?.into(),
                    self.konst(imm(0))?.into(),
                    self.i64c(imm(1)).into(),
                    self.self_slot.into(),
                ];
                let r = self.call_ptr("ember_load_super_attr", &a)?;
                self.check_null(r, &fs)?;
                self.def(ins.results[0], r);
                if let Some(s) = ins.results.get(1) {
                    let v = self.b.build_load(self.ptr_t(), self.self_slot, "self").map_err(llvm)?.into_pointer_value();
                    self.def(*s, v);
                }
            }
            Op::ImportName => self.helper_op(ins, &fs, "ember_import_name", &[Pre::Ts, Pre::Frame, Pre::Name], false)?,
            Op::ImportFrom => {
                // NULL without an exception: the error message needs interpreter internals,
                // so the interpreter re-executes IMPORT_FROM (the module is still on the stack).
                let r = self.call_ptr("ember_import_from", &[self.ts.into(), self.val(arg(0))?.into(), self.konst(imm(0))?.into()])?;
                let isnull = self.b.build_is_null(r, "isnull").map_err(llvm)?;
                let slow = self.new_block("import_from_failed");
                let ok = self.new_block("import_from_ok");
                self.b.build_conditional_branch(isnull, slow, ok).map_err(llvm)?;
                self.b.position_at_end(slow);
                let failed = self.err_occurred()?;
                let raise = self.exit_block(&fs, "ember_rt_raise")?;
                let deopt = self.exit_block(&fs, "ember_rt_deopt")?;
                self.b.build_conditional_branch(failed, raise, deopt).map_err(llvm)?;
                self.b.position_at_end(ok);
                self.def(ins.results[0], r);
            }
            Op::BeforeWith | Op::BeforeAsyncWith => {
                let name = if ins.op == Op::BeforeWith { "ember_before_with" } else { "ember_before_async_with" };
                let r = self.call_ptr(name, &[self.ts.into(), self.val(arg(0))?.into(), self.self_slot.into()])?;
                self.check_null(r, &fs)?;
                let exit = self.b.build_load(self.ptr_t(), self.self_slot, "exit").map_err(llvm)?.into_pointer_value();
                self.def(ins.results[0], exit);
                self.def(ins.results[1], r);
            }
            Op::DeleteAttr => self.helper_op(ins, &fs, "ember_delete_attr", &[Pre::Name], false)?,
            Op::DeleteGlobal => self.helper_op(ins, &fs, "ember_delete_global", &[Pre::Ts, Pre::Frame, Pre::Name], false)?,
            Op::LoadBuildClass => self.helper_op(ins, &fs, "ember_load_build_class", &[Pre::Ts, Pre::Frame], false)?,
            Op::MatchClass => self.helper_op(ins, &fs, "ember_match_class", &[Pre::Ts], true)?,
            Op::MatchMapping | Op::MatchSequence => {
                let name = if ins.op == Op::MatchMapping { "ember_match_mapping" } else { "ember_match_sequence" };
                let r = self.call_ptr(name, &[self.val(arg(0))?.into()])?;
                self.def(ins.results[0], r);
            }
            Op::MatchKeys => self.helper_op(ins, &fs, "ember_match_keys", &[Pre::Ts], false)?,
            Op::GetLen => self.helper_op(ins, &fs, "ember_get_len", &[], false)?,
            Op::UnpackStore => {
                let dst = self.local_slot(imm(1) as u64)?;
                let r = self.call("ember_unpack_store", &[self.val(arg(0))?.into(), self.i64c(imm(0)).into(), dst.into()])?;
                self.check_int(r, &fs)?;
            }
            Op::UnpackEx => {
                let out = self.stack_slot(fs.stack.len())?;
                let r = self.call("ember_unpack_ex", &[self.ts.into(), self.val(arg(0))?.into(), self.i64c(imm(0)).into(), out.into()])?;
                self.check_int(r, &fs)?;
                for (k, res) in ins.results.iter().enumerate() {
                    let slot = self.stack_slot(fs.stack.len() + k)?;
                    let v = self.b.build_load(self.ptr_t(), slot, "item").map_err(llvm)?.into_pointer_value();
                    self.def(*res, v);
                }
            }
            Op::Deopt => {
                let exit = self.exit_block(&fs, "ember_rt_deopt")?;
                self.b.build_unconditional_branch(exit).map_err(llvm)?;
            }
            Op::ReturnGenerator => {
                let r = self.call_ptr("ember_rt_return_generator", &[self.ts.into(), self.frame.into()])?;
                self.check_null(r, &fs)?;
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
                self.check_async_for(failed, &fs, ins.targets.get(2))?;
                let retval = self.b.build_load(self.ptr_t(), self.self_slot, "retval").map_err(llvm)?.into_pointer_value();
                self.def(ins.results[0], retval);
                let done = self.b.build_int_compare(IntPredicate::NE, r, zero, "returned").map_err(llvm)?;
                self.branch(done, &ins.targets[1], &ins.targets[0])?;
            }
            Op::EndSend => self.release(arg(0))?,
            Op::GetYieldFromIter => self.helper_op(ins, &fs, "ember_get_yield_from_iter", &[Pre::Ts, Pre::Frame], false)?,
            Op::GetAwaitable => self.helper_op(ins, &fs, "ember_get_awaitable", &[Pre::Ts], true)?,
            Op::GetAiter => self.helper_op(ins, &fs, "ember_get_aiter", &[Pre::Ts], false)?,
            Op::GuardType => {
                let v = self.val(arg(0))?;
                let r = self.call("ember_type_check", &[v.into(), self.i64c(imm(0)).into()])?.unwrap().into_int_value();
                let ok = self.b.build_int_compare(IntPredicate::NE, r, self.ctx.i32_type().const_zero(), "is").map_err(llvm)?;
                self.guard(ok, &fs)?;
                self.def(ins.results[0], v);
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
                        self.guard(ok, &fs)?;
                        let x2 = self.b.build_load(i64t, self.i64_slot, "big").map_err(llvm)?.into_int_value();
                        let slow_end = self.b.get_insert_block().unwrap();
                        self.b.build_unconditional_branch(done).map_err(llvm)?;
                        self.b.position_at_end(done);
                        let phi = self.b.build_phi(i64t, "int").map_err(llvm)?;
                        phi.add_incoming(&[(&x1, fast_end), (&x2, slow_end)]);
                        phi.as_basic_value()
                    }
                    Type::Bool => {
                        let vi = self.b.build_ptr_to_int(v, self.ctx.i64_type(), "b").map_err(llvm)?;
                        self.b.build_int_compare(IntPredicate::EQ, vi, self.bound(self.f.layout.true_)?, "truth").map_err(llvm)?.into()
                    }
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
                    self.check_null(r, &fs)?;
                }
                self.def(ins.results[0], r);
            }
            Op::FloatBinOp => {
                let a = self.val_any(arg(0))?.into_float_value();
                let b = self.val_any(arg(1))?.into_float_value();
                let r = match Arith::from_imm(imm(0)).ok_or_else(unsupported)? {
                    Arith::Add => self.b.build_float_add(a, b, "fadd"),
                    Arith::Subtract => self.b.build_float_sub(a, b, "fsub"),
                    Arith::Multiply => self.b.build_float_mul(a, b, "fmul"),
                    Arith::TrueDivide => {
                        let zero = self.ctx.f64_type().const_zero();
                        let ok = self.b.build_float_compare(FloatPredicate::UNE, b, zero, "nonzero").map_err(llvm)?;
                        self.guard(ok, &fs)?;
                        self.b.build_float_div(a, b, "fdiv")
                    }
                    Arith::Power => return self.float_pow(ins, a, b, &fs),
                    _ => return Err(unsupported()),
                }
                .map_err(llvm)?;
                self.def(ins.results[0], r);
            }
            Op::IntBinOp => {
                let a = self.val_any(arg(0))?;
                let b = self.val_any(arg(1))?;
                let name = match Arith::from_imm(imm(0)).ok_or_else(unsupported)? {
                    Arith::Add => "llvm.sadd.with.overflow",
                    Arith::Subtract => "llvm.ssub.with.overflow",
                    Arith::Multiply => "llvm.smul.with.overflow",
                    k => return self.int_arith(ins, k, a.into_int_value(), b.into_int_value(), &fs),
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
                self.guard(ok, &fs)?;
                self.def(ins.results[0], r);
            }
            Op::UnboxNumber => {
                let (x, _, ok) = self.number_of(self.val(arg(0))?)?;
                self.guard(ok, &fs)?;
                self.def(ins.results[0], x);
            }
            Op::UnboxNumbers => {
                let (x, xi, xok) = self.number_of(self.val(arg(0))?)?;
                let (y, yi, yok) = self.number_of(self.val(arg(1))?)?;
                let both_int = self.b.build_and(xi, yi, "both_int").map_err(llvm)?;
                let not_both = self.b.build_not(both_int, "not_both").map_err(llvm)?;
                let ok = self.b.build_and(xok, yok, "ok").map_err(llvm)?;
                let ok = self.b.build_and(ok, not_both, "ok").map_err(llvm)?;
                self.guard(ok, &fs)?;
                self.def(ins.results[0], x);
                self.def(ins.results[1], y);
            }
            Op::IntToFloat => {
                let x = self.val_any(arg(0))?.into_int_value();
                let d = self.b.build_signed_int_to_float(x, self.ctx.f64_type(), "itof").map_err(llvm)?;
                self.def(ins.results[0], d);
            }
            Op::FloatCompare => {
                let a = self.val_any(arg(0))?.into_float_value();
                let b = self.val_any(arg(1))?.into_float_value();
                let pred = match Cmp::from_imm(imm(0)).ok_or_else(unsupported)? {
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
            Op::IntCompare => {
                let a = self.val_any(arg(0))?.into_int_value();
                let b = self.val_any(arg(1))?.into_int_value();
                let pred = match Cmp::from_imm(imm(0)).ok_or_else(unsupported)? {
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
            Op::GetAnext => {
                let r = self.call_ptr("ember_get_anext", &[self.ts.into(), self.val(arg(0))?.into()])?;
                let failed = self.b.build_is_null(r, "failed").map_err(llvm)?;
                self.check_async_for(failed, &fs, ins.targets.get(1))?;
                self.def(ins.results[0], r);
                self.jump(&ins.targets[0])?;
            }
        }
        Ok(())
    }

    fn is_immortal_singleton(&self, addr: u64) -> bool {
        let l = &self.f.layout;
        l.immortal_singletons && (addr == l.none || addr == l.true_ || addr == l.false_)
    }
}
