//! What runs record: params, metrics (with `latest_metrics` kept in the same transaction),
//! tags, MLflow's LogBatch of all three, and metric history.
//!
//! Each write to a run is one transaction; the `write_*` helpers do their part inside a
//! transaction the caller opened, so that `log_batch` can put params, metrics and tags in
//! one (MLflow's SqlAlchemyStore uses several sessions for a batch; here a conflicting param
//! leaves nothing of the batch written).

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;
use sqlx::any::AnyRow;

use super::query::{self, decode_token, encode_token};
use super::runs::{INSERT_CHUNK, RUN_NAME_TAG, validate_key};
use super::{Arg, AsyncStore, Sql, now_ms};
use crate::error::{Error, Result};
use crate::model::*;

type Tx = super::WriteTx;

/// Points per page of metric history when the caller does not say: MLflow's
/// GET_METRIC_HISTORY_MAX_RESULTS.
pub const METRIC_HISTORY_PAGE_DEFAULT: usize = 25_000;

impl AsyncStore {
    /// Records params; an existing key with another value is an error and nothing is written.
    pub async fn log_params(&self, run: &str, params: &[(String, String)]) -> Result<()> {
        validate_keys(params.iter().map(|(k, _)| k), "param")?;
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
        self.write_params(&mut tx, run, run_key, params).await?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Appends metric points in one transaction and keeps each key's latest value.
    pub async fn log_metrics(&self, run: &str, metrics: &[Metric]) -> Result<()> {
        validate_keys(metrics.iter().map(|m| &m.key), "metric")?;
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
        self.write_metrics(&mut tx, run_key, metrics).await?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Sets (or replaces) tags. Setting `mlflow.runName` renames the run too, as in MLflow.
    pub async fn set_tags(&self, run: &str, tags: &[(String, String)]) -> Result<()> {
        validate_keys(tags.iter().map(|(k, _)| k), "tag")?;
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
        self.write_tags(&mut tx, run_key, tags).await?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Removes a tag of an active run; NotFound if the run has no such tag (MLflow's
    /// SqlAlchemyStore raises RESOURCE_DOES_NOT_EXIST).
    pub async fn delete_tag(&self, run: &str, key: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
        let r = sqlx::query("DELETE FROM tags WHERE run_key = $1 AND key = $2")
            .bind(run_key)
            .bind(key.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err("delete tag"))?;
        if r.rows_affected() == 0 {
            return Err(Error::not_found(
                format!("tag '{key}' of run {run}"),
                &self.location,
            ));
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// MLflow's LogBatch in one transaction: params (same rule as [`AsyncStore::log_params`]),
    /// then metrics, then tags; any error leaves none of them written. Size limits are the
    /// caller's to check (the server applies MLflow's).
    pub async fn log_batch(
        &self,
        run: &str,
        metrics: &[Metric],
        params: &[(String, String)],
        tags: &[(String, String)],
    ) -> Result<()> {
        self.write_batch(run, metrics, params, tags, None).await
    }

    /// [`AsyncStore::log_batch`] and [`AsyncStore::end_run`] in one transaction: a study
    /// ends each trial's run so, one commit instead of two.
    pub async fn log_batch_and_end(
        &self,
        run: &str,
        metrics: &[Metric],
        params: &[(String, String)],
        tags: &[(String, String)],
        status: RunStatus,
    ) -> Result<()> {
        self.write_batch(run, metrics, params, tags, Some(status))
            .await
    }

    async fn write_batch(
        &self,
        run: &str,
        metrics: &[Metric],
        params: &[(String, String)],
        tags: &[(String, String)],
        end: Option<RunStatus>,
    ) -> Result<()> {
        validate_keys(params.iter().map(|(k, _)| k), "param")?;
        validate_keys(metrics.iter().map(|m| &m.key), "metric")?;
        validate_keys(tags.iter().map(|(k, _)| k), "tag")?;
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
        self.write_params(&mut tx, run, run_key, params).await?;
        self.write_metrics(&mut tx, run_key, metrics).await?;
        self.write_tags(&mut tx, run_key, tags).await?;
        if let Some(status) = end {
            self.write_end(&mut tx, run_key, status).await?;
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Every point of one metric in MLflow's order: by timestamp, then step, then value.
    /// Empty for an unknown run or key.
    pub async fn metric_history(&self, run: &str, key: &str) -> Result<Vec<Metric>> {
        let rows = sqlx::query(
            "SELECT m.key, m.value, m.is_nan, m.step, m.timestamp FROM metrics m \
             JOIN runs r ON r.run_key = m.run_key WHERE r.run_uuid = $1 AND m.key = $2 \
             ORDER BY m.timestamp, m.step, m.value, m.is_nan",
        )
        .bind(run.to_string())
        .bind(key.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read metric history"))?;
        rows.iter()
            .map(metric_from_row)
            .collect::<Result<_, _>>()
            .map_err(self.err("read metric history"))
    }

    /// One page of a metric's history in MLflow's order: by timestamp, then step, then value
    /// (no two points are equal in all three, so pages never overlap). `max_results` 0 means
    /// [`METRIC_HISTORY_PAGE_DEFAULT`]. Like MLflow, an unknown run or key gives an empty
    /// page rather than an error.
    pub async fn metric_history_page(
        &self,
        run: &str,
        key: &str,
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<Page<Metric>> {
        let limit = if max_results == 0 {
            METRIC_HISTORY_PAGE_DEFAULT
        } else {
            max_results
        };
        let fp = query::fingerprint([b"metric-history".as_slice(), run.as_bytes(), key.as_bytes()]);
        let offset = decode_token(page_token, fp)?;
        let rows = sqlx::query(
            "SELECT m.key, m.value, m.is_nan, m.step, m.timestamp FROM metrics m \
             JOIN runs r ON r.run_key = m.run_key WHERE r.run_uuid = $1 AND m.key = $2 \
             ORDER BY m.timestamp, m.step, m.value, m.is_nan LIMIT $3 OFFSET $4",
        )
        .bind(run.to_string())
        .bind(key.to_string())
        .bind(limit.saturating_add(1) as i64)
        .bind(offset as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read metric history"))?;
        let more = rows.len() > limit;
        let items = rows
            .iter()
            .take(limit)
            .map(metric_from_row)
            .collect::<Result<_, _>>()
            .map_err(self.err("read metric history"))?;
        Ok(Page {
            items,
            next_page_token: more.then(|| encode_token(offset + limit, fp)),
        })
    }

    /// Inserts new params inside `tx`; the same value again is fine, another value for a
    /// key the run (or this batch) already has is [`Error::ParamConflict`].
    pub(super) async fn write_params(
        &self,
        tx: &mut Tx,
        run: &str,
        run_key: i64,
        params: &[(String, String)],
    ) -> Result<()> {
        if params.is_empty() {
            return Ok(());
        }
        let existing: HashMap<String, String> =
            sqlx::query("SELECT key, value FROM params WHERE run_key = $1")
                .bind(run_key)
                .fetch_all(&mut **tx)
                .await
                .map_err(self.err("read params"))?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(self.err("read params"))?;
        let mut fresh: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, v) in params {
            let old = existing
                .get(k)
                .map(String::as_str)
                .or(fresh.get(k.as_str()).copied());
            match old {
                Some(old) if old == v => {}
                Some(old) => {
                    return Err(Error::ParamConflict {
                        run: run.to_string(),
                        key: k.clone(),
                        old: old.to_string(),
                        new: v.clone(),
                    });
                }
                None => {
                    fresh.insert(k, v);
                }
            }
        }
        let rows: Vec<(&str, &str)> = fresh.into_iter().collect();
        for chunk in rows.chunks(INSERT_CHUNK) {
            let mut sql = Sql::new(self.backend);
            let mut values = Vec::with_capacity(chunk.len());
            for (k, v) in chunk {
                let a = sql.arg(Arg::I(run_key));
                let b = sql.arg(Arg::S(k.to_string()));
                let c = sql.arg(Arg::S(v.to_string()));
                values.push(format!("({a}, {b}, {c})"));
            }
            sql.text = format!(
                "INSERT INTO params (run_key, key, value) VALUES {}",
                values.join(", ")
            );
            sql.query()
                .execute(&mut **tx)
                .await
                .map_err(self.err("write params"))?;
        }
        Ok(())
    }

    /// Appends metric points inside `tx` and moves each key's `latest_metrics` row forward.
    /// A point the run already has (same key, value, timestamp and step) is stored once, as
    /// MLflow stores it: the unique index `metrics_point` makes the insert skip it.
    pub(super) async fn write_metrics(
        &self,
        tx: &mut Tx,
        run_key: i64,
        metrics: &[Metric],
    ) -> Result<()> {
        let now = now_ms();
        // The latest point per key as MLflow defines it: highest step, then timestamp, then value.
        let mut latest: BTreeMap<&str, (i64, i64, f64)> = BTreeMap::new();
        for chunk in metrics.chunks(INSERT_CHUNK) {
            let mut sql = Sql::new(self.backend);
            let mut values = Vec::with_capacity(chunk.len());
            for m in chunk {
                let ts = if m.timestamp_ms == 0 {
                    now
                } else {
                    m.timestamp_ms
                };
                let (value, nan) = stored_value(m.value);
                let a = sql.arg(Arg::I(run_key));
                let b = sql.arg(Arg::S(m.key.clone()));
                let c = sql.arg(Arg::I(m.step));
                let d = sql.arg(Arg::I(ts));
                let e = sql.arg(Arg::F(value));
                let f = sql.arg(Arg::I(nan));
                values.push(format!("({a}, {b}, {c}, {d}, {e}, {f})"));
                let cand = (m.step, ts, m.value);
                latest
                    .entry(m.key.as_str())
                    .and_modify(|cur| {
                        if later(cand, *cur) {
                            *cur = cand;
                        }
                    })
                    .or_insert(cand);
            }
            sql.text = format!(
                "INSERT INTO metrics (run_key, key, step, timestamp, value, is_nan) VALUES {} \
                 ON CONFLICT DO NOTHING",
                values.join(", ")
            );
            sql.query()
                .execute(&mut **tx)
                .await
                .map_err(self.err("write metrics"))?;
        }
        let latest: Vec<_> = latest.into_iter().collect();
        for chunk in latest.chunks(INSERT_CHUNK) {
            let mut sql = Sql::new(self.backend);
            let mut values = Vec::with_capacity(chunk.len());
            for (key, (step, ts, v)) in chunk {
                let (value, nan) = stored_value(*v);
                let a = sql.arg(Arg::I(run_key));
                let b = sql.arg(Arg::S(key.to_string()));
                let c = sql.arg(Arg::I(*step));
                let d = sql.arg(Arg::I(*ts));
                let e = sql.arg(Arg::F(value));
                let f = sql.arg(Arg::I(nan));
                values.push(format!("({a}, {b}, {c}, {d}, {e}, {f})"));
            }
            sql.text = format!(
                "INSERT INTO latest_metrics (run_key, key, step, timestamp, value, is_nan) VALUES {} \
                 ON CONFLICT (run_key, key) DO UPDATE SET step = excluded.step, timestamp = excluded.timestamp, \
                 value = excluded.value, is_nan = excluded.is_nan \
                 WHERE excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step AND \
                 (excluded.timestamp > latest_metrics.timestamp OR (excluded.timestamp = latest_metrics.timestamp \
                 AND excluded.value >= latest_metrics.value)))",
                values.join(", ")
            );
            sql.query()
                .execute(&mut **tx)
                .await
                .map_err(self.err("update latest metrics"))?;
        }
        Ok(())
    }

    /// Upserts tags inside `tx`, the last value of a key repeated in the list winning. A
    /// non-empty `mlflow.runName` also renames the run (MLflow's SqlAlchemyStore routes that
    /// tag through UpdateRun).
    pub(super) async fn write_tags(
        &self,
        tx: &mut Tx,
        run_key: i64,
        tags: &[(String, String)],
    ) -> Result<()> {
        // A key given twice keeps its last value (one statement may not touch a row twice).
        let mut last: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
        let mut order: Vec<&str> = Vec::new();
        for (k, v) in tags {
            if last.insert(k, v).is_none() {
                order.push(k);
            }
        }
        // A few hundred rows per statement: a run's tags in one round trip, within SQLite's
        // limit on bound values.
        for chunk in order.chunks(200) {
            let rows = (0..chunk.len())
                .map(|i| format!("($1, ${}, ${})", 2 + 2 * i, 3 + 2 * i))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO tags (run_key, key, value) VALUES {rows} \
                 ON CONFLICT (run_key, key) DO UPDATE SET value = excluded.value"
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(run_key);
            for k in chunk {
                query = query.bind(k.to_string()).bind(last[k].to_string());
            }
            query
                .execute(&mut **tx)
                .await
                .map_err(self.err("set tags"))?;
        }
        if let Some(name) = last.get(RUN_NAME_TAG).filter(|v| !v.is_empty()) {
            sqlx::query("UPDATE runs SET name = $1 WHERE run_key = $2")
                .bind(name.to_string())
                .bind(run_key)
                .execute(&mut **tx)
                .await
                .map_err(self.err("rename run"))?;
        }
        Ok(())
    }
}

fn validate_keys<'a>(keys: impl IntoIterator<Item = &'a String>, what: &str) -> Result<()> {
    keys.into_iter().try_for_each(|k| validate_key(k, what))
}

pub(super) fn metric_from_row(r: &AnyRow) -> Result<Metric, sqlx::Error> {
    Ok(Metric {
        key: r.try_get(0)?,
        value: loaded_value(r.try_get(1)?, r.try_get(2)?),
        step: r.try_get(3)?,
        timestamp_ms: r.try_get(4)?,
    })
}

/// SQLite stores NaN as NULL, so NaN is kept as a flag beside a 0 (as MLflow's is_nan).
pub(super) fn stored_value(v: f64) -> (f64, i64) {
    if v.is_nan() { (0.0, 1) } else { (v, 0) }
}

pub(super) fn loaded_value(v: f64, is_nan: i64) -> f64 {
    if is_nan != 0 { f64::NAN } else { v }
}

fn later(a: (i64, i64, f64), b: (i64, i64, f64)) -> bool {
    (a.0, a.1) > (b.0, b.1) || ((a.0, a.1) == (b.0, b.1) && a.2 >= b.2)
}
