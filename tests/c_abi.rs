//! The C ABI exercised as an integrator would: `libember.so` loaded with libloading, the
//! functions declared in `include/ember.h` called through raw pointers. Malformed and
//! unsupported input must come back as status codes with messages, never a crash.

mod common;

use std::ffi::{c_char, CStr, CString};

use common::*;
use ember::hir::{wire, Op};
use libloading::{Library, Symbol};
use serial_test::serial;

#[repr(C)]
struct EmberHelper {
    name: *const c_char,
    addr: *const u8,
}
#[repr(C)]
struct EmberConfig {
    helpers: *const EmberHelper,
    nhelpers: usize,
    bitcode: *const u8,
    bitcode_len: usize,
    opt_level: u32,
    cache_dir: *const std::ffi::c_char,
    cache_max_bytes: u64,
    host_id: *const std::ffi::c_char,
    call_policy: *const std::ffi::c_char,
    dump_ir_dir: *const std::ffi::c_char,
    debugger: u32,
    frame_pointers: u32,
}
#[repr(C)]
#[derive(Debug)]
struct EmberCompiled {
    entry: *const u8,
    code_size: u64,
    compile_ns: u64,
    handle: u64,
    cache: u32,
    passes: [c_char; ember::ffi::EMBER_PASS_LOG_BYTES],
}

impl EmberCompiled {
    fn zeroed() -> Self {
        EmberCompiled {
            entry: std::ptr::null(),
            code_size: 0,
            compile_ns: 0,
            handle: 0,
            cache: 0,
            passes: [0; ember::ffi::EMBER_PASS_LOG_BYTES],
        }
    }
}

const OK: i32 = 0;
const MALFORMED: i32 = 1;
const UNSUPPORTED: i32 = 2;
const USAGE: i32 = 5;
const DROPPED: i32 = 7;

