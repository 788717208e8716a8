//! `whet drift`: new data against the reference profile of a model's training data; the
//! statistics are `whet_data::drift`'s. Exit code 0 without drift, 3 with drift, so cron jobs
//! and CI steps can act on it; the result is recorded in the tracking store as a drift run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use whet_data::drift::{ColumnDrift, DriftReport, Severity, Thresholds, compare_table};
use whet_data::reference::ReferenceProfile;
use whet_learn::model::Model;
use whet_learn::output::{prediction_distributions, prediction_references};
use whet_track::{Metric as Point, NewRun, RunStatus, Store};

use crate::model_ref::{ModelSource, load_model};
use crate::read::{ReadArgs, load_table};

/// The exit code of a drift found: distinct from errors (1), usage errors (2) and Ctrl-C (130).
pub const DRIFT_EXIT: u8 = 3;

#[derive(Args)]
pub struct DriftArgs {
    /// Model file, or a registered model: `models:/NAME@ALIAS`, `models:/NAME/VERSION`.
    pub model: PathBuf,
    /// New data to compare with the model's training data: CSV or Parquet.
    pub data: PathBuf,
    /// Compare with this data file instead of the profile stored in the model (needed for
    /// models written before profiles were stored, model format 2 and older).
    #[arg(long, value_name = "DATA")]
    pub reference: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as a self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Family-wise false-alarm rate of the tests (Bonferroni over all of them).
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Record the result in this experiment (default: the model's own, else "drift").
    #[arg(long)]
    pub experiment: Option<String>,
    /// Do not record the result in the tracking store.
    #[arg(long)]
    pub no_track: bool,
    #[command(flatten)]
    pub read: ReadArgs,
}

pub fn cmd_drift(args: &DriftArgs, store_flag: Option<&str>, quiet: bool) -> Result<ExitCode> {
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        return Err(crate::exit::usage(format!(
            "--alpha must be between 0 and 1, not {}\nhint: 0.05 is the usual choice",
            args.alpha
        )));
    }
    if let Some(html) = &args.html
        && html.extension().is_none_or(|e| e != "html" && e != "htm")
    {
        return Err(crate::exit::usage(format!(
            "--html writes an HTML page; '{}' does not end in .html\nhint: e.g. --html drift.html",
            html.display()
        )));
    }
    let (model, source) = load_model(&args.model, store_flag)?;
    let reference = match &args.reference {
        Some(path) => reference_from_data(&model, path, &args.read, quiet)?,
        None if model.reference.is_empty() => bail!(
            "{} holds no reference profile of its training data (it was written before model format 3)\nhint: pass the training data with --reference DATA, or retrain the model",
            source.label
        ),
        None => model.reference.clone(),
    };
    let table = load_table(&args.data, &args.read, quiet, true)?;
    let transformed = model
        .prep
        .transform(&table)
        .with_context(|| format!("in '{}'", args.data.display()))?;
    let p = model.predictor.predict(&transformed.features);
    let predictions = prediction_distributions(model.metadata.task, &model.metadata.classes, &p);
    let thresholds = Thresholds {
        alpha: args.alpha,
        ..Thresholds::default()
    };
    let report = compare_table(&reference, &model.prep, &table, &predictions, &thresholds)
        .with_context(|| format!("comparing '{}' with the model's data", args.data.display()))?;

