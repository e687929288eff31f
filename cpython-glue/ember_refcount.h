/*
 * ember_refcount.h -- reference-count releases that read the count with the width its
 * increments write (CPython 3.13, 64-bit, GIL builds).
 *
 * CPython 3.13's Py_INCREF writes only the low 32 bits of ob_refcnt (ob_refcnt_split, a
 * saturating add that leaves immortal objects alone), while Py_DECREF, _Py_DECREF_SPECIALIZED
 * and _Py_DECREF_NO_DEALLOC read and write the whole 64-bit field. A 64-bit load that follows a
 * recent 32-bit store to the same address cannot be served from the store buffer on x86-64 (a
 * store-forwarding stall, about a dozen cycles; not measured on AArch64). Compiled
 * code increfs a value and releases it a few instructions later all the time (a local loaded,
 * then consumed by a helper): in nbody's `advance` the load of the list's count in the
 * subscript helper's release took 14 % of all samples.
 *
 * ember_rc_decref reads the low half only. Immortal objects are left alone, as by the header.
 * While the count is above 1 it stores the decremented low half, which is exactly what the
 * 64-bit decrement stores: a mortal object's low half is below 2**31 (above that _Py_IsImmortal
 * holds), so subtracting 1 never borrows from the high half. A count of 0 or 1 (the release
 * that may free the object) goes to the header's own Py_DECREF, so deallocation stays exactly
 * the header's.
 *
 * It is used where a helper consumes an operand that compiled code has just taken a reference
 * to and that rarely dies there: the owner of an attribute access, the container of a
 * subscript, the sequence of an unpacking; and the value an instance-attribute store replaces
 * (`self.n += 1` read and released it a moment before); and for compiled code's own releases
 * (ember_decref, ember_xdecref in runtime_fast.c).
 * Elsewhere in the C helpers the header's Py_DECREF stays: replacing every release (a macro
 * override) made the inlined releases longer everywhere and richards, chaos, go and hexiom 3-5 %
 * slower in interleaved runs, while only unpack_sequence and nbody gained.
 *
 * The references a compiled call's frame holds (the code object ember_push_stolen takes, the
 * callable of a global or method load: ember_rc_newref; the function and arguments
 * ember_vectorcall pushes) are taken the same way: the return's Py_DECREF of f_executable read
 * the count a few dozen instructions after a 32-bit store, 20 % of a `return None` callee's
 * samples (2026-12-07).
 *
 * Compiled code's own increments (ember_incref) read the low half and write the whole count
 * (ember_rc_incref). Then a 64-bit read that follows (the header's Py_DECREF, inlined into every
 * helper that consumes an operand, _Py_DECREF_SPECIALIZED, CPython's own releases) is served
 * from the store buffer, and a 32-bit read (ember_rc_decref) is too: a load contained in an
 * earlier, wider store at the same address forwards. Measured on this AMD EPYC (a C loop of
 * increment and release on one count, ns per pair): 32/32 bits 0.5, 64/64 0.5, 32-bit store then
 * 64-bit load 3.9, 64-bit store then 32-bit load 0.5. Steady state, interleaved (run ab-s43a,
 * against the same build with Py_INCREF): nbody 3.20x against 2.82x, float 1.93x against 1.74x,
 * raytrace 1.49x against 1.46x; none slower outside the intervals.
 * The releases keep writing the low half only: writing the whole count there too (the form
 * below, tried twice) makes unpack_sequence 23-30 % slower, which a 64-bit store then 32-bit
 * load does not explain (it forwards); found, not explained. Nor a shorter release that writes
 * the low half and calls _Py_Dealloc itself at zero (2.2 % less code, compile time unchanged;
 * unpack_sequence 1.53x against 1.69x, run ab-s43c). unpack_sequence's time also varies by up
 * to 25 % between processes running identical machine code, so these are weak evidence.
 *
 * Tried and not kept (2026-12-06): a form as short as Py_DECREF that reads the low half and
 * writes the whole count (`ob_refcnt = lo - 1`, then _Py_Dealloc at 0; a mortal count's high
 * half is 0). It made unpack_sequence 1.25x the interpreter against 1.60x (run ab-s42a), for a
 * reason not found: on this AMD EPYC a C loop of a 32-bit increment and that release runs as
 * fast as 32-bit stores alone, while the header's 64-bit release costs 8 times as much.
 * Nor this form for the locals a compiled return releases (frame_fast.c ember_rt_leave; the
 * caller increfed the arguments among them a moment before the call, and in go's
 * `Square.find` the 64-bit read of that count took 12.6 % of the function's samples, 4 % with
 * it): go ran about 1 % faster, but unpack_sequence 9 % slower in process (12.3 against 13.6
 * ms a run, 6 interleaved rounds), for a reason not found: its hot function returns once.
 */
