//! Code-size measurement: canonical call-heavy HIR shapes, and the native size of an emitted
//! object including what the linker adds per distinct call target.
//!
//! Used by `tests/codesize.rs` (the checked-in guards), `ember-codesize` and
//! `bench/codesize.py`. The object is read with LLVM's object and disassembler C APIs.

use std::collections::BTreeSet;
use std::ffi::CStr;

use llvm_sys::object::*;

use crate::error::EmberError;
use crate::hir::{parser, Function};
use crate::passes_llvm::Target;

/// Layout and constants of every shape: CPython 3.13 frame offsets; `None`, `True`, `False` and
/// the global function `g` (constant 0) at the fixed addresses the qemu harness's runtime maps
/// (`tests/aarch64/runtime.c`, `CONST_PAGE`); constant 1 is `None`, constant 2 the int 1.
///
/// cbindgen:ignore
pub const HEADER: &str =
    "layout localsplus=72 instr_ptr=56 code_base=0x7f3a10000000 none=0x7f3a20000000 true=0x7f3a20000040 false=0x7f3a20000080 immortal=1\n\
consts [0x7f3a20001000, 0x7f3a20000000, 0x7f3a20002040]\n";

fn finish(name: &str, nlocals: u32, argcount: u32, stacksize: u32, body: &str) -> Result<Function, EmberError> {
    parser::parse(&format!("function shapes:{name} nlocals={nlocals} argcount={argcount} stacksize={stacksize}\n{HEADER}bb0:\n{body}"))
}

/// `def f(): g(); g(); ...; return None` with `n` calls of the same global function (each:
/// `LOAD_GLOBAL` module-specialised with NULL, `CALL 0`, `POP_TOP`; CPython 3.13 code units).
///
/// Errors: none for valid `n` (the text is generated), [`EmberError::Parse`] otherwise.
pub fn calls(n: usize) -> Result<Function, EmberError> {
    let mut s = String::from("  Resume @0[]\n");
    let (mut v, mut bc) = (0, 1);
    for _ in 0..n {
        s += &format!("  v{v} = LoadGlobal<0, 1, 1, 1234, 0, 7, 0, 0, 0, 0> @{bc}[]\n  v{}:opt = PushNull\n", v + 1);
        s += &format!("  v{} = Call<0, 0> v{v} v{} @{}[]\n", v + 2, v + 1, bc + 5);
        s += &format!("  PopTop v{}\n", v + 2);
        v += 3;
        bc += 10;
    }
    s += &format!("  v{v} = LoadConst<1>\n  ReturnValue v{v}\n");
    finish(&format!("calls{n}"), 0, 0, 2, &s)
}

/// One operation of [`distinct`]: text-form name and immediates, operand count, helper.
const DISTINCT_OPS: &[(&str, &str, usize)] = &[
    ("BinaryOp", "<0, 0, 0>", 2),
    ("BinaryOp", "<0, 1, 0>", 2),
    ("BinaryOp", "<10, 2, 1>", 2),
    ("BinaryOp", "<5, 3, 2>", 2),
    ("BinaryOp", "<0, 4, 0>", 2),
    ("BinaryOp", "<10, 5, 1>", 2),
    ("BinaryOp", "<5, 6, 2>", 2),
    ("BinaryOp", "<0, 7, 0>", 2),
    ("UnaryNot", "", 1),
    ("UnaryNegative", "", 1),
    ("UnaryInvert", "", 1),
    ("ToBool", "<0, 0>", 1),
    ("ToBool", "<1, 0>", 1),
    ("ToBool", "<2, 0>", 1),
    ("ToBool", "<3, 0>", 1),
    ("ToBool", "<4, 0>", 1),
    ("ToBool", "<5, 0>", 1),
    ("ToBool", "<6, 99>", 1),
    ("CompareOp", "<16, 0, 0>", 2),
    ("CompareOp", "<16, 1, 0>", 2),
    ("CompareOp", "<16, 2, 0>", 2),
    ("CompareOp", "<16, 3, 0>", 2),
    ("IsOp", "<0>", 2),
    ("ContainsOp", "<0>", 2),
    ("LoadAttr", "<2, 0, 0, 0, 0, 0>", 1),
    ("LoadAttr", "<2, 1, 77, 3, 0, 0>", 1),
    ("LoadAttr", "<2, 2, 77, 24, 0, 0>", 1),
    ("LoadAttr", "<2, 3, 77, 3, 0, 0>", 1),
    ("LoadAttr", "<2, 4, 77, 3, 0, 0>", 1),
    ("BinarySubscr", "<0>", 2),
    ("BinarySubscr", "<1>", 2),
    ("BinarySubscr", "<2>", 2),
    ("BinarySubscr", "<3>", 2),
    ("GetIter", "", 1),
    ("FormatSimple", "", 1),
    ("FormatWithSpec", "", 2),
    ("ConvertValue", "<1>", 1),
    ("LoadGlobal", "<0, 0, 0, 0, 0, 0, 0, 0, 0, 0>", 0),
    ("LoadGlobal", "<0, 0, 1, 1234, 0, 7, 0, 0, 0, 0>", 0),
    ("LoadGlobal", "<0, 0, 2, 1234, 5678, 9, 0, 0, 0, 0>", 0),
];

