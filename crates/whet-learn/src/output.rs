//! Predictions as Arrow columns: what `whet predict` writes, what a scoring server returns and
//! what out-of-fold files hold, named the same way everywhere.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, StringArray};
use arrow_schema::{DataType, Field};
use whet_data::Task;

use crate::data::Predictions;

/// The output columns for predictions: `prediction` (class label or value), then with
/// `proba` one `proba_<class>` per class.
pub fn prediction_fields(task: Task, classes: &[String], proba: bool) -> Vec<Field> {
    let mut fields = vec![Field::new(
        "prediction",
        if task == Task::Regression {
            DataType::Float64
        } else {
            DataType::Utf8
        },
        true,
    )];
    if proba {
        for c in classes {
            fields.push(Field::new(format!("proba_{c}"), DataType::Float64, true));
        }
    }
    fields
}

/// The arrays for [`prediction_fields`].
pub fn prediction_columns(
    task: Task,
    classes: &[String],
    p: &Predictions,
    proba: bool,
) -> Vec<ArrayRef> {
    let mut columns: Vec<ArrayRef> = Vec::new();
    match task {
        Task::Regression => columns.push(Arc::new(Float64Array::from(p.values.clone()))),
        _ => {
            let labels: Vec<&str> = p
                .classes()
                .into_iter()
                .map(|c| classes.get(c).map_or("", String::as_str))
                .collect();
            columns.push(Arc::new(StringArray::from(labels)));
        }
    }
    if proba {
        let k = classes.len();
        for c in 0..k {
            let col: Vec<f64> = (0..p.n_rows)
                .map(|r| {
                    if p.n_outputs == 1 {
                        // Binary: p(last class); the first is its complement.
                        let v = p.values[r];
                        if c + 1 == k { v } else { 1.0 - v }
                    } else {
                        p.values[r * p.n_outputs + c]
                    }
                })
                .collect();
            columns.push(Arc::new(Float64Array::from(col)));
        }
    }
    columns
}

/// The prediction distributions a reference profile keeps: `prediction` for regression,
/// `proba_<class>` per class for classifiers, only the positive class's for a binary task (its
/// complement says nothing more). Names match [`prediction_fields`].
pub fn prediction_references(
    task: Task,
    classes: &[String],
    p: &Predictions,
) -> Vec<whet_data::reference::ColumnReference> {
    prediction_distributions(task, classes, p)
        .iter()
        .map(|(name, values)| whet_data::reference::ColumnReference::numeric(name, values))
        .collect()
}

/// The model's predictions as the columns a reference profile describes (see
/// [`prediction_references`]): name and values.
pub fn prediction_distributions(
    task: Task,
    classes: &[String],
    p: &Predictions,
) -> Vec<(String, Vec<f64>)> {
    match task {
        Task::Regression => vec![("prediction".to_string(), p.values.clone())],
        _ if p.n_outputs == 1 => vec![(
            format!("proba_{}", classes.last().map_or("1", String::as_str)),
            p.values.clone(),
        )],
        _ => (0..p.n_outputs)
            .map(|c| {
                (
                    format!("proba_{}", classes.get(c).map_or("?", String::as_str)),
                    (0..p.n_rows)
                        .map(|r| p.values[r * p.n_outputs + c])
                        .collect(),
                )
            })
            .collect(),
    }
}
