//! `whet serve`: one model as an HTTP scoring service (`whet_serve`). A model named by alias
//! (`models:/NAME@ALIAS`, or `models:/NAME` for the latest version) is tracked: when the alias
//! moves, the new version is loaded, checked and swapped in without dropping a request.
//! With `--drift-window`, checks of the served traffic are recorded in the tracking store as
//! drift runs of the served version (as `whet drift` records them), rate-limited.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use whet_learn::model::Model;
use whet_serve::{DriftRecord, DriftRecorder, ServeConfig, ServedModel, Watcher};
use whet_track::{Store, VersionRef};

use crate::drift::{DriftRun, record};
use crate::model_ref::{ModelSource, Registered, load_model};

#[derive(Args)]
pub struct ServeArgs {
    /// Model file, or a registered model: `models:/NAME@ALIAS` (followed when the alias moves),
    /// `models:/NAME/VERSION`, `models:/NAME` (the latest version, followed).
    pub model: PathBuf,
    /// Address to listen on; 127.0.0.1 keeps the service on this machine.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Requests with more rows are refused with 413.
    #[arg(long, default_value_t = 100_000)]
    pub max_batch_rows: usize,
    /// Request bodies larger than this many MiB are refused with 413.
    #[arg(long, default_value_t = 64)]
    pub max_body_mb: usize,
    /// How often a model named by alias is looked up in the registry, in seconds.
    #[arg(long, default_value_t = 1.0)]
    pub poll_seconds: f64,
    /// Compare the last N scored rows with the model's training reference (as `whet drift`
    /// does) when the window fills and every N/10 rows after; shown in /metrics and GET /drift.
    #[arg(long, value_name = "N")]
    pub drift_window: Option<usize>,
    /// With --drift-window: record a check of the window in the tracking store as a drift run
    /// of the served version at most once per this many seconds (and whenever the verdict
    /// changes; 0 records every check). A model file is recorded only when a store is named
    /// (--store, $WHET_STORE).
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    pub drift_record_every: f64,
    /// With --drift-window: do not record checks in the tracking store (/metrics and /drift
    /// only).
    #[arg(long)]
    pub no_track: bool,
}

pub fn cmd_serve(args: &ServeArgs, store_flag: Option<&str>, quiet: bool) -> Result<()> {
    if args.max_batch_rows == 0 || args.max_body_mb == 0 {
        return Err(crate::exit::usage(
            "--max-batch-rows and --max-body-mb must be at least 1",
        ));
    }
    if !(args.poll_seconds >= 0.05 && args.poll_seconds.is_finite()) {
        return Err(crate::exit::usage(format!(
            "--poll-seconds must be at least 0.05, not {}",
            args.poll_seconds
        )));
    }
    if args.drift_window.is_some_and(|n| n < 100) {
        return Err(crate::exit::usage(
            "--drift-window must be at least 100 rows\nhint: a window of a few thousand rows tells drift from noise; 10000 is a good start",
        ));
    }
    if !(args.drift_record_every >= 0.0 && args.drift_record_every.is_finite()) {
        return Err(crate::exit::usage(format!(
            "--drift-record-every must be a number of seconds, at least 0, not {}",
            args.drift_record_every
        )));
    }
    let (model, source) = load_model(&args.model, store_flag)?;
    if args.drift_window.is_some() && model.reference.is_empty() {
        return Err(crate::exit::usage(format!(
            "--drift-window needs the reference profile of the training data, which {} does not hold (written before model format 3)\nhint: retrain the model, or run `whet drift MODEL DATA --reference TRAIN` on saved traffic",
            source.label
        )));
    }
    let text = args.model.to_string_lossy().into_owned();
    let (name, which) = match text.strip_prefix("models:/") {
        Some(r) => {
            let (n, w) = whet_track::parse_model_ref(r);
            (Some(n), Some(w))
        }
        None => (None, None),
    };
    let alias = match &which {
        Some(VersionRef::Alias(a)) => Some(a.clone()),
        _ => None,
    };
    let served = ServedModel::new(
        model,
        source.label.clone(),
        name.clone(),
        source.registered.as_ref().map(|r| r.version),
        alias.clone(),
    );
    let follows = matches!(which, Some(VersionRef::Alias(_) | VersionRef::Latest));
    let watcher: Option<Watcher> = match (name, which) {
        (Some(name), Some(which)) if follows => {
            let store = whet_track::Store::open_default(store_flag)?;
            let mut serving = served.version;
            let alias = alias.clone();
            Some(Box::new(move || {
                let version = store
                    .get_model_version(&name, &which)
                    .map_err(|e| format!("cannot look up models:/{name}: {e}"))?;
                if Some(version.version) == serving {
                    return Ok(None);
                }
                // Remembered before loading, so a version that fails is not retried every
                // poll; the next move of the alias is.
                serving = Some(version.version);
                let label = format!("version {} of '{name}'", version.version);
                let bytes = store
                    .read_artifact(&version.run_id, &version.source)
                    .map_err(|e| format!("cannot read {label}: {e}"))?;
                let model = Model::from_bytes(&bytes, &label)
                    .map_err(|e| format!("cannot load {label}: {e}"))?;
                Ok(Some(ServedModel::new(
                    model,
                    label,
                    Some(name.clone()),
                    Some(version.version),
                    alias.clone(),
                )))
            }) as Watcher)
        }
        _ => None,
    };
    let config = ServeConfig {
        host: args.host,
        port: args.port,
        workers: args.workers,
        max_body_bytes: args.max_body_mb.saturating_mul(1 << 20),
        max_batch_rows: args.max_batch_rows,
        poll: Duration::from_secs_f64(args.poll_seconds),
        drift_window: args.drift_window,
        drift_record_every: Duration::from_secs_f64(args.drift_record_every),
    };
    whet_server::init_logging(false, quiet);
    let recorder = drift_recorder(args, store_flag, served.name.is_some(), quiet);
    let label = source.label;
    whet_serve::run(config, served, watcher, recorder, |addr| {
        // One line on stdout that scripts and tests can wait for.
        println!("serving {label} on http://{addr}");
    })?;
    Ok(())
}

