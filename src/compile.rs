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

use crate::cache::{Cache, Key, KeyHasher, Miss};
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
    /// What the code cache did.
    pub cache: CacheUse,
    /// The cache key the code was compiled or loaded under, while it is live.
    pub key: Option<Key>,
    /// What each HIR pass did: `name changes time`, one entry per pass in pipeline order
    /// ([`passes::summary`]); empty for code loaded from the cache.
    pub passes: String,
}

/// Wire flags that shape how a compile runs, not what it produces (not part of the cache key).
#[derive(Clone, Copy, Debug, Default)]
struct Wanted {
    /// [`hir::wire::EMBER_WIRE_FLAG_FINISH_AT_EXIT`].
    finish_at_exit: bool,
    /// [`hir::wire::EMBER_WIRE_FLAG_CACHE_ONLY`].
    cache_only: bool,
}

/// What the persistent code cache did for one compile (`cache` of `EmberCompiled`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheUse {
    /// The cache is off.
    Off = 0,
    /// The object was loaded from the cache: no LLVM work.
    Loaded = 1,
    /// Compiled, and the object was written to the cache.
    Stored = 2,
    /// The entry found was truncated, corrupt or foreign: deleted, compiled and written anew.
    Rejected = 3,
    /// Compiled without the cache: the same key is live in this process (another code
    /// object with identical content), or the entry could not be written.
    Bypassed = 4,
}

/// Where and how much the persistent code cache keeps.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// The cache directory (created on first write).
    pub dir: std::path::PathBuf,
    /// Size cap of the directory's entries, in bytes.
    pub max_bytes: u64,
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
    /// The persistent code cache, or `None` (off).
    pub cache: Option<CacheConfig>,
    /// What identifies the host build for the cache key (the shim passes CPython's version
    /// and the identity of the shim's and `libember.so`'s files).
    pub host_id: String,
    /// The helper call-site policy, or `None` for the target's default
    /// ([`crate::passes_llvm::Policy::Auto`]).
    pub call_policy: Option<crate::passes_llvm::Policy>,
    /// Directory for each compiled function's optimised LLVM IR (`<name>.ll`), or `None`.
    pub dump_ir: Option<std::path::PathBuf>,
    /// Register compiled code with gdb's JIT interface (best effort; see
    /// [`crate::orc::Jit::enable_debugger_support`]).
    pub debugger: bool,
    /// Keep a frame pointer in compiled code (every function of the module, the inlined helpers
    /// with it), for frame-pointer unwinders such as `perf record -g`.
    pub frame_pointers: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            helpers: vec![],
            bitcode: vec![],
            opt_level: 1,
            cache: None,
            host_id: String::new(),
            call_policy: None,
            dump_ir: None,
            debugger: false,
            frame_pointers: false,
        }
    }
}

/// What [`Compiler::dump`] returns. Shared with C as `EmberDump` (`ember_dump`'s `what`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::FromRepr)]
pub enum Dump {
    /// The SSA HIR text form after the HIR passes.
    Hir = 0,
    /// The LLVM module after every LLVM pass.
    Llvm = 1,
    /// The machine code as assembly text.
    Asm = 2,
}

