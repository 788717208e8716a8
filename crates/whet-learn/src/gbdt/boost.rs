//! The fit: input checks, sample and class weights, the boosting loop (bagging, feature
//! sampling, shrinkage), random-forest and extra-trees modes (averaged trees, bootstrap,
//! class shares), loss tracking and early stopping, on one validation set or on each of
//! several groups of its rows.

use rayon::prelude::*;
use whet_data::rng::Rng;

use super::classes::{ClassCtx, grow_class_trees};
use super::flat::FlatCache;
use super::grow::{RootCarry, grow_tree};
use super::histogram::{ClassRow, Hist, HistPool};
use super::objective::{ObjectiveState, Weights, class_prior, share_log_loss, weighted_median};
use super::params::{Boosting, ClassWeight, GbdtParams, Objective};
use super::profile::{Phase, PhaseTimer};
use super::shard::shard_bounds;
use super::split::Ctx;
use super::tree::Tree;
use super::{GbdtModel, LOSS_CHUNK_ROWS};
use crate::binning::BinnedData;
use crate::data::{Rows, TrainSet, check_train_set};
use crate::error::{LearnError, Result};

const TRACK_LOSS_ROWS: usize = 100_000;
/// Up to this many rows, a round's class trees grow in parallel (see `class_parallel`): most
/// of a tree's leaves are then below the sizes whose histograms and split searches are
/// shared out between threads, so one tree at a time leaves threads idle.
const CLASS_PARALLEL_MAX_ROWS: usize = 32_768;

/// Rows up to which a fit that has the pool to itself shards its features over the threads
/// (see `shard`). Each shard's thread reads every row of a leaf for its features, so on more
/// rows the parts' single pass over them wins: on two threads, 30k and 60k rows × 28 fitted
/// 17–18% faster sharded, 120k 6–12%, 160k the same, and birthdays (298k × 10) and
/// flights_late (262k × 11) 10–15% slower.
const SHARDED_MAX_ROWS: usize = 131_072;

/// One class's buffers when a round's class trees grow in parallel, kept across rounds.
#[derive(Default)]
struct ClassWork {
    indices: Vec<u32>,
    scratch: Vec<u32>,
    ranges: Vec<(usize, usize, usize)>,
    tree: Option<Tree>,
}

/// The rows' weights with `class_weight` applied; None for unit weights (see [`Weights`]).
fn sample_weights(data: &TrainSet, p: &GbdtParams) -> Result<Option<Vec<f64>>> {
    let n_all = data.x.n_rows;
    if data.weight.is_none() && p.class_weight.is_none() {
        return Ok(None);
    }
    let mut w: Vec<f64> = match data.weight {
        Some(w) => w.to_vec(),
        None => vec![1.0; n_all],
    };
    if let Some(cw) = &p.class_weight {
        if !data.task.is_classification() {
            return Err(LearnError::param(
                "class_weight",
                "set",
                "only applies to classification",
                "remove class_weight for regression",
            ));
        }
        let k = data.n_classes;
        let per_class = match cw {
            ClassWeight::PerClass(v) => {
                if v.len() != k {
                    return Err(LearnError::param(
                        "class_weight",
                        format!("{v:?}"),
                        format!("needs {k} weights, one per class"),
                        "list them in class order",
                    ));
                }
                v.clone()
            }
            ClassWeight::Balanced => {
                let mut counts = vec![0.0; k];
                for i in 0..data.n_rows() {
                    counts[data.y[data.row(i)] as usize] += 1.0;
                }
                let n = data.n_rows() as f64;
                counts
                    .iter()
                    .map(|c| if *c > 0.0 { n / (k as f64 * c) } else { 0.0 })
                    .collect()
            }
        };
        for i in 0..data.n_rows() {
            let r = data.row(i);
            w[r] *= per_class[data.y[r] as usize];
        }
    }
    Ok(Some(w))
}

/// One bootstrap sample of `all_rows` (n draws with replacement) as a count per row in
/// `counts` (indexed by row, `n_all` long); `indices` keeps the rows drawn at least once.
fn bootstrap(
    mut rng: Rng,
    all_rows: Rows,
    n_all: usize,
    counts: &mut Vec<f32>,
    indices: &mut Vec<u32>,
) {
    let n = all_rows.len();
    counts.clear();
    counts.resize(n_all, 0.0);
    for _ in 0..n {
        counts[all_rows.at(rng.below(n as u64) as usize) as usize] += 1.0;
    }
    indices.retain(|&r| counts[r as usize] > 0.0);
}

/// Fits a GBDT (or forest) model. `binned` must be the binning of `data.x` (all rows);
/// `valid` pairs a validation set with its binning under the same mappers.
pub fn fit_gbdt(
    data: &TrainSet,
    binned: &BinnedData,
    valid: Option<(&TrainSet, &BinnedData)>,
    params: &GbdtParams,
) -> Result<GbdtModel> {
    fit_gbdt_until(data, binned, valid, params, None)
}

/// [`fit_gbdt`] that gives up with [`LearnError::Interrupted`] once `deadline` has passed
/// (checked between iterations), so a time budget can stop a long fit without waiting for it.
pub fn fit_gbdt_until(
    data: &TrainSet,
    binned: &BinnedData,
    valid: Option<(&TrainSet, &BinnedData)>,
    params: &GbdtParams,
    deadline: Option<std::time::Instant>,
) -> Result<GbdtModel> {
    on_pool(|awake| fit_gbdt_core(data, binned, valid, None, params, deadline, awake))
        .map(|(m, _)| m)
}

/// Boosting with early stopping followed on each of several groups of validation rows at
/// once, as if each group had its own fit: a group stops being followed `early_stopping_round`
/// rounds after its best, and the fit ends when every group has stopped. The model keeps
/// every tree it grew; the best iteration of each group is returned, so
/// [`GbdtModel::truncated`] gives exactly the model a fit validated on that group alone keeps.
/// Nested cross-validation uses this: one fit serves two outer folds.
pub fn fit_gbdt_stopping_on_each(
    data: &TrainSet,
    binned: &BinnedData,
    valid: (&TrainSet, &BinnedData),
    groups: &[Vec<usize>],
    params: &GbdtParams,
    deadline: Option<std::time::Instant>,
) -> Result<(GbdtModel, Vec<usize>)> {
    if params.boosting != Boosting::Gbdt || params.early_stopping_round == 0 {
        return Err(LearnError::param(
            "early_stopping_round",
            params.early_stopping_round.to_string(),
            "stopping on validation groups needs boosting with early stopping",
            "use boosting gbdt and a positive early_stopping_round",
        ));
    }
    on_pool(|awake| {
        fit_gbdt_core(
            data,
            binned,
            Some(valid),
            Some(groups),
            params,
            deadline,
            awake,
        )
    })
}

/// Where early stopping stands on one validation group.
#[derive(Clone, Copy, Default)]
struct GroupStop {
    best: Option<(usize, f64)>,
    stopped: bool,
}

/// Runs `fit` on a pool thread. A fit called from outside the pool (`whet fit`, a library
/// user's thread) would otherwise hand each of its thousands of parallel loops over to the
/// pool and wait for it on a thread that does none of the work (6% of a 160k-row fit on two
/// threads; on a pool of one, every loop was a hand-over and back).
fn on_pool<R: Send>(fit: impl FnOnce(Option<&KeepPoolAwake>) -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return fit(None);
    }
    rayon::scope(|_| {
        let awake = KeepPoolAwake::start_if_cores_allow();
        fit(awake.as_ref())
    })
}

/// Positions of a tree's leaf ranges per parallel job of [`for_each_leaf_row`], and rows per
/// job of [`add_leaf_values_and_gradients`].
const SCORE_CHUNK_ROWS: usize = 16_384;

