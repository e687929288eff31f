/*
 * ember_runtime.h -- the runtime helpers that Ember-compiled code calls (CPython 3.13).
 *
 * This is the contract between libember (src/lower/helpers.rs declares the same names and
 * signatures) and the C shim. Every helper is registered with the compiler by name and address
 * (ember_init), and the fast-path helpers (runtime_fast.c) are also compiled by build.rs with
 * clang-19 to LLVM bitcode that the JIT links and inlines.
 *
 * Conventions (mirroring the value stack of Python/bytecodes.c):
 *  - Object inputs are CONSUMED (the helper owns one reference to each and must release it on
 *    every path, success or error), unless the parameter is marked "borrowed".
 *  - A PyObject* result is a NEW reference; NULL means an exception is set.
 *  - An int result is 0 on success and -1 with an exception set.
 *  - "i64" parameters are immediates from the HIR wire format (opargs, cache values, indices).
 *  - Fast-path helpers (`_int`, `_instance_value`, ...) carry the specialising interpreter's
 *    inline-cache data; when the guard fails they fall back to the generic helper, so they are
 *    always correct, never deopt.
 */
#ifndef EMBER_RUNTIME_H
#define EMBER_RUNTIME_H

#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#endif
#include <Python.h>
#include <stdint.h>
#include "internal/pycore_frame.h"
#include "internal/pycore_dict.h"     /* DK_UNICODE_ENTRIES (ember_ic_hint_slot) */
#include "internal/pycore_object.h"   /* _PyObject_GetManagedDict, _PyObject_InlineValues */
#include "internal/pycore_interp.h"   /* DICT_NEXT_VERSION (ember_ic_store_hinted) */
#include "internal/pycore_ceval.h"   /* _PY_EVAL_EVENTS_MASK (ember_gen_entry_now) */
#include "opcode.h"                  /* NB_ADD ... (the BINARY_OP opargs: ember_float_arith_op) */
#include "ember.h"                   /* EmberAttrIC, EmberICEntry, EMBER_IC_WAYS, EMBER_IC_EMPTY */
#include "ember_refcount.h"          /* ember_rc_decref: releases that read the count as Py_INCREF writes it */

typedef int64_t i64;

#define EMBER_COLD __attribute__((cold, noinline))
#define EMBER_LIKELY(x) __builtin_expect(!!(x), 1)
#define EMBER_UNLIKELY(x) __builtin_expect(!!(x), 0)
/* A helper that must inline into compiled code (its call would add a C frame where one
 * matters); only the helper bitcode (clang) is built with it. */
#if defined(__clang__)
#define EMBER_INLINE_HELPER __attribute__((always_inline))
#else
#define EMBER_INLINE_HELPER
#endif

/* ---- refcounts (3.13 immortal-aware, exactly Py_INCREF / Py_DECREF) ---- */
void ember_incref(PyObject *o);
void ember_decref(PyObject *o);
void ember_xdecref(PyObject *o);

/* ---- frame protocol (shim.c) ---- */
/* Eval-breaker check (RESUME, JUMP_BACKWARD): 0 to continue, -1 error (e.g. KeyboardInterrupt),
 * 1 when compiled code must hand the frame to the interpreter (tracing/monitoring became active). */
int ember_rt_periodic(PyThreadState *ts, _PyInterpreterFrame *f);
/* 1 when ember_rt_periodic has work to do for frame `f` (an event is pending, or monitoring
 * applies to its code), else 0: the test of a back edge in a loop whose locals compiled code
 * holds (passes/loop_locals.rs), which writes them to the frame before ember_rt_periodic runs. */
int ember_rt_eval_breaker(PyThreadState *ts, _PyInterpreterFrame *f);
/* Normal return: unlink, clear and pop the frame; returns `retval` unchanged. */
PyObject *ember_rt_leave(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *retval, i64 nlocalsplus);
/* The same for a function that computes with floats: dying floats go to the free list through
 * `ts` (frame_fast.c). */
PyObject *ember_rt_leave_floats(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *retval, i64 nlocalsplus);
/* Raise at code-unit index `bc` with `depth` owned values spilled at localsplus[nlocalsplus..]:
 * traceback entry, monitoring RAISE, exception-table lookup; if a handler exists the frame is
 * handed to the interpreter at the handler, else the frame is popped and NULL returned. */
PyObject *ember_rt_raise(PyThreadState *ts, _PyInterpreterFrame *f, i64 bc, i64 depth);
/* Deopt: the frame (locals in place, `depth` stack values spilled) resumes in the interpreter
 * at code unit `bc`; returns the function's result. */
PyObject *ember_rt_deopt(PyThreadState *ts, _PyInterpreterFrame *f, i64 bc, i64 depth);
/* Deopt<ColdLoop> (src/hir/op.rs): compiled code reached the FOR_ITER of a loop the interpreter
 * had never run when the function was serialised, so its body was compiled without a profile.
 * Withdraws the compiled code (new calls run in the interpreter, which profiles the loop; the
 * cost policy or the call counter compiles the function again, with that profile) without
 * recording a failed guard, then continues as ember_rt_deopt. */
PyObject *ember_rt_deopt_cold(PyThreadState *ts, _PyInterpreterFrame *f, i64 bc, i64 depth);
/* A failed guard of typed HIR (GuardType, a non-compact Unbox, an int overflow, a zero float
 * divisor): as ember_rt_deopt, counted per code object; when the exit's boxing failed
 * (ember_box_for_exit_*: an exception is set) it raises at `bc` instead. A function whose
 * guards keep failing is withdrawn to the interpreter and compiled again later from the
 * profile the interpreter has re-specialised since. */
PyObject *ember_rt_guard_fail(PyThreadState *ts, _PyInterpreterFrame *f, i64 bc, i64 depth);
/* Typed HIR (runtime_fast.c): the type guard, unboxing and boxing of ints and floats. */
int ember_type_check(PyObject *v, i64 ty);
/* GuardReleasable: 1 when releasing `o` (borrowed, or NULL) runs no code (runtime_fast.c). */
int ember_release_is_trivial(PyObject *o);
int ember_int_is_compact(PyObject *v);
i64 ember_int_value(PyObject *v);
double ember_float_value(PyObject *v);
PyObject *ember_int_box(i64 x);
PyObject *ember_float_box(PyThreadState *ts, double d);
PyObject *ember_box_for_exit_int(i64 x);
PyObject *ember_box_for_exit_float(double d);
void ember_decref_int(PyObject *o);
void ember_decref_float(PyThreadState *ts, PyObject *o);
/* UnboxNumber's int path, out of line (runtime_slow.c): the value of compact exact int `v`
 * (borrowed) as a double, else the NaN whose bits are EMBER_NOT_A_NUMBER_BITS (ember.h). */
double ember_number_from_int(PyObject *v);
/* Unbox of an exact int that is not compact (runtime_slow.c): 1 with *out set when `v`
 * (borrowed) fits in 64 bits, else 0 (no exception set). */
int ember_int_to_i64(PyObject *v, i64 *out);
/* STORE_FAST's release of the old value (`o`, maybe NULL) when the new one is a float: an exact
 * float goes back to the free list through `ts` (ember_decref_float), anything else is
 * Py_XDECREF. */
void ember_release_local_float(PyThreadState *ts, PyObject *o);
/* STORE_SUBSCR_LIST_INT storing a float: as ember_store_subscr_list_int, the old item released
 * by ember_release_local_float. */
int ember_store_subscr_list_int_float(PyThreadState *ts, PyObject *container, PyObject *sub, PyObject *v);
/* StoreFastFloat: STORE_FAST of a double into `*slot`, written into the local's float in place
 * when only the frame references it (an exact float, count 1, no reference tracer), else boxed
 * and stored as STORE_FAST. 0, or -1 with MemoryError (the local unchanged). */
int ember_store_local_float(PyThreadState *ts, PyObject **slot, double d);
/* `x OP y` for BINARY_OP's `nb` as float_add / float_sub / float_mul / float_div compute it
 * (Objects/floatobject.c): 1 with *r set for + - * / (and their in-place forms), 0 for a zero
 * divisor (the generic path raises) and every other operator. Shared by the generic helper's
 * float cases (runtime_slow.c float_arith) and its inlined form (ember_binary_op_float_first). */
static inline int ember_float_arith_op(i64 nb, double x, double y, double *r)
{
    switch (nb) {
    case NB_ADD: case NB_INPLACE_ADD: *r = x + y; return 1;
    case NB_SUBTRACT: case NB_INPLACE_SUBTRACT: *r = x - y; return 1;
    case NB_MULTIPLY: case NB_INPLACE_MULTIPLY: *r = x * y; return 1;
    case NB_TRUE_DIVIDE: case NB_INPLACE_TRUE_DIVIDE:
        if (y == 0.0) return 0;
        *r = x / y;
        return 1;
    default: return 0;
    }
}
/* A generic BINARY_OP of + - * / (ember_binary_op's contract) with its two-float case first,
 * inlined into compiled code; everything else is ember_binary_op. */
PyObject *ember_binary_op_float_first(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb);
/* ember_unpack_sequence and ember_unpack_store as out-of-line calls (never inlined): for
 * functions with many unpacking sites. */
int ember_unpack_sequence_outline(PyObject *seq, i64 n, PyObject **out);
int ember_unpack_store_outline(PyObject *seq, i64 n, PyObject **dst);
/* UnpackStore of a borrowed `seq` (a local the frame keeps bound: passes::borrow), out of
 * line: as ember_unpack_store, without releasing `seq` on the exact tuple and list paths; the
 * generic path takes a reference first (it may run code that unbinds the local). */
int ember_unpack_store_borrowed_outline(PyObject *seq, i64 n, PyObject **dst);
/* StoreSubscrFloat: STORE_SUBSCR_LIST_INT of a double (`container`, `sub` consumed), written
 * into the item in place under the same condition, else boxed and stored as
 * ember_store_subscr_list_int_float. 0, or -1 with an exception. */
int ember_store_subscr_list_float(PyThreadState *ts, PyObject *container, PyObject *sub, double d);
/* StoreAttrFloat on a slot: STORE_ATTR_SLOT of a double (`owner` consumed unless `borrowed`),
 * written into the slot's float in place under the same condition, else boxed and stored as
 * ember_store_attr_slot. 0, or -1 with an exception. */
int ember_store_attr_slot_float(PyThreadState *ts, PyObject *owner, PyObject *name, double d, i64 type_version,
                                i64 offset, i64 borrowed);
/* Bare `raise` (RAISE_VARARGS 0): like ember_rt_raise, without a new traceback entry when an
 * active exception was re-raised. */
