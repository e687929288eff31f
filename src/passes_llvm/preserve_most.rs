//! Calls the runtime's cold helpers (raise, deopt, error paths) with `preserve_mostcc`.
//!
//! Under `preserve_mostcc` the callee saves nearly every register, so values the fast path
//! keeps in caller-saved registers survive the call and the caller needs fewer callee-saved
//! registers (fewer prologue/epilogue saves). Correct only when the callee was compiled with
//! that convention: clang-19 `__attribute__((preserve_most))` (gcc ignores it), so this pass is
//! opt-in ([`crate::passes_llvm::Options::preserve_most`]); the qemu harness's runtime is built
//! that way, the CPython shim (gcc) is not.

use llvm_sys::core::*;
use llvm_sys::LLVMCallConv;

use super::{called_function, calls_in, fn_name};
use crate::error::EmberError;

/// LLVM's `preserve_mostcc` calling-convention number.
///
/// cbindgen:ignore
pub const PRESERVE_MOST_CC: u32 = LLVMCallConv::LLVMPreserveMostCallConv as u32;

/// Switches every call to a helper marked cold in [`crate::lower::helpers::HELPERS`] (and its
/// declaration) to `preserve_mostcc`; returns the number of call sites changed.
///
/// Errors: none today.
pub fn run(m: &inkwell::module::Module) -> Result<usize, EmberError> {
    let mut n = 0;
    unsafe {
        let mut f = LLVMGetFirstFunction(m.as_mut_ptr());
        while !f.is_null() {
            for call in calls_in(f) {
                let Some(callee) = called_function(call) else { continue };
                if LLVMIsDeclaration(callee) == 0 {
                    continue;
                }
                if crate::lower::helpers::find(fn_name(callee)).is_some_and(|h| h.cold) {
                    LLVMSetInstructionCallConv(call, PRESERVE_MOST_CC);
                    LLVMSetFunctionCallConv(callee, PRESERVE_MOST_CC);
                    n += 1;
                }
            }
            f = LLVMGetNextFunction(f);
        }
    }
    Ok(n)
}
