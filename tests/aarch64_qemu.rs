//! AArch64 conformance under qemu: every conformance program is compiled by `ember-compile` to
//! an x86-64 and an AArch64 object with each call-site policy and register heuristic, linked
//! with the harness's small C runtime (`tests/aarch64/runtime.c`, built with clang-19 so that
//! `preserve_most` and `regcall` entries exist), run natively and under `qemu-aarch64`, and
//! the two runs must print the same line, which must also match the expected result.
//!
//! Needs `clang-19`, `aarch64-linux-gnu-gcc` and `qemu-aarch64` (`make deps` installs them).
//! Without them the test reports what is missing and passes, unless `EMBER_REQUIRE_QEMU=1`
//! (set by `make test-aarch64`), which turns a missing tool into a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::asm;
use ember::hir::{build, printer, Layout, Op};

const SYSROOT: &str = "/usr/aarch64-linux-gnu";

fn layout() -> Layout {
    Layout {
        localsplus_offset: 72,
        instr_ptr_offset: 56,
        code_base: 0x7f3a_1000_0000,
        none: 0x7f3a_2000_0000,
        true_: 0x7f3a_2000_0040,
        false_: 0x7f3a_2000_0080,
        immortal_singletons: true,
    }
}

/// The address of the harness's immortal int `i` (`CONST_INT` in runtime.c).
fn const_int(i: u64) -> u64 {
    0x7f3a_2000_2000 + 0x40 * i
}

fn text_of(nlocals: u32, argcount: u32, stacksize: u32, consts: Vec<u64>, code: &[(Op, &[i64])]) -> String {
    let mut w = asm(nlocals, argcount, stacksize, consts, code);
    w.layout = layout();
    printer::print(&build::build(&w).unwrap())
}

/// A program and its runs: (periodic result, int arguments, expected line prefix).
struct Program {
    name: &'static str,
    hir: String,
    runs: Vec<(i64, Vec<i64>, String)>,
}

fn ip(unit: u64) -> String {
    format!("{:#x}", layout().code_base + 2 * unit)
}

fn programs() -> Vec<Program> {
    let sum_loop = common::SUM_LOOP;
    let max: &[(Op, &[i64])] = &[
        (Op::Resume, &[]),
        (Op::LoadFast, &[0]),
        (Op::LoadFast, &[1]),
        (Op::CompareOp, &[(4 << 5) | 16, 0, 4]),
        (Op::PopJumpIfFalse, &[7]),
        (Op::LoadFast, &[0]),
        (Op::ReturnValue, &[]),
        (Op::LoadFast, &[1]),
        (Op::ReturnValue, &[]),
    ];
    let floordiv: &[(Op, &[i64])] = &[
        (Op::Resume, &[]),
        (Op::LoadFast, &[0]),
        (Op::LoadFast, &[0]),
        (Op::LoadFast, &[1]),
        (Op::BinaryOp, &[2, 0, 4]),
        (Op::BinaryOp, &[0, 0, 0]),
        (Op::ReturnValue, &[]),
    ];
    let raise: &[(Op, &[i64])] = &[(Op::Resume, &[]), (Op::LoadFast, &[0]), (Op::RaiseVarargs, &[1])];
    let shape = |f: ember::hir::Function| printer::print(&f);
    vec![
        Program {
            name: "sum_loop",
            hir: text_of(3, 1, 3, vec![const_int(0)], sum_loop),
            runs: vec![
                (0, vec![10], "result=45 raised=-1/-1 deopt=-1 periodic=11 calls=0".into()),
                (0, vec![0], "result=0 raised=-1/-1 deopt=-1 periodic=1 calls=0".into()),
                (1, vec![10], format!("result=DEOPT raised=-1/-1 deopt=0 periodic=1 calls=0 ip={}", ip(0))),
                (-1, vec![10], format!("result=NULL raised=0/0 deopt=-1 periodic=1 calls=0 ip={}", ip(0))),
            ],
        },
        Program {
            name: "max",
            hir: text_of(2, 2, 2, vec![], max),
            runs: vec![
                (0, vec![3, 2], "result=3 raised=-1/-1".into()),
                (0, vec![2, 3], "result=3 raised=-1/-1".into()),
                (0, vec![-5, -5], "result=-5 raised=-1/-1".into()),
            ],
        },
        Program {
            name: "floordiv",
            hir: text_of(2, 2, 3, vec![], floordiv),
            runs: vec![
                (0, vec![7, 0], format!("result=NULL raised=4/1 deopt=-1 periodic=1 calls=0 ip={} err=1", ip(4))),
                (0, vec![7, 2], "result=10 raised=-1/-1".into()),
                (0, vec![-7, 2], "result=-11 raised=-1/-1".into()),
            ],
        },
        Program {
            name: "raise",
            hir: text_of(1, 1, 1, vec![], raise),
            runs: vec![(0, vec![1], format!("result=NULL raised=2/0 deopt=-1 periodic=1 calls=0 ip={} err=1", ip(2)))],
        },
        Program {
            name: "calls3",
            hir: shape(ember::codesize::calls(3).unwrap()),
            runs: vec![(0, vec![], "result=None raised=-1/-1 deopt=-1 periodic=1 calls=3".into())],
        },
        Program {
            name: "chain5",
            hir: shape(ember::codesize::chain(5).unwrap()),
            runs: vec![(0, vec![7], "result=-7 raised=-1/-1".into()), (0, vec![-3], "result=3 raised=-1/-1".into())],
        },
        Program {
            name: "checks4",
            hir: shape(ember::codesize::checks(4).unwrap()),
            runs: vec![
                (0, vec![1, 2, 3, 4], "result=(1,2,3,4) raised=-1/-1".into()),
                (0, vec![1, 2], format!("result=NULL raised=3/2 deopt=-1 periodic=1 calls=0 ip={} err=1", ip(3))),
            ],
        },
    ]
}

