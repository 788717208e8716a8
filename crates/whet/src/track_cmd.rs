//! Tracking commands: `whet runs`, `whet run show|compare|delete|restore`, `whet models`,
//! `whet model register|alias|show`, `whet gc`. Thin glue over `whet_track::Store`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use whet_data::report::truncate;
use whet_track::filter::{Field, OrderBy};
use whet_track::{Run, SearchRuns, Store, VersionRef, parse_model_ref};

fn open(store: Option<&str>) -> Result<Store> {
    Ok(Store::open_existing(store)?)
}

fn time(ms: i64) -> String {
    let (y, mo, d, _, h, mi, s) = whet_data::datetime::civil_parts(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

fn duration(run: &Run) -> String {
    match run.info.end_time {
        Some(end) => {
            let secs = (end - run.info.start_time).max(0) as f64 / 1000.0;
            if secs < 60.0 {
                format!("{secs:.1}s")
            } else if secs < 3600.0 {
                format!("{:.1}m", secs / 60.0)
            } else {
                format!("{:.1}h", secs / 3600.0)
            }
        }
        None => "-".into(),
    }
}

fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-4) {
        format!("{v:.4e}")
    } else {
        let s = format!("{v:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

/// Prints rows as left-aligned columns (right-aligned where `right[i]`).
fn table(header: &[String], rows: &[Vec<String>], right: &[bool]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if right.get(i).copied().unwrap_or(false) {
                    format!("{c:>w$}", w = widths[i])
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(header);
    for r in rows {
        line(r);
    }
}

fn experiment_ids(store: &Store, names: &[String]) -> Result<Vec<i64>> {
    let mut ids = Vec::new();
    for name in names {
        match store.experiment_by_name(name)? {
            Some(e) => ids.push(e.experiment_id),
            None => {
                if let Ok(id) = name.parse::<i64>()
                    && store
                        .list_experiments()?
                        .iter()
                        .any(|e| e.experiment_id == id)
                {
                    ids.push(id);
                    continue;
                }
                let known: Vec<String> = store
                    .list_experiments()?
                    .into_iter()
                    .map(|e| e.name)
                    .collect();
                bail!(
                    "experiment '{name}' not found in store {}\n  hint: known experiments: {}",
                    store.location(),
                    if known.is_empty() {
                        "none yet".to_string()
                    } else {
                        known.join(", ")
                    }
                );
            }
        }
    }
    Ok(ids)
}

#[derive(Args)]
pub struct RunsArgs {
    /// Only runs of this experiment (name or id); repeatable.
    #[arg(long, short)]
    pub experiment: Vec<String>,
    /// MLflow filter, e.g. "metrics.auc > 0.9 and params.learner = 'gbdt'".
    #[arg(long, short)]
    pub filter: Option<String>,
    /// Order, e.g. "metrics.auc DESC" or "attributes.start_time"; repeatable.
    #[arg(long, short)]
    pub sort: Vec<String>,
    /// At most this many runs (1 to 50,000).
    #[arg(long, short = 'n', default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=50_000))]
    pub limit: u64,
    /// Continue a previous listing (the token it printed).
    #[arg(long, value_name = "TOKEN")]
    pub page_token: Option<String>,
    /// Include runs marked deleted.
    #[arg(long)]
    pub deleted: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_runs(store: Option<&str>, args: &RunsArgs, quiet: bool) -> Result<()> {
    // A filter or sort order that does not parse is the command line's mistake (exit 2),
    // found before the store is opened.
    let filter = args.filter.clone().unwrap_or_default();
    let conditions =
        whet_track::filter::parse(&filter).map_err(|e| crate::exit::usage(e.to_string()))?;
    let orders = args
        .sort
        .iter()
        .map(|s| OrderBy::parse(s).map_err(|e| crate::exit::usage(e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    let store = open(store)?;
    let experiments = experiment_ids(&store, &args.experiment)?;
    let page = store.search_runs(&SearchRuns {
        experiments,
        filter: filter.clone(),
        order_by: args.sort.clone(),
        max_results: args.limit as usize,
        page_token: args.page_token.clone(),
        view: if args.deleted {
            whet_track::ViewType::All
        } else {
            whet_track::ViewType::ActiveOnly
        },
    })?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "runs": page.items,
                "next_page_token": page.next_page_token,
            }))?
        );
        return Ok(());
    }
    if page.items.is_empty() {
        println!("no runs");
        return Ok(());
    }
    // Show the metrics and params the user asked about, then the most common metrics.
    let mut metric_cols: Vec<String> = Vec::new();
    let mut param_cols: Vec<String> = Vec::new();
    let mentioned = conditions
        .into_iter()
        .map(|c| c.field)
        .chain(orders.into_iter().map(|o| o.field));
    for f in mentioned {
        match f {
            Field::Metric(k) if !metric_cols.contains(&k) => metric_cols.push(k),
            Field::Param(k) if !param_cols.contains(&k) => param_cols.push(k),
            _ => {}
        }
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &page.items {
        for k in r.metrics.keys() {
            *counts.entry(k.as_str()).or_default() += 1;
        }
    }
    let mut common: Vec<(&str, usize)> = counts.into_iter().collect();
    common.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (k, _) in common {
        if metric_cols.len() >= 4 {
            break;
        }
        if !metric_cols.iter().any(|m| m == k) {
            metric_cols.push(k.to_string());
        }
    }
    let mut header: Vec<String> = ["run", "name", "status", "started", "took"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend(param_cols.iter().map(|p| format!("params.{p}")));
    header.extend(metric_cols.iter().cloned());
    let mut right = vec![false, false, false, false, true];
    right.extend(param_cols.iter().map(|_| false));
    right.extend(metric_cols.iter().map(|_| true));
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|r| {
            let mut row = vec![
                r.info.run_id[..12].to_string(),
                truncate(&r.info.run_name, 28),
                r.info.status.to_string(),
                time(r.info.start_time),
                duration(r),
            ];
            row.extend(param_cols.iter().map(|p| {
                r.params
                    .get(p)
                    .map(|v| truncate(v, 20))
                    .unwrap_or_else(|| "-".into())
            }));
            row.extend(metric_cols.iter().map(|m| {
                r.metrics
                    .get(m)
                    .map(|v| num(v.value))
                    .unwrap_or_else(|| "-".into())
            }));
            row
        })
        .collect();
    table(&header, &rows, &right);
    if !quiet {
        match &page.next_page_token {
            Some(t) => eprintln!(
                "{} runs shown; more with --page-token {t}",
                page.items.len()
            ),
            None => eprintln!("{} runs", page.items.len()),
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum RunCommand {
    /// Everything recorded about one run.
    Show {
        /// Run id (or a unique prefix of at least 4 digits).
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Params that differ and metrics side by side.
    Compare {
        /// Two or more run ids (or unique prefixes).
        #[arg(required = true, num_args = 2..)]
        ids: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Mark a run deleted (hidden from listings; `whet gc` removes it for good).
    Delete { id: String },
    /// Undo `whet run delete`.
    Restore { id: String },
}

pub fn cmd_run(store: Option<&str>, cmd: &RunCommand, quiet: bool) -> Result<()> {
    let store = open(store)?;
    match cmd {
        RunCommand::Show { id, json } => run_show(&store, id, *json),
        RunCommand::Compare { ids, json } => run_compare(&store, ids, *json),
        RunCommand::Delete { id } => {
            let id = store.resolve_run_id(id)?;
            store.delete_run(&id)?;
            if !quiet {
                eprintln!("run {id} marked deleted; `whet gc` removes it for good");
            }
            Ok(())
        }
        RunCommand::Restore { id } => {
            let id = store.resolve_run_id(id)?;
            store.restore_run(&id)?;
            if !quiet {
                eprintln!("run {id} restored");
            }
            Ok(())
        }
    }
}

fn run_show(store: &Store, id: &str, as_json: bool) -> Result<()> {
    let id = store.resolve_run_id(id)?;
    let run = store.get_run(&id)?;
    let artifacts = store.list_artifacts(&id)?;
    let datasets = store.run_datasets(&id)?;
    let children = store
        .search_runs(&SearchRuns {
            filter: format!("attributes.parent_run_id = '{id}'"),
            max_results: 10_000,
            ..Default::default()
        })?
        .items
        .len();
    if as_json {
        let ds: Vec<_> = datasets
            .iter()
            .map(|(d, context)| json!({"dataset": d, "context": context}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "run": run,
                "artifacts": artifacts,
                "datasets": ds,
                "child_runs": children,
            }))?
        );
        return Ok(());
    }
    let i = &run.info;
    println!("run {}  {}", i.run_id, i.run_name);
    println!("  status      {}", i.status);
    println!("  experiment  {}", i.experiment_id);
    println!(
        "  started     {}{}",
        time(i.start_time),
        i.end_time
            .map(|e| format!("  ended {}  ({})", time(e), duration(&run)))
            .unwrap_or_default()
    );
    println!("  user        {}", i.user_id);
    if !i.source_command.is_empty() {
        println!("  command     {}", i.source_command);
    }
    if let Some(p) = &i.parent_run_id {
        println!("  parent      {p}");
    }
    if children > 0 {
        println!("  children    {children} runs");
    }
    if let Some(f) = &i.data_fingerprint {
        println!("  data        {f}");
    }
    if i.lifecycle_stage != "active" {
        println!("  lifecycle   {}", i.lifecycle_stage);
    }
    println!("  artifacts   {}", store.artifact_location(i));
    if !run.params.is_empty() {
        println!("\nparams");
        let w = run.params.keys().map(|k| k.len()).max().unwrap_or(0);
        for (k, v) in &run.params {
            println!("  {k:<w$}  {v}");
        }
    }
    if !run.metrics.is_empty() {
        println!("\nmetrics (latest value)");
        let w = run.metrics.keys().map(|k| k.len()).max().unwrap_or(0);
        for (k, m) in &run.metrics {
            println!("  {k:<w$}  {:>12}  step {}", num(m.value), m.step);
        }
    }
    if !run.tags.is_empty() {
        println!("\ntags");
        let w = run.tags.keys().map(|k| k.len()).max().unwrap_or(0);
        for (k, v) in &run.tags {
            println!("  {k:<w$}  {v}");
        }
    }
    if !datasets.is_empty() {
        println!("\ndatasets");
        for (d, context) in &datasets {
            println!("  {}  {}  ({context}, {})", d.name, d.fingerprint, d.source);
        }
    }
    if !artifacts.is_empty() {
        println!("\nartifacts");
        for a in &artifacts {
            println!("  {}  {} bytes  sha256 {}", a.path, a.size, &a.sha256[..16]);
        }
    }
    Ok(())
}

fn run_compare(store: &Store, ids: &[String], as_json: bool) -> Result<()> {
    let mut runs = Vec::new();
    for id in ids {
        let id = store.resolve_run_id(id)?;
        runs.push(store.get_run(&id)?);
    }
    let param_keys: BTreeSet<&String> = runs.iter().flat_map(|r| r.params.keys()).collect();
    let metric_keys: BTreeSet<&String> = runs.iter().flat_map(|r| r.metrics.keys()).collect();
    let differs = |k: &String| {
        let first = runs[0].params.get(k);
        runs.iter().any(|r| r.params.get(k) != first)
    };
    let (diff, same): (Vec<&String>, Vec<&String>) =
        param_keys.iter().copied().partition(|k| differs(k));
    if as_json {
        let params: BTreeMap<&String, Vec<Option<&String>>> = diff
            .iter()
            .map(|k| (*k, runs.iter().map(|r| r.params.get(*k)).collect()))
            .collect();
        let same_params: BTreeMap<&String, Option<&String>> =
            same.iter().map(|k| (*k, runs[0].params.get(*k))).collect();
        let metrics: BTreeMap<&String, Vec<Option<f64>>> = metric_keys
            .iter()
            .map(|k| {
                (
                    *k,
                    runs.iter()
                        .map(|r| r.metrics.get(*k).map(|m| m.value))
                        .collect(),
                )
            })
            .collect();
        let ids: Vec<&str> = runs.iter().map(|r| r.info.run_id.as_str()).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "runs": ids,
                "params_differing": params,
                "params_same": same_params,
                "metrics": metrics,
            }))?
        );
        return Ok(());
    }
    let mut header = vec![String::new()];
    header.extend(
        runs.iter()
            .map(|r| format!("{} {}", &r.info.run_id[..8], truncate(&r.info.run_name, 16))),
    );
    println!("params: {} differ, {} the same", diff.len(), same.len());
    if !diff.is_empty() {
        let rows: Vec<Vec<String>> = diff
            .iter()
            .map(|k| {
                let mut row = vec![format!("  {k}")];
                row.extend(runs.iter().map(|r| {
                    r.params
                        .get(*k)
                        .map(|v| truncate(v, 24))
                        .unwrap_or_else(|| "-".into())
                }));
                row
            })
            .collect();
        table(&header, &rows, &[]);
    }
    if !metric_keys.is_empty() {
        println!("\nmetrics (latest value)");
        let rows: Vec<Vec<String>> = metric_keys
            .iter()
            .map(|k| {
                let mut row = vec![format!("  {k}")];
                row.extend(runs.iter().map(|r| {
                    r.metrics
                        .get(*k)
                        .map(|m| num(m.value))
                        .unwrap_or_else(|| "-".into())
                }));
                row
            })
            .collect();
        let mut right = vec![false];
        right.extend(runs.iter().map(|_| true));
        table(&header, &rows, &right);
    }
    Ok(())
}

#[derive(Args)]
pub struct ModelsArgs {
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_models(store: Option<&str>, args: &ModelsArgs) -> Result<()> {
    let store = open(store)?;
    let models = store.list_models()?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "models": models }))?
        );
        return Ok(());
    }
    if models.is_empty() {
        println!("no registered models");
        return Ok(());
    }
    let header: Vec<String> = ["name", "latest", "aliases", "updated"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                m.latest_version.map(|v| v.to_string()).unwrap_or_default(),
                m.aliases
                    .iter()
                    .map(|(a, v)| format!("{a}→{v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                time(m.last_updated_time),
            ]
        })
        .collect();
    table(&header, &rows, &[false, true]);
    Ok(())
}

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Register a run's model artifact as the next version of a model.
    Register {
        /// Run id (or a unique prefix).
        run: String,
        /// Model name (created on first registration).
        #[arg(long)]
        name: String,
        /// Artifact path inside the run (default: the run's only `.whet` artifact).
        #[arg(long)]
        artifact: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Point an alias such as `champion` at a version (the move is kept in the history).
    Alias {
        name: String,
        version: i64,
        alias: String,
    },
    /// Move an alias to a version only when it beats the current holder on DATA (whet
    /// compare's verdict `better`), or with --force; the comparison is kept as evidence.
    Promote(crate::promote::PromoteArgs),
    /// A model's versions, aliases and alias history: NAME, NAME@alias or NAME/version.
    Show {
        model: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn cmd_model(store: Option<&str>, cmd: &ModelCommand, quiet: bool) -> Result<()> {
    let store = open(store)?;
    match cmd {
        ModelCommand::Register {
            run,
            name,
            artifact,
            json: as_json,
        } => {
            let run = store.resolve_run_id(run)?;
            let artifact = match artifact {
                Some(a) => a.clone(),
                None => {
                    let all = store.list_artifacts(&run)?;
                    let models: Vec<&str> = all
                        .iter()
                        .map(|a| a.path.as_str())
                        .filter(|p| p.ends_with(".whet"))
                        .collect();
                    match models.as_slice() {
                        [one] => one.to_string(),
                        _ => bail!(
                            "run {run} has {} model files (.whet) among its artifacts{}\n  hint: name one with --artifact PATH",
                            models.len(),
                            if all.is_empty() {
                                String::new()
                            } else {
                                format!(
                                    " ({})",
                                    all.iter()
                                        .map(|a| a.path.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            }
                        ),
                    }
                }
            };
            let metrics: Vec<(String, f64)> = store
                .get_run(&run)?
                .metrics
                .into_iter()
                .map(|(k, m)| (k, m.value))
                .filter(|(_, v)| !v.is_nan())
                .collect();
            let version = store.register_model(name, &run, &artifact, &metrics)?;
            if *as_json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "name": name, "version": version, "run_id": run, "source": artifact,
                    }))?
                );
            } else if !quiet {
                println!("registered {name} version {version} from run {run} ({artifact})");
            }
            Ok(())
        }
        ModelCommand::Alias {
            name,
            version,
            alias,
        } => {
            let before = store
                .get_model_version(name, &VersionRef::Alias(alias.clone()))
                .ok()
                .map(|v| v.version);
            store.set_alias(name, alias, *version)?;
            if !quiet {
                match before {
                    Some(b) if b != *version => {
                        println!("{name}@{alias} moved from version {b} to {version}")
                    }
                    _ => println!("{name}@{alias} → version {version}"),
                }
            }
            Ok(())
        }
        ModelCommand::Show {
            model,
            json: as_json,
        } => model_show(&store, model, *as_json),
        ModelCommand::Promote(args) => crate::promote::cmd_promote(&store, args, quiet),
    }
}

