/*
 * runtime_fast.c -- Ember's inlinable runtime fast paths (CPython 3.13).
 *
 * The small helpers of ember_runtime.h that compiled code calls on its hot paths: reference
 * counting, and one helper per specialised instruction of the 3.13 specialising interpreter
 * (BINARY_OP_ADD_INT, LOAD_ATTR_INSTANCE_VALUE, FOR_ITER_RANGE, ...). Each one checks the same
 * guards as the instruction in Python/bytecodes.c, using the inline-cache data passed as i64
 * immediates, and computes the same result. When a guard fails it calls the generic helper
 * (runtime_slow.c) with the same, still owned, inputs, so it is always correct and never deopts.
 *
 * This file is compiled twice: by gcc into the extension module, and by clang-19 to LLVM
 * bitcode (-O2 -DNDEBUG) that is linked into every JIT module and inlined. Keep it small: the
 * out-of-line generic code lives in runtime_slow.c. Public helpers are external (non-static) so
 * that both builds export them. Only exported libpython symbols and static inline header
 * helpers that use exported symbols may be referenced here.
 *
 * Ownership follows ember_runtime.h: object inputs are consumed unless marked borrowed, object
 * results are new references, NULL / -1 means an exception is set.
 */
#include "ember_runtime.h"
#include "ember.h"                        /* EmberType */

#include "internal/pycore_ceval.h"        /* _PY_EVAL_EVENTS_MASK */
#include "internal/pycore_emscripten_trampoline.h" /* _PyCFunction_TrampolineCall */
#include "internal/pycore_code.h"         /* COMPARISON_BIT, COMPARISON_* masks */
#include "internal/pycore_dict.h"         /* PyDictKeysObject, DK_UNICODE_ENTRIES, PyDictValues */
#include "internal/pycore_floatobject.h"  /* _PyFloat_ExactDealloc */
#include "internal/pycore_freelist.h"     /* struct _Py_float_freelist, PyFloat_MAXFREELIST */
#include "internal/pycore_interp.h"       /* ts->interp->object_state */
#include "internal/pycore_runtime.h"      /* _PyRuntime.ref_tracer */
#include "internal/pycore_list.h"         /* _PyList_AppendTakeRef, _PyListIterObject */
#include "internal/pycore_long.h"         /* _PyLong_Add, _PyLong_IsCompact, ... */
#include "internal/pycore_moduleobject.h" /* PyModuleObject */
#include "internal/pycore_object.h"       /* _PyObject_InlineValues, _Py_DECREF_SPECIALIZED */
#include "internal/pycore_pyerrors.h"     /* _PyErr_SetKeyError */
#include "internal/pycore_range.h"        /* _PyRangeIterObject */
#include "internal/pycore_tuple.h"        /* _PyTupleIterObject */
#include "internal/pycore_unicodeobject.h" /* _PyUnicode_ExactDealloc, _PyUnicode_Equal */

/* Exact ints are freed with PyObject_Free by the interpreter's specialised decrefs
 * (_Py_DECREF_SPECIALIZED(x, (destructor)PyObject_Free)); small ints are immortal. */
static void
ember_free_exact_int(PyObject *o)
{
    PyObject_Free(o);
}

/* ======================================================================================
 * Reference counting
 * ====================================================================================== */

/* Py_INCREF of 3.13 for compiled code, written as a 64-bit add (ember_rc_incref). */
void
ember_incref(PyObject *o)
{
    ember_rc_incref(o);
}

/* Py_DECREF of 3.13 for compiled code (ember_rc_decref). */
void
ember_decref(PyObject *o)
{
    ember_rc_decref(o);
}

/* Py_XDECREF of 3.13 for compiled code (ember_rc_xdecref). */
void
ember_xdecref(PyObject *o)
{
    ember_rc_xdecref(o);
}

/* ======================================================================================
 * Typed HIR: type guards, unboxing and boxing (GuardType, Unbox, Box of src/hir/op.rs)
 * ====================================================================================== */

/* GuardType: 1 when the type of `v` is exactly `ty` (an EmberType of ember.h; the exact-type checks of
 * Include/longobject.h, floatobject.h, ...: PyLong_CheckExact, PyFloat_CheckExact), else 0. `v` is borrowed. The
 * JIT passes a constant `ty`, so after inlining this is one compare. */
int
ember_type_check(PyObject *v, i64 ty)
{
    PyTypeObject *t = Py_TYPE(v);
    switch (ty) {
    case EMBER_TYPE_INT: return t == &PyLong_Type;
    case EMBER_TYPE_FLOAT: return t == &PyFloat_Type;
    case EMBER_TYPE_BOOL: return t == &PyBool_Type;
    case EMBER_TYPE_STR: return t == &PyUnicode_Type;
    case EMBER_TYPE_TUPLE: return t == &PyTuple_Type;
    case EMBER_TYPE_LIST: return t == &PyList_Type;
    case EMBER_TYPE_DICT: return t == &PyDict_Type;
    case EMBER_TYPE_NONE_TYPE: return v == Py_None;
    case EMBER_TYPE_FUNCTION: return t == &PyFunction_Type;
    default: return 0;
    }
}

/* GuardReleasable: 1 when releasing `o` (borrowed, or NULL) cannot run code: it is NULL, another
 * reference keeps it alive (count above 1; immortal objects included), or its deallocator is
 * one of CPython's own that calls nothing (exact int, float, str, bool, None); else 0. */
int
ember_release_is_trivial(PyObject *o)
{
    if (o == NULL || Py_REFCNT(o) > 1) return 1;
    PyTypeObject *t = Py_TYPE(o);
    return t == &PyLong_Type || t == &PyFloat_Type || t == &PyUnicode_Type || t == &PyBool_Type || o == Py_None;
}

/* Unbox of an Int: 1 when exact int `v` (borrowed) fits in one digit (_PyLong_IsCompact, the
 * condition of COMPARE_OP_INT's guard in Python/bytecodes.c), so ember_int_value is exact. */
int
ember_int_is_compact(PyObject *v)
{
    return _PyLong_IsCompact((PyLongObject *)v);
}

/* The value of compact exact int `v` (borrowed): _PyLong_CompactValue. */
i64
ember_int_value(PyObject *v)
{
    return (i64)_PyLong_CompactValue((PyLongObject *)v);
}

/* The value of exact float `v` (borrowed): PyFloat_AS_DOUBLE. */
double
ember_float_value(PyObject *v)
{
    return PyFloat_AS_DOUBLE(v);
}

/* Box of a CInt64: a new int; NULL with MemoryError on allocation failure. A small int
 * (-_PY_NSMALLNEGINTS <= x < _PY_NSMALLPOSINTS) is CPython's cached immortal object, returned
 * here without a call, as get_small_int (Objects/longobject.c) returns it: immortal, so no
 * reference is taken. Anything else is PyLong_FromLongLong's. */
PyObject *
ember_int_box(i64 x)
{
    if ((uint64_t)(x + _PY_NSMALLNEGINTS) < (uint64_t)(_PY_NSMALLNEGINTS + _PY_NSMALLPOSINTS))
        return (PyObject *)&_PyLong_SMALL_INTS[_PY_NSMALLNEGINTS + x];
    return PyLong_FromLongLong((long long)x);
}

/* PyFloat_FromDouble's path for an empty free list (Objects/floatobject.c, 3.13), without its
 * first step, the free-list lookup through _PyThreadState_GET() (a __tls_get_addr call from
 * the shared libpython) that ember_float_box has already made through `ts`. Out of line: the
 * free list is empty only while floats pile up (float's Point(i) loop makes 300,000). */
static __attribute__((noinline)) PyObject *
float_box_malloc(double d)
{
    PyFloatObject *op = PyObject_Malloc(sizeof(PyFloatObject));
    if (op == NULL) {
        return PyErr_NoMemory();
    }
    _PyObject_Init((PyObject *)op, &PyFloat_Type);
    op->ob_fval = d;
    return (PyObject *)op;
}

/* Box of a CDouble: PyFloat_FromDouble (Objects/floatobject.c, 3.13) with the thread state
 * compiled code already has: the interpreter's float free list is reached through `ts`, not
 * through the thread-local _PyThreadState_GET() (a __tls_get_addr call from the shared
 * libpython). An empty free list takes PyFloat_FromDouble's own path (float_box_malloc:
 * PyObject_Malloc; NULL with MemoryError on failure). _Py_NewReference's work is inlined when
 * no reference tracer (PyRefTracer_SetTracer) is set. */
PyObject *
ember_float_box(PyThreadState *ts, double d)
{
    struct _Py_float_freelist *fl = &ts->interp->object_state.freelists.floats;
    PyFloatObject *op = fl->items;
    if (EMBER_UNLIKELY(op == NULL)) {
        return float_box_malloc(d);
    }
    fl->items = (PyFloatObject *)Py_TYPE(op);
    fl->numfree--;
    Py_SET_TYPE(op, &PyFloat_Type);          /* a static type: no reference to take */
    if (EMBER_LIKELY(_PyRuntime.ref_tracer.tracer_func == NULL)) {
        op->ob_base.ob_refcnt = 1;
    }
    else {
        _Py_NewReference((PyObject *)op);
    }
    op->ob_fval = d;
    return (PyObject *)op;
}

/* Box at a side exit (a deopt or raise exit spilling an unboxed value into the frame): the
 * new object, or None (immortal) with MemoryError set when allocation fails; the exit then
 * raises (ember_rt_guard_fail) instead of resuming with a missing value. */
PyObject *
ember_box_for_exit_int(i64 x)
{
    PyObject *o = PyLong_FromLongLong((long long)x);
    return o != NULL ? o : Py_None;
}

PyObject *
ember_box_for_exit_float(double d)
{
    PyObject *o = PyFloat_FromDouble(d);
    return o != NULL ? o : Py_None;
}

/* Release of a value known to be an exact int / float: Py_DECREF with the type's own
 * deallocator (no __del__ can run; _Py_DECREF_SPECIALIZED as in Python/bytecodes.c, 3.13.0,
 * which calls no reference tracer on this path either). */
void
ember_decref_int(PyObject *o)
{
    _Py_DECREF_SPECIALIZED(o, ember_free_exact_int);
}

void
ember_decref_float(PyThreadState *ts, PyObject *o)
{
    /* _PyFloat_ExactDealloc's free-list push, through `ts` (see ember_float_box). The count
     * is read as Py_INCREF writes it (ember_refcount.h). */
    if (ember_rc_release_keeps(o)) {
        return;
    }
    struct _Py_float_freelist *fl = &ts->interp->object_state.freelists.floats;
    if (fl->numfree >= PyFloat_MAXFREELIST || fl->numfree < 0) {
        PyObject_Free(o);
        return;
    }
    fl->numfree++;
    Py_SET_TYPE(o, (PyTypeObject *)fl->items);
    fl->items = (PyFloatObject *)o;
}
/* ======================================================================================
 * UNPACK_SEQUENCE and UnpackStore: the exact tuple / list fast paths, inlined into compiled
 * code (the interpreter's UNPACK_SEQUENCE_TUPLE / _LIST); everything else goes to
 * runtime_slow.c.
 * ====================================================================================== */

/* UNPACK_SEQUENCE n: consumes seq; out[0..n) gets the items in stack order (item 0 last).
 * Inlined (with ember_unpack_store and the list / tuple subscripts) where a function has few
 * such sites: n is then a constant and the copy loops unroll (nbody 1.07x). */
EMBER_INLINE_HELPER int
ember_unpack_sequence(PyObject *seq, i64 n, PyObject **out)
{
    PyObject **items;
    if (PyTuple_CheckExact(seq) && PyTuple_GET_SIZE(seq) == n) {
        items = _PyTuple_ITEMS(seq);
    }
    else if (PyList_CheckExact(seq) && PyList_GET_SIZE(seq) == n) {
        items = _PyList_ITEMS(seq);
    }
    else {
        return ember_unpack_sequence_slow(seq, n, out);
    }
    for (i64 i = 0; i < n; i++) {
        out[i] = Py_NewRef(items[n - 1 - i]);
    }
    ember_rc_decref(seq);
    return 0;
}