/// A compile configuration: label, `ember-compile` flags, C defines for the runtime.
fn variants() -> Vec<(&'static str, Vec<&'static str>, Vec<&'static str>)> {
    vec![
        ("auto", vec!["--policy", "auto"], vec![]),
        ("none", vec!["--policy", "none"], vec![]),
        ("named", vec!["--policy", "named"], vec![]),
        ("got", vec!["--policy", "got"], vec![]),
        ("table", vec!["--policy", "table"], vec![]),
        ("absolute", vec!["--policy", "absolute"], vec!["-DEMBER_ABSOLUTE"]),
        ("hybrid", vec!["--policy", "hybrid"], vec!["-DEMBER_ABSOLUTE"]),
        ("preserve_most", vec!["--policy", "auto", "--preserve-most"], vec!["-DEMBER_PRESERVE_MOST"]),
        ("call_chain", vec!["--policy", "auto", "--call-chain"], vec!["-DEMBER_REGCALL"]),
        ("opt0", vec!["--policy", "auto", "--opt", "0"], vec![]),
    ]
}

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd).arg(arg).output().map(|o| o.status.success()).unwrap_or(false)
}

fn run(cmd: &mut Command) -> String {
    let mut o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    // The runtime maps its constant page and trampolines at fixed addresses the programs name
    // (MAP_FIXED_NOREPLACE). Rarely, under qemu-user, the guest address space already holds
    // something there and the process exits before running anything; that is set-up, not a
    // result, so such a start is retried (a few times at most).
    for _ in 0..3 {
        let err = String::from_utf8_lossy(&o.stderr);
        if o.status.success() || !(err.contains("mmap const page") || err.contains("mmap trampolines")) {
            break;
        }
        o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    }
    assert!(o.status.success(), "{cmd:?} failed: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn helpers_header(dir: &Path) {
    let addrs = ember::passes_llvm::synthetic_addresses();
    let mut s = String::from("static const struct HelperAddr HELPER_ADDRS[] = {\n");
    for h in ember::lower::helpers::HELPERS {
        s += &format!("    {{\"{}\", {:#x}ull}},\n", h.name, addrs[h.name]);
    }
    s += "};\n";
    std::fs::write(dir.join("helpers_gen.h"), s).unwrap();
}

#[test]
fn aarch64_objects_agree_with_x86_64_under_qemu() {
    let missing: Vec<&str> = [("clang-19", "--version"), ("aarch64-linux-gnu-gcc", "--version"), ("qemu-aarch64", "--version")]
        .into_iter()
        .filter(|(c, a)| !have(c, a))
        .map(|(c, _)| c)
        .collect();
    if !missing.is_empty() {
        let msg = format!("AArch64 qemu harness: missing {missing:?} (run `make deps`)");
        assert!(std::env::var("EMBER_REQUIRE_QEMU").is_err(), "{msg}");
        eprintln!("SKIPPED: {msg}");
        return;
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("ember-qemu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    helpers_header(&dir);
    let rt = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aarch64/runtime.c");
    let compiler = env!("CARGO_BIN_EXE_ember-compile");
    let progs = programs();
    let mut checked = 0;
    for (label, flags, defines) in variants() {
        let rt_x86 = dir.join(format!("rt-{label}-x86_64.o"));
        let rt_a64 = dir.join(format!("rt-{label}-aarch64.o"));
        run(Command::new("clang-19")
            .args(["-O2", "-c"])
            .arg(format!("-I{}", dir.display()))
            .args(&defines)
            .arg(&rt)
            .arg("-o")
            .arg(&rt_x86));
        run(Command::new("clang-19")
            .args(["--target=aarch64-linux-gnu", "-O2", "-c"])
            .arg(format!("-I{}", dir.display()))
            .args(&defines)
            .arg(&rt)
            .arg("-o")
            .arg(&rt_a64));
        for p in &progs {
            let hir = dir.join(format!("{}.hir", p.name));
            std::fs::write(&hir, &p.hir).unwrap();
            let mut exes = vec![];
            for target in ["x86_64", "aarch64"] {
                let obj = dir.join(format!("{}-{label}-{target}.o", p.name));
                let exe = dir.join(format!("{}-{label}-{target}", p.name));
                run(Command::new(compiler).args(["--target", target]).args(&flags).arg(&hir).arg("-o").arg(&obj));
                let rt_obj = if target == "x86_64" { &rt_x86 } else { &rt_a64 };
                let linker = if target == "x86_64" { "clang-19" } else { "aarch64-linux-gnu-gcc" };
                run(Command::new(linker).arg(rt_obj).arg(&obj).arg("-o").arg(&exe));
                exes.push(exe);
            }
            for (periodic, args, want) in &p.runs {
                let argv: Vec<String> = std::iter::once(periodic.to_string()).chain(args.iter().map(|a| a.to_string())).collect();
                let x86 = run(Command::new(&exes[0]).args(&argv));
                let a64 = run(Command::new("qemu-aarch64").args(["-L", SYSROOT]).arg(&exes[1]).args(&argv));
                assert_eq!(x86, a64, "{} {label} {argv:?}: x86-64 and AArch64 disagree", p.name);
                assert!(x86.starts_with(want.as_str()), "{} {label} {argv:?}: got {x86:?}, want prefix {want:?}", p.name);
                assert!(x86.trim_end().ends_with("live=0"), "{} {label} {argv:?}: leaked objects: {x86}", p.name);
                checked += 1;
            }
        }
    }
    eprintln!("AArch64 qemu harness: {checked} runs agree ({} programs x {} variants)", progs.len(), variants().len());
    let _ = std::fs::remove_dir_all(&dir);
}
