//! Runs: starting, ending and updating them, lifecycle, and reading them back with their
//! data (params, tags, latest metrics, dataset inputs and model outputs).
//! [`AsyncStore::run_key`] is the check every write to a run goes through; [`RUN_COLUMNS`],
//! [`run_info_from_row`] and [`AsyncStore::attach_data`] are shared with search. What runs
//! record is in `run_data.rs`.

use std::collections::{BTreeMap, HashMap};

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::run_data::loaded_value;
use super::{Arg, AsyncStore, Backend, Sql, default_user, new_run_id, now_ms};
use crate::error::{Error, Result};
use crate::model::*;

/// Rows per multi-row INSERT: few enough to stay far below both drivers' parameter limits.
pub(super) const INSERT_CHUNK: usize = 500;

/// The tag MLflow keeps a run's name in as well as in the run itself.
pub const RUN_NAME_TAG: &str = "mlflow.runName";

impl AsyncStore {
    /// Starts a RUNNING run. The name comes from `new.name`, else from an `mlflow.runName`
    /// tag, else from the run id; a name and a different `mlflow.runName` tag are refused, as
    /// MLflow refuses them. The experiment must exist and be active (MLflow's rule).
    pub async fn start_run(&self, new: &NewRun) -> Result<RunId> {
        let run_id = new_run_id();
        let now = now_ms();
        for (k, _) in &new.tags {
            validate_key(k, "tag")?;
        }
        let name_tag = new
            .tags
            .iter()
            .rev()
            .find(|(k, _)| k == RUN_NAME_TAG)
            .map(|(_, v)| v.clone());
        let name = match (new.name.is_empty(), name_tag) {
            (false, Some(tag)) if tag != new.name => {
                return Err(Error::Invalid(format!(
                    "run name '{}' and tag {RUN_NAME_TAG} '{tag}' differ\n  hint: give the name once",
                    new.name
                )));
            }
            (false, _) => new.name.clone(),
            (true, Some(tag)) if !tag.is_empty() => tag,
            (true, _) => format!("run-{}", &run_id[..8]),
        };
        let user = if new.user.is_empty() {
            default_user()
        } else {
            new.user.clone()
        };
        let mut tx = self.begin_write().await?;
        self.active_experiment(&mut tx, new.experiment).await?;
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
        .bind(new.start_time.unwrap_or(now))
        .bind(user)
        .bind(new.source_command.clone())
        .bind(new.parent.clone())
        .bind(new.data_fingerprint.clone())
        .bind(format!("{}/{}/artifacts", new.experiment, run_id))
        .bind(new.lease.then(|| now + self.lease.as_millis() as i64))
        .bind(new.lease.then(|| self.owner.clone()))
        .fetch_one(&mut *tx)
        .await
        .map_err(self.err("create run"))?;
        self.write_tags(&mut tx, run_key, &new.tags).await?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(run_id)
    }

    pub(super) async fn run_key(&self, tx: &mut super::WriteTx, run: &str) -> Result<i64> {
        let row = sqlx::query("SELECT run_key, lifecycle_stage FROM runs WHERE run_uuid = $1")
            .bind(run.to_string())
            .fetch_optional(&mut **tx)
            .await
            .map_err(self.err("read run"))?;
        let row = row.ok_or_else(|| Error::not_found(format!("run {run}"), &self.location))?;
        let stage: String = row.try_get(1).map_err(self.err("read run"))?;
        if stage != "active" {
            return Err(Error::Invalid(format!(
                "The run {run} must be in the 'active' state. Current state is deleted.\n  hint: restore it before logging to it"
            )));
        }
        row.try_get(0).map_err(self.err("read run"))
    }

