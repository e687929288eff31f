//! The HIR wire format: the bytes the C shim sends for one code object.
//!
//! Little-endian throughout. Layout (see `ember.h`, `EMBER_WIRE_MAGIC`):
//!
//! ```text
//! u32 magic "EMB1"   u16 version (4)   u16 flags (EMBER_WIRE_FLAG_*)
//! u32 nlocalsplus    u32 argcount      u32 stacksize    u32 ncode_units
//! u32 localsplus_offset (bytes from the frame pointer to localsplus[0])
//! u32 instr_ptr_offset  (bytes from the frame pointer to the instr_ptr field)
//! u64 code_base         (address of code unit 0; instr_ptr = code_base + 2 * unit)
//! u64 none, true, false (object handles)
//! u32 nstrings, then per string: u32 len, bytes (UTF-8)   -- string 0 = module, 1 = qualname
//! u32 nconsts,  then per constant: u64 handle, u8 type (an EmberType: the exact built-in
//!                type of the object, EMBER_TYPE_OBJECT for any other)
//! u32 ninstrs,  then per instruction: u16 op, u16 nimm, u32 code unit, i64 imm[nimm]
//! u32 ncallees, then per callee: u32 site (code unit of the method load or the global load
//!                whose inline cache holds the callee), u64 code (handle of the callee's code object),
//!                u32 len, then a whole wire function of len bytes (the callee; its own
//!                ncallees is 0)
//! ```
//! Callees are small functions the shim found in the profile, sent so that passes can use
//! their bodies (`passes::inline_trivial`, `passes::inline_call`); the shim chooses them
//! ([`EMBER_INLINE_MAX_CODE_UNITS`]) and keeps their code objects alive while compiled code
//! that names them may run.
//! Every field is validated; malformed input yields [`EmberError::Wire`], never a panic.

use crate::error::EmberError;
use crate::hir::op::Op;
use crate::hir::Type;

/// Magic number at the start of every wire function ("EMB1", little-endian).
pub const EMBER_WIRE_MAGIC: u32 = 0x3142_4D45;
/// Wire format version this library reads (7: `Deopt` carries its reason, imm0; 6: `LoadGlobal` carries the type version and the
/// `__init__` address of a class its value was identified as: imm8 and imm9; 5: the callees
/// section after the instructions;
/// 4: `LoadGlobal` and `LoadAttr` carry the `math` function their value was identified as:
/// imm6 and imm7, imm4 and imm5).
pub const EMBER_WIRE_VERSION: u16 = 7;
/// Largest callee (in code units, `Py_SIZE` of its code object, inline caches included) the
/// shim sends with a caller (the callees section): enough for the bodies
/// `passes::inline_trivial` replaces (`return self`: 3 units; `return <constant>`: 2;
/// `return self.x`: 13, a `LOAD_ATTR` has 9 inline-cache units) and for the bodies it evaluates
/// in place (deltablue's `BinaryConstraint.output`, an `if`/`else` on a compare of an attribute
/// and a class attribute: 55; richards' `isTaskHoldingOrWaiting`: 55) and for the method bodies
/// `passes::inline_method` inlines (float's `Point.normalize`: 124, three slot reads, a `sqrt`
/// and three slot updates; `Point.maximize`: 175), small enough that serialising callees costs the calling thread
/// little. `passes::inline_trivial` keeps to bodies below [`EMBER_TRIVIAL_MAX_CODE_UNITS`].
pub const EMBER_INLINE_MAX_CODE_UNITS: u32 = 192;
/// Largest body (in code units) `passes::inline_trivial` evaluates in place: the callees'
/// limit before `passes::inline_method` needed larger ones.
pub const EMBER_TRIVIAL_MAX_CODE_UNITS: u32 = 64;
/// Most immediates one wire instruction carries (`LoadGlobal`'s ten; the shim stages
/// instructions in arrays of this size).
pub const EMBER_WIRE_MAX_IMMS: u16 = 10;
/// Most callees one wire function carries (a bound on the section, checked by [`decode`]).
pub const EMBER_INLINE_MAX_CALLEES: u32 = 64;
/// Wire `flags` bit: `None`, `True` and `False` are immortal (no reference counting).
pub const EMBER_WIRE_FLAG_IMMORTAL: u16 = 1;
/// Wire `flags` bit: give the compiled code an on-stack-replacement entry at every loop header
/// (the target of a `JUMP_BACKWARD`), so that a frame the interpreter is running can continue
/// in compiled code there (see [`crate::hir::build`]).
pub const EMBER_WIRE_FLAG_OSR: u16 = 2;
/// Wire `flags` bit: compile without type speculation (no guards from the profile, no
/// unboxing): the shim sets it for a function whose guards kept failing, or under
/// `EMBER_SPECULATE=0`.
pub const EMBER_WIRE_FLAG_NO_SPECULATION: u16 = 4;
/// Wire `flags` bit: a background compile that interpreter exit lets finish, so that its code
/// reaches the code cache, instead of giving up before code generation. The shim sets it for a
/// function with a hot marker from an earlier process (`docs/compilation.md`, "Hot markers"):
/// that compile is what makes the next process load the function. It shapes nothing that is
/// compiled, so it is not part of the cache key.
pub const EMBER_WIRE_FLAG_FINISH_AT_EXIT: u16 = 8;
/// Wire `flags` bit: load the function from the code cache or not at all: on a miss the
/// compile ends with [`crate::EmberError::Dropped`] before any LLVM work. The shim sets it on a
/// warm start for a function an earlier process compiled (`docs/compilation.md`, "Warm
/// start"), whose profile may not yet be the one its cached code was specialised for; the
/// function is then priced as a compile, as in a first run. Not part of the cache key.
pub const EMBER_WIRE_FLAG_CACHE_ONLY: u16 = 16;
/// Upper bounds that keep a malformed length from allocating gigabytes.
const MAX_COUNT: u32 = 1 << 20;

