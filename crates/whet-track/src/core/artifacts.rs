//! Artifact records: where a run's artifacts live and their rows in `artifacts`. Writing,
//! reading and verifying the files is `crate::artifacts`.

use std::path::PathBuf;

use sqlx::Row;

use super::{Core, now_ms};
use crate::error::{Error, Result};
use crate::model::*;

impl Core {
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

/// Artifact paths are relative, '/'-separated and stay inside the run's folder.
pub(super) fn validate_artifact_path(path: &str) -> Result<PathBuf> {
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
