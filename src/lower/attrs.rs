//! Lowering of name lookups: globals, attributes, methods, `super()` attributes and imports.
//!
//! Ops: `LoadGlobal`, `StoreGlobal`, `DeleteGlobal`, `LoadAttr`, `LoadAttrBorrow`
//! (`passes::borrow`'s borrowed read of a slot, inline value or dict entry, deopting on a miss), `LoadMethod`, `StoreAttr`,
//! `StoreAttrFloat` (`passes::store_float`'s store of a double into a slot), `InitStore`
//! (`passes::inline_init`'s store into a new instance), `DeleteAttr`, `LoadSuperAttr`, `LoadBuildClass`, `ImportName`, `ImportFrom`. They mirror
//! CPython's LOAD_GLOBAL (and LOAD_GLOBAL_MODULE, _BUILTIN), STORE_GLOBAL, DELETE_GLOBAL,
//! LOAD_ATTR (with the low oparg bit clear: the attribute forms, `LoadAttr`; set: the method
//! forms, `LoadMethod`), STORE_ATTR, DELETE_ATTR, LOAD_SUPER_ATTR, LOAD_BUILD_CLASS, IMPORT_NAME
//! and IMPORT_FROM. Attribute sites use self-specialising inline caches ([`Lower::attr_ic`]).

use inkwell::context::ContextRef;
use inkwell::module::Linkage;
use inkwell::types::StructType;
use inkwell::values::{BasicValueEnum, PointerValue};
use inkwell::AddressSpace;

use super::{llvm, Lower, Pre};
use crate::error::EmberError;
use crate::hir::imms::{
    InitStoreImms, LoadAttrBorrowImms, LoadAttrImms, LoadGlobalImms, LoadMethodImms, StoreAttrFloatImms, StoreAttrImms,
};
use crate::hir::op::{AttrSpec, GlobalSpec, MethodSpec, StoreAttrSpec};
use crate::hir::{FrameState, Instr, Op};
use crate::ic::{EMBER_IC_EMPTY, EMBER_IC_WAYS};

