//! Garbage collection: permanent removal of runs marked deleted, with their artifact folders.

use std::path::Path;

use sqlx::{AssertSqlSafe, Row};

use super::{AsyncStore, new_run_id};
use crate::error::{Error, Result};
use crate::model::*;

impl AsyncStore {
    pub async fn gc(&self) -> Result<GcReport> {
        let rows = sqlx::query(
            "SELECT r.run_key, r.run_uuid, r.artifact_uri, \
             (SELECT COUNT(*) FROM model_versions v WHERE v.run_uuid = r.run_uuid) \
             FROM runs r WHERE r.lifecycle_stage = 'deleted' ORDER BY r.run_key",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("find deleted runs"))?;
        let mut report = GcReport::default();
        let trash_root = self.artifact_root.join(".trash");
        for r in rows {
            let key: i64 = r.try_get(0).map_err(self.err("find deleted runs"))?;
            let id: String = r.try_get(1).map_err(self.err("find deleted runs"))?;
            let uri: String = r.try_get(2).map_err(self.err("find deleted runs"))?;
            let versions: i64 = r.try_get(3).map_err(self.err("find deleted runs"))?;
            if versions > 0 {
                report.skipped.push((
                    id,
                    format!("{versions} registered model version(s) use its artifacts"),
                ));
                continue;
            }
            // The run folder is <exp>/<run>; move it aside first so that a failed database
            // delete can put it back, and a crash leaves only a trash folder to remove.
            let run_dir = self
                .artifact_root
                .join(Path::new(&uri).parent().unwrap_or(Path::new(&uri)));
            let trash = trash_root.join(format!("{id}-{}", &new_run_id()[..8]));
            let moved = if run_dir.exists() {
                std::fs::create_dir_all(&trash_root)
                    .map_err(|e| Error::io("create", &trash_root, e))?;
                std::fs::rename(&run_dir, &trash)
                    .map_err(|e| Error::io("move aside", &run_dir, e))?;
                true
            } else {
                false
            };
            match self.delete_run_rows(key).await {
                Ok(true) => {
                    if moved {
                        report.artifact_bytes_freed += crate::artifacts::dir_size(&trash);
                        std::fs::remove_dir_all(&trash)
                            .map_err(|e| Error::io("remove", &trash, e))?;
                    }
                    report.runs_deleted.push(id);
                }
                other => {
                    if moved {
                        std::fs::rename(&trash, &run_dir)
                            .map_err(|e| Error::io("restore", &run_dir, e))?;
                    }
                    match other {
                        Ok(_) => report
                            .skipped
                            .push((id, "restored or changed while collecting".into())),
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(report)
    }

    async fn delete_run_rows(&self, key: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let still: Option<String> = sqlx::query_scalar(
            "SELECT run_uuid FROM runs WHERE run_key = $1 AND lifecycle_stage = 'deleted'",
        )
        .bind(key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(self.err("read run"))?;
        if still.is_none() {
            return Ok(false);
        }
        for table in [
            "metrics",
            "latest_metrics",
            "params",
            "tags",
            "artifacts",
            "run_inputs",
            "run_outputs",
            "run_model_inputs",
            "runs",
        ] {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE run_key = $1"
            )))
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(self.err("delete run"))?;
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(true)
    }
}
