//! `whet train`: AutoML over whet's learners — profile, prep, cross-validated search within a
//! budget, ensemble, and one model file.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use arrow_array::{ArrayRef, Int64Array};
use arrow_schema::{DataType, Field, Schema};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use whet_automl::finalize::{self, FinalMode, FinalStrategy, RefitComparison};
use whet_automl::memory::{available_bytes, estimate_training_bytes, human_bytes};
use whet_automl::search::{
    Budget, COMPARISON_SEED, CvPlan, FoldPredictions, Observer, SearchOptions, StopReason,
    TrialStatus,
};
use whet_automl::{LearnerKind, Problem, TrialRecord, plan_folds, plan_holdout, search};
use whet_data::prep::Prep;
use whet_data::profile::{ProfileOptions, TargetMissing, WarningKind, prepare_target};
use whet_data::sink::parquet_bytes;
use whet_data::split::{group_kfold, holdout, stratified_holdout, time_split};
use whet_data::{Table, Task, TypeHint, ValueType};
use whet_learn::binning::BinnedData;
use whet_learn::data::Predictions;
use whet_learn::metrics::{Metric, evaluate_all};
use whet_learn::model::{Metadata, Model};

use crate::{ReadArgs, load_table, study};

/// From this many rows, or cells (rows × features), the default is a 10% holdout instead of
/// 5-fold cross-validation (3 folds with --group or --time-order): a tenth of the rows scores a
/// model well, and a trial costs less than half of a 3-fold one, so the search tries more.
const LARGE_DATA_ROWS: usize = 100_000;
const LARGE_DATA_CELLS: usize = 20_000_000;

#[derive(Args)]
pub struct TrainArgs {
    /// Training data: CSV (optionally .gz) or Parquet.
    pub data: PathBuf,
    /// Column to predict.
    #[arg(long)]
    pub target: String,
    /// Force the task: binary, multiclass or regression (default: inferred from the target).
    #[arg(long, value_parser = crate::parse_task)]
    pub task: Option<Task>,
    /// Metric to optimise (default: roc_auc for binary, log_loss for multiclass, rmse for
    /// regression). Also: pr_auc, accuracy, balanced_accuracy, f1, f1_macro, mae, r2, mape.
    #[arg(long)]
    pub metric: Option<String>,
    /// Time budget for the whole command, e.g. 60s, 5m, 1h (default 60s unless --trials).
    #[arg(long, value_parser = parse_duration)]
    pub time: Option<Duration>,
    /// Stop after this many trials (reproducible: same seed, same trials, same model).
    #[arg(long)]
    pub trials: Option<usize>,
    /// Cross-validation folds (default 5; from 100,000 rows or 20 million cells a 10% holdout,
    /// or 3 folds with --group or --time-order).
    #[arg(long)]
    pub folds: Option<usize>,
    /// Keep rows sharing a value of this column in one fold (group k-fold); not a feature.
    #[arg(long, value_name = "COLUMN", conflicts_with = "time_order")]
    pub group: Option<String>,
    /// Time-ordered cross-validation: validate on rows later in this column than the training rows.
    #[arg(long, value_name = "COLUMN")]
    pub time_order: Option<String>,
    /// Random seed for every choice the search makes.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Test data, scored once at the end with the final model.
    #[arg(long, conflicts_with = "test_size")]
    pub test: Option<PathBuf>,
    /// Hold out this share of the data as a test set instead (stratified for classification).
    #[arg(long)]
    pub test_size: Option<f64>,
    /// Learners to search, comma-separated: gbdt, rf, et, linear, knn (default: all).
    #[arg(long, value_delimiter = ',')]
    pub learners: Option<Vec<String>>,
    /// Experiment name for the tracked runs (default: the data file's stem).
    #[arg(long)]
    pub experiment: Option<String>,
    /// The final model: `bag` averages each chosen trial's fold models, `refit` fits each once
    /// more on all training rows, `auto` takes whichever scores better in nested
    /// cross-validation when the budget allows it (the bag otherwise).
    #[arg(long = "final", value_name = "auto|bag|refit", default_value = "auto", value_parser = parse_final_mode)]
    pub final_mode: FinalMode,
    /// Do not keep each trial's out-of-fold predictions (`oof.parquet` in its tracked run;
    /// about 20 bytes per validated row per trial).
    #[arg(long)]
    pub no_oof: bool,
    /// Where to write the model.
    #[arg(long, default_value = "model.whet")]
    pub out: PathBuf,
    /// Keep a column that would be dropped as id-like or leaking; repeatable.
    #[arg(long, value_name = "COLUMN")]
    pub keep: Vec<String>,
    /// Free-text columns: hash their tokens into this many features, or 0 to drop them.
    #[arg(long, default_value_t = 32)]
    pub text_buckets: u32,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub read: ReadArgs,
}