/* UnpackStore: UNPACK_SEQUENCE n then STORE_FAST of item k into dst[k]; consumes seq. The exact
 * tuple path references every item before any old value is released (the interpreter's stack
 * holds them all), releasing each old local right after its slot is written, and the tuple
 * last (nothing can observe that: an exact tuple has no finaliser and no weak references). The
 * exact list path snapshots the items, releases the list, then stores, as the interpreter's
 * order is. Everything else takes the slow path. */
static inline Py_ALWAYS_INLINE int
unpack_store(PyObject *seq, i64 n, PyObject **dst, int borrowed)
{
    if (n < 1 || n > 16) {
        if (borrowed) Py_INCREF(seq);
        return ember_unpack_store_slow(seq, n, dst);
    }
    if (PyTuple_CheckExact(seq) && PyTuple_GET_SIZE(seq) == n) {
        PyObject **items = _PyTuple_ITEMS(seq);
        for (i64 k = 0; k < n; k++) {
            Py_INCREF(items[k]);
        }
        for (i64 k = 0; k < n; k++) {
            PyObject *old = dst[k];
            dst[k] = items[k];
            Py_XDECREF(old);
        }
        if (!borrowed) ember_rc_decref(seq);
        return 0;
    }
    if (PyList_CheckExact(seq) && PyList_GET_SIZE(seq) == n) {
        /* UNPACK_SEQUENCE_LIST: a snapshot of the items first (a finaliser run by a released old
         * value may change the list), then the list is released, as in the interpreter. */
        PyObject *items[16];
        PyObject **list_items = _PyList_ITEMS(seq);
        for (i64 k = 0; k < n; k++) {
            items[k] = Py_NewRef(list_items[k]);
        }
        if (!borrowed) ember_rc_decref(seq);
        for (i64 k = 0; k < n; k++) {
            PyObject *old = dst[k];
            dst[k] = items[k];
            Py_XDECREF(old);
        }
        return 0;
    }
    if (borrowed) Py_INCREF(seq);
    return ember_unpack_store_slow(seq, n, dst);
}

EMBER_INLINE_HELPER int
ember_unpack_store(PyObject *seq, i64 n, PyObject **dst)
{
    return unpack_store(seq, n, dst, 0);
}

/* The two above as one out-of-line call each, for functions with many unpacking sites
 * (lower/containers.rs, UNPACK_INLINE_SITES): inlined at each of the 400 sites of
 * unpack_sequence's benchmark, the unrolled copies made it 1.4x slower. */
__attribute__((noinline)) int
ember_unpack_sequence_outline(PyObject *seq, i64 n, PyObject **out)
{
    return ember_unpack_sequence(seq, n, out);
}

__attribute__((noinline)) int
ember_unpack_store_outline(PyObject *seq, i64 n, PyObject **dst)
{
    return ember_unpack_store(seq, n, dst);
}

/* ember_runtime.h. The sequence stays bound to its local across the call (passes::borrow):
 * the exact paths reference the items before any old value's release can run code, and do not
 * touch `seq` afterwards, so they take no reference to it. */
__attribute__((noinline)) int
ember_unpack_store_borrowed_outline(PyObject *seq, i64 n, PyObject **dst)
{
    return unpack_store(seq, n, dst, 1);
}

void
ember_release_local_float(PyThreadState *ts, PyObject *o)
{
    if (o != NULL && Py_TYPE(o) == &PyFloat_Type) {
        ember_decref_float(ts, o);
    }
    else {
        Py_XDECREF(o);
    }
}

/* _PyErr_Occurred(tstate): 1 if an exception is set on `ts`, else 0. */
int
ember_err_occurred(PyThreadState *ts)
{
    return ts->current_exception != NULL;
}

/* ======================================================================================
 * BINARY_OP specialisations
 * ====================================================================================== */

/* BINARY_OP_ADD_INT: both exact ints -> _PyLong_Add. */
PyObject *
ember_binary_op_add_int(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb)
{
    if (EMBER_UNLIKELY(!PyLong_CheckExact(a) || !PyLong_CheckExact(b))) {
        return ember_binary_op(ts, a, b, nb);
    }
    PyObject *res = _PyLong_Add((PyLongObject *)a, (PyLongObject *)b);
    _Py_DECREF_SPECIALIZED(b, ember_free_exact_int);
    _Py_DECREF_SPECIALIZED(a, ember_free_exact_int);
    return res;
}

/* BINARY_OP_SUBTRACT_INT: both exact ints -> _PyLong_Subtract. */
PyObject *
ember_binary_op_subtract_int(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb)
{
    if (EMBER_UNLIKELY(!PyLong_CheckExact(a) || !PyLong_CheckExact(b))) {
        return ember_binary_op(ts, a, b, nb);
    }
    PyObject *res = _PyLong_Subtract((PyLongObject *)a, (PyLongObject *)b);
    _Py_DECREF_SPECIALIZED(b, ember_free_exact_int);
    _Py_DECREF_SPECIALIZED(a, ember_free_exact_int);
    return res;
}

/* BINARY_OP_MULTIPLY_INT: both exact ints -> _PyLong_Multiply. */
PyObject *
ember_binary_op_multiply_int(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb)
{
    if (EMBER_UNLIKELY(!PyLong_CheckExact(a) || !PyLong_CheckExact(b))) {
        return ember_binary_op(ts, a, b, nb);
    }
    PyObject *res = _PyLong_Multiply((PyLongObject *)a, (PyLongObject *)b);
    _Py_DECREF_SPECIALIZED(b, ember_free_exact_int);
    _Py_DECREF_SPECIALIZED(a, ember_free_exact_int);
    return res;
}

/* DECREF_INPUTS_AND_REUSE_FLOAT (ceval_macros.h): store the result into an operand that is
 * about to die (refcount 1), otherwise allocate a new float. Consumes a and b. */
static inline PyObject *
ember_float_result(PyThreadState *ts, PyObject *a, PyObject *b, double d)
{
    if (ember_rc_is_one(a)) {
        ((PyFloatObject *)a)->ob_fval = d;
        ember_decref_float(ts, b);
        return a;
    }
    if (ember_rc_is_one(b)) {
        ((PyFloatObject *)b)->ob_fval = d;
        _Py_DECREF_NO_DEALLOC(a);
        return b;
    }
    PyObject *res = ember_float_box(ts, d);
    /* Both refcounts are > 1, so a cannot die here. b gets a full decref: when a == b (one
     * float owned only by these two references) the second decref must free it. */
    _Py_DECREF_NO_DEALLOC(a);
    ember_decref_float(ts, b);
    return res;
}

/* A generic BINARY_OP of + - * or / (the lowering calls this for those; `nb` is a constant at
 * each site, so the switch folds): two exact floats are computed here, inlined, as float_add /
 * float_sub / float_mul / float_div compute them (Objects/floatobject.c), the result written
 * into a dying float operand as the specialised forms do. Everything else is one call of
 * ember_binary_op, whose first step computes an exact float with a compact int in either order
 * (ember_float_arith, runtime_slow.c) before it raises or takes the number protocol. That mixed
 * case was inlined here too until 2026-12-05: it made each generic site about 3.7 KB of x86-64
 * code, and LLVM's code generation time grew faster than linearly with the number of such sites
 * (a function with 120 generic sites: 176 KB of code and 6.3 s to compile; 88 KB and 1.65 s
 * with it out of line). */
EMBER_INLINE_HELPER PyObject *
ember_binary_op_float_first(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb)
{
    if (PyFloat_CheckExact(a) && PyFloat_CheckExact(b)) {
        double d;
        if (ember_float_arith_op(nb, ((PyFloatObject *)a)->ob_fval, ((PyFloatObject *)b)->ob_fval, &d))
            return ember_float_result(ts, a, b, d);
    }
    return ember_binary_op(ts, a, b, nb);
}

/* BINARY_OP_ADD_FLOAT: both exact floats. */
PyObject *
ember_binary_op_add_float(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb)
{
    if (EMBER_UNLIKELY(!PyFloat_CheckExact(a) || !PyFloat_CheckExact(b))) {
        return ember_binary_op(ts, a, b, nb);
    }
    double d = ((PyFloatObject *)a)->ob_fval + ((PyFloatObject *)b)->ob_fval;
    return ember_float_result(ts, a, b, d);
}

/* BINARY_OP_SUBTRACT_FLOAT: both exact floats. */
PyObject *
ember_binary_op_subtract_float(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb)
{
    if (EMBER_UNLIKELY(!PyFloat_CheckExact(a) || !PyFloat_CheckExact(b))) {
        return ember_binary_op(ts, a, b, nb);
    }
    double d = ((PyFloatObject *)a)->ob_fval - ((PyFloatObject *)b)->ob_fval;
    return ember_float_result(ts, a, b, d);
}

/* BINARY_OP_MULTIPLY_FLOAT: both exact floats. */
PyObject *
ember_binary_op_multiply_float(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb)
{
    if (EMBER_UNLIKELY(!PyFloat_CheckExact(a) || !PyFloat_CheckExact(b))) {
        return ember_binary_op(ts, a, b, nb);
    }
    double d = ((PyFloatObject *)a)->ob_fval * ((PyFloatObject *)b)->ob_fval;
    return ember_float_result(ts, a, b, d);
}

/* BINARY_OP_ADD_UNICODE: both exact str -> PyUnicode_Concat. */
PyObject *
ember_binary_op_add_unicode(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb)
{
    if (EMBER_UNLIKELY(!PyUnicode_CheckExact(a) || !PyUnicode_CheckExact(b))) {
        return ember_binary_op(ts, a, b, nb);
    }
    PyObject *res = PyUnicode_Concat(a, b);
    _Py_DECREF_SPECIALIZED(a, _PyUnicode_ExactDealloc);
    _Py_DECREF_SPECIALIZED(b, _PyUnicode_ExactDealloc);
    return res;
}

/* ======================================================================================
 * UNARY_NOT, TO_BOOL specialisations, IS_OP
 * ====================================================================================== */

/* UNARY_NOT: the operand is a bool (TO_BOOL ran first). Anything else goes through the
 * generic truth test. */
PyObject *
ember_unary_not(PyObject *v)
{
    if (EMBER_LIKELY(v == Py_False)) {
        return Py_True;     /* bools are immortal: no reference counting needed */
    }
    if (EMBER_LIKELY(v == Py_True)) {
        return Py_False;
    }
    PyObject *b = ember_to_bool(v);
    if (b == NULL) {
        return NULL;
    }
    return b == Py_False ? Py_True : Py_False;
}

/* TO_BOOL_BOOL: a bool is its own truth value. */
PyObject *
ember_to_bool_bool(PyObject *v)
{
    if (EMBER_UNLIKELY(!PyBool_Check(v))) {
        return ember_to_bool(v);
    }
    return v;
}

/* TO_BOOL_INT: exact int, false iff zero. */
PyObject *
ember_to_bool_int(PyObject *v)
{
    if (EMBER_UNLIKELY(!PyLong_CheckExact(v))) {
        return ember_to_bool(v);
    }
    PyObject *res = _PyLong_IsZero((PyLongObject *)v) ? Py_False : Py_True;
    Py_DECREF(v);
    return res;
}

/* TO_BOOL_NONE: None is false. */
PyObject *
ember_to_bool_none(PyObject *v)
{
    if (EMBER_UNLIKELY(v != Py_None)) {
        return ember_to_bool(v);
    }
    return Py_False;        /* None is immortal */
}