/// Runtime layout facts the shim passes so the compiler stays version-neutral.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Layout {
    /// Bytes from the frame pointer to `localsplus[0]` (72 on CPython 3.13 x86-64).
    pub localsplus_offset: u32,
    /// Bytes from the frame pointer to `instr_ptr` (56 on CPython 3.13 x86-64).
    pub instr_ptr_offset: u32,
    /// Address of code unit 0 of the code object (2 bytes per unit).
    pub code_base: u64,
    /// Handle of `None`.
    pub none: u64,
    /// Handle of `True`.
    pub true_: u64,
    /// Handle of `False`.
    pub false_: u64,
    /// `None`, `True` and `False` need no reference counting (CPython 3.12+ immortals).
    pub immortal_singletons: bool,
}

/// One wire instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireInstr {
    /// The operation.
    pub op: Op,
    /// Code-unit index of the instruction (its first `EXTENDED_ARG`), used for `instr_ptr`,
    /// tracebacks, raise and deopt.
    pub bc: u32,
    /// Immediates; the count is fixed per opcode ([`Op::info`]).
    pub imms: Vec<i64>,
}

/// A callee the shim sent with its caller (the wire's callees section).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WireCallee {
    /// Code unit of the caller's method load (`LoadMethod`) whose inline cache holds the callee.
    pub site: u32,
    /// Handle of the callee's code object (process-specific; bound at load time).
    pub code: u64,
    /// The callee itself (its own callees section is empty).
    pub wire: WireFunction,
}

/// A decoded, validated wire function.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WireFunction {
    /// Number of local, cell and free slots (`co_nlocalsplus`).
    pub nlocalsplus: u32,
    /// Positional parameter count (`co_argcount`).
    pub argcount: u32,
    /// Maximum value-stack depth (`co_stacksize`).
    pub stacksize: u32,
    /// Code units in the code object (bound for every code-unit index).
    pub ncode_units: u32,
    /// Runtime layout facts.
    pub layout: Layout,
    /// Strings: 0 = module, 1 = qualname, then opcode names for `Unsupported`.
    pub strings: Vec<String>,
    /// Object handles referenced by `LoadConst`, names, descriptors.
    pub consts: Vec<u64>,
    /// The exact type of each constant ([`Type::Object`] when it is none of the built-in types
    /// of the lattice); missing entries are `Object`.
    pub const_types: Vec<Type>,
    /// Instructions in code order.
    pub instrs: Vec<WireInstr>,
    /// Compile on-stack-replacement entries at loop headers ([`EMBER_WIRE_FLAG_OSR`]).
    pub osr_entries: bool,
    /// Compile without type speculation ([`EMBER_WIRE_FLAG_NO_SPECULATION`]).
    pub no_speculation: bool,
    /// Finish even when the interpreter is exiting ([`EMBER_WIRE_FLAG_FINISH_AT_EXIT`]).
    pub finish_at_exit: bool,
    /// Load from the code cache or give up ([`EMBER_WIRE_FLAG_CACHE_ONLY`]).
    pub cache_only: bool,
    /// Callees the shim sent (the callees section), in site order.
    pub callees: Vec<WireCallee>,
}

