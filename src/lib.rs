//! Ember: a JIT compiler for CPython, written in Rust on LLVM.
//!
//! Pipeline: HIR wire bytes from the C shim ([`hir::wire`]) → SSA HIR ([`hir::build`]) →
//! optimisation passes ([`passes`]) → LLVM IR ([`lower`]) linked with the runtime-helper
//! bitcode → ORC LLJIT ([`orc`]) → native entry point. The library knows nothing of the
//! CPython version: struct offsets, helper addresses and the meaning of specialised
//! instructions arrive through the wire format and the helper bitcode. The C ABI is [`ffi`].
#![warn(missing_docs)]

pub mod background;
pub mod cache;
pub mod compile;
pub mod error;
pub mod ffi;
pub mod ffi_background;
#[cfg(feature = "static-llvm")]
pub mod gdb_jit;
pub mod hir;
pub mod ic;
pub mod lower;
pub mod orc;
pub mod passes;
pub mod policy;

pub use error::EmberError;

/// Helper bitcode compiled by build.rs from `cpython-glue/jit_bitcode.c` (empty if clang-19 or
/// the CPython headers were unavailable at build time).
pub static BUILTIN_BITCODE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/helpers.bc"));

// Cross-target code generation and Ember's own LLVM passes (issue 6).
pub mod codesize;
pub mod cross;
pub mod passes_llvm;
