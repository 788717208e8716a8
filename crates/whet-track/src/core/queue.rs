//! The trial queue of distributed studies (PostgreSQL only): a submitter records a study and
//! enqueues tasks (one per trial and fold); `whet worker` processes claim them with
//! `SELECT … FOR UPDATE SKIP LOCKED`, keep them by heartbeats, and hand back a result that
//! counts only while their lease is valid.
//!
//! Leases: a claim sets `lease_until` and increments `attempts`, which is the claim's token.
//! Heartbeats, results and releases name the token and succeed only while the row is still
//! that claim's and its lease has not run out, so a worker that stalled past its lease (or
//! died) loses the task to the next claim and its late result is ignored: a task is done at
//! most once. An expired claim needs no reaper: claiming treats it as queued.
//!
//! Every time is the database's clock (`clock_timestamp()`), never a worker's, so machines
//! with skewed clocks agree on who holds a lease.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::AsyncStore;
use crate::error::{Error, Result};
use crate::model::ExperimentId;
use crate::schema::Backend;

/// The database's clock in milliseconds since the epoch.
const NOW: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// A distributed study as its submitter records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueStudy {
    pub study_id: String,
    pub experiment_id: ExperimentId,
    /// The study's tracked run.
    pub run_id: String,
    /// How a worker prepares the data (whet-automl's recipe, JSON).
    pub recipe: String,
    /// sha256 (hex) of the training data in `trial_queue_data`.
    pub data_sha256: String,
    /// "open" while the submitter runs, "closed" after.
    pub state: String,
}

/// One task to enqueue: a trial's fold and what the worker needs to fit it (JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewTask {
    pub trial: i64,
    pub fold: i64,
    pub spec: String,
}

/// A task a worker claimed; `attempt` is the claim's lease token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimedTask {
    pub key: i64,
    pub study_id: String,
    pub trial: i64,
    pub fold: i64,
    pub spec: String,
    pub attempt: i64,
}

/// Where a task stands, as the submitter polls it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting for a worker; `last_error` is why the previous claim gave it back.
    Queued {
        attempts: i64,
        last_error: Option<String>,
    },
    Running {
        owner: String,
        attempts: i64,
        last_error: Option<String>,
    },
    Done {
        #[serde(with = "crate::remote::api::base64_bytes")]
        result: Vec<u8>,
        owner: String,
    },
    Cancelled,
}

/// Task counts by state, for `whet worker`'s messages and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCounts {
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    pub cancelled: i64,
}

/// One task as listed for inspection (`whet worker --status`, tests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub key: i64,
    pub study_id: String,
    pub trial: i64,
    pub fold: i64,
    pub state: String,
    pub attempts: i64,
    /// The worker holding it (running) or that stored its result (done).
    pub owner: Option<String>,
    pub last_error: Option<String>,
}

/// A claim's result, handed back with the next claim ([`AsyncStore::queue_claim_next`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Completion {
    pub key: i64,
    pub attempt: i64,
    #[serde(with = "crate::remote::api::base64_bytes")]
    pub result: Vec<u8>,
}

/// What a [`QueueListener`] hears about. Each is announced on its own channel with the
/// payload "STUDY_ID TASK_KEY". A channel is per database, not per schema, so a listener
/// hears every study's events and its caller keeps the ones it knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueEvent {
    /// A worker stored a task's result (the submitter waits for these).
    Result,
    /// A running task was cancelled (its trial was pruned, or its study closed): the worker
    /// fitting it can stop.
    Cancelled,
}

impl QueueEvent {
    fn channel(self) -> &'static str {
        match self {
            QueueEvent::Result => "whet_queue_results",
            QueueEvent::Cancelled => "whet_queue_cancelled",
        }
    }

    /// SQL announcing this event for each row of `rows` (a query or CTE with `study_id` and
    /// `task_key`); PostgreSQL sends the notifications when the transaction commits.
    fn announce(self, rows: &str) -> String {
        format!(
            "SELECT pg_notify('{}', study_id || ' ' || task_key) FROM {rows}",
            self.channel()
        )
    }
}

