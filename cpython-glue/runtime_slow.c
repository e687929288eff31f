/*
 * runtime_slow.c -- Ember's generic (out-of-line) runtime helpers (CPython 3.13).
 *
 * The unspecialised forms of the instructions of ember_runtime.h: BINARY_OP, COMPARE_OP,
 * LOAD_GLOBAL, LOAD_ATTR, CALL, FOR_ITER, RAISE_VARARGS, UNPACK_SEQUENCE, BUILD_*, ... Each one
 * does what the generic instruction of Python/bytecodes.c (3.13) does, with the same errors and
 * messages, using only symbols that libpython3.13 exports. The fast paths in runtime_fast.c
 * fall back to these when their guards fail.
 *
 * Compiled by gcc into the extension module only (it is not turned into bitcode).
 *
 * Ownership follows ember_runtime.h: object inputs are consumed on every path unless marked
 * borrowed, object results are new references, NULL / -1 means an exception is set.
 */
#include "ember_runtime.h"
#include "ember.h"                    /* EMBER_NOT_A_NUMBER_BITS */
#include <string.h>

#include "internal/pycore_call.h"    /* _PyObject_VectorcallTstate */
#include "internal/pycore_ceval.h"   /* _PyEval_BinaryOps, _PyEval_FormatExcCheckArg, ... */
#include "internal/pycore_dict.h"    /* _PyDict_LoadGlobal, _PyDict_FromItems */
#include "internal/pycore_long.h"    /* _PyLong_IsCompact */
#include "internal/pycore_list.h"    /* _PyList_FromArraySteal, _PyList_Extend */
#include "internal/pycore_object.h"  /* _PyObject_GetMethod */
#include "internal/pycore_pyerrors.h" /* _PyErr_Format, _PyErr_SetString, ... */
#include "internal/pycore_tuple.h"   /* _PyTuple_FromArraySteal */
#include "internal/pycore_unicodeobject.h" /* _PyUnicode_JoinArray */
#include "opcode.h"                  /* NB_* (BINARY_OP opargs) */

/* The interpreter's messages (Python/ceval_macros.h / ceval.c, not in installed headers). */
#define EMBER_NAME_ERROR_MSG "name '%.200s' is not defined"
#define EMBER_UNBOUNDLOCAL_ERROR_MSG \
    "cannot access local variable '%s' where it is not associated with a value"

/* ======================================================================================
 * Errors
 * ====================================================================================== */

/* LOAD_FAST_CHECK / DELETE_FAST unbound_local_error (ceval.c): UnboundLocalError naming local
 * `idx` of the frame's code object. Always returns NULL. */
PyObject *
ember_raise_unbound_local(PyThreadState *ts, _PyInterpreterFrame *f, i64 idx)
{
    PyCodeObject *code = (PyCodeObject *)f->f_executable;
    PyObject *name = PyTuple_GetItem(code->co_localsplusnames, (Py_ssize_t)idx);
    _PyEval_FormatExcCheckArg(ts, PyExc_UnboundLocalError, EMBER_UNBOUNDLOCAL_ERROR_MSG, name);
    return NULL;
}

/* ======================================================================================
 * Arithmetic, truth and comparisons
 * ====================================================================================== */

/* `o` as a double when it is an exact float or a compact exact int (1), else 0: the numbers
 * whose float arithmetic is one machine operation. A compact int has at most one 30-bit digit,
 * so it converts exactly, as PyLong_AsDouble would. */
static inline int ember_number_as_double(PyObject *o, double *d)
{
    if (PyFloat_CheckExact(o)) {
        *d = PyFloat_AS_DOUBLE(o);
        return 1;
    }
    if (PyLong_CheckExact(o) && _PyLong_IsCompact((PyLongObject *)o)) {
        *d = (double)_PyLong_CompactValue((PyLongObject *)o);
        return 1;
    }
    return 0;
}

/* Release of an operand of ember_number_result: an exact float goes back to the free list
 * through `ts` (ember_decref_float: no thread-local lookup, which _PyFloat_ExactDealloc makes),
 * an int through Py_DECREF. */
static inline void ember_release_number(PyThreadState *ts, PyObject *o)
{
    if (PyFloat_CheckExact(o)) {
        ember_decref_float(ts, o);
    }
    else {
        Py_DECREF(o);
    }
}

/* The float result `r` of an operation on a and b (both consumed; each an exact float or int),
 * written into an operand float that dies here, as the interpreter's float forms do; NULL
 * (MemoryError) when a new float cannot be made. */
static inline PyObject *ember_number_result(PyThreadState *ts, PyObject *a, PyObject *b, double r)
{
    PyObject *res;
    if (PyFloat_CheckExact(a) && ember_rc_is_one(a)) {
        ((PyFloatObject *)a)->ob_fval = r;
        res = a;
        ember_release_number(ts, b);
    }
    else if (PyFloat_CheckExact(b) && ember_rc_is_one(b)) {
        ((PyFloatObject *)b)->ob_fval = r;
        res = b;
        ember_release_number(ts, a);
    }
    else {
        res = ember_float_box(ts, r);
        ember_release_number(ts, a);
        ember_release_number(ts, b);
    }
    return res;
}

/* `+ - * /` where the result is a float computed by one machine operation: a float with a float
 * or a compact int (float_add ... float_div convert the int with PyLong_AsDouble; the int's
 * own operation returns NotImplemented first), and `/` of two compact ints (long_true_divide
 * divides such ints as doubles: both convert exactly, so the quotient is correctly rounded).
 * A zero divisor is left to the generic path, which raises. 1 with *res set (a and b consumed;
 * NULL with MemoryError), 0 when it does not apply (nothing consumed). CPython 3.13 quickens
 * none of the mixed forms nor `/`. ember_binary_op_float_first (runtime_fast.c) computes the
 * two-float case inline and leaves the mixed ones to ember_binary_op, which starts here. */
