/* runtime_ic.c -- the miss paths of Ember's self-specialising attribute inline caches
 * (EmberAttrIC, ember_runtime.h). On a failed guard the site is re-specialised from the object
 * at hand with the rules CPython 3.13's specialiser uses for the same instruction forms
 * (Python/specialize.c: specialize_dict_access for LOAD_ATTR_INSTANCE_VALUE,
 * STORE_ATTR_INSTANCE_VALUE and the _WITH_HINT forms, specialize_attr_loadclassattr for
 * LOAD_ATTR_METHOD_WITH_VALUES and LOAD_ATTR_METHOD_NO_DICT), then the generic operation runs. Whatever the cache holds, a hit
 * has exactly the generic operation's effect: the guards (type version, inline values valid,
 * shared-keys version, __dict__ entry key) are the interpreter's own, and the one addition, a
 * str-keyed __dict__ lookup that proves a method unshadowed, cannot run Python code. */
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

/* Index of the entry of a combined, str-keyed __dict__ whose key is `name` itself (what
 * LOAD_ATTR_WITH_HINT caches), or 0 when there is none. */
static uint32_t dict_hint(PyDictObject *dict, PyObject *name)
{
    if (dict == NULL || dict->ma_values != NULL || !DK_IS_UNICODE(dict->ma_keys)) return 0;
    PyDictUnicodeEntry *ep = DK_UNICODE_ENTRIES(dict->ma_keys);
    Py_ssize_t n = dict->ma_keys->dk_nentries;
    for (Py_ssize_t i = 0; i < n && i <= 0xFFFF; i++)
        if (ep[i].me_key == name) return (uint32_t)i;
    return 0;
}

/* After a miss on an instance: cache where objects of owner's type keep `name`
 * (specialize_dict_access, descriptor kind ABSENT: inline values, generic get/setattr, no class
 * attribute of that name). An object with valid inline values and no __dict__ gives
 * LOAD/STORE_ATTR_INSTANCE_VALUE; one with a materialised __dict__, or a site that has
 * already seen both layouts, gives the instance-any kind, which reads either, with the
 * __dict__ entry index of this object as hint. A type that cannot be cached leaves the old
 * entry in place (its type may come back). */
static void respecialise_instance(EmberAttrIC *ic, PyObject *owner, PyObject *name, int store)
{
    if (!may_respecialise(ic)) return;
    PyTypeObject *tp = Py_TYPE(owner);
    if (!(tp->tp_flags & Py_TPFLAGS_INLINE_VALUES)) return;
    if (store ? tp->tp_setattro != PyObject_GenericSetAttr : tp->tp_getattro != PyObject_GenericGetAttr) return;
    if (_PyType_Lookup(tp, name) != NULL) return;
    Py_ssize_t index = shared_keys_index(((PyHeapTypeObject *)tp)->ht_cached_keys, name);
    if (index > 0xFFFF) index = -1;
    uint32_t v = type_version(tp);
    if (v == 0) return;
    PyDictObject *dict = _PyObject_GetManagedDict(owner);
    int inline_only = dict == NULL && _PyObject_InlineValues(owner)->valid && index >= 0;
    int seen_dict = ic->version == v && ic->kind == EMBER_IC_INSTANCE_ANY;
    ic->index = index >= 0 ? (uint32_t)index : EMBER_IC_EMPTY;
    if (inline_only && !seen_dict) {
        ic->kind = EMBER_IC_INSTANCE_VALUE;
    }
    else {
        ic->kind = EMBER_IC_INSTANCE_ANY;
        if (dict != NULL) ic->hint = dict_hint(dict, name);
    }
    ic->version = v;
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
        /* The name must be absent from the shared keys (the keys version then proves it
         * absent from valid inline values); an object whose values moved to a combined
         * __dict__ is checked by a lookup in that dict on every hit. */
        int usable = _PyObject_InlineValues(owner)->valid || _PyObject_GetManagedDict(owner) != NULL;
        if (usable && shared_keys_index(keys, name) < 0) {
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
            respecialise_instance(ic, owner, name, 0);
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
        respecialise_instance(ic, owner, name, 1);
    Py_DECREF(owner);
    return err;
}
