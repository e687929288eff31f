//! Shared test support: a tiny assembler for wire functions and a mock runtime whose helpers
//! are Rust `extern "C"` functions over mock objects, so compiled code runs without CPython.
#![allow(dead_code)]

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use ember::hir::wire::{Layout, WireFunction, WireInstr};
use ember::hir::Op;

/// Builds a wire function whose instruction k sits at code unit k.
pub fn asm(nlocals: u32, argcount: u32, stacksize: u32, consts: Vec<u64>, code: &[(Op, &[i64])]) -> WireFunction {
    let n = consts.len();
    WireFunction {
        nlocalsplus: nlocals,
        argcount,
        stacksize,
        ncode_units: code.len() as u32,
        layout: mock_layout(),
        strings: vec!["t".into(), "f".into(), "SETUP_ANNOTATIONS".into()],
        consts,
        instrs: code.iter().enumerate().map(|(i, (op, imms))| WireInstr { op: *op, bc: i as u32, imms: imms.to_vec() }).collect(),
        osr_entries: false,
        no_speculation: false,
        finish_at_exit: false,
        cache_only: false,
        const_types: vec![ember::hir::Type::Object; n],
        callees: vec![],
    }
}

/// `def f(n): t = c0; for i in range(n): t = t + i; return t` (3 locals, 1 argument, stack 3;
/// constant 0 is `c0`), for [`asm`].
pub const SUM_LOOP: &[(Op, &[i64])] = &[
    (Op::Resume, &[]),
    (Op::LoadConst, &[0]),
    (Op::StoreFast, &[1]),
    (Op::LoadFast, &[0]),
    (Op::GetIter, &[]),
    (Op::ForIter, &[12, 0]),
    (Op::StoreFast, &[2]),
    (Op::LoadFast, &[1]),
    (Op::LoadFast, &[2]),
    (Op::BinaryOp, &[0, 0, 0]),
    (Op::StoreFast, &[1]),
    (Op::JumpBackward, &[5]),
    (Op::LoadFast, &[1]),
    (Op::ReturnValue, &[]),
];

/// A mock object: ints, bools, None, and a range iterator.
#[repr(C)]
pub struct Obj {
    pub refcnt: i64,
    pub kind: i64, // 0 int, 1 bool, 2 none, 3 range iterator, 4 deopt marker, 5 float (bits in a)
    pub a: i64,
    pub b: i64,
}

/// A mock frame: `instr_ptr` at offset 8, `localsplus` at offset 16.
#[repr(C)]
pub struct Frame {
    pub tag: u64,
    pub instr_ptr: u64,
    pub locals: [*mut Obj; 32],
}

impl Frame {
    pub fn new() -> Box<Frame> {
        Box::new(Frame { tag: 0, instr_ptr: 0, locals: [std::ptr::null_mut(); 32] })
    }
}

pub const CODE_BASE: u64 = 0x1000;
pub static mut NONE: Obj = Obj { refcnt: 1 << 40, kind: 2, a: 0, b: 0 };
pub static mut TRUE: Obj = Obj { refcnt: 1 << 40, kind: 1, a: 1, b: 0 };
pub static mut FALSE: Obj = Obj { refcnt: 1 << 40, kind: 1, a: 0, b: 0 };
pub static mut DEOPTED: Obj = Obj { refcnt: 1 << 40, kind: 4, a: 0, b: 0 };

pub fn none() -> *mut Obj {
    &raw mut NONE
}
pub fn t() -> *mut Obj {
    &raw mut TRUE
}
pub fn f() -> *mut Obj {
    &raw mut FALSE
}

pub fn mock_layout() -> Layout {
    Layout {
        localsplus_offset: 16,
        instr_ptr_offset: 8,
        code_base: CODE_BASE,
        none: none() as u64,
        true_: t() as u64,
        false_: f() as u64,
        immortal_singletons: true,
    }
}

pub static LIVE: AtomicI64 = AtomicI64::new(0);
pub static ERR: AtomicI64 = AtomicI64::new(0);
pub static RAISED_AT: AtomicI64 = AtomicI64::new(-1);
pub static RAISED_DEPTH: AtomicI64 = AtomicI64::new(-1);
pub static DEOPT_AT: AtomicI64 = AtomicI64::new(-1);
pub static PERIODIC_CALLS: AtomicU64 = AtomicU64::new(0);
pub static PERIODIC_RESULT: AtomicI64 = AtomicI64::new(0);
pub static LAST_IP: AtomicU64 = AtomicU64::new(0);

