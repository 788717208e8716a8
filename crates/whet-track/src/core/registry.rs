//! The model registry: registered models, their versions (an artifact of a run plus
//! metrics), aliases and the history of alias moves.

use std::collections::BTreeMap;

use sqlx::Row;

use super::artifacts::validate_artifact_path;
use super::{Core, default_user, now_ms};
use crate::error::{Error, Result};
use crate::model::*;

impl Core {
    pub async fn register_model(
        &self,
        name: &str,
        run: &str,
        artifact_path: &str,
        metrics: &[(String, f64)],
    ) -> Result<i64> {
        validate_model_name(name)?;
        validate_artifact_path(artifact_path)?;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
        let dir_prefix = format!("{artifact_path}/");
        let has: Option<String> = sqlx::query_scalar(
            "SELECT path FROM artifacts WHERE run_key = $1 AND (path = $2 OR (path > $3 AND path < $4)) LIMIT 1",
        )
        .bind(run_key)
        .bind(artifact_path.to_string())
        .bind(dir_prefix)
        .bind(format!("{artifact_path}0"))
        .fetch_optional(&mut *tx)
        .await
        .map_err(self.err("read artifacts"))?;
        if has.is_none() {
            return Err(Error::not_found(
                format!("artifact '{artifact_path}' of run {run} (log it before registering)"),
                &self.location,
            ));
        }
        sqlx::query(
            "INSERT INTO registered_models (name, description, creation_time, last_updated_time) \
             VALUES ($1, '', $2, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.err("create registered model"))?;
        // Updating the model's row first locks it, so concurrent registrations get distinct
        // version numbers on PostgreSQL too.
        sqlx::query("UPDATE registered_models SET last_updated_time = $1 WHERE name = $2")
            .bind(now)
            .bind(name.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err("update registered model"))?;
        let max: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM model_versions WHERE name = $1")
                .bind(name.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(self.err("read model versions"))?;
        let version = max.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO model_versions (name, version, run_uuid, source, status, description, creation_time, last_updated_time) \
             VALUES ($1, $2, $3, $4, 'READY', '', $5, $5)",
        )
        .bind(name.to_string())
        .bind(version)
        .bind(run.to_string())
        .bind(artifact_path.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.err("create model version"))?;
        for (k, v) in metrics {
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

    pub async fn set_alias(&self, name: &str, alias: &str, version: Option<i64>) -> Result<()> {
        validate_alias(alias)?;
        let mut tx = self.begin_write().await?;
        if let Some(v) = version {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT version FROM model_versions WHERE name = $1 AND version = $2",
            )
            .bind(name.to_string())
            .bind(v)
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.err("read model version"))?;
            if exists.is_none() {
                return Err(Error::not_found(
                    format!("model {name} version {v}"),
                    &self.location,
                ));
            }
        }
        let previous: Option<i64> =
            sqlx::query_scalar("SELECT version FROM model_aliases WHERE name = $1 AND alias = $2")
                .bind(name.to_string())
                .bind(alias.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(self.err("read alias"))?;
        match version {
            Some(v) => {
                sqlx::query(
                    "INSERT INTO model_aliases (name, alias, version) VALUES ($1, $2, $3) \
                     ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                )
                .bind(name.to_string())
                .bind(alias.to_string())
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(self.err("set alias"))?;
            }
            None => {
                if previous.is_none() {
                    return Err(Error::not_found(
                        format!("alias '{alias}' of model {name}"),
                        &self.location,
                    ));
                }
                sqlx::query("DELETE FROM model_aliases WHERE name = $1 AND alias = $2")
                    .bind(name.to_string())
                    .bind(alias.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err("delete alias"))?;
            }
        }
        sqlx::query(
            "INSERT INTO model_alias_history (name, alias, version, previous_version, moved_time, user_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(name.to_string())
        .bind(alias.to_string())
        .bind(version)
        .bind(previous)
        .bind(now_ms())
        .bind(default_user())
        .execute(&mut *tx)
        .await
        .map_err(self.err("record alias move"))?;
        sqlx::query("UPDATE registered_models SET last_updated_time = $1 WHERE name = $2")
            .bind(now_ms())
            .bind(name.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err("update registered model"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
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
        let version = version.ok_or_else(|| Error::not_found(describe(), &self.location))?;
        let mut all = self.model_versions(name, Some(version)).await?;
        all.pop()
            .ok_or_else(|| Error::not_found(describe(), &self.location))
    }

    /// All versions of a model (or one), newest first, with metrics and aliases.
    pub async fn model_versions(&self, name: &str, only: Option<i64>) -> Result<Vec<ModelVersion>> {
        let rows = sqlx::query(
            "SELECT name, version, run_uuid, source, status, description, creation_time, last_updated_time \
             FROM model_versions WHERE name = $1 AND ($2 < 0 OR version = $2) ORDER BY version DESC",
        )
        .bind(name.to_string())
        .bind(only.unwrap_or(-1))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read model versions"))?;
        let mut out: Vec<ModelVersion> = rows
            .iter()
            .map(|r| {
                Ok(ModelVersion {
                    name: r.try_get(0)?,
                    version: r.try_get(1)?,
                    run_id: r.try_get(2)?,
                    source: r.try_get(3)?,
                    status: r.try_get(4)?,
                    description: r.try_get(5)?,
                    creation_time: r.try_get(6)?,
                    last_updated_time: r.try_get(7)?,
                    metrics: BTreeMap::new(),
                    aliases: Vec::new(),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.err("read model versions"))?;
        let metrics = sqlx::query(
            "SELECT version, key, value FROM model_version_metrics WHERE name = $1 ORDER BY key",
        )
        .bind(name.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read model metrics"))?;
        for r in metrics {
            let v: i64 = r.try_get(0).map_err(self.err("read model metrics"))?;
            if let Some(mv) = out.iter_mut().find(|m| m.version == v) {
                mv.metrics.insert(
                    r.try_get(1).map_err(self.err("read model metrics"))?,
                    r.try_get(2).map_err(self.err("read model metrics"))?,
                );
            }
        }
        for (alias, v) in self.aliases(name).await? {
            if let Some(mv) = out.iter_mut().find(|m| m.version == v) {
                mv.aliases.push(alias);
            }
        }
        Ok(out)
    }

    async fn aliases(&self, name: &str) -> Result<BTreeMap<String, i64>> {
        let rows = sqlx::query("SELECT alias, version FROM model_aliases WHERE name = $1")
            .bind(name.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("read aliases"))?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.err("read aliases"))
    }

    pub async fn alias_history(&self, name: &str) -> Result<Vec<AliasMove>> {
        let rows = sqlx::query(
            "SELECT alias, version, previous_version, moved_time, user_id FROM model_alias_history \
             WHERE name = $1 ORDER BY id",
        )
        .bind(name.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read alias history"))?;
        rows.iter()
            .map(|r| {
                Ok(AliasMove {
                    alias: r.try_get(0)?,
                    version: r.try_get(1)?,
                    previous_version: r.try_get(2)?,
                    moved_time: r.try_get(3)?,
                    user_id: r.try_get(4)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.err("read alias history"))
    }

    pub async fn list_models(&self) -> Result<Vec<RegisteredModel>> {
        let rows = sqlx::query(
            "SELECT m.name, m.description, m.creation_time, m.last_updated_time, \
             (SELECT MAX(v.version) FROM model_versions v WHERE v.name = m.name) \
             FROM registered_models m ORDER BY m.name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("list models"))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let name: String = r.try_get(0).map_err(self.err("list models"))?;
            let aliases = self.aliases(&name).await?;
            out.push(RegisteredModel {
                description: r.try_get(1).map_err(self.err("list models"))?,
                creation_time: r.try_get(2).map_err(self.err("list models"))?,
                last_updated_time: r.try_get(3).map_err(self.err("list models"))?,
                latest_version: r.try_get(4).map_err(self.err("list models"))?,
                name,
                aliases,
            });
        }
        Ok(out)
    }
}

fn validate_model_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('@') || name.contains('/') {
        return Err(Error::Invalid(format!(
            "model name '{name}' must be non-empty and contain neither '@' nor '/'\n  hint: those characters separate aliases and versions in NAME@alias and NAME/version"
        )));
    }
    Ok(())
}

fn validate_alias(alias: &str) -> Result<()> {
    let ok = !alias.is_empty()
        && alias.len() <= 255
        && alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !alias.chars().all(|c| c.is_ascii_digit())
        && !alias.eq_ignore_ascii_case("latest");
    if !ok {
        return Err(Error::Invalid(format!(
            "alias '{alias}' is not allowed\n  hint: use letters, digits, '-' and '_', not only digits, and not 'latest'"
        )));
    }
    Ok(())
}
