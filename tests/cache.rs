//! The persistent code cache without CPython: load-time bindings (`hir::bind`), the entry format
//! and its checks, LRU eviction, and compiled code reused by a second compiler with other
//! object addresses (run natively against the mock runtime of `tests/common`).

mod common;

use std::sync::atomic::Ordering;

use common::*;
use ember::cache::{self, Cache, Key, Miss};
use ember::compile::{CacheConfig, CacheUse, Compiler, Config};
use ember::hir::{bind, build, parser, printer};
use serial_test::serial;

const SPLIT_IN: &str = "\
function m:f nlocals=1 argcount=1 stacksize=2
layout localsplus=72 instr_ptr=56 code_base=0x7f0010000000 none=0x7f0020000000 true=0x7f0020000040 false=0x7f0020000080 immortal=1
consts [0x7f0020001000, 0x7f0020000000, 0x7f0020002040]
bb0:
  Resume @0[]
  v0 = LoadGlobal<0, 0, 1, 1234, 0, 7, 0, 0, 0, 0> @1[]
  v1 = LoadAttr<0, 1, 88, 3, 0, 0> v0 @6[]
  v2 = LoadGlobal<2, 0, 2, 1234, 99, 4, 0, 0, 0, 0> @9[]
  v3 = ToBool<6, 88> v2 @14[]
  PopTop v1
  PopTop v3
  v4 = LoadConst<1>
  ReturnValue v4
";

/// Ordinals replace addresses and versions; equal values share one (None is constant 1 and
/// `layout.none`; keys version 1234 appears twice; type version 88 too); structural immediates
/// (kinds, indices) and the zero "no version" stay.
const SPLIT_OUT: &str = "\
function m:f nlocals=1 argcount=1 stacksize=2
layout localsplus=72 instr_ptr=56 code_base=0x1 none=0x2 true=0x3 false=0x4 immortal=1
consts [0x5, 0x2, 0x6]
bb0:
  Resume @0[]
  v0 = LoadGlobal<0, 0, 1, 7, 0, 7, 0, 0, 0, 0> @1[]
  v1 = LoadAttr<0, 1, 8, 3, 0, 0> v0 @6[]
  v2 = LoadGlobal<2, 0, 2, 7, 9, 4, 0, 0, 0, 0> @9[]
  v3 = ToBool<6, 8> v2 @14[]
  PopTop v1
  PopTop v3
  v4 = LoadConst<1>
  ReturnValue v4
";

#[test]
fn split_moves_every_process_specific_value_into_the_binding_table() {
    let f = parser::parse(SPLIT_IN).unwrap();
    let (s, b) = bind::split(&f, false);
    assert_eq!(printer::print(&s), SPLIT_OUT);
    let want: Vec<u64> = vec![0x7f0010000000, 0x7f0020000000, 0x7f0020000040, 0x7f0020000080, 0x7f0020001000, 0x7f0020002040, 1234, 88, 99];
    assert_eq!(b.values, want);
    assert!(b.code_units.is_empty());
    // With code units: one more slot per code unit of a frame state, in code-unit order.
    let (_, b) = bind::split(&f, true);
    let units: Vec<u32> = b.code_units.keys().copied().collect();
    assert_eq!(units, vec![0, 1, 6, 9, 14]);
    for (u, k) in &b.code_units {
        assert_eq!(b.value(*k), Some(0x7f0010000000 + 2 * *u as u64));
    }
}

#[test]
fn functions_that_differ_only_in_addresses_split_alike() {
    let f = parser::parse(SPLIT_IN).unwrap();
    let moved = parser::parse(&SPLIT_IN.replace("0x7f00", "0x5500").replace("1234", "4321")).unwrap();
    assert_ne!(f, moved);
    assert_eq!(bind::split(&f, true).0, bind::split(&moved, true).0);
    // ... but not functions whose equality pattern differs (constant 1 no longer None).
    let other =
        parser::parse(&SPLIT_IN.replace("consts [0x7f0020001000, 0x7f0020000000", "consts [0x7f0020001000, 0x7f0020003000")).unwrap();
    assert_ne!(bind::split(&f, true).0, bind::split(&other, true).0);
}

/// A caller with a callee kept for the lowering (`CallTrivial` body 3): the callee's code
/// object, layout, constants and cache versions are bound in the caller's table too, sharing
/// the caller's ordinals where the values are equal (None, True, False; type version 88).
const SPLIT_CALLEE_IN: &str = "\
function m:f nlocals=1 argcount=1 stacksize=2
layout localsplus=72 instr_ptr=56 code_base=0x7f0010000000 none=0x7f0020000000 true=0x7f0020000040 false=0x7f0020000080 immortal=1
consts [0x7f0020000000, 0x7f0020001000]
bb0:
  v0 = LoadFast<0>
  v1, v2:opt = LoadMethod<1, 1, 88, 0, 139637976735744> v0 @2[]
  v3 = CallTrivial<0, 139637976739840, 3, 0, 0, 0> v1 v2 @12[]
  ReturnValue v3 @14[]
