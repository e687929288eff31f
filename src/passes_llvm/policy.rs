//! The call-site lowering policy: one small table per target saying how a call to a runtime
//! helper is reached, by hotness.
//!
//! Byte costs per call site, leaving out argument moves, measured with `llvm-objdump-19` on
//! objects emitted by LLVM 19 (PIC, small code model; `shared/design/llvm19-orc.md` section 4,
//! re-measured on Ember's shapes by `tests/codesize.rs` and `bench/codesize.py`):
//!
//! | lowering | AArch64 at the call | AArch64 per distinct target | x86-64 at the call | x86-64 per distinct target |
//! |---|---|---|---|---|
//! | [`Lowering::Named`] | `bl` 4 B | 12 B stub + 8 B GOT (JITLink never relaxes) | `call rel32` 5 B | 6 B stub + 8 B GOT (bypassed within ±2 GiB) |
//! | [`Lowering::Got`] | `adrp; ldr; blr` 12 B | 8 B GOT | `call *GOT(%rip)` 6 B | 8 B GOT |
//! | [`Lowering::Table`] | `ldr; blr` 8 B (+ base once) | 8 B table slot | `call *off(%reg)` 3–6 B | 8 B table slot |
//! | [`Lowering::Absolute`] | `mov; movk; movk; blr` 16 B | nothing | `movabs; call` 12 B (2 B when hoisted) | nothing |
//!
//! Measured on Ember's `calls` shape (a Python call `g()`: `LOAD_GLOBAL`, `CALL 0`, `POP_TOP`,
//! three helper calls and two exits), opt level 1, code = `.text` + linker stubs, by
//! `bench/codesize.py` (guarded by `tests/codesize.rs`):
//!
//! | policy | AArch64 size2−size1 | AArch64 B/site over 200 | x86-64 size2−size1 | x86-64 B/site over 200 |
//! |---|---|---|---|---|
//! | no Ember pass | 108 | 112.1 | 139 | 120.0 |
//! | **auto** = named (+ shared exits on AArch64) | **92** | **96.1** | **139** | **120.0** |
//! | got | 100 | 96.1 | 142 | 123.0 |
//! | table | 120 | 108.2 | 142 | 123.0 |
//! | absolute | 100 | 104.1 | 145 | 123.0 |
//! | hybrid | 100 | 104.1 | 138 | 121.0 |
//!
//! On the host JIT (ORC, x86-64, mock runtime, `tests/orc_policy.rs`) named calls were also
//! the fastest: 42.7 ns per loop iteration of 7 helper calls, against 43.8 (got), 45.4–45.9
//! (table), 44.0–44.3 (absolute) and 43.9–44.5 (hybrid).
//!
//! The defaults ([`Policy::Auto`]) follow from the tables: on AArch64 a `bl` to a shared stub is
//! the smallest by a factor of 2–4 at every call and the stub is paid once per helper, so hot
//! and cold calls are named; on x86-64 named calls are what JITLink turns into direct `call
//! rel32` when the helpers are within ±2 GiB (no hop at all) and cost 5 B otherwise, so hot
//! and cold calls are named there too. Cold call sites (raise, deopt, error helpers) are
//! marked `cold` by the lowering, which keeps them out of the fast path on both targets; on
//! AArch64 their exits are also shared ([`crate::passes_llvm::cold_exits`],
//! [`Target::shares_exits`]).

/// A code-generation target Ember supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// `x86_64-unknown-linux-gnu`.
    X86_64,
    /// `aarch64-unknown-linux-gnu`.
    Aarch64,
}

impl Target {
    /// Every supported target.
    ///
    /// cbindgen:ignore
    pub const ALL: [Target; 2] = [Target::X86_64, Target::Aarch64];

    /// Parses a target name (`x86_64`, `x86-64`, `aarch64`, `arm64` or a full triple starting
    /// with one of them). Returns `None` for anything else.
    pub fn parse(s: &str) -> Option<Target> {
        let arch = s.split('-').next().unwrap_or("");
        match (arch, s) {
            ("x86_64", _) | (_, "x86-64") => Some(Target::X86_64),
            ("aarch64", _) | ("arm64", _) => Some(Target::Aarch64),
            _ => None,
        }
    }

