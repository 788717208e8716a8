//! `whet compare CHAMPION CHALLENGER DATA`: both models on the same rows, the gain with a
//! paired interval, paired tests, the gain per slice, and a verdict whose exit code a CI
//! pipeline can gate on (0 only for `better`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use whet_review::compare::{CompareOptions, Comparison, Verdict};
use whet_review::{BootstrapSpec, html};
use whet_track::Store;

use crate::read::{ReadArgs, load_table};
use crate::review::{check_output, record_run, review_error, slice_columns, stage_spinner};

#[derive(Args)]
pub struct CompareArgs {
    /// The model in place: a file or `models:/NAME@ALIAS` (e.g. `models:/churn@champion`).
    pub champion: PathBuf,
    /// The candidate: a file or a registered model reference.
    pub challenger: PathBuf,
    /// Labelled data both models are scored on (the same rows for both).
    pub data: PathBuf,
    /// Metric the verdict is about (default: roc_auc, log_loss or rmse by task).
    #[arg(long)]
    pub metric: Option<String>,
    /// The gain's 95% interval must lie above this for `better` (in the metric's units).
    #[arg(long, default_value_t = 0.0)]
    pub min_gain: f64,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write the comparison as a self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Binary: probability at or above which a row is called positive.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    /// Columns to compare per slice, comma-separated (default: all); `none` for no slices.
    #[arg(long, value_delimiter = ',', value_name = "COL,...")]
    pub slices: Option<Vec<String>>,
    /// Slices need at least this many rows.
    #[arg(long, default_value_t = 50)]
    pub min_slice_rows: usize,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Do not record the comparison in the tracking store.
    #[arg(long)]
    pub no_track: bool,
    #[command(flatten)]
    pub read: ReadArgs,
}

fn num(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:+.3e}")
    } else {
        format!("{v:+.4}")
    }
}

fn print_text(c: &Comparison) {
    println!("champion    {}", c.champion);
    println!("challenger  {}", c.challenger);
    println!(
        "data        {} ({} rows, the same for both)",
        c.data, c.rows
    );
    println!("intervals   {}\n", c.interval_method);
    let w = c
        .metrics
        .iter()
        .map(|m| m.def.label.chars().count())
        .max()
        .unwrap_or(6);
    println!(
        "  {:<w$}  {:>10}  {:>10}  {:>10}  {:<21}  interval by",
        "metric", "champion", "challenger", "gain", "95% interval of gain"
    );
    for m in &c.metrics {
        let ci = if m.gain.lo.is_nan() {
            "-".into()
        } else {
            format!("{} – {}", num(m.gain.lo), num(m.gain.hi))
        };
        let mark = if m.def.name == c.metric.name {
            " ◀"
        } else {
            ""
        };
        println!(
            "  {:<w$}  {:>10.4}  {:>10.4}  {:>10}  {ci:<21}  {}{mark}",
            m.def.label,
            m.champion,
            m.challenger,
            num(m.gain.value),
            m.interval.label()
        );
    }
    if !c.tests.is_empty() {
        println!();
        for t in &c.tests {
            println!(
                "  {}: {} = {:.4}, p = {:.4} ({})",
                t.name, t.statistic_name, t.statistic, t.p_value, t.detail
            );
        }
    }
    let moved: Vec<_> = c
        .slices
        .iter()
        .filter(|s| s.verdict != Verdict::Indistinguishable)
        .collect();
    if !moved.is_empty() {
        println!("\nslices where the difference is real ({}):", c.metric.name);
        for s in moved.iter().take(12) {
            println!(
                "  {:<40} {:>7} rows  gain {} ({} – {})  {}",
                s.label,
                s.rows,
                num(s.gain.value),
                num(s.gain.lo),
                num(s.gain.hi),
                s.verdict.name()
            );
        }
    }
    for n in &c.notes {
        println!("note: {n}");
    }
    println!(
        "\nverdict: {}\n{}",
        c.verdict.name().to_uppercase(),
        c.summary
    );
}

/// The exit code of a verdict: 0 better, 3 indistinguishable, 4 worse (1 and 2 are errors).
pub fn exit_code(v: Verdict) -> u8 {
    match v {
        Verdict::Better => 0,
        Verdict::Indistinguishable => 3,
        Verdict::Worse => 4,
    }
}

