//! `whet profile`: find data problems before modelling.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use whet_data::Task;
use whet_data::profile::{ProfileOptions, TargetMissing};

use crate::output;
use crate::read::{ReadArgs, load_table, parse_target_missing, parse_task};

#[derive(Args)]
pub struct ProfileArgs {
    /// CSV (optionally .gz) or Parquet file.
    file: PathBuf,
    /// Target column: adds the task, class balance and leakage checks.
    #[arg(long)]
    target: Option<String>,
    /// Force the task instead of inferring it: binary, multiclass or regression.
    #[arg(long, requires = "target", value_parser = parse_task)]
    task: Option<Task>,
    /// Rows whose target is missing: drop them (default) or stop with an error.
    #[arg(long, value_name = "drop|error", default_value = "drop", value_parser = parse_target_missing)]
    target_missing: TargetMissing,
    /// A test file to compare against: shared rows, missing columns, type mismatches.
    #[arg(long)]
    test: Option<PathBuf>,
    /// Print the profile as JSON (schema: docs/profile-json.md).
    #[arg(long)]
    json: bool,
    /// Also write a self-contained HTML report to this file.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    #[command(flatten)]
    read: ReadArgs,
}

pub fn cmd_profile(args: &ProfileArgs, quiet: bool) -> Result<()> {
    let started = Instant::now();
    // Ctrl-C stops a load at its next chunk and the profile before its next column or pass, and
    // is honoured before anything is printed or written, so no report is left behind.
    let stopped = |step: &str| {
        crate::interrupt::check(|| format!("stopped on request {step}; no profile was written"))
    };
    let table = load_table(&args.file, &args.read, quiet, false)
        .or_else(|e| stopped("while reading the data").and(Err(e)))?;
    let load_seconds = started.elapsed().as_secs_f64();
    stopped("after loading the data")?;
    let test = match &args.test {
        Some(p) => Some(
            load_table(p, &args.read, quiet, true)
                .or_else(|e| stopped("while reading the data").and(Err(e)))?,
        ),
        None => None,
    };
    stopped("after loading the data")?;
    let options = ProfileOptions {
        target: args.target.clone(),
        task: args.task,
        target_missing: args.target_missing,
        stop: Some(crate::interrupt::requested),
    };
    let profile = whet_data::profile::profile(&table, &options, test.as_ref())
        .or_else(|e| stopped("while profiling").and(Err(e.into())))?;
    let total_seconds = started.elapsed().as_secs_f64();
    stopped("after profiling")?;
    if let Some(path) = &args.html {
        let html = whet_data::report::profile_html(&profile);
        stopped("while writing the report")?;
        whet_data::fsutil::write_atomic(path, html.as_bytes())?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&profile)?);
    } else {
        output::print_profile(&profile);
        if !quiet {
            eprintln!(
                "loaded in {load_seconds:.2}s, profiled in {:.2}s{}",
                total_seconds - load_seconds,
                args.html
                    .as_ref()
                    .map(|p| format!("; report written to {}", p.display()))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}
