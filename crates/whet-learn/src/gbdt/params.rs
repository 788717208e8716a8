//! GBDT parameters, named as LightGBM names them (with its common aliases), so an engineer's
//! LightGBM settings carry over unchanged.

use serde::{Deserialize, Serialize};
use whet_data::Task;

use crate::error::{LearnError, Result};
use crate::param_text as text;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Boosting {
    Gbdt,
    /// Random forest: bootstrap samples, per-node feature sampling, trees averaged.
    Rf,
    /// Extremely randomized trees: random thresholds, whole sample, trees averaged.
    Et,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    Binary,
    Multiclass,
    L2,
    L1,
    Huber,
    Poisson,
}

impl Objective {
    pub fn parse(s: &str) -> Option<Objective> {
        Some(match s.to_ascii_lowercase().as_str() {
            "binary" | "logistic" | "binary_logloss" => Objective::Binary,
            "multiclass" | "softmax" | "multi_logloss" => Objective::Multiclass,
            "regression" | "l2" | "mse" | "regression_l2" | "mean_squared_error" | "rmse" => {
                Objective::L2
            }
            "regression_l1" | "l1" | "mae" | "mean_absolute_error" => Objective::L1,
            "huber" => Objective::Huber,
            "poisson" => Objective::Poisson,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Objective::Binary => "binary",
            Objective::Multiclass => "multiclass",
            Objective::L2 => "regression",
            Objective::L1 => "regression_l1",
            Objective::Huber => "huber",
            Objective::Poisson => "poisson",
        }
    }

    pub fn default_for(task: Task) -> Objective {
        match task {
            Task::Binary => Objective::Binary,
            Task::Multiclass => Objective::Multiclass,
            Task::Regression => Objective::L2,
        }
    }

    pub fn fits(self, task: Task) -> bool {
        match self {
            Objective::Binary => task == Task::Binary,
            Objective::Multiclass => task.is_classification(),
            _ => task == Task::Regression,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClassWeight {
    /// Weight each class by n / (n_classes · count), as scikit-learn's "balanced".
    Balanced,
    PerClass(Vec<f64>),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GbdtParams {
    pub boosting: Boosting,
    /// None: chosen from the task.
    pub objective: Option<Objective>,
    pub num_iterations: usize,
    pub learning_rate: f64,
    pub num_leaves: usize,
    /// None: unlimited (LightGBM's -1).
    pub max_depth: Option<usize>,
    pub min_data_in_leaf: usize,
    pub min_sum_hessian_in_leaf: f64,
    pub lambda_l1: f64,
    pub lambda_l2: f64,
    pub min_gain_to_split: f64,
    pub max_bin: usize,
    pub feature_fraction: f64,
    pub feature_fraction_bynode: f64,
    pub bagging_fraction: f64,
    /// Re-sample rows every this many iterations; 0 with bagging_fraction < 1 means 1.
    pub bagging_freq: usize,
    pub extra_trees: bool,
    pub max_cat_threshold: usize,
    pub cat_smooth: f64,
    pub cat_l2: f64,
    pub max_cat_to_onehot: usize,
    pub min_data_per_group: usize,
    pub huber_delta: f64,
    pub poisson_max_delta_step: f64,
    /// Stop when the validation loss has not improved for this many rounds; 0 disables.
    pub early_stopping_round: usize,
    /// Per feature: +1 increasing, -1 decreasing, 0 none. Empty: no constraints.
    pub monotone_constraints: Vec<i8>,
    pub class_weight: Option<ClassWeight>,
    pub seed: u64,
    /// LightGBM's `min_data_in_bin`: rows a numeric bin needs (but the last), and a category
    /// its own bin (but the two most frequent). Numeric bins are made once per dataset
    /// (`BinnedData::fit_with`), so a fit takes this from whoever binned; categories are
    /// chosen per fit. Last, with a default, so model files from before it still load.
    #[serde(default = "default_min_data_in_bin")]
    pub min_data_in_bin: usize,
    /// Keep one copy of the bins (row-major) instead of two: about half the memory of a fit
    /// on large data, for a slower partition of its leaves (`BinLayout::RowsOnly`). The same
    /// model either way. Last, with a default, so model files from before it still load;
    /// written only when set, so other models' files stay as they were.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub low_memory: bool,
}

fn default_min_data_in_bin() -> usize {
    crate::binning::MIN_DATA_IN_BIN
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            boosting: Boosting::Gbdt,
            objective: None,
            num_iterations: 100,
            learning_rate: 0.1,
            num_leaves: 31,
            max_depth: None,
            min_data_in_leaf: 20,
            min_sum_hessian_in_leaf: 1e-3,
            lambda_l1: 0.0,
            lambda_l2: 0.0,
            min_gain_to_split: 0.0,
            max_bin: 255,
            min_data_in_bin: crate::binning::MIN_DATA_IN_BIN,
            feature_fraction: 1.0,
            feature_fraction_bynode: 1.0,
            bagging_fraction: 1.0,
            bagging_freq: 0,
            extra_trees: false,
            max_cat_threshold: 32,
            cat_smooth: 10.0,
            cat_l2: 10.0,
            max_cat_to_onehot: 4,
            min_data_per_group: 100,
            huber_delta: 1.0,
            poisson_max_delta_step: 0.7,
            early_stopping_round: 0,
            monotone_constraints: Vec::new(),
            class_weight: None,
            seed: 0,
            low_memory: false,
        }
    }
}

impl GbdtParams {
    /// The parameter names `set` takes (LightGBM's; it also takes their common aliases).
    pub const NAMES: &'static [&'static str] = &[
        "boosting",
        "objective",
        "num_iterations",
        "learning_rate",
        "num_leaves",
        "max_depth",
        "min_data_in_leaf",
        "min_sum_hessian_in_leaf",
        "lambda_l1",
        "lambda_l2",
        "min_gain_to_split",
        "max_bin",
        "min_data_in_bin",
        "feature_fraction",
        "feature_fraction_bynode",
        "bagging_fraction",
        "bagging_freq",
        "extra_trees",
        "max_cat_threshold",
        "cat_smooth",
        "cat_l2",
        "max_cat_to_onehot",
        "min_data_per_group",
        "huber_delta",
        "poisson_max_delta_step",
        "early_stopping_round",
        "monotone_constraints",
        "class_weight",
        "seed",
        "low_memory",
    ];

    /// Defaults for a mode: forests grow deeper trees and sample features per node.
    pub fn for_mode(boosting: Boosting) -> GbdtParams {
        let mut p = GbdtParams {
            boosting,
            ..GbdtParams::default()
        };
        if boosting != Boosting::Gbdt {
            p.num_leaves = 255;
            p.min_data_in_leaf = 2;
            p.feature_fraction_bynode = 0.6;
            p.learning_rate = 1.0;
            if boosting == Boosting::Rf {
                p.bagging_fraction = 0.632;
                p.bagging_freq = 1;
            }
        }
        p
    }

    /// Sets one parameter by LightGBM name or alias; Ok(false) if the key is unknown.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        let k = key.trim().to_ascii_lowercase();
        match k.as_str() {
            "boosting" | "boosting_type" | "boost" => {
                self.boosting = match value.trim().to_ascii_lowercase().as_str() {
                    "gbdt" | "gbrt" => Boosting::Gbdt,
                    "rf" | "random_forest" => Boosting::Rf,
                    "et" | "extra_trees" => Boosting::Et,
                    _ => {
                        return Err(LearnError::param(
                            key,
                            value,
                            "unknown boosting mode",
                            "use gbdt, rf or et",
                        ));
                    }
                }
            }
            "objective" | "objective_type" | "app" | "application" | "loss" => {
                self.objective = Some(Objective::parse(value).ok_or_else(|| {
                    LearnError::param(
                        key,
                        value,
                        "unknown objective",
                        "use binary, multiclass, regression (l2), regression_l1, huber or poisson",
                    )
                })?)
            }
            "num_iterations" | "num_iteration" | "n_iter" | "num_tree" | "num_trees"
            | "num_round" | "num_rounds" | "nrounds" | "num_boost_round" | "n_estimators"
            | "max_iter" => self.num_iterations = text::value(key, value)?,
            "learning_rate" | "shrinkage_rate" | "eta" => {
                self.learning_rate = text::value(key, value)?
            }
            "num_leaves" | "num_leaf" | "max_leaves" | "max_leaf" | "max_leaf_nodes" => {
                self.num_leaves = text::value(key, value)?
            }
            "max_depth" => {
                let d: i64 = text::value(key, value)?;
                self.max_depth = if d <= 0 { None } else { Some(d as usize) };
            }
            "min_data_in_leaf" | "min_data_per_leaf" | "min_data" | "min_child_samples"
            | "min_samples_leaf" => self.min_data_in_leaf = text::value(key, value)?,
            "min_sum_hessian_in_leaf"
            | "min_sum_hessian_per_leaf"
            | "min_sum_hessian"
            | "min_hessian"
            | "min_child_weight" => self.min_sum_hessian_in_leaf = text::value(key, value)?,
            "lambda_l1" | "reg_alpha" | "l1_regularization" => {
                self.lambda_l1 = text::value(key, value)?
            }
            "lambda_l2" | "reg_lambda" | "lambda" | "l2_regularization" => {
                self.lambda_l2 = text::value(key, value)?
            }
            "min_gain_to_split" | "min_split_gain" => {
                self.min_gain_to_split = text::value(key, value)?
            }
            "max_bin" | "max_bins" => self.max_bin = text::value(key, value)?,
            "min_data_in_bin" => self.min_data_in_bin = text::value(key, value)?,
            "feature_fraction" | "sub_feature" | "colsample_bytree" => {
                self.feature_fraction = text::value(key, value)?
            }
            "feature_fraction_bynode" | "sub_feature_bynode" | "colsample_bynode" => {
                self.feature_fraction_bynode = text::value(key, value)?
            }
            "bagging_fraction" | "sub_row" | "subsample" | "bagging" => {
                self.bagging_fraction = text::value(key, value)?
            }
            "bagging_freq" | "subsample_freq" => self.bagging_freq = text::value(key, value)?,
            "extra_trees" | "extra_tree" => self.extra_trees = text::boolean(key, value)?,
            "max_cat_threshold" => self.max_cat_threshold = text::value(key, value)?,
            "cat_smooth" => self.cat_smooth = text::value(key, value)?,
            "cat_l2" => self.cat_l2 = text::value(key, value)?,
            "max_cat_to_onehot" => self.max_cat_to_onehot = text::value(key, value)?,
            "min_data_per_group" => self.min_data_per_group = text::value(key, value)?,
            "huber_delta" | "alpha" => self.huber_delta = text::value(key, value)?,
            "poisson_max_delta_step" => self.poisson_max_delta_step = text::value(key, value)?,
            "early_stopping_round"
            | "early_stopping_rounds"
            | "early_stopping"
            | "n_iter_no_change" => self.early_stopping_round = text::value(key, value)?,
            "monotone_constraints" | "mc" | "monotone_constraint" => {
                self.monotone_constraints = value
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| match s.trim() {
                        "1" | "+1" => Ok(1),
                        "-1" => Ok(-1),
                        "0" => Ok(0),
                        _ => Err(LearnError::param(
                            key,
                            value,
                            "each entry must be -1, 0 or 1",
                            "one entry per feature, e.g. monotone_constraints=1,0,-1",
                        )),
                    })
                    .collect::<Result<Vec<i8>>>()?
            }
            "class_weight" => {
                self.class_weight = match value.trim() {
                    "balanced" => Some(ClassWeight::Balanced),
                    "" | "none" => None,
                    list => Some(ClassWeight::PerClass(
                        list.split(',')
                            .map(|v| text::value(key, v))
                            .collect::<Result<Vec<f64>>>()?,
                    )),
                }
            }
            "seed" | "random_seed" | "random_state" => self.seed = text::value(key, value)?,
            "low_memory" => self.low_memory = text::boolean(key, value)?,
            // Accepted for compatibility; whet's thread count is --threads.
            "num_threads" | "n_jobs" | "nthread" | "verbose" | "verbosity" => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The copies of the bins a fit with these parameters keeps (`low_memory`).
    pub fn bin_layout(&self) -> crate::binning::BinLayout {
        if self.low_memory {
            crate::binning::BinLayout::RowsOnly
        } else {
            crate::binning::BinLayout::RowsAndColumns
        }
    }

    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, name: &str, value: String, reason: &str, hint: &str| {
            if ok {
                Ok(())
            } else {
                Err(LearnError::param(name, value, reason, hint))
            }
        };
        check(
            self.num_iterations >= 1,
            "num_iterations",
            self.num_iterations.to_string(),
            "must be at least 1",
            "e.g. num_iterations=100",
        )?;
        check(
            self.learning_rate > 0.0 && self.learning_rate.is_finite(),
            "learning_rate",
            self.learning_rate.to_string(),
            "must be positive",
            "typical values are 0.01 to 0.3",
        )?;
        check(
            self.num_leaves >= 2,
            "num_leaves",
            self.num_leaves.to_string(),
            "a tree needs at least 2 leaves",
            "typical values are 15 to 255",
        )?;
        check(
            self.num_leaves <= 131_072,
            "num_leaves",
            self.num_leaves.to_string(),
            "must be at most 131072",
            "use max_depth to bound trees instead",
        )?;
        check(
            self.max_bin >= 2 && self.max_bin <= 255,
            "max_bin",
            self.max_bin.to_string(),
            "must be between 2 and 255",
            "255 is the default",
        )?;
        check(
            self.min_data_in_bin >= 1,
            "min_data_in_bin",
            self.min_data_in_bin.to_string(),
            "must be at least 1",
            "3 is the default (LightGBM's); 1 gives every distinct value a bin, up to max_bin",
        )?;
        for (name, v) in [
            ("lambda_l1", self.lambda_l1),
            ("lambda_l2", self.lambda_l2),
            ("min_gain_to_split", self.min_gain_to_split),
            ("min_sum_hessian_in_leaf", self.min_sum_hessian_in_leaf),
            ("cat_smooth", self.cat_smooth),
            ("cat_l2", self.cat_l2),
        ] {
            check(
                v >= 0.0 && v.is_finite(),
                name,
                v.to_string(),
                "must be zero or positive",
                "0 disables it",
            )?;
        }
        for (name, v) in [
            ("feature_fraction", self.feature_fraction),
            ("feature_fraction_bynode", self.feature_fraction_bynode),
            ("bagging_fraction", self.bagging_fraction),
        ] {
            check(
                v > 0.0 && v <= 1.0,
                name,
                v.to_string(),
                "must be in (0, 1]",
                "1.0 uses everything",
            )?;
        }
        check(
            self.huber_delta > 0.0,
            "huber_delta",
            self.huber_delta.to_string(),
            "must be positive",
            "the residual size where Huber turns linear",
        )?;
        check(
            self.poisson_max_delta_step > 0.0,
            "poisson_max_delta_step",
            self.poisson_max_delta_step.to_string(),
            "must be positive",
            "the default is 0.7",
        )?;
        if let Some(ClassWeight::PerClass(w)) = &self.class_weight {
            check(
                w.iter().all(|v| *v > 0.0 && v.is_finite()),
                "class_weight",
                format!("{w:?}"),
                "weights must be positive",
                "one weight per class, e.g. class_weight=1,5",
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_errors() {
        let mut p = GbdtParams::default();
        assert!(p.set("n_estimators", "500").unwrap());
        assert!(p.set("eta", "0.05").unwrap());
        assert!(p.set("subsample", "0.8").unwrap());
        assert!(p.set("colsample_bytree", "0.7").unwrap());
        assert!(p.set("min_child_samples", "5").unwrap());
        assert!(p.set("max_depth", "-1").unwrap());
        assert!(!p.set("no_such_param", "1").unwrap());
        assert_eq!(
            (
                p.num_iterations,
                p.learning_rate,
                p.bagging_fraction,
                p.feature_fraction,
                p.min_data_in_leaf,
                p.max_depth
            ),
            (500, 0.05, 0.8, 0.7, 5, None)
        );
        p.validate().unwrap();

        for (k, v, needle) in [
            ("num_leaves", "1", "num_leaves"),
            ("learning_rate", "0", "learning_rate"),
            ("lambda_l2", "-1", "lambda_l2"),
            ("lambda_l1", "-0.5", "lambda_l1"),
            ("bagging_fraction", "1.5", "bagging_fraction"),
        ] {
            let mut p = GbdtParams::default();
            p.set(k, v).unwrap();
            let err = p.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
        assert!(GbdtParams::default().set("num_leaves", "many").is_err());
        assert!(GbdtParams::default().set("objective", "quantum").is_err());
    }
}
