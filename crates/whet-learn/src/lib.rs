//! whet-learn: the learners behind one interface (histogram GBDT with random-forest and
//! extra-trees modes, linear/logistic models, k-nearest neighbours), metrics, TreeSHAP and
//! model files. Learners consume `whet_data::prep::Features`.

pub mod binning;
pub mod data;
pub mod error;
mod flat;
pub mod gbdt;
pub mod knn;
pub mod linear;
pub mod metrics;
pub mod model;
pub mod params;
pub mod shap;
pub mod tree;

pub use data::{Predictions, TrainSet};
pub use error::{LearnError, Result};
