/* runtime_ic.c -- the miss paths of Ember's self-specialising attribute inline caches
 * (EmberAttrIC, ember_runtime.h). On a failed guard the site is re-specialised from the object
 * at hand with the rules CPython 3.13's specialiser uses for the same instruction forms
 * (Python/specialize.c: specialize_dict_access for LOAD_ATTR_INSTANCE_VALUE and
 * STORE_ATTR_INSTANCE_VALUE, specialize_attr_loadclassattr for LOAD_ATTR_METHOD_WITH_VALUES and
 * LOAD_ATTR_METHOD_NO_DICT), then the generic operation runs. Whatever the cache holds, a hit
 * has exactly the generic operation's effect: the guards (type version, inline values valid,
 * shared-keys version) are the interpreter's own. */
#include "ember_runtime.h"
#include "internal/pycore_dict.h"    /* PyDictKeysObject, DK_UNICODE_ENTRIES, PyDictValues */
#include "internal/pycore_interp.h"  /* interp->dict_state.next_keys_version */
#include "internal/pycore_object.h"  /* _PyObject_InlineValues, _PyObject_GetManagedDict */

/* Index of `name` in a type's shared keys, or -1 (dictobject.c _PyDictKeys_StringLookup,
 * which is not exported; shared keys hold only str keys). */
static Py_ssize_t shared_keys_index(PyDictKeysObject *keys, PyObject *name)
{
    if (keys == NULL || !DK_IS_UNICODE(keys)) return -1;
    PyDictUnicodeEntry *ep = DK_UNICODE_ENTRIES(keys);
    for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
        PyObject *k = ep[i].me_key;
        if (k == name) return i;
        if (k != NULL && PyUnicode_CheckExact(k) && PyUnicode_CheckExact(name) && _PyUnicode_Equal(k, name)) return i;
    }
    return -1;
}

/* dictobject.c _PyDictKeys_GetVersionForCurrentState (not exported): 0 when versions ran out. */
static uint32_t keys_version(PyDictKeysObject *keys)
{
    if (keys->dk_version != 0) return keys->dk_version;
    PyInterpreterState *interp = PyInterpreterState_Get();
    if (interp->dict_state.next_keys_version == 0) return 0;
    uint32_t v = interp->dict_state.next_keys_version++;
    keys->dk_version = v;
    return v;
}

/* The type's version tag, assigning one if needed; 0 when none can be assigned. */
static uint32_t type_version(PyTypeObject *tp)
{
    if (tp->tp_version_tag == 0 && !PyUnstable_Type_AssignVersionTag(tp)) return 0;
    return tp->tp_version_tag;
}

/* 1 when the site may try to re-specialise (bounded, so megamorphic sites stop paying). */
static int may_respecialise(EmberAttrIC *ic)
{
    if (ic->misses >= EMBER_IC_MAX_MISSES) return 0;
    ic->misses++;
    return 1;
}

/* Instance-value slot of `name` for objects of `tp` with valid inline values and no class
 * attribute of that name (specialize_dict_access, descriptor kind ABSENT); -1 otherwise. */
static Py_ssize_t instance_value_index(PyTypeObject *tp, PyObject *owner, PyObject *name, int store)
{
    if (!(tp->tp_flags & Py_TPFLAGS_INLINE_VALUES)) return -1;
    if (store ? tp->tp_setattro != PyObject_GenericSetAttr : tp->tp_getattro != PyObject_GenericGetAttr) return -1;
    if (!_PyObject_InlineValues(owner)->valid) return -1;
    if (store && _PyObject_GetManagedDict(owner) != NULL) return -1;
    if (_PyType_Lookup(tp, name) != NULL) return -1;
    Py_ssize_t index = shared_keys_index(((PyHeapTypeObject *)tp)->ht_cached_keys, name);
    if (index < 0 || index > 0xFFFF) return -1;
    return index;
}

/* After a miss: cache `name`'s instance-value slot for objects of owner's type, if it has one.
 * A type that cannot be cached leaves the old entry in place (its type may come back). */
static void respecialise_instance_value(EmberAttrIC *ic, PyObject *owner, PyObject *name, int store)
{
    if (!may_respecialise(ic)) return;
    PyTypeObject *tp = Py_TYPE(owner);
    Py_ssize_t index = instance_value_index(tp, owner, name, store);
    uint32_t v = index >= 0 ? type_version(tp) : 0;
    if (v != 0) {
        ic->index = (uint32_t)index;
        ic->kind = EMBER_IC_INSTANCE_VALUE;
        ic->version = v;
    }
}

/* LOAD_ATTR_CLASS (specialize_class_load_attr): `owner` is a class whose metaclass is exactly
 * `type` and has no attribute `name`, and the class's own attribute is a plain value or a
 * method (loading either from the class returns it unchanged). Returns 1 when cached. */
