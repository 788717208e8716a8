//! What can be searched: the learners, their hyperparameter spaces, and a portfolio of strong
//! default configurations for each, ordered cheapest first.
//!
//! A configuration is a point in the unit cube, one coordinate per dimension; `decode` maps it
//! to learner parameters (log scales for rates and sizes), so the tuner works in one geometry
//! for every learner.

use std::collections::BTreeMap;

use whet_data::Task;
use whet_learn::encode::CatEncoding;
use whet_learn::gbdt::{Boosting, GbdtParams};
use whet_learn::knn::{KnnParams, KnnWeights};
use whet_learn::linear::LinearParams;

pub use whet_learn::learner::{LearnerKind, LearnerParams};

/// The searched dimensions of a learner.
pub fn dims(learner: LearnerKind) -> &'static [Dim] {
    match learner {
        LearnerKind::Gbdt => GBDT_SPACE,
        LearnerKind::Rf | LearnerKind::Et => FOREST_SPACE,
        LearnerKind::Linear => LINEAR_SPACE,
        LearnerKind::Knn => KNN_SPACE,
    }
}

/// One searched hyperparameter: a range, mapped from [0, 1] linearly or on a log scale.
#[derive(Clone, Copy, Debug)]
pub struct Dim {
    pub name: &'static str,
    pub low: f64,
    pub high: f64,
    pub log: bool,
    pub integer: bool,
}

impl Dim {
    pub fn decode(&self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        let v = if self.log {
            (self.low.ln() + u * (self.high.ln() - self.low.ln())).exp()
        } else {
            self.low + u * (self.high - self.low)
        };
        if self.integer { v.round() } else { v }
    }

    pub fn encode(&self, v: f64) -> f64 {
        let v = v.clamp(self.low, self.high);
        let u = if self.log {
            (v.ln() - self.low.ln()) / (self.high.ln() - self.low.ln())
        } else {
            (v - self.low) / (self.high - self.low)
        };
        u.clamp(0.0, 1.0)
    }
}

const fn dim(name: &'static str, low: f64, high: f64, log: bool, integer: bool) -> Dim {
    Dim {
        name,
        low,
        high,
        log,
        integer,
    }
}

/// Boosting: `num_iterations` caps the rounds (the tuner raises it as it pays off, keeping
/// first trials cheap on big data); early stopping on the held-out fold stops sooner.
const GBDT_SPACE: &[Dim] = &[
    dim("num_iterations", 20.0, 3000.0, true, true),
    dim("num_leaves", 4.0, 512.0, true, true),
    dim("learning_rate", 0.01, 0.3, true, false),
    dim("min_data_in_leaf", 2.0, 200.0, true, true),
    dim("feature_fraction", 0.3, 1.0, false, false),
    dim("bagging_fraction", 0.5, 1.0, false, false),
    dim("lambda_l2", 1e-3, 100.0, true, false),
    // How much a native categorical split has to earn: 0 is sklearn HistGradientBoosting's
    // (no group minimum, no extra L2, every category with a row sorted), 1 is LightGBM's
    // defaults (min_data_per_group 100, cat_l2 10, cat_smooth 10). On small data LightGBM's
    // block splits that decide the problem (a 32-class set with 2-9 levels per categorical:
    // HGB's log loss 0.0018, LightGBM's 0.140), on big noisy data they keep levels honest.
    dim("cat_regularization", 0.0, 1.0, false, false),
    // Below this many categories a categorical feature is split one level against the rest
    // (one-hot); above, by the sorted many-vs-many scan.
    dim("max_cat_to_onehot", 1.0, 32.0, true, true),
];

/// Dimensions that only matter when the data has categorical features.
const CATEGORICAL_DIMS: &[&str] = &["cat_regularization", "max_cat_to_onehot", "cat_encoding"];

