//! Model versions: registering a run's artifact (whet) or any source (MLflow's
//! CreateModelVersion), reading, updating and deleting versions, their tags, and search.
//!
//! Version numbers come from `registered_models.last_version`, so that a deleted version's
//! number is never given again (MLflow keeps a redacted row for the same end). Every version is
//! READY when created, in stage "None"; MLflow's (deprecated) stages are kept for its clients:
//! `transition_model_version_stage` and the latest version per stage.

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;
use sqlx::any::AnyRow;

use super::artifacts::{prefix_len, validate_artifact_path};
use super::query::{self, Searched, Side, decode_token, encode_token, page_size};
use super::registry::validate_model_name;
use super::runs::validate_key;
use super::{Arg, AsyncStore, Sql, default_user, now_ms};
use crate::error::{Error, Result};
use crate::filter::{self, Entity, Field};
use crate::model::*;

type Tx = super::WriteTx;

/// Whether versions read come with their aliases. MLflow fills them in when a version is read
/// (GetModelVersion, GetLatestVersions, the alias lookup) but not in SearchModelVersions nor in
/// a registered model's `latest_versions`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Aliases {
    With,
    Without,
}

/// Keeps a version `v` only if it is the highest of its model in its stage.
pub(super) const LATEST_IN_STAGE: &str = "v.version = (SELECT MAX(w.version) FROM model_versions w \
    WHERE w.name = v.name AND w.current_stage = v.current_stage)";

/// Orders the latest versions of one model per stage as MLflow does: by the lowest version in
/// each stage (MLflow keeps the stages in the order it meets them, walking versions upwards).
pub(super) const FIRST_IN_STAGE: &str = "v.name, (SELECT MIN(w.version) FROM model_versions w \
    WHERE w.name = v.name AND w.current_stage = v.current_stage)";

/// MLflow's SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT and _THRESHOLD.
const SEARCH_DEFAULT: usize = 10_000;
const SEARCH_LIMIT: usize = 200_000;

pub(super) const VERSION_COLUMNS: &str = "v.name, v.version, v.run_uuid, v.source, v.source_kind, v.status, \
    v.status_message, v.description, v.creation_time, v.last_updated_time, v.model_id, v.run_link, \
    v.current_stage, v.user_id";

impl AsyncStore {
    /// Registers the run's artifact (a file or folder already logged) as the next version of
    /// model `name`, creating the model if needed (whet's CLI registers this way), as
    /// registered by this process's user. Returns the version number.
    pub async fn register_model(
        &self,
        name: &str,
        run: &str,
        artifact_path: &str,
        metrics: &[(String, f64)],
    ) -> Result<i64> {
        self.register_model_by(name, run, artifact_path, metrics, &default_user())
            .await
    }

