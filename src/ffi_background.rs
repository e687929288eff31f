//! The C ABI of background compilation (issue 15), declared in `include/ember.h`: the
//! process's one [`Backlog`] of compile jobs, fed by the shim with the GIL held and compiled on
//! the `ember-compile` thread (see [`crate::background`] for the rules).
//!
//! Protocol, as the shim uses it: [`ember_bg_submit`] a function's wire bytes under a token
//! (the address of its per-code record) when it gets hot; on its later calls, when
//! [`ember_bg_ready`] is non-zero, [`ember_bg_poll`] the finished results and install them;
//! [`ember_bg_cancel`] a token before its record is freed; [`ember_bg_shutdown`] at exit.
//! The `fork()` handlers are registered with `pthread_atfork` at the first submit.
//!
//! Like [`crate::ffi`], the entry points are safe `extern "C"` functions taking raw pointers
//! from C: each checks them for NULL and trusts the C caller for the rest.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::ffi::c_char;
use std::sync::Once;
use std::time::Duration;

use crate::background::{Backlog, Stats, QUEUE_CAPACITY};
use crate::error::EmberError;
use crate::ffi::{compile_bytes, free_handle, guard, write_err, Code, EmberCompiled, EmberStatus};

/// Bytes of [`EmberBgResult::message`], the terminating NUL included.
pub const EMBER_BG_MESSAGE_BYTES: usize = 256;

/// One finished background compile, as [`ember_bg_poll`] reports it.
#[repr(C)]
pub struct EmberBgResult {
    /// The token given to [`ember_bg_submit`].
    pub token: u64,
    /// `Ok` (then `compiled` holds the code), `Dropped` (submit again later) or the error.
    pub status: EmberStatus,
    /// The compiled code when `status` is `Ok`, else zeros.
    pub compiled: EmberCompiled,
    /// NUL-terminated reason when `status` is not `Ok` (truncated).
    pub message: [c_char; EMBER_BG_MESSAGE_BYTES],
}

fn discard(c: Code) {
    let _ = free_handle(c.handle());
}

static BACKLOG: Backlog<Code> = Backlog::new(compile_bytes, discard, QUEUE_CAPACITY);
/// Registers the `fork()` handlers and the exit handler once, at the first submit.
static FORK_HANDLERS: Once = Once::new();

extern "C" fn before_fork() {
    BACKLOG.prepare_fork();
}
extern "C" fn after_fork_parent() {
    BACKLOG.after_fork_parent();
}
extern "C" fn after_fork_child() {
    BACKLOG.after_fork_child();
}

/// Queues a function's HIR wire bytes (`wire`, `len` bytes, copied) for the compile thread
/// under `token`, with priority `hotness` (e.g. its call count; hotter compiles first). Wire
/// bytes flagged `EMBER_WIRE_FLAG_FINISH_AT_EXIT` are still compiled after
/// [`ember_bg_shutdown`] (see `Backlog::submit_finishing_at_exit`).
///
/// Errors: `Usage` (NULL `wire`), `Dropped` (the queue is full of hotter jobs or the compile
/// thread has shut down: the function stays interpreted and may be submitted later); the
/// message goes to `err`.
#[no_mangle]
pub extern "C" fn ember_bg_submit(token: u64, hotness: u64, wire: *const u8, len: usize, err: *mut c_char, errlen: usize) -> EmberStatus {
    guard(err, errlen, || {
        if wire.is_null() {
            return Err(EmberError::Usage("NULL wire".into()));
        }
        FORK_HANDLERS.call_once(|| unsafe {
            libc::pthread_atfork(Some(before_fork), Some(after_fork_parent), Some(after_fork_child));
            libc::atexit(join_at_exit);
        });
        let bytes = unsafe { std::slice::from_raw_parts(wire, len) }.to_vec();
        let flags = crate::hir::wire::header_flags(&bytes).unwrap_or(0);
        if flags & crate::hir::wire::EMBER_WIRE_FLAG_FINISH_AT_EXIT != 0 {
            BACKLOG.submit_finishing_at_exit(token, hotness, bytes)
        } else {
            BACKLOG.submit(token, hotness, bytes)
        }
    })
}