/// Which of a learner's dimensions can change a fit on this data: without categorical
/// features the categorical dimensions are inert, and a tuner stepping along them would waste
/// trials.
pub fn active_dims(learner: LearnerKind, has_categorical: bool) -> Vec<bool> {
    dims(learner)
        .iter()
        .map(|d| has_categorical || !CATEGORICAL_DIMS.contains(&d.name))
        .collect()
}

/// LightGBM's categorical parameters at `u` of the way from none (0) to its defaults (1).
fn categorical_regularization(p: &mut GbdtParams, u: f64) {
    let u = u.clamp(0.0, 1.0);
    p.min_data_per_group = (100f64.powf(u).round() as usize).max(1);
    p.cat_l2 = 10.0 * u;
    p.cat_smooth = 10f64.powf(u);
}

const FOREST_SPACE: &[Dim] = &[
    dim("num_iterations", 50.0, 500.0, true, true),
    dim("num_leaves", 16.0, 4096.0, true, true),
    dim("min_data_in_leaf", 1.0, 50.0, true, true),
    dim("feature_fraction_bynode", 0.1, 1.0, false, false),
    // Pseudo-rows of the prior in every leaf (whet-learn's m-estimate for class shares; the
    // target mean for regression): small leaves stay off probabilities of exactly 0 and 1.
    dim("lambda_l2", 1e-3, 30.0, true, false),
    // As boosting's. Forests start with none, as scikit-learn's (whose trees see categories
    // as codes): LightGBM's group minimum of 100 rows stops a leaf under 200 rows from
    // splitting on a category at all, which cost a 32-class forest with 2-9-level
    // categoricals half its accuracy (test log loss 1.32 with it, 0.75 without).
    dim("cat_regularization", 0.0, 1.0, false, false),
];

/// How the linear models and kNN see a categorical feature: 0 one-hot, 1 ordinal (frequency
/// rank), 2 target encoding (the level's smoothed mean target on the fold's training rows).
/// One-hot suits few levels; with many, its columns spread the data thin, and a single
/// target-encoded column carries the level's effect in one coefficient or distance.
const CAT_ENCODING: Dim = dim("cat_encoding", 0.0, 2.0, false, true);

const LINEAR_SPACE: &[Dim] = &[
    dim("alpha", 1e-6, 10.0, true, false),
    dim("l1_ratio", 0.0, 1.0, false, false),
    CAT_ENCODING,
];

/// `weights` below 0.5 is uniform, above is distance.
const KNN_SPACE: &[Dim] = &[
    dim("k", 1.0, 100.0, true, true),
    dim("weights", 0.0, 1.0, false, false),
    CAT_ENCODING,
];

fn cat_encoding(v: f64) -> CatEncoding {
    match v.round() as i64 {
        i64::MIN..=0 => CatEncoding::OneHot,
        1 => CatEncoding::Ordinal,
        _ => CatEncoding::Target,
    }
}

/// A point in a learner's space.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub learner: LearnerKind,
    pub point: Vec<f64>,
    /// Fit on ln(1 + y) and predict e^p − 1 (regression targets that qualify, see
    /// `trial::log_target_values`). A choice the search makes by cross-validation, outside
    /// the point: it is tried on each learner's first default, and the tuner keeps the
    /// choice of its best configuration.
    pub log_target: bool,
}

/// Upper bound on boosting rounds; early stopping ends nearly every fit well before it.
pub const MAX_BOOSTING_ROUNDS: usize = 3000;
pub const EARLY_STOPPING_ROUNDS: usize = 50;

impl Config {
    pub fn from_values(learner: LearnerKind, values: &[(&str, f64)]) -> Config {
        let space = dims(learner);
        let point = space
            .iter()
            .map(|d| {
                values
                    .iter()
                    .find(|(n, _)| *n == d.name)
                    .map_or(0.5, |&(_, v)| d.encode(v))
            })
            .collect();
        Config {
            learner,
            point,
            log_target: false,
        }
    }

    /// The same configuration fitted on ln(1 + y).
    pub fn on_log_target(mut self) -> Config {
        self.log_target = true;
        self
    }