/// Calls `visit(r, leaf)` for every row `r` in `indices[b..e]` of each leaf range
/// `(b, e, leaf)`; large trees' ranges are cut into chunks that run in parallel (a million
/// rows' scattered writes were 7% of a fit on one thread). The leaf ranges are disjoint slices
/// of `indices`, in which each row appears once (the partition permutes the tree's rows), so
/// no two calls get the same row: `visit` may write row `r`'s entries through a shared pointer.
fn for_each_leaf_row(
    indices: &[u32],
    ranges: &[(usize, usize, usize)],
    n_rows: usize,
    visit: impl Fn(usize, usize) + Sync,
) {
    if indices.len() < 2 * SCORE_CHUNK_ROWS || rayon::current_num_threads() == 1 {
        for &(b, e, leaf) in ranges {
            for &r in &indices[b..e] {
                visit(r as usize, leaf);
            }
        }
        return;
    }
    let jobs: Vec<(usize, usize, usize)> = ranges
        .iter()
        .flat_map(|&(b, e, leaf)| {
            (b..e)
                .step_by(SCORE_CHUNK_ROWS)
                .map(move |s| (s, (s + SCORE_CHUNK_ROWS).min(e), leaf))
        })
        .collect();
    debug_assert!(
        {
            let mut seen = vec![false; n_rows];
            indices
                .iter()
                .all(|&r| !std::mem::replace(&mut seen[r as usize], true))
        },
        "a row appears twice in a tree's leaf ranges"
    );
    jobs.par_iter().for_each(|&(b, e, leaf)| {
        for &r in &indices[b..e] {
            visit(r as usize, leaf);
        }
    });
}

/// Adds each leaf's value to the output `k` of its rows: `acc[r * n_outputs + k] += value`
/// for every row `r` of each leaf range (see [`for_each_leaf_row`]). One addition per row, so
/// the result is the same whichever thread makes it.
fn add_leaf_values(
    acc: &mut [f64],
    n_outputs: usize,
    k: usize,
    indices: &[u32],
    ranges: &[(usize, usize, usize)],
    leaf_value: &[f64],
) {
    let len = acc.len();
    let scores = SharedRows(acc.as_mut_ptr());
    for_each_leaf_row(indices, ranges, len / n_outputs.max(1), |r, leaf| {
        let at = r * n_outputs + k;
        assert!(at < len, "row {r} outside the scores");
        // SAFETY: `at` is in bounds (checked above), and no other call writes it: each row
        // is visited once (see `for_each_leaf_row`). `acc` is borrowed mutably throughout.
        unsafe { *scores.at(at) += leaf_value[leaf] };
    });
}

/// Moves the score of every training row (`rows`, each once) by its leaf's value and takes
/// its gradient and hessian at the new score, in one pass over the rows in their order. This
/// replaces [`add_leaf_values`] followed by the next round's `gradients`: a scattered update
/// of the scores, then a pass reading them again (on 1M rows, 100 rounds and 2 threads the two
/// took 0.79 s, this takes 0.57 s; on 400k regression rows 0.29 s and 0.14 s). Each row's leaf
/// is first written to `leaf_of_row` (one byte: trees of at most 256 leaves). The same
/// operations on each row as the two steps: the same model.
#[allow(clippy::too_many_arguments)]
fn add_leaf_values_and_gradients(
    obj: &ObjectiveState,
    y: &[f64],
    weights: Weights,
    score: &mut [f64],
    gh: &mut [[f32; 2]],
    rows: Rows,
    indices: &[u32],
    ranges: &[(usize, usize, usize)],
    leaf_value: &[f64],
    scratch: &mut Vec<u32>,
) {
    debug_assert!(leaf_value.len() <= 256 && score.len() == gh.len());
    let n_all = score.len();
    let leaf_of_row = scratch_bytes(scratch, n_all);
    let leaves = SharedRows(leaf_of_row.as_mut_ptr());
    for_each_leaf_row(indices, ranges, n_all, |r, leaf| {
        assert!(r < n_all, "row {r} outside the scores");
        // SAFETY: in bounds (checked above), each row visited once (see `for_each_leaf_row`),
        // `leaf_of_row` borrowed mutably throughout.
        unsafe { *leaves.at(r) = leaf as u8 };
    });
    let leaf_of_row: &[u8] = leaf_of_row;
    let (scores, grads) = (SharedRows(score.as_mut_ptr()), SharedRows(gh.as_mut_ptr()));
    // A macro, not a closure: a closure called from the two loops below was compiled as a
    // function call per row (8% of a 500-round fit on 300k rows).
    macro_rules! update_row {
        ($r:expr) => {{
            let r = $r as usize;
            assert!(r < n_all, "row {r} outside the scores");
            // SAFETY: `r` is in bounds (checked above) of `score` and `gh` (equal lengths),
            // both borrowed mutably throughout; `rows` holds each row once and the chunks are
            // disjoint, so no other job touches row `r`.
            unsafe {
                let s = scores.at(r);
                *s += leaf_value[leaf_of_row[r] as usize];
                *grads.at(r) = obj.grad_hess(*s, y[r], weights.of(r));
            }
        }};
    }
    let update = |chunk: Rows| match chunk {
        Rows::Span { start, end } => (start..end).for_each(|r| update_row!(r)),
        Rows::Listed(rows) => rows.iter().for_each(|&r| update_row!(r)),
    };
    if rows.len() < 2 * SCORE_CHUNK_ROWS || rayon::current_num_threads() == 1 {
        update(rows);
    } else {
        rows.par_chunks(SCORE_CHUNK_ROWS).for_each(update);
    }
}

/// The partition's scratch rows, free between trees, lent as `n` bytes (a byte per row for
/// [`add_leaf_values_and_gradients`]): 10 MB less at 10M rows than a buffer of their own.
fn scratch_bytes(scratch: &mut Vec<u32>, n: usize) -> &mut [u8] {
    if scratch.len() < n.div_ceil(4) {
        scratch.resize(n.div_ceil(4), 0);
    }
    // SAFETY: u8 has no alignment requirement and any bytes are valid u8s and u32s, so the
    // whole slice is the middle part, viewed as bytes while `scratch` stays borrowed.
    let (_, bytes, _) = unsafe { scratch.align_to_mut::<u8>() };
    &mut bytes[..n]
}

/// Tests turn the one-pass score and gradient update off, to check it against the two passes.
#[cfg(test)]
static SEPARATE_SCORE_AND_GRADIENT_PASSES: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

fn one_pass_scores_and_gradients() -> bool {
    #[cfg(test)]
    if SEPARATE_SCORE_AND_GRADIENT_PASSES.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    true
}

/// A slice's base pointer, shared by parallel jobs that each write their own entries.
struct SharedRows<T>(*mut T);

impl<T> SharedRows<T> {
    /// Entry `i`'s address; the caller keeps `i` in bounds.
    fn at(&self, i: usize) -> *mut T {
        self.0.wrapping_add(i)
    }
}
// SAFETY: the jobs sharing one write disjoint entries of one live mutable borrow (see the
// callers).
unsafe impl<T: Send> Sync for SharedRows<T> {}

/// A test's switch for the fits of one target vector (its address), so that tests running
/// beside it fit as they would without it; `used` counts the fits it changed.
#[cfg(test)]
struct TargetSwitch {
    target: std::sync::atomic::AtomicUsize,
    used: std::sync::atomic::AtomicUsize,
}

