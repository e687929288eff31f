//! Wire → SSA HIR: abstract interpretation of the value stack.
//!
//! Basic blocks start at jump targets and after terminators. Starting from the entry with an
//! empty stack, each reachable block is interpreted once; the stack at a block's entry becomes
//! its parameters, and every edge passes the current stack as arguments (the classic
//! stack-to-SSA construction that CinderX's HIR builder also uses). Blocks reachable only
//! through the exception table (handlers) are not compiled: exceptions hand the frame to the
//! interpreter. Mirrors the stack effects of CPython 3.13's `Python/bytecodes.c`.

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::error::EmberError;
use crate::hir::imms::CallImms;
use crate::hir::op::{CallSpec, Op};
use crate::hir::wire::{WireFunction, WireInstr};
use crate::hir::{Block, BlockCall, BlockId, FrameState, Function, Instr, Type, Value};

struct Builder<'w> {
    w: &'w WireFunction,
    f: Function,
    /// Wire block start (instruction index) → HIR block.
    block_of_start: HashMap<usize, BlockId>,
    /// HIR block → wire instruction range start.
    start_of_block: Vec<usize>,
    /// Instruction index of each leader, sorted.
    leaders: BTreeSet<usize>,
    /// bc → instruction index.
    index_of_bc: HashMap<u32, usize>,
    pending: VecDeque<BlockId>,
    /// Blocks built so far (None until visited).
    built: Vec<Option<Block>>,
    /// Resume points of a generator-family function: (code unit, block it resumes in), found
    /// after `RETURN_GENERATOR` and each `YIELD_VALUE`; for a plain function compiled with OSR
    /// entries ([`WireFunction::osr_entries`]), its loop headers.
    resumes: Vec<(u32, BlockId)>,
}

fn instr(op: Op, imms: Vec<i64>, args: Vec<Value>, results: Vec<Value>) -> Instr {
    Instr { op, imms, args, results, targets: vec![], fs: None }
}

