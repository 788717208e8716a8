//! Experiment tracking and model registry for whet, on SQLite or PostgreSQL, directly or
//! through a `whet server`.
//!
//! Two handles on one async code path over sqlx's `Any` driver for both back ends:
//! - [`Store`], blocking, for the synchronous rest of whet (the CLI). On a database it owns a
//!   small tokio runtime (one worker thread, which also renews the leases of the runs this
//!   handle started). On `http://host:port` or `https://…` it is a client of a `whet server`
//!   ([`remote`]) with the same methods: a team member needs the URL and a token
//!   (`WHET_TOKEN`, else `MLFLOW_TRACKING_TOKEN`), not database credentials.
//! - [`AsyncStore`], for callers with their own runtime: the MLflow-compatible server. It has
//!   every operation, including what only MLflow clients need (experiment lifecycle, UpdateRun,
//!   LogBatch, dataset inputs and model outputs, the registry's CRUD and searches, MLflow 3
//!   logged models, access tokens and the audit log). Share it as `Arc<AsyncStore>`.
//!
//! ```no_run
//! use whet_track::{Metric, NewRun, RunStatus, Store, ArtifactSource, VersionRef};
//! # fn main() -> whet_track::Result<()> {
//! // "./whet.db" (SQLite, artifacts in ./whet-artifacts/), "postgres://user:pw@host/db",
//! // or a whet server: "http://tracking.example:5000".
//! let store = Store::open_default(None)?; // --store flag, else $WHET_STORE, else ./whet.db
//! let exp = store.get_or_create_experiment("churn")?;
//! let study = store.start_run(&NewRun {
//!     experiment: exp,
//!     name: "automl study".into(),
//!     source_command: "whet train churn.csv --target churned".into(),
//!     data_fingerprint: Some("sha256:…".into()),
//!     ..Default::default()
//! })?;
//! let trial = store.start_run(&NewRun { experiment: exp, parent: Some(study.clone()), ..Default::default() })?;
//! store.log_params(&trial, &[("learner".into(), "gbdt".into()), ("num_leaves".into(), "31".into())])?;
//! store.log_metrics(&trial, &[Metric::new("cv_auc", 0.91, 0)])?;
//! store.end_run(&trial, RunStatus::Finished)?;
//! store.log_artifact(&study, "model.whet", ArtifactSource::File("model.whet".as_ref()))?;
//! let version = store.register_model("churn", &study, "model.whet", &[("cv_auc".into(), 0.91)])?;
//! store.set_alias("churn", "champion", version)?;
//! store.end_run(&study, RunStatus::Finished)?;
//! let champion = store.get_model_version("churn", &VersionRef::Alias("champion".into()))?;
//! let bytes = store.read_artifact(&champion.run_id, &champion.source)?; // sha256-verified
//! # let _ = bytes; Ok(()) }
//! ```
//!
//! Guarantees:
//! - Every `log_*` call is one transaction: a batch is stored whole or not at all.
//! - A metric point the run already has (same key, value, timestamp and step) is stored once;
//!   history comes by timestamp, then step, then value, as in MLflow.
//! - Params are immutable: writing another value for a key is [`Error::ParamConflict`].
//! - A run started by a `Store` holds a lease renewed every `lease / 3`; if the process dies
//!   the lease runs out and the next open or search marks the run KILLED. Dropping a `Store`
//!   with runs still RUNNING ends them as KILLED (FAILED while panicking). Runs an MLflow
//!   client starts through the server hold no lease ([`NewRun::lease`]).
//! - Every store has experiment 0, "Default", as MLflow clients expect.
//! - Artifacts live at `<artifact root>/<experiment_id>/<run_id>/artifacts/<path>`, are
//!   written atomically, and [`Store::read_artifact`] verifies their sha256.
//! - Several processes may write to one SQLite file at once (WAL, `BEGIN IMMEDIATE`, a busy
//!   timeout); PostgreSQL handles concurrency itself.
//! - Searches take MLflow's filter syntax ([`filter`]) and `order_by` strings, and page
//!   with opaque tokens.
//!
//! A remote store (`http://…`) keeps these guarantees with four differences: a `log_*` call
//! larger than MLflow's batch limits (100 params or tags, 1,000 metric points) is sent as
//! several batches, each stored whole or not at all; run times and metric timestamps come
//! from the client's clock (as with the mlflow client); a run's lease is renewed by a heartbeat
//! from a background thread, for the lease the server sets; and artifacts go through the
//! server's artifact proxy, checked against their recorded sha256 on download
//! ([`Store::artifact_path`] downloads into a cache folder). Token management and the audit
//! log need the server's own database. Errors the server answers with come back as the
//! variants a local store gives ([`Error::NotFound`], [`Error::AlreadyExists`],
//! [`Error::Invalid`]); a refused or missing token is [`Error::Denied`], a server that cannot
//! be reached [`Error::Unreachable`]. Reads and idempotent writes are retried a few times on a
//! lost connection or a busy server; other writes only when they cannot have been sent.
//!
//! Where the code is:
//! - `lib.rs`: [`Store`] and [`OpenOptions`]: the back ends, the runtime, the lease-renewal
//!   task, and one blocking method per operation the CLI uses.
//! - `remote/`: the client of a `whet server` (`http.rs`: transport, retries, errors);
//!   [`remote::api`] is whet's extension API, shared with the server.
//! - `core/`: [`AsyncStore`], one file per concept (opening, migrations and leases;
//!   experiments; runs; run data; search; artifacts; datasets; registered models, versions
//!   and aliases; logged models; tokens; gc); its module doc maps them.
//! - `status.rs`: `whet status`: the store's facts in one report and the plan derived from
//!   them.
//! - `schema.rs`: migrations. `filter.rs` (with `filter/entities.rs`): the filter and
//!   `order_by` parser for every search. `artifacts.rs`: artifact files, written atomically
//!   and checksummed. `model.rs`: the public types. `error.rs`: [`Error`].