impl WireFunction {
    /// `module:qualname`, the name used in logs and jit lists.
    pub fn full_name(&self) -> String {
        format!("{}:{}", self.strings.first().map(String::as_str).unwrap_or("?"), self.strings.get(1).map(String::as_str).unwrap_or("?"))
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], EmberError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| EmberError::Wire(format!("truncated input reading {what} at byte {}", self.pos)))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u16(&mut self, what: &str) -> Result<u16, EmberError> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().unwrap()))
    }
    fn u32(&mut self, what: &str) -> Result<u32, EmberError> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn u64(&mut self, what: &str) -> Result<u64, EmberError> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    fn count(&mut self, what: &str) -> Result<usize, EmberError> {
        let n = self.u32(what)?;
        if n > MAX_COUNT {
            return Err(EmberError::Wire(format!("{what} count {n} exceeds {MAX_COUNT}")));
        }
        Ok(n as usize)
    }
}

/// Reads the header (magic u32, version u16) and returns its flags (u16).
///
/// Errors: [`EmberError::Wire`] for a bad magic or version, or truncation.
fn read_header(r: &mut Reader<'_>) -> Result<u16, EmberError> {
    let magic = r.u32("magic")?;
    if magic != EMBER_WIRE_MAGIC {
        return Err(EmberError::Wire(format!("bad magic {magic:#x}")));
    }
    let version = r.u16("version")?;
    if version != EMBER_WIRE_VERSION {
        return Err(EmberError::Wire(format!("unsupported wire version {version}")));
    }
    r.u16("flags")
}

/// The header's flags (`EMBER_WIRE_FLAG_*`) when `buf` starts with a header of this
/// version, without decoding the rest. None for anything else.
pub fn header_flags(buf: &[u8]) -> Option<u16> {
    read_header(&mut Reader { buf, pos: 0 }).ok()
}

/// Decodes and validates wire bytes.
///
/// Errors: [`EmberError::Wire`] for a bad magic or version, truncation, an unknown opcode, a
/// wrong immediate count, a code-unit index or constant/string index out of range, a callee
/// that is malformed, has callees of its own or names no method load of the caller, more than
/// [`EMBER_INLINE_MAX_CALLEES`] callees, or trailing bytes.
pub fn decode(buf: &[u8]) -> Result<WireFunction, EmberError> {
    decode_nested(buf, true)
}

