/* shim.c -- the `ember._shim` extension module: Ember's host inside CPython 3.13.
 *
 *  - loads libember.so (dlopen, RTLD_LOCAL) and registers the runtime helpers by address;
 *  - counts calls and compiles hot functions: a function's vectorcall is replaced by
 *    ember_vectorcall (PyFunction_SetVectorcall), which pushes a real _PyInterpreterFrame inline
 *    and enters compiled code, or falls back to CPython's own _PyFunction_Vectorcall;
 *  - a function watcher installs the trampoline on new functions (autojit / jit list);
 *  - the frame protocol's slow half: eval-breaker handling, raising (unwinding with the code
 *    object's exception table, as Python/ceval.c does) and deopt into _PyEval_EvalFrameDefault.
 * See shared/design/cpython313-hosting.md sections 4-8 for the measured protocol. */
#include "ember_runtime.h"
#include "opcode_ids.h"               /* MIN_INSTRUMENTED_OPCODE */
#include "opcode.h"                   /* NB_* (ember_binop_direct) */
#include "internal/pycore_code.h"
#include "internal/pycore_opcode_metadata.h"   /* _PyOpcode_Caches, _PyOpcode_Deopt (defined in serialize.c) */
#include "internal/pycore_function.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_ceval.h"
#include "internal/pycore_call.h"            /* _PyObject_VectorcallTstate */
#include "internal/pycore_object.h"          /* _PyObject_HEAD_INIT */
#include "serialize.h"
#include "perf.h"
#include "ember.h"

#include <sched.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern void _PyEval_FrameClearAndPop(PyThreadState *tstate, _PyInterpreterFrame *frame);

/* ---- libember entry points ---- */
/* libember.so (and with it LLVM, ~40 ms and ~45 MiB) is loaded at the first compile, not at
 * `import ember`: a process that never compiles never maps it (ensure_backend). */
static char *backend_path;
static int backend_opt = 1;
static int backend_state;            /* 0 not loaded yet, 1 ready, -1 failed (logged once), 2 loading on
                                      * the loader thread (backend_async) */
static void join_loader(void);
static int backend_async(void);
static int loader_joined;            /* the loader thread has been joined */
static atomic_long loader_tid;       /* kernel thread id of the loader thread (wait_reaped) */
static char backend_version[256];
static EmberStatus (*p_init)(const EmberConfig *, char *, size_t);
static EmberStatus (*p_compile)(const uint8_t *, size_t, EmberCompiled *, char *, size_t);
static EmberStatus (*p_free)(uint64_t);
static EmberStatus (*p_hir_text)(const uint8_t *, size_t, char *, size_t);
static EmberStatus (*p_dump)(const uint8_t *, size_t, uint32_t, char *, size_t, size_t *);
static size_t (*p_builtin_bitcode)(const uint8_t **);
static const char *(*p_version)(void);
static int ensure_backend(void);
/* Background compilation (libember's ember_bg_*; src/ffi_background.rs). */
static EmberStatus (*p_bg_submit)(uint64_t, uint64_t, const uint8_t *, size_t, char *, size_t);
static void (*p_bg_bump)(uint64_t, uint64_t);
static int32_t (*p_bg_cancel)(uint64_t);
static uint64_t (*p_bg_ready)(void);
static size_t (*p_bg_poll)(EmberBgResult *, size_t);
static int32_t (*p_bg_wait)(uint64_t);
static void (*p_bg_shutdown)(int32_t);
static void (*p_bg_stats)(EmberBgStats *);
static void (*p_bg_set_notify)(void (*)(void));
/* 1: hot functions are compiled on libember's compile thread while they keep running in the
 * interpreter (the default); 0: on the calling thread, at the call that made them hot
 * (EMBER_BACKGROUND=0, set through ember._shim.set_background). */
static int background = 1;
static long n_queued;               /* functions handed to the compile thread */
static int exiting;                 /* the interpreter is exiting: autojit compiles nothing more */
static int cost_policy;             /* autojit compiles where it pays (auto_threshold stays -1) */
static int parked;                  /* see "parking" below */
static void restore_interpreted(PyFunctionObject *func);
PyObject *ember_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames);


Py_ssize_t ember_extra_index = -1;   /* co_extra index of the CodeInfo records */
static vectorcallfunc py_function_vectorcall;   /* _PyFunction_Vectorcall (not exported) */
int ember_enabled;                  /* the JIT is loaded and not disabled */
static long auto_threshold = -1;   /* compile after N calls; -1 = autojit off */
static PyObject *jit_list;         /* list of pattern str, or NULL */
static PyObject *compiled_names;   /* list of "module:qualname" */
static FILE *log_file;
static int watcher_id = -1;
static uint64_t total_compile_ns;
static long n_compiled, n_refused;
static long n_cache_loaded, n_cache_stored, n_cache_rejected;   /* what the code cache did (EmberCacheUse) */
static uint64_t n_samples_compiled;   /* samples (weighted, as CodeInfo.samples) of the functions compiled or
                                       * loaded in this process, before and after their install */
static uint64_t n_time_compiled;      /* samples (unweighted: each counts once, as n_samples) that found the
                                       * functions compiled or loaded in this process, before their install
                                       * and running compiled code after it: the share of the run their code
                                       * takes, where the generator hook costs nothing (gen_hook_tax_us) */
static uint64_t n_gen_samples_compiled; /* of n_samples_compiled, those of generator-family functions */
static long n_cache_missed;           /* load-only requests that found no cached code (hot markers) */
static char *cache_dir;             /* the code cache's directory (set_cache), NULL: off */
static uint64_t cache_max_bytes;    /* its size cap */
static char *host_id;               /* the host build's identity for cache keys */
long ember_gen_resumes;             /* generator resumptions that entered compiled code */
long ember_gen_collected;           /* tuple()/list()/set()/frozenset()/sum()/any()/all() calls that
                                     * took a compiled generator's items directly (runtime_slow.c) */
long ember_ic_slow;                 /* attribute inline-cache lookups that took the out-of-line path
                                     * (runtime_ic.c) */

static void ember_log(const char *fmt, ...)
{
    if (!log_file) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(log_file, fmt, ap);
    va_end(ap);
    fputc('\n', log_file);
    fflush(log_file);
}

uint64_t ember_code_epoch;          /* bumped when a code object with a record dies or an entry is withdrawn (EmberResumeIC) */

static void osr_forget(CodeInfo *info);
static void precompile_forget(CodeInfo *info);

static void free_info(void *p)
{
    CodeInfo *info = p;
    if (!info) return;
    ember_code_epoch++;
    /* A queued compile of this code: withdrawn, so that no result names the freed record. */
    if (info->state == 3 && p_bg_cancel) p_bg_cancel((uint64_t)(uintptr_t)info);
    osr_forget(info);   /* an armed code object dies with its events */
    precompile_forget(info);   /* its kept wire is still compiled after exit */
    Py_XDECREF(info->pending_name);
    Py_XDECREF(info->pending_func);
    Py_XDECREF(info->inline_keep);
    if (info->handle && p_free) p_free(info->handle);
    PyMem_RawFree(info->refusal);
    PyMem_RawFree(info);
}

/* Marks `info` refused (state 2: stays interpreted) for `why`, which ember.why_not reports. */
static void precompile_drop(CodeInfo *info);

static void refuse(CodeInfo *info, const char *why)
{
    precompile_drop(info);
    info->state = 2;
    PyMem_RawFree(info->refusal);
    size_t n = strlen(why) + 1;
    info->refusal = PyMem_RawMalloc(n);
    if (info->refusal) memcpy(info->refusal, why, n);
}

static CodeInfo *get_or_make_info(PyCodeObject *co)
{
    CodeInfo *info = ember_code_info(co);
    if (info) return info;
    info = PyMem_RawCalloc(1, sizeof(CodeInfo));
    if (!info) return NULL;
    if (PyUnstable_Code_SetExtra((PyObject *)co, ember_extra_index, info) < 0) {
        PyErr_Clear();
        PyMem_RawFree(info);
        return NULL;
    }
    return info;
}

static PyObject *full_name(PyFunctionObject *func)
{
    PyCodeObject *co = (PyCodeObject *)func->func_code;
    PyObject *mod = func->func_module;
    if (mod && PyUnicode_Check(mod)) return PyUnicode_FromFormat("%U:%U", mod, co->co_qualname);
    return PyUnicode_FromFormat("?:%U", co->co_qualname);
}

/* ---- monitoring: native code emits no events, so it never runs while any is on ----
 * Except Ember's own tool (on-stack replacement's JUMP events, below): its bit is masked. */
uint8_t ember_own_tools;
/* sys.monitoring's own functions that Ember wraps (install_monitoring_hooks). */
static PyObject *orig_set_events, *orig_set_local_events, *orig_get_events, *orig_use_tool_id;
static inline int monitoring_active(PyThreadState *ts, PyCodeObject *co)
{
    uintptr_t eb = _Py_atomic_load_uintptr_relaxed(&ts->eval_breaker);
    uintptr_t version = eb & ~(uintptr_t)_PY_EVAL_EVENTS_MASK;
    /* No event was ever switched on globally, nor locally on this code (local events leave the
     * version as it was: sys.monitoring.set_local_events instruments the code at once). */
    if (version == 0 && co->_co_monitoring == NULL) return 0;
    if (co->_co_instrumentation_version != version) return 1;
    PyInterpreterState *interp = ts->interp;
    for (int e = 0; e < _PY_MONITORING_UNGROUPED_EVENTS; e++)
        if (interp->monitors.tools[e]) return 1;
    return ember_foreign_local_events(co);
}

/* ---- compiling ---- */
static int jit_list_matches(PyObject *name)
{
    if (!jit_list) return 1;
    const char *s = PyUnicode_AsUTF8(name);
    if (!s) { PyErr_Clear(); return 0; }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(jit_list); i++) {
        const char *pat = PyUnicode_AsUTF8(PyList_GET_ITEM(jit_list, i));
        if (pat && fnmatch(pat, s, 0) == 0) return 1;
    }
    return 0;
}

/* Compile time grows with function size (about 1.5 ms per code unit at the default level:
 * namedtuple's __new__ with 2,000 fields, 5,759 code units, takes 8.8 s), so very large
 * functions, which are almost always generated code run a few times, stay interpreted.
 * The limit is EMBER_MAX_CODE_UNITS (default in ember._config). */

/* Settings the shim acts on, from ember._config through set_options (the shim reads no
 * environment variable itself). */
/* EMBER_GENERATORS=0 keeps generator-family functions interpreted (and the PEP 523 hook
 * that resumes compiled generator frames uninstalled). */
static int opt_generators = 1;          /* EMBER_GENERATORS */
static long opt_max_code_units = LONG_MAX;   /* EMBER_MAX_CODE_UNITS (its default is in ember._config) */
static int opt_log_passes;              /* EMBER_LOG_PASSES */
static int opt_perf;                    /* EMBER_PERF: EMBER_PERF_OFF, _MAP or _JITDUMP (perf.h) */
static int opt_dump_hir;                /* EMBER_DUMP_HIR */
static int opt_no_inline;               /* EMBER_NO_INLINE */
static char *opt_call_policy;           /* EMBER_CALL_POLICY (NULL: the compiler's default) */
static char *opt_dump_ir;               /* EMBER_DUMP_IR (NULL: off) */
static int opt_debugger = 1;            /* EMBER_DEBUGGER */


static void install_eval_frame_hook(void);
static void watch(PyFunctionObject *func);
/* Whether the functions of code `info` keep their versions once it is compiled (watch). Under
 * the cost policy they do, unless ember.force_compile compiled it: a call site the interpreter
 * has specialised for such a function (CALL_PY_EXACT_ARGS, CALL_ALLOC_AND_ENTER_INIT, ...) goes on
 * running it in the interpreter, inline, and only compiled callers, C callers and generic call
 * sites enter its compiled code (through the trampoline). A compiled callee entered from an
 * interpreted caller through the trampoline costs a C-level entry, about a small function's body,
 * so compiling a leaf made its interpreted callers slower (float's Point.__init__ under its
 * interpreted loop, raytrace's small Vector methods: docs/compilation.md). The time such a callee
 * runs in the interpreter is charged to its nearest interpreted caller instead (take_sample), so
 * that the caller is compiled and its calls then enter compiled code. */
static inline int keeps_version(CodeInfo *info)
{
    return cost_policy && info != NULL && !info->forced;
}

/* Autojit threshold for `co`. A generator-family code object counts its creations and its
 * resumptions; it compiles EMBER_GEN_WARMUP events later than a function, so that the
 * interpreter has run its body often enough to specialise it (compiled with generic inline
 * caches, nqueens' generator expressions ran 10 % slower than interpreted). EMBER_AUTO=0
 * (compile everything at its first call) is unchanged. */
#define EMBER_GEN_WARMUP 16
static inline long auto_threshold_for(PyCodeObject *co)
{
    /* EMBER_AUTO=0 means every function at its first call, generators included. */
    return (co->co_flags & EMBER_GEN_FLAGS) && auto_threshold > 0 ? auto_threshold + EMBER_GEN_WARMUP : auto_threshold;
}
static void hook_give_up(const char *why);
static int hook_wanted;     /* a generator-family function is compiled (the hook section below) */
static int hook_given_up;   /* deep recursion was seen: never again in this process */
static inline void hook_maybe_restore(PyThreadState *ts);

static const char *refusal_reason(PyCodeObject *co)
{
    if ((co->co_flags & EMBER_GEN_FLAGS) && !opt_generators)
        return "generator, coroutine and async generator functions are not compiled (EMBER_GENERATORS=0)";
    if (Py_SIZE(co) > opt_max_code_units)
        return "function too large (more code units than EMBER_MAX_CODE_UNITS)";
    return NULL;
}

/* 1 when the bytecode holds INSTRUMENTED_* opcodes (sys.monitoring's rewriting). */
static int is_instrumented(PyCodeObject *co)
{
    if (co->_co_monitoring == NULL) return 0;
    _Py_CODEUNIT *code = _PyCode_CODE(co);
    /* Instruction by instruction: inline-cache entries hold data (versions, counters) whose
     * low byte can look like an instrumented opcode. */
    for (Py_ssize_t i = 0; i < Py_SIZE(co);) {
        int op = code[i].op.code;
        if (op >= MIN_INSTRUMENTED_OPCODE) return 1;
        i += 1 + _PyOpcode_Caches[_PyOpcode_Deopt[op]];
    }
    return 0;
}

/* 1 when the specialising interpreter has formed a profile of `co`: some instruction of a
 * specialisable family (one whose first inline-cache entry is an adaptive counter) has been
 * specialised or has tried to be, or `co` has no such instruction. 0 for code that has not yet
 * run any of them twice: every one is still at its base opcode with the warm-up counter
 * _PyCode_Quicken gave it (backoff ADAPTIVE_WARMUP_BACKOFF; a failed attempt raises the backoff,
 * a specialisation that later missed leaves the cool-down's 0). The cost policy does not
 * compile such code: a sample taken at the RESUME of a function's first or second call (the
 * pending call runs at the eval breaker there) would serialise an empty profile, and compiled
 * code without speculation would run from then on, in this process and, through the code
 * cache's key, in every later one that samples it as early. */
static int profile_formed(PyCodeObject *co)
{
    _Py_CODEUNIT *code = _PyCode_CODE(co);
    int specialisable = 0;
    for (Py_ssize_t i = 0; i < Py_SIZE(co);) {
        int op = code[i].op.code, base = _PyOpcode_Deopt[op];
        switch (base) {
        case LOAD_ATTR: case STORE_ATTR: case LOAD_GLOBAL: case LOAD_SUPER_ATTR: case BINARY_OP:
        case COMPARE_OP: case CONTAINS_OP: case BINARY_SUBSCR: case STORE_SUBSCR: case CALL:
        case FOR_ITER: case TO_BOOL: case UNPACK_SEQUENCE: case SEND:
            specialisable = 1;
            if (op != base || code[i + 1].counter.backoff != ADAPTIVE_WARMUP_BACKOFF) return 1;
            break;
        default:
            break;
        }
        i += 1 + _PyOpcode_Caches[base];
    }
    return !specialisable;
}

/* ---- on-stack replacement (issue 15, item 3) ----
 * A function called once whose loop is hot (a main(), richards' schedule) is compiled while its
 * frame runs in the interpreter, and compiled code would only serve its later calls. OSR moves
 * that frame into compiled code at a loop header. In CPython 3.13 the one way to change where
 * the interpreter goes on in a running frame is a sys.monitoring JUMP callback: it may set
 * frame->instr_ptr, which the interpreter then executes (Python/instrumentation.c
 * _Py_call_instrumentation_jump). So:
 *  - a compiled code object (compiled with EMBER_WIRE_FLAG_OSR: a resume point at each loop
 *    header) that has a frame running is "armed": local JUMP events of Ember's tool
 *    (sys.monitoring.OPTIMIZER_ID) on that code object only;
 *  - at the frame's next backward jump, osr_jump moves the frame's locals and value stack into a
 *    new frame of the same function standing at the loop header (the frame object, if any, moves
 *    with them) and runs the compiled code on it, in the old frame's place in the frame chain;
 *  - the compiled code finishes the call. The interpreter's frame is then made to return the
 *    result: instr_ptr at a RETURN_VALUE with the result on its stack, or at the RETURN_CONST of
 *    that very constant; the interpreter pops it as it pops any frame;
 *  - where the compiled code hands the frame to the interpreter (a deopt, e.g. because a tool
 *    came, or an exception handler), the locals, value stack and frame object go back to the
 *    interpreter's frame, which goes on from there (osr_hand_back);
 *  - an exception that leaves the compiled frame: its traceback entry is taken off, the locals
 *    are given back to the interpreter's frame (from the compiled frame's frame object) and
 *    instr_ptr is set to the raising instruction, so the interpreter's error path adds the same
 *    entry, finds no handler (a loop header inside a try block is never an OSR point) and pops
 *    the frame. The one difference left: that entry's frame object is a new one.
 * Not moved: generator-family frames, module and class bodies, a frame whose function's
 * __code__ changed, any frame while tracing or another monitoring tool is on. A code object is
 * disarmed after a move and armed at most EMBER_OSR_MAX_MOVES times.
 *
 * The rule: Ember must never change what a program observes, and its tool is one a program may
 * want, or see. So:
 *  - Ember holds tool id 5 only while some code object is armed (osr_claim at the first arm,
 *    osr_release when the last one is disarmed): otherwise sys.monitoring.get_tool(5) is None
 *    and the id is free;
 *  - nothing is armed while tracing, profiling or any other tool is on (osr_others_active), and
 *    when one comes, everything is disarmed and the id given back (osr_alone, osr_disarm_all):
 *    before sys.monitoring.use_tool_id runs (Ember's wrapper, mon_use_tool_id), and for
 *    sys.settrace and sys.setprofile at the next arm, backward jump of an armed frame or sample;
 *  - if another tool has id 5, nothing is armed (one log line);
 *  - the compiled code of a moved frame runs outside the JUMP callback (osr_jump): CPython runs
 *    callbacks with every event, trace and profile function silenced. */
static int try_compile(PyFunctionObject *func, CodeInfo *info, int sync);
static int jit_list_names(PyFunctionObject *func);
#define EMBER_OSR_TOOL PY_MONITORING_OPTIMIZER_ID
#define EMBER_OSR_MAX_MOVES 8
static int osr_mode = 1;         /* EMBER_OSR: 0 off, 1 under the cost policy (the default), 2 under every policy,
                                  * 3 the stress mode (osr_stress_arm) */
static PyInterpreterState *osr_held;   /* the interpreter whose tool id Ember holds (something is armed) */
static int osr_taken_logged;     /* the "tool id is taken" line was logged */
static long n_osr;               /* frames moved into compiled code (stats "osr") */
static int speculate = 1;        /* EMBER_SPECULATE: compile typed, guarded code from the profile (set_speculate) */
static long n_deopts;            /* failed guards of typed code (stats "deopts") */
static long n_recompiles;        /* compiled code withdrawn for failing guards (stats "recompiles") */
static long n_handoffs;          /* compiled frames handed to the interpreter at an eval-breaker check
                                  * because monitoring applies to their code (stats "handoffs") */
static long n_osr_arms;          /* code objects armed for OSR (stats "osr_arms") */
/* A code object whose guards have failed this many times since it was compiled is withdrawn
 * (its calls go back to the interpreter) and compiled again when hot, with the sites whose
 * guards failed compiled generic (CodeInfo.despec); after EMBER_MAX_RECOMPILES withdrawals it
 * is compiled without any speculation. */
#define EMBER_DEOPT_LIMIT 16
#define EMBER_MAX_RECOMPILES 3
/* Compiled code that reaches a loop the interpreter had never run (Deopt<ColdLoop>) hands the
 * frame over each time, and is withdrawn (to be compiled again with the loop's profile) only
 * when that happens in this many calls: a loop met once, at the end of a driver function
 * called once or twice (pyperf's WorkerTask._compute_values: its hook loop after the timed
 * loop), is not worth compiling a large function again for. */
#define EMBER_COLD_LOOP_CALLS 2
static PyObject *osr_callback;   /* osr_jump as a callable, kept here: it is unregistered while it may run */
static PyObject *osr_name;       /* "ember", the tool's name */
static PyObject *osr_set_local_events;   /* sys.monitoring.set_local_events (not Ember's wrapper) */
static PyObject *osr_disable;            /* sys.monitoring.DISABLE */
/* The armed code objects (borrowed: a dying one is taken off by free_info through osr_forget). */
typedef struct {
    PyCodeObject *co;
    CodeInfo *info;
} OsrArmed;
static OsrArmed *osr_armed_list;
static Py_ssize_t osr_n_armed, osr_armed_cap;
/* The frames of this thread that osr_jump has moved and whose compiled code runs, innermost first. */
typedef struct OsrMove {
    _PyInterpreterFrame *nf, *f;   /* the compiled frame and the interpreter's frame it left */
    struct OsrMove *outer;
} OsrMove;
static _Thread_local OsrMove *osr_moves;
/* What the compiled code of a moved frame returns when the frame went back to the interpreter
 * (osr_hand_back): a private object that no Python code can return. */
static PyObject osr_back = _PyObject_HEAD_INIT(&PyBaseObject_Type);
static PyObject *osr_jump(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
static PyMethodDef osr_jump_def = {"_osr_jump", (PyCFunction)(void (*)(void))osr_jump, METH_FASTCALL,
                                   "Ember's sys.monitoring JUMP callback (on-stack replacement)."};

static inline int osr_on(void)
{
    return osr_mode >= 2 || (osr_mode == 1 && cost_policy);
}

/* 1 when tracing, profiling or another sys.monitoring tool is on: a tool id in use, or an event
 * switched on globally (sys.settrace and sys.setprofile switch on those of tool ids 7 and 6,
 * which have no name). Ember itself only ever sets local events. (A tool that has id 5 makes
 * osr_claim fail.) */
static int osr_others_active(void)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    for (int t = 0; t < PY_MONITORING_TOOL_IDS; t++)
        if (t != EMBER_OSR_TOOL && interp->monitoring_tool_names[t]) return 1;
    for (int e = 0; e < _PY_MONITORING_UNGROUPED_EVENTS; e++)
        if (interp->monitors.tools[e]) return 1;
    return 0;
}

/* Takes Ember's tool id and registers the JUMP callback: what sys.monitoring.use_tool_id and
 * register_callback do (Python/instrumentation.c), done in place, as osr_release undoes it. 0
 * when the id is taken by another tool (logged once). */
static int osr_claim(void)
{
    if (osr_held) return 1;
    if (!osr_callback) {
        PyObject *exc = PyErr_GetRaisedException();
        PyObject *mon = PySys_GetObject("monitoring");   /* borrowed */
        Py_XSETREF(osr_name, PyUnicode_InternFromString("ember"));
        Py_XSETREF(osr_disable, mon ? PyObject_GetAttrString(mon, "DISABLE") : NULL);
        Py_XSETREF(osr_set_local_events, orig_set_local_events ? Py_NewRef(orig_set_local_events)
                                         : mon ? PyObject_GetAttrString(mon, "set_local_events") : NULL);
        if (osr_name && osr_disable && osr_set_local_events) osr_callback = PyCFunction_New(&osr_jump_def, NULL);
        PyErr_Clear();
        PyErr_SetRaisedException(exc);
        if (!osr_callback) return 0;
    }
    PyInterpreterState *interp = PyInterpreterState_Get();
    if (interp->monitoring_tool_names[EMBER_OSR_TOOL]) {
        if (!osr_taken_logged)
            ember_log("Ember: on-stack replacement is off: sys.monitoring tool id %d is taken", EMBER_OSR_TOOL);
        osr_taken_logged = 1;
        return 0;
    }
    interp->monitoring_tool_names[EMBER_OSR_TOOL] = Py_NewRef(osr_name);
    Py_XSETREF(interp->monitoring_callables[EMBER_OSR_TOOL][PY_MONITORING_EVENT_JUMP], Py_NewRef(osr_callback));
    osr_held = interp;
    ember_own_tools = 1 << EMBER_OSR_TOOL;
    return 1;
}

/* Gives the tool id back (nothing is armed): sys.monitoring.register_callback(5, JUMP, None)
 * and free_tool_id(5). Safe while a code object is being freed, also at exit (the interpreter
 * has cleared both by then). */
static void osr_release(void)
{
    if (!osr_held) return;
    Py_CLEAR(osr_held->monitoring_callables[EMBER_OSR_TOOL][PY_MONITORING_EVENT_JUMP]);
    Py_CLEAR(osr_held->monitoring_tool_names[EMBER_OSR_TOOL]);
    osr_held = NULL;
    ember_own_tools = 0;
}

/* Takes `info` off the armed list (the last one out releases the tool id). */
static void osr_forget(CodeInfo *info)
{
    if (!info->osr_armed) return;
    info->osr_armed = 0;
    for (Py_ssize_t i = 0; i < osr_n_armed; i++) {
        if (osr_armed_list[i].info == info) {
            osr_armed_list[i] = osr_armed_list[--osr_n_armed];
            break;
        }
    }
    if (osr_n_armed == 0) osr_release();
}

