//! `whet train`: the command line of an AutoML study — arguments, the live display, the
//! tracked runs and the report. What the study does is whet-automl's (`whet_automl::Study`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;
use whet_automl::study::check_memory;
use whet_automl::{
    FinalMode, FoldPredictions, LearnerKind, Observer, OofWriter, Stage, Study, StudyBudget,
    StudyEvent, StudyReport, StudySpec, TestData, TrialRecord, TrialStatus, is_better,
};
use whet_data::Task;
use whet_learn::metrics::Metric;

use crate::progress::TrainDisplay;
use crate::read::{ReadArgs, load_table};
use crate::{output, study};

#[derive(Args)]
pub struct TrainArgs {
    /// Training data: CSV (optionally .gz) or Parquet.
    pub data: PathBuf,
    /// Column to predict.
    #[arg(long)]
    pub target: String,
    /// Force the task: binary, multiclass or regression (default: inferred from the target).
    #[arg(long, value_parser = crate::read::parse_task)]
    pub task: Option<Task>,
    /// Metric to optimise (default: roc_auc for binary, log_loss for multiclass, rmse for
    /// regression). Also: pr_auc, accuracy, balanced_accuracy, f1, f1_macro, mae, r2, mape.
    #[arg(long)]
    pub metric: Option<String>,
    /// Time budget for the whole command, e.g. 60s, 5m, 1h (default 60s unless --trials).
    #[arg(long, value_parser = whet_automl::budget::parse_duration)]
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
    /// Where trials are fitted: `local` (this process), or `remote`: by `whet worker`s
    /// serving the PostgreSQL --store (the search, ensemble and final model stay here).
    #[arg(long, value_name = "local|remote", default_value = "local", value_parser = parse_workers)]
    pub workers: Workers,
    /// With --workers remote: where the final stage's fits run (bag-or-refit comparison in
    /// nested cross-validation, and the refit on all rows): `here`, or on one `worker`,
    /// with its --threads. Ensemble selection stays here either way.
    #[arg(long, value_name = "here|worker", default_value = "here", value_parser = parse_final_on)]
    pub final_on: FinalOn,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workers {
    Local,
    Remote,
}

fn parse_workers(s: &str) -> Result<Workers, String> {
    match s {
        "local" => Ok(Workers::Local),
        "remote" => Ok(Workers::Remote),
        _ => Err(format!(
            "'{s}' is not a place to fit trials; use local or remote"
        )),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalOn {
    Here,
    Worker,
}

fn parse_final_on(s: &str) -> Result<FinalOn, String> {
    match s {
        "here" => Ok(FinalOn::Here),
        "worker" => Ok(FinalOn::Worker),
        _ => Err(format!(
            "'{s}' is not a place for the final stage; use here or worker"
        )),
    }
}

fn parse_final_mode(s: &str) -> Result<FinalMode, String> {
    FinalMode::parse(s)
        .ok_or_else(|| format!("'{s}' is not a final model choice; use auto, bag or refit"))
}

/// `whet train --json`: the study's report, and where the model and the runs went.
#[derive(Serialize)]
pub struct TrainReport<'a> {
    pub model_path: String,
    /// Size of the model file.
    pub model_bytes: u64,
    #[serde(flatten)]
    pub study: &'a StudyReport,
    pub elapsed_seconds: f64,
    pub tracking: study::Recorded,
    /// The final model's test metrics with 95% intervals, when there is a test set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_review: Option<TestReview>,
    /// The command that reviews the model in full.
    pub review_command: String,
}

/// The short review `whet train` ends with: the review's metrics on the test rows, each
/// with its 95% interval (the intervals of `whet review`).
#[derive(Serialize)]
pub struct TestReview {
    pub rows: u64,
    pub interval_method: String,
    pub metrics: Vec<whet_review::review::MetricRow>,
}

/// Resamples of the short review: those of `whet review`.
const TEST_REVIEW_RESAMPLES: usize = 1000;

fn test_review(
    model: &whet_learn::model::Model,
    seed: u64,
    test: Option<&(Vec<f64>, whet_learn::Predictions)>,
) -> Option<TestReview> {
    let (y, pred) = test?;
    let target = model.prep.target.as_ref()?;
    let scored = whet_review::eval::Scored::new(
        target.task,
        target.classes.clone(),
        y.clone(),
        pred.clone(),
        0.5,
    );
    let spec = whet_review::BootstrapSpec {
        resamples: TEST_REVIEW_RESAMPLES,
        seed,
        ..Default::default()
    };
    Some(TestReview {
        rows: y.len() as u64,
        interval_method: whet_review::review::interval_method(target.task, &spec, y.len(), false),
        metrics: whet_review::review::metric_rows(&scored, &spec),
    })
}

/// `whet review MODEL DATA` for this model: the test file when there is one.
fn review_command(args: &TrainArgs) -> String {
    let model = crate::output::shell_word(&args.out.display().to_string());
    match &args.test {
        Some(t) => format!(
            "whet review {model} {}",
            crate::output::shell_word(&t.display().to_string())
        ),
        None => format!("whet review {model} DATA"),
    }
}

/// The CLI's subscriber to a study: the live display and the tracking store.
struct TrainObserver<'a, 's> {
    live: &'a mut TrainDisplay,
    started: Instant,
    budget: Option<Duration>,
    tracker: &'a mut study::Tracker<'s>,
    /// None with --no-oof.
    oof: Option<OofWriter>,
}

impl Observer for TrainObserver<'_, '_> {
    fn event(&mut self, event: StudyEvent<'_>) {
        match event {
            StudyEvent::TrialStarted { id, learner } => {
                self.tracker.trial_started(id, learner);
                if let Some(b) = &self.live.bar {
                    b.set_message(format!(
                        "trial {} ({learner}) · {}",
                        id + 1,
                        self.live.summary()
                    ));
                }
            }
            StudyEvent::TrialFinished { trial, best, folds } => {
                self.trial_finished(trial, best, folds)
            }
            StudyEvent::StageChanged(stage) if stage != Stage::Search => {
                if let Some(b) = &self.live.bar {
                    b.set_message(format!("{} · {}", stage.describe(), self.live.summary()));
                }
            }
            StudyEvent::StageChanged(_) | StudyEvent::NewBest { .. } | StudyEvent::Note(_) => {}
        }
    }
}

impl TrainObserver<'_, '_> {
    fn trial_finished(
        &mut self,
        t: &TrialRecord,
        best: Option<&TrialRecord>,
        folds: &[FoldPredictions],
    ) {
        let oof = match &self.oof {
            Some(writer) if !folds.is_empty() => Some(writer.parquet(folds).map_err(Into::into)),
            _ => None,
        };
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
            b.println(self.live.trial_line(t, best.is_some_and(|x| x.id == t.id)));
            match self.budget {
                Some(_) => b.set_position(self.started.elapsed().as_millis() as u64),
                None => b.set_position(self.live.done as u64),
            }
            b.set_message(self.live.summary());
        }
    }
}

/// The study as the arguments ask for it; checked before any data is read.
fn spec_from_args(args: &TrainArgs, started: Instant) -> Result<StudySpec> {
    let metric = match &args.metric {
        Some(m) => Some(Metric::parse(m).ok_or_else(|| {
            crate::exit::usage(format!(
                "unknown metric '{m}'\nhint: use one of {}",
                Metric::ALL.map(|m| m.name()).join(", ")
            ))
        })?),
        None => None,
    };
    let learners: Vec<LearnerKind> = match &args.learners {
        Some(list) => list
            .iter()
            .map(|l| LearnerKind::from_name(l))
            .collect::<Result<_, _>>()?,
        None => LearnerKind::ALL.to_vec(),
    };
    let mut spec = StudySpec::new(args.data.display().to_string(), &args.target);
    spec.task = args.task;
    spec.metric = metric;
    spec.budget = StudyBudget::new(started, args.time, args.trials);
    spec.folds = args.folds;
    spec.group = args.group.clone();
    spec.time_order = args.time_order.clone();
    spec.seed = args.seed;
    spec.test = match args.test_size {
        Some(share) => TestData::Holdout(share),
        None => TestData::None,
    };
    spec.learners = learners;
    spec.final_mode = args.final_mode;
    spec.keep = args.keep.clone();
    spec.text_buckets = args.text_buckets;
    spec.validate()?;
    Ok(spec)
}

pub fn cmd_train(args: &TrainArgs, store_flag: Option<&str>, quiet: bool) -> Result<()> {
    let started = Instant::now();
    let mut spec = spec_from_args(args, started)?;

    check_output_path(&args.out)?;
    // Refuse before loading what would not fit in memory.
    let meta = std::fs::metadata(&args.data)
        .with_context(|| format!("cannot read '{}'", args.data.display()))?;
    let name = args.data.to_string_lossy().to_ascii_lowercase();
    let compressed = name.ends_with(".gz") || name.ends_with(".parquet") || name.ends_with(".pq");
    check_memory(&spec.data_name, meta.len(), compressed)?;

    // Open the store first: a locked or damaged store should stop us before any work.
    let store = whet_track::Store::open_default(store_flag)?;
    if args.workers == Workers::Remote {
        crate::distributed::check_queue_store(&store)?;
    } else if args.final_on == FinalOn::Worker {
        return Err(crate::exit::usage(
            "--final-on worker needs --workers remote: without workers the final stage runs here\nhint: add --workers remote (and start `whet worker`s), or drop --final-on",
        ));
    }

    let table = load_table(&args.data, &args.read, quiet, false)?;
    if let Some(p) = &args.test {
        spec.test = TestData::Table {
            table: load_table(p, &args.read, quiet, true)?,
            name: p.display().to_string(),
        };
    }
    // The workers get the table as loaded (the Arrow columns are shared, not copied).
    let uploaded = (args.workers == Workers::Remote).then(|| table.clone());
    let prepared = Study::prepare(spec, table, &mut whet_automl::NoObserver)?;
    let (task, metric) = (prepared.task(), prepared.metric());
    if !quiet && !args.json {
        for w in prepared.warnings() {
            eprintln!("warning: {w}");
        }
    }
    let budget = prepared.spec().budget;
    if !quiet && !args.json {
        eprintln!(
            "training on {} rows × {} features ({}, {}), {}, {}",
            prepared.train_rows(),
            prepared.n_features(),
            task.name(),
            metric.name(),
            prepared.plan_description(),
            match (budget.time, budget.trials) {
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
        ("cv".into(), prepared.plan_description().to_string()),
        ("seed".into(), args.seed.to_string()),
        (
            "learners".into(),
            prepared
                .spec()
                .learners
                .iter()
                .map(|l| l.name())
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("train_rows".into(), prepared.train_rows().to_string()),
        ("features".into(), prepared.n_features().to_string()),
    ];
    if let Some(t) = budget.time {
        study_params.push(("time_budget_seconds".into(), t.as_secs_f64().to_string()));
    }
    if let Some(n) = budget.trials {
        study_params.push(("trial_budget".into(), n.to_string()));
    }
    let tracker = study::Tracker::start(
        &store,
        &experiment_name,
        &format!("train {stem}"),
        prepared.fingerprint(),
        &study_params,
        &[
            ("target".into(), args.target.clone()),
            // What `whet status` compares studies by, without knowing whet's metrics.
            ("whet.metric".into(), metric.name().into()),
            (
                "whet.metric.direction".into(),
                if metric.higher_is_better() {
                    "maximize"
                } else {
                    "minimize"
                }
                .into(),
            ),
        ],
    )?;
    let mut guard = StudyGuard(Some(tracker));
    if let Some(t) = guard.0.as_ref() {
        t.log_dataset(
            &stem,
            &args.data.display().to_string(),
            prepared.fingerprint(),
            prepared.profile(),
        )?;
    }
    let show_live = !quiet && !args.json && std::io::stderr().is_terminal();
    let mut live = TrainDisplay::new(show_live, metric, budget.time, budget.trials);
    let Some(tracker) = guard.0.as_mut() else {
        anyhow::bail!("the study run was not started");
    };
    let mut observer = TrainObserver {
        live: &mut live,
        started,
        budget: budget.time,
        tracker,
        oof: (!args.no_oof).then(|| OofWriter::new(&prepared)),
    };
    let mut executor = match &uploaded {
        Some(table) => Some(crate::distributed::QueueExecutor::start(
            &store,
            observer.tracker.experiment(),
            observer.tracker.run_id(),
            &prepared,
            table,
            args.final_on == FinalOn::Worker,
            quiet || args.json,
        )?),
        None => None,
    };
    let outcome = prepared.run_with(
        &mut observer,
        executor
            .as_mut()
            .map(|e| e as &mut dyn whet_automl::FoldExecutor),
    );
    if let Some(e) = &executor {
        // Leave no work behind for the workers, whatever the outcome.
        if let Err(err) = e.close() {
            eprintln!("warning: {err:#}");
        }
    }
    live.finish();
    let outcome = outcome?;

    let bytes = outcome.model.to_bytes()?;
    let mut log = String::new();
    for t in &outcome.trials {
        log.push_str(&serde_json::to_string(t)?);
        log.push('\n');
    }
    let Some(tracker) = guard.0.take() else {
        anyhow::bail!("the study run was not started");
    };
    // The store gets the model first: should --out fail now, the model is not lost.
    let recorded = tracker.finish(
        &outcome.report.run_metrics(),
        &bytes,
        &log,
        &serde_json::to_string(&outcome.report)?,
        &experiment_name,
    )?;
    whet_data::fsutil::write_atomic(&args.out, &bytes).with_context(|| {
        format!(
            "the model is safe in the tracking store as version {} of '{}' (run {}); get it with `whet model show {}/{}`",
            recorded.model_version,
            recorded.registered_model,
            recorded.run_id,
            recorded.registered_model,
            recorded.model_version
        )
    })?;
    let report = TrainReport {
        model_path: args.out.display().to_string(),
        model_bytes: bytes.len() as u64,
        study: &outcome.report,
        elapsed_seconds: started.elapsed().as_secs_f64(),
        tracking: recorded,
        test_review: test_review(&outcome.model, args.seed, outcome.test.as_ref()),
        review_command: review_command(args),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        output::print_train_report(&report);
    }
    Ok(())
}

/// Ends the study run if training stops with an error after it started: KILLED when the user
/// stopped it, FAILED otherwise.
struct StudyGuard<'s>(Option<study::Tracker<'s>>);

impl Drop for StudyGuard<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            if crate::interrupt::requested() {
                t.fail(
                    whet_track::RunStatus::Killed,
                    "stopped on request before any trial finished",
                );
            } else {
                t.fail(
                    whet_track::RunStatus::Failed,
                    "whet train stopped with an error",
                );
            }
        }
    }
}

/// Fails fast, before any data is read, when the model could not be written to `out`: a
/// folder there, a missing parent folder, or one we may not write to.
fn check_output_path(out: &std::path::Path) -> Result<()> {
    if out.is_dir() {
        return Err(crate::exit::usage(format!(
            "--out '{}' is a folder\nhint: name the model file, e.g. --out {}",
            out.display(),
            out.join("model.whet").display()
        )));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(crate::exit::usage(format!(
            "--out '{}': the folder '{}' does not exist\nhint: create it first, or write the model elsewhere",
            out.display(),
            parent.display()
        )));
    }
    let probe = parent.join(format!(".whet-write-check-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!(
            "--out '{}': cannot write in '{}': {e}\nhint: choose a folder you can write to",
            out.display(),
            parent.display()
        )),
    }
}
