//! The runtime-helper ABI: the name and C signature of every helper compiled code calls.
//!
//! Every helper that compiled code calls by name is listed here; `tests/contract.rs` checks
//! that each is declared in `cpython-glue/ember_runtime.h` and registered in
//! `EMBER_RUNTIME_HELPERS`. The header declares more than this table: the out-of-line halves
//! (`ember_*_slow`, `ember_*_miss`) that only the inlined helper bitcode calls. `P` is a pointer (object, thread state, frame, array), `I` an `int64_t`,
//! `F` a `double`.

/// A parameter's machine type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A pointer.
    P,
    /// A 64-bit integer.
    I,
    /// A `double`.
    F,
}

/// A helper's return type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    /// `PyObject *` (NULL = exception set, unless documented otherwise).
    Ptr,
    /// `int` (0 = success, -1 = exception set).
    I32,
    /// `void`.
    Void,
    /// `double`.
    F64,
    /// `int64_t`.
    I64,
}

/// One helper's signature.
#[derive(Clone, Copy, Debug)]
pub struct HelperSig {
    /// Symbol name.
    pub name: &'static str,
    /// Parameter types.
    pub params: &'static [Arg],
    /// Return type.
    pub ret: Ret,
    /// Rarely called (error, deopt and raise paths): call sites are marked `cold`.
    pub cold: bool,
}

impl HelperSig {
    /// The helper's C prototype, e.g. `void *ember_binary_op(void *, void *, void *, int64_t)` (objects,
    /// thread state and frames are `void *`; `ember_helper_signature` hands it to C hosts).
    pub fn c_prototype(&self) -> String {
        let ret = match self.ret {
            Ret::Ptr => "void *",
            Ret::I32 => "int ",
            Ret::Void => "void ",
            Ret::F64 => "double ",
            Ret::I64 => "int64_t ",
        };
        let params: Vec<&str> = self
            .params
            .iter()
            .map(|a| match a {
                Arg::P => "void *",
                Arg::I => "int64_t",
                Arg::F => "double",
            })
            .collect();
        let params = if params.is_empty() { "void".to_string() } else { params.join(", ") };
        format!("{ret}{}({params})", self.name)
    }
}

use Arg::{F, I, P};

macro_rules! helpers {
    ($($name:ident ( $($a:ident),* ) -> $ret:ident $(, $cold:ident)?;)*) => {
        /// Every helper of `ember_runtime.h` (`EMBER_RUNTIME_HELPERS`) plus `ember_rt_reraise`.
        pub const HELPERS: &[HelperSig] = &[
            $(HelperSig { name: stringify!($name), params: &[$($a),*], ret: Ret::$ret, cold: helpers!(@cold $($cold)?) },)*
        ];
    };
    (@cold cold) => { true };
    (@cold) => { false };
}

