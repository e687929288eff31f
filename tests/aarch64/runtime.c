/* runtime.c -- the small C runtime of the AArch64 conformance harness (tests/aarch64_qemu.rs).
 *
 * Mock objects and the runtime helpers the conformance programs call, plus a driver main():
 *   prog <periodic_result> [int args...]
 * binds the ints to locals 0.., runs the compiled `ember_fn`, releases everything and prints one
 * line (result, raise/deopt exits, instr_ptr, live objects) that must be identical for the
 * x86-64 build (run natively) and the AArch64 build (run under qemu-aarch64).
 *
 * Built with clang-19 for both targets. -DEMBER_PRESERVE_MOST defines the cold helpers with
 * __attribute__((preserve_most)) (for objects compiled with --preserve-most); -DEMBER_REGCALL
 * (x86-64) adds __regcall3__ entries (for --call-chain); -DEMBER_ABSOLUTE maps trampolines at
 * Ember's synthetic helper addresses (for the absolute and hybrid policies). Singletons and
 * constants live at fixed addresses (CONST_PAGE) that the HIR programs name. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef EMBER_PRESERVE_MOST
#define COLD __attribute__((preserve_most, noinline))
#else
#define COLD __attribute__((noinline))
#endif

typedef struct Obj { int64_t refcnt, kind, a, b; } Obj; /* kind: 0 int 1 bool 2 none 3 iter 4 deopt 5 func 6 tuple */
typedef struct Frame { uint64_t pad[7]; uint64_t instr_ptr; uint64_t pad2; Obj *locals[64]; } Frame; /* 56, 72 */

#define CONST_PAGE 0x7f3a20000000ull /* None +0x0, True +0x40, False +0x80, deopt +0xc0, g +0x1000, ints +0x2000 + 0x40*i */
#define NONE ((Obj *)(CONST_PAGE + 0x0))
#define TRUE_ ((Obj *)(CONST_PAGE + 0x40))
#define FALSE_ ((Obj *)(CONST_PAGE + 0x80))
#define DEOPTED ((Obj *)(CONST_PAGE + 0xc0))
#define GFUNC ((Obj *)(CONST_PAGE + 0x1000))
#define CONST_INT(i) ((Obj *)(CONST_PAGE + 0x2000 + 0x40 * (i)))

static int64_t live, err, raised_at = -1, raised_depth = -1, deopt_at = -1, periodic_calls, periodic_result, calls;

static int immortal(Obj *o) { return (uint64_t)o >= CONST_PAGE && (uint64_t)o < CONST_PAGE + 0x10000; }
static Obj *new_obj(int64_t kind, int64_t a, int64_t b) {
    Obj *o = malloc(sizeof(Obj));
    o->refcnt = 1; o->kind = kind; o->a = a; o->b = b;
    live++;
    return o;
}
static Obj *new_int(int64_t v) { return new_obj(0, v, 0); }

