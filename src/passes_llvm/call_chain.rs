//! Call chains without moves on x86-64.
//!
//! When a helper call's first argument is the result of the previous helper call (`v2 =
//! h(v1)`, `v1 = g(v0)`), the C convention needs `mov %rax, %rdi` on x86-64 (the result and
//! the first argument live in different registers); on AArch64 both are `x0`, so chains are
//! already free there and this pass is not run. The pass redirects such calls to the helper's
//! `regcall` entry (`__regcall3__<name>`, what clang-19 emits for `__attribute__((regcall))`),
//! whose first integer argument register is `%rax`, the result register. Correct only when the
//! runtime provides those entries (the qemu harness's runtime does); opt-in through
//! [`crate::passes_llvm::Options::call_chain`].

use std::ffi::CString;

use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMCallConv;

use super::{called_function, calls_in, fn_name};
use crate::error::EmberError;

/// LLVM's `x86_regcallcc` calling-convention number.
///
/// cbindgen:ignore
pub const REGCALL_CC: u32 = LLVMCallConv::LLVMX86RegCallCallConv as u32;

/// Symbol prefix clang gives `regcall` functions.
///
/// cbindgen:ignore
pub const REGCALL_PREFIX: &str = "__regcall3__";

/// True when `v` is the result of a direct call to an external helper.
unsafe fn is_helper_result(v: LLVMValueRef) -> bool {
    if LLVMIsACallInst(v).is_null() {
        return false;
    }
    called_function(v).is_some_and(|f| {
        let name = fn_name(f);
        LLVMIsDeclaration(f) != 0 && crate::lower::helpers::find(name.strip_prefix(REGCALL_PREFIX).unwrap_or(name)).is_some()
    })
}

/// Redirects every helper call whose first argument is another helper call's result to the
/// `regcall` entry of the helper; returns the number of call sites changed. Cold helpers keep
/// the C convention (their chains are not worth a second entry).
///
/// Errors: none today.
pub fn run(m: &inkwell::module::Module) -> Result<usize, EmberError> {
    let mut n = 0;
    unsafe {
        let mr = m.as_mut_ptr();
        let mut f = LLVMGetFirstFunction(mr);
        while !f.is_null() {
            for call in calls_in(f) {
                let Some(callee) = called_function(call) else { continue };
                if LLVMIsDeclaration(callee) == 0 || LLVMGetNumArgOperands(call) == 0 {
                    continue;
                }
                let name = fn_name(callee).to_string();
                let Some(sig) = crate::lower::helpers::find(&name) else { continue };
                if sig.cold || !is_helper_result(LLVMGetOperand(call, 0)) {
                    continue;
                }
                let rname = CString::new(format!("{REGCALL_PREFIX}{name}")).unwrap();
                let mut rc = LLVMGetNamedFunction(mr, rname.as_ptr());
                if rc.is_null() {
                    rc = LLVMAddFunction(mr, rname.as_ptr(), LLVMGlobalGetValueType(callee));
                    LLVMSetFunctionCallConv(rc, REGCALL_CC);
                }
                LLVMSetOperand(call, LLVMGetNumOperands(call) as u32 - 1, rc);
                LLVMSetInstructionCallConv(call, REGCALL_CC);
                n += 1;
            }
            f = LLVMGetNextFunction(f);
        }
    }
    Ok(n)
}
