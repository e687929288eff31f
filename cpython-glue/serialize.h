/* serialize.h -- code object -> HIR wire bytes (serialize.c). */
#ifndef EMBER_SERIALIZE_H
#define EMBER_SERIALIZE_H
#include "ember_runtime.h"

/* Serialises func's code object into wire bytes (PyMem_Malloc'd, caller frees with
 * PyMem_Free), with the callees section (src/hir/wire.rs): the small functions its method
 * loads' inline caches hold. Their code objects are appended to the list *keep (made on the
 * first callee when NULL; `keep` NULL: no callees are sent), which must outlive any compiled
 * code made from the wire. Returns 0, or -1 with a Python exception set (out of memory, bad
 * name). */
int ember_serialize(PyFunctionObject *func, int osr, int speculate, PyObject **keep, unsigned char **out, size_t *outlen, char *why,
                    size_t whylen);

/* 1 when a function of code `co` may be a callee on the wire (src/hir/wire.rs): plain
 * positional parameters (no *args, **kwargs, keyword-only parameters, cells or free variables;
 * not generator-family; CO_OPTIMIZED), at most EMBER_INLINE_MAX_CODE_UNITS code units, and not
 * defined inside a function (CO_NESTED): methods of classes made at module level, not the
 * lambdas and closures a program makes and drops by the million, each of which would cost the
 * shim's function watcher a set insertion and removal (about 17 ns). Inline, and CO_NESTED
 * tested first: the watcher asks at every function's creation and destruction. */
static inline int ember_callee_shape(PyCodeObject *co)
{
    return !(co->co_flags & (CO_NESTED | CO_VARARGS | CO_VARKEYWORDS | EMBER_GEN_FLAGS)) && (co->co_flags & CO_OPTIMIZED) &&
           Py_SIZE(co) <= EMBER_INLINE_MAX_CODE_UNITS && co->co_kwonlyargcount == 0 && co->co_ncellvars == 0 &&
           co->co_nfreevars == 0;
}

/* 1 when `f` is a live function with a callee's shape that the shim's function watcher saw
 * made (shim.c); compares the address only, so `f` may be a stale pointer. */
int ember_small_func_live(PyObject *f);

/* Sets `flags` (EMBER_WIRE_FLAG_*) in the header of `len` bytes of wire made by ember_serialize
 * (nothing for a buffer shorter than the header). */
void ember_wire_add_flags(unsigned char *wire, size_t len, uint16_t flags);

/* The first code unit (its first EXTENDED_ARG) of the instruction whose opcode unit is
 * `unit`; where deopt must point instr_ptr. */
Py_ssize_t ember_instr_start(PyCodeObject *co, Py_ssize_t unit);

/* The exception-table handler covering code unit `index` of `co` (get_exception_handler in
 * Python/ceval.c): 1 with its target code unit, stack level and push-lasti flag, 0 when no
 * handler covers it (shim.c). */
int ember_find_handler(PyCodeObject *co, int index, int *target, int *level, int *lasti);
#endif