PyObject *ember_rt_reraise(PyThreadState *ts, _PyInterpreterFrame *f, i64 bc, i64 depth);
/* The slow half of ember_rt_periodic (pending calls, instrumentation changes). */
int ember_rt_periodic_slow(PyThreadState *ts, _PyInterpreterFrame *f);
/* 1 when sys.monitoring or sys.settrace applies to the code `f` runs, else 0; runs nothing
 * (unlike ember_rt_periodic_slow, it handles no pending event). */
int ember_rt_monitoring_on(PyThreadState *ts, _PyInterpreterFrame *f);
/* 1 if an exception is set, else 0. */
int ember_err_occurred(PyThreadState *ts);
/* UnboundLocalError for local `idx` (LOAD_FAST_CHECK, DELETE_FAST); always returns NULL. */
PyObject *ember_raise_unbound_local(PyThreadState *ts, _PyInterpreterFrame *f, i64 idx);

/* ---- arithmetic and truth (BINARY_OP, UNARY_*, TO_BOOL, COMPARE_OP, IS_OP, CONTAINS_OP) ---- */
/* `nb` is BINARY_OP's oparg (NB_ADD, NB_INPLACE_ADD, ...). Each takes the thread state (not
 * NULL), through which float results come from the interpreter's free list (ember_float_box)
 * instead of PyFloat_FromDouble's thread-local lookup. */
PyObject *ember_binary_op(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb);
PyObject *ember_binary_op_add_int(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb);
PyObject *ember_binary_op_subtract_int(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb);
PyObject *ember_binary_op_multiply_int(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb);
PyObject *ember_binary_op_add_float(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb);
PyObject *ember_binary_op_subtract_float(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb);
PyObject *ember_binary_op_multiply_float(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb);
PyObject *ember_binary_op_add_unicode(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb);
PyObject *ember_unary_not(PyObject *v);          /* v is a bool (the compiler emits TO_BOOL first) */
PyObject *ember_unary_negative(PyObject *v);
PyObject *ember_unary_invert(PyObject *v);
/* TO_BOOL: returns Py_True/Py_False (new reference). `tv` is the type version for _always_true. */
PyObject *ember_to_bool(PyObject *v);
PyObject *ember_to_bool_bool(PyObject *v);
PyObject *ember_to_bool_int(PyObject *v);
PyObject *ember_to_bool_none(PyObject *v);
PyObject *ember_to_bool_list(PyObject *v);
PyObject *ember_to_bool_str(PyObject *v);
PyObject *ember_to_bool_always_true(PyObject *v, i64 tv);
/* COMPARE_OP: `oparg` is the 3.13 oparg (op = oparg >> 5, bit 16 = coerce to bool). */
PyObject *ember_compare_op(PyObject *a, PyObject *b, i64 oparg);
PyObject *ember_compare_op_int(PyObject *a, PyObject *b, i64 oparg);
PyObject *ember_compare_op_float(PyObject *a, PyObject *b, i64 oparg);
PyObject *ember_compare_op_str(PyObject *a, PyObject *b, i64 oparg);
PyObject *ember_is_op(PyObject *a, PyObject *b, i64 invert);
PyObject *ember_contains_op(PyObject *a, PyObject *b, i64 invert);  /* `a in b` */

/* ---- globals (LOAD_GLOBAL, STORE_GLOBAL) ---- `name` is borrowed (a constant). */
PyObject *ember_load_global(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *name);
/* Index of the entry of unicode dict keys whose key is the str `name` or equal to it, or -1:
 * dictobject.c _PyDictKeys_StringLookup, which is not exported (runtime_ic.c). */
Py_ssize_t ember_unicode_keys_index(PyDictKeysObject *keys, PyObject *name);
/* The keys' version, assigned now from the interpreter's counter when it has none, as
 * dictobject.c _PyDictKeys_GetVersionForCurrentState does (not exported); 0 when versions ran
 * out (runtime_ic.c). */
uint32_t ember_keys_version(PyDictKeysObject *keys);
PyObject *ember_load_global_module(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *name,
                                   i64 keys_version, i64 index);
PyObject *ember_load_global_builtin(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *name,
                                    i64 globals_version, i64 builtins_version, i64 index);
int ember_store_global(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *name, PyObject *v);

/* ---- attributes (LOAD_ATTR, STORE_ATTR) ---- `name` and `descr` are borrowed constants. */
PyObject *ember_load_attr(PyThreadState *ts, PyObject *owner, PyObject *name);
PyObject *ember_load_attr_slot(PyThreadState *ts, PyObject *owner, PyObject *name,
                               i64 type_version, i64 offset);
PyObject *ember_load_attr_module(PyThreadState *ts, PyObject *owner, PyObject *name,
                                 i64 keys_version, i64 index);
/* Method form (LOAD_ATTR with oparg & 1): returns the callable; *self_out receives `self`
 * (new reference) for an unbound method, or NULL when the result is an ordinary attribute. */
PyObject *ember_load_method(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject **self_out);
/* STORE_ATTR: consumes owner and v. */
int ember_store_attr(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v);
int ember_store_attr_slot(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v,
                          i64 type_version, i64 offset);
/* The `_borrowed` forms take `owner` borrowed (a local the frame keeps alive, passes/borrow.rs):
 * they neither take nor drop a reference to it, except around a generic path. */
PyObject *ember_load_attr_slot_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name,
                                        i64 type_version, i64 offset);
int ember_store_attr_slot_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v,
                                   i64 type_version, i64 offset);

/* ---- subscripts ---- */
PyObject *ember_binary_subscr(PyObject *container, PyObject *sub);
PyObject *ember_binary_subscr_list_int(PyObject *container, PyObject *sub);
PyObject *ember_binary_subscr_tuple_int(PyObject *container, PyObject *sub);
/* Neither operand consumed (borrowed operands, passes/borrow.rs; the caller releases owned ones). */
PyObject *ember_binary_subscr_list_int_borrowed(PyObject *container, PyObject *sub);
PyObject *ember_binary_subscr_tuple_int_borrowed(PyObject *container, PyObject *sub);
PyObject *ember_binary_subscr_dict(PyObject *container, PyObject *sub);
int ember_store_subscr(PyObject *container, PyObject *sub, PyObject *v);
int ember_store_subscr_list_int(PyObject *container, PyObject *sub, PyObject *v);
int ember_store_subscr_dict(PyObject *container, PyObject *sub, PyObject *v);
int ember_delete_subscr(PyObject *container, PyObject *sub);

/* ---- building (BUILD_*, LIST_APPEND, LIST_EXTEND) ---- `items` points at n (2n for maps)
 * owned references, which the helper consumes. */
PyObject *ember_build_tuple(PyObject **items, i64 n);
PyObject *ember_build_list(PyObject **items, i64 n);
PyObject *ember_build_map(PyObject **items, i64 n);          /* items: k0 v0 k1 v1 ... */
PyObject *ember_build_const_key_map(PyObject **items, i64 n); /* items: v0..v(n-1) keys_tuple */
int ember_list_append(PyObject *list /* borrowed */, PyObject *v);
int ember_list_extend(PyObject *list /* borrowed */, PyObject *iterable);

/* ---- calls (CALL, CALL_KW) ----
 * `base` points at [callable, self_or_null, arg0 .. arg(nargs-1)] (self_or_null may be NULL);
 * all consumed. `kwnames` (CALL_KW) is a tuple of the trailing keyword names, or NULL.
 * Calls of Ember-compiled functions go straight to their compiled entry. */
PyObject *ember_call(PyThreadState *ts, PyObject **base, i64 nargs, PyObject *kwnames);
/* runtime_fast.c: CALL's specialised forms (EmberCallSpec), the same contract as ember_call
 * without keywords: the interpreter's checks for the form, then a direct call of the C
 * function; the generic call when a check fails. */
PyObject *ember_call_builtin_o(PyThreadState *ts, PyObject **base, i64 nargs);
PyObject *ember_call_builtin_fast(PyThreadState *ts, PyObject **base, i64 nargs);
PyObject *ember_call_len(PyThreadState *ts, PyObject **base, i64 nargs);
PyObject *ember_call_isinstance(PyThreadState *ts, PyObject **base, i64 nargs);
PyObject *ember_call_list_append(PyThreadState *ts, PyObject **base, i64 nargs);
PyObject *ember_call_method_descriptor_o(PyThreadState *ts, PyObject **base, i64 nargs);
PyObject *ember_call_method_descriptor_noargs(PyThreadState *ts, PyObject **base, i64 nargs);
PyObject *ember_call_method_descriptor_fast(PyThreadState *ts, PyObject **base, i64 nargs);
/* shim.c: direct call of an Ember-compiled function (steals callable and args when it
 * returns 1; returns 0 and steals nothing when the generic route must be taken). */
int ember_call_direct(PyThreadState *ts, PyObject *callable, PyObject **args, Py_ssize_t nargs, PyObject **result);
/* shim.c: `Cls(args)` for a plain Python class (object.__new__, Python __init__), the work of
 * CALL_ALLOC_AND_ENTER_INIT; returns 1 with *result set when handled (all consumed), else 0. */
int ember_call_class(PyThreadState *ts, PyObject **base, Py_ssize_t nargs, PyObject **result);
/* shim.c: iter(obj) for an instance of a Python class whose __iter__ is a function Ember
 * manages with compiled code (typically a generator function: `for x in obj`, `yield from
 * obj`), the work of slot_tp_iter and PyObject_GetIter (Objects/typeobject.c, abstract.c)
 * done by pushing __iter__'s frame directly, as a compiled-to-compiled call does. Returns 1
 * with *result set (a new reference to the iterator, or NULL with an exception set) when it
 * handled the call; 0, with nothing done, when PyObject_GetIter must be called. `obj` is
 * borrowed. */
int ember_iter_direct(PyThreadState *ts, PyObject *obj, PyObject **result);
/* slot_tp_iter (static in Objects/typeobject.c), learnt at start-up; NULL if that failed. */
extern getiterfunc ember_slot_tp_iter;
/* The builtins sum, any and all (the objects of the builtins module at start-up, kept alive by
 * the shim): calls of them on a compiled generator resume it directly (runtime_slow.c,
 * reduce_compiled_gen). NULL when they could not be found. */
extern PyObject *ember_builtin_sum, *ember_builtin_any, *ember_builtin_all;
/* `a OP b` (NB_ADD, _SUBTRACT, _MULTIPLY, _TRUE_DIVIDE and their in-place forms) through the
 * Python method of a's class, for b of that class or an exact float or int (shim.c); `ts` is
 * the calling thread's state. 1 with *result set and a, b consumed when it handled the
 * operation, 0 with nothing done. */
int ember_binop_direct(PyThreadState *ts, PyObject *a, PyObject *b, int nb, PyObject **result);

/* ---- iteration (GET_ITER, FOR_ITER) ----
 * ember_for_iter borrows the iterator and returns the next item, or NULL when it is exhausted
 * (no exception) or failed (exception set: check ember_err_occurred). StopIteration is cleared
 * as in the interpreter. */
