/* serialize.c -- CPython 3.13 code object (+ the specialising interpreter's inline caches)
 * -> Ember HIR wire bytes (format: src/hir/wire.rs, opcodes: EmberOp in include/ember.h).
 *
 * Walks _PyCode_CODE(co) like the interpreter does: EXTENDED_ARG prefixes are folded, each
 * specialised opcode is mapped back to its base with _PyOpcode_Deopt, and the cache entries
 * of specialised forms (Include/internal/pycore_code.h layouts) become immediates. Opcodes
 * Ember cannot compile become EMBER_OP_UNSUPPORTED carrying their name; the compiler
 * refuses the function only if such an instruction is reachable. */
#define NEED_OPCODE_METADATA
#include "ember_runtime.h"
#include "internal/pycore_code.h"
#include "internal/pycore_opcode_metadata.h"
#include "internal/pycore_function.h"
#include "internal/pycore_dict.h"           /* DK_UNICODE_ENTRIES (LOAD_GLOBAL's cached entry) */
#include "serialize.h"
#include "ember.h"
#include "opcode.h"                  /* NB_* (BINARY_OP opargs) */

#include <string.h>

typedef struct {
    unsigned char *data;
    size_t len, cap;
    int oom;
} Buf;

static void put(Buf *b, const void *p, size_t n)
{
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + n) cap *= 2;
        unsigned char *d = PyMem_Realloc(b->data, cap);
        if (!d) { b->oom = 1; return; }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}