    /// The LLVM triple Ember emits for this target.
    pub fn triple(self) -> &'static str {
        match self {
            Target::X86_64 => "x86_64-unknown-linux-gnu",
            Target::Aarch64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// Whether Ember shares the raise/deopt exits ([`crate::passes_llvm::cold_exits`]) on this
    /// target by default. AArch64: yes, 16 B less per Python call site (108 → 92 B). x86-64: no,
    /// LLVM's branch folding already merges the exit tails there (0 B gained on the calls,
    /// distinct and chain shapes, 19 B lost on checks16), so the host JIT's code is unchanged.
    pub fn shares_exits(self) -> bool {
        self == Target::Aarch64
    }

    /// Whether compiled code reads each `instr_ptr` value it stores from its own slot of the
    /// binding table ([`crate::hir::bind::Bindings::code_units`]) rather than adding the code
    /// unit's offset to the bound code base. x86-64: yes, one PC-relative load (calls200: 24,324
    /// vs 25,078 B). AArch64: no, the base stays in a register and one `add` derives each
    /// address, where a slot costs `adrp` + `ldr` (calls200: 19,444 vs 21,040 B).
    pub fn binds_code_units(self) -> bool {
        self == Target::X86_64
    }

    /// Whether loads from the binding table are `!invariant.load` (LLVM may hoist a bound
    /// value and keep it in a register across helper calls). AArch64: yes, rematerialising
    /// an `adrp` + `ldr` per use costs code (calls200: 19,444 vs 20,228 B; 96 vs 100 B per
    /// call site). x86-64: no, one PC-relative load per use is cheap, while invariant loads made
    /// big functions compile 25-35 % slower (7 large stdlib functions: 4.5-5.1 s vs 5.8-7.6 s,
    /// 3 interleaved pairs) for 3 % less code (calls200: 24,324 vs 25,110 B).
    pub fn invariant_bindings(self) -> bool {
        self == Target::Aarch64
    }

    /// Whether a plain `Call` passes its own cache of the compiled callee's entry
    /// (`ember_call_ic_fast`, then `ember_call_ic`), which saves the callee's code-record
    /// lookup: three dependent loads that missed the cache in call-heavy programs (deltablue:
    /// ember_call_direct 10 % of samples before, 5 % after). x86-64: yes, the site's address
    /// replaces a NULL argument with no extra instruction (5 more bytes per site). AArch64: not
    /// yet, its `adrp` + `add` costs 4 bytes per site and takes the per-site size past its
    /// 100-byte goal (tests/codesize.rs: 100.2 B); it needs an address one instruction can form.
    pub fn call_site_cache(self) -> bool {
        self == Target::X86_64
    }

    /// Short name (`x86_64`, `aarch64`).
    pub fn name(self) -> &'static str {
        match self {
            Target::X86_64 => "x86_64",
            Target::Aarch64 => "aarch64",
        }
    }
}

/// How one call site reaches its helper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lowering {
    /// Call the named symbol; the linker adds a shared stub (+ GOT entry) per distinct helper.
    Named,
    /// Call through the GOT (`nonlazybind`): no stub, a GOT load at every call.
    Got,
    /// Load the target from a per-module table of helper addresses, then call indirectly.
    Table,
    /// Call the helper's absolute address (`inttoptr i64`); needs the address at compile time.
    Absolute,
}

/// A lowering policy: the per-call-site choice, or [`Policy::Auto`] for the target's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// The target's default: [`Policy::hot_cold`] of [`Target`].
    Auto,
    /// Every call site [`Lowering::Named`].
    Named,
    /// Every call site [`Lowering::Got`].
    Got,
    /// Every call site [`Lowering::Table`].
    Table,
    /// Every call site [`Lowering::Absolute`].
    Absolute,
    /// Hot call sites [`Lowering::Absolute`] (no stub hop), cold ones [`Lowering::Named`]
    /// (smallest): the seed work's "direct on the hot path, shared on the cold path".
    Hybrid,
}

impl Policy {
    /// Every policy, in the order reports list them.
    ///
    /// cbindgen:ignore
    pub const ALL: [Policy; 6] = [Policy::Auto, Policy::Named, Policy::Got, Policy::Table, Policy::Absolute, Policy::Hybrid];

    /// Parses a policy name (`auto`, `named`, `got`, `table`, `absolute`, `hybrid`).
    pub fn parse(s: &str) -> Option<Policy> {
        Policy::ALL.into_iter().find(|p| p.name() == s)
    }

    /// The policy's name.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Auto => "auto",
            Policy::Named => "named",
            Policy::Got => "got",
            Policy::Table => "table",
            Policy::Absolute => "absolute",
            Policy::Hybrid => "hybrid",
        }
    }

    /// The `(hot, cold)` lowerings this policy uses on `target`. This is the per-target table:
    /// see the module documentation for the byte costs behind the `Auto` row.
    pub fn hot_cold(self, target: Target) -> (Lowering, Lowering) {
        use Lowering::*;
        match (self, target) {
            (Policy::Auto, Target::Aarch64) => (Named, Named),
            (Policy::Auto, Target::X86_64) => (Named, Named),
            (Policy::Named, _) => (Named, Named),
            (Policy::Got, _) => (Got, Got),
            (Policy::Table, _) => (Table, Table),
            (Policy::Absolute, _) => (Absolute, Absolute),
            (Policy::Hybrid, _) => (Absolute, Named),
        }
    }

    /// True when the policy needs helper addresses at compile time.
    pub fn needs_addresses(self, target: Target) -> bool {
        let (h, c) = self.hot_cold(target);
        h == Lowering::Absolute || c == Lowering::Absolute
    }
}