/// Builds SSA HIR from a decoded wire function.
///
/// Errors: [`EmberError::Unsupported`] when a reachable instruction is [`Op::Unsupported`]
/// (the message names the CPython opcode); [`EmberError::Build`] for stack underflow, stack
/// depth above `stacksize`, inconsistent depths at a join, or falling off the end.
pub fn build(w: &WireFunction) -> Result<Function, EmberError> {
    let mut index_of_bc = HashMap::new();
    for (i, ins) in w.instrs.iter().enumerate() {
        index_of_bc.entry(ins.bc).or_insert(i);
    }
    let mut leaders = BTreeSet::new();
    leaders.insert(0usize);
    for (i, ins) in w.instrs.iter().enumerate() {
        if let Some(t) = ins.op.jump_target(&ins.imms) {
            leaders.insert(index_of_bc[&(t as u32)]);
        }
        if let Some((t, _)) = ins.op.async_for_exit(&ins.imms) {
            leaders.insert(index_of_bc[&(t as u32)]);
        }
        if (ins.op.info().terminator || ins.op.jump_target(&ins.imms).is_some()) && i + 1 < w.instrs.len() {
            leaders.insert(i + 1);
        }
    }
    let mut b = Builder {
        w,
        f: Function {
            module: w.strings[0].clone(),
            qualname: w.strings[1].clone(),
            nlocalsplus: w.nlocalsplus,
            argcount: w.argcount,
            stacksize: w.stacksize,
            layout: w.layout.clone(),
            consts: w.consts.clone(),
            const_types: w.const_types.clone(),
            blocks: vec![],
            types: vec![],
            speculate: !w.no_speculation,
            callees: vec![],
        },
        block_of_start: HashMap::new(),
        start_of_block: vec![],
        leaders,
        index_of_bc,
        pending: VecDeque::new(),
        built: vec![],
        resumes: vec![],
    };
    // The entry block must have no predecessors; a loop back to the first instruction gets a
    // synthetic entry block that jumps to it. A generator-family function's entry is the
    // resume dispatch (filled in once every resume point is known).
    let is_gen = w.instrs.iter().any(|i| i.op == Op::ReturnGenerator);
    // On-stack replacement (issue 15): a plain function compiled with OSR entries gets the
    // same dispatch, with a resume point at every loop header.
    let osr = !is_gen && w.osr_entries && w.instrs.iter().any(|i| i.op == Op::JumpBackward);
    let loops_to_start = is_gen || osr || w.instrs.iter().any(|i| i.op.jump_target(&i.imms) == Some(w.instrs[0].bc as i64));
    if loops_to_start {
        b.start_of_block.push(usize::MAX);
        b.built.push(Some(Block { params: vec![], instrs: vec![], term: instr(Op::Nop, vec![], vec![], vec![]) }));
    }
    let first = b.block_for(0, &[])?;
    if loops_to_start {
        let mut t = instr(Op::Jump, vec![w.instrs[0].bc as i64], vec![], vec![]);
        t.targets.push(BlockCall { block: first, args: vec![] });
        b.built[0].as_mut().unwrap().term = t;
    } else {
        debug_assert_eq!(first, BlockId(0));
    }
    while let Some(id) = b.pending.pop_front() {
        b.build_block(id)?;
    }
    if osr {
        for ins in &w.instrs {
            if ins.op != Op::JumpBackward {
                continue;
            }
            let Some(t) = ins.op.jump_target(&ins.imms) else { continue };
            let header = b.target_index(t);
            if let Some(&block) = b.block_of_start.get(&header) {
                if !b.resumes.iter().any(|r| r.1 == block) {
                    b.resumes.push((w.instrs[header].bc, block));
                }
            }
        }
    }
    if is_gen || osr {
        b.build_resume_dispatch(first)?;
    }
    let mut f = b.f;
    f.blocks = b.built.into_iter().map(|x| x.expect("every created block is built")).collect();
    infer_param_types(&mut f);
    // A callee that cannot be built (an instruction Ember refuses) is only left out: it is a
    // hint for passes, never a reason to refuse the caller.
    f.callees =
        w.callees.iter().filter_map(|c| build(&c.wire).ok().map(|body| crate::hir::Callee { site: c.site, code: c.code, body })).collect();
    Ok(f)
}

