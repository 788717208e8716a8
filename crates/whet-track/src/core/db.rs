//! Opening a store: which back end a store string names, checking and connecting to it,
//! WAL on SQLite, migrations; and run leases, which open, reads and the background renewal
//! task all go through.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::AssertSqlSafe;
use sqlx::any::AnyPoolOptions;

use super::{Arg, AsyncStore, Sql, new_run_id, now_ms};
use crate::error::{Error, Result};
use crate::schema::{self, Backend};

/// Opening: which back end a store string means, and how to show it without a password.
pub(crate) enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

pub(crate) fn parse_target(spec: &str) -> Target {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        Target::Postgres(spec.to_string())
    } else if let Some(rest) = spec.strip_prefix("sqlite://") {
        Target::Sqlite(PathBuf::from(rest))
    } else if let Some(rest) = spec.strip_prefix("sqlite:") {
        Target::Sqlite(PathBuf::from(rest))
    } else {
        Target::Sqlite(PathBuf::from(spec))
    }
}

/// A URL with its password replaced, for messages.
pub(crate) fn redact(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        if let Some(at) = rest.find('@') {
            let creds = &rest[..at];
            if let Some(colon) = creds.find(':') {
                return format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &creds[..colon],
                    &rest[at..]
                );
            }
        }
    }
    url.to_string()
}

/// A damaged file makes every pooled connection fail, and the pool would retry until its
/// timeout; one plain connection first turns that into an immediate error naming the file.
async fn check_sqlite_file(path: &Path, location: &str, busy_timeout: Duration) -> Result<()> {
    use sqlx::Connection;
    if let Ok(mut f) = std::fs::File::open(path) {
        use std::io::Read;
        let mut header = [0u8; 16];
        let n = f.read(&mut header).unwrap_or(0);
        if n > 0 && (n < 16 || &header != b"SQLite format 3\0") {
            return Err(Error::Corrupt {
                location: location.to_string(),
                detail: "the file does not start with the SQLite header".into(),
            });
        }
    }
    let mut conn = sqlx::AnyConnection::connect(&sqlite_url(path))
        .await
        .map_err(|e| Error::db(location, "open", e))?;
    let r = async {
        sqlx::query(AssertSqlSafe(format!(
            "PRAGMA busy_timeout = {}",
            busy_timeout.as_millis()
        )))
        .execute(&mut conn)
        .await?;
        sqlx::query("SELECT COUNT(*) FROM sqlite_master")
            .execute(&mut conn)
            .await
    }
    .await;
    let _ = conn.close().await;
    r.map_err(|e| Error::db(location, "read schema", e))?;
    Ok(())
}

fn sqlite_url(path: &Path) -> String {
    let mut s = String::from("sqlite://");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => s.push_str("%25"),
            '?' => s.push_str("%3F"),
            '#' => s.push_str("%23"),
            c => s.push(c),
        }
    }
    s.push_str("?mode=rwc");
    s
}

/// Where artifacts go when the options do not say: `$WHET_ARTIFACTS`, else `whet-artifacts/`
/// beside a SQLite file, else `./whet-artifacts` for PostgreSQL.
pub(crate) fn artifact_root_for(target: &Target, configured: Option<PathBuf>) -> PathBuf {
    if let Some(r) = configured {
        return r;
    }
    match std::env::var_os("WHET_ARTIFACTS") {
        Some(r) if !r.is_empty() => PathBuf::from(r),
        _ => match target {
            Target::Sqlite(p) => p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .join("whet-artifacts"),
            Target::Postgres(_) => PathBuf::from("whet-artifacts"),
        },
    }
}