fn parse_final_mode(s: &str) -> Result<FinalMode, String> {
    FinalMode::parse(s)
        .ok_or_else(|| format!("'{s}' is not a final model choice; use auto, bag or refit"))
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a duration; use e.g. 60s, 5m or 1h"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" | "sec" | "secs" => v,
        "m" | "min" | "mins" => v * 60.0,
        "h" | "hr" | "hours" => v * 3600.0,
        _ => return Err(format!("unknown unit '{unit}' in '{s}'; use s, m or h")),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("'{s}': the budget must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[derive(Serialize)]
struct LeaderboardRow {
    rank: usize,
    trial: usize,
    learner: LearnerKind,
    params: BTreeMap<String, String>,
    cv_score: f64,
    cv_std: f64,
    fit_seconds: f64,
}

#[derive(Serialize)]
struct EnsembleMemberReport {
    trial: usize,
    learner: LearnerKind,
    weight: f64,
}

#[derive(Serialize)]
struct TrainReport {
    model_path: String,
    task: Task,
    target: String,
    metric: Metric,
    cv: String,
    cv_score: f64,
    cv_std: f64,
    /// "ensemble" or "best_trial".
    final_model: String,
    final_model_detail: String,
    /// "bag" (fold models averaged; with a holdout, the model fitted outside it) or "refit".
    final_strategy: FinalStrategy,
    #[serde(skip_serializing_if = "Option::is_none")]
    refit_comparison: Option<RefitComparison>,
    best_trial: usize,
    best_trial_score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ensemble: Option<EnsembleSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    test_metrics: Option<BTreeMap<String, f64>>,
    leaderboard: Vec<LeaderboardRow>,
    best_per_learner: BTreeMap<String, f64>,
    trials: usize,
    trials_completed: usize,
    trials_pruned: usize,
    trials_failed: usize,
    stopped_by: StopReason,
    #[serde(skip_serializing_if = "Option::is_none")]
    budget_seconds: Option<f64>,
    elapsed_seconds: f64,
    search_seconds: f64,
    train_rows: usize,
    features: usize,
    dropped_columns: Vec<String>,
    warnings: Vec<String>,
    notes: Vec<String>,
    tracking: study::Recorded,
    seed: u64,
}

#[derive(Serialize)]
struct EnsembleSummary {
    cv_score: f64,
    best_trial_oof_score: f64,
    members: Vec<EnsembleMemberReport>,
}

/// Live display: one line per finished trial above a spinner with the budget and the best so far.
struct Live {
    bar: Option<ProgressBar>,
    metric: Metric,
    best_by_learner: BTreeMap<LearnerKind, f64>,
    done: usize,
}

impl Live {
    fn new(enabled: bool, metric: Metric, budget: Option<Duration>, trials: Option<usize>) -> Live {
        let bar = enabled.then(|| {
            let bar = match budget {
                Some(b) => {
                    let bar = ProgressBar::new(b.as_millis() as u64);
                    let style = ProgressStyle::with_template(
                        "{spinner} [{bar:24}] {elapsed}/{prefix} {wide_msg}",
                    )
                    .map(|s| s.progress_chars("=> "))
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                    bar.set_style(style);
                    bar.set_prefix(format!("{}s", b.as_secs()));
                    bar
                }
                None => {
                    let bar = ProgressBar::new(trials.unwrap_or(0) as u64);
                    let style = ProgressStyle::with_template(
                        "{spinner} [{bar:24}] {pos}/{len} trials {elapsed} {wide_msg}",
                    )
                    .map(|s| s.progress_chars("=> "))
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                    bar.set_style(style);
                    bar
                }
            };
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Live {
            bar,
            metric,
            best_by_learner: BTreeMap::new(),
            done: 0,
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

struct TrainObserver<'a, 's> {
    live: &'a mut Live,
    started: Instant,
    budget: Option<Duration>,
    tracker: &'a mut study::Tracker<'s>,
    oof: OofTable<'a>,
}

/// How a trial's out-of-fold predictions are written: rows named by their 1-based data row in
/// the training file, so they join back to it.
struct OofTable<'a> {
    keep: bool,
    task: Task,
    classes: &'a [String],
    data_rows: &'a [u64],
}

impl OofTable<'_> {
    fn parquet(&self, folds: &[FoldPredictions]) -> Result<Vec<u8>> {
        let n: usize = folds.iter().map(|f| f.rows.len()).sum();
        let n_outputs = folds.first().map_or(1, |f| f.predictions.n_outputs);
        let mut data_row = Vec::with_capacity(n);
        let mut fold = Vec::with_capacity(n);
        let mut values = Vec::with_capacity(n * n_outputs);
        for (f, fp) in folds.iter().enumerate() {
            for &r in fp.rows {
                data_row.push(self.data_rows.get(r as usize).map_or(-1, |&d| d as i64));
            }
            fold.extend(std::iter::repeat_n(f as i64 + 1, fp.rows.len()));
            values.extend_from_slice(&fp.predictions.values);
        }
        let p = Predictions {
            n_rows: n,
            n_outputs,
            values,
        };
        let proba = self.task != Task::Regression;
        let mut fields = vec![
            Field::new("data_row", DataType::Int64, false),
            Field::new("fold", DataType::Int64, false),
        ];
        fields.extend(crate::predict::prediction_fields(
            self.task,
            self.classes,
            proba,
        ));
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(data_row)),
            Arc::new(Int64Array::from(fold)),
        ];
        columns.extend(crate::predict::prediction_columns(
            self.task,
            self.classes,
            &p,
            proba,
        ));
        Ok(parquet_bytes(Arc::new(Schema::new(fields)), columns)?)
    }
}

impl Observer for TrainObserver<'_, '_> {
    fn trial_started(&mut self, id: usize, learner: LearnerKind) {
        self.tracker.trial_started(id, learner);
        if let Some(b) = &self.live.bar {
            b.set_message(format!("trial {} ({learner}) · {}", id + 1, self.summary()));
        }
    }

    fn trial_finished(
        &mut self,
        t: &TrialRecord,
        best: Option<&TrialRecord>,
        folds: &[FoldPredictions],
    ) {
        let oof = (self.oof.keep && !folds.is_empty()).then(|| self.oof.parquet(folds));
        self.tracker.trial_finished(t, self.live.metric, oof);
        self.live.done += 1;
        if t.status == TrialStatus::Completed {
            let e = self
                .live
                .best_by_learner
                .entry(t.learner)
                .or_insert(t.cv_score);
            if is_better(self.live.metric, t.cv_score, *e) {
                *e = t.cv_score;
            }
        }
        if let Some(b) = &self.live.bar {
            let mark = if best.is_some_and(|x| x.id == t.id) {
                "★"
            } else {
                " "
            };
            let line = match t.status {
                TrialStatus::Completed => format!(
                    "{mark} trial {:>3}  {:<6}  {} {:.5} ± {:.5}  {:>6.2}s  {}",
                    t.id + 1,
                    t.learner.name(),
                    self.live.metric.name(),
                    t.cv_score,
                    t.cv_std,
                    t.fit_seconds,
                    short_params(&t.params)
                ),
                TrialStatus::Pruned => format!(
                    "  trial {:>3}  {:<6}  pruned after {} folds ({:.5})  {:>6.2}s",
                    t.id + 1,
                    t.learner.name(),
                    t.fold_scores.len(),
                    t.cv_score,
                    t.fit_seconds
                ),
                TrialStatus::Failed => format!(
                    "  trial {:>3}  {:<6}  failed: {}",
                    t.id + 1,
                    t.learner.name(),
                    t.message
                        .as_deref()
                        .unwrap_or("")
                        .lines()
                        .next()
                        .unwrap_or("")
                ),
            };
            b.println(line);
            match self.budget {
                Some(_) => b.set_position(self.started.elapsed().as_millis() as u64),
                None => b.set_position(self.live.done as u64),
            }
            b.set_message(self.summary());
        }
    }
}

impl TrainObserver<'_, '_> {
    fn summary(&self) -> String {
        let parts: Vec<String> = self
            .live
            .best_by_learner
            .iter()
            .map(|(l, s)| format!("{l} {s:.4}"))
            .collect();
        format!("{} trials · best {}", self.live.done, parts.join("  "))
    }
}

fn is_better(metric: Metric, a: f64, b: f64) -> bool {
    if metric.higher_is_better() {
        a > b
    } else {
        a < b
    }
}

fn short_params(p: &BTreeMap<String, String>) -> String {
    p.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

struct Prepared {
    table: Table,
    task: Task,
    dropped_rows: u64,
    kept_rows: Option<Vec<u32>>,
}

fn prepared_target(table: &Table, args: &TrainArgs, task: Option<Task>) -> Result<Prepared> {
    let t = prepare_target(table, &args.target, task, TargetMissing::Drop)?;
    Ok(Prepared {
        table: t.table,
        task: t.task,
        dropped_rows: t.dropped,
        kept_rows: t.kept_rows,
    })
}

/// Time-ordered cross-validation needs an order key per row.
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
        other => bail!(
            "--time-order column '{column}' holds {} values\nhint: use a date/time or numeric column",
            other.name()
        ),
    }
}

pub fn cmd_train(args: &TrainArgs, store_flag: Option<&str>, quiet: bool) -> Result<()> {
    let started = Instant::now();
    let budget_time = match (args.time, args.trials) {
        (None, None) => Some(Duration::from_secs(60)),
        (t, _) => t,
    };
    if args.trials == Some(0) {
        bail!("--trials must be at least 1");
    }
    let metric_override = match &args.metric {
        Some(m) => Some(Metric::parse(m).with_context(|| {
            format!(
                "unknown metric '{m}'\nhint: use one of {}",
                Metric::ALL.map(|m| m.name()).join(", ")
            )
        })?),
        None => None,
    };
    let learners: Vec<LearnerKind> = match &args.learners {
        Some(list) => list
            .iter()
            .map(|l| {
                LearnerKind::parse(l).with_context(|| {
                    format!("unknown learner '{l}'\nhint: use gbdt, rf, et, linear or knn")
                })
            })
            .collect::<Result<_>>()?,
        None => LearnerKind::ALL.to_vec(),
    };
    if learners.is_empty() {
        bail!("--learners is empty\nhint: list at least one of gbdt, rf, et, linear, knn");
    }
    if let Some(f) = args.folds
        && f < 2
    {
        bail!("--folds must be at least 2 (5 is common)");
    }
    if let Some(s) = args.test_size
        && !(s > 0.0 && s < 1.0)
    {
        bail!("--test-size must be between 0 and 1, e.g. 0.2");
    }

    // Refuse before loading what would not fit in memory.
    let meta = std::fs::metadata(&args.data)
        .with_context(|| format!("cannot read '{}'", args.data.display()))?;
    let name = args.data.to_string_lossy().to_ascii_lowercase();
    let compressed = name.ends_with(".gz") || name.ends_with(".parquet") || name.ends_with(".pq");
    let need = estimate_training_bytes(meta.len(), compressed);
    if let Some(avail) = available_bytes()
        && need > avail
    {
        bail!(
            "'{}' needs an estimated {} of memory to train on, but only {} is available\nhint: sample the rows (or drop columns) first, or train on a machine with more memory",
            args.data.display(),
            human_bytes(need),
            human_bytes(avail)
        );
    }

    // Open the store first: a locked or damaged store should stop us before any work.
    let store = whet_track::Store::open_default(store_flag)?;

    let mut notes: Vec<String> = Vec::new();
    let mut table = load_table(&args.data, &args.read, quiet, false)?;
    for k in &args.keep {
        let i = table
            .index_of(k)
            .with_context(|| format!("--keep: no column '{k}' in '{}'", args.data.display()))?;
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
    let data_fingerprint = study::fingerprint(&table);
    let prepared = prepared_target(&table, args, args.task)?;
    let task = prepared.task;
    if prepared.dropped_rows > 0 {
        notes.push(format!(
            "dropped {} rows without a target",
            prepared.dropped_rows
        ));
    }
    let mut table = prepared.table;
    // 1-based data rows of the input file, for out-of-fold predictions to join back on.
    let mut data_rows: Vec<u64> = match &prepared.kept_rows {
        Some(kept) => kept.iter().map(|&r| u64::from(r) + 1).collect(),
        None => (1..=table.n_rows() as u64).collect(),
    };
    let metric = metric_override.unwrap_or(Metric::default_for(task));
    if !Metric::for_task(task).contains(&metric) {
        bail!(
            "metric {} does not apply to a {} task\nhint: use one of {}",
            metric.name(),
            task.name(),
            Metric::for_task(task)
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    // Profile first: its warnings are shown before training, and leaking columns are dropped.
    let profile = whet_data::profile::profile(
        &table,
        &ProfileOptions {
            target: Some(args.target.clone()),
            task: Some(task),
            target_missing: TargetMissing::Drop,
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
            && !args.keep.contains(c)
            && let Some(i) = table.index_of(c)
        {
            table = table.without_column(i)?;
            dropped_columns.push(c.clone());
            notes.push(format!(
                "dropped '{c}': it alone predicts the target almost perfectly (leakage); --keep {c} keeps it"
            ));
        }
    }
    if !quiet && !args.json {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
    }

    // Test set: a file, or a holdout of the data.
    let mut test_table: Option<Table> = None;
    if let Some(frac) = args.test_size {
        let labels = class_labels(&table, &args.target, task)?;
        let fold = match &labels {
            Some(l) => stratified_holdout(l, frac, args.seed ^ 0x7E57)?,
            None => holdout(table.n_rows(), frac, args.seed ^ 0x7E57)?,
        };
        test_table = Some(table.take_rows(&fold.valid)?);
        table = table.take_rows(&fold.train)?;
        data_rows = fold.train.iter().map(|&r| data_rows[r as usize]).collect();
        notes.push(format!(
            "held out {} rows ({:.0}%) as the test set",
            fold.valid.len(),
            frac * 100.0
        ));
    } else if let Some(p) = &args.test {
        let t = load_table(p, &args.read, quiet, true)?;
        let t = prepare_target(&t, &args.target, Some(task), TargetMissing::Drop)
            .with_context(|| format!("in test file '{}'", p.display()))?;
        if t.dropped > 0 {
            notes.push(format!(
                "test file: dropped {} rows without a target",
                t.dropped
            ));
        }
        test_table = Some(t.table);
    }

    // Cross-validation order/group keys come from the raw table; a group column is no feature.
    let groups = match &args.group {
        Some(g) => {
            let i = table.require(g)?;
            let keys = whet_data::profile::value_hashes(table.array(i));
            table = table.without_column(i)?;
            dropped_columns.push(g.clone());
            Some(keys)
        }
        None => None,
    };
    let time_keys = match &args.time_order {
        Some(c) => Some(order_key(&table, c)?),
        None => None,
    };

    let prep_options = crate::fit::model_prep_options(args.text_buckets);
    let prep = Prep::fit(&table, Some((&args.target, task)), &prep_options)?;
    for d in &prep.dropped {
        if !dropped_columns.contains(&d.column) {
            dropped_columns.push(d.column.clone());
            notes.push(format!("dropped '{}' ({})", d.column, d.role.name()));
        }
    }
    let transformed = prep.transform(&table)?;
    let x = transformed.features;
    let y = prep.transform_target(&table)?;
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

    let large = x.n_rows >= LARGE_DATA_ROWS || x.n_rows * x.n_features() > LARGE_DATA_CELLS;
    let folds_wanted = args.folds.unwrap_or(if large { 3 } else { 5 });
    let plan = if let Some(g) = &groups {
        let folds = group_kfold(g, folds_wanted, args.seed)?;
        let other = group_kfold(g, folds_wanted, args.seed ^ COMPARISON_SEED)?;
        CvPlan {
            comparison_folds: finalize::unless_same_partition(&folds, other),
            folds,
            description: format!(
                "group {folds_wanted}-fold cross-validation by '{}'",
                args.group.as_deref().unwrap_or("")
            ),
            notes: Vec::new(),
        }
    } else if let Some(keys) = &time_keys {
        // Rows with a missing order key sort first, so they are only ever trained on.
        CvPlan {
            folds: time_split(keys, folds_wanted, 0)?,
            comparison_folds: Vec::new(),
            description: format!(
                "time-ordered {folds_wanted}-fold cross-validation by '{}'",
                args.time_order.as_deref().unwrap_or("")
            ),
            notes: Vec::new(),
        }
    } else if large && args.folds.is_none() {
        notes.push(format!(
            "{} rows × {} features: models are validated on a 10% holdout instead of cross-validated, so more trials fit (set --folds to cross-validate)",
            x.n_rows,
            x.n_features()
        ));
        plan_holdout(task, &y, 0.1, args.seed)?
    } else {
        plan_folds(task, &y, n_classes, folds_wanted, args.seed)?
    };
    if large && args.folds.is_none() && (groups.is_some() || time_keys.is_some()) {
        notes.push(format!(
            "{} rows × {} features: 3-fold cross-validation (set --folds to change)",
            x.n_rows,
            x.n_features()
        ));
    }

    let binned = if learners.iter().any(|l| l.is_tree()) {
        Some(BinnedData::fit(&x, 255)?)
    } else {
        None
    };
    let problem = Problem {
        x: &x,
        y: &y,
        weight: None,
        task,
        n_classes,
        binned: binned.as_ref(),
    };
    let k = plan.folds.len() as f64;
    let validated_rows: usize = plan.folds.iter().map(|f| f.valid.len()).sum();
    let finish_factor = match &test {
        // The search measures one pass of each fold model over its validation rows; scoring
        // the test set runs all k fold models over every test row, through the raw-feature
        // path (~2x binned), with room for metrics and a busy machine.
        Some((tx, _)) => 3.0 * k * tx.n_rows as f64 / validated_rows.max(1) as f64,
        None => 0.0,
    };
    // Writing the model and the log happens after the search too.
    let write_reserve = Duration::from_millis(300) + budget_time.unwrap_or_default() / 100;
    let budget = match (budget_time, args.trials) {
        (Some(t), Some(n)) => Budget::Both(n, started + t.saturating_sub(write_reserve)),
        (Some(t), None) => Budget::Until(started + t.saturating_sub(write_reserve)),
        (None, Some(n)) => Budget::Trials(n),
        (None, None) => Budget::Trials(1),
    };
    let options = SearchOptions {
        metric,
        budget,
        learners,
        seed: args.seed,
        finish_factor,
        final_mode: args.final_mode,
    };
    let show_live = !quiet && !args.json && std::io::stderr().is_terminal();
    if !quiet && !args.json {
        eprintln!(
            "training on {} rows × {} features ({}, {}), {}, {}",
            x.n_rows,
            x.n_features(),
            task.name(),
            metric.name(),
            plan.description,
            match (budget_time, args.trials) {
                (Some(t), Some(n)) => format!("budget {}s or {n} trials", t.as_secs_f64()),
                (Some(t), None) => format!("budget {}s", t.as_secs_f64()),
                (None, Some(n)) => format!("{n} trials"),
                (None, None) => String::new(),
            }
        );
    }
    let stem = args
        .data
        .file_stem()
        .map(|s| s.to_string_lossy().trim_end_matches(".csv").to_string())
        .unwrap_or_else(|| "data".into());
    let experiment_name = args.experiment.clone().unwrap_or_else(|| stem.clone());
    let mut study_params: Vec<(String, String)> = vec![
        ("data".into(), args.data.display().to_string()),
        ("target".into(), args.target.clone()),
        ("task".into(), task.name().into()),
        ("metric".into(), metric.name().into()),
        ("cv".into(), plan.description.clone()),
        ("seed".into(), args.seed.to_string()),
        (
            "learners".into(),
            options
                .learners
                .iter()
                .map(|l| l.name())
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("train_rows".into(), x.n_rows.to_string()),
        ("features".into(), x.n_features().to_string()),
    ];
    if let Some(t) = budget_time {
        study_params.push(("time_budget_seconds".into(), t.as_secs_f64().to_string()));
    }
    if let Some(n) = args.trials {
        study_params.push(("trial_budget".into(), n.to_string()));
    }
    let tracker = study::Tracker::start(
        &store,
        &experiment_name,
        &format!("train {stem}"),
        &data_fingerprint,
        &study_params,
        &[("target".into(), args.target.clone())],
    )?;
    let mut guard = StudyGuard(Some(tracker));
    if let Some(t) = guard.0.as_ref() {
        t.log_dataset(
            &stem,
            &args.data.display().to_string(),
            &data_fingerprint,
            &profile,
        )?;
    }
    let mut live = Live::new(show_live, metric, budget_time, args.trials);
    let Some(tracker) = guard.0.as_mut() else {
        bail!("the study run was not started");
    };
    let target_classes: Vec<String> = prep
        .target
        .as_ref()
        .map(|t| t.classes.clone())
        .unwrap_or_default();
    let mut observer = TrainObserver {
        live: &mut live,
        started,
        budget: budget_time,
        tracker,
        oof: OofTable {
            keep: !args.no_oof,
            task,
            classes: &target_classes,
            data_rows: &data_rows,
        },
    };
    let result = search(&problem, &plan, &options, &mut observer);
    live.finish();
    let result = result?;
    notes.extend(result.notes.iter().cloned());

    let test_metrics = test.as_ref().map(|(tx, ty)| {
        let p = result.predictor.predict(tx);
        evaluate_all(task, ty, &p, None)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<BTreeMap<String, f64>>()
    });

    let best = &result.trials[result.best_trial];
    let holdout = plan.folds.len() == 1;
    let train_share = plan.folds.first().map_or(0.0, |f| {
        100.0 * f.train.len() as f64 / x.n_rows.max(1) as f64
    });
    let refit = result.final_strategy == FinalStrategy::Refit;
    let what = if result.uses_ensemble {
        let n = result.ensemble.as_ref().map_or(0, |e| e.members.len());
        format!("ensemble of {n} trials, each")
    } else {
        format!("trial {} ({})", best.id + 1, best.learner)
    };
    let mut final_detail = if result.stopped_by == StopReason::TooSmallBudget {
        "one gbdt fitted on a single fold after the budget ran out".to_string()
    } else if refit {
        format!("{what} refit on all {} training rows", x.n_rows)
    } else if holdout {
        format!("{what} fitted on the {train_share:.0}% of rows outside the holdout")
    } else if result.uses_ensemble {
        format!("{what} a bag of its {} fold models", plan.folds.len())
    } else {
        format!("{what} as a bag of its {} fold models", plan.folds.len())
    };
    if let Some(c) = &result.refit_comparison {
        let (first, second) = if refit {
            (("refit", c.refit_score), ("bag", c.bag_score))
        } else {
            (("bag", c.bag_score), ("refit", c.refit_score))
        };
        final_detail.push_str(&format!(
            ", chosen in nested cross-validation on {} of {} folds: {} {} {:.5} vs {} {:.5}",
            c.folds_compared,
            c.folds,
            first.0,
            metric.name(),
            first.1,
            second.0,
            second.1
        ));
        let refit_leads_pooled = is_better(metric, c.refit_score, c.bag_score);
        let spread = if c.refit_gain_se.is_finite() {
            format!("{:.5} ± {:.5}", c.refit_gain, c.refit_gain_se)
        } else {
            format!("{:.5} on one fold", c.refit_gain)
        };
        if refit {
            final_detail.push_str(&format!(" (refit ahead by {spread} per fold)"));
        } else if refit_leads_pooled || c.refit_gain > 0.0 {
            final_detail.push_str(&format!(
                " (not a clear lead for the refit: {spread} per fold)"
            ));
        }
    }
    let mut metrics = BTreeMap::new();
    metrics.insert(
        "cv".to_string(),
        BTreeMap::from([(metric.name().to_string(), result.cv_score)]),
    );
    if let Some(m) = &test_metrics {
        metrics.insert("test".to_string(), m.clone());
    }
    let classes = prep
        .target
        .as_ref()
        .map(|t| t.classes.clone())
        .unwrap_or_default();
    let mut shown_params = BTreeMap::new();
    shown_params.insert("final_model".to_string(), final_detail.clone());
    shown_params.insert(
        "final_strategy".to_string(),
        if refit { "refit" } else { "bag" }.to_string(),
    );
    shown_params.insert("metric".to_string(), metric.name().to_string());
    shown_params.insert("cv".to_string(), plan.description.clone());
    let model = Model {
        metadata: Metadata {
            whet_version: env!("CARGO_PKG_VERSION").to_string(),
            task,
            target: args.target.clone(),
            classes,
            params: shown_params,
            train_rows: x.n_rows as u64,
            seed: args.seed,
            fit_seconds: result.search_seconds,
            metrics,
        },
        prep,
        predictor: result.predictor,
    };
    let bytes = model.to_bytes()?;
    whet_data::fsutil::write_atomic(&args.out, &bytes)?;
    let mut log = String::new();
    for t in &result.trials {
        log.push_str(&serde_json::to_string(t)?);
        log.push('\n');
    }
    let mut study_metrics = BTreeMap::new();
    study_metrics.insert(format!("cv_{}", metric.name()), result.cv_score);
    study_metrics.insert(format!("cv_{}_std", metric.name()), result.cv_std);
    if let Some(m) = &test_metrics {
        for (k, v) in m {
            study_metrics.insert(format!("test_{k}"), *v);
        }
    }
    if let Some(c) = &result.refit_comparison {
        study_metrics.insert(format!("nested_bag_{}", metric.name()), c.bag_score);
        study_metrics.insert(format!("nested_refit_{}", metric.name()), c.refit_score);
    }
    let Some(tracker) = guard.0.take() else {
        bail!("the study run was not started");
    };
    let recorded = tracker.finish(&study_metrics, &args.out, &log, &experiment_name)?;

    let mut completed: Vec<&TrialRecord> = result
        .trials
        .iter()
        .filter(|t| t.status == TrialStatus::Completed)
        .collect();
    completed.sort_by(|a, b| {
        if metric.higher_is_better() {
            b.cv_score.total_cmp(&a.cv_score)
        } else {
            a.cv_score.total_cmp(&b.cv_score)
        }
        .then(a.id.cmp(&b.id))
    });
    let leaderboard: Vec<LeaderboardRow> = completed
        .iter()
        .enumerate()
        .map(|(i, t)| LeaderboardRow {
            rank: i + 1,
            trial: t.id + 1,
            learner: t.learner,
            params: t.params.clone(),
            cv_score: t.cv_score,
            cv_std: t.cv_std,
            fit_seconds: t.fit_seconds,
        })
        .collect();
    let mut best_per_learner = BTreeMap::new();
    for t in &completed {
        best_per_learner
            .entry(t.learner.name().to_string())
            .or_insert(t.cv_score);
    }
    let report = TrainReport {
        model_path: args.out.display().to_string(),
        task,
        target: args.target.clone(),
        metric,
        cv: plan.description.clone(),
        cv_score: result.cv_score,
        cv_std: result.cv_std,
        final_model: if result.uses_ensemble {
            "ensemble".into()
        } else {
            "best_trial".into()
        },
        final_model_detail: final_detail,
        final_strategy: result.final_strategy,
        refit_comparison: result.refit_comparison.clone(),
        best_trial: best.id + 1,
        best_trial_score: best.cv_score,
        ensemble: result.ensemble.as_ref().map(|e| EnsembleSummary {
            cv_score: e.cv_score,
            best_trial_oof_score: e.best_trial_oof_score,
            members: e
                .members
                .iter()
                .map(|&(t, w)| EnsembleMemberReport {
                    trial: t + 1,
                    learner: result.trials[t].learner,
                    weight: w,
                })
                .collect(),
        }),
        test_metrics,
        leaderboard,
        best_per_learner,
        trials: result.trials.len(),
        trials_completed: completed.len(),
        trials_pruned: result
            .trials
            .iter()
            .filter(|t| t.status == TrialStatus::Pruned)
            .count(),
        trials_failed: result
            .trials
            .iter()
            .filter(|t| t.status == TrialStatus::Failed)
            .count(),
        stopped_by: result.stopped_by,
        budget_seconds: budget_time.map(|d| d.as_secs_f64()),
        elapsed_seconds: started.elapsed().as_secs_f64(),
        search_seconds: result.search_seconds,
        train_rows: x.n_rows,
        features: x.n_features(),
        dropped_columns,
        warnings,
        notes,
        tracking: recorded,
        seed: args.seed,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// Marks the study run FAILED if training stops with an error after it started.
struct StudyGuard<'s>(Option<study::Tracker<'s>>);

impl Drop for StudyGuard<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.fail("whet train stopped with an error");
        }
    }
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

fn print_report(r: &TrainReport) {
    // The plan's description is the one record of whether scores come from a holdout.
    let holdout = r.cv.contains("holdout");
    println!();
    println!(
        "leaderboard ({}, {}; {} trials: {} completed, {} pruned, {} failed)",
        r.metric.name(),
        r.cv,
        r.trials,
        r.trials_completed,
        r.trials_pruned,
        r.trials_failed
    );
    println!(
        "{:>4}  {:>5}  {:<6}  {:>19}  {:>8}  params",
        "rank", "trial", "learner", "cv score", "fit s"
    );
    for row in r.leaderboard.iter().take(15) {
        // One holdout score has no spread to show.
        let spread = if holdout {
            String::new()
        } else {
            format!("± {:.5}", row.cv_std)
        };
        println!(
            "{:>4}  {:>5}  {:<6}  {:>9.5} {:<9}  {:>8.2}  {}",
            row.rank,
            row.trial,
            row.learner.name(),
            row.cv_score,
            spread,
            row.fit_seconds,
            short_params(&row.params)
        );
    }
    if r.leaderboard.len() > 15 {
        println!(
            "  … {} more: whet runs -e {} --filter \"tags.whet.kind = 'trial'\"",
            r.leaderboard.len() - 15,
            r.tracking.experiment
        );
    }
    println!();
    if let Some(e) = &r.ensemble {
        let members: Vec<String> = e
            .members
            .iter()
            .map(|m| format!("{} #{} ×{:.2}", m.learner.name(), m.trial, m.weight))
            .collect();
        println!(
            "ensemble: {} {:.5} {} (best single trial {:.5} on the same rows) — {}",
            r.metric.name(),
            e.cv_score,
            if holdout {
                "on the holdout"
            } else {
                "out-of-fold"
            },
            e.best_trial_oof_score,
            members.join(", ")
        );
    }
    println!(
        "best single model: trial {} — {} {:.5} ({})",
        r.best_trial,
        r.metric.name(),
        r.best_trial_score,
        if holdout {
            "on the holdout"
        } else {
            "mean of its fold scores"
        }
    );
    println!("final model: {}", r.final_model_detail);
    if let Some(m) = &r.test_metrics {
        let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v:.5}")).collect();
        println!("test: {}", parts.join("  "));
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    println!(
        "model written to {} in {:.1}s; registered as {} version {} (run {} in {})",
        r.model_path,
        r.elapsed_seconds,
        r.tracking.registered_model,
        r.tracking.model_version,
        r.tracking.run_id,
        r.tracking.store
    );
}
