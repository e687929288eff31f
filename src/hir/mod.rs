//! HIR: Ember's high-level intermediate representation.
//!
//! A [`Function`] is a list of basic blocks in SSA form. Every value is an **owned reference**
//! (or, for [`Type::OptObject`], possibly NULL), exactly like a slot of CPython's value stack:
//! an instruction consumes its operands and produces owned results. Locals live in the
//! frame's `localsplus` array (`LoadFast`/`StoreFast` are memory operations), except in loops
//! whose locals `passes::loop_locals` holds in SSA values: a frame-state snapshot is the code
//! unit, the value stack and those held locals. Every instruction that may leave
//! compiled code (raise, deopt, eval-breaker) carries a [`FrameState`]; the lowering turns it
//! into a side exit that spills the stack into the frame and hands it to the runtime.
//!
//! Submodules: [`op`] (opcode table), [`wire`] (the C shim's byte format), [`build`] (wire →
//! SSA), [`bind`] (process-specific values split out for load-time binding), [`printer`]/[`parser`] (the text form), [`verify`] (structural checks).

pub mod bind;
pub mod build;
pub mod imms;
pub mod op;
pub mod parser;
pub mod printer;
pub mod verify;
pub mod wire;

pub use op::Op;
pub use wire::Layout;

/// An SSA value, numbered densely per function (`v0`, `v1`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value(pub u32);

/// A basic block index (`bb0` is the entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId(pub u32);

/// The type of an SSA value: Ember's type lattice.
///
/// `OptObject` is the top of the object types (an owned reference or NULL); `Object` (non-NULL)
/// is below it; the exact built-in types are below `Object` and disjoint from each other (an
/// *exact* type: `Float` is an object whose `ob_type` is `float` itself, not a subclass, as
/// `PyFloat_CheckExact` tests). Object-typed values are owned references, as on CPython's value
/// stack. The primitive types `CInt64`, `CDouble` and `CBool` are unboxed machine values (no
/// reference, no refcount): an `int64_t`, a `double` and an `i1`. A frame state may hold them;
/// the side exit boxes them ([`Type::boxed`]).
///
/// The numbering is part of the C ABI (`EmberType` in `ember.h`): the runtime's
/// `ember_type_check` takes it. Source: the exact-type macros of CPython 3.13's
/// `Include/longobject.h`, `floatobject.h` and the rest (`PyLong_CheckExact`, ...); CinderX's
/// `Jit/hir/type.h` is the model for the lattice.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// An owned, non-NULL object reference of any type.
    Object = 0,
    /// An owned object reference or NULL (`PUSH_NULL`, self-or-NULL of a method load,
    /// `LOAD_FAST_AND_CLEAR`).
    OptObject = 1,
    /// An exact `int`.
    Int = 2,
    /// An exact `float`.
    Float = 3,
    /// A `bool` (`True` or `False`; `bool` cannot be subclassed).
    Bool = 4,
    /// An exact `str`.
    Str = 5,
    /// An exact `tuple`.
    Tuple = 6,
    /// An exact `list`.
    List = 7,
    /// An exact `dict`.
    Dict = 8,
    /// `None`.
    NoneType = 9,
    /// An exact Python function (`types.FunctionType`).
    Function = 10,
    /// An unboxed signed 64-bit integer (the value of an `Int`).
    CInt64 = 11,
    /// An unboxed IEEE double (the value of a `Float`).
    CDouble = 12,
    /// An unboxed truth value (`i1`; the value of a `Bool`).
    CBool = 13,
}

/// The bits of the double `ember_number_from_int` (the runtime) returns for an object that is
/// not a compact exact int: a quiet NaN whose payload no int conversion produces (`UnboxNumber`).
pub const EMBER_NOT_A_NUMBER_BITS: u64 = 0x7ff8_dead_beef_0001;

