//! Trials fitted by other processes (`whet train --workers remote`, `whet worker`): what
//! travels through a trial queue, and the seam the search hands folds out through.
//!
//! The unit of work is one fold of one trial ([`FoldTask`]). A worker rebuilds everything a
//! fold needs from the [`StudyRecipe`] and the training data: it runs the same
//! [`crate::Study::prepare`] on the same table, so the Prep, the features, the bins and the
//! folds are the submitter's, and the recipe's digest of the prepared problem proves it (a
//! worker whose preparation differs refuses the study instead of fitting other folds). A fold
//! fit depends only on the configuration, the fold and its seed, so a fold fitted anywhere is
//! bit for bit the fold fitted locally; results come back as [`encode_result`] bytes holding
//! the score, the fold model and its predictions.
//!
//! Determinism: the search stays the single-machine loop. It hands a trial's folds to a
//! [`FoldExecutor`], which queues them all at once (so several workers fit one trial), and
//! consumes the results in fold order, pruning exactly as a local run does. Trial k+1 is
//! proposed from the results of trials up to k−1 (one ahead, the same in every run, see
//! [`crate::search`]), so its folds are queued behind trial k's while those are fitted; the
//! results are consumed in trial order. That fixed rule, not the order results arrive in, is
//! what makes `--trials N --seed S` give the local run's trials, scores and model whatever the
//! number of workers and the order they finish.
//!
//! The final stage can move too ([`FinalTask`], `whet train --final-on worker`): one worker
//! scores bag against refit in nested cross-validation and refits the ensemble's members on
//! every row, the fits that make the end of a study long. The submitter keeps ensemble
//! selection (it holds the out-of-fold predictions, and it takes milliseconds) and the bag (it
//! holds the fold models); the worker gets each member's configuration, seed, weight and best
//! rounds, and runs the code the submitter would have run, so the model is the same.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use whet_data::prep::FeatureData;
use whet_data::{Table, Task, TypeHint};
use whet_learn::data::Predictions;
use whet_learn::metrics::Metric;
use whet_learn::model::{EnsembleMember, Predictor};

use crate::error::{AutomlError, Result};
use crate::finalize::{FinalMode, FinalStrategy, Member, RefitComparison};
use crate::space::{Config, LearnerKind};
use crate::study::{PreparedStudy, StudySpec, TestData};
use crate::trial::{FoldError, FoldModel, FoldResult, Problem, fit_fold};

/// Bumped when a recipe, a task or a result changes meaning; a worker refuses other formats.
pub const WIRE_FORMAT: u32 = 2;

/// What a worker needs, besides the data, to prepare a study exactly as its submitter did.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StudyRecipe {
    pub format: u32,
    pub data_name: String,
    pub target: String,
    pub task: Option<String>,
    pub metric: Option<String>,
    pub folds: Option<usize>,
    pub group: Option<String>,
    pub time_order: Option<String>,
    pub seed: u64,
    /// `--test-size` as f64 bits (a test file changes no training row, so it does not travel).
    pub test_holdout_bits: Option<u64>,
    pub learners: Vec<String>,
    pub keep: Vec<String>,
    pub text_buckets: u32,
    /// The loader's type overrides by column, so the data reads back the same.
    pub type_hints: BTreeMap<String, String>,
    /// Histogram bins per feature the submitter's preparation chose (absent: 255).
    #[serde(default)]
    pub max_bin: Option<usize>,
    /// [`PreparedStudy::problem_digest`] of the submitter's preparation.
    pub digest: String,
}

fn hint_name(h: TypeHint) -> &'static str {
    match h {
        TypeHint::Numeric => "numeric",
        TypeHint::Categorical => "categorical",
        TypeHint::Boolean => "boolean",
        TypeHint::Datetime => "datetime",
        TypeHint::Text => "text",
        TypeHint::Id => "id",
        TypeHint::Ignore => "ignore",
    }
}

