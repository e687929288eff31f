//! The HIR text form, printing side.
//!
//! ```text
//! function mod:qual nlocals=2 argcount=2 stacksize=3
//! layout localsplus=72 instr_ptr=56 code_base=0x1000 none=0x10 true=0x20 false=0x30 immortal=1
//! consts [0x7f0000001000, 0x7f0000001010]
//! bb0:
//!   v0 = LoadFast<0>
//!   v1 = LoadFast<1>
//!   v2 = BinaryOp<0, 1, 0> v0 v1 @6[]
//!   ReturnValue v2
//! ```
//! A value's type is written at its definition (`v3:opt` for [`Type::OptObject`], `v7:Float`,
//! `v8:CDouble`; nothing for [`Type::Object`]); a type immediate by name (`GuardType<Float>`); a frame
//! state is `@<code unit>[<stack values>]`; successors are `-> bb1(v2), bb2()`. Callees
//! ([`crate::hir::Callee`]) follow the blocks, each as `callee @<site> code=<handle>`, the
//! callee's own text, and `endcallee`.
//! [`crate::hir::parser`] reads exactly this form back.

use std::fmt::Write;

use crate::hir::{BlockCall, Function, Instr, Op, Type, Value};

fn def(f: &Function, v: Value) -> String {
    match f.ty(v) {
        Type::Object => format!("v{}", v.0),
        t => format!("v{}:{}", v.0, t.name()),
    }
}

fn vals(vs: &[Value]) -> String {
    vs.iter().map(|v| format!("v{}", v.0)).collect::<Vec<_>>().join(" ")
}

fn call(c: &BlockCall) -> String {
    format!("bb{}({})", c.block.0, c.args.iter().map(|v| format!("v{}", v.0)).collect::<Vec<_>>().join(", "))
}

/// Formats one instruction (without indentation or newline).
pub fn print_instr(f: &Function, ins: &Instr) -> String {
    let mut s = String::new();
    if !ins.results.is_empty() {
        let r: Vec<String> = ins.results.iter().map(|v| def(f, *v)).collect();
        write!(s, "{} = ", r.join(", ")).unwrap();
    }
    s.push_str(ins.op.info().name);
    if !ins.imms.is_empty() {
        let i: Vec<String> = ins
            .imms
            .iter()
            .enumerate()
            .map(|(k, x)| match (ins.op, k) {
                (Op::GuardType, 0) => u8::try_from(*x).ok().and_then(Type::from_u8).map_or_else(|| x.to_string(), |t| t.name().to_string()),
                _ => x.to_string(),
            })
            .collect();
        write!(s, "<{}>", i.join(", ")).unwrap();
    }
    if !ins.args.is_empty() {
        write!(s, " {}", vals(&ins.args)).unwrap();
    }
    if !ins.targets.is_empty() {
        let t: Vec<String> = ins.targets.iter().map(call).collect();
        write!(s, " -> {}", t.join(", ")).unwrap();
    }
    if let Some(fs) = &ins.fs {
        let mut stack = vals(&fs.stack);
        for (k, v) in &fs.locals {
            if !stack.is_empty() {
                stack.push(' ');
            }
            write!(stack, "L{k}=v{}", v.0).unwrap();
        }
        match &fs.inlined {
            None => write!(s, " @{}[{}]", fs.bc, stack).unwrap(),
            Some(r) if stack.is_empty() => write!(s, " @{}[| {}]", fs.bc, vals(r)).unwrap(),
            Some(r) => write!(s, " @{}[{} | {}]", fs.bc, stack, vals(r)).unwrap(),
        }
    }
    s
}

/// Formats a whole function in the text form.
pub fn print(f: &Function) -> String {
    let mut s = String::new();
    let nospec = if f.speculate { "" } else { " nospec" };
    writeln!(s, "function {} nlocals={} argcount={} stacksize={}{nospec}", f.full_name(), f.nlocalsplus, f.argcount, f.stacksize).unwrap();
    let l = &f.layout;
    writeln!(
        s,
        "layout localsplus={} instr_ptr={} code_base={:#x} none={:#x} true={:#x} false={:#x} immortal={}",
        l.localsplus_offset, l.instr_ptr_offset, l.code_base, l.none, l.true_, l.false_, l.immortal_singletons as u8
    )
    .unwrap();
    let c: Vec<String> = f
        .consts
        .iter()
        .enumerate()
        .map(|(k, x)| match f.const_type(k as i64) {
            Type::Object => format!("{x:#x}"),
            t => format!("{x:#x}:{}", t.name()),
        })
        .collect();
    writeln!(s, "consts [{}]", c.join(", ")).unwrap();
    for (i, b) in f.blocks.iter().enumerate() {
        if b.params.is_empty() {
            writeln!(s, "bb{i}:").unwrap();
        } else {
            let p: Vec<String> = b.params.iter().map(|v| def(f, *v)).collect();
            writeln!(s, "bb{i}({}):", p.join(", ")).unwrap();
        }
        for ins in b.instrs.iter().chain(std::iter::once(&b.term)) {
            writeln!(s, "  {}", print_instr(f, ins)).unwrap();
        }
    }
    for c in &f.callees {
        writeln!(s, "callee @{} code={:#x}", c.site, c.code).unwrap();
        s.push_str(&print(&c.body));
        writeln!(s, "endcallee").unwrap();
    }
    s
}
