//! The async core: one code path over sqlx's `Any` driver for SQLite and PostgreSQL.
//!
//! SQL is written once with `$n` placeholders, which both drivers accept. Write transactions
//! on SQLite start with `BEGIN IMMEDIATE` so that concurrent writers queue on the busy
//! timeout instead of failing when a read lock cannot be upgraded.
//!
//! [`AsyncStore`] is one type whose methods are spread over one file per concept (Rust allows an
//! `impl AsyncStore` block in each); a helper lives with the concept that uses it, and the few that
//! several files need are `pub(super)` where they are defined:
//!
//! - `mod.rs`: the `AsyncStore` handle (open, close, accessors), write transactions
//!   (`begin_write`), error context, the `Sql` builder for dynamically built statements, and
//!   the ids and clock every file uses.
//! - `db.rs`: store strings (`Target`, `redact`), the default artifact root, checking and
//!   opening the database, WAL, migrations, and run leases: renewal, and reaping runs whose
//!   lease ran out.
//! - `experiments.rs`: experiments: create, get-or-create, read with tags, rename, delete and
//!   restore with their runs, tags, search; `active_experiment`, the check new runs and
//!   models go through.
//! - `runs.rs`: runs: start (with or without a lease), end, update, delete and restore,
//!   reading a run with its data, id prefixes; `run_key`, the active-run check every write to
//!   a run goes through.
//! - `run_data.rs`: params, metrics and `latest_metrics`, tags, LogBatch, metric history
//!   (whole or paged); the `write_*` helpers that do their part inside a caller's transaction.
//! - `query.rs`: what every search shares: page sizes, page tokens and the query fingerprint
//!   they carry, and filter conditions and order to SQL for the searches other than runs'.
//! - `search.rs`: `search_runs`: filter conditions and ordering to SQL.
//! - `artifacts.rs`: artifact records (logged here, or recorded for a file the server wrote)
//!   and path validation; the files themselves are `crate::artifacts`.
//! - `datasets.rs`: run inputs (datasets with input tags) and outputs (logged models).
//! - `registry.rs`: registered models: CRUD with rename and cascade, tags, search.
//! - `versions.rs`: model versions: register a run artifact, create from any source, read,
//!   update, delete, tags, search.
//! - `aliases.rs`: aliases and the alias history.
//! - `logged_models.rs`: MLflow 3 logged models, their params, tags and metrics, and search.
//! - `tokens.rs`: server access tokens (only hashes stored) and the audit log.
//! - `gc.rs`: permanent removal of deleted runs and their artifact folders.
//! - `queue.rs`: the trial queue of distributed studies (PostgreSQL): data, studies, tasks
//!   claimed with leases.

mod aliases;
mod artifacts;
mod datasets;
mod db;
mod experiments;
mod gc;
mod logged_models;
mod query;
mod queue;
mod registry;
mod run_data;
mod runs;
mod search;
mod tokens;
mod versions;

use std::path::PathBuf;
use std::time::Duration;

use sqlx::{AnyPool, AssertSqlSafe};

use crate::error::{Error, Result};
use crate::schema::Backend;

pub use artifacts::validate_artifact_path;
pub(crate) use db::{Target, parse_target, redact};
pub use queue::{
    ClaimedTask, Completion, NewTask, QueueCounts, QueueEvent, QueueListener, QueueStudy, TaskInfo,
    TaskState,
};
pub use run_data::METRIC_HISTORY_PAGE_DEFAULT;
pub use runs::RUN_NAME_TAG;
pub use tokens::TOKEN_PREFIX;