    /// [`AsyncStore::register_model`] recording `user` as who registered it (the server passes
    /// on the token name, or the name a remote whet client sends).
    pub async fn register_model_by(
        &self,
        name: &str,
        run: &str,
        artifact_path: &str,
        metrics: &[(String, f64)],
        user: &str,
    ) -> Result<i64> {
        validate_model_name(name)?;
        let user = if user.is_empty() {
            default_user()
        } else {
            user.to_string()
        };
        validate_artifact_path(artifact_path)?;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        self.check_run_artifact(&mut tx, run, artifact_path).await?;
        sqlx::query(
            "INSERT INTO registered_models (name, description, creation_time, last_updated_time) \
             VALUES ($1, '', $2, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.err("create registered model"))?;
        let version = self.next_version(&mut tx, name, now).await?;
        let new = NewModelVersion {
            name: name.to_string(),
            source: artifact_path.to_string(),
            source_kind: SourceKind::RunArtifact,
            run_id: Some(run.to_string()),
            user_id: user,
            ..Default::default()
        };
        self.insert_version(&mut tx, &new, version, now).await?;
        // A NaN score says no more than a missing one, and SQLite cannot store it (it reads
        // back as NULL): it is left out.
        for (k, v) in metrics.iter().filter(|(_, v)| !v.is_nan()) {
            sqlx::query(
                "INSERT INTO model_version_metrics (name, version, key, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value",
            )
            .bind(name.to_string())
            .bind(version)
            .bind(k.clone())
            .bind(*v)
            .execute(&mut *tx)
            .await
            .map_err(self.err("record model version metrics"))?;
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(version)
    }

    /// MLflow's CreateModelVersion: the next version of an existing registered model (NotFound
    /// otherwise, as MLflow requires the model to exist), READY at once. A
    /// [`SourceKind::RunArtifact`] source must be an artifact the active run `run_id` has
    /// logged; a [`SourceKind::Uri`] is kept verbatim and its run, if any, is not checked
    /// (MLflow does not check it either).
    pub async fn create_model_version(&self, new: &NewModelVersion) -> Result<ModelVersion> {
        validate_model_name(&new.name)?;
        for (k, _) in &new.tags {
            validate_key(k, "tag")?;
        }
        if new.source.is_empty() {
            return Err(Error::Invalid(
                "model version source must not be empty".into(),
            ));
        }
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        if new.source_kind == SourceKind::RunArtifact {
            validate_artifact_path(&new.source)?;
            let run = new.run_id.as_deref().ok_or_else(|| {
                Error::Invalid(format!(
                    "model version source '{}' is a run artifact but no run was given\n  hint: give the run id, or register the source as a URI",
                    new.source
                ))
            })?;
            self.check_run_artifact(&mut tx, run, &new.source).await?;
        }
        let version = self.next_version(&mut tx, &new.name, now).await?;
        self.insert_version(&mut tx, new, version, now).await?;
        for (k, v) in &new.tags {
            upsert_version_tag(&mut tx, &new.name, version, k, v)
                .await
                .map_err(self.err("set model version tags"))?;
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(ModelVersion {
            name: new.name.clone(),
            version,
            run_id: new.run_id.clone().unwrap_or_default(),
            source: new.source.clone(),
            source_kind: new.source_kind,
            status: "READY".into(),
            status_message: String::new(),
            current_stage: Stage::None,
            description: new.description.clone(),
            creation_time: now,
            last_updated_time: now,
            metrics: BTreeMap::new(),
            aliases: Vec::new(),
            tags: new.tags.iter().cloned().collect(),
            model_id: new.model_id.clone(),
            run_link: new.run_link.clone(),
            user_id: new.user_id.clone(),
        })
    }

    pub async fn get_model_version(&self, name: &str, which: &VersionRef) -> Result<ModelVersion> {
        let version: Option<i64> = match which {
            VersionRef::Number(n) => Some(*n),
            VersionRef::Latest => {
                sqlx::query_scalar("SELECT MAX(version) FROM model_versions WHERE name = $1")
                    .bind(name.to_string())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(self.err("read model versions"))?
            }
            VersionRef::Alias(a) => sqlx::query_scalar(
                "SELECT version FROM model_aliases WHERE name = $1 AND alias = $2",
            )
            .bind(name.to_string())
            .bind(a.clone())
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err("read alias"))?,
        };
        let describe = || match which {
            VersionRef::Number(n) => format!("model {name} version {n}"),
            VersionRef::Latest => format!("model {name}"),
            VersionRef::Alias(a) => format!("model {name}@{a}"),
        };
        if let (None, VersionRef::Alias(a)) = (version, which) {
            // MLflow: an unknown model is RESOURCE_DOES_NOT_EXIST, an unknown alias of a model
            // that exists INVALID_PARAMETER_VALUE, with this message (its first line).
            self.registered_model_exists(name).await?;
            return Err(Error::Invalid(format!(
                "Registered model alias {a} not found.\n  hint: model {name} has no alias '{a}'; set it before using {name}@{a}"
            )));
        }
        let version = version.ok_or_else(|| Error::not_found(describe(), &self.location))?;
        let mut all = self.model_versions(name, Some(version)).await?;
        all.pop()
            .ok_or_else(|| Error::not_found(describe(), &self.location))
    }

    /// All versions of a model (or one), newest first, with metrics, tags and aliases.
    pub async fn model_versions(&self, name: &str, only: Option<i64>) -> Result<Vec<ModelVersion>> {
        let mut sql = Sql::new(self.backend);
        let n = sql.arg(Arg::S(name.to_string()));
        let only = match only {
            Some(v) => format!(" AND v.version = {}", sql.arg(Arg::I(v))),
            None => String::new(),
        };
        sql.text = format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions v WHERE v.name = {n}{only} ORDER BY v.version DESC"
        );
        self.load_versions(&sql, Aliases::With).await
    }

    /// MLflow's GetLatestVersions without stages: the highest version in each stage that has
    /// one. NotFound if there is no such registered model.
    pub async fn latest_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        self.latest_versions_in(name, &[]).await
    }

