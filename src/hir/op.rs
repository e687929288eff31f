//! Ember's opcode set: the operations of the HIR wire format and of SSA HIR.
//!
//! Each opcode is version-neutral: the C shim maps CPython 3.13 bytecode (`Python/bytecodes.c`)
//! onto these operations and passes the specialising interpreter's inline-cache data as
//! immediates. The table in [`Op::info`] gives, per opcode, its name (used by the text form),
//! how many immediates it takes and its stack effect (used by the SSA builder).

/// A wire/HIR opcode. The numeric values are part of the C ABI (`EMBER_OP_*` in `ember.h`).
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum Op {
    /// No operation (`NOP`, `EXTENDED_ARG` folded by the shim).
    Nop = 0,
    /// Function entry / loop header eval-breaker check (`RESUME`).
    Resume = 1,
    /// Push local `imm0` (`LOAD_FAST`); the local is known to be bound.
    LoadFast = 2,
    /// Push local `imm0`, raising `UnboundLocalError` if it is unbound (`LOAD_FAST_CHECK`).
    LoadFastCheck = 3,
    /// Push local `imm0` (possibly NULL) and clear it (`LOAD_FAST_AND_CLEAR`).
    LoadFastAndClear = 4,
    /// Pop into local `imm0` (`STORE_FAST`).
    StoreFast = 5,
    /// Unbind local `imm0`, raising `UnboundLocalError` if unbound (`DELETE_FAST`).
    DeleteFast = 6,
    /// Push constant `imm0` (an index into the constant table) (`LOAD_CONST`).
    LoadConst = 7,
    /// Push NULL (`PUSH_NULL`).
    PushNull = 8,
    /// Pop and release the top of stack (`POP_TOP`, `END_FOR`).
    PopTop = 9,
    /// Push a new reference to the `imm0`-th value from the top (`COPY`).
    Copy = 10,
    /// Swap the top with the `imm0`-th value from the top (`SWAP`).
    Swap = 11,
    /// `BINARY_OP`: imm0 = oparg (`NB_*`, passed to the generic helper), imm1 = specialisation
    /// ([`BinarySpec`]), imm2 = the operation ([`Arith`], decoded by the shim).
    BinaryOp = 12,
    /// `UNARY_NOT` on a bool.
    UnaryNot = 13,
    /// `UNARY_NEGATIVE`.
    UnaryNegative = 14,
    /// `UNARY_INVERT`.
    UnaryInvert = 15,
    /// `TO_BOOL`: imm0 = specialisation ([`ToBoolSpec`]), imm1 = type version (for `AlwaysTrue`).
    ToBool = 16,
    /// `COMPARE_OP`: imm0 = oparg, imm1 = specialisation ([`CompareSpec`]),
    /// imm2 = the comparison ([`Cmp`], decoded from the oparg by the shim).
    CompareOp = 17,
    /// `IS_OP`: imm0 = invert.
    IsOp = 18,
    /// `CONTAINS_OP`: imm0 = invert.
    ContainsOp = 19,
    /// `LOAD_GLOBAL`: imm0 = name constant, imm1 = push NULL after, imm2 = spec
    /// ([`GlobalSpec`]), imm3/imm4 = keys versions, imm5 = index, imm6/imm7 = the `math`
    /// function the value was identified as and its address, imm8/imm9 = the type version of
    /// the class the value was identified as and the address of its `__init__` (whose body the
    /// callees section carries), or 0 and 0.
    LoadGlobal = 20,
    /// `STORE_GLOBAL`: imm0 = name constant.
    StoreGlobal = 21,
    /// `LOAD_ATTR` (attribute form): imm0 = name, imm1 = spec ([`AttrSpec`]), imm2 = type/keys
    /// version, imm3 = index, offset or hint.
    LoadAttr = 22,
    /// `LOAD_ATTR` (method form): pushes callable and self-or-NULL. imm0 = name, imm1 = spec
    /// ([`MethodSpec`]), imm2 = type version, imm3 = keys version, imm4 = descriptor handle.
    LoadMethod = 23,
    /// `STORE_ATTR`: stack (v, owner). imm0 = name, imm1 = spec ([`StoreAttrSpec`]), imm2 = type
    /// version, imm3 = index, offset or hint.
    StoreAttr = 24,
    /// `BINARY_SUBSCR`: imm0 = spec ([`SubscrSpec`]).
    BinarySubscr = 25,
    /// `STORE_SUBSCR`: stack (v, container, sub). imm0 = spec ([`StoreSubscrSpec`]).
    StoreSubscr = 26,
    /// `DELETE_SUBSCR`.
    DeleteSubscr = 27,
    /// `BUILD_TUPLE` imm0 items.
    BuildTuple = 28,
    /// `BUILD_LIST` imm0 items.
    BuildList = 29,
    /// `BUILD_MAP` imm0 pairs.
    BuildMap = 30,
    /// `BUILD_CONST_KEY_MAP` imm0 values plus a keys tuple.
    BuildConstKeyMap = 31,
    /// `LIST_APPEND` imm0.
    ListAppend = 32,
    /// `LIST_EXTEND` imm0.
    ListExtend = 33,
    /// `CALL` imm0 positional arguments: stack (callable, self_or_null, args...). imm1 = the
    /// specialisation the interpreter chose ([`CallSpec`]).
    Call = 34,
    /// `CALL_KW` imm0 arguments: stack (callable, self_or_null, args..., kwnames).
    CallKw = 35,
    /// `GET_ITER`.
    GetIter = 36,
    /// `FOR_ITER`: imm0 = exhaustion target (code unit, past `END_FOR`), imm1 = spec
    /// ([`ForIterSpec`]). Block terminator.
    ForIter = 37,
    /// Unconditional forward jump to code unit imm0. Block terminator.
    Jump = 38,
    /// Backward jump to code unit imm0 with an eval-breaker check. Block terminator.
    JumpBackward = 39,
    /// `POP_JUMP_IF_FALSE` to imm0. Block terminator.
    PopJumpIfFalse = 40,
    /// `POP_JUMP_IF_TRUE` to imm0. Block terminator.
    PopJumpIfTrue = 41,
    /// `POP_JUMP_IF_NONE` to imm0. Block terminator.
    PopJumpIfNone = 42,
    /// `POP_JUMP_IF_NOT_NONE` to imm0. Block terminator.
    PopJumpIfNotNone = 43,
    /// `RETURN_VALUE`. Block terminator.
    ReturnValue = 44,
    /// `RETURN_CONST` imm0. Block terminator.
    ReturnConst = 45,
    /// `RAISE_VARARGS` imm0. Block terminator.
    RaiseVarargs = 46,
    /// `LOAD_ASSERTION_ERROR`.
    LoadAssertionError = 47,
    /// `UNPACK_SEQUENCE` imm0.
    UnpackSequence = 48,
    /// A CPython instruction Ember cannot compile: imm0 = CPython opcode, imm1 = string index
    /// of its name. Compiling a function in which it is reachable fails with its name.
    Unsupported = 49,
    /// `Deopt<reason>`: hand the frame to the interpreter at this instruction. Block
    /// terminator. imm0 is a [`DeoptReason`]: the shim emits [`DeoptReason::Unsupported`] for
    /// the namespace opcodes of class bodies (`LOAD_NAME`, ...) and [`DeoptReason::ColdLoop`]
    /// for the `FOR_ITER` of a loop the interpreter had never run when the function was
    /// serialised (its profile has nothing for the loop's body), whose use in a second call
    /// withdraws the compiled code so that the function is compiled again with a profile of it.
    Deopt = 50,
    /// `FORMAT_SIMPLE`: `format(v)` (str passes through).
    FormatSimple = 51,
    /// `FORMAT_WITH_SPEC`: `format(v, spec)`.
    FormatWithSpec = 52,
    /// `CONVERT_VALUE` imm0 (1 `str`, 2 `repr`, 3 `ascii`).
    ConvertValue = 53,
    /// `BUILD_STRING` imm0 pieces.
    BuildString = 54,
    /// `MAKE_CELL` imm0: wrap local imm0 in a cell.
    MakeCell = 55,
    /// `COPY_FREE_VARS` imm0: copy the closure's cells into the frame.
    CopyFreeVars = 56,
    /// `LOAD_DEREF` imm0.
    LoadDeref = 57,
    /// `STORE_DEREF` imm0.
    StoreDeref = 58,
    /// `DELETE_DEREF` imm0.
    DeleteDeref = 59,
    /// `MAKE_FUNCTION` from the code object on the stack.
    MakeFunction = 60,
    /// `SET_FUNCTION_ATTRIBUTE` imm0 (flag): stack (attr, func) → func.
    SetFunctionAttribute = 61,
    /// `BINARY_SLICE`: stack (container, start, stop).
    BinarySlice = 62,
    /// `STORE_SLICE`: stack (v, container, start, stop).
    StoreSlice = 63,
    /// `BUILD_SLICE` imm0 (2 or 3).
    BuildSlice = 64,
    /// `BUILD_SET` imm0 items.
    BuildSet = 65,
    /// `SET_ADD` imm0.
    SetAdd = 66,
    /// `SET_UPDATE` imm0.
    SetUpdate = 67,
    /// `MAP_ADD` imm0: pops key and value.
    MapAdd = 68,
    /// `DICT_UPDATE` imm0.
    DictUpdate = 69,
    /// `DICT_MERGE` imm0: the callable sits three slots below the dict.
    DictMerge = 70,
    /// `CALL_INTRINSIC_1` imm0.
    CallIntrinsic1 = 71,
    /// `CALL_INTRINSIC_2` imm0.
    CallIntrinsic2 = 72,
    /// `CALL_FUNCTION_EX` imm0 (bit 0: a kwargs mapping is on the stack).
    CallFunctionEx = 73,
    /// `LOAD_SUPER_ATTR`: stack (super, class, self). imm0 = name constant, imm1 = oparg
    /// (bit 0: method form, pushes self-or-NULL too; bit 1: two-argument call).
    LoadSuperAttr = 74,
    /// `IMPORT_NAME`: stack (level, fromlist) → module. imm0 = name constant.
    ImportName = 75,
    /// `IMPORT_FROM`: stack (module) → (module, attr); the module stays. imm0 = name constant.
    ImportFrom = 76,
    /// `BEFORE_WITH`: stack (mgr) → (bound `__exit__`, result of `__enter__()`).
    BeforeWith = 77,
    /// `DELETE_ATTR`: stack (owner) → (). imm0 = name constant.
    DeleteAttr = 78,
    /// `DELETE_GLOBAL`: imm0 = name constant.
    DeleteGlobal = 79,
    /// `LOAD_BUILD_CLASS`: pushes `builtins.__build_class__`.
    LoadBuildClass = 80,
    /// `MATCH_CLASS` imm0 positional patterns: stack (subject, type, names) → attrs or None.
    MatchClass = 81,
    /// `MATCH_MAPPING`: stack (subject) → (subject, bool); the subject stays.
    MatchMapping = 82,
    /// `MATCH_SEQUENCE`: stack (subject) → (subject, bool); the subject stays.
    MatchSequence = 83,
    /// `MATCH_KEYS`: stack (subject, keys) → (subject, keys, values tuple or None).
    MatchKeys = 84,
    /// `GET_LEN`: stack (obj) → (obj, len(obj)).
    GetLen = 85,
    /// `UNPACK_EX` imm0 = oparg (low byte: targets before the starred one, high byte: after).
    UnpackEx = 86,
    /// `RETURN_GENERATOR`: makes the generator, coroutine or async generator, moves the frame
    /// into it and returns it. Terminator; the code after it runs when the object is first
    /// resumed (see [`Op::ResumeAt`]).
    ReturnGenerator = 87,
    /// `YIELD_VALUE` imm0 = oparg (1 inside `yield from`/`await`): suspends the generator
    /// with the rest of the stack saved in the frame and returns the value. Terminator; its
    /// frame state is the resume point (the following `RESUME`) and the saved stack.
    YieldValue = 88,
    /// `SEND` imm0 = code-unit target: stack (receiver, v) → (receiver, retval); continues
    /// when the receiver yielded, jumps to the target when it returned. imm1, imm2 = the
    /// `async for` exit (see [`Op::async_for_exit`]) when the SEND awaits `__anext__`, else -1, 0.
    Send = 89,
    /// `END_SEND`: stack (receiver, value) → (value).
    EndSend = 90,
    /// `GET_YIELD_FROM_ITER`.
    GetYieldFromIter = 91,
    /// `GET_AWAITABLE` imm0 = oparg (1: after `__aenter__`, 2: after `__aexit__`).
    GetAwaitable = 92,
    /// `GET_AITER`.
    GetAiter = 93,
    /// `GET_ANEXT`: stack (aiter) → (aiter, awaitable); the iterator stays. imm0, imm1 = the
    /// `async for` exit (see [`Op::async_for_exit`]), or -1, 0. A terminator: continues at the
    /// next instruction, or at the exit when the loop ends.
    GetAnext = 94,
    /// `BEFORE_ASYNC_WITH`: stack (mgr) → (bound `__aexit__`, result of `__aenter__()`).
    BeforeAsyncWith = 95,
    /// HIR only (never on the wire): the resume dispatch of a generator-family function.
    /// imm0 = code unit, imm1 = depth. When the frame's `instr_ptr` is at code unit imm0,
    /// the imm1 results are the saved value stack (ownership moves from the frame) and control
    /// goes to `targets[0]`; otherwise to `targets[1]`.
    ResumeAt = 96,
    /// HIR only: the frame is suspended at a point compiled code has no entry for (it was
    /// suspended by the interpreter inside an exception handler); the interpreter resumes it.
    GenInterp = 97,
    /// HIR only (made by `passes::unpack_store`): `UNPACK_SEQUENCE` imm0 followed by the
    /// `STORE_FAST`s of its items into locals imm1, imm1+1, ... (item 0 first).
    UnpackStore = 98,
    /// HIR only (made by `passes::specialize`): `v1:T = GuardType<T> v0`. When `v0`'s type is
    /// not exactly `T` ([`crate::hir::Type`], imm0 its number) compiled code deopts: it leaves
    /// at the frame state's instruction with the frame as the interpreter would have it, and
    /// the interpreter runs that instruction. Otherwise `v1` is `v0` (the same owned
    /// reference), now known to be a `T`.
    GuardType = 99,
    /// HIR only: the machine value of a boxed `Int`, `Float` or `Bool` (`CInt64`, `CDouble`,
    /// `CBool`). The operand is only read (not consumed). An `Int` that does not fit in one
    /// CPython digit ("compact", `_PyLong_IsCompact`) deopts at the frame state.
    Unbox = 100,
    /// HIR only: a new object for a machine value (`CDouble` → `Float`, `CInt64` → `Int`,
    /// `CBool` → `Bool`). Allocation failure raises `MemoryError` at the frame state.
    Box = 101,
    /// HIR only: `CDouble = FloatBinOp<k> CDouble CDouble`, imm0 an [`Arith`] (`+ - * / **`). A
    /// zero divisor, or a power outside the positive finite base and finite result that C's
    /// `pow` computes as CPython's `float_pow` does, deopts (the interpreter raises or computes).
    FloatBinOp = 102,
    /// HIR only: `CInt64 = IntBinOp<k> CInt64 CInt64`, imm0 an [`Arith`] (`+ - * // % << >> & | ^`)
    /// with Python's semantics (floor division and remainder round towards negative infinity); a
    /// result that does not fit in 64 bits, a zero divisor or a negative shift deopts (the
    /// interpreter's big-int path or its exception).
    IntBinOp = 103,
    /// HIR only: `CBool = FloatCompare<c> CDouble CDouble`, imm0 a [`Cmp`] (IEEE: `!=` is true
    /// for NaN, every other comparison false).
    FloatCompare = 104,
    /// HIR only: `CBool = IntCompare<c> CInt64 CInt64`, imm0 a [`Cmp`].
    IntCompare = 105,
    /// HIR only: `CDouble = IntToFloat CInt64`: `float(i)`, rounded to nearest even as
    /// `PyLong_AsDouble` does (the int operand of mixed int/float arithmetic).
    IntToFloat = 107,
    /// HIR only: `CDouble = UnboxNumber v`: the value of an exact `float`, or of a compact exact
    /// `int` converted as `float(i)`; anything else deopts. The operand of float arithmetic
    /// whose other operand is known to be a `Float`: Python computes `int + float` as
    /// `float(int) + float` (`float_add`'s `CONVERT_TO_DOUBLE`), so an accumulator that starts
    /// as the int `0` stays in typed code. The operand is only read.
    UnboxNumber = 108,
    /// HIR only: `da:CDouble, db:CDouble = UnboxNumbers a b`: both operands of float arithmetic
    /// the interpreter quickened for floats, each read as by [`Op::UnboxNumber`] (an exact
    /// float, or a compact int converted); deopts unless both are such numbers and at least
    /// one is a float (int with int is int arithmetic in Python). Vector code whose
    /// coordinates are sometimes ints (`Vector(0, 0, 0)`) stays in typed code.
    UnboxNumbers = 109,
    /// HIR only (made by `passes::borrow`): local imm0 as a **borrowed** reference (no
    /// incref): the frame keeps it alive, and nothing between this load and the value's last
    /// use can rebind the local. A side exit that spills it takes a reference of its own.
    LoadFastBorrow = 106,
    /// HIR only (made by `passes::slice_subscr`): `container[start:stop:step]` without the
    /// slice object: `SubscrSlice container start stop step` is `BuildSlice<3> start stop step`
    /// immediately consumed by `BinarySubscr container`. Consumes its four operands; raises at
    /// the frame state (the subscript's) what the interpreter would raise.
    SubscrSlice = 110,
    /// HIR only (made by `passes::math_call`): `d:CDouble = MathCall<fn, object> callee x`:
    /// the C library function imm0 ([`MathFn`]) of the machine double `x`, for a call of a
    /// `math` module function the shim identified (`sqrt(x)` after `from math import sqrt`).
    /// Deopts when `callee` is not the object imm1 (a bound address: the global was rebound)
    /// and when the result is one `math` raises for: a NaN from a non-NaN argument or an
    /// infinity from a finite one (CPython's `math_1`, `Modules/mathmodule.c`), so the
    /// interpreter raises the `ValueError` or `OverflowError` itself.
    MathCall = 111,
    /// HIR only (made by `passes::store_float`): `STORE_FAST` imm0 of `Box d` for a `CDouble`
    /// `d`, without the box when it can be spared. When the local holds an exact float that
    /// only the frame references (count 1, no reference tracer), `d` is written into that
    /// float in place: the interpreter would free it and box `d` into a new one, which nothing
    /// can tell apart (CPython's own `DECREF_INPUTS_AND_REUSE_FLOAT` does the same to a dying
    /// operand). Otherwise `d` is boxed and stored as `STORE_FAST` stores it, releasing the old
    /// value. Leaves compiled code only when boxing fails (`MemoryError` at the frame state,
    /// which is the `Box`'s).
    StoreFastFloat = 112,
    /// HIR only (made by `passes::store_float`): `STORE_SUBSCR_LIST_INT` of `Box d` for a
    /// `CDouble` `d`: `StoreSubscrFloat d container sub`. When the item replaced is an exact
    /// float that only the list references (count 1, no reference tracer), `d` is written into
    /// it in place, as [`Op::StoreFastFloat`] does for a local; otherwise `d` is boxed and
    /// stored as `STORE_SUBSCR_LIST_INT` (or, for anything but an exact list and a compact
    /// index in range, `STORE_SUBSCR`) stores it. `container` and `sub` are consumed. Leaves
    /// compiled code when boxing or the generic store fails.
    StoreSubscrFloat = 113,
    /// HIR only (made by `passes::inline_trivial`): a `Call<nargs>` of a method whose body
    /// only returns one of its parameters, a constant or an instance attribute of a parameter
    /// (`return self`, `return False`, `return self.x`), with that body in place of the call
    /// where nothing can tell: `r = CallTrivial<nargs, code, body, index, version, slot>
    /// callable self_or_null args...`. When `callable` is a Python function whose code object
    /// is imm1 (a bound handle, kept alive by the shim), no event is pending or monitored (the
    /// thread's eval breaker is 0 and the code has no local monitoring) and the recursion limit
    /// leaves room, the result is parameter imm3 (imm2 [`TrivialBody::Param`]: 0 is `self`),
    /// constant imm3 of the caller ([`TrivialBody::Const`]), or the inline value at index imm5
    /// of parameter imm3 when its type's version is imm4 (a bound value) and its values are
    /// inline and set ([`TrivialBody::Attr`], the callee's `LOAD_ATTR_INSTANCE_VALUE`), or
    /// what the body of the caller's callee imm3 returns when each of its reads and tests
    /// answers without running code ([`TrivialBody::Inline`]), a new reference, and the
    /// operands are released; otherwise it is the `Call` it replaced, with
    /// that call's frame state. Consumes its operands like `Call`.
    CallTrivial = 114,
    /// HIR only (made by `passes::inline_call`): `GuardCallee<code> callable args...`, the check
    /// in front of a callee's body that `passes::inline_call` put in place of a `Call`:
    /// `callable` is a Python function whose code object is imm0 (a bound handle, kept alive by
    /// the shim), no monitoring applies to its code and the recursion limit leaves room for its
    /// frame; deopts otherwise, with the call's frame state and operands, so that the
    /// interpreter makes the call. Eval-breaker work that the callee's `RESUME` would run
    /// (signals, pending calls, a scheduled collection) runs first in a frame of the callee
    /// pushed with `args` (`ember_rt_inline_pending`); an exception from it is raised at the
    /// call. Reads its operands; consumes nothing, defines nothing.
    GuardCallee = 115,
    /// HIR only (made by `passes::inline_init`): `v, done:CBool = AllocInstance<code, version,
    /// init, globals> cls args...`, a class call whose `__init__` body follows inline (the work
    /// of the interpreter's `CALL_ALLOC_AND_ENTER_INIT`): when `cls` is exactly a class of type
    /// version imm1 (a bound value), its `__init__` (the function at imm2, a bound address) still
    /// has code object imm0 (bound), with imm3 true its globals and builtins are the caller
    /// frame's (a body that reads globals reads the caller's), no monitoring applies to that code
    /// and the recursion limit leaves room, `v` is a new instance (a new reference; its inline
    /// values and slots empty) and `done`
    /// false; deopts otherwise, with the call's frame state, so that the interpreter makes the
    /// call. When eval-breaker work is pending after the allocation, `__init__` is called with
    /// the instance and `args` instead (its `RESUME` runs that work, as in the interpreter, and
    /// its body makes the stores) and `done` is true. An exception from that call, or a failed
    /// allocation, is raised at the call. Reads its operands; consumes nothing.
    AllocInstance = 116,
    /// HIR only (made by `passes::inline_init`): `InitStore<spec, index> obj value done`,
    /// `__init__`'s `obj.name = value` on an instance `AllocInstance` has just made, unless `done`
    /// (its `__init__` ran as a call): `value` (a new reference taken here) goes into `obj`'s
    /// inline values at index imm1 (imm0 [`StoreAttrSpec::InstanceValue`],
    /// `STORE_ATTR_INSTANCE_VALUE`) or into its slot at byte offset imm1
    /// ([`StoreAttrSpec::Slot`], `STORE_ATTR_SLOT`), which `obj`'s type version guarantees is
    /// in range. Reads its operands, runs no code, never leaves compiled code.
    InitStore = 117,
    /// HIR only (made by `passes::store_float`): `STORE_ATTR_SLOT` of `Box d` for a `CDouble`
    /// `d`: `StoreAttrFloat<name, spec, version, offset> d owner`, with `StoreAttr`'s
    /// immediates (imm1 is [`StoreAttrSpec::Slot`]). When `owner`'s type has version imm2 (a
    /// bound value) and the slot at byte offset imm3 holds an exact float that only the instance
    /// references (count 1, no reference tracer), `d` is written into that float in place, as
    /// [`Op::StoreFastFloat`] does for a local; otherwise `d` is boxed and stored as `StoreAttr`
    /// stores it. Consumes `owner` (unless borrowed). Leaves compiled code when boxing or the
    /// generic store fails, at the store's frame state.
    StoreAttrFloat = 118,
    /// HIR only (made by `passes::loop_locals`): `GuardReleasable v`, the check at the entry of
    /// a loop whose locals compiled code holds in SSA values, for each such local's value `v`
    /// (`opt`) taken from the frame: releasing `v` (at the loop's first store to the local) runs
    /// no code, as it is NULL, has other references (count above 1) or is an exact `int`,
    /// `float`, `str`, `bool` or `None` (`ember_release_is_trivial`); deopts otherwise, at the
    /// loop header with the frame state's locals written back. Reads its operand; defines nothing.
    GuardReleasable = 119,
    /// HIR only (made by `passes::loop_locals`): `v:CInt64 = IntConst<n>`, the machine integer
    /// imm0. Runs no code, cannot fail.
    IntConst = 120,
    /// HIR only (made by `passes::loop_locals`): `c:CBool = RangeNonEmpty it`, at the entry of a
    /// loop over a range whose loop variable compiled code holds as a machine integer: deopts
    /// (with the frame state's stack; the locals are still in the frame) unless `it` is a range
    /// iterator, else true when it has an item left (`ember_range_iter_state`). Reads its operand.
    RangeNonEmpty = 121,
    /// HIR only (made by the SSA builder after each `Call` and `CallKw`, except those quickened
    /// to `CALL_LEN`, `CALL_ISINSTANCE` and `CALL_LIST_APPEND`, which make none): the
    /// eval-breaker check a `CALL` makes once its callee has returned (`CHECK_EVAL_BREAKER` in
    /// the `CALL_*` instructions of Python/bytecodes.c). imm0 = the call's code unit: pending
    /// work (a signal handler, a pending call) runs with the frame's `instr_ptr` there, and an
    /// exception it raises is raised at the call (its traceback entry, its handler), as in the
    /// interpreter.
    /// The frame state is where the interpreter goes on when the check hands the frame over
    /// (monitoring switched on): the next instruction, with the call's result pushed.
    CallBreaker = 122,
    /// HIR only (made by `passes::borrow`): `v = LoadAttrBorrow<name, spec, version, index>
    /// owner`, a `LoadAttr` quickened to `LOAD_ATTR_SLOT`, `_INSTANCE_VALUE` or `_WITH_HINT` whose
    /// result is only read (type-guarded, unboxed, read as a number) and released with nothing
    /// between that runs Python code: the attribute's value, borrowed from `owner` (no
    /// reference taken; `owner` is a borrowed local that stays bound, so the object keeps it).
    /// Immediates as `LoadAttr`'s first four ([`AttrSpec::Slot`], [`AttrSpec::InstanceValue`] or
    /// [`AttrSpec::WithHint`], the type version, the byte offset, values index or dict hint).
    /// Where the interpreter's form would not read it (`DEOPT_IF` of `LOAD_ATTR_SLOT` /
    /// `_INSTANCE_VALUE` / `_WITH_HINT` in Python/bytecodes.c: another type version, invalid
    /// inline values, no managed `__dict__` or another key at the hint, an unset attribute),
    /// the site's own attribute cache answers if it can without running code (another class
    /// of a polymorphic site); else it deopts, with `owner` pushed back on the frame state's
    /// stack. The interpreter then runs the `LOAD_ATTR`, and a site that failed is serialised
    /// generic on recompilation.
    LoadAttrBorrow = 123,
    /// HIR only (made by `passes::inline_method`): `GuardMethodCallee<code> callable
    /// self_or_null args...`, the check in front of a method's body that `passes::inline_method`
    /// put in place of a `Call` of a `LoadMethod`'s two values: `self_or_null` is not NULL (the
    /// load found a method, not a plain attribute), `callable` is a Python function whose code
    /// object is imm0 (a bound handle, kept alive by the shim) and whose globals and builtins
    /// are the caller frame's (the body's global loads read the caller's), and what
    /// [`Op::GuardCallee`] checks holds (no monitoring, room under the recursion limit).
    /// Deopts otherwise, with the call's frame state and operands, so that the interpreter
    /// makes the call; pending eval-breaker work runs first in a frame of the callee, as for
    /// `GuardCallee`. Reads its operands; consumes nothing, defines nothing.
    GuardMethodCallee = 124,
    /// HIR only (made by `passes::inline_method` for a conditional expression of an inlined
    /// body, `passes::straighten`): `v = Select cond a b` is `a` if `cond` is true, else `b`.
    /// `cond` is a `CBool` or an exact bool object (a typed comparison's result); `a` and `b`
    /// are objects, borrowed, and so is `v` (no reference taken: a `Copy` of `v` owns it). No
    /// immediates; it cannot leave compiled code. The interpreter's form is a branch on
    /// `POP_JUMP_IF_FALSE` / `_TRUE` whose arms load the two values.
    Select = 125,
}