/// Propagates `OptObject` from edge arguments into block parameters until stable.
fn infer_param_types(f: &mut Function) {
    loop {
        let mut changed = false;
        let mut updates = vec![];
        for b in &f.blocks {
            for t in &b.term.targets {
                let params = &f.blocks[t.block.0 as usize].params;
                for (p, a) in params.iter().zip(&t.args) {
                    if f.ty(*a) == Type::OptObject && f.ty(*p) == Type::Object {
                        updates.push(*p);
                    }
                }
            }
        }
        for p in updates {
            if f.types[p.0 as usize] != Type::OptObject {
                f.types[p.0 as usize] = Type::OptObject;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

impl<'w> Builder<'w> {
    fn err(&self, ins: &WireInstr, msg: impl std::fmt::Display) -> EmberError {
        EmberError::Build(format!("{} at code unit {} ({}): {msg}", self.w.full_name(), ins.bc, ins.op.info().name))
    }

    /// Returns the block starting at wire instruction `start`, creating it (with fresh
    /// parameters matching `stack`) on first sight and checking the depth afterwards.
    fn block_for(&mut self, start: usize, stack: &[Value]) -> Result<BlockId, EmberError> {
        let types: Vec<Type> = stack.iter().map(|v| self.f.ty(*v)).collect();
        self.block_for_types(start, &types)
    }

    /// [`Self::block_for`] given the types of the stack values.
    fn block_for_types(&mut self, start: usize, types: &[Type]) -> Result<BlockId, EmberError> {
        if let Some(&id) = self.block_of_start.get(&start) {
            let want = self.built_params_len(id);
            if want != types.len() {
                let ins = &self.w.instrs[start];
                return Err(self.err(ins, format!("stack depth {} at a join, {} on another path", types.len(), want)));
            }
            return Ok(id);
        }
        let id = BlockId(self.start_of_block.len() as u32);
        self.start_of_block.push(start);
        self.block_of_start.insert(start, id);
        let params: Vec<Value> = types.iter().map(|t| self.f.new_value(*t)).collect();
        self.built.push(Some(Block { params, instrs: vec![], term: instr(Op::Nop, vec![], vec![], vec![]) }));
        self.pending.push_back(id);
        Ok(id)
    }

    fn built_params_len(&self, id: BlockId) -> usize {
        self.built[id.0 as usize].as_ref().map(|b| b.params.len()).unwrap_or(0)
    }

    fn edge(&mut self, start: usize, stack: &[Value]) -> Result<BlockCall, EmberError> {
        let block = self.block_for(start, stack)?;
        Ok(BlockCall { block, args: stack.to_vec() })
    }

    /// Fills the synthetic entry block of a generator-family function (or of a plain function
    /// with OSR entries) with the resume dispatch: a chain of [`Op::ResumeAt`] checks on the
    /// frame's `instr_ptr`, the fresh call (first code unit) first, then every resume point
    /// (each takes the saved value stack from the frame), ending in [`Op::GenInterp`] for a
    /// frame that stands anywhere else: the interpreter runs it.
    fn build_resume_dispatch(&mut self, first: BlockId) -> Result<(), EmberError> {
        let mut points = vec![(self.w.instrs[0].bc, first)];
        points.extend(self.resumes.iter().copied());
        let mut check = BlockId(0);
        for (k, (bc, target)) in points.iter().enumerate() {
            let next = BlockId(self.built.len() as u32);
            let (bc, target) = (*bc, *target);
            self.start_of_block.push(usize::MAX);
            self.built.push(Some(Block { params: vec![], instrs: vec![], term: instr(Op::Nop, vec![], vec![], vec![]) }));
            let param_types: Vec<Type> = self.built[target.0 as usize].as_ref().unwrap().params.iter().map(|p| self.f.ty(*p)).collect();
            let results: Vec<Value> = param_types.iter().map(|t| self.f.new_value(*t)).collect();
            let mut t = instr(Op::ResumeAt, vec![bc as i64, results.len() as i64], vec![], results.clone());
            t.targets = vec![BlockCall { block: target, args: results }, BlockCall { block: next, args: vec![] }];
            self.built[check.0 as usize].as_mut().unwrap().term = t;
            check = next;
            if k + 1 == points.len() {
                self.built[next.0 as usize].as_mut().unwrap().term = instr(Op::GenInterp, vec![], vec![], vec![]);
            }
        }
        Ok(())
    }

    /// The edge an `async for` takes when `StopAsyncIteration` ends it (see
    /// [`Op::async_for_exit`]): to the code after `END_ASYNC_FOR` with the stack cut to the
    /// exit depth; the values above it (the iterator, and SEND's receiver) are released on the
    /// way. `stack` is the stack when the operation raises.
    fn async_for_stop(&mut self, ins: &WireInstr, stack: &[Value]) -> Result<Option<BlockCall>, EmberError> {
        let Some((t, depth)) = ins.op.async_for_exit(&ins.imms) else { return Ok(None) };
        if depth as usize >= stack.len() {
            return Err(self.err(ins, "async for exit deeper than the stack"));
        }
        let target = self.target_index(t);
        Ok(Some(self.edge(target, &stack[..depth as usize])?))
    }

    fn target_index(&self, bc: i64) -> usize {
        self.index_of_bc[&(bc as u32)]
    }

    fn build_block(&mut self, id: BlockId) -> Result<(), EmberError> {
        let start = self.start_of_block[id.0 as usize];
        let mut stack: Vec<Value> = self.built[id.0 as usize].as_ref().unwrap().params.clone();
        let mut out: Vec<Instr> = vec![];
        let mut i = start;
        let term: Instr = loop {
            if i >= self.w.instrs.len() {
                let last = &self.w.instrs[self.w.instrs.len() - 1];
                return Err(self.err(last, "control falls off the end of the code"));
            }
            if i != start && self.leaders.contains(&i) {
                let e = self.edge(i, &stack)?;
                let mut t = instr(Op::Jump, vec![self.w.instrs[i].bc as i64], vec![], vec![]);
                t.targets.push(e);
                break t;
            }
            let ins = &self.w.instrs[i];
            let (pops, pushes) = ins.op.stack_effect(&ins.imms).ok_or_else(|| self.err(ins, "bad immediates"))?;
            if pops > stack.len() {
                return Err(self.err(ins, format!("stack underflow: needs {pops}, has {}", stack.len())));
            }
            if stack.len() - pops + pushes > self.w.stacksize as usize {
                return Err(self.err(ins, format!("stack depth exceeds stacksize {}", self.w.stacksize)));
            }
            let bc = ins.bc;
            let fs = |stack: &[Value]| Some(FrameState { bc, stack: stack.to_vec(), inlined: None, locals: vec![] });
            match ins.op {
                Op::Nop => {}
                Op::Unsupported => {
                    let name = &self.w.strings[ins.imms[1] as usize];
                    return Err(EmberError::Unsupported(format!("opcode {name} at code unit {bc}")));
                }
                Op::Deopt => {
                    let mut t = instr(Op::Deopt, ins.imms.clone(), vec![], vec![]);
                    t.fs = fs(&stack);
                    break t;
                }
                Op::CopyFreeVars => out.push(instr(Op::CopyFreeVars, ins.imms.clone(), vec![], vec![])),
                Op::Resume | Op::DeleteFast | Op::MakeCell | Op::DeleteDeref => {
                    let mut x = instr(ins.op, ins.imms.clone(), vec![], vec![]);
                    x.fs = fs(&stack);
                    out.push(x);
                }
                Op::LoadFast
                | Op::LoadFastCheck
                | Op::LoadFastAndClear
                | Op::LoadConst
                | Op::PushNull
                | Op::LoadAssertionError
                | Op::LoadDeref => {
                    let ty = match ins.op {
                        Op::LoadFastAndClear | Op::PushNull => Type::OptObject,
                        Op::LoadConst => self.f.const_type(ins.imms[0]),
                        _ => Type::Object,
                    };
                    let v = self.f.new_value(ty);
                    let mut x = instr(ins.op, ins.imms.clone(), vec![], vec![v]);
                    if ins.op.info().can_raise {
                        x.fs = fs(&stack);
                    }
                    out.push(x);
                    stack.push(v);
                }
                Op::StoreFast | Op::PopTop | Op::StoreGlobal | Op::StoreDeref => {
                    let v = stack.pop().unwrap();
                    let mut x = instr(ins.op, ins.imms.clone(), vec![v], vec![]);
                    if ins.op.info().can_raise {
                        x.fs = fs(&stack);
                    }
                    out.push(x);
                }
                Op::Copy => {
                    let k = ins.imms[0] as usize;
                    let src = stack[stack.len() - k];
                    let v = self.f.new_value(self.f.ty(src));
                    out.push(instr(Op::Copy, ins.imms.clone(), vec![src], vec![v]));
                    stack.push(v);
                }
                Op::Swap => {
                    let k = ins.imms[0] as usize;
                    let n = stack.len();
                    stack.swap(n - 1, n - k);
                }
                Op::ListAppend | Op::ListExtend | Op::SetAdd | Op::SetUpdate | Op::DictUpdate | Op::MapAdd | Op::DictMerge => {
                    // The container (and, for DictMerge, the callable) stay on the stack:
                    // they are borrowed operands. Args: [callable,] container, popped values.
                    let npop = if ins.op == Op::MapAdd { 2 } else { 1 };
                    let popped = stack.split_off(stack.len() - npop);
                    let k = ins.imms[0] as usize;
                    let container = stack[stack.len() - k];
                    let mut args = vec![];
                    if ins.op == Op::DictMerge {
                        args.push(stack[stack.len() - k - 3]);
                    }
                    args.push(container);
                    args.extend(popped);
                    let mut x = instr(ins.op, ins.imms.clone(), args, vec![]);
                    x.fs = fs(&stack);
                    out.push(x);
                }
                Op::LoadGlobal => {
                    let v = self.f.new_value(Type::Object);
                    let mut x = instr(Op::LoadGlobal, ins.imms.clone(), vec![], vec![v]);
                    x.fs = fs(&stack);
                    out.push(x);
                    stack.push(v);
                    if ins.imms[1] != 0 {
                        let n = self.f.new_value(Type::OptObject);
                        out.push(instr(Op::PushNull, vec![], vec![], vec![n]));
                        stack.push(n);
                    }
                }
                Op::LoadSuperAttr => {
                    let args = stack.split_off(stack.len() - 3);
                    let attr = self.f.new_value(Type::Object);
                    let mut results = vec![attr];
                    if ins.imms[1] & 1 != 0 {
                        results.push(self.f.new_value(Type::OptObject));
                    }
                    let mut x = instr(Op::LoadSuperAttr, ins.imms.clone(), args, results.clone());
                    x.fs = fs(&stack);
                    out.push(x);
                    stack.extend(results);
                }
                Op::GetAnext => {
                    // The iterator stays (borrowed); the awaitable is pushed.
                    let v = self.f.new_value(Type::Object);
                    let mut x = instr(ins.op, ins.imms.clone(), vec![*stack.last().unwrap()], vec![v]);
                    x.fs = fs(&stack);
                    let stop = self.async_for_stop(ins, &stack)?;
                    stack.push(v);
                    if i + 1 >= self.w.instrs.len() {
                        return Err(self.err(ins, "GET_ANEXT at the end of the code"));
                    }
                    x.targets = vec![self.edge(i + 1, &stack)?];
                    x.targets.extend(stop);
                    break x;
                }
                Op::ImportFrom | Op::MatchMapping | Op::MatchSequence | Op::MatchKeys | Op::GetLen => {
                    // The operands stay on the stack (borrowed); one new value is pushed.
                    let args = stack[stack.len() - pops..].to_vec();
                    let v = self.f.new_value(Type::Object);
                    let mut x = instr(ins.op, ins.imms.clone(), args, vec![v]);
                    x.fs = fs(&stack);
                    out.push(x);
                    stack.push(v);
                }
                Op::LoadMethod => {
                    let owner = stack.pop().unwrap();
                    let m = self.f.new_value(Type::Object);
                    let s = self.f.new_value(Type::OptObject);
                    let mut x = instr(Op::LoadMethod, ins.imms.clone(), vec![owner], vec![m, s]);
                    x.fs = fs(&stack);
                    out.push(x);
                    stack.push(m);
                    stack.push(s);
                }
                Op::BinaryOp
                | Op::UnaryNot
                | Op::UnaryNegative
                | Op::UnaryInvert
                | Op::ToBool
                | Op::CompareOp
                | Op::IsOp
                | Op::ContainsOp
                | Op::LoadAttr
                | Op::StoreAttr
                | Op::BinarySubscr
                | Op::StoreSubscr
                | Op::DeleteSubscr
                | Op::BuildTuple
                | Op::BuildList
                | Op::BuildMap
                | Op::BuildConstKeyMap
                | Op::Call
                | Op::CallKw
                | Op::GetIter
                | Op::UnpackSequence
                | Op::FormatSimple
                | Op::FormatWithSpec
                | Op::ConvertValue
                | Op::BuildString
                | Op::MakeFunction
                | Op::SetFunctionAttribute
                | Op::BinarySlice
                | Op::StoreSlice
                | Op::BuildSlice
                | Op::BuildSet
                | Op::CallIntrinsic1
                | Op::CallIntrinsic2
                | Op::CallFunctionEx
                | Op::ImportName
                | Op::BeforeWith
                | Op::DeleteAttr
                | Op::DeleteGlobal
                | Op::LoadBuildClass
                | Op::MatchClass
                | Op::UnpackEx
                | Op::GetYieldFromIter
                | Op::GetAwaitable
                | Op::GetAiter
                | Op::BeforeAsyncWith => {
                    let args = stack.split_off(stack.len() - pops);
                    let results: Vec<Value> = (0..pushes).map(|_| self.f.new_value(Type::Object)).collect();
                    let mut x = instr(ins.op, ins.imms.clone(), args, results.clone());
                    x.fs = fs(&stack);
                    // The interpreter's CALL_LEN, CALL_ISINSTANCE and CALL_LIST_APPEND make no
                    // eval-breaker check (Python/bytecodes.c, 3.13): nor does their compiled form.
                    let unchecked =
                        CallImms::of(&x).is_some_and(|c| matches!(c.spec, CallSpec::Len | CallSpec::IsInstance | CallSpec::ListAppend));
                    out.push(x);
                    stack.extend(results);
                    if matches!(ins.op, Op::Call | Op::CallKw) && !unchecked {
                        // A call can switch tracing or monitoring on (or leave a signal
                        // pending): check the eval breaker at the call and, if the frame must go
                        // to the interpreter, resume it at the next instruction with the result
                        // pushed.
                        if let Some(next) = self.w.instrs.get(i + 1) {
                            let mut r = instr(Op::CallBreaker, vec![i64::from(ins.bc)], vec![], vec![]);
                            r.fs = Some(FrameState { bc: next.bc, stack: stack.clone(), inlined: None, locals: vec![] });
                            out.push(r);
                        }
                    }
                }
                Op::ForIter => {
                    let it = *stack.last().unwrap();
                    let item = self.f.new_value(Type::Object);
                    let mut x = instr(Op::ForIter, ins.imms.clone(), vec![it], vec![item]);
                    x.fs = fs(&stack);
                    let mut cont = stack.clone();
                    cont.push(item);
                    let next = i + 1;
                    if next >= self.w.instrs.len() {
                        return Err(self.err(ins, "FOR_ITER at the end of the code"));
                    }
                    let c = self.edge(next, &cont)?;
                    let mut done = stack.clone();
                    done.pop();
                    let e = self.edge(self.target_index(ins.imms[0]), &done)?;
                    x.targets = vec![c, e];
                    break x;
                }
                Op::Jump | Op::JumpBackward => {
                    let e = self.edge(self.target_index(ins.imms[0]), &stack)?;
                    let mut x = instr(ins.op, ins.imms.clone(), vec![], vec![]);
                    if ins.op == Op::JumpBackward {
                        x.fs = fs(&stack);
                    }
                    x.targets = vec![e];
                    break x;
                }
                Op::PopJumpIfFalse | Op::PopJumpIfTrue | Op::PopJumpIfNone | Op::PopJumpIfNotNone => {
                    let cond = stack.pop().unwrap();
                    if i + 1 >= self.w.instrs.len() {
                        return Err(self.err(ins, "branch at the end of the code"));
                    }
                    let taken = self.edge(self.target_index(ins.imms[0]), &stack)?;
                    let fall = self.edge(i + 1, &stack)?;
                    let mut x = instr(ins.op, ins.imms.clone(), vec![cond], vec![]);
                    x.targets = vec![taken, fall];
                    break x;
                }
                Op::ReturnValue | Op::ReturnConst => {
                    let v = if ins.op == Op::ReturnConst {
                        let v = self.f.new_value(Type::Object);
                        out.push(instr(Op::LoadConst, ins.imms.clone(), vec![], vec![v]));
                        v
                    } else {
                        stack.pop().unwrap()
                    };
                    if !stack.is_empty() {
                        return Err(self.err(ins, format!("return with {} values left on the stack", stack.len())));
                    }
                    // The frame state only records the code unit: a frame object that outlives
                    // the call must report the return's line (f_lineno, f_lasti).
                    let mut x = instr(Op::ReturnValue, vec![], vec![v], vec![]);
                    x.fs = fs(&stack);
                    break x;
                }
                Op::EndSend => {
                    let value = stack.pop().unwrap();
                    let receiver = stack.pop().unwrap();
                    out.push(instr(Op::EndSend, vec![], vec![receiver], vec![]));
                    stack.push(value);
                }
                Op::ReturnGenerator | Op::YieldValue => {
                    // The frame is suspended: the code after this instruction runs when the
                    // generator is resumed, with the sent value pushed (gen_send_ex2 in
                    // Objects/genobject.c), through the entry's resume dispatch.
                    let Some(next) = self.w.instrs.get(i + 1) else {
                        return Err(self.err(ins, "suspension at the end of the code"));
                    };
                    let next_bc = next.bc;
                    let args = if ins.op == Op::YieldValue { vec![stack.pop().unwrap()] } else { vec![] };
                    let mut x = instr(ins.op, ins.imms.clone(), args, vec![]);
                    x.fs = Some(FrameState {
                        bc: if ins.op == Op::YieldValue { next_bc } else { bc },
                        stack: stack.clone(),
                        inlined: None,
                        locals: vec![],
                    });
                    let mut resumed: Vec<Type> = stack.iter().map(|v| self.f.ty(*v)).collect();
                    resumed.push(Type::Object);
                    let target = self.block_for_types(i + 1, &resumed)?;
                    if !self.resumes.iter().any(|r| r.1 == target) {
                        self.resumes.push((next_bc, target));
                    }
                    break x;
                }
                Op::Send => {
                    let v = stack.pop().unwrap();
                    let receiver = *stack.last().unwrap();
                    let retval = self.f.new_value(Type::Object);
                    let mut x = instr(Op::Send, ins.imms.clone(), vec![receiver, v], vec![retval]);
                    x.fs = fs(&stack);
                    let mut cont = stack.clone();
                    cont.push(retval);
                    if i + 1 >= self.w.instrs.len() {
                        return Err(self.err(ins, "SEND at the end of the code"));
                    }
                    let c = self.edge(i + 1, &cont)?;
                    let e = self.edge(self.target_index(ins.imms[0]), &cont)?;
                    x.targets = vec![c, e];
                    x.targets.extend(self.async_for_stop(ins, &stack)?);
                    break x;
                }
                Op::ResumeAt
                | Op::GenInterp
                | Op::UnpackStore
                | Op::GuardType
                | Op::Unbox
                | Op::Box
                | Op::FloatBinOp
                | Op::IntBinOp
                | Op::FloatCompare
                | Op::IntCompare
                | Op::LoadFastBorrow
                | Op::IntToFloat
                | Op::UnboxNumber
                | Op::UnboxNumbers
                | Op::SubscrSlice
                | Op::MathCall
                | Op::StoreFastFloat
                | Op::StoreSubscrFloat
                | Op::CallTrivial
                | Op::GuardCallee
                | Op::GuardReleasable
                | Op::IntConst
                | Op::RangeNonEmpty
                | Op::CallBreaker
                | Op::LoadAttrBorrow
                | Op::GuardMethodCallee
                | Op::Select
                | Op::AllocInstance
                | Op::InitStore
                | Op::StoreAttrFloat => {
                    return Err(self.err(ins, "HIR-only operation in the input"));
                }
                Op::RaiseVarargs => {
                    let args = stack.split_off(stack.len() - pops);
                    let mut x = instr(Op::RaiseVarargs, ins.imms.clone(), args, vec![]);
                    x.fs = fs(&stack);
                    break x;
                }
            }
            i += 1;
        };
        let b = self.built[id.0 as usize].as_mut().unwrap();
        b.instrs = out;
        b.term = term;
        Ok(())
    }
}