/* TO_BOOL_LIST: exact list, false iff empty. */
PyObject *
ember_to_bool_list(PyObject *v)
{
    if (EMBER_UNLIKELY(!PyList_CheckExact(v))) {
        return ember_to_bool(v);
    }
    PyObject *res = PyList_GET_SIZE(v) ? Py_True : Py_False;
    Py_DECREF(v);
    return res;
}

/* TO_BOOL_STR: exact str, false iff it is the empty string. */
PyObject *
ember_to_bool_str(PyObject *v)
{
    if (EMBER_UNLIKELY(!PyUnicode_CheckExact(v))) {
        return ember_to_bool(v);
    }
    PyObject *res = PyUnicode_GET_LENGTH(v) ? Py_True : Py_False;
    Py_DECREF(v);
    return res;
}

/* TO_BOOL_ALWAYS_TRUE: the type (version `tv`) has no __bool__/__len__, so it is true. None,
 * the other value of the common `Optional[Node]` site (`if node.left:`), is decided here too
 * rather than in the generic helper. */
PyObject *
ember_to_bool_always_true(PyObject *v, i64 tv)
{
    if (EMBER_UNLIKELY(tv == 0 || (i64)Py_TYPE(v)->tp_version_tag != tv)) {
        if (v == Py_None) {
            return Py_False;    /* None is immortal */
        }
        return ember_to_bool(v);
    }
    Py_DECREF(v);
    return Py_True;
}

/* IS_OP: identity test, `invert` is the oparg (1 for `is not`). */
PyObject *
ember_is_op(PyObject *a, PyObject *b, i64 invert)
{
    int res = (a == b) ^ (int)(invert & 1);
    Py_DECREF(a);
    Py_DECREF(b);
    return res ? Py_True : Py_False;
}

/* ======================================================================================
 * COMPARE_OP specialisations (oparg: op << 5 | 16 if bool-coerced | comparison mask)
 * ====================================================================================== */

/* COMPARE_OP_INT: both exact compact ints, result = COMPARISON_BIT(l, r) & oparg. */
PyObject *
ember_compare_op_int(PyObject *a, PyObject *b, i64 oparg)
{
    if (EMBER_UNLIKELY(!PyLong_CheckExact(a) || !PyLong_CheckExact(b) ||
                       !_PyLong_IsCompact((PyLongObject *)a) ||
                       !_PyLong_IsCompact((PyLongObject *)b))) {
        return ember_compare_op(a, b, oparg);
    }
    Py_ssize_t l = _PyLong_CompactValue((PyLongObject *)a);
    Py_ssize_t r = _PyLong_CompactValue((PyLongObject *)b);
    int sign_bit = COMPARISON_BIT(l, r);
    _Py_DECREF_SPECIALIZED(a, ember_free_exact_int);
    _Py_DECREF_SPECIALIZED(b, ember_free_exact_int);
    return (sign_bit & oparg) ? Py_True : Py_False;
}

/* COMPARE_OP_FLOAT: both exact floats; NaN sets COMPARISON_UNORDERED. */
PyObject *
ember_compare_op_float(PyObject *a, PyObject *b, i64 oparg)
{
    if (EMBER_UNLIKELY(!PyFloat_CheckExact(a) || !PyFloat_CheckExact(b))) {
        return ember_compare_op(a, b, oparg);
    }
    double l = PyFloat_AS_DOUBLE(a);
    double r = PyFloat_AS_DOUBLE(b);
    int sign_bit = COMPARISON_BIT(l, r);
    _Py_DECREF_SPECIALIZED(a, _PyFloat_ExactDealloc);
    _Py_DECREF_SPECIALIZED(b, _PyFloat_ExactDealloc);
    return (sign_bit & oparg) ? Py_True : Py_False;
}

/* COMPARE_OP_STR: both exact str, only == and != (as in 3.13). */
PyObject *
ember_compare_op_str(PyObject *a, PyObject *b, i64 oparg)
{
    int op = (int)(oparg >> 5);
    if (EMBER_UNLIKELY(!PyUnicode_CheckExact(a) || !PyUnicode_CheckExact(b) ||
                       (op != Py_EQ && op != Py_NE))) {
        return ember_compare_op(a, b, oparg);
    }
    int eq = _PyUnicode_Equal(a, b);
    _Py_DECREF_SPECIALIZED(a, _PyUnicode_ExactDealloc);
    _Py_DECREF_SPECIALIZED(b, _PyUnicode_ExactDealloc);
    /* COMPARISON_NOT_EQUALS + 1 == COMPARISON_EQUALS */
    return ((COMPARISON_NOT_EQUALS + eq) & oparg) ? Py_True : Py_False;
}

/* ======================================================================================
 * LOAD_GLOBAL specialisations
 * ====================================================================================== */

/* LOAD_GLOBAL_MODULE: globals keys version (u16 cache), value read from entries[index]. */
PyObject *
ember_load_global_module(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *name,
                         i64 keys_version, i64 index)
{
    PyDictObject *g = (PyDictObject *)f->f_globals;
    if (EMBER_LIKELY(keys_version != 0 && PyDict_CheckExact(g) &&
                     (i64)g->ma_keys->dk_version == keys_version)) {
        PyObject *res = DK_UNICODE_ENTRIES(g->ma_keys)[index].me_value;
        if (EMBER_LIKELY(res != NULL)) {
            return ember_rc_newref(res);
        }
    }
    return ember_load_global(ts, f, name);
}

/* LOAD_GLOBAL_BUILTIN: globals and builtins keys versions, value from builtins entries[index]. */
PyObject *
ember_load_global_builtin(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *name,
                          i64 globals_version, i64 builtins_version, i64 index)
{
    PyDictObject *g = (PyDictObject *)f->f_globals;
    PyDictObject *b = (PyDictObject *)f->f_builtins;
    if (EMBER_LIKELY(globals_version != 0 && builtins_version != 0 &&
                     PyDict_CheckExact(g) && (i64)g->ma_keys->dk_version == globals_version &&
                     PyDict_CheckExact(b) && (i64)b->ma_keys->dk_version == builtins_version)) {
        PyObject *res = DK_UNICODE_ENTRIES(b->ma_keys)[index].me_value;
        if (EMBER_LIKELY(res != NULL)) {
            return ember_rc_newref(res);
        }
    }
    return ember_load_global(ts, f, name);
}

/* ======================================================================================
 * LOAD_ATTR / STORE_ATTR specialisations
 * ====================================================================================== */

static inline int
ember_type_version_ok(PyObject *owner, i64 type_version)
{
    return type_version != 0 && (i64)Py_TYPE(owner)->tp_version_tag == type_version;
}

/* LOAD_ATTR_SLOT's read: the PyObject* at byte `offset` in the object when its type has
 * `type_version` (borrowed; NULL when unset or another type). */
static inline PyObject *slot_value(PyObject *owner, i64 type_version, i64 offset)
{
    return EMBER_LIKELY(ember_type_version_ok(owner, type_version)) ? *(PyObject **)((char *)owner + offset) : NULL;
}

/* LOAD_ATTR_SLOT: slot_value as a new reference (NULL -> generic). */
static inline PyObject *load_attr_slot_hit(PyObject *owner, i64 type_version, i64 offset)
{
    PyObject *attr = slot_value(owner, type_version, offset);
    return EMBER_LIKELY(attr != NULL) ? Py_NewRef(attr) : NULL;
}

PyObject *
ember_load_attr_slot(PyThreadState *ts, PyObject *owner, PyObject *name,
                     i64 type_version, i64 offset)
{
    PyObject *attr = load_attr_slot_hit(owner, type_version, offset);
    if (EMBER_LIKELY(attr != NULL)) {
        ember_rc_decref(owner);
        return attr;
    }
    return ember_load_attr(ts, owner, name);
}

/* The same with `owner` borrowed (a local the frame keeps alive, passes/borrow.rs): the generic
 * path holds its own reference while it may run Python code. */
PyObject *
ember_load_attr_slot_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name,
                              i64 type_version, i64 offset)
{
    PyObject *attr = load_attr_slot_hit(owner, type_version, offset);
    if (EMBER_LIKELY(attr != NULL)) return attr;
    return ember_load_attr(ts, Py_NewRef(owner), name);
}

/* LOAD_ATTR_MODULE: exact module, md_dict keys version (u32), entries[index]. */
PyObject *
ember_load_attr_module(PyThreadState *ts, PyObject *owner, PyObject *name,
                       i64 keys_version, i64 index)
{
    if (EMBER_LIKELY(keys_version != 0 && PyModule_CheckExact(owner))) {
        PyDictObject *dict = (PyDictObject *)((PyModuleObject *)owner)->md_dict;
        if (EMBER_LIKELY(dict != NULL && (i64)dict->ma_keys->dk_version == keys_version)) {
            PyObject *attr = DK_UNICODE_ENTRIES(dict->ma_keys)[index].me_value;
            if (EMBER_LIKELY(attr != NULL)) {
                Py_INCREF(attr);
                Py_DECREF(owner);
                return attr;
            }
        }
    }
    return ember_load_attr(ts, owner, name);
}

int
ember_trivial_callee_ok(PyThreadState *ts, PyObject *callable, PyObject *self_or_null, PyObject *code)
{
    return self_or_null != NULL && Py_IS_TYPE(callable, &PyFunction_Type) &&
           ((PyFunctionObject *)callable)->func_code == code &&
           _Py_atomic_load_uintptr_relaxed(&ts->eval_breaker) == 0 &&
           !ember_foreign_local_events((PyCodeObject *)code) && ts->py_recursion_remaining > 0 &&
           ts->c_recursion_remaining >= EMBER_C_RESERVE;
}

int
ember_inline_callee_ok(PyThreadState *ts, PyObject *callable, PyObject *code)
{
    if (!Py_IS_TYPE(callable, &PyFunction_Type) || ((PyFunctionObject *)callable)->func_code != code) return 0;
    uintptr_t eb = _Py_atomic_load_uintptr_relaxed(&ts->eval_breaker);
    PyCodeObject *co = (PyCodeObject *)code;
    uintptr_t version = eb & ~(uintptr_t)_PY_EVAL_EVENTS_MASK;
    if (EMBER_UNLIKELY(version != 0 || co->_co_monitoring != NULL)) {
        /* Some tool was on once: inline only while the callee's instrumentation is current
         * and no tool has events on (the callee's RESUME would otherwise instrument it, and
         * its events would fire). */
        if (co->_co_instrumentation_version != version || ember_foreign_local_events(co)) return 0;
        for (int e = 0; e < _PY_MONITORING_UNGROUPED_EVENTS; e++)
            if (ts->interp->monitors.tools[e]) return 0;
    }
    if (ts->py_recursion_remaining <= 0) return 0;
    return (eb & _PY_EVAL_EVENTS_MASK) ? 2 : 1;
}

/* 1 when `func` reads the globals and builtins of the caller's `frame`: an inlined body's
 * global loads are compiled as the caller's. */
static inline int
same_namespace(PyFunctionObject *func, _PyInterpreterFrame *frame)
{
    return func->func_globals == frame->f_globals && func->func_builtins == frame->f_builtins;
}

int
ember_inline_method_ok(PyThreadState *ts, _PyInterpreterFrame *frame, PyObject *callable, PyObject *self_or_null, PyObject *code)
{
    if (self_or_null == NULL || !Py_IS_TYPE(callable, &PyFunction_Type)) return 0;
    if (!same_namespace((PyFunctionObject *)callable, frame)) return 0;
    return ember_inline_callee_ok(ts, callable, code);
}

int
ember_alloc_instance_ok(PyThreadState *ts, _PyInterpreterFrame *frame, PyObject *cls, i64 version, PyObject *init,
                        PyObject *code, i64 same_globals)
{
    if (!Py_IS_TYPE(cls, &PyType_Type) || ((PyTypeObject *)cls)->tp_version_tag != (uint32_t)version) return 0;
    /* The type version keeps `init` in the class, so it can be read now. */
    if (same_globals && !same_namespace((PyFunctionObject *)init, frame)) return 0;
    /* The interpreter counts the cleanup frame it pushes under __init__'s against the
     * recursion limit as well. */
    if (ts->py_recursion_remaining <= 1) return 0;
    return ember_inline_callee_ok(ts, init, code) != 0;
}

