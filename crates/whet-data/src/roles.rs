//! What each column is for (its role) and what kind of problem the target poses (its task).

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::summary::ColumnSummary;
use crate::table::{TypeHint, ValueType};

/// Above this many distinct values a categorical column is "high cardinality": one-hot or
/// per-category splits get sparse, and target or hashed encodings start to pay.
pub const HIGH_CARDINALITY: u64 = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Numeric,
    Boolean,
    CategoricalLow,
    CategoricalHigh,
    Datetime,
    Text,
    Id,
    Constant,
    Ignored,
    Target,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Numeric => "numeric",
            Role::Boolean => "boolean",
            Role::CategoricalLow => "categorical_low",
            Role::CategoricalHigh => "categorical_high",
            Role::Datetime => "datetime",
            Role::Text => "text",
            Role::Id => "id",
            Role::Constant => "constant",
            Role::Ignored => "ignored",
            Role::Target => "target",
        }
    }

    /// Roles a model learns from.
    pub fn is_feature(self) -> bool {
        !matches!(
            self,
            Role::Id | Role::Constant | Role::Ignored | Role::Target
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Binary,
    Multiclass,
    Regression,
}

impl Task {
    pub fn parse(s: &str) -> Option<Task> {
        match s.to_ascii_lowercase().as_str() {
            "binary" | "classification" => Some(Task::Binary),
            "multiclass" => Some(Task::Multiclass),
            "regression" => Some(Task::Regression),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Task::Binary => "binary",
            Task::Multiclass => "multiclass",
            Task::Regression => "regression",
        }
    }

    pub fn is_classification(self) -> bool {
        !matches!(self, Task::Regression)
    }
}

fn looks_like_id_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "id"
        || lower.ends_with("_id")
        || lower.ends_with(" id")
        || lower.starts_with("id_")
        || name.ends_with("Id")
        || name.ends_with("ID")
        || lower == "uuid"
        || lower == "index"
}

const BOOLEAN_WORDS: &[(&str, &str)] = &[("yes", "no"), ("y", "n"), ("true", "false"), ("t", "f")];

/// Infers a column's role from its summary; a user's hint wins.
pub fn infer_role(s: &ColumnSummary, hint: Option<TypeHint>) -> Role {
    match hint {
        Some(TypeHint::Numeric) => return Role::Numeric,
        Some(TypeHint::Boolean) => return Role::Boolean,
        Some(TypeHint::Datetime) => return Role::Datetime,
        Some(TypeHint::Text) => return Role::Text,
        Some(TypeHint::Id) => return Role::Id,
        Some(TypeHint::Ignore) => return Role::Ignored,
        Some(TypeHint::Categorical) => {
            return if s.distinct > HIGH_CARDINALITY {
                Role::CategoricalHigh
            } else {
                Role::CategoricalLow
            };
        }
        None => {}
    }
    if s.distinct <= 1 {
        return Role::Constant;
    }
    let non_missing = s.non_missing();
    let all_unique = s.distinct == non_missing;
    match s.value_type {
        ValueType::Boolean => Role::Boolean,
        ValueType::Datetime => Role::Datetime,
        ValueType::Integer | ValueType::Float => {
            let Some(n) = &s.numeric else {
                return Role::Constant;
            };
            if s.distinct == 2 && n.min == 0.0 && n.max == 1.0 {
                return Role::Boolean;
            }
            // Row numbers and surrogate keys: unique whole numbers that either are named like
            // an id or count up without gaps.
            let consecutive = n.integral && (n.max - n.min + 1.0) as u64 == s.distinct;
            if n.integral
                && all_unique
                && non_missing >= 20
                && (consecutive || looks_like_id_name(&s.name))
            {
                return Role::Id;
            }
            Role::Numeric
        }
        ValueType::String => {
            if s.distinct == 2 {
                let mut values: Vec<String> = s
                    .top_values
                    .iter()
                    .map(|v| v.value.trim().to_ascii_lowercase())
                    .collect();
                values.sort();
                if BOOLEAN_WORDS.iter().any(|(a, b)| {
                    let mut pair = [a.to_string(), b.to_string()];
                    pair.sort();
                    values == pair
                }) {
                    return Role::Boolean;
                }
            }
            let text = s.text.as_ref();
            let mean_tokens = text.map_or(0.0, |t| t.mean_tokens);
            let mean_length = text.map_or(0.0, |t| t.mean_length);
            let many_values = s.distinct > 100 || s.distinct as f64 > 0.5 * non_missing as f64;
            if many_values && (mean_tokens >= 3.0 || mean_length >= 40.0) {
                return Role::Text;
            }
            let mostly_unique = s.distinct as f64 >= 0.95 * non_missing as f64;
            if non_missing >= 20 && (all_unique || (mostly_unique && looks_like_id_name(&s.name))) {
                return Role::Id;
            }
            if s.distinct > HIGH_CARDINALITY {
                Role::CategoricalHigh
            } else {
                Role::CategoricalLow
            }
        }
    }
}

/// Up to this many distinct whole numbers, an integer target is read as class labels.
pub const MAX_INTEGER_CLASSES: u64 = 10;

