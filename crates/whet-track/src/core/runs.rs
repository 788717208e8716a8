//! Experiments and runs: starting and ending runs, params, metrics, tags, lifecycle, and
//! reading runs back with their data. [`Core::run_key`] is the check every write to a run
//! goes through; [`RUN_COLUMNS`], [`run_info_from_row`] and [`Core::attach_data`] are shared
//! with search.

use std::collections::{BTreeMap, HashMap};

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Arg, Core, Sql, default_user, new_run_id, now_ms};
use crate::error::{Error, Result};
use crate::model::*;

/// Rows per multi-row INSERT: few enough to stay far below both drivers' parameter limits.
const INSERT_CHUNK: usize = 500;

impl Core {
    pub async fn get_or_create_experiment(&self, name: &str) -> Result<ExperimentId> {
        if name.trim().is_empty() {
            return Err(Error::Invalid("experiment name must not be empty".into()));
        }
        if let Some(e) = self.experiment_by_name(name).await? {
            return Ok(e.experiment_id);
        }
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO experiments (name, artifact_location, creation_time, last_update_time) \
             VALUES ($1, '', $2, $2) ON CONFLICT (name) DO NOTHING RETURNING experiment_id",
        )
        .bind(name.to_string())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(self.err("create experiment"))?;
        let id = match id {
            Some(id) => {
                sqlx::query(
                    "UPDATE experiments SET artifact_location = $1 WHERE experiment_id = $2",
                )
                .bind(id.to_string())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(self.err("create experiment"))?;
                id
            }
            None => sqlx::query_scalar("SELECT experiment_id FROM experiments WHERE name = $1")
                .bind(name.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(self.err("read experiment"))?,
        };
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(id)
    }

