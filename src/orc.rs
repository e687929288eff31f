//! A thin owner of an ORC LLJIT instance over the LLVM 19 C API (`llvm_sys::orc2`).
//!
//! Follows `shared/design/llvm19-orc.md` section 2: the target machine is created with PIC and
//! the small code model (the C API's JIT default would be the large model), runtime helpers
//! are defined as absolute symbols (a cdylib loaded `RTLD_LOCAL` is invisible to the process
//! symbol generator), and every compiled module gets its own resource tracker so its code can
//! be freed. An object-transform hook records the `.text` bytes of each object as it is linked.

use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicU64, Ordering};

use inkwell::targets::{CodeModel, InitializationConfig, RelocMode, Target, TargetMachine};
use inkwell::OptimizationLevel;
use llvm_sys::error::{LLVMDisposeErrorMessage, LLVMErrorRef, LLVMGetErrorMessage};
use llvm_sys::object::*;
use llvm_sys::orc2::lljit::*;
use llvm_sys::orc2::*;
use llvm_sys::prelude::LLVMMemoryBufferRef;

use crate::error::EmberError;

/// Converts an `LLVMErrorRef` into an [`EmberError::Llvm`] (consuming it).
pub(crate) fn take_error(e: LLVMErrorRef, what: &str) -> Result<(), EmberError> {
    if e.is_null() {
        return Ok(());
    }
    unsafe {
        let m = LLVMGetErrorMessage(e);
        let s = CStr::from_ptr(m).to_string_lossy().into_owned();
        LLVMDisposeErrorMessage(m);
        Err(EmberError::Llvm(format!("{what}: {s}")))
    }
}

/// Initialises the x86-64 and AArch64 backends (once per process).
pub fn init_targets() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let cfg = InitializationConfig::default();
        Target::initialize_x86(&cfg);
        Target::initialize_aarch64(&cfg);
    });
}

/// Creates a target machine for `triple` (PIC, small code model).
///
/// Errors: [`EmberError::Llvm`] when LLVM does not know the triple.
pub fn target_machine(triple: &str, opt: OptimizationLevel) -> Result<TargetMachine, EmberError> {
    init_targets();
    let t = inkwell::targets::TargetTriple::create(triple);
    let target = Target::from_triple(&t).map_err(|e| EmberError::Llvm(format!("target {triple}: {e}")))?;
    let (cpu, features) = if triple == host_triple() {
        (TargetMachine::get_host_cpu_name().to_string(), TargetMachine::get_host_cpu_features().to_string())
    } else {
        ("generic".to_string(), String::new())
    };
    target
        .create_target_machine(&t, &cpu, &features, opt, RelocMode::PIC, CodeModel::Small)
        .ok_or_else(|| EmberError::Llvm(format!("cannot create a target machine for {triple}")))
}

/// The host's target triple, e.g. `x86_64-pc-linux-gnu`.
pub fn host_triple() -> String {
    TargetMachine::get_default_triple().as_str().to_string_lossy().into_owned()
}

/// Sums the sizes of the `.text*` sections of an object file in memory (bytes). `buf` must be
/// a live LLVM memory buffer (ORC's object-transform layer hands one over).
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn text_bytes(buf: LLVMMemoryBufferRef) -> u64 {
    unsafe {
        let mut err = std::ptr::null_mut();
        let bin = LLVMCreateBinary(buf, std::ptr::null_mut(), &mut err);
        if bin.is_null() {
            if !err.is_null() {
                llvm_sys::core::LLVMDisposeMessage(err);
            }
            return 0;
        }
        let it = LLVMObjectFileCopySectionIterator(bin);
        let mut total = 0;
        while LLVMObjectFileIsSectionIteratorAtEnd(bin, it) == 0 {
            let name = LLVMGetSectionName(it);
            if !name.is_null() && CStr::from_ptr(name).to_bytes().starts_with(b".text") {
                total += LLVMGetSectionSize(it);
            }
            LLVMMoveToNextSection(it);
        }
        LLVMDisposeSectionIterator(it);
        LLVMDisposeBinary(bin);
        total
    }
}

