//! Experiments: creating (by name, or get-or-create for the CLI), reading with their tags,
//! renaming, deleting and restoring (with the runs they hold), tags, and search.
//!
//! MLflow's rules, kept here: names are unique among active and deleted experiments alike;
//! only an active experiment can be renamed, tagged or given runs; deleting an experiment
//! deletes its runs (experiment 0 included); a missing experiment or tag is NotFound.

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;
use sqlx::any::AnyRow;

use super::query::{self, Searched, Side, decode_token, encode_token, page_size};
use super::runs::validate_key;
use super::search::{MAX_RESULTS_DEFAULT, MAX_RESULTS_LIMIT};
use super::{Arg, AsyncStore, Sql, now_ms};
use crate::error::{Error, Result};
use crate::filter::{self, Entity, Field};
use crate::model::*;

const COLUMNS: &str = "e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time";

type Tx = super::WriteTx;

impl AsyncStore {
    /// The experiment called `name`, created if there is none (in any lifecycle stage). For
    /// the CLI, which names experiments rather than numbering them.
    pub async fn get_or_create_experiment(&self, name: &str) -> Result<ExperimentId> {
        validate_experiment_name(name)?;
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
                self.set_default_location(&mut tx, id).await?;
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

    /// Creates an experiment; [`Error::AlreadyExists`] if the name is taken, by an active or
    /// a deleted experiment (MLflow's rule). `artifact_location` None or empty: the id, as a
    /// path relative to the artifact root.
    pub async fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[(String, String)],
    ) -> Result<ExperimentId> {
        validate_experiment_name(name)?;
        for (k, _) in tags {
            validate_key(k, "tag")?;
        }
        let location = artifact_location.filter(|l| !l.is_empty());
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        self.name_is_free(&mut tx, name).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO experiments (name, artifact_location, creation_time, last_update_time) \
             VALUES ($1, $2, $3, $3) RETURNING experiment_id",
        )
        .bind(name.to_string())
        .bind(location.unwrap_or_default().to_string())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.taken_or(e, name, "create experiment"))?;
        if location.is_none() {
            self.set_default_location(&mut tx, id).await?;
        }
        for (k, v) in tags {
            upsert_tag(&mut tx, id, k, v)
                .await
                .map_err(self.err("set experiment tags"))?;
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(id)
    }

    /// An experiment in any lifecycle stage, with its tags.
    pub async fn get_experiment(&self, id: ExperimentId) -> Result<Experiment> {
        let mut sql = Sql::new(self.backend);
        let p = sql.arg(Arg::I(id));
        sql.text = format!("SELECT {COLUMNS} FROM experiments e WHERE e.experiment_id = {p}");
        self.load_experiments(&sql)
            .await?
            .pop()
            .ok_or_else(|| Error::not_found(format!("experiment {id}"), &self.location))
    }

    /// The experiment called `name`, active or deleted, with its tags.
    pub async fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        let mut sql = Sql::new(self.backend);
        let p = sql.arg(Arg::S(name.to_string()));
        sql.text = format!("SELECT {COLUMNS} FROM experiments e WHERE e.name = {p}");
        Ok(self.load_experiments(&sql).await?.pop())
    }

    /// Every experiment, active and deleted, by id.
    pub async fn list_experiments(&self) -> Result<Vec<Experiment>> {
        let mut sql = Sql::new(self.backend);
        sql.text = format!("SELECT {COLUMNS} FROM experiments e ORDER BY e.experiment_id");
        self.load_experiments(&sql).await
    }

    /// For each experiment with active runs: how many, and the latest start or end time among
    /// them (the web UI's experiments page; MLflow's messages carry neither).
    pub async fn experiment_activity(&self) -> Result<Vec<ExperimentActivity>> {
        let mut sql = Sql::new(self.backend);
        sql.text = "SELECT experiment_id, COUNT(*) AS n, MAX(start_time) AS started, MAX(COALESCE(end_time, start_time)) AS ended FROM runs WHERE lifecycle_stage = 'active' GROUP BY experiment_id ORDER BY experiment_id".to_string();
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("count runs per experiment"))?;
        rows.iter()
            .map(
                |row| -> std::result::Result<ExperimentActivity, sqlx::Error> {
                    let started: i64 = row.try_get("started")?;
                    let ended: i64 = row.try_get("ended")?;
                    Ok(ExperimentActivity {
                        experiment_id: row.try_get("experiment_id")?,
                        runs: row.try_get("n")?,
                        last_activity: started.max(ended),
                    })
                },
            )
            .collect::<std::result::Result<_, _>>()
            .map_err(self.err("count runs per experiment"))
    }

    /// Renames an active experiment; [`Error::AlreadyExists`] if another experiment has the
    /// name. Bumps `last_update_time`.
    pub async fn rename_experiment(&self, id: ExperimentId, new_name: &str) -> Result<()> {
        validate_experiment_name(new_name)?;
        let mut tx = self.begin_write().await?;
        let current = self.active_experiment(&mut tx, id).await?;
        if current != new_name {
            self.name_is_free(&mut tx, new_name).await?;
        }
        sqlx::query(
            "UPDATE experiments SET name = $1, last_update_time = $2 WHERE experiment_id = $3",
        )
        .bind(new_name.to_string())
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.taken_or(e, new_name, "rename experiment"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Marks an active experiment deleted, and its active runs with it. Experiment 0 can be
    /// deleted, as in MLflow. Deleting an experiment that is not active is NotFound (MLflow
    /// looks it up among active experiments only).
    pub async fn delete_experiment(&self, id: ExperimentId) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        if self.stage(&mut tx, id).await?.as_deref() != Some("active") {
            return Err(Error::not_found(
                format!("active experiment {id}"),
                &self.location,
            ));
        }
        sqlx::query(
            "UPDATE experiments SET lifecycle_stage = 'deleted', deleted_time = $1, last_update_time = $1 \
             WHERE experiment_id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(self.err("delete experiment"))?;
        // The same timestamp on the runs records which ones went with the experiment.
        sqlx::query(
            "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = $1 \
             WHERE experiment_id = $2 AND lifecycle_stage = 'active'",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(self.err("delete the experiment's runs"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Restores a deleted experiment and the runs its deletion took with it. MLflow restores
    /// every run of the experiment, even runs deleted on their own before; here those stay
    /// deleted. Restoring an experiment that is not deleted is NotFound, as in MLflow.
    pub async fn restore_experiment(&self, id: ExperimentId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if self.stage(&mut tx, id).await?.as_deref() != Some("deleted") {
            return Err(Error::not_found(
                format!("deleted experiment {id}"),
                &self.location,
            ));
        }
        let deleted_time: Option<i64> =
            sqlx::query_scalar("SELECT deleted_time FROM experiments WHERE experiment_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(self.err("read experiment"))?;
        sqlx::query(
            "UPDATE experiments SET lifecycle_stage = 'active', deleted_time = NULL, last_update_time = $1 \
             WHERE experiment_id = $2",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(self.err("restore experiment"))?;
        if let Some(t) = deleted_time {
            sqlx::query(
                "UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL \
                 WHERE experiment_id = $1 AND lifecycle_stage = 'deleted' AND deleted_time = $2",
            )
            .bind(id)
            .bind(t)
            .execute(&mut *tx)
            .await
            .map_err(self.err("restore the experiment's runs"))?;
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Sets (or replaces) a tag of an active experiment.
    pub async fn set_experiment_tag(&self, id: ExperimentId, key: &str, value: &str) -> Result<()> {
        validate_key(key, "tag")?;
        let mut tx = self.begin_write().await?;
        self.active_experiment(&mut tx, id).await?;
        upsert_tag(&mut tx, id, key, value)
            .await
            .map_err(self.err("set experiment tag"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Removes a tag of an active experiment; NotFound if it has no such tag (MLflow's
    /// SqlAlchemyStore raises RESOURCE_DOES_NOT_EXIST too).
    pub async fn delete_experiment_tag(&self, id: ExperimentId, key: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.active_experiment(&mut tx, id).await?;
        let r = sqlx::query("DELETE FROM experiment_tags WHERE experiment_id = $1 AND key = $2")
            .bind(id)
            .bind(key.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err("delete experiment tag"))?;
        if r.rows_affected() == 0 {
            return Err(Error::not_found(
                format!("tag '{key}' of experiment {id}"),
                &self.location,
            ));
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// MLflow's SearchExperiments. Without `order_by`: `creation_time DESC, experiment_id
    /// ASC`; with one that does not name `experiment_id`, ties are broken by `experiment_id
    /// DESC` (MLflow's SqlAlchemyStore appends exactly that).
    pub async fn search_experiments(&self, s: &SearchExperiments) -> Result<Page<Experiment>> {
        let conditions = filter::parse_for(&s.filter, Entity::Experiments)?;
        let orders = query::parse_orders(&s.order_by, Entity::Experiments)?;
        let limit = page_size(s.max_results, MAX_RESULTS_DEFAULT, MAX_RESULTS_LIMIT)?;
        let view = [s.view as u8];
        let fp = query::fingerprint(
            [s.filter.as_bytes(), view.as_slice()]
                .into_iter()
                .chain(s.order_by.iter().map(|o| o.as_bytes())),
        );
        let offset = decode_token(s.page_token.as_deref(), fp)?;

        let mut sql = Sql::new(self.backend);
        let mut wheres = Vec::new();
        match s.view {
            ViewType::ActiveOnly => wheres.push("e.lifecycle_stage = 'active'".to_string()),
            ViewType::DeletedOnly => wheres.push("e.lifecycle_stage = 'deleted'".to_string()),
            ViewType::All => {}
        }
        let on = Searched {
            alias: "e",
            tags: Some(Side {
                table: "experiment_tags",
                link: "x.experiment_id = e.experiment_id",
            }),
            params: None,
            metrics: None,
        };
        for c in &conditions {
            wheres.push(query::condition(&mut sql, c, &on)?);
        }
        let mut order_sql = Vec::new();
        if orders.is_empty() {
            order_sql.push("e.creation_time DESC".to_string());
            order_sql.push("e.experiment_id ASC".to_string());
        } else {
            for o in &orders {
                order_sql.push(query::order_column(o, "e", self.backend)?.0);
            }
            let by_id = orders
                .iter()
                .any(|o| matches!(&o.field, Field::Column(c) if c.name == "experiment_id"));
            if !by_id {
                order_sql.push("e.experiment_id DESC".to_string());
            }
        }
        let lim = sql.arg(Arg::I(limit as i64 + 1));
        let off = sql.arg(Arg::I(offset as i64));
        sql.text = format!(
            "SELECT {COLUMNS} FROM experiments e{} ORDER BY {} LIMIT {lim} OFFSET {off}",
            query::where_clause(&wheres),
            order_sql.join(", ")
        );
        let mut items = self.load_experiments(&sql).await?;
        let more = items.len() > limit;
        items.truncate(limit);
        Ok(Page {
            items,
            next_page_token: more.then(|| encode_token(offset + limit, fp)),
        })
    }

    /// Checks, inside a write, that an experiment exists and is active; returns its name.
    pub(super) async fn active_experiment(&self, tx: &mut Tx, id: ExperimentId) -> Result<String> {
        let row =
            sqlx::query("SELECT name, lifecycle_stage FROM experiments WHERE experiment_id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(self.err("read experiment"))?
                .ok_or_else(|| Error::not_found(format!("experiment {id}"), &self.location))?;
        let name: String = row.try_get(0).map_err(self.err("read experiment"))?;
        let stage: String = row.try_get(1).map_err(self.err("read experiment"))?;
        if stage != "active" {
            return Err(Error::Invalid(format!(
                "experiment {id} ('{name}') is deleted\n  hint: restore it first"
            )));
        }
        Ok(name)
    }

    async fn stage(&self, tx: &mut Tx, id: ExperimentId) -> Result<Option<String>> {
        let stage: Option<String> =
            sqlx::query_scalar("SELECT lifecycle_stage FROM experiments WHERE experiment_id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(self.err("read experiment"))?;
        match stage {
            None => Err(Error::not_found(format!("experiment {id}"), &self.location)),
            s => Ok(s),
        }
    }

    async fn name_is_free(&self, tx: &mut Tx, name: &str) -> Result<()> {
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT experiment_id FROM experiments WHERE name = $1")
                .bind(name.to_string())
                .fetch_optional(&mut **tx)
                .await
                .map_err(self.err("read experiment"))?;
        match taken {
            Some(other) => Err(Error::already_exists(
                format!("experiment '{name}' (id {other})"),
                &self.location,
            )),
            None => Ok(()),
        }
    }

    fn taken_or(&self, e: sqlx::Error, name: &str, context: &'static str) -> Error {
        if Error::is_unique_violation(&e) {
            Error::already_exists(format!("experiment '{name}'"), &self.location)
        } else {
            Error::db(&self.location, context, e)
        }
    }

    async fn set_default_location(&self, tx: &mut Tx, id: ExperimentId) -> Result<()> {
        sqlx::query("UPDATE experiments SET artifact_location = $1 WHERE experiment_id = $2")
            .bind(id.to_string())
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(self.err("create experiment"))?;
        Ok(())
    }

    /// Runs a query selecting [`COLUMNS`] and attaches each experiment's tags (one more query
    /// for all of them).
    async fn load_experiments(&self, sql: &Sql) -> Result<Vec<Experiment>> {
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("read experiments"))?;
        let mut out: Vec<Experiment> = rows
            .iter()
            .map(experiment_from_row)
            .collect::<Result<_, _>>()
            .map_err(self.err("read experiments"))?;
        if out.is_empty() {
            return Ok(out);
        }
        let index: HashMap<i64, usize> = out
            .iter()
            .enumerate()
            .map(|(i, e)| (e.experiment_id, i))
            .collect();
        let ids: Vec<i64> = index.keys().copied().collect();
        for chunk in ids.chunks(500) {
            let mut q = Sql::new(self.backend);
            let list = chunk
                .iter()
                .map(|id| q.arg(Arg::I(*id)))
                .collect::<Vec<_>>()
                .join(", ");
            q.text = format!(
                "SELECT experiment_id, key, value FROM experiment_tags WHERE experiment_id IN ({list})"
            );
            let rows = q
                .query()
                .fetch_all(&self.pool)
                .await
                .map_err(self.err("read experiment tags"))?;
            for r in rows {
                let e = self.err("read experiment tags");
                let id: i64 = r.try_get(0).map_err(&e)?;
                if let Some(&i) = index.get(&id) {
                    out[i]
                        .tags
                        .insert(r.try_get(1).map_err(&e)?, r.try_get(2).map_err(&e)?);
                }
            }
        }
        Ok(out)
    }
}

fn experiment_from_row(r: &AnyRow) -> Result<Experiment, sqlx::Error> {
    Ok(Experiment {
        experiment_id: r.try_get(0)?,
        name: r.try_get(1)?,
        artifact_location: r.try_get(2)?,
        lifecycle_stage: r.try_get(3)?,
        creation_time: r.try_get(4)?,
        last_update_time: r.try_get(5)?,
        tags: BTreeMap::new(),
    })
}

async fn upsert_tag(tx: &mut Tx, id: i64, key: &str, value: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO experiment_tags (experiment_id, key, value) VALUES ($1, $2, $3) \
         ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
    )
    .bind(id)
    .bind(key.to_string())
    .bind(value.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn validate_experiment_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::Invalid("experiment name must not be empty".into()));
    }
    Ok(())
}
