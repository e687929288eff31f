//! HIR filetests: each `tests/filetests/*.hir` file is a function in the HIR text form with a
//! first line `# passes: <name> <name> ...`; the test parses it, runs those passes in that
//! order ([`ember::passes::find`]), verifies the result, checks that its text form reads back
//! unchanged, and compares it with the snapshot `tests/snapshots/filetests__<file>.snap`
//! (insta: `cargo insta review` after an intended change).

use ember::hir::{parser, printer, verify};

#[test]
fn filetests() {
    insta::glob!("filetests/*.hir", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let passes: Vec<&str> = text
            .lines()
            .find_map(|l| l.strip_prefix("# passes:"))
            .unwrap_or_else(|| panic!("{}: no '# passes:' line", path.display()))
            .split_whitespace()
            .collect();
        let mut f = parser::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut counts = vec![];
        for name in &passes {
            let p = ember::passes::find(name).unwrap_or_else(|| panic!("{}: unknown pass {name}", path.display()));
            counts.push(format!("{name}: {}", (p.run)(&mut f)));
            verify::verify(&f).unwrap_or_else(|e| panic!("{}: after {name}: {e}", path.display()));
        }
        let out = printer::print(&f);
        let back = parser::parse(&out).unwrap_or_else(|e| panic!("{}: output does not parse: {e}\n{out}", path.display()));
        assert_eq!(printer::print(&back), out, "{}: the text form does not read back unchanged", path.display());
        insta::assert_snapshot!(format!("# {}\n{out}", counts.join(", ")));
    });
}
