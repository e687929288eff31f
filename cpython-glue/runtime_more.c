/* runtime_more.c -- runtime helpers for cells and closures, function creation, slices,
 * set/dict displays, CALL_FUNCTION_EX and the intrinsics (CPython 3.13). Each mirrors the
 * instruction of the same name in Python/bytecodes.c; conventions are ember_runtime.h's
 * (inputs consumed unless borrowed, NULL / -1 = exception set). Not inlined into JIT code. */
#include "ember_runtime.h"
#include "internal/pycore_ceval.h"       /* _PyEval_FormatExcUnbound, _PyEval_FormatKwargsError */
#include "internal/pycore_code.h"
#include "internal/pycore_dict.h"        /* _PyDict_MergeEx, _PyDict_SetItem_Take2 */
#include "internal/pycore_function.h"    /* _PyFunction_SetVersion */
#include "internal/pycore_intrinsics.h"  /* _PyIntrinsics_UnaryFunctions / BinaryFunctions */
#include "internal/pycore_opcode_utils.h" /* MAKE_FUNCTION_* flags */
#include "internal/pycore_setobject.h"   /* _PySet_Update */
#include "internal/pycore_typeobject.h"  /* _PySuper_Lookup */

static inline PyCodeObject *frame_code(_PyInterpreterFrame *f) { return (PyCodeObject *)f->f_executable; }

/* MAKE_CELL: wrap local `idx` (possibly NULL) in a new cell. */
int ember_make_cell(PyThreadState *ts, _PyInterpreterFrame *f, i64 idx)
{
    PyObject *initial = f->localsplus[idx];
    PyObject *cell = PyCell_New(initial);
    if (cell == NULL) return -1;
    f->localsplus[idx] = cell;
    Py_XDECREF(initial);
    return 0;
}

/* COPY_FREE_VARS n: the function's closure cells into the last n slots of localsplus. */
void ember_copy_free_vars(_PyInterpreterFrame *f, i64 n)
{
    PyObject *closure = ((PyFunctionObject *)f->f_funcobj)->func_closure;
    int offset = frame_code(f)->co_nlocalsplus - (int)n;
    for (i64 i = 0; i < n; i++) f->localsplus[offset + i] = Py_NewRef(PyTuple_GET_ITEM(closure, i));
}

/* LOAD_DEREF and STORE_DEREF are in runtime_fast.c (inlined into compiled code). */

/* DELETE_DEREF. */
int ember_delete_deref(PyThreadState *ts, _PyInterpreterFrame *f, i64 idx)
{
    PyCellObject *cell = (PyCellObject *)f->localsplus[idx];
    PyObject *old = cell->ob_ref;
    if (old == NULL) {
        _PyEval_FormatExcUnbound(ts, frame_code(f), (int)idx);
        return -1;
    }
    cell->ob_ref = NULL;
    Py_DECREF(old);
    return 0;
}

/* MAKE_FUNCTION: a function of `code` over the frame's globals, versioned like the interpreter's. */
PyObject *ember_make_function(_PyInterpreterFrame *f, PyObject *code)
{
    PyFunctionObject *func = (PyFunctionObject *)PyFunction_New(code, f->f_globals);
    Py_DECREF(code);
    if (func == NULL) return NULL;
    _PyFunction_SetVersion(func, ((PyCodeObject *)code)->co_version);
    return (PyObject *)func;
}

/* SET_FUNCTION_ATTRIBUTE flag: stores (steals) attr into func; returns func. */
PyObject *ember_set_function_attribute(PyObject *attr, PyObject *func, i64 flag)
{
    PyFunctionObject *fn = (PyFunctionObject *)func;
    PyObject **slot;
    switch (flag) {
    case MAKE_FUNCTION_CLOSURE: slot = &fn->func_closure; break;
    case MAKE_FUNCTION_ANNOTATIONS: slot = &fn->func_annotations; break;
    case MAKE_FUNCTION_KWDEFAULTS: slot = &fn->func_kwdefaults; break;
    case MAKE_FUNCTION_DEFAULTS: slot = &fn->func_defaults; break;
    default:
        Py_DECREF(attr);
        Py_DECREF(func);
        PyErr_Format(PyExc_SystemError, "unexpected SET_FUNCTION_ATTRIBUTE flag %d", (int)flag);
        return NULL;
    }
    Py_XSETREF(*slot, attr);
    return func;
}