void ember_incref(Obj *o) { if (!immortal(o)) o->refcnt++; }
void ember_decref(Obj *o) {
    if (immortal(o)) return;
    if (--o->refcnt < 0) { printf("refcount underflow\n"); exit(3); }
    if (o->refcnt == 0) {
        if (o->kind == 6) { Obj **items = (Obj **)o->b; for (int64_t i = 0; i < o->a; i++) ember_decref(items[i]); free(items); }
        live--;
        free(o);
    }
}
void ember_xdecref(Obj *o) { if (o) ember_decref(o); }
int ember_rt_periodic(void *ts, Frame *fr) { (void)ts; (void)fr; periodic_calls++; return (int)periodic_result; }
Obj *ember_rt_leave(void *ts, Frame *fr, Obj *r) { (void)ts; (void)fr; return r; }
COLD Obj *ember_rt_raise(void *ts, Frame *fr, int64_t bc, int64_t depth) {
    (void)ts; raised_at = bc; raised_depth = depth;
    for (int64_t d = 0; d < depth; d++) ember_xdecref(fr->locals[8 + d]);
    return NULL;
}
COLD Obj *ember_rt_deopt(void *ts, Frame *fr, int64_t bc, int64_t depth) {
    (void)ts; deopt_at = bc;
    for (int64_t d = 0; d < depth; d++) ember_xdecref(fr->locals[8 + d]);
    return DEOPTED;
}
COLD Obj *ember_rt_reraise(void *ts, Frame *fr, int64_t bc, int64_t depth) { return ember_rt_raise(ts, fr, bc, depth); }
int ember_err_occurred(void *ts) { (void)ts; return (int)err; }
COLD Obj *ember_raise_unbound_local(void *ts, Frame *fr, int64_t idx) { (void)ts; (void)fr; (void)idx; err = 1; return NULL; }
COLD Obj *ember_raise_varargs(void *ts, Obj *exc, Obj *cause, int64_t n) {
    (void)ts; (void)n; ember_xdecref(exc); ember_xdecref(cause); err = 1; return NULL;
}
Obj *ember_binary_op(void *ts, Obj *a, Obj *b, int64_t nb) {
    (void)ts;
    int64_t x = a->a, y = b->a, r; int ok = 1;
    ember_decref(a); ember_decref(b);
    switch (nb) {
    case 0: case 13: r = x + y; break;
    case 10: case 23: r = x - y; break;
    case 5: case 18: r = x * y; break;
    case 2: case 15: if (y == 0) { ok = 0; r = 0; } else { r = x / y - ((x % y != 0) && ((x < 0) != (y < 0))); } break;
    default: ok = 0; r = 0;
    }
    if (!ok) { err = 1; return NULL; }
    return new_int(r);
}
Obj *ember_compare_op(Obj *a, Obj *b, int64_t oparg) {
    int64_t x = a->a, y = b->a; int r;
    ember_decref(a); ember_decref(b);
    switch (oparg >> 5) { case 0: r = x < y; break; case 1: r = x <= y; break; case 2: r = x == y; break; case 3: r = x != y; break; case 4: r = x > y; break; default: r = x >= y; }
    return r ? TRUE_ : FALSE_;
}
Obj *ember_to_bool(Obj *v) { int r = v->a != 0; ember_decref(v); return r ? TRUE_ : FALSE_; }
Obj *ember_unary_negative(Obj *v) { int64_t x = v->a; ember_decref(v); return new_int(-x); }
Obj *ember_get_iter(Obj *v) { int64_t n = v->a; ember_decref(v); return new_obj(3, 0, n); }
Obj *ember_for_iter(void *ts, Obj *it) { (void)ts; if (it->a < it->b) { it->a++; return new_int(it->a - 1); } return NULL; }
/* Generic FOR_ITER's helper (it resumes exact generators inline; there are none here). */
Obj *ember_for_iter_gen(void *ts, Obj *it, void *ic) { (void)ic; return ember_for_iter(ts, it); }
Obj *ember_load_global_module(void *ts, Frame *fr, Obj *name, int64_t kv, int64_t idx) {
    (void)ts; (void)fr; (void)kv; (void)idx;
    if (name != GFUNC) { err = 1; return NULL; }
    return GFUNC;
}
Obj *ember_call(void *ts, Obj **base, int64_t n, Obj *kw) {
    (void)ts; (void)kw;
    int64_t s = 0;
    for (int64_t i = 0; i < n; i++) { s += base[2 + i]->a; ember_decref(base[2 + i]); }
    ember_decref(base[0]); ember_xdecref(base[1]);
    calls++;
    return new_int(s + calls);
}
/* The x86-64 form with a call-site entry cache (Target::call_site_cache); no cache here. */
Obj *ember_call_ic(void *ts, Obj **base, int64_t n, void *ic) { (void)ic; return ember_call(ts, base, n, NULL); }
/* The bitcode's fast path (runtime_fast.c) falls back to ember_call_ic; this runtime has no
 * compiled callees, so it is ember_call_ic. */
Obj *ember_call_ic_fast(void *ts, Obj **base, int64_t n, void *ic) { return ember_call_ic(ts, base, n, ic); }
Obj *ember_build_tuple(Obj **base, int64_t n) {
    Obj **items = malloc(sizeof(Obj *) * (n ? n : 1));
    memcpy(items, base, sizeof(Obj *) * n);
    return new_obj(6, n, (int64_t)items);
}

#if defined(EMBER_REGCALL) && defined(__x86_64__)
/* regcall entries (clang names them __regcall3__<name>) for call chains: first argument in %rax. */
#define RC(ret, name, params, args) \
    __attribute__((regcall)) ret name##_rc params __asm__("__regcall3__" #name); \
    __attribute__((regcall)) ret name##_rc params { return name args; }
RC(void, ember_incref, (Obj *o), (o))
RC(void, ember_decref, (Obj *o), (o))
RC(void, ember_xdecref, (Obj *o), (o))
RC(Obj *, ember_binary_op, (void *ts, Obj *a, Obj *b, int64_t nb), (ts, a, b, nb))
RC(Obj *, ember_compare_op, (Obj *a, Obj *b, int64_t o), (a, b, o))
RC(Obj *, ember_to_bool, (Obj *v), (v))
RC(Obj *, ember_unary_negative, (Obj *v), (v))
RC(Obj *, ember_get_iter, (Obj *v), (v))
#endif

typedef Obj *(*Entry)(void *, Frame *);
extern Obj *ember_fn(void *, Frame *);

static void map_const_page(void) {
    void *p = mmap((void *)CONST_PAGE, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != (void *)CONST_PAGE) { perror("mmap const page"); exit(2); }
    *NONE = (Obj){1 << 30, 2, 0, 0}; *TRUE_ = (Obj){1 << 30, 1, 1, 0}; *FALSE_ = (Obj){1 << 30, 1, 0, 0};
    *DEOPTED = (Obj){1 << 30, 4, 0, 0}; *GFUNC = (Obj){1 << 30, 5, 0, 0};
    for (int i = 0; i < 64; i++) *CONST_INT(i) = (Obj){1 << 30, 0, i, 0};
}

