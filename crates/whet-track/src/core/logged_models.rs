//! MLflow 3 logged models: what `mlflow.<flavor>.log_model` creates. A model has its own
//! artifact folder beside the experiment's runs, params, tags, and metrics logged through a
//! run (which get the run's metrics too), and a status that goes from PENDING to READY or
//! FAILED once its artifacts are uploaded.
//!
//! MLflow's rules, kept here: a deleted model is not found by `get` or search but can still
//! be finalized, tagged or deleted again; deleting a tag the model lacks is NotFound; the
//! source run and the model ids of metrics are not checked.

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;
use sqlx::any::AnyRow;

use super::query::{self, Searched, Side, decode_token, encode_token, page_size};
use super::run_data::{loaded_value, stored_value};
use super::runs::{INSERT_CHUNK, validate_key};
use super::search::MAX_RESULTS_LIMIT;
use super::{Arg, AsyncStore, Sql, new_run_id, now_ms};
use crate::error::{Error, Result};
use crate::filter::{self, Entity, Field};
use crate::model::*;

type Tx = super::WriteTx;

/// MLflow's SEARCH_LOGGED_MODEL_MAX_RESULTS_DEFAULT.
const SEARCH_DEFAULT: usize = 100;

const COLUMNS: &str = "lm.model_id, lm.experiment_id, lm.name, lm.artifact_location, lm.creation_time, \
    lm.last_updated_time, lm.source_run_uuid, lm.status, lm.status_message, lm.model_type, lm.lifecycle_stage";

impl AsyncStore {
    /// Creates a PENDING logged model in an active experiment, with id `m-<32 hex>` and
    /// artifacts at `<experiment_id>/models/<model_id>/artifacts` under the artifact root.
    pub async fn create_logged_model(&self, new: &NewLoggedModel) -> Result<LoggedModel> {
        for (k, _) in &new.params {
            validate_key(k, "param")?;
        }
        for (k, _) in &new.tags {
            validate_key(k, "tag")?;
        }
        let id = format!("m-{}", new_run_id());
        let name = if new.name.is_empty() {
            format!("model-{}", &id[2..10])
        } else {
            new.name.clone()
        };
        let location = format!("{}/models/{id}/artifacts", new.experiment_id);
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        self.active_experiment(&mut tx, new.experiment_id).await?;
        sqlx::query(
            "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_time, \
             last_updated_time, source_run_uuid, status, status_message, model_type, lifecycle_stage) \
             VALUES ($1, $2, $3, $4, $5, $5, $6, 'PENDING', '', $7, 'active')",
        )
        .bind(id.clone())
        .bind(new.experiment_id)
        .bind(name.clone())
        .bind(location.clone())
        .bind(now)
        .bind(new.source_run_id.clone())
        .bind(new.model_type.clone())
        .execute(&mut *tx)
        .await
        .map_err(self.err("create logged model"))?;
        self.write_model_params(&mut tx, &id, &new.params).await?;
        self.write_model_tags(&mut tx, &id, &new.tags).await?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(LoggedModel {
            model_id: id,
            experiment_id: new.experiment_id,
            name,
            artifact_location: location,
            creation_time: now,
            last_updated_time: now,
            source_run_id: new.source_run_id.clone(),
            status: LoggedModelStatus::Pending,
            status_message: String::new(),
            model_type: new.model_type.clone(),
            lifecycle_stage: "active".into(),
            tags: new.tags.iter().cloned().collect(),
            params: new.params.iter().cloned().collect(),
            metrics: Vec::new(),
        })
    }

    /// A logged model with its tags, params and metrics; NotFound if absent or deleted.
    pub async fn get_logged_model(&self, id: &str) -> Result<LoggedModel> {
        let mut sql = Sql::new(self.backend);
        let p = sql.arg(Arg::S(id.to_string()));
        sql.text = format!(
            "SELECT {COLUMNS} FROM logged_models lm WHERE lm.model_id = {p} AND lm.lifecycle_stage = 'active'"
        );
        self.load_logged_models(&sql)
            .await?
            .pop()
            .ok_or_else(|| self.model_not_found(id))
    }

