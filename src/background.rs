//! Background compilation (issue 15): a bounded queue of HIR wire functions, ordered by
//! hotness, compiled by one compile thread that never touches the Python runtime, so it runs
//! without the GIL.
//!
//! The C shim serialises a function with the GIL held (cheap), submits the wire bytes under a
//! token (the address of its per-code record), keeps running the function in the interpreter
//! and, at the function's next calls, polls the finished results and installs them (with the
//! GIL held, on its side). A [`Backlog`] is generic over what a compile produces so that its
//! ordering, capacity, cancellation and fork rules are tested without LLVM; the process-wide
//! instance behind the C ABI lives in [`crate::ffi`].
//!
//! Life cycle: the compile thread starts at the first submit. [`Backlog::shutdown`]
//! (interpreter exit) drops the queued jobs, except those submitted to finish at exit (for
//! at most [`EXIT_START_BUDGET`]), and waits for the job being compiled.
//! `fork()` is made safe by [`Backlog::prepare_fork`], which lets the thread finish its job and
//! end, so that the process is single-threaded when it is copied; after the fork, parent and
//! child each start a new thread when they next use the queue; the child keeps its copy of the
//! queue and of the finished results (its copy of the code memory is valid).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::EmberError;

/// Set when the process's compile thread is told to stop (interpreter exit): a compile in
/// progress then gives up before machine-code generation, the longest phase, so that exit
/// waits as little as possible for it.
static EXITING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Marks the process as exiting (see [`exiting`]).
pub fn set_exiting() {
    EXITING.store(true, Ordering::Release);
}

/// True once [`set_exiting`] was called: compiles should give up with [`EmberError::Dropped`].
pub fn exiting() -> bool {
    EXITING.load(Ordering::Acquire)
}

/// After [`Backlog::stop`], how long the compile thread keeps starting queued jobs that were
/// submitted to finish at exit ([`Backlog::submit_finishing_at_exit`]); the ones left then
/// are dropped. It bounds what such jobs add to the process's exit: this budget plus one
/// compile (nbody's `advance`, the largest function the benchmarks compile: 175 ms).
pub const EXIT_START_BUDGET: Duration = Duration::from_millis(300);

/// Jobs the queue holds at most (a job is a function's wire bytes, a few KiB). When it is
/// full, the coldest job is dropped (reported as [`EmberError::Dropped`]).
pub const QUEUE_CAPACITY: usize = 256;

/// Counts kept by a [`Backlog`] since it was created (all counts of jobs). Also the C ABI's
/// `EmberBgStats` (`ember_bg_stats`; cbindgen renames it).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Jobs accepted by [`Backlog::submit`].
    pub submitted: u64,
    /// Jobs whose compile succeeded.
    pub compiled: u64,
    /// Jobs whose compile failed (unsupported construct, LLVM error, panic).
    pub failed: u64,
    /// Jobs dropped because the queue was full or the backlog shut down.
    pub dropped: u64,
    /// Jobs cancelled by [`Backlog::cancel`] (queued, in compilation or finished).
    pub cancelled: u64,
    /// Jobs waiting now.
    pub queued: u64,
    /// The most jobs that were ever waiting at once.
    pub max_queued: u64,
}

impl Stats {
    const ZERO: Stats = Stats { submitted: 0, compiled: 0, failed: 0, dropped: 0, cancelled: 0, queued: 0, max_queued: 0 };
}

/// One function waiting to be compiled.
struct Job {
    token: u64,
    hotness: u64,
    seq: u64,
    wire: Vec<u8>,
    /// Compiled even after [`Backlog::stop`] (within [`EXIT_START_BUDGET`]).
    finish_at_exit: bool,
}

struct Inner<T> {
    jobs: Vec<Job>,
    done: VecDeque<(u64, Result<T, EmberError>)>,
    /// Token of the job being compiled, and whether it was cancelled meanwhile.
    busy: Option<(u64, bool)>,
    paused: bool,
    /// When [`Backlog::stop`] was called (None: running).
    stopped: Option<Instant>,
    /// Tells the compile thread to end after its job (before `fork()`).
    exit_worker: bool,
    worker: Option<JoinHandle<()>>,
    seq: u64,
    stats: Stats,
    /// The host's "a result is ready" hook ([`Backlog::set_notify`]).
    notify: Option<extern "C" fn()>,
}

/// Drops the queued jobs that `keep` rejects, counting them as dropped (no result is reported
/// for them: the backlog is shutting down).
fn drop_queued<T>(g: &mut Inner<T>, mut keep: impl FnMut(&Job) -> bool) {
    let before = g.jobs.len();
    g.jobs.retain(|j| keep(j));
    g.stats.dropped += (before - g.jobs.len()) as u64;
    g.stats.queued = g.jobs.len() as u64;
}