fn decode_nested(buf: &[u8], outer: bool) -> Result<WireFunction, EmberError> {
    let mut r = Reader { buf, pos: 0 };
    let flags = read_header(&mut r)?;
    let mut f = WireFunction {
        nlocalsplus: r.u32("nlocalsplus")?,
        argcount: r.u32("argcount")?,
        stacksize: r.u32("stacksize")?,
        ncode_units: r.u32("ncode_units")?,
        ..Default::default()
    };
    f.layout.localsplus_offset = r.u32("localsplus_offset")?;
    f.layout.instr_ptr_offset = r.u32("instr_ptr_offset")?;
    f.layout.code_base = r.u64("code_base")?;
    f.layout.none = r.u64("none")?;
    f.layout.true_ = r.u64("true")?;
    f.layout.false_ = r.u64("false")?;
    f.layout.immortal_singletons = flags & EMBER_WIRE_FLAG_IMMORTAL != 0;
    f.osr_entries = flags & EMBER_WIRE_FLAG_OSR != 0;
    f.no_speculation = flags & EMBER_WIRE_FLAG_NO_SPECULATION != 0;
    f.finish_at_exit = flags & EMBER_WIRE_FLAG_FINISH_AT_EXIT != 0;
    f.cache_only = flags & EMBER_WIRE_FLAG_CACHE_ONLY != 0;
    for (what, v) in [("nlocalsplus", f.nlocalsplus), ("stacksize", f.stacksize), ("ncode_units", f.ncode_units)] {
        if v > MAX_COUNT {
            return Err(EmberError::Wire(format!("{what} {v} exceeds {MAX_COUNT}")));
        }
    }
    if f.argcount > f.nlocalsplus {
        return Err(EmberError::Wire(format!("argcount {} > nlocalsplus {}", f.argcount, f.nlocalsplus)));
    }
    let ns = r.count("string")?;
    for i in 0..ns {
        let len = r.count("string length")?;
        let bytes = r.take(len, "string")?;
        let s = std::str::from_utf8(bytes).map_err(|_| EmberError::Wire(format!("string {i} is not UTF-8")))?;
        f.strings.push(s.to_owned());
    }
    if f.strings.len() < 2 {
        return Err(EmberError::Wire("missing module and qualname strings".into()));
    }
    let nc = r.count("const")?;
    for _ in 0..nc {
        f.consts.push(r.u64("const")?);
        let t = r.take(1, "constant type")?[0];
        let t = Type::from_u8(t)
            .filter(|t| !t.is_unboxed() && *t != Type::OptObject)
            .ok_or_else(|| EmberError::Wire(format!("bad constant type {t}")))?;
        f.const_types.push(t);
    }
    let ni = r.count("instruction")?;
    if ni == 0 {
        return Err(EmberError::Wire("function has no instructions".into()));
    }
    for i in 0..ni {
        let raw = r.u16("opcode")?;
        let op = Op::from_u16(raw).ok_or_else(|| EmberError::Wire(format!("instruction {i}: unknown opcode {raw}")))?;
        let nimm = r.u16("immediate count")? as usize;
        let bc = r.u32("code unit")?;
        if nimm != op.info().nimm {
            return Err(EmberError::Wire(format!("instruction {i} ({}): {nimm} immediates, expected {}", op.info().name, op.info().nimm)));
        }
        let mut imms = Vec::with_capacity(nimm);
        for _ in 0..nimm {
            imms.push(r.u64("immediate")? as i64);
        }
        f.instrs.push(WireInstr { op, bc, imms });
    }
    let nk = r.count("callee")?;
    if nk > 0 && !outer {
        return Err(EmberError::Wire("a callee has callees".into()));
    }
    if nk as u64 > EMBER_INLINE_MAX_CALLEES as u64 {
        return Err(EmberError::Wire(format!("{nk} callees exceed {EMBER_INLINE_MAX_CALLEES}")));
    }
    for k in 0..nk {
        let site = r.u32("callee site")?;
        let code = r.u64("callee code")?;
        let len = r.count("callee length")?;
        let bytes = r.take(len, "callee")?;
        let wire = decode_nested(bytes, false).map_err(|e| EmberError::Wire(format!("callee {k}: {e}")))?;
        if !f.instrs.iter().any(|ins| ins.bc == site && matches!(ins.op, Op::LoadMethod | Op::LoadGlobal)) {
            return Err(EmberError::Wire(format!("callee {k}: site {site} is not a method or global load")));
        }
        f.callees.push(WireCallee { site, code, wire });
    }
    if r.pos != buf.len() {
        return Err(EmberError::Wire(format!("{} trailing bytes", buf.len() - r.pos)));
    }
    validate(&f)?;
    Ok(f)
}