helpers! {
    ember_incref(P) -> Void;
    ember_decref(P) -> Void;
    ember_xdecref(P) -> Void;
    ember_rt_periodic(P, P) -> I32;
    ember_rt_eval_breaker(P, P) -> I32;
    ember_rt_leave(P, P, P, I) -> Ptr;
    ember_rt_leave_floats(P, P, P, I) -> Ptr;
    ember_rt_raise(P, P, I, I) -> Ptr, cold;
    ember_rt_deopt(P, P, I, I) -> Ptr, cold;
    ember_rt_deopt_cold(P, P, I, I) -> Ptr, cold;
    ember_rt_reraise(P, P, I, I) -> Ptr, cold;
    ember_err_occurred(P) -> I32;
    ember_raise_unbound_local(P, P, I) -> Ptr, cold;
    ember_binary_op(P, P, P, I) -> Ptr;
    ember_binary_op_add_int(P, P, P, I) -> Ptr;
    ember_binary_op_subtract_int(P, P, P, I) -> Ptr;
    ember_binary_op_multiply_int(P, P, P, I) -> Ptr;
    ember_binary_op_add_float(P, P, P, I) -> Ptr;
    ember_binary_op_subtract_float(P, P, P, I) -> Ptr;
    ember_binary_op_multiply_float(P, P, P, I) -> Ptr;
    ember_binary_op_add_unicode(P, P, P, I) -> Ptr;
    ember_unary_not(P) -> Ptr;
    ember_unary_negative(P) -> Ptr;
    ember_unary_invert(P) -> Ptr;
    ember_to_bool(P) -> Ptr;
    ember_to_bool_bool(P) -> Ptr;
    ember_to_bool_int(P) -> Ptr;
    ember_to_bool_none(P) -> Ptr;
    ember_to_bool_list(P) -> Ptr;
    ember_to_bool_str(P) -> Ptr;
    ember_to_bool_always_true(P, I) -> Ptr;
    ember_compare_op(P, P, I) -> Ptr;
    ember_compare_op_int(P, P, I) -> Ptr;
    ember_compare_op_float(P, P, I) -> Ptr;
    ember_compare_op_str(P, P, I) -> Ptr;
    ember_is_op(P, P, I) -> Ptr;
    ember_contains_op(P, P, I) -> Ptr;
    ember_load_global(P, P, P) -> Ptr;
    ember_load_global_module(P, P, P, I, I) -> Ptr;
    ember_load_global_builtin(P, P, P, I, I, I) -> Ptr;
    ember_store_global(P, P, P, P) -> I32;
    ember_load_attr(P, P, P) -> Ptr;
    ember_load_attr_slot(P, P, P, I, I) -> Ptr;
    ember_load_attr_slot_borrowed(P, P, P, I, I) -> Ptr;
    ember_load_attr_module(P, P, P, I, I) -> Ptr;
    ember_load_method(P, P, P, P) -> Ptr;
    ember_store_attr(P, P, P, P) -> I32;
    ember_store_attr_slot(P, P, P, P, I, I) -> I32;
    ember_store_attr_slot_borrowed(P, P, P, P, I, I) -> I32;
    ember_binary_subscr(P, P) -> Ptr;
    ember_binary_subscr_list_int(P, P) -> Ptr;
    ember_binary_subscr_tuple_int(P, P) -> Ptr;
    ember_binary_subscr_list_int_borrowed(P, P) -> Ptr;
    ember_binary_subscr_tuple_int_borrowed(P, P) -> Ptr;
    ember_binary_subscr_dict(P, P) -> Ptr;
    ember_store_subscr(P, P, P) -> I32;
    ember_store_subscr_list_int(P, P, P) -> I32;
    ember_store_subscr_dict(P, P, P) -> I32;
    ember_delete_subscr(P, P) -> I32;
    ember_build_tuple(P, I) -> Ptr;
    ember_build_list(P, I) -> Ptr;
    ember_build_map(P, I) -> Ptr;
    ember_build_const_key_map(P, I) -> Ptr;
    ember_list_append(P, P) -> I32;
    ember_list_extend(P, P) -> I32;
    ember_call(P, P, I, P) -> Ptr;
    ember_call_ic(P, P, I, P) -> Ptr;
    ember_call_ic_fast(P, P, I, P) -> Ptr;
    ember_trivial_callee_ok(P, P, P, P) -> I32;
    ember_inline_callee_ok(P, P, P) -> I32;
    ember_inline_method_ok(P, P, P, P, P) -> I32;
    ember_alloc_instance_ok(P, P, P, I, P, P, I) -> I32;
    ember_alloc_instance(P, P, P, P, I) -> Ptr;
    ember_init_store(P, I, I, P, I) -> Void;
    ember_trivial_attr(P, I, I) -> Ptr;
    ember_peek_attr(P, P, I, I, I, P) -> Ptr;
    ember_peek_attr_exact(P, P, I, I, I) -> Ptr;
    ember_inl_attr(P, P, P) -> Ptr;
    ember_inl_attr_miss(P, P, P) -> Ptr;
    ember_inl_global(P, P, I, I, I) -> Ptr;
    ember_inl_global_lookup(P, P) -> Ptr;
    ember_inl_compare(P, P, I) -> Ptr;
    ember_inl_truth(P) -> Ptr;
    ember_inl_subscr(P, P) -> Ptr;
    ember_inl_len(P, P, P) -> Ptr;
    ember_call_builtin_o(P, P, I) -> Ptr;
    ember_call_builtin_fast(P, P, I) -> Ptr;
    ember_call_len(P, P, I) -> Ptr;
    ember_call_isinstance(P, P, I) -> Ptr;
    ember_call_list_append(P, P, I) -> Ptr;
    ember_call_method_descriptor_o(P, P, I) -> Ptr;
    ember_call_method_descriptor_noargs(P, P, I) -> Ptr;
    ember_call_method_descriptor_fast(P, P, I) -> Ptr;
    ember_get_iter(P) -> Ptr;
    ember_for_iter(P, P) -> Ptr;
    ember_for_iter_range(P, P) -> Ptr;
    ember_range_iter_state(P) -> I32;
    ember_for_iter_range_i64(P, P) -> I32;
    ember_for_iter_list(P, P) -> Ptr;
    ember_for_iter_tuple(P, P) -> Ptr;
    ember_for_iter_gen(P, P, P) -> Ptr;
    ember_raise_varargs(P, P, P, I) -> Ptr, cold;
    ember_load_assertion_error() -> Ptr;
    ember_unpack_sequence(P, I, P) -> I32;
    ember_format_simple(P) -> Ptr;
    ember_format_with_spec(P, P) -> Ptr;
    ember_convert_value(P, I) -> Ptr;
    ember_build_string(P, I) -> Ptr;
    ember_make_cell(P, P, I) -> I32;
    ember_copy_free_vars(P, I) -> Void;
    ember_load_deref(P, P, I) -> Ptr;
    ember_store_deref(P, I, P) -> Void;
    ember_delete_deref(P, P, I) -> I32;
    ember_make_function(P, P) -> Ptr;
    ember_set_function_attribute(P, P, I) -> Ptr;
    ember_binary_slice(P, P, P) -> Ptr;
    ember_subscr_slice(P, P, P, P) -> Ptr;
    ember_store_slice(P, P, P, P) -> I32;
    ember_build_slice(P, I) -> Ptr;
    ember_build_set(P, I) -> Ptr;
    ember_set_add(P, P) -> I32;
    ember_set_update(P, P) -> I32;
    ember_map_add(P, P, P) -> I32;
    ember_dict_update(P, P, P) -> I32;
    ember_dict_merge(P, P, P, P) -> I32;
    ember_call_intrinsic_1(P, P, I) -> Ptr;
    ember_call_intrinsic_2(P, P, P, I) -> Ptr;
    ember_call_function_ex(P, P, P, P, P) -> Ptr;
    ember_load_super_attr(P, P, P, P, P, I, P) -> Ptr;
    ember_import_name(P, P, P, P, P) -> Ptr;
    ember_import_from(P, P, P) -> Ptr;
    ember_before_with(P, P, P) -> Ptr;
    ember_delete_attr(P, P) -> I32;
    ember_delete_global(P, P, P) -> I32;
    ember_load_build_class(P, P) -> Ptr;
    ember_match_class(P, P, P, P, I) -> Ptr;
    ember_match_mapping(P) -> Ptr;
    ember_match_sequence(P) -> Ptr;
    ember_match_keys(P, P, P) -> Ptr;
    ember_get_len(P) -> Ptr;
    ember_rt_return_generator(P, P) -> Ptr;
    ember_rt_yield(P, P, P, I, I) -> Ptr;
    ember_gen_take_stack(P) -> Void;
    ember_rt_gen_interp(P, P) -> Ptr, cold;
    ember_rt_async_for_stop(P, P, I) -> I32, cold;
    ember_send(P, P, P, P, P) -> I32;
    ember_get_yield_from_iter(P, P, P) -> Ptr;
    ember_get_awaitable(P, P, I) -> Ptr;
    ember_get_aiter(P, P) -> Ptr;
    ember_get_anext(P, P) -> Ptr;
    ember_before_async_with(P, P, P) -> Ptr;
    ember_unpack_store(P, I, P) -> I32;
    ember_unpack_ex(P, P, I, P) -> I32;
    ember_load_attr_ic(P, P, P, P) -> Ptr;
    ember_load_attr_ic_borrowed(P, P, P, P) -> Ptr;
    ember_load_attr_ic_hint(P, P, P, P) -> Ptr;
    ember_load_attr_ic_hint_borrowed(P, P, P, P) -> Ptr;
    ember_load_attr_iv(P, P, P, P, I, I) -> Ptr;
    ember_load_attr_iv_borrowed(P, P, P, P, I, I) -> Ptr;
    ember_store_attr_iv(P, P, P, P, P, I, I) -> I32;
    ember_store_attr_iv_borrowed(P, P, P, P, P, I, I) -> I32;
    ember_load_method_wv(P, P, P, P, P, I, I, P) -> Ptr;
    ember_load_method_nd(P, P, P, P, P, I, P) -> Ptr;
    ember_load_method_ld(P, P, P, P, P, I, P) -> Ptr;
    ember_load_attr_class(P, P, P, P, I, P) -> Ptr;
    ember_load_attr_class_borrowed(P, P, P, P, I, P) -> Ptr;
    ember_load_method_ic(P, P, P, P, P) -> Ptr;
    ember_store_attr_ic(P, P, P, P, P) -> I32;
    ember_store_attr_ic_borrowed(P, P, P, P, P) -> I32;
    ember_load_attr_ic_miss(P, P, P, P) -> Ptr;
    ember_load_method_ic_miss(P, P, P, P, P) -> Ptr;
    ember_store_attr_ic_miss(P, P, P, P, P) -> I32;
    ember_rt_guard_fail(P, P, I, I) -> Ptr, cold;
    ember_rt_inline_pending(P, P, P, I) -> I32, cold;
    ember_type_check(P, I) -> I32;
    ember_release_is_trivial(P) -> I32;
    ember_int_is_compact(P) -> I32;
    ember_int_value(P) -> I64;
    ember_float_value(P) -> F64;
    ember_int_box(I) -> Ptr;
    ember_float_box(P, F) -> Ptr;
    ember_box_for_exit_int(I) -> Ptr, cold;
    ember_box_for_exit_float(F) -> Ptr, cold;
    ember_decref_int(P) -> Void;
    ember_decref_float(P, P) -> Void;
    ember_number_from_int(P) -> F64, cold;
    ember_release_local_float(P, P) -> Void;
    ember_store_subscr_list_int_float(P, P, P, P) -> I32;
    ember_store_local_float(P, P, F) -> I32;
    ember_binary_op_float_first(P, P, P, I) -> Ptr;
    ember_unpack_sequence_outline(P, I, P) -> I32;
    ember_unpack_store_outline(P, I, P) -> I32;
    ember_unpack_store_borrowed_outline(P, I, P) -> I32;
    ember_store_subscr_list_float(P, P, P, F) -> I32;
    ember_store_attr_slot_float(P, P, P, F, I, I, I) -> I32;
    ember_int_to_i64(P, P) -> I32, cold;
}

/// Looks a helper up by name.
pub fn find(name: &str) -> Option<&'static HelperSig> {
    HELPERS.iter().find(|h| h.name == name)
}