mod artifacts;
mod core;
mod error;
pub mod filter;
mod model;
pub mod remote;
mod schema;
pub mod status;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::core::{
    AsyncStore, ClaimedTask, Completion, DEFAULT_LEASE, METRIC_HISTORY_PAGE_DEFAULT, NewTask,
    QueueCounts, QueueEvent, QueueListener, QueueStudy, RUN_NAME_TAG, TOKEN_PREFIX, TaskInfo,
    TaskState, validate_artifact_path,
};
pub use crate::error::{Error, Result};
pub use crate::model::*;
pub use crate::schema::LATEST as SCHEMA_VERSION;

/// The sha256 (hex) of some bytes, as the trial queue names training data by.
pub fn content_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// How to open a store; `Default` is what [`Store::open`] uses.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Where artifacts go. None: `$WHET_ARTIFACTS`, else `whet-artifacts/` beside a SQLite
    /// file, else `./whet-artifacts` for PostgreSQL.
    pub artifact_root: Option<PathBuf>,
    /// A run not renewed for this long is taken as killed.
    pub lease: Duration,
    /// How long a SQLite write waits for another process's write to finish before failing
    /// with [`Error::Locked`].
    pub busy_timeout: Duration,
    /// The token for a remote store (`http://…`). None: `$WHET_TOKEN`, else
    /// `$MLFLOW_TRACKING_TOKEN`, else none.
    pub token: Option<String>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            artifact_root: None,
            lease: DEFAULT_LEASE,
            busy_timeout: Duration::from_secs(60),
            token: None,
        }
    }
}

/// The default store when neither a flag nor `WHET_STORE` names one.
pub const DEFAULT_STORE: &str = "./whet.db";

/// A handle on a store. Not `Clone`: open another handle for another thread or process.
///
/// One type over two back ends: a database this process opens itself (SQLite or
/// PostgreSQL, through [`AsyncStore`] on the handle's own runtime), or a `whet server` at an
/// `http://` or `https://` URL (through the server's REST API). The methods are the same;
/// where a remote store differs it says so.
pub struct Store {
    backend: Backend,
}

enum Backend {
    Local(Local),
    Remote(remote::Client),
}

struct Local {
    core: Arc<AsyncStore>,
    rt: tokio::runtime::Runtime,
    /// Runs started by this handle and not yet ended: their leases are renewed.
    owned: Arc<Mutex<BTreeSet<RunId>>>,
}

impl Local {
    fn run<T>(&self, f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        self.rt.block_on(f)
    }

    /// Stops renewing the lease of a run that ended.
    fn disown(&self, run: &str) {
        if let Ok(mut g) = self.owned.lock() {
            g.remove(run);
        }
    }
}

/// Runs the first expression on a local store's core (inside its runtime), the second on a
/// remote store's client.
macro_rules! either {
    ($self:ident, |$core:ident| $local:expr, |$client:ident| $remote:expr) => {
        match &$self.backend {
            Backend::Local(l) => {
                let $core = &l.core;
                l.run($local)
            }
            Backend::Remote($client) => $remote,
        }
    };
}

