//! Access tokens for the server and its audit log.
//!
//! A token's secret is shown once, when it is created; the store keeps only its sha256, so a
//! leaked database does not leak working secrets, and authenticating is a lookup by that
//! hash (an index probe, which also makes a constant-time comparison moot). Revoked tokens
//! stay listed, so that the audit log's names keep meaning something.

use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{AsyncStore, now_ms};
use crate::error::{Error, Result};
use crate::model::*;

/// Every secret starts with this, so that a token is recognizable in a config file or a
/// secret scanner's rules.
pub const TOKEN_PREFIX: &str = "whet_";

/// `last_used_time` is written at most this often per token (ms): a request then costs a
/// write only once a minute, not every time.
const LAST_USED_EVERY: i64 = 60_000;

/// Audit entries returned when the caller asks for 0.
const AUDIT_DEFAULT: usize = 100;

const TOKEN_COLUMNS: &str = "name, role, created_time, last_used_time, revoked_time";

impl AsyncStore {
    /// Creates a token and returns its secret, the only time it is available:
    /// `whet_` and 64 hex digits (256 random bits). [`Error::AlreadyExists`] if the name is
    /// taken, by a live or a revoked token.
    pub async fn create_token(&self, name: &str, role: Role) -> Result<String> {
        validate_token_name(name)?;
        let secret = format!("{TOKEN_PREFIX}{}", random_hex());
        let mut tx = self.begin_write().await?;
        let taken: Option<String> = sqlx::query_scalar("SELECT name FROM tokens WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.err("read tokens"))?;
        if taken.is_some() {
            return Err(Error::already_exists(
                format!("token '{name}'"),
                &self.location,
            ));
        }
        sqlx::query(
            "INSERT INTO tokens (name, role, token_hash, created_time) VALUES ($1, $2, $3, $4)",
        )
        .bind(name.to_string())
        .bind(role.as_str())
        .bind(hash(&secret))
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if Error::is_unique_violation(&e) {
                Error::already_exists(format!("token '{name}'"), &self.location)
            } else {
                Error::db(&self.location, "create token", e)
            }
        })?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(secret)
    }

    /// Every token, revoked ones included, by name.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY name"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("list tokens"))?;
        rows.iter().map(|r| self.token_from_row(r)).collect()
    }

    /// Revokes a token for good; NotFound if there is none of that name. Revoking twice
    /// keeps the first revocation's time.
    pub async fn revoke_token(&self, name: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let found: Option<String> = sqlx::query_scalar("SELECT name FROM tokens WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.err("read tokens"))?;
        if found.is_none() {
            return Err(Error::not_found(format!("token '{name}'"), &self.location));
        }
        sqlx::query("UPDATE tokens SET revoked_time = $1 WHERE name = $2 AND revoked_time IS NULL")
            .bind(now_ms())
            .bind(name.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err("revoke token"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// The live token whose secret this is, or None (unknown, revoked, or not a whet
    /// secret). Records the use when the last recorded one is a minute old or more.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<TokenInfo>> {
        if !secret.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_hash = $1 AND revoked_time IS NULL"
        )))
        .bind(hash(secret))
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("authenticate"))?;
        let Some(row) = row else { return Ok(None) };
        let mut info = self.token_from_row(&row)?;
        let now = now_ms();
        if info
            .last_used_time
            .is_none_or(|t| now - t >= LAST_USED_EVERY)
        {
            let mut tx = self.begin_write().await?;
            // The condition again, so that concurrent requests write once.
            sqlx::query(
                "UPDATE tokens SET last_used_time = $1 WHERE name = $2 \
                 AND (last_used_time IS NULL OR last_used_time <= $3)",
            )
            .bind(now)
            .bind(info.name.clone())
            .bind(now - LAST_USED_EVERY)
            .execute(&mut *tx)
            .await
            .map_err(self.err("record token use"))?;
            tx.commit().await.map_err(self.err("commit"))?;
            info.last_used_time = Some(now);
        }
        Ok(Some(info))
    }

    /// Appends a request to the audit log. `token_name` is empty for a request without a
    /// token; `detail` is free text (e.g. the experiment or model touched, or an error).
    pub async fn record_audit(
        &self,
        token_name: &str,
        method: &str,
        path: &str,
        status: i64,
        detail: &str,
    ) -> Result<()> {
        self.record_audit_batch(&[AuditEntry {
            id: 0,
            time: now_ms(),
            token_name: token_name.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            status,
            detail: detail.to_string(),
        }])
        .await
    }

    /// Appends several requests in one transaction (`id` is ignored; a `time` of 0 means now):
    /// a busy server records its requests in batches, not one write each.
    pub async fn record_audit_batch(&self, entries: &[AuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        for e in entries {
            sqlx::query(
                "INSERT INTO audit_log (time, token_name, method, path, status, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(if e.time == 0 { now } else { e.time })
            .bind(e.token_name.clone())
            .bind(e.method.clone())
            .bind(e.path.clone())
            .bind(e.status)
            .bind(e.detail.clone())
            .execute(&mut *tx)
            .await
            .map_err(self.err("record audit entry"))?;
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// The newest `limit` audit entries (0: 100), newest first.
    pub async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let limit = if limit == 0 { AUDIT_DEFAULT } else { limit };
        let rows = sqlx::query(
            "SELECT id, time, token_name, method, path, status, detail FROM audit_log \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read audit log"))?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get(0)?,
                    time: r.try_get(1)?,
                    token_name: r.try_get(2)?,
                    method: r.try_get(3)?,
                    path: r.try_get(4)?,
                    status: r.try_get(5)?,
                    detail: r.try_get(6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.err("read audit log"))
    }

    fn token_from_row(&self, r: &AnyRow) -> Result<TokenInfo> {
        let e = self.err("read tokens");
        let role: String = r.try_get(1).map_err(&e)?;
        Ok(TokenInfo {
            name: r.try_get(0).map_err(&e)?,
            role: role.parse().map_err(|detail| Error::Corrupt {
                location: self.location.clone(),
                detail,
            })?,
            created_time: r.try_get(2).map_err(&e)?,
            last_used_time: r.try_get(3).map_err(&e)?,
            revoked_time: r.try_get(4).map_err(&e)?,
        })
    }
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// 256 random bits as hex: the sha256 of three v4 UUIDs (366 bits from the operating system's
/// generator through `uuid`), which spares the crate a dependency on a random number crate.
fn random_hex() -> String {
    let mut h = Sha256::new();
    for _ in 0..3 {
        h.update(uuid::Uuid::new_v4().as_bytes());
    }
    hex::encode(h.finalize())
}

fn validate_token_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(Error::Invalid(format!(
            "token name '{name}' is not allowed\n  hint: use 1 to 64 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}
