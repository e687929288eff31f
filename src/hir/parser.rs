//! The HIR text form, parsing side: reads what [`crate::hir::printer`] writes.
//!
//! Used by tests to state input and expected output as text. Errors carry the line number;
//! the result is checked by [`crate::hir::verify::verify`].

use std::collections::HashMap;

use crate::error::EmberError;
use crate::hir::op::Op;
use crate::hir::{Block, BlockCall, BlockId, FrameState, Function, Instr, Layout, Type, Value};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Num(i64),
    Punct(char),
    Arrow,
}

fn tokenize(line: &str, ln: usize) -> Result<Vec<Tok>, EmberError> {
    let cs: Vec<char> = line.chars().collect();
    let mut out = vec![];
    let mut i = 0;
    let err = |m: String| EmberError::Parse(format!("line {ln}: {m}"));
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && cs.get(i + 1) == Some(&'>') {
            out.push(Tok::Arrow);
            i += 2;
        } else if c.is_ascii_digit() || (c == '-' && cs.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let st = i;
            i += 1;
            while i < cs.len() && (cs[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            let s: String = cs[st..i].iter().collect();
            let (neg, body) = match s.strip_prefix('-') {
                Some(b) => (true, b),
                None => (false, s.as_str()),
            };
            let v = if let Some(h) = body.strip_prefix("0x") {
                u64::from_str_radix(h, 16).map(|x| x as i64)
            } else {
                body.parse::<u64>().map(|x| x as i64)
            }
            .map_err(|_| err(format!("bad number {s:?}")))?;
            out.push(Tok::Num(if neg { v.wrapping_neg() } else { v }));
        } else if c.is_alphabetic() || c == '_' {
            let st = i;
            while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            out.push(Tok::Word(cs[st..i].iter().collect()));
        } else if "=<>,()[]:@|".contains(c) {
            out.push(Tok::Punct(c));
            i += 1;
        } else {
            return Err(err(format!("unexpected character {c:?}")));
        }
    }
    Ok(out)
}

struct P<'a> {
    t: &'a [Tok],
    i: usize,
    ln: usize,
}

impl P<'_> {
    fn err(&self, m: impl std::fmt::Display) -> EmberError {
        EmberError::Parse(format!("line {}: {m}", self.ln))
    }
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: char) -> Result<(), EmberError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(format!("expected {c:?}")))
        }
    }
    fn num(&mut self) -> Result<i64, EmberError> {
        match self.peek() {
            Some(Tok::Num(n)) => {
                let n = *n;
                self.i += 1;
                Ok(n)
            }
            _ => Err(self.err("expected a number")),
        }
    }
    fn word(&mut self) -> Result<String, EmberError> {
        match self.peek() {
            Some(Tok::Word(w)) => {
                let w = w.clone();
                self.i += 1;
                Ok(w)
            }
            _ => Err(self.err("expected a word")),
        }
    }
    /// `vN` or `vN:<type>` (`opt`, `Float`, `CDouble`, ...), returning the value and, at a definition, its type.
    fn value(&mut self) -> Result<(Value, Type), EmberError> {
        let w = self.word()?;
        let n = w.strip_prefix('v').and_then(|d| d.parse::<u32>().ok()).ok_or_else(|| self.err(format!("expected a value, got {w:?}")))?;
        let mut ty = Type::Object;
        if self.eat(':') {
            let t = self.word()?;
            ty = Type::from_name(&t).ok_or_else(|| self.err(format!("unknown type {t:?}")))?;
        }
        Ok((Value(n), ty))
    }
    /// `L<slot>` (a frame-state local, followed by `=v<n>`): consumes it and returns the slot.
    fn local_slot(&mut self) -> Option<u32> {
        let k = match self.peek() {
            Some(Tok::Word(w)) => w.strip_prefix('L').and_then(|d| d.parse::<u32>().ok())?,
            _ => return None,
        };
        self.i += 1;
        Some(k)
    }
    fn is_value(&self) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.starts_with('v') && w[1..].parse::<u32>().is_ok())
    }
    fn block(&mut self) -> Result<BlockId, EmberError> {
        let w = self.word()?;
        w.strip_prefix("bb")
            .and_then(|d| d.parse::<u32>().ok())
            .map(BlockId)
            .ok_or_else(|| self.err(format!("expected a block, got {w:?}")))
    }
    fn kv(&mut self, key: &str) -> Result<i64, EmberError> {
        let w = self.word()?;
        if w != key {
            return Err(self.err(format!("expected {key}=, got {w:?}")));
        }
        self.expect('=')?;
        self.num()
    }
}

