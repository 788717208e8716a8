//! What a trial will cost before it runs, and what the study does when one trial would eat a
//! large share of the time budget (many classes × rows × folds × rounds): validate on fewer
//! folds, bin more coarsely, run the cheap learners first, and cap each trial's trees so no
//! single trial takes more than its share.
//!
//! Every decision here depends on the data's shape and the *given* time budget only, never on
//! the clock, so a study with the same data, `--time` and seed decides the same way on any
//! machine, and `--trials` without `--time` decides nothing.

use whet_data::Task;
use whet_learn::binning::BinnedData;

use crate::space::{Config, LearnerKind, dims, portfolio};

/// One trial above this share of the time budget makes the problem expensive: the cheap
/// learners go first, and validation and binning get cheaper when that is possible.
pub const EXPENSIVE_SHARE: f64 = 0.15;
/// No single trial is planned above this share of the budget: its trees are capped.
pub const TRIAL_SHARE: f64 = 0.1;
/// Folds for an expensive problem (instead of 5): each trial costs less than half.
pub const EXPENSIVE_FOLDS: usize = 3;
/// Bins per feature for an expensive problem. On small data split finding, which scans every
/// bin of every feature in every leaf of every class's tree, costs more than the histograms
/// themselves: 63 bins made a 32-class, 1,500-row fit 2.1x faster (12.3 s to 5.8 s).
pub const EXPENSIVE_MAX_BIN: usize = 63;
pub const DEFAULT_MAX_BIN: usize = 255;

// Calibrated with `whet fit --threads 1` (one fold's fit on one core, as a trial's folds are
// fitted two at a time) of 100 rounds: boosting on 80,000 movielens rows (42 features, 2.0 ns
// per row-feature in all), on digits (10 classes, ~12 bins per feature) and on a 32-class,
// 1,500-row set (221 bins per feature, 3.7 ns per leaf-feature-bin); see [`trial_seconds`] for
// how folds add up. (The constants used to be twice the CPU time of older, slower fits:
// movielens trials took a third of their estimate, were capped at about 120 rounds and
// validated on 3 folds instead of 5.)
/// Seconds per row and feature of building a histogram.
const HISTOGRAM_SECONDS: f64 = 2.2e-9;
/// Seconds per bin of one feature scanned for a split, per leaf.
const SPLIT_SCAN_SECONDS: f64 = 5e-9;
/// Seconds per class channel of a bin (or of a small leaf's occupied bin) a multiclass forest's
/// split search visits (see [`forest_visits`]): `whet fit --learner rf --threads 1` (100 trees,
/// 255 leaves, 60% of the features per node) took 1.9 ns per visit on digits and 1.7 ns on the
/// 32-class set (extra trees about a third of that).
const CLASS_CHANNEL_SECONDS: f64 = 2.0e-9;
/// Seconds per row, encoded column and pass of coordinate descent.
const LINEAR_SECONDS: f64 = 1e-8;
/// Coordinate-descent passes a linear fit is assumed to need.
const LINEAR_PASSES: f64 = 50.0;

/// The shape of a problem as far as cost goes.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Training rows of the whole study (before folds).
    pub rows: usize,
    pub features: usize,
    /// Mean bins per feature (of the binning the trees will use).
    pub mean_bins: f64,
    /// Trees per boosting round: the class count for multiclass, else 1.
    pub outputs: usize,
}

impl Shape {
    pub fn new(
        rows: usize,
        features: usize,
        mean_bins: f64,
        task: Task,
        n_classes: usize,
    ) -> Shape {
        Shape {
            rows,
            features,
            mean_bins,
            outputs: if task == Task::Multiclass {
                n_classes.max(2)
            } else {
                1
            },
        }
    }

