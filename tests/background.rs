//! The compile queue of background compilation ([`ember::background::Backlog`]) with a fake
//! compile function, so that ordering, capacity, cancellation, shutdown, panics and the fork
//! pause are checked exactly, without LLVM. A job's wire bytes are its script: the first byte
//! says what the fake compile does (0 succeed, 1 wait for the gate then succeed, 2 fail,
//! 3 panic), the second is the value it returns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use ember::background::Backlog;
use ember::EmberError;
use serial_test::serial;

static GATE: Mutex<bool> = Mutex::new(false);
static GATE_CV: Condvar = Condvar::new();
static DISCARDED: AtomicU64 = AtomicU64::new(0);
static STARTED: AtomicU64 = AtomicU64::new(0);

fn close_gate() {
    *GATE.lock().unwrap() = false;
}

fn open_gate() {
    *GATE.lock().unwrap() = true;
    GATE_CV.notify_all();
}

fn fake_compile(w: &[u8]) -> Result<u8, EmberError> {
    STARTED.fetch_add(1, Ordering::SeqCst);
    match w[0] {
        0 => Ok(w[1]),
        1 => {
            let mut g = GATE.lock().unwrap();
            while !*g {
                g = GATE_CV.wait(g).unwrap();
            }
            Ok(w[1])
        }
        2 => Err(EmberError::Unsupported(format!("job {}", w[1]))),
        _ => panic!("fake compile panics on job {}", w[1]),
    }
}

fn fake_discard(_: u8) {
    DISCARDED.fetch_add(1, Ordering::SeqCst);
}

fn backlog(capacity: usize) -> &'static Backlog<u8> {
    Box::leak(Box::new(Backlog::new(fake_compile, fake_discard, capacity)))
}

