/* runtime_gen.c -- runtime helpers for generators, coroutines and async generators:
 * RETURN_GENERATOR, GET_YIELD_FROM_ITER, GET_AWAITABLE, GET_AITER, GET_ANEXT and
 * BEFORE_ASYNC_WITH. Each mirrors the instruction of the same name in CPython 3.13's
 * Python/bytecodes.c; conventions are ember_runtime.h's. YIELD_VALUE's suspension and the
 * resume dispatch are in frame_fast.c (inlined into compiled code); the PEP 523 hook that
 * resumes compiled generator frames and SEND (which resumes compiled delegates directly) are in
 * shim.c. */
#include "ember_runtime.h"
#include "internal/pycore_ceval.h"     /* _Py_MakeCoro, _PyEval_FormatAwaitableError */
#include "internal/pycore_genobject.h" /* _PyGen_yf, _PyCoro_GetAwaitableIter, _PyGen_FetchStopIterationValue */
#include "internal/pycore_pyerrors.h"  /* _PyErr_Format, _PyErr_FormatFromCause */
#include "internal/pycore_intrinsics.h" /* _PyIntrinsics_UnaryFunctions, INTRINSIC_ASYNC_GEN_WRAP */

static PyObject *str_aenter, *str_aexit;

static int init_strings(void)
{
    if (str_aexit) return 0;
    str_aenter = PyUnicode_InternFromString("__aenter__");
    str_aexit = PyUnicode_InternFromString("__aexit__");
    return str_aenter && str_aexit ? 0 : -1;
}

/* RETURN_GENERATOR's work (Python/bytecodes.c) on `f`, the thread's current frame, whose
 * instr_ptr is at that instruction: makes the generator, coroutine or async generator object,
 * moves the frame into it (to start at the next instruction), unlinks and pops `f`. NULL with
 * the exception set and `f` untouched when the object cannot be made. The recursion budget is
 * the caller's. */
static inline PyObject *frame_to_generator(PyThreadState *ts, _PyInterpreterFrame *f)
{
    PyFunctionObject *func = (PyFunctionObject *)f->f_funcobj;
    PyGenObject *gen = (PyGenObject *)_Py_MakeCoro(func);
    if (gen == NULL) return NULL;
    _PyInterpreterFrame *gen_frame = (_PyInterpreterFrame *)gen->gi_iframe;
    f->instr_ptr++;                        /* frame->instr_ptr++ in the interpreter */
    _PyFrame_Copy(f, gen_frame);
    gen->gi_frame_state = FRAME_CREATED;
    gen_frame->owner = FRAME_OWNED_BY_GENERATOR;
    ts->current_frame = f->previous;
    _PyThreadState_PopFrame(ts, f);
    return (PyObject *)gen;
}

PyObject *ember_rt_return_generator(PyThreadState *ts, _PyInterpreterFrame *f)
{
    /* Compiled code set instr_ptr to RETURN_GENERATOR (no inline cache). */
    PyObject *gen = frame_to_generator(ts, f);
    if (gen != NULL) ts->py_recursion_remaining++;   /* _Py_LeaveRecursiveCallPy */
    return gen;
}

PyObject *ember_start_generator(PyThreadState *ts, _PyInterpreterFrame *f)
{
    f->previous = ts->current_frame;   /* _Py_MakeCoro reads the caller through it (cr_origin) */
    ts->current_frame = f;
    PyObject *gen = frame_to_generator(ts, f);
    if (gen == NULL) ts->current_frame = f->previous;
    return gen;
}


PyTypeObject *ember_async_gen_wrapped_type;

void ember_learn_async_gen(PyThreadState *ts)
{
    PyObject *w = _PyIntrinsics_UnaryFunctions[INTRINSIC_ASYNC_GEN_WRAP].func(ts, Py_None);
    if (w == NULL) {
        PyErr_Clear();
        return;
    }
    if (_PyAsyncGenASend_Type.tp_basicsize == (Py_ssize_t)sizeof(EmberASend) &&
        Py_TYPE(w)->tp_basicsize == (Py_ssize_t)sizeof(EmberWrappedValue) && ((EmberWrappedValue *)w)->agw_val == Py_None)
        ember_async_gen_wrapped_type = Py_TYPE(w);
    Py_DECREF(w);
}