/* Switches Ember's JUMP events on `co` on (arming it: claims the tool id) or off. */
static void osr_set_events(PyCodeObject *co, CodeInfo *info, int on)
{
    if (on == info->osr_armed) return;
    if (on) {
        if (osr_n_armed == osr_armed_cap) {
            Py_ssize_t cap = osr_armed_cap ? 2 * osr_armed_cap : 16;
            OsrArmed *list = PyMem_RawRealloc(osr_armed_list, (size_t)cap * sizeof(OsrArmed));
            if (!list) return;
            osr_armed_list = list;
            osr_armed_cap = cap;
        }
        if (!osr_claim()) return;
    }
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *r = PyObject_CallFunction(osr_set_local_events, "iOi", EMBER_OSR_TOOL, (PyObject *)co,
                                        on ? 1 << PY_MONITORING_EVENT_JUMP : 0);
    Py_XDECREF(r);
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
    if (on && r) {
        n_osr_arms++;
        info->osr_armed = 1;
        osr_armed_list[osr_n_armed++] = (OsrArmed){co, info};
    }
    else if (on) {
        if (osr_n_armed == 0) osr_release();
    }
    else {
        osr_forget(info);
    }
}

/* Disarms every code object and gives the tool id back: tracing, profiling or another tool
 * has come (see the rule above). */
static void osr_disarm_all(void)
{
    while (osr_n_armed > 0) {
        OsrArmed a = osr_armed_list[osr_n_armed - 1];
        osr_set_events(a.co, a.info, 0);
    }
    osr_release();
}

/* 1 when no other tool is on; else Ember steps aside (osr_disarm_all) and it is 0. */
static int osr_alone(void)
{
    if (!osr_others_active()) return 1;
    osr_disarm_all();
    return 0;
}

/* Arms `co` (compiled with OSR entries) for a frame running it in the interpreter. */
static void osr_arm(PyCodeObject *co, CodeInfo *info)
{
    if (!osr_on() || !info->has_osr || info->osr_armed || info->state != 1 || info->osr_count >= EMBER_OSR_MAX_MOVES ||
        parked || exiting || !osr_alone())
        return;
    osr_set_events(co, info, 1);
}

/* The sweep, at a sample and at an install: a compiled code object armed for a frame that has
 * left this thread's stack without taking another backward jump is disarmed, so that Ember does
 * not hold its tool id for nothing. (The stress mode's arms, of code not compiled yet, are left
 * alone.) */
static void osr_sweep(PyThreadState *ts)
{
    for (Py_ssize_t i = osr_n_armed - 1; i >= 0; i--) {
        if (i >= osr_n_armed || osr_armed_list[i].info->state != 1) continue;
        PyCodeObject *co = osr_armed_list[i].co;
        _PyInterpreterFrame *f = ts->current_frame;
        while (f && !(f->owner == FRAME_OWNED_BY_THREAD && f->f_executable == (PyObject *)co)) f = f->previous;
        if (!f) osr_set_events(co, osr_armed_list[i].info, 0);
    }
}

/* At install: arms the code when one of this thread's frames runs it (the function called once
 * whose loop made it hot is still in that loop). */
static void osr_arm_if_running(CodeInfo *info)
{
    if (!osr_on() || !info->has_osr) return;
    PyThreadState *ts = PyThreadState_GetUnchecked();
    if (ts && osr_n_armed) osr_sweep(ts);
    for (_PyInterpreterFrame *f = ts ? ts->current_frame : NULL; f; f = f->previous) {
        if (f->owner == FRAME_OWNED_BY_THREAD && PyCode_Check(f->f_executable) &&
            ember_code_info((PyCodeObject *)f->f_executable) == info) {
            osr_arm((PyCodeObject *)f->f_executable, info);
            return;
        }
    }
}

/* The code unit of the first instruction of `co` whose base opcode is `base` (specialised
 * forms included), or -1 when it has none. */
static int find_base_op(PyCodeObject *co, int base)
{
    _Py_CODEUNIT *code = _PyCode_CODE(co);
    for (Py_ssize_t i = 0; i < Py_SIZE(co);) {
        int op = _PyOpcode_Deopt[code[i].op.code];
        if (op == base) return (int)i;
        i += 1 + _PyOpcode_Caches[op];
    }
    return -1;
}

/* 1 when `co` has a loop header a frame may move at (osr_jump): the target of a JUMP_BACKWARD
 * that no exception handler covers. Other code is never armed. */
static int osr_has_loop(PyCodeObject *co)
{
    _Py_CODEUNIT *code = _PyCode_CODE(co);
    int arg = 0, target, level, lasti;
    for (Py_ssize_t i = 0; i < Py_SIZE(co);) {
        int op = _PyOpcode_Deopt[code[i].op.code];
        Py_ssize_t next = i + 1 + _PyOpcode_Caches[op];
        arg = (arg << 8) | code[i].op.arg;
        if (op == JUMP_BACKWARD && !ember_find_handler(co, (int)(next - arg), &target, &level, &lasti)) return 1;
        if (op != EXTENDED_ARG) arg = 0;
        i = next;
    }
    return 0;
}

/* EMBER_OSR=3, the stress mode for tests: a function with a loop that is due for its compile
 * is not compiled at the call but armed, and runs in the interpreter; its first backward jump
 * compiles it on the calling thread and moves the frame (osr_jump). So every loop's first
 * iteration runs interpreted and the rest compiled, which CPython's own test suite checks
 * against the interpreter. A function whose calls take no backward jump is compiled normally
 * after 3 such calls. 1 when the call is to run in the interpreter, armed. */
static int osr_stress_arm(PyFunctionObject *func, PyCodeObject *co, CodeInfo *info)
{
    if (osr_mode != 3 || info->state != 0 || !ember_enabled || parked || exiting) return 0;
    if (info->osr_armed) {
        if (++info->osr_count <= 3) return 1;
        osr_set_events(co, info, 0);
        return 0;
    }
    if ((co->co_flags & EMBER_GEN_FLAGS) || !(co->co_flags & CO_OPTIMIZED) || refusal_reason(co) || is_instrumented(co) ||
        !osr_has_loop(co) || !jit_list_names(func) || !osr_alone())
        return 0;
    osr_set_events(co, info, 1);
    return info->osr_armed;
}

/* The start (its first EXTENDED_ARG) of a RETURN_CONST of `co` whose constant is `v`, or -1. */
static int osr_find_return_const(PyCodeObject *co, PyObject *v)
{
    _Py_CODEUNIT *code = _PyCode_CODE(co);
    int start = 0, arg = 0;
    for (Py_ssize_t i = 0; i < Py_SIZE(co);) {
        int op = _PyOpcode_Deopt[code[i].op.code];
        arg = (arg << 8) | code[i].op.arg;
        if (op == RETURN_CONST && arg < PyTuple_GET_SIZE(co->co_consts) && PyTuple_GET_ITEM(co->co_consts, arg) == v)
            return start;
        if (op != EXTENDED_ARG) { arg = 0; start = (int)(i + 1 + _PyOpcode_Caches[op]); }
        i += 1 + _PyOpcode_Caches[op];
    }
    return -1;
}

/* The exception leaving the compiled frame `nfo` (its frame object) of an OSR move: see above. */
static void osr_hand_back_exception(_PyInterpreterFrame *f, PyCodeObject *co, int header)
{
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *tbo = exc ? PyException_GetTraceback(exc) : NULL;
    f->instr_ptr = _PyCode_CODE(co) + header;
    if (tbo && PyTraceBack_Check(tbo)) {
        PyTracebackObject *tb = (PyTracebackObject *)tbo;
        PyFrameObject *fo = tb->tb_frame;
        if (fo && fo->f_frame && fo->f_frame->f_executable == (PyObject *)co) {
            for (int i = 0; i < co->co_nlocalsplus; i++) {
                Py_XSETREF(f->localsplus[i], Py_XNewRef(fo->f_frame->localsplus[i]));
            }
            f->instr_ptr = _PyCode_CODE(co) + tb->tb_lasti / (int)sizeof(_Py_CODEUNIT);
            PyException_SetTraceback(exc, tb->tb_next ? (PyObject *)tb->tb_next : Py_None);
        }
    }
    Py_XDECREF(tbo);
    PyErr_SetRaisedException(exc);
}

/* sys.monitoring JUMP callback of Ember's tool: (code, from, to), offsets in bytes. Returns None
 * (go on), DISABLE (never again at this jump), or NULL with an exception (the compiled code of
 * a moved frame raised it: see above). */