/* A slice bound as Py_ssize_t without a slice object: None (`dflt`) or a compact exact int.
 * 0 when the bound is anything else (a bool, a big int, an object with __index__): the caller
 * then takes the generic path, whose slice object and _PyEval_SliceIndex give the same value
 * or the interpreter's error. */
static inline int simple_bound(PyObject *o, Py_ssize_t dflt, Py_ssize_t *out)
{
    if (o == Py_None) {
        *out = dflt;
        return 1;
    }
    if (PyLong_CheckExact(o) && _PyLong_IsCompact((PyLongObject *)o)) {
        *out = (Py_ssize_t)_PyLong_CompactValue((PyLongObject *)o);
        return 1;
    }
    return 0;
}

/* The bounds of the step-1 slice [start:stop] as PySlice_Unpack gives them (Objects/
 * sliceobject.c), without the slice object BINARY_SLICE and STORE_SLICE build
 * (_PyBuildSlice_ConsumeRefs): 0 when a bound is not simple (simple_bound). */
static inline int simple_slice(PyObject *start, PyObject *stop, Py_ssize_t *lo, Py_ssize_t *hi)
{
    return simple_bound(start, 0, lo) && simple_bound(stop, PY_SSIZE_T_MAX, hi);
}

/* PySlice_AdjustIndices (Objects/sliceobject.c, 3.13), inline: the bounds clamped to a sequence
 * of length `len` for step `step` (not 0), and the slice's item count. Steps 1 and -1, the
 * common ones, count without the division the exported function does for every step (its call
 * and division were 5 % of fannkuch's samples). */
static inline Py_ssize_t adjust_slice(Py_ssize_t len, Py_ssize_t *start, Py_ssize_t *stop, Py_ssize_t step)
{
    if (*start < 0) {
        *start += len;
        if (*start < 0) *start = step < 0 ? -1 : 0;
    }
    else if (*start >= len) {
        *start = step < 0 ? len - 1 : len;
    }
    if (*stop < 0) {
        *stop += len;
        if (*stop < 0) *stop = step < 0 ? -1 : 0;
    }
    else if (*stop >= len) {
        *stop = step < 0 ? len - 1 : len;
    }
    if (step < 0) {
        if (*stop < *start) return step == -1 ? *start - *stop : (*start - *stop - 1) / (-step) + 1;
    }
    else if (*start < *stop) {
        return step == 1 ? *stop - *start : (*stop - *start - 1) / step + 1;
    }
    return 0;
}

/* Those bounds adjusted to a sequence of length `len` (PySlice_AdjustIndices), with an empty
 * slice's stop moved to its start, as list_ass_subscript's adjust_slice_indexes does. */
static inline void clamp_slice(Py_ssize_t len, Py_ssize_t *lo, Py_ssize_t *hi)
{
    adjust_slice(len, lo, hi, 1);
    if (*hi < *lo) *hi = *lo;
}

static PyObject *slice_of(PyObject *start, PyObject *stop)
{
    PyObject *slice = PySlice_New(start, stop, NULL);
    Py_DECREF(start);
    Py_DECREF(stop);
    return slice;
}

/* BINARY_SLICE: container[start:stop]. An exact list or tuple with simple bounds is sliced
 * directly (list_subscript and tuple_subscript's step-1 paths: PyList_GetSlice, and
 * PyTuple_GetSlice, which returns an exact tuple itself for the whole of it); nothing a
 * Python class defines can run for these types. */
PyObject *ember_binary_slice(PyObject *container, PyObject *start, PyObject *stop)
{
    Py_ssize_t lo, hi;
    PyTypeObject *tp = Py_TYPE(container);
    if ((tp == &PyList_Type || tp == &PyTuple_Type) && simple_slice(start, stop, &lo, &hi)) {
        clamp_slice(Py_SIZE(container), &lo, &hi);
        PyObject *res = tp == &PyList_Type ? PyList_GetSlice(container, lo, hi) : PyTuple_GetSlice(container, lo, hi);
        Py_DECREF(start);
        Py_DECREF(stop);
        Py_DECREF(container);
        return res;
    }
    PyObject *slice = slice_of(start, stop);
    PyObject *res = slice ? PyObject_GetItem(container, slice) : NULL;
    Py_XDECREF(slice);
    Py_DECREF(container);
    return res;
}