/// Why a [`Op::Deopt`] hands the frame to the interpreter: its imm0, shared with C
/// (`EMBER_DEOPT_REASON_*` in the generated header).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum DeoptReason {
    /// An instruction compiled code does not model (the namespace opcodes of class bodies).
    Unsupported = 0,
    /// The `FOR_ITER` of a loop the interpreter had never run when the function was
    /// serialised: `ember_rt_deopt_cold` withdraws the compiled code when a second call gets
    /// there (`EMBER_COLD_LOOP_CALLS`).
    ColdLoop = 1,
}

/// What [`Op::CallTrivial`]'s callee returns: its imm2. Not shared with C.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum TrivialBody {
    /// Positional parameter imm3 (`return self`: 0).
    Param = 0,
    /// Constant imm3 of the caller (`return False`).
    Const = 1,
    /// Parameter imm3's instance attribute at inline-values index imm5, for type version imm4
    /// (`return self.x`).
    Attr = 2,
    /// The body of callee imm3 of the caller ([`crate::hir::Function::callees`]), which only
    /// reads attributes and globals, compares, tests truth and branches
    /// (`passes::inline_trivial`'s `pure`), evaluated with every value borrowed; any check
    /// that fails makes the call (`lower::inline`).
    Inline = 3,
}

/// A one-argument `math` function compiled to its C library function: `LoadGlobal`'s imm6 and
/// a module-form `LoadAttr`'s imm4 (the shim's identification of the value its inline cache
/// points at, [`MathFn::None`] for anything else) and [`Op::MathCall`]'s imm0. Each of these is `FUNC1(name, name, ...)` in CPython's
/// `Modules/mathmodule.c`: `math_1` converts the argument with `PyFloat_AsDouble`, calls the C
/// function and raises on a NaN or infinite result the argument does not explain. Shared with
/// C as `EmberMathFn`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum MathFn {
    /// Not a function Ember compiles.
    None = 0,
    /// `math.sqrt`.
    Sqrt = 1,
    /// `math.sin`.
    Sin = 2,
    /// `math.cos`.
    Cos = 3,
    /// `math.exp` (an overflow to infinity deopts: the interpreter raises `OverflowError`).
    Exp = 4,
    /// `math.fabs`.
    Fabs = 5,
}

