//! Artifact records: where a run's artifacts live and their rows in `artifacts`. Writing,
//! reading and verifying the files is `crate::artifacts`.

use std::path::PathBuf;

use sqlx::Row;

use super::{AsyncStore, now_ms};
use crate::error::{Error, Result};
use crate::model::*;

impl AsyncStore {
    /// The folder a run's artifacts live in: `<artifact root>/<experiment>/<run>/artifacts`.
    /// For a server that writes files there itself and then calls
    /// [`AsyncStore::record_artifact`].
    pub async fn artifact_dir(&self, run: &str) -> Result<PathBuf> {
        Ok(self.run_artifact_dir(run).await?.1)
    }

    async fn run_artifact_dir(&self, run: &str) -> Result<(i64, PathBuf)> {
        let row = sqlx::query("SELECT run_key, artifact_uri FROM runs WHERE run_uuid = $1")
            .bind(run.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err("read run"))?
            .ok_or_else(|| Error::not_found(format!("run {run}"), &self.location))?;
        let key: i64 = row.try_get(0).map_err(self.err("read run"))?;
        let uri: String = row.try_get(1).map_err(self.err("read run"))?;
        Ok((key, self.artifact_root.join(uri)))
    }

    pub async fn log_artifact(
        &self,
        run: &str,
        path: &str,
        source: ArtifactSource<'_>,
    ) -> Result<ArtifactInfo> {
        let rel = validate_artifact_path(path)?;
        let (_, dir) = self.run_artifact_dir(run).await?;
        let dest = dir.join(&rel);
        let (size, sha256) = crate::artifacts::write_atomic(&dest, source)?;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
        sqlx::query(
            "INSERT INTO artifacts (run_key, path, size, sha256, created_time) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (run_key, path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, \
             created_time = excluded.created_time",
        )
        .bind(run_key)
        .bind(path.to_string())
        .bind(size as i64)
        .bind(sha256.clone())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.err("record artifact"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(ArtifactInfo {
            path: path.to_string(),
            size,
            sha256,
            created_time: now,
        })
    }

    /// Records (or replaces the record of) a file someone else wrote into the run's artifact
    /// folder, e.g. the server's artifact proxy after streaming an upload there. The run may
    /// be deleted (MLflow's proxy writes to a run's artifact location whatever its stage), so
    /// that a file written is never left without its record.
    pub async fn record_artifact(
        &self,
        run: &str,
        path: &str,
        size: u64,
        sha256: &str,
    ) -> Result<ArtifactInfo> {
        validate_artifact_path(path)?;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Invalid(format!(
                "'{sha256}' is not a sha256 digest\n  hint: give 64 hex digits"
            )));
        }
        let size = i64::try_from(size)
            .map_err(|_| Error::Invalid(format!("artifact size {size} is too large")))?;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let key = self.any_run_key(&mut tx, run).await?;
        sqlx::query(
            "INSERT INTO artifacts (run_key, path, size, sha256, created_time) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (run_key, path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, \
             created_time = excluded.created_time",
        )
        .bind(key)
        .bind(path.to_string())
        .bind(size)
        .bind(sha256.to_ascii_lowercase())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.err("record artifact"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(ArtifactInfo {
            path: path.to_string(),
            size: size as u64,
            sha256: sha256.to_ascii_lowercase(),
            created_time: now,
        })
    }

    /// Removes the record of `path` and of every artifact under `path/` (MLflow's
    /// DeleteArtifact takes a file or a folder); returns how many records went. The files are
    /// the caller's to delete. Nothing recorded there is not an error.
    pub async fn delete_artifact_record(&self, run: &str, path: &str) -> Result<u64> {
        validate_artifact_path(path)?;
        let mut tx = self.begin_write().await?;
        let key = self.any_run_key(&mut tx, run).await?;
        let r = sqlx::query(
            "DELETE FROM artifacts WHERE run_key = $1 AND (path = $2 OR SUBSTR(path, 1, $3) = $4)",
        )
        .bind(key)
        .bind(path.to_string())
        .bind(prefix_len(path))
        .bind(format!("{path}/"))
        .execute(&mut *tx)
        .await
        .map_err(self.err("delete artifact record"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(r.rows_affected())
    }

    /// A run's key whatever its lifecycle stage; NotFound if there is no such run.
    async fn any_run_key(&self, tx: &mut super::WriteTx, run: &str) -> Result<i64> {
        let key: Option<i64> = sqlx::query_scalar("SELECT run_key FROM runs WHERE run_uuid = $1")
            .bind(run.to_string())
            .fetch_optional(&mut **tx)
            .await
            .map_err(self.err("read run"))?;
        key.ok_or_else(|| Error::not_found(format!("run {run}"), &self.location))
    }

    pub async fn list_artifacts(&self, run: &str) -> Result<Vec<ArtifactInfo>> {
        let rows = sqlx::query(
            "SELECT a.path, a.size, a.sha256, a.created_time FROM artifacts a JOIN runs r ON r.run_key = a.run_key \
             WHERE r.run_uuid = $1 ORDER BY a.path",
        )
        .bind(run.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("list artifacts"))?;
        rows.iter()
            .map(|r| {
                Ok(ArtifactInfo {
                    path: r.try_get(0)?,
                    size: r.try_get::<i64, _>(1)? as u64,
                    sha256: r.try_get(2)?,
                    created_time: r.try_get(3)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.err("list artifacts"))
    }

    /// The artifact's file and its recorded size and checksum.
    pub async fn artifact_file(&self, run: &str, path: &str) -> Result<(PathBuf, ArtifactInfo)> {
        let rel = validate_artifact_path(path)?;
        let (_, dir) = self.run_artifact_dir(run).await?;
        let info = self
            .list_artifacts(run)
            .await?
            .into_iter()
            .find(|a| a.path == path)
            .ok_or_else(|| {
                Error::not_found(format!("artifact '{path}' of run {run}"), &self.location)
            })?;
        Ok((dir.join(rel), info))
    }
}

/// The length in characters of `path/`, for `SUBSTR(path, 1, n) = 'path/'`: a prefix test
/// that, unlike a range of strings, does not depend on a PostgreSQL collation's order. An
/// `i32` because PostgreSQL's `substr` takes an integer, not a bigint.
pub(super) fn prefix_len(path: &str) -> i32 {
    i32::try_from(path.chars().count() + 1).unwrap_or(i32::MAX)
}

/// Checks an artifact path and returns it as a relative path: artifact paths are relative,
/// '/'-separated and stay inside the run's folder (no empty, `.` or `..` parts, no `\`, no
/// NUL). The server checks every path a client sends with this before touching a file.
pub fn validate_artifact_path(path: &str) -> Result<PathBuf> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path.contains('\0')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(Error::Invalid(format!(
            "artifact path '{path}' must be relative, use '/' between parts and not contain '.', '..' or empty parts"
        )));
    }
    Ok(path.split('/').collect())
}