/* Items STORE_SLICE moves rather than copies (move_slice_items), on the C stack. */
#define EMBER_SLICE_MOVE_ITEMS 16

/* container[lo:hi] = v for an exact list `v` that only the caller references (a temporary, as
 * fannkuch's `perm[:k + 1] = perm[k::-1]` makes) and exactly as many items as the slice
 * replaces (1 to EMBER_SLICE_MOVE_ITEMS, after clamping): v's items move into `container`
 * instead of being copied with a new reference each and released again with v (list_ass_slice,
 * Objects/listobject.c, then v's list_dealloc). The items replaced are released last to first,
 * as list_ass_slice releases them, with v already empty. The end state is the interpreter's:
 * the same items at the same places, the same counts. 1 when done (the caller still releases
 * v, now empty), 0 with nothing done. */
static inline int move_slice_items(PyObject *v, PyObject *container, Py_ssize_t lo, Py_ssize_t hi)
{
    clamp_slice(Py_SIZE(container), &lo, &hi);
    Py_ssize_t n = Py_SIZE(v);
    if (n != hi - lo || n <= 0 || n > EMBER_SLICE_MOVE_ITEMS) return 0;
    PyObject **dst = ((PyListObject *)container)->ob_item + lo, **src = ((PyListObject *)v)->ob_item;
    PyObject *old[EMBER_SLICE_MOVE_ITEMS];
    for (Py_ssize_t k = 0; k < n; k++) {
        old[k] = dst[k];
        dst[k] = src[k];
    }
    Py_SET_SIZE(v, 0);
    for (Py_ssize_t k = n - 1; k >= 0; k--) Py_XDECREF(old[k]);
    return 1;
}

/* STORE_SLICE: container[start:stop] = v. An exact list with simple bounds is assigned as
 * list_ass_subscript's step-1 path does it (Objects/listobject.c), in its order: `v` made a
 * sequence first (a copy when it is the list itself, else PySequence_Fast with its
 * "must assign iterable to extended slice" error; iterating `v` may run code that resizes
 * the list), then the indices adjusted to the list's size at that point, then list_ass_slice
 * (through PyList_SetSlice). A temporary list of the slice's length moves its items in
 * (move_slice_items). */
int ember_store_slice(PyObject *v, PyObject *container, PyObject *start, PyObject *stop)
{
    Py_ssize_t lo, hi;
    if (Py_TYPE(container) == &PyList_Type && simple_slice(start, stop, &lo, &hi)) {
        if (PyList_CheckExact(v) && v != container && ember_rc_is_one(v) && move_slice_items(v, container, lo, hi)) {
            Py_DECREF(start);
            Py_DECREF(stop);
            Py_DECREF(v);
            Py_DECREF(container);
            return 0;
        }
        PyObject *seq = v == container ? PyList_GetSlice(v, 0, Py_SIZE(v))
                                       : PySequence_Fast(v, "must assign iterable to extended slice");
        int err = -1;
        if (seq != NULL) {
            clamp_slice(Py_SIZE(container), &lo, &hi);
            err = PyList_SetSlice(container, lo, hi, seq);
            Py_DECREF(seq);
        }
        Py_DECREF(start);
        Py_DECREF(stop);
        Py_DECREF(v);
        Py_DECREF(container);
        return err;
    }
    PyObject *slice = slice_of(start, stop);
    int err = slice ? PyObject_SetItem(container, slice, v) : -1;
    Py_XDECREF(slice);
    Py_DECREF(v);
    Py_DECREF(container);
    return err;
}

