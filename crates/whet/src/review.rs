//! `whet review MODEL DATA`: the model's review on labelled data — metrics with intervals,
//! curves, explanations, slices and checks — as text, JSON and a self-contained HTML page,
//! recorded in the tracking store as a review run linked to the model version.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use whet_review::review::{CheckVerdict, Review, ReviewOptions};
use whet_review::{BootstrapSpec, html};
use whet_track::{ArtifactSource, Metric as Point, NewRun, RunStatus, Store};

use crate::read::{ReadArgs, load_table};

#[derive(Args)]
pub struct ReviewArgs {
    /// Model file, or a registered model: `models:/NAME@ALIAS`, `models:/NAME/VERSION`.
    pub model: PathBuf,
    /// Labelled data (CSV or Parquet) holding the model's target column.
    pub data: PathBuf,
    /// Write the report as a self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Binary: probability at or above which a row is called positive.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    /// Binary: cost of a false positive, for the cost-optimal threshold.
    #[arg(long, default_value_t = 1.0)]
    pub cost_fp: f64,
    /// Binary: cost of a false negative, for the cost-optimal threshold.
    #[arg(long, default_value_t = 1.0)]
    pub cost_fn: f64,
    /// Columns to slice by, comma-separated (default: every categorical and numeric input
    /// column); `none` for no slices.
    #[arg(long, value_delimiter = ',', value_name = "COL,...")]
    pub slices: Option<Vec<String>>,
    /// Slices need at least this many rows.
    #[arg(long, default_value_t = 50)]
    pub min_slice_rows: usize,
    /// Metric for slices and the overfitting check (default: roc_auc, log_loss or rmse).
    #[arg(long)]
    pub metric: Option<String>,
    /// Bootstrap resamples per interval.
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    /// Seed of every random choice (resamples, shuffles, samples).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Skip importance, SHAP values and individual explanations.
    #[arg(long)]
    pub no_explain: bool,
    /// Do not record the review in the tracking store.
    #[arg(long)]
    pub no_track: bool,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// A spinner naming the stage, on a terminal only.
pub fn stage_spinner(quiet: bool, what: &str) -> Option<ProgressBar> {
    (!quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new_spinner();
        if let Ok(s) = ProgressStyle::with_template("{spinner} {prefix} {msg} ({elapsed})") {
            b.set_style(s);
        }
        b.set_prefix(what.to_string());
        b.enable_steady_tick(Duration::from_millis(120));
        b
    })
}