/// Waits until the compile thread has started `n` compiles in all (it is inside a gated one).
fn wait_started(n: u64) {
    for _ in 0..2000 {
        if STARTED.load(Ordering::SeqCst) >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("the compile thread did not start job {n}");
}

fn ok_values(r: &[(u64, Result<u8, EmberError>)]) -> Vec<u64> {
    r.iter().filter(|(_, v)| v.is_ok()).map(|(t, _)| *t).collect()
}

#[test]
#[serial]
fn hotter_jobs_compile_first_and_equal_ones_in_order() {
    close_gate();
    let b = backlog(16);
    let s0 = STARTED.load(Ordering::SeqCst);
    b.submit(1, 1, vec![1, 1]).unwrap(); // holds the thread at the gate
    wait_started(s0 + 1);
    for (token, hot) in [(2, 1), (3, 9), (4, 5), (5, 9), (6, 0)] {
        b.submit(token, hot, vec![0, token as u8]).unwrap();
    }
    b.bump(6, 7); // 6 now ranks between 4 and the 9s
    b.bump(3, 2); // never lowered
    open_gate();
    assert!(b.wait_idle(Duration::from_secs(10)));
    let done = b.poll(100);
    assert_eq!(ok_values(&done), vec![1, 3, 5, 6, 4, 2]);
    assert_eq!(done.iter().map(|(t, v)| (*t, v.clone().unwrap() as u64)).filter(|(t, v)| t != v).count(), 0);
    assert_eq!(b.ready(), 0);
    let st = b.stats();
    assert_eq!((st.submitted, st.compiled, st.queued), (6, 6, 0));
    assert_eq!(st.max_queued, 5);
}

#[test]
#[serial]
fn a_full_queue_drops_its_coldest_job() {
    close_gate();
    let b = backlog(2);
    let s0 = STARTED.load(Ordering::SeqCst);
    b.submit(1, 1, vec![1, 1]).unwrap();
    wait_started(s0 + 1);
    b.submit(2, 3, vec![0, 2]).unwrap();
    b.submit(3, 5, vec![0, 3]).unwrap();
    // Hotter than the coldest queued job (2): 2 is dropped and reported.
    b.submit(4, 4, vec![0, 4]).unwrap();
    // Not hotter than any queued job: refused.
    assert!(matches!(b.submit(5, 3, vec![0, 5]), Err(EmberError::Dropped(_))));
    open_gate();
    assert!(b.wait_idle(Duration::from_secs(10)));
    let done = b.poll(100);
    assert!(matches!(done[0], (2, Err(EmberError::Dropped(_)))), "{done:?}");
    assert_eq!(ok_values(&done), vec![1, 3, 4]);
    assert_eq!(b.stats().dropped, 2);
}

#[test]
#[serial]
fn cancel_withdraws_queued_running_and_finished_jobs() {
    close_gate();
    let b = backlog(16);
    let s0 = STARTED.load(Ordering::SeqCst);
    let d0 = DISCARDED.load(Ordering::SeqCst);
    b.submit(1, 1, vec![1, 1]).unwrap();
    wait_started(s0 + 1);
    b.submit(2, 1, vec![0, 2]).unwrap();
    b.submit(3, 1, vec![0, 3]).unwrap();
    assert!(b.cancel(2), "queued");
    assert!(b.cancel(1), "compiling");
    assert!(!b.cancel(99), "unknown");
    open_gate();
    assert!(b.wait_idle(Duration::from_secs(10)));
    assert_eq!(b.ready(), 1);
    assert!(b.cancel(3), "finished, not polled");
    assert_eq!(b.ready(), 0);
    assert!(b.poll(100).is_empty());
    assert_eq!(DISCARDED.load(Ordering::SeqCst) - d0, 2, "the code of 1 and 3 was released");
    assert_eq!(b.stats().cancelled, 3);
}

#[test]
#[serial]
fn failures_and_panics_come_back_as_errors() {
    let b = backlog(16);
    b.submit(1, 1, vec![2, 1]).unwrap();
    b.submit(2, 1, vec![3, 2]).unwrap();
    b.submit(3, 1, vec![0, 3]).unwrap();
    assert!(b.wait_idle(Duration::from_secs(10)));
    let done = b.poll(100);
    assert!(matches!(&done[0], (1, Err(EmberError::Unsupported(m))) if m == "job 1"), "{done:?}");
    assert!(matches!(&done[1], (2, Err(EmberError::Internal(m))) if m.contains("panics on job 2")), "{done:?}");
    assert!(matches!(done[2], (3, Ok(3))), "the thread survives a panic: {done:?}");
    assert_eq!(b.stats().failed, 2);
}

#[test]
#[serial]
fn shutdown_drops_the_queue_and_waits_only_for_the_running_job() {
    close_gate();
    let b = backlog(16);
    let s0 = STARTED.load(Ordering::SeqCst);
    b.submit(1, 1, vec![1, 1]).unwrap();
    wait_started(s0 + 1);
    for t in 2..10 {
        b.submit(t, 1, vec![0, t as u8]).unwrap();
    }
    let opener = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(50));
        open_gate();
    });
    b.shutdown();
    opener.join().unwrap();
    assert_eq!(STARTED.load(Ordering::SeqCst) - s0, 1, "no queued job was compiled");
    assert_eq!(ok_values(&b.poll(100)), vec![1], "the running job's result is kept");
    assert!(matches!(b.submit(20, 1, vec![0, 20]), Err(EmberError::Dropped(_))));
    assert_eq!(b.stats().dropped, 9);
    assert!(b.wait_idle(Duration::from_millis(10)));
}

#[test]
#[serial]
fn shutdown_keeps_the_jobs_submitted_to_finish_at_exit() {
    close_gate();
    let b = backlog(16);
    let s0 = STARTED.load(Ordering::SeqCst);
    b.submit(1, 1, vec![1, 1]).unwrap();
    wait_started(s0 + 1);
    b.submit(2, 9, vec![0, 2]).unwrap();
    b.submit_finishing_at_exit(3, 1, vec![0, 3]).unwrap();
    b.submit(4, 9, vec![0, 4]).unwrap();
    b.submit_finishing_at_exit(5, 2, vec![0, 5]).unwrap();
    let opener = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(50));
        open_gate();
    });
    b.shutdown();
    opener.join().unwrap();
    assert_eq!(STARTED.load(Ordering::SeqCst) - s0, 3, "the running job and the two kept ones");
    assert_eq!(ok_values(&b.poll(100)), vec![1, 5, 3], "kept jobs compile hottest first");
    assert_eq!(b.stats().dropped, 2);
    assert!(b.wait_idle(Duration::from_millis(10)));
}