void
ember_init_store(PyObject *obj, i64 spec, i64 index, PyObject *value, i64 initialised)
{
    if (initialised) return;
    if (spec == EMBER_STORE_ATTR_SPEC_SLOT) {
        /* A __slots__ member of the new instance: empty until now. */
        PyObject **addr = (PyObject **)((char *)obj + index);
        PyObject *old = *addr;
        *addr = Py_NewRef(value);
        Py_XDECREF(old);
        return;
    }
    PyDictValues *values = _PyObject_InlineValues(obj);
    PyObject *old = values->values[index];
    values->values[index] = Py_NewRef(value);
    if (old == NULL)
        _PyDictValues_AddToInsertionOrder(values, index);
    else
        Py_DECREF(old);
}

/* CALL without keywords from a site with an entry cache (base = [callable, self_or_null,
 * args...], all consumed): a compiled callee is entered from here, without the three C calls of
 * the generic route (ember_call_ic's call_impl, then shim.c's ember_call_direct_ic and its frame
 * push), when ember_call_compiled_now allows; bound methods, classes, C functions, generators
 * and every other case go to ember_call_ic unchanged. */
PyObject *
ember_call_ic_fast(PyThreadState *ts, PyObject **base, i64 nargs, EmberResumeIC *ic)
{
    PyObject **args = base + 2;
    Py_ssize_t total = (Py_ssize_t)nargs;
    if (base[1] != NULL) {
        args--;
        total++;
    }
    PyObject *res;
    if (EMBER_LIKELY(ember_call_compiled_now(ts, base[0], args, total, ic, &res))) return res;
    return ember_call_ic(ts, base, nargs, ic);
}

/* The attribute inline caches' fast paths, inlined into compiled code: entry 0 in its most
 * common kinds (LOAD_ATTR_INSTANCE_VALUE, _WITH_HINT and _CLASS, LOAD_ATTR_METHOD_WITH_VALUES /
 * _NO_DICT, STORE_ATTR_INSTANCE_VALUE and _WITH_HINT, with the interpreter's guards; the
 * instance tests are shared with runtime_ic.c through ember_runtime.h). Everything else (other
 * kinds, other entries, misses) is runtime_ic.c's. */
/* Whether entry `e` is LOAD_ATTR_INSTANCE_VALUE for `owner`'s type. */
static inline int is_instance_value_entry(EmberICEntry *e, PyObject *owner)
{
    return Py_TYPE(owner)->tp_version_tag == e->version && e->kind == EMBER_IC_INSTANCE_VALUE;
}

/* LOAD_ATTR_INSTANCE_VALUE's read, once its type version matched: the inline value at `index`
 * (borrowed), NULL when the inline values are no longer valid or the value is not there. */
static inline PyObject *inline_value(PyObject *owner, i64 index)
{
    PyDictValues *values = _PyObject_InlineValues(owner);
    return EMBER_LIKELY(values->valid) ? values->values[index] : NULL;
}

/* That read through such an entry: a new reference to the attribute, or NULL. */
static inline PyObject *instance_value_attr(EmberICEntry *e, PyObject *owner)
{
    PyObject *attr = inline_value(owner, e->index);
    if (EMBER_LIKELY(attr != NULL)) return Py_NewRef(attr);
    return NULL;
}

/* LOAD_ATTR_INSTANCE_VALUE's test with its cache entry's contents as constants (a type version,
 * an inline-values index): the attribute (borrowed), or NULL when the type's version is not
 * `version`, its values are not inline or not valid, or the value is not set. */
static inline PyObject *profile_attr(PyObject *owner, i64 version, i64 index)
{
    if (!ember_type_version_ok(owner, version) || !(Py_TYPE(owner)->tp_flags & Py_TPFLAGS_INLINE_VALUES))
        return NULL;
    return inline_value(owner, index);
}

PyObject *
ember_trivial_attr(PyObject *owner, i64 version, i64 index)
{
    return profile_attr(owner, version, index);
}

/* LoadAttrBorrow (passes/borrow.rs): the value a site quickened to LOAD_ATTR_SLOT (`spec`
 * EMBER_ATTR_SPEC_SLOT, `index` the slot's byte offset), LOAD_ATTR_INSTANCE_VALUE (`index` the
 * inline-values index) or LOAD_ATTR_WITH_HINT (`index` the dict hint, `name` the key) reads,
 * borrowed from `owner`, when the interpreter's form would read it (Python/bytecodes.c: the
 * type's version is `version`, the inline values are valid or the managed __dict__'s entry is
 * `name`'s, the attribute is set); else what the site's own cache `ic` answers without running
 * code (ember_inl_attr_miss: another class of a polymorphic site, a class whose version moved
 * on); NULL when neither can (no exception: compiled code deopts to the LOAD_ATTR).
 * `spec` is a constant at each site, so the test folds. */
static inline PyObject *peek_attr(PyObject *owner, PyObject *name, i64 spec, i64 version, i64 index)
{
    if (spec == EMBER_ATTR_SPEC_SLOT) return slot_value(owner, version, index);
    if (spec == EMBER_ATTR_SPEC_WITH_HINT) {
        /* _CHECK_ATTR_WITH_HINT and _LOAD_ATTR_WITH_HINT: the managed __dict__'s entry `index`
         * holds `name` (compared by identity, as the interpreter does). */
        if (!ember_type_version_ok(owner, version) || !(Py_TYPE(owner)->tp_flags & Py_TPFLAGS_MANAGED_DICT))
            return NULL;
        PyDictObject *dict;
        PyObject **slot = ember_ic_hint_slot(owner, name, index, &dict);
        return slot != NULL ? *slot : NULL;
    }
    return profile_attr(owner, version, index);
}

EMBER_INLINE_HELPER PyObject *
ember_peek_attr(PyObject *owner, PyObject *name, i64 spec, i64 version, i64 index, EmberAttrIC *ic)
{
    PyObject *attr = peek_attr(owner, name, spec, version, index);
    if (EMBER_LIKELY(attr != NULL)) return attr;
    return ember_inl_attr_miss(owner, name, ic);
}

EMBER_INLINE_HELPER PyObject *
ember_peek_attr_exact(PyObject *owner, PyObject *name, i64 spec, i64 version, i64 index)
{
    return peek_attr(owner, name, spec, version, index);
}

/* The hits load_attr_ic_hit does not inline: entry 0 in its other forms, the other entries in
 * their instance-value form. NULL (no exception) when none applies. */
static __attribute__((noinline)) PyObject *
load_attr_ic_hit_other(PyObject *owner, PyObject *name, EmberAttrIC *ic)
{
    EmberICEntry *e = &ic->e[0];
    if (Py_TYPE(owner)->tp_version_tag == e->version && e->kind == EMBER_IC_INSTANCE_ANY) {
        /* LOAD_ATTR_WITH_HINT: an instance whose attributes live in its materialised __dict__
         * (as go's squares), or in inline values while they are valid. */
        PyObject *attr = ember_ic_instance_attr(e, owner, name);
        if (attr != NULL) return Py_NewRef(attr);
    }
    else if (e->kind == EMBER_IC_CLASS_ATTR && PyType_Check(owner) && ((PyTypeObject *)owner)->tp_version_tag == e->version) {
        /* LOAD_ATTR_CLASS (`Direction.FORWARD`): the class's own version guards the attribute. */
        return Py_NewRef(e->descr);
    }
    else if (e->kind == EMBER_IC_SLOT && Py_TYPE(owner)->tp_version_tag == e->version) {
        /* LOAD_ATTR_SLOT (a __slots__ member); an empty slot is the generic path's
         * AttributeError. */
        PyObject *attr = *(PyObject **)((char *)owner + e->index);
        if (attr != NULL) return Py_NewRef(attr);
    }
    else {
        /* The other entries in their instance-value form: a site that sees several classes (a
         * method inherited by subclasses reading `self.x`, as deltablue's
         * BinaryConstraint.input, or richards' Task methods on four task classes). */
        for (int i = 1; i < EMBER_IC_WAYS; i++) {
            e = &ic->e[i];
            if (is_instance_value_entry(e, owner)) return instance_value_attr(e, owner);
        }
    }
    return NULL;
}

/* Entry 0's hit (entry 1's in its instance-value form): a new reference to the attribute, NULL
 * (no exception) when it does not apply. Entry 0's instance-value form, the common one, is
 * inlined into each site (ember_load_attr_ic and its borrowed form are EMBER_INLINE_HELPER);
 * the other forms are one call. Inlining the method-load and store sites the same way measured
 * 2-4 % slower on go and chaos and is not done. */
static inline PyObject *load_attr_ic_hit(PyObject *owner, PyObject *name, EmberAttrIC *ic)
{
    EmberICEntry *e = &ic->e[0];
    if (EMBER_LIKELY(is_instance_value_entry(e, owner))) {
        return instance_value_attr(e, owner);
    }
    return load_attr_ic_hit_other(owner, name, ic);
}

/* The rest of an attribute load after the inline-cache test gave `attr` (new reference, or NULL
 * when no entry answered): on a hit the owner's reference is released (after the attribute's
 * was taken), else the miss path takes the owner. */
static inline PyObject *load_attr_done(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic,
                                       PyObject *attr)
{
    if (EMBER_LIKELY(attr != NULL)) {
        ember_rc_decref(owner);
        return attr;
    }
    return ember_load_attr_ic_miss(ts, owner, name, ic);
}

/* The same for a borrowed `owner` (passes/borrow.rs): no reference to it is taken or dropped on
 * a hit; a miss, which may run Python code, gets its own. */
static inline PyObject *load_attr_done_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name,
                                                EmberAttrIC *ic, PyObject *attr)
{
    if (EMBER_LIKELY(attr != NULL)) return attr;
    return ember_load_attr_ic_miss(ts, Py_NewRef(owner), name, ic);
}

EMBER_INLINE_HELPER PyObject *
ember_load_attr_ic(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic)
{
    return load_attr_done(ts, owner, name, ic, load_attr_ic_hit(owner, name, ic));
}

EMBER_INLINE_HELPER PyObject *
ember_load_attr_ic_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic)
{
    return load_attr_done_borrowed(ts, owner, name, ic, load_attr_ic_hit(owner, name, ic));
}

/* ---- inlined callee bodies (ember_runtime.h, TrivialBody::Inline) ---- */

/* An attribute read of an inlined callee body (borrowed result): every entry's instance-value
 * form is tested inline (the loop unrolls), then, for a class owner, every entry's class
 * attribute form (LOAD_ATTR_CLASS), then ember_inl_attr_miss's other forms. An inlined body runs
 * on whatever classes its call site sees: richards' isTaskHoldingOrWaiting on four task
 * classes, deltablue's BinaryConstraint.output on each constraint class. With entry 0 alone
 * inline, three loads in four were a call of the miss path (3.6 % of richards' samples); with
 * the class form left to it, output()'s `Direction.FORWARD` was one such call per call of
 * output() (1.5 % of deltablue's samples). */
EMBER_INLINE_HELPER PyObject *
ember_inl_attr(PyObject *owner, PyObject *name, EmberAttrIC *ic)
{
    for (int i = 0; i < EMBER_IC_WAYS; i++) {
        EmberICEntry *e = &ic->e[i];
        if (is_instance_value_entry(e, owner)) {
            PyObject *attr = inline_value(owner, e->index);
            if (EMBER_LIKELY(attr != NULL)) return attr;
            return ember_inl_attr_miss(owner, name, ic);
        }
    }
    if (PyType_Check(owner)) {
        uint32_t version = ((PyTypeObject *)owner)->tp_version_tag;
        for (int i = 0; i < EMBER_IC_WAYS; i++) {
            EmberICEntry *e = &ic->e[i];
            if (e->kind == EMBER_IC_CLASS_ATTR && e->version == version) return e->descr;
        }
    }
    return ember_inl_attr_miss(owner, name, ic);
}