static inline int ember_float_arith(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb, PyObject **res)
{
    int div = nb == NB_TRUE_DIVIDE || nb == NB_INPLACE_TRUE_DIVIDE;
    if (!div && !PyFloat_CheckExact(a) && !PyFloat_CheckExact(b)) return 0;
    double x, y, r;
    if (!ember_number_as_double(a, &x) || !ember_number_as_double(b, &y) || !ember_float_arith_op(nb, x, y, &r)) return 0;
    *res = ember_number_result(ts, a, b, r);
    return 1;
}
/* BINARY_OP (generic): _PyEval_BinaryOps[nb](a, b). Float arithmetic (two floats, a float with
 * an int, `/`) is computed here (ember_float_arith); two ints or two strs that a specialised form
 * handles go to that form first: a site compiled with a stale profile (ints seen first, floats
 * later) then costs a call, not the whole number protocol, the way the interpreter would have
 * re-specialised it. */
PyObject *
ember_binary_op(PyThreadState *ts, PyObject *a, PyObject *b, i64 nb)
{
    PyObject *num;
    if (ember_float_arith(ts, a, b, nb, &num)) return num;
    if (PyType_HasFeature(Py_TYPE(a), Py_TPFLAGS_HEAPTYPE) && ember_binop_direct(ts, a, b, (int)nb, &num)) return num;
    if (Py_TYPE(a) == Py_TYPE(b)) {
        int add = nb == NB_ADD || nb == NB_INPLACE_ADD;
        int sub = nb == NB_SUBTRACT || nb == NB_INPLACE_SUBTRACT;
        int mul = nb == NB_MULTIPLY || nb == NB_INPLACE_MULTIPLY;
        if (PyLong_CheckExact(a)) {
            if (add) return ember_binary_op_add_int(ts, a, b, nb);
            if (sub) return ember_binary_op_subtract_int(ts, a, b, nb);
            if (mul) return ember_binary_op_multiply_int(ts, a, b, nb);
        }
        else if (PyUnicode_CheckExact(a) && add) {
            return ember_binary_op_add_unicode(ts, a, b, nb);
        }
    }
    PyObject *res;
    if (nb < 0 || nb > NB_INPLACE_XOR) {
        _PyErr_SetString(ts, PyExc_SystemError, "bad BINARY_OP oparg");
        res = NULL;
    }
    else {
        res = _PyEval_BinaryOps[nb](a, b);
    }
    Py_DECREF(a);
    Py_DECREF(b);
    return res;
}

/* UNARY_NEGATIVE: PyNumber_Negative. */
PyObject *
ember_unary_negative(PyObject *v)
{
    PyObject *res = PyNumber_Negative(v);
    Py_DECREF(v);
    return res;
}

/* UNARY_INVERT: PyNumber_Invert. */
PyObject *
ember_unary_invert(PyObject *v)
{
    PyObject *res = PyNumber_Invert(v);
    Py_DECREF(v);
    return res;
}

/* TO_BOOL (generic _TO_BOOL): PyObject_IsTrue -> Py_True / Py_False. The singletons and an
 * object whose type defines none of nb_bool, mp_length and sq_length (always true) are decided
 * here, in PyObject_IsTrue's order (Objects/object.c); the rest call it. */
PyObject *
ember_to_bool(PyObject *v)
{
    if (v == Py_True || v == Py_False) return v;
    if (v == Py_None) return Py_False;
    PyTypeObject *tp = Py_TYPE(v);
    if ((tp->tp_as_number == NULL || tp->tp_as_number->nb_bool == NULL) &&
        (tp->tp_as_mapping == NULL || tp->tp_as_mapping->mp_length == NULL) &&
        (tp->tp_as_sequence == NULL || tp->tp_as_sequence->sq_length == NULL)) {
        Py_DECREF(v);
        return Py_True;
    }
    int err = PyObject_IsTrue(v);
    Py_DECREF(v);
    if (err < 0) {
        return NULL;
    }
    return err ? Py_True : Py_False;
}

/* COMPARE_OP (generic _COMPARE_OP): PyObject_RichCompare(a, b, oparg >> 5), coerced to a
 * bool with PyObject_IsTrue when oparg & 16. */
PyObject *
ember_compare_op(PyObject *a, PyObject *b, i64 oparg)
{
    int op = (int)(oparg >> 5);
    PyObject *res;
    if (op < Py_LT || op > Py_GE) {
        _PyErr_SetString(PyThreadState_GetUnchecked(), PyExc_SystemError,
                         "bad COMPARE_OP oparg");
        res = NULL;
    }
    else {
        /* Same idea as ember_binary_op: exact floats and compact ints take the specialised
         * comparison even when the site was compiled for another type. */
        if (Py_TYPE(a) == Py_TYPE(b)) {
            if (PyFloat_CheckExact(a)) {
                return ember_compare_op_float(a, b, oparg);
            }
            if (PyLong_CheckExact(a) && _PyLong_IsCompact((PyLongObject *)a) &&
                _PyLong_IsCompact((PyLongObject *)b)) {
                return ember_compare_op_int(a, b, oparg);
            }
        }
        res = PyObject_RichCompare(a, b, op);
    }
    Py_DECREF(a);
    Py_DECREF(b);
    if (res == NULL) {
        return NULL;
    }
    if (oparg & 16) {
        int truth = PyObject_IsTrue(res);
        Py_DECREF(res);
        if (truth < 0) {
            return NULL;
        }
        res = truth ? Py_True : Py_False;
    }
    return res;
}

/* 1 when `item == el` is known without running any code: both exact ints that are compact
 * (long_richcompare compares their values), or both exact strs (unicode_compare_eq); *eq is then
 * the answer. 0 when the comparison must go through PyObject_RichCompareBool. */
static inline int exact_equal(PyObject *item, PyObject *el, int *eq)
{
    PyTypeObject *t = Py_TYPE(el);
    if (Py_TYPE(item) != t) return 0;
    if (t == &PyLong_Type) {
        if (!_PyLong_IsCompact((PyLongObject *)item) || !_PyLong_IsCompact((PyLongObject *)el)) return 0;
        *eq = _PyLong_CompactValue((PyLongObject *)item) == _PyLong_CompactValue((PyLongObject *)el);
        return 1;
    }
    if (t == &PyUnicode_Type) {
        *eq = _PyUnicode_Equal(item, el);
        return 1;
    }
    return 0;
}