#ifdef EMBER_ABSOLUTE
/* Trampolines at Ember's synthetic helper addresses (passes_llvm::synthetic_addresses), one per
 * helper this runtime implements; helpers_gen.h lists name and address for every helper. */
struct HelperAddr { const char *name; uint64_t addr; };
#include "helpers_gen.h"
#define IMPL(n) { #n, (void *)n }
static const struct { const char *name; void *fn; } impls[] = {
    IMPL(ember_incref), IMPL(ember_decref), IMPL(ember_xdecref), IMPL(ember_rt_periodic), IMPL(ember_rt_leave),
    IMPL(ember_rt_raise), IMPL(ember_rt_deopt), IMPL(ember_rt_reraise), IMPL(ember_err_occurred),
    IMPL(ember_raise_unbound_local), IMPL(ember_raise_varargs), IMPL(ember_binary_op), IMPL(ember_compare_op),
    IMPL(ember_to_bool), IMPL(ember_unary_negative), IMPL(ember_get_iter), IMPL(ember_for_iter), IMPL(ember_for_iter_gen),
    IMPL(ember_load_global_module), IMPL(ember_call), IMPL(ember_call_ic), IMPL(ember_call_ic_fast), IMPL(ember_build_tuple),
};
static void map_trampolines(void) {
    uint64_t base = HELPER_ADDRS[0].addr & ~0xfffull, n = sizeof(HELPER_ADDRS) / sizeof(HELPER_ADDRS[0]);
    uint64_t len = ((HELPER_ADDRS[n - 1].addr + 0x40 - base) + 0xfff) & ~0xfffull;
    unsigned char *p = mmap((void *)base, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != (unsigned char *)base) { perror("mmap trampolines"); exit(2); }
    for (uint64_t k = 0; k < n; k++)
        for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
            if (strcmp(impls[i].name, HELPER_ADDRS[k].name)) continue;
            unsigned char *t = (unsigned char *)HELPER_ADDRS[k].addr;
            uint64_t fn = (uint64_t)impls[i].fn;
#if defined(__aarch64__)
            uint32_t code[2] = {0x58000050u /* ldr x16, #8 */, 0xd61f0200u /* br x16 */};
            memcpy(t, code, 8); memcpy(t + 8, &fn, 8);
#else
            t[0] = 0x49; t[1] = 0xbb; memcpy(t + 2, &fn, 8); /* movabs $fn, %r11 */
            t[10] = 0x41; t[11] = 0xff; t[12] = 0xe3;           /* jmp *%r11 */
#endif
        }
    __builtin___clear_cache((char *)p, (char *)p + len);
    if (mprotect(p, len, PROT_READ | PROT_EXEC)) { perror("mprotect"); exit(2); }
}
#endif

static void describe(Obj *r, char *out, size_t n) {
    if (!r) snprintf(out, n, "NULL");
    else if (r == NONE) snprintf(out, n, "None");
    else if (r == TRUE_) snprintf(out, n, "True");
    else if (r == FALSE_) snprintf(out, n, "False");
    else if (r == DEOPTED) snprintf(out, n, "DEOPT");
    else if (r->kind == 0) snprintf(out, n, "%lld", (long long)r->a);
    else if (r->kind == 6) {
        size_t k = (size_t)snprintf(out, n, "(");
        for (int64_t i = 0; i < r->a && k < n; i++) {
            if (i > 0 && k < n - 2) { out[k++] = ','; out[k] = 0; }
            describe(((Obj **)r->b)[i], out + k, n - k);
            k = strlen(out);
        }
        if (k < n - 2) { out[k++] = ')'; out[k] = 0; }
    } else snprintf(out, n, "<kind %lld>", (long long)r->kind);
}

int main(int argc, char **argv) {
    map_const_page();
#ifdef EMBER_ABSOLUTE
    map_trampolines();
#endif
    static Frame fr;
    periodic_result = argc > 1 ? atoll(argv[1]) : 0;
    for (int i = 2; i < argc && i - 2 < 8; i++) fr.locals[i - 2] = new_int(atoll(argv[i]));
    Obj *r = ember_fn((void *)0x1234, &fr);
    char buf[512];
    describe(r, buf, sizeof buf);
    ember_xdecref(r);
    for (int i = 0; i < 8; i++) { ember_xdecref(fr.locals[i]); fr.locals[i] = NULL; }
    printf("result=%s raised=%lld/%lld deopt=%lld periodic=%lld calls=%lld ip=%#llx err=%lld live=%lld\n", buf,
           (long long)raised_at, (long long)raised_depth, (long long)deopt_at, (long long)periodic_calls,
           (long long)calls, (unsigned long long)fr.instr_ptr, (long long)err, (long long)live);
    return 0;
}
