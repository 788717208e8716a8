//! whet-review: a model's review on labelled data and the champion/challenger comparison.
//!
//! Modules, from numbers to pages:
//!
//! * `stats`: distributions and quantiles for intervals and p-values;
//! * `bootstrap`: seeded, stratified resamples as row weights and percentile intervals;
//! * `eval`: a model's predictions on labelled rows (`Scored`) and the metrics of its task,
//!   all from `whet_learn::metrics`; `ranked`: a binary resample's metrics in one pass over
//!   the rows in score order; `influence`: normal intervals from each row's influence on a
//!   metric (the delta method), for large slices;
//! * `curves`: ROC, precision-recall, calibration (ECE), thresholds, confusion matrix,
//!   regression plots;
//! * `slices`: categorical levels and numeric quantile bins;
//! * `drift`: DATA against the training data's reference profile in the model file (PSI);
//! * `explain`: gain and permutation importance, SHAP values, individual explanations;
//! * `paired`: DeLong, McNemar and paired t-tests;
//! * `review`: the review of one model, with its checks;
//! * `compare`: two models on the same rows, and the verdict;
//! * `html` and `svg`: the self-contained HTML pages;
//! * `error`: the error type.
//!
//! The crate never prints and never touches a store: it takes a model and a table and returns
//! values; the binary shows them and records them.

pub mod bootstrap;
pub mod compare;
pub mod curves;
pub mod drift;
pub mod error;
pub mod eval;
pub mod explain;
pub mod html;
pub mod influence;
pub mod paired;
mod ranked;
pub mod review;
pub mod slices;
pub mod stats;
pub mod svg;

pub use bootstrap::{BootstrapSpec, Estimate};
pub use compare::{CompareOptions, Comparison, Verdict, compare};
pub use error::{Result, ReviewError};
pub use review::{Review, ReviewOptions, review};
