//! `ember-compile`: compiles a function in the HIR text form to a relocatable object file for
//! x86-64 or AArch64 (runtime helpers stay external symbols), or prints its LLVM IR.
//!
//! ```text
//! ember-compile [--target x86_64|aarch64] [--opt 0|1|2] [--emit obj|ir] IN.hir -o OUT
//! ```

use std::process::ExitCode;

use inkwell::context::Context;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::FileType;
use inkwell::OptimizationLevel;

fn triple_of(t: &str) -> Option<&'static str> {
    match t {
        "x86_64" | "x86-64" | "x86_64-unknown-linux-gnu" => Some("x86_64-unknown-linux-gnu"),
        "aarch64" | "arm64" | "aarch64-unknown-linux-gnu" => Some("aarch64-unknown-linux-gnu"),
        _ => None,
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (mut target, mut opt, mut emit, mut input, mut output) = ("x86_64".to_string(), 2u32, "obj".to_string(), None, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--target" => target = args.next().ok_or("--target needs a value")?,
            "--opt" => opt = args.next().ok_or("--opt needs a value")?.parse().map_err(|_| "bad --opt")?,
            "--emit" => emit = args.next().ok_or("--emit needs a value")?,
            "-o" => output = Some(args.next().ok_or("-o needs a path")?),
            "-h" | "--help" => {
                println!("usage: ember-compile [--target x86_64|aarch64] [--opt 0|1|2] [--emit obj|ir] IN.hir -o OUT");
                return Ok(());
            }
            _ => input = Some(a),
        }
    }
    let input = input.ok_or("no input file (see --help)")?;
    let output = output.ok_or("no output file (-o)")?;
    let triple = triple_of(&target).ok_or_else(|| format!("unknown target {target}"))?;
    let text = std::fs::read_to_string(&input).map_err(|e| format!("{input}: {e}"))?;
    let mut f = ember::hir::parser::parse(&text).map_err(|e| e.to_string())?;
    ember::passes::run_all(&mut f).map_err(|e| e.to_string())?;
    let level = if opt == 0 { OptimizationLevel::None } else { OptimizationLevel::Default };
    let tm = ember::orc::target_machine(triple, level).map_err(|e| e.to_string())?;
    let ctx = Context::create();
    let ctx_ref = unsafe { inkwell::context::ContextRef::new(ctx.raw()) };
    let m = ember::lower::lower(ctx_ref, &f, "ember_fn").map_err(|e| e.to_string())?;
    m.set_triple(&inkwell::targets::TargetTriple::create(triple));
    m.set_data_layout(&tm.get_target_data().get_data_layout());
    if opt > 0 {
        let p = if opt == 1 { "default<O1>" } else { "default<O2>" };
        m.run_passes(p, &tm, PassBuilderOptions::create()).map_err(|e| e.to_string())?;
    }
    match emit.as_str() {
        "ir" => m.print_to_file(&output).map_err(|e| e.to_string())?,
        "obj" => tm.write_to_file(&m, FileType::Object, output.as_ref()).map_err(|e| e.to_string())?,
        other => return Err(format!("unknown --emit {other}")),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ember-compile: {e}");
            ExitCode::FAILURE
        }
    }
}