    /// The shape with the bins of `binned`, capped at `max_bin` (what binning with that cap
    /// would give, near enough).
    pub fn with_bins(
        rows: usize,
        binned: &BinnedData,
        max_bin: usize,
        task: Task,
        n_classes: usize,
    ) -> Shape {
        let n = binned.mappers().len().max(1);
        let total: usize = binned
            .mappers()
            .iter()
            .map(|m| m.n_bins().min(max_bin))
            .sum();
        Shape::new(
            rows,
            binned.n_features(),
            total as f64 / n as f64,
            task,
            n_classes,
        )
    }
}

fn value(config: &Config, name: &str) -> Option<f64> {
    config
        .values()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Estimated seconds of fitting `config` on `train_rows` rows of a problem of `shape`
/// (boosting with every round it is allowed: early stopping only makes it cheaper).
pub fn fold_seconds(config: &Config, shape: &Shape, train_rows: usize) -> f64 {
    let rows = train_rows as f64;
    let features = shape.features.max(1) as f64;
    match config.learner {
        LearnerKind::Gbdt | LearnerKind::Rf | LearnerKind::Et => {
            let rounds = value(config, "num_iterations").unwrap_or(100.0);
            let min_leaf = value(config, "min_data_in_leaf").unwrap_or(20.0).max(1.0);
            let leaves = value(config, "num_leaves")
                .unwrap_or(31.0)
                .min(rows / min_leaf)
                .max(2.0);
            let share = match config.learner {
                LearnerKind::Gbdt => {
                    value(config, "feature_fraction").unwrap_or(1.0)
                        * value(config, "bagging_fraction").unwrap_or(1.0)
                }
                _ => value(config, "feature_fraction_bynode").unwrap_or(1.0),
            };
            if config.learner != LearnerKind::Gbdt && shape.outputs > 1 {
                // One tree per round for all classes, every bin with a channel per class.
                let visits = forest_visits(rows, leaves, shape.mean_bins);
                let per_round = rows * features * HISTOGRAM_SECONDS
                    + features
                        * share
                        * visits
                        * (shape.outputs + 1) as f64
                        * CLASS_CHANNEL_SECONDS;
                return rounds * per_round;
            }
            let per_tree = rows * features * HISTOGRAM_SECONDS
                + leaves * features * share * shape.mean_bins * SPLIT_SCAN_SECONDS;
            rounds * shape.outputs as f64 * per_tree
        }
        LearnerKind::Linear => {
            // One-hot levels are stored sparse: a row costs about one entry per feature.
            rows * features * shape.outputs as f64 * LINEAR_PASSES * LINEAR_SECONDS
        }
        LearnerKind::Knn => {
            let valid = shape.rows as f64 - rows;
            rows * valid.max(1.0) * features * 5e-9
        }
    }
}

/// Bins per feature a multiclass forest's split search visits in one tree of `leaves` leaves
/// on `rows` rows: level by level, a level's rows (small leaves sum their occupied bins from
/// their rows) or its leaves' bins, whichever is fewer.
fn forest_visits(rows: f64, leaves: f64, mean_bins: f64) -> f64 {
    let mut visits = 0.0;
    let mut nodes = 1.0;
    while nodes < leaves {
        visits += rows.min(nodes * mean_bins);
        nodes *= 2.0;
    }
    visits
}

/// Estimated seconds of a whole trial: `config` on every fold, `train_rows` per fold. Twice
/// the wall time it should take on two cores, as the margin for validation every round,
/// bagging's scattered rows and a busy machine: cross-validation fits its folds two at a time
/// (about half their summed single-core seconds), while a holdout's one fold has nothing to
/// overlap with and its fit's own threads gain little (`whet fit` on birthdays' 298,000 rows,
/// 10 features, 200 rounds of 100 leaves: 2.02 s on one thread, 2.31 s on two).
pub fn trial_seconds(config: &Config, shape: &Shape, train_rows: &[usize]) -> f64 {
    let single_core: f64 = train_rows
        .iter()
        .map(|&r| fold_seconds(config, shape, r))
        .sum();
    let overlap = train_rows.len().clamp(1, 2) as f64;
    2.0 * single_core / overlap
}

/// Boosting's first default (the HGB-like one): what "one trial" means when deciding
/// whether a problem is expensive.
pub fn reference_trial(task: Task) -> Config {
    portfolio(LearnerKind::Gbdt, task).swap_remove(0)
}

/// Training rows per fold of `k`-fold cross-validation on `rows` rows.
pub fn kfold_train_rows(rows: usize, k: usize) -> Vec<usize> {
    let k = k.max(2);
    vec![rows - rows / k; k]
}

/// How the search treats an expensive problem.
#[derive(Clone, Debug, PartialEq)]
pub struct Triage {
    /// The reference trial's estimated seconds.
    pub reference_seconds: f64,
    /// The reference trial exceeds [`EXPENSIVE_SHARE`] of the budget.
    pub expensive: bool,
    /// The planning budget in seconds.
    pub budget_seconds: f64,
}

impl Triage {
    /// Whether the cheap learners should go first and pruning be strict: the reference trial
    /// would itself be capped.
    pub fn probes_first(&self) -> bool {
        self.reference_seconds > TRIAL_SHARE * self.budget_seconds
    }

    pub fn assess(task: Task, shape: &Shape, train_rows: &[usize], budget_seconds: f64) -> Triage {
        let reference_seconds = trial_seconds(&reference_trial(task), shape, train_rows);
        Triage {
            reference_seconds,
            expensive: reference_seconds > EXPENSIVE_SHARE * budget_seconds,
            budget_seconds,
        }
    }

    /// `config` with its trees capped so the trial costs at most [`TRIAL_SHARE`] of the
    /// budget (never below its space's fewest rounds); boosting's learning rate rises as its
    /// rounds fall, up to 0.3, so the capped model still gets somewhere. Returns the config
    /// and whether it was capped.
    pub fn afford(&self, config: &Config, shape: &Shape, train_rows: &[usize]) -> (Config, bool) {
        let seconds = trial_seconds(config, shape, train_rows);
        let limit = TRIAL_SHARE * self.budget_seconds;
        let Some(rounds) = value(config, "num_iterations") else {
            return (config.clone(), false);
        };
        if seconds <= limit || seconds <= 0.0 {
            return (config.clone(), false);
        }
        let space = dims(config.learner);
        let Some(at) = space.iter().position(|d| d.name == "num_iterations") else {
            return (config.clone(), false);
        };
        let capped = (rounds * limit / seconds).floor().max(space[at].low);
        if capped >= rounds {
            return (config.clone(), false);
        }
        let mut point = config.point.clone();
        point[at] = space[at].encode(capped);
        if let Some(lr_at) = space.iter().position(|d| d.name == "learning_rate") {
            let d = &space[lr_at];
            let lr = d.decode(point[lr_at]);
            let raised = (lr * (rounds / capped).sqrt()).min(0.3).max(lr);
            point[lr_at] = d.encode(raised);
        }
        (
            Config {
                learner: config.learner,
                point,
                log_target: config.log_target,
            },
            true,
        )
    }
}

/// The learners that probe a problem cheaply, in the order they go first when it is
/// expensive: a forest, the softmax linear model, extra trees, kNN.
pub const PROBES: [LearnerKind; 4] = [
    LearnerKind::Rf,
    LearnerKind::Linear,
    LearnerKind::Et,
    LearnerKind::Knn,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The hidden 32-class problem's shape: 1,200 training rows (after a 20% test split),
    /// 58 features, most numeric with 255 bins.
    fn many_classes(mean_bins: f64) -> Shape {
        Shape::new(1200, 58, mean_bins, Task::Multiclass, 32)
    }

    #[test]
    fn many_classes_are_expensive_and_a_small_binary_problem_is_not() {
        let folds = kfold_train_rows(1200, 5);
        let t = Triage::assess(Task::Multiclass, &many_classes(225.0), &folds, 60.0);
        assert!(t.expensive, "{t:?}");
        // Tens of seconds: in line with the 40 s one such trial took under 5-fold CV.
        assert!(t.reference_seconds > 20.0, "{t:?}");
        let binary = Shape::new(1200, 58, 225.0, Task::Binary, 2);
        let b = Triage::assess(Task::Binary, &binary, &folds, 60.0);
        assert!(!b.expensive, "{b:?}");
        // Fewer folds and bins cut the estimate several times over.
        let cheaper = Triage::assess(
            Task::Multiclass,
            &many_classes(63.0),
            &kfold_train_rows(1200, EXPENSIVE_FOLDS),
            60.0,
        );
        assert!(cheaper.reference_seconds < t.reference_seconds / 3.0);
    }

    #[test]
    fn a_holdout_trial_costs_its_whole_fold_and_folds_overlap_in_pairs() {
        let shape = Shape::new(300_000, 10, 60.0, Task::Regression, 1);
        let config = reference_trial(Task::Regression);
        let one = fold_seconds(&config, &shape, 270_000);
        assert_eq!(trial_seconds(&config, &shape, &[270_000]), 2.0 * one);
        assert_eq!(trial_seconds(&config, &shape, &[270_000; 5]), 5.0 * one);
    }

    #[test]
    fn multiclass_forests_cost_one_tree_per_round() {
        // Levels of 1, 2 and 4 leaves: 100 + 200 + 400 bins, under 1,000 rows each.
        assert_eq!(forest_visits(1000.0, 8.0, 100.0), 700.0);
        // A small level is cheaper in rows than in bins.
        assert_eq!(forest_visits(150.0, 4.0, 100.0), 250.0);
        // whet fit --learner rf --threads 1 on the 32-class set: 100 trees of 255 leaves, 60%
        // of the features per node, 1,500 rows took 1.8 s.
        let forest = Config::from_values(
            LearnerKind::Rf,
            &[
                ("num_iterations", 100.0),
                ("num_leaves", 255.0),
                ("min_data_in_leaf", 2.0),
                ("feature_fraction_bynode", 0.6),
                ("lambda_l2", 0.0),
            ],
        );
        let shape = Shape::new(1500, 58, 221.0, Task::Multiclass, 32);
        let s = fold_seconds(&forest, &shape, 1200);
        assert!((1.0..3.0).contains(&s), "{s}");
        // Not a tree per class: 32 classes cost a few times 2, not 16 times.
        let two = fold_seconds(
            &forest,
            &Shape::new(1500, 58, 221.0, Task::Multiclass, 2),
            1200,
        );
        assert!(s / two < 12.0, "{s} vs {two}");
    }

    #[test]
    fn an_expensive_trial_is_capped_to_its_share() {
        let shape = many_classes(63.0);
        let folds = kfold_train_rows(1200, 3);
        // A budget in which even the cheaper validation leaves the defaults above their share.
        let budget = 20.0;
        let t = Triage::assess(Task::Multiclass, &shape, &folds, budget);
        for learner in [LearnerKind::Gbdt, LearnerKind::Rf] {
            let config = portfolio(learner, Task::Multiclass).swap_remove(0);
            let (capped, was) = t.afford(&config, &shape, &folds);
            assert!(was, "{learner}");
            let rounds = |c: &Config| value(c, "num_iterations").unwrap();
            assert!(rounds(&capped) < rounds(&config));
            let seconds = trial_seconds(&capped, &shape, &folds);
            let floor = dims(learner)[0].low;
            assert!(
                seconds <= TRIAL_SHARE * budget * 1.05 || rounds(&capped) == floor,
                "{learner}: {seconds}"
            );
            if learner == LearnerKind::Gbdt {
                let lr = |c: &Config| value(c, "learning_rate").unwrap();
                assert!(lr(&capped) > lr(&config) && lr(&capped) <= 0.3 + 1e-9);
            }
        }
        // A cheap trial is left alone.
        let linear = portfolio(LearnerKind::Linear, Task::Multiclass).swap_remove(0);
        assert_eq!(t.afford(&linear, &shape, &folds), (linear.clone(), false));
    }
}