impl Store {
    /// Opens a store: a SQLite file path, `sqlite:PATH`, or a `postgres://` URL (created and
    /// migrated if needed), or a `whet server` at `http://HOST:PORT` / `https://…`, with the
    /// token from `WHET_TOKEN`, else `MLFLOW_TRACKING_TOKEN`.
    pub fn open(spec: &str) -> Result<Store> {
        Store::open_with(spec, OpenOptions::default())
    }

    /// The store named by `flag` (e.g. `--store`), else `$WHET_STORE`, else `./whet.db`.
    pub fn open_default(flag: Option<&str>) -> Result<Store> {
        Store::open(&store_spec(flag))
    }

    /// As [`Store::open_default`], for commands that only look at or change what is already
    /// there: a SQLite file that does not exist is [`Error::NoStore`] instead of a new, empty
    /// store left behind.
    pub fn open_existing(flag: Option<&str>) -> Result<Store> {
        let spec = store_spec(flag);
        if !remote::is_remote(&spec)
            && let core::Target::Sqlite(path) = core::parse_target(&spec)
            && !path.exists()
        {
            return Err(Error::NoStore {
                location: path.display().to_string(),
            });
        }
        Store::open(&spec)
    }

    /// As [`Store::open`]. A remote store takes only `options.token`: the server decides
    /// where artifacts go and how long a lease lasts.
    pub fn open_with(spec: &str, options: OpenOptions) -> Result<Store> {
        if remote::is_remote(spec) {
            return Ok(Store {
                backend: Backend::Remote(remote::Client::open(spec, options.token)?),
            });
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("whet-track")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let core = Arc::new(rt.block_on(AsyncStore::open(spec, options))?);
        let lease = core.lease;
        let owned: Arc<Mutex<BTreeSet<RunId>>> = Arc::default();
        {
            let core = Arc::clone(&core);
            let owned = Arc::clone(&owned);
            rt.spawn(async move {
                let mut tick = tokio::time::interval(lease / 3);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let runs: Vec<RunId> = match owned.lock() {
                        Ok(g) => g.iter().cloned().collect(),
                        Err(_) => return,
                    };
                    // A failed renewal is retried on the next tick; the lease has slack for two.
                    let _ = core.renew_leases(&runs).await;
                }
            });
        }
        Ok(Store {
            backend: Backend::Local(Local { core, rt, owned }),
        })
    }

    /// The file or URL (password hidden) this store was opened on.
    pub fn location(&self) -> &str {
        match &self.backend {
            Backend::Local(l) => &l.core.location,
            Backend::Remote(r) => r.location(),
        }
    }

    /// True for a store opened on a `whet server` URL.
    pub fn is_remote(&self) -> bool {
        matches!(self.backend, Backend::Remote(_))
    }

    /// The folder artifacts live under. For a remote store, the URL of the server's artifact
    /// proxy (as a path, not a folder on this machine): see [`Store::artifact_location`].
    pub fn artifact_root(&self) -> &Path {
        match &self.backend {
            Backend::Local(l) => &l.core.artifact_root,
            Backend::Remote(r) => r.artifact_root(),
        }
    }

    /// Where a run's artifacts are, for people: a folder, or for a remote store the URL of
    /// the run's folder in the server's artifact proxy.
    pub fn artifact_location(&self, run: &RunInfo) -> String {
        match &self.backend {
            Backend::Local(l) => l
                .core
                .artifact_root
                .join(&run.artifact_uri)
                .display()
                .to_string(),
            Backend::Remote(r) => r.artifact_location(&run.artifact_uri),
        }
    }

    /// Whether the database is PostgreSQL (for a remote store, the server's database).
    pub fn is_postgres(&self) -> bool {
        match &self.backend {
            Backend::Local(l) => l.core.backend == schema::Backend::Postgres,
            Backend::Remote(r) => r.is_postgres(),
        }
    }

    pub fn schema_version(&self) -> Result<i64> {
        either!(self, |c| c.schema_version(), |r| r.schema_version())
    }

    pub fn get_or_create_experiment(&self, name: &str) -> Result<ExperimentId> {
        either!(self, |c| c.get_or_create_experiment(name), |r| r
            .get_or_create_experiment(name))
    }