/// A JIT compiler instance: an LLJIT with the runtime helpers defined.
pub struct Compiler {
    jit: Jit,
    tm: TargetMachine,
    config: Config,
    next_id: u64,
    /// The JIT's target, when Ember's LLVM passes know it.
    target: Option<crate::passes_llvm::Target>,
    /// Ember's LLVM passes for the host (call-site policy, shared exits; issue 6).
    llvm_passes: crate::passes_llvm::Options,
    /// Helper name → address, for the absolute call-site lowering.
    helper_addrs: std::collections::HashMap<String, u64>,
    /// The persistent code cache, when on.
    cache: Option<Cache>,
    /// The part of every cache key that is fixed for this compiler (see [`Compiler::cache_key`]):
    /// format, host build, helper bitcode, target triple, CPU, features and opt level.
    key_base: blake3::Hasher,
    /// Cache keys of live code (each names at most one live function).
    live_keys: std::collections::HashSet<Key>,
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
    /// defined; [`EmberError::Usage`] for an opt level above 2.
    pub fn new(config: Config) -> Result<Compiler, EmberError> {
        if config.opt_level > 2 {
            return Err(EmberError::Usage(format!("opt level {} (expected 0..=2)", config.opt_level)));
        }
        let mut config = config;
        config.bitcode = prepare_bitcode(&config.bitcode)?;
        let jit = Jit::new(codegen_level(config.opt_level))?;
        if config.debugger {
            // Best effort: without it gdb shows `??` for compiled frames, nothing else changes.
            let _ = jit.enable_debugger_support();
        }
        jit.define_absolute(&config.helpers)?;
        let tm = orc::target_machine(&jit.triple, codegen_level(config.opt_level))?;
        let helper_addrs = config.helpers.iter().cloned().collect();
        let target = crate::passes_llvm::Target::parse(&jit.triple);
        let llvm_passes = match target {
            Some(t) => crate::passes_llvm::Options::for_host_jit(t, config.call_policy),
            None => crate::passes_llvm::Options { share_exits: false, ..Default::default() },
        };
        let cache = config.cache.as_ref().map(|c| Cache::new(&c.dir, c.max_bytes));
        let mut key_base = blake3::Hasher::new();
        key_base.update(&crate::cache::MAGIC);
        key_base.update(config.host_id.as_bytes());
        key_base.update(blake3::hash(&config.bitcode).as_bytes());
        let machine = format!(
            "{}|{}|{}|{}|fp{}",
            jit.triple,
            tm.get_cpu().to_string_lossy(),
            tm.get_feature_string().to_string_lossy(),
            config.opt_level,
            config.frame_pointers as u8
        );
        key_base.update(machine.as_bytes());
        Ok(Compiler { jit, tm, config, next_id: 0, target, llvm_passes, helper_addrs, cache, key_base, live_keys: Default::default() })
    }

    /// The cache key of a split function under this compiler's configuration, or `None` when
    /// the cache is off or the call-site policy bakes helper addresses into code.
    fn cache_key(&self, split: &Function) -> Option<Key> {
        use std::hash::Hash;
        self.cache.as_ref()?;
        if self.target.is_some_and(|t| self.llvm_passes.policy.needs_addresses(t)) {
            return None;
        }
        // The LLVM pass options can change (set_llvm_passes), so they are hashed per key.
        let mut h = KeyHasher(self.key_base.clone());
        h.0.update(format!("{:?}", self.llvm_passes).as_bytes());
        split.hash(&mut h);
        Some(Key(*h.0.finalize().as_bytes()))
    }

    /// Decodes, builds and compiles one wire function.
    ///
    /// Errors: every [`EmberError`] variant the stages produce; on error nothing is kept.
    pub fn compile_wire(&mut self, wire: &[u8]) -> Result<Compiled, EmberError> {
        let start = Instant::now();
        let w = hir::wire::decode(wire)?;
        let f = hir::build::build(&w)?;
        self.compile_hir_from(f, start, Wanted { finish_at_exit: w.finish_at_exit, cache_only: w.cache_only })
    }

    /// Compiles a HIR function (e.g. one parsed from the text form).
    ///
    /// Errors: as [`Compiler::compile_wire`] after decoding.
    pub fn compile_hir(&mut self, f: Function) -> Result<Compiled, EmberError> {
        self.compile_hir_from(f, Instant::now(), Wanted::default())
    }

