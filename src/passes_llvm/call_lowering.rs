//! The call-site lowering pass: rewrites every call to an external function (a runtime helper)
//! as the [`Policy`] says for the target and the call site's hotness.
//!
//! - [`Lowering::Named`]: left as is (`call @helper`).
//! - [`Lowering::Got`]: the declaration gets `nonlazybind`, so the call goes through the GOT.
//! - [`Lowering::Table`]: the callee is loaded from `@__ember_targets`, a private,
//!   externally-initialised table of the module's distinct targets (one 8 B slot each, filled
//!   by the linker with data relocations, so no stubs), then called indirectly.
//! - [`Lowering::Absolute`]: the callee becomes `inttoptr (i64 addr)`; helpers without a known
//!   address stay named.
//!
//! Hotness: a call site is cold when it is marked `cold`, calls a helper the ABI marks cold
//! ([`crate::lower::helpers::HelperSig::cold`]), or sits in a block with such a call (the
//! error and deopt exits). Runs after the IR pipeline so the optimiser cannot fold it back.

use std::collections::HashMap;
use std::ffi::CStr;

use inkwell::module::Module;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMLinkage;

use super::policy::{Lowering, Policy, Target};
use super::{called_function, calls_in, fn_name, is_cold_call};
use crate::error::EmberError;

/// What the pass did, for tests and reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoweringStats {
    /// Call sites seen that call an external function.
    pub sites: usize,
    /// Of those, call sites treated as cold.
    pub cold_sites: usize,
    /// Call sites per lowering actually applied.
    pub by_lowering: Vec<(Lowering, usize)>,
    /// Slots in the module's target table (0 without [`Lowering::Table`]).
    pub table_slots: usize,
}

/// Name of the per-module target table.
///
/// cbindgen:ignore
pub const TABLE_SYMBOL: &str = "__ember_targets";

/// Applies `policy` for `target` to every helper call in `m`. `addrs` maps helper names to
/// addresses for [`Lowering::Absolute`] (names missing from it stay named).
///
/// Errors: [`EmberError::Llvm`] if the module already defines [`TABLE_SYMBOL`].
pub fn run(m: &Module, target: Target, policy: Policy, addrs: &HashMap<String, u64>) -> Result<LoweringStats, EmberError> {
    let (hot, cold) = policy.hot_cold(target);
    let mut stats = LoweringStats::default();
    let mut counts: HashMap<Lowering, usize> = HashMap::new();
    let mut table: Vec<LLVMValueRef> = vec![];
    let mut table_sites: Vec<(LLVMValueRef, usize)> = vec![];
    unsafe {
        let mr = m.as_mut_ptr();
        let tname = std::ffi::CString::new(TABLE_SYMBOL).unwrap();
        if !LLVMGetNamedGlobal(mr, tname.as_ptr()).is_null() {
            return Err(EmberError::Llvm(format!("module already defines {TABLE_SYMBOL}")));
        }
        let ctx = LLVMGetModuleContext(mr);
        let i64t = LLVMInt64TypeInContext(ctx);
        let ptrt = LLVMPointerTypeInContext(ctx, 0);
        let mut f = LLVMGetFirstFunction(mr);
        while !f.is_null() {
            for call in calls_in(f) {
                let Some(callee) = called_function(call) else { continue };
                if LLVMIsDeclaration(callee) == 0 || fn_name(callee).starts_with("llvm.") {
                    continue;
                }
                stats.sites += 1;
                let is_cold = is_cold_call(call);
                if is_cold {
                    stats.cold_sites += 1;
                }
                let mut how = if is_cold { cold } else { hot };
                if how == Lowering::Absolute && !addrs.contains_key(fn_name(callee)) {
                    how = Lowering::Named;
                }
                *counts.entry(how).or_default() += 1;
                let callee_idx = LLVMGetNumOperands(call) as u32 - 1;
                match how {
                    Lowering::Named => {}
                    Lowering::Got => {
                        let kind = LLVMGetEnumAttributeKindForName(c"nonlazybind".as_ptr(), 11);
                        let attr = LLVMCreateEnumAttribute(ctx, kind, 0);
                        LLVMAddAttributeAtIndex(callee, llvm_sys::LLVMAttributeFunctionIndex, attr);
                    }
                    Lowering::Absolute => {
                        let addr = addrs[fn_name(callee)];
                        let c = LLVMConstIntToPtr(LLVMConstInt(i64t, addr, 0), ptrt);
                        LLVMSetOperand(call, callee_idx, c);
                    }
                    Lowering::Table => {
                        let slot = match table.iter().position(|&t| t == callee) {
                            Some(s) => s,
                            None => {
                                table.push(callee);
                                table.len() - 1
                            }
                        };
                        table_sites.push((call, slot));
                    }
                }
            }
            f = LLVMGetNextFunction(f);
        }
        if !table.is_empty() {
            let arr_t = LLVMArrayType2(ptrt, table.len() as u64);
            let g = LLVMAddGlobal(mr, arr_t, tname.as_ptr());
            LLVMSetInitializer(g, LLVMConstArray2(ptrt, table.as_mut_ptr(), table.len() as u64));
            LLVMSetLinkage(g, LLVMLinkage::LLVMPrivateLinkage);
            // Mutable and externally initialised: the optimiser may not fold a load of a slot
            // back into a direct call.
            LLVMSetExternallyInitialized(g, 1);
            LLVMSetAlignment(g, 8);
            let b = LLVMCreateBuilderInContext(ctx);
            let zero = LLVMConstInt(i64t, 0, 0);
            for (call, slot) in &table_sites {
                LLVMPositionBuilderBefore(b, *call);
                let mut idx = [zero, LLVMConstInt(i64t, *slot as u64, 0)];
                let gep = LLVMConstInBoundsGEP2(arr_t, g, idx.as_mut_ptr(), 2);
                let ld = LLVMBuildLoad2(b, ptrt, gep, c"target".as_ptr());
                LLVMSetOperand(*call, LLVMGetNumOperands(*call) as u32 - 1, ld);
            }
            LLVMDisposeBuilder(b);
        }
        // Declarations no longer called (all sites absolute) are dropped.
        let mut f = LLVMGetFirstFunction(mr);
        while !f.is_null() {
            let next = LLVMGetNextFunction(f);
            if LLVMIsDeclaration(f) != 0
                && LLVMGetFirstUse(f).is_null()
                && !CStr::from_ptr(LLVMGetValueName2(f, &mut 0)).to_bytes().starts_with(b"llvm.")
            {
                LLVMDeleteFunction(f);
            }
            f = next;
        }
    }
    stats.table_slots = table.len();
    let mut by: Vec<(Lowering, usize)> = counts.into_iter().collect();
    by.sort_by_key(|(l, _)| *l as u8);
    stats.by_lowering = by;
    Ok(stats)
}