    pub fn values(&self) -> Vec<(&'static str, f64)> {
        dims(self.learner)
            .iter()
            .zip(&self.point)
            .map(|(d, &u)| (d.name, d.decode(u)))
            .collect()
    }

    /// Parameters for fitting on `n_rows` training rows with `seed`.
    pub fn params(&self, n_rows: usize, seed: u64) -> LearnerParams {
        let v: BTreeMap<&str, f64> = self.values().into_iter().collect();
        let get = |k: &str| v.get(k).copied().unwrap_or(0.0);
        match self.learner {
            LearnerKind::Gbdt => {
                let mut p = GbdtParams::for_mode(Boosting::Gbdt);
                p.num_iterations = (get("num_iterations") as usize).clamp(1, MAX_BOOSTING_ROUNDS);
                p.early_stopping_round = EARLY_STOPPING_ROUNDS;
                p.num_leaves = (get("num_leaves") as usize).clamp(2, (n_rows / 2).max(2));
                p.learning_rate = get("learning_rate");
                p.min_data_in_leaf =
                    (get("min_data_in_leaf") as usize).clamp(1, (n_rows / 4).max(1));
                p.feature_fraction = get("feature_fraction");
                p.bagging_fraction = get("bagging_fraction");
                p.bagging_freq = usize::from(p.bagging_fraction < 1.0);
                p.lambda_l2 = get("lambda_l2");
                categorical_regularization(&mut p, get("cat_regularization"));
                p.max_cat_to_onehot = (get("max_cat_to_onehot") as usize).max(1);
                p.seed = seed;
                LearnerParams::Tree(Box::new(p))
            }
            LearnerKind::Rf | LearnerKind::Et => {
                let mode = if self.learner == LearnerKind::Rf {
                    Boosting::Rf
                } else {
                    Boosting::Et
                };
                let mut p = GbdtParams::for_mode(mode);
                p.num_iterations = get("num_iterations") as usize;
                p.num_leaves = (get("num_leaves") as usize).clamp(2, n_rows.max(2));
                p.min_data_in_leaf =
                    (get("min_data_in_leaf") as usize).clamp(1, (n_rows / 4).max(1));
                p.feature_fraction_bynode = get("feature_fraction_bynode");
                p.lambda_l2 = get("lambda_l2");
                categorical_regularization(&mut p, get("cat_regularization"));
                p.seed = seed;
                LearnerParams::Tree(Box::new(p))
            }
            LearnerKind::Linear => LearnerParams::Linear(LinearParams {
                alpha: get("alpha"),
                l1_ratio: get("l1_ratio"),
                // Tuning needs many fits; a loose tolerance costs little accuracy.
                max_iter: 200,
                tol: 1e-4,
                cat_encoding: cat_encoding(get("cat_encoding")),
            }),
            LearnerKind::Knn => LearnerParams::Knn(KnnParams {
                k: (get("k") as usize).clamp(1, n_rows.max(1)),
                weights: if get("weights") >= 0.5 {
                    KnnWeights::Distance
                } else {
                    KnnWeights::Uniform
                },
                cat_encoding: cat_encoding(get("cat_encoding")),
            }),
        }
    }

    /// The parameters a person would write down, e.g. for the leaderboard and tracked runs.
    pub fn display_params(&self) -> BTreeMap<String, String> {
        let mut shown: BTreeMap<String, String> = self
            .values()
            .into_iter()
            .map(|(k, v)| {
                let d = dims(self.learner).iter().find(|d| d.name == k);
                let text = match (self.learner, k) {
                    (LearnerKind::Knn, "weights") => {
                        if v >= 0.5 { "distance" } else { "uniform" }.to_string()
                    }
                    (_, "cat_encoding") => cat_encoding(v).name().to_string(),
                    _ if d.is_some_and(|d| d.integer) => format!("{}", v as i64),
                    _ => format_sig(v),
                };
                (k.to_string(), text)
            })
            .collect();
        if self.log_target {
            shown.insert("target".into(), "log1p".into());
        }
        shown
    }
}