PyObject *ember_get_iter(PyObject *iterable);
PyObject *ember_for_iter(PyThreadState *ts, PyObject *it);
PyObject *ember_for_iter_range(PyThreadState *ts, PyObject *it);
/* -1 when `it` (borrowed) is not a range iterator, else 1 when it has an item left, 0 when
 * exhausted: RangeNonEmpty, and the kind check of a FOR_ITER_RANGE in a loop whose locals
 * compiled code holds (a range iterator's next item runs no code). */
int ember_range_iter_state(PyObject *it);
/* FOR_ITER_RANGE for an unboxed loop variable, on a range iterator (checked by the loop's
 * entry): 1 with the next item in *out, or 0 when exhausted (as ember_for_iter_range, without
 * the int object). */
int ember_for_iter_range_i64(PyObject *it, i64 *out);
PyObject *ember_for_iter_list(PyThreadState *ts, PyObject *it);
PyObject *ember_for_iter_tuple(PyThreadState *ts, PyObject *it);
PyObject *ember_for_iter_gen(PyThreadState *ts, PyObject *it, void *ic);

/* ---- exceptions ---- */
/* RAISE_VARARGS n (0: re-raise the handled exception, 1: exc, 2: exc from cause). Unused
 * arguments are NULL. Always returns NULL. */
PyObject *ember_raise_varargs(PyThreadState *ts, PyObject *exc, PyObject *cause, i64 n);
PyObject *ember_load_assertion_error(void);

/* ---- sequences ---- */
/* UNPACK_SEQUENCE n: consumes seq, writes n new references to out[0..n) in STACK order
 * (out[0] is the bottom = last element, as the interpreter pushes them). */
int ember_unpack_sequence(PyObject *seq, i64 n, PyObject **out);
/* Not helpers of compiled code: the whole of UNPACK_SEQUENCE / UnpackStore (runtime_slow.c), which
 * the inlinable fast paths of runtime_fast.c call for anything but an exact tuple or list of
 * the right length. */
int ember_unpack_sequence_slow(PyObject *seq, i64 n, PyObject **out);
int ember_unpack_store_slow(PyObject *seq, i64 n, PyObject **dst);

/* ---- f-strings (FORMAT_SIMPLE, FORMAT_WITH_SPEC, CONVERT_VALUE, BUILD_STRING) ---- */
PyObject *ember_format_simple(PyObject *v);
PyObject *ember_format_with_spec(PyObject *v, PyObject *spec);
PyObject *ember_convert_value(PyObject *v, i64 oparg);      /* 1 str, 2 repr, 3 ascii */
PyObject *ember_build_string(PyObject **items, i64 n);      /* consumes the n pieces */

/* ---- cells, closures, functions, slices, displays, intrinsics (runtime_more.c) ---- */
int ember_make_cell(PyThreadState *ts, _PyInterpreterFrame *f, i64 idx);
void ember_copy_free_vars(_PyInterpreterFrame *f, i64 n);
PyObject *ember_load_deref(PyThreadState *ts, _PyInterpreterFrame *f, i64 idx);
void ember_store_deref(_PyInterpreterFrame *f, i64 idx, PyObject *v);
int ember_delete_deref(PyThreadState *ts, _PyInterpreterFrame *f, i64 idx);
PyObject *ember_make_function(_PyInterpreterFrame *f, PyObject *code);
PyObject *ember_set_function_attribute(PyObject *attr, PyObject *func, i64 flag);
PyObject *ember_binary_slice(PyObject *container, PyObject *start, PyObject *stop);
/* container[start:stop:step] (BUILD_SLICE 3 then BINARY_SUBSCR, fused by passes::slice_subscr):
 * consumes all four; NULL with an exception set on error. */
PyObject *ember_subscr_slice(PyObject *container, PyObject *start, PyObject *stop, PyObject *step);
int ember_store_slice(PyObject *v, PyObject *container, PyObject *start, PyObject *stop);
PyObject *ember_build_slice(PyObject **items, i64 n);
PyObject *ember_build_set(PyObject **items, i64 n);
int ember_set_add(PyObject *set /* borrowed */, PyObject *v);
int ember_set_update(PyObject *set /* borrowed */, PyObject *iterable);
int ember_map_add(PyObject *dict /* borrowed */, PyObject *key, PyObject *value);
int ember_dict_update(PyThreadState *ts, PyObject *dict /* borrowed */, PyObject *update);
int ember_dict_merge(PyThreadState *ts, PyObject *callable /* borrowed */, PyObject *dict /* borrowed */,
                     PyObject *update);
PyObject *ember_call_intrinsic_1(PyThreadState *ts, PyObject *v, i64 oparg);
PyObject *ember_call_intrinsic_2(PyThreadState *ts, PyObject *v2, PyObject *v1, i64 oparg);
PyObject *ember_load_super_attr(PyThreadState *ts, PyObject *global_super, PyObject *class_, PyObject *self,
                                PyObject *name /* borrowed */, i64 oparg, PyObject **self_out);
PyObject *ember_call_function_ex(PyThreadState *ts, PyObject *func, PyObject *null, PyObject *callargs,
                                 PyObject *kwargs /* may be NULL */);

/* ---- imports, with, del, class creation, pattern matching, starred unpacking (runtime_stmt.c) ---- */
PyObject *ember_import_name(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *name /* borrowed */,
                            PyObject *level, PyObject *fromlist);
/* NULL without an exception: the attribute is missing; compiled code hands the frame to the
 * interpreter at IMPORT_FROM, which words the ImportError. */
PyObject *ember_import_from(PyThreadState *ts, PyObject *module /* borrowed */, PyObject *name /* borrowed */);
/* Returns __enter__()'s result; *exit_out receives the bound __exit__. */
PyObject *ember_before_with(PyThreadState *ts, PyObject *mgr, PyObject **exit_out);
int ember_delete_attr(PyObject *name /* borrowed */, PyObject *owner);
int ember_delete_global(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *name /* borrowed */);
PyObject *ember_load_build_class(PyThreadState *ts, _PyInterpreterFrame *f);
PyObject *ember_match_class(PyThreadState *ts, PyObject *subject, PyObject *type, PyObject *names, i64 nargs);
PyObject *ember_match_mapping(PyObject *subject /* borrowed */);
PyObject *ember_match_sequence(PyObject *subject /* borrowed */);
PyObject *ember_match_keys(PyThreadState *ts, PyObject *subject /* borrowed */, PyObject *keys /* borrowed */);
PyObject *ember_get_len(PyObject *obj /* borrowed */);
/* UNPACK_EX: out[0 .. before+after] receive the items, the first one at the top. */
int ember_unpack_ex(PyThreadState *ts, PyObject *seq, i64 oparg, PyObject **out);
/* UNPACK_SEQUENCE n followed by STORE_FAST of items 0..n-1 into dst[0..n) (consecutive locals;
 * HIR UnpackStore, n <= 16): consumes seq; each old local value is released right after its
 * slot is overwritten, in order, as the interpreter's STORE_FASTs do. 0 or -1 (exception set,
 * no local changed). */
int ember_unpack_store(PyObject *seq, i64 n, PyObject **dst);

/* ---- self-specialising attribute inline caches (runtime_fast.c fast paths, runtime_ic.c the rest) ----
 * One EmberAttrIC per LOAD_ATTR (attribute and method forms) and STORE_ATTR site, in the compiled
 * module's data: up to EMBER_IC_WAYS entries, each for one type version (polymorphic). Entry 0
 * starts from the interpreter's inline cache (or empty) and is the one the inlined fast path
 * checks; when no entry fits, the generic operation runs and an entry is specialised from the
 * object at hand with the rules of Python/specialize.c (instance value, dict with hint, class
 * attribute, method with values, method without dict, method with lazy dict, slot). After
 * EMBER_IC_MAX_MISSES failed lookups the site stops specialising (megamorphic).
 * The layout (EmberICEntry, EmberAttrIC, EMBER_IC_WAYS, EMBER_IC_EMPTY) is defined once, in
 * src/ic.rs, and comes from ember.h; the kinds below are C's alone. */
#define EMBER_IC_MAX_MISSES 64
enum { EMBER_IC_NONE = 0, EMBER_IC_INSTANCE_VALUE = 1, EMBER_IC_METHOD_WITH_VALUES = 2, EMBER_IC_METHOD_NO_DICT = 3,
       EMBER_IC_CLASS_ATTR = 4 /* LOAD_ATTR_CLASS: `version` is the owner class's own version */,
       /* An instance attribute of a type with inline values, wherever the instance keeps it: the
        * inline values while they are valid (`index`, EMBER_IC_EMPTY when the shared keys lack the
        * name), else the materialised __dict__ at entry `hint` (LOAD_ATTR_WITH_HINT). One kind
        * for both layouts, so a site that sees both is not megamorphic. */
       EMBER_IC_INSTANCE_ANY = 5,
       /* LOAD_ATTR_METHOD_LAZY_DICT: a type with a managed __dict__ but no inline values; the
        * method is found while the instance has no __dict__ (or one without the name). */
       EMBER_IC_METHOD_LAZY_DICT = 6,
       /* A class's own staticmethod or classmethod (exact types), loaded from the class:
        * `descr`'s __get__(None, owner), which cannot run Python code. */
       EMBER_IC_CLASS_DESCR = 7,
       /* A __slots__ member (LOAD_ATTR_SLOT / STORE_ATTR_SLOT): the PyObject * at byte offset
        * `index` of the instance. Answered by the miss path's entry scan, not the inlined
        * entry-0 check (no code at each site); the interpreter's quickening seeds entry 0 of
        * most slot sites as the slot operation itself (serialize.c). */
       EMBER_IC_SLOT = 8 };

/* The managed __dict__ entry at `hint` if its key is `name` (LOAD_ATTR_WITH_HINT and
 * STORE_ATTR_WITH_HINT); NULL when the dict is missing or the hint no longer fits. */
static inline PyObject **ember_ic_hint_slot(PyObject *owner, PyObject *name, i64 hint, PyDictObject **dict_out)
{
    PyDictObject *dict = _PyObject_GetManagedDict(owner);
    if (dict == NULL || hint < 0 || hint >= dict->ma_keys->dk_nentries) return NULL;
    *dict_out = dict;
    if (DK_IS_UNICODE(dict->ma_keys)) {
        PyDictUnicodeEntry *ep = DK_UNICODE_ENTRIES(dict->ma_keys) + hint;
        return ep->me_key == name ? &ep->me_value : NULL;
    }
    PyDictKeyEntry *ep = DK_ENTRIES(dict->ma_keys) + hint;
    return ep->me_key == name ? &ep->me_value : NULL;
}

