//! Registered models: create, read (with tags, aliases and the latest version), rename (with
//! everything that hangs off the name), describe, delete (with everything too), tags, and
//! search. Versions are `versions.rs`, aliases `aliases.rs`.

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;
use sqlx::any::AnyRow;

use super::query::{self, Searched, Side, decode_token, encode_token, page_size};
use super::runs::validate_key;
use super::versions::{Aliases, FIRST_IN_STAGE, LATEST_IN_STAGE, VERSION_COLUMNS};
use super::{Arg, AsyncStore, Sql, now_ms};
use crate::error::{Error, Result};
use crate::filter::{self, Entity, Field};
use crate::model::*;

type Tx = super::WriteTx;

/// MLflow's SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT and _THRESHOLD.
const SEARCH_DEFAULT: usize = 100;
const SEARCH_LIMIT: usize = 1000;

const MODEL_COLUMNS: &str = "m.name, m.description, m.creation_time, m.last_updated_time, \
    (SELECT MAX(w.version) FROM model_versions w WHERE w.name = m.name)";

/// Tables keyed by a registered model's name, which a rename moves and a delete empties.
/// `registered_models` itself is handled apart: other tables reference its name.
const NAMED_TABLES: [&str; 6] = [
    "model_versions",
    "model_version_tags",
    "model_version_metrics",
    "model_aliases",
    "model_alias_history",
    "registered_model_tags",
];

impl AsyncStore {
    /// MLflow's CreateRegisteredModel; [`Error::AlreadyExists`] if the name is taken.
    pub async fn create_registered_model(
        &self,
        name: &str,
        description: &str,
        tags: &[(String, String)],
    ) -> Result<RegisteredModel> {
        validate_model_name(name)?;
        for (k, _) in tags {
            validate_key(k, "tag")?;
        }
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        self.model_name_is_free(&mut tx, name).await?;
        sqlx::query(
            "INSERT INTO registered_models (name, description, creation_time, last_updated_time) \
             VALUES ($1, $2, $3, $3)",
        )
        .bind(name.to_string())
        .bind(description.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.model_taken_or(e, name, "create registered model"))?;
        for (k, v) in tags {
            upsert_model_tag(&mut tx, name, k, v)
                .await
                .map_err(self.err("set registered model tags"))?;
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(RegisteredModel {
            name: name.to_string(),
            description: description.to_string(),
            creation_time: now,
            last_updated_time: now,
            latest_version: None,
            aliases: BTreeMap::new(),
            tags: tags.iter().cloned().collect(),
            latest_versions: Vec::new(),
        })
    }

    /// A registered model with its tags, aliases and latest version; NotFound if absent.
    pub async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let mut sql = Sql::new(self.backend);
        let p = sql.arg(Arg::S(name.to_string()));
        sql.text = format!("SELECT {MODEL_COLUMNS} FROM registered_models m WHERE m.name = {p}");
        self.load_models(&sql)
            .await?
            .pop()
            .ok_or_else(|| Error::not_found(format!("registered model '{name}'"), &self.location))
    }

    /// Every registered model, by name.
    pub async fn list_models(&self) -> Result<Vec<RegisteredModel>> {
        let mut sql = Sql::new(self.backend);
        sql.text = format!("SELECT {MODEL_COLUMNS} FROM registered_models m ORDER BY m.name");
        self.load_models(&sql).await
    }