    /// Sets a model's status (READY once its artifacts are uploaded, or FAILED).
    pub async fn finalize_logged_model(
        &self,
        id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel> {
        self.update_logged_model(id, "status = $1", status.as_str())
            .await?;
        let mut sql = Sql::new(self.backend);
        let p = sql.arg(Arg::S(id.to_string()));
        sql.text = format!("SELECT {COLUMNS} FROM logged_models lm WHERE lm.model_id = {p}");
        self.load_logged_models(&sql)
            .await?
            .pop()
            .ok_or_else(|| self.model_not_found(id))
    }

    /// Marks a model deleted; its rows and artifacts stay.
    pub async fn delete_logged_model(&self, id: &str) -> Result<()> {
        self.update_logged_model(id, "lifecycle_stage = $1", "deleted")
            .await
    }

    /// Sets (or replaces) tags of a model.
    pub async fn set_logged_model_tags(&self, id: &str, tags: &[(String, String)]) -> Result<()> {
        for (k, _) in tags {
            validate_key(k, "tag")?;
        }
        let mut tx = self.begin_write().await?;
        self.logged_model_exists(&mut tx, id).await?;
        self.write_model_tags(&mut tx, id, tags).await?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Removes a model's tag; NotFound if the model has no such tag (MLflow's rule).
    pub async fn delete_logged_model_tag(&self, id: &str, key: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.logged_model_exists(&mut tx, id).await?;
        let r = sqlx::query("DELETE FROM logged_model_tags WHERE model_id = $1 AND key = $2")
            .bind(id.to_string())
            .bind(key.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err("delete logged model tag"))?;
        if r.rows_affected() == 0 {
            return Err(Error::not_found(
                format!("tag '{key}' of logged model {id}"),
                &self.location,
            ));
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Records params of a model. The same value again is fine; another value for a key the
    /// model has is [`Error::Invalid`] and nothing is written (MLflow's primary key refuses
    /// any second row for a key; here a retry with the same value succeeds).
    pub async fn log_logged_model_params(
        &self,
        id: &str,
        params: &[(String, String)],
    ) -> Result<()> {
        for (k, _) in params {
            validate_key(k, "param")?;
        }
        let mut tx = self.begin_write().await?;
        self.logged_model_exists(&mut tx, id).await?;
        self.write_model_params(&mut tx, id, params).await?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Metrics logged for logged models through a run, in one transaction: each point goes
    /// to the run's metrics (as `log_metrics` would write it) and to its model's metrics with
    /// the run and dataset. MLflow writes the two in separate sessions.
    pub async fn log_model_metrics(&self, run: &str, metrics: &[ModelMetric]) -> Result<()> {
        for m in metrics {
            validate_key(&m.metric.key, "metric")?;
            if m.model_id.is_empty() {
                return Err(Error::Invalid("metric model id must not be empty".into()));
            }
        }
        let now = now_ms();
        let points: Vec<Metric> = metrics
            .iter()
            .map(|m| Metric {
                timestamp_ms: if m.metric.timestamp_ms == 0 {
                    now
                } else {
                    m.metric.timestamp_ms
                },
                ..m.metric.clone()
            })
            .collect();
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
        self.write_metrics(&mut tx, run_key, &points).await?;
        for (chunk, points) in metrics
            .chunks(INSERT_CHUNK)
            .zip(points.chunks(INSERT_CHUNK))
        {
            let mut sql = Sql::new(self.backend);
            let mut values = Vec::with_capacity(chunk.len());
            for (m, p) in chunk.iter().zip(points) {
                let (value, nan) = stored_value(p.value);
                let row = [
                    sql.arg(Arg::S(m.model_id.clone())),
                    sql.arg(Arg::S(p.key.clone())),
                    sql.arg(Arg::F(value)),
                    sql.arg(Arg::I(nan)),
                    sql.arg(Arg::I(p.step)),
                    sql.arg(Arg::I(p.timestamp_ms)),
                    sql.arg(Arg::S(run.to_string())),
                    optional(&mut sql, &m.dataset_name),
                    optional(&mut sql, &m.dataset_digest),
                ];
                values.push(format!("({})", row.join(", ")));
            }
            sql.text = format!(
                "INSERT INTO logged_model_metrics (model_id, key, value, is_nan, step, timestamp, run_uuid, \
                 dataset_name, dataset_digest) VALUES {}",
                values.join(", ")
            );
            sql.query()
                .execute(&mut *tx)
                .await
                .map_err(self.err("write logged model metrics"))?;
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// MLflow's SearchLoggedModels over active models of `experiment_ids` (empty: all).
    /// Filter: attributes (`name`, `model_id`, `model_type`, `status`, `source_run_id`,
    /// `creation_timestamp`, `last_updated_timestamp`), `tags.k`, `params.k`, `metrics.k`
    /// (a model matches when any of its points does, as in MLflow). Order: those attributes
    /// or `metrics.k` (the model's latest point by timestamp, then step; models without one
    /// last), then `creation_timestamp DESC` unless named (MLflow's), then the model id.
    /// `max_results` 0 means 100.
    pub async fn search_logged_models(
        &self,
        experiment_ids: &[ExperimentId],
        filter: &str,
        order_by: &[String],
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<Page<LoggedModel>> {
        self.search_logged_models_on(
            experiment_ids,
            filter,
            &[],
            order_by,
            max_results,
            page_token,
        )
        .await
    }

    /// `search_logged_models` keeping only models with a metric logged on one of
    /// `datasets` (name, and digest when given), MLflow's `datasets` clause. (MLflow also
    /// evaluates a `metrics.k` filter on those datasets' points alone; here a metric filter
    /// is matched by any point of the model.)
    pub async fn search_logged_models_on(
        &self,
        experiment_ids: &[ExperimentId],
        filter: &str,
        datasets: &[(String, Option<String>)],
        order_by: &[String],
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<Page<LoggedModel>> {
        if datasets.iter().any(|(name, _)| name.is_empty()) {
            return Err(Error::Invalid(
                "`dataset_name` in the `datasets` clause must be specified.".into(),
            ));
        }
        let conditions = filter::parse_for(filter, Entity::LoggedModels)?;
        let orders = query::parse_orders(order_by, Entity::LoggedModels)?;
        let limit = page_size(max_results, SEARCH_DEFAULT, MAX_RESULTS_LIMIT)?;
        let ids: Vec<[u8; 8]> = experiment_ids.iter().map(|e| e.to_le_bytes()).collect();
        let dataset_keys: Vec<String> = datasets
            .iter()
            .map(|(n, d)| format!("{n}\u{0}{}", d.as_deref().unwrap_or("\u{1}")))
            .collect();
        let fp = query::fingerprint(
            [b"logged-models".as_slice(), filter.as_bytes()]
                .into_iter()
                .chain(ids.iter().map(|i| i.as_slice()))
                .chain(order_by.iter().map(|o| o.as_bytes()))
                .chain(dataset_keys.iter().map(|k| k.as_bytes())),
        );
        let offset = decode_token(page_token, fp)?;
        let mut sql = Sql::new(self.backend);
        let mut wheres = vec!["lm.lifecycle_stage = 'active'".to_string()];
        if !experiment_ids.is_empty() {
            let list = experiment_ids
                .iter()
                .map(|e| sql.arg(Arg::I(*e)))
                .collect::<Vec<_>>()
                .join(", ");
            wheres.push(format!("lm.experiment_id IN ({list})"));
        }
        let side = |table| {
            Some(Side {
                table,
                link: "x.model_id = lm.model_id",
            })
        };
        let on = Searched {
            alias: "lm",
            tags: side("logged_model_tags"),
            params: side("logged_model_params"),
            metrics: side("logged_model_metrics"),
        };
        for c in &conditions {
            wheres.push(query::condition(&mut sql, c, &on)?);
        }
        if !datasets.is_empty() {
            let any = datasets
                .iter()
                .map(|(name, digest)| {
                    let n = sql.arg(Arg::S(name.clone()));
                    match digest {
                        Some(d) => {
                            let d = sql.arg(Arg::S(d.clone()));
                            format!("(d.dataset_name = {n} AND d.dataset_digest = {d})")
                        }
                        None => format!("d.dataset_name = {n}"),
                    }
                })
                .collect::<Vec<_>>()
                .join(" OR ");
            wheres.push(format!(
                "EXISTS (SELECT 1 FROM logged_model_metrics d WHERE d.model_id = lm.model_id AND ({any}))"
            ));
        }
        let mut order_sql = Vec::new();
        let mut by_creation = false;
        for o in &orders {
            let dir = if o.descending { "DESC" } else { "ASC" };
            match &o.field {
                Field::Metric(k) => {
                    let key = sql.arg(Arg::S(k.clone()));
                    order_sql.push(format!(
                        "(SELECT CASE WHEN m.is_nan = 1 THEN NULL ELSE m.value END FROM logged_model_metrics m \
                         WHERE m.model_id = lm.model_id AND m.key = {key} \
                         ORDER BY m.timestamp DESC, m.step DESC LIMIT 1) {dir} NULLS LAST"
                    ));
                }
                _ => {
                    let (expr, col) = query::order_column(o, "lm", self.backend)?;
                    by_creation |= col == "creation_time";
                    order_sql.push(format!("{expr} NULLS LAST"));
                }
            }
        }
        if !by_creation {
            order_sql.push("lm.creation_time DESC".into());
        }
        order_sql.push("lm.model_id ASC".into());
        let lim = sql.arg(Arg::I(limit as i64 + 1));
        let off = sql.arg(Arg::I(offset as i64));
        sql.text = format!(
            "SELECT {COLUMNS} FROM logged_models lm{} ORDER BY {} LIMIT {lim} OFFSET {off}",
            query::where_clause(&wheres),
            order_sql.join(", ")
        );
        let mut items = self.load_logged_models(&sql).await?;
        let more = items.len() > limit;
        items.truncate(limit);
        Ok(Page {
            items,
            next_page_token: more.then(|| encode_token(offset + limit, fp)),
        })
    }

    /// Sets one column of a model (`set` is `column = $1`) and bumps `last_updated_time`.
    async fn update_logged_model(&self, id: &str, set: &str, value: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE logged_models SET {set}, last_updated_time = $2 WHERE model_id = $3"
        )))
        .bind(value.to_string())
        .bind(now_ms())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(self.err("update logged model"))?;
        if r.rows_affected() == 0 {
            return Err(self.model_not_found(id));
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    async fn logged_model_exists(&self, tx: &mut Tx, id: &str) -> Result<()> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT model_id FROM logged_models WHERE model_id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut **tx)
                .await
                .map_err(self.err("read logged model"))?;
        match found {
            Some(_) => Ok(()),
            None => Err(self.model_not_found(id)),
        }
    }

    fn model_not_found(&self, id: &str) -> Error {
        Error::not_found(format!("logged model {id}"), &self.location)
    }

    async fn write_model_tags(
        &self,
        tx: &mut Tx,
        id: &str,
        tags: &[(String, String)],
    ) -> Result<()> {
        for (k, v) in tags {
            sqlx::query(
                "INSERT INTO logged_model_tags (model_id, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
            )
            .bind(id.to_string())
            .bind(k.clone())
            .bind(v.clone())
            .execute(&mut **tx)
            .await
            .map_err(self.err("set logged model tags"))?;
        }
        Ok(())
    }

    async fn write_model_params(
        &self,
        tx: &mut Tx,
        id: &str,
        params: &[(String, String)],
    ) -> Result<()> {
        if params.is_empty() {
            return Ok(());
        }
        let mut known: HashMap<String, String> =
            sqlx::query("SELECT key, value FROM logged_model_params WHERE model_id = $1")
                .bind(id.to_string())
                .fetch_all(&mut **tx)
                .await
                .map_err(self.err("read logged model params"))?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(self.err("read logged model params"))?;
        for (k, v) in params {
            match known.get(k) {
                Some(old) if old == v => continue,
                Some(old) => {
                    return Err(Error::Invalid(format!(
                        "param '{k}' of logged model {id} is already '{old}', cannot change it to '{v}'\n  hint: params are immutable; log a new model"
                    )));
                }
                None => {}
            }
            sqlx::query(
                "INSERT INTO logged_model_params (model_id, key, value) VALUES ($1, $2, $3)",
            )
            .bind(id.to_string())
            .bind(k.clone())
            .bind(v.clone())
            .execute(&mut **tx)
            .await
            .map_err(self.err("write logged model params"))?;
            known.insert(k.clone(), v.clone());
        }
        Ok(())
    }

    /// Runs a query selecting [`COLUMNS`] and attaches tags, params and metrics (one more
    /// query per 300 models).
    async fn load_logged_models(&self, sql: &Sql) -> Result<Vec<LoggedModel>> {
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("read logged models"))?;
        let mut out: Vec<LoggedModel> = rows
            .iter()
            .map(model_from_row)
            .collect::<Result<_, _>>()
            .map_err(self.err("read logged models"))?;
        let index: HashMap<String, usize> = out
            .iter()
            .enumerate()
            .map(|(i, m)| (m.model_id.clone(), i))
            .collect();
        let ids: Vec<String> = index.keys().cloned().collect();
        for chunk in ids.chunks(300) {
            let mut q = Sql::new(self.backend);
            let mut lists = Vec::with_capacity(3);
            for _ in 0..3 {
                lists.push(
                    chunk
                        .iter()
                        .map(|id| q.arg(Arg::S(id.clone())))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
            }
            let none = "CAST(NULL AS DOUBLE PRECISION), 0, 0, 0, CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT)";
            q.text = format!(
                "SELECT 0, model_id, key, value, {none} FROM logged_model_tags WHERE model_id IN ({}) \
                 UNION ALL SELECT 1, model_id, key, value, {none} FROM logged_model_params WHERE model_id IN ({}) \
                 UNION ALL SELECT 2, model_id, key, CAST(NULL AS TEXT), value, is_nan, step, timestamp, run_uuid, \
                 dataset_name, dataset_digest FROM logged_model_metrics WHERE model_id IN ({}) \
                 ORDER BY 1, 2, 3, 7, 8",
                lists[0], lists[1], lists[2]
            );
            let rows = q
                .query()
                .fetch_all(&self.pool)
                .await
                .map_err(self.err("read logged model data"))?;
            for r in rows {
                let e = self.err("read logged model data");
                let kind: i64 = r.try_get(0).map_err(&e)?;
                let id: String = r.try_get(1).map_err(&e)?;
                let Some(&i) = index.get(&id) else { continue };
                let key: String = r.try_get(2).map_err(&e)?;
                match kind {
                    0 => {
                        out[i].tags.insert(key, r.try_get(3).map_err(&e)?);
                    }
                    1 => {
                        out[i].params.insert(key, r.try_get(3).map_err(&e)?);
                    }
                    _ => out[i].metrics.push(LoggedModelMetric {
                        key,
                        value: loaded_value(r.try_get(4).map_err(&e)?, r.try_get(5).map_err(&e)?),
                        step: r.try_get(6).map_err(&e)?,
                        timestamp_ms: r.try_get(7).map_err(&e)?,
                        run_id: r.try_get(8).map_err(&e)?,
                        dataset_name: r.try_get(9).map_err(&e)?,
                        dataset_digest: r.try_get(10).map_err(&e)?,
                    }),
                }
            }
        }
        Ok(out)
    }
}

/// A bind parameter for an optional text, or SQL NULL.
fn optional(sql: &mut Sql, value: &Option<String>) -> String {
    match value {
        Some(v) => sql.arg(Arg::S(v.clone())),
        None => "NULL".to_string(),
    }
}

fn model_from_row(r: &AnyRow) -> Result<LoggedModel, sqlx::Error> {
    let status: String = r.try_get(7)?;
    Ok(LoggedModel {
        model_id: r.try_get(0)?,
        experiment_id: r.try_get(1)?,
        name: r.try_get(2)?,
        artifact_location: r.try_get(3)?,
        creation_time: r.try_get(4)?,
        last_updated_time: r.try_get(5)?,
        source_run_id: r.try_get(6)?,
        // Only this module writes the column, with the three known values.
        status: status.parse().unwrap_or(LoggedModelStatus::Failed),
        status_message: r.try_get(8)?,
        model_type: r.try_get(9)?,
        lifecycle_stage: r.try_get(10)?,
        tags: BTreeMap::new(),
        params: BTreeMap::new(),
        metrics: Vec::new(),
    })
}