/// A binary arithmetic operation, Ember's own numbering: `BinaryOp`'s imm2 (the shim decodes it
/// from CPython's `NB_*` oparg, in-place forms included, since for the immutable numbers
/// typed code handles they compute the same) and the imm0 of [`Op::FloatBinOp`] and
/// [`Op::IntBinOp`]. Shared with C as `EmberArith` (`ember.h`).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum Arith {
    /// `+`
    Add = 0,
    /// `-`
    Subtract = 1,
    /// `*`
    Multiply = 2,
    /// `/` (floats only; a zero divisor deopts).
    TrueDivide = 3,
    /// `//` (ints: floor division; a zero divisor or an overflow deopts).
    FloorDivide = 4,
    /// `%` (ints: the sign of the divisor; a zero divisor deopts).
    Remainder = 5,
    /// `**` (floats with a positive finite base and a finite exponent; anything else deopts).
    Power = 6,
    /// `<<` (ints; a negative count or an overflow deopts).
    LShift = 7,
    /// `>>` (ints; a negative count deopts).
    RShift = 8,
    /// `&`
    And = 9,
    /// `|`
    Or = 10,
    /// `^`
    Xor = 11,
    /// `@` and anything else typed code never handles.
    Other = 12,
}

/// The comparison of [`Op::FloatCompare`] and [`Op::IntCompare`] (their imm0) and of
/// `CompareOp`'s imm2: CPython's rich-comparison codes (`Py_LT` .. `Py_GE` of `object.h`,
/// stable across versions), which the shim extracts from the version-specific oparg.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum Cmp {
    /// `<`
    Lt = 0,
    /// `<=`
    Le = 1,
    /// `==`
    Eq = 2,
    /// `!=`
    Ne = 3,
    /// `>`
    Gt = 4,
    /// `>=`
    Ge = 5,
}