fn model_show(store: &Store, spec: &str, as_json: bool) -> Result<()> {
    let (name, which) = parse_model_ref(spec);
    let one = !spec.contains('@') && !spec.contains('/');
    if !one {
        let v = store.get_model_version(&name, &which)?;
        if as_json {
            println!("{}", serde_json::to_string_pretty(&v)?);
            return Ok(());
        }
        println!("{} version {}", v.name, v.version);
        println!("  run       {}", v.run_id);
        println!("  artifact  {}", v.source);
        println!("  status    {}", v.status);
        println!("  created   {}", time(v.creation_time));
        if !v.aliases.is_empty() {
            println!("  aliases   {}", v.aliases.join(", "));
        }
        // Set by `whet review`: the latest review of this version, with its report artifacts.
        if let Some(run) = v.tags.get("whet.review.run_id") {
            println!(
                "  review    {run} (whet run show {})",
                &run[..run.len().min(12)]
            );
        }
        if !v.metrics.is_empty() {
            println!("\nmetrics");
            let w = v.metrics.keys().map(|k| k.len()).max().unwrap_or(0);
            for (k, m) in &v.metrics {
                println!("  {k:<w$}  {:>12}", num(*m));
            }
        }
        return Ok(());
    }
    let versions = store.model_versions(&name)?;
    if versions.is_empty() {
        bail!(
            "model {name} not found in store {}\n  hint: `whet models` lists the registered models",
            store.location()
        );
    }
    let history = store.alias_history(&name)?;
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "name": name, "versions": versions, "alias_history": history,
            }))?
        );
        return Ok(());
    }
    println!("model {name}: {} versions", versions.len());
    let metric_keys: Vec<&String> = versions[0].metrics.keys().take(4).collect();
    let mut header: Vec<String> = ["version", "run", "artifact", "created", "aliases"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend(metric_keys.iter().map(|k| k.to_string()));
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            let mut row = vec![
                v.version.to_string(),
                v.run_id[..12].to_string(),
                truncate(&v.source, 24),
                time(v.creation_time),
                v.aliases.join(", "),
            ];
            row.extend(
                metric_keys
                    .iter()
                    .map(|k| v.metrics.get(*k).map(|m| num(*m)).unwrap_or_default()),
            );
            row
        })
        .collect();
    let mut right = vec![true, false, false, false, false];
    right.extend(metric_keys.iter().map(|_| true));
    table(&header, &rows, &right);
    if !history.is_empty() {
        println!("\nalias history");
        for h in &history {
            let what = match (h.previous_version, h.version) {
                (Some(p), Some(v)) => format!("{p} → {v}"),
                (None, Some(v)) => format!("set to {v}"),
                (Some(p), None) => format!("removed (was {p})"),
                (None, None) => "removed".to_string(),
            };
            println!(
                "  {}  {}  {what}  by {}",
                time(h.moved_time),
                h.alias,
                h.user_id
            );
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct GcArgs {
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_gc(store: Option<&str>, args: &GcArgs, quiet: bool) -> Result<()> {
    let store = open(store)?;
    let report = store.gc()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if !quiet {
        println!(
            "removed {} deleted runs, freed {} bytes of artifacts",
            report.runs_deleted.len(),
            report.artifact_bytes_freed
        );
        for (run, why) in &report.skipped {
            println!("  kept {run}: {why}");
        }
    }
    Ok(())
}