/* An instance attribute through entry `e` of kind EMBER_IC_INSTANCE_VALUE or _INSTANCE_ANY
 * whose type version matched (borrowed): the inline values while they are valid, else for
 * _INSTANCE_ANY the materialised __dict__'s entry at the hint (the type version guarantees the
 * type has no attribute of this name, so the instance's __dict__ decides, as in the generic
 * lookup). NULL when the entry does not answer. */
static inline PyObject *ember_ic_instance_attr(const EmberICEntry *e, PyObject *owner, PyObject *name)
{
    if ((Py_TYPE(owner)->tp_flags & Py_TPFLAGS_INLINE_VALUES) && _PyObject_InlineValues(owner)->valid)
        return e->index != EMBER_IC_EMPTY ? _PyObject_InlineValues(owner)->values[e->index] : NULL;
    if (e->kind == EMBER_IC_INSTANCE_ANY) {
        PyDictObject *dict;
        PyObject **slot = ember_ic_hint_slot(owner, name, e->hint, &dict);
        return slot != NULL ? *slot : NULL;
    }
    return NULL;
}

/* STORE_ATTR_WITH_HINT: replaces the existing entry `hint` of owner's managed __dict__ when it
 * holds `name`, with the interpreter's dict-version bump. Watched dicts (dict watchers need the
 * unexported _PyDict_SendEvent) and an untracked dict receiving a trackable value are left to
 * the generic path. 1 when stored (v consumed, the old value released). */
static inline int ember_ic_store_hinted(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v, i64 hint)
{
    PyDictObject *dict;
    PyObject **slot = ember_ic_hint_slot(owner, name, hint, &dict);
    if (slot == NULL || *slot == NULL || (dict->ma_version_tag & DICT_WATCHER_MASK) != 0 ||
        (!_PyObject_GC_IS_TRACKED(dict) && _PyObject_GC_MAY_BE_TRACKED(v)))
        return 0;
    PyObject *old = *slot;
    *slot = v;
    dict->ma_version_tag = DICT_NEXT_VERSION(ts->interp) | (dict->ma_version_tag & DICT_WATCHER_AND_MODIFICATION_MASK);
    Py_DECREF(old);
    return 1;
}

/* STORE_ATTR of an instance attribute through entry `e` (kinds EMBER_IC_INSTANCE_VALUE and
 * _INSTANCE_ANY, the interpreter's STORE_ATTR_INSTANCE_VALUE and _WITH_HINT checks): 1 when
 * stored (v consumed; releasing the old value may run Python code, after which the owner is not
 * used), 0 (nothing done) when the entry does not apply. The owner is not consumed. */
static inline int ember_ic_instance_store(PyThreadState *ts, const EmberICEntry *e, PyObject *owner, PyObject *name,
                                          PyObject *v)
{
    if (Py_TYPE(owner)->tp_version_tag != e->version ||
        (e->kind != EMBER_IC_INSTANCE_VALUE && e->kind != EMBER_IC_INSTANCE_ANY))
        return 0;
    if (_PyObject_GetManagedDict(owner) == NULL) {
        /* STORE_ATTR_INSTANCE_VALUE */
        if (!(Py_TYPE(owner)->tp_flags & Py_TPFLAGS_INLINE_VALUES)) return 0;
        PyDictValues *values = _PyObject_InlineValues(owner);
        if (!values->valid || e->index == EMBER_IC_EMPTY) return 0;
        PyObject *old = values->values[e->index];
        values->values[e->index] = v;
        if (old == NULL) _PyDictValues_AddToInsertionOrder(values, (Py_ssize_t)e->index);
        else Py_DECREF(old);
        return 1;
    }
    return e->kind == EMBER_IC_INSTANCE_ANY && ember_ic_store_hinted(ts, owner, name, v, e->hint);
}

/* LOAD_ATTR (method form) through entry `e` in its checks that need no lookup
 * (LOAD_ATTR_METHOD_WITH_VALUES with valid inline values and the type's keys version,
 * LOAD_ATTR_METHOD_NO_DICT, LOAD_ATTR_METHOD_LAZY_DICT while the object has no __dict__, as
 * deltablue's list subclass): the method (borrowed), or NULL when they do not answer for `owner`
 * of type `tp`. The bitcode's ember_load_method_ic tries every entry with it; runtime_ic.c's
 * method_hit adds the forms that look into a __dict__. */
static inline PyObject *ember_ic_method_inline(const EmberICEntry *e, PyTypeObject *tp, PyObject *owner)
{
    if (tp->tp_version_tag != e->version) return NULL;
    if (EMBER_LIKELY(e->kind == EMBER_IC_METHOD_WITH_VALUES && _PyObject_InlineValues(owner)->valid &&
                     ((PyHeapTypeObject *)tp)->ht_cached_keys->dk_version == e->keys_version)) {
        return e->descr;
    }
    if (e->kind == EMBER_IC_METHOD_LAZY_DICT)
        return (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) && _PyObject_GetManagedDict(owner) == NULL ? e->descr : NULL;
    return e->kind == EMBER_IC_METHOD_NO_DICT ? e->descr : NULL;
}

PyObject *ember_load_attr_ic(PyThreadState *ts, PyObject *owner, PyObject *name /* borrowed */, EmberAttrIC *ic);
PyObject *ember_load_method_ic(PyThreadState *ts, PyObject *owner, PyObject *name /* borrowed */, EmberAttrIC *ic,
                               PyObject **self_out);
int ember_store_attr_ic(PyThreadState *ts, PyObject *owner, PyObject *name /* borrowed */, PyObject *v,
                        EmberAttrIC *ic);
PyObject *ember_load_attr_ic_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic);
/* The same two for a site quickened to LOAD_ATTR_WITH_HINT: entry 0's dict-hint form inlined. */
PyObject *ember_load_attr_ic_hint(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic);
PyObject *ember_load_attr_ic_hint_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic);
/* The same two for a LOAD_ATTR_INSTANCE_VALUE site: the profile's type version and inline-values
 * index tested first, then the cache. */
PyObject *ember_load_attr_iv(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic, i64 version,
                             i64 index);
PyObject *ember_load_attr_iv_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic,
                                      i64 version, i64 index);
/* The same two for a LOAD_ATTR_CLASS site: the class's type version and the attribute's value as
 * constants, then the cache. */
PyObject *ember_load_attr_class(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic, i64 version,
                                PyObject *value);
PyObject *ember_load_attr_class_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic,
                                         i64 version, PyObject *value);
/* STORE_ATTR_INSTANCE_VALUE the same way: the profile's test and store, then the cache
 * (ember_store_attr_ic and its borrowed form). */
int ember_store_attr_iv(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v, EmberAttrIC *ic,
                        i64 version, i64 index);
int ember_store_attr_iv_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v, EmberAttrIC *ic,
                                 i64 version, i64 index);
/* LOAD_ATTR_METHOD_WITH_VALUES, _NO_DICT and _LAZY_DICT sites: the profile's test, with its
 * type version, keys version (WITH_VALUES) and method as constants, then ember_load_method_ic. */
PyObject *ember_load_method_wv(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic,
                               PyObject **self_out, i64 version, i64 keys_version, PyObject *descr);
PyObject *ember_load_method_nd(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic,
                               PyObject **self_out, i64 version, PyObject *descr);
PyObject *ember_load_method_ld(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic,
                               PyObject **self_out, i64 version, PyObject *descr);
int ember_store_attr_ic_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v, EmberAttrIC *ic);
/* The entries compiled code tests did not answer: the other entry forms (loads), else the
 * generic operation and re-specialisation; a store's callers have tested every entry. */
PyObject *ember_load_attr_ic_miss(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic)
    __attribute__((noinline));
PyObject *ember_load_method_ic_miss(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic,
                                    PyObject **self_out) __attribute__((noinline));
int ember_store_attr_ic_miss(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v,
                             EmberAttrIC *ic) __attribute__((noinline));

/* ---- generators, coroutines, async generators (frame_fast.c, runtime_gen.c) ---- */
/* Not a helper of compiled code: the shim's direct resumption of a compiled generator or
 * coroutine (exact type) from compiled SEND / FOR_ITER, gen_send_ex2 without the trip through
 * _PyEval_EvalFrame and the PEP 523 hook. `arg` is borrowed. Returns PYGEN_NEXT (yielded),
 * PYGEN_RETURN (*presult = return value), PYGEN_ERROR, or 2 when the generic route must be
 * taken (not compiled, running, finished, monitoring on; nothing done). */
int ember_gen_send_direct(PyThreadState *ts, PyGenObject *gen, PyObject *arg, PyObject **presult);
/* RETURN_GENERATOR: make the generator/coroutine/async generator for the running frame, move
 * the frame into it (instr_ptr past RETURN_GENERATOR), pop the thread frame; returns the new
 * object, NULL with an exception set (the frame is then still the thread's). */
PyObject *ember_rt_return_generator(PyThreadState *ts, _PyInterpreterFrame *f);
/* A call of a generator, coroutine or async generator function whose code starts with
 * RETURN_GENERATOR (runtime_gen.c), from the shim: on the pushed, not yet linked frame `f`
 * (instr_ptr at its first instruction) does what that instruction does, without entering
 * compiled code only for it; returns the new object, or NULL with the exception set and `f`
 * still pushed and unlinked. */
PyObject *ember_start_generator(PyThreadState *ts, _PyInterpreterFrame *f);
/* YIELD_VALUE: the generator frame's `depth` saved stack values are already at
 * localsplus[nlocalsplus..] and instr_ptr is the following RESUME; suspends it as the
 * interpreter does (gi_frame_state, exc_info, recursion budget, unlink). Returns `value`. */
PyObject *ember_rt_yield(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *value, i64 depth, i64 oparg);
/* Compiled code has taken the saved stack of a resumed generator frame: stacktop = nlocalsplus. */
void ember_gen_take_stack(_PyInterpreterFrame *f);
/* A generator frame suspended where compiled code has no entry: the interpreter resumes it. */
PyObject *ember_rt_gen_interp(PyThreadState *ts, _PyInterpreterFrame *f);
/* An `async for` operation (GET_ANEXT or SEND at code unit `bc`) failed: when the exception
 * is StopAsyncIteration, does what the interpreter's unwinding and END_ASYNC_FOR do with it
 * (traceback entry for this frame, monitoring RAISE event, then discard) and returns 1; else
 * 0 with nothing changed. */
int ember_rt_async_for_stop(PyThreadState *ts, _PyInterpreterFrame *f, i64 bc) EMBER_COLD;
/* SEND: receiver is borrowed (it stays on the stack), v is consumed. Returns 0 with *retval
 * set when the receiver yielded, 1 with *retval = its return value (StopIteration's value)
 * when it finished, -1 with an exception set. */
