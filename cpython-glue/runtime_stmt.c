/* runtime_stmt.c -- runtime helpers for imports (IMPORT_NAME, IMPORT_FROM), `with`
 * (BEFORE_WITH), `del` (DELETE_ATTR, DELETE_GLOBAL), class creation (LOAD_BUILD_CLASS), pattern
 * matching (MATCH_CLASS, MATCH_MAPPING, MATCH_SEQUENCE, MATCH_KEYS, GET_LEN) and starred
 * unpacking (UNPACK_EX). Each mirrors the instruction of the same name in CPython 3.13's
 * Python/bytecodes.c and its helper in Python/ceval.c; conventions are ember_runtime.h's. */
#include "ember_runtime.h"
#include "internal/pycore_ceval.h"     /* _PyEval_MatchClass, _PyEval_MatchKeys, _PyEval_UnpackIterable */
#include "internal/pycore_interp.h"    /* interp->imports.import_func */
#include "internal/pycore_object.h"    /* _PyObject_LookupSpecial */
#include "internal/pycore_pyerrors.h"  /* _PyErr_Format */

static PyObject *str_import, *str_build_class, *str_enter, *str_exit, *str_name;

static int init_strings(void)
{
    if (str_name) return 0;
    str_import = PyUnicode_InternFromString("__import__");
    str_build_class = PyUnicode_InternFromString("__build_class__");
    str_enter = PyUnicode_InternFromString("__enter__");
    str_exit = PyUnicode_InternFromString("__exit__");
    str_name = PyUnicode_InternFromString("__name__");
    return (str_import && str_build_class && str_enter && str_exit && str_name) ? 0 : -1;
}

/* IMPORT_NAME (ceval.c import_name): builtins.__import__, with the fast path for the default
 * import function. Consumes level and fromlist. */
PyObject *ember_import_name(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *name, PyObject *level,
                            PyObject *fromlist)
{
    PyObject *res = NULL, *import_func = NULL;
    if (init_strings() < 0) goto done;
    if (PyMapping_GetOptionalItem(f->f_builtins, str_import, &import_func) < 0) goto done;
    if (import_func == NULL) {
        PyErr_SetString(PyExc_ImportError, "__import__ not found");
        goto done;
    }
    PyObject *locals = f->f_locals ? f->f_locals : Py_None;
    if (import_func == ts->interp->imports.import_func) {
        int ilevel = PyLong_AsInt(level);
        if (ilevel == -1 && PyErr_Occurred()) goto done;
        res = PyImport_ImportModuleLevelObject(name, f->f_globals, locals, fromlist, ilevel);
    }
    else {
        PyObject *args[5] = {name, f->f_globals, locals, fromlist, level};
        res = PyObject_Vectorcall(import_func, args, 5, NULL);
    }
done:
    Py_XDECREF(import_func);
    Py_DECREF(level);
    Py_DECREF(fromlist);
    return res;
}

/* IMPORT_FROM (ceval.c import_from), success paths: the attribute, or for a circular relative
 * import the submodule from sys.modules. Failure to find it returns NULL with no exception set. */
PyObject *ember_import_from(PyThreadState *ts, PyObject *module, PyObject *name)
{
    PyObject *x, *mod_name;
    if (PyObject_GetOptionalAttr(module, name, &x) != 0) return x;
    if (init_strings() < 0) return NULL;
    if (PyObject_GetOptionalAttr(module, str_name, &mod_name) < 0) return NULL;
    if (mod_name == NULL || !PyUnicode_Check(mod_name)) {
        Py_XDECREF(mod_name);
        return NULL;
    }
    PyObject *full = PyUnicode_FromFormat("%U.%U", mod_name, name);
    Py_DECREF(mod_name);
    if (full == NULL) return NULL;
    x = PyImport_GetModule(full);
    Py_DECREF(full);
    return x;
}

