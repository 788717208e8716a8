//! The async core: one code path over sqlx's `Any` driver for SQLite and PostgreSQL.
//!
//! SQL is written once with `$n` placeholders, which both drivers accept. Write transactions
//! on SQLite start with `BEGIN IMMEDIATE` so that concurrent writers queue on the busy
//! timeout instead of failing when a read lock cannot be upgraded.
//!
//! [`Core`] is one type whose methods are spread over one file per concept (Rust allows an
//! `impl Core` block in each); a helper lives with the concept that uses it, and the few that
//! several files need are `pub(super)` where they are defined:
//!
//! - `mod.rs`: the `Core` handle, write transactions (`begin_write`), error context, the
//!   `Sql` builder for dynamically built statements, and the ids and clock every file uses.
//! - `db.rs`: store strings (`Target`, `redact`), checking and opening the database, WAL,
//!   migrations, and run leases: renewal, and reaping runs whose lease ran out.
//! - `runs.rs`: experiments; runs (start, end, delete and restore, params, metrics and
//!   `latest_metrics`, tags, reading a run, id prefixes, metric history); `run_key`, the
//!   active-run check every write to a run goes through.
//! - `search.rs`: `search_runs`: filter conditions and ordering to SQL, page tokens and the
//!   query fingerprint they carry.
//! - `artifacts.rs`: artifact records and path validation; the files themselves are
//!   `crate::artifacts`.
//! - `datasets.rs`: datasets logged as inputs of runs.
//! - `registry.rs`: registered models, versions, aliases and the alias history.
//! - `gc.rs`: permanent removal of deleted runs and their artifact folders.

mod artifacts;
mod datasets;
mod db;
mod gc;
mod registry;
mod runs;
mod search;

use std::path::PathBuf;
use std::time::Duration;

use sqlx::{AnyPool, AssertSqlSafe};

use crate::error::{Error, Result};
use crate::schema::Backend;

pub(crate) use db::{Target, parse_target, redact};

/// How long a run stays RUNNING without a heartbeat before a later open calls it KILLED.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

pub(crate) struct Core {
    pub pool: AnyPool,
    pub backend: Backend,
    pub location: String,
    pub artifact_root: PathBuf,
    pub lease: Duration,
    pub owner: String,
    last_reap: std::sync::atomic::AtomicI64,
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

fn default_user() -> String {
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

impl Core {
    fn err(&self, context: &'static str) -> impl Fn(sqlx::Error) -> Error + '_ {
        move |e| Error::db(&self.location, context, e)
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let r = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        r.map_err(self.err("begin transaction"))
    }
}
