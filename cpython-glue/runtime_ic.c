/* runtime_ic.c -- Ember's self-specialising, polymorphic attribute inline caches (EmberAttrIC,
 * ember_runtime.h) beyond the inlined fast path of entry 0 (runtime_fast.c): the hit tests of
 * every entry kind, and the misses. On a miss the generic operation runs first, so that its
 * effects and their order are exactly the interpreter's, and then an entry is specialised from
 * the object at hand with the rules CPython 3.13's specialiser uses for the same instruction
 * forms (Python/specialize.c: specialize_dict_access for LOAD/STORE_ATTR_INSTANCE_VALUE and the
 * _WITH_HINT forms, specialize_class_load_attr for LOAD_ATTR_CLASS,
 * specialize_attr_loadclassattr for LOAD_ATTR_METHOD_WITH_VALUES, _NO_DICT and _LAZY_DICT), only
 * when the lookups cannot run Python code. Whatever an entry holds, a hit has exactly the
 * generic operation's effect: its guards (type version, inline values valid, shared-keys
 * version, __dict__ entry key) are the interpreter's own, and the additions (a str-keyed
 * __dict__ lookup that proves a method unshadowed, a staticmethod's or classmethod's __get__)
 * cannot run Python code. The interpreter keeps one entry per site and re-specialises with
 * backoff; Ember keeps EMBER_IC_WAYS, so polymorphic sites (a method of a base class called on
 * several subclasses) stay fast. */
#include "ember_runtime.h"
#include "internal/pycore_dict.h"    /* PyDictKeysObject, DK_UNICODE_ENTRIES, PyDictValues */
#include "internal/pycore_interp.h"  /* interp->dict_state.next_keys_version */
#include "internal/pycore_object.h"  /* _PyObject_InlineValues, _PyObject_GetManagedDict */

/* ---- hit tests ---- */


/* 1 when instance __dict__ `dict` may hold `name` (a str): it does, or its keys are not all
 * str, so that looking it up could run Python code (the caller then takes the generic path);
 * 0 when it certainly does not. */
static inline int str_dict_may_have(PyDictObject *dict, PyObject *name)
{
    if (!DK_IS_UNICODE(dict->ma_keys)) return 1;
    PyObject *found = NULL;
    int r = PyDict_GetItemRef((PyObject *)dict, name, &found);
    Py_XDECREF(found);
    return r != 0;   /* -1 cannot happen for a str key in a str-keyed dict */
}

/* The value of a cached class attribute of class `owner`, new reference: the attribute itself
 * (LOAD_ATTR_CLASS), or for a staticmethod / classmethod what its __get__(None, owner) returns
 * (type_getattro, Objects/typeobject.c); NULL with an exception only for an uninitialised
 * descriptor, as in the interpreter. */
static inline PyObject *class_attr_value(PyObject *owner, EmberICEntry *e)
{
    if (e->kind == EMBER_IC_CLASS_ATTR) return Py_NewRef(e->descr);
    return Py_TYPE(e->descr)->tp_descr_get(e->descr, NULL, owner);
}

static inline int is_class_kind(uint32_t kind)
{
    return kind == EMBER_IC_CLASS_ATTR || kind == EMBER_IC_CLASS_DESCR;
}

/* Byte offset of a classmethod's callable in its object, from PyClassMethod_Type's `__func__`
 * member (Objects/funcobject.c keeps the struct private); 0 when it is not found. */
static Py_ssize_t classmethod_func_offset(void)
{
    static Py_ssize_t offset = -1;
    if (offset < 0) {
        offset = 0;
        for (PyMemberDef *m = PyClassMethod_Type.tp_members; m != NULL && m->name != NULL; m++) {
            if (strcmp(m->name, "__func__") == 0 && m->type == _Py_T_OBJECT) {
                offset = m->offset;
                break;
            }
        }
    }
    return offset;
}

/* The callable of a cached exact classmethod (entry `e` of EMBER_IC_CLASS_DESCR), borrowed, or
 * NULL for anything else. Read at every use: classmethod.__init__ can rebind it without a new
 * type version. */
static inline PyObject *classmethod_callable(EmberICEntry *e)
{
    if (e->kind != EMBER_IC_CLASS_DESCR || Py_TYPE(e->descr) != &PyClassMethod_Type) return NULL;
    Py_ssize_t offset = classmethod_func_offset();
    return offset > 0 ? *(PyObject **)((char *)e->descr + offset) : NULL;
}