/// Parses a function from the text form.
///
/// Errors: [`EmberError::Parse`] with the line number for any syntax error, unknown opcode,
/// out-of-order block, or a value used but never defined; [`EmberError::Verify`] when the
/// parsed function fails [`crate::hir::verify::verify`].
pub fn parse(text: &str) -> Result<Function, EmberError> {
    let all: Vec<(usize, &str)> =
        text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty() && !l.starts_with('#')).collect();
    // The function's own lines end at its first `callee` line; each callee runs to `endcallee`.
    let own = all.iter().position(|(_, l)| l.starts_with("callee ")).unwrap_or(all.len());
    let mut f = parse_one(&all[..own])?;
    let mut rest = &all[own..];
    while let Some(&(ln, head)) = rest.first() {
        let toks = tokenize(head.strip_prefix("callee").unwrap_or(head), ln)?;
        let mut p = P { t: &toks, i: 0, ln };
        p.expect('@')?;
        let site = u32::try_from(p.num()?).map_err(|_| p.err("bad callee site"))?;
        let code = p.kv("code")? as u64;
        let end = rest.iter().position(|(_, l)| *l == "endcallee").ok_or_else(|| p.err("callee without endcallee"))?;
        let body = parse_one(&rest[1..end])?;
        f.callees.push(crate::hir::Callee { site, code, body });
        rest = &rest[end + 1..];
    }
    Ok(f)
}

