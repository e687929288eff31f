//! The compile pipeline: wire bytes → SSA HIR → passes → LLVM IR (+ helper bitcode) →
//! LLVM passes → ORC LLJIT → native entry point.

use std::time::Instant;

use inkwell::context::{AsContextRef, ContextRef};
use inkwell::memory_buffer::MemoryBuffer;
use inkwell::module::{Linkage, Module};
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::TargetMachine;
use inkwell::OptimizationLevel;
use llvm_sys::bit_reader::LLVMGetBitcodeModuleInContext2;
use llvm_sys::core::{LLVMCreateMemoryBufferWithMemoryRange, LLVMDisposeMemoryBuffer};
use llvm_sys::orc2::*;

use crate::error::EmberError;
use crate::hir::{self, Function};
use crate::lower;
use crate::orc::{self, Jit, Tracker};
use crate::passes;

/// One compiled function.
pub struct Compiled {
    /// Address of the entry point `PyObject *(*)(PyThreadState *, _PyInterpreterFrame *)`.
    pub entry: u64,
    /// Native `.text` bytes of the function's module (including inlined helpers).
    pub code_size: u64,
    /// Wall time of the whole compile, in nanoseconds.
    pub compile_ns: u64,
    /// Frees the code when passed to [`Compiler::free`].
    pub tracker: Tracker,
}

/// Opt level 1 (the default): inline the helper fast paths and clean up, without the full
/// `default<O2>` pipeline. On richards it compiles 35-40 % faster than O2 (13.9 vs 22.3 ms per
/// function) with the same steady-state speed (81.0 vs 80.2 ms per run, single samples).
pub const LIGHT_PIPELINE: &str =
    "globaldce,cgscc(inline),function(sroa,early-cse,instcombine<no-verify-fixpoint>,simplifycfg,gvn,simplifycfg),globaldce";

/// Compiler configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Runtime helpers: symbol name → address.
    pub helpers: Vec<(String, u64)>,
    /// LLVM bitcode with inlinable helper definitions (may be empty).
    pub bitcode: Vec<u8>,
    /// Optimisation level: 0 = no IR passes and fast instruction selection, 1 =
    /// [`LIGHT_PIPELINE`] with codegen level Less (the default), 2 = `default<O2>`.
    pub opt_level: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config { helpers: vec![], bitcode: vec![], opt_level: 1 }
    }
}

/// A JIT compiler instance: an LLJIT with the runtime helpers defined.
pub struct Compiler {
    jit: Jit,
    tm: TargetMachine,
    config: Config,
    next_id: u64,
    /// Ember's LLVM passes for the host (call-site policy, shared exits; issue 6).
    llvm_passes: crate::passes_llvm::Options,
    /// Helper name → address, for the absolute call-site lowering.
    helper_addrs: std::collections::HashMap<String, u64>,
}

fn codegen_level(opt: u32) -> OptimizationLevel {
    match opt {
        0 => OptimizationLevel::None,
        1 => OptimizationLevel::Less,
        _ => OptimizationLevel::Default,
    }
}

impl Compiler {
    /// Creates a compiler.
    ///
    /// Errors: [`EmberError::Llvm`] if the JIT cannot be created or a helper symbol cannot be
    /// defined; [`EmberError::Usage`] for an opt level above 3.
    pub fn new(config: Config) -> Result<Compiler, EmberError> {
        if config.opt_level > 2 {
            return Err(EmberError::Usage(format!("opt level {} (expected 0..=2)", config.opt_level)));
        }
        let mut config = config;
        config.bitcode = prepare_bitcode(&config.bitcode)?;
        let jit = Jit::new(codegen_level(config.opt_level))?;
        jit.define_absolute(&config.helpers)?;
        let tm = orc::target_machine(&jit.triple, codegen_level(config.opt_level))?;
        let helper_addrs = config.helpers.iter().cloned().collect();
        let llvm_passes = match crate::passes_llvm::Target::parse(&jit.triple) {
            Some(t) => crate::passes_llvm::Options::for_host_jit(t),
            None => crate::passes_llvm::Options { share_exits: false, ..Default::default() },
        };
        Ok(Compiler { jit, tm, config, next_id: 0, llvm_passes, helper_addrs })
    }