    /// MLflow's UpdateRun: sets whichever of status, end time and name are given and
    /// returns the run's info. Allowed on an ended run (clients end runs this way, and may
    /// correct them); a deleted run is [`Error::Invalid`] as in MLflow. A status other than
    /// RUNNING drops the run's lease, so the reaper leaves it alone; a name also goes to the
    /// `mlflow.runName` tag, as MLflow keeps both.
    pub async fn update_run(
        &self,
        run: &str,
        status: Option<RunStatus>,
        end_time: Option<i64>,
        name: Option<&str>,
    ) -> Result<RunInfo> {
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
        if let Some(status) = status {
            let lease = if status == RunStatus::Running {
                "lease_until"
            } else {
                "NULL"
            };
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE runs SET status = $1, lease_until = {lease} WHERE run_key = $2"
            )))
            .bind(status.as_str())
            .bind(run_key)
            .execute(&mut *tx)
            .await
            .map_err(self.err("update run"))?;
        }
        if let Some(end) = end_time {
            sqlx::query("UPDATE runs SET end_time = $1 WHERE run_key = $2")
                .bind(end)
                .bind(run_key)
                .execute(&mut *tx)
                .await
                .map_err(self.err("update run"))?;
        }
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            self.write_tags(
                &mut tx,
                run_key,
                &[(RUN_NAME_TAG.to_string(), name.to_string())],
            )
            .await?;
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM runs r WHERE r.run_key = $1"
        )))
        .bind(run_key)
        .fetch_one(&mut *tx)
        .await
        .map_err(self.err("read run"))?;
        let (_, info) = run_info_from_row(&row).map_err(self.err("read run"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(info)
    }

    pub async fn end_run(&self, run: &str, status: RunStatus) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
        self.write_end(&mut tx, run_key, status).await?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Sets a run's status (and end time, unless RUNNING) inside a caller's transaction.
    pub(super) async fn write_end(
        &self,
        tx: &mut super::WriteTx,
        run_key: i64,
        status: RunStatus,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE runs SET status = $1, end_time = $2, lease_until = NULL WHERE run_key = $3",
        )
        .bind(status.as_str())
        .bind(if status == RunStatus::Running {
            None
        } else {
            Some(now_ms())
        })
        .bind(run_key)
        .execute(&mut **tx)
        .await
        .map_err(self.err("end run"))?;
        Ok(())
    }

    /// Marks a run deleted; `gc` removes it for good.
    pub async fn delete_run(&self, run: &str) -> Result<()> {
        self.set_lifecycle(run, true).await
    }

    pub async fn restore_run(&self, run: &str) -> Result<()> {
        self.set_lifecycle(run, false).await
    }

    async fn set_lifecycle(&self, run: &str, deleted: bool) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "UPDATE runs SET lifecycle_stage = $1, deleted_time = $2 WHERE run_uuid = $3",
        )
        .bind(if deleted { "deleted" } else { "active" })
        .bind(if deleted { Some(now_ms()) } else { None })
        .bind(run.to_string())
        .execute(&mut *tx)
        .await
        .map_err(self.err(if deleted { "delete run" } else { "restore run" }))?;
        if r.rows_affected() == 0 {
            return Err(Error::not_found(format!("run {run}"), &self.location));
        }
        tx.commit().await.map_err(self.err("commit"))?;
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
                inputs: Vec::new(),
                outputs: Vec::new(),
                model_inputs: Vec::new(),
            });
        }
        let keys: Vec<i64> = index.keys().copied().collect();
        // One query: a row per run for its params and one for its tags, each a JSON array of
        // pairs, then a row per latest metric. SQLite's driver hands rows one at a time across
        // a thread with a copy and a lock per value, and a row per param and tag was most of
        // a search's time (100 runs with 20 params: 2,000 rows, against 200 now). Metrics stay
        // a row each: SQLite's float-to-text conversion is not exact at every exponent, and a
        // metric must come back bit for bit.
        let (array, pair, cast) = match self.backend {
            Backend::Sqlite => ("json_group_array", "json_array(key, value)", ""),
            Backend::Postgres => ("json_agg", "json_build_array(key, value)", "::text"),
        };
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
                "SELECT 0, run_key, {array}({pair}){cast}, CAST(NULL AS DOUBLE PRECISION), 0, 0, 0 \
                 FROM params WHERE run_key IN ({}) GROUP BY run_key \
                 UNION ALL SELECT 1, run_key, {array}({pair}){cast}, CAST(NULL AS DOUBLE PRECISION), 0, 0, 0 \
                 FROM tags WHERE run_key IN ({}) GROUP BY run_key \
                 UNION ALL SELECT 2, run_key, key, value, is_nan, step, timestamp \
                 FROM latest_metrics WHERE run_key IN ({})",
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
                let text: String = r.try_get(2).map_err(&e)?;
                let Some(&i) = index.get(&k) else { continue };
                match kind {
                    0 | 1 => {
                        let entries: Vec<(String, String)> =
                            serde_json::from_str(&text).map_err(|err| {
                                Error::Invalid(format!(
                                    "run {}: unreadable params or tags ({err})",
                                    runs[i].info.run_id
                                ))
                            })?;
                        let into = if kind == 0 {
                            &mut runs[i].params
                        } else {
                            &mut runs[i].tags
                        };
                        into.extend(entries);
                    }
                    _ => {
                        let m = Metric {
                            value: loaded_value(
                                r.try_get(3).map_err(&e)?,
                                r.try_get(4).map_err(&e)?,
                            ),
                            step: r.try_get(5).map_err(&e)?,
                            timestamp_ms: r.try_get(6).map_err(&e)?,
                            key: text.clone(),
                        };
                        runs[i].metrics.insert(text, m);
                    }
                }
            }
        }
        self.attach_io(&mut runs, &index).await?;
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

pub(super) fn validate_key(k: &str, what: &str) -> Result<()> {
    if k.is_empty() || k.len() > 250 {
        return Err(Error::Invalid(format!(
            "{what} key '{k}' must be 1 to 250 characters"
        )));
    }
    Ok(())
}
