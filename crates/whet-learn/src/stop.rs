//! Stopping long work early: a deadline, or a stop the user asked for (Ctrl-C or SIGTERM,
//! which the binary turns into [`request_stop`]). Fits check [`past`] between iterations and
//! end with `LearnError::Interrupted`, so a search can keep what finished and build its model.
//!
//! The request is process-wide on purpose: a signal is, and a signal handler can do no more
//! than set a flag.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks every running fit to stop at its next check. Async-signal-safe.
pub fn request_stop() {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

pub fn stop_requested() -> bool {
    STOP_REQUESTED.load(Ordering::Relaxed)
}

/// Whether work bound by `deadline` must stop now: a stop was requested or the deadline passed.
pub fn past(deadline: Option<Instant>) -> bool {
    stop_requested() || deadline.is_some_and(|d| Instant::now() >= d)
}