    /// Decodes, builds and compiles one wire function.
    ///
    /// Errors: every [`EmberError`] variant the stages produce; on error nothing is kept.
    pub fn compile_wire(&mut self, wire: &[u8]) -> Result<Compiled, EmberError> {
        let start = Instant::now();
        let w = hir::wire::decode(wire)?;
        let f = hir::build::build(&w)?;
        self.compile_hir_from(f, start)
    }

    /// Compiles a HIR function (e.g. one parsed from the text form).
    ///
    /// Errors: as [`Compiler::compile_wire`] after decoding.
    pub fn compile_hir(&mut self, f: Function) -> Result<Compiled, EmberError> {
        self.compile_hir_from(f, Instant::now())
    }

    fn compile_hir_from(&mut self, mut f: Function, start: Instant) -> Result<Compiled, EmberError> {
        hir::verify::verify(&f)?;
        passes::run_all(&mut f)?;
        hir::verify::verify(&f)?;
        self.next_id += 1;
        let symbol = lower::entry_symbol(self.next_id);
        unsafe {
            let tsc = LLVMOrcCreateNewThreadSafeContext();
            let ctx = ContextRef::new(LLVMOrcThreadSafeContextGetContext(tsc));
            let built = self.build_module(ctx, &f, &symbol);
            let m = match built {
                Ok(m) => m,
                Err(e) => {
                    LLVMOrcDisposeThreadSafeContext(tsc);
                    return Err(e);
                }
            };
            if crate::background::exiting() {
                // Exit is waiting for this compile: skip machine-code generation.
                drop(m);
                LLVMOrcDisposeThreadSafeContext(tsc);
                return Err(EmberError::Dropped("the interpreter is exiting".into()));
            }
            let raw = m.as_mut_ptr();
            std::mem::forget(m);
            let tsm = LLVMOrcCreateNewThreadSafeModule(raw, tsc);
            LLVMOrcDisposeThreadSafeContext(tsc);
            let (entry, code_size, tracker) = self.jit.add_and_lookup(tsm, &symbol)?;
            Ok(Compiled { entry, code_size, compile_ns: start.elapsed().as_nanos() as u64, tracker })
        }
    }

    /// Lowers `f`, links the helper bitcode, and runs the LLVM pipeline for this opt level.
    fn build_module<'ctx>(&self, ctx: ContextRef<'ctx>, f: &Function, symbol: &str) -> Result<Module<'ctx>, EmberError> {
        let m = lower::lower(ctx, f, symbol)?;
        m.set_triple(&inkwell::targets::TargetTriple::create(&self.jit.triple));
        m.set_data_layout(&self.tm.get_target_data().get_data_layout());
        link_bitcode(ctx, &m, &self.config.bitcode, symbol)?;
        crate::passes_llvm::run_early(&m, &self.llvm_passes)?;
        let pipeline = match self.config.opt_level {
            0 => "globaldce",
            1 => LIGHT_PIPELINE,
            _ => "globaldce,default<O2>",
        };
        m.run_passes(pipeline, &self.tm, PassBuilderOptions::create()).map_err(|e| EmberError::Llvm(e.to_string()))?;
        if let Some(t) = crate::passes_llvm::Target::parse(&self.jit.triple) {
            crate::passes_llvm::run(&m, t, &self.llvm_passes, &self.helper_addrs)?;
        }
        if let Some(dir) = std::env::var_os("EMBER_DUMP_IR") {
            // Debug aid: the optimised module of every compiled function, one file each.
            let path = std::path::Path::new(&dir).join(format!("{}.ll", f.full_name().replace(['/', ':', '<', '>'], "_")));
            let _ = m.print_to_file(path);
        }
        Ok(m)
    }

    /// Sets Ember's LLVM passes for functions compiled from now on (call-site policy, shared
    /// exits, calling conventions; see [`crate::passes_llvm`]). The default is
    /// [`crate::passes_llvm::Options::for_host_jit`] for the host target.
    pub fn set_llvm_passes(&mut self, o: crate::passes_llvm::Options) {
        self.llvm_passes = o;
    }

    /// Frees a compiled function's code.
    pub fn free(&mut self, c: Tracker) {
        self.jit.remove(c);
    }

    /// The JIT's target triple.
    pub fn triple(&self) -> &str {
        &self.jit.triple
    }
}