/// The last error ORC reported through the session's error reporter (e.g. "Symbols not
/// found: [ ember_incref ]"), which the lookup error itself does not carry.
static REPORTED: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

extern "C" fn report_error(_ctx: *mut libc::c_void, e: LLVMErrorRef) {
    if let Err(EmberError::Llvm(m)) = take_error(e, "session") {
        *REPORTED.lock().unwrap_or_else(|p| p.into_inner()) = m;
    }
}

/// What the object-transform hook records: text bytes linked so far, and (when asked) a copy
/// of the next object, for the code cache.
#[derive(Default)]
struct ObjectHook {
    text: AtomicU64,
    capture: std::sync::Mutex<Option<Vec<u8>>>,
}

extern "C" fn record_object(ctx: *mut libc::c_void, obj: *mut LLVMMemoryBufferRef) -> LLVMErrorRef {
    let hook = unsafe { &*(ctx as *const ObjectHook) };
    let n = unsafe { text_bytes(*obj) };
    hook.text.fetch_add(n, Ordering::Relaxed);
    let mut cap = hook.capture.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(v) = cap.as_mut() {
        unsafe {
            let start = llvm_sys::core::LLVMGetBufferStart(*obj) as *const u8;
            let len = llvm_sys::core::LLVMGetBufferSize(*obj);
            v.clear();
            v.extend_from_slice(std::slice::from_raw_parts(start, len));
        }
    }
    std::ptr::null_mut()
}

/// An LLJIT with its main JITDylib.
pub struct Jit {
    j: LLVMOrcLLJITRef,
    jd: LLVMOrcJITDylibRef,
    /// Text bytes linked so far and the object capture (the object-transform hook's state).
    hook: Box<ObjectHook>,
    /// Data layout string of the JIT's target.
    pub data_layout: String,
    /// Triple of the JIT's target.
    pub triple: String,
}

// The LLJIT is only used under the compiler's mutex.
unsafe impl Send for Jit {}

/// Owner of one compiled module's code and data.
pub struct Tracker(LLVMOrcResourceTrackerRef);
unsafe impl Send for Tracker {}