/* BUILD_SLICE 3 then BINARY_SUBSCR (HIR SubscrSlice): container[start:stop:step]. An exact
 * list or tuple with simple bounds and step (None or compact ints, a step not 0) is sliced
 * as list_subscript and tuple_subscript do it (Objects/listobject.c, tupleobject.c), from the
 * indices PySlice_Unpack then PySlice_AdjustIndices (adjust_slice) give, with no slice object: an empty
 * result is a new empty list or the empty tuple, the whole of an exact tuple with step 1 is the
 * tuple itself. Otherwise the slice is built and subscripted, and references are released in
 * the two instructions' order (the bounds, then the container, then the slice). */
PyObject *ember_subscr_slice(PyObject *container, PyObject *start, PyObject *stop, PyObject *step)
{
    PyTypeObject *tp = Py_TYPE(container);
    Py_ssize_t lo, hi, st;
    if ((tp == &PyList_Type || tp == &PyTuple_Type) && simple_bound(step, 1, &st) && st != 0 &&
        simple_bound(start, st < 0 ? PY_SSIZE_T_MAX : 0, &lo) &&
        simple_bound(stop, st < 0 ? PY_SSIZE_T_MIN : PY_SSIZE_T_MAX, &hi)) {
        Py_ssize_t size = Py_SIZE(container);
        Py_ssize_t n = adjust_slice(size, &lo, &hi, st);
        PyObject **src = tp == &PyList_Type ? ((PyListObject *)container)->ob_item : ((PyTupleObject *)container)->ob_item;
        PyObject *res;
        if (tp == &PyTuple_Type && n == size && lo == 0 && st == 1) {
            res = Py_NewRef(container);
        }
        else {
            res = tp == &PyList_Type ? PyList_New(n > 0 ? n : 0) : PyTuple_New(n > 0 ? n : 0);
            PyObject **dst = res == NULL ? NULL : tp == &PyList_Type ? ((PyListObject *)res)->ob_item
                                                                   : ((PyTupleObject *)res)->ob_item;
            for (Py_ssize_t i = 0; res != NULL && i < n; i++) dst[i] = Py_NewRef(src[lo + i * st]);
        }
        Py_DECREF(start);
        Py_DECREF(stop);
        Py_DECREF(step);
        Py_DECREF(container);
        return res;
    }
    PyObject *slice = PySlice_New(start, stop, step);
    Py_DECREF(start);
    Py_DECREF(stop);
    Py_DECREF(step);
    PyObject *res = slice ? PyObject_GetItem(container, slice) : NULL;
    Py_DECREF(container);
    Py_XDECREF(slice);
    return res;
}

/* BUILD_SLICE n (2 or 3): items are start, stop[, step]. */
PyObject *ember_build_slice(PyObject **items, i64 n)
{
    PyObject *res = PySlice_New(items[0], items[1], n == 3 ? items[2] : NULL);
    for (i64 i = 0; i < n; i++) Py_DECREF(items[i]);
    return res;
}

/* BUILD_SET n. */
PyObject *ember_build_set(PyObject **items, i64 n)
{
    PyObject *set = PySet_New(NULL);
    int err = set == NULL;
    for (i64 i = 0; i < n; i++) {
        if (!err) err = PySet_Add(set, items[i]) < 0;
        Py_DECREF(items[i]);
    }
    if (err) {
        Py_CLEAR(set);
    }
    return set;
}

/* SET_ADD: set borrowed, v consumed. */
int ember_set_add(PyObject *set, PyObject *v)
{
    int err = PySet_Add(set, v);
    Py_DECREF(v);
    return err;
}

/* SET_UPDATE: set borrowed, iterable consumed. */
int ember_set_update(PyObject *set, PyObject *iterable)
{
    int err = _PySet_Update(set, iterable);
    Py_DECREF(iterable);
    return err;
}

/* MAP_ADD: dict borrowed, key and value consumed. */
int ember_map_add(PyObject *dict, PyObject *key, PyObject *value)
{
    return _PyDict_SetItem_Take2((PyDictObject *)dict, key, value);
}

/* DICT_UPDATE: dict borrowed, update consumed; a non-mapping gives the interpreter's TypeError. */
int ember_dict_update(PyThreadState *ts, PyObject *dict, PyObject *update)
{
    if (PyDict_Update(dict, update) < 0) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Format(PyExc_TypeError, "'%.200s' object is not a mapping", Py_TYPE(update)->tp_name);
        }
        Py_DECREF(update);
        return -1;
    }
    Py_DECREF(update);
    return 0;
}

