//! `whet model promote NAME --version V --alias ALIAS --data DATA`: moves the alias only when
//! the version beats the alias's current holder in `whet compare` (or with `--force`, which is
//! recorded), and keeps the comparison as the evidence of the move.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use whet_review::compare::{CompareOptions, Verdict};
use whet_review::{BootstrapSpec, html};
use whet_track::{Store, VersionRef};

use crate::read::{ReadArgs, load_table};
use crate::review::{record_run, review_error, stage_spinner};

#[derive(Args)]
pub struct PromoteArgs {
    /// Registered model name.
    pub name: String,
    /// The version to promote.
    #[arg(long)]
    pub version: i64,
    /// The alias to move (e.g. champion).
    #[arg(long)]
    pub alias: String,
    /// Labelled data on which the version must beat the alias's current holder.
    #[arg(long)]
    pub data: PathBuf,
    /// Metric of the comparison (default: roc_auc, log_loss or rmse by task).
    #[arg(long)]
    pub metric: Option<String>,
    /// The gain's 95% interval must lie above this.
    #[arg(long, default_value_t = 0.0)]
    pub min_gain: f64,
    /// Move the alias whatever the comparison says (recorded with the move).
    #[arg(long)]
    pub force: bool,
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub read: ReadArgs,
}

fn load_version(store: &Store, name: &str, version: i64) -> Result<whet_learn::model::Model> {
    let v = store.get_model_version(name, &VersionRef::Number(version))?;
    let bytes = store.read_artifact(&v.run_id, &v.source)?;
    Ok(whet_learn::model::Model::from_bytes(
        &bytes,
        &format!("models:/{name}/{version}"),
    )?)
}

pub fn cmd_promote(store: &Store, args: &PromoteArgs, quiet: bool) -> Result<()> {
    let challenger = load_version(store, &args.name, args.version)?;
    let holder = store
        .get_model_version(&args.name, &VersionRef::Alias(args.alias.clone()))
        .ok()
        .map(|v| v.version);
    let target = format!("{}@{}", args.name, args.alias);
    let Some(holder) = holder.filter(|h| *h != args.version) else {
        store.set_alias(&args.name, &args.alias, args.version)?;
        store.set_model_version_tag(
            &args.name,
            args.version,
            &format!("whet.promote.{}", args.alias),
            "no previous holder",
        )?;
        if !quiet {
            println!(
                "{target} → version {} (no other version held it)",
                args.version
            );
        }
        return Ok(());
    };
    let champion = load_version(store, &args.name, holder)?;
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
        champion_label: format!("models:/{}/{holder}", args.name),
        challenger_label: format!("models:/{}/{}", args.name, args.version),
        data_label: args.data.display().to_string(),
        ..CompareOptions::default()
    };
    let spinner = stage_spinner(quiet, "comparing");
    let result = whet_review::compare(&champion, &challenger, &table, &options, &|stage: &str| {
        if let Some(s) = &spinner {
            s.set_message(stage.to_string());
        }
    });
    if let Some(s) = &spinner {
        s.finish_and_clear();
    }
    let c = result.map_err(review_error)?;
    let promoted = c.verdict == Verdict::Better || args.force;
    let json = serde_json::to_string_pretty(&c)?;
    let tags = vec![
        (
            "whet.compare.champion".to_string(),
            options.champion_label.clone(),
        ),
        (
            "whet.compare.challenger".to_string(),
            options.challenger_label.clone(),
        ),
        (
            "whet.compare.verdict".to_string(),
            c.verdict.name().to_string(),
        ),
        ("whet.compare.champion.name".to_string(), args.name.clone()),
        (
            "whet.compare.champion.version".to_string(),
            holder.to_string(),
        ),
        (
            "whet.compare.data".to_string(),
            args.data.display().to_string(),
        ),
        ("whet.promote.alias".to_string(), args.alias.clone()),
        ("whet.promote.moved".to_string(), promoted.to_string()),
        (
            "whet.promote.forced".to_string(),
            (args.force && c.verdict != Verdict::Better).to_string(),
        ),
        ("whet.model.name".to_string(), args.name.clone()),
        ("whet.model.version".to_string(), args.version.to_string()),
    ];
    let main = c.metrics.iter().find(|m| m.def.name == c.metric.name);
    let metrics: Vec<(String, f64)> = main
        .map(|m| {
            vec![
                ("gain".to_string(), m.gain.value),
                ("gain_lo".to_string(), m.gain.lo),
                ("gain_hi".to_string(), m.gain.hi),
            ]
        })
        .unwrap_or_default();
    let run = record_run(
        store,
        "compare",
        &format!("promote {target} to {}", args.version),
        tags,
        &metrics,
        &json,
        &html::compare_html(&c),
    )?;
    let evidence = format!(
        "{} vs version {holder}: {}{} (run {run})",
        c.verdict.name(),
        c.summary,
        if promoted && c.verdict != Verdict::Better {
            " — forced"
        } else {
            ""
        }
    );
    store.set_model_version_tag(
        &args.name,
        args.version,
        &format!("whet.promote.{}", args.alias),
        &evidence,
    )?;
    if promoted {
        store.set_alias(&args.name, &args.alias, args.version)?;
        if !quiet {
            println!(
                "{target} moved from version {holder} to {}{}",
                args.version,
                if c.verdict == Verdict::Better {
                    ""
                } else {
                    " (forced)"
                }
            );
            println!("{}", c.summary);
        }
        return Ok(());
    }
    Err(anyhow::Error::new(crate::exit::Refused {
        code: crate::compare::exit_code(c.verdict),
        message: format!(
            "{target} stays on version {holder}: version {} is {} ({})\nhint: the comparison is run {run}; --force moves the alias anyway and records that",
            args.version,
            c.verdict.name(),
            c.summary
        ),
    }))
}