impl Type {
    /// Every type, in numeric order.
    pub const ALL: [Type; 14] = [
        Type::Object,
        Type::OptObject,
        Type::Int,
        Type::Float,
        Type::Bool,
        Type::Str,
        Type::Tuple,
        Type::List,
        Type::Dict,
        Type::NoneType,
        Type::Function,
        Type::CInt64,
        Type::CDouble,
        Type::CBool,
    ];

    /// The text-form name (`Float`, `CDouble`, ...; `opt` for [`Type::OptObject`], `Object`
    /// is written without a suffix).
    pub fn name(self) -> &'static str {
        match self {
            Type::Object => "Object",
            Type::OptObject => "opt",
            Type::Int => "Int",
            Type::Float => "Float",
            Type::Bool => "Bool",
            Type::Str => "Str",
            Type::Tuple => "Tuple",
            Type::List => "List",
            Type::Dict => "Dict",
            Type::NoneType => "NoneType",
            Type::Function => "Function",
            Type::CInt64 => "CInt64",
            Type::CDouble => "CDouble",
            Type::CBool => "CBool",
        }
    }

    /// Looks a type up by its text-form name.
    pub fn from_name(s: &str) -> Option<Type> {
        Type::ALL.iter().copied().find(|t| t.name() == s)
    }

    /// The type with ABI number `n`.
    pub fn from_u8(n: u8) -> Option<Type> {
        Type::ALL.get(n as usize).copied()
    }

    /// True for the unboxed machine types (`CInt64`, `CDouble`, `CBool`).
    pub fn is_unboxed(self) -> bool {
        matches!(self, Type::CInt64 | Type::CDouble | Type::CBool)
    }

    /// True for an object type that is exactly one built-in type.
    pub fn is_exact(self) -> bool {
        !self.is_unboxed() && !matches!(self, Type::Object | Type::OptObject)
    }

    /// The lattice order: true when every value of `self` is a value of `other`.
    pub fn is_subtype(self, other: Type) -> bool {
        self == other || (other == Type::OptObject && !self.is_unboxed()) || (other == Type::Object && self.is_exact())
    }

    /// The least upper bound (a block parameter's type given its incoming values). Unboxed
    /// types only join with themselves; `None` when the two cannot meet in one value.
    pub fn join(self, other: Type) -> Option<Type> {
        if self.is_subtype(other) {
            Some(other)
        } else if other.is_subtype(self) {
            Some(self)
        } else if self.is_unboxed() || other.is_unboxed() {
            None
        } else if self == Type::OptObject || other == Type::OptObject {
            Some(Type::OptObject)
        } else {
            Some(Type::Object)
        }
    }

    /// The boxed type of an unboxed one (`CDouble` → `Float`, `CInt64` → `Int`, `CBool` →
    /// `Bool`); `None` for object types.
    pub fn boxed(self) -> Option<Type> {
        match self {
            Type::CInt64 => Some(Type::Int),
            Type::CDouble => Some(Type::Float),
            Type::CBool => Some(Type::Bool),
            _ => None,
        }
    }

    /// The unboxed type of a boxed one (the inverse of [`Type::boxed`]).
    pub fn unboxed(self) -> Option<Type> {
        match self {
            Type::Int => Some(Type::CInt64),
            Type::Float => Some(Type::CDouble),
            Type::Bool => Some(Type::CBool),
            _ => None,
        }
    }

    /// True when releasing a reference of this type cannot run Python code: its deallocator
    /// is one of CPython's own and calls no `__del__`, weakref callback or finaliser (exact
    /// `int`, `float`, `str`, `bool`, `None`; containers can hold anything and are excluded).
    pub fn trivial_release(self) -> bool {
        matches!(self, Type::Int | Type::Float | Type::Str | Type::Bool | Type::NoneType) || self.is_unboxed()
    }
}

