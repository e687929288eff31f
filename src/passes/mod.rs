//! HIR optimisation passes, one per file (like Cranelift's passes). Each pass takes a verified
//! [`Function`] and leaves it verified.

pub mod pure_pop;
pub mod unpack_store;

use crate::error::EmberError;
use crate::hir::Function;

/// Runs the default pass pipeline.
///
/// Errors: none today; the signature leaves room for passes that can fail.
pub fn run_all(f: &mut Function) -> Result<(), EmberError> {
    pure_pop::run(f);
    unpack_store::run(f);
    Ok(())
}