pub fn reset() {
    LIVE.store(0, Ordering::SeqCst);
    ERR.store(0, Ordering::SeqCst);
    RAISED_AT.store(-1, Ordering::SeqCst);
    RAISED_DEPTH.store(-1, Ordering::SeqCst);
    DEOPT_AT.store(-1, Ordering::SeqCst);
    PERIODIC_CALLS.store(0, Ordering::SeqCst);
    PERIODIC_RESULT.store(0, Ordering::SeqCst);
    GUARD_FAILS.store(0, Ordering::SeqCst);
}

fn immortal(o: *mut Obj) -> bool {
    o == none() || o == t() || o == f() || o == &raw mut DEOPTED
}

pub fn int(v: i64) -> *mut Obj {
    LIVE.fetch_add(1, Ordering::SeqCst);
    Box::into_raw(Box::new(Obj { refcnt: 1, kind: 0, a: v, b: 0 }))
}

pub fn float(v: f64) -> *mut Obj {
    LIVE.fetch_add(1, Ordering::SeqCst);
    Box::into_raw(Box::new(Obj { refcnt: 1, kind: 5, a: v.to_bits() as i64, b: 0 }))
}

pub unsafe fn fval(o: *mut Obj) -> f64 {
    f64::from_bits((*o).a as u64)
}

/// Deopts through `ember_rt_guard_fail` (DEOPT_AT, and GUARD_STACK: the kinds and values of the
/// spilled stack, bottom first).
pub static GUARD_FAILS: AtomicU64 = AtomicU64::new(0);
pub static GUARD_STACK: std::sync::Mutex<Vec<(i64, i64)>> = std::sync::Mutex::new(Vec::new());

pub extern "C" fn ember_rt_guard_fail(ts: *mut u8, fr: *mut Frame, bc: i64, depth: i64) -> *mut Obj {
    GUARD_FAILS.fetch_add(1, Ordering::SeqCst);
    let mut st = GUARD_STACK.lock().unwrap();
    st.clear();
    for d in 0..depth as usize {
        unsafe {
            let o = (*fr).locals[8 + d];
            st.push(((*o).kind, (*o).a));
        }
    }
    ember_rt_deopt(ts, fr, bc, depth)
}
/// `EmberType` numbers: 2 int, 3 float, 4 bool, 9 None.
pub extern "C" fn ember_type_check(o: *mut Obj, ty: i64) -> i32 {
    let k = unsafe { (*o).kind };
    (match ty {
        2 => k == 0,
        3 => k == 5,
        4 => k == 1,
        9 => k == 2,
        _ => false,
    }) as i32
}
/// The mock's `ember_range_iter_state`: -1 unless kind 3, else whether `a < b` (next, end).
pub extern "C" fn ember_range_iter_state(o: *mut Obj) -> i32 {
    unsafe {
        if (*o).kind != 3 {
            return -1;
        }
        ((*o).a < (*o).b) as i32
    }
}
/// The mock's `ember_for_iter_range_i64` (a range iterator: `a` next, `b` end, step 1).
pub extern "C" fn ember_for_iter_range_i64(o: *mut Obj, out: *mut i64) -> i32 {
    unsafe {
        if (*o).a >= (*o).b {
            return 0;
        }
        *out = (*o).a;
        (*o).a += 1;
        1
    }
}
/// The mock's `ember_release_is_trivial`: NULL, a count above 1, or an int, bool, None or float.
pub extern "C" fn ember_release_is_trivial(o: *mut Obj) -> i32 {
    (o.is_null() || unsafe { (*o).refcnt > 1 || matches!((*o).kind, 0 | 1 | 2 | 5) }) as i32
}
pub extern "C" fn ember_int_is_compact(o: *mut Obj) -> i32 {
    (unsafe { val(o) }.unsigned_abs() < 1 << 30) as i32
}
pub extern "C" fn ember_int_value(o: *mut Obj) -> i64 {
    unsafe { val(o) }
}
pub extern "C" fn ember_float_value(o: *mut Obj) -> f64 {
    unsafe { fval(o) }
}
pub extern "C" fn ember_int_box(x: i64) -> *mut Obj {
    int(x)
}
pub extern "C" fn ember_float_box(_ts: *mut u8, x: f64) -> *mut Obj {
    float(x)
}
pub extern "C" fn ember_number_from_int(o: *mut Obj) -> f64 {
    unsafe {
        if (*o).kind == 0 && ember_int_is_compact(o) != 0 {
            return val(o) as f64;
        }
    }
    f64::from_bits(ember::hir::EMBER_NOT_A_NUMBER_BITS)
}
/// The mock's ints are all i64: any non-compact one fits (for tests of the compact check,
/// values beyond 2**62 count as too big).
pub extern "C" fn ember_int_to_i64(o: *mut Obj, out: *mut i64) -> i32 {
    unsafe {
        if (*o).kind == 0 && val(o).unsigned_abs() < 1 << 62 {
            *out = val(o);
            return 1;
        }
    }
    0
}
pub extern "C" fn ember_release_local_float(_ts: *mut u8, o: *mut Obj) {
    ember_xdecref(o)
}
/// The mock's `StoreFastFloat`: the same in-place rule as the shim's (an exact float with a
/// count of 1 is overwritten), else a new float and the old value released.
pub extern "C" fn ember_store_local_float(_ts: *mut u8, slot: *mut *mut Obj, d: f64) -> i32 {
    unsafe {
        let old = *slot;
        if !old.is_null() && (*old).kind == 5 && (*old).refcnt == 1 {
            (*old).a = d.to_bits() as i64;
            return 0;
        }
        *slot = float(d);
        ember_xdecref(old);
    }
    0
}
pub extern "C" fn ember_box_for_exit_float(x: f64) -> *mut Obj {
    float(x)
}
pub extern "C" fn ember_decref_float(_ts: *mut u8, o: *mut Obj) {
    ember_decref(o)
}