/// What the interpreter needs to resume or unwind at an instruction: its code unit, the
/// value stack below the instruction's (already consumed) inputs, bottom first, and the locals
/// compiled code holds in SSA values there instead of the frame ([`FrameState::locals`]). Every
/// other local is current in the frame.
///
/// An instruction of a callee inlined into its caller (`passes::inline_call`) has the state of
/// the caller's call instead: `bc` is the call, `stack` the caller's stack with the call's
/// operands on top, so a side exit makes the interpreter run the whole call again, and
/// [`FrameState::inlined`] lists the callee's own values that the exit releases instead of
/// writing them to the frame (text form `@bc[stack | released]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct FrameState {
    /// Code-unit index of the instruction (its first `EXTENDED_ARG`).
    pub bc: u32,
    /// Owned stack values, bottom first.
    pub stack: Vec<Value>,
    /// `Some` for an instruction of an inlined callee: the callee values a side exit releases
    /// (owned references, or unboxed values, which hold none).
    pub inlined: Option<Vec<Value>>,
    /// Locals held in SSA values (`passes::loop_locals`): `(slot, value)`, in slot order. Their
    /// frame slots hold NULL at this point; a side exit writes each value into its slot (boxed
    /// when unboxed; the frame takes the reference), so the interpreter finds the frame as it
    /// would have made it. Text form: `L<slot>=v<n>` after the stack (`@14[v6 L1=v9]`).
    pub locals: Vec<(u32, Value)>,
}

impl FrameState {
    /// This state with `extra` values pushed, for the checks of an instruction that are made
    /// before it consumes its operands (guards, unboxing): on the stack, or, in an inlined
    /// callee, among the values the exit releases.
    pub fn with_operands(&self, extra: &[Value]) -> FrameState {
        let mut s = self.clone();
        match &mut s.inlined {
            Some(r) => r.extend_from_slice(extra),
            None => s.stack.extend_from_slice(extra),
        }
        s
    }

    /// Every value the state names: the stack, then the released values, then the locals.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.stack.iter().chain(self.inlined.iter().flatten()).chain(self.locals.iter().map(|(_, v)| v))
    }

    /// [`FrameState::values`], mutable.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        self.stack.iter_mut().chain(self.inlined.iter_mut().flatten()).chain(self.locals.iter_mut().map(|(_, v)| v))
    }
}

/// A control-flow edge: the successor block and the values bound to its parameters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlockCall {
    /// Successor block.
    pub block: BlockId,
    /// Arguments for the successor's parameters (the value stack at the edge).
    pub args: Vec<Value>,
}

/// One HIR instruction (or block terminator).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Instr {
    /// The operation.
    pub op: Op,
    /// Immediates, with the meaning [`Op`] documents for the wire format.
    pub imms: Vec<i64>,
    /// Operands, in value-stack order (bottom first).
    pub args: Vec<Value>,
    /// Results, in the order they are pushed.
    pub results: Vec<Value>,
    /// Successors, for terminators: `[taken, fall-through]` for conditional branches,
    /// `[continue, exhausted]` for `ForIter`, `[target]` for jumps.
    pub targets: Vec<BlockCall>,
    /// Frame state for instructions that may leave compiled code.
    pub fs: Option<FrameState>,
}

/// A basic block: parameters (the value stack on entry), straight-line instructions and one
/// terminator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Block {
    /// Values bound on entry, bottom of stack first.
    pub params: Vec<Value>,
    /// Non-terminator instructions.
    pub instrs: Vec<Instr>,
    /// The terminator (an instruction whose [`Op::info`] says `terminator`).
    pub term: Instr,
}