EMBER_INLINE_HELPER PyObject *
ember_inl_global(PyObject *func, PyObject *name, i64 gv, i64 bv, i64 index)
{
    PyFunctionObject *fn = (PyFunctionObject *)func;
    PyDictObject *g = (PyDictObject *)fn->func_globals;
    if (gv != 0 && PyDict_CheckExact(g) && (i64)g->ma_keys->dk_version == gv) {
        PyDictObject *d = g;
        if (bv != 0) {
            d = (PyDictObject *)fn->func_builtins;
            if (!PyDict_CheckExact(d) || (i64)d->ma_keys->dk_version != bv) d = NULL;
        }
        if (d != NULL) {
            PyObject *v = DK_UNICODE_ENTRIES(d->ma_keys)[index].me_value;
            if (EMBER_LIKELY(v != NULL)) return v;
        }
    }
    return ember_inl_global_lookup(func, name);
}

EMBER_INLINE_HELPER PyObject *
ember_inl_subscr(PyObject *container, PyObject *sub)
{
    /* BINARY_SUBSCR_LIST_INT / _TUPLE_INT's read (Python/bytecodes.c): a non-negative compact
     * int index in range; the item is borrowed from the container. */
    if (!PyLong_CheckExact(sub) || !_PyLong_IsNonNegativeCompact((PyLongObject *)sub)) return NULL;
    Py_ssize_t i = (Py_ssize_t)_PyLong_CompactValue((PyLongObject *)sub);
    if (PyList_CheckExact(container)) return i < PyList_GET_SIZE(container) ? PyList_GET_ITEM(container, i) : NULL;
    if (PyTuple_CheckExact(container)) return i < PyTuple_GET_SIZE(container) ? PyTuple_GET_ITEM(container, i) : NULL;
    return NULL;
}

EMBER_INLINE_HELPER PyObject *
ember_inl_len(PyThreadState *ts, PyObject *callable, PyObject *obj)
{
    /* CALL_LEN's test (the builtin len), then the sizes PyObject_Length reads from the object
     * itself for these exact types, without running code; the small int is immortal. */
    if (callable != ts->interp->callable_cache.len) return NULL;
    Py_ssize_t n;
    if (PyList_CheckExact(obj) || PyTuple_CheckExact(obj))
        n = Py_SIZE(obj);
    else if (PyDict_CheckExact(obj))
        n = ((PyDictObject *)obj)->ma_used;
    else if (PyUnicode_CheckExact(obj))
        n = PyUnicode_GET_LENGTH(obj);
    else if (PyAnySet_CheckExact(obj))
        n = PySet_GET_SIZE(obj);
    else
        return NULL;
    if (n >= _PY_NSMALLPOSINTS) return NULL;
    return (PyObject *)&_PyLong_SMALL_INTS[_PY_NSMALLNEGINTS + n];
}

EMBER_INLINE_HELPER PyObject *
ember_inl_compare(PyObject *a, PyObject *b, i64 cmp)
{
    /* Py_RETURN_RICHCOMPARE (object.h), as long_richcompare and float_richcompare use it; its
     * references are to the immortal Py_True / Py_False. */
    if (PyLong_CheckExact(a) && PyLong_CheckExact(b)) {
        if (!_PyLong_IsCompact((PyLongObject *)a) || !_PyLong_IsCompact((PyLongObject *)b)) return NULL;
        Py_RETURN_RICHCOMPARE(_PyLong_CompactValue((PyLongObject *)a), _PyLong_CompactValue((PyLongObject *)b), (int)cmp);
    }
    if (PyFloat_CheckExact(a) && PyFloat_CheckExact(b)) Py_RETURN_RICHCOMPARE(PyFloat_AS_DOUBLE(a), PyFloat_AS_DOUBLE(b), (int)cmp);
    if (PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b) && (cmp == Py_EQ || cmp == Py_NE))
        return _PyUnicode_Equal(a, b) == (cmp == Py_EQ) ? Py_True : Py_False;
    return NULL;
}

EMBER_INLINE_HELPER PyObject *
ember_inl_truth(PyObject *v)
{
    PyTypeObject *tp = Py_TYPE(v);
    Py_ssize_t n;
    if (tp == &PyBool_Type) return v;
    if (v == Py_None) return Py_False;
    if (tp == &PyLong_Type) return _PyLong_IsZero((PyLongObject *)v) ? Py_False : Py_True;
    if (tp == &PyUnicode_Type) n = PyUnicode_GET_LENGTH(v);
    else if (tp == &PyList_Type || tp == &PyTuple_Type) n = Py_SIZE(v);
    else if (tp == &PyDict_Type) n = ((PyDictObject *)v)->ma_used;
    else return NULL;
    return n != 0 ? Py_True : Py_False;
}

/* A site the interpreter quickened to LOAD_ATTR_WITH_HINT (its objects keep their attributes in
 * a combined __dict__, as go's squares): entry 0's instance-any form, which the first miss fills
 * for such objects (runtime_ic.c respecialise_instance; the cache starts empty), is the inlined
 * test (the dict entry at the hint, or the inline values while they are valid), then
 * load_attr_ic_hit's. At such sites load_attr_ic_hit's inlined instance-value test never
 * matched, and every load was a call of load_attr_ic_hit_other. Borrowed `owner` (the hit takes
 * no reference to it); NULL (no exception) when no entry answers. */
static inline PyObject *load_attr_ic_hit_hint(PyObject *owner, PyObject *name, EmberAttrIC *ic)
{
    EmberICEntry *e = &ic->e[0];
    if (EMBER_LIKELY(Py_TYPE(owner)->tp_version_tag == e->version && e->kind == EMBER_IC_INSTANCE_ANY)) {
        PyObject *attr = ember_ic_instance_attr(e, owner, name);
        if (EMBER_LIKELY(attr != NULL)) return Py_NewRef(attr);
    }
    return load_attr_ic_hit(owner, name, ic);
}

/* A site the interpreter quickened to LOAD_ATTR_INSTANCE_VALUE: first the profile's own test,
 * with its type version (a bound value) and inline-values index as constants of the compiled
 * code (profile_attr: the type's version, its values inline and valid, the value set),
 * then the inline cache as for any site. The constants spare the cache's entry loads and kind
 * test, and LLVM can share one type-version load between the loads of one object's
 * attributes (`self.x * other.x + self.y * other.y`) when nothing is stored in between. A
 * site that sees other classes, or a class whose version changed after the profile, fails
 * the first test and takes the cache: what it costs then is that one test. */
/* The rest of a load after a profile's test gave `attr` (borrowed; NULL when the test failed):
 * on an answer, a new reference to it, and the owner released; otherwise the inline cache. */
static inline PyObject *profile_or_cache(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic,
                                         PyObject *attr)
{
    if (EMBER_LIKELY(attr != NULL)) {
        Py_INCREF(attr);
        ember_rc_decref(owner);
        return attr;
    }
    return ember_load_attr_ic(ts, owner, name, ic);
}

/* The same with `owner` borrowed (passes/borrow.rs). */
static inline PyObject *profile_or_cache_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic,
                                                  PyObject *attr)
{
    if (EMBER_LIKELY(attr != NULL)) return Py_NewRef(attr);
    return ember_load_attr_ic_borrowed(ts, owner, name, ic);
}

EMBER_INLINE_HELPER PyObject *
ember_load_attr_iv(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic, i64 version, i64 index)
{
    return profile_or_cache(ts, owner, name, ic, profile_attr(owner, version, index));
}

/* The same with `owner` borrowed (passes/borrow.rs). */
EMBER_INLINE_HELPER PyObject *
ember_load_attr_iv_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic, i64 version,
                            i64 index)
{
    return profile_or_cache_borrowed(ts, owner, name, ic, profile_attr(owner, version, index));
}

/* A site the interpreter quickened to LOAD_ATTR_CLASS (`Direction.FORWARD`): first the
 * profile's test, as _CHECK_ATTR_CLASS makes it (the owner is a class, of the type version
 * imm2), with the attribute's value as a constant of the compiled code (a bound value, which the
 * class holds while its version stays), then the inline cache, whose class form is out of line
 * (load_attr_ic_hit_other) after the inlined instance test. */
static inline PyObject *profile_class_attr(PyObject *owner, i64 version, PyObject *value)
{
    if (version > 0 && value != NULL && PyType_Check(owner) && ((PyTypeObject *)owner)->tp_version_tag == (uint32_t)version)
        return value;
    return NULL;
}

EMBER_INLINE_HELPER PyObject *
ember_load_attr_class(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic, i64 version, PyObject *value)
{
    return profile_or_cache(ts, owner, name, ic, profile_class_attr(owner, version, value));
}

/* The same with `owner` borrowed (passes/borrow.rs). */
EMBER_INLINE_HELPER PyObject *
ember_load_attr_class_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic, i64 version,
                               PyObject *value)
{
    return profile_or_cache_borrowed(ts, owner, name, ic, profile_class_attr(owner, version, value));
}

/* ember_load_attr_ic and its borrowed form for a LOAD_ATTR_WITH_HINT site. */
EMBER_INLINE_HELPER PyObject *
ember_load_attr_ic_hint(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic)
{
    return load_attr_done(ts, owner, name, ic, load_attr_ic_hit_hint(owner, name, ic));
}

EMBER_INLINE_HELPER PyObject *
ember_load_attr_ic_hint_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic)
{
    return load_attr_done_borrowed(ts, owner, name, ic, load_attr_ic_hit_hint(owner, name, ic));
}

PyObject *
ember_load_method_ic(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic, PyObject **self_out)
{
    PyTypeObject *tp = Py_TYPE(owner);
    /* Every entry: a site that sees several classes (deltablue's Plan.execute calls execute()
     * on constraints of four classes, richards' Task methods run on four task classes) hits
     * without the miss path. */
    for (int i = 0; i < EMBER_IC_WAYS; i++) {
        PyObject *meth = ember_ic_method_inline(&ic->e[i], tp, owner);
        if (EMBER_LIKELY(meth != NULL)) {
            *self_out = owner;
            return ember_rc_newref(meth);
        }
    }
    return ember_load_method_ic_miss(ts, owner, name, ic, self_out);
}

/* A site the interpreter quickened to LOAD_ATTR_METHOD_WITH_VALUES: first the profile's test,
 * with its type version, the class's shared-keys version and the method (bound values) as
 * constants of the compiled code, as the interpreter's _GUARD_TYPE_VERSION,
 * _GUARD_DORV_VALUES_INST_ATTR_FROM_DICT and _GUARD_KEYS_VERSION test them (the keys version
 * proves the name absent from the instance's valid inline values; the type version, that the
 * class still holds that method); then the cache (ember_load_method_ic, one call). The method
 * is a new reference; the owner's reference moves to *self_out. */
/* The rest of a method load after a profile's test (`hit`: the owner's type has the profile's
 * version and the form's own checks passed): the method `descr` (a new reference) with the
 * owner's reference moved to *self_out, or the inline cache. */
static inline PyObject *method_or_cache(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic,
                                        PyObject **self_out, int hit, PyObject *descr)
{
    if (EMBER_LIKELY(hit && descr != NULL)) {
        *self_out = owner;
        return ember_rc_newref(descr);
    }
    return ember_load_method_ic(ts, owner, name, ic, self_out);
}

