//! HIR layer tests: wire decoding and validation, SSA construction, the text form round trip,
//! and robustness of every stage against malformed input (proptest).

mod common;

use common::asm;
use ember::hir::{build, parser, printer, verify, wire, Op};
use ember::EmberError;
use proptest::prelude::*;

fn sum_loop() -> wire::WireFunction {
    // def f(n): t = 0; for i in range(n): t = t + i; return t   (range elided: GET_ITER on n)
    asm(
        3,
        1,
        3,
        vec![0x10],
        &[
            (Op::Resume, &[]),          // 0
            (Op::LoadConst, &[0]),      // 1
            (Op::StoreFast, &[1]),      // 2
            (Op::LoadFast, &[0]),       // 3
            (Op::GetIter, &[]),         // 4
            (Op::ForIter, &[12, 0]),    // 5
            (Op::StoreFast, &[2]),      // 6
            (Op::LoadFast, &[1]),       // 7
            (Op::LoadFast, &[2]),       // 8
            (Op::BinaryOp, &[0, 0, 0]), // 9
            (Op::StoreFast, &[1]),      // 10
            (Op::JumpBackward, &[5]),   // 11
            (Op::LoadFast, &[1]),       // 12
            (Op::ReturnValue, &[]),     // 13
        ],
    )
}

#[test]
fn wire_round_trip() {
    let w = sum_loop();
    let bytes = wire::encode(&w);
    assert_eq!(wire::decode(&bytes).unwrap(), w);
}

#[test]
fn builds_expected_ssa() {
    let f = build::build(&sum_loop()).unwrap();
    let text = printer::print(&f);
    let body: String = text.lines().skip(3).map(|l| format!("{l}\n")).collect();
    assert_eq!(
        body,
        "bb0:\n  Resume @0[]\n  v0 = LoadConst<0>\n  StoreFast<1> v0\n  v1 = LoadFast<0>\n  v2 = GetIter v1 @4[]\n  Jump<5> -> bb1(v2)\n\
bb1(v3):\n  v4 = ForIter<12, 0> v3 -> bb2(v3, v4), bb3() @5[v3]\n\
bb2(v5, v6):\n  StoreFast<2> v6\n  v7 = LoadFast<1>\n  v8 = LoadFast<2>\n  v9 = BinaryOp<0, 0, 0> v7 v8 @9[v5]\n  StoreFast<1> v9\n  JumpBackward<5> -> bb1(v5) @11[v5]\n\
bb3:\n  v10 = LoadFast<1>\n  ReturnValue v10 @13[]\n"
    );
}

#[test]
fn text_round_trip() {
    let f = build::build(&sum_loop()).unwrap();
    let text = printer::print(&f);
    let g = parser::parse(&text).unwrap();
    assert_eq!(g, f);
    assert_eq!(printer::print(&g), text);
}