/// Fails early, before any work, when an output file cannot be written there.
pub fn check_output(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(crate::exit::usage(format!(
            "cannot write '{}': the folder '{}' does not exist\nhint: create it or choose another path",
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// `--slices none` turns slicing off; otherwise the columns given.
pub fn slice_columns(v: &Option<Vec<String>>) -> Option<Vec<String>> {
    v.as_ref().map(|cols| {
        if cols.len() == 1 && cols[0].eq_ignore_ascii_case("none") {
            Vec::new()
        } else {
            cols.iter()
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect()
        }
    })
}

fn num(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

fn print_text(r: &Review) {
    println!(
        "review of {} ({} {} model predicting '{}') on {}: {} rows",
        r.model.label,
        r.model.learner,
        r.model.task.name(),
        r.model.target,
        r.data.label,
        r.data.rows
    );
    println!("intervals: {}\n", r.interval_method);
    let w = r
        .metrics
        .iter()
        .map(|m| m.def.label.chars().count())
        .max()
        .unwrap_or(6);
    println!(
        "  {:<w$}  {:>10}  {:<19}  interval by",
        "metric", "value", "95% interval"
    );
    for m in &r.metrics {
        let ci = if m.estimate.lo.is_nan() {
            "-".to_string()
        } else {
            format!("{} – {}", num(m.estimate.lo), num(m.estimate.hi))
        };
        println!(
            "  {:<w$}  {:>10}  {ci:<19}  {}",
            m.def.label,
            num(m.estimate.value),
            m.interval.label()
        );
    }
    if let Some(b) = &r.binary {
        println!(
            "\n  best-F1 threshold {} (F1 {}); lowest-cost threshold {} (cost {})",
            num(b.f1_optimal.threshold),
            num(b.f1_optimal.f1),
            num(b.cost_optimal.threshold),
            num(b.cost_optimal.cost)
        );
    }
    println!("\nchecks");
    for c in &r.checks {
        let word = match c.verdict {
            CheckVerdict::Pass => "pass",
            CheckVerdict::Warn => "WARN",
            CheckVerdict::NotChecked => "n/a ",
        };
        println!("  {word}  {}: {}", c.name, c.summary);
        if !c.evidence.is_empty() {
            println!("        {}", c.evidence);
        }
    }
    let worse: Vec<_> = r
        .slices
        .slices
        .iter()
        .filter(|s| s.significantly_worse)
        .collect();
    if !worse.is_empty() {
        println!(
            "\nslices significantly worse than the whole ({} {}):",
            r.slices.metric.name,
            num(r.slices.overall)
        );
        for s in worse.iter().take(10) {
            println!(
                "  {:<40} {:>7} rows  {} ({} – {})",
                s.label,
                s.rows,
                num(s.estimate.value),
                num(s.estimate.lo),
                num(s.estimate.hi)
            );
        }
    }
    if let Some(ex) = &r.explanations {
        let top: Vec<String> = ex
            .importance
            .iter()
            .take(5)
            .map(|i| i.column.clone())
            .collect();
        println!("\nmost important columns (permutation): {}", top.join(", "));
    }
    for n in &r.notes {
        println!("note: {n}");
    }
}

/// Records a finished review or comparison as a run: metrics, tags, the JSON (and HTML)
/// report as artifacts. Returns the run id.
pub fn record_run(
    store: &Store,
    kind: &str,
    run_name: &str,
    tags: Vec<(String, String)>,
    metrics: &[(String, f64)],
    json: &str,
    html: &str,
) -> Result<String> {
    let experiment = store
        .get_or_create_experiment(if kind == "review" {
            "reviews"
        } else {
            "comparisons"
        })
        .with_context(|| format!("tracking store {}", store.location()))?;
    let mut all = vec![("whet.kind".to_string(), kind.to_string())];
    all.extend(tags);
    let run = store.start_run(&NewRun {
        experiment,
        name: run_name.to_string(),
        source_command: crate::study::source_command(),
        tags: all,
        ..NewRun::default()
    })?;
    let result = (|| -> Result<()> {
        let points: Vec<Point> = metrics
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| Point::new(k.clone(), *v, 0))
            .collect();
        store.log_metrics(&run, &points)?;
        store.log_artifact(
            &run,
            &format!("{kind}.json"),
            ArtifactSource::Bytes(json.as_bytes()),
        )?;
        store.log_artifact(
            &run,
            &format!("{kind}.html"),
            ArtifactSource::Bytes(html.as_bytes()),
        )?;
        Ok(())
    })();
    match result {
        Ok(()) => {
            store.end_run(&run, RunStatus::Finished)?;
            Ok(run)
        }
        Err(e) => {
            let _ = store.end_run(&run, RunStatus::Failed);
            Err(e)
        }
    }
}

/// Metric keys in the store: `roc_auc`, `roc_auc_lo`, `roc_auc_hi`; per-class names keep
/// only characters MLflow accepts.
fn metric_key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-./ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_end_matches('_')
        .to_string()
}

pub fn cmd_review(args: &ReviewArgs, store_flag: Option<&str>, quiet: bool) -> Result<()> {
    if let Some(p) = &args.html {
        check_output(p)?;
    }
    let (model, source) = crate::model_ref::load_model(&args.model, store_flag)?;
    let table = load_table(&args.data, &args.read, quiet, true)?;
    let options = ReviewOptions {
        bootstrap: BootstrapSpec {
            resamples: args.resamples,
            seed: args.seed,
            confidence: 0.95,
            ..Default::default()
        },
        threshold: args.threshold,
        cost_fp: args.cost_fp,
        cost_fn: args.cost_fn,
        slices: slice_columns(&args.slices),
        min_slice_rows: args.min_slice_rows,
        metric: args.metric.clone(),
        explain: !args.no_explain,
        model_label: source.label.clone(),
        data_label: args.data.display().to_string(),
    };
    let spinner = stage_spinner(quiet, "reviewing");
    let on_stage = |stage: &str| {
        if let Some(s) = &spinner {
            s.set_message(stage.to_string());
        }
    };
    let result = whet_review::review(&model, &table, &options, &on_stage);
    if let Some(s) = &spinner {
        s.finish_and_clear();
    }
    let review = result.map_err(review_error)?;
    let json = serde_json::to_string_pretty(&review)?;
    let page = html::review_html(&review);
    if let Some(p) = &args.html {
        whet_data::fsutil::write_atomic(p, page.as_bytes())?;
    }
    let mut recorded = None;
    if !args.no_track {
        let store = Store::open_default(store_flag)?;
        let mut tags = vec![
            ("whet.review.model".to_string(), source.label.clone()),
            (
                "whet.review.data".to_string(),
                args.data.display().to_string(),
            ),
        ];
        if let Some(r) = &source.registered {
            tags.push(("whet.model.name".into(), r.name.clone()));
            tags.push(("whet.model.version".into(), r.version.to_string()));
        }
        let mut metrics = Vec::new();
        for m in &review.metrics {
            let k = metric_key(&m.def.name);
            metrics.push((k.clone(), m.estimate.value));
            metrics.push((format!("{k}_lo"), m.estimate.lo));
            metrics.push((format!("{k}_hi"), m.estimate.hi));
        }
        let warnings = review
            .checks
            .iter()
            .filter(|c| c.verdict == CheckVerdict::Warn)
            .count();
        metrics.push(("check_warnings".into(), warnings as f64));
        let run = record_run(
            &store,
            "review",
            &format!("review {}", source.label),
            tags,
            &metrics,
            &json,
            &page,
        )?;
        if let Some(r) = &source.registered {
            store.set_model_version_tag(&r.name, r.version, "whet.review.run_id", &run)?;
        }
        recorded = Some((run, store.location().to_string()));
    }
    if args.json {
        println!("{json}");
    } else if !quiet {
        print_text(&review);
    }
    if !quiet {
        if let Some(p) = &args.html {
            eprintln!("report written to {}", p.display());
        }
        if let Some((run, store)) = recorded {
            eprintln!(
                "recorded as review run {} in {store}",
                &run[..run.len().min(12)]
            );
        }
    }
    Ok(())
}

/// Review errors that are the user's options exit 2.
pub fn review_error(e: whet_review::ReviewError) -> anyhow::Error {
    if e.is_usage() {
        crate::exit::usage(e.to_string())
    } else {
        anyhow::Error::new(e)
    }
}