    pub async fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        let row = sqlx::query(
            "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time \
             FROM experiments WHERE name = $1",
        )
        .bind(name.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("read experiment"))?;
        row.map(|r| experiment_from_row(&r))
            .transpose()
            .map_err(self.err("read experiment"))
    }

    pub async fn list_experiments(&self) -> Result<Vec<Experiment>> {
        let rows = sqlx::query(
            "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time \
             FROM experiments ORDER BY experiment_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("list experiments"))?;
        rows.iter()
            .map(experiment_from_row)
            .collect::<Result<_, _>>()
            .map_err(self.err("list experiments"))
    }

    pub async fn start_run(&self, new: &NewRun) -> Result<RunId> {
        let run_id = new_run_id();
        let now = now_ms();
        let name = if new.name.is_empty() {
            format!("run-{}", &run_id[..8])
        } else {
            new.name.clone()
        };
        let user = if new.user.is_empty() {
            default_user()
        } else {
            new.user.clone()
        };
        let mut tx = self.begin_write().await?;
        let exp: Option<i64> =
            sqlx::query_scalar("SELECT experiment_id FROM experiments WHERE experiment_id = $1")
                .bind(new.experiment)
                .fetch_optional(&mut *tx)
                .await
                .map_err(self.err("read experiment"))?;
        if exp.is_none() {
            return Err(Error::not_found(
                format!("experiment {}", new.experiment),
                &self.location,
            ));
        }
        if let Some(parent) = &new.parent {
            let p: Option<i64> = sqlx::query_scalar("SELECT run_key FROM runs WHERE run_uuid = $1")
                .bind(parent.clone())
                .fetch_optional(&mut *tx)
                .await
                .map_err(self.err("read parent run"))?;
            if p.is_none() {
                return Err(Error::not_found(
                    format!("parent run {parent}"),
                    &self.location,
                ));
            }
        }
        let run_key: i64 = sqlx::query_scalar(
            "INSERT INTO runs (run_uuid, experiment_id, name, status, start_time, user_id, source_command, \
             parent_run_uuid, data_fingerprint, artifact_uri, lease_until, lease_owner) \
             VALUES ($1, $2, $3, 'RUNNING', $4, $5, $6, $7, $8, $9, $10, $11) RETURNING run_key",
        )
        .bind(run_id.clone())
        .bind(new.experiment)
        .bind(name)
        .bind(now)
        .bind(user)
        .bind(new.source_command.clone())
        .bind(new.parent.clone())
        .bind(new.data_fingerprint.clone())
        .bind(format!("{}/{}/artifacts", new.experiment, run_id))
        .bind(now + self.lease.as_millis() as i64)
        .bind(self.owner.clone())
        .fetch_one(&mut *tx)
        .await
        .map_err(self.err("create run"))?;
        upsert_tags(&mut tx, run_key, &new.tags)
            .await
            .map_err(self.err("set tags"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(run_id)
    }

    pub(super) async fn run_key(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        run: &str,
    ) -> Result<i64> {
        let row = sqlx::query("SELECT run_key, lifecycle_stage FROM runs WHERE run_uuid = $1")
            .bind(run.to_string())
            .fetch_optional(&mut **tx)
            .await
            .map_err(self.err("read run"))?;
        let row = row.ok_or_else(|| Error::not_found(format!("run {run}"), &self.location))?;
        let stage: String = row.try_get(1).map_err(self.err("read run"))?;
        if stage != "active" {
            return Err(Error::Invalid(format!(
                "run {run} is deleted\n  hint: restore it before logging to it"
            )));
        }
        row.try_get(0).map_err(self.err("read run"))
    }

    pub async fn log_params(&self, run: &str, params: &[(String, String)]) -> Result<()> {
        for (k, _) in params {
            validate_key(k, "param")?;
        }
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
        let existing: HashMap<String, String> =
            sqlx::query("SELECT key, value FROM params WHERE run_key = $1")
                .bind(run_key)
                .fetch_all(&mut *tx)
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
                .execute(&mut *tx)
                .await
                .map_err(self.err("write params"))?;
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    pub async fn log_metrics(&self, run: &str, metrics: &[Metric]) -> Result<()> {
        for m in metrics {
            validate_key(&m.key, "metric")?;
        }
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
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
                "INSERT INTO metrics (run_key, key, step, timestamp, value, is_nan) VALUES {}",
                values.join(", ")
            );
            sql.query()
                .execute(&mut *tx)
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
                .execute(&mut *tx)
                .await
                .map_err(self.err("update latest metrics"))?;
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    pub async fn set_tags(&self, run: &str, tags: &[(String, String)]) -> Result<()> {
        for (k, _) in tags {
            validate_key(k, "tag")?;
        }
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
        upsert_tags(&mut tx, run_key, tags)
            .await
            .map_err(self.err("set tags"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    pub async fn end_run(&self, run: &str, status: RunStatus) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.run_key(&mut tx, run).await?;
        sqlx::query(
            "UPDATE runs SET status = $1, end_time = $2, lease_until = NULL WHERE run_uuid = $3",
        )
        .bind(status.as_str())
        .bind(if status == RunStatus::Running {
            None
        } else {
            Some(now_ms())
        })
        .bind(run.to_string())
        .execute(&mut *tx)
        .await
        .map_err(self.err("end run"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    pub async fn set_lifecycle(&self, run: &str, deleted: bool) -> Result<()> {
        let r = sqlx::query(
            "UPDATE runs SET lifecycle_stage = $1, deleted_time = $2 WHERE run_uuid = $3",
        )
        .bind(if deleted { "deleted" } else { "active" })
        .bind(if deleted { Some(now_ms()) } else { None })
        .bind(run.to_string())
        .execute(&self.pool)
        .await
        .map_err(self.err("delete run"))?;
        if r.rows_affected() == 0 {
            return Err(Error::not_found(format!("run {run}"), &self.location));
        }
        Ok(())
    }

    pub async fn get_run(&self, run: &str) -> Result<Run> {
        self.maybe_reap().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM runs r WHERE r.run_uuid = $1"
        )))
        .bind(run.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("read run"))?;
        let row = row.ok_or_else(|| Error::not_found(format!("run {run}"), &self.location))?;
        let (key, info) = run_info_from_row(&row).map_err(self.err("read run"))?;
        let mut runs = self.attach_data(vec![(key, info)]).await?;
        runs.pop()
            .ok_or_else(|| Error::not_found(format!("run {run}"), &self.location))
    }

    /// Resolves a unique prefix of a run id (as people copy them from tables).
    pub async fn resolve_run_id(&self, prefix: &str) -> Result<RunId> {
        if prefix.len() == 32 {
            return Ok(prefix.to_string());
        }
        if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::Invalid(format!(
                "'{prefix}' is not a run id\n  hint: give the 32-digit run id or at least its first 4 digits"
            )));
        }
        let lo = prefix.to_ascii_lowercase();
        let hi = format!("{lo}g");
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT run_uuid FROM runs WHERE run_uuid >= $1 AND run_uuid < $2 LIMIT 2",
        )
        .bind(lo)
        .bind(hi)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("find run"))?;
        match ids.len() {
            0 => Err(Error::not_found(format!("run {prefix}"), &self.location)),
            1 => Ok(ids.into_iter().next().unwrap_or_default()),
            _ => Err(Error::Invalid(format!(
                "run id prefix '{prefix}' matches several runs\n  hint: give more digits"
            ))),
        }
    }

    pub async fn metric_history(&self, run: &str, key: &str) -> Result<Vec<Metric>> {
        let rows = sqlx::query(
            "SELECT m.key, m.value, m.is_nan, m.step, m.timestamp FROM metrics m \
             JOIN runs r ON r.run_key = m.run_key WHERE r.run_uuid = $1 AND m.key = $2 \
             ORDER BY m.step, m.timestamp",
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

    pub(super) async fn attach_data(&self, infos: Vec<(i64, RunInfo)>) -> Result<Vec<Run>> {
        if infos.is_empty() {
            return Ok(Vec::new());
        }
        let mut runs: Vec<Run> = Vec::with_capacity(infos.len());
        let mut index: HashMap<i64, usize> = HashMap::with_capacity(infos.len());
        for (k, info) in infos {
            index.insert(k, runs.len());
            runs.push(Run {
                info,
                params: BTreeMap::new(),
                metrics: BTreeMap::new(),
                tags: BTreeMap::new(),
            });
        }
        let keys: Vec<i64> = index.keys().copied().collect();
        // One query for params, tags and latest metrics: each statement is a round trip to
        // SQLite's worker thread, and on a busy machine those hops were most of a search.
        for chunk in keys.chunks(300) {
            let mut sql = Sql::new(self.backend);
            let mut lists = Vec::with_capacity(3);
            for _ in 0..3 {
                lists.push(
                    chunk
                        .iter()
                        .map(|k| sql.arg(Arg::I(*k)))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
            }
            sql.text = format!(
                "SELECT 0, run_key, key, value, CAST(NULL AS DOUBLE PRECISION), 0, 0, 0 FROM params WHERE run_key IN ({}) \
                 UNION ALL SELECT 1, run_key, key, value, CAST(NULL AS DOUBLE PRECISION), 0, 0, 0 FROM tags WHERE run_key IN ({}) \
                 UNION ALL SELECT 2, run_key, key, CAST(NULL AS TEXT), value, is_nan, step, timestamp FROM latest_metrics WHERE run_key IN ({})",
                lists[0], lists[1], lists[2]
            );
            let rows = sql
                .query()
                .fetch_all(&self.pool)
                .await
                .map_err(self.err("read run data"))?;
            for r in rows {
                let e = self.err("read run data");
                let kind: i64 = r.try_get(0).map_err(&e)?;
                let k: i64 = r.try_get(1).map_err(&e)?;
                let key: String = r.try_get(2).map_err(&e)?;
                let Some(&i) = index.get(&k) else { continue };
                match kind {
                    0 => {
                        runs[i].params.insert(key, r.try_get(3).map_err(&e)?);
                    }
                    1 => {
                        runs[i].tags.insert(key, r.try_get(3).map_err(&e)?);
                    }
                    _ => {
                        let m = Metric {
                            value: loaded_value(
                                r.try_get(4).map_err(&e)?,
                                r.try_get(5).map_err(&e)?,
                            ),
                            step: r.try_get(6).map_err(&e)?,
                            timestamp_ms: r.try_get(7).map_err(&e)?,
                            key: key.clone(),
                        };
                        runs[i].metrics.insert(key, m);
                    }
                }
            }
        }
        Ok(runs)
    }
}

pub(super) const RUN_COLUMNS: &str = "r.run_key, r.run_uuid, r.experiment_id, r.name, r.status, r.start_time, r.end_time, \
    r.user_id, r.source_command, r.parent_run_uuid, r.data_fingerprint, r.artifact_uri, r.lifecycle_stage";

pub(super) fn run_info_from_row(r: &AnyRow) -> Result<(i64, RunInfo), sqlx::Error> {
    let status: String = r.try_get(4)?;
    Ok((
        r.try_get(0)?,
        RunInfo {
            run_id: r.try_get(1)?,
            experiment_id: r.try_get(2)?,
            run_name: r.try_get(3)?,
            status: status.parse().unwrap_or(RunStatus::Failed),
            start_time: r.try_get(5)?,
            end_time: r.try_get(6)?,
            user_id: r.try_get(7)?,
            source_command: r.try_get(8)?,
            parent_run_id: r.try_get(9)?,
            data_fingerprint: r.try_get(10)?,
            artifact_uri: r.try_get(11)?,
            lifecycle_stage: r.try_get(12)?,
        },
    ))
}

fn experiment_from_row(r: &AnyRow) -> Result<Experiment, sqlx::Error> {
    Ok(Experiment {
        experiment_id: r.try_get(0)?,
        name: r.try_get(1)?,
        artifact_location: r.try_get(2)?,
        lifecycle_stage: r.try_get(3)?,
        creation_time: r.try_get(4)?,
        last_update_time: r.try_get(5)?,
    })
}

fn metric_from_row(r: &AnyRow) -> Result<Metric, sqlx::Error> {
    Ok(Metric {
        key: r.try_get(0)?,
        value: loaded_value(r.try_get(1)?, r.try_get(2)?),
        step: r.try_get(3)?,
        timestamp_ms: r.try_get(4)?,
    })
}

/// SQLite stores NaN as NULL, so NaN is kept as a flag beside a 0 (as MLflow's is_nan).
fn stored_value(v: f64) -> (f64, i64) {
    if v.is_nan() { (0.0, 1) } else { (v, 0) }
}

fn loaded_value(v: f64, is_nan: i64) -> f64 {
    if is_nan != 0 { f64::NAN } else { v }
}

fn later(a: (i64, i64, f64), b: (i64, i64, f64)) -> bool {
    (a.0, a.1) > (b.0, b.1) || ((a.0, a.1) == (b.0, b.1) && a.2 >= b.2)
}

async fn upsert_tags(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    run_key: i64,
    tags: &[(String, String)],
) -> Result<(), sqlx::Error> {
    for (k, v) in tags {
        sqlx::query(
            "INSERT INTO tags (run_key, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (run_key, key) DO UPDATE SET value = excluded.value",
        )
        .bind(run_key)
        .bind(k.clone())
        .bind(v.clone())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

fn validate_key(k: &str, what: &str) -> Result<()> {
    if k.is_empty() || k.len() > 250 {
        return Err(Error::Invalid(format!(
            "{what} key '{k}' must be 1 to 250 characters"
        )));
    }
    Ok(())
}
