//! Helper threads kept between runs, lent to one run at a time.
//!
//! Starting and joining threads costs tens of microseconds per compute, which dominates a
//! loop of small computes. Helpers are process-wide and live until the process exits: an
//! idle one blocks on its condvar (no CPU). [`scope`] takes as many idle helpers as it has
//! jobs (starting new ones only when too few are idle), so concurrent and nested runs each
//! get their own threads and never wait for one another; the number of helpers is the peak
//! number ever busy at once.
//!
//! A job borrows from the caller's stack, like a job of [`std::thread::scope`]: [`scope`]
//! does not return or unwind before every job it handed out either finished on its helper
//! or was taken back unstarted.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Work handed to a helper, with its borrows' lifetime erased (see [`scope`]).
type Job = Box<dyn FnOnce() + Send + 'static>;

/// Helpers not lent to any run.
static IDLE: Mutex<Vec<Arc<Helper>>> = Mutex::new(Vec::new());

/// One pooled thread and its mailbox.
#[derive(Default)]
struct Helper {
    mailbox: Mutex<Mailbox>,
    /// Signals the helper that a job was offered.
    offered: Condvar,
    /// Signals a waiting [`scope`] that the helper left its job.
    done: Condvar,
}

#[derive(Default)]
struct Mailbox {
    /// A job offered and not yet started.
    job: Option<Job>,
    /// The helper is running a job.
    running: bool,
    /// A [`scope`] waits on `done`.
    waiting: bool,
    /// The payload of the last job's panic, for its [`scope`] to resume.
    panic: Option<Box<dyn Any + Send>>,
}

impl Helper {
    fn lock(&self) -> MutexGuard<'_, Mailbox> {
        // A job's panic is caught outside the lock, so the lock is never poisoned by one.
        self.mailbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The helper thread's loop: wait for a job, run it, report, repeat.
    fn serve(&self) {
        let mut mailbox = self.lock();
        loop {
            let Some(job) = mailbox.job.take() else {
                mailbox = self.offered.wait(mailbox).unwrap_or_else(|e| e.into_inner());
                continue;
            };
            mailbox.running = true;
            drop(mailbox);
            // The job (and everything it borrowed) is consumed inside the catch, so once
            // `running` is cleared below nothing of the lending scope is touched again.
            let panic = catch_unwind(AssertUnwindSafe(job)).err();
            mailbox = self.lock();
            mailbox.running = false;
            mailbox.panic = panic;
            if mailbox.waiting {
                self.done.notify_one();
            }
        }
    }

    /// Gives `job` to this (idle) helper.
    fn offer(&self, job: Job) {
        self.lock().job = Some(job);
        self.offered.notify_one();
    }

    /// Takes back the job if it did not start, else waits until the helper left it; then
    /// the job's panic, if it had one. The job taken back is dropped after the lock is
    /// released (its captures may be arbitrary).
    fn reclaim(&self) -> Option<Box<dyn Any + Send>> {
        let mut mailbox = self.lock();
        let unstarted = mailbox.job.take();
        while mailbox.running {
            mailbox.waiting = true;
            mailbox = self.done.wait(mailbox).unwrap_or_else(|e| e.into_inner());
        }
        mailbox.waiting = false;
        let panic = mailbox.panic.take();
        drop(mailbox);
        drop(unstarted);
        panic
    }
}

/// Up to `n` helpers: idle ones first, then new threads (fewer if the system refuses to
/// start more).
fn take(n: usize) -> Vec<Arc<Helper>> {
    let mut helpers = {
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        let keep = idle.len().saturating_sub(n);
        idle.split_off(keep)
    };
    while helpers.len() < n {
        let helper = Arc::new(Helper::default());
        let serving = helper.clone();
        let started = std::thread::Builder::new().name("rask-pool".to_string()).spawn(move || serving.serve());
        match started {
            Ok(_) => helpers.push(helper),
            Err(_) => break,
        }
    }
    helpers
}

/// Returns helpers that left their jobs to the idle list.
fn give_back(helpers: Vec<Arc<Helper>>) {
    IDLE.lock().unwrap_or_else(|e| e.into_inner()).extend(helpers);
}

/// The helpers lent to one [`scope`]; dropping it (on return or unwind) takes back every
/// job handed out.
struct Lent {
    helpers: Vec<Arc<Helper>>,
}

impl Lent {
    /// Takes back every job (waiting for started ones), returns the helpers to the idle
    /// list, and gives the first job panic.
    fn reclaim(&mut self) -> Option<Box<dyn Any + Send>> {
        let helpers = std::mem::take(&mut self.helpers);
        let mut panic = None;
        for helper in &helpers {
            if let Some(p) = helper.reclaim() {
                panic.get_or_insert(p);
            }
        }
        give_back(helpers);
        panic
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        // Only reached with helpers left if something unwound before `scope` reclaimed.
        drop(self.reclaim());
    }
}

