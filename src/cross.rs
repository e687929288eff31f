//! Relocatable-object emission for any supported target from the same HIR (the host target is
//! compiled through ORC by [`crate::compile`]; this is the other way, e.g. AArch64 objects on an
//! x86-64 machine for the qemu harness and the code-size guards).
//!
//! The pipeline is the JIT's: HIR passes, [`crate::lower`], the opt level's IR pipeline, then
//! Ember's LLVM passes ([`crate::passes_llvm`]) and code generation (PIC, small code model).
//! Helper bitcode is not linked (it is built for the host), so every helper stays a call.

use std::collections::HashMap;

use inkwell::context::Context;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::FileType;
use inkwell::OptimizationLevel;

use crate::error::EmberError;
use crate::hir::{self, Function};
use crate::passes_llvm::{self, Options, Target};

/// How to compile an object.
#[derive(Clone, Debug)]
pub struct ObjectOptions {
    /// Target to emit code for.
    pub target: Target,
    /// 0, 1 or 2, as [`crate::compile::Config::opt_level`].
    pub opt_level: u32,
    /// Ember's LLVM passes; `None` emits the lowering as is (no call-site pass at all).
    pub passes: Option<Options>,
    /// Helper addresses for absolute calls; empty means [`passes_llvm::synthetic_addresses`].
    pub addrs: HashMap<String, u64>,
    /// Name of the entry symbol.
    pub symbol: String,
}

impl ObjectOptions {
    /// Options for `target` with its default passes ([`Options::for_target`]) at opt level 2
    /// and entry `ember_fn`.
    pub fn new(target: Target) -> ObjectOptions {
        ObjectOptions { target, opt_level: 2, passes: Some(Options::for_target(target)), addrs: HashMap::new(), symbol: "ember_fn".into() }
    }
}

/// What [`compile`] produced.
#[derive(Clone, Debug)]
pub struct Output {
    /// ELF relocatable object bytes (or LLVM IR text, for [`Emit::Ir`]).
    pub bytes: Vec<u8>,
    /// What Ember's LLVM passes did.
    pub stats: passes_llvm::Stats,
}

/// What to emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// An ELF relocatable object.
    Object,
    /// The final LLVM IR (after every pass) as text.
    Ir,
}

fn codegen_level(opt: u32) -> OptimizationLevel {
    match opt {
        0 => OptimizationLevel::None,
        1 => OptimizationLevel::Less,
        _ => OptimizationLevel::Default,
    }
}

/// Compiles `f` to an object (or IR) for `o.target`.
///
/// Errors: [`EmberError::Usage`] for an opt level above 2; every error of verification, the
/// HIR passes, lowering and LLVM (as [`EmberError::Llvm`]).
pub fn compile(mut f: Function, o: &ObjectOptions, emit: Emit) -> Result<Output, EmberError> {
    if o.opt_level > 2 {
        return Err(EmberError::Usage(format!("opt level {} (expected 0..=2)", o.opt_level)));
    }
    crate::passes::run_verified(&mut f)?;
    let tm = crate::orc::target_machine(o.target.triple(), codegen_level(o.opt_level))?;
    let ctx = Context::create();
    let ctx_ref = unsafe { inkwell::context::ContextRef::new(ctx.raw()) };
    let (split, bindings) = hir::bind::split(&f, o.target.binds_code_units());
    let how = crate::lower::Bound {
        init: true,
        invariant: o.target.invariant_bindings(),
        call_site_cache: o.target.call_site_cache(),
        inline_helpers: false,
    };
    let m = crate::lower::lower_split(ctx_ref, &split, &bindings, &o.symbol, how)?;
    m.set_triple(&inkwell::targets::TargetTriple::create(o.target.triple()));
    m.set_data_layout(&tm.get_target_data().get_data_layout());
    let early = match &o.passes {
        Some(p) => passes_llvm::run_early(&m, p)?,
        None => 0,
    };
    let pipeline = match o.opt_level {
        0 => "globaldce",
        1 => crate::compile::LIGHT_PIPELINE,
        _ => "globaldce,default<O2>",
    };
    m.run_passes(pipeline, &tm, PassBuilderOptions::create()).map_err(|e| EmberError::Llvm(e.to_string()))?;
    let mut stats = match &o.passes {
        Some(p) => {
            let synth;
            let addrs = if o.addrs.is_empty() {
                synth = passes_llvm::synthetic_addresses();
                &synth
            } else {
                &o.addrs
            };
            passes_llvm::run(&m, o.target, p, addrs)?
        }
        None => passes_llvm::Stats::default(),
    };
    stats.exits_shared = early;
    let bytes = match emit {
        Emit::Ir => m.print_to_string().to_bytes().to_vec(),
        Emit::Object => {
            let buf = tm.write_to_memory_buffer(&m, FileType::Object).map_err(|e| EmberError::Llvm(e.to_string()))?;
            buf.as_slice().to_vec()
        }
    };
    Ok(Output { bytes, stats })
}