/// Number of distinct runtime helpers [`distinct`] cycles through (one per operation kind the
/// HIR can express as a single straight-line helper call), besides incref/xdecref/raise.
///
/// cbindgen:ignore
pub const DISTINCT_HELPERS: usize = DISTINCT_OPS.len();

/// A function of `n` Python operations `x = a <op> b` (operands loaded from locals 0 and 1,
/// result stored to local 2), each calling the next of [`DISTINCT_HELPERS`] distinct helpers
/// in turn: the many-distinct-targets shape.
///
/// Errors: as [`calls`].
pub fn distinct(n: usize) -> Result<Function, EmberError> {
    let mut s = String::from("  Resume @0[]\n");
    let (mut v, mut bc) = (0, 1);
    for k in 0..n {
        let (op, imms, nargs) = DISTINCT_OPS[k % DISTINCT_OPS.len()];
        let mut args = vec![];
        for a in 0..nargs {
            s += &format!("  v{v} = LoadFast<{a}>\n");
            args.push(format!("v{v}"));
            v += 1;
        }
        s += &format!("  v{v} = {op}{imms}{}{} @{}[]\n", if args.is_empty() { "" } else { " " }, args.join(" "), bc + 2);
        s += &format!("  StoreFast<2> v{v}\n");
        v += 1;
        bc += 8;
    }
    s += &format!("  v{v} = LoadFast<2>\n  ReturnValue v{v}\n");
    finish(&format!("distinct{n}"), 3, 2, 2, &s)
}

/// `x = -(-(-...a))`: `n` chained calls, each consuming the previous call's result as its
/// first (only) argument: the call-chain shape.
///
/// Errors: as [`calls`].
pub fn chain(n: usize) -> Result<Function, EmberError> {
    let mut s = String::from("  Resume @0[]\n  v0 = LoadFast<0>\n");
    for k in 0..n {
        s += &format!("  v{} = UnaryNegative v{k} @{}[]\n", k + 1, 2 + 2 * k);
    }
    s += &format!("  ReturnValue v{n}\n");
    finish(&format!("chain{n}"), 1, 1, 1, &s)
}

/// `return (a, b, c, ...)` built from `n` checked local loads (`LOAD_FAST_CHECK`): every load
/// has a cold `UnboundLocalError` path while the values loaded so far stay live, the shape
/// where `preserve_most` on cold helpers matters.
///
/// Errors: as [`calls`].
pub fn checks(n: usize) -> Result<Function, EmberError> {
    let mut s = String::from("  Resume @0[]\n");
    let mut live: Vec<String> = vec![];
    for k in 0..n {
        s += &format!("  v{k} = LoadFastCheck<{}> @{}[{}]\n", k % 8, 1 + k, live.join(" "));
        live.push(format!("v{k}"));
    }
    s += &format!("  v{n} = BuildTuple<{n}> {} @{}[]\n  ReturnValue v{n}\n", live.join(" "), 1 + n);
    finish(&format!("checks{n}"), 8, 8, n.max(1) as u32, &s)
}

/// Native size of one object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Size {
    /// Bytes of the `.text*` sections.
    pub text: u64,
    /// Instructions in the `.text*` sections (including alignment padding).
    pub insts: u64,
    /// Distinct external targets reached by direct branches (each gets a linker stub).
    pub stubs: u64,
    /// Bytes the linker adds for those stubs (AArch64 12 B, x86-64 6 B each).
    pub stub_bytes: u64,
    /// Bytes of GOT entries the linker adds (8 B per distinct stubbed or GOT-loaded target).
    pub got_bytes: u64,
    /// Bytes of data sections in the object (e.g. the per-module target table).
    pub data_bytes: u64,
}

impl Size {
    /// Code bytes: `.text` plus linker stubs.
    pub fn code(&self) -> u64 {
        self.text + self.stub_bytes
    }

    /// Everything: code plus GOT and data.
    pub fn total(&self) -> u64 {
        self.code() + self.got_bytes + self.data_bytes
    }
}

