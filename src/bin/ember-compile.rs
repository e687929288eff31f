//! `ember-compile`: compiles a function in the HIR text form to a relocatable object file for
//! x86-64 or AArch64 (runtime helpers stay external symbols, or are reached as the call-site
//! policy says), or prints its LLVM IR.
//!
//! ```text
//! ember-compile [--target x86_64|aarch64] [--opt 0|1|2] [--emit obj|ir]
//!               [--policy auto|named|got|table|absolute|hybrid|none] [--shared-exits|--no-shared-exits]
//!               [--preserve-most] [--call-chain] [--symbol NAME] IN.hir -o OUT
//! ember-compile --list-helpers      # helper name and synthetic address (absolute policy)
//! ```

use std::process::ExitCode;

use ember::cross::{self, Emit, ObjectOptions};
use ember::passes_llvm::{Options, Policy, Target};

const USAGE: &str = "usage: ember-compile [--target x86_64|aarch64] [--opt 0|1|2] [--emit obj|ir] \
[--policy auto|named|got|table|absolute|hybrid|none] [--shared-exits|--no-shared-exits] [--preserve-most] [--call-chain] \
[--symbol NAME] IN.hir -o OUT\n       ember-compile --list-helpers";

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (mut target, mut emit, mut input, mut output) = (Target::X86_64, Emit::Object, None, None);
    let mut o = ObjectOptions::new(Target::X86_64);
    let mut policy = Some(Policy::Auto);
    let mut pm = false;
    let mut chain = false;
    let mut share = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--target" => {
                let t = args.next().ok_or("--target needs a value")?;
                target = Target::parse(&t).ok_or_else(|| format!("unknown target {t}"))?;
            }
            "--opt" => o.opt_level = args.next().ok_or("--opt needs a value")?.parse().map_err(|_| "bad --opt")?,
            "--emit" => {
                emit = match args.next().ok_or("--emit needs a value")?.as_str() {
                    "obj" => Emit::Object,
                    "ir" => Emit::Ir,
                    other => return Err(format!("unknown --emit {other}")),
                }
            }
            "--policy" => {
                let p = args.next().ok_or("--policy needs a value")?;
                policy = if p == "none" { None } else { Some(Policy::parse(&p).ok_or_else(|| format!("unknown policy {p}"))?) };
            }
            "--preserve-most" => pm = true,
            "--call-chain" => chain = true,
            "--no-shared-exits" => share = Some(false),
            "--shared-exits" => share = Some(true),
            "--symbol" => o.symbol = args.next().ok_or("--symbol needs a value")?,
            "--list-helpers" => {
                let addrs = ember::passes_llvm::synthetic_addresses();
                for h in ember::lower::helpers::HELPERS {
                    println!("{} {:#x}", h.name, addrs[h.name]);
                }
                return Ok(());
            }
            "-o" => output = Some(args.next().ok_or("-o needs a path")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ => input = Some(a),
        }
    }
    let input = input.ok_or("no input file (see --help)")?;
    let output = output.ok_or("no output file (-o)")?;
    let text = std::fs::read_to_string(&input).map_err(|e| format!("{input}: {e}"))?;
    let f = ember::hir::parser::parse(&text).map_err(|e| e.to_string())?;
    o.target = target;
    o.passes = policy.map(|p| {
        let share_exits = share.unwrap_or(Options::for_target(target).share_exits);
        Options { policy: p, preserve_most: pm, call_chain: chain, share_exits }
    });
    let out = cross::compile(f, &o, emit).map_err(|e| e.to_string())?;
    std::fs::write(&output, &out.bytes).map_err(|e| format!("{output}: {e}"))?;
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
