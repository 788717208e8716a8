//! The `whet` command line: argument parsing, progress and output formats over the library
//! crates. This file only dispatches; each command lives in its own module.

mod compare;
mod distributed;
mod drift;
mod exit;
mod export;
mod fit;
mod interrupt;
mod model_ref;
mod output;
mod predict;
mod profile;
mod progress;
mod promote;
mod read;
mod review;
mod serve_cmd;
mod server_cmd;
mod status;
mod study;
mod track_cmd;
mod train;
mod ui_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "whet", version, about = "An ML engineer's workbench for tabular data", long_about = None)]
struct Cli {
    /// Worker threads (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// No progress bars or informational messages.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Tracking store: a SQLite file, a postgres:// URL, or a whet server's http(s):// URL
    /// (token in $WHET_TOKEN) (default: $WHET_STORE, else ./whet.db).
    #[arg(long, global = true, value_name = "URL")]
    store: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Find data problems: per-column types, roles, statistics, and warnings with suggestions.
    Profile(profile::ProfileArgs),
    /// Fit one model with explicit parameters and report its metrics.
    Fit(fit::FitArgs),
    /// AutoML: search learners and hyperparameters with cross-validation, ensemble, save the model.
    Train(train::TrainArgs),
    /// Apply a model to new data (CSV streamed in chunks) and write predictions.
    Predict(predict::PredictArgs),
    /// Compare new data with a model's training data: per-column and prediction drift; exit 3 on drift.
    Drift(drift::DriftArgs),
    /// Review a model on labelled data: metrics with intervals, curves, explanations, slices,
    /// checks; HTML with --html.
    Review(review::ReviewArgs),
    /// Champion vs challenger on the same rows: gain with a paired interval and a verdict
    /// (exit code 0 only when the challenger is better).
    Compare(compare::CompareArgs),
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
    /// The whole store on one screen: progress per experiment, failed runs, running studies,
    /// each model's aliases and verdicts, and a plan of next actions with their commands.
    Status(status::StatusArgs),
    /// Remove runs marked deleted, and their artifacts, for good.
    Gc(track_cmd::GcArgs),
    /// Export a model (prep and predictor) as one ONNX graph for onnxruntime and other runtimes.
    Export(export::ExportArgs),
    /// Serve a model over HTTP: /predict, MLflow's /invocations, /metadata, /metrics.
    Serve(serve_cmd::ServeArgs),
    /// The team's tracking server: MLflow's REST API, artifact proxy, registry, tokens.
    Server(server_cmd::ServerArgs),
    /// Fit the trials of distributed studies (whet train --workers remote) from a PostgreSQL
    /// store's queue; drains and exits on SIGTERM, or when the queue is empty with --once.
    Worker(distributed::WorkerArgs),
    /// Look at the local store in a browser: starts the web UI on a loopback port and prints its URL.
    Ui(ui_cmd::UiArgs),
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
    let requested_threads = cli.threads.or_else(|| {
        // One core and no --threads: the same one-thread pool as --threads 1 (below).
        std::thread::available_parallelism()
            .is_ok_and(|n| n.get() == 1)
            .then_some(1)
    });
    if let Some(n) = requested_threads {
        let n = match exit::thread_count(n) {
            Ok((n, note)) => {
                if let Some(note) = note.filter(|_| !cli.quiet) {
                    eprintln!("note: {note}");
                }
                n
            }
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
        };
        // With one thread, the commands that fit on the main thread make it the pool's thread:
        // otherwise each parallel loop inside a fit (thousands per second) is handed to a
        // separate pool thread and waited for, and those hand-offs cost more than the work
        // on small data. Not for the servers, whose request threads also call into the pool
        // while the main thread never does.
        let fits_on_main_thread = matches!(
            cli.command,
            Command::Train(_) | Command::Fit(_) | Command::Worker(_)
        );
        let mut pool = rayon::ThreadPoolBuilder::new().num_threads(n);
        if n == 1 && fits_on_main_thread {
            pool = pool.use_current_thread();
        }
        // Only fails if a pool already exists, which cannot happen this early.
        let _ = pool.build_global();
    }
    if matches!(
        cli.command,
        Command::Train(_) | Command::Fit(_) | Command::Predict(_) | Command::Profile(_)
    ) {
        interrupt::install();
    }
    if matches!(cli.command, Command::Worker(_)) {
        interrupt::install_drain();
    }
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    let result = match &cli.command {
        Command::Profile(args) => done(profile::cmd_profile(args, cli.quiet)),
        Command::Fit(args) => done(fit::cmd_fit(args, cli.quiet)),
        Command::Train(args) => done(train::cmd_train(args, cli.store.as_deref(), cli.quiet)),
        Command::Predict(args) => done(predict::cmd_predict(args, cli.store.as_deref(), cli.quiet)),
        Command::Drift(args) => drift::cmd_drift(args, cli.store.as_deref(), cli.quiet),
        Command::Review(args) => done(review::cmd_review(args, cli.store.as_deref(), cli.quiet)),
        Command::Compare(args) => {
            compare::cmd_compare(args, cli.store.as_deref(), cli.quiet).map(ExitCode::from)
        }
        Command::Runs(args) => done(track_cmd::cmd_runs(cli.store.as_deref(), args, cli.quiet)),
        Command::Run(cmd) => done(track_cmd::cmd_run(cli.store.as_deref(), cmd, cli.quiet)),
        Command::Models(args) => done(track_cmd::cmd_models(cli.store.as_deref(), args)),
        Command::Model(cmd) => done(track_cmd::cmd_model(cli.store.as_deref(), cmd, cli.quiet)),
        Command::Status(args) => done(status::cmd_status(cli.store.as_deref(), args)),
        Command::Gc(args) => done(track_cmd::cmd_gc(cli.store.as_deref(), args, cli.quiet)),
        Command::Export(args) => done(export::cmd_export(args, cli.store.as_deref(), cli.quiet)),
        Command::Serve(args) => done(serve_cmd::cmd_serve(args, cli.store.as_deref(), cli.quiet)),
        Command::Server(args) => done(server_cmd::cmd_server(
            cli.store.as_deref(),
            args,
            cli.quiet,
        )),
        Command::Ui(args) => done(ui_cmd::cmd_ui(cli.store.as_deref(), args, cli.quiet)),
        Command::Worker(args) => done(distributed::cmd_worker(
            args,
            cli.store.as_deref(),
            cli.quiet,
        )),
    };
    match result {
        Ok(code) => code,
        Err(e) => exit::report(&e),
    }
}