    /// `wanted`: the wire flags that shape how, not what, is compiled.
    fn compile_hir_from(&mut self, mut f: Function, start: Instant, wanted: Wanted) -> Result<Compiled, EmberError> {
        let pass_summary = passes::summary(&passes::run_verified(&mut f)?);
        let (split, bindings) = self.split(&f);
        let key = self.cache_key(&split);
        // Entry names are unique while live: a cached object's are derived from its key, so
        // a second live function with the same key compiles under a numbered name instead.
        let live = key.is_some_and(|k| self.live_keys.contains(&k));
        self.next_id += 1;
        let symbol = match key {
            Some(k) if !live => format!("ember_c_{}", &k.hex()[..32]),
            _ => lower::entry_symbol(self.next_id),
        };
        let mut cache_use = match (key, live) {
            (None, _) => CacheUse::Off,
            (Some(_), true) => CacheUse::Bypassed,
            (Some(_), false) => CacheUse::Stored,
        };
        if let (Some(k), CacheUse::Stored, Some(cache)) = (key, cache_use, self.cache.as_ref()) {
            match cache.load(&k, bindings.values.len()) {
                Ok(object) => {
                    // A well-formed entry LLVM cannot link is dropped and compiled anew.
                    if let Ok((entry, code_size, tracker)) = self.jit.add_object_and_lookup(&object, &symbol) {
                        if let Err(e) = self.bind(&symbol, &bindings) {
                            self.jit.remove(tracker);
                            return Err(e);
                        }
                        self.live_keys.insert(k);
                        let compile_ns = start.elapsed().as_nanos() as u64;
                        return Ok(Compiled {
                            entry,
                            code_size,
                            compile_ns,
                            tracker,
                            cache: CacheUse::Loaded,
                            key: Some(k),
                            passes: String::new(),
                        });
                    }
                    cache.discard(&k);
                    cache_use = CacheUse::Rejected;
                }
                Err(Miss::Rejected(_)) => cache_use = CacheUse::Rejected,
                Err(Miss::Absent) => {}
            }
        }
        if wanted.cache_only {
            return Err(EmberError::Dropped("not in the code cache (a load-only request)".into()));
        }
        unsafe {
            let tsc = LLVMOrcCreateNewThreadSafeContext();
            let ctx = ContextRef::new(LLVMOrcThreadSafeContextGetContext(tsc));
            let built = self.build_module(ctx, &split, &bindings, &symbol);
            let m = match built {
                Ok(m) => m,
                Err(e) => {
                    LLVMOrcDisposeThreadSafeContext(tsc);
                    return Err(e);
                }
            };
            if crate::background::exiting() && !wanted.finish_at_exit {
                // Exit is waiting for this compile: skip machine-code generation.
                drop(m);
                LLVMOrcDisposeThreadSafeContext(tsc);
                return Err(EmberError::Dropped("the interpreter is exiting".into()));
            }
            let raw = m.as_mut_ptr();
            std::mem::forget(m);
            let tsm = LLVMOrcCreateNewThreadSafeModule(raw, tsc);
            LLVMOrcDisposeThreadSafeContext(tsc);
            let storing = matches!(cache_use, CacheUse::Stored | CacheUse::Rejected);
            self.jit.set_capture(storing);
            let added = self.jit.add_and_lookup(tsm, &symbol);
            let object = self.jit.captured();
            self.jit.set_capture(false);
            let (entry, code_size, tracker) = added?;
            if let Err(e) = self.bind(&symbol, &bindings) {
                self.jit.remove(tracker);
                return Err(e);
            }
            if let (true, Some(k), Some(cache)) = (storing, key, self.cache.as_mut()) {
                if object.is_empty() || cache.store(&k, bindings.values.len(), &object).is_err() {
                    cache_use = CacheUse::Bypassed;
                }
            }
            let key = if live { None } else { key };
            if let Some(k) = key {
                self.live_keys.insert(k);
            }
            Ok(Compiled {
                entry,
                code_size,
                compile_ns: start.elapsed().as_nanos() as u64,
                tracker,
                cache: cache_use,
                key,
                passes: pass_summary,
            })
        }
    }

    /// The text of one stage of compiling `wire` as this compiler would compile it now, without
    /// installing anything (`ember.dump`): the HIR after the passes ([`Dump::Hir`]), the LLVM
    /// module after every pass, helper bitcode linked and inlined ([`Dump::Llvm`]), or the
    /// machine code LLVM emits for that module, as assembly text ([`Dump::Asm`]; the same
    /// pipeline and code generator as the installed code, which ORC links at another address,
    /// so addresses and the binding table's place differ).
    ///
    /// Errors: every [`EmberError`] variant [`Compiler::compile_wire`] can give, except those of
    /// linking and the cache.
    pub fn dump(&mut self, wire: &[u8], what: Dump) -> Result<String, EmberError> {
        let w = hir::wire::decode(wire)?;
        let mut f = hir::build::build(&w)?;
        passes::run_verified(&mut f)?;
        if what == Dump::Hir {
            return Ok(hir::printer::print(&f));
        }
        let (split, bindings) = self.split(&f);
        let ctx = inkwell::context::Context::create();
        let ctx_ref = unsafe { ContextRef::new(ctx.raw()) };
        let m = self.build_module(ctx_ref, &split, &bindings, "ember_dump")?;
        match what {
            Dump::Llvm => Ok(m.print_to_string().to_string()),
            _ => {
                let buf = self
                    .tm
                    .write_to_memory_buffer(&m, inkwell::targets::FileType::Assembly)
                    .map_err(|e| EmberError::Llvm(e.to_string()))?;
                Ok(String::from_utf8_lossy(buf.as_slice()).into_owned())
            }
        }
    }

