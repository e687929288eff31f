//! The layout of the self-specialising attribute inline caches, shared with C.
//!
//! One [`AttrIc`] per LOAD_ATTR (attribute and method forms) and STORE_ATTR site lives in the
//! compiled module's data ([`crate::lower`] emits it, empty); the C runtime reads and
//! specialises it (`cpython-glue/runtime_fast.c` the inlined entry-0 fast paths,
//! `cpython-glue/runtime_ic.c` the rest). These definitions are the only ones: cbindgen emits
//! them into `include/ember.h` as `EmberICEntry`, `EmberAttrIC`, `EMBER_IC_WAYS` and
//! `EMBER_IC_EMPTY`, and [`ResumeIc`] as `EmberResumeIC`, which `cpython-glue/ember_runtime.h`
//! includes, and the lowering builds the LLVM types of the caches from them (tests in
//! `tests/contract.rs` compare the LLVM layouts with these on x86-64 and AArch64). The entry kinds (`EMBER_IC_INSTANCE_VALUE`, ...) are
//! only read and written by C and stay in `ember_runtime.h`.
//!
//! The interpreter's single-entry analogues are `_PyAttrCache` and `_PyLoadMethodCache` of
//! CPython's `Include/internal/pycore_code.h` (type version, index or keys version, descriptor),
//! which live in the bytecode itself; Ember's caches keep [`EMBER_IC_WAYS`] entries instead.

/// Entries per attribute inline cache ([`AttrIc::e`]): the number of type versions one
/// LOAD_ATTR / STORE_ATTR site keeps specialised at once (polymorphic). Entry 0 is the one the
/// inlined fast path checks; the others are searched by the miss path. The interpreter's
/// `_PyAttrCache` / `_PyLoadMethodCache` have one.
pub const EMBER_IC_WAYS: usize = 4;

/// The value of [`IcEntry::version`] for an entry that caches nothing (a 32-bit type version
/// tag the interpreter, which counts its tags up from 1, does not reach in practice), and of
/// [`IcEntry::index`] for an instance attribute the type's shared keys lack.
pub const EMBER_IC_EMPTY: u32 = u32::MAX;

/// One cached type of an [`AttrIc`] (`EmberICEntry` in C; 40 bytes on 64-bit targets). Its
/// fields are those of CPython's `_PyAttrCache` / `_PyLoadMethodCache` (`version`,
/// `index`, `keys_version`, `descr`; CPython splits them into 16-bit code units), held in
/// whole 32-bit and pointer fields and tagged with the kind of specialisation (`EMBER_IC_*` of
/// `ember_runtime.h`), since one site may hold entries of several kinds.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IcEntry {
    /// Type version tag (`tp_version_tag`) of the owner's type, or of the class itself for the
    /// class kinds; [`EMBER_IC_EMPTY`] = nothing cached.
    pub version: u32,
    /// What the entry caches: one of the `EMBER_IC_*` kinds of `ember_runtime.h` (0 = none).
    pub kind: u32,
    /// Index into the instance's inline values (instance kinds), or [`EMBER_IC_EMPTY`] when the
    /// shared keys lack the name.
    pub index: u32,
    /// Version of the type's shared keys (`dk_version`; method with values).
    pub keys_version: u32,
    /// Borrowed method descriptor (method kinds) or class attribute (class kinds); a
    /// `PyObject *` in C (the type keeps it alive while its version tag is unchanged).
    pub descr: *mut core::ffi::c_void,
    /// The type (`PyTypeObject *`) the entry was filled for: the owner's type, or the class
    /// itself for the class kinds. Borrowed and only compared, never dereferenced: a miss on an
    /// object of this type whose version has moved on (a class attribute assigned after the
    /// site was filled) refills this entry, so that entry 0, the inlined one, does not keep a
    /// version that can no longer match.
    pub owner_type: *mut core::ffi::c_void,
    /// Index of the `__dict__` entry that held the name last (instance any), a hint as in
    /// LOAD_ATTR_WITH_HINT.
    pub hint: u32,
    /// Padding to a multiple of the pointer size, kept explicit; always 0.
    pub unused: u32,
}

/// An attribute inline cache (`EmberAttrIC` in C): [`EMBER_IC_WAYS`] entries, then the miss
/// count and the replacement cursor. The lowering emits it empty (every entry's version
/// [`EMBER_IC_EMPTY`], `misses` 0, `victim` 1); the runtime fills it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct AttrIc {
    /// The cached types; entry 0 is the one the inlined fast path checks.
    pub e: [IcEntry; EMBER_IC_WAYS],
    /// Lookups no entry answered, so far; after `EMBER_IC_MAX_MISSES` of them the site stops
    /// specialising (megamorphic).
    pub misses: u32,
    /// Next entry (1 ..= `EMBER_IC_WAYS` - 1) to replace when all are taken.
    pub victim: u32,
}

/// A call or `SEND` / `FOR_ITER` site's cache of the compiled entry of the code object it last
/// entered (`EmberResumeIC` in C; 24 bytes on 64-bit targets), so that entering it again does not
/// look the code object's record up (`co_extra`, a chain of dependent loads). The lowering emits
/// one per such site, zeroed (`Lower::resume_ic`); the C runtime fills it
/// (`ember_resume_ic_fill`, `cpython-glue/shim.c`) and reads it (`ember_resume_ic_entry`,
/// `cpython-glue/ember_runtime.h`). A hit needs `epoch` to equal `ember_code_epoch`, which the
/// shim bumps whenever a code object with a record dies (so that a cached address a new code
/// object reuses never matches) and whenever a compiled entry is withdrawn.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ResumeIc {
    /// The code object last entered (`PyObject *`, borrowed; only compared).
    pub code: *mut core::ffi::c_void,
    /// Its compiled entry: `PyObject *(*)(PyThreadState *, _PyInterpreterFrame *)` (C's
    /// `entry_fn`), held as an untyped pointer.
    pub entry: *mut core::ffi::c_void,
    /// `ember_code_epoch` when the entry was cached (0: never filled).
    pub epoch: u64,
}