/// Decoding of an immediate that holds one of a `#[repr(u8)]` enum's values (specialisation
/// kinds, [`Arith`], [`Cmp`]): the enum's discriminant is its only definition, shared with C
/// through `ember.h`.
macro_rules! from_imm {
    ($($t:ident),*) => {$(
        impl $t {
            /// Decodes an immediate; `None` when it is not one of this enum's values.
            pub fn from_imm(v: i64) -> Option<$t> {
                $t::from_repr(u8::try_from(v).ok()?)
            }
        }

        impl crate::hir::imms::ImmField for $t {
            fn decode(v: i64) -> Option<$t> {
                $t::from_imm(v)
            }
        }
    )*};
}

from_imm!(
    Arith,
    Cmp,
    CallSpec,
    BinarySpec,
    CompareSpec,
    ToBoolSpec,
    GlobalSpec,
    AttrSpec,
    MethodSpec,
    StoreAttrSpec,
    SubscrSpec,
    StoreSubscrSpec,
    ForIterSpec,
    MathFn,
    TrivialBody,
    DeoptReason
);

/// `BinaryOp`'s imm1: the quickened form the specialising interpreter chose
/// (`BINARY_OP_*`, `Python/bytecodes.c`), or `Generic`. Shared with C as `EmberBinarySpec`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum BinarySpec {
    /// Not quickened (or despecialised after failing guards).
    Generic = 0,
    /// `BINARY_OP_ADD_INT`.
    AddInt = 1,
    /// `BINARY_OP_SUBTRACT_INT`.
    SubtractInt = 2,
    /// `BINARY_OP_MULTIPLY_INT`.
    MultiplyInt = 3,
    /// `BINARY_OP_ADD_FLOAT`.
    AddFloat = 4,
    /// `BINARY_OP_SUBTRACT_FLOAT`.
    SubtractFloat = 5,
    /// `BINARY_OP_MULTIPLY_FLOAT`.
    MultiplyFloat = 6,
    /// `BINARY_OP_ADD_UNICODE`.
    AddStr = 7,
    /// Not quickened because the interpreter never executed it (its adaptive counter still at
    /// `_PyCode_Quicken`'s warm-up value: a branch or loop not yet reached when the function
    /// was serialised). Computed as `Generic`, but lowered as the plain out-of-line helper:
    /// the inline fast path for two floats (`ember_binary_op_float_first`) cost about 1.5 KB
    /// of code per site and made large functions with many such sites slow to compile, for
    /// types nobody has seen.
    Unreached = 8,
    /// Despecialised: a site whose guards kept failing in compiled code (the shim's record of
    /// the function's failed guards). Computed and lowered as `Generic`, and never given a
    /// speculative typed form (`passes::specialize`).
    Despecialised = 9,
}

