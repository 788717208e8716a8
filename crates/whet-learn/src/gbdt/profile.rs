//! Opt-in wall-clock timing of a fit's phases, for bench/ scripts: set `WHET_GBDT_PROFILE=1`
//! and read the sums with [`take_fit_profile`]. Off by default, when a phase costs one cached
//! flag check. Sums are process-wide, so fits running at the same time add into one profile.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Seconds spent in each phase of the fits since the last [`take_fit_profile`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FitProfile {
    /// Gradients and hessians from the scores (the objective).
    pub gradients: f64,
    /// Histograms of leaves: built for the root and the smaller child, subtracted for the larger.
    /// In a tree whose features are sharded over the threads (a fit of few rows with the pool
    /// to itself), the split searches too: each thread does both for its features in one step.
    pub histograms: f64,
    /// Best split of each leaf from its histogram (in unsharded trees).
    pub splits: f64,
    /// Moving a split leaf's rows to its children.
    pub partition: f64,
    /// Adding the new tree's leaf values to training (and validation) scores.
    pub scores: f64,
    /// Training and validation losses (tracking and early stopping).
    pub losses: f64,
    /// The whole fit; what the phases above leave is bagging, sampling and bookkeeping.
    pub total: f64,
}

#[derive(Clone, Copy)]
pub(super) enum Phase {
    Gradients,
    Histograms,
    Splits,
    Partition,
    Scores,
    Losses,
    Total,
}

const N_PHASES: usize = 7;
static NANOS: [AtomicU64; N_PHASES] = [const { AtomicU64::new(0) }; N_PHASES];

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("WHET_GBDT_PROFILE").is_some_and(|v| v != "0"))
}

/// Adds the time until it is dropped to its phase (when profiling is on).
pub(super) struct PhaseTimer(Option<(Phase, Instant)>);

impl PhaseTimer {
    #[inline]
    pub(super) fn start(phase: Phase) -> PhaseTimer {
        PhaseTimer(enabled().then(|| (phase, Instant::now())))
    }
}

impl Drop for PhaseTimer {
    fn drop(&mut self) {
        if let Some((phase, t)) = self.0 {
            let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
            NANOS[phase as usize].fetch_add(ns, Ordering::Relaxed);
        }
    }
}

/// The phase times summed since the last call, which resets them; `None` unless the process
/// runs with `WHET_GBDT_PROFILE` set (and not `0`).
pub fn take_fit_profile() -> Option<FitProfile> {
    if !enabled() {
        return None;
    }
    let s = |p: Phase| NANOS[p as usize].swap(0, Ordering::Relaxed) as f64 * 1e-9;
    Some(FitProfile {
        gradients: s(Phase::Gradients),
        histograms: s(Phase::Histograms),
        splits: s(Phase::Splits),
        partition: s(Phase::Partition),
        scores: s(Phase::Scores),
        losses: s(Phase::Losses),
        total: s(Phase::Total),
    })
}