/// A function in SSA HIR.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Function {
    /// Module name (`__name__` of the globals), for logs and jit lists.
    pub module: String,
    /// Qualified name (`co_qualname`).
    pub qualname: String,
    /// `co_nlocalsplus`: local, cell and free slots in the frame.
    pub nlocalsplus: u32,
    /// `co_argcount`.
    pub argcount: u32,
    /// `co_stacksize`: maximum value-stack depth.
    pub stacksize: u32,
    /// Runtime layout facts from the shim.
    pub layout: Layout,
    /// Object handles for constants, names and descriptors.
    pub consts: Vec<u64>,
    /// The exact type of each constant (`Object` for any other; see [`Type`]). The text form
    /// writes it after the handle (`0x7f00:Float`).
    pub const_types: Vec<Type>,
    /// Blocks; `blocks[0]` is the entry and has no parameters.
    pub blocks: Vec<Block>,
    /// Type of each value, indexed by [`Value`].
    pub types: Vec<Type>,
    /// Type speculation allowed: the passes may turn the profile into guards that deopt
    /// (`passes::specialize`); false for a function whose guards kept failing
    /// (`EMBER_WIRE_FLAG_NO_SPECULATION`). The text form writes `nospec` when false.
    pub speculate: bool,
    /// Callees the shim sent with the function (the wire's callees section), for passes that
    /// use their bodies. `passes::inline_trivial` keeps only those whose bodies compiled code
    /// evaluates in place ([`op::TrivialBody::Inline`], lowered by `lower::inline`), so
    /// compiled code and its cache key depend only on what the passes made of them;
    /// [`bind::split`] binds their process-specific values with the caller's. The text form
    /// writes each after the blocks, between `callee @<site> code=<handle>` and `endcallee`.
    pub callees: Vec<Callee>,
}

/// A small function the shim found in the profile at one of the caller's method loads or
/// global loads (the wire's callees section): the function that load's inline cache holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Callee {
    /// Code unit of the caller's `LoadMethod` or `LoadGlobal` whose inline cache holds the
    /// callee.
    pub site: u32,
    /// Handle of the callee's code object (process-specific: a use must bind it, e.g. as a
    /// constant of the caller).
    pub code: u64,
    /// The callee in SSA HIR (no callees of its own).
    pub body: Function,
}

/// The values among `instrs` that are borrowed references (no reference of their own): results
/// of `LoadFastBorrow`, `LoadAttrBorrow` and `Select`, and of guards of such values
/// (`passes::borrow`, `passes::inline_method`). The lowering releases none of them and takes a
/// reference for each that a side exit spills; `passes::borrow` drops copies of them.
pub fn borrowed_values<'a>(instrs: impl IntoIterator<Item = &'a Instr>) -> std::collections::HashSet<Value> {
    let mut s = std::collections::HashSet::new();
    for ins in instrs {
        match ins.op {
            Op::LoadFastBorrow | Op::LoadAttrBorrow | Op::Select => {
                s.insert(ins.results[0]);
            }
            Op::GuardType if s.contains(&ins.args[0]) => {
                s.insert(ins.results[0]);
            }
            _ => {}
        }
    }
    s
}

impl Function {
    /// True when the function computes with machine floats (typed float arithmetic, `math`
    /// calls, float stores): its compiled returns release the frame's locals so that dying
    /// floats go back to the interpreter's free list through the thread state
    /// (`ember_rt_leave_floats`, `frame_fast.c`); other functions keep `ember_rt_leave`'s
    /// shorter release.
    pub fn computes_floats(&self) -> bool {
        self.blocks.iter().flat_map(|b| b.instrs.iter()).any(|i| {
            matches!(
                i.op,
                Op::FloatBinOp | Op::MathCall | Op::StoreFastFloat | Op::StoreAttrFloat | Op::StoreSubscrFloat | Op::UnboxNumbers
            )
        })
    }

    /// `module:qualname`.
    pub fn full_name(&self) -> String {
        format!("{}:{}", self.module, self.qualname)
    }

    /// Allocates a new value of type `ty`.
    pub fn new_value(&mut self, ty: Type) -> Value {
        self.types.push(ty);
        Value(self.types.len() as u32 - 1)
    }

    /// The exact type of constant `k` (`Object` when unknown).
    pub fn const_type(&self, k: i64) -> Type {
        usize::try_from(k).ok().and_then(|k| self.const_types.get(k)).copied().unwrap_or(Type::Object)
    }

    /// The type of `v`.
    pub fn ty(&self, v: Value) -> Type {
        self.types[v.0 as usize]
    }

    /// Number of instructions including terminators.
    pub fn instr_count(&self) -> usize {
        self.blocks.iter().map(|b| b.instrs.len() + 1).sum()
    }
}
