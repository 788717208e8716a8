//! The study: everything `whet train` decides, as one library call that the CLI, the server
//! and remote workers share.
//!
//! ```text
//! StudySpec ──validate──> Study::prepare(spec, table)          (no learner fitted yet)
//!   target rows · task · metric · profile (leaking columns dropped, --keep honoured)
//!   · test set (file or holdout) · group/time keys · Prep · features · validation plan · bins
//!        ──> PreparedStudy ──run(observer)──> StudyOutcome
//!   search within the budget · ensemble · bag or refit · test score · model · leaderboard
//! ```
//!
//! Splitting preparation from the run lets a caller record the study (a tracked run, a
//! server's job) with its task, plan and sizes before any trial starts.

use std::collections::BTreeMap;

use whet_data::prep::{Features, Prep, PrepOptions};
use whet_data::profile::{Profile, ProfileOptions, TargetMissing, WarningKind, prepare_target};
use whet_data::reference::ReferenceProfile;
use whet_data::split::{holdout, stratified_holdout};
use whet_data::{Table, Task, TypeHint, ValueType};
use whet_learn::binning::{BinLayout, BinnedData, MIN_DATA_IN_BIN};
use whet_learn::metrics::{Metric, evaluate_all};
use whet_learn::model::{Metadata, Model};
use whet_learn::output::prediction_references;

use crate::budget::{StudyBudget, finish_factor};
use crate::error::{AutomlError, Context, Result};
use crate::events::{Observer, Stage, StudyEvent, send_new_notes};
use crate::expense::{
    DEFAULT_MAX_BIN, EXPENSIVE_FOLDS, EXPENSIVE_MAX_BIN, Shape, Triage, kfold_train_rows,
};
use crate::finalize::{FinalMode, FinalStrategy};
use crate::memory::{available_bytes, bins_kept_once, estimate_training_bytes, human_bytes};
use crate::plan::{CvPlan, PlanRequest, plan_validation};
use crate::remote::FoldExecutor;
use crate::report::StudyReport;
use crate::search::{SearchOptions, TrialRecord, search_with};
use crate::space::LearnerKind;
use crate::trial::Problem;

/// Seeds the test holdout (`TestData::Holdout`) from the study's seed.
const TEST_HOLDOUT_SEED: u64 = 0x7E57;

/// Data the final model is scored on once, at the end.
#[derive(Clone, Debug, Default)]
pub enum TestData {
    #[default]
    None,
    /// Hold out this share of the rows (stratified for classification).
    Holdout(f64),
    /// A separate table; `name` labels errors (e.g. its file).
    Table { table: Table, name: String },
}

/// Everything a study needs besides the training table.
#[derive(Clone, Debug)]
pub struct StudySpec {
    /// How errors and notes name the training data (e.g. its file).
    pub data_name: String,
    pub target: String,
    /// None: inferred from the target.
    pub task: Option<Task>,
    /// None: the task's default (roc_auc, log_loss, rmse).
    pub metric: Option<Metric>,
    pub budget: StudyBudget,
    /// Cross-validation folds; None: 5, or the large-data default (see `plan`).
    pub folds: Option<usize>,
    /// Group k-fold by this column (not a feature then).
    pub group: Option<String>,
    /// Time-ordered folds by this column.
    pub time_order: Option<String>,
    pub seed: u64,
    pub test: TestData,
    pub learners: Vec<LearnerKind>,
    pub final_mode: FinalMode,
    /// Columns kept even when id-like or leaking.
    pub keep: Vec<String>,
    /// Free-text columns hash into this many features; 0 drops them.
    pub text_buckets: u32,
    /// Histogram bins per feature for the tree learners; None: 255, or 63 when one trial
    /// would take a large share of the time budget (see `expense`). Set once prepared.
    pub max_bin: Option<usize>,
}

impl StudySpec {
    /// A spec with whet train's defaults: every learner, a 60 s budget from `budget.started`.
    pub fn new(data_name: impl Into<String>, target: impl Into<String>) -> StudySpec {
        StudySpec {
            data_name: data_name.into(),
            target: target.into(),
            task: None,
            metric: None,
            budget: StudyBudget::new(std::time::Instant::now(), None, None),
            folds: None,
            group: None,
            time_order: None,
            seed: 0,
            test: TestData::None,
            learners: LearnerKind::ALL.to_vec(),
            final_mode: FinalMode::Auto,
            keep: Vec::new(),
            text_buckets: 32,
            max_bin: None,
        }
    }