impl AsyncStore {
    pub(crate) async fn open_target(
        target: Target,
        artifact_root: PathBuf,
        lease: Duration,
        busy_timeout: Duration,
    ) -> Result<AsyncStore> {
        sqlx::any::install_default_drivers();
        let (url, location, backend) = match &target {
            Target::Sqlite(p) => {
                if p.is_dir() {
                    return Err(Error::Invalid(format!(
                        "store {} is a directory\n  hint: name a database file, e.g. {}",
                        p.display(),
                        p.join("whet.db").display()
                    )));
                }
                if let Some(parent) = p
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty() && !d.is_dir())
                {
                    return Err(Error::Invalid(format!(
                        "cannot create store {}: folder {} does not exist\n  hint: create the folder first",
                        p.display(),
                        parent.display()
                    )));
                }
                (sqlite_url(p), p.display().to_string(), Backend::Sqlite)
            }
            Target::Postgres(u) => (u.clone(), redact(u), Backend::Postgres),
        };
        let mut options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 2 } else { 4 })
            .acquire_timeout(Duration::from_secs(60))
            .after_release(|conn, _meta| {
                Box::pin(async move {
                    use sqlx::Connection;
                    if !conn.is_in_transaction() {
                        return Ok(true);
                    }
                    // A dropped transaction's rollback is queued: let it run. If the
                    // transaction cannot end (SQLite rolls back by itself when a COMMIT fails
                    // on a full disk, and then refuses the ROLLBACK), the connection would
                    // refuse every later BEGIN: close it instead of pooling it.
                    conn.ping().await?;
                    Ok(!conn.is_in_transaction())
                })
            });
        if backend == Backend::Sqlite {
            let busy = format!("PRAGMA busy_timeout = {}", busy_timeout.as_millis());
            options = options.after_connect(move |conn, _meta| {
                let busy = busy.clone();
                Box::pin(async move {
                    // Writers wait for each other rather than fail.
                    sqlx::query(AssertSqlSafe(busy)).execute(&mut *conn).await?;
                    // NORMAL is durable in WAL mode except for the last transactions on power
                    // loss, never corrupting; FULL would cost an fsync per commit.
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    // PostgreSQL's LIKE is case-sensitive; make SQLite's the same.
                    sqlx::query("PRAGMA case_sensitive_like = ON")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        match &target {
            Target::Sqlite(p) => check_sqlite_file(p, &location, busy_timeout).await?,
            Target::Postgres(_) => {
                // The pool retries failed connects until its timeout; one plain connect
                // first reports a wrong URL or a stopped server at once.
                use sqlx::Connection;
                let conn = sqlx::AnyConnection::connect(&url).await.map_err(|e| Error::Open {
                    location: location.clone(),
                    hint: "check that the server is running and the URL's host, port, user, password and database are right".into(),
                    source: e,
                })?;
                let _ = conn.close().await;
            }
        }
        let pool = options.connect(&url).await.map_err(|e| {
            let hint = match backend {
                Backend::Sqlite => "check that the file is a whet store and the folder is writable",
                Backend::Postgres => {
                    "check that the server is running and the URL's host, port, user, password and database are right"
                }
            };
            match Error::db(&location, "open", e) {
                Error::Db { source, .. } => Error::Open {
                    location: location.clone(),
                    hint: hint.to_string(),
                    source,
                },
                other => other,
            }
        })?;
        let core = AsyncStore {
            pool,
            backend,
            location,
            artifact_root,
            lease,
            owner: format!("pid {} {}", std::process::id(), &new_run_id()[..8]),
            last_reap: std::sync::atomic::AtomicI64::new(now_ms()),
            write_gate: Default::default(),
            pg_url: (backend == Backend::Postgres).then(|| url.clone()),
        };
        if backend == Backend::Sqlite {
            core.enable_wal().await?;
        }
        core.migrate().await?;
        core.reap_expired().await?;
        Ok(core)
    }

    /// WAL lets readers and one writer work at once across processes. Switching needs an
    /// exclusive lock the busy timeout does not wait for, so retry when several processes
    /// create the store at the same moment.
    async fn enable_wal(&self) -> Result<()> {
        let mut attempt = 0;
        loop {
            let mode: Result<String, sqlx::Error> = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&self.pool)
                .await;
            let mode = mode.map_err(self.err("read journal mode"))?;
            if mode.eq_ignore_ascii_case("wal") {
                return Ok(());
            }
            match sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&self.pool)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if Error::is_transient(&e) && attempt < 50 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                }
                Err(e) => return Err(Error::db(&self.location, "enable WAL", e)),
            }
        }
    }

    async fn migrate(&self) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            // Serializes concurrent first opens; released at commit.
            sqlx::query("SELECT pg_advisory_xact_lock(727465746)")
                .execute(&mut *tx)
                .await
                .map_err(self.err("lock schema"))?;
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS whet_schema (version BIGINT PRIMARY KEY, applied_time BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await
        .map_err(self.err("create schema table"))?;
        let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM whet_schema")
            .fetch_one(&mut *tx)
            .await
            .map_err(self.err("read schema version"))?;
        let current = current.unwrap_or(0);
        if current > schema::LATEST {
            return Err(Error::SchemaTooNew {
                location: self.location.clone(),
                found: current,
                known: schema::LATEST,
            });
        }
        for (version, sql) in schema::MIGRATIONS {
            if *version <= current {
                continue;
            }
            for stmt in schema::statements(sql, self.backend, now_ms()) {
                sqlx::query(AssertSqlSafe(stmt))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| Error::db(&self.location, format!("migration {version}"), e))?;
            }
            sqlx::query("INSERT INTO whet_schema (version, applied_time) VALUES ($1, $2)")
                .bind(*version)
                .bind(now_ms())
                .execute(&mut *tx)
                .await
                .map_err(self.err("record migration"))?;
        }
        tx.commit().await.map_err(self.err("commit migrations"))?;
        Ok(())
    }

    pub async fn schema_version(&self) -> Result<i64> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM whet_schema")
            .fetch_one(&self.pool)
            .await
            .map_err(self.err("read schema version"))?;
        Ok(v.unwrap_or(0))
    }

    /// Runs whose owner stopped renewing the lease died without ending them: mark KILLED.
    /// A read first, so that searches do not take the write lock when nothing expired.
    pub async fn reap_expired(&self) -> Result<u64> {
        let now = now_ms();
        let any: Option<i64> = sqlx::query_scalar(
            "SELECT run_key FROM runs WHERE status = 'RUNNING' AND lease_until < $1 LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("look for expired runs"))?;
        if any.is_none() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "UPDATE runs SET status = 'KILLED', end_time = lease_until, lease_until = NULL \
             WHERE status = 'RUNNING' AND lease_until < $1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.err("mark expired runs killed"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(r.rows_affected())
    }

    /// Reaping from read paths at most a few times per lease: a run cannot be found dead
    /// sooner than its lease anyway, and the check is a round trip.
    pub(super) async fn maybe_reap(&self) -> Result<()> {
        let now = now_ms();
        let every = (self.lease.as_millis() as i64 / 4).max(50);
        let last = self.last_reap.load(std::sync::atomic::Ordering::Relaxed);
        if now - last >= every {
            self.last_reap
                .store(now, std::sync::atomic::Ordering::Relaxed);
            self.reap_expired().await?;
        }
        Ok(())
    }

    /// Extends the leases of these runs by one lease from now. Only RUNNING runs that hold a
    /// lease are renewed: a heartbeat cannot give one to a run an MLflow client started.
    pub async fn renew_leases(&self, runs: &[String]) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        let mut sql = Sql::new(self.backend);
        let until = sql.arg(Arg::I(now_ms() + self.lease.as_millis() as i64));
        let list = runs
            .iter()
            .map(|r| sql.arg(Arg::S(r.clone())))
            .collect::<Vec<_>>()
            .join(", ");
        sql.text = format!(
            "UPDATE runs SET lease_until = {until} WHERE status = 'RUNNING' AND lease_until IS NOT NULL AND run_uuid IN ({list})"
        );
        let mut tx = self.begin_write().await?;
        sql.query()
            .execute(&mut *tx)
            .await
            .map_err(self.err("renew run leases"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }
}