/// The LLVM type of an attribute inline cache, [`AttrIc`](crate::ic::AttrIc) field by field:
/// [`EMBER_IC_WAYS`] entries ([`IcEntry`](crate::ic::IcEntry): `{version, kind, index,
/// keys_version, descr, owner_type, hint, unused}`, the descriptor and the type pointers, the
/// rest `i32`), then
/// `{misses, victim}`. `tests/contract.rs` checks that its size and field offsets are those of
/// the Rust (hence the C) definition on x86-64 and AArch64.
pub fn attr_ic_type(ctx: ContextRef<'_>) -> StructType<'_> {
    let i32t = ctx.i32_type();
    let ptr_t = ctx.ptr_type(AddressSpace::default());
    let entry_t =
        ctx.struct_type(&[i32t.into(), i32t.into(), i32t.into(), i32t.into(), ptr_t.into(), ptr_t.into(), i32t.into(), i32t.into()], false);
    ctx.struct_type(&[entry_t.array_type(EMBER_IC_WAYS as u32).into(), i32t.into(), i32t.into()], false)
}

impl<'ctx> Lower<'ctx, '_> {
    /// Globals, attributes, methods and imports (see the module doc).
    pub(super) fn lower_attrs(&mut self, ins: &Instr, fs: &FrameState) -> Result<(), EmberError> {
        let imm = |k: usize| ins.imms[k];
        let arg = |k: usize| ins.args[k];
        let unsupported = || super::unsupported(ins);
        match ins.op {
            Op::LoadGlobal => {
                let g = LoadGlobalImms::of(ins).ok_or_else(unsupported)?;
                let base: Vec<BasicValueEnum> = vec![self.ts.into(), self.frame.into(), self.konst(g.name)?.into()];
                let r = match g.spec {
                    GlobalSpec::Generic => self.call_ptr("ember_load_global", &base)?,
                    GlobalSpec::Module => self.call_ptr(
                        "ember_load_global_module",
                        &[base[0], base[1], base[2], self.bound_imm(g.globals_version)?.into(), self.i64c(g.index).into()],
                    )?,
                    GlobalSpec::Builtin => self.call_ptr(
                        "ember_load_global_builtin",
                        &[
                            base[0],
                            base[1],
                            base[2],
                            self.bound_imm(g.globals_version)?.into(),
                            self.bound_imm(g.builtins_version)?.into(),
                            self.i64c(g.index).into(),
                        ],
                    )?,
                };
                self.check_null(r, fs)?;
                self.def(ins.results[0], r);
            }
            Op::StoreGlobal => {
                let r = self.call(
                    "ember_store_global",
                    &[self.ts.into(), self.frame.into(), self.konst(imm(0))?.into(), self.val(arg(0))?.into()],
                )?;
                self.check_int(r, fs)?;
            }
            Op::LoadAttr => {
                let at = LoadAttrImms::of(ins).ok_or_else(unsupported)?;
                let base: [BasicValueEnum; 3] = [self.ts.into(), self.val(arg(0))?.into(), self.konst(at.name)?.into()];
                let (a, b2) = (self.bound_imm(at.version)?.into(), self.i64c(at.index).into());
                // A borrowed owner (passes::borrow) goes to the helpers that leave its reference.
                let borrowed = self.borrowed.contains(&arg(0));
                let r = match at.spec {
                    AttrSpec::Generic | AttrSpec::InstanceValue | AttrSpec::WithHint | AttrSpec::Class if !self.inline_helpers => {
                        let ic = self.attr_ic();
                        let name = if borrowed { "ember_load_attr_ic_borrowed" } else { "ember_load_attr_ic" };
                        self.call_ptr(name, &[base[0], base[1], base[2], ic.into()])?
                    }
                    AttrSpec::Generic => {
                        let ic = self.attr_ic();
                        let name = if borrowed { "ember_load_attr_ic_borrowed" } else { "ember_load_attr_ic" };
                        self.call_ptr(name, &[base[0], base[1], base[2], ic.into()])?
                    }
                    // LOAD_ATTR_INSTANCE_VALUE, with the helper bitcode linked: the profile's
                    // type version and index as constants, then the cache.
                    AttrSpec::InstanceValue => {
                        let ic = self.attr_ic();
                        let name = if borrowed { "ember_load_attr_iv_borrowed" } else { "ember_load_attr_iv" };
                        self.call_ptr(name, &[base[0], base[1], base[2], ic.into(), a, b2])?
                    }
                    // LOAD_ATTR_WITH_HINT, with the helper bitcode linked: entry 0's dict-hint form
                    // is the inlined test; objects whose values are still inline are answered by
                    // the same cache after it.
                    AttrSpec::WithHint => {
                        let ic = self.attr_ic();
                        let name = if borrowed { "ember_load_attr_ic_hint_borrowed" } else { "ember_load_attr_ic_hint" };
                        self.call_ptr(name, &[base[0], base[1], base[2], ic.into()])?
                    }
                    // LOAD_ATTR_CLASS, with the helper bitcode linked: the class's version and the
                    // attribute's value as constants, then the cache.
                    AttrSpec::Class => {
                        let ic = self.attr_ic();
                        let value = self.bound_ptr(at.object.max(0) as u64)?.into();
                        let name = if borrowed { "ember_load_attr_class_borrowed" } else { "ember_load_attr_class" };
                        self.call_ptr(name, &[base[0], base[1], base[2], ic.into(), a, value])?
                    }
                    AttrSpec::Slot => {
                        let name = if borrowed { "ember_load_attr_slot_borrowed" } else { "ember_load_attr_slot" };
                        self.call_ptr(name, &[base[0], base[1], base[2], a, b2])?
                    }
                    AttrSpec::Module => self.call_ptr("ember_load_attr_module", &[base[0], base[1], base[2], a, b2])?,
                };
                self.check_null(r, fs)?;
                self.def(ins.results[0], r);
            }
            Op::LoadAttrBorrow => {
                // The attribute borrowed from its (borrowed) owner; where neither the
                // interpreter's form nor the site's cache can read it, a deopt to the LOAD_ATTR
                // with the owner pushed back.
                let at = LoadAttrBorrowImms::of(ins).ok_or_else(unsupported)?;
                if !matches!(at.spec, AttrSpec::Slot | AttrSpec::InstanceValue | AttrSpec::WithHint) {
                    return Err(unsupported());
                }
                let (spec, index) = (self.i64c(at.spec as i64).into(), self.i64c(at.index).into());
                let (owner, name) = (self.val(arg(0))?.into(), self.konst(at.name)?.into());
                let version = self.bound_imm(at.version)?.into();
                // In an inlined method body only the profile's type version answers: the body's
                // stores, made later, rely on it (passes::inline_method).
                let r = if fs.inlined.is_some() {
                    self.call_ptr("ember_peek_attr_exact", &[owner, name, spec, version, index])?
                } else {
                    let ic = self.attr_ic().into();
                    self.call_ptr("ember_peek_attr", &[owner, name, spec, version, index, ic])?
                };
                let ok = self.b.build_is_not_null(r, "peeked").map_err(llvm)?;
                // In an inlined method body (passes::inline_method) the deopt goes to the call:
                // the owner is the call's own operand, already on the state's stack.
                let mut at_load = fs.clone();
                if fs.inlined.is_none() {
                    at_load.stack.push(arg(0));
                }
                self.guard(ok, &at_load)?;
                self.def(ins.results[0], r);
            }
            Op::LoadMethod => {
                // Every form goes through the self-specialising cache, which starts empty; with
                // the helper bitcode linked, LOAD_ATTR_METHOD_WITH_VALUES, _NO_DICT and _LAZY_DICT
                // test the profile's type version (and keys version) first, with its method as a
                // bound value.
                let m = LoadMethodImms::of(ins).ok_or_else(unsupported)?;
                let base: [BasicValueEnum; 3] = [self.ts.into(), self.val(arg(0))?.into(), self.konst(m.name)?.into()];
                let slot = self.self_slot.into();
                let ic = self.attr_ic();
                let r = match m.spec {
                    MethodSpec::WithValues if self.inline_helpers && m.descr > 0 => {
                        let (v, kv) = (self.bound_imm(m.type_version)?.into(), self.bound_imm(m.keys_version)?.into());
                        let d = self.bound_ptr(m.descr as u64)?.into();
                        self.call_ptr("ember_load_method_wv", &[base[0], base[1], base[2], ic.into(), slot, v, kv, d])?
                    }
                    MethodSpec::NoDict | MethodSpec::LazyDict if self.inline_helpers && m.descr > 0 => {
                        let v = self.bound_imm(m.type_version)?.into();
                        let d = self.bound_ptr(m.descr as u64)?.into();
                        let name = if m.spec == MethodSpec::NoDict { "ember_load_method_nd" } else { "ember_load_method_ld" };
                        self.call_ptr(name, &[base[0], base[1], base[2], ic.into(), slot, v, d])?
                    }
                    _ => self.call_ptr("ember_load_method_ic", &[base[0], base[1], base[2], ic.into(), slot])?,
                };
                self.check_null(r, fs)?;
                let s = self.b.build_load(self.ptr_t(), self.self_slot, "self").map_err(llvm)?.into_pointer_value();
                self.def(ins.results[0], r);
                self.def(ins.results[1], s);
            }
            Op::StoreAttr => {
                let st = StoreAttrImms::of(ins).ok_or_else(unsupported)?;
                let (v, owner) = (self.val(arg(0))?.into(), self.val(arg(1))?.into());
                let base: [BasicValueEnum; 4] = [self.ts.into(), owner, self.konst(st.name)?.into(), v];
                let (a, b2) = (self.bound_imm(st.version)?.into(), self.i64c(st.index).into());
                let borrowed = self.borrowed.contains(&arg(1));
                let r = match st.spec {
                    // STORE_ATTR_INSTANCE_VALUE, with the helper bitcode linked: the profile's
                    // type version and index as constants, then the cache.
                    StoreAttrSpec::InstanceValue if self.inline_helpers => {
                        let ic = self.attr_ic();
                        let name = if borrowed { "ember_store_attr_iv_borrowed" } else { "ember_store_attr_iv" };
                        self.call(name, &[base[0], base[1], base[2], base[3], ic.into(), a, b2])?
                    }
                    StoreAttrSpec::Generic | StoreAttrSpec::InstanceValue | StoreAttrSpec::WithHint => {
                        let ic = self.attr_ic();
                        let name = if borrowed { "ember_store_attr_ic_borrowed" } else { "ember_store_attr_ic" };
                        self.call(name, &[base[0], base[1], base[2], base[3], ic.into()])?
                    }
                    StoreAttrSpec::Slot => {
                        let name = if borrowed { "ember_store_attr_slot_borrowed" } else { "ember_store_attr_slot" };
                        self.call(name, &[base[0], base[1], base[2], base[3], a, b2])?
                    }
                };
                self.check_int(r, fs)?;
            }
            Op::StoreAttrFloat => {
                // STORE_ATTR_SLOT of a double, in place when the slot's float allows it.
                let st = StoreAttrFloatImms::of(ins).filter(|s| s.spec == StoreAttrSpec::Slot).ok_or_else(unsupported)?;
                let borrowed = self.borrowed.contains(&arg(1));
                let a = [
                    self.ts.into(),
                    self.val(arg(1))?.into(),
                    self.konst(st.name)?.into(),
                    self.val_any(arg(0))?,
                    self.bound_imm(st.version)?.into(),
                    self.i64c(st.index).into(),
                    self.i64c(borrowed as i64).into(),
                ];
                let r = self.call("ember_store_attr_slot_float", &a)?;
                self.check_int(r, fs)?;
            }
            Op::InitStore => {
                let m = InitStoreImms::of(ins).ok_or_else(unsupported)?;
                let (obj, v) = (self.val(arg(0))?.into(), self.val(arg(1))?.into());
                let ran = self.val_any(arg(2))?.into_int_value();
                let ran = self.b.build_int_z_extend(ran, self.i64c(0).get_type(), "initialised").map_err(llvm)?;
                self.call("ember_init_store", &[obj, self.i64c(m.spec as i64).into(), self.i64c(m.index).into(), v, ran.into()])?;
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
                self.check_null(r, fs)?;
                self.def(ins.results[0], r);
                if let Some(s) = ins.results.get(1) {
                    let v = self.b.build_load(self.ptr_t(), self.self_slot, "self").map_err(llvm)?.into_pointer_value();
                    self.def(*s, v);
                }
            }
            Op::ImportName => self.helper_op(ins, fs, "ember_import_name", &[Pre::Ts, Pre::Frame, Pre::Name], false)?,
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
                let raise = self.exit_block(fs, "ember_rt_raise")?;
                let deopt = self.exit_block(fs, "ember_rt_deopt")?;
                self.b.build_conditional_branch(failed, raise, deopt).map_err(llvm)?;
                self.b.position_at_end(ok);
                self.def(ins.results[0], r);
            }
            Op::DeleteAttr => self.helper_op(ins, fs, "ember_delete_attr", &[Pre::Name], false)?,
            Op::DeleteGlobal => self.helper_op(ins, fs, "ember_delete_global", &[Pre::Ts, Pre::Frame, Pre::Name], false)?,
            Op::LoadBuildClass => self.helper_op(ins, fs, "ember_load_build_class", &[Pre::Ts, Pre::Frame], false)?,
            _ => return Err(unsupported()),
        }
        Ok(())
    }

    /// A new, empty attribute inline cache ([`AttrIc`](crate::ic::AttrIc), `EmberAttrIC` in C,
    /// 168 bytes on 64-bit targets; type [`attr_ic_type`]) in the module's data; its first
    /// lookups specialise it (`runtime_ic.c`). It is not seeded from the interpreter's profile:
    /// the type versions and descriptor addresses that profile holds are process-specific, and
    /// compiled code must not carry any (see [`crate::hir::bind`]). The cost is one miss per
    /// site and process.
    pub(super) fn attr_ic(&self) -> PointerValue<'ctx> {
        let ty = attr_ic_type(self.ctx);
        let entry_t = ty.get_field_type_at_index(0).unwrap().into_array_type().get_element_type().into_struct_type();
        let i32t = self.ctx.i32_type();
        let z: BasicValueEnum = i32t.const_zero().into();
        // An empty entry: version EMBER_IC_EMPTY, kind 0 (EMBER_IC_NONE), everything else 0.
        let null = self.ptr_t().const_null().into();
        let fields = [i32t.const_int(EMBER_IC_EMPTY.into(), false).into(), z, z, z, null, null, z, z];
        let empty = entry_t.const_named_struct(&fields);
        let entries = vec![empty; EMBER_IC_WAYS];
        // No misses yet; the first entry to replace when all are taken is 1 (entry 0 is the
        // inlined one, replaced only while empty).
        let init = ty.const_named_struct(&[entry_t.const_array(&entries).into(), z, i32t.const_int(1, false).into()]);
        let g = self.m.add_global(ty, None, "ember_ic");
        g.set_linkage(Linkage::Private);
        g.set_initializer(&init);
        g.set_alignment(8);
        g.as_pointer_value()
    }
}