#[test]
fn parse_reports_line_of_error() {
    let f = build::build(&sum_loop()).unwrap();
    let text = printer::print(&f).replace("v9 = BinaryOp<0, 0, 0> v7 v8", "v9 = BinaryOpp<0, 0> v7 v8");
    match parser::parse(&text) {
        Err(EmberError::Parse(m)) => assert!(m.contains("line 17") && m.contains("BinaryOpp"), "{m}"),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn verify_rejects_undefined_value_and_bad_edge() {
    let f = build::build(&sum_loop()).unwrap();
    let mut g = f.clone();
    g.blocks[1].term.targets[0].args.pop();
    assert!(matches!(verify::verify(&g), Err(EmberError::Verify(m)) if m.contains("passes 1 values for 2 parameters")));
    let text = printer::print(&f).replace("ReturnValue v10 @13[]", "ReturnValue v99 @13[]");
    assert!(matches!(parser::parse(&text), Err(EmberError::Parse(m)) if m.contains("v99")));
}

#[test]
fn unsupported_opcode_is_named_only_when_reachable() {
    let reachable = asm(1, 0, 1, vec![1], &[(Op::Unsupported, &[85, 2]), (Op::LoadConst, &[0]), (Op::ReturnValue, &[])]);
    match build::build(&reachable) {
        Err(EmberError::Unsupported(m)) => assert!(m.contains("SETUP_ANNOTATIONS"), "{m}"),
        other => panic!("{other:?}"),
    }
    // The same opcode after a return (e.g. an exception handler) does not matter.
    let dead = asm(1, 0, 1, vec![1], &[(Op::LoadConst, &[0]), (Op::ReturnValue, &[]), (Op::Unsupported, &[85, 2])]);
    assert!(build::build(&dead).is_ok());
}

#[test]
fn stack_errors_are_reported() {
    let underflow = asm(1, 0, 1, vec![], &[(Op::PopTop, &[]), (Op::ReturnConst, &[0])]);
    assert!(matches!(wire::validate(&underflow), Err(EmberError::Wire(_))));
    let underflow = asm(1, 0, 1, vec![7], &[(Op::PopTop, &[]), (Op::ReturnConst, &[0])]);
    assert!(matches!(build::build(&underflow), Err(EmberError::Build(m)) if m.contains("underflow")));
    let too_deep =
        asm(1, 0, 1, vec![7], &[(Op::LoadConst, &[0]), (Op::LoadConst, &[0]), (Op::BinaryOp, &[0, 0, 0]), (Op::ReturnValue, &[])]);
    assert!(matches!(build::build(&too_deep), Err(EmberError::Build(m)) if m.contains("stacksize")));
    let falls_off = asm(1, 0, 1, vec![7], &[(Op::LoadConst, &[0]), (Op::PopTop, &[])]);
    assert!(matches!(build::build(&falls_off), Err(EmberError::Build(m)) if m.contains("falls off")));
}

#[test]
fn decode_rejects_malformed_headers() {
    let good = wire::encode(&sum_loop());
    let mut bad = good.clone();
    bad[0] ^= 0xff;
    assert!(matches!(wire::decode(&bad), Err(EmberError::Wire(m)) if m.contains("magic")));
    assert!(matches!(wire::decode(&good[..good.len() - 3]), Err(EmberError::Wire(m)) if m.contains("truncated")));
    let mut extra = good.clone();
    extra.push(0);
    assert!(matches!(wire::decode(&extra), Err(EmberError::Wire(m)) if m.contains("trailing")));
    let mut w = sum_loop();
    w.instrs[3].imms[0] = 99; // local out of range
    assert!(matches!(wire::decode(&wire::encode(&w)), Err(EmberError::Wire(m)) if m.contains("local 99")));
    let mut w = sum_loop();
    w.instrs[11].imms[0] = 77; // jump target out of range
    assert!(matches!(wire::decode(&wire::encode(&w)), Err(EmberError::Wire(m)) if m.contains("jump target")));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// Arbitrary bytes never panic the decoder or the builder.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(w) = wire::decode(&bytes) { let _ = build::build(&w); }
    }

    /// Corrupting any byte of a valid function gives an error or a function that still builds
    /// or fails cleanly: never a panic.
    #[test]
    fn corrupted_valid_input_never_panics(pos in 0usize..400, byte in any::<u8>()) {
        let mut bytes = wire::encode(&sum_loop());
        let p = pos % bytes.len();
        bytes[p] = byte;
        if let Ok(w) = wire::decode(&bytes) {
            if let Ok(f) = build::build(&w) { verify::verify(&f).unwrap(); }
        }
    }

    /// Random stack programs over a small opcode set never panic the builder, and whatever it
    /// builds verifies and survives the text round trip.
    #[test]
    fn random_programs_build_or_fail_cleanly(ops in proptest::collection::vec((0usize..8, 0i64..4), 1..24)) {
        let table = [Op::LoadConst, Op::LoadFast, Op::StoreFast, Op::PopTop, Op::BinaryOp, Op::ReturnValue, Op::PopJumpIfTrue, Op::Copy];
        let n = ops.len() as i64;
        let code: Vec<(Op, Vec<i64>)> = ops.iter().map(|&(k, x)| {
            let op = table[k];
            let imms = match op {
                Op::LoadConst | Op::LoadFast | Op::StoreFast => vec![x % 2],
                Op::BinaryOp => vec![0, 0, 0],
                Op::PopJumpIfTrue => vec![x % n],
                Op::Copy => vec![1 + x % 2],
                _ => vec![],
            };
            (op, imms)
        }).collect();
        let refs: Vec<(Op, &[i64])> = code.iter().map(|(o, i)| (*o, i.as_slice())).collect();
        let w = asm(2, 0, 4, vec![1, 2], &refs);
        if wire::validate(&w).is_ok() {
            if let Ok(f) = build::build(&w) {
                verify::verify(&f).unwrap();
                prop_assert_eq!(parser::parse(&printer::print(&f)).unwrap(), f);
            }
        }
    }
}

/// `def g(x): y = yield x; return y` as CPython 3.13 lays it out.
fn simple_generator() -> wire::WireFunction {
    asm(
        2,
        1,
        2,
        vec![0x10],
        &[
            (Op::ReturnGenerator, &[]), // 0
            (Op::PopTop, &[]),          // 1
            (Op::Resume, &[]),          // 2
            (Op::LoadFast, &[0]),       // 3
            (Op::YieldValue, &[0]),     // 4
            (Op::Resume, &[]),          // 5
            (Op::StoreFast, &[1]),      // 6
            (Op::LoadFast, &[1]),       // 7
            (Op::ReturnValue, &[]),     // 8
        ],
    )
}

#[test]
fn generator_gets_a_resume_dispatch() {
    // The entry dispatches on instr_ptr: the fresh call (unit 0), the first resumption after
    // RETURN_GENERATOR (unit 1, the sent value on the stack) and the resumption after the
    // yield (unit 5); any other suspension point goes to the interpreter (GenInterp).
    let f = build::build(&simple_generator()).unwrap();
    verify::verify(&f).unwrap();
    let text = printer::print(&f);
    let body: String = text.lines().skip(3).map(|l| format!("{l}\n")).collect();
    assert_eq!(
        body,
        "bb0:\n  ResumeAt<0, 0> -> bb1(), bb4()\n\
bb1:\n  ReturnGenerator @0[]\n\
bb2(v0):\n  PopTop v0\n  Resume @2[]\n  v1 = LoadFast<0>\n  YieldValue<0> v1 @5[]\n\
bb3(v2):\n  Resume @5[v2]\n  StoreFast<1> v2\n  v3 = LoadFast<1>\n  ReturnValue v3 @8[]\n\
bb4:\n  v4 = ResumeAt<1, 1> -> bb2(v4), bb5()\n\
bb5:\n  v5 = ResumeAt<5, 1> -> bb3(v5), bb6()\n\
bb6:\n  GenInterp\n"
    );
    let g = parser::parse(&text).unwrap();
    assert_eq!(g, f);
}

#[test]
fn async_for_ends_by_branching_past_end_async_for() {
    // async for i in x: yield i   then   return None   (an async generator body; the loop's
    // exception-table handler END_ASYNC_FOR (unit 16) is not compiled, its exit (17) is).
    let w = asm(
        2,
        1,
        4,
        vec![0x200],
        &[
            (Op::ReturnGenerator, &[]), // 0
            (Op::PopTop, &[]),          // 1
            (Op::LoadFast, &[0]),       // 2
            (Op::GetAiter, &[]),        // 3
            (Op::GetAnext, &[17, 0]),   // 4
            (Op::LoadConst, &[0]),      // 5
            (Op::Send, &[10, 17, 0]),   // 6
            (Op::YieldValue, &[1]),     // 7
            (Op::Nop, &[]),             // 8
            (Op::Jump, &[6]),           // 9
            (Op::EndSend, &[]),         // 10
            (Op::StoreFast, &[1]),      // 11
            (Op::LoadFast, &[1]),       // 12
            (Op::YieldValue, &[0]),     // 13
            (Op::PopTop, &[]),          // 14
            (Op::JumpBackward, &[4]),   // 15
            (Op::Unsupported, &[0, 0]), // 16 END_ASYNC_FOR
            (Op::ReturnConst, &[0]),    // 17
        ],
    );
    let f = build::build(&w).unwrap();
    verify::verify(&f).unwrap();
    let text = printer::print(&f);
    assert!(text.contains("GetAnext<17, 0>"), "{text}");
    assert!(text.contains("Send<10, 17, 0>"), "{text}");
    assert!(text.contains("ReturnValue"), "the code after the loop is compiled: {text}");
    assert!(!text.contains("Unsupported"), "END_ASYNC_FOR itself is not: {text}");
    // The exit edges carry no stack (the iterator and the awaitable are released on them).
    let exits: Vec<_> = f
        .blocks
        .iter()
        .flat_map(|b| {
            b.term
                .targets
                .iter()
                .skip(if b.term.op == Op::Send { 2 } else { 1 })
                .filter(|_| matches!(b.term.op, Op::Send | Op::GetAnext))
                .cloned()
        })
        .collect();
    assert_eq!(exits.len(), 2, "{text}");
    assert!(exits.iter().all(|e| e.args.is_empty() && e.block == exits[0].block), "{text}");
    let g = parser::parse(&text).unwrap();
    assert_eq!(printer::print(&g), text);
    // A depth above the stack at the loop is malformed input, not a crash.
    let mut bad = w.clone();
    bad.instrs[4].imms = vec![17, 3];
    assert!(build::build(&bad).is_err());
}

#[test]
fn send_keeps_the_receiver_and_branches_with_the_result() {
    // yield from x:  GET_YIELD_FROM_ITER, LOAD_CONST None, SEND, YIELD_VALUE 1, RESUME,
    // JUMP_BACKWARD_NO_INTERRUPT (a plain Jump), END_SEND.
    let w = asm(
        1,
        1,
        3,
        vec![0x10],
        &[
            (Op::ReturnGenerator, &[]),  // 0
            (Op::PopTop, &[]),           // 1
            (Op::LoadFast, &[0]),        // 2
            (Op::GetYieldFromIter, &[]), // 3
            (Op::LoadConst, &[0]),       // 4
            (Op::Send, &[9, -1, 0]),     // 5 (no async for exit)
            (Op::YieldValue, &[1]),      // 6
            (Op::Nop, &[]),              // 7 (RESUME 2: no eval-breaker check)
            (Op::Jump, &[5]),            // 8
            (Op::EndSend, &[]),          // 9
            (Op::ReturnValue, &[]),      // 10
        ],
    );
    let f = build::build(&w).unwrap();
    verify::verify(&f).unwrap();
    let text = printer::print(&f);
    assert!(text.contains("= Send<9, -1, 0> v"), "{text}");
    assert!(text.contains("ResumeAt<7, 2>"), "{text}");
    assert!(text.contains("EndSend"), "{text}");
    let g = parser::parse(&text).unwrap();
    assert_eq!(printer::print(&g), text);
}

#[test]
fn hir_only_operations_are_rejected_on_the_wire() {
    for op in [Op::ResumeAt, Op::GenInterp] {
        let imms: &[i64] = if op == Op::ResumeAt { &[0, 0] } else { &[] };
        let w = asm(1, 0, 1, vec![0x10], &[(op, imms), (Op::LoadConst, &[0]), (Op::ReturnValue, &[])]);
        let err = wire::decode(&wire::encode(&w)).unwrap_err();
        assert!(matches!(err, EmberError::Wire(_)), "{err:?}");
    }
}

#[test]
fn unpack_store_pass_fuses_consecutive_fresh_locals() {
    // a, b = t  (locals 1, 2) is fused; c, d = t into locals 4, 3 (not ascending) is not.
    let w = asm(
        5,
        1,
        3,
        vec![0x10],
        &[
            (Op::LoadFast, &[0]),       // 0
            (Op::UnpackSequence, &[2]), // 1
            (Op::StoreFast, &[1]),      // 2
            (Op::StoreFast, &[2]),      // 3
            (Op::LoadFast, &[0]),       // 4
            (Op::UnpackSequence, &[2]), // 5
            (Op::StoreFast, &[4]),      // 6
            (Op::StoreFast, &[3]),      // 7
            (Op::LoadConst, &[0]),      // 8
            (Op::ReturnValue, &[]),     // 9
        ],
    );
    let mut f = build::build(&w).unwrap();
    assert_eq!(ember::passes::unpack_store::run(&mut f), 1);
    verify::verify(&f).unwrap();
    let text = printer::print(&f);
    assert!(text.contains("UnpackStore<2, 1> v0 @1[]"), "{text}");
    assert_eq!(text.matches("UnpackSequence<2>").count(), 1, "{text}");
    let g = parser::parse(&text).unwrap();
    assert_eq!(printer::print(&g), text);
}

#[test]
fn osr_entries_resume_at_each_loop_header_with_the_saved_stack() {
    // With EMBER_WIRE_FLAG_OSR the plain function gets the entry dispatch: the fresh call
    // (unit 0), then the loop header (unit 5, FOR_ITER) taking the iterator from the frame's
    // value stack; anywhere else goes to the interpreter. Without the flag: no dispatch.
    let mut w = sum_loop();
    w.osr_entries = true;
    let bytes = wire::encode(&w);
    assert_eq!(wire::decode(&bytes).unwrap(), w);
    let f = build::build(&w).unwrap();
    verify::verify(&f).unwrap();
    let text = printer::print(&f);
    let body: String = text.lines().skip(3).map(|l| format!("{l}\n")).collect();
    assert_eq!(
        body,
        "bb0:\n  ResumeAt<0, 0> -> bb1(), bb5()\n\
bb1:\n  Resume @0[]\n  v0 = LoadConst<0>\n  StoreFast<1> v0\n  v1 = LoadFast<0>\n  v2 = GetIter v1 @4[]\n  Jump<5> -> bb2(v2)\n\
bb2(v3):\n  v4 = ForIter<12, 0> v3 -> bb3(v3, v4), bb4() @5[v3]\n\
bb3(v5, v6):\n  StoreFast<2> v6\n  v7 = LoadFast<1>\n  v8 = LoadFast<2>\n  v9 = BinaryOp<0, 0, 0> v7 v8 @9[v5]\n  StoreFast<1> v9\n  JumpBackward<5> -> bb2(v5) @11[v5]\n\
bb4:\n  v10 = LoadFast<1>\n  ReturnValue v10 @13[]\n\
bb5:\n  v11 = ResumeAt<5, 1> -> bb2(v11), bb6()\n\
bb6:\n  GenInterp\n"
    );
    assert_eq!(parser::parse(&text).unwrap(), f);
    assert!(!printer::print(&build::build(&sum_loop()).unwrap()).contains("ResumeAt"));
}

/// `def f(v): return v.me()` (1 local; method load at code unit 2, constant 0 the name `me`)
/// with the callee `def me(self): return self` in the callees section.
fn method_call_with_callee() -> wire::WireFunction {
    let mut w = asm(
        1,
        1,
        3,
        vec![0x50],
        &[
            (Op::Resume, &[]),                       // 0
            (Op::LoadFast, &[0]),                    // 1
            (Op::LoadMethod, &[0, 1, 7, 0, 0x4000]), // 2
            (Op::Call, &[0, 0]),                     // 3
            (Op::ReturnValue, &[]),                  // 4
        ],
    );
    let me = asm(1, 1, 1, vec![], &[(Op::Resume, &[]), (Op::LoadFast, &[0]), (Op::ReturnValue, &[])]);
    w.callees.push(wire::WireCallee { site: 2, code: 0x5000, wire: me });
    w
}

#[test]
fn callees_round_trip_through_the_wire_and_the_text_form() {
    let w = method_call_with_callee();
    let bytes = wire::encode(&w);
    assert_eq!(wire::decode(&bytes).unwrap(), w);
    let f = build::build(&w).unwrap();
    assert_eq!(f.callees.len(), 1);
    assert_eq!((f.callees[0].site, f.callees[0].code), (2, 0x5000));
    let text = printer::print(&f);
    assert!(text.contains("callee @2 code=0x5000\nfunction t:f nlocals=1 argcount=1 stacksize=1\n"), "{text}");
    assert!(text.ends_with("  ReturnValue v0 @2[]\nendcallee\n"), "{text}");
    assert_eq!(parser::parse(&text).unwrap(), f);
}

#[test]
fn a_call_is_followed_by_its_eval_breaker_check_at_the_call() {
    // CallBreaker<3>: the check reports the CALL (code unit 3) to pending work and tracebacks;
    // its frame state resumes the interpreter after it, with the result pushed.
    let text = printer::print(&build::build(&method_call_with_callee()).unwrap());
    assert!(text.contains("  v3 = Call<0, 0> v1 v2 @3[]\n  CallBreaker<3> @4[v3]\n  ReturnValue v3 @4[]\n"), "{text}");
    let f = parser::parse(&text).unwrap();
    assert_eq!(printer::print(&f), text);
}

#[test]
fn calls_the_interpreter_makes_without_an_eval_breaker_check_get_no_call_breaker() {
    // `f(x)` as `x(x)`: CALL 1 generic (spec 0) is checked; quickened to CALL_LEN (3),
    // CALL_ISINSTANCE (4) or CALL_LIST_APPEND (5) it is not, as in Python/bytecodes.c.
    let text = |spec: i64| {
        let w = asm(
            1,
            1,
            3,
            vec![],
            &[
                (Op::Resume, &[]),
                (Op::LoadFast, &[0]),
                (Op::PushNull, &[]),
                (Op::LoadFast, &[0]),
                (Op::Call, &[1, spec]),
                (Op::ReturnValue, &[]),
            ],
        );
        printer::print(&build::build(&w).unwrap())
    };
    assert!(text(0).contains("CallBreaker<4> @5[v3]"), "{}", text(0));
    for spec in [3, 4, 5] {
        assert!(!text(spec).contains("CallBreaker"), "{}", text(spec));
    }
    assert!(text(1).contains("CallBreaker<4>"), "{}", text(1));
}

#[test]
fn malformed_callees_are_rejected() {
    // A site that is no method or global load of the caller.
    let mut w = method_call_with_callee();
    w.callees[0].site = 3;
    assert!(matches!(wire::decode(&wire::encode(&w)), Err(EmberError::Wire(m)) if m.contains("not a method or global load")));
    // A callee with callees of its own.
    let mut w = method_call_with_callee();
    let inner = w.callees[0].clone();
    w.callees[0].wire.callees.push(inner);
    assert!(matches!(wire::decode(&wire::encode(&w)), Err(EmberError::Wire(m)) if m.contains("has callees")));
    // A malformed callee (its instruction count cut short), and a truncated section.
    let mut w = method_call_with_callee();
    w.callees[0].wire.instrs[1].imms = vec![9];
    assert!(matches!(wire::decode(&wire::encode(&w)), Err(EmberError::Wire(m)) if m.contains("callee 0")));
    let good = wire::encode(&method_call_with_callee());
    assert!(matches!(wire::decode(&good[..good.len() - 2]), Err(EmberError::Wire(m)) if m.contains("truncated")));
    // Too many callees.
    let mut w = method_call_with_callee();
    let c = w.callees[0].clone();
    w.callees = vec![c; wire::EMBER_INLINE_MAX_CALLEES as usize + 1];
    assert!(matches!(wire::decode(&wire::encode(&w)), Err(EmberError::Wire(m)) if m.contains("exceed")));
}

#[test]
fn a_callee_that_cannot_be_built_is_left_out() {
    let mut w = method_call_with_callee();
    // Falls off the end: the builder refuses it, the caller is built without it.
    w.callees[0].wire.instrs.pop();
    let f = build::build(&wire::decode(&wire::encode(&w)).unwrap()).unwrap();
    assert!(f.callees.is_empty());
}

#[test]
fn inlined_frame_states_round_trip_through_the_text_form() {
    // An inlined callee's instruction: the caller's stack at the call, then after the bar the
    // callee's own values a side exit releases; `[| ...]` when the caller's stack is empty.
    let text = "function t:f nlocals=2 argcount=2 stacksize=4
layout localsplus=72 instr_ptr=56 code_base=0x1000 none=0x10 true=0x20 false=0x30 immortal=1
consts [0x10:NoneType]
bb0:
  v0 = LoadFast<0>
  v1 = LoadFast<1>
  v2:Int = GuardType<Int> v1 @12[v0 | v1]
  v3:CInt64 = Unbox v2 @12[| v0 v2]
  ReturnValue v0 @14[]
";
    let f = parser::parse(text).unwrap();
    let fs = f.blocks[0].instrs[2].fs.clone().unwrap();
    assert_eq!((fs.stack.len(), fs.inlined.as_ref().map(Vec::len)), (1, Some(1)));
    let fs = f.blocks[0].instrs[3].fs.clone().unwrap();
    assert_eq!((fs.stack.len(), fs.inlined.as_ref().map(Vec::len)), (0, Some(2)));
    assert_eq!(f.blocks[0].term.fs.as_ref().unwrap().inlined, None);
    assert_eq!(printer::print(&f), text);
    verify::verify(&f).unwrap();
    // A released value must be defined like any other.
    let bad = text.replace("@12[| v0 v2]", "@12[| v0 v9]");
    assert!(parser::parse(&bad).is_err() || verify::verify(&parser::parse(&bad).unwrap()).is_err());
}

/// The shim stages wire instructions in arrays of `EMBER_WIRE_MAX_IMMS` immediates: that is
/// the largest count any opcode has.
#[test]
fn wire_max_imms_is_the_largest_immediate_count() {
    let max = (0..=u16::MAX).filter_map(Op::from_repr).map(|op| op.info().nimm).max().unwrap();
    assert_eq!(max, wire::EMBER_WIRE_MAX_IMMS as usize);
}