/// Checks indices that need the whole function: code units, locals, constants, strings,
/// jump targets and stack effects' immediates.
pub fn validate(f: &WireFunction) -> Result<(), EmberError> {
    let err =
        |i: usize, ins: &WireInstr, msg: String| EmberError::Wire(format!("instruction {i} ({} @{}): {msg}", ins.op.info().name, ins.bc));
    let mut last_bc = None;
    for (i, ins) in f.instrs.iter().enumerate() {
        if ins.bc >= f.ncode_units {
            return Err(err(i, ins, format!("code unit {} out of range {}", ins.bc, f.ncode_units)));
        }
        if let Some(prev) = last_bc {
            if ins.bc < prev {
                return Err(err(i, ins, "code units are not in order".into()));
            }
        }
        last_bc = Some(ins.bc);
        if ins.op.stack_effect(&ins.imms).is_none() {
            return Err(err(i, ins, format!("invalid immediates {:?}", ins.imms)));
        }
        let imm = |k: usize| ins.imms[k];
        let local_ok = |v: i64| v >= 0 && (v as u64) < f.nlocalsplus as u64;
        let const_ok = |v: i64| v >= 0 && (v as u64) < f.consts.len() as u64;
        match ins.op {
            op if op.hir_only() => {
                return Err(err(i, ins, "HIR-only operation on the wire".into()));
            }
            Op::LoadFast
            | Op::LoadFastCheck
            | Op::LoadFastAndClear
            | Op::StoreFast
            | Op::DeleteFast
            | Op::MakeCell
            | Op::LoadDeref
            | Op::StoreDeref
            | Op::DeleteDeref
                if !local_ok(imm(0)) =>
            {
                return Err(err(i, ins, format!("local {} out of range {}", imm(0), f.nlocalsplus)));
            }
            Op::LoadConst
            | Op::ReturnConst
            | Op::StoreGlobal
            | Op::LoadGlobal
            | Op::LoadAttr
            | Op::LoadMethod
            | Op::StoreAttr
            | Op::LoadSuperAttr
            | Op::ImportName
            | Op::ImportFrom
            | Op::DeleteAttr
            | Op::DeleteGlobal
                if !const_ok(imm(0)) =>
            {
                return Err(err(i, ins, format!("constant {} out of range {}", imm(0), f.consts.len())));
            }
            Op::LoadGlobal if crate::hir::op::MathFn::from_imm(imm(6)).is_none() => {
                return Err(err(i, ins, format!("unknown math function {}", imm(6))));
            }
            Op::LoadAttr if crate::hir::op::MathFn::from_imm(imm(4)).is_none() => {
                return Err(err(i, ins, format!("unknown math function {}", imm(4))));
            }
            Op::Deopt if crate::hir::op::DeoptReason::from_imm(imm(0)).is_none() => {
                return Err(err(i, ins, format!("unknown deopt reason {}", imm(0))));
            }
            Op::CopyFreeVars if imm(0) < 0 || imm(0) as u64 > f.nlocalsplus as u64 => {
                return Err(err(i, ins, format!("{} free variables for {} slots", imm(0), f.nlocalsplus)));
            }
            Op::Unsupported if imm(1) < 0 || imm(1) as u64 >= f.strings.len() as u64 => {
                return Err(err(i, ins, format!("string {} out of range", imm(1))));
            }
            _ => {}
        }
        if let Some(t) = ins.op.jump_target(&ins.imms) {
            if t < 0 || t as u64 >= f.ncode_units as u64 || !f.instrs.iter().any(|x| x.bc as i64 == t) {
                return Err(err(i, ins, format!("jump target {t} is not an instruction")));
            }
        }
        if let Some((t, depth)) = ins.op.async_for_exit(&ins.imms) {
            if !f.instrs.iter().any(|x| x.bc as i64 == t) {
                return Err(err(i, ins, format!("async for exit {t} is not an instruction")));
            }
            if depth < 0 || depth as u64 > f.stacksize as u64 {
                return Err(err(i, ins, format!("async for exit depth {depth} outside 0..={}", f.stacksize)));
            }
        }
    }
    Ok(())
}

/// Encodes a wire function (the inverse of [`decode`]); used by tests and `ember-compile`.
pub fn encode(f: &WireFunction) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&EMBER_WIRE_MAGIC.to_le_bytes());
    out.extend_from_slice(&EMBER_WIRE_VERSION.to_le_bytes());
    let mut flags = 0u16;
    if f.layout.immortal_singletons {
        flags |= EMBER_WIRE_FLAG_IMMORTAL;
    }
    if f.osr_entries {
        flags |= EMBER_WIRE_FLAG_OSR;
    }
    if f.no_speculation {
        flags |= EMBER_WIRE_FLAG_NO_SPECULATION;
    }
    if f.finish_at_exit {
        flags |= EMBER_WIRE_FLAG_FINISH_AT_EXIT;
    }
    if f.cache_only {
        flags |= EMBER_WIRE_FLAG_CACHE_ONLY;
    }
    out.extend_from_slice(&flags.to_le_bytes());
    for v in [f.nlocalsplus, f.argcount, f.stacksize, f.ncode_units, f.layout.localsplus_offset, f.layout.instr_ptr_offset] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [f.layout.code_base, f.layout.none, f.layout.true_, f.layout.false_] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(f.strings.len() as u32).to_le_bytes());
    for s in &f.strings {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(&(f.consts.len() as u32).to_le_bytes());
    for (k, c) in f.consts.iter().enumerate() {
        out.extend_from_slice(&c.to_le_bytes());
        out.push(f.const_types.get(k).copied().unwrap_or(Type::Object) as u8);
    }
    out.extend_from_slice(&(f.instrs.len() as u32).to_le_bytes());
    for ins in &f.instrs {
        out.extend_from_slice(&(ins.op as u16).to_le_bytes());
        out.extend_from_slice(&(ins.imms.len() as u16).to_le_bytes());
        out.extend_from_slice(&ins.bc.to_le_bytes());
        for v in &ins.imms {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out.extend_from_slice(&(f.callees.len() as u32).to_le_bytes());
    for c in &f.callees {
        let bytes = encode(&c.wire);
        out.extend_from_slice(&c.site.to_le_bytes());
        out.extend_from_slice(&c.code.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    out
}