impl BinarySpec {
    /// The operand type the int and float forms guard (`BINARY_OP_*_INT` and `_FLOAT`); `None`
    /// for `Generic` and `AddStr`.
    pub fn number_type(self) -> Option<crate::hir::Type> {
        use crate::hir::Type;
        match self {
            BinarySpec::AddInt | BinarySpec::SubtractInt | BinarySpec::MultiplyInt => Some(Type::Int),
            BinarySpec::AddFloat | BinarySpec::SubtractFloat | BinarySpec::MultiplyFloat => Some(Type::Float),
            BinarySpec::Generic | BinarySpec::AddStr | BinarySpec::Unreached | BinarySpec::Despecialised => None,
        }
    }
}

/// `CompareOp`'s imm1 (`COMPARE_OP_INT`, `_FLOAT`, `_STR`). Shared with C as `EmberCompareSpec`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum CompareSpec {
    /// Not quickened (or despecialised).
    Generic = 0,
    /// `COMPARE_OP_INT`: both operands compact ints.
    Int = 1,
    /// `COMPARE_OP_FLOAT`.
    Float = 2,
    /// `COMPARE_OP_STR` (`==`/`!=` only).
    Str = 3,
}

/// `ToBool`'s imm0 (`TO_BOOL_*`). Shared with C as `EmberToBoolSpec`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum ToBoolSpec {
    /// `TO_BOOL`.
    Generic = 0,
    /// `TO_BOOL_BOOL`.
    Bool = 1,
    /// `TO_BOOL_INT`.
    Int = 2,
    /// `TO_BOOL_NONE`.
    None = 3,
    /// `TO_BOOL_LIST`.
    List = 4,
    /// `TO_BOOL_STR`.
    Str = 5,
    /// `TO_BOOL_ALWAYS_TRUE`: imm1 is the type version.
    AlwaysTrue = 6,
}