/// Parses one function's lines (no callees).
fn parse_one(all: &[(usize, &str)]) -> Result<Function, EmberError> {
    let mut lines = all.iter().copied();
    let mut next = |what: &str| lines.next().ok_or_else(|| EmberError::Parse(format!("missing {what} line")));
    let (ln, head) = next("function")?;
    let rest = head.strip_prefix("function ").ok_or_else(|| EmberError::Parse(format!("line {ln}: expected 'function'")))?;
    let (name, attrs) = rest.split_once(' ').ok_or_else(|| EmberError::Parse(format!("line {ln}: missing attributes")))?;
    let (module, qualname) = name.split_once(':').ok_or_else(|| EmberError::Parse(format!("line {ln}: name must be module:qualname")))?;
    let toks = tokenize(attrs.replace("nospec", "").trim_end(), ln)?;
    let mut p = P { t: &toks, i: 0, ln };
    let nlocalsplus = p.kv("nlocals")? as u32;
    let argcount = p.kv("argcount")? as u32;
    let stacksize = p.kv("stacksize")? as u32;
    let (ln, lay) = next("layout")?;
    let toks = tokenize(lay.strip_prefix("layout").unwrap_or(lay), ln)?;
    let mut p = P { t: &toks, i: 0, ln };
    let layout = Layout {
        localsplus_offset: p.kv("localsplus")? as u32,
        instr_ptr_offset: p.kv("instr_ptr")? as u32,
        code_base: p.kv("code_base")? as u64,
        none: p.kv("none")? as u64,
        true_: p.kv("true")? as u64,
        false_: p.kv("false")? as u64,
        immortal_singletons: p.kv("immortal")? != 0,
    };
    let (ln, cl) = next("consts")?;
    let toks = tokenize(cl.strip_prefix("consts").unwrap_or(cl), ln)?;
    let mut p = P { t: &toks, i: 0, ln };
    p.expect('[')?;
    let mut consts = vec![];
    let mut const_types = vec![];
    while !p.eat(']') {
        consts.push(p.num()? as u64);
        let mut t = Type::Object;
        if p.eat(':') {
            let w = p.word()?;
            t = Type::from_name(&w)
                .filter(|t| !t.is_unboxed() && *t != Type::OptObject)
                .ok_or_else(|| p.err(format!("bad constant type {w:?}")))?;
        }
        const_types.push(t);
        p.eat(',');
    }
    let mut f = Function {
        module: module.into(),
        qualname: qualname.into(),
        nlocalsplus,
        argcount,
        stacksize,
        layout,
        consts,
        const_types,
        blocks: vec![],
        types: vec![],
        speculate: !attrs.split_whitespace().any(|w| w == "nospec"),
        callees: vec![],
    };
    let mut types: HashMap<u32, Type> = HashMap::new();
    let mut define = |p: &P, v: Value, t: Type| -> Result<(), EmberError> {
        if types.insert(v.0, t).is_some() {
            return Err(p.err(format!("v{} defined twice", v.0)));
        }
        Ok(())
    };
    let mut used = vec![];
    let mut cur: Option<(Vec<Value>, Vec<Instr>)> = None;
    for (ln, line) in lines {
        let toks = tokenize(line, ln)?;
        let mut p = P { t: &toks, i: 0, ln };
        if line.starts_with("bb") && line.ends_with(':') {
            if cur.is_some() {
                return Err(p.err("previous block has no terminator"));
            }
            let id = p.block()?;
            if id.0 as usize != f.blocks.len() {
                return Err(p.err(format!("expected bb{}", f.blocks.len())));
            }
            let mut params = vec![];
            if p.eat('(') {
                while !p.eat(')') {
                    let (v, t) = p.value()?;
                    define(&p, v, t)?;
                    params.push(v);
                    p.eat(',');
                }
            }
            p.expect(':')?;
            cur = Some((params, vec![]));
            continue;
        }
        let (_, instrs) = cur.as_mut().ok_or_else(|| p.err("instruction outside a block"))?;
        // results
        let mut results = vec![];
        // A result list ends at the first `=` before any `@` (a frame state's `L<k>=v<n>`
        // has one too).
        let has_eq = toks.iter().take_while(|t| **t != Tok::Punct('@')).any(|t| *t == Tok::Punct('='));
        if has_eq {
            loop {
                let (v, t) = p.value()?;
                define(&p, v, t)?;
                results.push(v);
                if !p.eat(',') {
                    break;
                }
            }
            p.expect('=')?;
        }
        let opname = p.word()?;
        let op = Op::from_name(&opname).ok_or_else(|| p.err(format!("unknown opcode {opname:?}")))?;
        let mut imms = vec![];
        if p.eat('<') {
            while !p.eat('>') {
                // A type immediate is written by name (`GuardType<Float>`).
                if let Some(Tok::Word(w)) = p.peek() {
                    if let Some(t) = Type::from_name(w) {
                        p.i += 1;
                        imms.push(t as i64);
                        p.eat(',');
                        continue;
                    }
                }
                imms.push(p.num()?);
                p.eat(',');
            }
        }
        let mut args = vec![];
        while p.is_value() {
            let (v, _) = p.value()?;
            used.push((ln, v));
            args.push(v);
        }
        let mut targets = vec![];
        if p.peek() == Some(&Tok::Arrow) {
            p.i += 1;
            loop {
                let block = p.block()?;
                let mut a = vec![];
                p.expect('(')?;
                while !p.eat(')') {
                    let (v, _) = p.value()?;
                    used.push((ln, v));
                    a.push(v);
                    p.eat(',');
                }
                targets.push(BlockCall { block, args: a });
                if !p.eat(',') {
                    break;
                }
            }
        }
        let mut fs = None;
        if p.eat('@') {
            let bc = p.num()? as u32;
            p.expect('[')?;
            let (mut stack, mut inlined, mut locals) = (vec![], None, vec![]);
            while !p.eat(']') {
                if p.eat('|') {
                    inlined = Some(vec![]);
                    continue;
                }
                if let Some(k) = p.local_slot() {
                    p.expect('=')?;
                    let (v, _) = p.value()?;
                    used.push((ln, v));
                    locals.push((k, v));
                    continue;
                }
                let (v, _) = p.value()?;
                used.push((ln, v));
                match &mut inlined {
                    Some(r) => r.push(v),
                    None => stack.push(v),
                }
            }
            fs = Some(FrameState { bc, stack, inlined, locals });
        }
        if p.i != toks.len() {
            return Err(p.err("unexpected tokens at the end of the line"));
        }
        if op.info().nimm != imms.len() {
            return Err(p.err(format!("{opname} takes {} immediates, got {}", op.info().nimm, imms.len())));
        }
        let ins = Instr { op, imms, args, results, targets, fs };
        if op.info().terminator {
            let (params, instrs) = cur.take().unwrap();
            f.blocks.push(Block { params, instrs, term: ins });
        } else {
            instrs.push(ins);
        }
    }
    if cur.is_some() {
        return Err(EmberError::Parse("last block has no terminator".into()));
    }
    let max = types.keys().copied().max().map(|m| m + 1).unwrap_or(0);
    for (ln, v) in used {
        if !types.contains_key(&v.0) {
            return Err(EmberError::Parse(format!("line {ln}: v{} is used but never defined", v.0)));
        }
    }
    f.types = (0..max).map(|i| types.get(&i).copied().unwrap_or(Type::Object)).collect();
    crate::hir::verify::verify(&f)?;
    Ok(f)
}
