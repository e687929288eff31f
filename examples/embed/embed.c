/* embed.c -- a host that uses libember's C ABI (include/ember.h) without CPython.
 *
 * It brings its own tiny object model (reference-counted int objects) and frame layout,
 * registers the runtime helpers Ember's compiled code calls (ember_helper_signature lists
 * them all: the ones this host's function uses are implemented, the rest stop the program if
 * ever called), compiles `def add(a, b): return a + b` from the HIR text form, runs the
 * native code, and shows the error path with a malformed function.
 *
 * Build and run: make -C examples/embed run (after `cargo build --release` and
 * `make pkgconfig` at the top level; `make test` does all of it). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember.h>

/* The host's objects: an int (kind 0) or a singleton (None, True, False; kind 1). */
typedef struct {
    int64_t refcnt;
    int64_t kind;
    int64_t value;
} Obj;

/* The host's frame: the HIR's `layout` line gives these offsets (instr_ptr=8, localsplus=16). */
typedef struct {
    uint64_t tag;
    uint64_t instr_ptr;
    Obj *locals[8];
} Frame;

static Obj none_obj = {1 << 30, 1, 0}, true_obj = {1 << 30, 1, 1}, false_obj = {1 << 30, 1, 0};
static long live_objects;

static Obj *new_int(int64_t v)
{
    Obj *o = malloc(sizeof *o);
    o->refcnt = 1;
    o->kind = 0;
    o->value = v;
    live_objects++;
    return o;
}

/* ---- the helpers `add` needs; their contracts are the CPython shim's (ember_runtime.h) ---- */
static void h_incref(Obj *o) { o->refcnt++; }
static void h_decref(Obj *o)
{
    if (--o->refcnt == 0) {
        live_objects--;
        free(o);
    }
}
static void h_xdecref(Obj *o)
{
    if (o) h_decref(o);
}
/* BINARY_OP: consumes both operands, returns a new reference (NULL: error raised). */
static Obj *h_binary_op(void *ts, Obj *a, Obj *b, int64_t nb_op)
{
    (void)ts;
    int64_t x = a->value, y = b->value;
    h_decref(a);
    h_decref(b);
    return nb_op == 0 ? new_int(x + y) : NULL;
}
/* The frame is leaving with result r (the shim pops the frame here). */
static Obj *h_rt_leave(void *ts, Frame *f, Obj *r) { (void)ts; (void)f; return r; }
/* An eval-breaker check: 0 = go on. */
static int h_rt_periodic(void *ts, Frame *f) { (void)ts; (void)f; return 0; }
static Obj *h_rt_raise(void *ts, Frame *f, int64_t bc, int64_t depth)
{
    (void)ts; (void)f; (void)depth;
    fprintf(stderr, "embed: an exception was raised at code unit %lld\n", (long long)bc);
    return NULL;
}
static int h_err_occurred(void *ts) { (void)ts; return 0; }
static void unexpected(void)
{
    fprintf(stderr, "embed: compiled code called a helper this host does not implement\n");
    abort();
}

static const struct { const char *name; void *addr; } implemented[] = {
    {"ember_incref", (void *)h_incref},       {"ember_decref", (void *)h_decref},
    {"ember_xdecref", (void *)h_xdecref},     {"ember_binary_op", (void *)h_binary_op},
    {"ember_rt_leave", (void *)h_rt_leave},   {"ember_rt_periodic", (void *)h_rt_periodic},
    {"ember_rt_raise", (void *)h_rt_raise},   {"ember_err_occurred", (void *)h_err_occurred},
};

/* The helper name in a prototype such as "void *ember_binary_op(void *, void *, void *, int64_t)". */
static char *helper_name(const char *proto)
{
    const char *open = strchr(proto, '(');
    const char *start = open;
    while (start > proto && start[-1] != ' ' && start[-1] != '*') start--;
    return strndup(start, (size_t)(open - start));
}

int main(void)
{
    printf("libember %s\n", ember_version());

    /* 1. The helper table: every helper Ember may call, ours where we have one. */
    size_t n = 0;
    while (ember_helper_signature(n)) n++;
    EmberHelper *table = calloc(n, sizeof *table);
    size_t ours = 0;
    for (size_t i = 0; i < n; i++) {
        char *name = helper_name(ember_helper_signature(i));
        table[i].name = name;
        table[i].addr = (const uint8_t *)(void *)unexpected;
        for (size_t k = 0; k < sizeof implemented / sizeof implemented[0]; k++)
            if (strcmp(name, implemented[k].name) == 0) {
                table[i].addr = implemented[k].addr;
                ours++;
            }
    }
    printf("helpers: %zu listed by ember_helper_signature, %zu implemented by this host\n", n, ours);

    char err[512];
    EmberConfig cfg = {0};
    cfg.helpers = table;
    cfg.nhelpers = n;
    cfg.opt_level = 1;
    if (ember_init(&cfg, err, sizeof err) != EMBER_STATUS_OK) {
        fprintf(stderr, "ember_init: %s\n", err);
        return 1;
    }

    /* 2. `def add(a, b): return a + b` in the HIR text form, with this host's layout. */
    char text[1024];
    snprintf(text, sizeof text,
             "function demo:add nlocals=2 argcount=2 stacksize=2\n"
             "layout localsplus=16 instr_ptr=8 code_base=0x1000 none=%p true=%p false=%p immortal=0\n"
             "consts []\n"
             "bb0:\n"
             "  v0 = LoadFast<0>\n"
             "  v1 = LoadFast<1>\n"
             "  v2 = BinaryOp<0, 0, 0> v0 v1 @2[]\n"
             "  ReturnValue v2\n",
             (void *)&none_obj, (void *)&true_obj, (void *)&false_obj);
    EmberCompiled out;
    EmberStatus st = ember_compile_text((const uint8_t *)text, strlen(text), &out, err, sizeof err);
    if (st != EMBER_STATUS_OK) {
        fprintf(stderr, "ember_compile_text: status %d: %s\n", (int)st, err);
        return 1;
    }
    printf("compiled demo:add: %llu bytes of native code\n", (unsigned long long)out.code_size);

    /* 3. Run it on a frame holding two ints, as the host's interpreter would. */
    typedef Obj *(*entry_fn)(void *ts, Frame *f);
    entry_fn add = (entry_fn)out.entry;
    Frame f = {0};
    f.locals[0] = new_int(40);
    f.locals[1] = new_int(2);
    Obj *r = add(NULL, &f);
    printf("add(40, 2) = %lld\n", (long long)r->value);
    h_decref(r);
    h_decref(f.locals[0]);
    h_decref(f.locals[1]);
    printf("objects still alive: %ld\n", live_objects);
    ember_free(out.handle);

    /* 4. Bad input is an error code and a message, never a crash. */
    const char *bad = "function demo:broken nlocals=1\nbb0:\n  v0 = NoSuchOp<1>\n";
    st = ember_compile_text((const uint8_t *)bad, strlen(bad), &out, err, sizeof err);
    printf("malformed function: status %d (%s)\n", (int)st, st == EMBER_STATUS_MALFORMED ? "MALFORMED" : "?");
    printf("message: %s\n", err);

    for (size_t i = 0; i < n; i++) free((char *)table[i].name);
    free(table);
    return live_objects == 0 && r != NULL ? 0 : 1;
}