int ember_send(PyThreadState *ts, PyObject *receiver, PyObject *v, PyObject **retval, void *ic);
PyObject *ember_send_method(PyObject *receiver, PyObject *v /* borrowed */) EMBER_COLD;
int ember_send_stopped(PyObject **out) EMBER_COLD;
/* SEND to an exact generator or coroutine (shim.c) the generic way: resumes its compiled code
 * directly when it may, else through am_send; same contract as ember_send. */
int ember_send_gen(PyThreadState *ts, PyObject *receiver, PyObject *v, PyObject **out);
/* A compiled entry: runs the code of frame `f` (linked as the thread's current frame) until it
 * returns, yields or raises. */
typedef PyObject *(*entry_fn)(PyThreadState *, _PyInterpreterFrame *);
/* Compiled frames use the C stack and its recursion budget (Py_C_RECURSION_LIMIT); the
 * interpreter runs Python-to-Python calls without either. When a call finds less than this
 * budget left, its function goes back to the interpreter for good, so deep recursion is bounded
 * by sys.getrecursionlimit() as in the interpreter instead of raising RecursionError early. */
#define EMBER_C_RESERVE (Py_C_RECURSION_LIMIT / 4)
/* The shim's state (shim.c) that the inlined SEND reads too: the co_extra index of the
 * per-code record, whether the JIT is on, and the count of resumptions that entered compiled
 * code (ember.stats()["gen_resumes"]). */
extern Py_ssize_t ember_extra_index;
extern int ember_enabled;
extern long ember_gen_resumes;
extern long ember_gen_collected;   /* shim.c */
extern long ember_ic_slow;         /* shim.c: calls of the attribute inline caches' miss paths */
PyObject *ember_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames);

/* Sites (code units) per code object whose failed guards are remembered, so that a recompile
 * compiles them generic (CodeInfo.despec). */
#define EMBER_MAX_DESPEC 16

/* Per-code-object state, stored in co_extra (shim.c owns it). */
typedef struct {
    entry_fn entry;      /* compiled entry, NULL until compiled */
    uint64_t handle;     /* libember handle */
    uint64_t code_size;  /* native bytes */
    uint64_t ncalls;     /* calls seen through the trampoline */
    int state;           /* 0 fresh, 1 compiled, 2 refused (stays interpreted), 3 queued: the
                          * compile thread has it (background compilation, shim.c) */
    int is_gen;          /* the code is a generator, coroutine or async generator */
    PyObject *pending_name; /* "module:qualname" while queued (owned), for the install log */
    uint32_t orig_co_version; /* the code's co_version while Ember holds it at 0 (shim.c, watch) */
    int version_cleared;  /* co_version is held at 0 */
    int forced;          /* compiled by ember.force_compile: its functions' versions are held at 0
                          * under every policy (shim.c keeps_version) */
    PyObject *pending_func; /* while queued: weak reference to the function whose call queued the
                             * compile (owned); sent to compiled code at install (shim.c) */
    uint64_t samples;    /* sampler ticks that found this code running in the interpreter (the
                          * cost policy, shim.c take_sample) */
    uint64_t hits;       /* the same ticks unweighted: each counts once (shim.c n_time_compiled) */
    uint64_t first_sample; /* n_samples (shim.c) at its first sample outside imports; 0: none */
    uint64_t last_sample;  /* the same at its latest one: how long it kept running (shim.c
                            * precompile_drop_brief) */
    uint64_t import_samples; /* of those, the ticks taken while its thread was importing a module
                              * (shim.c sample_in_import): compiling it for a later run would not
                              * help there, where imports run before any cached code loads */
    int dropped;         /* a compile of it was dropped from a full queue: its functions keep
                          * their versions while it waits for a place (shim.c wait_for_room) */
    int has_osr;         /* compiled with an OSR entry at each loop header (EMBER_WIRE_FLAG_OSR), and has a
                          * loop header outside any try block (shim.c osr_has_loop) */
    int osr_armed;       /* Ember's sys.monitoring JUMP events are on for this code (shim.c OSR) */
    int osr_count;       /* frames of this code moved into compiled code */
    int osr_return;      /* 1 + code unit of a RETURN_VALUE; -1 none; 0 not looked up yet */
    uint32_t deopts;     /* failed guards since it was last compiled (ember_rt_guard_fail) */
    int cold_calls;      /* calls of its compiled code that reached a loop never run when it was
                          * compiled (ember_rt_deopt_cold; EMBER_COLD_LOOP_CALLS) */
    int ndespec;         /* code units whose guards failed: compiled generic from now on (serialize.c) */
    int32_t despec[EMBER_MAX_DESPEC];
    int recompiles;      /* times its compiled code was withdrawn for failing guards */
    int warm;            /* the code cache's hot marker (shim.c cache_warm): 1 present, -1 absent,
                          * 0 not looked up yet, 2 left by this process for later ones only
                          * (EMBER_PROMISING_PERCENT; this process still prices a compile) */
    int warm_promising;  /* its marker says "promising": no earlier process compiled it */
    int load_only;       /* the compile being asked for is a load-only request (EMBER_WIRE_FLAG_CACHE_ONLY) */
    int cache_misses;    /* load-only requests that found no cached code (shim.c take_sample) */
    uint64_t cache_retry_at; /* samples before the next load-only request */
    uint64_t full_since; /* on a warm start, its samples when a compile first paid (0: not yet) */
    char *refusal;       /* why it stays interpreted (state 2; PyMem_Raw-owned), for ember.why_not */
    int pre_slot;        /* 1 + its place among the wires kept for a compile after exit (shim.c
                          * precompile_keep); 0: none */
    uint64_t pre_samples; /* its samples when that wire was serialised */
    int preload;         /* a warm start preloads it (shim.c preload_watch): 1 waiting for its
                          * EMBER_PRELOAD_CALLS-th call, 3 asked for, 2 done (loaded, missed or
                          * given up); 0: not listed */
    int retry_waiting;   /* one of its functions waits to be submitted again (shim.c retry_later) */
    PyObject *inline_keep; /* list of the callees' code objects its wires carried (serialize.c):
                            * compiled code compares callables with them (CallTrivial), so they
                            * live as long as this record */
} CodeInfo;

/* Private layout of co_extra (mirrors _PyCodeObjectExtra in Objects/codeobject.c). */
typedef struct {
    Py_ssize_t ce_size;
    void *ce_extras[1];
} CodeExtra;

/* `co`'s per-code record, or NULL when it has none. */
static inline CodeInfo *ember_code_info(PyCodeObject *co)
{
    CodeExtra *ex = (CodeExtra *)co->co_extra;
    if (ex && ember_extra_index >= 0 && ember_extra_index < ex->ce_size) return ex->ce_extras[ember_extra_index];
    return NULL;
}

/* 1 when `fn` is a function Ember manages now: the JIT is on and its vectorcall is Ember's
 * (not parked, not given back to the interpreter). Its calls, and its generators'
 * resumptions, may run compiled code. */
static inline int ember_manages(PyObject *fn)
{
    return ember_enabled && Py_TYPE(fn) == &PyFunction_Type && ((PyFunctionObject *)fn)->vectorcall == ember_vectorcall;
}

/* Links frame `f` as the thread's current frame and runs compiled `entry` on it, charging one
 * unit of both recursion budgets (the caller checked they are left; the compiled code gives
 * the Python one back when it leaves the frame). The shim's enter() and the inlined SEND. */
static inline PyObject *ember_run_entry(PyThreadState *ts, _PyInterpreterFrame *f, entry_fn entry)
{
    ts->c_recursion_remaining--;
    ts->py_recursion_remaining--;
    f->previous = ts->current_frame;
    ts->current_frame = f;
    PyObject *r = entry(ts, f);
    ts->c_recursion_remaining++;
    return r;
}
/* 1 when generator `gen` may be resumed with `arg` by the direct paths: suspended, or fresh
 * and sent None; running, finished and cleared generators, and a fresh one sent a value, go
 * through am_send, which raises what gen_send_ex2 (Objects/genobject.c) raises. */
static inline int ember_gen_resumable(PyGenObject *gen, PyObject *arg)
{
    int state = gen->gi_frame_state;
    return state < FRAME_EXECUTING && (state != FRAME_CREATED || arg == Py_None);
}

/* gen_send_ex2's protocol before the frame runs: push the sent value (new reference), chain
 * the generator's exception state, mark it executing; counts the compiled resumption. */
static inline void ember_gen_begin(PyThreadState *ts, PyGenObject *gen, PyObject *arg)
{
    _PyInterpreterFrame *f = (_PyInterpreterFrame *)gen->gi_iframe;
    f->localsplus[f->stacktop++] = Py_NewRef(arg);
    gen->gi_exc_state.previous_item = ts->exc_info;
    ts->exc_info = &gen->gi_exc_state;
    gen->gi_frame_state = FRAME_EXECUTING;
    ember_gen_resumes++;
}

/* EmberResumeIC (ember.h, defined once in src/ic.rs): a call, SEND or FOR_ITER site's cache of
 * the code object it last entered and that code's compiled entry, so that entering it again
 * does not walk co_extra (on a deep `yield from` chain that walk, a chain of dependent loads
 * per level, was much of what the interpreter does not pay). `epoch` is ember_code_epoch when
 * filled: the shim bumps it whenever a code object with a record dies (so a cached address that
 * a new code object reuses never matches) and whenever an entry is withdrawn. Zero-initialised
 * in compiled code's data; `entry` holds an entry_fn. */
extern uint64_t ember_code_epoch;
/* The sys.monitoring tools that are Ember's own (its on-stack replacement tool while it holds
 * the id; shim.c): their local events on a code object (OSR's JUMP arming) ask nothing of
 * compiled code. */
extern uint8_t ember_own_tools;
/* 1 when a sys.monitoring tool other than Ember's own has local events on `co`
 * (`_co_monitoring->active_monitors`, a byte of tool bits per local event); 0 when it has none,
 * also when `co->_co_monitoring` exists only because Ember's OSR armed the code, which CPython
 * never frees: calls of such a function from compiled code took the generic route for good
 * (richards' Packet.append_to, every task's fn). shim.c's monitoring_active and the direct
 * entries (ember_call_compiled_now, ember_trivial_callee_ok) share it. */
static inline int ember_foreign_local_events(PyCodeObject *co)
{
    _PyCoMonitoringData *m = co->_co_monitoring;
    if (EMBER_LIKELY(m == NULL)) return 0;
    uint8_t any = 0;
    for (int e = 0; e < _PY_MONITORING_LOCAL_EVENTS; e++) any |= m->active_monitors.tools[e];
    return (any & (uint8_t)~ember_own_tools) != 0;
}

/* The miss path (shim.c): `code`'s compiled entry (NULL: none), also stored in `ic`. */
entry_fn ember_resume_ic_fill(EmberResumeIC *ic, PyObject *code) EMBER_COLD;
/* `code`'s compiled entry through the cache `ic` (NULL: none): a hit while the epoch holds,
 * else the miss path. */