impl Jit {
    /// Creates an LLJIT for the host with codegen level `opt`.
    ///
    /// Errors: [`EmberError::Llvm`] if LLVM cannot create the JIT.
    pub fn new(opt: OptimizationLevel) -> Result<Jit, EmberError> {
        init_targets();
        let tm = target_machine(&host_triple(), opt)?;
        unsafe {
            let raw_tm = tm.as_mut_ptr();
            std::mem::forget(tm); // consumed by the JIT target machine builder
            let jtmb = LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(raw_tm as _);
            let builder = LLVMOrcCreateLLJITBuilder();
            LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb);
            let mut j = std::ptr::null_mut();
            take_error(LLVMOrcCreateLLJIT(&mut j, builder), "LLJIT creation")?;
            let jd = LLVMOrcLLJITGetMainJITDylib(j);
            LLVMOrcExecutionSessionSetErrorReporter(LLVMOrcLLJITGetExecutionSession(j), report_error, std::ptr::null_mut());
            let mut g = std::ptr::null_mut();
            take_error(
                LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&mut g, LLVMOrcLLJITGetGlobalPrefix(j), None, std::ptr::null_mut()),
                "process symbol generator",
            )?;
            LLVMOrcJITDylibAddGenerator(jd, g);
            let hook = Box::<ObjectHook>::default();
            LLVMOrcObjectTransformLayerSetTransform(
                LLVMOrcLLJITGetObjTransformLayer(j),
                record_object,
                &*hook as *const ObjectHook as *mut libc::c_void,
            );
            let data_layout = CStr::from_ptr(LLVMOrcLLJITGetDataLayoutStr(j)).to_string_lossy().into_owned();
            let triple = CStr::from_ptr(LLVMOrcLLJITGetTripleString(j)).to_string_lossy().into_owned();
            Ok(Jit { j, jd, hook, data_layout, triple })
        }
    }

    /// Registers every object linked from now on with gdb's JIT interface
    /// (`__jit_debug_register_code`, LLVM's DebugObjectManagerPlugin through
    /// `LLVMOrcLLJITEnableDebugSupport`), so that gdb names compiled functions and unwinds
    /// through them with their `.eh_frame`. LLVM finds its registration function with `dlsym`
    /// in the process's global scope, where a libLLVM loaded by a `RTLD_LOCAL` dlopen (the
    /// shim loads libember.so that way) is not: the already loaded library is promoted to the
    /// global scope first (`RTLD_NOLOAD | RTLD_GLOBAL`). With LLVM linked statically (the
    /// wheel), the library holding LLVM is libember.so itself, which then defines the
    /// registration function and gdb's two names (`src/gdb_jit.rs`, compiled under the `static-llvm`
    /// feature) and is promoted the same way.
    ///
    /// Errors: [`EmberError::Llvm`] when LLVM cannot set it up (no registration function in
    /// the global scope); the JIT works on without it.
    pub fn enable_debugger_support(&self) -> Result<(), EmberError> {
        unsafe {
            let mut info: libc::Dl_info = std::mem::zeroed();
            if libc::dladdr(LLVMOrcLLJITEnableDebugSupport as *const libc::c_void, &mut info) != 0 && !info.dli_fname.is_null() {
                libc::dlopen(info.dli_fname, libc::RTLD_NOW | libc::RTLD_GLOBAL | libc::RTLD_NOLOAD);
            }
            take_error(LLVMOrcLLJITEnableDebugSupport(self.j), "debugger support")
        }
    }

    /// Defines `name → address` absolute symbols (runtime helpers) in the main JITDylib.
    ///
    /// Errors: [`EmberError::Llvm`] (e.g. a duplicate definition).
    pub fn define_absolute(&self, syms: &[(String, u64)]) -> Result<(), EmberError> {
        if syms.is_empty() {
            return Ok(());
        }
        unsafe {
            let mut pairs: Vec<LLVMOrcCSymbolMapPair> = Vec::with_capacity(syms.len());
            for (name, addr) in syms {
                let c = CString::new(name.as_str()).map_err(|_| EmberError::Usage(format!("helper name {name:?} has a NUL")))?;
                let interned = LLVMOrcLLJITMangleAndIntern(self.j, c.as_ptr());
                pairs.push(LLVMOrcCSymbolMapPair {
                    Name: interned,
                    Sym: LLVMJITEvaluatedSymbol {
                        Address: *addr,
                        Flags: LLVMJITSymbolFlags {
                            GenericFlags: (LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsExported as u8)
                                | (LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsCallable as u8),
                            TargetFlags: 0,
                        },
                    },
                });
            }
            let mu = LLVMOrcAbsoluteSymbols(pairs.as_mut_ptr(), pairs.len());
            let e = LLVMOrcJITDylibDefine(self.jd, mu);
            if !e.is_null() {
                LLVMOrcDisposeMaterializationUnit(mu);
                return take_error(e, "defining helper symbols");
            }
        }
        Ok(())
    }

    /// Adds a module (ownership passes to ORC), compiles it, and returns the address of
    /// `symbol`, the `.text` bytes linked for it, and its resource tracker.
    ///
    /// # Safety
    /// `tsm` must be a valid thread-safe module not used afterwards.
    ///
    /// Errors: [`EmberError::Llvm`] from codegen, linking (e.g. an undefined helper) or lookup.
    pub unsafe fn add_and_lookup(&self, tsm: LLVMOrcThreadSafeModuleRef, symbol: &str) -> Result<(u64, u64, Tracker), EmberError> {
        let rt = LLVMOrcJITDylibCreateResourceTracker(self.jd);
        if let Err(e) = take_error(LLVMOrcLLJITAddLLVMIRModuleWithRT(self.j, rt, tsm), "adding module") {
            LLVMOrcReleaseResourceTracker(rt);
            return Err(e);
        }
        self.lookup_tracked(rt, symbol)
    }

    /// Adds a relocatable object file (e.g. from the code cache; the bytes are copied), links
    /// it, and returns the address of `symbol`, its `.text` bytes and its resource tracker.
    ///
    /// Errors: [`EmberError::Llvm`] when the object is not a valid object for this JIT, or
    /// linking or the lookup fails (e.g. an undefined symbol).
    pub fn add_object_and_lookup(&self, object: &[u8], symbol: &str) -> Result<(u64, u64, Tracker), EmberError> {
        unsafe {
            let buf = llvm_sys::core::LLVMCreateMemoryBufferWithMemoryRangeCopy(
                object.as_ptr() as *const libc::c_char,
                object.len(),
                c"ember-cached-object".as_ptr(),
            );
            let rt = LLVMOrcJITDylibCreateResourceTracker(self.jd);
            if let Err(e) = take_error(LLVMOrcLLJITAddObjectFileWithRT(self.j, rt, buf), "adding object") {
                LLVMOrcReleaseResourceTracker(rt);
                return Err(e);
            }
            self.lookup_tracked(rt, symbol)
        }
    }

    /// Starts (`true`) or stops copying the objects ORC links; [`Jit::captured`] returns the
    /// last one.
    pub fn set_capture(&self, on: bool) {
        *self.hook.capture.lock().unwrap_or_else(|p| p.into_inner()) = if on { Some(vec![]) } else { None };
    }

    /// The last object linked since [`Jit::set_capture`]`(true)` (empty if none); capture
    /// stays on.
    pub fn captured(&self) -> Vec<u8> {
        self.hook.capture.lock().unwrap_or_else(|p| p.into_inner()).as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The address of a symbol already linked (e.g. a binding table next to an entry point).
    ///
    /// Errors: [`EmberError::Llvm`] when the symbol is not defined.
    pub fn lookup(&self, symbol: &str) -> Result<u64, EmberError> {
        let name = CString::new(symbol).map_err(|_| EmberError::Usage(format!("symbol {symbol:?} has a NUL")))?;
        let mut addr = 0;
        unsafe { take_error(LLVMOrcLLJITLookup(self.j, &mut addr, name.as_ptr()), "lookup")? };
        Ok(addr)
    }

    /// Materialises what `rt` owns by looking up `symbol`; on failure frees `rt`.
    unsafe fn lookup_tracked(&self, rt: LLVMOrcResourceTrackerRef, symbol: &str) -> Result<(u64, u64, Tracker), EmberError> {
        let before = self.hook.text.load(Ordering::Relaxed);
        REPORTED.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let name = CString::new(symbol).unwrap();
        let mut addr = 0;
        let r = take_error(LLVMOrcLLJITLookup(self.j, &mut addr, name.as_ptr()), "compiling and linking");
        let size = self.hook.text.load(Ordering::Relaxed) - before;
        let tracker = Tracker(rt);
        match r {
            Ok(()) => Ok((addr, size, tracker)),
            Err(EmberError::Llvm(m)) => {
                self.remove(tracker);
                let detail = std::mem::take(&mut *REPORTED.lock().unwrap_or_else(|p| p.into_inner()));
                Err(EmberError::Llvm(if detail.is_empty() { m } else { format!("{m} ({detail})") }))
            }
            Err(e) => {
                self.remove(tracker);
                Err(e)
            }
        }
    }

    /// Frees the code and data of one compiled module.
    pub fn remove(&self, t: Tracker) {
        unsafe {
            let e = LLVMOrcResourceTrackerRemove(t.0);
            let _ = take_error(e, "removing module");
            LLVMOrcReleaseResourceTracker(t.0);
        }
    }
}

impl Drop for Jit {
    fn drop(&mut self) {
        unsafe {
            let _ = take_error(LLVMOrcDisposeLLJIT(self.j), "disposing LLJIT");
        }
    }
}