/* `el in seq` for an exact list or tuple `seq` (borrowed, as `el`): what list_contains and
 * tuplecontains (Objects/listobject.c, tupleobject.c) compute, item by item in order, the first
 * item that is `el` or equals it. An item of el's exact type int (compact) or str is compared
 * here (exact_equal); any other goes through PyObject_RichCompareBool(item, el, Py_EQ) as
 * there, with its own reference to the item, and may run Python code that changes a list, so the
 * list's size is read again for every item. What this saves is the generic comparison's
 * recursion check, which finds the thread state in thread-local storage (a __tls_get_addr call
 * from the shared libpython): hexiom's `v in cell` on lists of small ints spent about 10 % of
 * its time in that chain. Returns 1, 0, or -1 with an exception set. */
static int contains_exact_items(PyObject *seq, PyObject *el)
{
    int is_list = PyList_CheckExact(seq);
    for (Py_ssize_t i = 0; i < (is_list ? PyList_GET_SIZE(seq) : PyTuple_GET_SIZE(seq)); i++) {
        PyObject *item = is_list ? PyList_GET_ITEM(seq, i) : PyTuple_GET_ITEM(seq, i);
        if (item == el) return 1;
        int eq;
        if (exact_equal(item, el, &eq)) {
            if (eq) return 1;
            continue;
        }
        Py_INCREF(item);
        int cmp = PyObject_RichCompareBool(item, el, Py_EQ);
        Py_DECREF(item);
        if (cmp != 0) return cmp;
    }
    return 0;
}

/* CONTAINS_OP: `a in b` via PySequence_Contains(b, a) (contains_exact_items for an exact list or
 * tuple `b`, which computes the same); `invert` is the oparg (`not in`). */
PyObject *
ember_contains_op(PyObject *a, PyObject *b, i64 invert)
{
    int res = (PyList_CheckExact(b) || PyTuple_CheckExact(b)) ? contains_exact_items(b, a) : PySequence_Contains(b, a);
    Py_DECREF(a);
    Py_DECREF(b);
    if (res < 0) {
        return NULL;
    }
    return (res ^ (int)(invert & 1)) ? Py_True : Py_False;
}

/* ======================================================================================
 * Globals
 * ====================================================================================== */

/* Where ember_load_global last found a name. A compiled LOAD_GLOBAL_MODULE / _BUILTIN site is
 * bound to the keys versions the interpreter had cached; once the module gains a global, its
 * dict has new keys, and every later execution of the site came here for the two full lookups
 * of _PyDict_LoadGlobal (docs/typed-hir.md, "Global loads after the module gains globals").
 * The memo is direct-mapped by the globals' keys object and the name, and an entry answers only
 * under the conditions of the interpreter's own LOAD_GLOBAL_MODULE / _BUILTIN: the dicts' keys
 * versions are the ones it recorded (assigned as the specialiser assigns them), and the key at
 * its index is the name itself (so a freed and reused name or keys object never answers). A
 * slot holding a valid entry of another name of the same dict is not taken over (two hot names
 * in one slot would each pay a scan of the keys at every miss). */
#define EMBER_GLOBAL_MEMO_SLOTS 256
typedef struct {
    PyDictKeysObject *gkeys;   /* the globals' keys (compared only) */
    PyObject *name;            /* compared only */
    uint32_t gver;             /* the globals' keys version when filled; 0: empty */
    uint32_t bver;             /* the builtins' keys version; 0: the name is in the globals */
    Py_ssize_t index;          /* entry index in those keys */
} GlobalMemo;
static GlobalMemo global_memo[EMBER_GLOBAL_MEMO_SLOTS];

static inline GlobalMemo *global_memo_slot(PyDictKeysObject *gkeys, PyObject *name)
{
    uintptr_t h = ((uintptr_t)gkeys >> 4) ^ ((uintptr_t)name >> 4) * 31u;
    return &global_memo[h % EMBER_GLOBAL_MEMO_SLOTS];
}

/* The value of entry `index` of `keys` when its key is `name` (a combined unicode table), else
 * NULL; borrowed. */
static inline PyObject *memo_entry(PyDictKeysObject *keys, Py_ssize_t index, PyObject *name)
{
    if (!DK_IS_UNICODE(keys) || index < 0 || index >= keys->dk_nentries) return NULL;
    PyDictUnicodeEntry *ep = &DK_UNICODE_ENTRIES(keys)[index];
    return ep->me_key == name ? ep->me_value : NULL;
}

/* The memo's answer for `name`, a new reference, or NULL (no exception). */
static PyObject *global_memo_get(PyDictObject *g, PyDictObject *b, PyObject *name)
{
    GlobalMemo *m = global_memo_slot(g->ma_keys, name);
    if (m->gver == 0 || m->gkeys != g->ma_keys || m->name != name || g->ma_keys->dk_version != m->gver ||
        g->ma_values != NULL)
        return NULL;
    PyObject *v;
    if (m->bver == 0) v = memo_entry(g->ma_keys, m->index, name);
    else if (b->ma_keys->dk_version == m->bver && b->ma_values == NULL) v = memo_entry(b->ma_keys, m->index, name);
    else v = NULL;
    return v ? Py_NewRef(v) : NULL;
}

/* Records where `name` is, after a lookup found it. */
static void global_memo_put(PyDictObject *g, PyDictObject *b, PyObject *name)
{
    GlobalMemo *m = global_memo_slot(g->ma_keys, name);
    /* A valid entry of another name of the same dict keeps its slot. */
    if (m->gver != 0 && m->name != name && m->gkeys == g->ma_keys && m->gver == g->ma_keys->dk_version) return;
    m->gver = 0;
    if (!PyUnicode_CheckExact(name) || g->ma_values != NULL || !DK_IS_UNICODE(g->ma_keys)) return;
    Py_ssize_t i = ember_unicode_keys_index(g->ma_keys, name);
    uint32_t bver = 0;
    if (i < 0) {
        if (b->ma_values != NULL || !DK_IS_UNICODE(b->ma_keys)) return;
        i = ember_unicode_keys_index(b->ma_keys, name);
        if (i < 0 || (bver = ember_keys_version(b->ma_keys)) == 0) return;
    }
    /* An equal but not identical key would never answer (memo_entry): not recorded. */
    if (DK_UNICODE_ENTRIES(bver ? b->ma_keys : g->ma_keys)[i].me_key != name) return;
    uint32_t gver = ember_keys_version(g->ma_keys);
    if (gver == 0) return;
    *m = (GlobalMemo){g->ma_keys, name, gver, bver, i};
}