/// Runs each of `jobs` on a pooled helper thread while `main` runs on this one, and
/// returns `main`'s result once every job finished or was dropped unstarted.
///
/// A job no helper started by the time `main` returns is dropped without running (a
/// helper that wakes late costs no wait), so `main` must be able to finish the work alone,
/// as a work-stealing worker can. Jobs are also dropped unrun when the system refuses new
/// threads. A panic in `main` or in a job is resumed here once all jobs are over, `main`'s
/// first.
pub(crate) fn scope<'a, R>(jobs: Vec<Box<dyn FnOnce() + Send + 'a>>, main: impl FnOnce() -> R) -> R {
    if jobs.is_empty() {
        return main();
    }
    let mut lent = Lent { helpers: take(jobs.len()) };
    for (helper, job) in lent.helpers.iter().zip(jobs) {
        // SAFETY: only the lifetime changes, `'a` to `'static` (same layout). No borrow of
        // the job outlives `'a`: a helper consumes the job (dropping all it borrowed)
        // before it clears `running`, and this function does not return or unwind before
        // `lent` reclaimed every helper, which takes back a job not started and waits
        // until a started one cleared `running`. `main`'s panic is caught below, and
        // `lent`'s drop reclaims on any other unwind. (Jobs beyond the helpers obtained
        // are dropped unrun by the `zip`, unchanged.)
        let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + 'a>, Job>(job) };
        helper.offer(job);
    }
    let result = catch_unwind(AssertUnwindSafe(main));
    let job_panic = lent.reclaim();
    match (result, job_panic) {
        (Ok(r), None) => r,
        (Err(p), _) | (Ok(_), Some(p)) => resume_unwind(p),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn jobs_borrow_from_the_caller_and_run_or_are_dropped() {
        let ran = AtomicUsize::new(0);
        let dropped = AtomicUsize::new(0);
        struct CountDrop<'a>(&'a AtomicUsize);
        impl Drop for CountDrop<'_> {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        for _ in 0..200 {
            let jobs: Vec<Box<dyn FnOnce() + Send + '_>> = (0..3)
                .map(|_| {
                    let guard = CountDrop(&dropped);
                    let ran = &ran;
                    Box::new(move || {
                        let _guard = guard;
                        ran.fetch_add(1, Ordering::SeqCst);
                    }) as Box<dyn FnOnce() + Send + '_>
                })
                .collect();
            assert_eq!(scope(jobs, || 7), 7);
        }
        // Every job was consumed before its scope returned: run, or dropped unstarted.
        assert_eq!(dropped.load(Ordering::SeqCst), 600);
        assert!(ran.load(Ordering::SeqCst) <= 600);
    }

    /// A job that says it started, then takes 50 ms to set `flag`.
    fn slow_job(started: std::sync::mpsc::Sender<()>, flag: &AtomicUsize) -> Box<dyn FnOnce() + Send + '_> {
        Box::new(move || {
            started.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(50));
            flag.store(1, Ordering::SeqCst);
        })
    }

    #[test]
    fn a_started_job_is_waited_for() {
        let flag = AtomicUsize::new(0);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let job = slow_job(tx, &flag);
        // `main` returns only once the job started, so the scope must wait for its end.
        scope(vec![job], || rx.recv().unwrap());
        assert_eq!(flag.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_job_panic_is_resumed_after_the_scope_and_the_helper_survives() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
            tx.send(()).unwrap();
            panic!("job failed");
        });
        let caught = catch_unwind(AssertUnwindSafe(|| scope(vec![job], || rx.recv().unwrap())));
        let payload = caught.expect_err("the job's panic reaches the caller");
        assert_eq!(crate::panic_message(payload.as_ref()), "job failed");
        let ran = AtomicUsize::new(0);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let job: Box<dyn FnOnce() + Send + '_> = Box::new(|| {
            ran.fetch_add(1, Ordering::SeqCst);
            tx.send(()).unwrap();
        });
        scope(vec![job], || rx.recv().unwrap());
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_main_panic_waits_for_started_jobs_then_unwinds() {
        let flag = AtomicUsize::new(0);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let job = slow_job(tx, &flag);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            scope(vec![job], || {
                rx.recv().unwrap();
                panic!("main failed")
            })
        }));
        assert!(caught.is_err());
        assert_eq!(flag.load(Ordering::SeqCst), 1);
    }
}