/// Infers the task from the target column's summary.
pub fn infer_task(s: &ColumnSummary) -> Result<Task> {
    if s.distinct < 2 {
        return Err(DataError::invalid(
            format!(
                "target '{}' has {} distinct value{}; there is nothing to learn",
                s.name,
                s.distinct,
                if s.distinct == 1 { "" } else { "s" }
            ),
            "choose a target column that varies, or check that the right file was given",
        ));
    }
    if s.distinct == 2 {
        return Ok(Task::Binary);
    }
    Ok(match s.value_type {
        ValueType::Boolean => Task::Binary,
        ValueType::String => Task::Multiclass,
        ValueType::Datetime => {
            return Err(DataError::invalid(
                format!(
                    "target '{}' holds dates and times; whet predicts numbers and classes",
                    s.name
                ),
                "turn it into a number first (e.g. days since an event), or choose another target",
            ));
        }
        ValueType::Integer | ValueType::Float => {
            let integral = s
                .numeric
                .as_ref()
                .is_some_and(|n| n.integral && n.min >= 0.0);
            if integral && s.distinct <= MAX_INTEGER_CLASSES {
                Task::Multiclass
            } else {
                Task::Regression
            }
        }
    })
}

/// Checks a user-forced task against the data.
pub fn check_task(s: &ColumnSummary, task: Task) -> Result<()> {
    match task {
        Task::Binary if s.distinct != 2 => Err(DataError::invalid(
            format!(
                "--task binary needs a target with 2 classes; '{}' has {}",
                s.name, s.distinct
            ),
            "use --task multiclass or --task regression",
        )),
        Task::Regression if !s.value_type.is_numeric() => Err(DataError::invalid(
            format!(
                "a regression target must be numeric; '{}' holds {} values",
                s.name,
                s.value_type.name()
            ),
            "choose --task binary or --task multiclass, or a numeric target",
        )),
        _ if s.distinct < 2 => infer_task(s).map(|_| ()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::summarize;
    use arrow_array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use std::sync::Arc;

    fn ints(name: &str, v: Vec<i64>) -> ColumnSummary {
        let a: ArrayRef = Arc::new(Int64Array::from(v));
        summarize(name, ValueType::Integer, &a)
    }

    fn strings(name: &str, v: Vec<String>) -> ColumnSummary {
        let a: ArrayRef = Arc::new(StringArray::from(v));
        summarize(name, ValueType::String, &a)
    }

    #[test]
    fn roles_of_typical_columns() {
        assert_eq!(infer_role(&ints("row", (0..100).collect()), None), Role::Id);
        assert_eq!(
            infer_role(&ints("age", (0..100).map(|i| i % 37).collect()), None),
            Role::Numeric
        );
        assert_eq!(
            infer_role(&ints("flag", (0..100).map(|i| i % 2).collect()), None),
            Role::Boolean
        );
        assert_eq!(infer_role(&ints("k", vec![3; 50]), None), Role::Constant);
        let yes_no: Vec<String> = (0..40)
            .map(|i| if i % 3 == 0 { "yes" } else { "no" }.to_string())
            .collect();
        assert_eq!(
            infer_role(&strings("morekids", yes_no), None),
            Role::Boolean
        );
        let colors: Vec<String> = (0..90)
            .map(|i| ["red", "green", "blue"][i % 3].to_string())
            .collect();
        assert_eq!(
            infer_role(&strings("color", colors), None),
            Role::CategoricalLow
        );
        let codes: Vec<String> = (0..400).map(|i| format!("z{}", i % 120)).collect();
        assert_eq!(
            infer_role(&strings("zip", codes), None),
            Role::CategoricalHigh
        );
        let keys: Vec<String> = (0..400).map(|i| format!("k-{i:05}")).collect();
        assert_eq!(infer_role(&strings("key", keys), None), Role::Id);
        let text: Vec<String> = (0..200)
            .map(|i| format!("this is tweet number {i} about things"))
            .collect();
        assert_eq!(infer_role(&strings("text", text), None), Role::Text);
        let colors: Vec<String> = (0..90)
            .map(|i| ["red", "green", "blue"][i % 3].to_string())
            .collect();
        assert_eq!(
            infer_role(&strings("color", colors), Some(TypeHint::Text)),
            Role::Text
        );
    }

    #[test]
    fn tasks_from_targets() {
        assert_eq!(
            infer_task(&ints("y", (0..100).map(|i| i % 2).collect())).unwrap(),
            Task::Binary
        );
        assert_eq!(
            infer_task(&ints("y", (0..100).map(|i| i % 3).collect())).unwrap(),
            Task::Multiclass
        );
        assert_eq!(
            infer_task(&ints("y", (0..100).map(|i| i * 7 % 301).collect())).unwrap(),
            Task::Regression
        );
        let a: ArrayRef = Arc::new(Float64Array::from(
            (0..50).map(|i| i as f64 / 2.0).collect::<Vec<_>>(),
        ));
        assert_eq!(
            infer_task(&summarize("y", ValueType::Float, &a)).unwrap(),
            Task::Regression
        );
        let s: Vec<String> = (0..30)
            .map(|i| ["a", "b", "c"][i % 3].to_string())
            .collect();
        assert_eq!(infer_task(&strings("y", s)).unwrap(), Task::Multiclass);
        let err = infer_task(&ints("y", vec![1; 10])).unwrap_err().to_string();
        assert!(err.contains("1 distinct value"), "{err}");
    }
}