#[cfg(test)]
impl TargetSwitch {
    const fn new() -> TargetSwitch {
        TargetSwitch {
            target: std::sync::atomic::AtomicUsize::new(0),
            used: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn set(&self, y: Option<&[f64]>) {
        let at = y.map_or(0, |y| y.as_ptr() as usize);
        self.target.store(at, std::sync::atomic::Ordering::Relaxed);
    }

    fn is_on(&self, y: &[f64]) -> bool {
        self.target.load(std::sync::atomic::Ordering::Relaxed) == y.as_ptr() as usize
    }

    fn count_use(&self, y: &[f64]) {
        if self.is_on(y) {
            self.used.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn uses(&self) -> usize {
        self.used.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Tests build every root from its rows, to compare with roots carried over (`RootCarry`).
#[cfg(test)]
static ROOTS_FROM_ROWS: TargetSwitch = TargetSwitch::new();

fn carry_roots(_y: &[f64]) -> bool {
    #[cfg(test)]
    return !ROOTS_FROM_ROWS.is_on(_y);
    #[cfg(not(test))]
    true
}

/// Tests shard trees on a pool of their own (of any size), which `shard` otherwise does only
/// for a fit with the pool to itself.
#[cfg(test)]
static SHARD_IN_ANY_POOL: TargetSwitch = TargetSwitch::new();

fn shard_in_any_pool(_y: &[f64]) -> bool {
    #[cfg(test)]
    return SHARD_IN_ANY_POOL.is_on(_y);
    #[cfg(not(test))]
    false
}

/// How long a spinning thread may find no work before it gives up (see `KeepPoolAwake`).
const MAX_SPIN_IDLE: std::time::Duration = std::time::Duration::from_millis(2);

/// Keeps the pool's other threads looking for work while a fit runs, as OpenMP's threads spin
/// between LightGBM's parallel regions: a fit opens thousands of parallel loops a second, and
/// a rayon thread that found no work goes to sleep, so each loop paid the kernel to wake it
/// (an eighth of a 160k-row fit's CPU). Only for a fit called from outside the pool (`whet
/// fit`); in a study every thread fits folds of its own. The threads stop looking when this
/// is dropped, or after [`MAX_SPIN_IDLE`] without work; the fit calls [`Self::revive`] each
/// round, so a pause (the setup before the first tree) does not end the spinning for good.
struct KeepPoolAwake {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Threads spinning now, or about to: those started and not yet given up.
    spinning: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    fitting: Option<usize>,
}

impl KeepPoolAwake {
    /// None when the pool has more threads than the machine has cores: spinning threads
    /// would take turns with the fit's own for them.
    fn start_if_cores_allow() -> Option<KeepPoolAwake> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let threads = rayon::current_num_threads();
        (threads > 1 && threads <= cores).then(KeepPoolAwake::start)
    }

    fn start() -> KeepPoolAwake {
        let awake = KeepPoolAwake {
            done: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
            spinning: std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            fitting: rayon::current_thread_index(),
        };
        awake.spawn();
        awake
    }

    /// Sets the other threads spinning again once all of them gave up. Before the first
    /// tree, a 400k-row fit's setup kept them idle past [`MAX_SPIN_IDLE`], and the whole fit
    /// then ran with sleeping threads: 10% slower.
    fn revive(&self) {
        if self.spinning.load(std::sync::atomic::Ordering::Acquire) == 0 {
            self.spawn();
        }
    }

    fn spawn(&self) {
        use std::sync::atomic::Ordering;
        let helpers = rayon::current_num_threads().saturating_sub(1);
        self.spinning.fetch_add(helpers, Ordering::AcqRel);
        let (flag, spinning, fitting) = (self.done.clone(), self.spinning.clone(), self.fitting);
        rayon::spawn_broadcast(move |ctx| {
            // The fit's own thread must not spin: it would wait for itself.
            if Some(ctx.index()) == fitting {
                return;
            }
            let mut idle = 0u32;
            let mut idle_since = std::time::Instant::now();
            while !flag.load(Ordering::Acquire) {
                if rayon::yield_now() == Some(rayon::Yield::Executed) {
                    idle = 0;
                    continue;
                }
                if idle == 0 {
                    idle_since = std::time::Instant::now();
                }
                idle = idle.wrapping_add(1);
                // Now and then the core goes to whoever else wants it (another process,
                // more pool threads than cores) without leaving the run queue.
                if idle % 64 == 0 {
                    std::thread::yield_now();
                    // Rayon may run this job inside another job's wait (a thread that stole
                    // part of a fit picks it up while waiting on its own part), where spinning
                    // until the fit ends would wait for itself. A fit's pauses between
                    // parallel loops are microseconds: a long one means that, or a fit with
                    // little to share; either way the thread goes back to rayon.
                    if idle_since.elapsed() > MAX_SPIN_IDLE {
                        break;
                    }
                } else {
                    std::hint::spin_loop();
                }
            }
            spinning.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

impl Drop for KeepPoolAwake {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::Release);
    }
}

fn fit_gbdt_core(
    data: &TrainSet,
    binned: &BinnedData,
    valid: Option<(&TrainSet, &BinnedData)>,
    groups: Option<&[Vec<usize>]>,
    params: &GbdtParams,
    deadline: Option<std::time::Instant>,
    awake: Option<&KeepPoolAwake>,
) -> Result<(GbdtModel, Vec<usize>)> {
    let _total_time = PhaseTimer::start(Phase::Total);
    params.validate()?;
    let objective = params
        .objective
        .unwrap_or(Objective::default_for(data.task));
    if !objective.fits(data.task) {
        return Err(LearnError::param(
            "objective",
            objective.name(),
            format!("does not fit a {} task", data.task.name()),
            "leave objective unset to choose it from the task",
        ));
    }
    if binned.n_rows != data.x.n_rows || binned.n_features != data.x.n_features() {
        return Err(LearnError::data(
            "binned data does not match the features",
            "bin the same Features the model is fitted on",
        ));
    }
    if !params.monotone_constraints.is_empty()
        && params.monotone_constraints.len() != binned.n_features
    {
        return Err(LearnError::param(
            "monotone_constraints",
            format!("{} entries", params.monotone_constraints.len()),
            format!("needs one entry per feature ({})", binned.n_features),
            "use 0 for unconstrained features",
        ));
    }
    check_train_set(data)?;
    let n = data.n_rows();
    if objective == Objective::Poisson && (0..n).any(|i| data.y[data.row(i)] < 0.0) {
        return Err(LearnError::data(
            "poisson needs a non-negative target",
            "use regression (l2) or shift the target",
        ));
    }
    let n_outputs = if objective == Objective::Multiclass {
        data.n_classes.max(2)
    } else {
        1
    };
    let given_weights = sample_weights(data, params)?;
    let weights = given_weights
        .as_deref()
        .map_or(Weights::Unit, Weights::Rows);
    let obj = ObjectiveState {
        objective,
        n_outputs,
        huber_delta: params.huber_delta,
        poisson_max_delta_step: params.poisson_max_delta_step,
    };
    let averaging = params.boosting != Boosting::Gbdt;
    let class_shares = averaging && matches!(objective, Objective::Binary | Objective::Multiclass);
    let init = if class_shares {
        class_prior(data, weights, n_outputs)
    } else {
        obj.init_score(data, weights)
    };
    let n_all = data.x.n_rows;
    let mut score = vec![0.0; n_all * n_outputs];
    for r in 0..n_all {
        score[r * n_outputs..(r + 1) * n_outputs].copy_from_slice(&init);
    }
    let valid_rows: Vec<usize> = valid
        .map(|(v, _)| (0..v.n_rows()).map(|i| v.row(i)).collect())
        .unwrap_or_default();
    // Boosting scores start at init; forest sums start at zero and are averaged onto init.
    let mut valid_score = valid.map(|(v, _)| {
        let mut s = vec![0.0; v.x.n_rows * n_outputs];
        if !averaging {
            for r in 0..v.x.n_rows {
                s[r * n_outputs..(r + 1) * n_outputs].copy_from_slice(&init);
            }
        }
        s
    });
    let mut forest_sum = if averaging {
        vec![0.0; n_all * n_outputs]
    } else {
        Vec::new()
    };
    // Out-of-bag marks, made when a tree leaves rows out.
    let mut counted: Vec<bool> = Vec::new();
    // Whether `gh` already holds the gradients at the current scores.
    let mut gradients_ready = false;
    let valid_weights = valid
        .and_then(|(v, _)| v.weight)
        .map_or(Weights::Unit, Weights::Rows);

    let all_rows = data.rows_of_x();
    let has_monotone = params.monotone_constraints.iter().any(|&m| m != 0);
    // Class-share forests on more than two classes grow one tree for all classes (see
    // `classes`); under monotone constraints, one tree per class as boosting does.
    let one_tree_for_all = class_shares && n_outputs > 1 && !has_monotone;
    let mut gh: Vec<Vec<[f32; 2]>> = if one_tree_for_all {
        vec![Vec::new(); n_outputs]
    } else {
        vec![vec![[0.0; 2]; n_all]; n_outputs]
    };
    let rng = Rng::new(params.seed);
    let shrinkage = if averaging { 1.0 } else { params.learning_rate };
    let extra_trees = params.extra_trees || params.boosting == Boosting::Et;
    let ctx = Ctx {
        binned,
        pool: HistPool::new(binned.hist_len),
        p: params,
        monotone: &params.monotone_constraints,
        has_monotone,
        extra_trees,
        cat_kept: binned.categorical_bins_kept(
            all_rows,
            params.max_bin,
            params.min_data_in_bin,
            params.seed,
        ),
    };
    let class_ctx = one_tree_for_all.then(|| ClassCtx::new(&ctx, &init));
    let class_rows: Vec<ClassRow> = if one_tree_for_all {
        (0..n_all)
            .map(|r| ClassRow {
                class: data.y[r] as u32,
                weight: weights.of(r) as f32,
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut tree_class_rows = class_rows.clone();
    let mut class_trees: Vec<Option<Tree>> = Vec::new();
    let mut class_tree_rows: Vec<u32> = Vec::new();
    let mut oob_leaves: Vec<(usize, usize)> = Vec::new();
    let mut valid_leaves: Vec<usize> = Vec::new();
    let bagging = params.bagging_fraction < 1.0;
    let bag_every = params.bagging_freq.max(1);
    // The bagging sample, when one is drawn; otherwise every row is in the bag.
    let mut bag: Option<Vec<u32>> = None;
    let mut scratch = Vec::with_capacity(n);
    let mut spare_indices: Vec<u32> = Vec::new();
    let mut ranges = Vec::new();
    let mut trees: Vec<Tree> = Vec::new();
    let mut train_loss = Vec::new();
    let mut valid_loss = Vec::new();
    let mut best: Option<(usize, f64)> = None;
    let mut group_stops = vec![GroupStop::default(); groups.map_or(0, <[_]>::len)];
    let mut bootstrap_counts: Vec<f32> = Vec::new();
    let all_features: Vec<usize> = (0..binned.n_features).collect();
    // Trees of different classes grow in parallel when nothing random shapes a tree (so no
    // draw order to keep) and the rows are few enough that one tree leaves threads idle.
    let class_parallel = n_outputs > 1
        && params.boosting == Boosting::Gbdt
        && !extra_trees
        && params.feature_fraction_bynode >= 1.0
        && n <= CLASS_PARALLEL_MAX_ROWS
        && rayon::current_num_threads() > 1;
    // A fit with the pool to itself (its other threads spinning for it) on few rows gives
    // each thread a fixed block of features (see `shard`); trees growing side by side
    // (class-parallel) share the threads instead.
    let threads = rayon::current_num_threads();
    let shards = ((awake.is_some() && threads > 1 || shard_in_any_pool(data.y))
        && !class_parallel
        && n <= SHARDED_MAX_ROWS)
        .then(|| shard_bounds(binned, threads, n, params.num_leaves));
    #[cfg(test)]
    if shards.is_some() {
        SHARD_IN_ANY_POOL.count_use(data.y);
    }
    // Squared error on every row, one output, every feature in every tree: each tree's root
    // histogram follows from the last tree's leaves (see `RootCarry`).
    let mut carry = (objective == Objective::L2
        && carry_roots(data.y)
        && params.boosting == Boosting::Gbdt
        && !bagging
        && params.feature_fraction >= 1.0
        && n_outputs == 1)
        .then(|| RootCarry {
            root: None,
            next: ctx.pool.get(),
            shrinkage,
        });
    let mut class_work: Vec<ClassWork> = if class_parallel {
        (0..n_outputs).map(|_| ClassWork::default()).collect()
    } else {
        Vec::new()
    };

    if one_tree_for_all {
        // Classes and weights stand for the gradients (see `classes`).
    } else if class_shares {
        // Squared error on the class indicator from the class prior: a split's gain is the
        // class-variance (Gini) decrease, and prior + leaf value is the m-estimate
        // (Σt + λ·prior) / (n + λ) with λ = lambda_l2. λ = 0 gives the leaf's plain class
        // share; λ > 0 keeps small leaves off 0 and 1, which log loss punishes without limit
        // (Provost & Domingos 2003 on probability estimation trees).
        for (k, g) in gh.iter_mut().enumerate() {
            all_rows.for_each(|r| {
                let r = r as usize;
                let t = if n_outputs == 1 {
                    data.y[r]
                } else {
                    f64::from(u8::from(data.y[r] as usize == k))
                };
                g[r] = [((init[k] - t) * weights.of(r)) as f32, weights.of(r) as f32];
            });
        }
    } else if averaging {
        // Forest trees all fit the gradients at the initial score.
        obj.gradients(data.y, weights, &score, all_rows, &mut gh);
    }
    for iter in 0..params.num_iterations {
        if let Some(awake) = awake {
            awake.revive();
        }
        if crate::stop::past(deadline) {
            return Err(LearnError::Interrupted {
                done: iter,
                planned: params.num_iterations,
            });
        }
        if bagging && iter % bag_every == 0 {
            let k = ((n as f64 * params.bagging_fraction).round() as usize).clamp(1, n);
            let mut sampled = all_rows.to_vec();
            let mut bag_rng = rng.fork(0xBA6 + iter as u64);
            // Partial Fisher-Yates: the first k entries are a uniform sample without replacement.
            for i in 0..k {
                let j = i + bag_rng.below((n - i) as u64) as usize;
                sampled.swap(i, j);
            }
            sampled.truncate(k);
            sampled.sort_unstable();
            bag = Some(sampled);
        }
        if !averaging && !std::mem::take(&mut gradients_ready) {
            let _t = PhaseTimer::start(Phase::Gradients);
            obj.gradients(data.y, weights, &score, all_rows, &mut gh);
        }
        let tree_features: Vec<usize> = if params.feature_fraction < 1.0 {
            let k = ((binned.n_features as f64 * params.feature_fraction).ceil() as usize)
                .clamp(1, binned.n_features);
            let mut fs = all_features.clone();
            rng.fork(0xFEA7 + iter as u64).shuffle(&mut fs);
            fs.truncate(k);
            fs.sort_unstable();
            fs
        } else {
            all_features.clone()
        };
        let mut iter_rng = rng.fork(iter as u64);
        let in_bag = bag.as_deref().map_or(all_rows, Rows::Listed);
        if class_parallel {
            // Each class's tree depends only on its own gradients (scores move once all of
            // them are grown) and takes no random draw that shapes it, so they grow side by
            // side and come out as the one-by-one loop below grows them.
            class_work
                .par_iter_mut()
                .zip(gh.par_iter())
                .for_each(|(w, g)| {
                    w.indices.clear();
                    in_bag.extend_into(&mut w.indices);
                    let mut unused = iter_rng.clone();
                    w.tree = Some(grow_tree(
                        &ctx,
                        g,
                        &mut w.indices,
                        &mut w.scratch,
                        &tree_features,
                        &mut unused,
                        &mut w.ranges,
                        None,
                        None,
                    ));
                });
        }
        if let Some(cc) = &class_ctx {
            let mut indices = in_bag.to_vec();
            let rows_now: &[ClassRow] = if params.boosting == Boosting::Rf && !bagging {
                // One bootstrap draw for the tree of all classes, as weights.
                bootstrap(
                    iter_rng.fork(0xB00),
                    all_rows,
                    n_all,
                    &mut bootstrap_counts,
                    &mut indices,
                );
                for &r in &indices {
                    let r = r as usize;
                    tree_class_rows[r].weight = class_rows[r].weight * bootstrap_counts[r];
                }
                &tree_class_rows
            } else {
                &class_rows
            };
            let trees = grow_class_trees(
                cc,
                rows_now,
                &mut indices,
                &mut scratch,
                &tree_features,
                &mut iter_rng,
                &mut ranges,
            );
            // The class trees share their nodes: out-of-bag and validation rows find their
            // leaf once for all classes.
            oob_leaves.clear();
            if indices.len() != n {
                counted.clear();
                counted.resize(n_all, false);
                for &r in &indices {
                    counted[r as usize] = true;
                }
                all_rows.for_each(|r| {
                    let r = r as usize;
                    if !counted[r] {
                        oob_leaves.push((r, trees[0].leaf_index_binned(binned, r)));
                    }
                });
            }
            if let Some((_, vb)) = valid {
                valid_leaves = valid_rows
                    .par_chunks(LOSS_CHUNK_ROWS)
                    .flat_map_iter(|chunk| chunk.iter().map(|&r| trees[0].leaf_index_binned(vb, r)))
                    .collect();
            }
            class_trees = trees.into_iter().map(Some).collect();
            class_tree_rows = indices;
        }
        for k in 0..n_outputs {
            let grown = class_work
                .get_mut(k)
                .and_then(|w| Some((w.tree.take()?, w)));
            let one_for_all = class_trees.get_mut(k).and_then(Option::take);
            let (mut tree, indices) = if let Some(tree) = one_for_all {
                (tree, class_tree_rows.clone())
            } else if let Some((tree, w)) = grown {
                std::mem::swap(&mut ranges, &mut w.ranges);
                (tree, std::mem::take(&mut w.indices))
            } else {
                let mut indices = std::mem::take(&mut spare_indices);
                indices.clear();
                in_bag.extend_into(&mut indices);
                let tree_gh: &[[f32; 2]] = if params.boosting == Boosting::Rf && !bagging {
                    // Bootstrap by weights when no bagging sample is drawn.
                    bootstrap(
                        iter_rng.fork(0xB00 + k as u64),
                        all_rows,
                        n_all,
                        &mut bootstrap_counts,
                        &mut indices,
                    );
                    for &r in &indices {
                        let c = bootstrap_counts[r as usize];
                        let v = gh[k][r as usize];
                        gh[k][r as usize] = [v[0] * c, v[1] * c];
                    }
                    &gh[k]
                } else {
                    &gh[k]
                };
                let tree = grow_tree(
                    &ctx,
                    tree_gh,
                    &mut indices,
                    &mut scratch,
                    &tree_features,
                    &mut iter_rng,
                    &mut ranges,
                    shards.as_deref(),
                    carry.as_mut(),
                );
                if let Some(c) = carry.as_mut() {
                    let next = std::mem::replace(&mut c.next, ctx.pool.get());
                    c.root = Some(Hist {
                        entries: next,
                        occupied: None,
                    });
                }
                if params.boosting == Boosting::Rf && !bagging {
                    // Undo the bootstrap scaling for the next tree.
                    for &r in &indices {
                        let c = bootstrap_counts[r as usize];
                        let v = gh[k][r as usize];
                        gh[k][r as usize] = [v[0] / c, v[1] / c];
                    }
                }
                (tree, indices)
            };
            if objective == Objective::L1 {
                // Newton steps on |r| are ±1/n; the optimal constant per leaf is the median residual.
                for &(b, e, leaf) in &ranges {
                    let mut res: Vec<(f64, f64)> = indices[b..e]
                        .iter()
                        .map(|&r| {
                            let r = r as usize;
                            (data.y[r] - score[r], weights.of(r))
                        })
                        .collect();
                    tree.leaf_value[leaf] = weighted_median(&mut res);
                }
            }
            for v in tree.leaf_value.iter_mut() {
                *v *= shrinkage;
            }
            // In-bag rows by leaf range (one add per row), out-of-bag rows by traversal.
            let scores_time = PhaseTimer::start(Phase::Scores);
            let acc = if averaging {
                &mut forest_sum
            } else {
                &mut score
            };
            if !averaging
                && n_outputs == 1
                && indices.len() == n
                && tree.leaf_value.len() <= 256
                && iter + 1 < params.num_iterations
                && one_pass_scores_and_gradients()
            {
                // Every row is in the tree and another round follows: its gradients are
                // taken while its score moves.
                add_leaf_values_and_gradients(
                    &obj,
                    data.y,
                    weights,
                    acc,
                    &mut gh[0],
                    all_rows,
                    &indices,
                    &ranges,
                    &tree.leaf_value,
                    &mut scratch,
                );
                gradients_ready = true;
            } else {
                add_leaf_values(acc, n_outputs, k, &indices, &ranges, &tree.leaf_value);
                if one_tree_for_all {
                    for &(r, leaf) in &oob_leaves {
                        acc[r * n_outputs + k] += tree.leaf_value[leaf];
                    }
                } else if indices.len() != n {
                    counted.clear();
                    counted.resize(n_all, false);
                    for &r in indices.iter() {
                        counted[r as usize] = true;
                    }
                    all_rows.for_each(|r| {
                        let r = r as usize;
                        if !counted[r] {
                            let leaf = tree.leaf_index_binned(binned, r);
                            acc[r * n_outputs + k] += tree.leaf_value[leaf];
                        }
                    });
                }
            }
            if let (Some((_, vb)), Some(vs)) = (valid, valid_score.as_mut()) {
                // Traversals in parallel, additions in row order: the same sums on any pool.
                let values: Vec<f64> = if one_tree_for_all {
                    valid_leaves.iter().map(|&l| tree.leaf_value[l]).collect()
                } else {
                    valid_rows
                        .par_chunks(LOSS_CHUNK_ROWS)
                        .flat_map_iter(|chunk| {
                            chunk
                                .iter()
                                .map(|&r| tree.leaf_value[tree.leaf_index_binned(vb, r)])
                        })
                        .collect()
                };
                for (&r, v) in valid_rows.iter().zip(values) {
                    vs[r * n_outputs + k] += v;
                }
            }
            drop(scores_time);
            // The row buffer goes back for the next tree: a fresh one would be allocated and
            // page-faulted in for every tree (40 MB each at 10M rows).
            match class_work.get_mut(k) {
                Some(w) => w.indices = indices,
                None => spare_indices = indices,
            }
            trees.push(tree);
        }
        let _losses_time = PhaseTimer::start(Phase::Losses);
        // Forests predict init + mean of trees; boosting accumulates into the score directly.
        let t = (iter + 1) as f64;
        let averaged = |sum: &[f64]| -> Vec<f64> {
            sum.iter()
                .enumerate()
                .map(|(i, s)| init[i % n_outputs] + s / t)
                .collect()
        };
        // The training loss costs a log or exp per row: tracked every round on small data,
        // and for the final model always.
        if n <= TRACK_LOSS_ROWS || iter + 1 == params.num_iterations {
            let train_now = if averaging {
                averaged(&forest_sum)
            } else {
                Vec::new()
            };
            let train_scores: &[f64] = if averaging { &train_now } else { &score };
            train_loss.push(if class_shares {
                share_log_loss(
                    data.y,
                    weights,
                    train_scores,
                    n_outputs,
                    all_rows.iter().map(|r| r as usize),
                )
            } else {
                obj.loss_of_rows(data.y, weights, train_scores, all_rows)
            });
        }
        if let (Some((v, _)), Some(vs)) = (valid, valid_score.as_ref()) {
            let valid_now = if averaging { averaged(vs) } else { Vec::new() };
            let valid_scores: &[f64] = if averaging { &valid_now } else { vs };
            if let Some(groups) = groups {
                // Each group is followed on its own; a loss over all of them would go unused.
                let mut all_stopped = true;
                for (rows, stop) in groups.iter().zip(group_stops.iter_mut()) {
                    if stop.stopped {
                        continue;
                    }
                    let lg = obj.loss(v.y, valid_weights, valid_scores, rows, |&r| r);
                    if stop.best.is_none_or(|(_, b)| lg < b - 1e-12) {
                        stop.best = Some((iter, lg));
                    }
                    match stop.best {
                        Some((bi, _)) if iter - bi >= params.early_stopping_round => {
                            stop.stopped = true;
                        }
                        _ => all_stopped = false,
                    }
                }
                if all_stopped {
                    break;
                }
                continue;
            }
            let l = if class_shares {
                share_log_loss(
                    v.y,
                    valid_weights,
                    valid_scores,
                    n_outputs,
                    valid_rows.iter().copied(),
                )
            } else {
                obj.loss(v.y, valid_weights, valid_scores, &valid_rows, |&r| r)
            };
            valid_loss.push(l);
            if best.is_none_or(|(_, b)| l < b - 1e-12) {
                best = Some((iter, l));
            }
            if params.early_stopping_round > 0
                && let Some((bi, _)) = best
                && iter - bi >= params.early_stopping_round
            {
                break;
            }
        }
    }
    let grown = trees.len() / n_outputs.max(1);
    let group_best: Vec<usize> = group_stops
        .iter()
        .map(|g| g.best.map_or(grown, |(bi, _)| bi + 1))
        .collect();
    let best_iteration = if params.early_stopping_round > 0 && groups.is_none() {
        best.map(|b| b.0 + 1)
    } else {
        None
    };
    if let Some(bi) = best_iteration {
        trees.truncate(bi * n_outputs);
    }
    let model = GbdtModel {
        boosting: params.boosting,
        objective,
        task: data.task,
        n_classes: data.n_classes,
        n_outputs,
        init_score: init,
        trees,
        feature_names: data.x.columns.iter().map(|c| c.name.clone()).collect(),
        mappers: binned.mappers.clone(),
        best_iteration,
        params: params.clone(),
        train_loss,
        valid_loss,
        class_shares,
        flat: FlatCache::default(),
    };
    Ok((model, group_best))
}

#[cfg(test)]
mod tests {
    use super::*;
    use whet_data::Task;

    use crate::data::Predictions;
    use crate::gbdt::test_data::{numeric_features, set, synthetic};

    #[test]
    fn deterministic_and_thread_independent() {
        let (x, _, ybin) = synthetic(40_000, 5);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let p = GbdtParams {
            num_iterations: 10,
            bagging_fraction: 0.7,
            feature_fraction: 0.75,
            seed: 11,
            ..GbdtParams::default()
        };
        let fit = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| fit_gbdt(&set(&x, &ybin, Task::Binary, 2), &binned, None, &p).unwrap())
        };
        let a = fit(1);
        let b = fit(2);
        let c = fit(2);
        assert_eq!(a, b);
        assert_eq!(b, c);
        // From a thread outside any pool the fit moves onto the global pool, whose other
        // threads spin (`KeepPoolAwake`) while it runs: the same model.
        let outside = fit_gbdt(&set(&x, &ybin, Task::Binary, 2), &binned, None, &p).unwrap();
        assert_eq!(a, outside);
        let mut p2 = p.clone();
        p2.seed = 12;
        let d = fit_gbdt(&set(&x, &ybin, Task::Binary, 2), &binned, None, &p2).unwrap();
        assert_ne!(a.trees, d.trees);
    }

    /// Trees of more than 2 × `SCORE_CHUNK_ROWS` rows add their leaf values to the scores in
    /// parallel chunks: the same scores, so the same model, as one thread's loop.
    #[test]
    fn parallel_score_updates_make_the_one_thread_model() {
        let (x, yreg, _) = synthetic(3 * SCORE_CHUNK_ROWS, 4);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let p = GbdtParams {
            num_iterations: 4,
            ..GbdtParams::default()
        };
        let fit = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    fit_gbdt(&set(&x, &yreg, Task::Regression, 1), &binned, None, &p).unwrap()
                })
        };
        assert_eq!(fit(1), fit(2));
    }

    /// The one-pass score and gradient update (`add_leaf_values_and_gradients`) fits the model
    /// the two passes fit, on a subset of rows (a fold) large enough for parallel jobs, with
    /// weights, on one thread and on two. (Another test fitting meanwhile may see the switch:
    /// both paths give it the same model.)
    #[test]
    fn one_pass_scores_and_gradients_make_the_two_pass_model() {
        use std::sync::atomic::Ordering;
        let n = 3 * SCORE_CHUNK_ROWS;
        let (x, yreg, ybin) = synthetic(n, 9);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let fold: Vec<u32> = (0..n as u32).filter(|r| r % 5 != 2).collect();
        let weights: Vec<f64> = (0..n).map(|r| 0.5 + (r % 3) as f64).collect();
        let p = GbdtParams {
            num_iterations: 6,
            ..GbdtParams::default()
        };
        for (y, task, k) in [(&yreg, Task::Regression, 1), (&ybin, Task::Binary, 2)] {
            let data = TrainSet {
                weight: Some(&weights),
                rows: Some(&fold),
                ..set(&x, y, task, k)
            };
            let fit = |threads: usize, separate: bool| {
                SEPARATE_SCORE_AND_GRADIENT_PASSES.store(separate, Ordering::Relaxed);
                let m = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| fit_gbdt(&data, &binned, None, &p).unwrap());
                SEPARATE_SCORE_AND_GRADIENT_PASSES.store(false, Ordering::Relaxed);
                m
            };
            let two_passes = fit(2, true);
            assert_eq!(fit(2, false), two_passes, "{task:?}");
            assert_eq!(fit(1, false), two_passes, "{task:?}");
            assert!(
                two_passes.train_loss[5] < two_passes.train_loss[0],
                "{task:?}"
            );
        }
    }

    /// Bins kept only row-major (`low_memory`) give the model of bins kept both ways, bit for
    /// bit: only the partition reads them differently. Leaves large enough for the parallel
    /// partition, regression, binary and three classes, a subset of rows, 1 and 2 threads.
    #[test]
    fn bins_kept_only_by_rows_fit_the_same_model() {
        use crate::binning::BinLayout;
        let n = 40_000;
        let (x, yreg, ybin) = synthetic(n, 21);
        let y3: Vec<f64> = yreg.iter().map(|&z| (z.clamp(0.0, 2.99)).floor()).collect();
        let fit_bins = |layout| BinnedData::fit_layout(&x, 255, 3, 0, layout).unwrap();
        let (both, rows_only) = (
            fit_bins(BinLayout::RowsAndColumns),
            fit_bins(BinLayout::RowsOnly),
        );
        let fold: Vec<u32> = (0..n as u32).filter(|r| r % 7 != 2).collect();
        let p = GbdtParams {
            num_iterations: 4,
            ..GbdtParams::default()
        };
        for (y, task, k) in [
            (&yreg, Task::Regression, 1),
            (&ybin, Task::Binary, 2),
            (&y3, Task::Multiclass, 3),
        ] {
            let data = TrainSet {
                rows: Some(&fold),
                ..set(&x, y, task, k)
            };
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let fit = |binned: &BinnedData| {
                    pool.install(|| fit_gbdt(&data, binned, None, &p).unwrap())
                };
                let want = fit(&both);
                assert!(
                    want.trees.iter().all(|t| t.leaf_value.len() > 20),
                    "{task:?}"
                );
                assert_eq!(fit(&rows_only), want, "{task:?}, {threads} threads");
            }
        }
    }

    /// A fit of every row keeps no list of them (`Rows::Span`); it must be the fit of the same
    /// rows listed: boosting (one pass of scores and gradients, sharded or not), bagging,
    /// forests with bootstrap weights and out-of-bag rows, and class-share trees.
    #[test]
    fn every_row_unlisted_fits_the_model_of_every_row_listed() {
        let n = 40_000;
        let (x, yreg, ybin) = synthetic(n, 22);
        let y3: Vec<f64> = yreg.iter().map(|&z| (z.clamp(0.0, 2.99)).floor()).collect();
        let binned = BinnedData::fit(&x, 255).unwrap();
        let listed: Vec<u32> = (0..n as u32).collect();
        let base = GbdtParams {
            num_iterations: 4,
            ..GbdtParams::default()
        };
        let variants = [
            base.clone(),
            GbdtParams {
                bagging_fraction: 0.6,
                bagging_freq: 1,
                ..base.clone()
            },
            GbdtParams {
                boosting: Boosting::Rf,
                ..base.clone()
            },
        ];
        for (y, task, k) in [
            (&yreg, Task::Regression, 1),
            (&ybin, Task::Binary, 2),
            (&y3, Task::Multiclass, 3),
        ] {
            for p in &variants {
                let unlisted = set(&x, y, task, k);
                assert!(unlisted.rows.is_none());
                let want = fit_gbdt(
                    &TrainSet {
                        rows: Some(&listed),
                        ..unlisted
                    },
                    &binned,
                    None,
                    p,
                )
                .unwrap();
                assert!(
                    want.trees.iter().all(|t| t.leaf_value.len() > 20),
                    "{task:?}"
                );
                assert_eq!(
                    fit_gbdt(&unlisted, &binned, None, p).unwrap(),
                    want,
                    "{task:?}, {:?}, bagging {}",
                    p.boosting,
                    p.bagging_fraction
                );
            }
        }
    }

    /// Squared-error trees whose roots are carried over from the last tree's leaves (see
    /// `RootCarry`) are the trees of roots summed from the rows: the same splits, and leaf
    /// values that differ only in the last bits (f64 sums of the exact gradients, against sums
    /// of their f32 roundings), with weights, on a subset of rows, sharded or not.
    #[test]
    fn carried_roots_grow_the_trees_of_roots_from_rows() {
        let n = 4_000;
        let (x, yreg, _) = synthetic(n, 13);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let fold: Vec<u32> = (0..n as u32).filter(|r| r % 7 != 3).collect();
        let weights: Vec<f64> = (0..n).map(|r| 0.5 + (r % 4) as f64 * 0.25).collect();
        let p = GbdtParams {
            num_iterations: 30,
            ..GbdtParams::default()
        };
        let data = TrainSet {
            weight: Some(&weights),
            rows: Some(&fold),
            ..set(&x, &yreg, Task::Regression, 1)
        };
        let fit = |from_rows: bool, sharded: bool| {
            ROOTS_FROM_ROWS.set(from_rows.then_some(&yreg[..]));
            SHARD_IN_ANY_POOL.set(sharded.then_some(&yreg[..]));
            let m = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap()
                .install(|| fit_gbdt(&data, &binned, None, &p).unwrap());
            ROOTS_FROM_ROWS.set(None);
            SHARD_IN_ANY_POOL.set(None);
            m
        };
        let from_rows = fit(true, false);
        for sharded in [false, true] {
            let carried = fit(false, sharded);
            assert_ne!(carried, from_rows, "the roots were not carried");
            assert_eq!(carried.trees.len(), from_rows.trees.len());
            for (i, (a, b)) in carried.trees.iter().zip(&from_rows.trees).enumerate() {
                let shape = |t: &Tree| -> Vec<(u32, u8)> {
                    t.nodes
                        .iter()
                        .map(|n| (n.feature, n.threshold_bin))
                        .collect()
                };
                assert_eq!(shape(a), shape(b), "tree {i}");
                // The rows' gradients are f32: their sums differ at that precision.
                for (u, v) in a.leaf_value.iter().zip(&b.leaf_value) {
                    assert!(
                        (u - v).abs() <= 1e-5 * v.abs().max(1e-2),
                        "tree {i}: {u} vs {v}"
                    );
                }
            }
        }
    }

    /// Trees grown with the features sharded over the threads (see `shard`) are the trees
    /// grown without, bit for bit, on pools of 1 to 3 threads: numeric, categorical and wide
    /// categorical features, missing values, sparse histograms of small leaves, feature
    /// sampling per tree and per node, bagging, extra-trees, monotone constraints, multiclass
    /// and random forests.
    #[test]
    fn sharded_trees_are_the_unsharded_trees() {
        use whet_data::prep::{Feature, FeatureData};
        let n = 3_000;
        let (mut x, yreg, ybin) = synthetic(n, 21);
        let mut rng = Rng::new(5);
        let small: Vec<u32> = (0..n).map(|_| rng.below(12) as u32).collect();
        let wide: Vec<u32> = (0..n).map(|_| rng.below(300) as u32).collect();
        let flag: Vec<f32> = (0..n)
            .map(|_| f32::from(u8::from(rng.next_f64() < 0.3)))
            .collect();
        let yreg: Vec<f64> = yreg
            .iter()
            .zip(&small)
            .zip(&wide)
            .map(|((y, &c), &w)| y + 0.3 * f64::from(c % 4) - 0.2 * f64::from(w % 3))
            .collect();
        let ycls: Vec<f64> = yreg
            .iter()
            .map(|y| (y * 1.5).clamp(0.0, 2.0).floor())
            .collect();
        for (name, data) in [
            (
                "small",
                FeatureData::Categorical {
                    codes: small,
                    n_categories: 12,
                },
            ),
            (
                "wide",
                FeatureData::Categorical {
                    codes: wide,
                    n_categories: 300,
                },
            ),
            ("flag", FeatureData::Numeric(flag)),
        ] {
            x.columns.push(Feature {
                name: name.into(),
                data,
            });
        }
        let binned = BinnedData::fit(&x, 255).unwrap();
        assert!(binned.mappers[5].is_wide());
        let base = GbdtParams {
            num_iterations: 6,
            min_data_in_leaf: 3,
            min_sum_hessian_in_leaf: 0.0,
            ..GbdtParams::default()
        };
        let cases: Vec<(&str, &[f64], Task, usize, GbdtParams)> = vec![
            ("regression", &yreg, Task::Regression, 1, base.clone()),
            (
                "sampled binary",
                &ybin,
                Task::Binary,
                2,
                GbdtParams {
                    feature_fraction: 0.6,
                    feature_fraction_bynode: 0.7,
                    bagging_fraction: 0.8,
                    bagging_freq: 1,
                    lambda_l1: 0.1,
                    ..base.clone()
                },
            ),
            (
                "monotone",
                &yreg,
                Task::Regression,
                1,
                GbdtParams {
                    monotone_constraints: vec![1, -1, 0, 0, 0, 0, 0],
                    ..base.clone()
                },
            ),
            (
                "extra-trees multiclass",
                &ycls,
                Task::Multiclass,
                3,
                GbdtParams {
                    extra_trees: true,
                    ..base.clone()
                },
            ),
            (
                "forest",
                &yreg,
                Task::Regression,
                1,
                GbdtParams {
                    boosting: Boosting::Rf,
                    bagging_fraction: 0.7,
                    bagging_freq: 1,
                    ..base.clone()
                },
            ),
        ];
        for (name, y, task, k, p) in cases {
            let fit = |threads: usize| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| fit_gbdt(&set(&x, y, task, k), &binned, None, &p).unwrap())
            };
            let unsharded = fit(2);
            SHARD_IN_ANY_POOL.set(Some(y));
            let uses = SHARD_IN_ANY_POOL.uses();
            let sharded: Vec<GbdtModel> = (1..=3).map(fit).collect();
            let sharded_fits = SHARD_IN_ANY_POOL.uses() - uses;
            SHARD_IN_ANY_POOL.set(None);
            assert_eq!(sharded_fits, 3, "{name}: fits not sharded");
            for (threads, m) in (1..=3).zip(&sharded) {
                assert_eq!(*m, unsharded, "{name} on {threads} threads");
            }
            assert!(unsharded.trees.iter().any(|t| t.nodes.len() > 10), "{name}");
        }
    }

    /// Fits started at once from several threads outside the pool each move onto it with
    /// their spinning helpers, whose jobs rayon may run inside one another's waits (the
    /// multiclass trees nest parallel loops in parallel loops): every fit ends, each with the
    /// model a pool of one thread makes.
    #[test]
    fn concurrent_fits_from_outside_the_pool_all_finish_with_the_same_model() {
        let (x, yreg, _) = synthetic(6_000, 9);
        let y: Vec<f64> = yreg
            .iter()
            .map(|v| (v * 2.0).clamp(0.0, 3.0).floor())
            .collect();
        let binned = BinnedData::fit(&x, 255).unwrap();
        let p = GbdtParams {
            num_iterations: 8,
            num_leaves: 15,
            ..GbdtParams::default()
        };
        // Regression fits shard their trees over the pool (see `shard`) when it has more
        // than one thread: every thread takes part in each of their steps.
        for (y, task, k) in [(&y, Task::Multiclass, 4), (&yreg, Task::Regression, 1)] {
            let one = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap()
                .install(|| fit_gbdt(&set(&x, y, task, k), &binned, None, &p).unwrap());
            let models: Vec<GbdtModel> = std::thread::scope(|s| {
                let fits: Vec<_> = (0..4)
                    .map(|_| s.spawn(|| fit_gbdt(&set(&x, y, task, k), &binned, None, &p).unwrap()))
                    .collect();
                fits.into_iter().map(|f| f.join().unwrap()).collect()
            });
            for m in &models {
                assert_eq!(&one, m, "{task:?}");
            }
        }
    }

    #[test]
    fn class_trees_grown_side_by_side_are_the_one_by_one_trees() {
        // 6 classes on 1,500 rows: on 2 threads a round's class trees grow in parallel, on 1
        // thread one after another; bagging, feature sampling and a validation set included.
        let (x, yreg, _) = synthetic(1500, 21);
        let y: Vec<f64> = yreg
            .iter()
            .map(|v| ((v + 1.0) * 2.0).clamp(0.0, 5.0).floor())
            .collect();
        assert!((0..6).all(|c| y.iter().filter(|&&v| v == f64::from(c)).count() > 20));
        let binned = BinnedData::fit(&x, 255).unwrap();
        let train_rows: Vec<u32> = (0..1200).collect();
        let valid_rows: Vec<u32> = (1200..1500).collect();
        let train = TrainSet {
            rows: Some(&train_rows),
            ..set(&x, &y, Task::Multiclass, 6)
        };
        let valid = TrainSet {
            rows: Some(&valid_rows),
            ..set(&x, &y, Task::Multiclass, 6)
        };
        for p in [
            GbdtParams {
                num_iterations: 15,
                ..GbdtParams::default()
            },
            GbdtParams {
                num_iterations: 15,
                bagging_fraction: 0.7,
                bagging_freq: 1,
                feature_fraction: 0.75,
                early_stopping_round: 5,
                seed: 3,
                ..GbdtParams::default()
            },
            // Random draws inside trees: grown one by one on any pool.
            GbdtParams {
                num_iterations: 10,
                extra_trees: true,
                feature_fraction_bynode: 0.5,
                ..GbdtParams::default()
            },
        ] {
            let fit = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| fit_gbdt(&train, &binned, Some((&valid, &binned)), &p).unwrap())
            };
            let one = fit(1);
            assert_eq!(one.n_outputs, 6);
            assert!(one.trees.iter().any(|t| t.leaf_value.len() > 8));
            assert_eq!(one, fit(2), "{p:?}");
            assert_eq!(one, fit(3), "{p:?}");
        }
    }

    #[test]
    fn stopping_on_each_group_matches_a_fit_validated_on_that_group_alone() {
        let (x, yreg, _) = synthetic(3000, 13);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let train_rows: Vec<u32> = (0..2000).collect();
        let a: Vec<u32> = (2000..2500).collect();
        let b: Vec<u32> = (2500..3000).collect();
        let both: Vec<u32> = (2000..3000).collect();
        let train = TrainSet {
            rows: Some(&train_rows),
            ..set(&x, &yreg, Task::Regression, 1)
        };
        let p = GbdtParams {
            num_iterations: 2000,
            learning_rate: 0.3,
            bagging_fraction: 0.8,
            bagging_freq: 1,
            early_stopping_round: 10,
            ..GbdtParams::default()
        };
        let valid_both = TrainSet {
            rows: Some(&both),
            ..set(&x, &yreg, Task::Regression, 1)
        };
        let groups = vec![
            a.iter().map(|&r| r as usize).collect::<Vec<_>>(),
            b.iter().map(|&r| r as usize).collect(),
        ];
        let (m, best) =
            fit_gbdt_stopping_on_each(&train, &binned, (&valid_both, &binned), &groups, &p, None)
                .unwrap();
        assert_eq!(best.len(), 2);
        for (rows, &bi) in [&a, &b].into_iter().zip(&best) {
            let valid = TrainSet {
                rows: Some(rows),
                ..set(&x, &yreg, Task::Regression, 1)
            };
            let alone = fit_gbdt(&train, &binned, Some((&valid, &binned)), &p).unwrap();
            assert_eq!(alone.best_iteration, Some(bi));
            assert!(m.n_iterations() >= bi + 10, "kept growing past both bests");
            assert_eq!(m.truncated(bi).trees, alone.trees);
        }
        // Forests and fits without early stopping are refused, not silently run.
        let rf = GbdtParams::for_mode(Boosting::Rf);
        assert!(
            fit_gbdt_stopping_on_each(&train, &binned, (&valid_both, &binned), &groups, &rf, None)
                .is_err()
        );
    }

    #[test]
    fn early_stopping_and_monotone() {
        let (x, yreg, _) = synthetic(3000, 13);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let train_rows: Vec<u32> = (0..2000).collect();
        let valid_rows: Vec<u32> = (2000..3000).collect();
        let train = TrainSet {
            rows: Some(&train_rows),
            ..set(&x, &yreg, Task::Regression, 1)
        };
        let valid = TrainSet {
            rows: Some(&valid_rows),
            ..set(&x, &yreg, Task::Regression, 1)
        };
        let p = GbdtParams {
            num_iterations: 2000,
            learning_rate: 0.3,
            early_stopping_round: 10,
            ..GbdtParams::default()
        };
        let m = fit_gbdt(&train, &binned, Some((&valid, &binned)), &p).unwrap();
        let bi = m.best_iteration.unwrap();
        assert!(bi < 2000 && m.trees.len() == bi, "{bi}");
        assert!(m.valid_loss.len() <= bi + 10);

        // Increasing in f0 and decreasing in f1 wherever the other features sit.
        let p = GbdtParams {
            num_iterations: 30,
            monotone_constraints: vec![1, -1, 0, 0],
            ..GbdtParams::default()
        };
        let m = fit_gbdt(&set(&x, &yreg, Task::Regression, 1), &binned, None, &p).unwrap();
        let grid: Vec<f32> = (0..50).map(|i| i as f32 / 49.0).collect();
        for fixed in [0.1f32, 0.5, 0.9] {
            let up = numeric_features(vec![
                grid.clone(),
                vec![fixed; 50],
                vec![fixed; 50],
                vec![fixed; 50],
            ]);
            let down = numeric_features(vec![
                vec![fixed; 50],
                grid.clone(),
                vec![fixed; 50],
                vec![fixed; 50],
            ]);
            let pu = m.predict_raw(&up);
            let pd = m.predict_raw(&down);
            assert!(pu.windows(2).all(|w| w[1] >= w[0] - 1e-12), "{pu:?}");
            assert!(pd.windows(2).all(|w| w[1] <= w[0] + 1e-12), "{pd:?}");
        }
    }

    #[test]
    fn forests_fit_well() {
        let (x, yreg, ybin) = synthetic(2000, 17);
        let binned = BinnedData::fit(&x, 255).unwrap();
        for mode in [Boosting::Rf, Boosting::Et] {
            let p = GbdtParams {
                num_iterations: 30,
                ..GbdtParams::for_mode(mode)
            };
            let m = fit_gbdt(&set(&x, &ybin, Task::Binary, 2), &binned, None, &p).unwrap();
            let pred = m.predict(&x);
            let auc = crate::metrics::roc_auc(&ybin, &pred.values, None);
            assert!(auc > 0.95, "{mode:?} auc {auc}");
            let m = fit_gbdt(&set(&x, &yreg, Task::Regression, 1), &binned, None, &p).unwrap();
            let pred = m.predict(&x);
            let r2 = crate::metrics::r2(&yreg, &pred.values, None);
            assert!(r2 > 0.8, "{mode:?} r2 {r2}");
        }
    }

    #[test]
    fn classification_forests_average_class_shares() {
        // x = 0: three rows of class 0 and one of class 1; x = 1: two rows of class 2. One
        // extra tree, no sampling: its leaves are the two x values, each leaf's probabilities
        // are its class shares, and rows sum to one.
        let x = numeric_features(vec![vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0]]);
        let y = vec![0.0, 0.0, 0.0, 1.0, 2.0, 2.0];
        let binned = BinnedData::fit(&x, 255).unwrap();
        let p = GbdtParams {
            num_iterations: 1,
            min_data_in_leaf: 1,
            feature_fraction_bynode: 1.0,
            ..GbdtParams::for_mode(Boosting::Et)
        };
        let m = fit_gbdt(&set(&x, &y, Task::Multiclass, 3), &binned, None, &p).unwrap();
        assert!(m.class_shares);
        let pred = m.predict(&x);
        let expect = [[0.75, 0.25, 0.0], [0.0, 0.0, 1.0]];
        // Gradients are f32 residuals from the prior (1/6 is not exact in f32).
        let close = |pred: &Predictions, expect: [[f64; 3]; 2]| {
            for r in 0..6 {
                let want = expect[usize::from(r >= 4)];
                for (got, want) in pred.values[r * 3..r * 3 + 3].iter().zip(want) {
                    assert!((got - want).abs() < 1e-6, "{:?}", pred.values);
                }
            }
        };
        close(&pred, expect);
        // lambda_l2 = 2 shrinks each leaf toward the prior (1/2, 1/6, 1/3) as an m-estimate:
        // (count + 2 · prior) / (rows + 2), so no class is ever given exactly 0.
        let smooth = fit_gbdt(
            &set(&x, &y, Task::Multiclass, 3),
            &binned,
            None,
            &GbdtParams {
                lambda_l2: 2.0,
                ..p
            },
        )
        .unwrap();
        close(
            &smooth.predict(&x),
            [
                [4.0 / 6.0, 4.0 / 18.0, 2.0 / 18.0],
                [1.0 / 4.0, 1.0 / 12.0, 2.0 / 3.0],
            ],
        );
        // Binary: the share of positives; many trees keep the average inside [0, 1].
        let yb = vec![1.0, 0.0, 0.0, 0.0, 1.0, 1.0];
        let p = GbdtParams {
            num_iterations: 20,
            min_data_in_leaf: 1,
            ..GbdtParams::for_mode(Boosting::Rf)
        };
        let m = fit_gbdt(&set(&x, &yb, Task::Binary, 2), &binned, None, &p).unwrap();
        let pred = m.predict(&x);
        assert!(pred.values.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(pred.values[4] > pred.values[0], "{:?}", pred.values);
        // Boosting keeps log-odds steps.
        let g = fit_gbdt(
            &set(&x, &yb, Task::Binary, 2),
            &binned,
            None,
            &GbdtParams {
                num_iterations: 3,
                min_data_in_leaf: 1,
                ..GbdtParams::default()
            },
        )
        .unwrap();
        assert!(!g.class_shares);
    }
}