/// `LoadGlobal`'s imm2 (`LOAD_GLOBAL_MODULE`, `_BUILTIN`). Shared with C as `EmberGlobalSpec`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum GlobalSpec {
    /// `LOAD_GLOBAL`.
    Generic = 0,
    /// `LOAD_GLOBAL_MODULE`: imm3 globals keys version, imm5 entry index.
    Module = 1,
    /// `LOAD_GLOBAL_BUILTIN`: imm3 globals and imm4 builtins keys versions, imm5 entry index.
    Builtin = 2,
}

/// `LoadAttr`'s imm1 (`LOAD_ATTR_*`, attribute form). Shared with C as `EmberAttrSpec`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum AttrSpec {
    /// `LOAD_ATTR` or a form Ember does not read.
    Generic = 0,
    /// `LOAD_ATTR_INSTANCE_VALUE`: imm2 type version, imm3 inline-values index.
    InstanceValue = 1,
    /// `LOAD_ATTR_SLOT`: imm2 type version, imm3 byte offset.
    Slot = 2,
    /// `LOAD_ATTR_MODULE`: imm2 module dict keys version, imm3 entry index.
    Module = 3,
    /// `LOAD_ATTR_WITH_HINT`: imm2 type version, imm3 dict hint.
    WithHint = 4,
    /// `LOAD_ATTR_CLASS` (an attribute of a class read from the class, `Direction.FORWARD`):
    /// imm2 the class's own type version, imm5 the attribute's value (bound, borrowed: the
    /// class holds it while its version is imm2).
    Class = 5,
}

/// `LoadMethod`'s imm1 (`LOAD_ATTR_METHOD_*`). Shared with C as `EmberMethodSpec`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum MethodSpec {
    /// `LOAD_ATTR` (method form), not quickened.
    Generic = 0,
    /// `LOAD_ATTR_METHOD_WITH_VALUES`: imm2 type version, imm3 keys version, imm4 descriptor.
    WithValues = 1,
    /// `LOAD_ATTR_METHOD_NO_DICT`: imm2 type version, imm4 descriptor.
    NoDict = 2,
    /// `LOAD_ATTR_METHOD_LAZY_DICT`: imm2 type version, imm4 descriptor.
    LazyDict = 3,
}

/// `StoreAttr`'s imm1 (`STORE_ATTR_*`). Shared with C as `EmberStoreAttrSpec`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum StoreAttrSpec {
    /// `STORE_ATTR`.
    Generic = 0,
    /// `STORE_ATTR_INSTANCE_VALUE`: imm2 type version, imm3 inline-values index.
    InstanceValue = 1,
    /// `STORE_ATTR_SLOT`: imm2 type version, imm3 byte offset.
    Slot = 2,
    /// `STORE_ATTR_WITH_HINT`: imm2 type version, imm3 dict hint.
    WithHint = 3,
}

/// `BinarySubscr`'s imm0 (`BINARY_SUBSCR_*`). Shared with C as `EmberSubscrSpec`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum SubscrSpec {
    /// `BINARY_SUBSCR`.
    Generic = 0,
    /// `BINARY_SUBSCR_LIST_INT`.
    ListInt = 1,
    /// `BINARY_SUBSCR_TUPLE_INT`.
    TupleInt = 2,
    /// `BINARY_SUBSCR_DICT`.
    Dict = 3,
}

/// `StoreSubscr`'s imm0 (`STORE_SUBSCR_*`). Shared with C as `EmberStoreSubscrSpec`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum StoreSubscrSpec {
    /// `STORE_SUBSCR`.
    Generic = 0,
    /// `STORE_SUBSCR_LIST_INT`.
    ListInt = 1,
    /// `STORE_SUBSCR_DICT`.
    Dict = 2,
}

/// `Call`'s imm1: the quickened form of `CALL` (`Python/bytecodes.c`). Each specialised form has
/// its own fast path (`runtime_fast.c`) that makes the interpreter's checks for that form and
/// calls the target directly; when a check fails it takes the generic call, so a
/// specialisation never changes behaviour. Shared with C as `EmberCallSpec`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum CallSpec {
    /// `CALL` and the forms Ember has no fast path for (Python functions are entered through the
    /// generic path, which calls compiled code directly).
    Generic = 0,
    /// `CALL_BUILTIN_O`: a builtin function taking one argument (`METH_O`), e.g. `math.sqrt(x)`.
    BuiltinO = 1,
    /// `CALL_BUILTIN_FAST`: a builtin function with `METH_FASTCALL`.
    BuiltinFast = 2,
    /// `CALL_LEN`: the builtin `len` on one argument.
    Len = 3,
    /// `CALL_ISINSTANCE`: the builtin `isinstance` on two arguments.
    IsInstance = 4,
    /// `CALL_LIST_APPEND`: `list.append` on an exact list.
    ListAppend = 5,
    /// `CALL_METHOD_DESCRIPTOR_O`: a method of a builtin type taking one argument.
    MethodDescriptorO = 6,
    /// `CALL_METHOD_DESCRIPTOR_NOARGS`: a method of a builtin type taking none.
    MethodDescriptorNoargs = 7,
    /// `CALL_METHOD_DESCRIPTOR_FAST`: a method of a builtin type with `METH_FASTCALL`.
    MethodDescriptorFast = 8,
}

/// `ForIter`'s imm1 (`FOR_ITER_*`). Shared with C as `EmberForIterSpec`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::FromRepr)]
pub enum ForIterSpec {
    /// `FOR_ITER`.
    Generic = 0,
    /// `FOR_ITER_RANGE`.
    Range = 1,
    /// `FOR_ITER_LIST`.
    List = 2,
    /// `FOR_ITER_TUPLE`.
    Tuple = 3,
    /// `FOR_ITER_GEN`.
    Gen = 4,
}

/// Static facts about an opcode.
#[derive(Clone, Copy, Debug)]
pub struct OpInfo {
    /// Name used by the HIR text form.
    pub name: &'static str,
    /// Number of immediates the wire record must carry.
    pub nimm: usize,
    /// True when the opcode ends a basic block.
    pub terminator: bool,
    /// True when the operation may leave compiled code (raise or deopt), so it needs a
    /// frame-state snapshot.
    pub can_raise: bool,
}

macro_rules! ops {
    ($($v:ident, $nimm:literal, $term:literal, $raise:literal, $hir:literal;)*) => {
        impl Op {
            /// All opcodes in table order.
            pub const ALL: &'static [Op] = &[$(Op::$v),*];
            /// Decodes a wire opcode; `None` for an unknown number.
            pub fn from_u16(x: u16) -> Option<Op> {
                Op::from_repr(x)
            }
            /// Looks an opcode up by its text-form name.
            pub fn from_name(s: &str) -> Option<Op> {
                match s { $(stringify!($v) => Some(Op::$v),)* _ => None }
            }
            /// Static facts about this opcode.
            pub fn info(self) -> OpInfo {
                match self { $(Op::$v => OpInfo { name: stringify!($v), nimm: $nimm, terminator: $term, can_raise: $raise },)* }
            }
            /// True for operations that only passes create: the wire format and the SSA builder
            /// reject them.
            pub fn hir_only(self) -> bool {
                match self { $(Op::$v => $hir,)* }
            }
        }
    };
}

