//! Run inputs and outputs: datasets (one `datasets` row per fingerprint, linked to runs
//! through `run_inputs` with the input's tags) and the logged models a run produced
//! (`run_outputs`).
//!
//! MLflow's rules, kept here: a dataset is stored once (the first description of a
//! fingerprint wins), and logging an input a run already has changes nothing, tags included.
//! whet's own `log_dataset` keeps its older rule of moving the input to the new context.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Arg, AsyncStore, Sql, now_ms};
use crate::error::{Error, Result};
use crate::model::*;

type Tx = super::WriteTx;

/// One input tag as `run_inputs.tags_json` stores it, MLflow's InputTag shape.
#[derive(Serialize, Deserialize)]
struct InputTag {
    key: String,
    value: String,
}

impl AsyncStore {
    /// Records a dataset (once per fingerprint) as an input of the run; `context` says how
    /// it was used, e.g. "training", and becomes the input's `mlflow.data.context` tag. An
    /// empty `digest` is taken to be the fingerprint, as for every whet dataset.
    pub async fn log_dataset(&self, run: &str, d: &Dataset, context: &str) -> Result<()> {
        validate_dataset(d)?;
        let tags = if context.is_empty() {
            Vec::new()
        } else {
            vec![(DATASET_CONTEXT_TAG.to_string(), context.to_string())]
        };
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
        let id = self.upsert_dataset(&mut tx, d).await?;
        sqlx::query(
            "INSERT INTO run_inputs (run_key, dataset_id, context, tags_json) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (run_key, dataset_id) DO UPDATE SET context = excluded.context, \
             tags_json = excluded.tags_json",
        )
        .bind(run_key)
        .bind(id)
        .bind(context.to_string())
        .bind(tags_json(&tags))
        .execute(&mut *tx)
        .await
        .map_err(self.err("link dataset"))?;
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// MLflow's LogInputs for datasets, in one transaction: each dataset is stored if its
    /// fingerprint is new and linked to the run with its tags. Idempotent: an input the run
    /// already has is left as it is, and a fingerprint repeated in `inputs` counts once (the
    /// first), as MLflow deduplicates by (name, digest).
    ///
    /// `models` are MLflow 3's model inputs (ids of logged models the run used), stored once
    /// per model in the same transaction; like MLflow, the ids are not checked.
    pub async fn log_inputs(
        &self,
        run: &str,
        inputs: &[DatasetInput],
        models: &[String],
    ) -> Result<()> {
        for (d, _) in inputs {
            validate_dataset(d)?;
        }
        if models.iter().any(String::is_empty) {
            return Err(Error::Invalid("input model id must not be empty".into()));
        }
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
        let mut seen = std::collections::HashSet::new();
        for (d, tags) in inputs {
            if !seen.insert(d.fingerprint.as_str()) {
                continue;
            }
            let id = self.upsert_dataset(&mut tx, d).await?;
            let context = tags
                .iter()
                .find(|(k, _)| k == DATASET_CONTEXT_TAG)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            sqlx::query(
                "INSERT INTO run_inputs (run_key, dataset_id, context, tags_json) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (run_key, dataset_id) DO NOTHING",
            )
            .bind(run_key)
            .bind(id)
            .bind(context)
            .bind(tags_json(tags))
            .execute(&mut *tx)
            .await
            .map_err(self.err("link dataset"))?;
        }
        let now = now_ms();
        for model in models {
            sqlx::query(
                "INSERT INTO run_model_inputs (run_key, model_id, created_time) VALUES ($1, $2, $3) \
                 ON CONFLICT (run_key, model_id) DO NOTHING",
            )
            .bind(run_key)
            .bind(model.clone())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(self.err("record run model input"))?;
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// The run's dataset inputs with their tags, by dataset name then fingerprint. Empty for
    /// an unknown run.
    pub async fn run_inputs(&self, run: &str) -> Result<Vec<DatasetInput>> {
        let rows = sqlx::query(
            "SELECT d.fingerprint, d.name, d.digest, d.source_type, d.source, d.schema_json, d.profile_json, i.tags_json \
             FROM run_inputs i JOIN datasets d ON d.dataset_id = i.dataset_id \
             JOIN runs r ON r.run_key = i.run_key WHERE r.run_uuid = $1 ORDER BY d.name, d.fingerprint",
        )
        .bind(run.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read datasets"))?;
        rows.iter()
            .map(|r| {
                let d = dataset_from_row(r, 0).map_err(self.err("read datasets"))?;
                let json: String = r.try_get(7).map_err(self.err("read datasets"))?;
                Ok((d, self.parse_tags(&json, run)?))
            })
            .collect()
    }

    /// The run's datasets and the context each was used in, by name (whet's view).
    pub async fn run_datasets(&self, run: &str) -> Result<Vec<(Dataset, String)>> {
        let rows = sqlx::query(
            "SELECT d.fingerprint, d.name, d.digest, d.source_type, d.source, d.schema_json, d.profile_json, i.context \
             FROM run_inputs i JOIN datasets d ON d.dataset_id = i.dataset_id \
             JOIN runs r ON r.run_key = i.run_key WHERE r.run_uuid = $1 ORDER BY d.name",
        )
        .bind(run.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("read datasets"))?;
        rows.iter()
            .map(|r| Ok((dataset_from_row(r, 0)?, r.try_get(7)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.err("read datasets"))
    }

    /// MLflow's LogOutputs: the logged models a run produced, each at a step. Idempotent;
    /// like MLflow, the model ids are not checked (a client creates the model first).
    pub async fn log_outputs(&self, run: &str, outputs: &[ModelOutput]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let run_key = self.run_key(&mut tx, run).await?;
        for o in outputs {
            if o.model_id.is_empty() {
                return Err(Error::Invalid("output model id must not be empty".into()));
            }
            sqlx::query(
                "INSERT INTO run_outputs (run_key, model_id, step) VALUES ($1, $2, $3) \
                 ON CONFLICT (run_key, model_id, step) DO NOTHING",
            )
            .bind(run_key)
            .bind(o.model_id.clone())
            .bind(o.step)
            .execute(&mut *tx)
            .await
            .map_err(self.err("record run output"))?;
        }
        tx.commit().await.map_err(self.err("commit"))?;
        Ok(())
    }

    /// Fills `inputs`, `outputs` and `model_inputs` of runs keyed by run_key (`index`: run_key →
    /// position), one query per 300 runs for all three, so that a search page costs one more round trip.
    pub(super) async fn attach_io(
        &self,
        runs: &mut [Run],
        index: &HashMap<i64, usize>,
    ) -> Result<()> {
        let keys: Vec<i64> = index.keys().copied().collect();
        for chunk in keys.chunks(300) {
            let mut sql = Sql::new(self.backend);
            let mut lists = Vec::with_capacity(3);
            for _ in 0..3 {
                lists.push(
                    chunk
                        .iter()
                        .map(|k| sql.arg(Arg::I(*k)))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
            }
            sql.text = format!(
                "SELECT 0 AS kind, i.run_key, d.fingerprint, d.name, d.digest, d.source_type, d.source, \
                 d.schema_json, d.profile_json, i.tags_json, 0 AS step, 0 AS ord \
                 FROM run_inputs i JOIN datasets d ON d.dataset_id = i.dataset_id WHERE i.run_key IN ({}) \
                 UNION ALL SELECT 1, o.run_key, o.model_id, '', '', '', '', '', '', '', o.step, 0 \
                 FROM run_outputs o WHERE o.run_key IN ({}) \
                 UNION ALL SELECT 2, m.run_key, m.model_id, '', '', '', '', '', '', '', 0, m.created_time \
                 FROM run_model_inputs m WHERE m.run_key IN ({}) \
                 ORDER BY 1, 2, 4, 12, 3, 11",
                lists[0], lists[1], lists[2]
            );
            let rows = sql
                .query()
                .fetch_all(&self.pool)
                .await
                .map_err(self.err("read run inputs and outputs"))?;
            for r in rows {
                let e = self.err("read run inputs and outputs");
                let kind: i64 = r.try_get(0).map_err(&e)?;
                let key: i64 = r.try_get(1).map_err(&e)?;
                let Some(&i) = index.get(&key) else { continue };
                if kind == 0 {
                    let d = dataset_from_row(&r, 2).map_err(&e)?;
                    let json: String = r.try_get(9).map_err(&e)?;
                    let tags = self.parse_tags(&json, &runs[i].info.run_id)?;
                    runs[i].inputs.push((d, tags));
                } else if kind == 2 {
                    runs[i].model_inputs.push(r.try_get(2).map_err(&e)?);
                } else {
                    runs[i].outputs.push(ModelOutput {
                        model_id: r.try_get(2).map_err(&e)?,
                        step: r.try_get(10).map_err(&e)?,
                    });
                }
            }
        }
        Ok(())
    }

    async fn upsert_dataset(&self, tx: &mut Tx, d: &Dataset) -> Result<i64> {
        let digest = if d.digest.is_empty() {
            d.fingerprint.clone()
        } else {
            d.digest.clone()
        };
        sqlx::query(
            "INSERT INTO datasets (fingerprint, name, digest, source_type, source, schema_json, profile_json, created_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (fingerprint) DO NOTHING",
        )
        .bind(d.fingerprint.clone())
        .bind(d.name.clone())
        .bind(digest)
        .bind(d.source_type.clone())
        .bind(d.source.clone())
        .bind(d.schema.clone())
        .bind(d.profile.clone())
        .bind(now_ms())
        .execute(&mut **tx)
        .await
        .map_err(self.err("record dataset"))?;
        sqlx::query_scalar("SELECT dataset_id FROM datasets WHERE fingerprint = $1")
            .bind(d.fingerprint.clone())
            .fetch_one(&mut **tx)
            .await
            .map_err(self.err("read dataset"))
    }

    fn parse_tags(&self, json: &str, run: &str) -> Result<Vec<(String, String)>> {
        let tags: Vec<InputTag> = serde_json::from_str(json).map_err(|e| Error::Corrupt {
            location: self.location.clone(),
            detail: format!("the input tags of run {run} are not valid JSON: {e}"),
        })?;
        Ok(tags.into_iter().map(|t| (t.key, t.value)).collect())
    }
}

fn validate_dataset(d: &Dataset) -> Result<()> {
    if d.fingerprint.is_empty() {
        return Err(Error::Invalid(
            "dataset fingerprint must not be empty".into(),
        ));
    }
    Ok(())
}

fn tags_json(tags: &[(String, String)]) -> String {
    let tags: Vec<InputTag> = tags
        .iter()
        .map(|(k, v)| InputTag {
            key: k.clone(),
            value: v.clone(),
        })
        .collect();
    // Serializing strings into JSON cannot fail; "[]" keeps the column valid regardless.
    serde_json::to_string(&tags).unwrap_or_else(|_| "[]".to_string())
}

/// A dataset from seven columns starting at `at`: fingerprint, name, digest, source_type,
/// source, schema_json, profile_json.
fn dataset_from_row(r: &AnyRow, at: usize) -> Result<Dataset, sqlx::Error> {
    Ok(Dataset {
        fingerprint: r.try_get(at)?,
        name: r.try_get(at + 1)?,
        digest: r.try_get(at + 2)?,
        source_type: r.try_get(at + 3)?,
        source: r.try_get(at + 4)?,
        schema: r.try_get(at + 5)?,
        profile: r.try_get(at + 6)?,
    })
}
