//! Build script: regenerates `include/ember.h` with cbindgen and compiles the runtime helpers
//! in `cpython-glue/` to LLVM bitcode with clang-19 (embedded as `BUILTIN_BITCODE`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn python_include() -> Option<PathBuf> {
    if let Ok(p) = env::var("EMBER_PYTHON_INCLUDE") {
        return Some(PathBuf::from(p));
    }
    let candidates = [env::var("EMBER_PYTHON").ok(), env::var("PYO3_PYTHON").ok(), env::var("PYTHON_SYS_EXECUTABLE").ok()];
    let mut pythons: Vec<String> = candidates.into_iter().flatten().collect();
    if let Ok(out) = Command::new("pyenv").args(["prefix", "3.13.0"]).output() {
        if out.status.success() {
            pythons.push(format!("{}/bin/python3.13", String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    for py in pythons {
        let out = Command::new(&py)
            .args(["-c", "import sysconfig,sys; print(sysconfig.get_paths()['include']) if sys.version_info[:2]==(3,13) else None"])
            .output();
        if let Ok(out) = out {
            let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !s.is_empty() && s != "None" && Path::new(&s).join("internal").exists() {
                return Some(PathBuf::from(s));
            }
        }
    }
    None
}

fn build_bitcode(out: &Path) {
    let dst = out.join("helpers.bc");
    println!("cargo:rerun-if-env-changed=EMBER_PYTHON_INCLUDE");
    println!("cargo:rerun-if-env-changed=EMBER_PYTHON");
    println!("cargo:rerun-if-env-changed=EMBER_NO_BITCODE");
    println!("cargo:rerun-if-env-changed=EMBER_WRITE_HEADER");
    for f in ["jit_bitcode.c", "runtime_fast.c", "frame_fast.c", "ember_runtime.h", "ember_refcount.h", "../include/ember.h"] {
        println!("cargo:rerun-if-changed=cpython-glue/{f}");
    }
    let src = Path::new("cpython-glue/jit_bitcode.c");
    let inc = python_include();
    let clang = env::var("EMBER_CLANG").unwrap_or_else(|_| "clang-19".into());
    let ok = match (&inc, src.exists(), env::var("EMBER_NO_BITCODE").is_ok()) {
        (Some(inc), true, false) => {
            let st = Command::new(&clang)
                .args(["-O2", "-DNDEBUG", "-emit-llvm", "-c", "-fPIC", "-fno-stack-protector"])
                .arg(format!("-I{}", inc.display()))
                .arg(format!("-I{}/internal", inc.display()))
                // Debian keeps pyconfig.h in <include>/../<multiarch>/python3.13/.
                .arg(format!("-I{}/..", inc.display()))
                .arg("-Icpython-glue")
                // ember.h (EmberType's numbers, the inline-cache layout of src/ic.rs): the copy
                // main() has just generated from these sources, else the committed one.
                .arg(format!("-I{}", out.display()))
                .arg("-Iinclude")
                .arg(src)
                .arg("-o")
                .arg(&dst)
                .status();
            match st {
                Ok(s) if s.success() => true,
                // clang ran and rejected the helpers: a bug in them, not a missing tool. Left
                // a warning, the build would pass with every helper called, not inlined, and
                // only the benchmarks would show it.
                Ok(s) => panic!("clang-19 failed to compile the helper bitcode ({s}); see its errors above"),
                other => {
                    println!("cargo:warning=helper bitcode not built ({clang}: {other:?}); helpers will be called, not inlined");
                    false
                }
            }
        }
        (None, _, _) => {
            println!("cargo:warning=CPython 3.13 headers not found; helper bitcode not built");
            false
        }
        _ => false,
    };
    if !ok {
        std::fs::write(&dst, b"").unwrap();
    }
}

/// The LLVM components Ember calls (`llvm-config --components`): IR, the new pass manager, the
/// bitcode reader and IR linker (helper bitcode), ORC with JITLink and its debugger support,
/// object-file reading (the code cache, code-size figures), and code generation, assembly
/// printing and disassembly for the two targets. The static linker keeps only the archive
/// members these reach.
const LLVM_COMPONENTS: &[&str] = &[
    "core",
    "passes",
    "bitreader",
    "irreader",
    "linker",
    "orcjit",
    "orcdebugging",
    "orctargetprocess",
    "jitlink",
    "object",
    "mc",
    "mcdisassembler",
    "x86",
    "aarch64",
];

/// With the `static-llvm` feature (llvm-sys then links nothing): the static archives of
/// [`LLVM_COMPONENTS`], static zlib and zstd, dynamic libstdc++; no libLLVM-19.so, no libz3,
/// no libxml2 (`--as-needed` drops what nothing references).
fn link_llvm_statically() {
    println!("cargo:rerun-if-env-changed=LLVM_CONFIG");
    let llvm_config = env::var("LLVM_CONFIG").unwrap_or_else(|_| "llvm-config-19".into());
    let run = |args: &[&str]| {
        let out = Command::new(&llvm_config).args(args).output().unwrap_or_else(|e| panic!("{llvm_config}: {e}"));
        assert!(out.status.success(), "{llvm_config} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    println!("cargo:rustc-link-search=native={}", run(&["--libdir"]).trim());
    // A component missing from the list is a link error here, not an undefined symbol at load.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,defs");
    let mut args = vec!["--link-static", "--libs"];
    args.extend_from_slice(LLVM_COMPONENTS);
    for lib in run(&args).split_whitespace() {
        println!("cargo:rustc-link-lib=static={}", lib.trim_start_matches("-l"));
    }
    for lib in ["z", "zstd"] {
        // The C compiler knows where the system's static archives are (Debian: the multiarch
        // directory, which rustc does not search for static libraries).
        let out = Command::new("cc").arg(format!("-print-file-name=lib{lib}.a")).output().expect("cc");
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if let Some(dir) = path.parent().filter(|d| d.is_absolute()) {
            println!("cargo:rustc-link-search=native={}", dir.display());
        }
        println!("cargo:rustc-link-lib=static={lib}");
    }
    for lib in ["stdc++", "rt", "dl", "m"] {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
}

fn main() {
    if env::var_os("CARGO_FEATURE_STATIC_LLVM").is_some() {
        link_llvm_statically();
    }
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    // C hosts link -lember and load it by its SONAME (`make pkgconfig` adds the link).
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libember.so.0");
    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-changed=src/ffi_background.rs");
    println!("cargo:rerun-if-changed=src/policy.rs");
    println!("cargo:rerun-if-changed=src/compile.rs");
    println!("cargo:rerun-if-changed=src/hir/op.rs");
    println!("cargo:rerun-if-changed=src/hir/mod.rs");
    println!("cargo:rerun-if-changed=src/hir/wire.rs");
    println!("cargo:rerun-if-changed=src/ic.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let crate_dir = env::var("CARGO_MANIFEST_DIR").unwrap();
    let cfg = cbindgen::Config::from_file(Path::new(&crate_dir).join("cbindgen.toml")).expect("cbindgen.toml");
    match cbindgen::Builder::new().with_crate(&crate_dir).with_config(cfg).generate() {
        Ok(b) => {
            // Written to OUT_DIR (where the helper bitcode's compile finds it first); the
            // committed copy in include/ is checked by tests/contract.rs and refreshed by
            // `make header`.
            b.write_to_file(out.join("ember.h"));
            if env::var("EMBER_WRITE_HEADER").is_ok() {
                b.write_to_file(Path::new(&crate_dir).join("include/ember.h"));
            }
        }
        Err(e) => {
            println!("cargo:warning=cbindgen failed: {e}");
            let _ = std::fs::remove_file(out.join("ember.h"));
        }
    }
    // After the header: the runtime helpers include ember.h.
    build_bitcode(&out);
}
