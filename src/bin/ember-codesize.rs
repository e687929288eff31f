//! `ember-codesize`: compiles the canonical call-heavy shapes ([`ember::codesize`]) for every
//! target and call-site policy and prints one JSON object per line: shape, target, policy,
//! variant (`base` = the target's defaults, `preserve_most`, `call_chain`, `no_shared_exits`,
//! `shared_exits`) and the measured sizes.
//! `bench/codesize.py` turns the lines into markdown tables.
//!
//! ```text
//! ember-codesize [--opt 0|1|2]
//! ```

use std::process::ExitCode;

use ember::codesize::{self, Size};
use ember::cross::{self, Emit, ObjectOptions};
use ember::hir::Function;
use ember::passes_llvm::{Options, Policy, Target};

fn row(shape: &str, t: Target, policy: &str, variant: &str, s: &Size) -> String {
    format!(
        "{{\"shape\":\"{shape}\",\"target\":\"{}\",\"policy\":\"{policy}\",\"variant\":\"{variant}\",\"text\":{},\"insts\":{},\"stubs\":{},\"stub_bytes\":{},\"got_bytes\":{},\"data_bytes\":{},\"code\":{},\"total\":{}}}",
        t.name(), s.text, s.insts, s.stubs, s.stub_bytes, s.got_bytes, s.data_bytes, s.code(), s.total()
    )
}

fn run() -> Result<(), String> {
    let mut opt = 2;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--opt" => opt = args.next().ok_or("--opt needs a value")?.parse().map_err(|_| "bad --opt")?,
            _ => return Err(format!("unknown argument {a}; usage: ember-codesize [--opt 0|1|2]")),
        }
    }
    type Shape = fn(usize) -> Result<Function, ember::EmberError>;
    let shapes: [(&str, Shape, &[usize]); 4] = [
        ("calls", codesize::calls, &[1, 2, 200]),
        ("distinct", codesize::distinct, &[1, 2, 200]),
        ("chain", codesize::chain, &[1, 2, 200]),
        ("checks", codesize::checks, &[1, 2, 16]),
    ];
    for (name, make, ns) in shapes {
        for &n in ns {
            for t in Target::ALL {
                let mut configs: Vec<(String, String, Option<Options>)> = vec![("none".into(), "base".into(), None)];
                for p in Policy::ALL {
                    configs.push((p.name().into(), "base".into(), Some(Options { policy: p, ..Options::for_target(t) })));
                }
                let d = Options::for_target(t);
                configs.push(("auto".into(), "no_shared_exits".into(), Some(Options { share_exits: false, ..d.clone() })));
                configs.push(("auto".into(), "shared_exits".into(), Some(Options { share_exits: true, ..d.clone() })));
                configs.push(("auto".into(), "preserve_most".into(), Some(Options { preserve_most: true, ..d.clone() })));
                configs.push(("auto".into(), "call_chain".into(), Some(Options { call_chain: true, ..d.clone() })));
                for (pname, variant, passes) in configs {
                    let mut o = ObjectOptions::new(t);
                    o.opt_level = opt;
                    o.passes = passes;
                    let f = make(n).map_err(|e| e.to_string())?;
                    let out = cross::compile(f, &o, Emit::Object).map_err(|e| format!("{name}{n} {t:?} {pname}: {e}"))?;
                    let s = codesize::measure(&out.bytes, t).map_err(|e| e.to_string())?;
                    println!("{}", row(&format!("{name}{n}"), t, &pname, &variant, &s));
                }
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ember-codesize: {e}");
            ExitCode::FAILURE
        }
    }
}