/// How long a run stays RUNNING without a heartbeat before a later open calls it KILLED.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// The async store: every operation of whet-track as an `async fn`, for callers that have
/// their own tokio runtime (the MLflow-compatible server). The blocking [`crate::Store`] wraps
/// one of these.
///
/// `Send + Sync` and not `Clone`: share one handle as `Arc<AsyncStore>` (it owns the
/// connection pool, and every clone would otherwise need its own). Open it inside the runtime
/// that will use it, since the pool's connections belong to that runtime, and call
/// [`AsyncStore::close`] on graceful shutdown.
///
/// Runs started here hold a lease only when [`crate::NewRun::lease`] is set; nothing renews
/// it but [`AsyncStore::renew_leases`], which the blocking `Store` calls from its own task.
pub struct AsyncStore {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) location: String,
    pub(crate) artifact_root: PathBuf,
    pub(crate) lease: Duration,
    pub(crate) owner: String,
    last_reap: std::sync::atomic::AtomicI64,
    /// SQLite has one writer at a time. Writers of this process queue here, in order, rather
    /// than in SQLite's busy handler, which polls with sleeps of 1 to 100 ms and left the file
    /// idle between writes under concurrent log-batch requests. Other processes still meet
    /// the busy timeout.
    write_gate: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The PostgreSQL URL, for the trial queue's listeners (each holds its own connection).
    pub(crate) pg_url: Option<String>,
}

/// A write transaction; on SQLite it holds this process's write turn until it ends.
pub(crate) struct WriteTx {
    // Declared first, so a dropped transaction queues its rollback before the turn passes.
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn new_run_id() -> String {
    uuid::Uuid::new_v4().as_simple().to_string()
}

pub(crate) fn default_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".to_string())
}

/// A parameter for dynamically built SQL.
#[derive(Debug, Clone)]
enum Arg {
    I(i64),
    F(f64),
    S(String),
}

struct Sql {
    text: String,
    args: Vec<Arg>,
    /// Anonymous `?` placeholders instead of `$n`. SQLite looks up a named parameter by a
    /// linear scan, which made a 1,000-parameter INSERT spend most of its time binding; the
    /// SQL built here uses every argument once, in order, so `?` means the same thing.
    positional: bool,
}

impl Sql {
    fn new(backend: Backend) -> Sql {
        Sql {
            text: String::new(),
            args: Vec::new(),
            positional: backend == Backend::Sqlite,
        }
    }

    fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        if self.positional {
            "?".to_string()
        } else {
            format!("${}", self.args.len())
        }
    }

    fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
        let mut q = sqlx::query(AssertSqlSafe(self.text.clone()));
        for a in &self.args {
            q = match a {
                Arg::I(i) => q.bind(*i),
                Arg::F(f) => q.bind(*f),
                Arg::S(s) => q.bind(s.clone()),
            };
        }
        q
    }
}

impl AsyncStore {
    /// Opens (creating and migrating if needed) a store: a SQLite file path, `sqlite:PATH`,
    /// or a `postgres://` URL. Call it inside the runtime that will use the store.
    pub async fn open(spec: &str, options: crate::OpenOptions) -> Result<AsyncStore> {
        if crate::remote::is_remote(spec) {
            return Err(Error::Invalid(format!(
                "{} is a whet server, not a database: this needs the database itself\n  hint: give a SQLite file or a postgres:// URL (a server's own --store names its database; clients use the blocking Store, which speaks to a server)",
                redact(spec)
            )));
        }
        let target = parse_target(spec);
        let root = db::artifact_root_for(&target, options.artifact_root);
        let lease = options.lease.max(Duration::from_millis(100));
        AsyncStore::open_target(target, root, lease, options.busy_timeout).await
    }

    /// The file or URL (password hidden) this store was opened on.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The folder run and model artifacts live under.
    pub fn artifact_root(&self) -> &std::path::Path {
        &self.artifact_root
    }

    pub fn is_postgres(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// How long a run holding a lease stays RUNNING without a renewal.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Closes the pool: waits for queries in flight, then refuses new ones. For graceful
    /// shutdown; dropping the handle closes connections too, without waiting.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn err(&self, context: &'static str) -> impl Fn(sqlx::Error) -> Error + '_ {
        move |e| Error::db(&self.location, context, e)
    }

    async fn begin_write(&self) -> Result<WriteTx> {
        let (tx, turn) = match self.backend {
            Backend::Sqlite => {
                let turn = self.write_gate.clone().lock_owned().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await;
                (tx, Some(turn))
            }
            Backend::Postgres => (self.pool.begin().await, None),
        };
        Ok(WriteTx {
            tx: tx.map_err(self.err("begin transaction"))?,
            _turn: turn,
        })
    }
}
