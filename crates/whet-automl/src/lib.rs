//! whet-automl: algorithm selection and tuning over whet-learn's learners — a portfolio of
//! strong defaults, a cost-aware local search per learner, k-fold cross-validation with
//! successive halving over folds (a holdout split for big data), and greedy ensemble selection on out-of-fold predictions.
//!
//! The same data, seed and trial budget give the same trials, scores and model; a time budget
//! only decides where the sequence stops.

pub mod ensemble;
pub mod finalize;
pub mod memory;
pub mod search;
pub mod space;
pub mod trial;
pub mod tuner;

pub use search::{
    Budget, CvPlan, EnsembleReport, FoldPredictions, Observer, SearchError, SearchOptions,
    SearchResult, StopReason, TrialRecord, TrialStatus, plan_folds, plan_holdout, search,
};
pub use space::LearnerKind;
pub use trial::Problem;