// The opcode table: one row per [`Op`] variant (its number is the enum's discriminant, written
// only there), giving the facts every stage reads. The `match`es the macro generates are
// exhaustive, so a variant without a row, or a row without a variant, does not compile.
ops! {
    // variant, immediates, terminator, can leave compiled code, HIR-only (made by passes)
    Nop, 0, false, false, false;
    Resume, 0, false, true, false;
    LoadFast, 1, false, false, false;
    LoadFastCheck, 1, false, true, false;
    LoadFastAndClear, 1, false, false, false;
    StoreFast, 1, false, false, false;
    DeleteFast, 1, false, true, false;
    LoadConst, 1, false, false, false;
    PushNull, 0, false, false, false;
    PopTop, 0, false, false, false;
    Copy, 1, false, false, false;
    Swap, 1, false, false, false;
    BinaryOp, 3, false, true, false;
    UnaryNot, 0, false, true, false;
    UnaryNegative, 0, false, true, false;
    UnaryInvert, 0, false, true, false;
    ToBool, 2, false, true, false;
    CompareOp, 3, false, true, false;
    IsOp, 1, false, true, false;
    ContainsOp, 1, false, true, false;
    LoadGlobal, 10, false, true, false;
    StoreGlobal, 1, false, true, false;
    LoadAttr, 6, false, true, false;
    LoadMethod, 5, false, true, false;
    StoreAttr, 4, false, true, false;
    BinarySubscr, 1, false, true, false;
    StoreSubscr, 1, false, true, false;
    DeleteSubscr, 0, false, true, false;
    BuildTuple, 1, false, true, false;
    BuildList, 1, false, true, false;
    BuildMap, 1, false, true, false;
    BuildConstKeyMap, 1, false, true, false;
    ListAppend, 1, false, true, false;
    ListExtend, 1, false, true, false;
    Call, 2, false, true, false;
    CallKw, 1, false, true, false;
    GetIter, 0, false, true, false;
    ForIter, 2, true, true, false;
    Jump, 1, true, false, false;
    JumpBackward, 1, true, true, false;
    PopJumpIfFalse, 1, true, false, false;
    PopJumpIfTrue, 1, true, false, false;
    PopJumpIfNone, 1, true, false, false;
    PopJumpIfNotNone, 1, true, false, false;
    ReturnValue, 0, true, false, false;
    ReturnConst, 1, true, false, false;
    RaiseVarargs, 1, true, true, false;
    LoadAssertionError, 0, false, false, false;
    UnpackSequence, 1, false, true, false;
    Unsupported, 2, false, false, false;
    Deopt, 1, true, false, false;
    FormatSimple, 0, false, true, false;
    FormatWithSpec, 0, false, true, false;
    ConvertValue, 1, false, true, false;
    BuildString, 1, false, true, false;
    MakeCell, 1, false, true, false;
    CopyFreeVars, 1, false, false, false;
    LoadDeref, 1, false, true, false;
    StoreDeref, 1, false, false, false;
    DeleteDeref, 1, false, true, false;
    MakeFunction, 0, false, true, false;
    SetFunctionAttribute, 1, false, true, false;
    BinarySlice, 0, false, true, false;
    StoreSlice, 0, false, true, false;
    BuildSlice, 1, false, true, false;
    BuildSet, 1, false, true, false;
    SetAdd, 1, false, true, false;
    SetUpdate, 1, false, true, false;
    MapAdd, 1, false, true, false;
    DictUpdate, 1, false, true, false;
    DictMerge, 1, false, true, false;
    CallIntrinsic1, 1, false, true, false;
    CallIntrinsic2, 1, false, true, false;
    CallFunctionEx, 1, false, true, false;
    LoadSuperAttr, 2, false, true, false;
    ImportName, 1, false, true, false;
    ImportFrom, 1, false, true, false;
    BeforeWith, 0, false, true, false;
    DeleteAttr, 1, false, true, false;
    DeleteGlobal, 1, false, true, false;
    LoadBuildClass, 0, false, true, false;
    MatchClass, 1, false, true, false;
    MatchMapping, 0, false, false, false;
    MatchSequence, 0, false, false, false;
    MatchKeys, 0, false, true, false;
    GetLen, 0, false, true, false;
    UnpackEx, 1, false, true, false;
    ReturnGenerator, 0, true, true, false;
    YieldValue, 1, true, false, false;
    Send, 3, true, true, false;
    EndSend, 0, false, false, false;
    GetYieldFromIter, 0, false, true, false;
    GetAwaitable, 1, false, true, false;
    GetAiter, 0, false, true, false;
    GetAnext, 2, true, true, false;
    BeforeAsyncWith, 0, false, true, false;
    ResumeAt, 2, true, false, true;
    GenInterp, 0, true, false, true;
    UnpackStore, 2, false, true, true;
    GuardType, 1, false, true, true;
    Unbox, 0, false, true, true;
    Box, 0, false, true, true;
    FloatBinOp, 1, false, true, true;
    IntBinOp, 1, false, true, true;
    FloatCompare, 1, false, false, true;
    IntCompare, 1, false, false, true;
    LoadFastBorrow, 1, false, false, true;
    IntToFloat, 0, false, false, true;
    UnboxNumber, 0, false, true, true;
    UnboxNumbers, 0, false, true, true;
    SubscrSlice, 0, false, true, true;
    MathCall, 2, false, true, true;
    StoreFastFloat, 1, false, true, true;
    StoreSubscrFloat, 0, false, true, true;
    CallTrivial, 6, false, true, true;
    GuardCallee, 1, false, true, true;
    AllocInstance, 4, false, true, true;
    InitStore, 2, false, false, true;
    StoreAttrFloat, 4, false, true, true;
    GuardReleasable, 0, false, true, true;
    IntConst, 1, false, false, true;
    RangeNonEmpty, 0, false, true, true;
    CallBreaker, 1, false, true, true;
    LoadAttrBorrow, 4, false, true, true;
    GuardMethodCallee, 1, false, true, true;
    Select, 0, false, false, true;
}

impl Op {
    /// Indices of this opcode's immediates that hold process-specific values: type versions,
    /// dict-keys versions and borrowed object addresses taken from the specialising
    /// interpreter's inline caches (`Python/bytecodes.c`). They differ from one process to the
    /// next, so [`crate::hir::bind::split`] moves them into the load-time binding table; every
    /// other immediate is structural (opargs, specialisation kinds, indices, offsets, targets).
    pub fn bound_imms(self) -> &'static [usize] {
        match self {
            // TO_BOOL_ALWAYS_TRUE: the type version.
            Op::ToBool => &[1],
            // LOAD_GLOBAL_MODULE / _BUILTIN: the globals' and builtins' keys versions, the
            // address of a `math` function the value was identified as, and the type version
            // and `__init__` address of a class it was identified as.
            Op::LoadGlobal => &[3, 4, 7, 8, 9],
            // The `math` function's address.
            Op::MathCall => &[1],
            // LOAD_ATTR_* / STORE_ATTR_*: the type (or module keys) version; LOAD_ATTR_MODULE:
            // the address of a `math` function the attribute was identified as.
            Op::LoadAttr => &[2, 5],
            Op::LoadAttrBorrow => &[2],
            Op::StoreAttr | Op::StoreAttrFloat => &[2],
            // LOAD_ATTR_METHOD_*: type version, keys version, descriptor address.
            Op::LoadMethod => &[2, 3, 4],
            // The callee's code object, and the type version of a returned attribute.
            Op::CallTrivial => &[1, 4],
            // The inlined callee's code object.
            Op::GuardCallee | Op::GuardMethodCallee => &[0],
            // `__init__`'s code object, the class's type version, `__init__`'s address.
            Op::AllocInstance => &[0, 1, 2],
            _ => &[],
        }
    }
}

