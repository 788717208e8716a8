//! Folds fitted in this process by several threads at once: the in-process [`FoldExecutor`]
//! the search uses when it has more than one thread.
//!
//! The search proposes each trial one ahead (see [`crate::search`]), so two trials' folds are
//! queued at once; runners on the rayon pool take them in queue order (the current trial's
//! folds first) and fit them with [`fit_fold`], as many at a time as the pool has threads. The
//! search consumes the results in trial and fold order, exactly as a one-thread run fits them,
//! so the trials, scores and model never depend on the thread count: the pipeline only lets
//! the next trial's first folds use the threads the current trial's last folds leave idle.
//!
//! Fold jobs never block a pool thread: each fits one queued fold and starts the next job
//! while folds are queued, up to the width. The caller's thread waits
//! for results on a condition variable (it should not be a pool thread, or the pool has one
//! thread less to fit with; `whet` calls from its main thread).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use whet_learn::metrics::Metric;

use crate::error::{AutomlError, Result};
use crate::plan::CvPlan;
use crate::remote::{FoldExecutor, FoldTask};
use crate::trial::{FoldError, FoldResult, Problem, fit_fold};

type Outcome = std::result::Result<FoldResult, FoldError>;

/// What the runners and the search share.
#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    queued: VecDeque<FoldTask>,
    done: BTreeMap<(usize, usize), Outcome>,
    /// Trials the search no longer needs: their queued folds are dropped, and the results of
    /// their folds being fitted are thrown away.
    cancelled: BTreeSet<usize>,
    runners: usize,
    /// Folds being fitted, by trial.
    fitting: BTreeMap<usize, usize>,
    /// The most trials that had folds being fitted at the same moment.
    most_trials_fitting: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A runner catches its fit's panics, so a poisoned lock still holds consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Everything a fold job needs, copied into each job.
#[derive(Clone, Copy)]
struct Ctx<'scope, 'p> {
    shared: &'scope Shared,
    problem: &'scope Problem<'p>,
    plan: &'scope CvPlan,
    metric: Metric,
    width: usize,
}

pub(crate) struct LocalExecutor<'s, 'scope, 'p> {
    scope: &'s rayon::Scope<'scope>,
    ctx: Ctx<'scope, 'p>,
}

impl<'s, 'scope, 'p: 'scope> LocalExecutor<'s, 'scope, 'p> {
    /// An executor fitting up to `width` folds at once on the pool `scope` belongs to.
    pub(crate) fn new(
        scope: &'s rayon::Scope<'scope>,
        shared: &'scope Shared,
        problem: &'scope Problem<'p>,
        plan: &'scope CvPlan,
        metric: Metric,
        width: usize,
    ) -> Self {
        LocalExecutor {
            scope,
            ctx: Ctx {
                shared,
                problem,
                plan,
                metric,
                width: width.max(1),
            },
        }
    }

    /// The most trials whose folds were being fitted at the same moment so far.
    #[cfg(test)]
    pub(crate) fn most_trials_fitting(&self) -> usize {
        self.ctx.shared.lock().most_trials_fitting
    }
}

/// Starts fold jobs while fewer than the width run and queued folds wait for one.
fn dispatch<'scope, 'p: 'scope>(
    st: &mut State,
    scope: &rayon::Scope<'scope>,
    ctx: Ctx<'scope, 'p>,
) {
    while st.runners < ctx.width && st.runners < st.queued.len() {
        st.runners += 1;
        scope.spawn(move |s| job(s, ctx));
    }
}

/// One job fits one fold (the first queued one), then makes room for the next. One fold
/// per job, rather than a loop over the queue, because a pool thread waiting inside a fit
/// may run a stolen job on its stack: that delays its own fold by one fold, not by the
/// whole queue.
fn job<'scope, 'p: 'scope>(scope: &rayon::Scope<'scope>, ctx: Ctx<'scope, 'p>) {
    let shared = ctx.shared;
    let task = {
        let mut st = shared.lock();
        loop {
            match st.queued.pop_front() {
                None => {
                    st.runners -= 1;
                    shared.changed.notify_all();
                    return;
                }
                Some(t) if st.cancelled.contains(&t.trial) => continue,
                Some(t) => {
                    *st.fitting.entry(t.trial).or_default() += 1;
                    st.most_trials_fitting = st.most_trials_fitting.max(st.fitting.len());
                    break t;
                }
            }
        }
    };
    let outcome = fit(ctx.problem, ctx.plan, ctx.metric, &task);
    let mut st = shared.lock();
    if let Some(n) = st.fitting.get_mut(&task.trial) {
        *n -= 1;
        if *n == 0 {
            st.fitting.remove(&task.trial);
        }
    }
    if !st.cancelled.contains(&task.trial) {
        st.done.insert((task.trial, task.fold), outcome);
    }
    st.runners -= 1;
    dispatch(&mut st, scope, ctx);
    shared.changed.notify_all();
}

fn fit(problem: &Problem, plan: &CvPlan, metric: Metric, task: &FoldTask) -> Outcome {
    let config = task
        .config()
        .map_err(|e| FoldError::Failed(e.to_string()))?;
    let fold = plan
        .folds
        .get(task.fold)
        .ok_or_else(|| FoldError::Failed(format!("no fold {}", task.fold)))?;
    // A panic must become an outcome: the search waits for every fold it queued.
    catch_unwind(AssertUnwindSafe(|| {
        fit_fold(problem, &config, fold, metric, task.seed, task.deadline())
    }))
    .unwrap_or_else(|_| Err(FoldError::Failed("the fold's fit panicked".into())))
}

impl<'scope, 'p: 'scope> FoldExecutor for LocalExecutor<'_, 'scope, 'p> {
    fn submit(&mut self, tasks: Vec<FoldTask>) -> Result<()> {
        let mut st = self.ctx.shared.lock();
        st.queued.extend(tasks);
        dispatch(&mut st, self.scope, self.ctx);
        Ok(())
    }

    fn wait(&mut self, trial: usize, fold: usize, deadline: Option<Instant>) -> Result<Outcome> {
        let mut st = self.ctx.shared.lock();
        loop {
            if let Some(outcome) = st.done.remove(&(trial, fold)) {
                return Ok(outcome);
            }
            if whet_learn::stop::stop_requested() || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Err(FoldError::Interrupted));
            }
            if st.runners == 0 {
                return Err(AutomlError::Queue(format!(
                    "fold {fold} of trial {trial} was never queued"
                )));
            }
            // Woken by every finished fold; the timeout only bounds how late a stop is seen.
            st = self
                .ctx
                .shared
                .changed
                .wait_timeout(st, Duration::from_millis(50))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    fn cancel(&mut self, trial: usize) -> Result<()> {
        let mut st = self.ctx.shared.lock();
        st.queued.retain(|t| t.trial != trial);
        st.done.retain(|&(t, _), _| t != trial);
        st.cancelled.insert(trial);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let mut st = self.ctx.shared.lock();
        st.queued.clear();
        while st.runners > 0 {
            st = self
                .ctx
                .shared
                .changed
                .wait(st)
                .unwrap_or_else(|e| e.into_inner());
        }
        st.done.clear();
        Ok(())
    }
}
