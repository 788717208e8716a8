//! Out-of-fold predictions as a Parquet file (`oof.parquet` in each trial's tracked run): one
//! row per validated training row, named by its 1-based data row in the training file so it
//! joins back to it. Columns: `data_row`, `fold` (1-based), `prediction`, `proba_<class>`.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array};
use arrow_schema::{DataType, Field, Schema};
use whet_data::Task;
use whet_data::sink::parquet_bytes;
use whet_learn::data::Predictions;
use whet_learn::output::{prediction_columns, prediction_fields};

use crate::error::Result;
use crate::search::FoldPredictions;
use crate::study::PreparedStudy;

/// Writes trials' out-of-fold predictions; made from a prepared study, it outlives its run.
#[derive(Clone, Debug)]
pub struct OofWriter {
    task: Task,
    classes: Vec<String>,
    data_rows: Vec<u64>,
}

impl OofWriter {
    pub fn new(study: &PreparedStudy) -> OofWriter {
        OofWriter {
            task: study.task(),
            classes: study.classes(),
            data_rows: study.data_rows().to_vec(),
        }
    }

    /// The Parquet bytes of one trial's predictions, fold by fold.
    pub fn parquet(&self, folds: &[FoldPredictions]) -> Result<Vec<u8>> {
        let n: usize = folds.iter().map(|f| f.rows.len()).sum();
        let n_outputs = folds.first().map_or(1, |f| f.predictions.n_outputs);
        let mut data_row = Vec::with_capacity(n);
        let mut fold = Vec::with_capacity(n);
        let mut values = Vec::with_capacity(n * n_outputs);
        for (f, fp) in folds.iter().enumerate() {
            for &r in fp.rows {
                data_row.push(self.data_rows.get(r as usize).map_or(-1, |&d| d as i64));
            }
            fold.extend(std::iter::repeat_n(f as i64 + 1, fp.rows.len()));
            values.extend_from_slice(&fp.predictions.values);
        }
        let p = Predictions {
            n_rows: n,
            n_outputs,
            values,
        };
        let proba = self.task != Task::Regression;
        let mut fields = vec![
            Field::new("data_row", DataType::Int64, false),
            Field::new("fold", DataType::Int64, false),
        ];
        fields.extend(prediction_fields(self.task, &self.classes, proba));
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(data_row)),
            Arc::new(Int64Array::from(fold)),
        ];
        columns.extend(prediction_columns(self.task, &self.classes, &p, proba));
        Ok(parquet_bytes(Arc::new(Schema::new(fields)), columns)?)
    }
}