/// Records the checks of `--drift-window` in the tracking store, or says once why they are not.
/// The store is opened on the first check (on the recorder's thread), so a store that is
/// down when serving starts costs only the checks, not the service.
fn drift_recorder(
    args: &ServeArgs,
    store_flag: Option<&str>,
    registered: bool,
    quiet: bool,
) -> Option<DriftRecorder> {
    let window = args.drift_window?;
    if args.no_track {
        if !quiet {
            eprintln!("drift checks are not recorded (--no-track): see /metrics and /drift");
        }
        return None;
    }
    let named =
        store_flag.is_some() || std::env::var_os("WHET_STORE").is_some_and(|v| !v.is_empty());
    if !registered && !named {
        if !quiet {
            eprintln!(
                "drift checks of {} are not recorded: it is a model file and no tracking store is named; they show in /metrics and /drift\nhint: name a store with --store or WHET_STORE to record them as drift runs",
                args.model.display()
            );
        }
        return None;
    }
    let flag = store_flag.map(str::to_string);
    let mut store: Option<Store> = None;
    // The run that logged each served version, looked up once per version.
    let mut logged_by: Vec<Registered> = Vec::new();
    Some(Box::new(move |rec: &DriftRecord| {
        if store.is_none() {
            store = Some(Store::open_default(flag.as_deref()).map_err(|e| e.to_string())?);
        }
        let Some(s) = &store else {
            return Err("no tracking store".into());
        };
        let registered = match (&rec.name, rec.version) {
            (Some(name), Some(version)) => {
                match logged_by
                    .iter()
                    .find(|r| &r.name == name && r.version == version)
                {
                    Some(r) => Some(r.clone()),
                    None => {
                        let v = s
                            .get_model_version(name, &VersionRef::Number(version))
                            .map_err(|e| {
                                format!("cannot look up version {version} of '{name}': {e}")
                            })?;
                        let r = Registered {
                            name: name.clone(),
                            version,
                            run_id: v.run_id.to_string(),
                        };
                        logged_by.push(r.clone());
                        Some(r)
                    }
                }
            }
            _ => None,
        };
        let run = DriftRun {
            experiment: None,
            data: format!("served traffic: the last {window} rows scored by whet serve"),
            name: "drift of served traffic".to_string(),
            source: ModelSource {
                label: rec.label.clone(),
                registered,
            },
            tags: vec![
                ("whet.drift.source".into(), "serve".into()),
                ("whet.drift.window".into(), rec.window.to_string()),
            ],
        };
        record(s, &run, &rec.report)
            .map(|t| t.run_id)
            .map_err(|e| format!("{e:#}"))
    }))
}