    /// Checks the options that need no data, so a bad request fails before any loading.
    pub fn validate(&self) -> Result<()> {
        if self.budget.trials == Some(0) {
            return Err(AutomlError::invalid(
                "--trials must be at least 1",
                "give the number of trials to run, e.g. --trials 20",
            ));
        }
        if self.learners.is_empty() {
            return Err(AutomlError::invalid(
                "--learners is empty",
                "list at least one of gbdt, rf, et, linear, knn",
            ));
        }
        if let Some(f) = self.folds
            && f < 2
        {
            return Err(AutomlError::invalid(
                "--folds must be at least 2 (5 is common)",
                "cross-validation needs two folds or more",
            ));
        }
        if let TestData::Holdout(s) = self.test
            && !(s > 0.0 && s < 1.0)
        {
            return Err(AutomlError::invalid(
                "--test-size must be between 0 and 1, e.g. 0.2",
                "give the share of rows to hold out as the test set",
            ));
        }
        Ok(())
    }
}

/// Refuses, before loading, data whose estimated memory need exceeds what is available
/// (`file_bytes` of a file, `compressed` for gzip or Parquet).
pub fn check_memory(data_name: &str, file_bytes: u64, compressed: bool) -> Result<()> {
    let need = estimate_training_bytes(file_bytes, compressed);
    if let Some(available) = available_bytes()
        && need > available
    {
        return Err(AutomlError::Memory {
            data: data_name.to_string(),
            need: human_bytes(need),
            available: human_bytes(available),
        });
    }
    Ok(())
}

/// How the study keeps its tree learners' bins: once (row-major only; the same models, a
/// slower partition) when two copies and the fits running at once (one per thread) would
/// crowd the memory `available` after loading, as `whet fit` decides for one fit; noted when so.
fn bin_layout(
    x: &Features,
    task: Task,
    n_classes: usize,
    fits_at_once: u64,
    available: Option<u64>,
    notes: &mut Vec<String>,
) -> BinLayout {
    let outputs = if task == Task::Multiclass {
        n_classes
    } else {
        1
    };
    let (rows, features) = (x.n_rows as u64, x.columns.len() as u64);
    match available {
        Some(available)
            if bins_kept_once(rows, features, outputs as u64, fits_at_once, available) =>
        {
            notes.push(format!(
                "the tree learners' bins are kept once (the same models, slower fits): two copies of {} and {fits_at_once} fits at once would not leave a fifth of the {} of memory available free",
                human_bytes(rows * features),
                human_bytes(available),
            ));
            BinLayout::RowsOnly
        }
        _ => BinLayout::RowsAndColumns,
    }
}

/// A study ready to run: the data prepared, the task, metric and validation plan settled.
pub struct PreparedStudy {
    spec: StudySpec,
    task: Task,
    metric: Metric,
    fingerprint: String,
    profile: Profile,
    warnings: Vec<String>,
    dropped_columns: Vec<String>,
    notes: Vec<String>,
    prep: Prep,
    /// The training rows' profile, without predictions until the final model exists.
    reference: ReferenceProfile,
    x: Features,
    y: Vec<f64>,
    /// ln(1 + y) when the target is positive and right-skewed: log-target trials fit these.
    log_y: Option<Vec<f64>>,
    n_classes: usize,
    test: Option<(Features, Vec<f64>)>,
    plan: CvPlan,
    binned: Option<BinnedData>,
    data_rows: Vec<u64>,
}

/// A finished study: the model to write and everything a report or a tracked run needs.
pub struct StudyOutcome {
    pub model: Model,
    pub report: StudyReport,
    /// Every trial in the order run (0-based ids), for the trial log.
    pub trials: Vec<TrialRecord>,
    /// The test rows' targets (class index or value) and the final model's predictions on
    /// them, when there is a test set: what the short review of `whet train` needs.
    pub test: Option<(Vec<f64>, whet_learn::Predictions)>,
}