#[test]
#[serial]
fn jobs_kept_at_exit_are_dropped_after_the_exit_budget() {
    close_gate();
    let b = backlog(16);
    let s0 = STARTED.load(Ordering::SeqCst);
    b.submit_finishing_at_exit(1, 1, vec![1, 1]).unwrap();
    wait_started(s0 + 1);
    b.submit_finishing_at_exit(2, 1, vec![0, 2]).unwrap();
    let budget = ember::background::EXIT_START_BUDGET;
    let opener = std::thread::spawn(move || {
        std::thread::sleep(budget + Duration::from_millis(50));
        open_gate();
    });
    b.shutdown();
    opener.join().unwrap();
    assert_eq!(STARTED.load(Ordering::SeqCst) - s0, 1, "job 2 was not started after the budget");
    assert_eq!(ok_values(&b.poll(100)), vec![1]);
    assert_eq!(b.stats().dropped, 1);
}

#[test]
#[serial]
fn a_stop_without_a_compile_thread_keeps_nothing() {
    let b = backlog(16);
    b.prepare_fork(); // paused: no thread
    b.submit_finishing_at_exit(1, 1, vec![0, 1]).unwrap();
    b.stop();
    assert_eq!(b.stats().queued, 0);
    assert_eq!(b.stats().dropped, 1);
    assert!(b.wait_idle(Duration::from_millis(10)));
}

#[test]
#[serial]
fn prepare_fork_ends_the_thread_after_its_job_and_the_queue_resumes() {
    close_gate();
    let b = backlog(16);
    let s0 = STARTED.load(Ordering::SeqCst);
    b.submit(1, 1, vec![1, 1]).unwrap();
    wait_started(s0 + 1);
    b.submit(2, 1, vec![0, 2]).unwrap();
    let opener = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(50));
        open_gate();
    });
    b.prepare_fork(); // returns once the thread has finished job 1 and ended
    opener.join().unwrap();
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(STARTED.load(Ordering::SeqCst) - s0, 1, "job 2 not started");
    assert_eq!(ok_values(&b.poll(100)), vec![1]);
    b.after_fork_parent();
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(b.stats().queued, 1, "no thread is started inside the fork handler");
    assert_eq!(b.ready(), 0); // starts the thread again
    assert!(b.wait_idle(Duration::from_secs(10)));
    assert_eq!(ok_values(&b.poll(100)), vec![2]);
}

#[test]
#[serial]
fn a_forked_child_compiles_its_copy_of_the_queue() {
    let b = backlog(16);
    b.submit(1, 1, vec![0, 1]).unwrap();
    assert!(b.wait_idle(Duration::from_secs(10)));
    b.prepare_fork();
    b.submit(2, 1, vec![0, 2]).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(b.stats().queued, 1, "paused: not compiled");
    b.after_fork_child();
    assert!(b.wait_idle(Duration::from_secs(10)));
    assert_eq!(ok_values(&b.poll(100)), vec![1, 2]);
}

static NOTIFIED: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_notify() {
    NOTIFIED.fetch_add(1, Ordering::SeqCst);
}

#[test]
#[serial]
fn the_notify_hook_runs_once_per_result_including_drops_and_failures() {
    close_gate();
    let b = backlog(1);
    b.set_notify(Some(count_notify));
    let n0 = NOTIFIED.load(Ordering::SeqCst);
    let s0 = STARTED.load(Ordering::SeqCst);
    b.submit(1, 1, vec![1, 1]).unwrap();
    wait_started(s0 + 1);
    b.submit(2, 1, vec![0, 2]).unwrap();
    // Hotter than job 2 in a full queue: 2 is dropped, which is a result too.
    b.submit(3, 5, vec![2, 3]).unwrap();
    assert_eq!(NOTIFIED.load(Ordering::SeqCst) - n0, 1);
    open_gate();
    assert!(b.wait_idle(Duration::from_secs(10)));
    // Job 1 compiled, job 3 failed, job 2 dropped: three results, three calls of the hook.
    assert_eq!(NOTIFIED.load(Ordering::SeqCst) - n0, 3);
    assert_eq!(b.poll(100).len(), 3);
    b.set_notify(None);
    b.submit(4, 1, vec![0, 4]).unwrap();
    assert!(b.wait_idle(Duration::from_secs(10)));
    assert_eq!(NOTIFIED.load(Ordering::SeqCst) - n0, 3);
}