/* LOAD_ATTR (attribute form) through entry `e` in the kinds whose read runs no code and gives
 * an object that `owner` or its class keeps alive: an instance value or __dict__ entry, a class
 * attribute (LOAD_ATTR_CLASS), a __slots__ member (LOAD_ATTR_SLOT); borrowed, NULL when the
 * entry does not answer (an empty slot is the generic path's AttributeError). */
static inline PyObject *borrowed_hit(EmberICEntry *e, PyObject *owner, PyObject *name)
{
    PyTypeObject *tp = Py_TYPE(owner);
    if (tp->tp_version_tag == e->version && (e->kind == EMBER_IC_INSTANCE_VALUE || e->kind == EMBER_IC_INSTANCE_ANY)) {
        /* (An entry seeded from LOAD_ATTR_WITH_HINT may be for a managed-dict type without
         * inline values.) */
        return ember_ic_instance_attr(e, owner, name);
    }
    if (e->kind == EMBER_IC_CLASS_ATTR && PyType_Check(owner) && ((PyTypeObject *)owner)->tp_version_tag == e->version)
        return e->descr;
    if (e->kind == EMBER_IC_SLOT && tp->tp_version_tag == e->version) return *(PyObject **)((char *)owner + e->index);
    return NULL;
}

/* LOAD_ATTR (attribute form) through entry `e`: 1 with *out set (new reference, or NULL with
 * an exception) and the owner reference consumed, 0 when the entry does not apply. */
static inline int load_hit(EmberICEntry *e, PyObject *owner, PyObject *name, PyObject **out)
{
    if (e->kind == EMBER_IC_CLASS_DESCR && PyType_Check(owner) && ((PyTypeObject *)owner)->tp_version_tag == e->version) {
        *out = class_attr_value(owner, e);
        Py_DECREF(owner);
        return 1;
    }
    PyObject *attr = borrowed_hit(e, owner, name);
    if (attr == NULL) return 0;
    *out = Py_NewRef(attr);
    Py_DECREF(owner);
    return 1;
}

/* LOAD_ATTR (method form) through entry `e`: 1 with *out and *self_out set as
 * ember_load_method_ic sets them, 0 when the entry does not apply. */
static inline int method_hit(EmberICEntry *e, PyObject *owner, PyObject *name, PyObject **out, PyObject **self_out)
{
    PyTypeObject *tp = Py_TYPE(owner);
    int found = ember_ic_method_inline(e, tp, owner) != NULL;
    if (!found && tp->tp_version_tag == e->version) {
        if (e->kind == EMBER_IC_METHOD_WITH_VALUES && !_PyObject_InlineValues(owner)->valid) {
            /* The values moved to a combined __dict__: the method is found when the dict lacks
             * the name. */
            PyDictObject *dict = _PyObject_GetManagedDict(owner);
            found = dict != NULL && !str_dict_may_have(dict, name);
        }
        else if (e->kind == EMBER_IC_METHOD_LAZY_DICT && (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT)) {
            PyDictObject *dict = _PyObject_GetManagedDict(owner);
            found = dict == NULL || !str_dict_may_have(dict, name);
        }
    }
    if (found) {
        *self_out = owner;
        *out = Py_NewRef(e->descr);
        return 1;
    }
    if (is_class_kind(e->kind) && PyType_Check(owner) && ((PyTypeObject *)owner)->tp_version_tag == e->version) {
        PyObject *func = classmethod_callable(e);
        if (func != NULL) {
            /* A classmethod (`Strength.weaker(a, b)` in deltablue): its __get__(None, owner) is
             * PyMethod_New(callable, owner) (cm_descr_get, 3.13), and calling that method calls
             * the callable with owner first. So the call gets the callable with owner as its
             * self (the owner's reference moves there), and no bound method is made. */
            *out = Py_NewRef(func);
            *self_out = owner;
            return 1;
        }
        /* A class attribute loaded in method form (`Class.f(...)`): _PyObject_GetMethod falls
         * back to the generic getattr for a class owner, so the callable comes back alone. */
        *out = class_attr_value(owner, e);
        *self_out = NULL;
        Py_DECREF(owner);
        return 1;
    }
    return 0;
}

/* ---- specialisation ---- */

Py_ssize_t ember_unicode_keys_index(PyDictKeysObject *keys, PyObject *name)
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

uint32_t ember_keys_version(PyDictKeysObject *keys)
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

