//! whet-server: whet over HTTP. The tracking server (`whet server`) speaks MLflow's REST API,
//! so the unchanged `mlflow` client and whet's own `--store http://…` both work against it,
//! and proxies artifacts so a team shares one artifact folder.
//!
//! One tokio runtime runs both the HTTP server and the store (the async `whet_track::AsyncStore`);
//! handlers translate between MLflow's JSON and the store, and never hold policy of their own.
//!
//! Modules: `config` (what the command line sets), `serve` (binding, graceful shutdown,
//! request logging), `auth` (tokens, roles, the audit trail), `mlflow/` (the REST API, one
//! file per resource: experiments, runs, metrics, registry, logged models), `artifacts` (the
//! artifact proxy and listings), `whet_api` (whet's extension API under `/api/2.0/whet/…`,
//! for what whet clients need beyond MLflow's), `ui` (the web UI's embedded files and its one
//! extra read endpoint), `error` (MLflow's error shape).

mod artifacts;
mod auth;
pub mod config;
mod error;
mod mlflow;
mod serve;
mod state;
mod ui;
mod whet_api;

pub use config::{AuthMode, ServerConfig};
pub use error::{ApiError, ErrorCode};
pub use serve::{ServerError, run};

/// Logs to stderr: one line per request at info level (`--quiet`: warnings only), text or
/// JSON lines; `WHET_LOG` (e.g. `debug`, `whet_server=info,sqlx=warn`) overrides the level.
pub fn init_logging(json: bool, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("WHET_LOG")
        .unwrap_or_else(|_| EnvFilter::new(if quiet { "warn" } else { "info" }));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    // A second call (tests) finds a subscriber installed and keeps it.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