static PyObject *osr_jump(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3 || !PyCode_Check(args[0])) Py_RETURN_NONE;
    PyCodeObject *co = (PyCodeObject *)args[0];
    long from = PyLong_AsLong(args[1]), to = PyLong_AsLong(args[2]);
    if (PyErr_Occurred()) { PyErr_Clear(); Py_RETURN_NONE; }
    CodeInfo *info = ember_code_info(co);
    if (to >= from || !info) return Py_NewRef(osr_disable);
    if (!info->osr_armed || !osr_alone()) Py_RETURN_NONE;
    if (osr_mode == 3 && info->state == 0) {
        /* The stress mode's first backward jump: compile now (disarmed, so that the bytecode
         * is the interpreter's own again), then move as below. */
        _PyInterpreterFrame *sf = PyThreadState_Get()->current_frame;
        if (sf == NULL || sf->f_executable != (PyObject *)co || !PyFunction_Check(sf->f_funcobj)) Py_RETURN_NONE;
        osr_set_events(co, info, 0);
        info->osr_count = 0;
        if (!try_compile((PyFunctionObject *)sf->f_funcobj, info, 1)) Py_RETURN_NONE;
    }
    if (!info->has_osr) return Py_NewRef(osr_disable);
    if (info->state != 1 || !ember_enabled || parked) {
        osr_set_events(co, info, 0);
        Py_RETURN_NONE;
    }
    int header = (int)(to / (long)sizeof(_Py_CODEUNIT));
    int target, level, lasti;
    if (ember_find_handler(co, header, &target, &level, &lasti)) return Py_NewRef(osr_disable);
    PyThreadState *ts = PyThreadState_Get();
    _PyInterpreterFrame *f = ts->current_frame;
    if (f == NULL || f->f_executable != (PyObject *)co || f->owner != FRAME_OWNED_BY_THREAD ||
        !PyFunction_Check(f->f_funcobj))
        Py_RETURN_NONE;
    PyFunctionObject *func = (PyFunctionObject *)f->f_funcobj;
    if (func->func_code != (PyObject *)co || !(co->co_flags & CO_OPTIMIZED) || f->f_locals != NULL || monitoring_active(ts, co) ||
        !_PyThreadState_HasStackSpace(ts, co->co_framesize) || ts->c_recursion_remaining < EMBER_C_RESERVE ||
        ts->py_recursion_remaining <= 0)
        Py_RETURN_NONE;
    if (info->osr_return == 0) {
        int k = find_base_op(co, RETURN_VALUE);
        info->osr_return = k < 0 ? -1 : k + 1;
    }
    int n = co->co_nlocalsplus;
    int depth = f->stacktop - n;
    if (depth < 0) Py_RETURN_NONE;
    /* The move: locals, value stack and frame object to a new frame at the loop header. */
    _PyInterpreterFrame *nf = _PyFrame_PushUnchecked(ts, (PyFunctionObject *)Py_NewRef(func), n + depth);
    for (int i = 0; i < n + depth; i++) {
        nf->localsplus[i] = f->localsplus[i];
        f->localsplus[i] = NULL;
    }
    nf->stacktop = n + depth;
    f->stacktop = n;
    nf->instr_ptr = _PyCode_CODE(co) + header;
    if (f->frame_obj) {
        nf->frame_obj = f->frame_obj;   /* the frame's reference moves too */
        f->frame_obj = NULL;
        nf->frame_obj->f_frame = nf;
    }
    info->osr_count++;
    n_osr++;
    osr_set_events(co, info, 0);
    PyObject *name = full_name(func);
    const char *cname = name ? PyUnicode_AsUTF8(name) : NULL;
    if (!cname) { PyErr_Clear(); cname = "?"; }
    ember_log("Ember: on-stack replacement of %s at code unit %d", cname, header);
    Py_XDECREF(name);
    /* nf takes f's place in the frame chain (and in the recursion depth) while compiled code runs.
     * It runs outside the callback: CPython calls a callback with tstate->tracing raised (and
     * what_event set), which silences every event, trace and profile function until it returns,
     * so the rest of the call, its callees included, would be invisible to tools that start. */
    int tracing = ts->tracing, what_event = ts->what_event;
    ts->tracing--;
    ts->what_event = -1;
    ts->current_frame = f->previous;
    ts->py_recursion_remaining++;
    OsrMove move = {nf, f, osr_moves};
    osr_moves = &move;
    PyObject *r = ember_run_entry(ts, nf, info->entry);
    osr_moves = move.outer;
    ts->py_recursion_remaining--;
    ts->current_frame = f;
    ts->tracing = tracing;
    ts->what_event = what_event;
    if (r == &osr_back) Py_RETURN_NONE;   /* f goes on in the interpreter where nf stopped */
    if (r == NULL) {
        osr_hand_back_exception(f, co, header);
        return NULL;
    }
    int k = osr_find_return_const(co, r);
    if (k >= 0) {
        Py_DECREF(r);   /* RETURN_CONST pushes its own reference */
        f->instr_ptr = _PyCode_CODE(co) + k;
    }
    else if (info->osr_return > 0) {
        f->localsplus[n] = r;
        f->stacktop = n + 1;
        f->instr_ptr = _PyCode_CODE(co) + (info->osr_return - 1);
    }
    else {
        /* Cannot happen: compiled code returns through the code's own return instructions. */
        Py_DECREF(r);
        PyErr_SetString(PyExc_SystemError, "Ember: on-stack replacement found no return instruction");
        f->instr_ptr = _PyCode_CODE(co) + header;
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The compiled code of a moved frame hands it to the interpreter (ember_rt_deopt; unwind, for an
 * exception handler) with nf's instr_ptr and value stack set: the locals, the value stack and
 * the frame object go back to the interpreter's frame, nf is popped, and osr_jump returns, so
 * that the interpreter goes on with its own frame from there. The interpreter never runs nf,
 * whose return would be a second return of the same call to a tool that has come meanwhile
 * (a PY_RETURN event, a profile function's "return"). One such tool misses one event: a JUMP
 * event when nf stopped at the very backward jump that moved it (the callback's frame then goes
 * on at the jump's target). Returns the marker for osr_jump. */
static PyObject *osr_hand_back(PyThreadState *ts)
{
    _PyInterpreterFrame *nf = osr_moves->nf, *f = osr_moves->f;
    for (int i = 0; i < nf->stacktop; i++) {
        f->localsplus[i] = nf->localsplus[i];   /* f's slots have been empty since the move */
        nf->localsplus[i] = NULL;
    }
    f->stacktop = nf->stacktop;
    f->instr_ptr = nf->instr_ptr;
    nf->stacktop = 0;
    if (nf->frame_obj) {
        f->frame_obj = nf->frame_obj;
        nf->frame_obj = NULL;
        f->frame_obj->f_frame = f;
    }
    ts->current_frame = nf->previous;
    ts->py_recursion_remaining++;
    _PyEval_FrameClearAndPop(ts, nf);
    return &osr_back;
}

/* A weak reference to func for the queued-compile record (NULL on failure, error cleared). A
 * reference without a callback holds nothing and cannot be part of a cycle, so a new one is taken
 * out of the garbage collector's lists: `gc.get_objects()` and collection counts stay those of the
 * interpreter while a compile is queued (test_descr's lookup-leak check counts them). A reference
 * that already existed (CPython shares callback-less references) is left as it was. */
static PyObject *untracked_weakref(PyObject *func)
{
    PyObject *ref = PyWeakref_NewRef(func, NULL);
    if (!ref) {
        PyErr_Clear();
        return NULL;
    }
    if (Py_REFCNT(ref) == 1 && PyObject_GC_IsTracked(ref)) PyObject_GC_UnTrack(ref);
    return ref;
}

/* The function whose call queued info's compile (a new reference), or NULL when there is none
 * or it has died; the record's weak reference is released either way. */
static PyObject *take_pending_func(CodeInfo *info)
{
    PyObject *f = NULL;
    if (info->pending_func && PyWeakref_GetRef(info->pending_func, &f) < 0) PyErr_Clear();
    Py_CLEAR(info->pending_func);
    return f;
}

/* Makes compiled code the code object's entry (GIL held): counts, the log line, the perf map. */
static void install(CodeInfo *info, PyObject *name, const EmberCompiled *out)
{
    const char *cname = name ? PyUnicode_AsUTF8(name) : NULL;
    if (!cname) { PyErr_Clear(); cname = "?"; }
    if (info->is_gen) install_eval_frame_hook();
    info->entry = (entry_fn)out->entry;
    info->handle = out->handle;
    info->code_size = out->code_size;
    info->state = 1;
    if (info->preload == 3) info->preload = 2;   /* the preload hit (load_only_missed) */
    n_samples_compiled += info->samples;
    n_time_compiled += info->hits;
    if (info->is_gen) n_gen_samples_compiled += info->samples;
    total_compile_ns += out->compile_ns;
    n_compiled++;
    n_cache_stored += out->cache == EMBER_CACHE_USE_STORED || out->cache == EMBER_CACHE_USE_REJECTED;
    n_cache_rejected += out->cache == EMBER_CACHE_USE_REJECTED;
    if (out->cache == EMBER_CACHE_USE_LOADED) {
        n_cache_loaded++;
        ember_log("Loaded from cache %s (%llu bytes, %.2f ms)", cname, (unsigned long long)out->code_size, out->compile_ns / 1e6);
    } else {
        if (out->cache == EMBER_CACHE_USE_REJECTED)
            ember_log("Ember: the code cache's entry for %s was truncated, corrupt or foreign: deleted, not run", cname);
        ember_log("Finished compiling %s (%llu bytes, %.2f ms)", cname, (unsigned long long)out->code_size, out->compile_ns / 1e6);
        if (opt_log_passes) ember_log("Passes %s: %s", cname, out->passes);
    }
    if (opt_perf) ember_perf_record(opt_perf, out->entry, out->code_size, cname);
    if (compiled_names && name && PyList_Append(compiled_names, name) < 0) PyErr_Clear();
    osr_arm_if_running(info);
    /* The function whose call queued the compile ran on in the interpreter with its own calls
     * (restore_interpreted); from now on its calls run the compiled code. */
    PyObject *f = take_pending_func(info);
    if (f) watch((PyFunctionObject *)f);
    Py_XDECREF(f);
}

static long n_preload_missed;   /* preload requests that found no cached code (ember.stats()["preloads_missed"]) */

/* A load-only request found no cached code (the profile differs from the one the cached
 * code was specialised for, or the entry is gone): the function is priced as a compile until
 * it has twice the samples, and after EMBER_LOAD_ONLY_TRIES misses for good. */
static void load_only_missed(CodeInfo *info)
{
    if (info->preload == 3) {
        /* A preload's miss (its profile not formed as the cached code's yet) counts as none of
         * the load-only tries: the function is asked for again at a sample. */
        info->preload = 2;
        info->load_only = 0;
        n_preload_missed++;
        return;
    }
    n_cache_missed++;
    info->load_only = 0;
    info->cache_misses++;
    info->cache_retry_at = 2 * info->samples + 1;
}

/* A function whose compile was dropped from a full queue (EMBER_AUTO=N) goes back to the
 * interpreter's own calls, with its version, so that call sites the interpreter specialises
 * inline it meanwhile (a recursion through generic calls of the trampoline would spend the C
 * stack: CPython's test_call TestRecursion.test_super_deep, with EMBER_AUTO=0, 90,000 levels),
 * and waits for a place in the queue (retry_later). It used to stay on the trampoline to be
 * counted and submitted again; calls the interpreter inlines are never counted, and those that
 * were serialised it anew every EMBER_AUTO calls, to be dropped again (390,000 times in the first
 * second of deltablue at EMBER_AUTO=2). */
static void retry_later(PyFunctionObject *func, CodeInfo *info);

static void wait_for_room(PyFunctionObject *func, CodeInfo *info)
{
    if (cost_policy || parked) return;
    info->dropped = 1;
    if (func->vectorcall == ember_vectorcall) restore_interpreted(func);
    retry_later(func, info);
}

/* ---- dropped compiles, submitted again when the queue has room (EMBER_AUTO=N) ----
 * A function whose compile found the queue full of hotter ones runs the interpreter's calls
 * (wait_for_room). Before this, nothing submitted it again but a call through the trampoline,
 * and the interpreter's specialised call sites inline it instead: a program whose imports filled
 * the queue (EMBER_AUTO=2 queues every function called twice) had none of its own functions
 * compiled, however hot (deltablue: 0 of 60 after 4 s, 0.74x the interpreter). So each dropped
 * function waits here, by weak reference, oldest first; every finished compile frees a place in the
 * queue, and bg_install_ready submits that many of them again (try_compile: serialised anew,
 * with the profile as it is now). One dropped again comes back to the end. When more than
 * EMBER_RETRY_SLOTS wait, the oldest is forgotten: it stays with the interpreter, as every
 * dropped function did before. */
#define EMBER_RETRY_SLOTS 4096
static PyObject *retry_ring[EMBER_RETRY_SLOTS];   /* weak references to functions (owned) */
static unsigned retry_head, retry_count;           /* oldest slot; slots in use */

/* Takes the oldest waiting function out of the ring (retry_count > 0): a new reference, or
 * NULL when it has died; its record (if any) no longer counts as waiting. */
static PyFunctionObject *retry_pop(void)
{
    PyObject *ref = retry_ring[retry_head];
    retry_ring[retry_head] = NULL;
    retry_head = (retry_head + 1) % EMBER_RETRY_SLOTS;
    retry_count--;
    PyObject *f = NULL;
    if (PyWeakref_GetRef(ref, &f) < 0) PyErr_Clear();
    Py_DECREF(ref);
    if (f != NULL) {
        CodeInfo *info = ember_code_info((PyCodeObject *)((PyFunctionObject *)f)->func_code);
        if (info) info->retry_waiting = 0;
    }
    return (PyFunctionObject *)f;
}

static void retry_later(PyFunctionObject *func, CodeInfo *info)
{
    if (info->retry_waiting) return;
    PyObject *ref = untracked_weakref((PyObject *)func);
    if (!ref) return;
    if (retry_count == EMBER_RETRY_SLOTS) Py_XDECREF(retry_pop());   /* full: forget the oldest */
    retry_ring[(retry_head + retry_count) % EMBER_RETRY_SLOTS] = ref;
    retry_count++;
    info->retry_waiting = 1;
}

/* Submits up to `n` waiting functions again (GIL held). Dead ones, and those compiled, queued
 * or refused meanwhile (a call through the trampoline may have submitted one), are skipped
 * without counting. */
static void retry_dropped(size_t n)
{
    unsigned budget = retry_count;   /* each is looked at once per call, however often it is dropped again */
    while (n > 0 && budget-- > 0 && retry_count > 0) {
        PyFunctionObject *func = retry_pop();
        if (func == NULL) continue;
        CodeInfo *info = ember_code_info((PyCodeObject *)func->func_code);
        if (info && info->state == 0 && !info->entry && ember_enabled && auto_threshold >= 0 && !cost_policy &&
            jit_list_names(func)) {
            info->dropped = 0;
            (void)try_compile(func, info, 0);
            n--;
        }
        Py_DECREF(func);
    }
}

/* Installs every finished background compile (GIL held). Cheap when none is ready: one atomic
 * load in libember. A result names its record by address; records are withdrawn from the
 * compile thread before they are freed (free_info), so every token here is live. */
#define BG_POLL_BATCH 16
static void bg_install_ready(void)
{
    if (!p_bg_ready || !p_bg_ready()) return;
    EmberBgResult res[BG_POLL_BATCH];
    PyObject *exc = PyErr_GetRaisedException();
    size_t n, freed = 0;   /* compiles finished: places the queue has gained */
    while ((n = p_bg_poll(res, BG_POLL_BATCH)) > 0) {
        for (size_t i = 0; i < n; i++) {
            CodeInfo *info = (CodeInfo *)(uintptr_t)res[i].token;
            if (res[i].status != EMBER_STATUS_DROPPED) freed++;
            PyObject *name = info->pending_name;
            info->pending_name = NULL;
            if (res[i].status == EMBER_STATUS_OK) {
                info->load_only = 0;
                install(info, name, &res[i].compiled);
            }
            else if (res[i].status == EMBER_STATUS_DROPPED) {
                if (info->load_only) load_only_missed(info);
                info->state = 0;   /* counts its calls again and is submitted again when hot */
                info->ncalls = 0;
                PyObject *f = take_pending_func(info);
                if (f) wait_for_room((PyFunctionObject *)f, info);
                Py_XDECREF(f);
            }
            else {
                Py_CLEAR(info->pending_func);
                const char *cname = name ? PyUnicode_AsUTF8(name) : NULL;
                if (!cname) { PyErr_Clear(); cname = "?"; }
                ember_log("Not compiling %s: %s", cname, res[i].message);
                refuse(info, res[i].message);
                n_refused++;
            }
            Py_XDECREF(name);
        }
    }
    if (freed && retry_count) retry_dropped(freed);
    PyErr_SetRaisedException(exc);
}

/* ---- installing without a poll: the compile thread's notify hook ----
 * Functions waiting for their compile run the interpreter's own calls (restore_interpreted),
 * so nothing of theirs polls; instead libember calls bg_notify (on its compile thread, without
 * the GIL) when a result is ready, and bg_notify schedules bg_install_pending as a pending call,
 * which whichever thread holds the GIL runs at its next eval-breaker check
 * (Python/ceval_gil.c _PyEval_AddPendingCall, flags 0: not only the main thread). */
static PyInterpreterState *main_interp;
static atomic_int install_scheduled;   /* a bg_install_pending call is queued */

static int bg_install_pending(void *unused)
{
    (void)unused;
    atomic_store(&install_scheduled, 0);
    bg_install_ready();
    return 0;
}

static void bg_notify(void)
{
    if (main_interp == NULL || atomic_exchange(&install_scheduled, 1)) return;
    if (_PyEval_AddPendingCall(main_interp, bg_install_pending, NULL, 0) != _Py_ADD_PENDING_SUCCESS)
        atomic_store(&install_scheduled, 0);   /* queue full: the next result or poll retries */
}

/* ---- the cost policy: compile where it pays (auto() without a threshold; src/policy.rs) ----
 * A sampler thread schedules take_sample every EMBER_SAMPLE_INTERVAL_US as a pending call,
 * which the thread holding the GIL runs at its next eval-breaker check: the innermost Python
 * frame it is running gets one sample. Functions are never intercepted while they wait (no
 * trampoline, no zeroed version: the interpreter specialises and inlines their calls); one is
 * compiled (queued for the compile thread) once the time its code has spent in the
 * interpreter, times the saving share, reaches the estimated compile cost. After install, a
 * sample that finds the code running in the interpreter under a function object that still
 * has the interpreter's calls sends that function to compiled code too. */
static pthread_t sampler_thread;
static atomic_int sampler_on;          /* the sampler thread runs (cleared to stop it) */
static atomic_int sample_scheduled;    /* a take_sample call is queued */
static pthread_mutex_t sampler_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sampler_wake;    /* CLOCK_MONOTONIC; signalled by sampler_stop */
static uint64_t n_samples;             /* samples taken */
static uint64_t n_samples_handed;      /* samples of the functions precompile_write handed on */
static uint64_t n_trampolines_opened;  /* open_trampoline calls that cleared a version */
static uint64_t warm_program_samples;  /* samples of an earlier run of this program (shim_warm_start); 0: none */
static int first_compile_asked;        /* a compile (not a load-only request) was asked for */

static int try_compile(PyFunctionObject *func, CodeInfo *info, int sync);

/* 1 when there is no jit list or it names the function (both policies ask this). */
static int jit_list_names(PyFunctionObject *func)
{
    if (!jit_list) return 1;
    PyObject *name = full_name(func);
    if (!name) { PyErr_Clear(); return 0; }
    int m = jit_list_matches(name);
    Py_DECREF(name);
    return m;
}

static long n_cpus = 1;                 /* CPUs this process may run on (sampler_start) */

/* Idle CPU time of the whole machine so far, and all CPU time, in clock ticks (the first line
 * of /proc/stat); 0 when it cannot be read. */
static int machine_cpu_ticks(unsigned long long *idle, unsigned long long *total)
{
    FILE *fp = fopen("/proc/stat", "r");
    if (!fp) return 0;
    unsigned long long v[8] = {0};
    int n = fscanf(fp, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]);
    fclose(fp);
    if (n < 4) return 0;
    *idle = v[3] + v[4];   /* idle + iowait */
    *total = 0;
    for (int k = 0; k < 8; k++) *total += v[k];
    return 1;
}

static double seconds_of(clockid_t clock)
{
    struct timespec t;
    return clock_gettime(clock, &t) == 0 ? (double)t.tv_sec + t.tv_nsec / 1e9 : 0.0;
}

/* 1 when the compile thread most likely gets a CPU of its own: more than one CPU, and over the
 * last look's interval (at least a second) the machine had half a CPU or more that was idle or
 * used by this process's own threads other than this one (the compile thread, the sampler).
 * On a busy machine a background compile takes its CPU time from the program, so it costs in
 * full. The interval is the recent past, not the 1-minute load average this test used before:
 * under bench/run.py, which runs one process after another on two CPUs, that average stayed
 * above 1 from the processes before (and from Ember's own compile thread), so every compile
 * was priced four times higher and steady go workers compiled 1-3 functions instead of 12-16.
 * Where /proc/stat cannot be read, the 1-minute load average decides as before. */
static int spare_cpu(void)
{
    static time_t checked;
    static int spare;
    static unsigned long long idle0, total0;
    static double process0, thread0;
    time_t now = time(NULL);
    if (now == checked) return spare;
    checked = now;
    unsigned long long idle, total;
    double process = seconds_of(CLOCK_PROCESS_CPUTIME_ID), thread = seconds_of(CLOCK_THREAD_CPUTIME_ID);
    if (n_cpus <= 1) {
        spare = 0;
    }
    else if (machine_cpu_ticks(&idle, &total)) {
        if (total0 != 0 && total > total0) {
            long cpus = sysconf(_SC_NPROCESSORS_ONLN);
            double wall_cpus = (double)(total - total0) / (cpus > 0 ? cpus : 1);   /* ticks of one CPU */
            double idle_cpus = (double)(idle - idle0) / wall_cpus;
            double ticks_per_s = (double)sysconf(_SC_CLK_TCK);
            double own_cpus = ((process - process0) - (thread - thread0)) * ticks_per_s / wall_cpus;
            spare = idle_cpus + (own_cpus > 0 ? own_cpus : 0) >= 0.5;
        }
        else {
            spare = 1;   /* the first look: no interval yet */
        }
        idle0 = idle;
        total0 = total;
    }
    else {
        double load;
        spare = getloadavg(&load, 1) != 1 || load <= (double)n_cpus - 1.0;
    }
    process0 = process;
    thread0 = thread;
    return spare;
}

/* ---- the code cache's hot markers ----
 * With the persistent code cache on, a function leaves an empty file
 * <cache dir>/hot/<identity> (hex of an FNV-1a hash of its qualified name, file name, first line
 * and bytecode) when Ember sends it to the compiler. In a later process the cost policy prices a function with a marker at
 * EMBER_COST_CACHED_US instead of a compile's cost (its code is most likely a cache load), so it
 * is compiled after far fewer samples. The marker says nothing about the code: the cache key
 * (src/cache.rs) decides whether the load happens. */
#define EMBER_FNV_OFFSET 1469598103934665603ull
/* FNV-1a over `len` bytes at `p`, continuing from `h` (EMBER_FNV_OFFSET to start). */
static inline uint64_t fnv1a(uint64_t h, const void *p, size_t len)
{
    const unsigned char *q = p;
    for (size_t i = 0; i < len; i++) {
        h ^= q[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* `co`'s identity in *out: FNV-1a of its qualified name, file name, first line and unspecialised
 * bytecode. -1 with an exception set when a name cannot be read. */
static int hot_identity(PyCodeObject *co, uint64_t *out)
{
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(co->co_qualname, &len);
    if (!s) return -1;
    uint64_t h = fnv1a(EMBER_FNV_OFFSET, s, (size_t)len + 1);
    s = PyUnicode_AsUTF8AndSize(co->co_filename, &len);
    if (!s) return -1;
    h = fnv1a(h, s, (size_t)len + 1);
    h = fnv1a(h, &co->co_firstlineno, sizeof co->co_firstlineno);
    PyObject *code = PyCode_GetCode(co);   /* the unspecialised bytecode */
    if (!code) return -1;
    h = fnv1a(h, PyBytes_AS_STRING(code), (size_t)PyBytes_GET_SIZE(code));
    Py_DECREF(code);
    *out = h;
    return 0;
}

/* The path of `co`'s hot marker, <cache>/hot/<identity> (hot_identity: FNV-1a of qualified
 * name, file name, first line and bytecode). -1 with an exception set on failure. */
static int hot_marker_path(PyCodeObject *co, char *buf, size_t n)
{
    uint64_t h;
    if (hot_identity(co, &h) < 0) return -1;
    snprintf(buf, n, "%s/hot/%016llx", cache_dir, (unsigned long long)h);
    return 0;
}

/* ---- preloading on a warm start ----
 * A warm start used to load each function with a hot marker at its first sample: one function
 * per 5 ms sample, after the interpreter had run it that long, so the first iteration of float
 * in a warm-started process took 60 ms where later ones took 42-52 (the interpreter: 71-75). Now
 * the program marker also names the functions the earlier run compiled, loaded or handed on
 * (preload_note; `fn KEY IDENTITY` lines, ember._cli), and a warm start asks for each one's
 * cached code at its EMBER_PRELOAD_CALLS-th call (two calls have run: an instruction outside a
 * loop specialises at its second run): the function watcher puts a new function whose
 * qualified name and first line hash to a listed KEY (preload_key, a cheap test) and whose
 * identity (hot_identity) is listed on the trampoline, which counts its calls (ember_vectorcall).
 * The request is load-only: a miss (a profile not yet like the one the cached code is for: a
 * branch not taken yet) compiles nothing, and the function is asked for again at a sample, as
 * before (ember.stats()["preloads"], ["preloads_missed"]). Compiled at the third call (EMBER_AUTO=2
 * with a jit list), two of float's three methods found the code compiled under the cost policy;
 * Point.maximize, whose conditional expressions had taken one side only, did not (at the ninth
 * call it did). */
#define EMBER_PRELOAD_MAX 256
#define EMBER_PRELOAD_CALLS 3
#define EMBER_PRELOAD_WAIT 8   /* calls after that to wait for a profile, at most */
typedef struct {
    uint64_t key, ident;
    int gen;   /* generator-family code (gen_hook_pays_next_run) */
} PreloadEntry;
static PreloadEntry paying_fns[EMBER_PRELOAD_MAX];   /* this run's, for the next run's marker */
static int n_paying_fns;
static PreloadEntry preload_fns[EMBER_PRELOAD_MAX];  /* the earlier run's, sorted by key */
static int n_preload_fns;
static long n_preloads;   /* requests made at a call (ember.stats()["preloads"]) */

/* A cheap, process-independent hash of `co`'s qualified name and first line (never 0), or 0
 * when the name cannot be read. */
static uint64_t preload_key(PyCodeObject *co)
{
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(co->co_qualname, &len);
    if (!s) {
        PyErr_Clear();
        return 0;
    }
    uint64_t h = fnv1a(EMBER_FNV_OFFSET, s, (size_t)len);
    return fnv1a(h, &co->co_firstlineno, sizeof co->co_firstlineno) | 1;
}

/* Remembers `co` among this run's functions that ran compiled code or were handed on (for the
 * program marker; ember._shim.preload_list). Best effort; keeps any raised exception. */
static void preload_note(PyCodeObject *co)
{
    if (!cache_dir || !cost_policy || n_paying_fns == EMBER_PRELOAD_MAX) return;
    PyObject *exc = PyErr_GetRaisedException();
    uint64_t key = preload_key(co), ident;
    if (key && hot_identity(co, &ident) == 0) {
        int seen = 0;
        for (int i = 0; i < n_paying_fns && !seen; i++) seen = paying_fns[i].ident == ident;
        if (!seen) paying_fns[n_paying_fns++] = (PreloadEntry){key, ident, (co->co_flags & EMBER_GEN_FLAGS) != 0};
    }
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
}

/* 1 when `co` is one of the earlier run's functions (preload_fns). */
static int preload_listed(PyCodeObject *co)
{
    uint64_t key = preload_key(co);
    int lo = 0, hi = n_preload_fns;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (preload_fns[mid].key < key) lo = mid + 1;
        else hi = mid;
    }
    if (lo == n_preload_fns || preload_fns[lo].key != key) return 0;
    uint64_t ident;
    PyObject *exc = PyErr_GetRaisedException();
    int ok = hot_identity(co, &ident) == 0;
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
    for (int i = lo; ok && i < n_preload_fns && preload_fns[i].key == key; i++)
        if (preload_fns[i].ident == ident) return 1;
    return 0;
}

static int cmp_preload(const void *a, const void *b)
{
    uint64_t x = ((const PreloadEntry *)a)->key, y = ((const PreloadEntry *)b)->key;
    return x < y ? -1 : x > y;
}

/* Creates the cache directory and its hot/ folder for the marker at `path` (mode 0700; the
 * cache's first write may come later, src/cache.rs). */
static void make_marker_dir(char *path)
{
    mkdir(cache_dir, 0700);
    char *slash = strrchr(path, '/');
    *slash = 0;
    mkdir(path, 0700);
    *slash = '/';
}

/* A marker's content: empty (an earlier process compiled the function), "promising\n" (one
 * found it promising, none compiled it yet: cache_mark_hot), and/or "despec U1 U2 ...\n", the
 * code units whose guards made an earlier process withdraw the function (cache_record_despec).
 * Those join info->despec, so the first compile here serialises those instructions generic
 * (serialize.c) and its cached code does not fail the same guards in every process. Anything
 * else in the file is ignored. */
static void read_marker_despec(const char *path, CodeInfo *info)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return;
    char word[16];
    int got = fscanf(fp, "%15s", word);
    if (got == 1 && strcmp(word, "promising") == 0) {
        info->warm_promising = 1;
        got = fscanf(fp, "%15s", word);
    }
    if (got == 1 && strcmp(word, "despec") == 0) {
        int unit;
        while (info->ndespec < EMBER_MAX_DESPEC && fscanf(fp, "%d", &unit) == 1) {
            int seen = 0;
            for (int k = 0; k < info->ndespec; k++) seen |= info->despec[k] == unit;
            if (!seen && unit >= 0) info->despec[info->ndespec++] = unit;
        }
    }
    fclose(fp);
}

/* 1 when `co` has a hot marker (looked up once per code object, with its failing guards). */
static int cache_warm(PyCodeObject *co, CodeInfo *info)
{
    if (!cache_dir) return 0;
    if (info->warm == 0) {
        char path[PATH_MAX];
        PyObject *exc = PyErr_GetRaisedException();
        info->warm = hot_marker_path(co, path, sizeof path) == 0 && access(path, F_OK) == 0 ? 1 : -1;
        if (info->warm == 1) read_marker_despec(path, info);
        PyErr_Clear();
        PyErr_SetRaisedException(exc);
    }
    return info->warm == 1;
}

/* Writes the failing guards of a function just withdrawn (info->despec) into its hot marker
 * for later processes (read_marker_despec): a temporary file renamed over the marker, so a
 * reader sees the old content or the new, never a part. Best effort. */
static void cache_record_despec(PyCodeObject *co, CodeInfo *info)
{
    char path[PATH_MAX], tmp[PATH_MAX + 32];
    PyObject *exc = PyErr_GetRaisedException();
    if (info->ndespec > 0 && hot_marker_path(co, path, sizeof path) == 0) {
        make_marker_dir(path);
        snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
        FILE *fp = fopen(tmp, "w");
        if (fp) {
            fputs("despec", fp);
            for (int k = 0; k < info->ndespec; k++) fprintf(fp, " %d", (int)info->despec[k]);
            fputc('\n', fp);
            if (fclose(fp) != 0 || rename(tmp, path) != 0) unlink(tmp);
        }
    }
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
}

/* Leaves `co`'s hot marker (best effort: a failure only costs the next process time); `state`
 * is what info->warm becomes: 1 (sent to the compiler; a "promising" marker is emptied) or 2
 * (promising, for later processes: the marker says "promising"). */
static void cache_mark_hot(PyCodeObject *co, CodeInfo *info, int state)
{
    char path[PATH_MAX];
    PyObject *exc = PyErr_GetRaisedException();
    if (state == 1 && (info->warm == 2 || info->warm_promising) && hot_marker_path(co, path, sizeof path) == 0) {
        /* Compiled now: no longer only promising (a warm start then asks for its cached code,
         * EMBER_WIRE_FLAG_CACHE_ONLY). An empty file, as for code compiled at once. */
        int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd >= 0) close(fd);
        info->warm_promising = 0;
        if (info->warm == 2) info->warm = 1;
    }
    else if (info->warm <= 0 && hot_marker_path(co, path, sizeof path) == 0) {
        make_marker_dir(path);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            if (state == 2 && write(fd, "promising\n", 10) != 10) { /* best effort: an empty marker */ }
            close(fd);
        }
        info->warm = state;
    }
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
}

/* A compile of `info`'s code, which has a hot marker, has paid as a compile (take_sample sets
 * full_since) for fewer than EMBER_LOAD_ONLY_GRACE samples. */
static inline int in_load_only_grace(const CodeInfo *info)
{
    return info->full_since && info->samples < info->full_since + EMBER_LOAD_ONLY_GRACE;
}

/* Whether `co` is priced as a cache load: it has a hot marker (cache_warm), and its load-only
 * requests have not missed too often (each miss waits for twice the samples), or
 * it is in its load-only grace. */
static int warm_priced(PyCodeObject *co, CodeInfo *info)
{
    if (!cache_warm(co, info)) return 0;
    if (in_load_only_grace(info)) return 1;
    return info->cache_misses == 0 || (info->cache_misses < EMBER_LOAD_ONLY_TRIES && info->samples >= info->cache_retry_at);
}

/* The policy's inequality (src/policy.rs): saving (samples x interval x saving share) >= the
 * compile cost the program waits for, times `percent` / 100 (100: compile now;
 * EMBER_PROMISING_PERCENT: worth a hot marker for later processes); `warm`: the code cache most
 * likely holds the code. The first generator-family code adds the PEP 523 hook's tax on the
 * rest of the process (EMBER_GEN_HOOK_TAX_PERCENT of the time still to come: the time sampled so
 * far, or on a warm start what an earlier run's length leaves), paid on the interpreter's thread,
 * so never scaled by the background share. */
static uint64_t n_deferred_for_exit;   /* compiles not started for the exit's sake (ember.stats()) */

/* The samples the program is expected still to take: about as many as so far, or what an
 * earlier run of the same program says is left (a warm start). */
static inline uint64_t samples_to_come(void)
{
    return warm_program_samples > 2 * n_samples ? warm_program_samples - n_samples : n_samples;
}

/* What the PEP 523 generator hook would cost the time still to come (µs), when `to_come`
 * samples are expected: EMBER_GEN_HOOK_TAX_PERCENT of the share of them that runs outside the
 * functions compiled or loaded so far (n_time_compiled, unweighted: the hook slows the
 * interpreter's Python-to-Python calls, not compiled code). Counted with the cost policy's
 * weighted samples (until 2026-12-07), a run whose compiled code was entered from C often
 * (each such sample weighs EMBER_BOUNDARY_WEIGHT) found no interpreted time left and priced the
 * hook at nothing: jinja2's warm-cache runs compiled or handed on generators, installed the
 * hook, and took 0.90x the plain wall time. */
static inline uint64_t gen_hook_tax_us(uint64_t to_come)
{
    uint64_t interpreted = n_samples > n_time_compiled ? n_samples - n_time_compiled : 0;
    return to_come * interpreted / (n_samples ? n_samples : 1) * EMBER_SAMPLE_INTERVAL_US * EMBER_GEN_HOOK_TAX_PERCENT / 100;
}

static inline int worth_compiling(PyCodeObject *co, uint64_t samples, int warm, uint64_t percent)
{
    uint64_t saved_us = samples * EMBER_SAMPLE_INTERVAL_US * EMBER_SAVING_PERCENT / 100;
    uint64_t cost_us = warm ? EMBER_COST_CACHED_US : EMBER_COST_FIXED_US + EMBER_COST_PER_CODE_UNIT_US * (uint64_t)Py_SIZE(co);
    /* Loaded on the loader thread. A warm start loads it early, yet its first compile is
     * priced as a first run's, so that it happens when it would have there, on the profile the
     * code cache holds code for (a load priced as a compile makes fannkuch's compile early, on
     * a profile still forming, and its code 10 % slower). */
    if (backend_state == 0 || (warm_program_samples && !warm && !first_compile_asked))
        cost_us += EMBER_COST_FIRST_COMPILE_US;
    if (background && spare_cpu()) {
        /* A background compile counts at EMBER_COST_BACKGROUND_PERCENT of its time: the program
         * goes on meanwhile. Not when the program ends during it: exit waits for the compiler to
         * load and for code generation, which cannot be abandoned. nbody's first run at three
         * iterations compiled `advance` (175 ms of LLVM) 200 ms into a 276 ms process, and the
         * exit waited 130-140 ms: 0.67x the interpreter. So a compile (not a load, and not a
         * promising marker for later processes) must take at most two thirds of the time the
         * program is expected still to run: about the time so far, or what an earlier run of it
         * says is left (a warm start). A longer one waits for later samples, or goes to the
         * precompile process at exit. (At one half, fannkuch's first run at three iterations
         * compiled its function 150 ms later than before and ran 1.43x against 1.53x.) */
        if (!warm && percent == 100 && cost_us * 3 > samples_to_come() * EMBER_SAMPLE_INTERVAL_US * 2) {
            n_deferred_for_exit++;
            return 0;
        }
        cost_us = cost_us * EMBER_COST_BACKGROUND_PERCENT / 100;
    }
    if ((co->co_flags & EMBER_GEN_FLAGS) && !hook_wanted && !hook_given_up) {
        /* The time still to come: about the time so far, or what an earlier run of the same
         * program says is left (a warm start). The hook slows the interpreter's Python-to-Python
         * calls, not compiled code, so the tax is on the share of the time so far that ran
         * outside the functions already compiled (gen_hook_tax_us). Taxed on all of it, the
         * generators benchmark never compiled its Tree.__iter__ (42 % of the samples; tree()
         * and the loop around it compiled), and its compiled loop resumed the interpreted
         * generator through gen_iternext, one entry into the interpreter per item: 0.94x the
         * interpreter in steady state. The generator's own samples stay taxed: left out too,
         * nqueens' first runs compiled a generator in about half of them (none with the tax on
         * every sample) and ran 0.92x [0.89, 0.97] the interpreter (run cold-s40z) against
         * 0.97x. */
        cost_us += gen_hook_tax_us(samples_to_come());
    }
    return saved_us * 100 >= cost_us * percent;
}

/* The samples of `info` taken outside imports (sample_in_import): what a later run's cached code
 * could save. */
static inline uint64_t samples_outside_imports(const CodeInfo *info)
{
    return info->samples - info->import_samples;
}

/* 1 when `samples` samples of an interpreted function pay for loading its code from the cache
 * (EMBER_COST_CACHED_US, at the background share when a CPU is spare); the compiler's own load
 * is left to warm_start_samples_needed. */
static inline int pays_as_cache_load(uint64_t samples)
{
    uint64_t saved_us = samples * EMBER_SAMPLE_INTERVAL_US * EMBER_SAVING_PERCENT / 100;
    uint64_t cost_us = EMBER_COST_CACHED_US;
    if (background && spare_cpu()) cost_us = cost_us * EMBER_COST_BACKGROUND_PERCENT / 100;
    return saved_us >= cost_us;
}

/* The paying samples (compiled or loaded code's, and those of functions handed on to be
 * compiled for later runs) that a warm start needs: they save EMBER_COST_WARM_START_US at
 * EMBER_SAVING_PERCENT (shim_warm_start's test, and precompile_write's). */
static inline uint64_t warm_start_samples_needed(void)
{
    return (EMBER_COST_WARM_START_US * 100 + EMBER_SAMPLE_INTERVAL_US * EMBER_SAVING_PERCENT - 1) /
           (EMBER_SAMPLE_INTERVAL_US * EMBER_SAVING_PERCENT);
}

/* ---- compiling for the next run (EMBER_PRECOMPILE) ----
 * Under the cost policy most functions of a short run are never compiled: the run ends before
 * a compile would pay. With the code cache on, a later run of the same program could load them
 * from the cache at their first sample, for EMBER_COST_CACHED_US, but only if some run compiled
 * them. So a function whose samples would pay for loading it in a later run like this one
 * (precompile_keep; at least EMBER_PRECOMPILE_MIN_SAMPLES; serialised again at twice as many, so
 * that the kept wire has the profile of later samples) keeps its HIR wire bytes here (at most
 * EMBER_PRECOMPILE_MAX), with the path of its hot marker; a compile, queue or refusal here drops
 * it. At exit the program
 * (ember._cli) writes the kept wires to one file under <cache>/precompile/ (precompile_write)
 * and starts a detached process at idle priority, with no terminal or pipe of the program's,
 * that compiles them into the cache and leaves their hot markers (precompile_run), so the
 * program's own exit does not wait. The next run prices those functions as cache loads. */
#define EMBER_PRECOMPILE_MAX 128
#define EMBER_PRECOMPILE_MIN_SAMPLES 2
/* The share of the run's samples, in %, that a kept function's samples outside imports must
 * span, first to last (precompile_drop_brief). */
#define EMBER_PRECOMPILE_SPAN_PERCENT 4
#define EMBER_PRECOMPILE_NAME_BYTES 96
#define EMBER_PRECOMPILE_LOG_NAMES 16   /* names the log lists of the functions handed on */
#define EMBER_PRECOMPILE_MAGIC "EMBERPC1"
#define EMBER_PRECOMPILE_MAGIC_BYTES (sizeof EMBER_PRECOMPILE_MAGIC - 1)
typedef struct {
    unsigned char *wire;   /* PyMem-owned; NULL: a free place */
    size_t len;
    CodeInfo *info;        /* its record while the code object lives, else NULL */
    int long_running;      /* its code has a loop or a long body (long_running) */
    int gen;               /* its code is a generator, coroutine or async generator */
    char name[EMBER_PRECOMPILE_NAME_BYTES]; /* "module:qualname" (cut short), for the log */
    char marker[PATH_MAX]; /* its hot marker's path */
} PrecompileWire;
static int long_running(PyCodeObject *co);
static PrecompileWire pre_wires[EMBER_PRECOMPILE_MAX];
static int pre_used;        /* places handed out (a dropped one stays free) */
static int precompile_on;   /* set_precompile */

static int serialize_for_compile(PyFunctionObject *func, CodeInfo *info, int osr, unsigned char **wire, size_t *len,
                                 char *err, size_t errlen);
static int osr_wanted(PyCodeObject *co);

/* Frees kept wire `w` (its place stays free) and unlinks its record, if any. */
static void precompile_free(PrecompileWire *w)
{
    if (w->info) w->info->pre_slot = 0;
    PyMem_Free(w->wire);
    w->wire = NULL;
    w->info = NULL;
}

/* The function of `info` is compiled, queued or refused here: its kept wire is not needed. */
static void precompile_drop(CodeInfo *info)
{
    if (info->pre_slot) precompile_free(&pre_wires[info->pre_slot - 1]);
}

/* Kept wires (GIL held), after dropping those whose function was compiled, queued or refused
 * since (ember.stats()["precompile_kept"], precompile_write). */
static int precompile_count(void)
{
    int n = 0;
    for (int i = 0; i < pre_used; i++) {
        PrecompileWire *w = &pre_wires[i];
        if (w->wire && w->info && w->info->state != 0) precompile_drop(w->info);
        if (w->wire) n++;
    }
    return n;
}

/* The code object of `info` dies: its kept wire stays, with no record. */
static void precompile_forget(CodeInfo *info)
{
    if (info->pre_slot) pre_wires[info->pre_slot - 1].info = NULL;
}

/* Keeps (or replaces) the wire of a sampled function that stays interpreted (GIL held). */
static void precompile_keep(PyFunctionObject *func, CodeInfo *info)
{
    if (!precompile_on || !cache_dir || !cost_policy || info->state != 0 || info->samples < EMBER_PRECOMPILE_MIN_SAMPLES ||
        info->samples < 2 * info->pre_samples)
        return;
    PyCodeObject *co = (PyCodeObject *)func->func_code;
    if (!info->pre_slot && pre_used == EMBER_PRECOMPILE_MAX) return;
    /* Only what a later run like this one would load: its samples outside imports pay for a
     * cache load there. The compiler's load at that run's start (its warm start) is priced once
     * for the whole program: precompile_write hands the wires on only when they and this run's
     * compiled code together took the samples a warm start needs. Priced per function (until
     * 2026-12-06), a short program whose time is spread over a few functions never had one
     * that paid alone (spectral_norm's part_A_times_u, part_At_times_u and eval_A: 7, 5 and 3
     * of 33 samples), so no later run had cached code to load, and every warm-cache run ran as
     * a first run. Samples taken during imports do not count: import machinery
     * (_compile_bytecode, EnumType.__new__, _handle_fromlist: 2-4 samples each in 100 ms
     * processes) runs again in a later run before its cached code can load, and kept without
     * that test it cost more than it saved (warm-cache runs 0.91x the interpreter against 1.04x,
     * chaos 0.58x, run cold-s44b; deltablue 0.73x in run pc-cold1, before warm starts had their
     * own test). */
    if (samples_outside_imports(info) < EMBER_PRECOMPILE_MIN_SAMPLES || !pays_as_cache_load(samples_outside_imports(info)))
        return;
    if (refusal_reason(co) || is_instrumented(co) || !jit_list_names(func)) return;
    info->pre_samples = info->samples;
    unsigned char *wire = NULL;
    size_t len = 0;
    char err[256];
    PyObject *exc = PyErr_GetRaisedException();
    int rc = serialize_for_compile(func, info, osr_wanted(co), &wire, &len, err, sizeof err);
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
    if (rc < 0) return;
    PrecompileWire *w;
    if (info->pre_slot) {
        w = &pre_wires[info->pre_slot - 1];
        PyMem_Free(w->wire);
    }
    else {
        w = &pre_wires[pre_used++];
        info->pre_slot = pre_used;
        w->info = info;
        preload_note(co);
        if (hot_marker_path(co, w->marker, sizeof w->marker) < 0) {
            PyErr_Clear();
            w->marker[0] = 0;
        }
        /* Facts of the code object, the same at every later keep of it. */
        w->long_running = long_running(co);
        w->gen = (co->co_flags & EMBER_GEN_FLAGS) != 0;
        PyObject *name = full_name(func);
        const char *cname = name ? PyUnicode_AsUTF8(name) : NULL;
        if (!cname) PyErr_Clear();
        snprintf(w->name, sizeof w->name, "%s", cname ? cname : "?");
        Py_XDECREF(name);
    }
    w->wire = wire;
    w->len = len;
}

/* Nonzero while compiled code handles pending calls (handle_pending_compiled): a sample taken
 * then finds the innermost frame running compiled code, not the interpreter. Only the thread
 * holding the GIL runs pending calls, so a plain counter will do. */
static int sampling_compiled;

/* _Py_HandlePending for compiled code (a loop's check, an inlined callee's RESUME), with
 * sampling_compiled set around it. */
static int handle_pending_compiled(PyThreadState *ts)
{
    sampling_compiled++;
    int err = _Py_HandlePending(ts);
    sampling_compiled--;
    return err;
}

/* 1 when a call of `co` most likely runs long enough that entering its compiled code through
 * the trampoline (a C-level entry, about a small function's body) pays: it has a loop (a
 * JUMP_BACKWARD), or at least EMBER_LONG_BODY_UNITS code units. */
#define EMBER_LONG_BODY_UNITS 100
static int long_running(PyCodeObject *co)
{
    if (Py_SIZE(co) >= EMBER_LONG_BODY_UNITS) return 1;
    _Py_CODEUNIT *code = _PyCode_CODE(co);
    for (Py_ssize_t i = 0; i < Py_SIZE(co);) {
        int op = _PyOpcode_Deopt[code[i].op.code];
        if (op == JUMP_BACKWARD) return 1;
        i += 1 + _PyOpcode_Caches[op];
    }
    return 0;
}

/* Sends the calls of compiled `func` that interpreted call sites run inline (keeps_version) to
 * its compiled code: its version is cleared, so a site specialised for it (CALL_PY_EXACT_ARGS,
 * ...) fails its version check and makes the call through the function's vectorcall, Ember's
 * trampoline (watch set it). For a function whose interpreted caller is never compiled, which
 * would otherwise run in the interpreter for good (a loop called once from a module body after
 * its OSR moves were used up: unpack_sequence's do_unpacking ran at interpreter speed). */
static void open_trampoline(PyFunctionObject *func)
{
    if (func->vectorcall != ember_vectorcall || func->func_version == 0) return;
    _PyFunction_SetVersion(func, 0);
    n_trampolines_opened++;
}

/* What a sample charged to interpreted `func` (code `co`, record `info`) leads to: a compile,
 * a load or a cache-only request when it pays now, a hot marker for later processes when it
 * promises to, its wire kept for a compile after exit (precompile_keep). 0 when the function is
 * never compiled (refused, left out by the jit list). */
static int sample_decide(PyFunctionObject *func, PyCodeObject *co, CodeInfo *info)
{
    if (info->state == 2 || refusal_reason(co) || !jit_list_names(func)) return 0;
    if (info->state == 0 && info->full_since == 0 && cache_warm(co, info) && worth_compiling(co, info->samples, 0, 100))
        info->full_since = info->samples;   /* a compile pays now (load-only grace, below) */
    if (info->state == 3) {
        p_bg_bump((uint64_t)(uintptr_t)info, info->samples);
    }
    else if (info->state == 0 && worth_compiling(co, info->samples, warm_priced(co, info), 100) &&
             !is_instrumented(co) && profile_formed(co) && jit_list_names(func)) {
        info->ncalls = info->samples;   /* the compile queue's hotness */
        /* Code an earlier process compiled (a hot marker) is loaded or left for later: a
         * compile now, priced as a load, would specialise for a profile still forming, and cost
         * a compile where a load was paid for. Once a compile pays (as in a first run) it is
         * still asked for as a load for EMBER_LOAD_ONLY_GRACE samples: the first run compiled
         * it that much later, after its compiler had loaded, on the profile its cached code is
         * for. With or without a warm start: without one, a program whose functions carry hot
         * markers (left by its own earlier runs, or by another program's for shared library
         * code) asked for compiles priced as loads, and each cache miss became a full compile
         * (jinja2's suite after a marker that gave no warm start: 11 compiles, up to 380 ms
         * each, where the warm start loads). */
        info->load_only = info->warm == 1 && !info->warm_promising && (info->full_since == 0 || in_load_only_grace(info));
        if (try_compile(func, info, 0)) watch(func);   /* compiled synchronously (EMBER_BACKGROUND=0) */
    }
    else if (info->state == 0 && cache_dir && info->warm == -1 &&
             worth_compiling(co, info->samples, 0, EMBER_PROMISING_PERCENT) &&
             !is_instrumented(co) && jit_list_names(func) && !refusal_reason(co)) {
        cache_mark_hot(co, info, 2);   /* for later processes; this one goes on as it was */
    }
    if (info->state == 0) precompile_keep(func, info);
    else precompile_drop(info);
    return 1;
}

/* The file name of importlib._bootstrap's code objects (the import system's Python part:
 * _find_and_load, _load_unlocked, _call_with_frames_removed), once a sample has seen one (a
 * strong reference); NULL before. */
static PyObject *bootstrap_filename;
#define EMBER_BOOTSTRAP_FILENAME "<frozen importlib._bootstrap>"
/* Frames sample_in_import looks at, from the innermost down. */
#define EMBER_IMPORT_WALK 256

/* 1 when `ts` is importing a module: a frame of importlib._bootstrap is on its stack (every
 * import of a module not loaded yet runs _find_and_load there). Samples taken then go to
 * CodeInfo.import_samples as well, which only precompile_keep reads: without precompilation
 * (EMBER_PRECOMPILE=0, no code cache) the stack is not walked and this is 0. */
static int sample_in_import(PyThreadState *ts)
{
    if (!precompile_on || !cache_dir) return 0;
    int depth = 0;
    for (_PyInterpreterFrame *f = ts->current_frame; f != NULL && depth < EMBER_IMPORT_WALK; f = f->previous, depth++) {
        if (f->owner == FRAME_OWNED_BY_CSTACK || !PyCode_Check(f->f_executable)) continue;
        PyObject *name = ((PyCodeObject *)f->f_executable)->co_filename;
        if (name == bootstrap_filename) return 1;
        if (PyUnicode_Check(name) && PyUnicode_GET_LENGTH(name) == (Py_ssize_t)strlen(EMBER_BOOTSTRAP_FILENAME) &&
            PyUnicode_CompareWithASCIIString(name, EMBER_BOOTSTRAP_FILENAME) == 0) {
            Py_XSETREF(bootstrap_filename, Py_NewRef(name));
            return 1;
        }
    }
    return 0;
}

/* Records that the process's sample number `at` (outside imports) found `info`'s code. */
static inline void note_sample_time(CodeInfo *info, uint64_t at)
{
    if (info->first_sample == 0) info->first_sample = at;
    info->last_sample = at;
}

/* Set when the due sample was charged where an interpreted callee of compiled code returned
 * (charge_sample_at_return); the pending take_sample then only counts it. */
static int sample_charged;
static uint64_t n_samples_at_return;   /* ember.stats()["samples_at_return"] */

/* Compiled code checks the eval breaker at loop back edges, function entries and after calls,
 * and a sample is taken at the next check, not where the time went. An interpreted function
 * that compiled code calls, with no loop of its own, checks only at its entry: a sample that
 * falls due while its body runs was taken at the compiled caller's check after the call and
 * charged to the caller. So a compiled loop calling such a function (float's maximize() calling
 * Point.maximize) took nearly all the samples of the callee's body, and the callee, which took
 * the time, stayed interpreted (3 of 60 samples reached it in test_cost_policy.py's case). The
 * call's return (ember_call_interpreted) therefore charges a due sample to the callee, with the
 * weight of a frame entered from C, and the pending take_sample only counts it. Time in C
 * functions that compiled code calls stays charged to the compiled code. */
static void charge_sample_at_return(PyFunctionObject *func)
{
    if (sample_charged || !atomic_load(&sample_scheduled) || !cost_policy || !ember_enabled || exiting || parked) return;
    PyCodeObject *co = (PyCodeObject *)func->func_code;
    if (!(co->co_flags & CO_OPTIMIZED)) return;
    CodeInfo *info = get_or_make_info(co);
    if (info == NULL) {
        PyErr_Clear();
        return;
    }
    sample_charged = 1;
    n_samples_at_return++;
    info->samples += EMBER_BOUNDARY_WEIGHT;
    info->hits++;
    PyThreadState *rts = PyThreadState_GetUnchecked();
    if (rts != NULL && sample_in_import(rts)) info->import_samples += EMBER_BOUNDARY_WEIGHT;
    else note_sample_time(info, n_samples + 1);   /* the pending take_sample counts it */
    if (info->state == 1) {
        n_samples_compiled += EMBER_BOUNDARY_WEIGHT;
        n_time_compiled++;
        if (info->is_gen) n_gen_samples_compiled += EMBER_BOUNDARY_WEIGHT;
        return;
    }
    PyObject *exc = PyErr_GetRaisedException();   /* the callee may have raised */
    (void)sample_decide(func, co, info);
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
}

static int take_sample(void *unused)
{
    (void)unused;
    atomic_store(&sample_scheduled, 0);
    int charged = sample_charged;
    sample_charged = 0;
    if (!cost_policy || !ember_enabled || exiting || parked) return 0;
    PyThreadState *ts = PyThreadState_GetUnchecked();
    if (ts == NULL) return 0;
    n_samples++;
    if (osr_n_armed) {
        osr_sweep(ts);
        if (osr_n_armed) osr_alone();   /* sys.settrace or sys.setprofile may have come */
    }
    if (charged) return 0;
    int in_import = sample_in_import(ts);
    _PyInterpreterFrame *f = ts->current_frame;
    while (f && (f->owner == FRAME_OWNED_BY_CSTACK || _PyFrame_IsIncomplete(f))) f = f->previous;
    PyObject *exc = PyErr_GetRaisedException();
    PyCodeObject *co;
    PyFunctionObject *func;
    CodeInfo *info;
    /* Walking up from a compiled function that runs inline: the outermost such function so far,
     * and whether one of them is long-running (open_trampoline). */
    PyFunctionObject *inline_callee = NULL;
    int inline_long = 0;
    for (;;) {
        if (f == NULL || !PyCode_Check(f->f_executable) || !PyFunction_Check(f->f_funcobj)) goto never_compiled;
        co = (PyCodeObject *)f->f_executable;
        func = (PyFunctionObject *)f->f_funcobj;
        if (!(co->co_flags & CO_OPTIMIZED) || func->func_code != (PyObject *)co) goto never_compiled;
        info = get_or_make_info(co);
        if (info == NULL) goto done;
        /* Entered from C (compiled code or a C function): compiling it saves that entry too. */
        int from_c = f->previous && f->previous->owner == FRAME_OWNED_BY_CSTACK;
        info->samples += from_c ? EMBER_BOUNDARY_WEIGHT : 1;
        info->hits++;
        if (in_import) info->import_samples += from_c ? EMBER_BOUNDARY_WEIGHT : 1;
        else note_sample_time(info, n_samples);
        if (info->state != 1) break;
        n_samples_compiled += from_c ? EMBER_BOUNDARY_WEIGHT : 1;
        if (info->is_gen) n_gen_samples_compiled += from_c ? EMBER_BOUNDARY_WEIGHT : 1;
        /* Compiled, yet running here: a function object made before the install (watch leaves
         * functions already on the trampoline, or parked, alone), a frame that started in the
         * interpreter (OSR moves it at its next backward jump; in compiled code, the events
         * never fire), or, when its functions keep their versions (keeps_version), a call that
         * an interpreted caller's specialised call site runs inline. */
        watch(func);
        osr_arm(co, info);
        if (sampling_compiled || from_c || !keeps_version(info)) {
            n_time_compiled++;
            goto done;
        }
        /* That caller is the reason it runs here: the time counts for the caller (and on up
         * through callers compiled yet running here, to the first one that is not compiled). */
        inline_callee = func;
        inline_long |= long_running(co);
        f = f->previous;
        while (f && _PyFrame_IsIncomplete(f) && f->owner != FRAME_OWNED_BY_CSTACK) f = f->previous;
        if (f == NULL || f->owner == FRAME_OWNED_BY_CSTACK) goto done;
    }
    if (!sample_decide(func, co, info)) goto never_compiled;
    goto done;
never_compiled:
    /* The caller the time was charged to is never compiled (a module or class body, refused
     * code, a function the jit list leaves out), so its call sites stay the interpreter's. */
    if (inline_callee && inline_long) open_trampoline(inline_callee);
done:
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
    return 0;
}

/* Starts one of Ember's own threads (the sampler, the compiler's loader) with every signal
 * blocked, so that signals keep going to the interpreter's threads; `stack` bytes of stack, or
 * the default when 0. 0 on success, else pthread_create's error. */
static int start_quiet_thread(pthread_t *t, size_t stack, void *(*fn)(void *))
{
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_attr_init(&attr);
    if (stack) pthread_attr_setstacksize(&attr, stack);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(t, &attr, fn, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return err;
}

static atomic_long sampler_tid;      /* kernel thread id of the sampler thread (wait_reaped) */

static void *sampler_main(void *unused)
{
    (void)unused;
    atomic_store(&sampler_tid, (long)gettid());
    long period_us = EMBER_SAMPLE_INTERVAL_US;
    while (atomic_load(&sampler_on)) {
        /* A timed wait that sampler_stop can cut short (exit does not wait out a period). */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (period_us % 1000000) * 1000L;
        until.tv_sec += period_us / 1000000 + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&sampler_lock);
        while (atomic_load(&sampler_on) &&
               pthread_cond_timedwait(&sampler_wake, &sampler_lock, &until) == 0) {
        }
        pthread_mutex_unlock(&sampler_lock);
        if (!atomic_load(&sampler_on)) break;
        if (atomic_exchange(&sample_scheduled, 1)) {
            /* The last sample has not run: no thread runs Python code now (all wait in I/O or
             * C). Back off up to 16 periods (80 ms), so that an idle process is not woken 200
             * times a second, while a program that runs again is sampled again within 80 ms;
             * the first sample taken brings the period back. */
            if (period_us < 16 * (long)EMBER_SAMPLE_INTERVAL_US) period_us *= 2;
            continue;
        }
        period_us = EMBER_SAMPLE_INTERVAL_US;
        if (_PyEval_AddPendingCall(main_interp, take_sample, NULL, 0) != _Py_ADD_PENDING_SUCCESS)
            atomic_store(&sample_scheduled, 0);
    }
    return NULL;
}

/* Starts the sampler thread (GIL held; idempotent). It blocks every signal, so that signals
 * keep going to the interpreter's threads, and has a small stack. 0 on success. */
static int sampler_start(void)
{
    if (atomic_load(&sampler_on)) return 0;
    if (main_interp == NULL) main_interp = PyInterpreterState_Get();
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sampler_wake, &ca);   /* again after fork: the child's copy is unusable */
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&sampler_lock, NULL);
    cpu_set_t cpus;
    n_cpus = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : sysconf(_SC_NPROCESSORS_ONLN);
    atomic_store(&sampler_on, 1);
    atomic_store(&sample_scheduled, 0);
    int err = start_quiet_thread(&sampler_thread, 64 * 1024, sampler_main);
    if (err) {
        atomic_store(&sampler_on, 0);
        ember_log("Ember: could not start the sampler thread (error %d): nothing is compiled by the cost policy", err);
        return -1;
    }
    return 0;
}