/// Sets the hook libember calls each time a background result becomes ready to poll (NULL:
/// none). It runs on the compile thread (or on the submitting thread, for a job dropped from a
/// full queue) with the backlog's lock held: it must be quick and thread-safe and must not call
/// any `ember_bg_*` function. The CPython shim passes a function that schedules the install with
/// `Py_AddPendingCall`, so that code is installed at the interpreter's next eval-breaker check
/// even when nothing else polls.
#[no_mangle]
pub extern "C" fn ember_bg_set_notify(notify: Option<extern "C" fn()>) {
    let _ = std::panic::catch_unwind(|| BACKLOG.set_notify(notify));
}

/// Raises the priority of `token`'s queued job to `hotness` (ignored when it is not queued).
#[no_mangle]
pub extern "C" fn ember_bg_bump(token: u64, hotness: u64) {
    let _ = std::panic::catch_unwind(|| BACKLOG.bump(token, hotness));
}

/// Withdraws `token`'s job, running compile or unpolled result (its code is freed); after it
/// returns no result names `token`. Returns 1 when something was withdrawn, else 0.
#[no_mangle]
pub extern "C" fn ember_bg_cancel(token: u64) -> i32 {
    std::panic::catch_unwind(|| BACKLOG.cancel(token) as i32).unwrap_or(0)
}

/// Number of finished results waiting for [`ember_bg_poll`] (cheap: one atomic load).
#[no_mangle]
pub extern "C" fn ember_bg_ready() -> u64 {
    BACKLOG.ready()
}

/// Moves up to `cap` finished results, oldest first, into `out`; returns how many.
#[no_mangle]
pub extern "C" fn ember_bg_poll(out: *mut EmberBgResult, cap: usize) -> usize {
    if out.is_null() || cap == 0 {
        return 0;
    }
    let Ok(done) = std::panic::catch_unwind(|| BACKLOG.poll(cap)) else { return 0 };
    for (i, (token, r)) in done.iter().enumerate() {
        let slot = unsafe { &mut *out.add(i) };
        slot.token = *token;
        match r {
            Ok(c) => {
                slot.status = EmberStatus::Ok;
                slot.compiled = c.to_c();
                write_err(slot.message.as_mut_ptr(), EMBER_BG_MESSAGE_BYTES, "");
            }
            Err(e) => {
                slot.status = e.status();
                slot.compiled = EmberCompiled::empty();
                write_err(slot.message.as_mut_ptr(), EMBER_BG_MESSAGE_BYTES, &e.to_string());
            }
        }
    }
    done.len()
}

/// Waits up to `timeout_ms` milliseconds until no job is queued or compiling. Returns 1 when
/// idle, 0 on timeout. Call it with the GIL released.
#[no_mangle]
pub extern "C" fn ember_bg_wait(timeout_ms: u64) -> i32 {
    std::panic::catch_unwind(|| BACKLOG.wait_idle(Duration::from_millis(timeout_ms)) as i32).unwrap_or(0)
}

/// Stops background compilation for good (interpreter exit): drops queued jobs (except those
/// flagged to finish at exit, started within `background::EXIT_START_BUDGET`) and makes the
/// compile in progress give up before machine-code generation if it has not reached it
/// (unless it is so flagged). With
/// `wait` non-zero, also waits for the compile thread to end. The host must wait before
/// `exit()` runs C++ destructors: LLVM registers some static destructors lazily, during a
/// compile, so they run before any handler registered at the first submit, and a compile
/// still running then uses destroyed objects. The C `atexit` handler registered at the first
/// submit only covers hosts that never call this. Later submits report `Dropped`.
#[no_mangle]
pub extern "C" fn ember_bg_shutdown(wait: i32) {
    let _ = std::panic::catch_unwind(|| {
        crate::background::set_exiting();
        BACKLOG.stop();
        if wait != 0 {
            BACKLOG.join();
        }
    });
}

extern "C" fn join_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        crate::background::set_exiting();
        BACKLOG.shutdown();
    });
}

/// Fills `*out` with the job counts since the process started (nothing when `out` is NULL).
#[no_mangle]
pub extern "C" fn ember_bg_stats(out: *mut Stats) {
    if out.is_null() {
        return;
    }
    let s = std::panic::catch_unwind(|| BACKLOG.stats()).unwrap_or_default();
    unsafe { *out = s };
}
