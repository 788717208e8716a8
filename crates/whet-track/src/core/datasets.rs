//! Datasets as run inputs: one `datasets` row per fingerprint, linked to runs through
//! `run_inputs` with the context they were used in.

use sqlx::Row;

use super::{Core, now_ms};
use crate::error::{Error, Result};
use crate::model::*;

impl Core {
    pub async fn log_dataset(&self, run: &str, d: &Dataset, context: &str) -> Result<()> {
        if d.fingerprint.is_empty() {
            return Err(Error::Invalid(
                "dataset fingerprint must not be empty".into(),
            ));
        }
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
        sqlx::query(
            "INSERT INTO datasets (fingerprint, name, source, schema_json, profile_json, created_time) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (fingerprint) DO NOTHING",
        )
        .bind(d.fingerprint.clone())
        .bind(d.name.clone())
        .bind(d.source.clone())
        .bind(d.schema.clone())
        .bind(d.profile.clone())
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(self.err("record dataset"))?;
        let id: i64 = sqlx::query_scalar("SELECT dataset_id FROM datasets WHERE fingerprint = $1")
            .bind(d.fingerprint.clone())
            .fetch_one(&mut *tx)
            .await
            .map_err(self.err("read dataset"))?;
        sqlx::query(
            "INSERT INTO run_inputs (run_key, dataset_id, context) VALUES ($1, $2, $3) \
             ON CONFLICT (run_key, dataset_id) DO UPDATE SET context = excluded.context",
        )
        .bind(run_key)
        .bind(id)
        .bind(context.to_string())
        .execute(&mut *tx)
        .await
        .map_err(self.err("link dataset"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    pub async fn run_datasets(&self, run: &str) -> Result<Vec<(Dataset, String)>> {
        let rows = sqlx::query(
            "SELECT d.fingerprint, d.name, d.source, d.schema_json, d.profile_json, i.context \
             FROM run_inputs i JOIN datasets d ON d.dataset_id = i.dataset_id \
             JOIN runs r ON r.run_key = i.run_key WHERE r.run_uuid = $1 ORDER BY d.name",
        )
        .bind(run.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read datasets"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    Dataset {
                        fingerprint: r.try_get(0)?,
                        name: r.try_get(1)?,
                        source: r.try_get(2)?,
                        schema: r.try_get(3)?,
                        profile: r.try_get(4)?,
                    },
                    r.try_get(5)?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.err("read datasets"))
    }
}
