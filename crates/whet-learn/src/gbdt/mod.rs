//! Histogram gradient-boosted trees, grown leaf-wise (best-first) as LightGBM grows them,
//! plus random-forest and extra-trees modes on the same engine.
//!
//! Determinism: histograms are summed over row parts whose number depends only on the row
//! count, in part order, so a model is bit-identical for a seed whatever the thread count.
//!
//! One concept per file, in the order a fit runs (as LightGBM's `treelearner/` and
//! `boosting/`):
//!
//! * `params`: parameters with LightGBM's names and aliases, and their checks;
//! * `boost`: the fit: boosting loop, bagging and feature sampling, forest modes, early stopping;
//! * `objective`: initial scores, gradients, hessians and losses (and class-share forests');
//! * `grow`: the leaf-wise tree learner;
//! * `shard`: trees of small fits grown with the features sharded over the pool's threads;
//! * `classes`: class-share forests' one tree for all classes (its histograms and splits);
//! * `histogram`: gradient histograms per leaf;
//! * `split`: split finding (numeric, categorical, monotone constraints, extra-trees);
//! * `partition`: moving a leaf's rows to its children;
//! * `tree`: the fitted tree as flat arrays (the serialized form);
//! * `flat`: trees recompiled for fast prediction (never saved);
//! * `predict`: prediction, SHAP values and feature importance of a [`GbdtModel`];
//! * `profile`: opt-in timing of a fit's phases (`WHET_GBDT_PROFILE=1`) for bench/ scripts.
//!
//! This file holds the model type and what other modules import.

mod boost;
mod classes;
mod flat;
mod grow;
mod histogram;
mod objective;
pub mod params;
mod partition;
mod predict;
mod profile;
mod shard;
mod split;
#[cfg(test)]
mod test_data;
pub mod tree;
#[cfg(test)]
mod wide_categories;

use serde::{Deserialize, Serialize};
use whet_data::Task;

use crate::binning::BinMapper;
use flat::FlatCache;
use tree::Tree;

pub use boost::{fit_gbdt, fit_gbdt_stopping_on_each, fit_gbdt_until};
pub use params::{Boosting, ClassWeight, GbdtParams, Objective};
pub use profile::{FitProfile, take_fit_profile};

const K_EPSILON: f64 = 1e-15;
/// Rows per parallel chunk of loss sums and validation traversals; fixed, so sums are the
/// same whatever the thread count.
const LOSS_CHUNK_ROWS: usize = 8192;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GbdtModel {
    pub boosting: Boosting,
    pub objective: Objective,
    pub task: Task,
    pub n_classes: usize,
    /// Trees per iteration: n_classes for multiclass, else 1.
    pub n_outputs: usize,
    pub init_score: Vec<f64>,
    /// Iteration-major: tree for iteration i, output k is trees[i * n_outputs + k]. Set by the
    /// fit or the model file; prediction compiles them once, on first use, into `flat`.
    pub trees: Vec<Tree>,
    pub feature_names: Vec<String>,
    pub mappers: Vec<BinMapper>,
    pub best_iteration: Option<usize>,
    pub params: GbdtParams,
    /// Training-loss history (one value per iteration), for diagnostics and tests.
    pub train_loss: Vec<f64>,
    pub valid_loss: Vec<f64>,
    /// A classification forest whose trees hold class shares (the fraction of each leaf's
    /// rows in the class) and whose prediction is their average, as a random forest votes:
    /// calibrated probabilities, where averaging boosting-style log-odds steps is not.
    #[serde(default)]
    pub class_shares: bool,
    #[serde(skip)]
    flat: FlatCache,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureImportance {
    pub splits: u64,
    pub gain: f64,
}