/* Stops the sampler thread and waits for it (at most one period; GIL released). */
static void sampler_stop(void)
{
    if (!atomic_exchange(&sampler_on, 0)) return;
    pthread_mutex_lock(&sampler_lock);
    pthread_cond_signal(&sampler_wake);
    pthread_mutex_unlock(&sampler_lock);
    Py_BEGIN_ALLOW_THREADS
    pthread_join(sampler_thread, NULL);
    Py_END_ALLOW_THREADS
}

/* Waits (GIL released) until the compile thread is idle, at most timeout_ms, then installs
 * what finished. 1 when idle. */
static int bg_wait_and_install(uint64_t timeout_ms)
{
    if (!p_bg_wait) return 1;
    int idle;
    Py_BEGIN_ALLOW_THREADS
    idle = p_bg_wait(timeout_ms);
    Py_END_ALLOW_THREADS
    bg_install_ready();
    return idle;
}

/* 1 when `co` is compiled with an OSR entry at each loop header (generators never are). */
static int osr_wanted(PyCodeObject *co)
{
    return osr_on() && !(co->co_flags & EMBER_GEN_FLAGS);
}

/* ember_serialize with the flags a compile of func uses now: OSR entries (`osr`, from
 * osr_wanted), and speculation unless switched off or the code was withdrawn for failing guards
 * EMBER_MAX_RECOMPILES times (`info` may be NULL: never compiled), without the instructions
 * whose guards failed here or, per the hot marker, in an earlier process. try_compile and ember.dump
 * both serialise through it, so a dump shows what a compile would build. */
static int serialize_for_compile(PyFunctionObject *func, CodeInfo *info, int osr, unsigned char **wire, size_t *len,
                                 char *err, size_t errlen)
{
    /* Under every policy: an earlier process's failing guards (the hot marker) shape the
     * speculation. */
    if (info) (void)cache_warm((PyCodeObject *)func->func_code, info);
    int spec = speculate && !(info && info->recompiles >= EMBER_MAX_RECOMPILES);
    /* The callees' code objects live as long as info (without a record: no callees). */
    return ember_serialize(func, osr, spec, info ? &info->inline_keep : NULL, wire, len, err, errlen);
}

/* Compiles func's code object once; returns 1 when compiled code is available. `sync` (or
 * EMBER_BACKGROUND=0) compiles on this thread now; otherwise the function is serialised here
 * and queued for the compile thread (state 3), and the function keeps running in the
 * interpreter until a later call installs the code (bg_install_ready). */
static int try_compile(PyFunctionObject *func, CodeInfo *info, int sync)
{
    /* A load-only request is what the caller (take_sample) just asked for, never left over;
     * it sets one only for a function with a hot marker (info->warm == 1). */
    int load_only = info->load_only;
    info->load_only = 0;
    if (info->state != 0) return info->state == 1;
    if (exiting && !sync) return 0;
    PyCodeObject *co = (PyCodeObject *)func->func_code;
    /* Instrumented code (a monitoring tool is or was active and the interpreter has not
     * removed the instrumentation since): not now, and not refused; a later call tries again. */
    if (is_instrumented(co)) return 0;
    PyObject *name = full_name(func);
    if (!name) { PyErr_Clear(); refuse(info, "its name could not be made"); return 0; }
    const char *cname = PyUnicode_AsUTF8(name);
    if (!cname) { PyErr_Clear(); cname = "?"; }
    const char *why = refusal_reason(co);
    if (!why) {
        int ready = (!sync && background && cost_policy) ? backend_async() : ensure_backend() ? 1 : -1;
        if (ready == 0) {   /* the compiler is loading on its own thread: a later sample asks again */
            Py_DECREF(name);
            return 0;
        }
        if (ready < 0) why = "the compiler (libember.so) could not be loaded (see the log)";
    }
    char err[1024] = {0};
    if (why) goto refused;
    unsigned char *wire = NULL;
    size_t len = 0;
    PyObject *exc = PyErr_GetRaisedException();
    int osr = osr_wanted(co);
    if (serialize_for_compile(func, info, osr, &wire, &len, err, sizeof err) < 0) {
        PyErr_Clear();
        PyErr_SetRaisedException(exc);
        why = err;
        goto refused;
    }
    PyErr_SetRaisedException(exc);
    if (opt_dump_hir && p_hir_text) {
        char *buf = PyMem_RawMalloc(1 << 20);
        if (buf) {
            p_hir_text(wire, len, buf, 1 << 20);
            ember_log("HIR for %s:\n%s", cname, buf);
            PyMem_RawFree(buf);
        }
    }
    info->is_gen = (co->co_flags & EMBER_GEN_FLAGS) != 0;
    info->has_osr = osr && osr_has_loop(co);
    /* A function with an earlier process's hot marker: its compile is what puts it in the
     * code cache for the next process, so exit lets it finish (a compile of nbody's `advance`
     * outlasts the 160 ms run that starts it: given up at exit, every later run paid for it and
     * none loaded it). */
    if (cache_dir && info->warm == 1)
        ember_wire_add_flags(wire, len, load_only ? EMBER_WIRE_FLAG_CACHE_ONLY : EMBER_WIRE_FLAG_FINISH_AT_EXIT);
    if (!load_only) first_compile_asked = 1;
    if (cache_dir) {
        cache_mark_hot(co, info, 1);
        preload_note(co);
    }
    if (!sync && background && p_bg_submit) {
        EmberStatus st = p_bg_submit((uint64_t)(uintptr_t)info, info->ncalls, wire, len, err, sizeof err);
        PyMem_Free(wire);
        if (st == EMBER_STATUS_OK) {
            info->state = 3;
            info->load_only = load_only;   /* read back by bg_install_ready */
            info->pending_name = name;   /* the reference moves to the record */
            Py_XSETREF(info->pending_func, untracked_weakref((PyObject *)func));
            n_queued++;
            return 0;
        }
        if (st == EMBER_STATUS_DROPPED) {   /* queue full of hotter functions: try again later */
            info->ncalls = 0;
            wait_for_room(func, info);
            Py_DECREF(name);
            return 0;
        }
        why = err;
        goto refused;
    }
    EmberCompiled out;
    EmberStatus st = p_compile(wire, len, &out, err, sizeof err);
    PyMem_Free(wire);
    if (st == EMBER_STATUS_DROPPED && load_only) {
        load_only_missed(info);
        Py_DECREF(name);
        return 0;
    }
    if (st != EMBER_STATUS_OK) {
        why = err;
        goto refused;
    }
    install(info, name, &out);
    Py_DECREF(name);
    return 1;
refused:
    ember_log("Not compiling %s: %s", cname, why);
    n_refused++;
    refuse(info, why);
    Py_DECREF(name);
    return 0;
}

/* Enters compiled code on a pushed, initialised frame (hosting note, section 8). */
static inline __attribute__((always_inline)) PyObject *enter(PyThreadState *ts, _PyInterpreterFrame *f, entry_fn entry)
{
    /* Out of either budget: let the interpreter raise RecursionError exactly as it would. */
    if (ts->py_recursion_remaining <= 0 || ts->c_recursion_remaining <= 0)
        return _PyEval_EvalFrameDefault(ts, f, 0);
    return ember_run_entry(ts, f, entry);
}

/* COPY_FREE_VARS then RETURN_GENERATOR, the start of a closure's generator function (every
 * generator expression that uses an outer name), done by the shim: the free variables are
 * copied from the function's closure as COPY_FREE_VARS does, then RETURN_GENERATOR's work
 * at code unit 1. NULL with nothing changed (no exception) when the generator cannot be made:
 * the caller runs the compiled code from the start, which fails the way the interpreter does.
 * Out of line, so that enter_new_frame stays small enough to inline. */
static __attribute__((noinline)) PyObject *start_closure_generator(PyThreadState *ts, _PyInterpreterFrame *f,
                                                                   PyCodeObject *co)
{
    _Py_CODEUNIT *code = _PyCode_CODE(co);
    int n = code[0].op.arg;
    int offset = co->co_nlocalsplus - n;
    ember_copy_free_vars(f, n);   /* COPY_FREE_VARS */
    f->instr_ptr = code + 1;
    PyObject *gen = ember_start_generator(ts, f);
    if (gen == NULL) {
        PyErr_Clear();
        for (int i = 0; i < n; i++) Py_CLEAR(f->localsplus[offset + i]);
        f->instr_ptr = code;
    }
    return gen;
}

/* Enters compiled code on a frame just pushed for a call. The call of a generator function
 * whose code starts with RETURN_GENERATOR (no cells or free variables to set up first), or
 * with COPY_FREE_VARS then RETURN_GENERATOR (start_closure_generator), only makes the
 * generator object: the shim does that itself (ember_start_generator), which is what the
 * interpreter's COPY_FREE_VARS and RETURN_GENERATOR do, with the same recursion check first. */
static inline __attribute__((always_inline)) PyObject *enter_new_frame(PyThreadState *ts, _PyInterpreterFrame *f,
                                                                       entry_fn entry)
{
    PyCodeObject *co = (PyCodeObject *)f->f_executable;
    if ((co->co_flags & EMBER_GEN_FLAGS) && ts->py_recursion_remaining > 0 && ts->c_recursion_remaining > 0) {
        _Py_CODEUNIT *code = _PyCode_CODE(co);
        if (code[0].op.code == RETURN_GENERATOR) {
            PyObject *gen = ember_start_generator(ts, f);
            if (gen != NULL) return gen;
            /* Out of memory: compiled code runs RETURN_GENERATOR again, and fails the way the
             * interpreter does (traceback entry for the frame, then the frame is popped). */
            PyErr_Clear();
        }
        else if (code[0].op.code == COPY_FREE_VARS && code[1].op.code == RETURN_GENERATOR) {
            PyObject *gen = start_closure_generator(ts, f, co);
            if (gen != NULL) return gen;
        }
    }
    return enter(ts, f, entry);
}