pub unsafe fn val(o: *mut Obj) -> i64 {
    (*o).a
}

pub extern "C" fn ember_incref(o: *mut Obj) {
    unsafe { (*o).refcnt += 1 }
}
pub extern "C" fn ember_decref(o: *mut Obj) {
    unsafe {
        if immortal(o) {
            return;
        }
        (*o).refcnt -= 1;
        assert!((*o).refcnt >= 0, "refcount underflow");
        if (*o).refcnt == 0 {
            LIVE.fetch_sub(1, Ordering::SeqCst);
            drop(Box::from_raw(o));
        }
    }
}
pub extern "C" fn ember_xdecref(o: *mut Obj) {
    if !o.is_null() {
        ember_decref(o)
    }
}
pub extern "C" fn ember_rt_periodic(_ts: *mut u8, fr: *mut Frame) -> i32 {
    PERIODIC_CALLS.fetch_add(1, Ordering::SeqCst);
    unsafe { LAST_IP.store((*fr).instr_ptr, Ordering::SeqCst) };
    PERIODIC_RESULT.load(Ordering::SeqCst) as i32
}
/// The mock's `ember_rt_eval_breaker`: set when `ember_rt_periodic` would answer non-zero.
pub extern "C" fn ember_rt_eval_breaker(_ts: *mut u8, _fr: *mut Frame) -> i32 {
    (PERIODIC_RESULT.load(Ordering::SeqCst) != 0) as i32
}
pub extern "C" fn ember_rt_leave(_ts: *mut u8, _fr: *mut Frame, r: *mut Obj) -> *mut Obj {
    r
}
/// The mock's `ember_rt_leave_floats` (a function that computes with floats): as
/// `ember_rt_leave`.
pub extern "C" fn ember_rt_leave_floats(ts: *mut u8, fr: *mut Frame, r: *mut Obj) -> *mut Obj {
    ember_rt_leave(ts, fr, r)
}
pub extern "C" fn ember_rt_raise(_ts: *mut u8, fr: *mut Frame, bc: i64, depth: i64) -> *mut Obj {
    RAISED_AT.store(bc, Ordering::SeqCst);
    RAISED_DEPTH.store(depth, Ordering::SeqCst);
    // Like the real runtime with no handler: release the spilled stack values.
    for d in 0..depth as usize {
        unsafe { ember_xdecref((*fr).locals[8 + d]) };
    }
    std::ptr::null_mut()
}
pub extern "C" fn ember_rt_deopt(_ts: *mut u8, fr: *mut Frame, bc: i64, depth: i64) -> *mut Obj {
    DEOPT_AT.store(bc, Ordering::SeqCst);
    for d in 0..depth as usize {
        unsafe { ember_xdecref((*fr).locals[8 + d]) };
    }
    &raw mut DEOPTED
}
pub extern "C" fn ember_err_occurred(_ts: *mut u8) -> i32 {
    ERR.load(Ordering::SeqCst) as i32
}
pub extern "C" fn ember_binary_op(_ts: *mut u8, a: *mut Obj, b: *mut Obj, nb: i64) -> *mut Obj {
    let (x, y) = unsafe { (val(a), val(b)) };
    ember_decref(a);
    ember_decref(b);
    let r = match nb {
        0 | 13 => x.checked_add(y),
        10 | 23 => x.checked_sub(y),
        5 | 18 => x.checked_mul(y),
        2 | 15 => {
            if y == 0 {
                None
            } else {
                Some(x.div_euclid(y))
            }
        }
        _ => None,
    };
    match r {
        Some(v) => int(v),
        None => {
            ERR.store(1, Ordering::SeqCst);
            std::ptr::null_mut()
        }
    }
}
pub extern "C" fn ember_compare_op(a: *mut Obj, b: *mut Obj, oparg: i64) -> *mut Obj {
    let (x, y) = unsafe { (val(a), val(b)) };
    ember_decref(a);
    ember_decref(b);
    let r = match oparg >> 5 {
        0 => x < y,
        1 => x <= y,
        2 => x == y,
        3 => x != y,
        4 => x > y,
        _ => x >= y,
    };
    if r {
        t()
    } else {
        f()
    }
}
pub extern "C" fn ember_to_bool(v: *mut Obj) -> *mut Obj {
    let r = unsafe { (*v).a != 0 };
    ember_decref(v);
    if r {
        t()
    } else {
        f()
    }
}
pub extern "C" fn ember_get_iter(v: *mut Obj) -> *mut Obj {
    let n = unsafe { val(v) };
    ember_decref(v);
    LIVE.fetch_add(1, Ordering::SeqCst);
    Box::into_raw(Box::new(Obj { refcnt: 1, kind: 3, a: 0, b: n }))
}
pub extern "C" fn ember_for_iter(_ts: *mut u8, it: *mut Obj) -> *mut Obj {
    unsafe {
        if (*it).a < (*it).b {
            (*it).a += 1;
            int((*it).a - 1)
        } else {
            std::ptr::null_mut()
        }
    }
}
/// Generic FOR_ITER's helper (it resumes exact generators inline; the mock has none, so it
/// is ember_for_iter).
pub extern "C" fn ember_for_iter_gen(ts: *mut u8, it: *mut Obj, _ic: *mut u8) -> *mut Obj {
    ember_for_iter(ts, it)
}
pub extern "C" fn ember_raise_varargs(_ts: *mut u8, exc: *mut Obj, cause: *mut Obj, _n: i64) -> *mut Obj {
    ember_xdecref(exc);
    ember_xdecref(cause);
    ERR.store(1, Ordering::SeqCst);
    std::ptr::null_mut()
}
pub extern "C" fn ember_rt_reraise(ts: *mut u8, fr: *mut Frame, bc: i64, depth: i64) -> *mut Obj {
    ember_rt_raise(ts, fr, bc, depth)
}