/// Prepares helper bitcode once per compiler: every definition gets `linkonce_odr` linkage, so
/// that [`link_bitcode`]'s lazy load links, and reads, only the helpers a function calls (and
/// what they call) instead of parsing and linking all of them for every compile (issue 15,
/// item 4: about 2.5 ms per compile before). Empty input stays empty.
///
/// Errors: [`EmberError::Llvm`] if the bitcode cannot be parsed.
pub fn prepare_bitcode(bitcode: &[u8]) -> Result<Vec<u8>, EmberError> {
    if bitcode.is_empty() {
        return Ok(vec![]);
    }
    let ctx = inkwell::context::Context::create();
    let buf = MemoryBuffer::create_from_memory_range_copy(bitcode, "ember-helpers");
    let m = Module::parse_bitcode_from_buffer(&buf, &ctx).map_err(|e| EmberError::Llvm(format!("helper bitcode: {e}")))?;
    let mut f = m.get_first_function();
    while let Some(func) = f {
        if func.count_basic_blocks() > 0 {
            func.set_linkage(Linkage::LinkOnceODR);
        }
        f = func.get_next_function();
    }
    let mut g = m.get_first_global();
    while let Some(gv) = g {
        if gv.get_initializer().is_some() && gv.get_linkage() == Linkage::External {
            gv.set_linkage(Linkage::LinkOnceODR);
        }
        g = gv.get_next_global();
    }
    Ok(m.write_bitcode_to_memory().as_slice().to_vec())
}

/// Links helper bitcode into `m` and gives every linked definition internal linkage so that
/// the optimiser can inline it and drop what is unused (see `llvm19-orc.md` section 5).
///
/// The bitcode is loaded lazily from `bitcode` (best after [`prepare_bitcode`]), so only the
/// bodies the link needs are read.
///
/// Errors: [`EmberError::Llvm`] if the bitcode cannot be parsed or linked.
pub fn link_bitcode<'ctx>(ctx: ContextRef<'ctx>, m: &Module<'ctx>, bitcode: &[u8], keep: &str) -> Result<(), EmberError> {
    if bitcode.is_empty() {
        return Ok(());
    }
    // The function's own globals (attribute inline caches) are mutable by design; only the
    // globals the bitcode brings must be constants.
    let mut own = std::collections::HashSet::new();
    let mut g = m.get_first_global();
    while let Some(gv) = g {
        own.insert(gv.get_name().to_bytes().to_vec());
        g = gv.get_next_global();
    }
    // A lazy module: function bodies are read from the buffer only when the linker needs them.
    // The module owns the MemoryBuffer object, not the bytes, which outlive it (the caller's).
    let helpers = unsafe {
        let buf =
            LLVMCreateMemoryBufferWithMemoryRange(bitcode.as_ptr() as *const libc::c_char, bitcode.len(), c"ember-helpers".as_ptr(), 0);
        let mut raw = std::ptr::null_mut();
        if LLVMGetBitcodeModuleInContext2(ctx.as_ctx_ref(), buf, &mut raw) != 0 {
            LLVMDisposeMemoryBuffer(buf);
            return Err(EmberError::Llvm("helper bitcode: cannot be read".into()));
        }
        Module::new(raw)
    };
    helpers.set_data_layout(&m.get_data_layout());
    helpers.set_triple(&m.get_triple());
    m.link_in_module(helpers).map_err(|e| EmberError::Llvm(format!("linking helper bitcode: {e}")))?;
    let mut f = m.get_first_function();
    while let Some(func) = f {
        if func.count_basic_blocks() > 0 && func.get_name().to_bytes() != keep.as_bytes() {
            func.set_linkage(Linkage::Internal);
        }
        f = func.get_next_function();
    }
    let mut g = m.get_first_global();
    while let Some(gv) = g {
        if gv.get_initializer().is_some() && !own.contains(gv.get_name().to_bytes()) {
            if !gv.is_constant() {
                let name = gv.get_name().to_string_lossy().into_owned();
                return Err(EmberError::Llvm(format!("helper bitcode defines mutable global {name}")));
            }
            gv.set_linkage(Linkage::Internal);
        }
        g = gv.get_next_global();
    }
    Ok(())
}
