//! Typed, named views of an instruction's immediates.
//!
//! On the wire and in [`Instr::imms`] immediates are plain `i64`s whose meaning [`Op`]'s
//! documentation gives by position. Code that reads them goes through these views instead of
//! `imms[k]`: `LoadAttrImms::of(ins)` checks the opcode, decodes the specialisation kind into
//! its enum ([`AttrSpec`], ...) and names every field. A view is `None` for another opcode or
//! an immediate outside its enum (malformed HIR), which callers report as unsupported.

use super::op::{
    Arith, AttrSpec, BinarySpec, CallSpec, Cmp, CompareSpec, ForIterSpec, GlobalSpec, MathFn, MethodSpec, StoreAttrSpec, StoreSubscrSpec,
    SubscrSpec, ToBoolSpec, TrivialBody,
};
use super::{Instr, Op};

/// A value an immediate can hold: decoded from its `i64`, `None` when out of range.
pub trait ImmField: Sized {
    /// Decodes `v`.
    fn decode(v: i64) -> Option<Self>;
}

impl ImmField for i64 {
    fn decode(v: i64) -> Option<i64> {
        Some(v)
    }
}

impl ImmField for bool {
    fn decode(v: i64) -> Option<bool> {
        Some(v != 0)
    }
}

// The enums of `op.rs` implement `ImmField` where they are defined (`from_imm!`).

macro_rules! views {
    ($($(#[$m:meta])* $name:ident for $op:ident { $($(#[$fm:meta])* $field:ident: $ty:ty = $idx:literal,)* })*) => {$(
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fm])* pub $field: $ty,)*
        }

        impl $name {
            /// The view of `ins`; `None` when it is not a
            #[doc = concat!("[`Op::", stringify!($op), "`]")]
            /// or an immediate is out of range.
            pub fn of(ins: &Instr) -> Option<$name> {
                if ins.op != Op::$op {
                    return None;
                }
                Some($name { $($field: <$ty as ImmField>::decode(*ins.imms.get($idx)?)?,)* })
            }
        }
    )*};
}