    pub fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        either!(self, |c| c.experiment_by_name(name), |r| r
            .experiment_by_name(name))
    }

    pub fn list_experiments(&self) -> Result<Vec<Experiment>> {
        either!(self, |c| c.list_experiments(), |r| r.list_experiments())
    }

    /// Starts a RUNNING run and keeps its lease alive until [`Store::end_run`] (whatever
    /// `new.lease` says: this handle renews it, from a background task, or for a remote store
    /// by a heartbeat to the server from a background thread).
    pub fn start_run(&self, new: &NewRun) -> Result<RunId> {
        match &self.backend {
            Backend::Local(l) => {
                let new = NewRun {
                    lease: true,
                    ..new.clone()
                };
                let id = l.run(l.core.start_run(&new))?;
                if let Ok(mut g) = l.owned.lock() {
                    g.insert(id.clone());
                }
                Ok(id)
            }
            Backend::Remote(r) => r.start_run(new),
        }
    }

    /// Records params; an existing key with another value is an error and nothing is written.
    /// (Remote: in MLflow's batches of 100, each stored whole or not at all.)
    pub fn log_params(&self, run: &str, params: &[(String, String)]) -> Result<()> {
        either!(self, |c| c.log_params(run, params), |r| r
            .log_params(run, params))
    }

    /// Appends metric points in one transaction and keeps each key's latest value.
    /// (Remote: in MLflow's batches of 1,000.)
    pub fn log_metrics(&self, run: &str, metrics: &[Metric]) -> Result<()> {
        either!(self, |c| c.log_metrics(run, metrics), |r| r
            .log_metrics(run, metrics))
    }

    pub fn set_tags(&self, run: &str, tags: &[(String, String)]) -> Result<()> {
        either!(self, |c| c.set_tags(run, tags), |r| r.set_tags(run, tags))
    }

    /// Params, metric points and tags in one transaction (remote: one MLflow LogBatch when
    /// they fit its limits): what a finished trial records, in one round trip not three.
    pub fn log_batch(
        &self,
        run: &str,
        params: &[(String, String)],
        metrics: &[Metric],
        tags: &[(String, String)],
    ) -> Result<()> {
        either!(self, |c| c.log_batch(run, metrics, params, tags), |r| r
            .log_all(run, params, metrics, tags))
    }

    /// [`Store::log_batch`] then [`Store::end_run`]: one transaction on a database, two
    /// requests through a server.
    pub fn log_batch_and_end(
        &self,
        run: &str,
        params: &[(String, String)],
        metrics: &[Metric],
        tags: &[(String, String)],
        status: RunStatus,
    ) -> Result<()> {
        match &self.backend {
            Backend::Local(l) => {
                l.run(l.core.log_batch_and_end(run, metrics, params, tags, status))?;
                l.disown(run);
                Ok(())
            }
            Backend::Remote(r) => {
                r.log_all(run, params, metrics, tags)?;
                r.end_run(run, status)
            }
        }
    }

    pub fn end_run(&self, run: &str, status: RunStatus) -> Result<()> {
        match &self.backend {
            Backend::Local(l) => {
                l.run(l.core.end_run(run, status))?;
                l.disown(run);
                Ok(())
            }
            Backend::Remote(r) => r.end_run(run, status),
        }
    }

    pub fn get_run(&self, run: &str) -> Result<Run> {
        either!(self, |c| c.get_run(run), |r| r.get_run(run))
    }

    /// A full run id from a unique prefix of at least 4 hex digits.
    pub fn resolve_run_id(&self, prefix: &str) -> Result<RunId> {
        either!(self, |c| c.resolve_run_id(prefix), |r| r
            .resolve_run_id(prefix))
    }

    /// Every point of one metric, by timestamp, then step, then value (MLflow's order).
    pub fn metric_history(&self, run: &str, key: &str) -> Result<Vec<Metric>> {
        either!(self, |c| c.metric_history(run, key), |r| r
            .metric_history(run, key))
    }

    pub fn search_runs(&self, search: &SearchRuns) -> Result<Page<Run>> {
        either!(self, |c| c.search_runs(search), |r| r.search_runs(search))
    }

    /// Marks a run deleted; [`Store::gc`] removes it for good.
    pub fn delete_run(&self, run: &str) -> Result<()> {
        either!(self, |c| c.delete_run(run), |r| r.delete_run(run))
    }

    pub fn restore_run(&self, run: &str) -> Result<()> {
        either!(self, |c| c.restore_run(run), |r| r.restore_run(run))
    }

    /// Marks RUNNING runs whose lease ran out as KILLED; returns how many. Open and search do
    /// this too.
    pub fn reap_expired(&self) -> Result<u64> {
        either!(self, |c| c.reap_expired(), |r| r.reap_expired())
    }

    /// Stores an artifact at `path` (relative, '/'-separated) under the run's folder (remote:
    /// uploaded through the server's artifact proxy, which records its size and sha256).
    pub fn log_artifact(
        &self,
        run: &str,
        path: &str,
        source: ArtifactSource<'_>,
    ) -> Result<ArtifactInfo> {
        match &self.backend {
            Backend::Local(l) => l.run(l.core.log_artifact(run, path, source)),
            Backend::Remote(r) => r.log_artifact(run, path, source),
        }
    }

    /// Reads an artifact, failing with [`Error::ArtifactChecksum`] if it changed on disk
    /// (remote: if what was downloaded is not what the server recorded).
    pub fn read_artifact(&self, run: &str, path: &str) -> Result<Vec<u8>> {
        match &self.backend {
            Backend::Local(l) => {
                let (file, info) = l.run(l.core.artifact_file(run, path))?;
                artifacts::read_verified(&file, &info)
            }
            Backend::Remote(r) => r.read_artifact(run, path),
        }
    }

    /// The artifact's file after verifying its checksum, for readers that want a path. For a
    /// remote store, a verified copy downloaded into a cache folder under the temp folder.
    pub fn artifact_path(&self, run: &str, path: &str) -> Result<PathBuf> {
        match &self.backend {
            Backend::Local(l) => {
                let (file, info) = l.run(l.core.artifact_file(run, path))?;
                artifacts::read_verified(&file, &info)?;
                Ok(file)
            }
            Backend::Remote(r) => r.artifact_path(run, path),
        }
    }

    pub fn list_artifacts(&self, run: &str) -> Result<Vec<ArtifactInfo>> {
        either!(self, |c| c.list_artifacts(run), |r| r.list_artifacts(run))
    }

    /// Records a dataset (once per fingerprint) as an input of the run; `context` says how it
    /// was used, e.g. "training".
    pub fn log_dataset(&self, run: &str, dataset: &Dataset, context: &str) -> Result<()> {
        either!(self, |c| c.log_dataset(run, dataset, context), |r| r
            .log_dataset(run, dataset, context))
    }

    pub fn run_datasets(&self, run: &str) -> Result<Vec<(Dataset, String)>> {
        either!(self, |c| c.run_datasets(run), |r| r.run_datasets(run))
    }

    /// Registers the run's artifact (a file or folder already logged) as the next version of
    /// model `name`, creating the model if needed, with `metrics` as the version's scores (a NaN
    /// one is left out). Returns the version number.
    pub fn register_model(
        &self,
        name: &str,
        run: &str,
        artifact_path: &str,
        metrics: &[(String, f64)],
    ) -> Result<i64> {
        either!(
            self,
            |c| c.register_model(name, run, artifact_path, metrics),
            |r| r.register_model(name, run, artifact_path, metrics)
        )
    }

    /// Points `alias` at a version, recording the move in the alias history.
    pub fn set_alias(&self, name: &str, alias: &str, version: i64) -> Result<()> {
        either!(self, |c| c.set_alias(name, alias, Some(version)), |r| r
            .set_alias(name, alias, Some(version)))
    }

    pub fn delete_alias(&self, name: &str, alias: &str) -> Result<()> {
        either!(self, |c| c.set_alias(name, alias, None), |r| r
            .set_alias(name, alias, None))
    }

    pub fn get_model_version(&self, name: &str, which: &VersionRef) -> Result<ModelVersion> {
        either!(self, |c| c.get_model_version(name, which), |r| r
            .get_model_version(name, which))
    }

    /// Sets a tag on a model version (e.g. the run that reviewed it).
    pub fn set_model_version_tag(
        &self,
        name: &str,
        version: i64,
        key: &str,
        value: &str,
    ) -> Result<()> {
        either!(
            self,
            |c| c.set_model_version_tag(name, version, key, value),
            |r| r.set_model_version_tag(name, version, key, value)
        )
    }

    /// All versions of a model, newest first.
    pub fn model_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        either!(self, |c| c.model_versions(name, None), |r| r
            .model_versions(name))
    }

    pub fn alias_history(&self, name: &str) -> Result<Vec<AliasMove>> {
        either!(self, |c| c.alias_history(name), |r| r.alias_history(name))
    }

    pub fn list_models(&self) -> Result<Vec<RegisteredModel>> {
        either!(self, |c| c.list_models(), |r| r.list_models())
    }

    /// The store's facts and the plan they call for ([`status`]). A remote store asks the
    /// server, which gathers them next to its database (the report's `now` is the server's).
    pub fn status(&self, query: &status::StatusQuery) -> Result<status::StatusReport> {
        either!(self, |c| c.status(query), |r| r.status(query))
    }

    /// Creates a server access token and returns its secret, which is shown only now. Not
    /// through a remote store: tokens are managed on the server's own database.
    pub fn create_token(&self, name: &str, role: Role) -> Result<String> {
        either!(self, |c| c.create_token(name, role), |r| Err(
            r.server_only("creating a token")
        ))
    }

    /// Every token, revoked ones included; never their secrets. Not through a remote store.
    pub fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        either!(self, |c| c.list_tokens(), |r| Err(
            r.server_only("listing tokens")
        ))
    }

    /// Not through a remote store.
    pub fn revoke_token(&self, name: &str) -> Result<()> {
        either!(self, |c| c.revoke_token(name), |r| Err(
            r.server_only("revoking a token")
        ))
    }

    /// The newest `limit` requests the server recorded (0: 100), newest first. Not through a
    /// remote store.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        either!(self, |c| c.audit_log(limit), |r| Err(
            r.server_only("reading the audit log")
        ))
    }

    /// Permanently removes runs marked deleted, with their artifacts; runs that registered
    /// model versions point at are kept and reported. A remote store needs an admin token.
    pub fn gc(&self) -> Result<GcReport> {
        either!(self, |c| c.gc(), |r| r.gc())
    }

    // The trial queue of distributed studies (`core/queue.rs`): PostgreSQL only, directly or
    // through a `whet server` on PostgreSQL (a SQLite store, or a server on one, says so).

    /// Stores training data once per content in the database; returns its sha256 (hex). Not
    /// through a server: there the submitter logs the data as an artifact of the study run
    /// ([`remote::api::queue_data_artifact`]), which workers fetch through the artifact proxy.
    pub fn queue_put_data(&self, bytes: &[u8]) -> Result<String> {
        either!(self, |c| c.queue_put_data(bytes), |r| Err(
            r.server_only("storing training data in the queue's table")
        ))
    }

    /// The training data with this sha256 from the database, checked. Not through a server
    /// (see [`Store::queue_put_data`]).
    pub fn queue_data(&self, sha256: &str) -> Result<Vec<u8>> {
        either!(self, |c| c.queue_data(sha256), |r| Err(
            r.server_only("reading training data from the queue's table")
        ))
    }

    pub fn queue_create_study(&self, study: &QueueStudy) -> Result<()> {
        either!(self, |c| c.queue_create_study(study), |r| r
            .queue_create_study(study))
    }

    pub fn queue_study(&self, study_id: &str) -> Result<QueueStudy> {
        either!(self, |c| c.queue_study(study_id), |r| r
            .queue_study(study_id))
    }

    pub fn queue_close_study(&self, study_id: &str) -> Result<()> {
        either!(self, |c| c.queue_close_study(study_id), |r| r
            .queue_close_study(study_id))
    }

    pub fn queue_enqueue(
        &self,
        study_id: &str,
        experiment_id: ExperimentId,
        tasks: &[NewTask],
    ) -> Result<Vec<i64>> {
        either!(
            self,
            |c| c.queue_enqueue(study_id, experiment_id, tasks),
            |r| r.queue_enqueue(study_id, experiment_id, tasks)
        )
    }

    pub fn queue_claim(
        &self,
        owner: &str,
        experiment: Option<ExperimentId>,
        lease: Duration,
    ) -> Result<Option<ClaimedTask>> {
        Ok(self.queue_claim_next(None, owner, experiment, lease)?.1)
    }

    /// Stores the previous claim's result (if any) and claims the next task in one round
    /// trip; returns whether the result counted (None without one) and the task claimed.
    pub fn queue_claim_next(
        &self,
        done: Option<&Completion>,
        owner: &str,
        experiment: Option<ExperimentId>,
        lease: Duration,
    ) -> Result<(Option<bool>, Option<ClaimedTask>)> {
        either!(
            self,
            |c| c.queue_claim_next(done, owner, experiment, lease),
            |r| r.queue_claim_next(done, owner, experiment, lease)
        )
    }

    pub fn queue_heartbeat(&self, key: i64, attempt: i64, lease: Duration) -> Result<bool> {
        either!(self, |c| c.queue_heartbeat(key, attempt, lease), |r| r
            .queue_heartbeat(key, attempt, lease))
    }

    pub fn queue_complete(&self, key: i64, attempt: i64, result: &[u8]) -> Result<bool> {
        either!(self, |c| c.queue_complete(key, attempt, result), |r| r
            .queue_complete(key, attempt, result))
    }

    pub fn queue_release(&self, key: i64, attempt: i64, error: &str) -> Result<bool> {
        either!(self, |c| c.queue_release(key, attempt, error), |r| r
            .queue_release(key, attempt, error))
    }

    pub fn queue_task_state(&self, key: i64) -> Result<TaskState> {
        either!(self, |c| c.queue_task_state(key), |r| r
            .queue_task_state(key))
    }

    pub fn queue_cancel(&self, keys: &[i64]) -> Result<()> {
        either!(self, |c| c.queue_cancel(keys), |r| r.queue_cancel(keys))
    }

    /// A listener for the queue's `event`s; None through a `whet server` (HTTP), where the
    /// caller polls the queue instead.
    pub fn queue_listen(&self, event: QueueEvent) -> Result<Option<QueueListener>> {
        either!(
            self,
            |c| async move { c.queue_listen(event).await.map(Some) },
            |_r| Ok(None)
        )
    }

    /// Waits up to `timeout` for events on `listener` (made by this store): the (study id,
    /// task key) of each. Callable from several threads at once.
    pub fn queue_wait(
        &self,
        listener: &mut QueueListener,
        timeout: Duration,
    ) -> Result<Vec<(String, i64)>> {
        match &self.backend {
            Backend::Local(l) => l.run(listener.wait(timeout)),
            Backend::Remote(_) => Ok(Vec::new()),
        }
    }

    pub fn queue_tasks(&self, study_id: Option<&str>) -> Result<Vec<TaskInfo>> {
        either!(self, |c| c.queue_tasks(study_id), |r| r
            .queue_tasks(study_id))
    }

    pub fn queue_counts(&self, study_id: Option<&str>) -> Result<QueueCounts> {
        either!(self, |c| c.queue_counts(study_id), |r| r
            .queue_counts(study_id))
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let status = if std::thread::panicking() {
            RunStatus::Failed
        } else {
            RunStatus::Killed
        };
        match &self.backend {
            Backend::Local(l) => {
                let runs: Vec<RunId> = match l.owned.lock() {
                    Ok(mut g) => std::mem::take(&mut *g).into_iter().collect(),
                    Err(_) => return,
                };
                for run in runs {
                    // Best effort: if this fails the lease still expires and the run is reaped
                    // later.
                    let _ = l.rt.block_on(l.core.end_run(&run, status));
                }
            }
            Backend::Remote(r) => r.close(status),
        }
    }
}

