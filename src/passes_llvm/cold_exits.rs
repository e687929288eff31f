//! Shares the cold exits of a function.
//!
//! The lowering gives every instruction that can raise its own exit block: spill the frame
//! state, `r = call @ember_rt_raise(ts, frame, bc, depth)`, `ret r`. The exits differ only in
//! their constant arguments, so LLVM keeps one call sequence per exit (about 20 B each on both
//! targets). This pass replaces, per cold runtime entry with two or more such exits, every
//! `call; ret` tail by a branch to one shared block whose arguments are phis: each exit then
//! costs only the moves of the differing arguments and a branch, and the call lives once, out
//! of the fast path.

use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMOpcode;

use super::{called_function, is_cold_callee_or_site};
use crate::error::EmberError;

/// An exit: the block, its call and the callee.
struct Exit {
    bb: LLVMBasicBlockRef,
    call: LLVMValueRef,
    callee: LLVMValueRef,
}

unsafe fn exits_of(f: LLVMValueRef) -> Vec<Exit> {
    let mut out = vec![];
    let mut bb = LLVMGetFirstBasicBlock(f);
    while !bb.is_null() {
        let term = LLVMGetBasicBlockTerminator(bb);
        if !term.is_null() && LLVMGetInstructionOpcode(term) == LLVMOpcode::LLVMRet && LLVMGetNumOperands(term) == 1 {
            let call = LLVMGetPreviousInstruction(term);
            if !call.is_null()
                && !LLVMIsACallInst(call).is_null()
                && LLVMGetOperand(term, 0) == call
                && is_cold_callee_or_site(call)
                && LLVMGetFirstUse(call).is_null().eq(&false)
                && LLVMGetNextUse(LLVMGetFirstUse(call)).is_null()
            {
                if let Some(callee) = called_function(call) {
                    out.push(Exit { bb, call, callee });
                }
            }
        }
        bb = LLVMGetNextBasicBlock(bb);
    }
    out
}

/// Shares the exits of every function in `m`; returns how many exit blocks now branch to a
/// shared one.
///
/// Errors: none today (the signature leaves room for IR the pass refuses).
pub fn run(m: &inkwell::module::Module) -> Result<usize, EmberError> {
    let mut shared = 0;
    unsafe {
        let mut f = LLVMGetFirstFunction(m.as_mut_ptr());
        while !f.is_null() {
            let exits = exits_of(f);
            let mut callees: Vec<LLVMValueRef> = vec![];
            for e in &exits {
                if !callees.contains(&e.callee) {
                    callees.push(e.callee);
                }
            }
            for callee in callees {
                let group: Vec<&Exit> = exits.iter().filter(|e| e.callee == callee).collect();
                if group.len() < 2 {
                    continue;
                }
                shared += share(f, &group);
            }
            f = LLVMGetNextFunction(f);
        }
    }
    Ok(shared)
}

unsafe fn share(f: LLVMValueRef, group: &[&Exit]) -> usize {
    let ctx = LLVMGetTypeContext(LLVMTypeOf(f));
    let first = group[0].call;
    let nargs = LLVMGetNumArgOperands(first);
    let name = c"shared_exit";
    let target = LLVMAppendBasicBlockInContext(ctx, f, name.as_ptr());
    let b = LLVMCreateBuilderInContext(ctx);
    LLVMPositionBuilderAtEnd(b, target);
    // One phi per argument that differs between the exits.
    let mut args: Vec<Option<LLVMValueRef>> = vec![];
    for k in 0..nargs {
        let a0 = LLVMGetOperand(first, k);
        let same = group.iter().all(|e| LLVMGetOperand(e.call, k) == a0);
        args.push(if same { None } else { Some(LLVMBuildPhi(b, LLVMTypeOf(a0), c"exit_arg".as_ptr())) });
    }
    let call = LLVMInstructionClone(first);
    LLVMInsertIntoBuilder(b, call);
    for (k, phi) in args.iter().enumerate() {
        if let Some(phi) = phi {
            LLVMSetOperand(call, k as u32, *phi);
        }
    }
    LLVMBuildRet(b, call);
    for e in group {
        for (k, phi) in args.iter().enumerate() {
            if let Some(phi) = phi {
                let mut v = [LLVMGetOperand(e.call, k as u32)];
                let mut bb = [e.bb];
                LLVMAddIncoming(*phi, v.as_mut_ptr(), bb.as_mut_ptr(), 1);
            }
        }
        let term = LLVMGetBasicBlockTerminator(e.bb);
        LLVMInstructionEraseFromParent(term);
        LLVMInstructionEraseFromParent(e.call);
        LLVMPositionBuilderAtEnd(b, e.bb);
        LLVMBuildBr(b, target);
    }
    LLVMDisposeBuilder(b);
    group.len()
}
