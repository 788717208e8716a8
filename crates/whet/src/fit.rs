//! `whet fit`: one model with explicit parameters, the way an engineer builds one by hand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;
use whet_data::Task;
use whet_data::prep::{Features, Prep, PrepOptions};
use whet_data::profile::{TargetMissing, prepare_target};
use whet_data::reference::ReferenceProfile;
use whet_learn::binning::BinnedData;
use whet_learn::data::{Predictions, TrainSet};
use whet_learn::metrics::evaluate_all;
use whet_learn::model::{LogTargetModel, Metadata, Model, Predictor};
use whet_learn::output::prediction_references;
use whet_learn::param_text::split_pair;
use whet_learn::{LearnerKind, LearnerParams};

use crate::read::{ReadArgs, load_table};

#[derive(Args)]
pub struct FitArgs {
    /// Training data: CSV (optionally .gz) or Parquet.
    pub data: PathBuf,
    /// Column to predict.
    #[arg(long)]
    pub target: String,
    /// gbdt (boosted trees; also lightgbm), rf (random forest), et (extra trees), linear, knn.
    #[arg(long, default_value = "gbdt")]
    pub learner: String,
    /// Learner parameter KEY=VALUE (LightGBM names and aliases for tree learners); repeatable.
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Validation data: reported, and used for early stopping (early_stopping_round).
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Test data: reported only.
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Force the task: binary, multiclass or regression.
    #[arg(long, value_parser = crate::read::parse_task)]
    pub task: Option<Task>,
    /// Column of non-negative sample weights (not used as a feature).
    #[arg(long, value_name = "COLUMN")]
    pub weight: Option<String>,
    /// Random seed for every random choice in fitting.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the model (prep + predictor + metadata) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Free-text columns: hash their tokens into this many features, or 0 to drop them.
    #[arg(long, default_value_t = 32)]
    pub text_buckets: u32,
    /// Fit on ln(1 + y) and predict e^p − 1 (regression on a never-negative, right-skewed
    /// target); the model file keeps the transform, metrics are in the target's units.
    #[arg(long)]
    pub log_target: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// ln(1 + y) of every target, for `--log-target`.
fn log_targets(y: &[f64], what: &str) -> Result<Vec<f64>> {
    if let Some((row, v)) = y.iter().enumerate().find(|(_, v)| v.is_nan() || **v < 0.0) {
        bail!(
            "--log-target: {what} row {}: target {v} is negative\nhint: a log target needs a never-negative regression target; fit without --log-target",
            row + 1
        );
    }
    Ok(y.iter().map(|&v| LogTargetModel::transform(v)).collect())
}

#[derive(Serialize)]
struct FitReport {
    learner: String,
    task: Task,
    target: String,
    train_rows: usize,
    features: usize,
    params: BTreeMap<String, String>,
    fit_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iterations: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    best_iteration: Option<usize>,
    train_metrics: BTreeMap<String, f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_metrics: Option<BTreeMap<String, f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    test_metrics: Option<BTreeMap<String, f64>>,
    /// The batch prediction of the test rows alone, without computing their metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    test_predict_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    notes: Vec<String>,
}

struct Prepared {
    features: Features,
    y: Vec<f64>,
}

fn prepare(
    prep: &Prep,
    path: &Path,
    args: &FitArgs,
    task: Task,
    quiet: bool,
    notes: &mut Vec<String>,
) -> Result<Prepared> {
    let table = load_table(path, &args.read, quiet, true)?;
    let target = prepare_target(&table, &args.target, Some(task), TargetMissing::Drop)
        .with_context(|| format!("in '{}'", path.display()))?;
    if target.dropped > 0 {
        notes.push(format!(
            "{}: dropped {} rows without a target",
            path.display(),
            target.dropped
        ));
    }
    let out = prep
        .transform(&target.table)
        .with_context(|| format!("in '{}'", path.display()))?;
    notes.extend(
        out.notes
            .into_iter()
            .map(|n| format!("{}: {n}", path.display())),
    );
    let y = prep
        .transform_target(&target.table)
        .with_context(|| format!("in '{}'", path.display()))?;
    Ok(Prepared {
        features: out.features,
        y,
    })
}

pub fn cmd_fit(args: &FitArgs, quiet: bool) -> Result<()> {
    let mut notes = Vec::new();
    let table = load_table(&args.data, &args.read, quiet, false)?;
    let target = prepare_target(&table, &args.target, args.task, TargetMissing::Drop)?;
    if target.dropped > 0 {
        notes.push(format!(
            "dropped {} training rows without a target",
            target.dropped
        ));
    }
    let task = target.task;
    if task == Task::Regression {
        whet_data::profile::check_regression_target(&target.table, &args.target, None)?;
    }
    // The loaded table is given up here (the training table keeps what it shares with it),
    // so the transform below can release each column as it goes.
    let loaded = target.table;
    drop(table);
    let (train_table, weights) = match &args.weight {
        Some(name) => {
            let index = loaded.require(name)?;
            let values = whet_data::summary::numeric_values(loaded.array(index).as_ref())
                .with_context(|| format!("weight column '{name}' must be numeric"))?;
            let mut weights = Vec::with_capacity(values.len());
            for (row, v) in values.into_iter().enumerate() {
                match v {
                    Some(w) if w >= 0.0 && w.is_finite() => weights.push(w),
                    Some(w) => bail!(
                        "weight column '{name}' row {}: weight {w} is negative or not finite\nhint: weights must be zero or positive",
                        row + 1
                    ),
                    None => bail!(
                        "weight column '{name}' row {}: weight is missing\nhint: fill it (e.g. with 1) or drop the row",
                        row + 1
                    ),
                }
            }
            let without_weights = loaded.without_column(index)?;
            // The weight column's memory goes with it.
            drop(loaded);
            (without_weights, Some(weights))
        }
        None => (loaded, None),
    };
    let kind = LearnerKind::from_name(&args.learner)?;
    let mut prep_options = PrepOptions::for_models(args.text_buckets);
    if kind.is_tree() {
        prep_options = whet_learn::binning::keeping_every_level(prep_options);
    }
    let prep = Prep::fit(&train_table, Some((&args.target, task)), &prep_options)?;
    let y = prep.transform_target(&train_table)?;
    // Built before the fit from the input columns, which the transform then gives up.
    let reference = match &args.out {
        Some(_) => Some(ReferenceProfile::build(&train_table, &prep)?),
        None => None,
    };
    let x = prep.transform_owned(train_table)?.features;
    let n_classes = prep.target.as_ref().map_or(1, |t| t.classes.len().max(1));
    let valid = match &args.valid {
        Some(p) => Some(prepare(&prep, p, args, task, quiet, &mut notes)?),
        None => None,
    };
    let test = match &args.test {
        Some(p) => Some(prepare(&prep, p, args, task, quiet, &mut notes)?),
        None => None,
    };

    if args.log_target && task != Task::Regression {
        return Err(crate::exit::usage(format!(
            "--log-target is for regression, and '{}' is a {} target\nhint: drop --log-target, or force --task regression for a numeric target",
            args.target,
            task.name()
        )));
    }
    let log_y = if args.log_target {
        Some(log_targets(&y, "training data")?)
    } else {
        None
    };
    let valid_log_y = match (&valid, args.log_target) {
        (Some(v), true) => Some(log_targets(&v.y, "validation data")?),
        _ => None,
    };
    let train_set = TrainSet {
        x: &x,
        y: log_y.as_deref().unwrap_or(&y),
        weight: weights.as_deref(),
        rows: None,
        task,
        n_classes,
    };
    let valid_set = valid.as_ref().map(|v| TrainSet {
        x: &v.features,
        y: valid_log_y.as_deref().unwrap_or(&v.y),
        weight: None,
        rows: None,
        task,
        n_classes,
    });
    let mut params = LearnerParams::defaults(kind);
    params.set_seed(args.seed);
    let mut shown_params = BTreeMap::new();
    for pair in &args.params {
        let (k, v) = split_pair(pair)?;
        params.set(k, v)?;
        shown_params.insert(k.to_string(), v.to_string());
    }
    params.validate()?;
    if params.binning().is_some()
        && !shown_params.contains_key("low_memory")
        && let Some(available) = whet_automl::memory::available_bytes()
    {
        let outputs = if task == Task::Multiclass {
            n_classes
        } else {
            1
        };
        let (rows, features) = (x.n_rows as u64, x.columns.len() as u64);
        if whet_automl::memory::bins_kept_once(rows, features, outputs as u64, 1, available) {
            params.set("low_memory", "true")?;
            shown_params.insert("low_memory".to_string(), "true".to_string());
            notes.push(format!(
                "the bins are kept once (low_memory=true, the same model, a slower fit): two copies of {} and the fit's other buffers would not leave a fifth of the {} of memory available free; -p low_memory=false keeps both",
                whet_automl::memory::human_bytes(rows * features),
                whet_automl::memory::human_bytes(available),
            ));
        }
    }
    // Binning is part of the fit, as LightGBM's Dataset construction is part of its training.
    let started = Instant::now();
    let binned = match params.binning() {
        Some((max_bin, min_data_in_bin)) => Some(BinnedData::fit_layout(
            &x,
            max_bin,
            min_data_in_bin,
            args.seed,
            params.bin_layout(),
        )?),
        None => None,
    };
    let valid_binned = match (&binned, &valid) {
        (Some(b), Some(v)) => Some(BinnedData::with_mappers_layout(
            &v.features,
            b.mappers().to_vec(),
            params.bin_layout(),
        )),
        _ => None,
    };
    let valid_pair = valid_set.as_ref().zip(valid_binned.as_ref());
    crate::interrupt::check(|| "stopped on request before the fit; no model was written".into())?;
    // No deadline: the fit ends early only when the user asks (Ctrl-C, SIGTERM).
    let predictor = match whet_learn::fit(&params, &train_set, binned.as_ref(), valid_pair, None) {
        Err(whet_learn::LearnError::Interrupted { done, planned }) => {
            return Err(anyhow::Error::new(crate::exit::Interrupted(format!(
                "stopped on request after {done} of {planned} rounds; no model was written"
            ))));
        }
        other => other?,
    };
    let (iterations, best_iteration) = match &predictor {
        Predictor::Gbdt(m) => (Some(m.n_iterations()), m.best_iteration),
        _ => (None, None),
    };
    if let Predictor::Linear(m) = &predictor
        && !m.converged()
    {
        notes.push(format!(
            "the linear model did not converge in {} coordinate-descent passes (max_iter); its coefficients may still change: raise max_iter, or raise alpha to regularise more",
            m.n_iter()
        ));
    }
    let predictor = match &log_y {
        Some(log_y) => {
            shown_params.insert("target".to_string(), "log1p".to_string());
            let fitted = predictor.predict(&x);
            let scale = LogTargetModel::smearing(log_y, &fitted.values, weights.as_deref());
            Predictor::log_target(predictor, scale)
        }
        None => predictor,
    };
    let fit_seconds = started.elapsed().as_secs_f64();

    let metrics_of = |y: &[f64], p: &Predictions| -> BTreeMap<String, f64> {
        evaluate_all(task, y, p, None)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    };
    let train_metrics = metrics_of(&y, &predictor.predict(&x));
    let valid_metrics = valid
        .as_ref()
        .map(|v| metrics_of(&v.y, &predictor.predict(&v.features)));
    // The test set's batch prediction is timed alone: its metrics (an AUC sorts every row)
    // are not part of what a user waits for from `whet predict`.
    let (test_metrics, test_predict_seconds) = match &test {
        Some(t) => {
            let predict_started = Instant::now();
            let p = predictor.predict(&t.features);
            let seconds = predict_started.elapsed().as_secs_f64();
            (Some(metrics_of(&t.y, &p)), Some(seconds))
        }
        None => (None, None),
    };

    let mut metrics = BTreeMap::new();
    metrics.insert("train".to_string(), train_metrics.clone());
    if let Some(m) = &valid_metrics {
        metrics.insert("valid".to_string(), m.clone());
    }
    if let Some(m) = &test_metrics {
        metrics.insert("test".to_string(), m.clone());
    }
    let learner = predictor.learner_name().to_string();
    crate::interrupt::check(|| "stopped on request after the fit; no model was written".into())?;
    if let (Some(out), Some(mut reference)) = (&args.out, reference) {
        let classes = prep
            .target
            .as_ref()
            .map(|t| t.classes.clone())
            .unwrap_or_default();
        // Predictions on rows the model did not learn from, when there are some: on its own
        // training rows a model is more confident than it will be on new data.
        let held_out = match &valid {
            Some(v) => predictor.predict(&v.features),
            None => predictor.predict(&x),
        };
        reference.predictions = prediction_references(task, &classes, &held_out);
        let model = Model {
            reference,
            metadata: Metadata {
                whet_version: env!("CARGO_PKG_VERSION").to_string(),
                task,
                target: args.target.clone(),
                classes,
                params: shown_params.clone(),
                train_rows: x.n_rows as u64,
                seed: args.seed,
                fit_seconds,
                metrics,
            },
            prep,
            predictor,
        };
        let bytes = model.to_bytes()?;
        whet_data::fsutil::write_atomic(out, &bytes)?;
    }
    let report = FitReport {
        learner,
        task,
        target: args.target.clone(),
        train_rows: x.n_rows,
        features: x.n_features(),
        params: shown_params,
        fit_seconds,
        iterations,
        best_iteration,
        train_metrics,
        valid_metrics,
        test_metrics,
        test_predict_seconds,
        model: args.out.as_ref().map(|p| p.display().to_string()),
        notes,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn print_report(r: &FitReport) {
    println!(
        "{} on '{}' ({}): {} rows × {} features, fitted in {:.3}s{}",
        r.learner,
        r.target,
        r.task.name(),
        r.train_rows,
        r.features,
        r.fit_seconds,
        r.iterations
            .map(|i| format!(", {i} iterations"))
            .unwrap_or_default()
    );
    if let Some(b) = r.best_iteration {
        println!("early stopping: best iteration {b}");
    }
    let names: Vec<&String> = r.train_metrics.keys().collect();
    print!("{:<8}", "");
    for n in &names {
        print!("  {n:>17}");
    }
    println!();
    for (label, m) in [
        ("train", Some(&r.train_metrics)),
        ("valid", r.valid_metrics.as_ref()),
        ("test", r.test_metrics.as_ref()),
    ] {
        let Some(m) = m else { continue };
        print!("{label:<8}");
        for n in &names {
            print!("  {:>17.6}", m.get(*n).copied().unwrap_or(f64::NAN));
        }
        println!();
    }
    if let Some(p) = &r.model {
        println!("model written to {p}");
    }
    for n in &r.notes {
        println!("note: {n}");
    }
}