EMBER_INLINE_HELPER PyObject *
ember_load_method_wv(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic, PyObject **self_out,
                     i64 version, i64 keys_version, PyObject *descr)
{
    PyTypeObject *tp = Py_TYPE(owner);
    int hit = ember_type_version_ok(owner, version) && (tp->tp_flags & Py_TPFLAGS_INLINE_VALUES) &&
              _PyObject_InlineValues(owner)->valid && keys_version > 0 &&
              ((PyHeapTypeObject *)tp)->ht_cached_keys->dk_version == (uint32_t)keys_version;
    return method_or_cache(ts, owner, name, ic, self_out, hit, descr);
}

/* The same for LOAD_ATTR_METHOD_NO_DICT (objects without a __dict__, such as __slots__
 * classes): the type version alone, as _GUARD_TYPE_VERSION tests it. */
EMBER_INLINE_HELPER PyObject *
ember_load_method_nd(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic, PyObject **self_out,
                     i64 version, PyObject *descr)
{
    int hit = ember_type_version_ok(owner, version) && Py_TYPE(owner)->tp_dictoffset == 0;
    return method_or_cache(ts, owner, name, ic, self_out, hit, descr);
}

/* The same for LOAD_ATTR_METHOD_LAZY_DICT (an object whose managed __dict__ is not made yet,
 * such as an instance of a list subclass): the type version and that the __dict__ is still
 * NULL, as _CHECK_ATTR_METHOD_LAZY_DICT tests it (the serialiser sends this form only for the
 * managed __dict__). */
EMBER_INLINE_HELPER PyObject *
ember_load_method_ld(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic, PyObject **self_out,
                     i64 version, PyObject *descr)
{
    int hit = ember_type_version_ok(owner, version) && (Py_TYPE(owner)->tp_flags & Py_TPFLAGS_MANAGED_DICT) &&
              _PyObject_GetManagedDict(owner) == NULL;
    return method_or_cache(ts, owner, name, ic, self_out, hit, descr);
}

/* STORE_ATTR through the entries other than entry 0's instance forms, which
 * ember_store_attr_ic tests first: the other entries' instance forms (ember_ic_instance_store;
 * releasing the old value may run Python code, and the owner is not used after it) and every
 * entry's __slots__ form (STORE_ATTR_SLOT). 0 when none applies (nothing done); 1 when stored
 * in an instance form; 2 when stored in a slot, with the value it replaced in *old, which the
 * caller releases after the owner (whose finaliser it could otherwise outlive). Out of line, as
 * load_attr_ic_hit_other: a site that sees several classes (richards' Task methods store into
 * four task classes) does not take the miss path. */
static __attribute__((noinline)) int store_attr_ic_hit_other(PyThreadState *ts, EmberAttrIC *ic, PyObject *owner,
                                                             PyObject *name, PyObject *v, PyObject **old)
{
    for (int i = 0; i < EMBER_IC_WAYS; i++) {
        const EmberICEntry *e = &ic->e[i];
        if (e->kind == EMBER_IC_SLOT) {
            if (Py_TYPE(owner)->tp_version_tag != e->version) continue;
            PyObject **addr = (PyObject **)((char *)owner + e->index);
            *old = *addr;
            *addr = v;
            return 2;
        }
        if (i > 0 && ember_ic_instance_store(ts, e, owner, name, v)) return 1;
    }
    return 0;
}

int
ember_store_attr_ic(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v, EmberAttrIC *ic)
{
    PyObject *old = NULL;
    if (EMBER_LIKELY(ember_ic_instance_store(ts, &ic->e[0], owner, name, v)) ||
        store_attr_ic_hit_other(ts, ic, owner, name, v, &old)) {
        ember_rc_decref(owner);
        Py_XDECREF(old);
        return 0;
    }
    return ember_store_attr_ic_miss(ts, owner, name, v, ic);
}

/* The same with `owner` borrowed (passes/borrow.rs). */
int
ember_store_attr_ic_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v, EmberAttrIC *ic)
{
    PyObject *old = NULL;
    if (EMBER_LIKELY(ember_ic_instance_store(ts, &ic->e[0], owner, name, v)) ||
        store_attr_ic_hit_other(ts, ic, owner, name, v, &old)) {
        Py_XDECREF(old);
        return 0;
    }
    return ember_store_attr_ic_miss(ts, Py_NewRef(owner), name, v, ic);
}

/* A site the interpreter quickened to STORE_ATTR_INSTANCE_VALUE: the profile's test with its
 * type version (a bound value) and inline-values index as constants (the type's version, its
 * values inline, no __dict__, the values valid, as _GUARD_TYPE_VERSION and
 * _GUARD_DORV_NO_DICT test them), then the store as the interpreter makes it: the value goes in,
 * the old one (or the insertion order, for a first store) and then the owner are released.
 * Anything else takes the cache (ember_store_attr_ic). The old value is usually one this code
 * read and released a moment ago (`self.n += 1`), so its count is read as Py_INCREF wrote it
 * (ember_rc_decref). 0, or -1 with an exception from the cache's path; v consumed. */
static inline int profile_store(PyObject *owner, PyObject *v, i64 version, i64 index)
{
    if (!ember_type_version_ok(owner, version) || !(Py_TYPE(owner)->tp_flags & Py_TPFLAGS_INLINE_VALUES) ||
        _PyObject_GetManagedDict(owner) != NULL)
        return 0;
    PyDictValues *values = _PyObject_InlineValues(owner);
    if (!EMBER_LIKELY(values->valid)) return 0;
    PyObject *old = values->values[index];
    values->values[index] = v;
    if (old == NULL)
        _PyDictValues_AddToInsertionOrder(values, (Py_ssize_t)index);
    else
        ember_rc_decref(old);
    return 1;
}

EMBER_INLINE_HELPER int
ember_store_attr_iv(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v, EmberAttrIC *ic, i64 version,
                    i64 index)
{
    if (EMBER_LIKELY(profile_store(owner, v, version, index))) {
        ember_rc_decref(owner);
        return 0;
    }
    return ember_store_attr_ic(ts, owner, name, v, ic);
}

/* The same with `owner` borrowed (passes/borrow.rs). */
EMBER_INLINE_HELPER int
ember_store_attr_iv_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v, EmberAttrIC *ic,
                             i64 version, i64 index)
{
    if (EMBER_LIKELY(profile_store(owner, v, version, index))) return 0;
    return ember_store_attr_ic_borrowed(ts, owner, name, v, ic);
}

/* STORE_ATTR_SLOT: type version, PyObject* at byte `offset`. */
static inline int store_attr_slot_hit(PyObject *owner, PyObject *v, i64 type_version, i64 offset)
{
    if (EMBER_LIKELY(ember_type_version_ok(owner, type_version))) {
        PyObject **addr = (PyObject **)((char *)owner + offset);
        PyObject *old = *addr;
        *addr = v;
        Py_XDECREF(old);
        return 1;
    }
    return 0;
}

int
ember_store_attr_slot(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v,
                      i64 type_version, i64 offset)
{
    if (EMBER_LIKELY(store_attr_slot_hit(owner, v, type_version, offset))) {
        ember_rc_decref(owner);
        return 0;
    }
    return ember_store_attr(ts, owner, name, v);
}

/* The same with `owner` borrowed (passes/borrow.rs). */
int
ember_store_attr_slot_borrowed(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v,
                               i64 type_version, i64 offset)
{
    if (EMBER_LIKELY(store_attr_slot_hit(owner, v, type_version, offset))) return 0;
    return ember_store_attr(ts, Py_NewRef(owner), name, v);
}

/* ======================================================================================
 * Subscript specialisations
 * ====================================================================================== */

/* The item of exact list (or tuple) `container` at exact non-negative compact int `sub` when
 * in range (borrowed), else NULL: BINARY_SUBSCR_LIST_INT's and _TUPLE_INT's checks. */
static inline PyObject *list_int_item(PyObject *container, PyObject *sub)
{
    if (EMBER_LIKELY(PyLong_CheckExact(sub) && PyList_CheckExact(container) &&
                     _PyLong_IsNonNegativeCompact((PyLongObject *)sub))) {
        Py_ssize_t i = ((PyLongObject *)sub)->long_value.ob_digit[0];
        if (EMBER_LIKELY(i < PyList_GET_SIZE(container))) return PyList_GET_ITEM(container, i);
    }
    return NULL;
}

static inline PyObject *tuple_int_item(PyObject *container, PyObject *sub)
{
    if (EMBER_LIKELY(PyLong_CheckExact(sub) && PyTuple_CheckExact(container) &&
                     _PyLong_IsNonNegativeCompact((PyLongObject *)sub))) {
        Py_ssize_t i = ((PyLongObject *)sub)->long_value.ob_digit[0];
        if (EMBER_LIKELY(i < PyTuple_GET_SIZE(container))) return PyTuple_GET_ITEM(container, i);
    }
    return NULL;
}

/* BINARY_SUBSCR_LIST_INT / _TUPLE_INT on a hit; operands consumed. */
static inline PyObject *subscr_item_consume(PyObject *item, PyObject *container, PyObject *sub)
{
    PyObject *res = Py_NewRef(item);
    _Py_DECREF_SPECIALIZED(sub, ember_free_exact_int);
    ember_rc_decref(container);
    return res;
}

/* BINARY_SUBSCR_LIST_INT: exact list, exact non-negative compact int index in range. */
EMBER_INLINE_HELPER PyObject *
ember_binary_subscr_list_int(PyObject *container, PyObject *sub)
{
    PyObject *item = list_int_item(container, sub);
    if (EMBER_LIKELY(item != NULL)) return subscr_item_consume(item, container, sub);
    return ember_binary_subscr(container, sub);
}

/* BINARY_SUBSCR_TUPLE_INT: exact tuple, exact non-negative compact int index in range. */
EMBER_INLINE_HELPER PyObject *
ember_binary_subscr_tuple_int(PyObject *container, PyObject *sub)
{
    PyObject *item = tuple_int_item(container, sub);
    if (EMBER_LIKELY(item != NULL)) return subscr_item_consume(item, container, sub);
    return ember_binary_subscr(container, sub);
}

/* The same two with both operands borrowed (neither consumed; passes/borrow.rs): the element
 * read runs no Python code; the generic path gets its own references. */
EMBER_INLINE_HELPER PyObject *
ember_binary_subscr_list_int_borrowed(PyObject *container, PyObject *sub)
{
    PyObject *item = list_int_item(container, sub);
    if (EMBER_LIKELY(item != NULL)) return Py_NewRef(item);
    return ember_binary_subscr(Py_NewRef(container), Py_NewRef(sub));
}

EMBER_INLINE_HELPER PyObject *
ember_binary_subscr_tuple_int_borrowed(PyObject *container, PyObject *sub)
{
    PyObject *item = tuple_int_item(container, sub);
    if (EMBER_LIKELY(item != NULL)) return Py_NewRef(item);
    return ember_binary_subscr(Py_NewRef(container), Py_NewRef(sub));
}

/* BINARY_SUBSCR_DICT: exact dict, PyDict_GetItemRef; a missing key raises KeyError(sub). */
PyObject *
ember_binary_subscr_dict(PyObject *container, PyObject *sub)
{
    if (EMBER_UNLIKELY(!PyDict_CheckExact(container))) {
        return ember_binary_subscr(container, sub);
    }
    PyObject *res;
    int rc = PyDict_GetItemRef(container, sub, &res);
    if (rc == 0) {
        _PyErr_SetKeyError(sub);
    }
    Py_DECREF(container);
    Py_DECREF(sub);
    return rc > 0 ? res : NULL;
}

/* STORE_SUBSCR_LIST_INT: exact list, exact non-negative compact int index in range. The old
 * item is released by ember_release_local_float when `ts` is given (a float is stored, so a
 * float most likely goes), else by Py_DECREF. */
