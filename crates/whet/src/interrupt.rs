//! Ctrl-C and SIGTERM during long commands: the first asks the work to stop (a search keeps
//! its finished trials and builds its model from them; `whet fit` stops at its next round; a
//! prediction stops between chunks and a profile between its steps; none of the last three
//! leaves an output file); the second ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};

static SEEN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    if SEEN.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe; a second signal means "now".
        unsafe { libc::_exit(130) };
    }
    whet_learn::stop::request_stop();
}

/// Routes SIGINT and SIGTERM to [`on_signal`] for the rest of the process.
pub fn install() {
    #[cfg(unix)]
    // SAFETY: the handler only touches atomics and calls _exit, both async-signal-safe.
    unsafe {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Whether the user asked to stop.
pub fn requested() -> bool {
    whet_learn::stop::stop_requested()
}

/// Fails with [`crate::exit::Interrupted`] (exit code 130) if the user asked to stop; `said`
/// tells what was done and what was not written.
pub fn check(said: impl FnOnce() -> String) -> anyhow::Result<()> {
    if requested() {
        return Err(anyhow::Error::new(crate::exit::Interrupted(said())));
    }
    Ok(())
}

/// Set by SIGTERM/SIGINT in `whet worker`: finish the trial in hand, then exit.
static DRAIN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_drain_signal(_: libc::c_int) {
    if DRAIN.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe; a second signal means "now".
        unsafe { libc::_exit(130) };
    }
}

/// For `whet worker`: the first SIGINT or SIGTERM lets the current trial finish and its result
/// be stored (a batch scheduler's stop loses no work); the second ends the process at once.
pub fn install_drain() {
    #[cfg(unix)]
    // SAFETY: the handler only touches an atomic and calls _exit, both async-signal-safe.
    unsafe {
        let handler = on_drain_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Whether a worker was asked to stop after its current trial.
pub fn drain_requested() -> bool {
    DRAIN.load(Ordering::SeqCst)
}