impl StudyRecipe {
    /// The recipe of a prepared study whose training table is `table` (as loaded).
    pub fn new(prepared: &PreparedStudy, table: &Table) -> StudyRecipe {
        let spec = prepared.spec();
        StudyRecipe {
            format: WIRE_FORMAT,
            data_name: spec.data_name.clone(),
            target: spec.target.clone(),
            task: spec.task.map(|t| t.name().to_string()),
            metric: spec.metric.map(|m| m.name().to_string()),
            folds: spec.folds,
            max_bin: spec.max_bin,
            group: spec.group.clone(),
            time_order: spec.time_order.clone(),
            seed: spec.seed,
            test_holdout_bits: match spec.test {
                TestData::Holdout(share) => Some(share.to_bits()),
                _ => None,
            },
            learners: spec.learners.iter().map(|l| l.name().to_string()).collect(),
            keep: spec.keep.clone(),
            text_buckets: spec.text_buckets,
            type_hints: table
                .columns
                .iter()
                .filter_map(|c| c.hint.map(|h| (c.name.clone(), hint_name(h).to_string())))
                .collect(),
            digest: prepared.problem_digest(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<StudyRecipe> {
        let recipe: StudyRecipe = serde_json::from_str(text).map_err(|e| {
            AutomlError::invalid(
                format!("the distributed study's recipe cannot be read: {e}"),
                "the study was submitted by a different whet version: run workers of the submitter's version",
            )
        })?;
        if recipe.format != WIRE_FORMAT {
            return Err(AutomlError::invalid(
                format!(
                    "the distributed study uses wire format {}, this whet knows {WIRE_FORMAT}",
                    recipe.format
                ),
                "run workers of the submitter's whet version",
            ));
        }
        Ok(recipe)
    }

    /// Type overrides to read the uploaded data with.
    pub fn load_hints(&self) -> BTreeMap<String, TypeHint> {
        self.type_hints
            .iter()
            .filter_map(|(c, h)| TypeHint::parse(h).map(|h| (c.clone(), h)))
            .collect()
    }

    /// The study spec a worker prepares with (no budget: the submitter keeps time).
    pub fn spec(&self) -> Result<StudySpec> {
        let bad = |what: &str, v: &str| {
            AutomlError::invalid(
                format!("the distributed study names an unknown {what} '{v}'"),
                "run workers of the submitter's whet version",
            )
        };
        let mut spec = StudySpec::new(self.data_name.clone(), self.target.clone());
        spec.task = match &self.task {
            Some(t) => Some(Task::parse(t).ok_or_else(|| bad("task", t))?),
            None => None,
        };
        spec.metric = match &self.metric {
            Some(m) => Some(Metric::parse(m).ok_or_else(|| bad("metric", m))?),
            None => None,
        };
        spec.budget = crate::StudyBudget::new(Instant::now(), None, Some(1));
        spec.folds = self.folds;
        spec.max_bin = self.max_bin;
        spec.group = self.group.clone();
        spec.time_order = self.time_order.clone();
        spec.seed = self.seed;
        spec.test = match self.test_holdout_bits {
            Some(bits) => TestData::Holdout(f64::from_bits(bits)),
            None => TestData::None,
        };
        spec.learners = self
            .learners
            .iter()
            .map(|l| LearnerKind::parse(l).ok_or_else(|| bad("learner", l)))
            .collect::<Result<_>>()?;
        spec.final_mode = FinalMode::Bag;
        spec.keep = self.keep.clone();
        spec.text_buckets = self.text_buckets;
        Ok(spec)
    }
}

/// One fold of one trial, as queued.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FoldTask {
    pub trial: usize,
    pub fold: usize,
    pub learner: String,
    /// The configuration's point in its search space, as f64 bits.
    pub point: Vec<u64>,
    /// Fit on ln(1 + y) (absent from tasks of a whet before log targets: false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub log_target: bool,
    /// The fold's own seed (the trial's seed plus the fold index).
    pub seed: u64,
    /// The submitter's deadline, in ms since the epoch (`--time`); None with `--trials`.
    pub deadline_unix_ms: Option<i64>,
}

fn unix_ms_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl FoldTask {
    pub fn new(
        trial: usize,
        fold: usize,
        config: &Config,
        seed: u64,
        deadline: Option<Instant>,
    ) -> FoldTask {
        FoldTask {
            trial,
            fold,
            learner: config.learner.name().to_string(),
            point: config.point.iter().map(|v| v.to_bits()).collect(),
            log_target: config.log_target,
            seed,
            deadline_unix_ms: deadline_to_unix_ms(deadline),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<FoldTask> {
        serde_json::from_str(text).map_err(|e| {
            AutomlError::invalid(
                format!("a queued trial cannot be read: {e}"),
                "run workers of the submitter's whet version",
            )
        })
    }

    pub fn config(&self) -> Result<Config> {
        let learner = LearnerKind::parse(&self.learner).ok_or_else(|| {
            AutomlError::invalid(
                format!("a queued trial names an unknown learner '{}'", self.learner),
                "run workers of the submitter's whet version",
            )
        })?;
        Ok(Config {
            learner,
            point: self.point.iter().map(|&b| f64::from_bits(b)).collect(),
            log_target: self.log_target,
        })
    }

    /// The deadline on this machine's clock.
    pub fn deadline(&self) -> Option<Instant> {
        deadline_from_unix_ms(self.deadline_unix_ms)
    }
}

/// The queue's trial number for a study's final stage: after every trial of any study.
pub const FINAL_STAGE_TRIAL: usize = 1_000_000_000;

/// A study's final stage as queued: what [`crate::finalize`] needs of each member, without
/// its fold models.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FinalTask {
    /// `auto`, `bag` or `refit` (`--final`).
    pub mode: String,
    pub members: Vec<FinalMember>,
    /// The submitter's deadline for the stage, in ms since the epoch; None with `--trials`.
    pub deadline_unix_ms: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FinalMember {
    pub trial: usize,
    pub learner: String,
    pub point: Vec<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub log_target: bool,
    pub seed: u64,
    /// f64 bits, so the weight arrives exactly.
    pub weight: u64,
    pub fold_iterations: Vec<usize>,
    pub fit_seconds: f64,
}

/// Queued specs are JSON objects; a final stage's is `{"final": …}`.
#[derive(Serialize, Deserialize)]
struct FinalEnvelope {
    #[serde(rename = "final")]
    task: FinalTask,
}

impl FinalTask {
    pub fn new(members: &[Member], mode: FinalMode, deadline: Option<Instant>) -> FinalTask {
        FinalTask {
            mode: mode.name().to_string(),
            members: members
                .iter()
                .map(|m| FinalMember {
                    trial: m.trial,
                    learner: m.learner.name().to_string(),
                    point: m.config.point.iter().map(|v| v.to_bits()).collect(),
                    log_target: m.config.log_target,
                    seed: m.seed,
                    weight: m.weight.to_bits(),
                    fold_iterations: m.fold_iterations.to_vec(),
                    fit_seconds: m.fit_seconds,
                })
                .collect(),
            deadline_unix_ms: deadline_to_unix_ms(deadline),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&FinalEnvelope { task: self.clone() }).unwrap_or_default()
    }

    /// The final stage a queued spec holds; None for a fold's spec.
    pub fn from_json(text: &str) -> Option<Result<FinalTask>> {
        if !text.starts_with("{\"final\"") {
            return None;
        }
        Some(
            serde_json::from_str::<FinalEnvelope>(text)
                .map(|e| e.task)
                .map_err(|e| {
                    AutomlError::invalid(
                        format!("a queued final stage cannot be read: {e}"),
                        "run workers of the submitter's whet version",
                    )
                }),
        )
    }

    fn configs(&self) -> Result<Vec<Config>> {
        self.members
            .iter()
            .map(|m| {
                let learner = LearnerKind::parse(&m.learner).ok_or_else(|| {
                    AutomlError::invalid(
                        format!(
                            "a queued final stage names an unknown learner '{}'",
                            m.learner
                        ),
                        "run workers of the submitter's whet version",
                    )
                })?;
                Ok(Config {
                    learner,
                    point: m.point.iter().map(|&b| f64::from_bits(b)).collect(),
                    log_target: m.log_target,
                })
            })
            .collect()
    }
}

/// What a worker's final stage decided: the bag (the submitter assembles it from its fold
/// models) or the refit members, with the comparison and the notes a local run would print.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FinalOutcome {
    pub strategy: FinalStrategy,
    pub comparison: Option<RefitComparison>,
    /// The refit members when `strategy` is refit.
    pub refit: Vec<EnsembleMember>,
    pub notes: Vec<String>,
}

impl FinalOutcome {
    /// Result bytes, as a fold's are: zstd-compressed MessagePack.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let packed = rmp_serde::to_vec_named(self)
            .map_err(|e| AutomlError::Queue(format!("cannot encode a final stage: {e}")))?;
        zstd::bulk::compress(&packed, 1)
            .map_err(|e| AutomlError::Queue(format!("cannot compress a final stage: {e}")))
    }

    pub fn decode(bytes: &[u8]) -> Result<FinalOutcome> {
        let packed = unpack(bytes)?;
        rmp_serde::from_slice(&packed).map_err(|e| {
            AutomlError::Queue(format!(
                "a worker's final stage cannot be read ({e}); the worker runs another whet version"
            ))
        })
    }
}

fn deadline_to_unix_ms(deadline: Option<Instant>) -> Option<i64> {
    deadline.map(|d| unix_ms_now() + d.saturating_duration_since(Instant::now()).as_millis() as i64)
}

fn deadline_from_unix_ms(ms: Option<i64>) -> Option<Instant> {
    ms.map(|ms| Instant::now() + Duration::from_millis((ms - unix_ms_now()).max(0) as u64))
}

#[derive(Serialize, Deserialize)]
enum Wire {
    Fitted {
        score: f64,
        /// The fold model, packed on its own ([`pack_model`]) so a submitter can keep it
        /// packed: most fold models are never used.
        #[serde(with = "serde_bytes")]
        model: Vec<u8>,
        predictions: Predictions,
        iterations: Option<usize>,
        cost_units: f64,
        predict_seconds: f64,
    },
    Failed(String),
    Interrupted,
}

fn unreadable(e: String) -> AutomlError {
    AutomlError::Queue(format!(
        "a worker's result cannot be read ({e}); the worker runs another whet version"
    ))
}

/// A fold model as a result carries it: zstd-compressed MessagePack.
fn pack_model(model: &Predictor) -> Result<Vec<u8>> {
    let packed = rmp_serde::to_vec_named(model)
        .map_err(|e| AutomlError::Queue(format!("cannot encode a fold's model: {e}")))?;
    zstd::bulk::compress(&packed, 1)
        .map_err(|e| AutomlError::Queue(format!("cannot compress a fold's model: {e}")))
}

/// A zstd frame's content. The frame says how large it unpacks (bulk compression records
/// it); 4 GB bounds a damaged size field. Allocating the bound itself for every fold cost a
/// map and unmap.
fn unpack(bytes: &[u8]) -> Result<Vec<u8>> {
    let size = zstd::zstd_safe::get_frame_content_size(bytes)
        .ok()
        .flatten()
        .filter(|&n| n <= 1 << 32)
        .ok_or_else(|| unreadable("its compressed frame has no valid size".into()))?;
    zstd::bulk::decompress(bytes, size as usize).map_err(|e| unreadable(e.to_string()))
}

/// A packed fold model ([`pack_model`]) decoded.
pub(crate) fn unpack_model(bytes: &[u8]) -> Result<Predictor> {
    rmp_serde::from_slice(&unpack(bytes)?).map_err(|e| unreadable(e.to_string()))
}

/// A fold's outcome as result bytes: MessagePack, its model packed inside
/// ([`pack_model`]; a model that came packed travels as it came).
pub fn encode_result(outcome: &std::result::Result<FoldResult, FoldError>) -> Result<Vec<u8>> {
    let wire = match outcome {
        Ok(r) => Wire::Fitted {
            score: r.score,
            model: match &r.model {
                FoldModel::Fitted(m) => pack_model(m)?,
                FoldModel::Packed(bytes) => bytes.clone(),
            },
            predictions: r.predictions.clone(),
            iterations: r.iterations,
            cost_units: r.cost_units,
            predict_seconds: r.predict_seconds,
        },
        Err(FoldError::Failed(m)) => Wire::Failed(m.clone()),
        Err(FoldError::Interrupted) => Wire::Interrupted,
    };
    rmp_serde::to_vec_named(&wire)
        .map_err(|e| AutomlError::Queue(format!("cannot encode a fold's result: {e}")))
}

/// Result bytes back into the fold's outcome, the model left packed.
pub fn decode_result(bytes: &[u8]) -> Result<std::result::Result<FoldResult, FoldError>> {
    let wire: Wire = rmp_serde::from_slice(bytes).map_err(|e| unreadable(e.to_string()))?;
    Ok(match wire {
        Wire::Fitted {
            score,
            model,
            predictions,
            iterations,
            cost_units,
            predict_seconds,
        } => Ok(FoldResult {
            score,
            model: FoldModel::Packed(model),
            predictions,
            iterations,
            cost_units,
            predict_seconds,
        }),
        Wire::Failed(m) => Err(FoldError::Failed(m)),
        Wire::Interrupted => Err(FoldError::Interrupted),
    })
}

/// Where the search sends a trial's folds when they are fitted elsewhere. Errors are the
/// queue's (a lost database, say); a fold that fails to fit is an `Ok(Err(..))` outcome.
pub trait FoldExecutor {
    /// Queues every fold of one trial.
    fn submit(&mut self, tasks: Vec<FoldTask>) -> Result<()>;
    /// Waits for one fold's outcome; `Err(FoldError::Interrupted)` once `deadline` passes or
    /// a stop is requested.
    fn wait(
        &mut self,
        trial: usize,
        fold: usize,
        deadline: Option<Instant>,
    ) -> Result<std::result::Result<FoldResult, FoldError>>;
    /// Drops the folds of a trial that are no longer needed (pruned, failed, or done).
    fn cancel(&mut self, trial: usize) -> Result<()>;
    /// Called once after the last trial: returns when nothing of this study is still being
    /// fitted on the caller's behalf (the in-process executor's threads; a queue's workers
    /// need no waiting for).
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
    /// Runs the final stage elsewhere when this executor was asked to (called after
    /// [`FoldExecutor::finish`]); None: the search runs it itself.
    fn final_stage(&mut self, _task: &FinalTask) -> Result<Option<FinalOutcome>> {
        Ok(None)
    }
}

/// FNV-1a over 64-bit words, for the problem digest.
struct Digest(u64);

impl Digest {
    fn word(&mut self, w: u64) {
        for b in w.to_le_bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl PreparedStudy {
    /// A digest of everything a fold fit reads: features, targets, task, classes and both
    /// fold partitions. Two preparations with the same digest fit the same folds.
    pub fn problem_digest(&self) -> String {
        let mut d = Digest(0xcbf2_9ce4_8422_2325);
        let (x, y, plan) = (self.features(), self.targets(), self.plan());
        if self.log_targets().is_some() {
            // A worker that cannot fit log-target trials must not take this study's folds.
            d.word(0x1061_7069);
        }
        d.word(x.n_rows as u64);
        d.word(x.columns.len() as u64);
        for c in &x.columns {
            for b in c.name.bytes() {
                d.word(u64::from(b));
            }
            match &c.data {
                FeatureData::Numeric(v) => v.iter().for_each(|f| d.word(u64::from(f.to_bits()))),
                FeatureData::Categorical {
                    codes,
                    n_categories,
                } => {
                    d.word(*n_categories as u64);
                    codes.iter().for_each(|&c| d.word(u64::from(c)));
                }
            }
        }
        y.iter().for_each(|v| d.word(v.to_bits()));
        self.task()
            .name()
            .bytes()
            .for_each(|b| d.word(u64::from(b)));
        d.word(self.n_classes() as u64);
        for f in plan.folds.iter().chain(&plan.comparison_folds) {
            d.word(f.train.len() as u64);
            f.train.iter().for_each(|&r| d.word(u64::from(r)));
            d.word(f.valid.len() as u64);
            f.valid.iter().for_each(|&r| d.word(u64::from(r)));
        }
        format!("fnv64:{:016x}", d.0)
    }

    /// Fits one queued fold, as the local search would have.
    pub fn fit_task(&self, task: &FoldTask) -> Result<std::result::Result<FoldResult, FoldError>> {
        let config = task.config()?;
        let fold = self.plan().folds.get(task.fold).ok_or_else(|| {
            AutomlError::Queue(format!(
                "a queued trial asks for fold {} of a study with {} folds",
                task.fold,
                self.plan().folds.len()
            ))
        })?;
        let problem = self.problem();
        Ok(fit_fold(
            &problem,
            &config,
            fold,
            self.metric(),
            task.seed,
            task.deadline(),
        ))
    }

    /// Runs a queued final stage, as the submitter's search would have.
    pub fn final_task(&self, task: &FinalTask) -> Result<FinalOutcome> {
        let mode = FinalMode::parse(&task.mode).ok_or_else(|| {
            AutomlError::invalid(
                format!("a queued final stage asks for '{}'", task.mode),
                "run workers of the submitter's whet version",
            )
        })?;
        let configs = task.configs()?;
        let members: Vec<Member> = task
            .members
            .iter()
            .zip(&configs)
            .map(|(m, config)| Member {
                trial: m.trial,
                learner: config.learner,
                config,
                seed: m.seed,
                weight: f64::from_bits(m.weight),
                fold_models: &[],
                fold_iterations: &m.fold_iterations,
                fit_seconds: m.fit_seconds,
            })
            .collect();
        let problem = self.problem();
        let mut notes = Vec::new();
        let (refit, strategy, comparison) = crate::finalize::choose_final(
            &problem,
            self.plan(),
            &members,
            self.metric(),
            mode,
            deadline_from_unix_ms(task.deadline_unix_ms),
            &mut notes,
        )?;
        Ok(FinalOutcome {
            strategy,
            comparison,
            refit: if strategy == FinalStrategy::Refit {
                refit
            } else {
                Vec::new()
            },
            notes,
        })
    }

    fn problem(&self) -> Problem<'_> {
        Problem {
            x: self.features(),
            y: self.targets(),
            weight: None,
            task: self.task(),
            n_classes: self.n_classes(),
            binned: self.binned(),
            log_y: self.log_targets(),
        }
    }
}