static inline int
store_subscr_list_int(PyThreadState *ts, PyObject *container, PyObject *sub, PyObject *v)
{
    if (EMBER_LIKELY(PyLong_CheckExact(sub) && PyList_CheckExact(container) &&
                     _PyLong_IsNonNegativeCompact((PyLongObject *)sub))) {
        Py_ssize_t i = ((PyLongObject *)sub)->long_value.ob_digit[0];
        if (EMBER_LIKELY(i < PyList_GET_SIZE(container))) {
            PyObject *old = PyList_GET_ITEM(container, i);
            PyList_SET_ITEM(container, i, v);
            if (ts != NULL) {
                ember_release_local_float(ts, old);
            }
            else {
                Py_DECREF(old);
            }
            _Py_DECREF_SPECIALIZED(sub, ember_free_exact_int);
            ember_rc_decref(container);
            return 0;
        }
    }
    return ember_store_subscr(container, sub, v);
}

int
ember_store_subscr_list_int(PyObject *container, PyObject *sub, PyObject *v)
{
    return store_subscr_list_int(NULL, container, sub, v);
}

int
ember_store_subscr_list_int_float(PyThreadState *ts, PyObject *container, PyObject *sub, PyObject *v)
{
    return store_subscr_list_int(ts, container, sub, v);
}

/* Whether `old` is a float that a store may overwrite with a new value in place: an exact
 * float whose only reference is the one being replaced (so nothing else can see it change) and
 * no reference tracer is set (it would have seen the old float die and a new one made). CPython
 * 3.13's DECREF_INPUTS_AND_REUSE_FLOAT (ceval_macros.h) reuses a dying operand the same way. */
static inline int
float_reusable(PyObject *old)
{
    return Py_IS_TYPE(old, &PyFloat_Type) && ember_rc_is_one(old) && _PyRuntime.ref_tracer.tracer_func == NULL;
}

/* The rest of ember_store_local_float, out of line: one copy per module, not per site (inlined
 * at each of nbody's seven sites it made `advance` take 40 % longer to compile). */
static __attribute__((noinline)) int
store_local_float_boxed(PyThreadState *ts, PyObject **slot, double d)
{
    PyObject *old = *slot;
    PyObject *v = ember_float_box(ts, d);
    if (EMBER_UNLIKELY(v == NULL)) {
        return -1;
    }
    *slot = v;
    ember_release_local_float(ts, old);
    return 0;
}

/* StoreFastFloat: STORE_FAST of the CDouble `d` into `*slot` (a local of the frame). The
 * local's float is updated in place when float_reusable; otherwise `d` is boxed
 * (ember_float_box), stored, and the old value released as STORE_FAST releases it. 0, or -1
 * with MemoryError when boxing fails (the local then keeps its old value). */
EMBER_INLINE_HELPER int
ember_store_local_float(PyThreadState *ts, PyObject **slot, double d)
{
    PyObject *old = *slot;
    if (EMBER_LIKELY(old != NULL && float_reusable(old))) {
        ((PyFloatObject *)old)->ob_fval = d;
        return 0;
    }
    return store_local_float_boxed(ts, slot, d);
}

/* The rest of ember_store_subscr_list_float, out of line (as store_local_float_boxed). */
static __attribute__((noinline)) int
store_subscr_list_float_boxed(PyThreadState *ts, PyObject *container, PyObject *sub, double d)
{
    PyObject *v = ember_float_box(ts, d);
    if (EMBER_UNLIKELY(v == NULL)) {
        Py_DECREF(container);
        Py_DECREF(sub);
        return -1;
    }
    return store_subscr_list_int(ts, container, sub, v);
}

/* StoreSubscrFloat: STORE_SUBSCR_LIST_INT of the CDouble `d`; `container` and `sub` are
 * consumed. The item is updated in place when it is float_reusable (exact list, compact
 * non-negative index in range: list_int_item, as store_subscr_list_int checks); otherwise
 * store_subscr_list_float_boxed boxes `d` and stores it as ember_store_subscr_list_int_float
 * does. 0, or -1 with an exception. */
EMBER_INLINE_HELPER int
ember_store_subscr_list_float(PyThreadState *ts, PyObject *container, PyObject *sub, double d)
{
    PyObject *old = list_int_item(container, sub);
    if (EMBER_LIKELY(old != NULL && float_reusable(old))) {
        ((PyFloatObject *)old)->ob_fval = d;
        _Py_DECREF_SPECIALIZED(sub, ember_free_exact_int);
        ember_rc_decref(container);
        return 0;
    }
    return store_subscr_list_float_boxed(ts, container, sub, d);
}

/* The rest of ember_store_attr_slot_float, out of line (as store_local_float_boxed): `d` boxed
 * and stored as ember_store_attr_slot (or its `_borrowed` form) stores it. */
static __attribute__((noinline)) int
store_attr_slot_float_boxed(PyThreadState *ts, PyObject *owner, PyObject *name, double d, i64 type_version,
                            i64 offset, i64 borrowed)
{
    PyObject *v = ember_float_box(ts, d);
    if (EMBER_UNLIKELY(v == NULL)) {
        if (!borrowed) Py_DECREF(owner);
        return -1;
    }
    if (borrowed) return ember_store_attr_slot_borrowed(ts, owner, name, v, type_version, offset);
    return ember_store_attr_slot(ts, owner, name, v, type_version, offset);
}

/* StoreAttrFloat on a slot: STORE_ATTR_SLOT of the CDouble `d` (`owner` consumed unless
 * `borrowed`, a constant at each site). When `owner`'s type has the profile's version and the
 * slot holds a float_reusable float (only the instance references it), `d` is written into that
 * float in place; an empty slot gets `d` boxed; otherwise store_attr_slot_float_boxed boxes `d`
 * and stores it as STORE_ATTR_SLOT (or, for another type, STORE_ATTR) does. 0, or -1 with an
 * exception. */
EMBER_INLINE_HELPER int
ember_store_attr_slot_float(PyThreadState *ts, PyObject *owner, PyObject *name, double d, i64 type_version,
                            i64 offset, i64 borrowed)
{
    if (EMBER_LIKELY(ember_type_version_ok(owner, type_version))) {
        PyObject **addr = (PyObject **)((char *)owner + offset);
        PyObject *old = *addr;
        if (EMBER_LIKELY(old != NULL && float_reusable(old))) {
            ((PyFloatObject *)old)->ob_fval = d;
            if (!borrowed) ember_rc_decref(owner);
            return 0;
        }
        if (old == NULL) {
            /* An empty slot (an `__init__`'s first store): box and store, nothing to release. */
            PyObject *v = ember_float_box(ts, d);
            if (EMBER_LIKELY(v != NULL)) {
                *addr = v;
                if (!borrowed) ember_rc_decref(owner);
                return 0;
            }
        }
    }
    return store_attr_slot_float_boxed(ts, owner, name, d, type_version, offset, borrowed);
}

/* STORE_SUBSCR_DICT: exact dict, _PyDict_SetItem_Take2 (takes key and value). */
int
ember_store_subscr_dict(PyObject *container, PyObject *sub, PyObject *v)
{
    if (EMBER_UNLIKELY(!PyDict_CheckExact(container))) {
        return ember_store_subscr(container, sub, v);
    }
    int err = _PyDict_SetItem_Take2((PyDictObject *)container, sub, v);
    Py_DECREF(container);
    return err ? -1 : 0;
}

/* LIST_APPEND: _PyList_AppendTakeRef (list borrowed, v consumed on every path). */
int
ember_list_append(PyObject *list, PyObject *v)
{
    return _PyList_AppendTakeRef((PyListObject *)list, v) < 0 ? -1 : 0;
}

/* ======================================================================================
 * Specialised calls (CALL_BUILTIN_O ... CALL_METHOD_DESCRIPTOR_FAST, Python/bytecodes.c)
 *
 * Each takes what ember_call takes (base = [callable, self_or_null, args...], nargs = the
 * oparg; everything consumed) and makes the checks the interpreter's specialised instruction
 * makes; where the interpreter would deoptimise, it takes the generic call instead, which
 * computes the same. A hit calls the C function directly, as the instruction does.
 * ====================================================================================== */

/* The arguments of a call as the specialised instructions count them: with self, self first. */
#define EMBER_CALL_ARGS(base, nargs, args, total)                   \
    PyObject **args = (base) + 2;                                   \
    Py_ssize_t total = (Py_ssize_t)(nargs);                         \
    if ((base)[1] != NULL) {                                        \
        args--;                                                     \
        total++;                                                    \
    }

static inline void ember_call_release(PyObject **base, PyObject **args, Py_ssize_t total)
{
    for (Py_ssize_t i = 0; i < total; i++) Py_DECREF(args[i]);
    Py_DECREF(base[0]);
}

/* Calls a METH_O or METH_NOARGS C function as the specialised instructions do, inside the C
 * recursion budget (the caller checked that some is left), then releases the call's operands. */
static inline PyObject *ember_call_cfunc(PyThreadState *ts, PyCFunction cfunc, PyObject *self, PyObject *arg,
                                         PyObject **base, PyObject **args, Py_ssize_t total)
{
    _Py_EnterRecursiveCallTstateUnchecked(ts);
    PyObject *res = _PyCFunction_TrampolineCall(cfunc, self, arg);
    _Py_LeaveRecursiveCallTstate(ts);
    ember_call_release(base, args, total);
    return res;
}

/* CALL_BUILTIN_O: one argument to a METH_O builtin function, with the C recursion check. */
PyObject *
ember_call_builtin_o(PyThreadState *ts, PyObject **base, i64 nargs)
{
    EMBER_CALL_ARGS(base, nargs, args, total);
    PyObject *callable = base[0];
    if (EMBER_LIKELY(total == 1 && PyCFunction_CheckExact(callable) && PyCFunction_GET_FLAGS(callable) == METH_O &&
                     ts->c_recursion_remaining > 0)) {
        return ember_call_cfunc(ts, PyCFunction_GET_FUNCTION(callable), PyCFunction_GET_SELF(callable), args[0], base,
                                args, total);
    }
    return ember_call(ts, base, nargs, NULL);
}

/* CALL_BUILTIN_FAST: a METH_FASTCALL builtin function. */
PyObject *
ember_call_builtin_fast(PyThreadState *ts, PyObject **base, i64 nargs)
{
    EMBER_CALL_ARGS(base, nargs, args, total);
    PyObject *callable = base[0];
    if (EMBER_LIKELY(PyCFunction_CheckExact(callable) && PyCFunction_GET_FLAGS(callable) == METH_FASTCALL)) {
        PyCFunction cfunc = PyCFunction_GET_FUNCTION(callable);
        PyObject *res = ((PyCFunctionFast)(void (*)(void))cfunc)(PyCFunction_GET_SELF(callable), args, total);
        ember_call_release(base, args, total);
        return res;
    }
    return ember_call(ts, base, nargs, NULL);
}

/* The length of an exact list, tuple, dict, str, set or frozenset as its type's sq_length /
 * mp_length computes it (list_length, tuple_length, dict_length, unicode_length, set_len:
 * a field read, no code run), or -1 for any other object. */
static inline Py_ssize_t ember_len_exact(PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o);
    if (t == &PyList_Type || t == &PyTuple_Type) return Py_SIZE(o);
    if (t == &PyDict_Type) return ((PyDictObject *)o)->ma_used;
    if (t == &PyUnicode_Type) return PyUnicode_GET_LENGTH(o);
    if (t == &PySet_Type || t == &PyFrozenSet_Type) return ((PySetObject *)o)->used;
    return -1;
}

/* CALL_LEN: len(x) while `len` is the builtin; the length of an exact built-in container is
 * read inline (ember_len_exact) and boxed without a call when it is a small int. */
PyObject *
ember_call_len(PyThreadState *ts, PyObject **base, i64 nargs)
{
    EMBER_CALL_ARGS(base, nargs, args, total);
    if (EMBER_LIKELY(total == 1 && base[0] == ts->interp->callable_cache.len)) {
        Py_ssize_t n = ember_len_exact(args[0]);
        if (n < 0) n = PyObject_Length(args[0]);
        PyObject *res = n < 0 ? NULL : ember_int_box((i64)n);
        ember_call_release(base, args, total);
        return res;
    }
    return ember_call(ts, base, nargs, NULL);
}

