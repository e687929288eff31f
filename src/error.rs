//! Errors returned by every layer of Ember, and their C ABI codes.

use thiserror::Error;

/// An Ember error. Each variant maps to an `EmberStatus` code of the C ABI.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EmberError {
    /// The wire bytes are malformed (truncated, bad magic, index out of range, ...).
    #[error("malformed HIR wire input: {0}")]
    Wire(String),
    /// The function uses a construct Ember does not compile (the message names it).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The bytecode is well-formed but its stack discipline is inconsistent.
    #[error("HIR build failed: {0}")]
    Build(String),
    /// The HIR text form could not be parsed.
    #[error("HIR parse error: {0}")]
    Parse(String),
    /// HIR failed structural verification.
    #[error("HIR verification failed: {0}")]
    Verify(String),
    /// LLVM rejected the module or failed to compile or link it.
    #[error("LLVM error: {0}")]
    Llvm(String),
    /// The library was used before `ember_init` or with invalid arguments.
    #[error("invalid use: {0}")]
    Usage(String),
    /// A Rust panic was caught at the FFI boundary.
    #[error("internal error (panic): {0}")]
    Internal(String),
    /// A background compile job was dropped (queue full, compile thread shut down); the
    /// function stays interpreted and may be submitted again.
    #[error("not compiled now: {0}")]
    Dropped(String),
}

impl EmberError {
    /// The C ABI status code for this error (see `EmberStatus` in `ember.h`).
    pub fn status(&self) -> crate::ffi::EmberStatus {
        use crate::ffi::EmberStatus as S;
        match self {
            EmberError::Wire(_) | EmberError::Parse(_) => S::Malformed,
            EmberError::Unsupported(_) => S::Unsupported,
            EmberError::Build(_) | EmberError::Verify(_) => S::InvalidHir,
            EmberError::Llvm(_) => S::Llvm,
            EmberError::Usage(_) => S::Usage,
            EmberError::Internal(_) => S::Internal,
            EmberError::Dropped(_) => S::Dropped,
        }
    }
}