/* LOAD_GLOBAL (generic _LOAD_GLOBAL): the memo, then _PyDict_LoadGlobal when globals and
 * builtins are exact dicts, else the mapping protocol; NameError with the interpreter's
 * message. */
PyObject *
ember_load_global(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *name)
{
    PyObject *globals = f->f_globals;
    PyObject *builtins = f->f_builtins;
    PyObject *res;
    if (PyDict_CheckExact(globals) && PyDict_CheckExact(builtins)) {
        PyDictObject *g = (PyDictObject *)globals, *b = (PyDictObject *)builtins;
        res = global_memo_get(g, b, name);
        if (res != NULL) return res;
        /* In 3.13.0 this returns a NEW reference (measured), or NULL with or without an
         * exception (without one: the name is in neither dict). */
        res = _PyDict_LoadGlobal(g, b, name);
        if (res == NULL && ts->current_exception == NULL) {
            _PyEval_FormatExcCheckArg(ts, PyExc_NameError, EMBER_NAME_ERROR_MSG, name);
        }
        if (res != NULL) global_memo_put(g, b, name);
        return res;
    }
    /* Slow path: globals or builtins is not an exact dict. */
    if (PyMapping_GetOptionalItem(globals, name, &res) < 0) {
        return NULL;
    }
    if (res == NULL) {
        if (PyMapping_GetOptionalItem(builtins, name, &res) < 0) {
            return NULL;
        }
        if (res == NULL) {
            _PyEval_FormatExcCheckArg(ts, PyExc_NameError, EMBER_NAME_ERROR_MSG, name);
            return NULL;
        }
    }
    return res;
}

/* STORE_GLOBAL: PyDict_SetItem(globals, name, v). */
int
ember_store_global(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *name, PyObject *v)
{
    int err = PyDict_SetItem(f->f_globals, name, v);
    Py_DECREF(v);
    return err ? -1 : 0;
}

/* ======================================================================================
 * Attributes
 * ====================================================================================== */

/* LOAD_ATTR (generic, attribute form): PyObject_GetAttr. */
PyObject *
ember_load_attr(PyThreadState *ts, PyObject *owner, PyObject *name)
{
    PyObject *res = PyObject_GetAttr(owner, name);
    Py_DECREF(owner);
    return res;
}

/* LOAD_ATTR (generic, method form, oparg & 1): _PyObject_GetMethod. An unbound method gives
 * (method, self = owner); anything else gives (attribute, NULL). */
PyObject *
ember_load_method(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject **self_out)
{
    PyObject *meth = NULL;
    if (_PyObject_GetMethod(owner, name, &meth)) {
        *self_out = owner;              /* ownership of owner moves to self */
        return meth;
    }
    Py_DECREF(owner);
    *self_out = NULL;
    return meth;                        /* NULL with an exception on failure */
}

/* STORE_ATTR (generic): PyObject_SetAttr(owner, name, v). */
int
ember_store_attr(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v)
{
    int err = PyObject_SetAttr(owner, name, v);
    Py_DECREF(v);
    Py_DECREF(owner);
    return err ? -1 : 0;
}

/* ======================================================================================
 * Subscripts
 * ====================================================================================== */

/* BINARY_SUBSCR (generic): PyObject_GetItem. */
PyObject *
ember_binary_subscr(PyObject *container, PyObject *sub)
{
    PyObject *res = PyObject_GetItem(container, sub);
    Py_DECREF(container);
    Py_DECREF(sub);
    return res;
}

/* STORE_SUBSCR (generic): container[sub] = v via PyObject_SetItem. */
int
ember_store_subscr(PyObject *container, PyObject *sub, PyObject *v)
{
    int err = PyObject_SetItem(container, sub, v);
    Py_DECREF(v);
    Py_DECREF(container);
    Py_DECREF(sub);
    return err ? -1 : 0;
}

/* DELETE_SUBSCR: del container[sub] via PyObject_DelItem. */
int
ember_delete_subscr(PyObject *container, PyObject *sub)
{
    int err = PyObject_DelItem(container, sub);
    Py_DECREF(container);
    Py_DECREF(sub);
    return err ? -1 : 0;
}

/* ======================================================================================
 * Building
 * ====================================================================================== */

/* BUILD_TUPLE: _PyTuple_FromArraySteal (steals the items, also on failure). */
PyObject *
ember_build_tuple(PyObject **items, i64 n)
{
    return _PyTuple_FromArraySteal(items, (Py_ssize_t)n);
}

/* BUILD_LIST: _PyList_FromArraySteal (steals the items, also on failure). */
PyObject *
ember_build_list(PyObject **items, i64 n)
{
    return _PyList_FromArraySteal(items, (Py_ssize_t)n);
}

static void
ember_decref_array(PyObject **items, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(items[i]);
    }
}

/* BUILD_MAP: _PyDict_FromItems over k0 v0 k1 v1 ... (it does not steal; inputs released). */
PyObject *
ember_build_map(PyObject **items, i64 n)
{
    PyObject *map = _PyDict_FromItems(items, 2, items + 1, 2, (Py_ssize_t)n);
    ember_decref_array(items, 2 * (Py_ssize_t)n);
    return map;
}

/* BUILD_CONST_KEY_MAP: values v0..v(n-1) then the keys tuple; _PyDict_FromItems. */
PyObject *
ember_build_const_key_map(PyObject **items, i64 n)
{
    PyObject *keys = items[n];
    PyObject *map;
    if (!PyTuple_CheckExact(keys) || PyTuple_GET_SIZE(keys) != (Py_ssize_t)n) {
        _PyErr_SetString(PyThreadState_GetUnchecked(), PyExc_SystemError,
                         "bad BUILD_CONST_KEY_MAP keys argument");
        map = NULL;
    }
    else {
        map = _PyDict_FromItems(&PyTuple_GET_ITEM(keys, 0), 1, items, 1, (Py_ssize_t)n);
    }
    ember_decref_array(items, (Py_ssize_t)n + 1);
    return map;
}

/* LIST_EXTEND: _PyList_Extend (list borrowed, iterable consumed), with the interpreter's
 * "Value after * must be an iterable" TypeError. */
