//! Stopping long work early: a deadline, a stop the user asked for (Ctrl-C or SIGTERM,
//! which the binary turns into [`request_stop`]), or work nobody wants any more
//! ([`abandon_work`]). Fits check [`past`] between iterations and end with
//! `LearnError::Interrupted`, so a search can keep what finished and build its model.
//!
//! The request is process-wide on purpose: a signal is, and a signal handler can do no more
//! than set a flag.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);
/// The work this process does now (0: none named), and the last work someone abandoned: a
/// `whet worker` names each fold it fits by its task, so a cancellation heard on another
/// thread stops that fit and never the next one.
static CURRENT_WORK: AtomicU64 = AtomicU64::new(0);
static ABANDONED_WORK: AtomicU64 = AtomicU64::new(0);

/// Names the work that starts now (0 when it ends), for [`abandon_work`].
pub fn begin_work(id: u64) {
    CURRENT_WORK.store(id, Ordering::SeqCst);
}

/// Stops the fits of work `id` at their next check, if that work is the one under way (or
/// when it starts).
pub fn abandon_work(id: u64) {
    ABANDONED_WORK.store(id, Ordering::SeqCst);
}

/// Whether the work under way was abandoned.
pub fn work_abandoned() -> bool {
    let current = CURRENT_WORK.load(Ordering::Relaxed);
    current != 0 && ABANDONED_WORK.load(Ordering::Relaxed) == current
}

/// Asks every running fit to stop at its next check. Async-signal-safe.
pub fn request_stop() {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

pub fn stop_requested() -> bool {
    STOP_REQUESTED.load(Ordering::Relaxed)
}

/// Whether work bound by `deadline` must stop now: a stop was requested or the deadline passed.
pub fn past(deadline: Option<Instant>) -> bool {
    stop_requested() || work_abandoned() || deadline.is_some_and(|d| Instant::now() >= d)
}
