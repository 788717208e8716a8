//! The `whet` command line: argument parsing, progress and output formats over the library crates.

mod fit;
mod output;
mod predict;
mod progress;
mod study;
mod track_cmd;
mod train;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use whet_data::csv::CsvOptions;
use whet_data::profile::{ProfileOptions, TargetMissing};
use whet_data::{LoadOptions, Table, Task, TypeHint};

#[derive(Parser)]
#[command(name = "whet", version, about = "An ML engineer's workbench for tabular data", long_about = None)]
struct Cli {
    /// Worker threads (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// No progress bars or informational messages.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Tracking store: a SQLite file or postgres:// URL (default: $WHET_STORE, else ./whet.db).
    #[arg(long, global = true, value_name = "URL")]
    store: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Find data problems: per-column types, roles, statistics, and warnings with suggestions.
    Profile(ProfileArgs),
    /// Fit one model with explicit parameters and report its metrics.
    Fit(fit::FitArgs),
    /// AutoML: search learners and hyperparameters with cross-validation, ensemble, save the model.
    Train(train::TrainArgs),
    /// Apply a model to new data (CSV streamed in chunks) and write predictions.
    Predict(predict::PredictArgs),
    /// List and search tracked runs (MLflow filter syntax).
    Runs(track_cmd::RunsArgs),
    /// Show, compare, delete or restore tracked runs.
    #[command(subcommand)]
    Run(track_cmd::RunCommand),
    /// List registered models.
    Models(track_cmd::ModelsArgs),
    /// Register model versions, move aliases, show a model.
    #[command(subcommand)]
    Model(track_cmd::ModelCommand),
    /// Remove runs marked deleted, and their artifacts, for good.
    Gc(track_cmd::GcArgs),
}

/// How to read input files; shared by every command that loads data.
#[derive(Args, Clone, Debug)]
pub struct ReadArgs {
    /// Override inferred column kinds: COL=KIND,... with KIND one of numeric, categorical,
    /// boolean, datetime, text, id, ignore.
    #[arg(long, value_name = "COL=KIND,...", value_parser = parse_types)]
    types: Option<BTreeMap<String, TypeHint>>,
    /// Tokens read as missing, comma-separated (default: NA,N/A,null,NULL,NaN,?); an empty
    /// field is always missing.
    #[arg(long, value_name = "TOKENS", allow_hyphen_values = true)]
    na: Option<String>,
    /// Field delimiter (default: sniffed from , tab ; |). Use "\t" or "tab" for tabs.
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    delimiter: Option<u8>,
    /// The first row is data, not column names.
    #[arg(long, conflicts_with = "header")]
    no_header: bool,
    /// The first row holds column names (default: sniffed).
    #[arg(long)]
    header: bool,
}

#[derive(Args)]
struct ProfileArgs {
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

fn main() -> ExitCode {
    // Like other Unix tools, stop quietly when the reader of our output goes away
    // (`whet runs | head`) instead of failing on the write.
    #[cfg(unix)]
    // SAFETY: sets a signal disposition at startup, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    if let Some(n) = cli.threads {
        if n == 0 {
            eprintln!("error: --threads must be at least 1");
            return ExitCode::from(2);
        }
        // Only fails if a pool already exists, which cannot happen this early.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    let result = match &cli.command {
        Command::Profile(args) => cmd_profile(&cli, args),
        Command::Fit(args) => fit::cmd_fit(args, cli.quiet),
        Command::Train(args) => train::cmd_train(args, cli.store.as_deref(), cli.quiet),
        Command::Predict(args) => predict::cmd_predict(args, cli.quiet),
        Command::Runs(args) => track_cmd::cmd_runs(cli.store.as_deref(), args, cli.quiet),
        Command::Run(cmd) => track_cmd::cmd_run(cli.store.as_deref(), cmd, cli.quiet),
        Command::Models(args) => track_cmd::cmd_models(cli.store.as_deref(), args),
        Command::Model(cmd) => track_cmd::cmd_model(cli.store.as_deref(), cmd, cli.quiet),
        Command::Gc(args) => track_cmd::cmd_gc(cli.store.as_deref(), args, cli.quiet),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                // Library errors already include their cause; avoid printing it twice.
                let text = s.to_string();
                if !format!("{e}").contains(&text) {
                    eprintln!("  caused by: {text}");
                }
                source = s.source();
            }
            ExitCode::from(1)
        }
    }
}

impl ReadArgs {
    fn load_options(&self) -> Result<LoadOptions> {
        let mut csv = CsvOptions::default();
        if let Some(na) = &self.na {
            csv.na_values = na.split(',').map(str::to_string).collect();
        }
        csv.delimiter = self.delimiter;
        if self.no_header {
            csv.has_header = Some(false);
        } else if self.header {
            csv.has_header = Some(true);
        }
        Ok(LoadOptions {
            csv,
            types: self.types.clone().unwrap_or_default(),
            types_optional: false,
        })
    }
}

fn parse_delimiter(d: &str) -> Result<u8, String> {
    match d {
        "\\t" | "tab" | "\t" => Ok(b'\t'),
        s if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        _ => Err(format!(
            "must be one ASCII character (or \"tab\"), not '{d}'"
        )),
    }
}

fn parse_types(spec: &str) -> Result<BTreeMap<String, TypeHint>, String> {
    whet_data::table::parse_type_hints(spec).map_err(|e| e.to_string())
}

pub fn parse_task(s: &str) -> Result<Task, String> {
    Task::parse(s)
        .ok_or_else(|| format!("unknown task '{s}'; use binary, multiclass or regression"))
}

fn parse_target_missing(s: &str) -> Result<TargetMissing, String> {
    match s {
        "drop" => Ok(TargetMissing::Drop),
        "error" => Ok(TargetMissing::Error),
        other => Err(format!("must be 'drop' or 'error', not '{other}'")),
    }
}

pub fn read_options(read: &ReadArgs) -> Result<LoadOptions> {
    read.load_options()
}

/// Loads a data file. Secondary files (test, validation) may lack columns named in --types.
pub fn load_table(path: &Path, read: &ReadArgs, quiet: bool, secondary: bool) -> Result<Table> {
    let mut options = read.load_options()?;
    options.types_optional = secondary;
    let bar = progress::Bar::new(quiet, path);
    let table = whet_data::load(path, &options, &bar)?;
    Ok(table)
}

fn cmd_profile(cli: &Cli, args: &ProfileArgs) -> Result<()> {
    let started = Instant::now();
    let table = load_table(&args.file, &args.read, cli.quiet, false)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let test = match &args.test {
        Some(p) => Some(load_table(p, &args.read, cli.quiet, true)?),
        None => None,
    };
    let options = ProfileOptions {
        target: args.target.clone(),
        task: args.task,
        target_missing: args.target_missing,
    };
    let profile = whet_data::profile::profile(&table, &options, test.as_ref())?;
    let total_seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &args.html {
        let html = whet_data::report::profile_html(&profile);
        whet_data::fsutil::write_atomic(path, html.as_bytes())?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&profile)?);
    } else {
        output::print_profile(&profile);
        if !cli.quiet {
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