/// Queue events as PostgreSQL announces them (LISTEN, on a connection of its own). They are
/// a hint, not the record: one sent while the connection was down is lost, so a waiter
/// still reads the queue now and then.
pub struct QueueListener {
    /// Always Some until dropped.
    listener: Option<sqlx::postgres::PgListener>,
    location: String,
    /// The runtime the listener's connection lives on.
    runtime: tokio::runtime::Handle,
}

impl Drop for QueueListener {
    fn drop(&mut self) {
        // sqlx closes a dropped listener's connection on a task of its runtime; the blocking
        // Store's callers drop it outside that runtime, where spawning would panic.
        let _entered = self.runtime.enter();
        self.listener.take();
    }
}

impl QueueListener {
    /// The (study id, task key) of the events heard, waiting up to `timeout` for the first
    /// (empty when none came in time).
    pub async fn wait(&mut self, timeout: Duration) -> Result<Vec<(String, i64)>> {
        let mut events = Vec::new();
        let Some(listener) = self.listener.as_mut() else {
            return Ok(events);
        };
        let mut wait = timeout;
        // After the first event, take those already received without waiting.
        while let Ok(next) = tokio::time::timeout(wait, listener.recv()).await {
            let n = next.map_err(|e| Error::db(&self.location, "receive queue events", e))?;
            if let Some((study, key)) = n.payload().split_once(' ')
                && let Ok(key) = key.parse::<i64>()
            {
                events.push((study.to_string(), key));
            }
            wait = Duration::ZERO;
        }
        Ok(events)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl AsyncStore {
    fn require_queue(&self) -> Result<()> {
        if self.backend == Backend::Postgres {
            return Ok(());
        }
        Err(Error::Invalid(format!(
            "store {} is SQLite: distributed trials (--workers remote, whet worker) need a PostgreSQL store that every machine can reach\n  hint: use --store postgres://USER@HOST/DB (or drop --workers remote to train on this machine)",
            self.location
        )))
    }

    /// Stores training data once per content; returns its sha256 (hex).
    pub async fn queue_put_data(&self, bytes: &[u8]) -> Result<String> {
        self.require_queue()?;
        let sha = sha256_hex(bytes);
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO trial_queue_data (sha256, bytes, size, created_time) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha.clone())
        .bind(bytes.to_vec())
        .bind(bytes.len() as i64)
        .bind(super::now_ms())
        .execute(&mut *tx)
        .await
        .map_err(self.err("store training data"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(sha)
    }

    /// The training data with this sha256, checked against it.
    pub async fn queue_data(&self, sha256: &str) -> Result<Vec<u8>> {
        self.require_queue()?;
        let bytes: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT bytes FROM trial_queue_data WHERE sha256 = $1")
                .bind(sha256.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(self.err("read training data"))?;
        let bytes = bytes.ok_or_else(|| Error::NotFound {
            what: format!("training data sha256:{sha256} of a distributed study"),
            location: self.location.clone(),
        })?;
        let got = sha256_hex(&bytes);
        if got != sha256 {
            return Err(Error::Corrupt {
                location: self.location.clone(),
                detail: format!(
                    "training data sha256:{sha256} does not match its content (sha256:{got}, {} bytes); submit the study again to upload it afresh",
                    bytes.len()
                ),
            });
        }
        Ok(bytes)
    }

    pub async fn queue_create_study(&self, study: &QueueStudy) -> Result<()> {
        self.require_queue()?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO trial_queue_studies (study_id, experiment_id, run_uuid, recipe, data_sha256, state, created_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(study.study_id.clone())
        .bind(study.experiment_id)
        .bind(study.run_id.clone())
        .bind(study.recipe.clone())
        .bind(study.data_sha256.clone())
        .bind(study.state.clone())
        .bind(super::now_ms())
        .execute(&mut *tx)
        .await
        .map_err(self.err("record distributed study"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    pub async fn queue_study(&self, study_id: &str) -> Result<QueueStudy> {
        self.require_queue()?;
        let row = sqlx::query(
            "SELECT study_id, experiment_id, run_uuid, recipe, data_sha256, state \
             FROM trial_queue_studies WHERE study_id = $1",
        )
        .bind(study_id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("read distributed study"))?
        .ok_or_else(|| Error::NotFound {
            what: format!("distributed study {study_id}"),
            location: self.location.clone(),
        })?;
        let get = |e| Error::db(&self.location, "read distributed study", e);
        Ok(QueueStudy {
            study_id: row.try_get(0).map_err(get)?,
            experiment_id: row.try_get(1).map_err(get)?,
            run_id: row.try_get(2).map_err(get)?,
            recipe: row.try_get(3).map_err(get)?,
            data_sha256: row.try_get(4).map_err(get)?,
            state: row.try_get(5).map_err(get)?,
        })
    }

    /// Ends a study: what it still had queued or running is cancelled.
    pub async fn queue_close_study(&self, study_id: &str) -> Result<()> {
        self.require_queue()?;
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE trial_queue_studies SET state = 'closed' WHERE study_id = $1")
            .bind(study_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err("close distributed study"))?;
        let announce = QueueEvent::Cancelled.announce("cancelled WHERE running");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH cancelled AS (\
                 UPDATE trial_queue SET state = 'cancelled', finished_time = {NOW}, result = NULL \
                 WHERE study_id = $1 AND state IN ('queued', 'running') \
                 RETURNING task_key, study_id, lease_owner IS NOT NULL AS running) \
             SELECT COUNT(*) FROM ({announce}) AS announced"
        )))
        .bind(study_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(self.err("cancel the study's tasks"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Enqueues tasks in order (earlier keys are claimed first); returns their keys.
    pub async fn queue_enqueue(
        &self,
        study_id: &str,
        experiment_id: ExperimentId,
        tasks: &[NewTask],
    ) -> Result<Vec<i64>> {
        self.require_queue()?;
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        // One statement for a trial's folds: rows are inserted, and keys drawn, in the
        // order given, which is the order workers claim them in.
        let rows = (0..tasks.len())
            .map(|i| {
                format!(
                    "($1, $2, ${}, ${}, ${}, 'queued', $3)",
                    4 + 3 * i,
                    5 + 3 * i,
                    6 + 3 * i
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO trial_queue (study_id, experiment_id, trial, fold, spec, state, created_time) \
             VALUES {rows} RETURNING task_key, trial, fold"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(study_id.to_string())
            .bind(experiment_id)
            .bind(super::now_ms());
        for t in tasks {
            query = query.bind(t.trial).bind(t.fold).bind(t.spec.clone());
        }
        let mut tx = self.begin_write().await?;
        let returned = query
            .fetch_all(&mut *tx)
            .await
            .map_err(self.err("enqueue trial"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        let get = |e| Error::db(&self.location, "enqueue trial", e);
        let mut by_task = std::collections::HashMap::new();
        for row in &returned {
            let key: i64 = row.try_get(0).map_err(get)?;
            let trial: i64 = row.try_get(1).map_err(get)?;
            let fold: i64 = row.try_get(2).map_err(get)?;
            by_task.insert((trial, fold), key);
        }
        tasks
            .iter()
            .map(|t| {
                by_task.get(&(t.trial, t.fold)).copied().ok_or_else(|| {
                    Error::Invalid(format!(
                        "enqueueing trial {} fold {} returned no key (was it given twice?)",
                        t.trial, t.fold
                    ))
                })
            })
            .collect()
    }

    /// Claims the oldest task that is queued or whose lease ran out (of one experiment's
    /// studies, if given) for `lease`; None when there is none.
    pub async fn queue_claim(
        &self,
        owner: &str,
        experiment: Option<ExperimentId>,
        lease: Duration,
    ) -> Result<Option<ClaimedTask>> {
        Ok(self
            .queue_claim_next(None, owner, experiment, lease)
            .await?
            .1)
    }

    /// Stores the previous claim's result (if any; as [`AsyncStore::queue_complete`]) and
    /// claims the next task (as [`AsyncStore::queue_claim`]) in one statement, so that a busy
    /// worker pays one round trip per task. Returns whether the result counted (None without
    /// one) and the task claimed.
    ///
    /// One statement is one transaction: both happen or neither. The claim skips the task
    /// whose result is being stored, which PostgreSQL could otherwise see as claimable (its
    /// lease ran out) in the statement's snapshot and update twice.
    ///
    /// A task whose lease ran out goes first, then the oldest queued first fold, then the
    /// oldest queued task. A first fold is never wasted (a trial is pruned only after a fold's
    /// result), while a later fold of the trial in hand is when an earlier one prunes it: with
    /// two workers this order cut the folds stopped mid-fit by a quarter (bench/RESULTS.md).
    /// Each is one walk of the `(state, task_key)` index (the first fold's reads the queued
    /// rows up to one: a study queues two trials' folds at most), so a claim costs about the
    /// same with ten tasks queued or ten thousand (an `OR` of them made PostgreSQL read and
    /// sort every queued row).
    ///
    /// The result is stored before the claim looks for a task (the claim's one-time filter
    /// reads `done`). Otherwise two workers could deadlock: `SKIP LOCKED` keeps the lock on a
    /// row it locked and then found taken (claimed after the statement's snapshot), and that
    /// row may be the one whose result another worker is storing while it holds such a lock
    /// on this worker's row. Stored first, a statement waits (if at all) before it holds any
    /// lock another could want. A deadlock PostgreSQL still reports is retried: it rolled the
    /// whole statement back.
    pub async fn queue_claim_next(
        &self,
        done: Option<&Completion>,
        owner: &str,
        experiment: Option<ExperimentId>,
        lease: Duration,
    ) -> Result<(Option<bool>, Option<ClaimedTask>)> {
        self.require_queue()?;
        let announce = QueueEvent::Result.announce("done");
        let sql = format!(
            "WITH done AS (\
                 UPDATE trial_queue SET state = 'done', result = $6, result_owner = lease_owner, \
                 finished_time = {NOW}, lease_until = NULL \
                 WHERE task_key = $4 AND attempts = $5 AND state = 'running' AND lease_until >= {NOW} \
                 RETURNING task_key, study_id), \
             announced AS ({announce}), \
             next AS (\
                 UPDATE trial_queue SET state = 'running', attempts = attempts + 1, lease_owner = $1, \
                 lease_until = {NOW} + $2 \
                 WHERE task_key = COALESCE(\
                     (SELECT task_key FROM trial_queue \
                         WHERE (SELECT COUNT(*) FROM done) >= 0 \
                         AND state = 'running' AND lease_until < {NOW} \
                         AND ($3 < 0 OR experiment_id = $3) AND task_key <> $4 \
                         ORDER BY task_key LIMIT 1 FOR UPDATE SKIP LOCKED), \
                     (SELECT task_key FROM trial_queue \
                         WHERE (SELECT COUNT(*) FROM done) >= 0 \
                         AND state = 'queued' AND fold = 0 AND ($3 < 0 OR experiment_id = $3) \
                         ORDER BY task_key LIMIT 1 FOR UPDATE SKIP LOCKED), \
                     (SELECT task_key FROM trial_queue \
                         WHERE (SELECT COUNT(*) FROM done) >= 0 \
                         AND state = 'queued' AND ($3 < 0 OR experiment_id = $3) \
                         ORDER BY task_key LIMIT 1 FOR UPDATE SKIP LOCKED)) \
                 RETURNING task_key, study_id, trial, fold, spec, attempts) \
             SELECT (SELECT COUNT(*) FROM announced), next.task_key, next.study_id, next.trial, \
                 next.fold, next.spec, next.attempts \
             FROM (SELECT 1) AS one LEFT JOIN next ON TRUE"
        );
        let (key, attempt, result) = match done {
            Some(c) => (c.key, c.attempt, c.result.clone()),
            None => (-1, -1, Vec::new()),
        };
        let mut tries = 0;
        let row = loop {
            let r = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(owner.to_string())
                .bind(lease.as_millis() as i64)
                .bind(experiment.unwrap_or(-1))
                .bind(key)
                .bind(attempt)
                .bind(result.clone())
                .fetch_one(&self.pool)
                .await;
            match r {
                Err(e) if Error::is_transient(&e) && tries < 5 => tries += 1,
                r => break r.map_err(self.err("claim a trial"))?,
            }
        };
        let get = |e| Error::db(&self.location, "read claimed trial", e);
        let kept: i64 = row.try_get(0).map_err(get)?;
        let kept = done.map(|_| kept == 1);
        let Some(task_key) = row.try_get::<Option<i64>, _>(1).map_err(get)? else {
            return Ok((kept, None));
        };
        Ok((
            kept,
            Some(ClaimedTask {
                key: task_key,
                study_id: row.try_get(2).map_err(get)?,
                trial: row.try_get(3).map_err(get)?,
                fold: row.try_get(4).map_err(get)?,
                spec: row.try_get(5).map_err(get)?,
                attempt: row.try_get(6).map_err(get)?,
            }),
        ))
    }

    /// Extends a claim's lease; false when the claim is no longer this worker's (its lease ran
    /// out, or the task was cancelled).
    pub async fn queue_heartbeat(&self, key: i64, attempt: i64, lease: Duration) -> Result<bool> {
        self.require_queue()?;
        let sql = format!(
            "UPDATE trial_queue SET lease_until = {NOW} + $3 \
             WHERE task_key = $1 AND attempts = $2 AND state = 'running' AND lease_until >= {NOW}"
        );
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .bind(attempt)
            .bind(lease.as_millis() as i64)
            .execute(&mut *tx)
            .await
            .map_err(self.err("renew a trial's lease"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(r.rows_affected() == 1)
    }

    /// Stores a claim's result; false (and nothing stored) when the lease ran out first.
    /// One statement, so one round trip and its own transaction.
    pub async fn queue_complete(&self, key: i64, attempt: i64, result: &[u8]) -> Result<bool> {
        self.require_queue()?;
        let announce = QueueEvent::Result.announce("done");
        let sql = format!(
            "WITH done AS (\
                 UPDATE trial_queue SET state = 'done', result = $3, result_owner = lease_owner, \
                 finished_time = {NOW}, lease_until = NULL \
                 WHERE task_key = $1 AND attempts = $2 AND state = 'running' AND lease_until >= {NOW} \
                 RETURNING task_key, study_id) \
             SELECT COUNT(*) FROM ({announce}) AS announced"
        );
        let stored: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .bind(attempt)
            .bind(result.to_vec())
            .fetch_one(&self.pool)
            .await
            .map_err(self.err("store a trial's result"))?;
        Ok(stored == 1)
    }

    /// A listener for `event`s (LISTEN on a connection of its own): a submitter sleeps until
    /// a result arrives instead of polling each task's state, and a worker hears at once
    /// that the fold it fits is no longer wanted.
    pub async fn queue_listen(&self, event: QueueEvent) -> Result<QueueListener> {
        self.require_queue()?;
        let url = self.pg_url.as_deref().unwrap_or_default();
        let mut listener = sqlx::postgres::PgListener::connect(url)
            .await
            .map_err(self.err("listen to the trial queue"))?;
        listener
            .listen(event.channel())
            .await
            .map_err(self.err("listen to the trial queue"))?;
        Ok(QueueListener {
            listener: Some(listener),
            location: self.location.clone(),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// Gives a claimed task back to the queue, saying why (e.g. the data could not be read).
    pub async fn queue_release(&self, key: i64, attempt: i64, error: &str) -> Result<bool> {
        self.require_queue()?;
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "UPDATE trial_queue SET state = 'queued', last_error = $3, lease_owner = NULL, lease_until = NULL \
             WHERE task_key = $1 AND attempts = $2 AND state = 'running'",
        )
        .bind(key)
        .bind(attempt)
        .bind(error.to_string())
        .execute(&mut *tx)
        .await
        .map_err(self.err("give a trial back"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn queue_task_state(&self, key: i64) -> Result<TaskState> {
        self.require_queue()?;
        let row = sqlx::query(
            "SELECT state, attempts, lease_owner, last_error, result, result_owner FROM trial_queue WHERE task_key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("read a trial's state"))?
        .ok_or_else(|| Error::NotFound {
            what: format!("queued task {key}"),
            location: self.location.clone(),
        })?;
        let get = |e| Error::db(&self.location, "read a trial's state", e);
        let state: String = row.try_get(0).map_err(get)?;
        let attempts: i64 = row.try_get(1).map_err(get)?;
        let last_error: Option<String> = row.try_get(3).map_err(get)?;
        Ok(match state.as_str() {
            "queued" => TaskState::Queued {
                attempts,
                last_error,
            },
            "running" => TaskState::Running {
                owner: row
                    .try_get::<Option<String>, _>(2)
                    .map_err(get)?
                    .unwrap_or_default(),
                attempts,
                last_error,
            },
            "done" => TaskState::Done {
                result: row
                    .try_get::<Option<Vec<u8>>, _>(4)
                    .map_err(get)?
                    .unwrap_or_default(),
                owner: row
                    .try_get::<Option<String>, _>(5)
                    .map_err(get)?
                    .unwrap_or_default(),
            },
            _ => TaskState::Cancelled,
        })
    }

    /// Cancels tasks not yet done (a pruned trial's remaining folds).
    pub async fn queue_cancel(&self, keys: &[i64]) -> Result<()> {
        self.require_queue()?;
        if keys.is_empty() {
            return Ok(());
        }
        let list = keys
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let mut tx = self.begin_write().await?;
        let announce = QueueEvent::Cancelled.announce("cancelled WHERE running");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH cancelled AS (\
                 UPDATE trial_queue SET state = 'cancelled', finished_time = {NOW} \
                 WHERE task_key IN ({list}) AND state IN ('queued', 'running') \
                 RETURNING task_key, study_id, lease_owner IS NOT NULL AS running) \
             SELECT COUNT(*) FROM ({announce}) AS announced"
        )))
        .execute(&mut *tx)
        .await
        .map_err(self.err("cancel trials"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Task counts by state, over one study or every study.
    pub async fn queue_counts(&self, study_id: Option<&str>) -> Result<QueueCounts> {
        self.require_queue()?;
        let rows = sqlx::query(
            "SELECT state, COUNT(*) FROM trial_queue WHERE ($1 = '' OR study_id = $1) GROUP BY state",
        )
        .bind(study_id.unwrap_or("").to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("count tasks"))?;
        let mut counts = QueueCounts::default();
        for row in rows {
            let get = |e| Error::db(&self.location, "count tasks", e);
            let state: String = row.try_get(0).map_err(get)?;
            let n: i64 = row.try_get(1).map_err(get)?;
            match state.as_str() {
                "queued" => counts.queued = n,
                "running" => counts.running = n,
                "done" => counts.done = n,
                _ => counts.cancelled += n,
            }
        }
        Ok(counts)
    }

    /// Every task of one study (or of all), in queue order.
    pub async fn queue_tasks(&self, study_id: Option<&str>) -> Result<Vec<TaskInfo>> {
        self.require_queue()?;
        let rows = sqlx::query(
            "SELECT task_key, study_id, trial, fold, state, attempts, COALESCE(result_owner, lease_owner), last_error \
             FROM trial_queue WHERE ($1 = '' OR study_id = $1) ORDER BY task_key",
        )
        .bind(study_id.unwrap_or("").to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("list tasks"))?;
        let get = |e| Error::db(&self.location, "list tasks", e);
        rows.iter()
            .map(|row| {
                Ok(TaskInfo {
                    key: row.try_get(0).map_err(get)?,
                    study_id: row.try_get(1).map_err(get)?,
                    trial: row.try_get(2).map_err(get)?,
                    fold: row.try_get(3).map_err(get)?,
                    state: row.try_get(4).map_err(get)?,
                    attempts: row.try_get(5).map_err(get)?,
                    owner: row.try_get(6).map_err(get)?,
                    last_error: row.try_get(7).map_err(get)?,
                })
            })
            .collect()
    }
}