static int respecialise_class_attr(EmberAttrIC *ic, PyObject *owner, PyObject *name)
{
    if (!PyType_CheckExact(owner) || _PyType_Lookup(&PyType_Type, name) != NULL) return 0;
    PyTypeObject *cls = (PyTypeObject *)owner;
    PyObject *descr = _PyType_Lookup(cls, name);
    if (descr == NULL) return 0;
    PyTypeObject *dt = Py_TYPE(descr);
    if (!(dt->tp_flags & Py_TPFLAGS_METHOD_DESCRIPTOR) && dt->tp_descr_get != NULL) return 0;
    uint32_t v = type_version(cls);
    if (v == 0) return 0;
    ic->descr = descr;
    ic->kind = EMBER_IC_CLASS_ATTR;
    ic->version = v;
    return 1;
}

/* 1 when looking `name` up along the MRO of `tp` cannot run Python code: every heap type's
 * dict has only str keys (a key with its own __eq__, e.g. test_descr's MRO-mutating key, could
 * otherwise run during the extra lookups of re-specialisation). Static types' dicts have only
 * str keys. */
static int mro_lookup_is_pure(PyTypeObject *tp)
{
    PyObject *mro = tp->tp_mro;
    if (mro == NULL || !PyTuple_Check(mro)) return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *b = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        if (!(b->tp_flags & Py_TPFLAGS_HEAPTYPE)) continue;
        PyObject *d = b->tp_dict;
        if (d == NULL || !PyDict_CheckExact(d) || !DK_IS_UNICODE(((PyDictObject *)d)->ma_keys)) return 0;
    }
    return 1;
}

static void respecialise_method(EmberAttrIC *ic, PyObject *owner, PyObject *name)
{
    PyTypeObject *tp = Py_TYPE(owner);
    if (!may_respecialise(ic) || tp->tp_getattro != PyObject_GenericGetAttr) return;
    PyObject *descr = _PyType_Lookup(tp, name);
    if (descr == NULL || !(Py_TYPE(descr)->tp_flags & Py_TPFLAGS_METHOD_DESCRIPTOR)) return;
    if (tp->tp_flags & Py_TPFLAGS_INLINE_VALUES) {
        /* LOAD_ATTR_METHOD_WITH_VALUES: no instance attribute can shadow the method. */
        PyDictKeysObject *keys = ((PyHeapTypeObject *)tp)->ht_cached_keys;
        if (_PyObject_InlineValues(owner)->valid && shared_keys_index(keys, name) < 0) {
            uint32_t kv = keys_version(keys);
            uint32_t v = kv ? type_version(tp) : 0;
            if (v != 0) {
                ic->descr = descr;
                ic->keys_version = kv;
                ic->kind = EMBER_IC_METHOD_WITH_VALUES;
                ic->version = v;
            }
        }
    }
    else if (tp->tp_dictoffset == 0 && !(tp->tp_flags & Py_TPFLAGS_MANAGED_DICT)) {
        /* LOAD_ATTR_METHOD_NO_DICT. */
        uint32_t v = type_version(tp);
        if (v != 0) {
            ic->descr = descr;
            ic->kind = EMBER_IC_METHOD_NO_DICT;
            ic->version = v;
        }
    }
}

/* The miss paths run the generic operation first, so that its effects and their order are
 * exactly the interpreter's, and re-specialise afterwards, only on success and only when the
 * lookups cannot run Python code. */
PyObject *ember_load_attr_ic_miss(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic)
{
    Py_INCREF(owner);
    PyObject *res = ember_load_attr(ts, owner, name);
    if (res != NULL && ic->misses < EMBER_IC_MAX_MISSES) {
        if (PyType_Check(owner)) {
            if (mro_lookup_is_pure((PyTypeObject *)owner) && may_respecialise(ic))
                respecialise_class_attr(ic, owner, name);
        }
        else if (mro_lookup_is_pure(Py_TYPE(owner))) {
            respecialise_instance_value(ic, owner, name, 0);
        }
    }
    Py_DECREF(owner);
    return res;
}

PyObject *ember_load_method_ic_miss(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic,
                                    PyObject **self_out)
{
    Py_INCREF(owner);
    PyObject *res = ember_load_method(ts, owner, name, self_out);
    if (res != NULL && ic->misses < EMBER_IC_MAX_MISSES && mro_lookup_is_pure(Py_TYPE(owner)))
        respecialise_method(ic, owner, name);
    Py_DECREF(owner);
    return res;
}

int ember_store_attr_ic_miss(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v, EmberAttrIC *ic)
{
    Py_INCREF(owner);
    int err = ember_store_attr(ts, owner, name, v);
    if (err == 0 && ic->misses < EMBER_IC_MAX_MISSES && mro_lookup_is_pure(Py_TYPE(owner)))
        respecialise_instance_value(ic, owner, name, 1);
    Py_DECREF(owner);
    return err;
}