static inline entry_fn ember_resume_ic_entry(EmberResumeIC *ic, PyObject *code)
{
    return EMBER_LIKELY(code == ic->code && ic->epoch == ember_code_epoch) ? (entry_fn)ic->entry : ember_resume_ic_fill(ic, code);
}

/* CALL without keywords (ember_call's contract) from a site whose EmberResumeIC caches the last
 * compiled callee's entry: a compiled callee is entered without its code object's extra-data
 * lookup while the cache is valid (runtime_slow.c, shim.c). */
PyObject *ember_call_ic(PyThreadState *ts, PyObject **base, i64 nargs, EmberResumeIC *ic);
/* ember_call_ic with its common case first, in the helper bitcode (runtime_fast.c):
 * ember_call_compiled_now. Out of line (one copy per compiled module), so that call sites stay
 * the size the code-size guards measure. */
PyObject *ember_call_ic_fast(PyThreadState *ts, PyObject **base, i64 nargs, EmberResumeIC *ic)
    __attribute__((noinline));

/* CallTrivial (src/hir/op.rs, passes::inline_trivial): 1 when the call of `callable` with
 * `self_or_null` first may be replaced by its callee's body, which only returns a parameter or
 * a constant: `callable` is a Python function whose code object is `code` (which the shim
 * keeps alive while compiled code names it), `self_or_null` is not NULL, no event is pending
 * and none was ever switched on (the eval breaker is 0: nothing would have run at the callee's
 * RESUME) nor locally on `code` by a tool other than Ember's own (ember_foreign_local_events),
 * and both recursion budgets have room (the call would not raise RecursionError, nor take a
 * path for a deep C stack). 0 otherwise: compiled code makes the call. In the helper bitcode. */
int ember_trivial_callee_ok(PyThreadState *ts, PyObject *callable, PyObject *self_or_null, PyObject *code);
/* GuardCallee (src/hir/op.rs, passes::inline_call): 1 when the body of `code`, inlined into the
 * caller, may run in place of a call of `callable`: `callable` is a Python function whose code
 * object is `code` (kept alive by the shim while compiled code names it), no monitoring applies
 * to `code` (as shim.c monitoring_active decides: the code's instrumentation is current, no
 * tool has events on globally, none but Ember's own locally), the recursion limit leaves room
 * for the callee's frame (the call would not raise RecursionError), and no eval-breaker work is
 * pending; 2 when all that holds but such work is pending (a signal, a pending call such as
 * Ember's own sampler, a scheduled collection), which the callee's RESUME would run: compiled
 * code runs it through ember_rt_inline_pending first. 0 otherwise: the compiled code deopts to
 * the call, which the interpreter makes. In the helper bitcode. */
int ember_inline_callee_ok(PyThreadState *ts, PyObject *callable, PyObject *code);
/* GuardCallee when ember_inline_callee_ok answered 2 (shim.c): runs the pending eval-breaker work
 * as the callee's RESUME would, in a frame of `callable` pushed for the purpose with new
 * references to the call's `nargs` arguments at `args`, standing at its first instruction, so
 * a signal handler, a finaliser or an asynchronous exception sees what it would see in the
 * interpreter; then pops that frame. 0: the inlined body goes on; -1 with an exception set,
 * raised from the callee's first line (its traceback entry added), which compiled code raises
 * at the call. */
int ember_rt_inline_pending(PyThreadState *ts, PyObject *callable, PyObject *const *args, i64 nargs);
/* GuardMethodCallee (src/hir/op.rs, passes::inline_method): what ember_inline_callee_ok answers
 * (0, 1 or 2) for a method's body inlined into the caller running `frame`, when `self_or_null`
 * (the LoadMethod's second value) is not NULL and `callable` is a Python function whose globals
 * and builtins are the frame's (the body's global loads read the frame's dicts); 0 otherwise.
 * In the helper bitcode. */
int ember_inline_method_ok(PyThreadState *ts, _PyInterpreterFrame *frame, PyObject *callable, PyObject *self_or_null, PyObject *code);
/* AllocInstance's check (the guards of the interpreter's CALL_ALLOC_AND_ENTER_INIT,
 * Python/bytecodes.c): 1 when `cls` is exactly a class (metaclass `type`) of type version
 * `version` and its __init__ `init` (read only then: the type version keeps it in the class)
 * may run inline with code object `code` (ember_inline_callee_ok, pending eval-breaker work
 * aside; the recursion limit must leave room for two frames, __init__'s and the cleanup frame
 * the interpreter pushes under it) and, when `same_globals`, has the globals and builtins of
 * the caller's `frame` (its inlined body reads the caller's); 0 otherwise (deopt to the call).
 * In the helper bitcode. */
int ember_alloc_instance_ok(PyThreadState *ts, _PyInterpreterFrame *frame, PyObject *cls, i64 version, PyObject *init,
                            PyObject *code, i64 same_globals);
/* AllocInstance once ember_alloc_instance_ok answered 1 (shim.c): a new instance of `cls`
 * (_PyType_NewManagedObject's work: PyType_GenericAlloc, inline values empty), a new reference;
 * base[0] (the NULL's scratch stack slot of the caller, the `nargs` arguments at base[1..])
 * is then NULL. When eval-breaker work is pending after the allocation (a collection it
 * scheduled, a signal, a pending call), __init__ `init` is called instead with the instance,
 * written to base[0], and the arguments: its RESUME runs that work with the instance in its
 * frame, as in the interpreter, and its body makes the stores, whatever that work changed;
 * base[0] then holds the instance (borrowed), and the inlined stores are skipped. NULL with an
 * exception set (no memory; an exception from that call, with its traceback), raised at the
 * call. */
PyObject *ember_alloc_instance(PyThreadState *ts, PyObject *cls, PyObject *init, PyObject **base, i64 nargs);
/* InitStore: __init__'s STORE_ATTR_INSTANCE_VALUE (`spec` EMBER_STORE_ATTR_SPEC_INSTANCE_VALUE)
 * or STORE_ATTR_SLOT (EMBER_STORE_ATTR_SPEC_SLOT) on an instance AllocInstance just made:
 * nothing when `initialised` (__init__ ran as a call); otherwise a new reference to `value`
 * goes into `obj`'s inline values at `index` or its slot at byte offset `index` (in range for
 * `obj`'s type version), and an old value there is released, which runs no code (the inlined
 * body stores each place once, and an earlier store's value is an argument, a constant or a
 * number). In the helper bitcode. */
void ember_init_store(PyObject *obj, i64 spec, i64 index, PyObject *value, i64 initialised);
/* CallTrivial's attribute body (TrivialBody::Attr): `owner`'s inline value at `index` when the
 * callee's LOAD_ATTR_INSTANCE_VALUE would read it (Python/bytecodes.c: the type's version is
 * `version`, the inline values are valid, the value is set), borrowed; NULL otherwise (no
 * exception: compiled code makes the call). In the helper bitcode. */
PyObject *ember_trivial_attr(PyObject *owner, i64 version, i64 index);
/* LoadAttrBorrow (passes/borrow.rs): the attribute a LOAD_ATTR_SLOT (`spec`
 * EMBER_ATTR_SPEC_SLOT, `index` a byte offset), LOAD_ATTR_INSTANCE_VALUE (`index` an
 * inline-values index) or LOAD_ATTR_WITH_HINT (`index` the dict hint) site reads for `name`,
 * borrowed from `owner`, when the interpreter's form would read it, else as the site's cache
 * `ic` answers it without running code (ember_inl_attr_miss); NULL when neither can (no
 * exception: compiled code deopts). In the helper bitcode. */
PyObject *ember_peek_attr(PyObject *owner, PyObject *name, i64 spec, i64 version, i64 index, EmberAttrIC *ic);
/* LoadAttrBorrow in an inlined method body (passes::inline_method): ember_peek_attr's first test
 * alone, the interpreter's form for the profile's type version `version`, and NULL for anything
 * else (also another class the site's cache knows): the body's later stores rely on that version.
 * In the helper bitcode. */
PyObject *ember_peek_attr_exact(PyObject *owner, PyObject *name, i64 spec, i64 version, i64 index);

/* An inlined callee body (TrivialBody::Inline, src/lower/inline.rs): a callee that only reads
 * attributes and globals, compares, tests truth and branches is evaluated in compiled code
 * once ember_trivial_callee_ok allowed it. Each helper below answers as the callee's
 * instruction would, without running Python code and without taking a reference (the object is
 * kept alive by its owner, its class or a dict, and nothing runs before the body returns), or
 * returns NULL (no exception): compiled code then makes the call, which does it all again.
 *
 * LOAD_ATTR: `name` of `owner` through the site's own attribute cache `ic` (instance values or
 * __dict__ entry, class attribute, __slots__ member; every entry's instance-value form inline). In
 * the helper bitcode. */
PyObject *ember_inl_attr(PyObject *owner, PyObject *name, EmberAttrIC *ic);
/* ember_inl_attr's other entries; after a miss, owner's type is classified for `ic` as
 * ember_load_attr_ic_miss classifies it (lookups that cannot run code) and the entries are
 * tried once more. */
PyObject *ember_inl_attr_miss(PyObject *owner, PyObject *name, EmberAttrIC *ic);
/* LOAD_GLOBAL (no NULL pushed) in the globals and builtins of Python function `func`: the entry
 * at `index` while the keys versions are those of its LOAD_GLOBAL_MODULE (`gv`, `bv` 0) or
 * _BUILTIN (`gv`, `bv`) cache, else ember_inl_global_lookup. In the helper bitcode. */
PyObject *ember_inl_global(PyObject *func, PyObject *name, i64 gv, i64 bv, i64 index);
/* `name` looked up in `func`'s globals, then its builtins, when both are exact dicts with str
 * keys only (so the lookup runs no code); NULL otherwise or when absent. */
PyObject *ember_inl_global_lookup(PyObject *func, PyObject *name);
/* BINARY_SUBSCR of an exact list or tuple by a non-negative compact int in range: the item,
 * borrowed from the container (BINARY_SUBSCR_LIST_INT, _TUPLE_INT); NULL for anything else
 * (which could run code or raise). In the helper bitcode. */
PyObject *ember_inl_subscr(PyObject *container, PyObject *sub);
/* CALL_LEN: when `callable` is the builtin len and `obj` an exact list, tuple, dict, str, set
 * or frozenset of fewer than _PY_NSMALLPOSINTS items, the (immortal) small int of its length;
 * NULL for anything else (a __len__ would run code). In the helper bitcode. */
PyObject *ember_inl_len(PyThreadState *ts, PyObject *callable, PyObject *obj);
/* COMPARE_OP `cmp` (Py_LT..Py_GE): Py_True or Py_False for two exact compact ints
 * (COMPARE_OP_INT), two exact floats (COMPARE_OP_FLOAT) or two exact strs under == or !=
 * (COMPARE_OP_STR); NULL for anything else. In the helper bitcode. */