pub fn cmd_compare(args: &CompareArgs, store_flag: Option<&str>, quiet: bool) -> Result<u8> {
    if let Some(p) = &args.html {
        check_output(p)?;
    }
    let (champion_model, champion) = crate::model_ref::load_model(&args.champion, store_flag)?;
    let (challenger_model, challenger) =
        crate::model_ref::load_model(&args.challenger, store_flag)?;
    let table = load_table(&args.data, &args.read, quiet, true)?;
    let options = CompareOptions {
        bootstrap: BootstrapSpec {
            resamples: args.resamples,
            seed: args.seed,
            confidence: 0.95,
            ..Default::default()
        },
        metric: args.metric.clone(),
        min_gain: args.min_gain,
        threshold: args.threshold,
        slices: slice_columns(&args.slices),
        min_slice_rows: args.min_slice_rows,
        champion_label: champion.label.clone(),
        challenger_label: challenger.label.clone(),
        data_label: args.data.display().to_string(),
    };
    if !(args.threshold > 0.0 && args.threshold < 1.0) {
        return Err(crate::exit::usage(format!(
            "--threshold {} is not between 0 and 1\nhint: give a probability such as 0.5",
            args.threshold
        )));
    }
    let spinner = stage_spinner(quiet, "comparing");
    let on_stage = |stage: &str| {
        if let Some(s) = &spinner {
            s.set_message(stage.to_string());
        }
    };
    let result = whet_review::compare(
        &champion_model,
        &challenger_model,
        &table,
        &options,
        &on_stage,
    );
    if let Some(s) = &spinner {
        s.finish_and_clear();
    }
    let c = result.map_err(review_error)?;
    let json = serde_json::to_string_pretty(&c)?;
    let page = html::compare_html(&c);
    if let Some(p) = &args.html {
        whet_data::fsutil::write_atomic(p, page.as_bytes())?;
    }
    let mut recorded = None;
    if !args.no_track {
        let store = Store::open_default(store_flag)?;
        let mut tags = vec![
            ("whet.compare.champion".to_string(), champion.label.clone()),
            (
                "whet.compare.challenger".to_string(),
                challenger.label.clone(),
            ),
            (
                "whet.compare.data".to_string(),
                args.data.display().to_string(),
            ),
            ("whet.compare.metric".to_string(), c.metric.name.clone()),
            (
                "whet.compare.verdict".to_string(),
                c.verdict.name().to_string(),
            ),
        ];
        if let Some(r) = &challenger.registered {
            tags.push(("whet.model.name".into(), r.name.clone()));
            tags.push(("whet.model.version".into(), r.version.to_string()));
        }
        // The champion's version, so `whet status` can tell whether the verdict is about the
        // alias's current holder.
        if let Some(r) = &champion.registered {
            tags.push(("whet.compare.champion.name".into(), r.name.clone()));
            tags.push((
                "whet.compare.champion.version".into(),
                r.version.to_string(),
            ));
        }
        let main = c.metrics.iter().find(|m| m.def.name == c.metric.name);
        let mut metrics = vec![("min_gain".to_string(), c.min_gain)];
        if let Some(m) = main {
            metrics.extend([
                ("champion".to_string(), m.champion),
                ("challenger".to_string(), m.challenger),
                ("gain".to_string(), m.gain.value),
                ("gain_lo".to_string(), m.gain.lo),
                ("gain_hi".to_string(), m.gain.hi),
            ]);
        }
        for t in &c.tests {
            let key: String = t
                .name
                .chars()
                .map(|ch| {
                    if ch.is_ascii_alphanumeric() {
                        ch.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            metrics.push((format!("p_{key}"), t.p_value));
        }
        let run = record_run(
            &store,
            "compare",
            &format!("compare {} vs {}", champion.label, challenger.label),
            tags,
            &metrics,
            &json,
            &page,
        )?;
        recorded = Some((run, store.location().to_string()));
    }
    if args.json {
        println!("{json}");
    } else if !quiet {
        print_text(&c);
    }
    if !quiet {
        if let Some(p) = &args.html {
            eprintln!("report written to {}", p.display());
        }
        if let Some((run, store)) = recorded {
            eprintln!(
                "recorded as comparison run {} in {store}",
                &run[..run.len().min(12)]
            );
        }
    }
    Ok(exit_code(c.verdict))
}
