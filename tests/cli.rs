//! `ember-compile`: the same HIR text compiled to relocatable objects for both targets.

use std::process::Command;

const ADD: &str = "function t:add nlocals=2 argcount=2 stacksize=2
layout localsplus=72 instr_ptr=56 code_base=0x1000 none=0x10 true=0x20 false=0x30 immortal=1
consts []
bb0:
  Resume @0[]
  v0 = LoadFast<0>
  v1 = LoadFast<1>
  v2 = BinaryOp<0, 1, 0> v0 v1 @3[]
  ReturnValue v2
";

#[test]
fn emits_elf_objects_for_both_targets() {
    let dir = std::env::temp_dir().join(format!("ember-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("add.hir");
    std::fs::write(&input, ADD).unwrap();
    for (target, machine) in [("x86_64", 62u16), ("aarch64", 183u16)] {
        let out = dir.join(format!("add-{target}.o"));
        let st =
            Command::new(env!("CARGO_BIN_EXE_ember-compile")).args(["--target", target]).arg(&input).arg("-o").arg(&out).status().unwrap();
        assert!(st.success(), "{target}");
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(&bytes[..4], b"\x7fELF", "{target}");
        assert_eq!(u16::from_le_bytes([bytes[18], bytes[19]]), machine, "ELF e_machine for {target}");
        assert_eq!(u16::from_le_bytes([bytes[16], bytes[17]]), 1, "ET_REL");
    }
    let bad = dir.join("bad.hir");
    std::fs::write(&bad, ADD.replace("BinaryOp<0, 1, 0>", "BinaryOp<0>")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ember-compile")).arg(&bad).arg("-o").arg(dir.join("x.o")).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("BinaryOp takes 3 immediates"), "{}", String::from_utf8_lossy(&o.stderr));
}