    /// `f` split into process-independent code and its bindings ([`hir::bind::split`]), with
    /// code-unit addresses bound too where this compiler's target wants them.
    fn split(&self, f: &Function) -> (Function, hir::bind::Bindings) {
        hir::bind::split(f, self.target.is_some_and(|t| t.binds_code_units()))
    }

    /// Fills the binding table of the code just linked under `symbol` with this process's
    /// values ([`crate::hir::bind`]), before anything can run it.
    ///
    /// Errors: [`EmberError::Llvm`] when the table is missing.
    fn bind(&self, symbol: &str, bindings: &hir::bind::Bindings) -> Result<(), EmberError> {
        let addr = self.jit.lookup(&lower::bindings_symbol(symbol))?;
        if addr == 0 {
            return Err(EmberError::Llvm(format!("no binding table for {symbol}")));
        }
        let table = addr as *mut u64;
        for (i, v) in bindings.values.iter().enumerate() {
            // The table has one 8-byte slot per binding (lower::lower_split), in writable data.
            unsafe { table.add(i).write(*v) };
        }
        Ok(())
    }

    /// Lowers `f`, links the helper bitcode, and runs the LLVM pipeline for this opt level.
    fn build_module<'ctx>(
        &self,
        ctx: ContextRef<'ctx>,
        f: &Function,
        bindings: &hir::bind::Bindings,
        symbol: &str,
    ) -> Result<Module<'ctx>, EmberError> {
        let how = lower::Bound {
            init: false,
            invariant: self.target.is_some_and(|t| t.invariant_bindings()),
            call_site_cache: self.target.is_some_and(|t| t.call_site_cache()),
            inline_helpers: !self.config.bitcode.is_empty(),
        };
        let m = lower::lower_split(ctx, f, bindings, symbol, how)?;
        m.set_triple(&inkwell::targets::TargetTriple::create(&self.jit.triple));
        m.set_data_layout(&self.tm.get_target_data().get_data_layout());
        link_bitcode(ctx, &m, &self.config.bitcode, symbol)?;
        if self.config.frame_pointers {
            keep_frame_pointers(ctx, &m);
        }
        crate::passes_llvm::run_early(&m, &self.llvm_passes)?;
        let pipeline = match self.config.opt_level {
            0 => "globaldce",
            1 => LIGHT_PIPELINE,
            _ => "globaldce,default<O2>",
        };
        m.run_passes(pipeline, &self.tm, PassBuilderOptions::create()).map_err(|e| EmberError::Llvm(e.to_string()))?;
        if let Some(t) = self.target {
            crate::passes_llvm::run(&m, t, &self.llvm_passes, &self.helper_addrs)?;
        }
        if let Some(dir) = &self.config.dump_ir {
            // Debug aid: the optimised module of every compiled function, one file each.
            let path = dir.join(format!("{}.ll", f.full_name().replace(['/', ':', '<', '>'], "_")));
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

    /// Frees a compiled function's code; `key` is [`Compiled::key`].
    pub fn free(&mut self, c: Tracker, key: Option<Key>) {
        if let Some(k) = key {
            self.live_keys.remove(&k);
        }
        self.jit.remove(c);
    }

    /// The JIT's target triple.
    pub fn triple(&self) -> &str {
        &self.jit.triple
    }
}

/// Gives every function defined in `m` LLVM's `"frame-pointer"="all"` attribute (replacing the
/// helper bitcode's `none`), so that the code keeps `rbp`/`x29` chained through each frame.
fn keep_frame_pointers(ctx: ContextRef<'_>, m: &Module<'_>) {
    let attr = ctx.create_string_attribute("frame-pointer", "all");
    let mut f = m.get_first_function();
    while let Some(func) = f {
        if func.count_basic_blocks() > 0 {
            func.add_attribute(inkwell::attributes::AttributeLoc::Function, attr);
        }
        f = func.get_next_function();
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
