//! gdb's JIT interface for a statically linked LLVM (the `static-llvm` feature, the wheel).
//!
//! ORC's debugger support (`LLVMOrcLLJITEnableDebugSupport`, see
//! [`crate::orc::Jit::enable_debugger_support`]) hands each linked object, its sections patched
//! to their load addresses, to a function it finds by name in the process:
//! `llvm_orc_registerJITLoaderGDBWrapper`. With libLLVM-19.so that function (and gdb's
//! `__jit_debug_descriptor` / `__jit_debug_register_code` pair) is exported by libLLVM. Linked
//! statically, LLVM's copy stays a hidden archive member nothing references, and a Rust cdylib
//! exports only its own `#[no_mangle]` items; so libember.so defines the three names itself.
//!
//! The protocol is gdb's (`gdb/jit.h`, "JIT Compilation Interface" in gdb's manual): a
//! descriptor whose list of entries points at in-memory ELF objects, and an empty function gdb
//! puts a breakpoint in. The argument encoding is ORC's simple-packed serialisation (SPS) as
//! LLVM 19's `EPCDebugObjectRegistrar` sends it: the object's address range as two
//! little-endian `u64` (start, end), then one byte, "tell the debugger now". The answer is an
//! SPS-encoded `Error::success()`: one zero byte.

use std::sync::Mutex;

/// One registered object (gdb's `struct jit_code_entry`): a doubly linked list node.
#[repr(C)]
pub struct JitCodeEntry {
    next_entry: *mut JitCodeEntry,
    prev_entry: *mut JitCodeEntry,
    symfile_addr: *const u8,
    symfile_size: u64,
}

/// gdb's `struct jit_descriptor`: the version (1), the action of the last call
/// (1 = register), the entry it concerns and the list head.
#[repr(C)]
pub struct JitDescriptor {
    version: u32,
    action_flag: u32,
    relevant_entry: *mut JitCodeEntry,
    first_entry: *mut JitCodeEntry,
}

/// The descriptor gdb reads (by this name) when `__jit_debug_register_code` is hit. Written only
/// under [`LOCK`].
#[no_mangle]
pub static mut __jit_debug_descriptor: JitDescriptor =
    JitDescriptor { version: 1, action_flag: 0, relevant_entry: std::ptr::null_mut(), first_entry: std::ptr::null_mut() };

/// The function gdb sets its JIT breakpoint in (by this name); it must stay a real call.
#[no_mangle]
#[inline(never)]
pub extern "C" fn __jit_debug_register_code() {
    // An empty asm statement that may touch memory: the call and the stores before it stay.
    unsafe { std::arch::asm!("", options(nostack, preserves_flags)) };
}

/// Serialises registrations (compile threads link concurrently).
static LOCK: Mutex<()> = Mutex::new(());

/// ORC's C result type for wrapper functions (`CWrapperFunctionResult`): up to 8 bytes inline
/// in `data`, `size` bytes long.
#[repr(C)]
pub struct WrapperResult {
    data: [u8; 8],
    size: usize,
}

/// Registers the object at the SPS-encoded address range in `data` (`size` bytes, at least 16)
/// with gdb: a new entry at the head of the descriptor's list, then the breakpoint function
/// (when the trailing flag byte is absent or non-zero). The object's memory belongs to ORC and
/// stays mapped while its code lives. Returns SPS `Error::success()`; input too short to hold a
/// range is ignored (still success: debugger support is best effort, never a compile failure).
///
/// # Safety
/// `data` must point to `size` readable bytes; the range must be a live ELF object.
#[no_mangle]
pub unsafe extern "C" fn llvm_orc_registerJITLoaderGDBWrapper(data: *const u8, size: u64) -> WrapperResult {
    let success = WrapperResult { data: [0; 8], size: 1 };
    if data.is_null() || size < 16 {
        return success;
    }
    let bytes = std::slice::from_raw_parts(data, size as usize);
    let word = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
    let (start, end) = (word(0), word(8));
    let notify = bytes.get(16).is_none_or(|&b| b != 0);
    if end <= start {
        return success;
    }
    let entry = Box::into_raw(Box::new(JitCodeEntry {
        next_entry: std::ptr::null_mut(),
        prev_entry: std::ptr::null_mut(),
        symfile_addr: start as *const u8,
        symfile_size: end - start,
    }));
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let d = &raw mut __jit_debug_descriptor;
    let head = (*d).first_entry;
    (*entry).next_entry = head;
    if !head.is_null() {
        (*head).prev_entry = entry;
    }
    (*d).first_entry = entry;
    (*d).relevant_entry = entry;
    (*d).action_flag = 1;
    if notify {
        __jit_debug_register_code();
    }
    success
}
