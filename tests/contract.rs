//! Cross-language contracts: the committed `include/ember.h` is what cbindgen generates from
//! the current sources, and every runtime helper the lowering can call is declared in
//! `cpython-glue/ember_runtime.h` and registered by the shim.

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