#ifndef EMBER_REFCOUNT_H
#define EMBER_REFCOUNT_H

#if SIZEOF_VOID_P > 4 && !defined(Py_REF_DEBUG) && !defined(Py_GIL_DISABLED) && !defined(Py_STATS) \
    && !defined(Py_LIMITED_API) && !defined(EMBER_NO_NARROW_DECREF)

/* The low 32 bits of op's count (ob_refcnt_split[0] on little-endian targets). */
#define EMBER_RC_LO(op) ((op)->ob_refcnt_split[PY_BIG_ENDIAN])

/* Py_INCREF(op): reads the low half, writes the whole count. Immortal objects (low half
 * negative as an int32, which includes 0xFFFFFFFF, the one value Py_INCREF's saturating add
 * leaves alone) are left alone. A mortal count's high half is 0 and its low half below 2**31,
 * so the 64-bit store writes exactly what Py_INCREF's 32-bit store would. */
static inline Py_ALWAYS_INLINE void
ember_rc_incref(PyObject *op)
{
    uint32_t lo = EMBER_RC_LO(op);
    if ((int32_t)lo < 0) {
        return; /* immortal */
    }
    op->ob_refcnt = (Py_ssize_t)lo + 1;
}

/* Py_NewRef(op) as ember_rc_incref writes it: for the callables that global and method loads
 * give compiled code, which a compiled callee's return releases with the header's 64-bit
 * Py_DECREF (frame_fast.c leave, f_funcobj). */
static inline Py_ALWAYS_INLINE PyObject *
ember_rc_newref(PyObject *op)
{
    ember_rc_incref(op);
    return op;
}

/* Py_DECREF(op), reading the count's low half: while the count stays above 1 it writes the
 * decremented low half; the release that may free the object takes the header's Py_DECREF. */
static inline Py_ALWAYS_INLINE void
ember_rc_decref(PyObject *op)
{
    uint32_t lo = EMBER_RC_LO(op);
    if ((int32_t)lo < 0) {
        return; /* immortal */
    }
    if (lo > 1) {
        EMBER_RC_LO(op) = lo - 1;
        return;
    }
    (Py_DECREF)(op);
}

/* Py_XDECREF(op) the same way. */
static inline Py_ALWAYS_INLINE void
ember_rc_xdecref(PyObject *op)
{
    if (op != NULL) {
        ember_rc_decref(op);
    }
}

/* Py_REFCNT(op) == 1, reading each half with its own 32-bit load. */
static inline Py_ALWAYS_INLINE int
ember_rc_is_one(PyObject *op)
{
    return EMBER_RC_LO(op) == 1 && op->ob_refcnt_split[!PY_BIG_ENDIAN] == 0;
}

/* Decrements op's count: false when that released the last reference (the caller
 * deallocates, as after `--ob_refcnt == 0`), true when the object stays alive or is immortal. */
static inline Py_ALWAYS_INLINE int
ember_rc_release_keeps(PyObject *op)
{
    uint32_t lo = EMBER_RC_LO(op);
    if ((int32_t)lo < 0) {
        return 1; /* immortal */
    }
    if (lo > 1) {
        EMBER_RC_LO(op) = lo - 1;
        return 1;
    }
    return --op->ob_refcnt != 0;
}

#else
static inline void ember_rc_incref(PyObject *op) { Py_INCREF(op); }
static inline PyObject *ember_rc_newref(PyObject *op) { return Py_NewRef(op); }
static inline void ember_rc_decref(PyObject *op) { Py_DECREF(op); }
static inline void ember_rc_xdecref(PyObject *op) { Py_XDECREF(op); }
static inline int ember_rc_is_one(PyObject *op) { return Py_REFCNT(op) == 1; }
static inline int ember_rc_release_keeps(PyObject *op) { return _Py_IsImmortal(op) || --op->ob_refcnt != 0; }
#endif /* 64-bit GIL release build */
#endif /* EMBER_REFCOUNT_H */