/* Pushes a frame for `func` taking ownership of `func` and of args[0..nargs) (ember_push_stolen:
 * the caller checked ember_simple_call and stack space), then enters compiled code. */
static inline PyObject *push_stolen_and_enter(PyThreadState *ts, PyFunctionObject *func, PyObject *const *args,
                                              Py_ssize_t nargs, entry_fn entry)
{
    return enter_new_frame(ts, ember_push_stolen(ts, func, args, nargs), entry);
}

PyObject *ember_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames);

/* Compiled-to-compiled call (from ember_call): when `callable` is a compiled function and the
 * call binds positionally, push its frame directly with the caller's thread state, skipping
 * the vectorcall machinery. Steals callable and args and returns 1 with *result set; returns
 * 0 (nothing stolen) when the call must take the generic route. `ic`, when not NULL, is the
 * calling site's cache of the callee's entry (EmberResumeIC, the cache generator resumption
 * uses): a hit skips the code object's extra-data lookup (three dependent loads that miss the
 * cache in call-heavy programs). The checks that depend on the call (arguments, stack,
 * recursion, monitoring) run every time. */
static inline __attribute__((always_inline)) int call_direct(PyThreadState *ts, PyObject *callable, PyObject **args,
                                                             Py_ssize_t nargs, PyObject **result, EmberResumeIC *ic)
{
    if (!ember_manages(callable)) return 0;
    PyFunctionObject *func = (PyFunctionObject *)callable;
    PyCodeObject *co = (PyCodeObject *)func->func_code;
    entry_fn entry;
    if (ic != NULL) {
        entry = ember_resume_ic_entry(ic, (PyObject *)co);
    }
    else {
        CodeInfo *info = ember_code_info(co);
        entry = info ? info->entry : NULL;
    }
    if (!entry || !ember_simple_call(func, co, nargs) || !_PyThreadState_HasStackSpace(ts, co->co_framesize) ||
        ts->c_recursion_remaining < EMBER_C_RESERVE || monitoring_active(ts, co))
        return 0;
    *result = push_stolen_and_enter(ts, func, args, nargs, entry);
    return 1;
}

int ember_call_direct(PyThreadState *ts, PyObject *callable, PyObject **args, Py_ssize_t nargs, PyObject **result)
{
    return call_direct(ts, callable, args, nargs, result, NULL);
}

/* ember_call_direct from a site with an entry cache (`ic` not NULL). */
int ember_call_direct_ic(PyThreadState *ts, PyObject *callable, PyObject **args, Py_ssize_t nargs, PyObject **result,
                         EmberResumeIC *ic)
{
    return call_direct(ts, callable, args, nargs, result, ic);
}

/* A call from compiled code (call_impl) of a Python function Ember leaves to the interpreter
 * (its vectorcall is still _PyFunction_Vectorcall: under the cost policy every function until
 * it is compiled), binding exactly its positional parameters: the frame is pushed with
 * `callable` and the arguments stolen, and the interpreter runs it (_PyEval_EvalFrame, which
 * honours a PEP 523 hook). That is what _PyFunction_Vectorcall and _PyEval_Vector do
 * (Objects/call.c, Python/ceval.c), after finding the thread state in thread-local storage and
 * taking references to the arguments that the caller then drops. Returns 1 with *result set
 * (NULL: an exception), or 0 with nothing stolen. */
int ember_call_interpreted(PyThreadState *ts, PyObject *callable, PyObject **args, Py_ssize_t nargs, PyObject **result)
{
    if (Py_TYPE(callable) != &PyFunction_Type || ((PyFunctionObject *)callable)->vectorcall != py_function_vectorcall)
        return 0;
    PyFunctionObject *func = (PyFunctionObject *)callable;
    PyCodeObject *co = (PyCodeObject *)func->func_code;
    if (!ember_simple_call(func, co, nargs) || !_PyThreadState_HasStackSpace(ts, co->co_framesize)) return 0;
    Py_INCREF(func);   /* the frame's reference goes with the frame */
    *result = _PyEval_EvalFrame(ts, ember_push_stolen(ts, func, args, nargs), 0);
    if (atomic_load_explicit(&sample_scheduled, memory_order_relaxed)) charge_sample_at_return(func);
    Py_DECREF(func);
    return 1;
}

static PyObject *init_name;  /* interned "__init__" */
static PyObject *iter_name;  /* interned "__iter__" */
getiterfunc ember_slot_tp_iter;
PyObject *ember_builtin_sum, *ember_builtin_any, *ember_builtin_all;

/* One entry of a small cache of a class attribute by type version (lookup_by_version). */
typedef struct {
    PyTypeObject *tp;
    unsigned int version;
    PyObject *attr;   /* borrowed: the class holds it while its version is unchanged */
} VersionCacheEntry;

/* `name` on class `tp` (borrowed, as _PyType_Lookup gives it; NULL when absent) through
 * `cache` (`n` entries, a power of two) keyed by type version. A class's version tag changes
 * whenever its or a base's attributes do, and tags are never reused, so a hit is what the class
 * still holds. Saves _PyType_Lookup's type-cache lookup through the thread state on every call
 * (__iter__, __init__, operator methods). */
static PyObject *lookup_by_version(VersionCacheEntry *cache, unsigned int n, PyTypeObject *tp, PyObject *name)
{
    unsigned int version = tp->tp_version_tag;
    VersionCacheEntry *e = &cache[version & (n - 1)];
    if (version != 0 && e->version == version && e->tp == tp) return e->attr;
    PyObject *attr = _PyType_Lookup(tp, name);
    version = tp->tp_version_tag;   /* _PyType_Lookup assigns a tag when the type had none */
    if (attr != NULL && version != 0) {
        e = &cache[version & (n - 1)];
        e->tp = tp;
        e->version = version;
        e->attr = attr;
    }
    return attr;
}

/* The operators ember_binop_direct takes: NB_* (and its in-place form), the dunder, the number
 * slot's offset and the symbols of abstract.c's binop_type_error. */
#define EMBER_BINOPS 4
static struct {
    int nb, inplace_nb;
    const char *dunder;
    size_t slot, inplace_slot;
    const char *symbol, *inplace_symbol;
    PyObject *name;   /* interned dunder */
} binops[EMBER_BINOPS] = {
    {NB_ADD, NB_INPLACE_ADD, "__add__", offsetof(PyNumberMethods, nb_add), offsetof(PyNumberMethods, nb_inplace_add), "+", "+=", NULL},
    {NB_SUBTRACT, NB_INPLACE_SUBTRACT, "__sub__", offsetof(PyNumberMethods, nb_subtract),
     offsetof(PyNumberMethods, nb_inplace_subtract), "-", "-=", NULL},
    {NB_MULTIPLY, NB_INPLACE_MULTIPLY, "__mul__", offsetof(PyNumberMethods, nb_multiply),
     offsetof(PyNumberMethods, nb_inplace_multiply), "*", "*=", NULL},
    {NB_TRUE_DIVIDE, NB_INPLACE_TRUE_DIVIDE, "__truediv__", offsetof(PyNumberMethods, nb_true_divide),
     offsetof(PyNumberMethods, nb_inplace_true_divide), "/", "/=", NULL},
};
static binaryfunc slot_nb[EMBER_BINOPS];   /* typeobject.c's slot_nb_add ... (static there) */

/* The number slot at byte `offset` of `nm` (a binops[].slot or .inplace_slot); NULL without
 * number methods. */
static inline binaryfunc nb_slot(PyNumberMethods *nm, size_t offset)
{
    return nm != NULL ? *(binaryfunc *)((char *)nm + offset) : NULL;
}

/* `a OP b` for an instance `a` of a class that defines OP in Python (its number slot is
 * typeobject.c's slot_nb_*, and the class's attribute is a Python function), with `b` of the
 * same class or an exact float or int: the function is called with (a, b) directly, entering
 * compiled code when it has some, instead of PyNumber_* -> binary_op1 -> slot_nb_* ->
 * vectorcall_maybe, which look the method up in the type cache through the thread state on
 * every operation. What those would do next is done here too: for the same class, a
 * NotImplemented result raises binop_type_error's TypeError (binary_op1 tries no reflected
 * method for one class); for a float or int `b`, its own slot is tried (float_add(a, b) and the
 * like return NotImplemented unless `a` is itself a float or int subclass), then the TypeError.
 * Classes with sequence concatenation or repetition (a list subclass), in-place operator
 * methods for an in-place form, and descriptors other than functions are left to the generic
 * path. Returns 1 with *result set (a and b consumed), 0 with nothing done. */
int ember_binop_direct(PyThreadState *ts, PyObject *a, PyObject *b, int nb, PyObject **result)
{
    PyTypeObject *tp = Py_TYPE(a), *tb = Py_TYPE(b);
    PyNumberMethods *nm = tp->tp_as_number;
    int k, inplace = 0;
    for (k = 0; k < EMBER_BINOPS; k++) {
        if (nb == binops[k].nb) break;
        if (nb == binops[k].inplace_nb) {
            inplace = 1;
            break;
        }
    }
    if (k == EMBER_BINOPS || slot_nb[k] == NULL || nb_slot(nm, binops[k].slot) != slot_nb[k]) return 0;
    if (inplace && nb_slot(nm, binops[k].inplace_slot) != NULL) return 0;
    if (tb != tp && !PyFloat_CheckExact(b) && !PyLong_CheckExact(b)) return 0;
    PySequenceMethods *sq = tp->tp_as_sequence;
    if (sq != NULL && (sq->sq_concat != NULL || sq->sq_repeat != NULL || sq->sq_inplace_concat != NULL ||
                       sq->sq_inplace_repeat != NULL))
        return 0;
    static VersionCacheEntry cache[EMBER_BINOPS][8];
    PyObject *meth = lookup_by_version(cache[k], 8, tp, binops[k].name);
    if (meth == NULL || !PyFunction_Check(meth)) return 0;
    PyObject *args[2] = {a, b};
    PyObject *res;
    Py_INCREF(tp);   /* for the error message */
    Py_INCREF(tb);
    /* The references the callee's frame takes; a and b stay ours for the float/int slot, as
     * the interpreter's stack keeps its own during the call. */
    Py_INCREF(meth);
    Py_INCREF(a);
    Py_INCREF(b);
    if (!ember_call_direct(ts, meth, args, 2, &res)) {   /* steals meth, a and b when it takes the call */
        Py_DECREF(a);   /* not taken: the generic call's frame takes its own */
        Py_DECREF(b);
        res = _PyObject_VectorcallTstate(ts, meth, args, 2, NULL);
        Py_DECREF(meth);
    }
    if (res == Py_NotImplemented && tb != tp) {
        Py_DECREF(res);
        binaryfunc slotw = nb_slot(tb->tp_as_number, binops[k].slot);
        res = slotw ? slotw(a, b) : Py_NewRef(Py_NotImplemented);
    }
    if (res == Py_NotImplemented) {
        Py_DECREF(res);
        PyErr_Format(PyExc_TypeError, "unsupported operand type(s) for %.100s: '%.100s' and '%.100s'",
                     inplace ? binops[k].inplace_symbol : binops[k].symbol, tp->tp_name, tb->tp_name);
        res = NULL;
    }
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(tp);
    Py_DECREF(tb);
    *result = res;
    return 1;
}

int ember_iter_direct(PyThreadState *ts, PyObject *obj, PyObject **result)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp->tp_iter != ember_slot_tp_iter || ember_slot_tp_iter == NULL) return 0;
    static VersionCacheEntry cache[16];
    PyObject *meth = lookup_by_version(cache, 16, tp, iter_name);
    if (meth == NULL) return 0;
    /* __iter__(obj) as a compiled-to-compiled call (ember_call_direct makes the same checks as
     * every such call and steals what it is given when it takes the call). */
    PyObject *args[1] = {obj};
    PyObject *res;
    Py_INCREF(meth);
    Py_INCREF(obj);
    if (!ember_call_direct(ts, meth, args, 1, &res)) {
        Py_DECREF(meth);
        Py_DECREF(obj);
        return 0;
    }
    if (res != NULL && !PyIter_Check(res)) {
        /* PyObject_GetIter's check of what __iter__ returned (Objects/abstract.c). */
        PyErr_Format(PyExc_TypeError, "iter() returned non-iterator of type '%.100s'", Py_TYPE(res)->tp_name);
        Py_SETREF(res, NULL);
    }
    *result = res;
    return 1;
}

/* Class instantiation from compiled code, the work CALL_ALLOC_AND_ENTER_INIT does in the
 * interpreter (Python/bytecodes.c): for a heap class whose metaclass is `type`, whose __new__
 * is object.__new__ and whose __init__ is a Python function, allocate the instance and call
 * __init__ directly (entering its compiled code when there is some) instead of going through
 * type.__call__. base[0] is the class, base[1] is free (self_or_null was NULL), base[2..] the
 * arguments. Returns 1 with *result set when it handled the call (everything consumed),
 * 0 when the generic route must be taken (nothing consumed). */
int ember_call_class(PyThreadState *ts, PyObject **base, Py_ssize_t nargs, PyObject **result)
{
    PyObject *callable = base[0];
    if (Py_TYPE(callable) != &PyType_Type) return 0;
    PyTypeObject *tp = (PyTypeObject *)callable;
    if (!(tp->tp_flags & Py_TPFLAGS_HEAPTYPE) || (tp->tp_flags & Py_TPFLAGS_IS_ABSTRACT) ||
        tp->tp_new != PyBaseObject_Type.tp_new)
        return 0;
    static VersionCacheEntry cache[16];
    PyObject *init = lookup_by_version(cache, 16, tp, init_name);
    if (init == NULL || !PyFunction_Check(init)) return 0;
    PyObject *self = tp->tp_alloc(tp, 0);
    if (self == NULL) {
        *result = NULL;
        for (Py_ssize_t i = 0; i < nargs + 2; i++) Py_XDECREF(base[i]);
        return 1;
    }
    Py_INCREF(init);
    base[1] = Py_NewRef(self);
    PyObject *res;
    if (!ember_call_direct(ts, init, base + 1, nargs + 1, &res)) {
        res = _PyObject_VectorcallTstate(ts, init, base + 1, (size_t)(nargs + 1), NULL);
        Py_DECREF(init);
        for (Py_ssize_t i = 1; i < nargs + 2; i++) Py_DECREF(base[i]);
    }
    Py_DECREF(callable);
    if (res == NULL) {
        Py_DECREF(self);
    }
    else if (res != Py_None) {
        PyErr_Format(PyExc_TypeError, "__init__() should return None, not '%.200s'", Py_TYPE(res)->tp_name);
        Py_DECREF(res);
        Py_DECREF(self);
        res = NULL;
    }
    else {
        res = self;
    }
    *result = res;
    return 1;
}

/* Gives the code object its co_version back (functions made from it from now on can be
 * specialised by the interpreter's call sites again). */
static void release_code_version(PyCodeObject *co)
{
    CodeInfo *info = ember_code_info(co);
    if (info && info->version_cleared) {
        co->co_version = info->orig_co_version;
        info->version_cleared = 0;
    }
}

static void restore_interpreted(PyFunctionObject *func)
{
    func->vectorcall = py_function_vectorcall;
    release_code_version((PyCodeObject *)func->func_code);
    if (func->func_version == 0)
        _PyFunction_SetVersion(func, ((PyCodeObject *)func->func_code)->co_version);
}

/* The vectorcall of every function Ember watches. */
PyObject *ember_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    PyFunctionObject *func = (PyFunctionObject *)callable;
    PyCodeObject *co = (PyCodeObject *)func->func_code;
    CodeInfo *info = ember_code_info(co);
    if (!info || !info->entry) {
        if (!ember_enabled) return py_function_vectorcall(callable, args, nargsf, kwnames);
        if (func->func_version != 0 && !(info && info->dropped))
            _PyFunction_SetVersion(func, 0); /* keep call sites generic */
        if (!info) info = get_or_make_info(co);
        if (!info) return py_function_vectorcall(callable, args, nargsf, kwnames);
        info->ncalls++;
        if (info->state == 3) {
            /* Queued: installed at this call if the compile thread has finished it. */
            bg_install_ready();
            if (!info->entry) {
                if (info->state == 3 && (info->ncalls & 63) == 0)
                    p_bg_bump((uint64_t)(uintptr_t)info, info->ncalls);
                /* Waiting (or refused): the interpreter's own calls, which specialised call
                 * sites may inline (a deep recursion through Ember's trampoline would spend
                 * the C stack); install sends the queuing function back here. */
                if (info->state == 2 || info->state == 3) restore_interpreted(func);
                return py_function_vectorcall(callable, args, nargsf, kwnames);
            }
        }
        else if (info->state == 2) {
            restore_interpreted(func);
            return py_function_vectorcall(callable, args, nargsf, kwnames);
        }
        else if (info->preload == 1 && cost_policy) {
            if (info->ncalls >= EMBER_PRELOAD_CALLS + EMBER_PRELOAD_WAIT) {
                /* No profile yet after that many calls (profile_formed scans the bytecode at
                 * each): left to the samples. */
                info->preload = 2;
                restore_interpreted(func);
            }
            else if (info->ncalls >= EMBER_PRELOAD_CALLS && profile_formed(co)) {
                info->preload = 2;   /* asked once */
                if (cache_warm(co, info) && !is_instrumented(co) && !refusal_reason(co) && jit_list_names(func)) {
                    n_preloads++;
                    info->preload = 3;   /* in flight (load_only_missed) */
                    info->load_only = 1;
                    (void)try_compile(func, info, 0);
                }
                restore_interpreted(func);   /* until the install, as for a queued compile */
            }
            return py_function_vectorcall(callable, args, nargsf, kwnames);
        }
        else if (auto_threshold < 0 || (long)info->ncalls <= auto_threshold_for(co) || osr_stress_arm(func, co, info)) {
            if (info->state == 2 || info->state == 3 || cost_policy) restore_interpreted(func);
            return py_function_vectorcall(callable, args, nargsf, kwnames);
        }
        else if (!jit_list_names(func)) {
            /* Hot but not on the jit list (set after the function was watched, e.g.
             * ember.jit_list() after ember.auto(n)): back to the interpreter. jit_list()
             * watches every function again, so a later list that names it counts it anew. */
            restore_interpreted(func);
            return py_function_vectorcall(callable, args, nargsf, kwnames);
        }
        else if (!try_compile(func, info, 0)) {
            if (info->state == 2 || info->state == 3 || cost_policy) restore_interpreted(func);
            return py_function_vectorcall(callable, args, nargsf, kwnames);
        }
    }
    PyThreadState *ts = PyThreadState_GetUnchecked();
    hook_maybe_restore(ts);
    if (!ember_enabled || monitoring_active(ts, co)) return py_function_vectorcall(callable, args, nargsf, kwnames);
    if (ts->c_recursion_remaining < EMBER_C_RESERVE) {
        PyObject *name = full_name(func);
        const char *cname = name ? PyUnicode_AsUTF8(name) : NULL;
        if (cname == NULL) { PyErr_Clear(); cname = "?"; }
        ember_log("Ember: %s goes back to the interpreter: deep recursion (C recursion budget %d left)",
                  cname, ts->c_recursion_remaining);
        Py_XDECREF(name);
        hook_give_up("deep recursion (C recursion budget low)");
        info->entry = NULL;   /* the code stays mapped: frames may still be running it */
        ember_code_epoch++;   /* SEND sites may have cached the entry (EmberResumeIC) */
        refuse(info, "deep recursion: the C recursion budget ran low in compiled code");
        restore_interpreted(func);
        return py_function_vectorcall(callable, args, nargsf, kwnames);
    }
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    _PyInterpreterFrame *f;
    /* Exactly its parameters: this push binds no defaults (a call leaving some out takes
     * _PyEvalFramePushAndInit below). */
    if (kwnames == NULL && nargs == co->co_argcount && ember_simple_call(func, co, nargs) &&
        _PyThreadState_HasStackSpace(ts, co->co_framesize)) {
        /* ember_push_stolen (_PyFrame_PushUnchecked's work) with the references written as 64-bit
         * counts (ember_rc_incref), as the compiled return's releases read them (ember_refcount.h). */
        ember_rc_incref(callable);
        for (Py_ssize_t i = 0; i < nargs; i++) ember_rc_incref(args[i]);
        f = ember_push_stolen(ts, func, args, nargs);
    } else {
        Py_ssize_t total = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
        Py_INCREF(func);
        for (Py_ssize_t i = 0; i < total; i++) Py_INCREF(args[i]);
        PyObject *locals = (co->co_flags & CO_OPTIMIZED) ? NULL : Py_NewRef(func->func_globals);
        f = _PyEvalFramePushAndInit(ts, func, locals, args, nargs, kwnames);
        if (!f) return NULL;
    }
    return enter_new_frame(ts, f, info->entry);
}

/* ---- frame protocol, slow half ---- */
int ember_rt_periodic_slow(PyThreadState *ts, _PyInterpreterFrame *f)
{
    uintptr_t eb = _Py_atomic_load_uintptr_relaxed(&ts->eval_breaker);
    if (eb & _PY_EVAL_EVENTS_MASK) {
        if (handle_pending_compiled(ts) != 0) return -1;
        eb = _Py_atomic_load_uintptr_relaxed(&ts->eval_breaker);
    }
    /* Monitoring switched on while this frame runs re-instruments the executing code objects
     * (so the versions can match again): check the active tools, not just the version. */
    if (!monitoring_active(ts, (PyCodeObject *)f->f_executable)) return 0;
    n_handoffs++;
    return 1;
}

int ember_rt_monitoring_on(PyThreadState *ts, _PyInterpreterFrame *f)
{
    return monitoring_active(ts, (PyCodeObject *)f->f_executable);
}

int ember_rt_inline_pending(PyThreadState *ts, PyObject *callable, PyObject *const *args, i64 nargs)
{
    PyFunctionObject *func = (PyFunctionObject *)callable;
    Py_INCREF(func);
    for (i64 i = 0; i < nargs; i++) Py_INCREF(args[i]);
    /* Steals the function and the arguments, also on failure. */
    _PyInterpreterFrame *f = _PyEvalFramePushAndInit(ts, func, NULL, args, (size_t)nargs, NULL);
    if (f == NULL) return -1;
    f->previous = ts->current_frame;
    ts->current_frame = f;
    int err = handle_pending_compiled(ts);
    if (err != 0) {
        PyFrameObject *fo = PyEval_GetFrame();   /* f's, made now */
        if (fo != NULL) PyTraceBack_Here(fo);
    }
    ts->current_frame = f->previous;
    _PyEval_FrameClearAndPop(ts, f);
    return err != 0 ? -1 : 0;
}

PyObject *ember_alloc_instance(PyThreadState *ts, PyObject *cls, PyObject *init, PyObject **base, i64 nargs)
{
    base[0] = NULL;
    PyObject *self = PyType_GenericAlloc((PyTypeObject *)cls, 0);
    if (self == NULL) return NULL;
    /* Checked after the allocation, as __init__'s RESUME would: a collection the allocation
     * scheduled, a signal or a pending call runs there, with the new instance in __init__'s
     * frame, and may change the instance or its class. So __init__ is then called: its RESUME
     * runs that work, and its body makes the stores as the interpreter would. */
    if (_Py_atomic_load_uintptr_relaxed(&ts->eval_breaker) & _PY_EVAL_EVENTS_MASK) {
        base[0] = self;
        PyObject *res = _PyObject_VectorcallTstate(ts, init, base, (size_t)nargs + 1, NULL);
        if (res != NULL && res != Py_None) {
            PyErr_Format(PyExc_TypeError, "__init__() should return None, not '%.200s'", Py_TYPE(res)->tp_name);
            Py_SETREF(res, NULL);
        }
        if (res == NULL) {
            base[0] = NULL;
            Py_DECREF(self);
            return NULL;
        }
        Py_DECREF(res);   /* None */
    }
    return self;
}

/* One exception-table varint (6 bits per byte, 0x40 = more follows); Objects/codeobject.c. */
static int read_varint6(const unsigned char **p)
{
    unsigned b = *(*p)++;
    int v = b & 63;
    while (b & 64) {
        b = *(*p)++;
        v = (v << 6) | (b & 63);
    }
    return v;
}

/* Looks up the handler covering code unit `index` (mirrors get_exception_handler in
 * Python/ceval.c). Returns 1 and fills the outputs when found. */
int ember_find_handler(PyCodeObject *co, int index, int *target, int *level, int *lasti)
{
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(co->co_exceptiontable);
    const unsigned char *end = p + PyBytes_GET_SIZE(co->co_exceptiontable);
    while (p < end) {
        int start = read_varint6(&p);
        int size = read_varint6(&p);
        int tgt = read_varint6(&p);
        int dl = read_varint6(&p);
        if (index < start) return 0;
        if (index < start + size) {
            *target = tgt;
            *level = dl >> 1;
            *lasti = dl & 1;
            return 1;
        }
    }
    return 0;
}

static PyObject *unwind(PyThreadState *ts, _PyInterpreterFrame *f, i64 bc, i64 depth, int add_traceback)
{
    PyCodeObject *co = (PyCodeObject *)f->f_executable;
    _Py_CODEUNIT *code = _PyCode_CODE(co);
    int nlp = co->co_nlocalsplus;
    PyObject **stack = f->localsplus + nlp;
    f->instr_ptr = code + bc;
    f->stacktop = nlp + (int)depth;
    if (add_traceback) {
        /* Incomplete frames (still in the MAKE_CELL / COPY_FREE_VARS prologue) get no
         * traceback entry, as in the interpreter's error path. */
        if (bc >= co->_co_firsttraceable) {
            PyFrameObject *fo = PyEval_GetFrame();
            if (fo) PyTraceBack_Here(fo);
        }
        _PyEval_MonitorRaise(ts, f, code + bc);
    }
    int target, level, lasti;
    if (ember_find_handler(co, (int)bc, &target, &level, &lasti)) {
        while (depth > level) Py_XDECREF(stack[--depth]);
        if (lasti) {
            PyObject *l = PyLong_FromLong((long)bc);
            if (!l) goto no_handler;
            stack[depth++] = l;
        }
        stack[depth++] = PyErr_GetRaisedException();
        f->stacktop = nlp + (int)depth;
        f->instr_ptr = code + target;
        if (osr_moves && osr_moves->nf == f) return osr_hand_back(ts);
        ts->current_frame = f->previous;
        ts->py_recursion_remaining++;
        return _PyEval_EvalFrameDefault(ts, f, 0);
    }
no_handler:
    while (depth > 0) Py_XDECREF(stack[--depth]);
    f->stacktop = nlp;
    ts->current_frame = f->previous;
    ts->py_recursion_remaining++;
    _PyEval_FrameClearAndPop(ts, f);
    return NULL;
}