callee @2 code=0x7f0030001000
function m:C.output nlocals=1 argcount=1 stacksize=2
layout localsplus=72 instr_ptr=56 code_base=0x7f0040000000 none=0x7f0020000000 true=0x7f0020000040 false=0x7f0020000080 immortal=1
consts [0x7f0020000000, 0x7f0050000000, 0x7f0050001000]
bb0:
  Resume @0[]
  v0 = LoadFastBorrow<0>
  v1 = LoadAttr<1, 1, 88, 0, 0, 0> v0 @2[]
  v2 = LoadGlobal<2, 0, 1, 1234, 0, 10, 0, 0, 0, 0> @12[v1]
  v3 = CompareOp<88, 1, 2> v1 v2 @17[]
  PopJumpIfFalse<30> v3 -> bb1(), bb2()
bb1:
  ReturnConst<0>
bb2:
  ReturnValue v1 @30[]
endcallee
";

#[test]
fn split_binds_the_kept_callees_values_in_the_callers_table() {
    let f = parser::parse(SPLIT_CALLEE_IN).unwrap();
    let (s, b) = bind::split(&f, false);
    let text = printer::print(&s);
    assert!(!text.contains("0x7f00"), "an address is left in the split function:\n{text}");
    assert!(!text.contains("1234"), "a keys version is left in the split function:\n{text}");
    let c = &s.callees[0];
    assert_eq!(b.value(c.code), Some(0x7f0030001000));
    assert_eq!(c.body.layout.none, s.layout.none);
    assert_eq!(b.value(c.body.consts[2]), Some(0x7f0050001000));
    // The type version (88) of the caller's method load and the callee's attribute load share
    // one ordinal.
    let ord88 = s.blocks[0].instrs[1].imms[2];
    assert_eq!(b.value(ord88 as u64), Some(88));
    assert_eq!(c.body.blocks[0].instrs[2].imms[2], ord88);
    // Callees that differ only in addresses and versions split alike.
    let moved = parser::parse(&SPLIT_CALLEE_IN.replace("0x7f0050", "0x550050").replace("1234", "4321")).unwrap();
    assert_eq!(bind::split(&moved, false).0, s);
}

fn key(n: u8) -> Key {
    Key([n; 32])
}

#[test]
fn an_entry_is_checked_before_use() {
    let obj = b"\x7fELF and some code".to_vec();
    let e = cache::entry_bytes(&key(1), 3, &obj);
    assert_eq!(cache::check(&e, &key(1), 3), Ok(()));
    assert_eq!(cache::check(&e, &key(2), 3), Err("foreign key".into()));
    assert_eq!(cache::check(&e, &key(1), 4), Err("binding count".into()));
    assert_eq!(cache::check(&e[..e.len() - 1], &key(1), 3), Err("length".into()));
    assert_eq!(cache::check(&e[..20], &key(1), 3), Err("truncated".into()));
    let mut bad = e.clone();
    bad[0] ^= 1;
    assert_eq!(cache::check(&bad, &key(1), 3), Err("bad magic".into()));
    // Every single flipped bit in the object is caught by the checksum.
    for i in cache::HEADER_BYTES..e.len() {
        let mut bad = e.clone();
        bad[i] ^= 0x10;
        assert_eq!(cache::check(&bad, &key(1), 3), Err("checksum".into()), "byte {i}");
    }
}

#[test]
fn store_then_load_and_a_corrupt_entry_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cache::new(dir.path().join("sub"), 1 << 20);
    assert_eq!(c.load(&key(1), 0), Err(Miss::Absent));
    c.store(&key(1), 2, b"object one").unwrap();
    assert_eq!(c.load(&key(1), 2).unwrap(), b"object one");
    let p = c.path(&key(1));
    let mut bytes = std::fs::read(&p).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&p, &bytes).unwrap();
    assert_eq!(c.load(&key(1), 2), Err(Miss::Rejected("checksum".into())));
    assert!(!p.exists(), "a rejected entry is deleted");
    // No temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(c.dir()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_least_recently_used_entries_go_first() {
    let dir = tempfile::tempdir().unwrap();
    let entry = cache::HEADER_BYTES as u64 + 1000;
    let mut c = Cache::new(dir.path(), 4 * entry + 10);
    let t0 = std::time::SystemTime::now() - std::time::Duration::from_secs(100);
    for k in 1..=4u8 {
        c.store(&key(k), 0, &[k; 1000]).unwrap();
        // Distinct, increasing modification times (file systems may have coarse clocks).
        let f = std::fs::File::options().append(true).open(c.path(&key(k))).unwrap();
        f.set_modified(t0 + std::time::Duration::from_secs(k as u64)).unwrap();
    }
    // A hit refreshes entry 1, so entry 2 is now the least recently used.
    c.load(&key(1), 0).unwrap();
    c.store(&key(5), 0, &[5; 1000]).unwrap();
    let present: Vec<u8> = (1..=5).filter(|&k| c.path(&key(k)).exists()).collect();
    assert_eq!(present, vec![1, 4, 5], "evicted to 90 % of the cap, oldest first");
}

