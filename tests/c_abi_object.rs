//! `ember_compile_object` through the shared library, as an integrator would call it: objects
//! for both targets, the size query, and bad input as status codes (never a crash).

use std::ffi::{c_char, CStr};

use libloading::{Library, Symbol};

type CompileObject =
    unsafe extern "C" fn(*const c_char, *const c_char, u32, u32, *const u8, usize, *mut u8, usize, *mut usize, *mut c_char, usize) -> i32;

const OK: i32 = 0;
const MALFORMED: i32 = 1;
const USAGE: i32 = 5;

fn library() -> Library {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("libember.so");
    unsafe { Library::new(&path) }.unwrap_or_else(|e| panic!("loading {} (run `cargo build --release --lib`): {e}", path.display()))
}

#[test]
fn compiles_objects_for_both_targets_through_the_c_abi() {
    let lib = library();
    let f: Symbol<CompileObject> = unsafe { lib.get(b"ember_compile_object") }.unwrap();
    let hir = ember::hir::printer::print(&ember::codesize::calls(2).unwrap());
    let mut err = [0 as c_char; 256];
    for (target, machine) in [(c"aarch64", 183u16), (c"x86_64-unknown-linux-gnu", 62u16)] {
        let mut need = 0usize;
        let st = unsafe {
            f(
                target.as_ptr(),
                c"table".as_ptr(),
                0,
                1,
                hir.as_ptr(),
                hir.len(),
                std::ptr::null_mut(),
                0,
                &mut need,
                err.as_mut_ptr(),
                err.len(),
            )
        };
        assert_eq!(st, USAGE, "size query");
        assert!(need > 64);
        let mut buf = vec![0u8; need];
        let mut len = 0usize;
        let st = unsafe {
            f(
                target.as_ptr(),
                std::ptr::null(),
                0,
                1,
                hir.as_ptr(),
                hir.len(),
                buf.as_mut_ptr(),
                buf.len(),
                &mut len,
                err.as_mut_ptr(),
                err.len(),
            )
        };
        assert_eq!(st, OK, "{}", unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy());
        assert_eq!(&buf[..4], b"\x7fELF");
        assert_eq!(u16::from_le_bytes([buf[18], buf[19]]), machine);
    }
    let mut len = 0usize;
    let bad = b"function broken";
    let st = unsafe {
        f(
            c"aarch64".as_ptr(),
            std::ptr::null(),
            0,
            1,
            bad.as_ptr(),
            bad.len(),
            std::ptr::null_mut(),
            0,
            &mut len,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    assert_eq!(st, MALFORMED);
    let st = unsafe {
        f(
            c"riscv64".as_ptr(),
            std::ptr::null(),
            0,
            1,
            hir.as_ptr(),
            hir.len(),
            std::ptr::null_mut(),
            0,
            &mut len,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    assert_eq!(st, USAGE);
    assert!(unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy().contains("riscv64"));
    let st = unsafe {
        f(
            c"aarch64".as_ptr(),
            c"fastest".as_ptr(),
            0,
            1,
            hir.as_ptr(),
            hir.len(),
            std::ptr::null_mut(),
            0,
            &mut len,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    assert_eq!(st, USAGE);
    let st = unsafe {
        f(
            std::ptr::null(),
            std::ptr::null(),
            0,
            1,
            std::ptr::null(),
            0,
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
            err.as_mut_ptr(),
            err.len(),
        )
    };
    assert_eq!(st, USAGE);
    let st = unsafe {
        f(
            c"aarch64".as_ptr(),
            std::ptr::null(),
            0,
            7,
            hir.as_ptr(),
            hir.len(),
            std::ptr::null_mut(),
            0,
            &mut len,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    assert_eq!(st, USAGE, "opt level 7");
}