/// A compile queue with one compile thread. `T` is what a successful compile produces.
pub struct Backlog<T: Send + 'static> {
    inner: Mutex<Inner<T>>,
    /// Signalled when a job arrives, a job ends, or the pause/stop state changes.
    wake: Condvar,
    /// Finished results not yet polled (read without the lock by [`Backlog::ready`]).
    ready: AtomicU64,
    /// Set after `fork()` when queued jobs wait for a compile thread to be started again.
    restart: std::sync::atomic::AtomicBool,
    /// Kernel thread id of the compile thread (0: none yet), for [`Backlog::prepare_fork`].
    worker_tid: AtomicI64,
    compile: fn(&[u8]) -> Result<T, EmberError>,
    discard: fn(T),
    capacity: usize,
}

impl<T: Send + 'static> Backlog<T> {
    /// A backlog whose thread runs `compile` on each job's wire bytes; `discard` releases the
    /// result of a job cancelled after it was compiled. Holds at most `capacity` jobs.
    pub const fn new(compile: fn(&[u8]) -> Result<T, EmberError>, discard: fn(T), capacity: usize) -> Self {
        Backlog {
            inner: Mutex::new(Inner {
                jobs: Vec::new(),
                done: VecDeque::new(),
                busy: None,
                paused: false,
                stopped: None,
                exit_worker: false,
                worker: None,
                seq: 0,
                stats: Stats::ZERO,
                notify: None,
            }),
            wake: Condvar::new(),
            ready: AtomicU64::new(0),
            restart: std::sync::atomic::AtomicBool::new(false),
            worker_tid: AtomicI64::new(0),
            compile,
            discard,
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait<'a>(&self, g: MutexGuard<'a, Inner<T>>) -> MutexGuard<'a, Inner<T>> {
        self.wake.wait(g).unwrap_or_else(|p| p.into_inner())
    }

    fn finish(&self, g: &mut Inner<T>, token: u64, r: Result<T, EmberError>) {
        g.done.push_back((token, r));
        self.ready.fetch_add(1, Ordering::Release);
        if let Some(f) = g.notify {
            f();
        }
    }

    /// Sets the hook called each time a result becomes ready for [`Backlog::poll`] (None: no
    /// hook). It runs on whichever thread finished the job (the compile thread, or the
    /// submitting thread for a job dropped from a full queue) with the backlog's lock held, so
    /// it must be quick, thread-safe and must not call back into the backlog. The CPython shim
    /// schedules the install there with `Py_AddPendingCall`.
    pub fn set_notify(&self, f: Option<extern "C" fn()>) {
        self.lock().notify = f;
    }

    /// Queues `wire` (a function's HIR wire bytes) under `token` with priority `hotness`
    /// (higher compiles first; equal hotness in submission order) and starts the compile
    /// thread if it is not running.
    ///
    /// Errors: [`EmberError::Dropped`] when the queue is full of hotter jobs or the backlog
    /// has shut down (the caller may submit again later). When the queue is full and the new
    /// job is hotter than the coldest queued one, that one is dropped instead and its result,
    /// `Err(Dropped)`, is reported by [`Backlog::poll`].
    pub fn submit(&'static self, token: u64, hotness: u64, wire: Vec<u8>) -> Result<(), EmberError> {
        self.submit_job(token, hotness, wire, false)
    }

    /// [`Backlog::submit`] for a job that is still compiled after [`Backlog::stop`] (interpreter
    /// exit) if the compile thread reaches it within [`EXIT_START_BUDGET`]: a function the
    /// next process would otherwise compile again (the CPython shim's functions with an
    /// earlier process's hot marker, whose result goes to the code cache).
    pub fn submit_finishing_at_exit(&'static self, token: u64, hotness: u64, wire: Vec<u8>) -> Result<(), EmberError> {
        self.submit_job(token, hotness, wire, true)
    }

    fn submit_job(&'static self, token: u64, hotness: u64, wire: Vec<u8>, finish_at_exit: bool) -> Result<(), EmberError> {
        let mut g = self.lock();
        if g.stopped.is_some() {
            g.stats.dropped += 1;
            return Err(EmberError::Dropped("the compile thread has shut down".into()));
        }
        if g.jobs.len() >= self.capacity {
            let coldest = (0..g.jobs.len()).min_by_key(|&i| (g.jobs[i].hotness, std::cmp::Reverse(g.jobs[i].seq)));
            match coldest {
                Some(i) if g.jobs[i].hotness < hotness => {
                    let old = g.jobs.remove(i);
                    g.stats.dropped += 1;
                    self.finish(&mut g, old.token, Err(EmberError::Dropped("the compile queue was full of hotter functions".into())));
                }
                _ => {
                    g.stats.dropped += 1;
                    return Err(EmberError::Dropped("the compile queue is full of hotter functions".into()));
                }
            }
        }
        g.seq += 1;
        let seq = g.seq;
        g.jobs.push(Job { token, hotness, seq, wire, finish_at_exit });
        g.stats.submitted += 1;
        g.stats.queued = g.jobs.len() as u64;
        g.stats.max_queued = g.stats.max_queued.max(g.stats.queued);
        if g.worker.is_none() && !g.paused {
            g.worker = Some(self.spawn()?);
        }
        self.wake.notify_all();
        Ok(())
    }

    fn spawn(&'static self) -> Result<JoinHandle<()>, EmberError> {
        std::thread::Builder::new()
            .name("ember-compile".into())
            .spawn(move || self.run())
            .map_err(|e| EmberError::Dropped(format!("cannot start the compile thread: {e}")))
    }

    /// Raises the priority of a queued job to `hotness` (never lowers it). Unknown tokens are
    /// ignored (the job may be compiling or finished).
    pub fn bump(&self, token: u64, hotness: u64) {
        let mut g = self.lock();
        if let Some(j) = g.jobs.iter_mut().find(|j| j.token == token) {
            j.hotness = j.hotness.max(hotness);
        }
    }

    /// Withdraws everything under `token`: the queued job, the finished result (its code is
    /// released with `discard`), or the job being compiled (its result will be discarded).
    /// After this returns, [`Backlog::poll`] never reports `token` again, so the token's owner
    /// may be freed. Returns true when something was withdrawn.
    pub fn cancel(&self, token: u64) -> bool {
        let mut discarded = vec![];
        let found = {
            let mut g = self.lock();
            let mut found = false;
            if let Some(i) = g.jobs.iter().position(|j| j.token == token) {
                g.jobs.remove(i);
                g.stats.queued = g.jobs.len() as u64;
                found = true;
            }
            if let Some((t, cancelled)) = g.busy.as_mut() {
                if *t == token {
                    *cancelled = true;
                    found = true;
                }
            }
            let before = g.done.len();
            let mut kept = VecDeque::with_capacity(before);
            for (t, r) in g.done.drain(..) {
                if t == token {
                    if let Ok(v) = r {
                        discarded.push(v);
                    }
                } else {
                    kept.push_back((t, r));
                }
            }
            let removed = before - kept.len();
            g.done = kept;
            if removed > 0 {
                self.ready.fetch_sub(removed as u64, Ordering::Release);
                found = true;
            }
            if found {
                g.stats.cancelled += 1;
            }
            found
        };
        for v in discarded {
            (self.discard)(v);
        }
        found
    }

    /// Finished results waiting to be polled (an atomic read; cheap enough for every call of
    /// a function whose compile is pending). After a `fork()` it also starts the compile
    /// thread again when jobs are queued.
    pub fn ready(&'static self) -> u64 {
        if self.restart.load(Ordering::Relaxed) {
            self.ensure_worker();
        }
        self.ready.load(Ordering::Acquire)
    }

    /// Starts the compile thread if jobs are queued and none is running.
    fn ensure_worker(&'static self) {
        let mut g = self.lock();
        self.restart.store(false, Ordering::Relaxed);
        if g.worker.is_none() && !g.jobs.is_empty() && g.stopped.is_none() && !g.paused {
            if let Ok(w) = self.spawn() {
                g.worker = Some(w);
            }
        }
    }

    /// Takes up to `max` finished results, oldest first: `(token, compile result)`.
    pub fn poll(&self, max: usize) -> Vec<(u64, Result<T, EmberError>)> {
        let mut g = self.lock();
        let n = g.done.len().min(max);
        let out: Vec<_> = g.done.drain(..n).collect();
        self.ready.fetch_sub(out.len() as u64, Ordering::Release);
        out
    }

    /// Waits until no job is queued or being compiled, at most `timeout`. Returns true when
    /// the backlog is idle. Call it without holding the GIL.
    pub fn wait_idle(&'static self, timeout: Duration) -> bool {
        self.ensure_worker();
        let deadline = Instant::now() + timeout;
        let mut g = self.lock();
        loop {
            let idle = g.busy.is_none() && g.jobs.is_empty();
            if idle {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self.wake.wait_timeout(g, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Counts since creation.
    pub fn stats(&self) -> Stats {
        self.lock().stats
    }

    /// Stops for good without waiting: drops the queued jobs (counted as dropped) except
    /// those submitted with [`Backlog::submit_finishing_at_exit`] when a compile thread is
    /// running to take them; the job being compiled finishes (its result may still be polled),
    /// the kept jobs are started within [`EXIT_START_BUDGET`], and the thread then ends.
    /// Later submits fail with `Dropped`.
    pub fn stop(&self) {
        let mut g = self.lock();
        if g.stopped.is_none() {
            g.stopped = Some(Instant::now());
        }
        let keep = g.worker.is_some() && !g.paused;
        drop_queued(&mut g, |j| keep && j.finish_at_exit);
        self.wake.notify_all();
    }

    /// Waits for the compile thread to end (after [`Backlog::stop`]; at once when it never
    /// started).
    pub fn join(&self) {
        let worker = self.lock().worker.take();
        if let Some(w) = worker {
            if w.thread().id() != std::thread::current().id() {
                let _ = w.join();
            }
        }
    }

    /// [`Backlog::stop`] then [`Backlog::join`].
    pub fn shutdown(&self) {
        self.stop();
        self.join();
    }

    /// Before `fork()`: lets the compile thread finish its job and end, and joins it, so that
    /// the process is single-threaded when it is copied (no lock held, no LLVM code running,
    /// and no "multi-threaded fork" DeprecationWarning from `os.fork()`).
    pub fn prepare_fork(&self) {
        let worker = {
            let mut g = self.lock();
            g.paused = true;
            g.exit_worker = true;
            self.wake.notify_all();
            g.worker.take()
        };
        if let Some(w) = worker {
            let _ = w.join();
            wait_until_reaped(self.worker_tid.load(Ordering::Acquire));
        }
    }

    fn resume_after_fork(&self) {
        let mut g = self.lock();
        g.paused = false;
        g.exit_worker = false;
        g.busy = None;
        if g.stopped.is_some() {
            // Forked while exiting: no thread will take the jobs kept to finish at exit.
            drop_queued(&mut g, |_| false);
        }
        // Started again lazily (next submit, ready or wait), not inside the fork handler: a
        // thread started here would exist when os.fork() counts threads for its warning.
        self.restart.store(!g.jobs.is_empty(), Ordering::Relaxed);
    }

    /// After `fork()` in the parent: the queue resumes on a new compile thread.
    pub fn after_fork_parent(&'static self) {
        self.resume_after_fork();
    }

    /// After `fork()` in the child: the child's copy of the queue and of the finished results
    /// is compiled and installed by a compile thread of its own.
    pub fn after_fork_child(&'static self) {
        self.resume_after_fork();
    }

    fn run(&'static self) {
        // SAFETY: gettid has no preconditions.
        self.worker_tid.store(unsafe { libc::gettid() } as i64, Ordering::Release);
        let mut g = self.lock();
        loop {
            if g.exit_worker {
                break;
            }
            if let Some(at) = g.stopped {
                // Only jobs kept to finish at exit are left (see `stop`).
                if g.jobs.is_empty() || at.elapsed() >= EXIT_START_BUDGET {
                    drop_queued(&mut g, |_| false);
                    break;
                }
            }
            if g.paused || g.jobs.is_empty() {
                g = self.wait(g);
                continue;
            }
            let i = (0..g.jobs.len()).max_by_key(|&i| (g.jobs[i].hotness, std::cmp::Reverse(g.jobs[i].seq))).unwrap_or(0);
            let job = g.jobs.remove(i);
            g.stats.queued = g.jobs.len() as u64;
            g.busy = Some((job.token, false));
            drop(g);
            let r = catch_unwind(AssertUnwindSafe(|| (self.compile)(&job.wire))).unwrap_or_else(|p| {
                let msg =
                    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
                Err(EmberError::Internal(msg))
            });
            g = self.lock();
            let cancelled = g.busy.take().is_some_and(|(_, c)| c);
            if cancelled {
                if let Ok(v) = r {
                    drop(g);
                    (self.discard)(v);
                    g = self.lock();
                }
            } else {
                if r.is_ok() {
                    g.stats.compiled += 1;
                } else {
                    g.stats.failed += 1;
                }
                self.finish(&mut g, job.token, r);
            }
            self.wake.notify_all();
        }
        self.wake.notify_all();
    }
}

/// Waits (at most 20 ms) until the kernel has reaped thread `tid` of this process. `join`
/// returns when the thread's id is cleared, which is before the kernel drops the thread from
/// the process's thread count; `os.fork()` reads that count (`/proc/self/stat`) for its
/// multi-threaded-fork warning, and saw the compile thread there (once in about ten runs of
/// test_background.py's fork test).
fn wait_until_reaped(tid: i64) {
    if tid <= 0 {
        return;
    }
    let path = format!("/proc/self/task/{tid}");
    for _ in 0..400 {
        if !std::path::Path::new(&path).exists() {
            return;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}