/// Four significant digits, without trailing zeros.
pub fn format_sig(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Strong defaults per learner, cheapest first; the search tries these before tuning.
///
/// Forests differ by task. Near-pure leaves (two rows) rank well but give class shares of 0
/// or 1, which log loss punishes without limit; bigger leaves shrunk toward the class prior
/// (lambda_l2 pseudo-rows) are smoother. For classification the smooth forest comes first:
/// when a learner's first default falls behind and is pruned, its other defaults are
/// skipped, so the first one must be the one most likely to compete (on seattle_weather the
/// sharp forest scored 0.64 log loss on its first fold against boosting's 0.55, and forests
/// never ran again).
pub fn portfolio(learner: LearnerKind, task: Task) -> Vec<Config> {
    let c = |values: &[(&str, f64)]| Config::from_values(learner, values);
    match learner {
        LearnerKind::Gbdt => vec![
            // sklearn's HistGradientBoosting defaults: its native categorical splits carry
            // none of LightGBM's categorical regularisation, which on small data with
            // decisive categoricals is worth more than anything tuning finds.
            c(&[
                ("num_iterations", 100.0),
                ("num_leaves", 31.0),
                ("learning_rate", 0.1),
                ("min_data_in_leaf", 20.0),
                ("feature_fraction", 1.0),
                ("bagging_fraction", 1.0),
                ("lambda_l2", 1e-3),
                ("cat_regularization", 0.0),
                ("max_cat_to_onehot", 1.0),
            ]),
            c(&[
                ("num_iterations", 100.0),
                ("num_leaves", 15.0),
                ("learning_rate", 0.15),
                ("min_data_in_leaf", 20.0),
                ("feature_fraction", 1.0),
                ("bagging_fraction", 1.0),
                ("lambda_l2", 1e-3),
                ("cat_regularization", 1.0),
                ("max_cat_to_onehot", 4.0),
            ]),
            c(&[
                ("num_iterations", 300.0),
                ("num_leaves", 31.0),
                ("learning_rate", 0.1),
                ("min_data_in_leaf", 20.0),
                ("feature_fraction", 0.8),
                ("bagging_fraction", 0.8),
                ("lambda_l2", 1.0),
                ("cat_regularization", 1.0),
                ("max_cat_to_onehot", 4.0),
            ]),
            c(&[
                ("num_iterations", 1000.0),
                ("num_leaves", 6.0),
                ("learning_rate", 0.05),
                ("min_data_in_leaf", 10.0),
                ("feature_fraction", 0.7),
                ("bagging_fraction", 0.9),
                ("lambda_l2", 1.0),
                ("cat_regularization", 1.0),
                ("max_cat_to_onehot", 4.0),
            ]),
            c(&[
                ("num_iterations", 1000.0),
                ("num_leaves", 100.0),
                ("learning_rate", 0.04),
                ("min_data_in_leaf", 40.0),
                ("feature_fraction", 0.5),
                ("bagging_fraction", 0.8),
                ("lambda_l2", 5.0),
                ("cat_regularization", 1.0),
                ("max_cat_to_onehot", 4.0),
            ]),
        ],
        LearnerKind::Rf | LearnerKind::Et => {
            let sharp = c(&[
                ("num_iterations", 100.0),
                ("num_leaves", 1024.0),
                ("min_data_in_leaf", 2.0),
                ("feature_fraction_bynode", 0.5),
                ("lambda_l2", 1e-3),
                ("cat_regularization", 0.0),
            ]);
            let smooth = c(&[
                ("num_iterations", 150.0),
                ("num_leaves", 1024.0),
                ("min_data_in_leaf", 5.0),
                ("feature_fraction_bynode", 0.5),
                ("lambda_l2", 1.0),
                ("cat_regularization", 0.0),
            ]);
            let wide = c(&[
                ("num_iterations", 200.0),
                ("num_leaves", 4096.0),
                ("min_data_in_leaf", 1.0),
                ("feature_fraction_bynode", 0.3),
                ("lambda_l2", 1e-3),
                ("cat_regularization", 0.0),
            ]);
            if task == Task::Regression {
                vec![sharp, smooth, wide]
            } else {
                vec![smooth, sharp, wide]
            }
        }
        // The second defaults target-encode categoricals (inert without them).
        LearnerKind::Linear => vec![
            c(&[("alpha", 1e-4), ("l1_ratio", 0.0), ("cat_encoding", 0.0)]),
            c(&[("alpha", 1e-2), ("l1_ratio", 0.5), ("cat_encoding", 2.0)]),
        ],
        LearnerKind::Knn => vec![
            c(&[("k", 10.0), ("weights", 1.0), ("cat_encoding", 0.0)]),
            c(&[("k", 30.0), ("weights", 1.0), ("cat_encoding", 2.0)]),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        for learner in LearnerKind::ALL {
            for d in dims(learner) {
                let mid = (d.low + d.high) / 2.0;
                let mid = if d.integer { mid.round() } else { mid };
                for v in [d.low, d.high, mid] {
                    let back = d.decode(d.encode(v));
                    let want = v;
                    assert!(
                        (back - want).abs() <= 1e-9 * want.abs().max(1.0),
                        "{} {}: {v} -> {back}",
                        learner,
                        d.name
                    );
                }
            }
        }
    }

    #[test]
    fn portfolio_configs_decode_to_valid_params() {
        for learner in LearnerKind::ALL {
            for c in portfolio(learner, Task::Binary) {
                match c.params(1000, 0) {
                    LearnerParams::Tree(p) => p.validate().unwrap(),
                    LearnerParams::Linear(p) => p.validate().unwrap(),
                    LearnerParams::Knn(p) => p.validate().unwrap(),
                }
            }
        }
        let gbdt = &portfolio(LearnerKind::Gbdt, Task::Binary)[1];
        assert_eq!(gbdt.display_params()["num_leaves"], "15");
        assert_eq!(gbdt.display_params()["learning_rate"], "0.15");
        assert_eq!(gbdt.display_params()["num_iterations"], "100");
    }

    #[test]
    fn boosting_starts_hgb_like_next_to_lightgbm_like() {
        let tree = |c: &Config| match c.params(1000, 0) {
            LearnerParams::Tree(p) => *p,
            _ => panic!("gbdt gives tree params"),
        };
        let gbdt = portfolio(LearnerKind::Gbdt, Task::Multiclass);
        // sklearn's HistGradientBoosting defaults, categorical splits unregularised.
        let hgb = tree(&gbdt[0]);
        assert_eq!(
            (hgb.num_iterations, hgb.num_leaves, hgb.min_data_in_leaf),
            (100, 31, 20)
        );
        assert!((hgb.learning_rate - 0.1).abs() < 1e-12);
        assert!(hgb.lambda_l2 < 1.001e-3);
        assert_eq!((hgb.min_data_per_group, hgb.max_cat_to_onehot), (1, 1));
        assert_eq!((hgb.cat_l2, hgb.cat_smooth), (0.0, 1.0));
        // The LightGBM-like defaults keep LightGBM's categorical parameters exactly.
        let lgb = tree(&gbdt[2]);
        let defaults = GbdtParams::default();
        assert_eq!(lgb.min_data_per_group, defaults.min_data_per_group);
        assert_eq!(lgb.max_cat_to_onehot, defaults.max_cat_to_onehot);
        assert!((lgb.cat_l2 - defaults.cat_l2).abs() < 1e-9);
        assert!((lgb.cat_smooth - defaults.cat_smooth).abs() < 1e-9);
        // The search spans the whole range between them.
        let mid = Config::from_values(
            LearnerKind::Gbdt,
            &[("cat_regularization", 0.5), ("max_cat_to_onehot", 16.0)],
        );
        let mid = tree(&mid);
        assert_eq!((mid.min_data_per_group, mid.max_cat_to_onehot), (10, 16));
        assert!((mid.cat_l2 - 5.0).abs() < 1e-9);
    }

    #[test]
    fn categorical_dimensions_are_inert_without_categoricals() {
        let with = active_dims(LearnerKind::Gbdt, true);
        let without = active_dims(LearnerKind::Gbdt, false);
        assert!(with.iter().all(|&a| a));
        let names: Vec<&str> = dims(LearnerKind::Gbdt)
            .iter()
            .zip(&without)
            .filter(|(_, a)| !**a)
            .map(|(d, _)| d.name)
            .collect();
        assert_eq!(names, ["cat_regularization", "max_cat_to_onehot"]);
        assert_eq!(active_dims(LearnerKind::Linear, false), [true, true, false]);
        assert_eq!(active_dims(LearnerKind::Knn, false), [true, true, false]);
        assert!(active_dims(LearnerKind::Linear, true).iter().all(|&a| a));
    }

    #[test]
    fn forests_start_smooth_for_classification_and_sharp_for_regression() {
        let first_leaf = |learner, task| {
            portfolio(learner, task)[0].display_params()["min_data_in_leaf"].clone()
        };
        for learner in [LearnerKind::Rf, LearnerKind::Et] {
            assert_eq!(first_leaf(learner, Task::Binary), "5");
            assert_eq!(first_leaf(learner, Task::Multiclass), "5");
            assert_eq!(first_leaf(learner, Task::Regression), "2");
            // The same defaults either way, only their order differs.
            let mut a: Vec<_> = portfolio(learner, Task::Binary)
                .iter()
                .map(Config::display_params)
                .collect();
            let mut b: Vec<_> = portfolio(learner, Task::Regression)
                .iter()
                .map(Config::display_params)
                .collect();
            a.sort();
            b.sort();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn linear_and_knn_search_how_categoricals_are_encoded() {
        let encoding = |c: &Config| match c.params(1000, 0) {
            LearnerParams::Linear(p) => p.cat_encoding,
            LearnerParams::Knn(p) => p.cat_encoding,
            LearnerParams::Tree(_) => panic!("not a tree"),
        };
        for learner in [LearnerKind::Linear, LearnerKind::Knn] {
            let defaults = portfolio(learner, Task::Regression);
            assert_eq!(encoding(&defaults[0]), CatEncoding::OneHot);
            assert_eq!(encoding(&defaults[1]), CatEncoding::Target);
            assert_eq!(defaults[1].display_params()["cat_encoding"], "target");
            // The whole range decodes to the three encodings in order.
            let at = |u: f64| {
                let mut c = defaults[0].clone();
                let i = dims(learner)
                    .iter()
                    .position(|d| d.name == "cat_encoding")
                    .unwrap();
                c.point[i] = u;
                encoding(&c)
            };
            assert_eq!(
                [at(0.0), at(0.3), at(0.5), at(0.7), at(1.0)],
                [
                    CatEncoding::OneHot,
                    CatEncoding::Ordinal,
                    CatEncoding::Ordinal,
                    CatEncoding::Ordinal,
                    CatEncoding::Target
                ]
            );
        }
    }

    #[test]
    fn small_data_caps_tree_sizes() {
        let c = Config::from_values(LearnerKind::Gbdt, &[("num_leaves", 512.0)]);
        let LearnerParams::Tree(p) = c.params(40, 0) else {
            panic!("gbdt gives tree params")
        };
        assert_eq!(p.num_leaves, 20);
        assert!(p.min_data_in_leaf <= 10);
    }

    #[test]
    fn significant_digits() {
        assert_eq!(format_sig(0.05), "0.05");
        assert_eq!(format_sig(0.123456), "0.1235");
        assert_eq!(format_sig(123.456), "123.5");
        assert_eq!(format_sig(1e-5), "0.00001");
    }
}
