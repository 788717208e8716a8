//! whet-learn: the learners behind one interface (histogram GBDT with random-forest and
//! extra-trees modes, linear/logistic models, k-nearest neighbours), metrics, TreeSHAP and
//! model files. Learners consume `whet_data::prep::Features`.
//!
//! Modules, along the way from features to a model file:
//!
//! * `data`: what a learner takes in (`TrainSet`, and the training-set check every learner
//!   runs) and gives back (`Predictions`);
//! * `binning`: quantile bins per feature, built once and shared by every GBDT fit;
//! * `gbdt`: the GBDT engine, one concept per file (params, boosting loop, objectives, tree
//!   growth, histograms, split finding, partitioning, trees, prediction);
//! * `encode`: the dense numeric encoding of features for the linear models and kNN;
//! * `linear`: linear and logistic elastic net (params, model, solver);
//! * `knn`: k-nearest neighbours;
//! * `learner`: the registry — learner names and aliases, parameters from text, one `fit`
//!   that returns a `Predictor` (whet fit and the AutoML trials both call it);
//! * `param_text`: the value parsers and the unknown-key error every learner's parameters use;
//! * `shap`: TreeSHAP for GBDT trees;
//! * `metrics`: evaluation metrics;
//! * `model`: the model file (Prep + predictor + metadata);
//! * `output`: predictions as Arrow columns (`prediction`, `proba_<class>`);
//! * `stop`: stopping fits early (deadlines, Ctrl-C);
//! * `error`: the error type.

pub mod binning;
pub mod data;
pub mod encode;
pub mod error;
pub mod gbdt;
pub mod knn;
pub mod learner;
pub mod linear;
pub mod metrics;
pub mod model;
pub mod onnx;
pub mod output;
pub mod param_text;
pub mod shap;
pub mod stop;

pub use data::{Predictions, TrainSet};
pub use error::{LearnError, Result};
pub use learner::{LearnerKind, LearnerParams, fit};