fn cached_compiler(dir: &std::path::Path, host: &str) -> Compiler {
    let cache = Some(CacheConfig { dir: dir.to_path_buf(), max_bytes: 1 << 24 });
    Compiler::new(Config { helpers: helpers(), opt_level: 1, cache, host_id: host.into(), ..Config::default() }).unwrap()
}

/// [`SUM_LOOP`] with `c0` the given int object.
fn sum_from(c0: *mut Obj) -> ember::hir::wire::WireFunction {
    asm(3, 1, 3, vec![c0 as u64], SUM_LOOP)
}

unsafe fn call(entry: u64, n: i64) -> i64 {
    let entry: Entry = std::mem::transmute(entry);
    let mut fr = Frame::new();
    fr.locals[0] = int(n);
    let r = entry(std::ptr::null_mut(), &mut *fr);
    let v = val(r);
    ember_decref(r);
    for i in 0..3 {
        ember_xdecref(fr.locals[i]);
        fr.locals[i] = std::ptr::null_mut();
    }
    v
}

#[test]
#[serial]
fn a_second_compiler_loads_the_code_and_binds_its_own_addresses() {
    reset();
    let dir = tempfile::tempdir().unwrap();
    let (c100, c7) = (int(100), int(7));
    let mut first = cached_compiler(dir.path(), "host A");
    let a = first.compile_hir(build::build(&sum_from(c100)).unwrap()).unwrap();
    assert_eq!(a.cache, CacheUse::Stored);
    assert_eq!(unsafe { call(a.entry, 10) }, 145);
    // Another "process": a new JIT, and the constant is another object at another address.
    let mut second = cached_compiler(dir.path(), "host A");
    let b = second.compile_hir(build::build(&sum_from(c7)).unwrap()).unwrap();
    assert_eq!(b.cache, CacheUse::Loaded, "same structure, same builds: a hit");
    assert_eq!(b.code_size, a.code_size);
    assert_eq!(unsafe { call(b.entry, 10) }, 52, "the loaded code uses the second constant");
    // A second live function with the same key in one JIT compiles under its own name.
    let c = second.compile_hir(build::build(&sum_from(c100)).unwrap()).unwrap();
    assert_eq!(c.cache, CacheUse::Bypassed);
    assert_eq!(unsafe { call(c.entry, 4) }, 106);
    // Another host build never sees these entries.
    let mut third = cached_compiler(dir.path(), "host B");
    let d = third.compile_hir(build::build(&sum_from(c7)).unwrap()).unwrap();
    assert_eq!(d.cache, CacheUse::Stored);
    // A corrupt entry is rejected, never run, and replaced.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        let mut bytes = std::fs::read(&p).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&p, &bytes).unwrap();
    }
    let mut fourth = cached_compiler(dir.path(), "host A");
    let e = fourth.compile_hir(build::build(&sum_from(c7)).unwrap()).unwrap();
    assert_eq!(e.cache, CacheUse::Rejected);
    assert_eq!(unsafe { call(e.entry, 3) }, 10);
    let mut fifth = cached_compiler(dir.path(), "host A");
    assert_eq!(fifth.compile_hir(build::build(&sum_from(c7)).unwrap()).unwrap().cache, CacheUse::Loaded);
    drop((first, second, third, fourth, fifth));
    ember_decref(c100);
    ember_decref(c7);
    assert_eq!(LIVE.load(Ordering::SeqCst), 0, "every object freed");
}

#[test]
#[serial]
fn a_load_only_request_loads_a_cached_function_and_compiles_nothing_on_a_miss() {
    reset();
    let dir = tempfile::tempdir().unwrap();
    let c5 = int(5);
    let load_only = |w: &mut ember::hir::wire::WireFunction| {
        w.cache_only = true;
        ember::hir::wire::encode(w)
    };
    let mut first = cached_compiler(dir.path(), "host A");
    let miss = first.compile_wire(&load_only(&mut sum_from(c5)));
    assert!(matches!(miss, Err(ember::EmberError::Dropped(_))), "an empty cache: no compile");
    assert_eq!(std::fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(0), 0, "nothing stored");
    let stored = first.compile_wire(&ember::hir::wire::encode(&sum_from(c5))).unwrap();
    assert_eq!(stored.cache, CacheUse::Stored);
    let mut second = cached_compiler(dir.path(), "host A");
    let hit = second.compile_wire(&load_only(&mut sum_from(c5))).unwrap();
    assert_eq!(hit.cache, CacheUse::Loaded);
    assert_eq!(unsafe { call(hit.entry, 10) }, 50);
    drop((first, second));
    ember_decref(c5);
    assert_eq!(LIVE.load(Ordering::SeqCst), 0, "every object freed");
}
