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
}
#[repr(C)]
#[derive(Debug)]
struct EmberCompiled {
    entry: *const u8,
    code_size: u64,
    compile_ns: u64,
    handle: u64,
}

const OK: i32 = 0;
const MALFORMED: i32 = 1;
const UNSUPPORTED: i32 = 2;
const USAGE: i32 = 5;

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
        let mut out = EmberCompiled { entry: std::ptr::null(), code_size: 0, compile_ns: 0, handle: 0 };

        // Before init: a usage error, not a crash.
        let good = wire::encode(&asm(
            2,
            2,
            2,
            vec![],
            &[(Op::LoadFast, &[0]), (Op::LoadFast, &[1]), (Op::BinaryOp, &[0, 0]), (Op::ReturnValue, &[])],
        ));
        assert_eq!(compile(good.as_ptr(), good.len(), &mut out, err.as_mut_ptr(), err.len()), USAGE);
        assert!(msg(&err).contains("ember_init"), "{}", msg(&err));
        assert_eq!(init(std::ptr::null(), err.as_mut_ptr(), err.len()), USAGE);

        let names: Vec<(CString, u64)> = helpers().into_iter().map(|(n, a)| (CString::new(n).unwrap(), a)).collect();
        let table: Vec<EmberHelper> = names.iter().map(|(n, a)| EmberHelper { name: n.as_ptr(), addr: *a as *const u8 }).collect();
        let cfg = EmberConfig { helpers: table.as_ptr(), nhelpers: table.len(), bitcode: std::ptr::null(), bitcode_len: 0, opt_level: 2 };
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
        assert_eq!(compile(unsup.as_ptr(), unsup.len(), &mut out, err.as_mut_ptr(), err.len()), UNSUPPORTED);
        assert!(msg(&err).contains("SETUP_ANNOTATIONS"), "{}", msg(&err));

        // A real compile, then a call of the native code.
        assert_eq!(compile(good.as_ptr(), good.len(), &mut out, err.as_mut_ptr(), err.len()), OK, "{}", msg(&err));
        assert!(!out.entry.is_null() && out.code_size > 0 && out.compile_ns > 0, "{out:?}");
        reset();
        let entry: Entry = std::mem::transmute(out.entry);
        let mut fr = Frame::new();
        fr.locals[0] = int(40);
        fr.locals[1] = int(2);
        let r = entry(std::ptr::null_mut(), &mut *fr);
        assert_eq!(val(r), 42);
        ember_decref(r);
        ember_decref(fr.locals[0]);
        ember_decref(fr.locals[1]);
        assert_eq!(free(out.handle), OK);
        assert_eq!(free(out.handle), USAGE, "a handle is freed once");
    }
}