int ember_asend_ended(PyThreadState *ts, PyObject *receiver, PyObject *r, PyObject **out)
{
    EmberASend *o = (EmberASend *)receiver;
    PyAsyncGenObject *ag = o->ags_gen;
    if (r != NULL) {
        /* gen_send_ex: an async generator's return (always None) is StopAsyncIteration. */
        Py_DECREF(r);
        PyErr_SetNone(PyExc_StopAsyncIteration);
    }
    /* async_gen_unwrap_value's error case, then async_gen_asend_send's. */
    if (_PyErr_ExceptionMatches(ts, PyExc_StopAsyncIteration) || _PyErr_ExceptionMatches(ts, PyExc_GeneratorExit))
        ag->ag_closed = 1;
    ag->ag_running_async = 0;
    o->ags_state = EMBER_ASEND_CLOSED;
    return ember_send_stopped(out);
}

PyObject *ember_get_yield_from_iter(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *iterable)
{
    if (PyCoro_CheckExact(iterable)) {
        if (!(_PyFrame_GetCode(f)->co_flags & (CO_COROUTINE | CO_ITERABLE_COROUTINE))) {
            _PyErr_SetString(ts, PyExc_TypeError,
                             "cannot 'yield from' a coroutine object in a non-coroutine generator");
            Py_DECREF(iterable);
            return NULL;
        }
        return iterable;
    }
    if (PyGen_CheckExact(iterable)) return iterable;
    PyObject *iter;
    if (Py_TYPE(iterable)->tp_iter == ember_slot_tp_iter && ember_iter_direct(ts, iterable, &iter)) {
        Py_DECREF(iterable);
        return iter;
    }
    iter = PyObject_GetIter(iterable);
    Py_DECREF(iterable);
    return iter;
}

PyObject *ember_get_awaitable(PyThreadState *ts, PyObject *iterable, i64 oparg)
{
    PyObject *iter = _PyCoro_GetAwaitableIter(iterable);
    if (iter == NULL) _PyEval_FormatAwaitableError(ts, Py_TYPE(iterable), (int)oparg);
    Py_DECREF(iterable);
    if (iter != NULL && PyCoro_CheckExact(iter)) {
        PyObject *yf = _PyGen_yf((PyGenObject *)iter);
        if (yf != NULL) {
            Py_DECREF(yf);
            Py_CLEAR(iter);
            _PyErr_SetString(ts, PyExc_RuntimeError, "coroutine is being awaited already");
        }
    }
    return iter;
}

PyObject *ember_get_aiter(PyThreadState *ts, PyObject *obj)
{
    unaryfunc getter = NULL;
    PyTypeObject *type = Py_TYPE(obj);
    if (type->tp_as_async != NULL) getter = type->tp_as_async->am_aiter;
    if (getter == NULL) {
        _PyErr_Format(ts, PyExc_TypeError, "'async for' requires an object with __aiter__ method, got %.100s",
                      type->tp_name);
        Py_DECREF(obj);
        return NULL;
    }
    PyObject *iter = (*getter)(obj);
    Py_DECREF(obj);
    if (iter == NULL) return NULL;
    if (Py_TYPE(iter)->tp_as_async == NULL || Py_TYPE(iter)->tp_as_async->am_anext == NULL) {
        _PyErr_Format(ts, PyExc_TypeError,
                      "'async for' received an object from __aiter__ that does not implement __anext__: %.100s",
                      Py_TYPE(iter)->tp_name);
        Py_DECREF(iter);
        return NULL;
    }
    return iter;
}

PyObject *ember_get_anext(PyThreadState *ts, PyObject *aiter)
{
    PyTypeObject *type = Py_TYPE(aiter);
    if (PyAsyncGen_CheckExact(aiter)) return type->tp_as_async->am_anext(aiter);
    unaryfunc getter = type->tp_as_async != NULL ? type->tp_as_async->am_anext : NULL;
    if (getter == NULL) {
        _PyErr_Format(ts, PyExc_TypeError, "'async for' requires an iterator with __anext__ method, got %.100s",
                      type->tp_name);
        return NULL;
    }
    PyObject *next_iter = (*getter)(aiter);
    if (next_iter == NULL) return NULL;
    PyObject *awaitable = _PyCoro_GetAwaitableIter(next_iter);
    if (awaitable == NULL) {
        _PyErr_FormatFromCause(PyExc_TypeError, "'async for' received an invalid object from __anext__: %.100s",
                               Py_TYPE(next_iter)->tp_name);
    }
    Py_DECREF(next_iter);
    return awaitable;
}

PyObject *ember_before_async_with(PyThreadState *ts, PyObject *mgr, PyObject **exit_out)
{
    if (init_strings() < 0) { Py_DECREF(mgr); return NULL; }
    return ember_enter_context(ts, mgr, exit_out, str_aenter, str_aexit, "asynchronous ");
}
