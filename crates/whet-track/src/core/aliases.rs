//! Aliases of model versions (`champion` → version 3) and the history of every move, which
//! records who moved an alias from which version to which.

use sqlx::Row;

use super::{AsyncStore, default_user, now_ms};
use crate::error::{Error, Result};
use crate::model::*;

impl AsyncStore {
    /// Points `alias` at `version` (None: removes it; NotFound if it is not set), recording
    /// the move in the alias history as made by this process's user.
    pub async fn set_alias(&self, name: &str, alias: &str, version: Option<i64>) -> Result<()> {
        self.set_alias_by(name, alias, version, &default_user())
            .await
    }

    /// [`AsyncStore::set_alias`] recording `user` as who moved it (the server passes on the
    /// name a remote whet client sends, as it does for the runs such a client starts).
    pub async fn set_alias_by(
        &self,
        name: &str,
        alias: &str,
        version: Option<i64>,
        user: &str,
    ) -> Result<()> {
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
        self.record_alias_move(&mut tx, name, alias, version, previous, user)
            .await?;
        sqlx::query("UPDATE registered_models SET last_updated_time = $1 WHERE name = $2")
            .bind(now_ms())
            .bind(name.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err("update registered model"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Appends one move to the alias history, inside the caller's transaction.
    pub(super) async fn record_alias_move(
        &self,
        tx: &mut super::WriteTx,
        name: &str,
        alias: &str,
        version: Option<i64>,
        previous: Option<i64>,
        user: &str,
    ) -> Result<()> {
        let user = if user.is_empty() {
            default_user()
        } else {
            user.to_string()
        };
        sqlx::query(
            "INSERT INTO model_alias_history (name, alias, version, previous_version, moved_time, user_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(name.to_string())
        .bind(alias.to_string())
        .bind(version)
        .bind(previous)
        .bind(now_ms())
        .bind(user)
        .execute(&mut **tx)
        .await
        .map_err(self.err("record alias move"))?;
        Ok(())
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