PyObject *ember_rt_raise(PyThreadState *ts, _PyInterpreterFrame *f, i64 bc, i64 depth)
{
    return unwind(ts, f, bc, depth, 1);
}

/* Bare `raise`: a successful re-raise unwinds without a new traceback entry (do_raise
 * returning 1 in Python/ceval.c); "No active exception" is an ordinary error. */
PyObject *ember_rt_reraise(PyThreadState *ts, _PyInterpreterFrame *f, i64 bc, i64 depth)
{
    PyObject *handled = PyErr_GetHandledException();
    int reraised = handled != NULL && handled != Py_None;
    Py_XDECREF(handled);
    return unwind(ts, f, bc, depth, !reraised);
}

/* Withdraws the compiled code of `info` (running in frame `f`, leaving at code unit `bc`, for
 * `why`): new calls run in the interpreter, which re-specialises what it runs; the cost policy
 * or the call counter compiles the code again. The old code stays mapped (frames may still run
 * it). */
static void withdraw(CodeInfo *info, _PyInterpreterFrame *f, i64 bc, const char *why)
{
    PyObject *name = PyFunction_Check(f->f_funcobj) ? full_name((PyFunctionObject *)f->f_funcobj) : NULL;
    const char *cname = name ? PyUnicode_AsUTF8(name) : NULL;
    if (!cname) { PyErr_Clear(); cname = "?"; }
    n_recompiles++;
    ember_log("Deopt: %s withdrawn after %s (last at code unit %lld); %s", cname, why, (long long)bc,
              info->recompiles < EMBER_MAX_RECOMPILES ? "compiled again when hot" : "compiled again without speculation");
    Py_XDECREF(name);
    info->entry = NULL;
    info->state = 0;
    info->deopts = 0;
    info->cold_calls = 0;
    info->samples = 0;
    info->ncalls = 0;
    ember_code_epoch++;
}

PyObject *ember_rt_guard_fail(PyThreadState *ts, _PyInterpreterFrame *f, i64 bc, i64 depth)
{
    /* An exit that could not box a value (ember_box_for_exit_*) raises MemoryError here. */
    if (ts->current_exception != NULL) return ember_rt_raise(ts, f, bc, depth);
    n_deopts++;
    PyCodeObject *co = (PyCodeObject *)f->f_executable;
    CodeInfo *info = ember_code_info(co);
    if (info) {
        int seen = 0;
        for (int k = 0; k < info->ndespec; k++) seen |= info->despec[k] == (int32_t)bc;
        if (!seen && info->ndespec < EMBER_MAX_DESPEC) info->despec[info->ndespec++] = (int32_t)bc;
    }
    if (info && info->state == 1 && !info->is_gen && ++info->deopts >= EMBER_DEOPT_LIMIT) {
        char why[48];
        snprintf(why, sizeof why, "%u failed guards", info->deopts);
        info->recompiles++;
        withdraw(info, f, bc, why);
        if (cache_dir) cache_record_despec(co, info);
    }
    return ember_rt_deopt(ts, f, bc, depth);
}

PyObject *ember_rt_deopt_cold(PyThreadState *ts, _PyInterpreterFrame *f, i64 bc, i64 depth)
{
    n_deopts++;
    CodeInfo *info = ember_code_info((PyCodeObject *)f->f_executable);
    /* Not a failed speculation: nothing is recorded against the loop, and the withdrawal does
     * not count towards compiling without speculation. The interpreter runs the loop from here,
     * which gives it a profile. */
    if (info && info->state == 1 && !info->is_gen && ++info->cold_calls >= EMBER_COLD_LOOP_CALLS)
        withdraw(info, f, bc, "a loop that had never run when it was compiled");
    return ember_rt_deopt(ts, f, bc, depth);
}

PyObject *ember_rt_deopt(PyThreadState *ts, _PyInterpreterFrame *f, i64 bc, i64 depth)
{
    PyCodeObject *co = (PyCodeObject *)f->f_executable;
    f->instr_ptr = _PyCode_CODE(co) + ember_instr_start(co, (Py_ssize_t)bc);
    f->stacktop = co->co_nlocalsplus + (int)depth;
    if (osr_moves && osr_moves->nf == f) return osr_hand_back(ts);
    ts->current_frame = f->previous;
    ts->py_recursion_remaining++;
    return _PyEval_EvalFrameDefault(ts, f, 0);
}

/* A generator frame that the interpreter suspended where compiled code has no resume entry
 * (inside an exception handler): unlink it again and let the interpreter resume it. */
PyObject *ember_rt_gen_interp(PyThreadState *ts, _PyInterpreterFrame *f)
{
    ts->current_frame = f->previous;
    ts->py_recursion_remaining++;
    return _PyEval_EvalFrameDefault(ts, f, 0);
}

int ember_rt_async_for_stop(PyThreadState *ts, _PyInterpreterFrame *f, i64 bc)
{
    if (!PyErr_ExceptionMatches(PyExc_StopAsyncIteration)) return 0;
    /* The error path of Python/ceval.c (traceback entry, RAISE event) before the handler. */
    PyCodeObject *co = (PyCodeObject *)f->f_executable;
    _Py_CODEUNIT *code = _PyCode_CODE(co);
    f->instr_ptr = code + bc;
    if (bc >= co->_co_firsttraceable) {
        PyFrameObject *fo = PyEval_GetFrame();
        if (fo) PyTraceBack_Here(fo);
    }
    _PyEval_MonitorRaise(ts, f, code + bc);
    /* END_ASYNC_FOR: a StopAsyncIteration ends the loop. */
    PyErr_Clear();
    return 1;
}

/* ---- resuming generators: the PEP 523 hook ----
 * A generator, coroutine or async generator is resumed by gen_send_ex2 (Objects/genobject.c)
 * through _PyEval_EvalFrame, which calls the interpreter's eval_frame function. Once Ember has
 * compiled a generator-family code object it installs this hook: a generator-owned frame whose
 * code is compiled, of a function Ember manages, enters compiled code, which dispatches on
 * instr_ptr to the resume point (the entry's ResumeAt chain); everything else, and
 * gen.throw() (throwflag), goes to the interpreter unchanged.
 *
 * The hook changes what the interpreter does besides resuming generators: with any eval_frame
 * function set, Python-to-Python calls (CALL_PY_*, SEND_GEN, FOR_ITER_GEN, generic SEND's
 * inline push) are no longer inlined, so each interpreted call recurses on the C stack, and
 * sys.settrace / sys.monitoring see the "C calls" and StopIteration raises of the generic paths.
 * So it is on only while it can be invisible: it is taken off while any tracing or monitoring
 * tool is active (and while Ember's functions are parked), and for good once a call finds the C
 * recursion budget low (deep recursion must be the interpreter's own, bounded by
 * sys.setrecursionlimit). Compiled SEND and FOR_ITER resume compiled generators directly either
 * way. */
static int hook_on;         /* ember_eval_frame is the interpreter's eval_frame function */
static int hook_foreign_logged;

static PyObject *ember_eval_frame(PyThreadState *ts, _PyInterpreterFrame *f, int throwflag);

/* 1 when a tracing or monitoring tool subscribes to some event globally (sys.settrace and
 * sys.setprofile are tools too). */
static inline int global_tools_active(PyThreadState *ts)
{
    if ((_Py_atomic_load_uintptr_relaxed(&ts->eval_breaker) & ~(uintptr_t)_PY_EVAL_EVENTS_MASK) == 0) return 0;
    for (int e = 0; e < _PY_MONITORING_UNGROUPED_EVENTS; e++)
        if (ts->interp->monitors.tools[e]) return 1;
    return 0;
}

static void hook_set(int on)
{
    if (on == hook_on) return;
    PyInterpreterState *interp = PyInterpreterState_Get();
    if (on) {
        if (_PyInterpreterState_GetEvalFrameFunc(interp) != _PyEval_EvalFrameDefault) {
            if (!hook_foreign_logged)
                ember_log("Ember: another PEP 523 eval_frame hook is installed; compiled generators are "
                          "resumed in compiled code only from compiled code");
            hook_foreign_logged = 1;
            return;
        }
        _PyInterpreterState_SetEvalFrameFunc(interp, ember_eval_frame);
    }
    else if (_PyInterpreterState_GetEvalFrameFunc(interp) == ember_eval_frame) {
        _PyInterpreterState_SetEvalFrameFunc(interp, _PyEval_EvalFrameDefault);
    }
    hook_on = on;
}

static inline int hook_may_run(PyThreadState *ts)
{
    return hook_wanted && !hook_given_up && !parked && ember_enabled && !global_tools_active(ts);
}

/* Deep recursion: the interpreter must inline calls from now on. */
static void hook_give_up(const char *why)
{
    if (hook_given_up) return;
    hook_given_up = 1;
    hook_set(0);
    if (hook_wanted) ember_log("Ember: removed the PEP 523 generator hook for good: %s", why);
}

/* Called where Ember already pays for a call (ember_vectorcall): puts the hook back once
 * tracing and monitoring are over. */
static inline void hook_maybe_restore(PyThreadState *ts)
{
    if (!hook_on && hook_may_run(ts)) hook_set(1);
}

/* The CodeInfo of a generator frame's code when its function is one Ember manages (vectorcall
 * is ember_vectorcall: not parked, not restored to the interpreter), else NULL: generators
 * run compiled exactly when calls of their function would. */
static inline CodeInfo *managed_gen_info(_PyInterpreterFrame *f)
{
    return ember_manages(f->f_funcobj) ? ember_code_info((PyCodeObject *)f->f_executable) : NULL;
}

/* The compiled entry that may resume generator frame `f` now (compiled, no monitoring tool
 * on its code, C recursion budget left), else NULL. Autojit counts resumptions as calls (a
 * generator is hot when it is iterated, even if it was created once), so a resumption of
 * code not compiled yet may compile it. */
static inline entry_fn gen_entry(PyThreadState *ts, _PyInterpreterFrame *f, CodeInfo *info)
{
    if (info && !info->entry && info->state == 0 && auto_threshold >= 0) {
        PyCodeObject *co = (PyCodeObject *)f->f_executable;
        if ((long)++info->ncalls > auto_threshold_for(co) && !is_instrumented(co) &&
            jit_list_names((PyFunctionObject *)f->f_funcobj))
            try_compile((PyFunctionObject *)f->f_funcobj, info, 0);
    }
    else if (info && info->state == 3) {
        bg_install_ready();
    }
    if (!info || !info->entry || ts->c_recursion_remaining < EMBER_C_RESERVE ||
        monitoring_active(ts, (PyCodeObject *)f->f_executable))
        return NULL;
    return info->entry;
}

static PyObject *ember_eval_frame(PyThreadState *ts, _PyInterpreterFrame *f, int throwflag)
{
    if (ts->c_recursion_remaining < EMBER_C_RESERVE) {
        hook_give_up("deep recursion (C recursion budget low)");
        return _PyEval_EvalFrameDefault(ts, f, throwflag);
    }
    if (global_tools_active(ts)) {
        /* Tracing or monitoring started: the interpreter must behave exactly as without us. */
        hook_set(0);
        return _PyEval_EvalFrameDefault(ts, f, throwflag);
    }
    if (f->owner == FRAME_OWNED_BY_GENERATOR && !throwflag) {
        entry_fn entry = gen_entry(ts, f, managed_gen_info(f));
        if (entry) {
            ember_gen_resumes++;
            return enter(ts, f, entry);
        }
    }
    return _PyEval_EvalFrameDefault(ts, f, throwflag);
}

entry_fn ember_resume_ic_fill(EmberResumeIC *ic, PyObject *code)
{
    CodeInfo *info = ember_code_info((PyCodeObject *)code);
    entry_fn entry = info ? info->entry : NULL;
    if (entry) {
        ic->code = code;
        ic->entry = (void *)entry;
        ic->epoch = ember_code_epoch;
    }
    return entry;
}

entry_fn ember_gen_prepare(PyThreadState *ts, PyGenObject *gen, PyObject *arg)
{
    if (!ember_gen_resumable(gen, arg)) return NULL;
    _PyInterpreterFrame *f = (_PyInterpreterFrame *)gen->gi_iframe;
    entry_fn entry = gen_entry(ts, f, managed_gen_info(f));
    if (!entry || ts->py_recursion_remaining <= 0) return NULL;
    ember_gen_begin(ts, gen, arg);
    return entry;
}

/* Resumes exact generator `gen` with `arg` in compiled code (what the interpreter's SEND_GEN
 * and FOR_ITER_GEN do, through gen_send_ex2's protocol): PYGEN_NEXT / PYGEN_RETURN with
 * *presult set, PYGEN_ERROR, or 2 when it must take the generic route (nothing done). */
static inline int gen_send_direct(PyThreadState *ts, PyGenObject *gen, PyObject *arg, PyObject **presult)
{
    entry_fn entry = ember_gen_prepare(ts, gen, arg);
    if (!entry) return 2;
    PyObject *r = enter(ts, (_PyInterpreterFrame *)gen->gi_iframe, entry);
    *presult = r;
    if (r == NULL) return PYGEN_ERROR;
    return FRAME_STATE_SUSPENDED(gen->gi_frame_state) ? PYGEN_NEXT : PYGEN_RETURN;
}

/* Compiled FOR_ITER's resumption of an exact generator (runtime_slow.c): gen_send_direct. */
int ember_gen_send_direct(PyThreadState *ts, PyGenObject *gen, PyObject *arg, PyObject **presult)
{
    return gen_send_direct(ts, gen, arg, presult);
}

int ember_send_gen(PyThreadState *ts, PyObject *receiver, PyObject *v, PyObject **out)
{
    PyObject *retval;
    int r = gen_send_direct(ts, (PyGenObject *)receiver, v, &retval);
    if (r == 2) r = PyIter_Send(receiver, v, &retval);
    Py_DECREF(v);
    if (r == PYGEN_ERROR) return -1;
    *out = retval;
    return r == PYGEN_RETURN ? 1 : 0;
}

static void install_eval_frame_hook(void)
{
    if (hook_wanted) return;
    hook_wanted = 1;
    PyThreadState *ts = PyThreadState_GetUnchecked();
    if (hook_may_run(ts)) {
        hook_set(1);
        if (hook_on) ember_log("Ember: installed the PEP 523 hook that resumes compiled generators");
    }
}

/* ---- function watcher ---- */

static int should_watch(PyFunctionObject *func)
{
    if (!ember_enabled) return 0;
    if (cost_policy) {
        /* Only compiled code gets the trampoline: waiting functions keep the interpreter's calls. */
        CodeInfo *ci = ember_code_info((PyCodeObject *)func->func_code);
        return ci && ci->state == 1 && !parked;
    }
    if (auto_threshold < 0 && !jit_list) return 0;
    /* Refused code (too large, EMBER_GENERATORS=0) is watched until its first compile attempt
     * has logged the refusal; functions made later from a refused code object are left alone. */
    CodeInfo *info = ember_code_info((PyCodeObject *)func->func_code);
    if (info && info->state == 2) return 0;
    /* Queued: new functions of that code keep the interpreter's calls until it is installed. */
    if (info && info->state == 3) return 0;
    if (parked) return 0;
    return jit_list_names(func);
}

/* ---- parking: sys.monitoring tools that want C_RETURN / C_RAISE ----
 * The interpreter inlines a call only when the callee's vectorcall is the default one; any
 * other callee is a "C call" to it, followed by a C_RETURN or C_RAISE event. While a tool
 * subscribes to those events, every function Ember watches is parked (the interpreter's
 * vectorcall put back) so that events match the interpreter's, and unparked when no tool wants
 * them any more. Ember learns of changes through wrappers of sys.monitoring.set_events and
 * set_local_events (install_monitoring_hooks). */
static int local_c_events;     /* set_local_events asked for C_RETURN/C_RAISE at some point */
/* Routes the function's calls through ember_vectorcall. Its version (and its code's co_version,
 * which MAKE_FUNCTION copies into every new function of that code right after the watcher's
 * CREATE event) are held at 0: a call site the interpreter specialises (CALL_PY_EXACT_ARGS)
 * with a function's version runs that function inline, bypassing the trampoline for good, so
 * a function first called from a site already warmed up by other functions was never counted
 * (seen: 1 of 40 functions called in turn from one loop stayed interpreted). */
static void watch(PyFunctionObject *func)
{
    if (parked || func->vectorcall != py_function_vectorcall) return;
    func->vectorcall = ember_vectorcall;
    PyCodeObject *co = (PyCodeObject *)func->func_code;
    CodeInfo *info = get_or_make_info(co);
    if (keeps_version(info)) return;
    if (info && !info->version_cleared && info->state != 2) {
        info->orig_co_version = co->co_version;
        info->version_cleared = 1;
        co->co_version = 0;
    }
    if (func->func_version != 0) _PyFunction_SetVersion(func, 0);
}

/* ---- live small functions (the callees a wire may carry) ----
 * The interpreter's LOAD_ATTR_METHOD_* caches hold their function as a borrowed pointer that
 * goes stale when the class changes (the type version check makes the instruction ignore it).
 * The serialiser reads a callee through such a pointer only when this set, kept by the
 * function watcher, holds it: every live function whose code has a callee's shape
 * (ember_callee_shape, serialize.h), by address. Open addressing with tombstones, grown at half
 * load. Functions made before Ember's watcher was added are not in it, and are never sent. */
#define SMALL_TOMB ((PyObject *)1)
static PyObject **small_funcs;
static size_t small_cap, small_used;   /* slots; slots taken (tombstones included) */

static size_t small_slot(PyObject *f)
{
    uint64_t x = (uint64_t)(uintptr_t)f >> 4;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 32) & (small_cap - 1);
}

int ember_small_func_live(PyObject *f)
{
    if (!small_cap || f == NULL || f == SMALL_TOMB) return 0;
    for (size_t i = small_slot(f);; i = (i + 1) & (small_cap - 1)) {
        if (small_funcs[i] == f) return 1;
        if (small_funcs[i] == NULL) return 0;
    }
}

static void small_remove(PyObject *f)
{
    if (!small_cap) return;
    for (size_t i = small_slot(f);; i = (i + 1) & (small_cap - 1)) {
        if (small_funcs[i] == f) { small_funcs[i] = SMALL_TOMB; return; }
        if (small_funcs[i] == NULL) return;
    }
}

static void small_add(PyObject *f)
{
    if (ember_small_func_live(f)) return;
    if ((small_used + 1) * 2 > small_cap) {
        /* Grow (or rebuild without tombstones); on failure the function is just not sent. */
        size_t cap = small_cap ? small_cap : 256;
        size_t live = 0;
        for (size_t i = 0; i < small_cap; i++) live += small_funcs[i] != NULL && small_funcs[i] != SMALL_TOMB;
        while ((live + 1) * 2 > cap / 2) cap *= 2;
        PyObject **old = small_funcs;
        size_t old_cap = small_cap;
        PyObject **v = PyMem_RawCalloc(cap, sizeof *v);
        if (!v) return;
        small_funcs = v;
        small_cap = cap;
        small_used = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i] != NULL && old[i] != SMALL_TOMB) small_add(old[i]);
        PyMem_RawFree(old);
    }
    size_t i = small_slot(f);
    while (small_funcs[i] != NULL && small_funcs[i] != SMALL_TOMB) i = (i + 1) & (small_cap - 1);
    if (small_funcs[i] == NULL) small_used++;
    small_funcs[i] = f;
}

/* A new function of a code object the earlier run compiled goes on the trampoline until its
 * preload request (ember_vectorcall). */
static void preload_watch(PyFunctionObject *func)
{
    PyCodeObject *co = (PyCodeObject *)func->func_code;
    CodeInfo *info = ember_code_info(co);
    if (info && (info->state != 0 || info->preload != 1)) return;
    if (!info) {
        if (!preload_listed(co)) return;
        info = get_or_make_info(co);
        if (!info) {
            PyErr_Clear();
            return;
        }
        info->preload = 1;
    }
    watch(func);
}

static int func_watcher(PyFunction_WatchEvent event, PyFunctionObject *func, PyObject *new_value)
{
    switch (event) {
    case PyFunction_EVENT_CREATE:
        if (ember_callee_shape((PyCodeObject *)func->func_code)) small_add((PyObject *)func);
        if (should_watch(func)) watch(func);
        else if (n_preload_fns && cost_policy && !parked) preload_watch(func);
        break;
    case PyFunction_EVENT_DESTROY:
        /* In the set only with a callee's shape (MODIFY_CODE keeps that true): other functions,
         * most of those a program makes and drops, cost no probe. */
        if (ember_callee_shape((PyCodeObject *)func->func_code)) small_remove((PyObject *)func);
        break;
    case PyFunction_EVENT_MODIFY_CODE:
        small_remove((PyObject *)func);
        if (new_value && PyCode_Check(new_value) && ember_callee_shape((PyCodeObject *)new_value)) small_add((PyObject *)func);
        break;
    default:
        break;
    }
    return 0;
}

/* Parks (or unparks) every function: a walk over gc.get_objects(), which is rare (a tool
 * switching call events on or off) and costs nothing while programs run. Unparking re-watches
 * what Ember compiled and what autojit or the jit list would watch. */
static void set_parked(int park)
{
    if (park == parked) return;
    parked = park;
    if (park) hook_set(0);
    else hook_maybe_restore(PyThreadState_GetUnchecked());
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *objs = gc ? PyObject_CallMethod(gc, "get_objects", NULL) : NULL;
    Py_XDECREF(gc);
    if (objs && PyList_Check(objs)) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(objs); i++) {
            PyObject *o = PyList_GET_ITEM(objs, i);
            if (!PyFunction_Check(o)) continue;
            PyFunctionObject *func = (PyFunctionObject *)o;
            if (park) {
                if (func->vectorcall == ember_vectorcall) {
                    func->vectorcall = py_function_vectorcall;
                    release_code_version((PyCodeObject *)func->func_code);
                    if (func->func_version == 0)
                        _PyFunction_SetVersion(func, ((PyCodeObject *)func->func_code)->co_version);
                }
            }
            else if (func->vectorcall == py_function_vectorcall) {
                CodeInfo *info = ember_code_info((PyCodeObject *)func->func_code);
                if ((info && info->state == 1) || should_watch(func)) func->vectorcall = ember_vectorcall;
            }
        }
    }
    Py_XDECREF(objs);
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
}

/* 1 when some tool subscribes to CALL, C_RETURN or C_RAISE (globally, or locally at some point). */
static int c_events_wanted(void)
{
    if (local_c_events) return 1;
    /* C_RETURN and C_RAISE ride on CALL (instrumentation.c C_CALL_EVENTS): get_events shows CALL. */
    long mask = (1L << PY_MONITORING_EVENT_CALL) | (1L << PY_MONITORING_EVENT_C_RETURN) |
                (1L << PY_MONITORING_EVENT_C_RAISE);
    for (int tool = 0; tool < PY_MONITORING_TOOL_IDS; tool++) {
        PyObject *arg = PyLong_FromLong(tool);
        PyObject *ev = arg ? PyObject_CallOneArg(orig_get_events, arg) : NULL;
        Py_XDECREF(arg);
        if (ev == NULL) { PyErr_Clear(); continue; }
        long e = PyLong_AsLong(ev);
        Py_DECREF(ev);
        if (e == -1 && PyErr_Occurred()) { PyErr_Clear(); continue; }
        if (e & mask) return 1;
    }
    return 0;
}

static PyObject *mon_set_events(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *r = PyObject_Vectorcall(orig_set_events, args, (size_t)nargs, NULL);
    if (r) set_parked(c_events_wanted());
    return r;
}

static PyObject *mon_set_local_events(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *r = PyObject_Vectorcall(orig_set_local_events, args, (size_t)nargs, NULL);
    if (r && nargs == 3) {
        long e = PyLong_AsLong(args[2]);
        if (e == -1 && PyErr_Occurred()) PyErr_Clear();
        else if (e & ((1L << PY_MONITORING_EVENT_CALL) | (1L << PY_MONITORING_EVENT_C_RETURN) |
                      (1L << PY_MONITORING_EVENT_C_RAISE)))
            local_c_events = 1;
        set_parked(c_events_wanted());
    }
    return r;
}

/* sys.monitoring.use_tool_id, seen by Ember: a tool is coming, so on-stack replacement steps
 * aside first (its tool id is free for the taking; see the rule above osr_others_active). */
static PyObject *mon_use_tool_id(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    osr_disarm_all();
    return PyObject_Vectorcall(orig_use_tool_id, args, (size_t)nargs, NULL);
}

static PyMethodDef mon_set_events_def = {"set_events", (PyCFunction)(void (*)(void))mon_set_events, METH_FASTCALL,
                                         "sys.monitoring.set_events, seen by Ember (parks compiled functions while "
                                         "a tool wants C_RETURN/C_RAISE events)."};
static PyMethodDef mon_set_local_events_def = {"set_local_events", (PyCFunction)(void (*)(void))mon_set_local_events,
                                               METH_FASTCALL, "sys.monitoring.set_local_events, seen by Ember."};
static PyMethodDef mon_use_tool_id_def = {"use_tool_id", (PyCFunction)(void (*)(void))mon_use_tool_id, METH_FASTCALL,
                                          "sys.monitoring.use_tool_id, seen by Ember (on-stack replacement steps aside)."};

/* Wraps sys.monitoring.set_events and set_local_events (idempotent). */
static PyObject *shim_install_monitoring_hooks(PyObject *self, PyObject *unused)
{
    if (orig_set_events) Py_RETURN_NONE;
    PyObject *mon = PySys_GetObject("monitoring");   /* borrowed */
    if (mon == NULL) Py_RETURN_NONE;
    orig_set_events = PyObject_GetAttrString(mon, "set_events");
    orig_set_local_events = PyObject_GetAttrString(mon, "set_local_events");
    orig_get_events = PyObject_GetAttrString(mon, "get_events");
    orig_use_tool_id = PyObject_GetAttrString(mon, "use_tool_id");
    if (!orig_set_events || !orig_set_local_events || !orig_get_events || !orig_use_tool_id) return NULL;
    PyObject *a = PyCFunction_New(&mon_set_events_def, NULL);
    PyObject *b = PyCFunction_New(&mon_set_local_events_def, NULL);
    PyObject *c = PyCFunction_New(&mon_use_tool_id_def, NULL);
    int err = (!a || !b || !c || PyObject_SetAttrString(mon, "set_events", a) < 0 ||
               PyObject_SetAttrString(mon, "set_local_events", b) < 0 || PyObject_SetAttrString(mon, "use_tool_id", c) < 0);
    Py_XDECREF(a);
    Py_XDECREF(b);
    Py_XDECREF(c);
    if (err) return NULL;
    set_parked(c_events_wanted());
    Py_RETURN_NONE;
}