impl Op {
    /// Stack effect `(pops, pushes)` given the immediates, mirroring CPython 3.13's
    /// `_PyOpcode_num_popped/pushed`. For [`Op::ForIter`] it is the fall-through (continue)
    /// effect; branches pop their condition. Returns `None` when the immediates are invalid.
    pub fn stack_effect(self, imms: &[i64]) -> Option<(usize, usize)> {
        let n = |i: usize| -> Option<usize> { imms.get(i).and_then(|&v| usize::try_from(v).ok()) };
        Some(match self {
            Op::Nop | Op::Resume | Op::CallBreaker | Op::DeleteFast | Op::Jump | Op::JumpBackward | Op::Deopt => (0, 0),
            Op::LoadFast | Op::LoadFastCheck | Op::LoadFastAndClear | Op::LoadConst | Op::PushNull | Op::LoadAssertionError => (0, 1),
            Op::StoreFast | Op::PopTop | Op::StoreGlobal => (1, 0),
            Op::Copy => {
                let k = n(0)?;
                if k == 0 {
                    return None;
                }
                (k, k + 1)
            }
            Op::Swap => {
                let k = n(0)?;
                if k < 2 {
                    return None;
                }
                (k, k)
            }
            Op::BinaryOp | Op::CompareOp | Op::IsOp | Op::ContainsOp | Op::BinarySubscr => (2, 1),
            Op::UnaryNot
            | Op::UnaryNegative
            | Op::UnaryInvert
            | Op::ToBool
            | Op::LoadAttr
            | Op::LoadAttrBorrow
            | Op::GetIter
            | Op::FormatSimple
            | Op::ConvertValue => (1, 1),
            Op::FormatWithSpec => (2, 1),
            Op::BuildString => (n(0)?, 1),
            Op::LoadGlobal => (0, if imms.get(1).copied().unwrap_or(0) != 0 { 2 } else { 1 }),
            Op::LoadMethod => (1, 2),
            Op::StoreAttr | Op::DeleteSubscr => (2, 0),
            Op::StoreSubscr => (3, 0),
            Op::BuildTuple | Op::BuildList => (n(0)?, 1),
            Op::BuildMap => (n(0)?.checked_mul(2)?, 1),
            Op::BuildConstKeyMap => (n(0)?.checked_add(1)?, 1),
            Op::ListAppend | Op::ListExtend => {
                let k = n(0)?;
                if k == 0 {
                    return None;
                }
                (k + 1, k)
            }
            Op::Call | Op::CallTrivial => (n(0)?.checked_add(2)?, 1),
            Op::CallKw => (n(0)?.checked_add(3)?, 1),
            Op::ForIter => (1, 2),
            Op::PopJumpIfFalse | Op::PopJumpIfTrue | Op::PopJumpIfNone | Op::PopJumpIfNotNone | Op::ReturnValue => (1, 0),
            Op::ReturnConst => (0, 0),
            Op::RaiseVarargs => {
                let k = n(0)?;
                if k > 2 {
                    return None;
                }
                (k, 0)
            }
            Op::UnpackSequence => (1, n(0)?),
            Op::Unsupported => (0, 0),
            Op::MakeCell | Op::CopyFreeVars | Op::DeleteDeref => (0, 0),
            Op::LoadDeref => (0, 1),
            Op::StoreDeref => (1, 0),
            Op::MakeFunction | Op::CallIntrinsic1 => (1, 1),
            Op::SetFunctionAttribute | Op::CallIntrinsic2 => (2, 1),
            Op::BinarySlice => (3, 1),
            Op::StoreSlice => (4, 0),
            Op::BuildSlice => {
                let k = n(0)?;
                if !(2..=3).contains(&k) {
                    return None;
                }
                (k, 1)
            }
            Op::BuildSet => (n(0)?, 1),
            Op::SetAdd | Op::SetUpdate | Op::DictUpdate => {
                let k = n(0)?;
                if k == 0 {
                    return None;
                }
                (k + 1, k)
            }
            Op::MapAdd => {
                let k = n(0)?;
                if k == 0 {
                    return None;
                }
                (k + 2, k)
            }
            Op::DictMerge => {
                let k = n(0)?;
                if k == 0 {
                    return None;
                }
                (k + 4, k + 3)
            }
            Op::CallFunctionEx => (3 + (imms.first().copied().unwrap_or(0) & 1) as usize, 1),
            Op::LoadSuperAttr => (3, 1 + (imms.get(1).copied().unwrap_or(0) & 1) as usize),
            Op::ImportName => (2, 1),
            Op::ImportFrom | Op::MatchMapping | Op::MatchSequence | Op::GetLen => (1, 2),
            Op::BeforeWith => (1, 2),
            Op::DeleteAttr => (1, 0),
            Op::DeleteGlobal => (0, 0),
            Op::LoadBuildClass => (0, 1),
            Op::MatchClass => (3, 1),
            Op::MatchKeys => (2, 3),
            Op::UnpackEx => {
                let k = n(0)?;
                if k > 0xFFFF {
                    return None;
                }
                (1, (k & 0xFF) + (k >> 8) + 1)
            }
            Op::ReturnGenerator => (0, 1),
            Op::YieldValue => {
                if n(0)? > 1 {
                    return None;
                }
                (1, 1)
            }
            Op::Send => (2, 2),
            Op::EndSend => (2, 1),
            Op::GetYieldFromIter | Op::GetAiter => (1, 1),
            Op::GetAwaitable => {
                if n(0)? > 2 {
                    return None;
                }
                (1, 1)
            }
            Op::GetAnext | Op::BeforeAsyncWith => (1, 2),
            Op::ResumeAt => (0, n(1)?),
            Op::GenInterp => (0, 0),
            Op::UnpackStore => (1, 0),
            Op::GuardType | Op::Unbox | Op::Box | Op::IntToFloat | Op::UnboxNumber => (1, 1),
            Op::LoadFastBorrow => (0, 1),
            Op::FloatBinOp | Op::IntBinOp | Op::FloatCompare | Op::IntCompare => (2, 1),
            Op::UnboxNumbers => (2, 2),
            Op::SubscrSlice => (4, 1),
            Op::MathCall => (2, 1),
            Op::StoreFastFloat => (1, 0),
            Op::StoreSubscrFloat => (3, 0),
            Op::GuardCallee | Op::GuardMethodCallee | Op::GuardReleasable => (0, 0),
            Op::Select => (3, 1),
            Op::IntConst => (0, 1),
            Op::RangeNonEmpty => (1, 1),
            Op::AllocInstance => (0, 2),
            Op::InitStore => (0, 0),
            Op::StoreAttrFloat => (2, 0),
        })
    }

    /// Where an `async for` loop continues when `__anext__` (GET_ANEXT) or awaiting its result
    /// (SEND) raises `StopAsyncIteration`: (code unit after the loop's `END_ASYNC_FOR`, stack
    /// depth there). The loop's exception-table handler is `END_ASYNC_FOR`, which the
    /// interpreter reaches by unwinding; compiled code branches there directly (the
    /// serialiser reads the exception table). `None` outside an `async for`.
    pub fn async_for_exit(self, imms: &[i64]) -> Option<(i64, i64)> {
        let at = match self {
            Op::Send => 1,
            Op::GetAnext => 0,
            _ => return None,
        };
        match (imms.get(at), imms.get(at + 1)) {
            (Some(&t), Some(&d)) if t >= 0 => Some((t, d)),
            _ => None,
        }
    }

    /// The code-unit jump target carried in the immediates, for jumping opcodes.
    pub fn jump_target(self, imms: &[i64]) -> Option<i64> {
        match self {
            Op::ForIter
            | Op::Jump
            | Op::JumpBackward
            | Op::PopJumpIfFalse
            | Op::PopJumpIfTrue
            | Op::PopJumpIfNone
            | Op::PopJumpIfNotNone
            | Op::Send => imms.first().copied(),
            _ => None,
        }
    }
}