int
ember_list_extend(PyObject *list, PyObject *iterable)
{
    PyObject *none_val = _PyList_Extend((PyListObject *)list, iterable);
    if (none_val == NULL) {
        PyThreadState *ts = PyThreadState_GetUnchecked();
        if (_PyErr_ExceptionMatches(ts, PyExc_TypeError) &&
            Py_TYPE(iterable)->tp_iter == NULL && !PySequence_Check(iterable)) {
            _PyErr_Clear(ts);
            _PyErr_Format(ts, PyExc_TypeError,
                          "Value after * must be an iterable, not %.200s",
                          Py_TYPE(iterable)->tp_name);
        }
        Py_DECREF(iterable);
        return -1;
    }
    Py_DECREF(none_val);
    Py_DECREF(iterable);
    return 0;
}

/* ======================================================================================
 * Calls
 * ====================================================================================== */

/* CALL / CALL_KW (generic, non-inlined path): base = [callable, self_or_null, args...].
 * With self_or_null the call gets self + args; without it, a bound method (PyMethod_Type)
 * is unpacked into its function and self like the interpreter does. Everything (callable,
 * self, args, kwnames) is consumed. */
static inline PyObject *call_impl(PyThreadState *ts, PyObject **base, i64 nargs, PyObject *kwnames,
                                  EmberResumeIC *ic);

PyObject *
ember_call(PyThreadState *ts, PyObject **base, i64 nargs, PyObject *kwnames)
{
    return call_impl(ts, base, nargs, kwnames, NULL);
}

/* CALL without keywords from a site with an entry cache (ember_call_direct_ic). */
PyObject *
ember_call_ic(PyThreadState *ts, PyObject **base, i64 nargs, EmberResumeIC *ic)
{
    return call_impl(ts, base, nargs, NULL, ic);
}

/* The next item of generator `gen` for collect_compiled_gen and reduce_compiled_gen: resumed
 * directly while it can be (ember_gen_next_now), else through PyIter_Next. NULL at its end or
 * with an exception. */
static inline PyObject *gen_next(PyThreadState *ts, PyObject *gen, EmberResumeIC *ic)
{
    PyObject *item;
    if (!ember_gen_next_now(ts, (PyGenObject *)gen, &item, ic)) item = PyIter_Next(gen);
    return item;
}

/* Items a tuple(g) of a compiled generator collects on the C stack before it moves them into a
 * list (collect_compiled_gen): nqueens' permutations are tuples of 8, each of which went
 * through a list of its own first (PyList_New, appends, PyList_AsTuple, list_dealloc). */
#define EMBER_COLLECT_STACK_ITEMS 16

/* tuple(g), list(g), set(g) or frozenset(g) (`type` exactly one of those builtins) of an exact
 * generator `g` whose code is compiled, as generator expressions feeding them are (nqueens):
 * the items are taken by resuming the compiled code directly (ember_gen_next_now, as FOR_ITER
 * does), not through gen_iternext, the interpreter's frame evaluation and Ember's PEP 523 hook
 * for each item, as the builtins' own loops (PySequence_Tuple, list_extend, set_update_internal)
 * would. The result is the same: the items in order, added to a list or set as the builtin adds
 * them, and an exception from the generator propagates with the partial result dropped; a step
 * that cannot run compiled (an event pending, say) is taken by PyIter_Next. A tuple's first
 * EMBER_COLLECT_STACK_ITEMS items wait in a C array, and a tuple of no more is made from it
 * directly (_PyTuple_FromArraySteal); a longer one goes on in a list, as the others do. 1 with
 * *res set (NULL: an exception), or 0 with nothing consumed or resumed when the generator cannot
 * be resumed in compiled code now (the caller then calls the builtin). `gen` stays the caller's. */
static int collect_compiled_gen(PyThreadState *ts, PyObject *type, PyObject *gen, EmberResumeIC *ic, PyObject **res)
{
    int as_set = type == (PyObject *)&PySet_Type || type == (PyObject *)&PyFrozenSet_Type;
    int as_tuple = type == (PyObject *)&PyTuple_Type;
    PyObject *acc = NULL;
    if (!as_tuple) {
        acc = as_set ? PySet_New(NULL) : PyList_New(0);
        if (acc == NULL) return 0;   /* the builtin meets the same MemoryError */
    }
    PyObject *item;
    if (!ember_gen_next_now(ts, (PyGenObject *)gen, &item, ic)) {
        Py_XDECREF(acc);
        return 0;
    }
    ember_gen_collected++;
    PyObject *stack[EMBER_COLLECT_STACK_ITEMS];
    Py_ssize_t n = 0;
    /* item NULL: the generator ended (no exception) or raised. */
    while (item != NULL) {
        int err;
        if (as_tuple && acc == NULL) {
            if (n < EMBER_COLLECT_STACK_ITEMS) {
                stack[n++] = item;   /* the array takes the reference */
                item = gen_next(ts, gen, ic);
                continue;
            }
            acc = _PyList_FromArraySteal(stack, n);   /* steals the array's items, also on failure */
            n = 0;
            if (acc == NULL) {
                Py_DECREF(item);
                break;
            }
        }
        err = as_set ? PySet_Add(acc, item) : PyList_Append(acc, item);
        Py_DECREF(item);
        if (err < 0) break;
        item = gen_next(ts, gen, ic);
    }
    if (PyErr_Occurred()) {
        Py_CLEAR(acc);
        while (n > 0) Py_DECREF(stack[--n]);
    }
    else if (as_tuple && acc == NULL) acc = _PyTuple_FromArraySteal(stack, n);
    else if (as_tuple) Py_SETREF(acc, PyList_AsTuple(acc));
    else if (type == (PyObject *)&PyFrozenSet_Type) Py_SETREF(acc, PyFrozenSet_New(acc));
    *res = acc;
    return 1;
}