/* 1 when the site may re-specialise after a miss whose lookups go along `tp`'s MRO: it is not
 * megamorphic yet (bounded, so such sites stop paying) and the lookups cannot run Python code;
 * counts the miss. */
static int may_respecialise(EmberAttrIC *ic, PyTypeObject *tp)
{
    if (ic->misses >= EMBER_IC_MAX_MISSES || !mro_lookup_is_pure(tp)) return 0;
    ic->misses++;
    return 1;
}

/* The entry to (re)fill for type `tp` at version `v`, its owner_type set: the one already
 * holding `v`; else one filled for `tp` at an older version (a class attribute was assigned
 * since: that version cannot match again, and entry 0, the inlined one, must not keep it); else
 * an empty one; else entries 1..WAYS-1 in turn (entry 0 keeps the first type seen). */
static EmberICEntry *entry_for(EmberAttrIC *ic, PyTypeObject *tp, uint32_t v)
{
    EmberICEntry *e = NULL;
    for (int i = 0; i < EMBER_IC_WAYS && e == NULL; i++)
        if (ic->e[i].version == v) e = &ic->e[i];
    for (int i = 0; i < EMBER_IC_WAYS && e == NULL; i++)
        if (ic->e[i].version != EMBER_IC_EMPTY && ic->e[i].owner_type == (void *)tp) e = &ic->e[i];
    for (int i = 0; i < EMBER_IC_WAYS && e == NULL; i++)
        if (ic->e[i].version == EMBER_IC_EMPTY) e = &ic->e[i];
    if (e == NULL) {
        if (ic->victim < 1 || ic->victim >= EMBER_IC_WAYS) ic->victim = 1;
        e = &ic->e[ic->victim];
        ic->victim = ic->victim + 1 < EMBER_IC_WAYS ? ic->victim + 1 : 1;
    }
    e->owner_type = tp;
    return e;
}

/* Caches a descriptor-holding entry (class attribute or method kinds) for type `tp` at its
 * version (nothing when none could be assigned): the owner's type, or for the class kinds the
 * class itself. */