/* BEFORE_WITH: look up __enter__ and __exit__ on the type, call __enter__. Consumes mgr. */
PyObject *ember_enter_context(PyThreadState *ts, PyObject *mgr, PyObject **exit_out, PyObject *enter_name,
                              PyObject *exit_name, const char *kind)
{
    PyObject *enter = _PyObject_LookupSpecial(mgr, enter_name);
    if (enter == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "'%.200s' object does not support the %scontext manager protocol",
                         Py_TYPE(mgr)->tp_name, kind);
        Py_DECREF(mgr);
        return NULL;
    }
    PyObject *exit = _PyObject_LookupSpecial(mgr, exit_name);
    if (exit == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError,
                         "'%.200s' object does not support the %scontext manager protocol (missed %U method)",
                         Py_TYPE(mgr)->tp_name, kind, exit_name);
        Py_DECREF(enter);
        Py_DECREF(mgr);
        return NULL;
    }
    Py_DECREF(mgr);
    PyObject *res = PyObject_CallNoArgs(enter);
    Py_DECREF(enter);
    if (res == NULL) {
        Py_DECREF(exit);
        return NULL;
    }
    *exit_out = exit;
    return res;
}

PyObject *ember_before_with(PyThreadState *ts, PyObject *mgr, PyObject **exit_out)
{
    if (init_strings() < 0) { Py_DECREF(mgr); return NULL; }
    return ember_enter_context(ts, mgr, exit_out, str_enter, str_exit, "");
}

/* DELETE_ATTR. Consumes owner. */
int ember_delete_attr(PyObject *name, PyObject *owner)
{
    int err = PyObject_DelAttr(owner, name);
    Py_DECREF(owner);
    return err ? -1 : 0;
}

/* DELETE_GLOBAL: NameError ("name '%.200s' is not defined", with .name set) when unbound. */
int ember_delete_global(PyThreadState *ts, _PyInterpreterFrame *f, PyObject *name)
{
    int err = PyDict_Pop(f->f_globals, name, NULL);
    if (err < 0) return -1;
    if (err == 0) {
        _PyEval_FormatExcCheckArg(ts, PyExc_NameError, "name '%.200s' is not defined", name);
        return -1;
    }
    return 0;
}

/* LOAD_BUILD_CLASS: builtins.__build_class__. */
PyObject *ember_load_build_class(PyThreadState *ts, _PyInterpreterFrame *f)
{
    PyObject *bc;
    if (init_strings() < 0) return NULL;
    if (PyMapping_GetOptionalItem(f->f_builtins, str_build_class, &bc) < 0) return NULL;
    if (bc == NULL) PyErr_SetString(PyExc_NameError, "__build_class__ not found");
    return bc;
}

/* MATCH_CLASS: the attribute tuple, None on a failed match. Consumes the three inputs. */
PyObject *ember_match_class(PyThreadState *ts, PyObject *subject, PyObject *type, PyObject *names, i64 nargs)
{
    PyObject *attrs = _PyEval_MatchClass(ts, subject, type, (Py_ssize_t)nargs, names);
    Py_DECREF(subject);
    Py_DECREF(type);
    Py_DECREF(names);
    if (attrs) return attrs;
    if (PyErr_Occurred()) return NULL;
    return Py_None; /* immortal */
}

PyObject *ember_match_mapping(PyObject *subject)
{
    return (Py_TYPE(subject)->tp_flags & Py_TPFLAGS_MAPPING) ? Py_True : Py_False;
}

PyObject *ember_match_sequence(PyObject *subject)
{
    return (Py_TYPE(subject)->tp_flags & Py_TPFLAGS_SEQUENCE) ? Py_True : Py_False;
}

/* MATCH_KEYS: a tuple of the values, None when a key is missing. */
PyObject *ember_match_keys(PyThreadState *ts, PyObject *subject, PyObject *keys)
{
    return _PyEval_MatchKeys(ts, subject, keys);
}

/* GET_LEN. */
PyObject *ember_get_len(PyObject *obj)
{
    Py_ssize_t n = PyObject_Length(obj);
    if (n < 0) return NULL;
    return PyLong_FromSsize_t(n);
}

/* UNPACK_EX: `a, *b, c = seq`. Consumes seq. */
int ember_unpack_ex(PyThreadState *ts, PyObject *seq, i64 oparg, PyObject **out)
{
    int before = (int)(oparg & 0xFF), after = (int)(oparg >> 8);
    int ok = _PyEval_UnpackIterable(ts, seq, before, after, out + before + after + 1);
    Py_DECREF(seq);
    return ok ? 0 : -1;
}