/* ---- Python API ---- */
static PyObject *shim_force_compile(PyObject *self, PyObject *arg)
{
    if (!PyFunction_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "force_compile() needs a Python function");
        return NULL;
    }
    if (!ember_enabled) Py_RETURN_FALSE;
    PyFunctionObject *func = (PyFunctionObject *)arg;
    CodeInfo *info = get_or_make_info((PyCodeObject *)func->func_code);
    if (!info) return PyErr_NoMemory();
    info->forced = 1;
    /* Queued for the compile thread: wait for that compile instead of compiling twice. */
    while (info->state == 3 && !exiting) bg_wait_and_install(1000);
    if (!try_compile(func, info, 1)) Py_RETURN_FALSE;
    if (!parked && (func->vectorcall == py_function_vectorcall || func->vectorcall == ember_vectorcall))
        PyFunction_SetVectorcall(func, ember_vectorcall);
    Py_RETURN_TRUE;
}

static PyObject *shim_watch(PyObject *self, PyObject *arg)
{
    if (PyFunction_Check(arg) && should_watch((PyFunctionObject *)arg)) watch((PyFunctionObject *)arg);
    Py_RETURN_NONE;
}

static CodeInfo *info_of(PyObject *arg)
{
    bg_install_ready();
    if (!PyFunction_Check(arg)) return NULL;
    return ember_code_info((PyCodeObject *)((PyFunctionObject *)arg)->func_code);
}

/* why_not(f): None when calls of function f run compiled code, else why not, in words: the
 * refusal (what the log's "Not compiling" line said), or what it waits for. */
static PyObject *shim_why_not(PyObject *self, PyObject *arg)
{
    if (!PyFunction_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "why_not() needs a Python function");
        return NULL;
    }
    CodeInfo *info = info_of(arg);
    PyFunctionObject *func = (PyFunctionObject *)arg;
    if (info && info->entry && func->vectorcall == ember_vectorcall) Py_RETURN_NONE;
    if (!ember_enabled) return PyUnicode_FromString("Ember is switched off (ember.disable(), or it never loaded)");
    if (info && info->state == 2)
        return PyUnicode_FromString(info->refusal ? info->refusal : "refused (see the log)");
    if (info && info->state == 3) return PyUnicode_FromString("queued: the compile thread has not finished it yet");
    if (info && info->entry) return PyUnicode_FromString("compiled, but this function object's calls do not enter "
                                                         "the compiled code (a sys.monitoring tool or tracing is on)");
    if (parked) return PyUnicode_FromString("a sys.monitoring tool wants C call events: compiled code is parked");
    const char *why = refusal_reason((PyCodeObject *)func->func_code);
    if (why) return PyUnicode_FromString(why);
    if (!jit_list_names(func)) return PyUnicode_FromString("not on the jit list");
    if (cost_policy && !profile_formed((PyCodeObject *)func->func_code))
        return PyUnicode_FromFormat("not profiled yet: the interpreter has specialised none of its "
                                    "instructions (%llu samples so far)",
                                    (unsigned long long)(info ? info->samples : 0));
    if (cost_policy)
        return PyUnicode_FromFormat("not hot enough yet for the cost policy (%llu samples so far%s)",
                                    (unsigned long long)(info ? info->samples : 0),
                                    info && info->warm == 2 ? "; a hot marker was left for later processes" : "");
    if (auto_threshold >= 0)
        return PyUnicode_FromFormat("not called often enough yet (%llu of %ld calls)",
                                    (unsigned long long)(info ? info->ncalls : 0), auto_threshold_for((PyCodeObject *)func->func_code) + 1);
    return PyUnicode_FromString("no compile policy is on (ember.auto(), ember.jit_list() or ember.force_compile())");
}

/* dump(f, what): the text of one stage of compiling f now (`what`: an EmberDump, named by
 * DUMP_KINDS: HIR after the passes, LLVM IR, assembly), without installing anything. Serialised as a compile would be
 * (same profile, speculation and OSR flags). RuntimeError with the compiler's message when
 * it cannot be compiled or the compiler does not load. */
static PyObject *shim_dump(PyObject *self, PyObject *args)
{
    PyObject *f;
    unsigned int what;
    if (!PyArg_ParseTuple(args, "OI", &f, &what)) return NULL;
    if (!PyFunction_Check(f)) {
        PyErr_SetString(PyExc_TypeError, "dump() needs a Python function");
        return NULL;
    }
    if (!ensure_backend() || !p_dump) {
        PyErr_SetString(PyExc_RuntimeError, "the compiler (libember.so) could not be loaded (see the log)");
        return NULL;
    }
    PyFunctionObject *func = (PyFunctionObject *)f;
    PyCodeObject *co = (PyCodeObject *)func->func_code;
    CodeInfo *info = get_or_make_info(co);   /* a record, as a compile makes: its wire carries callees */
    unsigned char *wire = NULL;
    size_t len = 0;
    char err[1024] = {0};
    if (serialize_for_compile(func, info, osr_wanted(co), &wire, &len, err, sizeof err) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_RuntimeError, "cannot compile %U: %s", func->func_qualname, err);
        return NULL;
    }
    size_t cap = 1 << 16, need = 0;
    PyObject *res = NULL;
    for (;;) {
        char *buf = PyMem_RawMalloc(cap);
        if (!buf) { PyErr_NoMemory(); break; }
        EmberStatus st;
        Py_BEGIN_ALLOW_THREADS   /* the compile thread may hold the compiler */
        st = p_dump(wire, len, what, buf, cap, &need);
        Py_END_ALLOW_THREADS
        if (st != EMBER_STATUS_OK) {
            PyErr_Format(PyExc_RuntimeError, "cannot compile %U: %s", func->func_qualname, buf);
        }
        else if (need >= cap) {
            PyMem_RawFree(buf);
            cap = need + 1;
            continue;
        }
        else {
            res = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)need, "replace");
        }
        PyMem_RawFree(buf);
        break;
    }
    PyMem_Free(wire);
    return res;
}

static PyObject *shim_is_compiled(PyObject *self, PyObject *arg)
{
    CodeInfo *info = info_of(arg);
    return PyBool_FromLong(info && info->entry && ((PyFunctionObject *)arg)->vectorcall == ember_vectorcall);
}

static PyObject *shim_compiled_size(PyObject *self, PyObject *arg)
{
    CodeInfo *info = info_of(arg);
    return PyLong_FromUnsignedLongLong(info && info->entry ? info->code_size : 0);
}

static PyObject *shim_compiled_functions(PyObject *self, PyObject *unused)
{
    bg_install_ready();
    return PyList_GetSlice(compiled_names, 0, PY_SSIZE_T_MAX);
}

static PyObject *shim_set_auto(PyObject *self, PyObject *arg)
{
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    auto_threshold = n;
    cost_policy = 0;
    sampler_stop();
    Py_RETURN_NONE;
}

/* warm_start(samples, paying): the program this process runs (its script or module) ran compiled
 * code in an earlier process, which took `samples` samples in all, `paying` of them in compiled
 * code or in functions it handed to be compiled for later runs (ember._cli, docs/compilation.md).
 * When those save at least EMBER_COST_WARM_START_US at EMBER_SAVING_PERCENT, the compiler's load
 * starts now on the loader thread, beside the program's start-up, so that a function an earlier
 * process compiled is loaded from the cache at its first samples (a load-only request,
 * take_sample); compiles are still priced as in a first run, and the generator hook's tax on the
 * earlier run's length. Otherwise the run is priced as a first run (the hot markers still make
 * cached functions cheap). Cost policy only; a no-op otherwise. Returns True when the warm start
 * is taken. */
static int backend_async(void);

static PyObject *shim_warm_start(PyObject *self, PyObject *args)
{
    unsigned long long n, paying;
    PyObject *fns = NULL;
    if (!PyArg_ParseTuple(args, "KK|O:warm_start", &n, &paying, &fns)) return NULL;
    if (!cost_policy || !ember_enabled || !cache_dir || n == 0) Py_RETURN_FALSE;
    uint64_t need = warm_start_samples_needed();
    if (paying < need) {
        ember_log("Ember: no warm start: an earlier run of this program spent %llu of its %llu samples in "
                  "compiled code or in functions compiled for later runs, fewer than the %llu that pay for "
                  "loading the compiler at start-up", paying, n, (unsigned long long)need);
        Py_RETURN_FALSE;
    }
    warm_program_samples = n;
    /* fns: (key, identity) pairs of the functions to preload (ember._cli reads them from the
     * marker's `fn` lines); anything else in it is skipped. */
    n_preload_fns = 0;
    PyObject *seq = fns ? PySequence_Fast(fns, "warm_start: fns") : NULL;
    for (Py_ssize_t i = 0; seq && i < PySequence_Fast_GET_SIZE(seq) && n_preload_fns < EMBER_PRELOAD_MAX; i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(seq, i);
        unsigned long long key, ident;
        if (!PyTuple_Check(pair) || !PyArg_ParseTuple(pair, "KK", &key, &ident)) {
            PyErr_Clear();
            continue;
        }
        preload_fns[n_preload_fns++] = (PreloadEntry){key, ident};
    }
    Py_XDECREF(seq);
    PyErr_Clear();
    qsort(preload_fns, (size_t)n_preload_fns, sizeof preload_fns[0], cmp_preload);
    ember_log("Ember: warm start: an earlier run of this program ran compiled code (%llu samples); "
              "the compiler loads now", n);
    (void)backend_async();
    Py_RETURN_TRUE;
}

static PyObject *shim_set_auto_cost(PyObject *self, PyObject *unused)
{
    if (!ember_enabled) Py_RETURN_NONE;
    auto_threshold = -1;
    cost_policy = 1;
    if (sampler_start() < 0) cost_policy = 0;
    Py_RETURN_NONE;
}

/* Stops the sampler thread (at exit: registered with atexit by ember.auto()) and logs what the
 * cost policy did, the proof that it ran even in a process where nothing paid to compile. */
static PyObject *shim_stop_sampler(PyObject *self, PyObject *unused)
{
    join_loader();   /* no thread may be inside dlopen or LLVM's constructors at exit */
    if (atomic_load(&sampler_on))
        ember_log("Ember: cost policy took %llu samples; %ld functions compiled, %ld queued; %ld failed guards, "
                  "%ld withdrawn",
                  (unsigned long long)n_samples, n_compiled, n_queued, n_deopts, n_recompiles);
    sampler_stop();
    Py_RETURN_NONE;
}

/* Before fork(): a loader thread finishes first, so that the child neither inherits a
 * half-done dlopen (the loader's locks) nor waits for a thread it does not have. */
static int fork_stopped_sampler;     /* before_fork stopped the sampler: both sides restart it */

/* Waits (at most 20 ms, GIL released) until the kernel has reaped thread `tid`: pthread_join
 * returns before the thread leaves /proc/self/stat's thread count, which os.fork() reads for its
 * multi-threaded-fork DeprecationWarning (the same wait as src/background.rs wait_until_reaped). */
static void wait_reaped(long tid)
{
    if (tid <= 0) return;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%ld", tid);
    Py_BEGIN_ALLOW_THREADS
    for (int i = 0; i < 400 && access(path, F_OK) == 0; i++) usleep(50);
    Py_END_ALLOW_THREADS
}

/* Before fork() (os.register_at_fork): a loader thread finishes first, so that the child
 * neither inherits a half-done dlopen (the loader's locks) nor waits for a thread it does not
 * have; the sampler thread stops, so that the fork is as single-threaded as the interpreter's
 * own (no DeprecationWarning from Ember's threads), and starts again on both sides. */
static PyObject *shim_before_fork(PyObject *self, PyObject *unused)
{
    if (backend_state == 2 && !loader_joined) {
        join_loader();
        wait_reaped(atomic_load(&loader_tid));
    }
    fork_stopped_sampler = atomic_load(&sampler_on);
    if (fork_stopped_sampler) {
        sampler_stop();
        wait_reaped(atomic_load(&sampler_tid));
    }
    Py_RETURN_NONE;
}

static int sampler_restart(void *unused)
{
    (void)unused;
    if (fork_stopped_sampler && cost_policy && !exiting && sampler_start() < 0) cost_policy = 0;
    fork_stopped_sampler = 0;
    return 0;
}

/* After fork(), in the parent: the sampler starts again from a pending call, that is once
 * os.fork() has returned: CPython 3.13 counts the process's threads for its warning after the
 * after_in_parent hooks have run. */
static PyObject *shim_sampler_after_fork_parent(PyObject *self, PyObject *unused)
{
    if (fork_stopped_sampler && _PyEval_AddPendingCall(main_interp, sampler_restart, NULL, 0) != _Py_ADD_PENDING_SUCCESS)
        sampler_restart(NULL);
    Py_RETURN_NONE;
}

/* In a child made by fork(): the sampler thread did not survive (or was stopped before the
 * fork); start a new one. */
static PyObject *shim_sampler_after_fork(PyObject *self, PyObject *unused)
{
    if (cost_policy && (fork_stopped_sampler || atomic_load(&sampler_on))) {
        atomic_store(&sampler_on, 0);
        if (sampler_start() < 0) cost_policy = 0;
    }
    fork_stopped_sampler = 0;
    Py_RETURN_NONE;
}

static PyObject *shim_set_jit_list(PyObject *self, PyObject *arg)
{
    if (arg != Py_None && !PyList_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "jit list must be a list of str or None");
        return NULL;
    }
    Py_XSETREF(jit_list, arg == Py_None ? NULL : PyList_GetSlice(arg, 0, PY_SSIZE_T_MAX));
    Py_RETURN_NONE;
}

static PyObject *shim_disable(PyObject *self, PyObject *unused)
{
    ember_enabled = 0;
    auto_threshold = -1;
    cost_policy = 0;
    sampler_stop();
    Py_RETURN_NONE;
}

static PyObject *shim_stats(PyObject *self, PyObject *unused)
{
    bg_install_ready();
    EmberBgStats bg = {0};
    if (p_bg_stats) p_bg_stats(&bg);
    const char *policy = cost_policy ? "cost" : auto_threshold >= 0 ? "calls" : "off";
    const char *backend = backend_state == 1 ? "ready" : backend_state == 2 ? "loading" : backend_state < 0 ? "failed"
                                                                                                          : "unloaded";
    return Py_BuildValue("{s:s,s:s,s:K,s:l,s:l,s:d,s:l,s:O,s:l,s:O,s:O,s:l,s:K,s:K,s:K,s:K,s:l,s:l,s:l,s:l,s:l,s:l,s:l,s:l,s:l,s:O,s:l,s:l,s:I,s:i,s:K,s:K,s:K,s:K,s:l,s:l,s:K}", "policy", policy,
                         "backend", backend,
                         "samples", (unsigned long long)n_samples, "compiled", n_compiled,
                         "refused", n_refused, "compile_ms", total_compile_ns / 1e6, "auto", auto_threshold,
                         "enabled", ember_enabled ? Py_True : Py_False, "gen_resumes", ember_gen_resumes,
                         "gen_hook", hook_on ? Py_True : Py_False, "background", background ? Py_True : Py_False,
                         "queued", n_queued, "bg_queued", (unsigned long long)bg.queued,
                         "bg_max_queued", (unsigned long long)bg.max_queued,
                         "bg_dropped", (unsigned long long)bg.dropped, "bg_cancelled", (unsigned long long)bg.cancelled,
                         "osr", n_osr, "cache_loaded", n_cache_loaded, "cache_stored", n_cache_stored,
                         "cache_rejected", n_cache_rejected, "deopts", n_deopts, "recompiles", n_recompiles, "handoffs", n_handoffs, "osr_arms", n_osr_arms,
                         "cache_missed", n_cache_missed, "warm_start", warm_program_samples ? Py_True : Py_False,
                         "gen_collected", ember_gen_collected, "ic_slow", ember_ic_slow, "bg_retrying", retry_count, "precompile_kept", precompile_count(),
                         "trampolines_opened", (unsigned long long)n_trampolines_opened,
                         "samples_compiled", (unsigned long long)n_samples_compiled,
                         "samples_handed", (unsigned long long)n_samples_handed,
                         "samples_at_return", (unsigned long long)n_samples_at_return, "preloads", n_preloads, "preloads_missed", n_preload_missed,
                         "deferred_for_exit", (unsigned long long)n_deferred_for_exit);
}

/* set_cache(dir, max_bytes, host_id): the persistent code cache for the compiler loaded later
 * (dir None: off). Policy (defaults, key, format) is libember's: src/cache.rs. */
static PyObject *shim_set_cache(PyObject *self, PyObject *args)
{
    const char *dir, *id;
    unsigned long long max;
    if (!PyArg_ParseTuple(args, "zKs:set_cache", &dir, &max, &id)) return NULL;
    if (backend_state != 0) {
        PyErr_SetString(PyExc_RuntimeError, "set_cache: the compiler is already loaded");
        return NULL;
    }
    free(cache_dir);
    free(host_id);
    cache_dir = dir ? strdup(dir) : NULL;
    host_id = strdup(id);
    cache_max_bytes = max;
    Py_RETURN_NONE;
}

/* Sets an on/off option from the truth of `arg` (the set_background, set_speculate and
 * set_precompile methods). */
static PyObject *set_flag(int *flag, PyObject *arg)
{
    int on = PyObject_IsTrue(arg);
    if (on < 0) return NULL;
    *flag = on;
    Py_RETURN_NONE;
}

static PyObject *shim_set_background(PyObject *self, PyObject *arg)
{
    return set_flag(&background, arg);
}

/* set_speculate(on): EMBER_SPECULATE, compile typed code with guards that deopt (default 1). */
static PyObject *shim_set_speculate(PyObject *self, PyObject *arg)
{
    return set_flag(&speculate, arg);
}

/* set_osr(mode): EMBER_OSR, 0 off, 1 under the cost policy (the default), 2 under every policy, 3 stress. */
static PyObject *shim_set_osr(PyObject *self, PyObject *arg)
{
    long m = PyLong_AsLong(arg);
    if (m == -1 && PyErr_Occurred()) return NULL;
    if (m < 0 || m > 3) {
        PyErr_SetString(PyExc_ValueError, "set_osr: expected 0, 1, 2 or 3");
        return NULL;
    }
    osr_mode = (int)m;
    Py_RETURN_NONE;
}

static PyObject *shim_wait_for_compiles(PyObject *self, PyObject *arg)
{
    double s = PyFloat_AsDouble(arg);
    if (s == -1.0 && PyErr_Occurred()) return NULL;
    if (s < 0) s = 0;
    return PyBool_FromLong(bg_wait_and_install((uint64_t)(s * 1000.0)));
}

/* Stops the compile thread for good (atexit): queued compiles are dropped, the one running
 * gives up before code generation if it has not started it, and the thread is waited for here
 * (GIL released), before exit() runs any C++ destructor: LLVM registers some of its static
 * objects' destructors lazily, during a compile, so they run before any handler registered
 * earlier, and a compile still running then crashes (seen in 1 of 6 exits with a full queue).
 * A loader thread still inside dlopen or LLVM's constructors is waited for too. Functions stay
 * as they are (queued ones run interpreted). What had finished is installed, so the log is
 * complete. Registered twice (register_exit_shutdown): when the compiler loads, so that it runs
 * before the program's earlier atexit callbacks as it always did, and when the JIT is switched
 * on, so that it also runs when the compiler loaded during the atexit callbacks themselves
 * (CPython does not run a callback registered while they run: a function made hot by a
 * callback then compiled on through exit(), a crash in about 1 of 1700 cold float runs). The
 * second call finds the work done. From then on autojit compiles nothing (`exiting`). */
static int exit_shutdown_done;
static PyObject *shim_bg_shutdown(PyObject *self, PyObject *unused)
{
    exiting = 1;
    if (exit_shutdown_done) Py_RETURN_NONE;
    join_loader();
    if (p_bg_shutdown && backend_state == 1) {
        exit_shutdown_done = 1;
        p_bg_set_notify(NULL);   /* no pending call is scheduled once finalisation starts */
        double t0 = seconds_of(CLOCK_MONOTONIC);
        Py_BEGIN_ALLOW_THREADS
        p_bg_shutdown(1);
        Py_END_ALLOW_THREADS
        double waited_ms = (seconds_of(CLOCK_MONOTONIC) - t0) * 1e3;
        ember_log("Ember: compile thread stopped at exit (waited %.1f ms)", waited_ms);
        bg_install_ready();
    }
    Py_RETURN_NONE;
}

/* set_precompile(on): EMBER_PRECOMPILE, keep sampled functions' wires for a compile after
 * exit (see "compiling for the next run"). */
static PyObject *shim_set_precompile(PyObject *self, PyObject *arg)
{
    return set_flag(&precompile_on, arg);
}

static int gen_hook_pays_next_run(void);

/* preload_list(): the (key, identity) pairs of this run's functions that were compiled, loaded
 * or handed on to be compiled for later runs, for the program marker (ember._cli); without
 * generator-family ones when they would not pay for the next run's generator hook
 * (gen_hook_pays_next_run). */
static PyObject *shim_preload_list(PyObject *self, PyObject *unused)
{
    PyObject *out = PyList_New(0);
    int gens = gen_hook_pays_next_run();
    for (int i = 0; out && i < n_paying_fns; i++) {
        if (paying_fns[i].gen && !gens) continue;
        PyObject *pair = Py_BuildValue("(KK)", (unsigned long long)paying_fns[i].key,
                                       (unsigned long long)paying_fns[i].ident);
        if (!pair || PyList_Append(out, pair) < 0) Py_CLEAR(out);
        Py_XDECREF(pair);
    }
    return out;
}

/* Releases every kept wire (precompile_write). */
static void precompile_release(void)
{
    for (int i = 0; i < pre_used; i++) precompile_free(&pre_wires[i]);
    pre_used = 0;
}

/* Whether the next run of this program may load generator-family code (gen_hook_pays_next_run):
 * -1 not decided yet, 0 no, 1 yes. */
static int gen_hook_verdict = -1;

/* 1 when the generators the next run would load -- those this run compiled or loaded, which the
 * program marker lists for preloading, and the kept wires of those it left interpreted -- pay
 * for the PEP 523 hook that loading one installs there for the rest of that run, which slows
 * every interpreted Python-to-Python call: what their samples save against
 * EMBER_GEN_HOOK_TAX_PERCENT of the samples of a run like this one that ran outside compiled
 * code (gen_hook_tax_us). Decided once, at exit (precompile_write, or preload_list without
 * precompilation). Priced per function as a load (until 2026-12-07), jinja2's suite handed on
 * its lexer's and node visitors' generators (Lexer.wrap, Node.iter_child_nodes, ...: 46-68
 * samples of 300-320), and every warm-cache run installed the hook and took 0.878x the plain
 * wall time, against 0.954x with EMBER_PRECOMPILE=0. Nor does a generator this run compiled
 * late, when the hook's tax on the little time left was small, pass for the next run without
 * this test: preloaded at its third call there, it would install the hook for the whole run. */
static int gen_hook_pays_next_run(void)
{
    if (gen_hook_verdict >= 0) return gen_hook_verdict;
    uint64_t gen_samples = n_gen_samples_compiled;
    int n_kept = 0, n_named = 0;   /* the marker names kept ones too (preload_note), unless full */
    for (int i = 0; i < pre_used; i++) {
        PrecompileWire *w = &pre_wires[i];
        if (!w->wire || !w->gen) continue;
        n_kept++;
        if (w->info) gen_samples += samples_outside_imports(w->info);
    }
    for (int i = 0; i < n_paying_fns; i++) n_named += paying_fns[i].gen;
    int n_gen = n_named > n_kept ? n_named : n_kept;
    uint64_t saved_us = gen_samples * EMBER_SAMPLE_INTERVAL_US * EMBER_SAVING_PERCENT / 100;
    uint64_t tax_us = gen_hook_tax_us(n_samples);   /* a next run as long as this one */
    gen_hook_verdict = n_gen == 0 || saved_us > tax_us;   /* saving nothing never pays */
    if (!gen_hook_verdict)
        ember_log("Ember: %d generators are not compiled or preloaded for later runs: their %llu samples save "
                  "%llu ms, less than the %llu ms the generator hook would cost a run like this",
                  n_gen, (unsigned long long)gen_samples, (unsigned long long)(saved_us / 1000),
                  (unsigned long long)(tax_us / 1000));
    return gen_hook_verdict;
}

/* Drops the kept wires of functions whose samples outside imports fall within less than
 * EMBER_PRECOMPILE_SPAN_PERCENT of the run (first to last sample; a function whose record died
 * with its code keeps its wire). A later run loads a function's cached code at about its first
 * sample or third call, and gains only if it keeps running for a while after. A test suite's
 * functions mostly run in one test each: in jinja2's suite (about 320 samples) most of the
 * 30-60 functions a run handed on had all their samples within 1-5 consecutive samples, and
 * warm-cache runs that loaded about 250 functions took 0.91x the plain wall time against
 * 0.95x for those that loaded the 110 the cost policy had compiled (EMBER_PRECOMPILE=0); with
 * this test, 0.910x against 0.910x (14 interleaved rounds). A benchmark's hot functions
 * span its workload (spectral_norm's 5-14 of 24 samples, float's phases 2-10 of 21). */
static void precompile_drop_brief(void)
{
    for (int i = 0; i < pre_used; i++) {
        PrecompileWire *w = &pre_wires[i];
        if (!w->wire || !w->info) continue;
        uint64_t span = w->info->first_sample ? w->info->last_sample - w->info->first_sample + 1 : 0;
        if (span * 100 < n_samples * EMBER_PRECOMPILE_SPAN_PERCENT) precompile_drop(w->info);
    }
}

/* Drops the kept wires of generator-family functions when the next run should not load
 * generators (gen_hook_pays_next_run). */
static void precompile_price_generators(void)
{
    if (gen_hook_pays_next_run()) return;
    for (int i = 0; i < pre_used; i++)
        if (pre_wires[i].wire && pre_wires[i].gen) precompile_free(&pre_wires[i]);
}

/* precompile_write(dir): writes the kept wires of functions still interpreted to a new file in
 * `dir` (created, mode 0700, with the cache directory) and returns its path, or None when there
 * are none. The file: EMBER_PRECOMPILE_MAGIC, then per function a native-endian uint32 marker
 * path length, the path, a uint64 wire length and the wire; written to a temporary name and
 * renamed, so a reader never sees half of it. The kept wires are released. */