    if let Some(html) = &args.html {
        let page =
            whet_data::drift::render_html(&report, &source.label, &args.data.display().to_string());
        whet_data::fsutil::write_atomic(html, page.as_bytes())?;
    }
    let tracked = if args.no_track {
        None
    } else {
        let store = Store::open_default(store_flag)?;
        let run = DriftRun {
            experiment: args.experiment.clone(),
            data: args.data.display().to_string(),
            name: format!(
                "drift {}",
                args.data
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            source: source.clone(),
            tags: Vec::new(),
        };
        Some(record(&store, &run, &report)?)
    };
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        if let (Some(obj), Some(t)) = (v.as_object_mut(), &tracked) {
            obj.insert("tracking".into(), serde_json::to_value(t)?);
        }
        if let Some(obj) = v.as_object_mut() {
            obj.insert("model".into(), source.label.clone().into());
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if !quiet {
        print_report(&report, &source.label);
        if let Some(t) = &tracked {
            println!(
                "recorded as run {} in experiment '{}'",
                t.run_id, t.experiment
            );
        }
    }
    Ok(if report.drift {
        ExitCode::from(DRIFT_EXIT)
    } else {
        ExitCode::SUCCESS
    })
}

/// A reference profile built from a data file, with the model's predictions on it.
fn reference_from_data(
    model: &Model,
    path: &std::path::Path,
    read: &ReadArgs,
    quiet: bool,
) -> Result<ReferenceProfile> {
    let table = load_table(path, read, quiet, true)?;
    let mut reference = ReferenceProfile::build(&table, &model.prep)
        .with_context(|| format!("in the reference data '{}'", path.display()))?;
    let features = model
        .prep
        .transform(&table)
        .with_context(|| format!("in the reference data '{}'", path.display()))?
        .features;
    let p = model.predictor.predict(&features);
    reference.predictions = prediction_references(model.metadata.task, &model.metadata.classes, &p);
    Ok(reference)
}

#[derive(serde::Serialize)]
pub struct Tracked {
    pub store: String,
    pub experiment: String,
    pub run_id: String,
}

/// What a drift run is of: `whet drift`'s data file, or `whet serve`'s window of traffic.
pub struct DriftRun {
    /// The experiment to record in (default: the model's own, else "drift").
    pub experiment: Option<String>,
    /// What was compared (the `whet.drift.data` tag).
    pub data: String,
    pub name: String,
    pub source: ModelSource,
    /// More tags.
    pub tags: Vec<(String, String)>,
}

/// The drift run: verdict and per-column statistics as metrics, the report as an artifact,
/// and tags linking it to the model version so the latest verdict of a model can be found
/// (`tags.whet.kind = 'drift' and tags.whet.model.name = …`).
pub fn record(store: &Store, what: &DriftRun, report: &DriftReport) -> Result<Tracked> {
    let source = &what.source;
    let experiment_name = match (&what.experiment, &source.registered) {
        (Some(e), _) => e.clone(),
        (None, Some(r)) => {
            let run = store.get_run(&r.run_id)?;
            store
                .list_experiments()?
                .into_iter()
                .find(|e| e.experiment_id == run.info.experiment_id)
                .map_or_else(|| "drift".to_string(), |e| e.name)
        }
        (None, None) => "drift".to_string(),
    };
    let experiment = store
        .get_or_create_experiment(&experiment_name)
        .with_context(|| format!("tracking store {}", store.location()))?;
    let mut tags = vec![
        ("whet.kind".to_string(), "drift".to_string()),
        (
            "whet.drift.verdict".to_string(),
            if report.drift { "drift" } else { "none" }.to_string(),
        ),
        ("whet.drift.data".to_string(), what.data.clone()),
    ];
    tags.extend(what.tags.iter().cloned());
    match &source.registered {
        Some(r) => {
            tags.push(("whet.model.name".into(), r.name.clone()));
            tags.push(("whet.model.version".into(), r.version.to_string()));
            tags.push(("whet.model.run_id".into(), r.run_id.clone()));
        }
        None => tags.push(("whet.model.path".into(), source.label.clone())),
    }
    if !report.drifted.is_empty() {
        tags.push(("whet.drift.columns".into(), report.drifted.join(",")));
    }
    let run = store.start_run(&NewRun {
        experiment,
        name: what.name.clone(),
        source_command: crate::study::source_command(),
        tags,
        ..NewRun::default()
    })?;
    let result = (|| -> Result<()> {
        store.log_params(
            &run,
            &[
                ("alpha".to_string(), report.thresholds.alpha.to_string()),
                ("rows".to_string(), report.rows.to_string()),
            ],
        )?;
        let mut points = vec![
            Point::new("drift", f64::from(u8::from(report.drift)), 0),
            Point::new("drifted_columns", report.drifted.len() as f64, 0),
        ];
        for d in report
            .columns
            .iter()
            .chain(&report.predictions)
            .chain(report.target.iter())
        {
            points.push(Point::new(format!("psi.{}", d.column), d.psi, 0));
            points.push(Point::new(format!("p_value.{}", d.column), d.p_value, 0));
        }
        store.log_metrics(&run, &points)?;
        let json = serde_json::to_vec_pretty(report)?;
        store.log_artifact(&run, "drift.json", whet_track::ArtifactSource::Bytes(&json))?;
        Ok(())
    })();
    store.end_run(
        &run,
        if result.is_ok() {
            RunStatus::Finished
        } else {
            RunStatus::Failed
        },
    )?;
    result?;
    Ok(Tracked {
        store: store.location().to_string(),
        experiment: experiment_name,
        run_id: run.to_string(),
    })
}

fn print_report(r: &DriftReport, model: &str) {
    println!(
        "{}: {} rows against {} training rows of {model}",
        if r.drift { "DRIFT" } else { "no drift" },
        r.rows,
        r.reference_rows
    );
    let line = |d: &ColumnDrift| {
        let mark = match d.severity {
            Severity::None => "  ",
            Severity::Moderate => " !",
            Severity::Major => "!!",
        };
        println!(
            "{mark} {:<24} {:<11} PSI {:>7.3}  {} {:>7.3}  p {:>9.2e}  missing {:>5.1}% (was {:.1}%)",
            whet_data::text::truncate(&d.column, 24),
            d.kind,
            d.psi,
            if d.test == "ks" { "KS  " } else { "chi²" },
            d.statistic,
            d.p_value,
            100.0 * d.missing,
            100.0 * d.reference_missing
        );
        for reason in &d.reasons {
            println!("     - {reason}");
        }
        if !d.drifted() && !d.unseen_levels.is_empty() {
            println!("     - {}", d.unseen_text());
        }
    };
    println!("inputs:");
    r.columns.iter().for_each(line);
    println!("predictions:");
    r.predictions.iter().for_each(line);
    if let Some(t) = &r.target {
        println!("target:");
        line(t);
    }
    if let Some(why) = &r.predictions_not_compared {
        println!("predictions not compared: {why}");
    }
    if !r.not_compared.is_empty() {
        println!("not compared (hashed text): {}", r.not_compared.join(", "));
    }
    println!(
        "each test at p < {:.2e} (alpha {} over all tests) and a KS gap or total variation of at least {}",
        r.test_level, r.thresholds.alpha, r.thresholds.min_effect
    );
}
