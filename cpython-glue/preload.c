/* preload.c -- `LD_PRELOAD=<ember package>/_preload.*.so python app.py` (or a program that
 * embeds CPython) switches Ember on with no code change, configured by the usual EMBER_*
 * variables (docs/configuration.md). `python -m ember --preload-path` prints the path.
 *
 * Two routes, because an interpreter can start two ways:
 * - A constructor, run when the loader maps this library (before main): unless EMBER_AUTO or
 *   EMBER_JIT_LIST is set, it sets EMBER_AUTO=cost (EMBER_DISABLE=1 still wins). A `python` whose
 *   site-packages hold the ember package then activates it through ember-jit.pth, as with
 *   `EMBER_AUTO=cost python app.py`. (`python`'s own initialisation calls libpython internally,
 *   where no preloaded symbol can interpose.)
 * - Py_Initialize, Py_InitializeEx and Py_InitializeFromConfig are interposed for hosts that
 *   call them through their dynamic symbol table (an embedding program linked with libpython):
 *   after the real call, if the `ember` module is not imported yet, this library's directory's
 *   parent (the site-packages holding the package) goes on sys.path and `ember.start_from_env()`
 *   runs, so the host needs no .pth and no sys.path of its own.
 *
 * It references no libpython symbol at link time (Python.h only for its types): every Python
 * function is found with dlsym when it is first needed, so a non-Python process that inherits
 * LD_PRELOAD is not affected beyond the environment variable. Errors are one line on stderr;
 * nothing aborts. */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Before the interpreter exists, so before ember._config can read anything: only whether a
 * policy was chosen is looked at (values, EMBER_DISABLE included, are ember._config's). */
static void preload_init(void) __attribute__((constructor));
static void preload_init(void)
{
    if (!getenv("EMBER_JIT_LIST")) setenv("EMBER_AUTO", "cost", 0);
}

/* The site-packages directory holding the ember package: this library's directory's parent. */
static int package_parent(char *out, size_t n)
{
    Dl_info info;
    if (!dladdr((void *)package_parent, &info) || !info.dli_fname) return 0;
    snprintf(out, n, "%s", info.dli_fname);
    for (int k = 0; k < 2; k++) {   /* .../site-packages/ember/_preload.so -> .../site-packages */
        char *slash = strrchr(out, '/');
        if (!slash) return 0;
        *slash = '\0';
    }
    return 1;
}

/* After the interpreter is initialised: import ember and apply the environment, unless it is
 * imported already (by the .pth). Runs with the GIL held, as the initialising thread. */
static void start_ember(void)
{
    int (*run)(const char *) = (int (*)(const char *))dlsym(RTLD_DEFAULT, "PyRun_SimpleString");
    if (!run) return;
    char dir[4096];
    if (!package_parent(dir, sizeof dir)) return;
    if (strchr(dir, '\'') || strchr(dir, '\\')) return;   /* not quotable below; the .pth may still work */
    char code[4400];
    snprintf(code, sizeof code,
             "def _ember_preload():\n"   /* a function: the host's __main__ gets no new names */
             "    import sys\n"
             "    if 'ember' in sys.modules:\n"
             "        return\n"
             "    try:\n"
             "        sys.path.append('%s')\n"
             "        import ember\n"
             "        ember.start_from_env()\n"
             "    except Exception as e:\n"
             "        print(f'Ember: not switched on by LD_PRELOAD: {e}', file=sys.stderr)\n"
             "_ember_preload()\n"
             "del _ember_preload\n",
             dir);
    run(code);
}

void Py_Initialize(void)
{
    void (*real)(void) = (void (*)(void))dlsym(RTLD_NEXT, "Py_Initialize");
    if (!real) return;
    real();
    start_ember();
}

void Py_InitializeEx(int initsigs)
{
    void (*real)(int) = (void (*)(int))dlsym(RTLD_NEXT, "Py_InitializeEx");
    if (!real) return;
    real(initsigs);
    start_ember();
}

PyStatus Py_InitializeFromConfig(const PyConfig *config)
{
    PyStatus (*real)(const PyConfig *) = (PyStatus (*)(const PyConfig *))dlsym(RTLD_NEXT, "Py_InitializeFromConfig");
    if (!real) {
        PyStatus st = {._type = _PyStatus_TYPE_ERROR, .func = "Py_InitializeFromConfig",
                       .err_msg = "Ember's preload library found no libpython"};
        return st;
    }
    PyStatus st = real(config);
    if (st._type == _PyStatus_TYPE_OK) start_ember();
    return st;
}