/// The store string to use: the flag, else `$WHET_STORE`, else [`DEFAULT_STORE`].
pub fn store_spec(flag: Option<&str>) -> String {
    if let Some(f) = flag.filter(|f| !f.is_empty()) {
        return f.to_string();
    }
    match std::env::var("WHET_STORE") {
        Ok(s) if !s.is_empty() => s,
        _ => DEFAULT_STORE.to_string(),
    }
}

/// Helpers for tests of this crate and its users; not part of the stable API.
#[doc(hidden)]
pub mod testing {
    use sqlx::Connection;

    use crate::error::{Error, Result};

    /// Holds SQLite's exclusive lock on `path` until the guard is dropped, as a stuck writer
    /// in another process would.
    pub struct SqliteLock {
        _rt: tokio::runtime::Runtime,
        _conn: sqlx::SqliteConnection,
    }

    pub fn lock_sqlite(path: &std::path::Path) -> Result<SqliteLock> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let location = path.display().to_string();
        let conn = rt.block_on(async {
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{location}"))
                .await
                .map_err(|e| Error::db(&location, "connect", e))?;
            sqlx::query("BEGIN EXCLUSIVE")
                .execute(&mut conn)
                .await
                .map_err(|e| Error::db(&location, "lock", e))?;
            Ok::<_, Error>(conn)
        })?;
        Ok(SqliteLock {
            _rt: rt,
            _conn: conn,
        })
    }

    /// Creates the store at `spec` at schema version `version` exactly, as a build that knew
    /// only the migrations up to it would have: for testing upgrades from an older store.
    pub fn create_at_version(spec: &str, version: i64) -> Result<()> {
        with_connection(spec, |mut conn, backend, location| async move {
            let r = async {
                sqlx::query(
                    "CREATE TABLE whet_schema (version BIGINT PRIMARY KEY, applied_time BIGINT NOT NULL)",
                )
                .execute(&mut conn)
                .await?;
                for (v, sql) in crate::schema::MIGRATIONS.iter().filter(|(v, _)| *v <= version) {
                    for stmt in crate::schema::statements(sql, backend, crate::core::now_ms()) {
                        sqlx::query(sqlx::AssertSqlSafe(stmt)).execute(&mut conn).await?;
                    }
                    sqlx::query("INSERT INTO whet_schema (version, applied_time) VALUES ($1, 0)")
                        .bind(*v)
                        .execute(&mut conn)
                        .await?;
                }
                Ok::<_, sqlx::Error>(())
            }
            .await;
            let _ = conn.close().await;
            r.map_err(|e| Error::db(&location, "create old schema", e))
        })
    }

    /// Runs SQL statements on the store at `spec` outside any whet code path (e.g. to write
    /// data the way an older build did).
    pub fn execute(spec: &str, statements: &[&str]) -> Result<()> {
        let statements: Vec<String> = statements.iter().map(|s| s.to_string()).collect();
        with_connection(spec, |mut conn, _, location| async move {
            let r = async {
                for stmt in statements {
                    sqlx::query(sqlx::AssertSqlSafe(stmt))
                        .execute(&mut conn)
                        .await?;
                }
                Ok::<_, sqlx::Error>(())
            }
            .await;
            let _ = conn.close().await;
            r.map_err(|e| Error::db(&location, "execute", e))
        })
    }

    /// (trial, fold, finished time in ms by the database's clock) of every fitted task of the
    /// trial queue, in queue order: what tests read the order folds were fitted in from.
    pub fn queue_finish_times(spec: &str) -> Result<Vec<(i64, i64, i64)>> {
        let out = std::sync::Mutex::new(Vec::new());
        with_connection(spec, |mut conn, _, location| {
            let out = &out;
            async move {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT trial, fold, finished_time FROM trial_queue \
                     WHERE state = 'done' ORDER BY task_key",
                )
                .fetch_all(&mut conn)
                .await;
                let _ = conn.close().await;
                let rows = rows.map_err(|e| Error::db(&location, "read the queue", e))?;
                let mut times = Vec::with_capacity(rows.len());
                for row in &rows {
                    let get = |i: usize| {
                        row.try_get::<i64, _>(i)
                            .map_err(|e| Error::db(&location, "read the queue", e))
                    };
                    times.push((get(0)?, get(1)?, get(2)?));
                }
                *out.lock().unwrap_or_else(|e| e.into_inner()) = times;
                Ok(())
            }
        })?;
        Ok(out.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    fn with_connection<F, Fut>(spec: &str, f: F) -> Result<()>
    where
        F: FnOnce(sqlx::AnyConnection, crate::schema::Backend, String) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        sqlx::any::install_default_drivers();
        let (url, backend) = match crate::core::parse_target(spec) {
            crate::core::Target::Sqlite(p) => (
                format!("sqlite://{}?mode=rwc", p.display()),
                crate::schema::Backend::Sqlite,
            ),
            crate::core::Target::Postgres(u) => (u, crate::schema::Backend::Postgres),
        };
        let location = crate::core::redact(spec);
        rt.block_on(async {
            let conn = sqlx::AnyConnection::connect(&url)
                .await
                .map_err(|e| Error::db(&location, "connect", e))?;
            f(conn, backend, location.clone()).await
        })
    }

    /// Creates an empty schema on the PostgreSQL server at `base_url` and returns a URL whose
    /// connections use it, so each test gets a fresh database without `CREATE DATABASE`.
    pub fn fresh_postgres_schema(base_url: &str) -> Result<String> {
        let schema = format!(
            "whet_test_{}",
            &uuid::Uuid::new_v4().as_simple().to_string()[..16]
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let location = crate::core::redact(base_url);
        rt.block_on(async {
            let mut conn = sqlx::PgConnection::connect(base_url)
                .await
                .map_err(|e| Error::db(&location, "connect", e))?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut conn)
                .await
                .map_err(|e| Error::db(&location, "create schema", e))?;
            conn.close()
                .await
                .map_err(|e| Error::db(&location, "close", e))
        })?;
        let sep = if base_url.contains('?') { '&' } else { '?' };
        Ok(format!(
            "{base_url}{sep}options=-c%20search_path%3D{schema}"
        ))
    }
}