/* `callable(gen)` for the builtin sum, any or all (no start, no keywords) and an exact generator
 * whose code Ember runs compiled: the items are taken by resuming it directly, not through
 * gen_iternext and the interpreter's frame evaluation (the PEP 523 hook) per item, as
 * collect_compiled_gen does for tuple() and list(). 0 with nothing done when the generator
 * cannot be resumed so (the builtin is called); else 1 with *res, a new reference or NULL with
 * an exception.
 *
 * What each computes is Python/bltinmodule.c's (3.13):
 * - any / all: PyObject_IsTrue of each item in order, stopping at the first true (any) or false
 *   (all) one and leaving the generator suspended there.
 * - sum: builtin_sum's int phase with start 0: exact ints and bools that are compact are added
 *   in a Py_ssize_t while it does not overflow. At the first other item (or an overflow) the
 *   partial sum becomes an int and PyNumber_Add(partial, item) is computed, as there. What
 *   builtin_sum does next depends only on that result: an exact float enters its float phase,
 *   anything else its generic PyNumber_Add loop. Both are reached by calling the builtin itself
 *   on the rest of the generator with the result as start, except for a str, bytes or
 *   bytearray result, which sum() refuses as a start: its generic loop is run here. (An exact
 *   int result restarts the builtin's int phase, which adds exact ints and bools to the same
 *   values PyNumber_Add gives.) */
static int reduce_compiled_gen(PyThreadState *ts, PyObject *callable, PyObject *gen, EmberResumeIC *ic,
                               PyObject **res)
{
    PyObject *item;
    if (!ember_gen_next_now(ts, (PyGenObject *)gen, &item, ic)) return 0;
    ember_gen_collected++;
    if (callable != ember_builtin_sum) {
        int want = callable == ember_builtin_any;   /* any: stop at a true item; all: at a false one */
        for (; item != NULL; item = gen_next(ts, gen, ic)) {
            int t = PyObject_IsTrue(item);
            Py_DECREF(item);
            if (t < 0) {
                *res = NULL;
                return 1;
            }
            if (t == want) {
                *res = Py_NewRef(want ? Py_True : Py_False);
                return 1;
            }
        }
        *res = PyErr_Occurred() ? NULL : Py_NewRef(want ? Py_False : Py_True);
        return 1;
    }
    Py_ssize_t acc = 0;
    for (; item != NULL; item = gen_next(ts, gen, ic)) {
        if ((PyLong_CheckExact(item) || PyBool_Check(item)) && _PyLong_IsCompact((PyLongObject *)item) &&
            !__builtin_add_overflow(acc, (Py_ssize_t)_PyLong_CompactValue((PyLongObject *)item), &acc)) {
            Py_DECREF(item);
            continue;
        }
        break;
    }
    if (item == NULL) {
        *res = PyErr_Occurred() ? NULL : PyLong_FromSsize_t(acc);
        return 1;
    }
    PyObject *partial = PyLong_FromSsize_t(acc);
    PyObject *result = partial ? PyNumber_Add(partial, item) : NULL;
    Py_XDECREF(partial);
    Py_DECREF(item);
    if (result == NULL) {
        *res = NULL;
        return 1;
    }
    if (PyUnicode_Check(result) || PyBytes_Check(result) || PyByteArray_Check(result)) {
        while (result != NULL && (item = gen_next(ts, gen, ic)) != NULL) {
            Py_SETREF(result, PyNumber_Add(result, item));
            Py_DECREF(item);
        }
        if (result != NULL && PyErr_Occurred()) Py_CLEAR(result);
        *res = result;
        return 1;
    }
    PyObject *args[2] = {gen, result};
    *res = PyObject_Vectorcall(ember_builtin_sum, args, 2, NULL);
    Py_DECREF(result);
    return 1;
}