fn library() -> Library {
    // target/<profile>/deps/c_abi-xxxx -> target/<profile>/libember.so
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("libember.so");
    unsafe { Library::new(&path) }.unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

type Init = unsafe extern "C" fn(*const EmberConfig, *mut c_char, usize) -> i32;
type Compile = unsafe extern "C" fn(*const u8, usize, *mut EmberCompiled, *mut c_char, usize) -> i32;
type Free = unsafe extern "C" fn(u64) -> i32;
type Version = unsafe extern "C" fn() -> *const c_char;

fn msg(buf: &[c_char]) -> String {
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}

/// Runs the compiled `a + b` on 40 and 2 and checks 42 comes back, releasing every object.
unsafe fn assert_adds(entry: Entry) {
    let mut fr = Frame::new();
    fr.locals[0] = int(40);
    fr.locals[1] = int(2);
    let r = entry(std::ptr::null_mut(), &mut *fr);
    assert_eq!(val(r), 42);
    ember_decref(r);
    ember_decref(fr.locals[0]);
    ember_decref(fr.locals[1]);
}

#[test]
#[serial]
fn integrator_flow() {
    let lib = library();
    unsafe {
        let version: Symbol<Version> = lib.get(b"ember_version").unwrap();
        assert_eq!(CStr::from_ptr(version()).to_str().unwrap(), env!("CARGO_PKG_VERSION"));
        let init: Symbol<Init> = lib.get(b"ember_init").unwrap();
        let compile: Symbol<Compile> = lib.get(b"ember_compile").unwrap();
        let free: Symbol<Free> = lib.get(b"ember_free").unwrap();
        let mut err = [0 as c_char; 512];
        let mut out = EmberCompiled::zeroed();

        // Before init: a usage error, not a crash.
        let good = wire::encode(&asm(
            2,
            2,
            2,
            vec![],
            &[(Op::LoadFast, &[0]), (Op::LoadFast, &[1]), (Op::BinaryOp, &[0, 0, 0]), (Op::ReturnValue, &[])],
        ));
        assert_eq!(compile(good.as_ptr(), good.len(), &mut out, err.as_mut_ptr(), err.len()), USAGE);
        assert!(msg(&err).contains("ember_init"), "{}", msg(&err));
        assert_eq!(init(std::ptr::null(), err.as_mut_ptr(), err.len()), USAGE);

        let names: Vec<(CString, u64)> = helpers().into_iter().map(|(n, a)| (CString::new(n).unwrap(), a)).collect();
        let table: Vec<EmberHelper> = names.iter().map(|(n, a)| EmberHelper { name: n.as_ptr(), addr: *a as *const u8 }).collect();
        let cfg = EmberConfig {
            helpers: table.as_ptr(),
            nhelpers: table.len(),
            bitcode: std::ptr::null(),
            bitcode_len: 0,
            opt_level: 2,
            cache_dir: std::ptr::null(),
            cache_max_bytes: 0,
            host_id: std::ptr::null(),
            call_policy: std::ptr::null(),
            dump_ir_dir: std::ptr::null(),
            debugger: 0,
            frame_pointers: 0,
        };
        assert_eq!(init(&cfg, err.as_mut_ptr(), err.len()), OK, "{}", msg(&err));
        assert_eq!(init(&cfg, err.as_mut_ptr(), err.len()), USAGE, "a second init is refused");

        // Malformed input of every length prefix: an error code and a message.
        for n in 0..good.len() {
            assert_eq!(compile(good.as_ptr(), n, &mut out, err.as_mut_ptr(), err.len()), MALFORMED, "prefix {n}");
            assert!(msg(&err).starts_with("malformed HIR wire input"), "{}", msg(&err));
        }
        // A tiny error buffer is truncated, still NUL-terminated.
        let mut tiny = [0x7f as c_char; 8];
        assert_eq!(compile(good.as_ptr(), 3, &mut out, tiny.as_mut_ptr(), tiny.len()), MALFORMED);
        assert_eq!(msg(&tiny).len(), 7);
        // NULL pointers.
        assert_eq!(compile(std::ptr::null(), 10, &mut out, err.as_mut_ptr(), err.len()), USAGE);

        // Unsupported construct: named in the message.
        let unsup = wire::encode(&asm(1, 0, 1, vec![1], &[(Op::Unsupported, &[85, 2]), (Op::LoadConst, &[0]), (Op::ReturnValue, &[])]));
        assert_eq!(compile(unsup.as_ptr(), unsup.len(), &mut out, err.as_mut_ptr(), err.len()), UNSUPPORTED, "{}", msg(&err));
        assert!(msg(&err).contains("SETUP_ANNOTATIONS"), "{}", msg(&err));

        // A real compile, then a call of the native code.
        assert_eq!(compile(good.as_ptr(), good.len(), &mut out, err.as_mut_ptr(), err.len()), OK, "{}", msg(&err));
        // Every pass of the pipeline is reported, in order, with its count and time.
        let passes = msg(&out.passes);
        let names: Vec<&str> = passes.split(", ").map(|p| p.split(' ').next().unwrap()).collect();
        let want: Vec<&str> = ember::passes::PIPELINE.iter().map(|p| p.name).collect();
        assert_eq!(names, want, "{passes}");
        assert!(passes.split(", ").all(|p| p.ends_with("us")), "{passes}");
        assert!(!out.entry.is_null() && out.code_size > 0 && out.compile_ns > 0, "{out:?}");
        reset();
        assert_adds(std::mem::transmute::<*const u8, Entry>(out.entry));
        assert_eq!(free(out.handle), OK);
        assert_eq!(free(out.handle), USAGE, "a handle is freed once");

        // ember_dump: HIR, LLVM IR and assembly text; a small buffer reports the full length.
        type Dump = unsafe extern "C" fn(*const u8, usize, u32, *mut c_char, usize, *mut usize) -> i32;
        let dump: Symbol<Dump> = lib.get(b"ember_dump").unwrap();
        let mut text = vec![0 as c_char; 1 << 20];
        let mut need = 0usize;
        for (what, expect) in [(0u32, "BinaryOp"), (1, "define "), (2, ".text")] {
            assert_eq!(dump(good.as_ptr(), good.len(), what, text.as_mut_ptr(), text.len(), &mut need), OK, "{}", msg(&text));
            let got = msg(&text);
            assert!(got.contains(expect), "dump {what}: {got}");
            assert_eq!(need, got.len());
        }
        let mut small = [0 as c_char; 16];
        assert_eq!(dump(good.as_ptr(), good.len(), 0, small.as_mut_ptr(), small.len(), &mut need), OK);
        assert!(need >= small.len() && msg(&small).len() == 15, "truncated, NUL-terminated, full length reported");
        assert_eq!(dump(good.as_ptr(), good.len(), 9, text.as_mut_ptr(), text.len(), &mut need), USAGE);
        assert!(msg(&text).contains("unknown dump kind 9"), "{}", msg(&text));
        assert_eq!(dump(unsup.as_ptr(), unsup.len(), 1, text.as_mut_ptr(), text.len(), &mut need), UNSUPPORTED);

        // Background compilation: submit, wait for the compile thread, poll, run the code.
        let submit: Symbol<BgSubmit> = lib.get(b"ember_bg_submit").unwrap();
        let ready: Symbol<unsafe extern "C" fn() -> u64> = lib.get(b"ember_bg_ready").unwrap();
        let poll: Symbol<BgPoll> = lib.get(b"ember_bg_poll").unwrap();
        let wait: Symbol<unsafe extern "C" fn(u64) -> i32> = lib.get(b"ember_bg_wait").unwrap();
        let cancel: Symbol<unsafe extern "C" fn(u64) -> i32> = lib.get(b"ember_bg_cancel").unwrap();
        let shutdown: Symbol<unsafe extern "C" fn(i32)> = lib.get(b"ember_bg_shutdown").unwrap();
        let mut results: Vec<EmberBgResult> = (0..4).map(|_| EmberBgResult::zeroed()).collect();
        assert_eq!(submit(11, 5, good.as_ptr(), good.len(), err.as_mut_ptr(), err.len()), OK, "{}", msg(&err));
        assert_eq!(submit(12, 1, unsup.as_ptr(), unsup.len(), err.as_mut_ptr(), err.len()), OK, "{}", msg(&err));
        assert_eq!(submit(13, 1, good.as_ptr(), 3, err.as_mut_ptr(), err.len()), OK, "malformed input is reported by poll");
        assert_eq!(submit(14, 1, std::ptr::null(), 0, err.as_mut_ptr(), err.len()), USAGE);
        assert_eq!(wait(60_000), 1, "the compile thread went idle");
        assert_eq!(ready(), 3);
        assert_eq!(poll(results.as_mut_ptr(), results.len()), 3);
        assert_eq!(ready(), 0);
        let by_token = |t: u64| results.iter().find(|r| r.token == t).unwrap();
        let r11 = by_token(11);
        assert_eq!(r11.status, OK, "{}", msg(&r11.message));
        assert_eq!((by_token(12).status, by_token(13).status), (UNSUPPORTED, MALFORMED));
        assert!(msg(&by_token(12).message).contains("SETUP_ANNOTATIONS"));
        assert_adds(std::mem::transmute::<*const u8, Entry>(r11.compiled.entry));
        assert_eq!(free(r11.compiled.handle), OK);
        // A finished result withdrawn before it is polled: its code is freed, poll never sees it.
        assert_eq!(submit(15, 1, good.as_ptr(), good.len(), err.as_mut_ptr(), err.len()), OK);
        assert_eq!(wait(60_000), 1);
        assert_eq!(cancel(15), 1);
        assert_eq!(cancel(15), 0);
        assert_eq!(ready(), 0);
        shutdown(1);
        assert_eq!(submit(16, 1, good.as_ptr(), good.len(), err.as_mut_ptr(), err.len()), DROPPED);
        assert!(msg(&err).contains("shut down"), "{}", msg(&err));
    }
}

#[repr(C)]
struct EmberBgResult {
    token: u64,
    status: i32,
    compiled: EmberCompiled,
    message: [c_char; ember::ffi_background::EMBER_BG_MESSAGE_BYTES],
}

impl EmberBgResult {
    fn zeroed() -> Self {
        EmberBgResult {
            token: 0,
            status: -1,
            compiled: EmberCompiled::zeroed(),
            message: [0; ember::ffi_background::EMBER_BG_MESSAGE_BYTES],
        }
    }
}

type BgSubmit = unsafe extern "C" fn(u64, u64, *const u8, usize, *mut c_char, usize) -> i32;
type BgPoll = unsafe extern "C" fn(*mut EmberBgResult, usize) -> usize;
