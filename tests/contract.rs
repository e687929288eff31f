//! Cross-language contracts: the committed `include/ember.h` is what cbindgen generates from
//! the current sources, and every runtime helper the lowering can call is declared in
//! `cpython-glue/ember_runtime.h` and registered by the shim, and the LLVM type of the attribute
//! inline cache has the layout of its one definition (`src/ic.rs`).

use std::path::Path;

#[test]
fn committed_header_is_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = cbindgen::Config::from_file(root.join("cbindgen.toml")).unwrap();
    let generated = cbindgen::Builder::new().with_crate(root).with_config(cfg).generate().unwrap();
    let mut buf = Vec::new();
    generated.write(&mut buf);
    let committed = std::fs::read_to_string(root.join("include/ember.h")).unwrap();
    assert!(String::from_utf8(buf).unwrap() == committed, "include/ember.h is stale: run `make header` and commit it");
}

#[test]
fn every_name_in_the_header_carries_the_prefix() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = std::fs::read_to_string(root.join("include/ember.h")).unwrap();
    let mut bad = vec![];
    for line in header.lines() {
        let name = if let Some(rest) = line.strip_prefix("#define ") {
            rest.split([' ', '(']).next().unwrap()
        } else if let Some(rest) = line.strip_prefix("typedef ").filter(|r| !r.ends_with('{')) {
            rest.trim_end_matches(';').rsplit(' ').next().unwrap()
        } else if let Some(rest) = line.strip_prefix("} ") {
            rest.trim_end_matches(';')
        } else if line.starts_with(|c: char| c.is_ascii_alphabetic()) && line.contains('(') && !line.starts_with("typedef") {
            line.split('(').next().unwrap().rsplit([' ', '*']).next().unwrap()
        } else {
            continue;
        };
        if name != "EMBER_H" && !name.starts_with("ember_") && !name.starts_with("EMBER_") && !name.starts_with("Ember") {
            bad.push(name.to_string());
        }
    }
    assert!(bad.is_empty(), "names without the ember_/EMBER_/Ember prefix in include/ember.h: {bad:?}");
}

#[test]
fn every_helper_is_declared_and_registered() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = std::fs::read_to_string(root.join("cpython-glue/ember_runtime.h")).unwrap();
    let shim = std::fs::read_to_string(root.join("cpython-glue/shim.c")).unwrap();
    for h in ember::lower::helpers::HELPERS {
        let decl = format!("{}(", h.name);
        assert!(header.contains(&decl), "{} is not declared in ember_runtime.h", h.name);
        let registered = header.contains(&format!("X({})", h.name)) || shim.contains(&format!("X({})", h.name));
        assert!(registered, "{} is not in the shim's helper table", h.name);
    }
}