/* DICT_MERGE (f(**a, **b)): callable and dict borrowed, update consumed. */
int ember_dict_merge(PyThreadState *ts, PyObject *callable, PyObject *dict, PyObject *update)
{
    if (_PyDict_MergeEx(dict, update, 2) < 0) {
        _PyEval_FormatKwargsError(ts, callable, update);
        Py_DECREF(update);
        return -1;
    }
    Py_DECREF(update);
    return 0;
}

/* CALL_INTRINSIC_1. */
PyObject *ember_call_intrinsic_1(PyThreadState *ts, PyObject *v, i64 oparg)
{
    PyObject *res = _PyIntrinsics_UnaryFunctions[oparg].func(ts, v);
    Py_DECREF(v);
    return res;
}

/* CALL_INTRINSIC_2: (value2, value1). */
PyObject *ember_call_intrinsic_2(PyThreadState *ts, PyObject *v2, PyObject *v1, i64 oparg)
{
    PyObject *res = _PyIntrinsics_BinaryFunctions[oparg].func(ts, v2, v1);
    Py_DECREF(v2);
    Py_DECREF(v1);
    return res;
}

/* CALL_FUNCTION_EX: func(*callargs, **kwargs); `null` is the unused slot below callargs. */
PyObject *ember_call_function_ex(PyThreadState *ts, PyObject *func, PyObject *null, PyObject *callargs,
                                 PyObject *kwargs)
{
    PyObject *res = NULL;
    if (!PyTuple_CheckExact(callargs)) {
        if (Py_TYPE(callargs)->tp_iter == NULL && !PySequence_Check(callargs)) {
            PyObject *fs = _PyObject_FunctionStr(func);
            if (fs) {
                PyErr_Format(PyExc_TypeError, "%U argument after * must be an iterable, not %.200s", fs,
                             Py_TYPE(callargs)->tp_name);
                Py_DECREF(fs);
            }
            goto done;
        }
        PyObject *tuple = PySequence_Tuple(callargs);
        if (tuple == NULL) goto done;
        Py_SETREF(callargs, tuple);
    }
    res = PyObject_Call(func, callargs, kwargs);
done:
    Py_DECREF(func);
    Py_XDECREF(null);
    Py_DECREF(callargs);
    Py_XDECREF(kwargs);
    return res;
}

/* LOAD_SUPER_ATTR (and its _ATTR / _METHOD specialisations): `super(class, self).name` with
 * the builtin super found by a direct MRO lookup (_PySuper_Lookup); any other `super` is called.
 * Consumes global_super, class and self; in the method form (oparg & 1) *self_out receives self
 * when an unbound method was found, else NULL. `name` is borrowed. */
PyObject *ember_load_super_attr(PyThreadState *ts, PyObject *global_super, PyObject *class_, PyObject *self,
                                PyObject *name, i64 oparg, PyObject **self_out)
{
    *self_out = NULL;
    if (global_super == (PyObject *)&PySuper_Type && PyType_Check(class_)) {
        int method_found = 0;
        int *want = (oparg & 1) && Py_TYPE(self)->tp_getattro == PyObject_GenericGetAttr ? &method_found : NULL;
        PyObject *attr = _PySuper_Lookup((PyTypeObject *)class_, self, name, want);
        Py_DECREF(global_super);
        Py_DECREF(class_);
        if (attr != NULL && method_found) {
            *self_out = self;   /* ownership moves to the stack */
        }
        else {
            Py_DECREF(self);
        }
        return attr;
    }
    PyObject *stack[] = {class_, self};
    PyObject *super = PyObject_Vectorcall(global_super, stack, (size_t)(oparg & 2), NULL);
    Py_DECREF(global_super);
    Py_DECREF(class_);
    Py_DECREF(self);
    if (super == NULL) return NULL;
    PyObject *attr = PyObject_GetAttr(super, name);
    Py_DECREF(super);
    return attr;
}
