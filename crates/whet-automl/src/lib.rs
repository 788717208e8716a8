//! whet-automl: the AutoML study over whet-learn's learners — a portfolio of strong defaults,
//! a cost-aware local search per learner, k-fold cross-validation with successive halving over
//! folds (a holdout split for big data), greedy ensemble selection on out-of-fold predictions,
//! and the final model (bag of fold models or refit, by nested cross-validation).
//!
//! The entry point is [`Study`]: `Study::prepare(spec, table, observer)?.run(observer)?`.
//! The same data, seed and trial budget give the same trials, scores and model; a time budget
//! only decides where the sequence stops. The study never prints: it returns values and sends
//! [`StudyEvent`]s to an [`Observer`].
//!
//! Modules, in the order a study uses them: `study` (the entry point and every policy of
//! `whet train`), `plan` (validation plans), `budget` (the time budget, cut in one place), `expense` (what a trial
//! will cost, and what an expensive problem does about it),
//! `search` (the trial loop, pruning), `schedule` (which configuration runs next), `space` and `tuner` (what is searched and
//! how proposals are made), `trial` (one configuration over the folds), `ensemble` (Caruana
//! selection), `finalize` (bag or refit), `report` (leaderboard and the final model in words),
//! `oof` (out-of-fold files), `events`, `memory`, `error`; `local` (folds fitted by several
//! threads of this process, two trials at a time), `remote` (folds fitted by `whet worker`s
//! through a trial queue).

pub mod budget;
pub mod ensemble;
pub mod error;
pub mod events;
pub mod expense;
pub mod finalize;
mod halving;
mod local;
pub mod memory;
pub mod oof;
pub mod plan;
pub mod remote;
pub mod report;
mod revalidate;
mod schedule;
pub mod search;
pub mod space;
pub mod study;
pub mod trial;
pub mod tuner;

pub use budget::StudyBudget;
pub use error::{AutomlError, Result};
pub use events::{NoObserver, Observer, Stage, StudyEvent};
pub use finalize::{FinalMode, FinalStrategy};
pub use oof::OofWriter;
pub use plan::CvPlan;
pub use remote::{FoldExecutor, FoldTask, StudyRecipe};
pub use report::{LeaderboardRow, StudyReport};
pub use search::{FoldPredictions, StopReason, TrialRecord, TrialStatus};
pub use space::LearnerKind;
pub use study::{PreparedStudy, Study, StudyOutcome, StudySpec, TestData};
pub use trial::{Problem, is_better};