/// Every `ember_*` function the helper bitcode calls without defining it (a fast path's slow
/// half in another C file) is in the shim's helper table, so the JIT can resolve it: a missing
/// one makes every compile whose code inlines that fast path fail to link.
#[test]
fn every_function_the_helper_bitcode_calls_is_registered() {
    use inkwell::context::Context;
    use inkwell::memory_buffer::MemoryBuffer;
    if ember::BUILTIN_BITCODE.is_empty() {
        eprintln!("helper bitcode not built; nothing to check");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = std::fs::read_to_string(root.join("cpython-glue/ember_runtime.h")).unwrap();
    let shim = std::fs::read_to_string(root.join("cpython-glue/shim.c")).unwrap();
    let ctx = Context::create();
    let buf = MemoryBuffer::create_from_memory_range(ember::BUILTIN_BITCODE, "helpers");
    let m = ctx.create_module_from_ir(buf).expect("helper bitcode parses");
    let mut missing = vec![];
    let mut f = m.get_first_function();
    while let Some(func) = f {
        let name = func.get_name().to_string_lossy().into_owned();
        if func.count_basic_blocks() == 0 && name.starts_with("ember_") {
            let x = format!("X({name})");
            if !header.contains(&x) && !shim.contains(&x) {
                missing.push(name);
            }
        }
        f = func.get_next_function();
    }
    assert!(missing.is_empty(), "called by the helper bitcode but not registered: {missing:?}");
}

/// The LLVM type the lowering gives an attribute inline cache (`ember::lower::attr_ic_type`)
/// has the layout of the one definition, `ember::ic::AttrIc` (`EmberAttrIC` of `ember.h`,
/// which the C runtime reads), on both 64-bit targets: the same size and field offsets. The
/// Rust layout is the host's; both targets are LP64 with natural alignment, so it is theirs.
#[test]
fn attr_ic_llvm_layout_matches_the_rust_definition() {
    use ember::ic::{AttrIc, IcEntry, EMBER_IC_WAYS};
    use inkwell::context::Context;
    use inkwell::OptimizationLevel;
    use std::mem::{offset_of, size_of};
    let ctx = Context::create();
    let ty = ember::lower::attr_ic_type(ctx.i32_type().get_context());
    let entries = ty.get_field_type_at_index(0).unwrap().into_array_type();
    assert_eq!(entries.len() as usize, EMBER_IC_WAYS);
    let entry = entries.get_element_type().into_struct_type();
    let entry_offsets = [
        offset_of!(IcEntry, version),
        offset_of!(IcEntry, kind),
        offset_of!(IcEntry, index),
        offset_of!(IcEntry, keys_version),
        offset_of!(IcEntry, descr),
        offset_of!(IcEntry, owner_type),
        offset_of!(IcEntry, hint),
        offset_of!(IcEntry, unused),
    ];
    let ic_offsets = [offset_of!(AttrIc, e), offset_of!(AttrIc, misses), offset_of!(AttrIc, victim)];
    assert_eq!(entry.count_fields() as usize, entry_offsets.len());
    assert_eq!(ty.count_fields() as usize, ic_offsets.len());
    for triple in ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] {
        let tm = ember::orc::target_machine(triple, OptimizationLevel::Default).unwrap();
        let td = tm.get_target_data();
        assert_eq!(td.get_abi_size(&ty), size_of::<AttrIc>() as u64, "{triple}: EmberAttrIC size");
        assert_eq!(td.get_abi_size(&entry), size_of::<IcEntry>() as u64, "{triple}: EmberICEntry size");
        for (i, &off) in ic_offsets.iter().enumerate() {
            assert_eq!(td.offset_of_element(&ty, i as u32), Some(off as u64), "{triple}: EmberAttrIC field {i}");
        }
        for (i, &off) in entry_offsets.iter().enumerate() {
            assert_eq!(td.offset_of_element(&entry, i as u32), Some(off as u64), "{triple}: EmberICEntry field {i}");
        }
    }
}

/// The LLVM type the lowering gives a resume cache (`ember::lower::resume_ic_type`) has the
/// layout of the one definition, `ember::ic::ResumeIc` (`EmberResumeIC` of `ember.h`, which the
/// C runtime fills and reads), on both 64-bit targets.
#[test]
fn resume_ic_llvm_layout_matches_the_rust_definition() {
    use ember::ic::ResumeIc;
    use inkwell::context::Context;
    use inkwell::OptimizationLevel;
    use std::mem::{offset_of, size_of};
    let ctx = Context::create();
    let ty = ember::lower::resume_ic_type(ctx.i32_type().get_context());
    let offsets = [offset_of!(ResumeIc, code), offset_of!(ResumeIc, entry), offset_of!(ResumeIc, epoch)];
    assert_eq!(ty.count_fields() as usize, offsets.len());
    for triple in ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] {
        let tm = ember::orc::target_machine(triple, OptimizationLevel::Default).unwrap();
        let td = tm.get_target_data();
        assert_eq!(td.get_abi_size(&ty), size_of::<ResumeIc>() as u64, "{triple}: EmberResumeIC size");
        for (i, &off) in offsets.iter().enumerate() {
            assert_eq!(td.offset_of_element(&ty, i as u32), Some(off as u64), "{triple}: EmberResumeIC field {i}");
        }
    }
}