/// Measures an ELF relocatable object produced for `target`.
///
/// Errors: [`EmberError::Llvm`] when LLVM cannot read the object.
pub fn measure(obj: &[u8], target: Target) -> Result<Size, EmberError> {
    crate::orc::init_targets();
    let mut size = Size::default();
    let mut stubbed: BTreeSet<String> = BTreeSet::new();
    let mut got: BTreeSet<String> = BTreeSet::new();
    unsafe {
        let buf = llvm_sys::core::LLVMCreateMemoryBufferWithMemoryRangeCopy(obj.as_ptr() as *const _, obj.len(), c"obj".as_ptr());
        let mut err = std::ptr::null_mut();
        let bin = LLVMCreateBinary(buf, std::ptr::null_mut(), &mut err);
        if bin.is_null() {
            let msg = if err.is_null() { String::new() } else { CStr::from_ptr(err).to_string_lossy().into_owned() };
            if !err.is_null() {
                llvm_sys::core::LLVMDisposeMessage(err);
            }
            llvm_sys::core::LLVMDisposeMemoryBuffer(buf);
            return Err(EmberError::Llvm(format!("reading object: {msg}")));
        }
        let it = LLVMObjectFileCopySectionIterator(bin);
        while LLVMObjectFileIsSectionIteratorAtEnd(bin, it) == 0 {
            let np = LLVMGetSectionName(it);
            let name = if np.is_null() { String::new() } else { CStr::from_ptr(np).to_string_lossy().into_owned() };
            let n = LLVMGetSectionSize(it);
            if name.starts_with(".text") {
                size.text += n;
                let bytes = std::slice::from_raw_parts(LLVMGetSectionContents(it) as *const u8, n as usize);
                size.insts += count_instructions(bytes, target);
            } else if name.starts_with(".data") || name.starts_with(".rodata") || name.starts_with(".bss") {
                size.data_bytes += n;
            } else if name.starts_with(".rela.text") {
                let ri = LLVMGetRelocations(it);
                while LLVMIsRelocationIteratorAtEnd(it, ri) == 0 {
                    let ty = LLVMGetRelocationType(ri);
                    let si = LLVMGetRelocationSymbol(ri);
                    let sp = LLVMGetSymbolName(si);
                    let sym = if sp.is_null() { String::new() } else { CStr::from_ptr(sp).to_string_lossy().into_owned() };
                    LLVMDisposeSymbolIterator(si);
                    let external = !sym.is_empty() && !sym.starts_with('.') && !sym.starts_with("ember_fn");
                    match (target, ty) {
                        // R_AARCH64_JUMP26, R_AARCH64_CALL26; R_X86_64_PC32, R_X86_64_PLT32
                        (Target::Aarch64, 282 | 283) | (Target::X86_64, 2 | 4) if external => {
                            stubbed.insert(sym.clone());
                            got.insert(sym);
                        }
                        // R_AARCH64_ADR_GOT_PAGE; R_X86_64_GOTPCREL, GOTPCRELX, REX_GOTPCRELX
                        (Target::Aarch64, 311) | (Target::X86_64, 9 | 41 | 42) => {
                            got.insert(sym);
                        }
                        _ => {}
                    }
                    LLVMMoveToNextRelocation(ri);
                }
                LLVMDisposeRelocationIterator(ri);
            }
            LLVMMoveToNextSection(it);
        }
        LLVMDisposeSectionIterator(it);
        LLVMDisposeBinary(bin);
    }
    size.stubs = stubbed.len() as u64;
    size.stub_bytes = size.stubs * if target == Target::Aarch64 { 12 } else { 6 };
    size.got_bytes = 8 * got.len() as u64;
    Ok(size)
}

/// Counts instructions by disassembling (AArch64 instructions are 4 bytes; x86-64 is decoded).
fn count_instructions(bytes: &[u8], target: Target) -> u64 {
    if target == Target::Aarch64 {
        return bytes.len() as u64 / 4;
    }
    use llvm_sys::disassembler::*;
    unsafe {
        let triple = std::ffi::CString::new(target.triple()).unwrap();
        let dc = LLVMCreateDisasm(triple.as_ptr(), std::ptr::null_mut(), 0, None, None);
        if dc.is_null() {
            return 0;
        }
        let mut out = [0 as libc::c_char; 256];
        let (mut off, mut n) = (0usize, 0u64);
        while off < bytes.len() {
            let k = LLVMDisasmInstruction(
                dc,
                bytes.as_ptr().add(off) as *mut u8,
                (bytes.len() - off) as u64,
                off as u64,
                out.as_mut_ptr(),
                out.len(),
            );
            off += k.max(1);
            n += 1;
        }
        LLVMDisasmDispose(dc);
        n
    }
}