static inline PyObject *call_impl(PyThreadState *ts, PyObject **base, i64 nargs, PyObject *kwnames,
                                  EmberResumeIC *ic)
{
    PyObject *callable = base[0];
    PyObject **args = base + 2;
    Py_ssize_t total = (Py_ssize_t)nargs;
    if (base[1] != NULL) {
        args--;
        total++;
    }
    else if (kwnames == NULL && Py_TYPE(callable) == &PyType_Type) {
        PyObject *res;
        if (nargs == 1 && ic != NULL && PyGen_CheckExact(args[0]) &&
            (callable == (PyObject *)&PyTuple_Type || callable == (PyObject *)&PyList_Type ||
             callable == (PyObject *)&PySet_Type || callable == (PyObject *)&PyFrozenSet_Type) &&
            collect_compiled_gen(ts, callable, args[0], ic, &res)) {
            Py_DECREF(callable);
            Py_DECREF(args[0]);
            return res;
        }
        if (ember_call_class(ts, base, (Py_ssize_t)nargs, &res)) {
            return res;   /* instantiated: the class, the arguments and the new self are dealt with */
        }
    }
    else if (kwnames == NULL && nargs == 1 && ic != NULL && PyGen_CheckExact(args[0]) &&
             (callable == ember_builtin_sum || callable == ember_builtin_any || callable == ember_builtin_all)) {
        PyObject *res;
        if (reduce_compiled_gen(ts, callable, args[0], ic, &res)) {
            Py_DECREF(callable);
            Py_DECREF(args[0]);
            return res;
        }
    }
    else if (Py_TYPE(callable) == &PyMethod_Type) {
        PyObject *self = ((PyMethodObject *)callable)->im_self;
        PyObject *func = ((PyMethodObject *)callable)->im_func;
        base[1] = Py_NewRef(self);
        base[0] = Py_NewRef(func);
        Py_DECREF(callable);
        callable = func;
        args--;
        total++;
    }
    PyObject *res;
    if (kwnames == NULL && ember_call_direct_ic(ts, callable, args, total, &res, ic)) {
        return res;   /* compiled callee: callable and args were consumed */
    }
    if (kwnames == NULL && ember_call_interpreted(ts, callable, args, total, &res)) {
        return res;   /* interpreted Python callee: callable and args were consumed */
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    /* PyObject_Vectorcall with the thread state in hand: it would look it up in thread-local
     * storage (a __tls_get_addr call from the shared libpython) and then do exactly this. */
    res = _PyObject_VectorcallTstate(ts, callable, args, (size_t)(total - nkw) | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                     kwnames);
    Py_XDECREF(kwnames);
    Py_DECREF(callable);
    for (Py_ssize_t i = 0; i < total; i++) {
        Py_DECREF(args[i]);
    }
    return res;
}

/* ======================================================================================
 * Iteration
 * ====================================================================================== */

/* GET_ITER: PyObject_GetIter; an instance of a Python class whose __iter__ is compiled gets
 * its iterator from the compiled code directly (ember_iter_direct). */
PyObject *
ember_get_iter(PyObject *iterable)
{
    PyObject *it;
    if (Py_TYPE(iterable)->tp_iter == ember_slot_tp_iter &&
        ember_iter_direct(PyThreadState_GetUnchecked(), iterable, &it)) {
        Py_DECREF(iterable);
        return it;
    }
    it = PyObject_GetIter(iterable);
    Py_DECREF(iterable);
    return it;
}

/* FOR_ITER (generic _FOR_ITER, no monitoring): tp_iternext; a StopIteration raised by the
 * iterator is cleared and means "exhausted". The iterator is borrowed. */
PyObject *
ember_for_iter(PyThreadState *ts, PyObject *it)
{
    if (Py_TYPE(it) == &PyGen_Type) {
        /* A compiled generator resumes directly (gen_iternext's result rules: a return
         * value ends the loop like the StopIteration it would carry). Compiled FOR_ITER
         * sites tried the common case inline already (ember_for_iter_gen). */
        PyObject *res;
        int r = ember_gen_send_direct(ts, (PyGenObject *)it, Py_None, &res);
        if (r == PYGEN_NEXT) return res;
        if (r == PYGEN_RETURN) { Py_DECREF(res); return NULL; }
        if (r == PYGEN_ERROR) return NULL;
    }
    PyObject *next = (*Py_TYPE(it)->tp_iternext)(it);
    if (next == NULL && ts->current_exception != NULL) {
        if (!_PyErr_ExceptionMatches(ts, PyExc_StopIteration)) {
            return NULL;                /* a real error */
        }
        _PyErr_Clear(ts);               /* iterator ended normally */
    }
    return next;
}

/* ======================================================================================
 * Exceptions
 * ====================================================================================== */

/* Instantiate an exception class with no arguments, checking the result is an instance
 * (do_raise in ceval.c). Returns a new reference or NULL. Borrows cls. */
static PyObject *
ember_instantiate_exc(PyThreadState *ts, PyObject *cls)
{
    PyObject *inst = PyObject_CallNoArgs(cls);
    if (inst == NULL) {
        return NULL;
    }
    if (!PyExceptionInstance_Check(inst)) {
        _PyErr_Format(ts, PyExc_TypeError,
                      "calling %R should have returned an instance of "
                      "BaseException, not %R",
                      cls, Py_TYPE(inst));
        Py_DECREF(inst);
        return NULL;
    }
    return inst;
}

/* The bare `raise` of do_raise: re-raise the exception being handled. */
static void
ember_reraise(PyThreadState *ts)
{
    PyObject *exc = PyErr_GetHandledException();
    if (exc == NULL) {
        _PyErr_SetString(ts, PyExc_RuntimeError, "No active exception to reraise");
        return;
    }
    PyErr_SetRaisedException(exc);
}

/* RAISE_VARARGS n (ceval.c do_raise): 0 re-raises the handled exception (RuntimeError
 * "No active exception to reraise" if none), 1 raises exc (a class is instantiated), 2 also
 * sets exc.__cause__ (None clears it). Consumes exc and cause; always returns NULL. */
PyObject *
ember_raise_varargs(PyThreadState *ts, PyObject *exc, PyObject *cause, i64 n)
{
    PyObject *value = NULL, *type = NULL;

    switch (n) {
    case 0:
        Py_XDECREF(exc);
        Py_XDECREF(cause);
        ember_reraise(ts);
        return NULL;
    case 1:
        Py_XDECREF(cause);
        cause = NULL;
        break;
    case 2:
        break;
    default:
        Py_XDECREF(exc);
        Py_XDECREF(cause);
        _PyErr_SetString(ts, PyExc_SystemError, "bad RAISE_VARARGS oparg");
        return NULL;
    }
    if (exc == NULL) {              /* n >= 1 always carries an exception */
        Py_XDECREF(cause);
        ember_reraise(ts);
        return NULL;
    }

    if (PyExceptionClass_Check(exc)) {
        type = exc;                 /* our reference to exc is now type's */
        value = ember_instantiate_exc(ts, type);
        if (value == NULL) {
            goto fail;
        }
    }
    else if (PyExceptionInstance_Check(exc)) {
        value = exc;                /* our reference to exc is now value's */
        type = Py_NewRef(PyExceptionInstance_Class(exc));
    }
    else {
        Py_DECREF(exc);
        _PyErr_SetString(ts, PyExc_TypeError, "exceptions must derive from BaseException");
        goto fail;
    }

    if (cause != NULL) {
        PyObject *fixed_cause;
        if (PyExceptionClass_Check(cause)) {
            fixed_cause = ember_instantiate_exc(ts, cause);
            if (fixed_cause == NULL) {
                goto fail;
            }
            Py_DECREF(cause);
        }
        else if (PyExceptionInstance_Check(cause)) {
            fixed_cause = cause;    /* reference moves to fixed_cause */
        }
        else if (Py_IsNone(cause)) {
            Py_DECREF(cause);
            fixed_cause = NULL;
        }
        else {
            _PyErr_SetString(ts, PyExc_TypeError,
                             "exception causes must derive from BaseException");
            goto fail;
        }
        cause = NULL;
        PyException_SetCause(value, fixed_cause);   /* steals fixed_cause */
    }

    PyErr_SetObject(type, value);   /* chains __context__; increfs its arguments */
    Py_DECREF(value);
    Py_DECREF(type);
    return NULL;

fail:
    Py_XDECREF(value);
    Py_XDECREF(type);
    Py_XDECREF(cause);
    return NULL;
}

/* ======================================================================================
 * Sequences
 * ====================================================================================== */

/* UNPACK_SEQUENCE n: UNPACK_SEQUENCE_TUPLE / _LIST for an exact tuple or list of length n,
 * else _PyEval_UnpackIterable. out[] is in stack order: out[0] = last element (bottom),
 * out[n-1] = first element (top). */
int
ember_unpack_sequence_slow(PyObject *seq, i64 n, PyObject **out)
{
    PyObject **items = NULL;
    if (PyTuple_CheckExact(seq) && PyTuple_GET_SIZE(seq) == n) {
        items = _PyTuple_ITEMS(seq);
    }
    else if (PyList_CheckExact(seq) && PyList_GET_SIZE(seq) == n) {
        items = _PyList_ITEMS(seq);
    }
    if (items != NULL) {
        for (i64 i = 0; i < n; i++) {
            out[i] = Py_NewRef(items[n - 1 - i]);
        }
        Py_DECREF(seq);
        return 0;
    }
    if (n < 0 || n > INT_MAX) {
        Py_DECREF(seq);
        _PyErr_SetString(PyThreadState_GetUnchecked(), PyExc_SystemError,
                         "bad UNPACK_SEQUENCE oparg");
        return -1;
    }
    /* Writes the first element at out[n-1] and goes down; cleans up after itself on error. */
    int ok = _PyEval_UnpackIterable(PyThreadState_GetUnchecked(), seq, (int)n, -1, out + n);
    Py_DECREF(seq);
    return ok ? 0 : -1;
}

/* STORE_FAST of src[0..n) (owned) into dst[0..n) in order, each old value released right after
 * its slot is overwritten. */
static inline void store_locals_in_order(PyObject **dst, PyObject *const *src, i64 n)
{
    for (i64 k = 0; k < n; k++) {
        PyObject *old = dst[k];
        dst[k] = src[k];
        Py_XDECREF(old);
    }
}

int
ember_unpack_store_slow(PyObject *seq, i64 n, PyObject **dst)
{
    PyObject *items[16];            /* item 0 first */
    if (n < 1 || n > 16) {
        Py_DECREF(seq);
        _PyErr_SetString(PyThreadState_GetUnchecked(), PyExc_SystemError, "bad UnpackStore count");
        return -1;
    }
    if (PyTuple_CheckExact(seq) && PyTuple_GET_SIZE(seq) == n) {
        /* UNPACK_SEQUENCE_TUPLE without the copy: every item is referenced before any old
         * value is released (as the interpreter's stack holds them all), and a tuple's items
         * cannot change meanwhile. The tuple itself is released last instead of first, which
         * nothing can observe (an exact tuple has no finaliser and no weak references). */
        PyObject **tuple_items = &PyTuple_GET_ITEM(seq, 0);
        for (i64 k = 0; k < n; k++) Py_INCREF(tuple_items[k]);
        store_locals_in_order(dst, tuple_items, n);
        Py_DECREF(seq);
        return 0;
    }
    if (PyList_CheckExact(seq) && PyList_GET_SIZE(seq) == n) {
        /* UNPACK_SEQUENCE_LIST: a snapshot of the items first (a finaliser run by a released old
         * value may change the list), then the list is released, as in the interpreter. */
        PyObject **list_items = _PyList_ITEMS(seq);
        for (i64 k = 0; k < n; k++) items[k] = Py_NewRef(list_items[k]);
        Py_DECREF(seq);
    }
    else {
        /* Any other iterable: ember_unpack_sequence fills stack order (item 0 last). */
        PyObject *stack[16];
        if (ember_unpack_sequence_slow(seq, n, stack) < 0) return -1;
        for (i64 k = 0; k < n; k++) items[k] = stack[n - 1 - k];
    }
    store_locals_in_order(dst, items, n);
    return 0;
}

/* ======================================================================================
 * f-strings
 * ====================================================================================== */

/* FORMAT_SIMPLE: an exact str passes through, anything else is PyObject_Format(v, NULL). */
PyObject *
ember_format_simple(PyObject *v)
{
    if (PyUnicode_CheckExact(v)) {
        return v;
    }
    PyObject *res = PyObject_Format(v, NULL);
    Py_DECREF(v);
    return res;
}

/* FORMAT_WITH_SPEC: PyObject_Format(v, spec). */
PyObject *
ember_format_with_spec(PyObject *v, PyObject *spec)
{
    PyObject *res = PyObject_Format(v, spec);
    Py_DECREF(v);
    Py_DECREF(spec);
    return res;
}

/* CONVERT_VALUE: !s, !r, !a (the interpreter's _PyEval_ConversionFuncs table). */
PyObject *
ember_convert_value(PyObject *v, i64 oparg)
{
    PyObject *res;
    switch (oparg) {
    case FVC_STR: res = PyObject_Str(v); break;
    case FVC_REPR: res = PyObject_Repr(v); break;
    case FVC_ASCII: res = PyObject_ASCII(v); break;
    default:
        PyErr_Format(PyExc_SystemError, "unexpected conversion flag %d", (int)oparg);
        res = NULL;
    }
    Py_DECREF(v);
    return res;
}

/* BUILD_STRING: join the pieces with the empty string (_PyUnicode_JoinArray). */
PyObject *
ember_build_string(PyObject **items, i64 n)
{
    PyObject *res = _PyUnicode_JoinArray(Py_GetConstantBorrowed(Py_CONSTANT_EMPTY_STR), items, (Py_ssize_t)n);
    for (i64 i = 0; i < n; i++) {
        Py_DECREF(items[i]);
    }
    return res;
}

/* SEND's call of receiver.send(v) (Python/bytecodes.c _SEND, neither an exact generator nor
 * an iterator receiving None): new reference, or NULL with an exception. */
PyObject *ember_send_method(PyObject *receiver, PyObject *v)
{
    static PyObject *str_send;   /* interned "send" */
    if (!str_send && !(str_send = PyUnicode_InternFromString("send"))) return NULL;
    return PyObject_CallMethodOneArg(receiver, str_send, v);
}

/* SEND's receiver raised or stopped: 1 with *out = the StopIteration value (the interpreter also
 * emits a monitoring RAISE event for it; compiled code never runs while a monitoring tool is
 * active), -1 with the exception set otherwise. */
int ember_send_stopped(PyObject **out)
{
    PyObject *retval;
    if (_PyGen_FetchStopIterationValue(&retval) == 0) {
        *out = retval;
        return 1;
    }
    return -1;
}

/* ======================================================================================
 * UnboxNumber's int path (typed HIR, src/hir/op.rs)
 * ====================================================================================== */

double
ember_number_from_int(PyObject *v)
{
    if (PyLong_CheckExact(v) && _PyLong_IsCompact((PyLongObject *)v)) {
        return (double)_PyLong_CompactValue((PyLongObject *)v);
    }
    uint64_t bits = EMBER_NOT_A_NUMBER_BITS;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

int
ember_int_to_i64(PyObject *v, i64 *out)
{
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow != 0 || (x == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *out = (i64)x;
    return 1;
}