static PyObject *shim_precompile_write(PyObject *self, PyObject *arg)
{
    const char *dir = PyUnicode_AsUTF8(arg);
    if (!dir || !cache_dir) return dir ? Py_NewRef(Py_None) : NULL;
    (void)precompile_count();         /* drops the wires of functions compiled since, */
    precompile_drop_brief();           /* of those that ran only briefly, */
    precompile_price_generators();     /* and of generators that do not pay for the hook */
    int n = precompile_count();
    if (n == 0) Py_RETURN_NONE;
    /* The next run loads these only with a warm start (the compiler loaded at its start), which
     * pays when they and the code this run compiled or loaded took enough samples
     * (shim_warm_start's test); below that, handing them on would only cost the precompile
     * process. Only functions with a loop or a long body count here: their cached code runs
     * in the next run whoever calls them (on-stack replacement, the trampoline), while a short
     * leaf's runs only under compiled callers (interpreted ones keep running it inline). In
     * richards' 115 ms runs the summed samples of two or three leaves (HandlerTaskRec.deviceInAdd,
     * TaskState.running: 6-7) handed them on, and the warm-cache runs that loaded them were 4-6 %
     * slower than those of the build before (runs cold-s44e and cold-s44f). */
    uint64_t kept_samples = 0;
    for (int i = 0; i < pre_used; i++)
        if (pre_wires[i].wire && pre_wires[i].info && pre_wires[i].long_running)
            kept_samples += samples_outside_imports(pre_wires[i].info);
    if (kept_samples + n_samples_compiled < warm_start_samples_needed()) {
        precompile_release();
        ember_log("Ember: %d functions that stayed interpreted are not compiled for later runs: with the code "
                  "this run compiled or loaded, those with a loop took %llu samples outside imports, fewer "
                  "than the %llu a warm start needs",
                  n, (unsigned long long)(kept_samples + n_samples_compiled),
                  (unsigned long long)warm_start_samples_needed());
        Py_RETURN_NONE;
    }
    mkdir(cache_dir, 0700);
    mkdir(dir, 0700);
    char tmp[PATH_MAX], path[PATH_MAX];
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    snprintf(path, sizeof path, "%s/%ld-%lld%09ld.wires", dir, (long)getpid(), (long long)t.tv_sec, t.tv_nsec);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fh = fopen(tmp, "wb");
    int ok = fh != NULL && fwrite(EMBER_PRECOMPILE_MAGIC, EMBER_PRECOMPILE_MAGIC_BYTES, 1, fh) == 1;
    uint64_t handed = 0;
    char names[EMBER_PRECOMPILE_LOG_NAMES * (EMBER_PRECOMPILE_NAME_BYTES + 2) + 8] = "";
    int listed = 0;
    for (int i = 0; ok && i < pre_used; i++) {
        PrecompileWire *w = &pre_wires[i];
        if (!w->wire) continue;
        if (listed < EMBER_PRECOMPILE_LOG_NAMES) {
            size_t used = strlen(names);
            snprintf(names + used, sizeof names - used, "%s%s", listed ? ", " : "", w->name);
        }
        else if (listed == EMBER_PRECOMPILE_LOG_NAMES) {
            size_t used = strlen(names);
            snprintf(names + used, sizeof names - used, ", ...");
        }
        listed++;
        if (w->info) handed += samples_outside_imports(w->info);
        uint32_t ml = (uint32_t)strlen(w->marker);
        uint64_t wl = w->len;
        ok = fwrite(&ml, sizeof ml, 1, fh) == 1 && (ml == 0 || fwrite(w->marker, ml, 1, fh) == 1) &&
             fwrite(&wl, sizeof wl, 1, fh) == 1 && fwrite(w->wire, w->len, 1, fh) == 1;
    }
    if (fh && fclose(fh) != 0) ok = 0;
    precompile_release();
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        Py_RETURN_NONE;
    }
    n_samples_handed += handed;
    ember_log("Ember: %d functions that stayed interpreted go to %s, to be compiled for later runs: %s", n, path, names);
    return PyUnicode_FromString(path);
}

/* precompile_run(path): in the process started for it, compiles every wire of a file that
 * precompile_write made (the compiler stores each in the code cache: EMBER_CACHE_DIR as in the
 * program that wrote it) and leaves its hot marker when it has none. A short, truncated or
 * foreign file, or a wire the compiler refuses, is skipped: nothing of it runs. Returns
 * (compiled, wires read). */
static PyObject *shim_precompile_run(PyObject *self, PyObject *arg)
{
    const char *path = PyUnicode_AsUTF8(arg);
    if (!path) return NULL;
    FILE *fh = fopen(path, "rb");
    if (!fh) return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    char magic[EMBER_PRECOMPILE_MAGIC_BYTES];
    int compiled = 0, read = 0;
    double t0 = seconds_of(CLOCK_MONOTONIC);
    if (fread(magic, sizeof magic, 1, fh) == 1 && memcmp(magic, EMBER_PRECOMPILE_MAGIC, sizeof magic) == 0 && cache_dir && ensure_backend()) {
        for (;;) {
            uint32_t ml;
            uint64_t wl;
            char marker[PATH_MAX];
            if (fread(&ml, sizeof ml, 1, fh) != 1 || ml >= sizeof marker || (ml && fread(marker, ml, 1, fh) != 1)) break;
            marker[ml] = 0;
            if (fread(&wl, sizeof wl, 1, fh) != 1 || wl == 0 || wl > (64u << 20)) break;
            unsigned char *wire = PyMem_RawMalloc(wl);
            if (!wire) break;
            if (fread(wire, wl, 1, fh) != 1) {
                PyMem_RawFree(wire);
                break;
            }
            read++;
            EmberCompiled out;
            char err[512];
            if (p_compile(wire, wl, &out, err, sizeof err) == EMBER_STATUS_OK) {
                compiled++;
                p_free(out.handle);
                size_t cl = strlen(cache_dir);
                /* Only a marker inside this cache: the file names it, and is not trusted further. */
                if (ml > cl && strncmp(marker, cache_dir, cl) == 0 && strstr(marker, "..") == NULL) {
                    make_marker_dir(marker);
                    int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                    if (fd >= 0) close(fd);
                }
            }
            PyMem_RawFree(wire);
        }
    }
    fclose(fh);
    ember_log("Ember: compiled %d of %d functions of an earlier run for later runs (%.0f ms)", compiled, read,
              (seconds_of(CLOCK_MONOTONIC) - t0) * 1e3);
    return Py_BuildValue("(ii)", compiled, read);
}

/* log(line): one line in Ember's log (nothing when the log is off). */
static PyObject *shim_log(PyObject *self, PyObject *arg)
{
    const char *line = PyUnicode_AsUTF8(arg);
    if (!line) return NULL;
    ember_log("%s", line);
    Py_RETURN_NONE;
}

static PyObject *shim_set_log(PyObject *self, PyObject *arg)
{
    const char *path = PyUnicode_AsUTF8(arg);
    if (!path) return NULL;
    if (log_file && log_file != stderr) fclose(log_file);
    log_file = strcmp(path, "-") == 0 ? stderr : fopen(path, "a");
    if (!log_file) return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    Py_RETURN_NONE;
}

#define X(name) {#name, (const void *)name},
static const EmberHelper helper_table[] = {
    EMBER_RUNTIME_HELPERS(X)
    X(ember_rt_periodic_slow)
    X(ember_rt_monitoring_on)
    X(ember_rt_reraise)
    /* Data the inlined SEND reads (ember_runtime.h). */
    {"ember_extra_index", (const void *)&ember_extra_index},
    {"ember_enabled", (const void *)&ember_enabled},
    {"ember_gen_resumes", (const void *)&ember_gen_resumes},
    {"ember_code_epoch", (const void *)&ember_code_epoch},
    {"ember_own_tools", (const void *)&ember_own_tools},
    {"ember_async_gen_wrapped_type", (const void *)&ember_async_gen_wrapped_type},
    X(ember_vectorcall)
};
#undef X

/* load(path, opt_level): dlopen libember and initialise the compiler. */
/* Loads libember.so and initialises the compiler (ember_init) on first use. 1 when ready; on
 * failure logs the reason once, switches Ember off (functions run interpreted) and returns 0. */
/* ---- loading the compiler ----
 * libember.so and LLVM with it (25-40 ms: dlopen, relocations, LLVM's static constructors, the
 * LLJIT) are loaded by the first compile. Under the cost policy with background compilation the
 * load runs on a loader thread, so the interpreter thread never waits for it: the compile that
 * asked for it returns "not yet" and a later sample asks again (backend_async). Everywhere else
 * (EMBER_AUTO=N, EMBER_BACKGROUND=0, force_compile, ember.version) the load is synchronous
 * (ensure_backend), waiting for a running loader thread if there is one. */
static pthread_t loader_thread;
static atomic_int loader_done;      /* the loader thread finished load_backend_nogil */
static char load_err[1024];         /* why the load failed; empty when it succeeded */
static size_t load_bclen;           /* helper bitcode bytes handed to ember_init */

/* dlopen, dlsym and ember_init: no Python API, so that it can run without the GIL. */
static void load_backend_steps(void);
static double load_ms;              /* wall time of load_backend_nogil */
static int load_async;              /* it ran on the loader thread */

static void load_backend_nogil(void)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    load_backend_steps();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    load_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
}

static void load_backend_steps(void)
{
    load_err[0] = 0;
    void *h = backend_path ? dlopen(backend_path, RTLD_NOW | RTLD_LOCAL) : NULL;
    if (!h) {
        snprintf(load_err, sizeof load_err, "cannot load %s: %s", backend_path ? backend_path : "(no path)",
                 backend_path ? dlerror() : "ember._shim.load() was not called");
        return;
    }
    p_init = dlsym(h, "ember_init");
    p_compile = dlsym(h, "ember_compile");
    p_free = dlsym(h, "ember_free");
    p_hir_text = dlsym(h, "ember_hir_text");
    p_dump = dlsym(h, "ember_dump");
    p_builtin_bitcode = dlsym(h, "ember_builtin_bitcode");
    p_version = dlsym(h, "ember_version");
    p_bg_submit = dlsym(h, "ember_bg_submit");
    p_bg_bump = dlsym(h, "ember_bg_bump");
    p_bg_cancel = dlsym(h, "ember_bg_cancel");
    p_bg_ready = dlsym(h, "ember_bg_ready");
    p_bg_poll = dlsym(h, "ember_bg_poll");
    p_bg_wait = dlsym(h, "ember_bg_wait");
    p_bg_shutdown = dlsym(h, "ember_bg_shutdown");
    p_bg_stats = dlsym(h, "ember_bg_stats");
    p_bg_set_notify = dlsym(h, "ember_bg_set_notify");
    if (!p_bg_submit || !p_bg_bump || !p_bg_cancel || !p_bg_ready || !p_bg_poll || !p_bg_wait ||
        !p_bg_shutdown || !p_bg_stats || !p_bg_set_notify)
        p_bg_submit = NULL;   /* a libember without background compilation: compile synchronously */
    if (!p_init || !p_compile || !p_free || !p_builtin_bitcode || !p_version) {
        snprintf(load_err, sizeof load_err, "%s lacks the Ember C ABI", backend_path);
        return;
    }
    const uint8_t *bc = NULL;
    load_bclen = opt_no_inline ? 0 : p_builtin_bitcode(&bc);
    EmberConfig cfg = {helper_table, sizeof helper_table / sizeof helper_table[0], bc, load_bclen,
                       (uint32_t)backend_opt, cache_dir, cache_max_bytes, host_id, opt_call_policy, opt_dump_ir, (uint32_t)opt_debugger,
                       /* perf record -g walks through compiled code (frame pointers) */
                       (uint32_t)(opt_perf != EMBER_PERF_OFF)};
    char ierr[1024];
    if (p_init(&cfg, ierr, sizeof ierr) != EMBER_STATUS_OK) snprintf(load_err, sizeof load_err, "ember_init failed: %s", ierr);
}

/* Registers shim_bg_shutdown with atexit (GIL held; keeps any raised exception). */
static void register_exit_shutdown(void)
{
    static PyMethodDef exit_def = {"bg_shutdown", shim_bg_shutdown, METH_NOARGS, NULL};
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *atexit = PyImport_ImportModule("atexit");
    PyObject *fn = atexit ? PyCFunction_New(&exit_def, NULL) : NULL;
    PyObject *r = fn ? PyObject_CallMethod(atexit, "register", "O", fn) : NULL;
    if (!r) PyErr_Clear();
    Py_XDECREF(r);
    Py_XDECREF(fn);
    Py_XDECREF(atexit);
    PyErr_SetRaisedException(exc);
}

/* The GIL half of a load: the log line, the notify hook, the exit handler. Returns 1 when the
 * compiler is ready. */
static int finish_backend_load(void)
{
    if (load_err[0]) {
        backend_state = -1;
        ember_log("Ember: the compiler could not be loaded, running uncompiled: %s", load_err);
        p_compile = NULL;
        ember_enabled = 0;
        return 0;
    }
    snprintf(backend_version, sizeof backend_version, "%s (bitcode %zu bytes)", p_version(), load_bclen);
    backend_state = 1;
    ember_log("Ember: compiler loaded in %.1f ms on the %s thread", load_ms, load_async ? "loader" : "calling");
    main_interp = PyInterpreterState_Get();
    if (p_bg_submit) p_bg_set_notify(bg_notify);
    /* Interpreter exit stops the compile thread first thing (atexit runs before the modules are
     * torn down): queued compiles are dropped, not finished. */
    register_exit_shutdown();
    return 1;
}

/* Waits (GIL released) for a running loader thread; then its result is final. */
static void join_loader(void)
{
    if (backend_state != 2 || loader_joined) return;
    Py_BEGIN_ALLOW_THREADS
    pthread_join(loader_thread, NULL);
    Py_END_ALLOW_THREADS
    loader_joined = 1;
}

static void *loader_main(void *unused)
{
    (void)unused;
    atomic_store(&loader_tid, (long)gettid());
    load_backend_nogil();
    atomic_store(&loader_done, 1);
    return NULL;
}

/* Loads the compiler now (GIL held); 1 when it is ready. */
static int ensure_backend(void)
{
    if (backend_state == 2) {
        join_loader();
        return finish_backend_load();
    }
    if (backend_state) return backend_state > 0;
    backend_state = -1;
    load_backend_nogil();
    return finish_backend_load();
}

/* The cost policy's load: 1 ready, 0 loading on the loader thread (ask again later), -1 failed. */
static int backend_async(void)
{
    if (backend_state == 2) {
        if (!atomic_load(&loader_done)) return 0;
        join_loader();
        return finish_backend_load() ? 1 : -1;
    }
    if (backend_state) return backend_state > 0 ? 1 : -1;
    load_async = 1;
    if (start_quiet_thread(&loader_thread, 0, loader_main) != 0) {
        load_async = 0;
        return ensure_backend() ? 1 : -1;
    }
    backend_state = 2;
    return 0;
}

/* set_options(generators, max_code_units, log_passes, perf (the index of its name in PERF_MODES), dump_hir, no_inline,
 * call_policy, dump_ir, debugger): the settings ember._config checked (call_policy and dump_ir are str
 * or None). Takes effect for compiles from now on; the last two when the compiler loads. */
static PyObject *shim_set_options(PyObject *self, PyObject *args)
{
    int gen, log_passes, perf, dump_hir, no_inline, debugger;
    long max_units;
    const char *policy, *dump_ir;
    if (!PyArg_ParseTuple(args, "plpippzzp", &gen, &max_units, &log_passes, &perf, &dump_hir, &no_inline, &policy,
                          &dump_ir, &debugger))
        return NULL;
    opt_debugger = debugger;
    opt_generators = gen;
    opt_max_code_units = max_units;
    opt_log_passes = log_passes;
    opt_perf = perf;
    opt_dump_hir = dump_hir;
    opt_no_inline = no_inline;
    free(opt_call_policy);
    opt_call_policy = policy ? strdup(policy) : NULL;
    free(opt_dump_ir);
    opt_dump_ir = dump_ir ? strdup(dump_ir) : NULL;
    Py_RETURN_NONE;
}

/* load(path, opt): switches the JIT on. libember.so at `path` is only remembered here and
 * loaded by the first compile (ensure_backend), so `import ember` does not map LLVM. */
static PyObject *shim_load(PyObject *self, PyObject *args)
{
    const char *path;
    int opt = 1;
    if (!PyArg_ParseTuple(args, "s|i", &path, &opt)) return NULL;
    if (ember_enabled || backend_state) Py_RETURN_NONE;
    backend_path = strdup(path);
    backend_opt = opt;
    if (!backend_path) return PyErr_NoMemory();
    ember_extra_index = PyUnstable_Eval_RequestCodeExtraIndex(free_info);
    if (ember_extra_index < 0) {
        PyErr_SetString(PyExc_RuntimeError, "no free co_extra index");
        return NULL;
    }
    watcher_id = PyFunction_AddWatcher(func_watcher);
    if (watcher_id < 0) return NULL;
    ember_learn_async_gen(PyThreadState_Get());
    if (ember_async_gen_wrapped_type == NULL)
        ember_log("Ember: async generator awaitables have an unexpected layout; SEND resumes them through tp_iternext");
    ember_enabled = 1;
    /* The exit handler that runs after every atexit callback registered from now on (see
     * shim_bg_shutdown). */
    register_exit_shutdown();
    Py_RETURN_NONE;
}

/* backend_version(): loads the compiler if needed; its version string, or None when it could
 * not be loaded (the log says why). */
static PyObject *shim_backend_version(PyObject *self, PyObject *unused)
{
    if (!ensure_backend()) Py_RETURN_NONE;
    return PyUnicode_FromString(backend_version);
}

static PyMethodDef methods[] = {
    {"load", shim_load, METH_VARARGS, "load(path, opt_level=1): switch the JIT on; libember.so at path is "
     "loaded by the first compile."},
    {"backend_version", shim_backend_version, METH_NOARGS, "Load the compiler if needed; its version string "
     "(None if it cannot be loaded)."},
    {"force_compile", shim_force_compile, METH_O, "Compile a function now; True if it is compiled."},
    {"watch", shim_watch, METH_O, "Count calls of an existing function (autojit / jit list)."},
    {"install_monitoring_hooks", shim_install_monitoring_hooks, METH_NOARGS,
     "Wrap sys.monitoring.set_events/set_local_events so Ember parks its functions while a tool wants "
     "C_RETURN/C_RAISE events, and use_tool_id so that on-stack replacement steps aside for a tool."},
    {"why_not", shim_why_not, METH_O, "why_not(f): None if f runs compiled code, else the reason in words."},
    {"dump", shim_dump, METH_VARARGS, "dump(f, what): text of compiling f now (what: the index of its name in DUMP_KINDS)."},
    {"is_compiled", shim_is_compiled, METH_O, "True if calls of the function run compiled code."},
    {"compiled_size", shim_compiled_size, METH_O, "Native code bytes of a compiled function (0 if none)."},
    {"compiled_functions", shim_compiled_functions, METH_NOARGS, "List of compiled 'module:qualname'."},
    {"set_auto", shim_set_auto, METH_O, "Compile functions after N calls (-1 switches autojit off)."},
    {"set_auto_cost", shim_set_auto_cost, METH_NOARGS, "Compile where it pays: sampled interpreted time "
     "against estimated compile cost (starts the sampler thread)."},
    {"stop_sampler", shim_stop_sampler, METH_NOARGS, "Stop the cost policy's sampler thread (at exit)."},
    {"warm_start", shim_warm_start, METH_VARARGS, "warm_start(samples, paying): the program ran compiled code before "
     "(in a run of `samples` samples, `paying` of them in compiled code or in functions compiled for later runs): "
     "load the compiler now, in the background, when those pay for it; True when it does."},
    {"sampler_after_fork", shim_sampler_after_fork, METH_NOARGS, "Restart the sampler thread in a forked child."},
    {"before_fork", shim_before_fork, METH_NOARGS, "Before fork(): finish the compiler's loader thread and "
     "stop the sampler thread."},
    {"sampler_after_fork_parent", shim_sampler_after_fork_parent, METH_NOARGS, "After fork(), in the parent: "
     "restart the sampler thread stopped by before_fork."},
    {"set_jit_list", shim_set_jit_list, METH_O, "Only compile functions matching these patterns (None: all)."},
    {"disable", shim_disable, METH_NOARGS, "Stop compiling and entering compiled code."},
    {"stats", shim_stats, METH_NOARGS, "Counters: compiled, refused, compile_ms, auto, ember_enabled, gen_resumes (generator resumptions that "
     "entered compiled code), gen_hook (the PEP 523 hook is installed now)."},
    {"set_options", shim_set_options, METH_VARARGS, "set_options(generators, max_code_units, log_passes, perf, "
     "dump_hir, no_inline, call_policy, dump_ir, debugger): settings checked by ember._config."},
    {"log", shim_log, METH_O, "log(line): one line in Ember's log (nothing when it is off)."},
    {"set_log", shim_set_log, METH_O, "Append log lines to a file ('-' = stderr)."},
    {"set_cache", shim_set_cache, METH_VARARGS, "set_cache(dir, max_bytes, host_id): the persistent code cache "
     "(dir None: off); before the compiler loads"},
    {"set_precompile", shim_set_precompile, METH_O, "set_precompile(on): keep sampled functions' wires for a compile after exit (EMBER_PRECOMPILE)."},
    {"preload_list", shim_preload_list, METH_NOARGS, "preload_list(): (key, identity) pairs of the functions this run compiled, loaded or handed on."},
    {"precompile_write", shim_precompile_write, METH_O, "precompile_write(dir): write the kept wires to a file in dir; its path, or None."},
    {"precompile_run", shim_precompile_run, METH_O, "precompile_run(path): compile a precompile_write file's wires into the code cache; (compiled, read)."},
    {"set_speculate", shim_set_speculate, METH_O, "set_speculate(on): typed, guarded code from the profile (EMBER_SPECULATE)."},
    {"set_osr", shim_set_osr, METH_O, "set_osr(mode): on-stack replacement of interpreted frames at loop "
     "headers: 0 off, 1 under the cost policy (the default), 2 under every policy, 3 the stress mode for "
     "tests: every loop's first backward jump compiles and moves (EMBER_OSR)."},
    {"set_background", shim_set_background, METH_O, "True: compile hot functions on the compile thread "
     "(the default); False: at the call that made them hot (EMBER_BACKGROUND=0)."},
    {"wait_for_compiles", shim_wait_for_compiles, METH_O, "wait_for_compiles(seconds): wait until the compile "
     "thread is idle and install what it finished; True when idle."},
    {"bg_shutdown", shim_bg_shutdown, METH_NOARGS, "Stop the compile thread (drops queued compiles); run at exit."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "ember._shim", "Ember's CPython 3.13 shim.", -1, methods};

PyMODINIT_FUNC PyInit__shim(void)
{
    /* Capture _PyFunction_Vectorcall (not exported) from a fresh function. */
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    /* The exact CPython this shim was compiled against (its internal structures are those of
     * this patch version): python/ember/_compat.py refuses to activate in any other version
     * that has not been tested with this build. */
    if (PyModule_AddStringConstant(m, "BUILT_FOR", PY_VERSION) < 0 ||
        PyModule_AddIntConstant(m, "BUILT_FOR_HEX", PY_VERSION_HEX) < 0)
        return NULL;
    /* The names of dump()'s and set_options()'s numbered arguments, each at its number
     * (EmberDump from ember.h, perf.h's modes), so that Python writes no number. */
    static const char *const dump_kinds[] = {[EMBER_DUMP_HIR] = "hir", [EMBER_DUMP_LLVM] = "llvm",
                                             [EMBER_DUMP_ASM] = "asm"};
    static const char *const perf_modes[] = {[EMBER_PERF_OFF] = "off", [EMBER_PERF_MAP] = "map",
                                             [EMBER_PERF_JITDUMP] = "jitdump"};
    if (PyModule_Add(m, "DUMP_KINDS", Py_BuildValue("(sss)", dump_kinds[0], dump_kinds[1], dump_kinds[2])) < 0 ||
        PyModule_Add(m, "PERF_MODES", Py_BuildValue("(sss)", perf_modes[0], perf_modes[1], perf_modes[2])) < 0)
        return NULL;
    PyObject *code = (PyObject *)PyCode_NewEmpty("ember", "probe", 1);
    if (!code) return NULL;
    PyObject *g = PyDict_New();
    PyObject *fn = g ? PyFunction_New(code, g) : NULL;
    Py_DECREF(code);
    Py_XDECREF(g);
    if (!fn) return NULL;
    py_function_vectorcall = ((PyFunctionObject *)fn)->vectorcall;
    /* Capture slot_tp_iter and slot_nb_add ... (static in Objects/typeobject.c): the slots of
     * a class whose __iter__ and operators are Python functions. */
    PyObject *ns = Py_BuildValue("{s:O,s:O,s:O,s:O,s:O}", "__iter__", fn, "__add__", fn, "__sub__", fn, "__mul__", fn,
                                 "__truediv__", fn);
    PyObject *probe = ns ? PyObject_CallFunction((PyObject *)&PyType_Type, "s()O", "ember_slot_probe", ns) : NULL;
    Py_XDECREF(ns);
    if (probe) {
        ember_slot_tp_iter = ((PyTypeObject *)probe)->tp_iter;
        /* And slot_nb_add ... slot_nb_true_divide: a class's operator slots when it defines the
         * operator in Python (ember_binop_direct). */
        for (int k = 0; k < EMBER_BINOPS; k++) slot_nb[k] = nb_slot(((PyTypeObject *)probe)->tp_as_number, binops[k].slot);
        Py_DECREF(probe);
    }
    else {
        PyErr_Clear();
    }
    Py_DECREF(fn);
    compiled_names = PyList_New(0);
    if (!compiled_names) return NULL;
    init_name = PyUnicode_InternFromString("__init__");
    if (!init_name) return NULL;
    iter_name = PyUnicode_InternFromString("__iter__");
    if (!iter_name) return NULL;
    PyObject *builtins = PyImport_ImportModule("builtins");
    if (!builtins) return NULL;
    ember_builtin_sum = PyObject_GetAttrString(builtins, "sum");
    ember_builtin_any = PyObject_GetAttrString(builtins, "any");
    ember_builtin_all = PyObject_GetAttrString(builtins, "all");
    Py_DECREF(builtins);
    if (!ember_builtin_sum || !ember_builtin_any || !ember_builtin_all) return NULL;
    for (int k = 0; k < EMBER_BINOPS; k++) {
        binops[k].name = PyUnicode_InternFromString(binops[k].dunder);
        if (!binops[k].name) return NULL;
    }
    return m;
}