pub struct Study;

impl Study {
    /// Settles the target, task and metric, profiles the data (dropping leaking columns unless
    /// kept), splits off the test set, fits the Prep and plans validation. Notes go to the
    /// observer as they are made.
    pub fn prepare(
        mut spec: StudySpec,
        mut table: Table,
        observer: &mut dyn Observer,
    ) -> Result<PreparedStudy> {
        spec.validate()?;
        let mut notes: Vec<String> = Vec::new();
        for k in &spec.keep {
            let i = table.index_of(k).ok_or_else(|| {
                AutomlError::invalid(
                    format!("--keep: no column '{k}' in '{}'", spec.data_name),
                    "name a column of the training data",
                )
            })?;
            // A hint fixes the role, so id-like inference no longer drops it.
            let info = &mut table.columns[i];
            if info.hint.is_none() {
                info.hint = Some(if info.value_type.is_numeric() {
                    TypeHint::Numeric
                } else {
                    TypeHint::Categorical
                });
            }
        }
        let fingerprint = whet_data::hash::table_fingerprint(&table);
        let prepared = prepare_target(&table, &spec.target, spec.task, TargetMissing::Drop)?;
        let task = prepared.task;
        if prepared.dropped > 0 {
            notes.push(format!(
                "dropped {} rows without a target",
                prepared.dropped
            ));
        }
        let mut table = prepared.table;
        // 1-based data rows of the input file, for out-of-fold predictions to join back on.
        let mut data_rows: Vec<u64> = match &prepared.kept_rows {
            Some(kept) => kept.iter().map(|&r| u64::from(r) + 1).collect(),
            None => (1..=table.n_rows() as u64).collect(),
        };
        if task == Task::Regression {
            whet_data::profile::check_regression_target(&table, &spec.target, Some(&data_rows))?;
        }
        let metric = spec.metric.unwrap_or(Metric::default_for(task));
        if !Metric::for_task(task).contains(&metric) {
            return Err(AutomlError::invalid(
                format!(
                    "metric {} does not apply to a {} task",
                    metric.name(),
                    task.name()
                ),
                format!(
                    "use one of {}",
                    Metric::for_task(task)
                        .iter()
                        .map(|m| m.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }

        // Profile first: its warnings are reported before training, and leaking columns
        // are dropped.
        let profile = whet_data::profile::profile(
            &table,
            &ProfileOptions {
                target: Some(spec.target.clone()),
                task: Some(task),
                target_missing: TargetMissing::Drop,
                // Ctrl-C while the data is profiled stops the study before any trial.
                stop: Some(whet_learn::stop::stop_requested),
            },
            None,
        )?;
        let mut warnings: Vec<String> = Vec::new();
        let mut dropped_columns: Vec<String> = Vec::new();
        for w in &profile.warnings {
            warnings.push(format!(
                "{}{} → {}",
                w.column
                    .as_ref()
                    .map(|c| format!("{c}: "))
                    .unwrap_or_default(),
                w.message,
                w.suggestion
            ));
            if w.kind == WarningKind::TargetLeakage
                && let Some(c) = &w.column
                && !spec.keep.contains(c)
                && let Some(i) = table.index_of(c)
            {
                table = table.without_column(i)?;
                dropped_columns.push(c.clone());
                notes.push(format!(
                    "dropped '{c}': it alone predicts the target almost perfectly (leakage); --keep {c} keeps it"
                ));
            }
        }

        let mut test_table: Option<Table> = None;
        match &spec.test {
            TestData::None => {}
            TestData::Holdout(frac) => {
                let labels = class_labels(&table, &spec.target, task)?;
                let fold = match &labels {
                    Some(l) => stratified_holdout(l, *frac, spec.seed ^ TEST_HOLDOUT_SEED)?,
                    None => holdout(table.n_rows(), *frac, spec.seed ^ TEST_HOLDOUT_SEED)?,
                };
                test_table = Some(table.take_rows(&fold.valid)?);
                table = table.take_rows(&fold.train)?;
                data_rows = fold.train.iter().map(|&r| data_rows[r as usize]).collect();
                notes.push(format!(
                    "held out {} rows ({:.0}%) as the test set",
                    fold.valid.len(),
                    frac * 100.0
                ));
            }
            TestData::Table { table: t, name } => {
                let t = prepare_target(t, &spec.target, Some(task), TargetMissing::Drop)
                    .context(format!("in test file '{name}'"))?;
                if t.dropped > 0 {
                    notes.push(format!(
                        "test file: dropped {} rows without a target",
                        t.dropped
                    ));
                }
                test_table = Some(t.table);
            }
        }

        // Cross-validation order/group keys come from the raw table; a group column is no
        // feature.
        let groups = match &spec.group {
            Some(g) => {
                let i = table.require(g)?;
                let keys = whet_data::profile::value_hashes(table.array(i));
                table = table.without_column(i)?;
                dropped_columns.push(g.clone());
                Some(keys)
            }
            None => None,
        };
        let time_keys = match &spec.time_order {
            Some(c) => Some(order_key(&table, c)?),
            None => None,
        };

        let prep = Prep::fit(
            &table,
            Some((&spec.target, task)),
            &PrepOptions::for_models(spec.text_buckets),
        )?;
        for d in &prep.dropped {
            if !dropped_columns.contains(&d.column) {
                dropped_columns.push(d.column.clone());
                notes.push(format!("dropped '{}' ({})", d.column, d.role.name()));
            }
        }
        let x = prep.transform(&table)?.features;
        let y = prep.transform_target(&table)?;
        let reference = ReferenceProfile::build(&table, &prep)?;
        let n_classes = match task {
            Task::Regression => 1,
            _ => prep.target.as_ref().map_or(2, |t| t.classes.len().max(2)),
        };
        let test = match &test_table {
            Some(t) => {
                let out = prep.transform(t).context("in the test data")?;
                let ty = prep.transform_target(t).context("in the test data")?;
                Some((out.features, ty))
            }
            None => None,
        };

        check_enough_rows(task, &y, n_classes)?;
        let log_y = match crate::trial::log_target_values(task, &y) {
            Some((log_y, skew)) => {
                notes.push(format!(
                    "the target is never negative and skewed to the right (skewness {skew:.2}): each learner's first default is also fitted on ln(1 + {}), scored back in the target's units, and the tuner keeps whichever scale cross-validates better",
                    spec.target
                ));
                Some(log_y)
            }
            None => None,
        };
        let trees = spec.learners.iter().any(|l| l.is_tree());
        let layout = if trees {
            let fits_at_once = rayon::current_num_threads() as u64;
            bin_layout(
                &x,
                task,
                n_classes,
                fits_at_once,
                available_bytes(),
                &mut notes,
            )
        } else {
            BinLayout::RowsAndColumns
        };
        let bin = |max_bin| BinnedData::fit_layout(&x, max_bin, MIN_DATA_IN_BIN, 0, layout);
        let mut binned = if trees {
            Some(bin(spec.max_bin.unwrap_or(DEFAULT_MAX_BIN))?)
        } else {
            None
        };
        if let Some(b) = &binned
            && let Some(cheaper) = cheaper_validation(&spec, task, &y, n_classes, b, &mut notes)
        {
            spec.folds = Some(cheaper.folds);
            if cheaper.max_bin != DEFAULT_MAX_BIN {
                binned = Some(bin(cheaper.max_bin)?);
            }
            spec.max_bin = Some(cheaper.max_bin);
        }
        // A worker preparing this study from its recipe bins the same way.
        spec.max_bin = Some(spec.max_bin.unwrap_or(DEFAULT_MAX_BIN));
        let request = PlanRequest {
            folds: spec.folds,
            groups: groups.as_deref().zip(spec.group.as_deref()),
            time_order: time_keys.as_deref().zip(spec.time_order.as_deref()),
        };
        let plan = plan_validation(
            task,
            &y,
            n_classes,
            x.n_features(),
            &request,
            spec.seed,
            &mut notes,
        )?;
        let mut sent = 0;
        send_new_notes(observer, &notes, &mut sent);
        Ok(PreparedStudy {
            spec,
            task,
            metric,
            fingerprint,
            profile,
            warnings,
            dropped_columns,
            notes,
            prep,
            reference,
            x,
            y,
            log_y,
            n_classes,
            test,
            plan,
            binned,
            data_rows,
        })
    }
}

impl PreparedStudy {
    pub fn spec(&self) -> &StudySpec {
        &self.spec
    }

    pub fn task(&self) -> Task {
        self.task
    }

    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The validation plan in words, e.g. "stratified 5-fold cross-validation".
    pub fn plan_description(&self) -> &str {
        &self.plan.description
    }

    /// A content fingerprint of the training data as loaded (see whet_data::hash).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The profile of the training rows (before any test holdout).
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Profile warnings, each with its suggestion.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn train_rows(&self) -> usize {
        self.x.n_rows
    }

    pub fn n_features(&self) -> usize {
        self.x.n_features()
    }

    /// Class labels in output order (empty for regression).
    pub fn classes(&self) -> Vec<String> {
        self.prep
            .target
            .as_ref()
            .map(|t| t.classes.clone())
            .unwrap_or_default()
    }

    /// The 1-based data row of the training file behind each training row.
    pub fn data_rows(&self) -> &[u64] {
        &self.data_rows
    }

    pub(crate) fn features(&self) -> &Features {
        &self.x
    }

    pub(crate) fn targets(&self) -> &[f64] {
        &self.y
    }

    pub(crate) fn log_targets(&self) -> Option<&[f64]> {
        self.log_y.as_deref()
    }

    pub(crate) fn n_classes(&self) -> usize {
        self.n_classes
    }

    pub(crate) fn binned(&self) -> Option<&BinnedData> {
        self.binned.as_ref()
    }

    /// The validation plan: the search's folds and the comparison partition.
    pub fn plan(&self) -> &CvPlan {
        &self.plan
    }

    /// Runs the search within the budget, builds the final model and scores the test set.
    pub fn run(self, observer: &mut dyn Observer) -> Result<StudyOutcome> {
        self.run_with(observer, None)
    }

    /// [`PreparedStudy::run`], with the folds of every trial fitted through `executor` when
    /// one is given (`whet worker`s); the rest (search, ensemble, final model) stays here.
    pub fn run_with(
        self,
        observer: &mut dyn Observer,
        executor: Option<&mut dyn FoldExecutor>,
    ) -> Result<StudyOutcome> {
        let problem = Problem {
            x: &self.x,
            y: &self.y,
            weight: None,
            task: self.task,
            n_classes: self.n_classes,
            binned: self.binned.as_ref(),
            log_y: self.log_y.as_deref(),
        };
        let validated_rows: usize = self.plan.folds.iter().map(|f| f.valid.len()).sum();
        let options = SearchOptions {
            metric: self.metric,
            budget: self.spec.budget.search(),
            learners: self.spec.learners.clone(),
            seed: self.spec.seed,
            finish_factor: finish_factor(
                self.plan.folds.len(),
                validated_rows,
                self.test.as_ref().map(|(tx, _)| tx.n_rows),
            ),
            final_mode: self.spec.final_mode,
            plan_seconds: self.spec.budget.time.map(|t| t.as_secs_f64()),
        };
        let mut result = search_with(&problem, &self.plan, &options, observer, executor)?;
        if !result.cv_score.is_finite() {
            return Err(AutomlError::Unusable {
                message: format!(
                    "the cross-validated {} is not a number ({}); no model is written or registered",
                    self.metric.name(),
                    result.cv_score
                ),
                hint: "check the target for extreme values and the folds for rows of a single class (whet profile --target shows both)".into(),
            });
        }

        let test_predictions = self.test.as_ref().map(|(tx, _)| {
            observer.event(StudyEvent::StageChanged(Stage::Test));
            result.predictor.predict(tx)
        });
        let test_metrics = self
            .test
            .as_ref()
            .zip(test_predictions.as_ref())
            .map(|((_, ty), p)| {
                evaluate_all(self.task, ty, p, None)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<BTreeMap<String, f64>>()
            });
        let mut notes = self.notes;
        notes.extend(result.notes.iter().cloned());
        let report = StudyReport::new(
            &result,
            &self.spec,
            self.task,
            self.metric,
            &self.plan,
            self.x.n_rows,
            self.x.n_features(),
            test_metrics,
            self.dropped_columns,
            self.warnings,
            notes,
        );
        let mut metrics = BTreeMap::new();
        metrics.insert(
            "cv".to_string(),
            BTreeMap::from([(self.metric.name().to_string(), result.cv_score)]),
        );
        if let Some(m) = &report.test_metrics {
            metrics.insert("test".to_string(), m.clone());
        }
        let classes = self
            .prep
            .target
            .as_ref()
            .map(|t| t.classes.clone())
            .unwrap_or_default();
        // The reference predictions are the model's on rows it did not learn from — the test
        // holdout's, else out-of-fold — because on its own training rows a model is more
        // confident than on any new data, and every new batch would seem to drift.
        let test = self
            .test
            .as_ref()
            .zip(test_predictions.as_ref())
            .map(|((_, ty), p)| (ty.clone(), p.clone()));
        let mut reference = self.reference;
        if test_predictions.is_none() && report.final_strategy == FinalStrategy::Refit {
            // Out-of-fold predictions are the fold models', and a model refit on every row
            // spreads its predictions differently: compared with them, unchanged data reads as
            // drift. Better no prediction reference than a false alarm on every batch.
            reference.predictions_not_compared = Some(
                "the model was refit on every training row, so it has no predictions on rows it did not learn from; train with --test-size or --test (or --final bag) to check prediction drift"
                    .into(),
            );
        } else {
            let held_out_predictions = match (test_predictions, result.oof_predictions.take()) {
                (Some(p), _) | (None, Some(p)) => p,
                (None, None) => result.predictor.predict(&self.x),
            };
            reference.predictions =
                prediction_references(self.task, &classes, &held_out_predictions);
        }
        let mut shown_params = BTreeMap::new();
        shown_params.insert("final_model".to_string(), report.final_model_detail.clone());
        shown_params.insert(
            "final_strategy".to_string(),
            report.final_strategy.name().to_string(),
        );
        shown_params.insert("metric".to_string(), self.metric.name().to_string());
        shown_params.insert("cv".to_string(), self.plan.description.clone());
        let model = Model {
            metadata: Metadata {
                whet_version: env!("CARGO_PKG_VERSION").to_string(),
                task: self.task,
                target: self.spec.target.clone(),
                classes,
                params: shown_params,
                train_rows: self.x.n_rows as u64,
                seed: self.spec.seed,
                fit_seconds: result.search_seconds,
                metrics,
            },
            prep: self.prep,
            predictor: result.predictor,
            reference,
        };
        Ok(StudyOutcome {
            model,
            report,
            trials: result.trials,
            test,
        })
    }
}

/// The fewest rows a study can validate: two rows of each of two classes for a classifier (so
/// both folds see both), four for regression.
fn check_enough_rows(task: Task, y: &[f64], n_classes: usize) -> Result<()> {
    if task == Task::Regression {
        if y.len() < 4 {
            return Err(AutomlError::Unusable {
                message: format!(
                    "too few rows to validate a model: {} (at least 4 are needed)",
                    y.len()
                ),
                hint: "train on more rows; with --test-size, hold out fewer".into(),
            });
        }
        return Ok(());
    }
    let mut counts = vec![0usize; n_classes.max(2)];
    for &v in y {
        if let Some(c) = counts.get_mut(v as usize) {
            *c += 1;
        }
    }
    let usable = counts.iter().filter(|&&c| c >= 2).count();
    if usable < 2 {
        return Err(AutomlError::Unusable {
            message: format!(
                "too few rows to validate a classifier: {} rows, and {} with at least 2 rows (at least two classes of 2 rows each are needed)",
                y.len(),
                if usable == 1 {
                    "only one class"
                } else {
                    "no class"
                }
            ),
            hint: "train on more labelled rows; with --test-size, hold out fewer".into(),
        });
    }
    Ok(())
}

/// Class index per row for stratification (None for regression).
fn class_labels(table: &Table, target: &str, task: Task) -> Result<Option<Vec<u32>>> {
    if task == Task::Regression {
        return Ok(None);
    }
    let i = table.require(target)?;
    let hashes = whet_data::profile::value_hashes(table.array(i));
    let mut ids: BTreeMap<u64, u32> = BTreeMap::new();
    let mut next = 0u32;
    let mut labels = Vec::with_capacity(hashes.len());
    for h in hashes {
        let id = *ids.entry(h).or_insert_with(|| {
            next += 1;
            next - 1
        });
        labels.push(id);
    }
    Ok(Some(labels))
}

/// Time-ordered cross-validation needs an order key per row (missing first).
fn order_key(table: &Table, column: &str) -> Result<Vec<i64>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMillisecondType;
    let i = table.require(column)?;
    let array = table.array(i);
    match table.columns[i].value_type {
        ValueType::Datetime => Ok(array
            .as_primitive::<TimestampMillisecondType>()
            .iter()
            .map(|v| v.unwrap_or(i64::MIN))
            .collect()),
        t if t.is_numeric() => {
            let values = whet_data::summary::numeric_values(array.as_ref()).unwrap_or_default();
            // Order-preserving map of f64 onto i64 (missing first).
            Ok(values
                .into_iter()
                .map(|v| match v {
                    Some(x) => {
                        let bits = x.to_bits() as i64;
                        if bits < 0 { bits ^ i64::MAX } else { bits }
                    }
                    None => i64::MIN,
                })
                .collect())
        }
        other => Err(AutomlError::invalid(
            format!(
                "--time-order column '{column}' holds {} values",
                other.name()
            ),
            "use a date/time or numeric column",
        )),
    }
}

/// How an expensive problem is validated instead: fewer folds, and coarser bins when that is
/// not enough.
struct Cheaper {
    folds: usize,
    max_bin: usize,
}

/// [`Cheaper`] validation, with a note, for a problem where one boosting trial would take a
/// large share of the time budget; None when the user chose the folds or bins, validation is
/// grouped, time-ordered or a holdout, or there is no time budget.
fn cheaper_validation(
    spec: &StudySpec,
    task: Task,
    y: &[f64],
    n_classes: usize,
    binned: &BinnedData,
    notes: &mut Vec<String>,
) -> Option<Cheaper> {
    let budget = spec.budget.time?.as_secs_f64();
    let n_rows = y.len();
    let large = n_rows >= crate::plan::LARGE_DATA_ROWS
        || n_rows * binned.n_features() > crate::plan::LARGE_DATA_CELLS;
    if spec.folds.is_some()
        || spec.max_bin.is_some()
        || spec.group.is_some()
        || spec.time_order.is_some()
        || large
    {
        return None;
    }
    let shape = |max_bin| Shape::with_bins(n_rows, binned, max_bin, task, n_classes);
    let five = kfold_train_rows(n_rows, 5);
    let triage = Triage::assess(task, &shape(DEFAULT_MAX_BIN), &five, budget);
    if !triage.expensive {
        return None;
    }
    let three = kfold_train_rows(n_rows, EXPENSIVE_FOLDS);
    let still = Triage::assess(task, &shape(DEFAULT_MAX_BIN), &three, budget).expensive;
    let max_bin = if still {
        EXPENSIVE_MAX_BIN
    } else {
        DEFAULT_MAX_BIN
    };
    let after = Triage::assess(task, &shape(max_bin), &three, budget);
    let classes = if task == Task::Multiclass {
        format!(" ({n_classes} classes, a tree per class per round)")
    } else {
        String::new()
    };
    let bins = if still {
        format!(" with {max_bin} bins per feature")
    } else {
        String::new()
    };
    notes.push(format!(
        "one boosting trial{classes} is estimated at {:.0} s of the {budget:.0} s budget under 5-fold cross-validation: trials are validated on {EXPENSIVE_FOLDS} folds{bins} instead (about {:.0} s; set --folds to choose)",
        triage.reference_seconds,
        after.reference_seconds,
    ));
    Some(Cheaper {
        folds: EXPENSIVE_FOLDS,
        max_bin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};
    use whet_data::prep::{Feature, FeatureData, Features};
    use whet_data::rng::Rng;

    /// `n` rows of `classes` classes over 58 numeric features with 255 distinct values each.
    fn shaped(n: usize, classes: usize) -> (BinnedData, Vec<f64>) {
        let mut rng = Rng::new(1);
        let columns = (0..58)
            .map(|f| Feature {
                name: format!("x{f}"),
                data: FeatureData::Numeric((0..n).map(|_| rng.next_f64() as f32).collect()),
            })
            .collect();
        let x = Features { n_rows: n, columns };
        let y = (0..n).map(|i| (i % classes) as f64).collect();
        (BinnedData::fit(&x, 255).unwrap(), y)
    }

    fn spec(seconds: u64) -> StudySpec {
        let mut spec = StudySpec::new("t", "y");
        spec.budget = StudyBudget::new(Instant::now(), Some(Duration::from_secs(seconds)), None);
        spec
    }

    /// A study short of memory keeps its bins once and says so; with enough, or unknown
    /// memory, both copies and no note. Counted per class and per fit running at once.
    #[test]
    fn a_study_short_of_memory_keeps_its_bins_once() {
        let x = Features {
            n_rows: 100_000,
            columns: (0..20)
                .map(|f| Feature {
                    name: format!("x{f}"),
                    data: FeatureData::Numeric(Vec::new()),
                })
                .collect(),
        };
        // Two copies: 4 MB; a fit of one output 2.8 MB, of 10 classes 17.2 MB.
        let layout = |task, classes, fits, available| {
            let mut notes = Vec::new();
            let layout = bin_layout(&x, task, classes, fits, available, &mut notes);
            (layout, notes)
        };
        let (plenty, notes) = layout(Task::Binary, 2, 2, Some(1 << 30));
        assert_eq!((plenty, notes.len()), (BinLayout::RowsAndColumns, 0));
        let (unknown, notes) = layout(Task::Binary, 2, 2, None);
        assert_eq!((unknown, notes.len()), (BinLayout::RowsAndColumns, 0));
        let (short, notes) = layout(Task::Binary, 2, 2, Some(10_000_000));
        assert_eq!(short, BinLayout::RowsOnly);
        assert!(notes[0].contains("bins are kept once"), "{notes:?}");
        assert!(notes[0].contains("2 fits at once"), "{notes:?}");
        assert_eq!(
            layout(Task::Binary, 2, 1, Some(10_000_000)).0,
            BinLayout::RowsAndColumns
        );
        assert_eq!(
            layout(Task::Multiclass, 10, 1, Some(25_000_000)).0,
            BinLayout::RowsOnly
        );
    }

    #[test]
    fn an_expensive_problem_is_validated_on_fewer_folds_and_bins() {
        let (binned, y) = shaped(1200, 32);
        let mut notes = Vec::new();
        let c = cheaper_validation(&spec(60), Task::Multiclass, &y, 32, &binned, &mut notes)
            .expect("32 classes x 1,200 rows is expensive in 60 s");
        assert_eq!((c.folds, c.max_bin), (EXPENSIVE_FOLDS, EXPENSIVE_MAX_BIN));
        assert!(notes[0].contains("3 folds with 63 bins"), "{notes:?}");
        // A longer budget needs fewer folds only; a much longer one nothing.
        let mut notes = Vec::new();
        let c = cheaper_validation(&spec(180), Task::Multiclass, &y, 32, &binned, &mut notes);
        assert_eq!(c.map(|c| (c.folds, c.max_bin)), Some((3, 255)));
        assert!(
            cheaper_validation(&spec(3600), Task::Multiclass, &y, 32, &binned, &mut notes)
                .is_none()
        );
        // Binary data of the same shape is cheap; the user's folds and trial budgets rule.
        let (binned2, y2) = shaped(1200, 2);
        assert!(
            cheaper_validation(&spec(60), Task::Binary, &y2, 2, &binned2, &mut notes).is_none()
        );
        let mut chosen = spec(60);
        chosen.folds = Some(5);
        assert!(
            cheaper_validation(&chosen, Task::Multiclass, &y, 32, &binned, &mut notes).is_none()
        );
        let mut trials = spec(60);
        trials.budget = StudyBudget::new(Instant::now(), None, Some(10));
        assert!(
            cheaper_validation(&trials, Task::Multiclass, &y, 32, &binned, &mut notes).is_none()
        );
    }
}