static void put_u16(Buf *b, uint16_t v) { put(b, &v, 2); }
static void put_u32(Buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(Buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(Buf *b, const char *s, size_t n) { put_u32(b, (uint32_t)n); put(b, s, n); }

/* Instructions are staged so the instruction count can precede them. */
typedef struct {
    uint16_t op;
    uint16_t nimm;
    uint32_t bc;
    int64_t imm[EMBER_WIRE_MAX_IMMS];
} Ins;

typedef struct {
    Ins *v;
    Py_ssize_t n, cap;
    const char *names[64];  /* unsupported opcode names, interned by index */
    int nnames;
} Prog;

static int emit(Prog *p, uint16_t op, uint32_t bc, int nimm, int64_t a, int64_t b, int64_t c,
                int64_t d, int64_t e, int64_t f)
{
    if (p->n == p->cap) {
        Py_ssize_t cap = p->cap ? p->cap * 2 : 64;
        Ins *v = PyMem_Realloc(p->v, cap * sizeof(Ins));
        if (!v) return -1;
        p->v = v;
        p->cap = cap;
    }
    Ins *x = &p->v[p->n++];
    x->op = op;
    x->nimm = (uint16_t)nimm;
    x->bc = bc;
    x->imm[0] = a; x->imm[1] = b; x->imm[2] = c; x->imm[3] = d; x->imm[4] = e; x->imm[5] = f;
    return 0;
}
#define E0(op) emit(&prog, op, (uint32_t)i, 0, 0, 0, 0, 0, 0, 0)
#define E1(op, a) emit(&prog, op, (uint32_t)i, 1, a, 0, 0, 0, 0, 0)
#define E2(op, a, b) emit(&prog, op, (uint32_t)i, 2, a, b, 0, 0, 0, 0)

/* The value a LOAD_GLOBAL_MODULE / _BUILTIN inline cache points at (borrowed), read as the
 * specialised instruction reads it (Python/bytecodes.c: the dict's keys version, then the
 * unicode entry at the cached index), or NULL when the cache no longer describes `dict`. */
static PyObject *cached_global(PyObject *dict, int64_t version, int64_t index)
{
    if (dict == NULL || !PyDict_CheckExact(dict) || version == 0) return NULL;
    PyDictKeysObject *keys = ((PyDictObject *)dict)->ma_keys;
    if ((int64_t)keys->dk_version != version || keys->dk_kind == DICT_KEYS_GENERAL || index < 0 ||
        index >= keys->dk_nentries)
        return NULL;
    return DK_UNICODE_ENTRIES(keys)[index].me_value;
}

/* The value of the LoadGlobal `x` (emitted with its six immediates) per its inline cache, or NULL. */
static PyObject *global_value(PyFunctionObject *func, const Ins *x)
{
    if (x->imm[2] == EMBER_GLOBAL_SPEC_MODULE) return cached_global(func->func_globals, x->imm[3], x->imm[5]);
    if (x->imm[2] == EMBER_GLOBAL_SPEC_BUILTIN) return cached_global(func->func_builtins, x->imm[4], x->imm[5]);
    return NULL;
}

/* The EmberMathFn `v` is, or EMBER_MATH_FN_NONE: a builtin function of CPython's own `math`
 * module (its module definition is named "math", the function is METH_O and named as one of
 * the FUNC1 functions Ember compiles; Modules/mathmodule.c). A function assigned over
 * `math.sqrt` is not one, whatever its name. */
static int64_t math_fn_of(PyObject *v)
{
    if (v == NULL || !PyCFunction_CheckExact(v)) return EMBER_MATH_FN_NONE;
    PyCFunctionObject *fn = (PyCFunctionObject *)v;
    if (fn->m_self == NULL || !PyModule_Check(fn->m_self) || (fn->m_ml->ml_flags & ~METH_COEXIST) != METH_O)
        return EMBER_MATH_FN_NONE;
    PyModuleDef *def = PyModule_GetDef(fn->m_self);
    if (def == NULL || def->m_name == NULL || strcmp(def->m_name, "math") != 0) return EMBER_MATH_FN_NONE;
    static const struct { const char *name; int64_t fn; } known[] = {
        {"sqrt", EMBER_MATH_FN_SQRT}, {"sin", EMBER_MATH_FN_SIN}, {"cos", EMBER_MATH_FN_COS},
        {"exp", EMBER_MATH_FN_EXP},   {"fabs", EMBER_MATH_FN_FABS},
    };
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
        if (strcmp(fn->m_ml->ml_name, known[k].name) == 0) return known[k].fn;
    return EMBER_MATH_FN_NONE;
}

static int name_index(Prog *p, const char *name)
{
    for (int k = 0; k < p->nnames; k++)
        if (strcmp(p->names[k], name) == 0) return k + 2;
    if (p->nnames == 64) return 2;  /* reuse the first name; message still says unsupported */
    p->names[p->nnames++] = name;
    return p->nnames + 1;
}

/* Jump targets point at an instruction's first unit; the wire names instructions by their
 * opcode unit, after any EXTENDED_ARG prefix. */
static Py_ssize_t op_unit(_Py_CODEUNIT *code, Py_ssize_t n, Py_ssize_t t)
{
    while (t + 1 < n && t >= 0 && code[t].op.code == EXTENDED_ARG) t++;
    return t;
}
#define T(x) op_unit(code, n, (x))

/* For GET_ANEXT and SEND at code unit `i` inside an `async for`: the code unit after the
 * loop's END_ASYNC_FOR handler and the stack depth there (handler level minus the iterator),
 * which the interpreter reaches by unwinding on StopAsyncIteration; *exit = -1 elsewhere. */
static void async_for_exit(PyCodeObject *co, _Py_CODEUNIT *code, Py_ssize_t n, Py_ssize_t i,
                           int64_t *exit, int64_t *depth)
{
    int target, level, lasti;
    *exit = -1;
    *depth = 0;
    if (!ember_find_handler(co, (int)i, &target, &level, &lasti) || lasti || level < 1) return;
    Py_ssize_t h = op_unit(code, n, target);
    if (h + 1 >= n || _PyOpcode_Deopt[code[h].op.code] != END_ASYNC_FOR) return;
    *exit = op_unit(code, n, h + 1 + _PyOpcode_Caches[END_ASYNC_FOR]);
    *depth = level - 1;
}

static uint32_t cache_u32(_Py_CODEUNIT *c) { return read_u32(&c->cache); }
static uint64_t cache_ptr(_Py_CODEUNIT *c) { return (uint64_t)(uintptr_t)read_obj(&c->cache); }

/* A constant's exact built-in type as an EmberType (ember.h), or EMBER_TYPE_OBJECT. */
static uint8_t const_type(PyObject *c)
{
    PyTypeObject *t = Py_TYPE(c);
    if (t == &PyLong_Type) return EMBER_TYPE_INT;
    if (t == &PyFloat_Type) return EMBER_TYPE_FLOAT;
    if (t == &PyBool_Type) return EMBER_TYPE_BOOL;
    if (t == &PyUnicode_Type) return EMBER_TYPE_STR;
    if (t == &PyTuple_Type) return EMBER_TYPE_TUPLE;
    if (c == Py_None) return EMBER_TYPE_NONE_TYPE;
    return EMBER_TYPE_OBJECT;
}

/* BINARY_OP's operation as an EmberArith (ember.h), for the compiler, which never decodes a
 * CPython oparg: NB_* of Include/opcode.h, the in-place forms folded onto the others. */
static int64_t arith_of(int oparg)
{
    switch (oparg >= NB_INPLACE_ADD ? oparg - (NB_INPLACE_ADD - NB_ADD) : oparg) {
    case NB_ADD: return EMBER_ARITH_ADD;
    case NB_SUBTRACT: return EMBER_ARITH_SUBTRACT;
    case NB_MULTIPLY: return EMBER_ARITH_MULTIPLY;
    case NB_TRUE_DIVIDE: return EMBER_ARITH_TRUE_DIVIDE;
    case NB_FLOOR_DIVIDE: return EMBER_ARITH_FLOOR_DIVIDE;
    case NB_REMAINDER: return EMBER_ARITH_REMAINDER;
    case NB_POWER: return EMBER_ARITH_POWER;
    case NB_LSHIFT: return EMBER_ARITH_L_SHIFT;
    case NB_RSHIFT: return EMBER_ARITH_R_SHIFT;
    case NB_AND: return EMBER_ARITH_AND;
    case NB_OR: return EMBER_ARITH_OR;
    case NB_XOR: return EMBER_ARITH_XOR;
    default: return EMBER_ARITH_OTHER;
    }
}

/* 1 when the guards compiled for code unit `i` have failed before (ember_rt_guard_fail):
 * the instruction is then serialised generic, whatever the interpreter quickened it to. */
static int despecialised(PyCodeObject *co, Py_ssize_t i)
{
    CodeInfo *info = ember_code_info(co);
    if (!info) return 0;
    for (int k = 0; k < info->ndespec; k++)
        if (info->despec[k] == (int32_t)i) return 1;
    return 0;
}

/* The local the BINARY_OP at code unit `i` stores its result into: the STORE_FAST right after
 * it (or the first store of STORE_FAST_LOAD_FAST / STORE_FAST_STORE_FAST), or -1. */
static int stored_local(const _Py_CODEUNIT *code, Py_ssize_t n, Py_ssize_t i)
{
    Py_ssize_t j = i + 1 + _PyOpcode_Caches[BINARY_OP];
    if (j >= n) return -1;
    int oparg = code[j].op.arg;
    switch (_PyOpcode_Deopt[code[j].op.code]) {
    case STORE_FAST: return oparg;
    case STORE_FAST_LOAD_FAST: case STORE_FAST_STORE_FAST: return oparg >> 4;
    }
    return -1;
}

/* 1 when the BINARY_OP at code unit `i` stores into a local that a despecialised BINARY_OP of
 * `co` stores into too: an accumulator whose type flipped at one of its updates flips at the
 * others (go's Board.score: `count += 1` in two branches, `count` an int for one colour and a
 * float for the other), so all of them are serialised generic at once rather than each costing
 * a withdrawal of its own. */
static int despecialised_with(PyCodeObject *co, Py_ssize_t i)
{
    CodeInfo *info = ember_code_info(co);
    if (!info || info->ndespec == 0) return 0;
    _Py_CODEUNIT *code = _PyCode_CODE(co);
    Py_ssize_t n = Py_SIZE(co);
    int k = stored_local(code, n, i);
    if (k < 0) return 0;
    for (int d = 0; d < info->ndespec; d++) {
        Py_ssize_t u = info->despec[d];
        if (u >= 0 && u < n && _PyOpcode_Deopt[code[u].op.code] == BINARY_OP && stored_local(code, n, u) == k) return 1;
    }
    return 0;
}

/* 1 when the specialisable instruction at code unit `i` (its base opcode, its adaptive counter
 * in the next code unit) was never executed: the counter still holds _PyCode_Quicken's warm-up
 * value (ADAPTIVE_WARMUP_VALUE and _BACKOFF, Include/internal/pycore_code.h). Its first
 * execution counts the value down to 0 and its second specialises or backs off, and neither
 * gives that value back. */
static int never_executed(const _Py_CODEUNIT *code, Py_ssize_t i)
{
    return code[i + 1].counter.value == ADAPTIVE_WARMUP_VALUE && code[i + 1].counter.backoff == ADAPTIVE_WARMUP_BACKOFF;
}

/* The header written below: u32 magic, u16 version, then the u16 flags (native byte order,
 * as put_u16 writes them). */
#define WIRE_FLAGS_OFFSET 6

void ember_wire_add_flags(unsigned char *wire, size_t len, uint16_t flags)
{
    if (len < WIRE_FLAGS_OFFSET + sizeof flags) return;
    uint16_t f;
    memcpy(&f, wire + WIRE_FLAGS_OFFSET, sizeof f);
    f |= flags;
    memcpy(wire + WIRE_FLAGS_OFFSET, &f, sizeof f);
}

/* A function a method load's inline cache holds (a borrowed pointer, stale after its class
 * changed) that the wire's callees section may carry: one the shim knows to be alive
 * (ember_small_func_live, checked before the pointer is read) with a callee's shape. */
static int callee_eligible(PyObject *f)
{
    return ember_small_func_live(f) && PyFunction_Check(f) && ember_callee_shape((PyCodeObject *)((PyFunctionObject *)f)->func_code);
}

/* The __init__ of a class whose calls the interpreter's CALL_ALLOC_AND_ENTER_INIT makes
 * (the conditions of get_init_for_simple_managed_python_class, Python/specialize.c: metaclass
 * `type`, object.__new__, PyType_GenericAlloc, inline values), or of such a class whose
 * instances have `__slots__` and no `__dict__` (which the interpreter calls through
 * type.__call__; passes::inline_init makes the same instance), when that __init__ is a
 * function the callees section may carry (callee_eligible), or NULL. Borrowed: alive while the
 * class's type version is unchanged. */
static PyFunctionObject *class_init(PyObject *value)
{
    if (value == NULL || Py_TYPE(value) != &PyType_Type) return NULL;
    PyTypeObject *tp = (PyTypeObject *)value;
    int layout = (tp->tp_flags & Py_TPFLAGS_INLINE_VALUES) || (tp->tp_dictoffset == 0 && !(tp->tp_flags & Py_TPFLAGS_MANAGED_DICT));
    if (!(tp->tp_flags & Py_TPFLAGS_HEAPTYPE) || !layout ||
        (tp->tp_flags & Py_TPFLAGS_IS_ABSTRACT) ||
        !_PyType_IS_GC(tp) || tp->tp_new != PyBaseObject_Type.tp_new || tp->tp_alloc != PyType_GenericAlloc ||
        tp->tp_itemsize != 0 || tp->tp_version_tag == 0)
        return NULL;
    PyObject *init = _PyType_Lookup(tp, &_Py_ID(__init__));
    return init != NULL && callee_eligible(init) ? (PyFunctionObject *)init : NULL;
}

static int serialize_one(PyFunctionObject *func, int osr, int speculate, int nested, PyObject **keep, Buf *out);
/* 1 when the adaptive instruction whose first cache entry is `cache` has never run: its counter
 * is still the warm-up value _PyCode_Quicken gave it (the first run decrements it, the second
 * specialises the instruction; Include/internal/pycore_code.h). */
static int never_ran(const _Py_CODEUNIT *cache)
{
    return cache->counter.as_counter == adaptive_counter_warmup().as_counter;
}

/* 1 when some FOR_ITER of `co` has run (specialised, or its counter moved). */
static int any_loop_ran(PyCodeObject *co)
{
    _Py_CODEUNIT *code = _PyCode_CODE(co);
    Py_ssize_t n = Py_SIZE(co);
    for (Py_ssize_t i = 0; i < n;) {
        int op = code[i].op.code;
        while (op == EXTENDED_ARG && i + 1 < n) op = code[++i].op.code;
        int base = _PyOpcode_Deopt[op];
        if (base == FOR_ITER && i + 1 < n && (op != FOR_ITER || !never_ran(&code[i + 1]))) return 1;
        i += 1 + _PyOpcode_Caches[base];
    }
    return 0;
}


/* The code unit of the CALL that calls the value a LOAD_GLOBAL (with its NULL) ending before
 * unit `from` pushed, when the instructions between only push its arguments in straight-line
 * code (no jump, return or raise, no other CALL reaching down to it), or -1. Stack effects are
 * CPython's own (PyCompile_OpcodeStackEffect). */
static Py_ssize_t call_of_global(PyCodeObject *co, Py_ssize_t from)
{
    _Py_CODEUNIT *code = _PyCode_CODE(co);
    int depth = 0;   /* values pushed above the callable and its NULL */
    for (Py_ssize_t i = from, steps = 0; i < Py_SIZE(co) && steps < EMBER_INLINE_MAX_CODE_UNITS; steps++) {
        int op = code[i].op.code, oparg = code[i].op.arg;
        while (op == EXTENDED_ARG && i + 1 < Py_SIZE(co)) {
            i++;
            op = code[i].op.code;
            oparg = (oparg << 8) | code[i].op.arg;
        }
        int base = _PyOpcode_Deopt[op];
        if (base == CALL) return oparg == depth ? i : -1;
        switch (base) {
        case JUMP_FORWARD: case JUMP_BACKWARD: case JUMP_BACKWARD_NO_INTERRUPT: case POP_JUMP_IF_FALSE:
        case POP_JUMP_IF_TRUE: case POP_JUMP_IF_NONE: case POP_JUMP_IF_NOT_NONE: case FOR_ITER: case SEND:
        case RETURN_VALUE: case RETURN_CONST: case RAISE_VARARGS: case RERAISE: case CALL_KW:
        case CALL_FUNCTION_EX: case INSTRUMENTED_LINE:
            return -1;
        }
        int effect = PyCompile_OpcodeStackEffect(base, oparg);
        if (effect == PY_INVALID_STACK_EFFECT) return -1;
        depth += effect;
        if (depth < 0) return -1;
        i += 1 + _PyOpcode_Caches[base];
    }
    return -1;
}

int ember_serialize(PyFunctionObject *func, int osr, int speculate, PyObject **keep, unsigned char **out, size_t *outlen, char *why,
                    size_t whylen)
{
    Buf b = {0};
    if (serialize_one(func, osr, speculate, 0, keep, &b) != 0) {
        if (why && whylen) snprintf(why, whylen, "serialisation failed");
        PyMem_Free(b.data);
        return -1;
    }
    *out = b.data;
    *outlen = b.len;
    return 0;
}

/* ember_serialize into `out`; `nested`: a callee (no callees section of its own entries). */
static int serialize_one(PyFunctionObject *func, int osr, int speculate, int nested, PyObject **keep, Buf *out)
{
    PyCodeObject *co = (PyCodeObject *)func->func_code;
    _Py_CODEUNIT *code = _PyCode_CODE(co);
    Py_ssize_t n = Py_SIZE(co);
    Py_ssize_t nconsts = PyTuple_GET_SIZE(co->co_consts);
    Prog prog = {0};
    int rc = -1;
    Buf b = {0};
    /* Method loads whose cache holds a function the callees section may carry, and global loads
     * whose value is such a function, called right after (passes::inline_call). */
    struct { uint32_t site; PyFunctionObject *func; } callees[EMBER_INLINE_MAX_CALLEES];
    int ncallees = 0;

    /* Loops the interpreter never ran become Deopt<ColdLoop> at their FOR_ITER when the
     * function has run another loop: it is being compiled from a partial profile (on-stack
     * replacement in its first loop, before the later ones ever ran), and such a loop used in
     * a second call withdraws the code so that it is compiled again with a profile of it
     * (ember_rt_deopt_cold). */
    int cold_loops = speculate && !nested && !(co->co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR)) &&
                     any_loop_ran(co);

    for (Py_ssize_t i = 0; i < n;) {
        int op = code[i].op.code;
        int oparg = code[i].op.arg;
        while (op == EXTENDED_ARG && i + 1 < n) {
            i++;
            op = code[i].op.code;
            oparg = (oparg << 8) | code[i].op.arg;
        }
        int base = _PyOpcode_Deopt[op];
        int ncache = _PyOpcode_Caches[base];
        _Py_CODEUNIT *cache = &code[i + 1];
        Py_ssize_t next = i + 1 + ncache;
        int r = 0;
        if (cold_loops && op == FOR_ITER && never_ran(cache)) {
            if (E1(EMBER_OP_DEOPT, EMBER_DEOPT_REASON_COLD_LOOP)) { PyErr_NoMemory(); goto done; }
            i = next;
            continue;
        }
        switch (base) {
        case NOP: case CACHE: case RESERVED:
            r = E0(EMBER_OP_NOP); break;
        case RESUME:
            /* After `yield from` / `await` (location 2 or 3) the interpreter's RESUME does not
             * check the eval breaker: a pending signal is handled in the delegate instead. */
            r = (oparg & 3) >= 2 ? E0(EMBER_OP_NOP) : E0(EMBER_OP_RESUME); break;
        case LOAD_FAST:
            r = E1(EMBER_OP_LOAD_FAST, oparg); break;
        case LOAD_FAST_CHECK:
            r = E1(EMBER_OP_LOAD_FAST_CHECK, oparg); break;
        case LOAD_FAST_AND_CLEAR:
            r = E1(EMBER_OP_LOAD_FAST_AND_CLEAR, oparg); break;
        case LOAD_FAST_LOAD_FAST:
            r = E1(EMBER_OP_LOAD_FAST, oparg >> 4) || E1(EMBER_OP_LOAD_FAST, oparg & 15); break;
        case STORE_FAST:
            r = E1(EMBER_OP_STORE_FAST, oparg); break;
        case STORE_FAST_LOAD_FAST:
            r = E1(EMBER_OP_STORE_FAST, oparg >> 4) || E1(EMBER_OP_LOAD_FAST, oparg & 15); break;
        case STORE_FAST_STORE_FAST:
            r = E1(EMBER_OP_STORE_FAST, oparg >> 4) || E1(EMBER_OP_STORE_FAST, oparg & 15); break;
        case DELETE_FAST:
            r = E1(EMBER_OP_DELETE_FAST, oparg); break;
        case LOAD_CONST:
            r = E1(EMBER_OP_LOAD_CONST, oparg); break;
        case RETURN_CONST:
            r = E1(EMBER_OP_RETURN_CONST, oparg); break;
        case RETURN_VALUE:
            r = E0(EMBER_OP_RETURN_VALUE); break;
        case POP_TOP: case END_FOR:
            r = E0(EMBER_OP_POP_TOP); break;
        case PUSH_NULL:
            r = E0(EMBER_OP_PUSH_NULL); break;
        case COPY:
            r = E1(EMBER_OP_COPY, oparg); break;
        case SWAP:
            r = E1(EMBER_OP_SWAP, oparg); break;
        case BINARY_OP: {
            int spec = EMBER_BINARY_SPEC_GENERIC;
            switch (op) {
            case BINARY_OP_ADD_INT: spec = EMBER_BINARY_SPEC_ADD_INT; break;
            case BINARY_OP_SUBTRACT_INT: spec = EMBER_BINARY_SPEC_SUBTRACT_INT; break;
            case BINARY_OP_MULTIPLY_INT: spec = EMBER_BINARY_SPEC_MULTIPLY_INT; break;
            case BINARY_OP_ADD_FLOAT: spec = EMBER_BINARY_SPEC_ADD_FLOAT; break;
            case BINARY_OP_SUBTRACT_FLOAT: spec = EMBER_BINARY_SPEC_SUBTRACT_FLOAT; break;
            case BINARY_OP_MULTIPLY_FLOAT: spec = EMBER_BINARY_SPEC_MULTIPLY_FLOAT; break;
            case BINARY_OP_ADD_UNICODE: spec = EMBER_BINARY_SPEC_ADD_STR; break;
            }
            if (spec != EMBER_BINARY_SPEC_ADD_STR && (despecialised(co, i) || despecialised_with(co, i)))
                spec = EMBER_BINARY_SPEC_DESPECIALISED;
            else if (op == BINARY_OP && never_executed(code, i)) spec = EMBER_BINARY_SPEC_UNREACHED;
            r = emit(&prog, EMBER_OP_BINARY_OP, (uint32_t)i, 3, oparg, spec, arith_of(oparg), 0, 0, 0);
            break;
        }
        case UNARY_NOT: r = E0(EMBER_OP_UNARY_NOT); break;
        case UNARY_NEGATIVE: r = E0(EMBER_OP_UNARY_NEGATIVE); break;
        case UNARY_INVERT: r = E0(EMBER_OP_UNARY_INVERT); break;
        case TO_BOOL: {
            int spec = EMBER_TO_BOOL_SPEC_GENERIC;
            int64_t tv = 0;
            switch (op) {
            case TO_BOOL_BOOL: spec = EMBER_TO_BOOL_SPEC_BOOL; break;
            case TO_BOOL_INT: spec = EMBER_TO_BOOL_SPEC_INT; break;
            case TO_BOOL_NONE: spec = EMBER_TO_BOOL_SPEC_NONE; break;
            case TO_BOOL_LIST: spec = EMBER_TO_BOOL_SPEC_LIST; break;
            case TO_BOOL_STR: spec = EMBER_TO_BOOL_SPEC_STR; break;
            case TO_BOOL_ALWAYS_TRUE: spec = EMBER_TO_BOOL_SPEC_ALWAYS_TRUE; tv = cache_u32(&cache[1]); break;
            }
            r = E2(EMBER_OP_TO_BOOL, spec, tv);
            break;
        }
        case COMPARE_OP: {
            int spec = op == COMPARE_OP_INT     ? EMBER_COMPARE_SPEC_INT
                       : op == COMPARE_OP_FLOAT ? EMBER_COMPARE_SPEC_FLOAT
                       : op == COMPARE_OP_STR   ? EMBER_COMPARE_SPEC_STR
                                                : EMBER_COMPARE_SPEC_GENERIC;
            if (spec != EMBER_COMPARE_SPEC_STR && despecialised(co, i)) spec = EMBER_COMPARE_SPEC_GENERIC;
            /* imm2: the rich comparison (Py_LT..Py_GE), oparg >> 5 in 3.13 (bytecodes.c). */
            r = emit(&prog, EMBER_OP_COMPARE_OP, (uint32_t)i, 3, oparg, spec, oparg >> 5, 0, 0, 0);
            break;
        }
        case IS_OP: r = E1(EMBER_OP_IS_OP, oparg); break;
        case CONTAINS_OP: r = E1(EMBER_OP_CONTAINS_OP, oparg); break;
        case LOAD_GLOBAL: {
            int spec = EMBER_GLOBAL_SPEC_GENERIC;
            int64_t v1 = 0, v2 = 0, idx = 0;
            if (op == LOAD_GLOBAL_MODULE) {
                spec = EMBER_GLOBAL_SPEC_MODULE; v1 = cache[1].cache; idx = cache[3].cache;
            } else if (op == LOAD_GLOBAL_BUILTIN) {
                spec = EMBER_GLOBAL_SPEC_BUILTIN; v1 = cache[1].cache; v2 = cache[2].cache; idx = cache[3].cache;
            }
            r = emit(&prog, EMBER_OP_LOAD_GLOBAL, (uint32_t)i, 6, nconsts + (oparg >> 1), oparg & 1, spec, v1, v2, idx);
            if (r == 0) {
                /* imm6, imm7: the value, when it is a math function Ember compiles (MathCall). */
                Ins *x = &prog.v[prog.n - 1];
                PyObject *value = global_value(func, x);
                int64_t fn = math_fn_of(value);
                x->nimm = 10;
                x->imm[6] = fn;
                x->imm[7] = fn != EMBER_MATH_FN_NONE ? (int64_t)(uintptr_t)value : 0;
                x->imm[8] = 0;
                x->imm[9] = 0;
                /* A function the call after it may run inline, or a class whose __init__ may,
                 * unless that call's inlined body kept failing its guards (the call is then
                 * left as it is). */
                PyFunctionObject *init = class_init(value);
                Py_ssize_t call;
                if (!nested && keep && (oparg & 1) && ncallees < EMBER_INLINE_MAX_CALLEES && value != NULL &&
                    (init != NULL || callee_eligible(value)) && (call = call_of_global(co, next)) >= 0 &&
                    !despecialised(co, call)) {
                    callees[ncallees].site = (uint32_t)i;
                    callees[ncallees].func = init != NULL ? init : (PyFunctionObject *)value;
                    ncallees++;
                    if (init != NULL) {
                        x->imm[8] = (int64_t)((PyTypeObject *)value)->tp_version_tag;
                        x->imm[9] = (int64_t)(uintptr_t)init;
                    }
                }
            }
            break;
        }
        case STORE_GLOBAL:
            r = E1(EMBER_OP_STORE_GLOBAL, nconsts + oparg); break;
        case LOAD_ATTR: {
            int64_t name = nconsts + (oparg >> 1);
            if (oparg & 1) {
                int spec = EMBER_METHOD_SPEC_GENERIC;
                int64_t tv = 0, kv = 0, descr = 0;
                if (op == LOAD_ATTR_METHOD_WITH_VALUES) {
                    spec = EMBER_METHOD_SPEC_WITH_VALUES; tv = cache_u32(&cache[1]); kv = cache_u32(&cache[3]); descr = (int64_t)cache_ptr(&cache[5]);
                } else if (op == LOAD_ATTR_METHOD_NO_DICT) {
                    spec = EMBER_METHOD_SPEC_NO_DICT; tv = cache_u32(&cache[1]); descr = (int64_t)cache_ptr(&cache[5]);
                } else if (op == LOAD_ATTR_METHOD_LAZY_DICT && cache[3].cache == 0) {
                    /* dict_offset 0: the managed __dict__ (a tp_dictoffset type is left to
                     * the runtime specialiser, which does not cache it). */
                    spec = EMBER_METHOD_SPEC_LAZY_DICT; tv = cache_u32(&cache[1]); descr = (int64_t)cache_ptr(&cache[5]);
                }
                r = emit(&prog, EMBER_OP_LOAD_METHOD, (uint32_t)i, 5, name, spec, tv, kv, descr, 0);
                if (!nested && keep && ncallees < EMBER_INLINE_MAX_CALLEES && callee_eligible((PyObject *)(uintptr_t)descr)) {
                    callees[ncallees].site = (uint32_t)i;
                    callees[ncallees].func = (PyFunctionObject *)(uintptr_t)descr;
                    ncallees++;
                }
            } else {
                int spec = EMBER_ATTR_SPEC_GENERIC;
                int64_t a = 0, c = 0;
                if (op == LOAD_ATTR_INSTANCE_VALUE) { spec = EMBER_ATTR_SPEC_INSTANCE_VALUE; a = cache_u32(&cache[1]); c = cache[3].cache; }
                else if (op == LOAD_ATTR_SLOT) { spec = EMBER_ATTR_SPEC_SLOT; a = cache_u32(&cache[1]); c = cache[3].cache; }
                else if (op == LOAD_ATTR_MODULE) { spec = EMBER_ATTR_SPEC_MODULE; a = cache_u32(&cache[1]); c = cache[3].cache; }
                else if (op == LOAD_ATTR_WITH_HINT) { spec = EMBER_ATTR_SPEC_WITH_HINT; a = cache_u32(&cache[1]); c = cache[3].cache; }
                /* A slot, inline-value or dict-hint read whose compiled guard failed (a
                 * LoadAttrBorrow, passes/borrow.rs) goes generic: the self-specialising cache,
                 * no deopt. */
                if ((spec == EMBER_ATTR_SPEC_INSTANCE_VALUE || spec == EMBER_ATTR_SPEC_SLOT ||
                     spec == EMBER_ATTR_SPEC_WITH_HINT) && despecialised(co, i)) {
                    spec = EMBER_ATTR_SPEC_GENERIC;
                    a = c = 0;
                }
                /* LOAD_ATTR_CLASS (_PyLoadMethodCache): the class's type version, and in imm5 the
                 * attribute's value, which the class holds while it keeps that version. */
                int64_t class_value = 0;
                if (op == LOAD_ATTR_CLASS) {
                    spec = EMBER_ATTR_SPEC_CLASS;
                    a = cache_u32(&cache[1]);
                    class_value = (int64_t)(uintptr_t)cache_ptr(&cache[5]);
                }
                /* A module attribute read right after the global that holds the module
                 * (`math.sqrt`): imm4, imm5 as LoadGlobal's imm6, imm7 (MathCall). */
                PyObject *value = NULL;
                if (spec == EMBER_ATTR_SPEC_MODULE && prog.n > 0 && prog.v[prog.n - 1].op == EMBER_OP_LOAD_GLOBAL &&
                    prog.v[prog.n - 1].imm[1] == 0) {
                    PyObject *module = global_value(func, &prog.v[prog.n - 1]);
                    if (module != NULL && PyModule_CheckExact(module))
                        value = cached_global(PyModule_GetDict(module), a, c);
                }
                int64_t fn = math_fn_of(value);
                r = emit(&prog, EMBER_OP_LOAD_ATTR, (uint32_t)i, 6, name, spec, a, c, fn,
                         fn != EMBER_MATH_FN_NONE ? (int64_t)(uintptr_t)value : class_value);
            }
            break;
        }
        case STORE_ATTR: {
            int spec = EMBER_STORE_ATTR_SPEC_GENERIC;
            int64_t a = 0, c = 0;
            if (op == STORE_ATTR_INSTANCE_VALUE) { spec = EMBER_STORE_ATTR_SPEC_INSTANCE_VALUE; a = cache_u32(&cache[1]); c = cache[3].cache; }
            else if (op == STORE_ATTR_SLOT) { spec = EMBER_STORE_ATTR_SPEC_SLOT; a = cache_u32(&cache[1]); c = cache[3].cache; }
            else if (op == STORE_ATTR_WITH_HINT) { spec = EMBER_STORE_ATTR_SPEC_WITH_HINT; a = cache_u32(&cache[1]); c = cache[3].cache; }
            r = emit(&prog, EMBER_OP_STORE_ATTR, (uint32_t)i, 4, nconsts + oparg, spec, a, c, 0, 0);
            break;
        }
        case BINARY_SUBSCR: {
            int spec = op == BINARY_SUBSCR_LIST_INT    ? EMBER_SUBSCR_SPEC_LIST_INT
                       : op == BINARY_SUBSCR_TUPLE_INT ? EMBER_SUBSCR_SPEC_TUPLE_INT
                       : op == BINARY_SUBSCR_DICT      ? EMBER_SUBSCR_SPEC_DICT
                                                       : EMBER_SUBSCR_SPEC_GENERIC;
            r = E1(EMBER_OP_BINARY_SUBSCR, spec);
            break;
        }
        case STORE_SUBSCR: {
            int spec = op == STORE_SUBSCR_LIST_INT ? EMBER_STORE_SUBSCR_SPEC_LIST_INT
                       : op == STORE_SUBSCR_DICT   ? EMBER_STORE_SUBSCR_SPEC_DICT
                                                   : EMBER_STORE_SUBSCR_SPEC_GENERIC;
            r = E1(EMBER_OP_STORE_SUBSCR, spec);
            break;
        }
        case DELETE_SUBSCR: r = E0(EMBER_OP_DELETE_SUBSCR); break;
        case BUILD_TUPLE: r = E1(EMBER_OP_BUILD_TUPLE, oparg); break;
        case BUILD_LIST: r = E1(EMBER_OP_BUILD_LIST, oparg); break;
        case BUILD_MAP: r = E1(EMBER_OP_BUILD_MAP, oparg); break;
        case BUILD_CONST_KEY_MAP: r = E1(EMBER_OP_BUILD_CONST_KEY_MAP, oparg); break;
        case LIST_APPEND: r = E1(EMBER_OP_LIST_APPEND, oparg); break;
        case LIST_EXTEND: r = E1(EMBER_OP_LIST_EXTEND, oparg); break;
        case CALL: {
            int spec = op == CALL_BUILTIN_O                  ? EMBER_CALL_SPEC_BUILTIN_O
                       : op == CALL_BUILTIN_FAST             ? EMBER_CALL_SPEC_BUILTIN_FAST
                       : op == CALL_LEN                      ? EMBER_CALL_SPEC_LEN
                       : op == CALL_ISINSTANCE               ? EMBER_CALL_SPEC_IS_INSTANCE
                       : op == CALL_LIST_APPEND              ? EMBER_CALL_SPEC_LIST_APPEND
                       : op == CALL_METHOD_DESCRIPTOR_O      ? EMBER_CALL_SPEC_METHOD_DESCRIPTOR_O
                       : op == CALL_METHOD_DESCRIPTOR_NOARGS ? EMBER_CALL_SPEC_METHOD_DESCRIPTOR_NOARGS
                       : op == CALL_METHOD_DESCRIPTOR_FAST   ? EMBER_CALL_SPEC_METHOD_DESCRIPTOR_FAST
                                                             : EMBER_CALL_SPEC_GENERIC;
            r = E2(EMBER_OP_CALL, oparg, spec);
            break;
        }
        case CALL_KW: r = E1(EMBER_OP_CALL_KW, oparg); break;
        case GET_ITER: r = E0(EMBER_OP_GET_ITER); break;
        case FOR_ITER: {
            /* Exhaustion pops the iterator and skips the END_FOR; POP_TOP pair at the target. */
            Py_ssize_t t = next + oparg;
            int spec = op == FOR_ITER_RANGE   ? EMBER_FOR_ITER_SPEC_RANGE
                       : op == FOR_ITER_LIST  ? EMBER_FOR_ITER_SPEC_LIST
                       : op == FOR_ITER_TUPLE ? EMBER_FOR_ITER_SPEC_TUPLE
                       : op == FOR_ITER_GEN   ? EMBER_FOR_ITER_SPEC_GEN
                                              : EMBER_FOR_ITER_SPEC_GENERIC;
            if (t + 1 < n && _PyOpcode_Deopt[code[t].op.code] == END_FOR && _PyOpcode_Deopt[code[t + 1].op.code] == POP_TOP)
                r = E2(EMBER_OP_FOR_ITER, T(t + 2), spec);
            else
                r = E2(EMBER_OP_UNSUPPORTED, base, name_index(&prog, "FOR_ITER (unexpected loop exit shape)"));
            break;
        }
        case JUMP_FORWARD: r = E1(EMBER_OP_JUMP, T(next + oparg)); break;
        case JUMP_BACKWARD: r = E1(EMBER_OP_JUMP_BACKWARD, T(next - oparg)); break;
        case JUMP_BACKWARD_NO_INTERRUPT: r = E1(EMBER_OP_JUMP, T(next - oparg)); break;
        case POP_JUMP_IF_FALSE: r = E1(EMBER_OP_POP_JUMP_IF_FALSE, T(next + oparg)); break;
        case POP_JUMP_IF_TRUE: r = E1(EMBER_OP_POP_JUMP_IF_TRUE, T(next + oparg)); break;
        case POP_JUMP_IF_NONE: r = E1(EMBER_OP_POP_JUMP_IF_NONE, T(next + oparg)); break;
        case POP_JUMP_IF_NOT_NONE: r = E1(EMBER_OP_POP_JUMP_IF_NOT_NONE, T(next + oparg)); break;
        case RAISE_VARARGS: r = E1(EMBER_OP_RAISE_VARARGS, oparg); break;
        case LOAD_ASSERTION_ERROR: r = E0(EMBER_OP_LOAD_ASSERTION_ERROR); break;
        case UNPACK_SEQUENCE: r = E1(EMBER_OP_UNPACK_SEQUENCE, oparg); break;
        case FORMAT_SIMPLE: r = E0(EMBER_OP_FORMAT_SIMPLE); break;
        case FORMAT_WITH_SPEC: r = E0(EMBER_OP_FORMAT_WITH_SPEC); break;
        case CONVERT_VALUE: r = E1(EMBER_OP_CONVERT_VALUE, oparg); break;
        case BUILD_STRING: r = E1(EMBER_OP_BUILD_STRING, oparg); break;
        case MAKE_CELL: r = E1(EMBER_OP_MAKE_CELL, oparg); break;
        case COPY_FREE_VARS: r = E1(EMBER_OP_COPY_FREE_VARS, oparg); break;
        case LOAD_DEREF: r = E1(EMBER_OP_LOAD_DEREF, oparg); break;
        case STORE_DEREF: r = E1(EMBER_OP_STORE_DEREF, oparg); break;
        case DELETE_DEREF: r = E1(EMBER_OP_DELETE_DEREF, oparg); break;
        case MAKE_FUNCTION: r = E0(EMBER_OP_MAKE_FUNCTION); break;
        case SET_FUNCTION_ATTRIBUTE: r = E1(EMBER_OP_SET_FUNCTION_ATTRIBUTE, oparg); break;
        case BINARY_SLICE: r = E0(EMBER_OP_BINARY_SLICE); break;
        case STORE_SLICE: r = E0(EMBER_OP_STORE_SLICE); break;
        case BUILD_SLICE: r = E1(EMBER_OP_BUILD_SLICE, oparg); break;
        case BUILD_SET: r = E1(EMBER_OP_BUILD_SET, oparg); break;
        case SET_ADD: r = E1(EMBER_OP_SET_ADD, oparg); break;
        case SET_UPDATE: r = E1(EMBER_OP_SET_UPDATE, oparg); break;
        case MAP_ADD: r = E1(EMBER_OP_MAP_ADD, oparg); break;
        case DICT_UPDATE: r = E1(EMBER_OP_DICT_UPDATE, oparg); break;
        case DICT_MERGE: r = E1(EMBER_OP_DICT_MERGE, oparg); break;
        case CALL_INTRINSIC_1: r = E1(EMBER_OP_CALL_INTRINSIC1, oparg); break;
        case CALL_INTRINSIC_2: r = E1(EMBER_OP_CALL_INTRINSIC2, oparg); break;
        case CALL_FUNCTION_EX: r = E1(EMBER_OP_CALL_FUNCTION_EX, oparg); break;
        case LOAD_SUPER_ATTR: r = E2(EMBER_OP_LOAD_SUPER_ATTR, nconsts + (oparg >> 2), oparg); break;
        case IMPORT_NAME: r = E1(EMBER_OP_IMPORT_NAME, nconsts + oparg); break;
        case IMPORT_FROM: r = E1(EMBER_OP_IMPORT_FROM, nconsts + oparg); break;
        case BEFORE_WITH: r = E0(EMBER_OP_BEFORE_WITH); break;
        case DELETE_ATTR: r = E1(EMBER_OP_DELETE_ATTR, nconsts + oparg); break;
        case DELETE_GLOBAL: r = E1(EMBER_OP_DELETE_GLOBAL, nconsts + oparg); break;
        case LOAD_BUILD_CLASS: r = E0(EMBER_OP_LOAD_BUILD_CLASS); break;
        case MATCH_CLASS: r = E1(EMBER_OP_MATCH_CLASS, oparg); break;
        case MATCH_MAPPING: r = E0(EMBER_OP_MATCH_MAPPING); break;
        case MATCH_SEQUENCE: r = E0(EMBER_OP_MATCH_SEQUENCE); break;
        case MATCH_KEYS: r = E0(EMBER_OP_MATCH_KEYS); break;
        case GET_LEN: r = E0(EMBER_OP_GET_LEN); break;
        case UNPACK_EX: r = E1(EMBER_OP_UNPACK_EX, oparg); break;
        case RETURN_GENERATOR: r = E0(EMBER_OP_RETURN_GENERATOR); break;
        case YIELD_VALUE: r = E1(EMBER_OP_YIELD_VALUE, oparg); break;
        case SEND: {
            int64_t exit, depth;
            async_for_exit(co, code, n, i, &exit, &depth);
            r = emit(&prog, EMBER_OP_SEND, (uint32_t)i, 3, T(next + oparg), exit, depth, 0, 0, 0);
            break;
        }
        case END_SEND: r = E0(EMBER_OP_END_SEND); break;
        case GET_YIELD_FROM_ITER: r = E0(EMBER_OP_GET_YIELD_FROM_ITER); break;
        case GET_AWAITABLE: r = E1(EMBER_OP_GET_AWAITABLE, oparg); break;
        case GET_AITER: r = E0(EMBER_OP_GET_AITER); break;
        case GET_ANEXT: {
            int64_t exit, depth;
            async_for_exit(co, code, n, i, &exit, &depth);
            r = E2(EMBER_OP_GET_ANEXT, exit, depth);
            break;
        }
        case BEFORE_ASYNC_WITH: r = E0(EMBER_OP_BEFORE_ASYNC_WITH); break;
        /* CLEANUP_THROW and END_ASYNC_FOR are only reached through the exception table (the
         * interpreter runs handlers), so they stay EMBER_OP_UNSUPPORTED: never compiled. */
        /* Namespace opcodes of class bodies and annotation scopes (they use frame->f_locals,
         * which compiled code does not model): the frame goes to the interpreter there. */
        case LOAD_NAME: case STORE_NAME: case DELETE_NAME: case LOAD_LOCALS: case SETUP_ANNOTATIONS:
        case LOAD_FROM_DICT_OR_GLOBALS: case LOAD_FROM_DICT_OR_DEREF:
            r = E1(EMBER_OP_DEOPT, EMBER_DEOPT_REASON_UNSUPPORTED); break;
        default: {
            const char *nm = _PyOpcode_OpName[base] ? _PyOpcode_OpName[base] : "<unknown>";
            r = E2(EMBER_OP_UNSUPPORTED, base, name_index(&prog, nm));
            break;
        }
        }
        if (r) { PyErr_NoMemory(); goto done; }
        i = next;
    }

    /* header */
    put_u32(&b, EMBER_WIRE_MAGIC);
    put_u16(&b, EMBER_WIRE_VERSION);
    /* immortal None/True/False: 3.13 */
    put_u16(&b, EMBER_WIRE_FLAG_IMMORTAL | (osr ? EMBER_WIRE_FLAG_OSR : 0) | (speculate ? 0 : EMBER_WIRE_FLAG_NO_SPECULATION));
    put_u32(&b, (uint32_t)co->co_nlocalsplus);
    put_u32(&b, (uint32_t)co->co_argcount);
    put_u32(&b, (uint32_t)co->co_stacksize);
    put_u32(&b, (uint32_t)n);
    put_u32(&b, (uint32_t)offsetof(_PyInterpreterFrame, localsplus));
    put_u32(&b, (uint32_t)offsetof(_PyInterpreterFrame, instr_ptr));
    put_u64(&b, (uint64_t)(uintptr_t)code);
    put_u64(&b, (uint64_t)(uintptr_t)Py_None);
    put_u64(&b, (uint64_t)(uintptr_t)Py_True);
    put_u64(&b, (uint64_t)(uintptr_t)Py_False);
    /* strings: module, qualname, unsupported opcode names */
    put_u32(&b, (uint32_t)(2 + prog.nnames));
    {
        const char *mod = "?";
        Py_ssize_t modlen = 1;
        if (func->func_module && PyUnicode_Check(func->func_module)) {
            mod = PyUnicode_AsUTF8AndSize(func->func_module, &modlen);
            if (!mod) { PyErr_Clear(); mod = "?"; modlen = 1; }
        }
        put_str(&b, mod, (size_t)modlen);
        Py_ssize_t qlen;
        const char *q = PyUnicode_AsUTF8AndSize(co->co_qualname, &qlen);
        if (!q) goto done;
        put_str(&b, q, (size_t)qlen);
        for (int k = 0; k < prog.nnames; k++) put_str(&b, prog.names[k], strlen(prog.names[k]));
    }
    /* constants: co_consts, then co_names */
    Py_ssize_t nnames = PyTuple_GET_SIZE(co->co_names);
    put_u32(&b, (uint32_t)(nconsts + nnames));
    for (Py_ssize_t k = 0; k < nconsts; k++) {
        PyObject *c = PyTuple_GET_ITEM(co->co_consts, k);
        put_u64(&b, (uint64_t)(uintptr_t)c);
        put(&b, &(uint8_t){const_type(c)}, 1);
    }
    for (Py_ssize_t k = 0; k < nnames; k++) {
        put_u64(&b, (uint64_t)(uintptr_t)PyTuple_GET_ITEM(co->co_names, k));
        put(&b, &(uint8_t){EMBER_TYPE_STR}, 1);
    }
    put_u32(&b, (uint32_t)prog.n);
    for (Py_ssize_t k = 0; k < prog.n; k++) {
        Ins *x = &prog.v[k];
        put_u16(&b, x->op);
        put_u16(&b, x->nimm);
        put_u32(&b, x->bc);
        for (int j = 0; j < x->nimm; j++) put_u64(&b, (uint64_t)x->imm[j]);
    }
    /* callees: each a whole wire function; its code object joins *keep (a list made on the
     * first one, untracked by the collector: it only holds code objects, which cannot form a
     * cycle through it, and a first call must add no object the collector sees), which the
     * caller holds while compiled code that names it may run. One that cannot be serialised
     * or kept is left out. */
    size_t count_at = b.len;
    put_u32(&b, 0);
    uint32_t sent = 0;
    for (int k = 0; k < ncallees; k++) {
        Buf cb = {0};
        if (*keep == NULL && (*keep = PyList_New(0)) != NULL) PyObject_GC_UnTrack(*keep);
        /* Making the list may have run the collector, and finalisers with it: the function is
         * read only if it is still alive. */
        if (!ember_small_func_live((PyObject *)callees[k].func)) continue;
        PyObject *code = callees[k].func->func_code;
        int kept = 0;
        for (Py_ssize_t j = 0; *keep && j < PyList_GET_SIZE(*keep) && !kept; j++) kept = PyList_GET_ITEM(*keep, j) == code;
        if (*keep == NULL || serialize_one(callees[k].func, 0, speculate, 1, NULL, &cb) != 0 ||
            (!kept && PyList_Append(*keep, code) < 0)) {
            PyErr_Clear();
            PyMem_Free(cb.data);
            continue;
        }
        put_u32(&b, callees[k].site);
        put_u64(&b, (uint64_t)(uintptr_t)code);
        put_u32(&b, (uint32_t)cb.len);
        put(&b, cb.data, cb.len);
        PyMem_Free(cb.data);
        sent++;
    }
    if (!b.oom) memcpy(b.data + count_at, &sent, 4);
    if (b.oom) { PyErr_NoMemory(); goto done; }
    *out = b;
    b.data = NULL;
    rc = 0;
done:
    PyMem_Free(b.data);
    PyMem_Free(prog.v);
    return rc;
}

Py_ssize_t ember_instr_start(PyCodeObject *co, Py_ssize_t unit)
{
    _Py_CODEUNIT *code = _PyCode_CODE(co);
    Py_ssize_t n = Py_SIZE(co);
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t start = i;
        int op = code[i].op.code;
        while (op == EXTENDED_ARG && i + 1 < n) {
            i++;
            op = code[i].op.code;
        }
        if (i == unit) return start;
        if (i > unit) return unit;
        i += 1 + _PyOpcode_Caches[_PyOpcode_Deopt[op]];
    }
    return unit;
}
