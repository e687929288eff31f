//! Ember's own LLVM passes over a lowered module: how runtime-helper calls are reached and
//! which registers they may clobber, per target. One pass per file:
//!
//! - [`cold_exits`]: shares the raise/deopt exits of a function (one cold call per runtime
//!   entry, reached by a branch that only sets the differing arguments).
//! - [`call_lowering`]: named symbol / GOT / per-module table / absolute address, per call
//!   site, by target and hotness ([`policy`] is the table).
//! - [`preserve_most`]: cold helpers called with `preserve_mostcc`, when the runtime built
//!   them so (clang-19 `__attribute__((preserve_most))`).
//! - [`call_chain`]: on x86-64, a call whose first argument is the previous call's result uses
//!   the helper's `regcall` entry, whose first argument register is the result register.
//!
//! [`run_early`] applies [`cold_exits`] to the freshly lowered module (before the IR pipeline,
//! which would otherwise merge the exits' returns first and leave a call sequence per exit);
//! [`run`] applies the others, in the order listed, after the IR pipeline and before code
//! generation (so the optimiser cannot fold them back).

pub mod call_chain;
pub mod call_lowering;
pub mod cold_exits;
pub mod policy;
pub mod preserve_most;

use std::collections::HashMap;
use std::ffi::CStr;

use inkwell::module::Module;
use llvm_sys::core::*;
use llvm_sys::prelude::*;

use crate::error::EmberError;
pub use policy::{Lowering, Policy, Target};

/// Which of Ember's LLVM passes run, and with what policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Call-site lowering policy.
    pub policy: Policy,
    /// Share raise/deopt exits ([`cold_exits`]).
    pub share_exits: bool,
    /// Call cold helpers with `preserve_mostcc` ([`preserve_most`]). Only correct when the
    /// runtime's cold helpers are compiled with `__attribute__((preserve_most))`.
    pub preserve_most: bool,
    /// Use `regcall` helper entries for call chains on x86-64 ([`call_chain`]). Only correct
    /// when the runtime provides `__regcall3__<helper>` entries.
    pub call_chain: bool,
}

impl Default for Options {
    /// Target-neutral defaults for code whose runtime is a plain C ABI (the CPython shim, built
    /// by gcc): the target's policy, shared exits, no special calling conventions. Prefer
    /// [`Options::for_target`].
    fn default() -> Self {
        Options { policy: Policy::Auto, share_exits: true, preserve_most: false, call_chain: false }
    }
}

impl Options {
    /// The defaults for `target`: [`Policy::Auto`], exits shared where
    /// [`Target::shares_exits`] says so, no special calling conventions.
    pub fn for_target(target: Target) -> Options {
        Options { share_exits: target.shares_exits(), ..Options::default() }
    }

    /// The options of the host JIT ([`crate::compile::Compiler`]) on `target`:
    /// [`Options::for_target`], with `policy` instead of [`Policy::Auto`] when given (the
    /// host's `EMBER_CALL_POLICY`, for measurements; [`crate::ffi::EmberConfig::call_policy`]).
    pub fn for_host_jit(target: Target, policy: Option<Policy>) -> Options {
        Options { policy: policy.unwrap_or(Policy::Auto), ..Options::for_target(target) }
    }
}

/// What the passes did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Exit blocks folded into shared ones.
    pub exits_shared: usize,
    /// Call-site lowering counts.
    pub lowering: call_lowering::LoweringStats,
    /// Call sites switched to `preserve_mostcc`.
    pub preserve_most_sites: usize,
    /// Call sites switched to a `regcall` chain entry.
    pub chain_sites: usize,
}

/// Runs Ember's LLVM passes on `m` for `target`. `addrs` gives helper addresses for
/// [`Lowering::Absolute`].
///
/// Errors: [`EmberError::Llvm`] when a pass meets IR it cannot handle or the result fails
/// LLVM's verifier.
pub fn run(m: &Module, target: Target, opts: &Options, addrs: &HashMap<String, u64>) -> Result<Stats, EmberError> {
    let mut st = Stats::default();
    if opts.preserve_most {
        st.preserve_most_sites = preserve_most::run(m)?;
    }
    if opts.call_chain && target == Target::X86_64 {
        st.chain_sites = call_chain::run(m)?;
    }
    st.lowering = call_lowering::run(m, target, opts.policy, addrs)?;
    m.verify().map_err(|e| EmberError::Llvm(format!("after Ember's LLVM passes: {e}")))?;
    Ok(st)
}