/// The mock helpers as (name, address) pairs for `Config::helpers`.
pub fn helpers() -> Vec<(String, u64)> {
    macro_rules! h { ($($n:ident),*) => { vec![$((stringify!($n).to_string(), $n as *const () as usize as u64)),*] } }
    h!(
        ember_incref,
        ember_decref,
        ember_xdecref,
        ember_rt_periodic,
        ember_rt_eval_breaker,
        ember_rt_leave,
        ember_rt_leave_floats,
        ember_rt_raise,
        ember_rt_deopt,
        ember_err_occurred,
        ember_binary_op,
        ember_compare_op,
        ember_to_bool,
        ember_get_iter,
        ember_for_iter,
        ember_for_iter_gen,
        ember_raise_varargs,
        ember_rt_reraise,
        ember_rt_guard_fail,
        ember_type_check,
        ember_release_is_trivial,
        ember_range_iter_state,
        ember_for_iter_range_i64,
        ember_int_is_compact,
        ember_int_value,
        ember_float_value,
        ember_int_box,
        ember_float_box,
        ember_box_for_exit_float,
        ember_decref_float,
        ember_number_from_int,
        ember_release_local_float,
        ember_store_local_float,
        ember_int_to_i64
    )
    .into_iter()
    .chain([
        ("ember_box_for_exit_int".to_string(), ember_int_box as *const () as usize as u64),
        ("ember_decref_int".to_string(), ember_decref as *const () as usize as u64),
    ])
    .collect()
}

pub type Entry = unsafe extern "C" fn(*mut u8, *mut Frame) -> *mut Obj;