views! {
    /// `BinaryOp` (`BINARY_OP`).
    BinaryOpImms for BinaryOp {
        /// CPython's `NB_*` oparg, for the generic helper.
        oparg: i64 = 0,
        /// The quickened form.
        spec: BinarySpec = 1,
        /// The operation, version-neutral.
        arith: Arith = 2,
    }
    /// `CompareOp` (`COMPARE_OP`).
    CompareOpImms for CompareOp {
        /// CPython's oparg, for the generic helper.
        oparg: i64 = 0,
        /// The quickened form.
        spec: CompareSpec = 1,
        /// The comparison.
        cmp: Cmp = 2,
    }
    /// `ToBool` (`TO_BOOL`).
    ToBoolImms for ToBool {
        /// The quickened form.
        spec: ToBoolSpec = 0,
        /// The type version for [`ToBoolSpec::AlwaysTrue`] (a bound value).
        type_version: i64 = 1,
    }
    /// `LoadGlobal` (`LOAD_GLOBAL`).
    LoadGlobalImms for LoadGlobal {
        /// The name: an index into the constant table (names follow the constants).
        name: i64 = 0,
        /// Whether a NULL is pushed after the value.
        push_null: bool = 1,
        /// The quickened form.
        spec: GlobalSpec = 2,
        /// The globals dict's keys version (a bound value).
        globals_version: i64 = 3,
        /// The builtins dict's keys version for [`GlobalSpec::Builtin`] (a bound value).
        builtins_version: i64 = 4,
        /// The entry index in the keys.
        index: i64 = 5,
        /// What the shim identified the global's value as when it serialised the function
        /// ([`MathFn::None`]: nothing Ember compiles specially).
        known: MathFn = 6,
        /// That value's address (a bound value; 0 with [`MathFn::None`]).
        object: i64 = 7,
        /// The type version of the class the shim identified the value as, whose `__init__`
        /// the callees section carries for this load (a bound value; 0: none).
        class_version: i64 = 8,
        /// That `__init__` function's address (a bound value; 0: none).
        init: i64 = 9,
    }
    /// `LoadAttrBorrow` (`passes::borrow`'s borrowed `LOAD_ATTR_SLOT` / `_INSTANCE_VALUE` /
    /// `_WITH_HINT`).
    LoadAttrBorrowImms for LoadAttrBorrow {
        /// The name (constant-table index).
        name: i64 = 0,
        /// The quickened form: [`AttrSpec::Slot`], [`AttrSpec::InstanceValue`] or
        /// [`AttrSpec::WithHint`].
        spec: AttrSpec = 1,
        /// The type version (a bound value).
        version: i64 = 2,
        /// Slot offset in bytes, inline-values index or dict hint.
        index: i64 = 3,
    }
    /// `LoadAttr` (`LOAD_ATTR`, attribute form).
    LoadAttrImms for LoadAttr {
        /// The name (constant-table index).
        name: i64 = 0,
        /// The quickened form.
        spec: AttrSpec = 1,
        /// Type version, or the module dict's keys version (a bound value).
        version: i64 = 2,
        /// Inline-values index, slot offset in bytes, entry index or dict hint.
        index: i64 = 3,
        /// For [`AttrSpec::Module`] right after the global holding the module (`math.sqrt`):
        /// what the shim identified the attribute's value as ([`MathFn::None`]: nothing).
        known: MathFn = 4,
        /// That value's address (a bound value; 0 with [`MathFn::None`]), or for
        /// [`AttrSpec::Class`] the class attribute's value.
        object: i64 = 5,
    }
    /// `LoadMethod` (`LOAD_ATTR`, method form).
    LoadMethodImms for LoadMethod {
        /// The name (constant-table index).
        name: i64 = 0,
        /// The quickened form.
        spec: MethodSpec = 1,
        /// The type version (a bound value).
        type_version: i64 = 2,
        /// The shared keys version for [`MethodSpec::WithValues`] (a bound value).
        keys_version: i64 = 3,
        /// The method's address (a bound value, borrowed).
        descr: i64 = 4,
    }
    /// `StoreAttr` (`STORE_ATTR`).
    StoreAttrImms for StoreAttr {
        /// The name (constant-table index).
        name: i64 = 0,
        /// The quickened form.
        spec: StoreAttrSpec = 1,
        /// The type version (a bound value).
        version: i64 = 2,
        /// Inline-values index, slot offset in bytes or dict hint.
        index: i64 = 3,
    }
    /// `StoreAttrFloat` (`passes::store_float`'s `STORE_ATTR_SLOT` of a double): `StoreAttr`'s
    /// immediates.
    StoreAttrFloatImms for StoreAttrFloat {
        /// The name (constant-table index).
        name: i64 = 0,
        /// The quickened form ([`StoreAttrSpec::Slot`]).
        spec: StoreAttrSpec = 1,
        /// The type version (a bound value).
        version: i64 = 2,
        /// The slot's offset in bytes.
        index: i64 = 3,
    }
    /// `BinarySubscr` (`BINARY_SUBSCR`).
    BinarySubscrImms for BinarySubscr {
        /// The quickened form.
        spec: SubscrSpec = 0,
    }
    /// `StoreSubscr` (`STORE_SUBSCR`).
    StoreSubscrImms for StoreSubscr {
        /// The quickened form.
        spec: StoreSubscrSpec = 0,
    }
    /// `Call` (`CALL`).
    CallImms for Call {
        /// Positional arguments after callable and self-or-NULL (CPython's oparg).
        nargs: i64 = 0,
        /// The quickened form.
        spec: CallSpec = 1,
    }
    /// `ForIter` (`FOR_ITER`).
    ForIterImms for ForIter {
        /// The code unit where exhaustion continues (past `END_FOR; POP_TOP`).
        exhausted: i64 = 0,
        /// The quickened form.
        spec: ForIterSpec = 1,
    }
    /// `MathCall`.
    MathCallImms for MathCall {
        /// The C library function.
        func: MathFn = 0,
        /// The `math` function object the callee must be (a bound address).
        object: i64 = 1,
    }
    /// `AllocInstance` (a class call whose `__init__` runs inline).
    AllocInstanceImms for AllocInstance {
        /// `__init__`'s code object (a bound handle).
        code: i64 = 0,
        /// The class's type version (a bound value).
        version: i64 = 1,
        /// `__init__`'s address (a bound value).
        init: i64 = 2,
        /// True when `__init__`'s globals and builtins must be the caller frame's (its body
        /// reads globals).
        same_globals: bool = 3,
    }
    /// `InitStore` (`__init__`'s store into a new instance's inline values or slot).
    InitStoreImms for InitStore {
        /// Where the value goes: [`StoreAttrSpec::InstanceValue`] or [`StoreAttrSpec::Slot`].
        spec: StoreAttrSpec = 0,
        /// The inline-values index or the slot's byte offset.
        index: i64 = 1,
    }
    /// `CallTrivial` (a call whose callee's body is only a return).
    CallTrivialImms for CallTrivial {
        /// Positional arguments after `self_or_null` (as `Call`'s imm0).
        nargs: i64 = 0,
        /// The callee's code object (a bound handle).
        code: i64 = 1,
        /// What the callee returns.
        body: TrivialBody = 2,
        /// The parameter (or the parameter whose attribute) or the caller's constant it returns.
        index: i64 = 3,
        /// [`TrivialBody::Attr`]: the type version (a bound value); else 0.
        version: i64 = 4,
        /// [`TrivialBody::Attr`]: the inline-values index; else 0.
        slot: i64 = 5,
    }
    /// `FloatBinOp` and friends carry one [`Arith`].
    FloatBinOpImms for FloatBinOp {
        /// The operation.
        arith: Arith = 0,
    }
    /// `IntBinOp`.
    IntBinOpImms for IntBinOp {
        /// The operation.
        arith: Arith = 0,
    }
    /// `FloatCompare`.
    FloatCompareImms for FloatCompare {
        /// The comparison.
        cmp: Cmp = 0,
    }
    /// `IntCompare`.
    IntCompareImms for IntCompare {
        /// The comparison.
        cmp: Cmp = 0,
    }
}