static void set_descr_entry(EmberAttrIC *ic, PyTypeObject *tp, uint32_t kind, PyObject *descr, uint32_t keys_version)
{
    uint32_t v = type_version(tp);
    if (v == 0) return;
    EmberICEntry *e = entry_for(ic, tp, v);
    e->descr = descr;
    e->keys_version = keys_version;
    e->kind = kind;
    e->version = v;
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

/* After a miss on an instance whose type's attribute `name` is a __slots__ member: the slot
 * entry (specialize.c, descriptor kind OBJECT_SLOT: an exact member descriptor of type
 * Py_T_OBJECT_EX for owner's type, generic get/setattr, not audited on read, writable for a
 * store). 1 when the entry was filled. */
static int respecialise_slot(EmberAttrIC *ic, PyObject *owner, PyObject *name, int store)
{
    PyTypeObject *tp = Py_TYPE(owner);
    if (store ? tp->tp_setattro != PyObject_GenericSetAttr : tp->tp_getattro != PyObject_GenericGetAttr) return 0;
    PyObject *descr = _PyType_Lookup(tp, name);
    if (descr == NULL || Py_TYPE(descr) != &PyMemberDescr_Type) return 0;
    PyMemberDescrObject *member = (PyMemberDescrObject *)descr;
    PyMemberDef *dmem = member->d_member;
    if (dmem->type != Py_T_OBJECT_EX || dmem->offset <= 0 || dmem->offset > 0xFFFF ||
        !PyObject_TypeCheck(owner, PyDescr_TYPE(member)) || (dmem->flags & Py_AUDIT_READ) ||
        (store && (dmem->flags & Py_READONLY)))
        return 0;
    uint32_t v = type_version(tp);
    if (v == 0) return 0;
    EmberICEntry *e = entry_for(ic, tp, v);
    e->kind = EMBER_IC_SLOT;
    e->index = (uint32_t)dmem->offset;
    e->version = v;
    return 1;
}

/* After a miss on an instance: cache where objects of owner's type keep `name`
 * (specialize_dict_access, descriptor kind ABSENT: inline values, generic get/setattr, no class
 * attribute of that name). An object with valid inline values and no __dict__ gives
 * LOAD/STORE_ATTR_INSTANCE_VALUE; one with a materialised __dict__, or a type whose entry has
 * already seen both layouts, gives the instance-any kind, which reads either, with the
 * __dict__ entry index of this object as hint. A type that cannot be cached leaves the entries
 * as they are. */
static void respecialise_instance(EmberAttrIC *ic, PyObject *owner, PyObject *name, int store)
{
    PyTypeObject *tp = Py_TYPE(owner);
    if (respecialise_slot(ic, owner, name, store)) return;
    if (!(tp->tp_flags & Py_TPFLAGS_INLINE_VALUES)) return;
    if (store ? tp->tp_setattro != PyObject_GenericSetAttr : tp->tp_getattro != PyObject_GenericGetAttr) return;
    if (_PyType_Lookup(tp, name) != NULL) return;
    Py_ssize_t index = ember_unicode_keys_index(((PyHeapTypeObject *)tp)->ht_cached_keys, name);
    if (index > 0xFFFF) index = -1;
    uint32_t v = type_version(tp);
    if (v == 0) return;
    EmberICEntry *e = entry_for(ic, tp, v);
    PyDictObject *dict = _PyObject_GetManagedDict(owner);
    int inline_only = dict == NULL && _PyObject_InlineValues(owner)->valid && index >= 0;
    int seen_dict = e->version == v && e->kind == EMBER_IC_INSTANCE_ANY;
    e->index = index >= 0 ? (uint32_t)index : EMBER_IC_EMPTY;
    if (inline_only && !seen_dict) {
        e->kind = EMBER_IC_INSTANCE_VALUE;
    }
    else {
        e->kind = EMBER_IC_INSTANCE_ANY;
        if (dict != NULL) e->hint = dict_hint(dict, name);
    }
    e->version = v;
}

/* LOAD_ATTR_CLASS (specialize_class_load_attr): `owner` is a class whose metaclass is exactly
 * `type` and has no attribute `name`, and the class's own attribute is a plain value or a
 * method (loading either from the class returns it unchanged), or, beyond the interpreter, an
 * exact staticmethod or classmethod (whose __get__ the hit calls: `Class.static_f(...)`). The
 * type version covers the class's dict and MRO; the descriptor object is the class's own, kept
 * alive by it while the version holds. */
static void respecialise_class_attr(EmberAttrIC *ic, PyObject *owner, PyObject *name)
{
    if (!PyType_CheckExact(owner) || _PyType_Lookup(&PyType_Type, name) != NULL) return;
    PyTypeObject *cls = (PyTypeObject *)owner;
    PyObject *descr = _PyType_Lookup(cls, name);
    if (descr == NULL) return;
    PyTypeObject *dt = Py_TYPE(descr);
    uint32_t kind = EMBER_IC_CLASS_ATTR;
    if (dt == &PyStaticMethod_Type || dt == &PyClassMethod_Type) kind = EMBER_IC_CLASS_DESCR;
    else if (!(dt->tp_flags & Py_TPFLAGS_METHOD_DESCRIPTOR) && dt->tp_descr_get != NULL) return;
    set_descr_entry(ic, cls, kind, descr, 0);
}

/* The method forms (specialize_attr_loadclassattr), and class attributes in method form. */
static void respecialise_method(EmberAttrIC *ic, PyObject *owner, PyObject *name)
{
    if (PyType_Check(owner)) {
        if (mro_lookup_is_pure((PyTypeObject *)owner)) respecialise_class_attr(ic, owner, name);
        return;
    }
    PyTypeObject *tp = Py_TYPE(owner);
    if (tp->tp_getattro != PyObject_GenericGetAttr) return;
    PyObject *descr = _PyType_Lookup(tp, name);
    if (descr == NULL || !(Py_TYPE(descr)->tp_flags & Py_TPFLAGS_METHOD_DESCRIPTOR)) return;
    uint32_t kind, kv = 0;
    if (tp->tp_flags & Py_TPFLAGS_INLINE_VALUES) {
        /* LOAD_ATTR_METHOD_WITH_VALUES. The name must be absent from the shared keys (the keys
         * version then proves it absent from valid inline values); an object whose values
         * moved to a combined __dict__ is checked by a lookup in that dict on every hit. */
        PyDictKeysObject *keys = ((PyHeapTypeObject *)tp)->ht_cached_keys;
        int usable = _PyObject_InlineValues(owner)->valid || _PyObject_GetManagedDict(owner) != NULL;
        if (!usable || ember_unicode_keys_index(keys, name) >= 0 || (kv = ember_keys_version(keys)) == 0) return;
        kind = EMBER_IC_METHOD_WITH_VALUES;
    }
    else if (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        /* LOAD_ATTR_METHOD_LAZY_DICT (the hit also accepts a __dict__ without the name). */
        PyDictObject *dict = _PyObject_GetManagedDict(owner);
        if (dict != NULL && !DK_IS_UNICODE(dict->ma_keys)) return;
        kind = EMBER_IC_METHOD_LAZY_DICT;
    }
    else if (tp->tp_dictoffset == 0) {
        kind = EMBER_IC_METHOD_NO_DICT;
    }
    else {
        return;
    }
    set_descr_entry(ic, tp, kind, descr, kv);
}

/* ---- entry points from compiled code (entry 0's inlined fast path missed) ---- */

PyObject *ember_load_attr_ic_miss(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic)
{
    ember_ic_slow++;
    PyObject *res;
    for (int i = 0; i < EMBER_IC_WAYS; i++)
        if (load_hit(&ic->e[i], owner, name, &res)) return res;
    Py_INCREF(owner);
    res = ember_load_attr(ts, owner, name);
    if (res != NULL) {
        if (PyType_Check(owner)) {
            if (may_respecialise(ic, (PyTypeObject *)owner)) respecialise_class_attr(ic, owner, name);
        }
        else if (may_respecialise(ic, Py_TYPE(owner))) {
            respecialise_instance(ic, owner, name, 0);
        }
    }
    Py_DECREF(owner);
    return res;
}

/* ember_inl_attr's hit through any entry (borrowed_hit), or NULL. */
static PyObject *inl_attr_hit(EmberAttrIC *ic, PyObject *owner, PyObject *name)
{
    for (int i = 0; i < EMBER_IC_WAYS; i++) {
        PyObject *attr = borrowed_hit(&ic->e[i], owner, name);
        if (attr != NULL) return attr;
    }
    return NULL;
}

PyObject *ember_inl_attr_miss(PyObject *owner, PyObject *name, EmberAttrIC *ic)
{
    PyObject *attr = inl_attr_hit(ic, owner, name);
    if (attr != NULL) return attr;
    ember_ic_slow++;
    if (PyType_Check(owner)) {
        if (!may_respecialise(ic, (PyTypeObject *)owner)) return NULL;
        respecialise_class_attr(ic, owner, name);
    }
    else {
        if (!may_respecialise(ic, Py_TYPE(owner))) return NULL;
        respecialise_instance(ic, owner, name, 0);
    }
    return inl_attr_hit(ic, owner, name);
}

PyObject *ember_inl_global_lookup(PyObject *func, PyObject *name)
{
    PyFunctionObject *fn = (PyFunctionObject *)func;
    PyObject *dicts[2] = {fn->func_globals, fn->func_builtins};
    for (int i = 0; i < 2; i++) {
        PyObject *d = dicts[i], *v = NULL;
        if (d == NULL || !PyDict_CheckExact(d) || !DK_IS_UNICODE(((PyDictObject *)d)->ma_keys)) return NULL;
        int r = PyDict_GetItemRef(d, name, &v);
        if (r < 0) {
            PyErr_Clear();
            return NULL;
        }
        if (r > 0) {
            /* The dict keeps it alive. */
            Py_DECREF(v);
            return v;
        }
    }
    return NULL;
}

PyObject *ember_load_method_ic_miss(PyThreadState *ts, PyObject *owner, PyObject *name, EmberAttrIC *ic,
                                    PyObject **self_out)
{
    ember_ic_slow++;
    PyObject *res;
    for (int i = 0; i < EMBER_IC_WAYS; i++)
        if (method_hit(&ic->e[i], owner, name, &res, self_out)) return res;
    Py_INCREF(owner);
    res = ember_load_method(ts, owner, name, self_out);
    if (res != NULL && may_respecialise(ic, Py_TYPE(owner))) respecialise_method(ic, owner, name);
    Py_DECREF(owner);
    return res;
}

/* Its callers (ember_store_attr_ic and its borrowed form, runtime_fast.c) have tried every entry
 * in every store form (store_attr_ic_hit_other), so no entry is tried again here. */
int ember_store_attr_ic_miss(PyThreadState *ts, PyObject *owner, PyObject *name, PyObject *v, EmberAttrIC *ic)
{
    ember_ic_slow++;
    Py_INCREF(owner);
    int err = ember_store_attr(ts, owner, name, v);
    if (err == 0 && may_respecialise(ic, Py_TYPE(owner))) respecialise_instance(ic, owner, name, 1);
    Py_DECREF(owner);
    return err;
}
