#!/usr/bin/env python3
"""Code size and instruction counts of Ember's canonical call-heavy shapes, per target and
per call-site lowering policy, as markdown tables (Ember's answer to the seed work's from->to
tables).

    python3 bench/codesize.py [--opt 0|1|2] [--json FILE]

Runs `ember-codesize` (built with `cargo build --release --bins` if missing), which compiles
every shape for x86-64 and AArch64 with every policy and register heuristic and measures the
emitted objects: `.text` bytes, instructions, linker stubs (12 B on AArch64, 6 B on x86-64 per
distinct directly-called helper) and data (GOT entries, the per-module target table).
Sizes are deterministic; plain python3, no packages needed.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXE = os.path.join(ROOT, "target", "release", "ember-codesize")
POLICIES = ["none", "auto", "named", "got", "table", "absolute", "hybrid"]
TARGETS = ["x86_64", "aarch64"]


def measure(opt):
    if not os.path.exists(EXE):
        subprocess.run(["cargo", "build", "--release", "--bins"], cwd=ROOT, check=True)
    out = subprocess.run([EXE, "--opt", str(opt)], check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--opt", type=int, default=1, help="opt level (1 is the JIT default)")
    ap.add_argument("--json", help="also write the raw rows to this file")
    a = ap.parse_args()
    rows = measure(a.opt)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    get = {(r["shape"], r["target"], r["policy"], r["variant"]): r for r in rows}
    shapes = []
    for r in rows:
        if r["shape"] not in shapes:
            shapes.append(r["shape"])

    print(f"## Size per shape, target and call-site policy (opt level {a.opt})\n")
    print("code = .text + linker stubs; data = GOT entries + target table; `none` = no Ember LLVM pass; "
          "`auto` = the target's default (named calls, shared exits).\n")
    out = []
    for s in shapes:
        for t in TARGETS:
            for p in POLICIES:
                r = get[(s, t, p, "base")]
                out.append([s, t, p, r["code"], r["text"], r["insts"], r["stubs"], r["got_bytes"] + r["data_bytes"]])
    print(table(["shape", "target", "policy", "code B", ".text B", "insts", "stubs", "data B"], out))

    print("\n## Marginal bytes per Python call site (calls shape)\n")
    out = []
    for t in TARGETS:
        for p in POLICIES:
            c1, c2, c200 = (get[(f"calls{n}", t, p, "base")] for n in (1, 2, 200))
            out.append([t, p, c1["code"], c2["code"], c2["code"] - c1["code"], c200["code"],
                        f"{(c200['code'] - c1['code']) / 199:.1f}", f"{(c200['insts'] - c1['insts']) / 199:.1f}"])
    print(table(["target", "policy", "size1", "size2", "size2-size1", "size200", "B/site (200)", "insts/site (200)"], out))

    print("\n## Register heuristics and shared exits (policy auto): instructions (.text bytes)\n")
    out = []
    for s in shapes:
        for t in TARGETS:
            cell = lambda v: f"{get[(s, t, 'auto', v)]['insts']} ({get[(s, t, 'auto', v)]['text']})"
            base = get[(s, t, "auto", "base")]["insts"]
            d = lambda v: get[(s, t, "auto", v)]["insts"] - base
            out.append([s, t, cell("no_shared_exits"), cell("base"), cell("preserve_most"), f"{d('preserve_most'):+d}",
                        cell("call_chain"), f"{d('call_chain'):+d}"])
    print(table(["shape", "target", "separate exits", "auto", "preserve_most", "Δ insts", "call_chain", "Δ insts"], out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
