/* frame_fast.c -- the inlinable half of Ember's frame protocol for CPython 3.13:
 * the eval-breaker check, the normal-return epilogue of compiled code, and the start of a
 * generator resumption.
 * Mirrors RESUME / CHECK_EVAL_BREAKER (Python/bytecodes.c, Python/ceval_macros.h) and the
 * frame pop of `_PyEval_EvalFrameDefault`'s return path. The slow paths live in shim.c. */
#include "ember_runtime.h"

#include "internal/pycore_ceval.h"
#include "internal/pycore_genobject.h"

/* Exported by libpython 3.13.0 but declared in no installed header. */
extern void _PyEval_FrameClearAndPop(PyThreadState *tstate, _PyInterpreterFrame *frame);
/* shim.c: handles pending calls / signals / GIL drop and instrumentation changes. */
int ember_rt_periodic_slow(PyThreadState *ts, _PyInterpreterFrame *f);
int ember_rt_monitoring_on(PyThreadState *ts, _PyInterpreterFrame *f);

/* RESUME and JUMP_BACKWARD: 0 = go on, -1 = exception, 1 = hand the frame to the
 * interpreter (monitoring or tracing is on, or the code's instrumentation is out of date). */
int ember_rt_periodic(PyThreadState *ts, _PyInterpreterFrame *f)
{
    /* eval_breaker is 0 unless an event is pending or sys.monitoring / sys.settrace has been
     * switched on at some point in this process (its upper bits are the instrumentation
     * version); only then does the slow path need to look closer. */
    if (_Py_atomic_load_uintptr_relaxed(&ts->eval_breaker) != 0) {
        return ember_rt_periodic_slow(ts, f);
    }
    return 0;
}

/* ember_runtime.h. */
int ember_rt_eval_breaker(PyThreadState *ts, _PyInterpreterFrame *f)
{
    uintptr_t eb = _Py_atomic_load_uintptr_relaxed(&ts->eval_breaker);
    if (eb == 0) return 0;
    if (eb & _PY_EVAL_EVENTS_MASK) return 1;
    /* Only the instrumentation version (sys.settrace or sys.monitoring was on at some point in
     * this process): work only when monitoring applies to this code. A test, which must run
     * nothing: an event that arrives now (a signal) is left to the next check, since the
     * caller has not yet written the locals it holds to the frame. */
    return ember_rt_monitoring_on(ts, f);
}

/* One local's release at a compiled return: Py_XDECREF, except that an exact float that dies
 * goes back to the interpreter's free list through `ts` (ember_decref_float), without the
 * thread-local lookup _PyFloat_ExactDealloc makes from the shared libpython, when no
 * reference tracer is set (_Py_Dealloc would report the float's death to it); counts read as
 * Py_INCREF writes them (ember_refcount.h). */
static inline void leave_release(PyThreadState *ts, PyObject *o)
{
    if (o == NULL) return;
    if (Py_IS_TYPE(o, &PyFloat_Type) && _PyRuntime.ref_tracer.tracer_func == NULL) {
        ember_decref_float(ts, o);
    }
    else {
        ember_rc_decref(o);
    }
}

/* Normal return of compiled code: unlink the frame, give back the recursion budget, then
 * clear and pop it (decrefs localsplus[0..stacktop), the function and the code).
 * `nlocalsplus` is the code's co_nlocalsplus, a constant at each compiled return: the frame's
 * stacktop there (its value stack is empty at RETURN_VALUE), so that the release loop, inlined,
 * is unrolled over the function's few slots; another stacktop takes the loop over stacktop.
 * `floats` (a constant in each caller below): the locals are released by leave_release. */
static inline Py_ALWAYS_INLINE PyObject *
leave(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *retval, i64 nlocalsplus, int floats)
{
    ts->current_frame = f->previous;
    ts->py_recursion_remaining++;
    if (f->frame_obj == NULL && f->f_locals == NULL && f->owner == FRAME_OWNED_BY_THREAD) {
        /* The common case of clear_thread_frame (Python/ceval.c): no frame object to hand
         * the locals to. Release locals, function and code, then pop the data stack. */
        PyObject **lp = f->localsplus;
        if (EMBER_LIKELY(f->stacktop == nlocalsplus)) {
            for (i64 i = 0; i < nlocalsplus; i++) {
                if (floats) leave_release(ts, lp[i]);
                else Py_XDECREF(lp[i]);
            }
        }
        else {
            for (int i = 0; i < f->stacktop; i++) Py_XDECREF(lp[i]);
        }
        Py_DECREF(f->f_funcobj);
        Py_DECREF(f->f_executable);
        if ((PyObject **)f != &ts->datastack_chunk->data[0])
            ts->datastack_top = (PyObject **)f;
        else
            _PyThreadState_PopFrame(ts, f);
        return retval;
    }
    _PyEval_FrameClearAndPop(ts, f);
    return retval;
}

PyObject *ember_rt_leave(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *retval, i64 nlocalsplus)
{
    return leave(ts, f, retval, nlocalsplus, 0);
}

/* ember_rt_leave for a function that computes with floats (typed float arithmetic, `math` calls,
 * float stores: Function::computes_floats): the locals are released by leave_release, so that
 * dying floats go back to the free list through `ts`. Other functions keep ember_rt_leave, whose
 * shorter release measured 1-4 % faster on call-heavy benchmarks (richards, nqueens, chaos,
 * hexiom; interleaved steady state, run ab-s46e); float gained 2.5 %. */
PyObject *ember_rt_leave_floats(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *retval, i64 nlocalsplus)
{
    return leave(ts, f, retval, nlocalsplus, 1);
}

/* YIELD_VALUE (Python/bytecodes.c) for a compiled generator frame. Compiled code has stored
 * the saved stack at localsplus[nlocalsplus..] and instr_ptr (the following RESUME, whose
 * oparg tells gen_close and _PyGen_yf what kind of suspension this is). The generator's
 * state, the exception-state chain, the recursion budget and the frame chain change exactly
 * as in the interpreter, so it or compiled code can resume the frame. */
PyObject *ember_rt_yield(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *value, i64 depth, i64 oparg)
{
    PyGenObject *gen = _PyFrame_GetGenerator(f);
    f->stacktop = _PyFrame_GetCode(f)->co_nlocalsplus + (int)depth;
    gen->gi_frame_state = FRAME_SUSPENDED + (int)oparg;
    ts->exc_info = gen->gi_exc_state.previous_item;
    gen->gi_exc_state.previous_item = NULL;
    ts->py_recursion_remaining++;
    ts->current_frame = f->previous;
    f->previous = NULL;
    return value;
}

void ember_gen_take_stack(_PyInterpreterFrame *f)
{
    f->stacktop = _PyFrame_GetCode(f)->co_nlocalsplus;
}