PyObject *ember_inl_compare(PyObject *a, PyObject *b, i64 cmp);
/* TO_BOOL: Py_True or Py_False for a bool, None, an exact int, str, list, tuple or dict
 * (TO_BOOL_BOOL, _NONE, _INT, _STR, _LIST and their kin); NULL for anything else, whose truth
 * could run code. In the helper bitcode. */
PyObject *ember_inl_truth(PyObject *v);

/* Generator-family code objects: their calls make a generator (RETURN_GENERATOR). */
#define EMBER_GEN_FLAGS (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR | CO_ITERABLE_COROUTINE)

/* 1 when a call of `func` (code `co`) with `nargs` positional arguments and no keywords binds
 * them as CALL_PY_EXACT_ARGS or CALL_PY_WITH_DEFAULTS would (Python/bytecodes.c; the
 * specialiser's function_kind): no *args / **kwargs / keyword-only parameters, and nargs ==
 * co_argcount, or fewer when every parameter left out has a default (the last ones, from
 * func_defaults, which ember_push_stolen copies in). go's `neighbour.find()` of
 * `def find(self, update=False)` took the generic route on every call. CO_OPTIMIZED too: a code
 * object without it (module or class body called as a function) runs with f_locals = its
 * globals (_PyFunction_Vectorcall), which only the slow push sets. */
static inline int ember_simple_call(PyFunctionObject *func, PyCodeObject *co, Py_ssize_t nargs)
{
    if ((co->co_flags & (CO_VARARGS | CO_VARKEYWORDS)) != 0 || co->co_kwonlyargcount != 0 ||
        !(co->co_flags & CO_OPTIMIZED))
        return 0;
    if (EMBER_LIKELY(nargs == co->co_argcount)) return 1;
    PyObject *defs = func->func_defaults;   /* a tuple or NULL (func_set_defaults) */
    return nargs < co->co_argcount && defs != NULL && nargs >= co->co_argcount - PyTuple_GET_SIZE(defs);
}

/* Pushes a frame for `func` taking ownership of `func` and of args[0..nargs) (the caller
 * checked ember_simple_call and the data stack's room), the parameters past them bound to new
 * references to their defaults as CALL_PY_WITH_DEFAULTS binds them: _PyFrame_PushUnchecked and
 * _PyFrame_Initialize (Include/internal/pycore_frame.h), field for field. Always inlined, with
 * plain loops: a call of this helper, and for the locals past the arguments one of memset
 * (which the optimiser makes of _PyFrame_Initialize's loop), were a third of a
 * compiled-to-compiled call's instructions; a function's locals are a handful of words. */
static inline __attribute__((always_inline)) _PyInterpreterFrame *
ember_push_stolen(PyThreadState *ts, PyFunctionObject *func, PyObject *const *args, Py_ssize_t nargs)
{
    PyCodeObject *code = (PyCodeObject *)func->func_code;
    _PyInterpreterFrame *f = (_PyInterpreterFrame *)ts->datastack_top;
    ts->datastack_top += code->co_framesize;
    f->f_funcobj = (PyObject *)func;
    /* Written as a 64-bit count (ember_rc_incref): the return's Py_DECREF of f_executable
     * (frame_fast.c leave) reads the whole count a few dozen instructions later, which a 32-bit
     * Py_INCREF store cannot forward to (ember_refcount.h). */
    ember_rc_incref((PyObject *)code);
    f->f_executable = (PyObject *)code;
    f->f_builtins = func->func_builtins;
    f->f_globals = func->func_globals;
    f->f_locals = NULL;
    f->stacktop = code->co_nlocalsplus;
    f->frame_obj = NULL;
    f->instr_ptr = _PyCode_CODE(code);
    f->return_offset = 0;
    f->owner = FRAME_OWNED_BY_THREAD;
    /* Volatile stores: plain moves, but the optimiser can neither vectorise these loops (with
     * their run-time overlap tests) nor make memset of them. */
    PyObject *volatile *locals = (PyObject *volatile *)f->localsplus;
    for (Py_ssize_t i = 0; i < nargs; i++) locals[i] = args[i];
    Py_ssize_t bound = nargs;
    if (EMBER_UNLIKELY(nargs < code->co_argcount)) {
        PyObject *defs = func->func_defaults;
        Py_ssize_t first = code->co_argcount - PyTuple_GET_SIZE(defs);   /* the first with a default */
        for (; bound < code->co_argcount; bound++) locals[bound] = Py_NewRef(PyTuple_GET_ITEM(defs, bound - first));
    }
    for (Py_ssize_t i = bound; i < code->co_nlocalsplus; i++) locals[i] = NULL;
    return f;
}

/* The common case of a compiled-to-compiled call, for code in the helper bitcode: `callable`
 * is a function Ember manages whose compiled entry the site's cache `ic` gives, the call binds
 * its positional parameters as ember_simple_call allows (`n` arguments at `args`, defaults for
 * the rest), its code is not
 * generator-family, both recursion budgets and the data stack have room, and no monitoring
 * event was ever switched on (globally, or locally on its code by a tool other than Ember's
 * own: ember_foreign_local_events). Then the frame is pushed with
 * `callable` and the arguments stolen, the entry runs, and 1 is returned with *res set (NULL:
 * an exception). 0 with nothing changed in every other case, which ember_call_ic decides
 * exactly (shim.c call_direct, then the generic call). */
static inline int ember_call_compiled_now(PyThreadState *ts, PyObject *callable, PyObject **args, Py_ssize_t n,
                                          EmberResumeIC *ic, PyObject **res)
{
    if (!ember_manages(callable)) return 0;
    PyFunctionObject *func = (PyFunctionObject *)callable;
    PyCodeObject *co = (PyCodeObject *)func->func_code;
    if (!ember_simple_call(func, co, n) || (co->co_flags & EMBER_GEN_FLAGS)) return 0;
    if (ember_foreign_local_events(co) ||
        (_Py_atomic_load_uintptr_relaxed(&ts->eval_breaker) & ~(uintptr_t)_PY_EVAL_EVENTS_MASK) != 0)
        return 0;
    if (ts->c_recursion_remaining < EMBER_C_RESERVE || ts->py_recursion_remaining <= 0 ||
        !_PyThreadState_HasStackSpace(ts, co->co_framesize))
        return 0;
    entry_fn entry = ember_resume_ic_entry(ic, (PyObject *)co);
    if (entry == NULL) return 0;
    *res = ember_run_entry(ts, ember_push_stolen(ts, func, args, n), entry);
    return 1;
}
/* ember_call_direct through the site's cache `ic` (NULL: no cache, as ember_call_direct). */
int ember_call_direct_ic(PyThreadState *ts, PyObject *callable, PyObject **args, Py_ssize_t nargs, PyObject **result,
                         EmberResumeIC *ic);
/* A plain interpreted Python function called from compiled code, its frame pushed directly
 * (shim.c): 1 with *result set and callable and args consumed, else 0 with nothing done. */
int ember_call_interpreted(PyThreadState *ts, PyObject *callable, PyObject **args, Py_ssize_t nargs, PyObject **result);

/* The common case of ember_gen_prepare (shim.c), for code that runs the entry itself: `gen`
 * is suspended (or fresh and sent None), its function is one Ember manages with compiled
 * code, the recursion budgets are left and no event is pending; then gen_send_ex2's protocol
 * is done and the entry returned. NULL with nothing changed in every other case (the shim
 * decides those, exactly). `ic` is the calling site's resume cache. */
static inline entry_fn ember_gen_entry_now(PyThreadState *ts, PyGenObject *gen, PyObject *arg, EmberResumeIC *ic)
{
    if (!ember_gen_resumable(gen, arg)) return NULL;
    _PyInterpreterFrame *f = (_PyInterpreterFrame *)gen->gi_iframe;
    if (!ember_manages(f->f_funcobj)) return NULL;
    PyObject *code = f->f_executable;
    entry_fn entry = ember_resume_ic_entry(ic, code);
    if (entry == NULL || ts->c_recursion_remaining < EMBER_C_RESERVE || ts->py_recursion_remaining <= 0 ||
        (_Py_atomic_load_uintptr_relaxed(&ts->eval_breaker) & ~(uintptr_t)_PY_EVAL_EVENTS_MASK) != 0)
        return NULL;
    ember_gen_begin(ts, gen, arg);
    return entry;
}

/* FOR_ITER_GEN's resumption of exact generator `gen` when ember_gen_entry_now allows it:
 * runs the compiled code here and returns 1 with *item = the yielded value, or NULL when the
 * generator returned (the value is dropped, as the interpreter's END_FOR does; no
 * StopIteration is made) or raised. 0 with nothing done otherwise. */
static inline int ember_gen_next_now(PyThreadState *ts, PyGenObject *gen, PyObject **item, EmberResumeIC *ic)
{
    entry_fn entry = ember_gen_entry_now(ts, gen, Py_None, ic);
    if (entry == NULL) return 0;
    PyObject *r = ember_run_entry(ts, (_PyInterpreterFrame *)gen->gi_iframe, entry);
    if (r != NULL && !FRAME_STATE_SUSPENDED(gen->gi_frame_state)) Py_CLEAR(r);
    *item = r;
    return 1;
}
/* PyAsyncGenASend (Objects/genobject.c, private), the awaitable that an async generator's
 * __anext__() / asend() returns; the shim checks the size against _PyAsyncGenASend_Type. */
typedef struct {
    PyObject_HEAD
    PyAsyncGenObject *ags_gen;
    PyObject *ags_sendval;   /* NULL in __anext__() mode */
    int ags_state;           /* AwaitableState */
} EmberASend;
#define EMBER_ASEND_INIT 0
#define EMBER_ASEND_ITER 1
#define EMBER_ASEND_CLOSED 2
/* _PyAsyncGenWrappedValue (Objects/genobject.c, private): what an async generator's `yield`
 * makes of its value (CALL_INTRINSIC_1 ASYNC_GEN_WRAP), so that it can tell it from a value
 * that an `await` inside passes up. */
typedef struct {
    PyObject_HEAD
    PyObject *agw_val;
} EmberWrappedValue;
/* The wrapped-value type (not exported by libpython), learnt at start-up by
 * ember_learn_async_gen (runtime_gen.c); NULL, which turns ember_asend_now off, when the layout
 * is not the one above. */
extern PyTypeObject *ember_async_gen_wrapped_type;
void ember_learn_async_gen(PyThreadState *ts);
/* After ember_asend_now ran the async generator and it did not yield: `r` is its return value
 * (NULL when it raised). Does what gen_send_ex, async_gen_unwrap_value and
 * async_gen_asend_send (Objects/genobject.c) do in that case, then SEND's part; same contract
 * as ember_send. */
int ember_asend_ended(PyThreadState *ts, PyObject *receiver, PyObject *r, PyObject **out) EMBER_COLD;