    /// MLflow's GetLatestVersions: the highest version in each of `stages` (names in any case,
    /// e.g. "Staging", "none"; an unknown one is [`Error::Invalid`] with MLflow's message) that
    /// has one, or in every stage when `stages` is empty; stages in the order their lowest
    /// version has them, as MLflow lists them. NotFound if there is no such registered model.
    pub async fn latest_versions_in(
        &self,
        name: &str,
        stages: &[String],
    ) -> Result<Vec<ModelVersion>> {
        let stages = stages
            .iter()
            .map(|s| s.parse::<Stage>())
            .collect::<Result<Vec<_>>>()?;
        self.registered_model_exists(name).await?;
        let mut sql = Sql::new(self.backend);
        let n = sql.arg(Arg::S(name.to_string()));
        let only = if stages.is_empty() {
            String::new()
        } else {
            let list = stages
                .iter()
                .map(|s| sql.arg(Arg::S(s.as_str().to_string())))
                .collect::<Vec<_>>()
                .join(", ");
            format!(" AND v.current_stage IN ({list})")
        };
        sql.text = format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions v WHERE v.name = {n}{only} AND {LATEST_IN_STAGE} \
             ORDER BY {FIRST_IN_STAGE}"
        );
        self.load_versions(&sql, Aliases::With).await
    }

    /// MLflow's TransitionModelVersionStage: moves a version to `stage` (any case; an unknown
    /// one is [`Error::Invalid`] with MLflow's message) and returns it. With
    /// `archive_existing_versions`, the model's other versions in that stage move to Archived,
    /// which only Staging and Production allow. The versions moved and the model get a new
    /// `last_updated_time`. NotFound if there is no such version.
    pub async fn transition_model_version_stage(
        &self,
        name: &str,
        version: i64,
        stage: &str,
        archive_existing_versions: bool,
    ) -> Result<ModelVersion> {
        let target: Stage = stage.parse()?;
        if archive_existing_versions && !target.is_active() {
            return Err(Error::Invalid(format!(
                "Model version transition cannot archive existing model versions because '{stage}' is not an Active stage. Valid stages are ['Staging', 'Production']"
            )));
        }
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        self.version_exists(&mut tx, name, version).await?;
        if archive_existing_versions {
            sqlx::query(
                "UPDATE model_versions SET current_stage = $1, last_updated_time = $2 \
                 WHERE name = $3 AND version <> $4 AND current_stage = $5",
            )
            .bind(Stage::Archived.as_str())
            .bind(now)
            .bind(name.to_string())
            .bind(version)
            .bind(target.as_str())
            .execute(&mut *tx)
            .await
            .map_err(self.err("archive model versions"))?;
        }
        sqlx::query(
            "UPDATE model_versions SET current_stage = $1, last_updated_time = $2 \
             WHERE name = $3 AND version = $4",
        )
        .bind(target.as_str())
        .bind(now)
        .bind(name.to_string())
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(self.err("transition model version stage"))?;
        sqlx::query("UPDATE registered_models SET last_updated_time = $1 WHERE name = $2")
            .bind(now)
            .bind(name.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err("update registered model"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        self.get_model_version(name, &VersionRef::Number(version))
            .await
    }

    /// Sets a version's description; bumps its `last_updated_time`.
    pub async fn update_model_version(
        &self,
        name: &str,
        version: i64,
        description: &str,
    ) -> Result<ModelVersion> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "UPDATE model_versions SET description = $1, last_updated_time = $2 WHERE name = $3 AND version = $4",
        )
        .bind(description.to_string())
        .bind(now_ms())
        .bind(name.to_string())
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(self.err("update model version"))?;
        if r.rows_affected() == 0 {
            return Err(self.version_not_found(name, version));
        }
        tx.commit().await.map_err(self.err("commit"))?;
        self.get_model_version(name, &VersionRef::Number(version))
            .await
    }

    /// Deletes a version with its tags and metrics. Aliases pointing at it are removed too,
    /// each removal recorded in the alias history. The number is not given again.
    pub async fn delete_model_version(&self, name: &str, version: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM model_versions WHERE name = $1 AND version = $2",
        )
        .bind(name.to_string())
        .bind(version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(self.err("read model version"))?;
        if exists.is_none() {
            return Err(self.version_not_found(name, version));
        }
        let aliases: Vec<String> = sqlx::query_scalar(
            "SELECT alias FROM model_aliases WHERE name = $1 AND version = $2 ORDER BY alias",
        )
        .bind(name.to_string())
        .bind(version)
        .fetch_all(&mut *tx)
        .await
        .map_err(self.err("read aliases"))?;
        for alias in &aliases {
            self.record_alias_move(&mut tx, name, alias, None, Some(version), "")
                .await?;
        }
        for table in [
            "model_aliases",
            "model_version_tags",
            "model_version_metrics",
            "model_versions",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE name = $1 AND version = $2"
            )))
            .bind(name.to_string())
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(self.err("delete model version"))?;
        }
        sqlx::query("UPDATE registered_models SET last_updated_time = $1 WHERE name = $2")
            .bind(now_ms())
            .bind(name.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err("update registered model"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    pub async fn set_model_version_tag(
        &self,
        name: &str,
        version: i64,
        key: &str,
        value: &str,
    ) -> Result<()> {
        validate_key(key, "tag")?;
        let mut tx = self.begin_write().await?;
        self.version_exists(&mut tx, name, version).await?;
        upsert_version_tag(&mut tx, name, version, key, value)
            .await
            .map_err(self.err("set model version tag"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Removes a version's tag. The version must exist; a tag it does not have is not an
    /// error (MLflow's SqlAlchemyStore ignores it too).
    pub async fn delete_model_version_tag(
        &self,
        name: &str,
        version: i64,
        key: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.version_exists(&mut tx, name, version).await?;
        sqlx::query("DELETE FROM model_version_tags WHERE name = $1 AND version = $2 AND key = $3")
            .bind(name.to_string())
            .bind(version)
            .bind(key.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err("delete model version tag"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// MLflow's SearchModelVersions. Filter: `name = 'x'`, `name LIKE`/`ILIKE`, `run_id =
    /// '…'`, `run_id IN ('…', …)`, `source_path = '…'`, `version_number > 2`, `tags.k =
    /// 'v'`. Order: `name`, `version_number`, `creation_timestamp`, `last_updated_timestamp`,
    /// then `name ASC` and `version_number DESC` for whichever is not named (MLflow's
    /// tie-breakers); with no order given, `last_updated_timestamp DESC` first (MLflow's
    /// default). Like MLflow's, the versions found
    /// come without their aliases (read a version for those). Versions of prompts (a version of
    /// the model tagged `mlflow.prompt.is_prompt` = 'true') are left out unless the filter asks
    /// for them, as MLflow does. `max_results` 0 means 10,000; at most 200,000.
    pub async fn search_model_versions(
        &self,
        filter: &str,
        order_by: &[String],
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<Page<ModelVersion>> {
        let conditions = filter::parse_for(filter, Entity::ModelVersions)?;
        let orders = query::parse_orders(order_by, Entity::ModelVersions)?;
        let limit = page_size(max_results, SEARCH_DEFAULT, SEARCH_LIMIT)?;
        let fp = query::fingerprint(
            [b"model-versions".as_slice(), filter.as_bytes()]
                .into_iter()
                .chain(order_by.iter().map(|o| o.as_bytes())),
        );
        let offset = decode_token(page_token, fp)?;
        let mut sql = Sql::new(self.backend);
        let on = Searched {
            alias: "v",
            tags: Some(Side {
                table: "model_version_tags",
                link: "x.name = v.name AND x.version = v.version",
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
                "model_version_tags",
                "v.name",
            ));
        }
        let mut order_sql = Vec::new();
        for o in &orders {
            order_sql.push(query::order_column(o, "v", self.backend)?.0);
        }
        // MLflow's default: the most recently updated first.
        if orders.is_empty() {
            order_sql.push("v.last_updated_time DESC".into());
        }
        let named = |col: &str| {
            orders
                .iter()
                .any(|o| matches!(&o.field, Field::Column(c) if c.name == col))
        };
        if !named("name") {
            order_sql.push("v.name ASC".into());
        }
        if !named("version") {
            order_sql.push("v.version DESC".into());
        }
        let lim = sql.arg(Arg::I(limit as i64 + 1));
        let off = sql.arg(Arg::I(offset as i64));
        sql.text = format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions v{} ORDER BY {} LIMIT {lim} OFFSET {off}",
            query::where_clause(&wheres),
            order_sql.join(", ")
        );
        let mut items = self.load_versions(&sql, Aliases::Without).await?;
        let more = items.len() > limit;
        items.truncate(limit);
        Ok(Page {
            items,
            next_page_token: more.then(|| encode_token(offset + limit, fp)),
        })
    }

    /// Runs a query selecting [`VERSION_COLUMNS`] and attaches each version's metrics, tags and
    /// (with `aliases`) aliases with one more query.
    pub(super) async fn load_versions(
        &self,
        sql: &Sql,
        aliases: Aliases,
    ) -> Result<Vec<ModelVersion>> {
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("read model versions"))?;
        let mut out: Vec<ModelVersion> = rows
            .iter()
            .map(version_from_row)
            .collect::<Result<_, _>>()
            .map_err(self.err("read model versions"))?;
        let index: HashMap<(String, i64), usize> = out
            .iter()
            .enumerate()
            .map(|(i, v)| ((v.name.clone(), v.version), i))
            .collect();
        let keys: Vec<(String, i64)> = out.iter().map(|v| (v.name.clone(), v.version)).collect();
        for chunk in keys.chunks(200) {
            let mut q = Sql::new(self.backend);
            let mut clauses = Vec::new();
            let tables: &[&str] = match aliases {
                Aliases::With => &[
                    "model_version_tags",
                    "model_version_metrics",
                    "model_aliases",
                ],
                Aliases::Without => &["model_version_tags", "model_version_metrics"],
            };
            for &table in tables {
                let names = chunk
                    .iter()
                    .map(|(name, _)| q.arg(Arg::S(name.clone())))
                    .collect::<Vec<_>>()
                    .join(", ");
                let versions = chunk
                    .iter()
                    .map(|(_, version)| q.arg(Arg::I(*version)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let (kind, cols) = match table {
                    "model_version_tags" => (0, "key, value, CAST(NULL AS DOUBLE PRECISION)"),
                    "model_version_metrics" => (1, "key, CAST(NULL AS TEXT), value"),
                    _ => (
                        2,
                        "alias, CAST(NULL AS TEXT), CAST(NULL AS DOUBLE PRECISION)",
                    ),
                };
                clauses.push(format!(
                    "SELECT {kind}, name, version, {cols} FROM {table} WHERE name IN ({names}) AND version IN ({versions})"
                ));
            }
            q.text = format!("{} ORDER BY 1, 4", clauses.join(" UNION ALL "));
            let rows = q
                .query()
                .fetch_all(&self.pool)
                .await
                .map_err(self.err("read model version data"))?;
            for r in rows {
                let e = self.err("read model version data");
                let kind: i64 = r.try_get(0).map_err(&e)?;
                let key = (
                    r.try_get::<String, _>(1).map_err(&e)?,
                    r.try_get(2).map_err(&e)?,
                );
                // The IN lists cross names and versions, so rows of other versions come too.
                let Some(&i) = index.get(&key) else { continue };
                let k: String = r.try_get(3).map_err(&e)?;
                match kind {
                    0 => {
                        out[i].tags.insert(k, r.try_get(4).map_err(&e)?);
                    }
                    1 => {
                        out[i].metrics.insert(k, r.try_get(5).map_err(&e)?);
                    }
                    _ => out[i].aliases.push(k),
                }
            }
        }
        Ok(out)
    }

    /// Takes the model's next version number, bumping `last_updated_time`. Updating the
    /// model's row first locks it, so concurrent registrations get distinct numbers on
    /// PostgreSQL too. NotFound if the model does not exist.
    async fn next_version(&self, tx: &mut Tx, name: &str, now: i64) -> Result<i64> {
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE registered_models SET last_version = last_version + 1, last_updated_time = $1 \
             WHERE name = $2 RETURNING last_version",
        )
        .bind(now)
        .bind(name.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(self.err("number model version"))?;
        version
            .ok_or_else(|| Error::not_found(format!("registered model '{name}'"), &self.location))
    }

    async fn insert_version(
        &self,
        tx: &mut Tx,
        new: &NewModelVersion,
        version: i64,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO model_versions (name, version, run_uuid, source, source_kind, status, status_message, \
             description, creation_time, last_updated_time, model_id, run_link, user_id) \
             VALUES ($1, $2, $3, $4, $5, 'READY', '', $6, $7, $7, $8, $9, $10)",
        )
        .bind(new.name.clone())
        .bind(version)
        .bind(new.run_id.clone().unwrap_or_default())
        .bind(new.source.clone())
        .bind(new.source_kind.as_str())
        .bind(new.description.clone())
        .bind(now)
        .bind(new.model_id.clone())
        .bind(new.run_link.clone())
        .bind(new.user_id.clone())
        .execute(&mut **tx)
        .await
        .map_err(self.err("create model version"))?;
        Ok(())
    }

    /// Checks that the active run has logged `path` (a file, or a folder of files).
    async fn check_run_artifact(&self, tx: &mut Tx, run: &str, path: &str) -> Result<()> {
        let run_key = self.run_key(tx, run).await?;
        let has: Option<String> = sqlx::query_scalar(
            "SELECT path FROM artifacts WHERE run_key = $1 AND (path = $2 OR SUBSTR(path, 1, $3) = $4) LIMIT 1",
        )
        .bind(run_key)
        .bind(path.to_string())
        .bind(prefix_len(path))
        .bind(format!("{path}/"))
        .fetch_optional(&mut **tx)
        .await
        .map_err(self.err("read artifacts"))?;
        if has.is_none() {
            return Err(Error::not_found(
                format!("artifact '{path}' of run {run} (log it before registering)"),
                &self.location,
            ));
        }
        Ok(())
    }

    async fn version_exists(&self, tx: &mut Tx, name: &str, version: i64) -> Result<()> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM model_versions WHERE name = $1 AND version = $2",
        )
        .bind(name.to_string())
        .bind(version)
        .fetch_optional(&mut **tx)
        .await
        .map_err(self.err("read model version"))?;
        match found {
            Some(_) => Ok(()),
            None => Err(self.version_not_found(name, version)),
        }
    }

    fn version_not_found(&self, name: &str, version: i64) -> Error {
        Error::not_found(format!("model {name} version {version}"), &self.location)
    }
}

async fn upsert_version_tag(
    tx: &mut Tx,
    name: &str,
    version: i64,
    key: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO model_version_tags (name, version, key, value) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value",
    )
    .bind(name.to_string())
    .bind(version)
    .bind(key.to_string())
    .bind(value.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn version_from_row(r: &AnyRow) -> Result<ModelVersion, sqlx::Error> {
    let kind: String = r.try_get(4)?;
    Ok(ModelVersion {
        name: r.try_get(0)?,
        version: r.try_get(1)?,
        run_id: r.try_get(2)?,
        source: r.try_get(3)?,
        source_kind: SourceKind::parse(&kind),
        status: r.try_get(5)?,
        status_message: r.try_get(6)?,
        description: r.try_get(7)?,
        creation_time: r.try_get(8)?,
        last_updated_time: r.try_get(9)?,
        model_id: r.try_get(10)?,
        run_link: r.try_get(11)?,
        current_stage: Stage::parse(&r.try_get::<String, _>(12)?).unwrap_or_default(),
        user_id: r.try_get(13)?,
        metrics: BTreeMap::new(),
        aliases: Vec::new(),
        tags: BTreeMap::new(),
    })
}
