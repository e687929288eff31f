//! HIR: Ember's high-level intermediate representation.
//!
//! A [`Function`] is a list of basic blocks in SSA form. Every value is an **owned reference**
//! (or, for [`Type::OptObject`], possibly NULL), exactly like a slot of CPython's value stack:
//! an instruction consumes its operands and produces owned results. Locals live in the
//! frame's `localsplus` array (`LoadFast`/`StoreFast` are memory operations), so a frame-state
//! snapshot only needs the code unit and the value stack. Every instruction that may leave
//! compiled code (raise, deopt, eval-breaker) carries a [`FrameState`]; the lowering turns it
//! into a side exit that spills the stack into the frame and hands it to the runtime.
//!
//! Submodules: [`op`] (opcode table), [`wire`] (the C shim's byte format), [`build`] (wire →
//! SSA), [`bind`] (process-specific values split out for load-time binding), [`printer`]/[`parser`] (the text form), [`verify`] (structural checks).

pub mod bind;
pub mod build;
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

/// The type of an SSA value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// An owned, non-NULL object reference.
    Object,
    /// An owned object reference or NULL (`PUSH_NULL`, self-or-NULL of a method load,
    /// `LOAD_FAST_AND_CLEAR`).
    OptObject,
}

/// What the interpreter needs to resume or unwind at an instruction: its code unit and the
/// value stack below the instruction's (already consumed) inputs, bottom first. Locals are
/// always current in the frame.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct FrameState {
    /// Code-unit index of the instruction (its first `EXTENDED_ARG`).
    pub bc: u32,
    /// Owned stack values, bottom first.
    pub stack: Vec<Value>,
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
    /// Blocks; `blocks[0]` is the entry and has no parameters.
    pub blocks: Vec<Block>,
    /// Type of each value, indexed by [`Value`].
    pub types: Vec<Type>,
}

impl Function {
    /// `module:qualname`.
    pub fn full_name(&self) -> String {
        format!("{}:{}", self.module, self.qualname)
    }

    /// Allocates a new value of type `ty`.
    pub fn new_value(&mut self, ty: Type) -> Value {
        self.types.push(ty);
        Value(self.types.len() as u32 - 1)
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