/* CALL_ISINSTANCE: isinstance(x, cls) while `isinstance` is the builtin. */
PyObject *
ember_call_isinstance(PyThreadState *ts, PyObject **base, i64 nargs)
{
    EMBER_CALL_ARGS(base, nargs, args, total);
    if (EMBER_LIKELY(total == 2 && base[0] == ts->interp->callable_cache.isinstance)) {
        int r = PyObject_IsInstance(args[0], args[1]);
        PyObject *res = r < 0 ? NULL : PyBool_FromLong(r);
        ember_call_release(base, args, total);
        return res;
    }
    return ember_call(ts, base, nargs, NULL);
}

/* CALL_LIST_APPEND: xs.append(v) on an exact list; returns None (the interpreter skips the
 * POP_TOP that follows; compiled code pops the None). */
PyObject *
ember_call_list_append(PyThreadState *ts, PyObject **base, i64 nargs)
{
    PyObject *self = base[1];
    if (EMBER_LIKELY(nargs == 1 && self != NULL && base[0] == ts->interp->callable_cache.list_append &&
                     PyList_CheckExact(self))) {
        if (_PyList_AppendTakeRef((PyListObject *)self, base[2]) < 0) {
            Py_DECREF(self);
            Py_DECREF(base[0]);
            return NULL;
        }
        Py_DECREF(self);
        Py_DECREF(base[0]);
        return Py_None;
    }
    return ember_call(ts, base, nargs, NULL);
}

/* The method descriptor `callable` when it is one of a builtin type with exactly `flags`, and
 * `self` is an instance of exactly that type (CALL_METHOD_DESCRIPTOR_*'s checks); else NULL. */
static inline PyMethodDef *ember_method_def(PyObject *callable, PyObject *self, int flags)
{
    if (!Py_IS_TYPE(callable, &PyMethodDescr_Type)) return NULL;
    PyMethodDescrObject *method = (PyMethodDescrObject *)callable;
    PyMethodDef *meth = method->d_method;
    if (meth->ml_flags != flags || !Py_IS_TYPE(self, method->d_common.d_type)) return NULL;
    return meth;
}

/* CALL_METHOD_DESCRIPTOR_O: self.m(arg) for a METH_O method of a builtin type. */
PyObject *
ember_call_method_descriptor_o(PyThreadState *ts, PyObject **base, i64 nargs)
{
    EMBER_CALL_ARGS(base, nargs, args, total);
    PyMethodDef *meth;
    if (EMBER_LIKELY(total == 2 && (meth = ember_method_def(base[0], args[0], METH_O)) != NULL &&
                     ts->c_recursion_remaining > 0)) {
        return ember_call_cfunc(ts, meth->ml_meth, args[0], args[1], base, args, total);
    }
    return ember_call(ts, base, nargs, NULL);
}

/* CALL_METHOD_DESCRIPTOR_NOARGS: self.m() for a METH_NOARGS method of a builtin type. */
PyObject *
ember_call_method_descriptor_noargs(PyThreadState *ts, PyObject **base, i64 nargs)
{
    EMBER_CALL_ARGS(base, nargs, args, total);
    PyMethodDef *meth;
    if (EMBER_LIKELY(total == 1 && (meth = ember_method_def(base[0], args[0], METH_NOARGS)) != NULL &&
                     ts->c_recursion_remaining > 0)) {
        return ember_call_cfunc(ts, meth->ml_meth, args[0], NULL, base, args, total);
    }
    return ember_call(ts, base, nargs, NULL);
}

/* CALL_METHOD_DESCRIPTOR_FAST: self.m(args...) for a METH_FASTCALL method of a builtin type. */
PyObject *
ember_call_method_descriptor_fast(PyThreadState *ts, PyObject **base, i64 nargs)
{
    EMBER_CALL_ARGS(base, nargs, args, total);
    PyMethodDef *meth;
    if (EMBER_LIKELY(total >= 1 && (meth = ember_method_def(base[0], args[0], METH_FASTCALL)) != NULL)) {
        PyCFunctionFast cfunc = (PyCFunctionFast)(void (*)(void))meth->ml_meth;
        PyObject *res = cfunc(args[0], args + 1, total - 1);
        ember_call_release(base, args, total);
        return res;
    }
    return ember_call(ts, base, nargs, NULL);
}

/* ======================================================================================
 * FOR_ITER specialisations (iterator borrowed; NULL without exception = exhausted)
 * ====================================================================================== */

/* One step of a range iterator: 1 with the next value in *out (start; start += step, len--),
 * 0 when exhausted. */
static inline int
range_iter_step(_PyRangeIterObject *r, i64 *out)
{
    if (r->len <= 0) {
        return 0;
    }
    *out = r->start;
    r->start += r->step;
    r->len--;
    return 1;
}

/* FOR_ITER_RANGE: range iterator (range_iter_step), else the generic path. */
PyObject *
ember_for_iter_range(PyThreadState *ts, PyObject *it)
{
    if (EMBER_UNLIKELY(Py_TYPE(it) != &PyRangeIter_Type)) {
        return ember_for_iter(ts, it);
    }
    i64 value;
    if (!range_iter_step((_PyRangeIterObject *)it, &value)) {
        return NULL;
    }
    return PyLong_FromLong(value);
}

/* ember_runtime.h. */
int
ember_range_iter_state(PyObject *it)
{
    if (Py_TYPE(it) != &PyRangeIter_Type) return -1;
    return ((_PyRangeIterObject *)it)->len > 0;
}

/* ember_runtime.h. */
int
ember_for_iter_range_i64(PyObject *it, i64 *out)
{
    return range_iter_step((_PyRangeIterObject *)it, out);
}

/* FOR_ITER_LIST: list iterator; on exhaustion it_index = -1 and the list is released. */
PyObject *
ember_for_iter_list(PyThreadState *ts, PyObject *it)
{
    if (EMBER_UNLIKELY(Py_TYPE(it) != &PyListIter_Type)) {
        return ember_for_iter(ts, it);
    }
    _PyListIterObject *li = (_PyListIterObject *)it;
    PyListObject *seq = li->it_seq;
    if (seq == NULL || (size_t)li->it_index >= (size_t)PyList_GET_SIZE(seq)) {
        li->it_index = -1;
        if (seq != NULL) {
            li->it_seq = NULL;
            Py_DECREF(seq);
        }
        return NULL;
    }
    return Py_NewRef(PyList_GET_ITEM(seq, li->it_index++));
}

/* FOR_ITER_TUPLE: tuple iterator; on exhaustion the tuple is released. */
PyObject *
ember_for_iter_tuple(PyThreadState *ts, PyObject *it)
{
    if (EMBER_UNLIKELY(Py_TYPE(it) != &PyTupleIter_Type)) {
        return ember_for_iter(ts, it);
    }
    _PyTupleIterObject *ti = (_PyTupleIterObject *)it;
    PyTupleObject *seq = ti->it_seq;
    if (seq == NULL || ti->it_index >= PyTuple_GET_SIZE(seq)) {
        if (seq != NULL) {
            ti->it_seq = NULL;
            Py_DECREF(seq);
        }
        return NULL;
    }
    return Py_NewRef(PyTuple_GET_ITEM(seq, ti->it_index++));
}

/* ======================================================================================
 * Cells (LOAD_DEREF, STORE_DEREF)
 * ====================================================================================== */

/* LOAD_DEREF: the cell's content, or NameError/UnboundLocalError as the interpreter words it
 * (Python/bytecodes.c LOAD_DEREF). */
PyObject *
ember_load_deref(PyThreadState *ts, _PyInterpreterFrame *f, i64 idx)
{
    PyObject *value = PyCell_GET(f->localsplus[idx]);
    if (EMBER_UNLIKELY(value == NULL)) {
        _PyEval_FormatExcUnbound(ts, _PyFrame_GetCode(f), (int)idx);
        return NULL;
    }
    return Py_NewRef(value);
}

/* STORE_DEREF: consumes v. */
void
ember_store_deref(_PyInterpreterFrame *f, i64 idx, PyObject *v)
{
    PyCellObject *cell = (PyCellObject *)f->localsplus[idx];
    PyObject *old = cell->ob_ref;
    cell->ob_ref = v;
    Py_XDECREF(old);
}

/* ======================================================================================
 * Misc
 * ====================================================================================== */

/* LOAD_ASSERTION_ERROR: a new reference to AssertionError. */
PyObject *
ember_load_assertion_error(void)
{
    return Py_NewRef(PyExc_AssertionError);
}

/* FOR_ITER_GEN (Python/bytecodes.c), inlined into compiled code like ember_send: an exact
 * generator whose compiled code may run now is resumed here, so the loop adds only the
 * generator's own C frame; its return ends the loop (the return value is dropped, as the
 * interpreter's END_FOR does, and no StopIteration is made). Every other case, including a
 * generator that must be resumed another way, is ember_for_iter's. Generic FOR_ITER sites use
 * it too (the interpreter does not specialise FOR_ITER_GEN while a PEP 523 hook is set). `ic`
 * is the site's EmberResumeIC. The iterator is borrowed; NULL without an exception means
 * exhausted. */
EMBER_INLINE_HELPER PyObject *ember_for_iter_gen(PyThreadState *ts, PyObject *it, void *ic)
{
    PyObject *item;
    if (EMBER_LIKELY(Py_TYPE(it) == &PyGen_Type) && ember_gen_next_now(ts, (PyGenObject *)it, &item, (EmberResumeIC *)ic))
        return item;
    return ember_for_iter(ts, it);
}

/* SEND (Python/bytecodes.c _SEND / SEND_GEN), inlined into compiled code (it is kept small,
 * and always inlined when built as helper bitcode) so that resuming a delegate costs no C frame
 * of its own: an exact generator or coroutine goes to the shim's direct resumption
 * (ember_send_gen, what SEND_GEN does in the interpreter), an async generator's asend object
 * whose generator is compiled is resumed directly too (ember_asend_now), any other iterator
 * through tp_iternext here. `ic` is the site's EmberResumeIC. Consumes v; 0 yielded (*out = value),
 * 1 returned (*out = return value), -1 error. */
EMBER_INLINE_HELPER int ember_send(PyThreadState *ts, PyObject *receiver, PyObject *v, PyObject **out, void *ic)
{
    if (PyGen_CheckExact(receiver) || PyCoro_CheckExact(receiver)) {
        PyGenObject *gen = (PyGenObject *)receiver;
        entry_fn entry = ember_gen_entry_now(ts, gen, v, (EmberResumeIC *)ic);
        if (entry == NULL) entry = ember_gen_prepare(ts, gen, v);
        if (entry == NULL) return ember_send_gen(ts, receiver, v, out);
        /* Run here, not in a shim function, so that the delegate's code is the only C frame a
         * level of `yield from` / `await` adds (a deep delegation chain otherwise overflows the
         * CPU's return-address predictor; the interpreter adds none). */
        PyObject *r = ember_run_entry(ts, (_PyInterpreterFrame *)gen->gi_iframe, entry);
        Py_DECREF(v);
        if (r == NULL) return -1;
        *out = r;
        return FRAME_STATE_SUSPENDED(gen->gi_frame_state) ? 0 : 1;
    }
    if (Py_TYPE(receiver) == &_PyAsyncGenASend_Type) {
        int r = ember_asend_now(ts, receiver, v, out, (EmberResumeIC *)ic);
        if (r != 2) return r;
    }
    PyObject *retval;
    if (Py_IsNone(v) && PyIter_Check(receiver)) {
        retval = Py_TYPE(receiver)->tp_iternext(receiver);
    }
    else {
        retval = ember_send_method(receiver, v);
    }
    Py_DECREF(v);
    if (retval == NULL) return ember_send_stopped(out);
    *out = retval;
    return 0;
}