/* SEND to an async generator's asend awaitable (`receiver`, exact type) whose generator's
 * compiled code may run now: async_gen_asend_send's protocol (Objects/genobject.c) around a
 * direct resumption, so that a level of `async for` costs one C frame, the generator's own,
 * where the interpreter goes through tp_iternext, gen_send_ex2 and a new _PyEval_EvalFrame.
 * An async `yield` comes back as SEND's "returned" outcome (1, *out = the value): the
 * interpreter raises StopIteration(value) and SEND fetches the value back from it, which has no
 * other effect. Consumes v unless it returns 2: not handled, nothing done. */
static inline int ember_asend_now(PyThreadState *ts, PyObject *receiver, PyObject *v, PyObject **out,
                                  EmberResumeIC *ic)
{
    EmberASend *o = (EmberASend *)receiver;
    PyAsyncGenObject *ag = o->ags_gen;
    if (ember_async_gen_wrapped_type == NULL || o->ags_state == EMBER_ASEND_CLOSED ||
        (o->ags_state == EMBER_ASEND_INIT && ag->ag_running_async))
        return 2;
    PyObject *arg = v;
    if (o->ags_state == EMBER_ASEND_INIT && Py_IsNone(v) && o->ags_sendval != NULL) arg = o->ags_sendval;
    PyGenObject *gen = (PyGenObject *)ag;
    entry_fn entry = ember_gen_entry_now(ts, gen, arg, ic);
    if (entry == NULL) return 2;
    o->ags_state = EMBER_ASEND_ITER;
    ag->ag_running_async = 1;
    PyObject *r = ember_run_entry(ts, (_PyInterpreterFrame *)gen->gi_iframe, entry);
    Py_DECREF(v);
    if (r == NULL || !FRAME_STATE_SUSPENDED(gen->gi_frame_state)) return ember_asend_ended(ts, receiver, r, out);
    if (Py_TYPE(r) != ember_async_gen_wrapped_type) {
        *out = r;   /* an await inside the generator suspends: its value goes up */
        return 0;
    }
    *out = Py_NewRef(((EmberWrappedValue *)r)->agw_val);
    Py_DECREF(r);
    ag->ag_running_async = 0;
    o->ags_state = EMBER_ASEND_CLOSED;
    return 1;
}

/* The first half of resuming exact generator `gen` with `arg` in compiled code (shim.c):
 * when its compiled code may run now (not running, compiled, managed, recursion budget left),
 * does gen_send_ex2's protocol (pushes arg, new reference; chains the exception state; marks it
 * executing) and returns the entry, which the caller links and calls (ember_send); NULL with
 * nothing changed otherwise. */
entry_fn ember_gen_prepare(PyThreadState *ts, PyGenObject *gen, PyObject *arg);
/* GET_YIELD_FROM_ITER, GET_AWAITABLE(oparg), GET_AITER: consume the operand. */
PyObject *ember_get_yield_from_iter(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *iterable);
PyObject *ember_get_awaitable(PyThreadState *ts, PyObject *iterable, i64 oparg);
PyObject *ember_get_aiter(PyThreadState *ts, PyObject *obj);
/* GET_ANEXT: aiter is borrowed (it stays on the stack); returns the awaitable. */
PyObject *ember_get_anext(PyThreadState *ts, PyObject *aiter);
/* Not a helper of compiled code: BEFORE_WITH / BEFORE_ASYNC_WITH's shared body (runtime_stmt.c).
 * Looks up enter_name and exit_name on type(mgr) (the TypeError names the "<kind>context manager
 * protocol"), consumes mgr, calls the bound enter method and returns its result, with the bound
 * exit method in *exit_out. */
PyObject *ember_enter_context(PyThreadState *ts, PyObject *mgr, PyObject **exit_out, PyObject *enter_name,
                              PyObject *exit_name, const char *kind);
/* BEFORE_ASYNC_WITH: consumes mgr; returns the result of __aenter__() and sets *exit_out to
 * the bound __aexit__. */
PyObject *ember_before_async_with(PyThreadState *ts, PyObject *mgr, PyObject **exit_out);

/* The helper table: X(name) for every helper above, used by the shim to register addresses. */
#define EMBER_RUNTIME_HELPERS(X) \
    X(ember_incref) X(ember_decref) X(ember_xdecref) \
    X(ember_rt_periodic) X(ember_rt_eval_breaker) X(ember_rt_leave) X(ember_rt_leave_floats) X(ember_rt_raise) X(ember_rt_deopt) X(ember_rt_deopt_cold) \
    X(ember_err_occurred) X(ember_raise_unbound_local) \
    X(ember_binary_op) X(ember_binary_op_add_int) X(ember_binary_op_subtract_int) \
    X(ember_binary_op_multiply_int) X(ember_binary_op_add_float) X(ember_binary_op_subtract_float) \
    X(ember_binary_op_multiply_float) X(ember_binary_op_add_unicode) \
    X(ember_unary_not) X(ember_unary_negative) X(ember_unary_invert) \
    X(ember_to_bool) X(ember_to_bool_bool) X(ember_to_bool_int) X(ember_to_bool_none) \
    X(ember_to_bool_list) X(ember_to_bool_str) X(ember_to_bool_always_true) \
    X(ember_compare_op) X(ember_compare_op_int) X(ember_compare_op_float) X(ember_compare_op_str) \
    X(ember_is_op) X(ember_contains_op) \
    X(ember_load_global) X(ember_load_global_module) X(ember_load_global_builtin) X(ember_store_global) \
    X(ember_load_attr) X(ember_load_attr_slot) X(ember_load_attr_module) \
    X(ember_load_method) \
    X(ember_store_attr) X(ember_store_attr_slot) X(ember_load_attr_slot_borrowed) X(ember_store_attr_slot_borrowed) \
    X(ember_binary_subscr) X(ember_binary_subscr_list_int) X(ember_binary_subscr_tuple_int) \
    X(ember_binary_subscr_dict) X(ember_binary_subscr_list_int_borrowed) X(ember_binary_subscr_tuple_int_borrowed) X(ember_store_subscr) X(ember_store_subscr_list_int) \
    X(ember_store_subscr_dict) X(ember_delete_subscr) \
    X(ember_build_tuple) X(ember_build_list) X(ember_build_map) X(ember_build_const_key_map) \
    X(ember_list_append) X(ember_list_extend) \
    X(ember_call) X(ember_call_ic) X(ember_call_ic_fast) X(ember_trivial_callee_ok) X(ember_inline_callee_ok) X(ember_inline_method_ok) X(ember_alloc_instance_ok) X(ember_alloc_instance) X(ember_init_store) X(ember_trivial_attr) X(ember_peek_attr) X(ember_peek_attr_exact) X(ember_inl_attr) X(ember_inl_attr_miss) X(ember_inl_global) X(ember_inl_global_lookup) X(ember_inl_compare) X(ember_inl_truth) X(ember_inl_subscr) X(ember_inl_len) X(ember_call_builtin_o) X(ember_call_builtin_fast) X(ember_call_len) X(ember_call_isinstance) \
    X(ember_call_list_append) X(ember_call_method_descriptor_o) X(ember_call_method_descriptor_noargs) \
    X(ember_call_method_descriptor_fast) \
    X(ember_get_iter) X(ember_for_iter) X(ember_for_iter_range) X(ember_range_iter_state) X(ember_for_iter_range_i64) X(ember_for_iter_list) X(ember_for_iter_tuple) X(ember_for_iter_gen) \
    X(ember_raise_varargs) X(ember_load_assertion_error) X(ember_unpack_sequence) \
    X(ember_format_simple) X(ember_format_with_spec) X(ember_convert_value) X(ember_build_string) \
    X(ember_make_cell) X(ember_copy_free_vars) X(ember_load_deref) X(ember_store_deref) X(ember_delete_deref) \
    X(ember_make_function) X(ember_set_function_attribute) X(ember_binary_slice) X(ember_subscr_slice) X(ember_store_slice) \
    X(ember_build_slice) X(ember_build_set) X(ember_set_add) X(ember_set_update) X(ember_map_add) \
    X(ember_dict_update) X(ember_dict_merge) X(ember_call_intrinsic_1) X(ember_call_intrinsic_2) \
    X(ember_call_function_ex) X(ember_load_super_attr) \
    X(ember_import_name) X(ember_import_from) X(ember_before_with) X(ember_delete_attr) \
    X(ember_delete_global) X(ember_load_build_class) X(ember_match_class) X(ember_match_mapping) \
    X(ember_match_sequence) X(ember_match_keys) X(ember_get_len) X(ember_unpack_ex) \
    X(ember_load_attr_ic) X(ember_load_method_ic) X(ember_store_attr_ic) X(ember_load_attr_ic_borrowed) X(ember_store_attr_ic_borrowed) \
    X(ember_load_attr_ic_hint) X(ember_load_attr_ic_hint_borrowed) X(ember_load_attr_iv) X(ember_load_attr_iv_borrowed) X(ember_store_attr_iv) X(ember_store_attr_iv_borrowed) X(ember_load_method_wv) X(ember_load_method_nd) X(ember_load_method_ld) X(ember_load_attr_class) X(ember_load_attr_class_borrowed) \
    X(ember_load_attr_ic_miss) X(ember_load_method_ic_miss) X(ember_store_attr_ic_miss) \
    X(ember_rt_return_generator) X(ember_rt_yield) X(ember_gen_take_stack) \
    X(ember_rt_gen_interp) X(ember_rt_async_for_stop) X(ember_send) X(ember_send_method) X(ember_send_stopped) X(ember_asend_ended) X(ember_resume_ic_fill) X(ember_send_gen) X(ember_gen_prepare) X(ember_gen_send_direct) X(ember_get_yield_from_iter) X(ember_get_awaitable) \
    X(ember_get_aiter) X(ember_get_anext) X(ember_before_async_with) X(ember_unpack_store) \
    X(ember_rt_guard_fail) X(ember_rt_inline_pending) X(ember_type_check) X(ember_release_is_trivial) X(ember_int_is_compact) X(ember_int_value) \
    X(ember_float_value) X(ember_int_box) X(ember_float_box) X(ember_box_for_exit_int) \
    X(ember_box_for_exit_float) X(ember_decref_int) X(ember_decref_float) \
    X(ember_unpack_sequence_slow) X(ember_unpack_store_slow) X(ember_number_from_int) X(ember_int_to_i64) X(ember_release_local_float) X(ember_store_subscr_list_int_float) \
    X(ember_store_local_float) X(ember_store_subscr_list_float) X(ember_store_attr_slot_float) \
    X(ember_unpack_sequence_outline) X(ember_unpack_store_outline) X(ember_unpack_store_borrowed_outline) X(ember_binary_op_float_first)

#endif /* EMBER_RUNTIME_H */