    /// Renames a model and moves its versions, aliases, tags, version metrics and alias
    /// history with it, in one transaction; [`Error::AlreadyExists`] if the new name is taken.
    /// Versions get a new `last_updated_time`, as in MLflow.
    pub async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
    ) -> Result<RegisteredModel> {
        validate_model_name(new_name)?;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        self.model_in_tx(&mut tx, name).await?;
        if new_name != name {
            self.model_name_is_free(&mut tx, new_name).await?;
            // Versions and aliases reference the model's name: create the new row, move the
            // references, then drop the old row, so that no constraint sees a dangling name.
            sqlx::query(
                "INSERT INTO registered_models (name, description, creation_time, last_updated_time, last_version) \
                 SELECT $1, description, creation_time, $2, last_version FROM registered_models WHERE name = $3",
            )
            .bind(new_name.to_string())
            .bind(now)
            .bind(name.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.model_taken_or(e, new_name, "rename registered model"))?;
            for table in NAMED_TABLES {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {table} SET name = $1 WHERE name = $2"
                )))
                .bind(new_name.to_string())
                .bind(name.to_string())
                .execute(&mut *tx)
                .await
                .map_err(self.err("rename registered model"))?;
            }
            sqlx::query("UPDATE model_versions SET last_updated_time = $1 WHERE name = $2")
                .bind(now)
                .bind(new_name.to_string())
                .execute(&mut *tx)
                .await
                .map_err(self.err("rename registered model"))?;
            sqlx::query("DELETE FROM registered_models WHERE name = $1")
                .bind(name.to_string())
                .execute(&mut *tx)
                .await
                .map_err(self.err("rename registered model"))?;
        }
        tx.commit().await.map_err(self.err("commit"))?;
        self.get_registered_model(new_name).await
    }

    /// Sets a model's description; bumps its `last_updated_time`.
    pub async fn update_registered_model(
        &self,
        name: &str,
        description: &str,
    ) -> Result<RegisteredModel> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "UPDATE registered_models SET description = $1, last_updated_time = $2 WHERE name = $3",
        )
        .bind(description.to_string())
        .bind(now_ms())
        .bind(name.to_string())
        .execute(&mut *tx)
        .await
        .map_err(self.err("update registered model"))?;
        if r.rows_affected() == 0 {
            return Err(Error::not_found(
                format!("registered model '{name}'"),
                &self.location,
            ));
        }
        tx.commit().await.map_err(self.err("commit"))?;
        self.get_registered_model(name).await
    }

    /// Deletes a model with its versions, version tags and metrics, aliases, alias history
    /// and tags (MLflow cascades the same way). The runs and artifacts stay.
    pub async fn delete_registered_model(&self, name: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.model_in_tx(&mut tx, name).await?;
        for table in NAMED_TABLES.iter().rev().chain(&["registered_models"]) {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE name = $1"
            )))
            .bind(name.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err("delete registered model"))?;
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    pub async fn set_registered_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()> {
        validate_key(key, "tag")?;
        let mut tx = self.begin_write().await?;
        self.model_in_tx(&mut tx, name).await?;
        upsert_model_tag(&mut tx, name, key, value)
            .await
            .map_err(self.err("set registered model tag"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Removes a model's tag. The model must exist; a tag it does not have is not an error
    /// (MLflow's SqlAlchemyStore ignores it too).
    pub async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.model_in_tx(&mut tx, name).await?;
        sqlx::query("DELETE FROM registered_model_tags WHERE name = $1 AND key = $2")
            .bind(name.to_string())
            .bind(key.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err("delete registered model tag"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// MLflow's SearchRegisteredModels. Filter: `name = 'x'`, `name LIKE`/`ILIKE`/`!=`,
    /// `tags.k = 'v'` (and `!=`, LIKE, ILIKE; a model without tag k matches none of them).
    /// Prompts (models tagged `mlflow.prompt.is_prompt` = 'true') are left out unless the
    /// filter asks for them, as MLflow does. Order: `name`, `last_updated_timestamp` (or
    /// `timestamp`), `creation_timestamp`, each ASC or DESC, then `name ASC` unless named
    /// (MLflow's tie-breaker and default). `max_results` 0 means 100; at most 1,000.
    pub async fn search_registered_models(
        &self,
        filter: &str,
        order_by: &[String],
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<Page<RegisteredModel>> {
        let conditions = filter::parse_for(filter, Entity::RegisteredModels)?;
        let orders = query::parse_orders(order_by, Entity::RegisteredModels)?;
        let limit = page_size(max_results, SEARCH_DEFAULT, SEARCH_LIMIT)?;
        let fp = query::fingerprint(
            [b"registered-models".as_slice(), filter.as_bytes()]
                .into_iter()
                .chain(order_by.iter().map(|o| o.as_bytes())),
        );
        let offset = decode_token(page_token, fp)?;
        let mut sql = Sql::new(self.backend);
        let on = Searched {
            alias: "m",
            tags: Some(Side {
                table: "registered_model_tags",
                link: "x.name = m.name",
            }),
            params: None,
            metrics: None,
        };
        let (conditions, no_prompts) = query::prompt_filter(conditions);
        let mut wheres = conditions
            .iter()
            .map(|c| query::condition(&mut sql, c, &on))
            .collect::<Result<Vec<_>>>()?;
        if no_prompts {
            wheres.push(query::not_a_prompt(
                &mut sql,
                "registered_model_tags",
                "m.name",
            ));
        }
        let mut order_sql = Vec::new();
        for o in &orders {
            order_sql.push(query::order_column(o, "m", self.backend)?.0);
        }
        if !orders
            .iter()
            .any(|o| matches!(&o.field, Field::Column(c) if c.name == "name"))
        {
            order_sql.push("m.name ASC".into());
        }
        let lim = sql.arg(Arg::I(limit as i64 + 1));
        let off = sql.arg(Arg::I(offset as i64));
        sql.text = format!(
            "SELECT {MODEL_COLUMNS} FROM registered_models m{} ORDER BY {} LIMIT {lim} OFFSET {off}",
            query::where_clause(&wheres),
            order_sql.join(", ")
        );
        let mut items = self.load_models(&sql).await?;
        let more = items.len() > limit;
        items.truncate(limit);
        Ok(Page {
            items,
            next_page_token: more.then(|| encode_token(offset + limit, fp)),
        })
    }

    /// NotFound unless a registered model called `name` exists.
    pub(super) async fn registered_model_exists(&self, name: &str) -> Result<()> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT name FROM registered_models WHERE name = $1")
                .bind(name.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(self.err("read registered model"))?;
        match found {
            Some(_) => Ok(()),
            None => Err(Error::not_found(
                format!("registered model '{name}'"),
                &self.location,
            )),
        }
    }

    async fn model_in_tx(&self, tx: &mut Tx, name: &str) -> Result<()> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT name FROM registered_models WHERE name = $1")
                .bind(name.to_string())
                .fetch_optional(&mut **tx)
                .await
                .map_err(self.err("read registered model"))?;
        match found {
            Some(_) => Ok(()),
            None => Err(Error::not_found(
                format!("registered model '{name}'"),
                &self.location,
            )),
        }
    }

    async fn model_name_is_free(&self, tx: &mut Tx, name: &str) -> Result<()> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT name FROM registered_models WHERE name = $1")
                .bind(name.to_string())
                .fetch_optional(&mut **tx)
                .await
                .map_err(self.err("read registered model"))?;
        match found {
            Some(_) => Err(Error::already_exists(
                format!("registered model '{name}'"),
                &self.location,
            )),
            None => Ok(()),
        }
    }

    fn model_taken_or(&self, e: sqlx::Error, name: &str, context: &'static str) -> Error {
        if Error::is_unique_violation(&e) {
            Error::already_exists(format!("registered model '{name}'"), &self.location)
        } else {
            Error::db(&self.location, context, e)
        }
    }

    /// Runs a query selecting [`MODEL_COLUMNS`] and attaches tags and aliases (one query) and
    /// the latest version of each model in each stage (one more, through `load_versions`).
    async fn load_models(&self, sql: &Sql) -> Result<Vec<RegisteredModel>> {
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("read registered models"))?;
        let mut out: Vec<RegisteredModel> = rows
            .iter()
            .map(model_from_row)
            .collect::<Result<_, _>>()
            .map_err(self.err("read registered models"))?;
        let index: HashMap<String, usize> = out
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        let names: Vec<String> = out.iter().map(|m| m.name.clone()).collect();
        for chunk in names.chunks(300) {
            let mut q = Sql::new(self.backend);
            let mut list = || {
                chunk
                    .iter()
                    .map(|n| q.arg(Arg::S(n.clone())))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let (tags, aliases) = (list(), list());
            q.text = format!(
                "SELECT 0, name, key, value, 0 FROM registered_model_tags WHERE name IN ({tags}) \
                 UNION ALL SELECT 1, name, alias, '', version FROM model_aliases WHERE name IN ({aliases})"
            );
            let rows = q
                .query()
                .fetch_all(&self.pool)
                .await
                .map_err(self.err("read registered model data"))?;
            for r in rows {
                let e = self.err("read registered model data");
                let kind: i64 = r.try_get(0).map_err(&e)?;
                let name: String = r.try_get(1).map_err(&e)?;
                let Some(&i) = index.get(&name) else { continue };
                let key: String = r.try_get(2).map_err(&e)?;
                if kind == 0 {
                    out[i].tags.insert(key, r.try_get(3).map_err(&e)?);
                } else {
                    out[i].aliases.insert(key, r.try_get(4).map_err(&e)?);
                }
            }
            let mut v = Sql::new(self.backend);
            let list = chunk
                .iter()
                .map(|n| v.arg(Arg::S(n.clone())))
                .collect::<Vec<_>>()
                .join(", ");
            v.text = format!(
                "SELECT {VERSION_COLUMNS} FROM model_versions v WHERE v.name IN ({list}) \
                 AND {LATEST_IN_STAGE} ORDER BY {FIRST_IN_STAGE}"
            );
            for version in self.load_versions(&v, Aliases::Without).await? {
                if let Some(&i) = index.get(&version.name) {
                    out[i].latest_versions.push(version);
                }
            }
        }
        Ok(out)
    }
}

fn model_from_row(r: &AnyRow) -> Result<RegisteredModel, sqlx::Error> {
    Ok(RegisteredModel {
        name: r.try_get(0)?,
        description: r.try_get(1)?,
        creation_time: r.try_get(2)?,
        last_updated_time: r.try_get(3)?,
        latest_version: r.try_get(4)?,
        aliases: BTreeMap::new(),
        tags: BTreeMap::new(),
        latest_versions: Vec::new(),
    })
}

async fn upsert_model_tag(
    tx: &mut Tx,
    name: &str,
    key: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO registered_model_tags (name, key, value) VALUES ($1, $2, $3) \
         ON CONFLICT (name, key) DO UPDATE SET value = excluded.value",
    )
    .bind(name.to_string())
    .bind(key.to_string())
    .bind(value.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) fn validate_model_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('@') || name.contains('/') {
        return Err(Error::Invalid(format!(
            "model name '{name}' must be non-empty and contain neither '@' nor '/'\n  hint: those characters separate aliases and versions in NAME@alias and NAME/version"
        )));
    }
    Ok(())
}