/// Runs the passes that must see the module before the IR pipeline ([`cold_exits`]); returns
/// the number of exits shared.
///
/// Errors: [`EmberError::Llvm`] when the result fails LLVM's verifier.
pub fn run_early(m: &Module, opts: &Options) -> Result<usize, EmberError> {
    if !opts.share_exits {
        return Ok(0);
    }
    let n = cold_exits::run(m)?;
    m.verify().map_err(|e| EmberError::Llvm(format!("after sharing exits: {e}")))?;
    Ok(n)
}

/// Deterministic stand-in helper addresses for objects compiled without a process: helper
/// `k` of [`crate::lower::helpers::HELPERS`] sits at `SYNTHETIC_BASE + 0x40 * k` (clustered,
/// as in one shared library). The qemu harness maps trampolines at exactly these addresses.
pub fn synthetic_addresses() -> HashMap<String, u64> {
    crate::lower::helpers::HELPERS.iter().enumerate().map(|(k, h)| (h.name.to_string(), SYNTHETIC_BASE + 0x40 * k as u64)).collect()
}

/// Base of [`synthetic_addresses`] (a 47-bit user-space address).
///
/// cbindgen:ignore
pub const SYNTHETIC_BASE: u64 = 0x7f3a_1234_0000;

/// The call instructions of function `f` (empty for a declaration).
pub(crate) fn calls_in(f: LLVMValueRef) -> Vec<LLVMValueRef> {
    let mut out = vec![];
    unsafe {
        let mut bb = LLVMGetFirstBasicBlock(f);
        while !bb.is_null() {
            let mut i = LLVMGetFirstInstruction(bb);
            while !i.is_null() {
                if !LLVMIsACallInst(i).is_null() {
                    out.push(i);
                }
                i = LLVMGetNextInstruction(i);
            }
            bb = LLVMGetNextBasicBlock(bb);
        }
    }
    out
}

/// The function a call instruction calls directly, if any.
pub(crate) fn called_function(call: LLVMValueRef) -> Option<LLVMValueRef> {
    unsafe {
        let c = LLVMGetCalledValue(call);
        if c.is_null() || LLVMIsAFunction(c).is_null() {
            None
        } else {
            Some(c)
        }
    }
}

/// A function's name ("" when it has none or it is not UTF-8).
pub(crate) fn fn_name<'a>(f: LLVMValueRef) -> &'a str {
    unsafe {
        let mut len = 0;
        let p = LLVMGetValueName2(f, &mut len);
        if p.is_null() {
            return "";
        }
        CStr::from_ptr(p).to_str().unwrap_or("")
    }
}

fn has_cold_attr(call: LLVMValueRef) -> bool {
    unsafe {
        let kind = LLVMGetEnumAttributeKindForName(c"cold".as_ptr(), 4);
        !LLVMGetCallSiteEnumAttribute(call, llvm_sys::LLVMAttributeFunctionIndex, kind).is_null()
    }
}

/// True for a call to a helper the ABI marks cold, or a call carrying the `cold` attribute.
pub(crate) fn is_cold_callee_or_site(call: LLVMValueRef) -> bool {
    if has_cold_attr(call) {
        return true;
    }
    called_function(call).and_then(|f| crate::lower::helpers::find(fn_name(f))).is_some_and(|h| h.cold)
}

/// True when `call` is on a cold path: it is cold itself or shares its block with a cold call
/// (error and deopt exits).
pub(crate) fn is_cold_call(call: LLVMValueRef) -> bool {
    if is_cold_callee_or_site(call) {
        return true;
    }
    unsafe {
        let bb = LLVMGetInstructionParent(call);
        let mut i = LLVMGetFirstInstruction(bb);
        while !i.is_null() {
            if !LLVMIsACallInst(i).is_null() && is_cold_callee_or_site(i) {
                return true;
            }
            i = LLVMGetNextInstruction(i);
        }
    }
    false
}
