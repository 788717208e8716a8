//! The in-memory table: one Arrow `RecordBatch` plus what the loader learned about each column.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// How a column's values are stored. Every loader normalises to these five Arrow types so the
/// rest of whet handles one representation per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    Integer,
    Float,
    Boolean,
    Datetime,
    String,
}

impl ValueType {
    pub fn arrow_type(self) -> DataType {
        match self {
            ValueType::Integer => DataType::Int64,
            ValueType::Float => DataType::Float64,
            ValueType::Boolean => DataType::Boolean,
            ValueType::Datetime => DataType::Timestamp(TimeUnit::Millisecond, None),
            ValueType::String => DataType::Utf8,
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, ValueType::Integer | ValueType::Float)
    }

    pub fn name(self) -> &'static str {
        match self {
            ValueType::Integer => "integer",
            ValueType::Float => "float",
            ValueType::Boolean => "boolean",
            ValueType::Datetime => "datetime",
            ValueType::String => "string",
        }
    }
}

/// A user's statement about a column, overriding inference (`--types col=categorical`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TypeHint {
    Numeric,
    Categorical,
    Boolean,
    Datetime,
    Text,
    Id,
    Ignore,
}

impl TypeHint {
    pub const NAMES: &'static str = "numeric, categorical, boolean, datetime, text, id, ignore";

    pub fn parse(s: &str) -> Option<TypeHint> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "numeric" | "number" | "float" | "int" | "integer" => TypeHint::Numeric,
            "categorical" | "category" | "cat" => TypeHint::Categorical,
            "boolean" | "bool" => TypeHint::Boolean,
            "datetime" | "date" | "time" | "timestamp" => TypeHint::Datetime,
            "text" => TypeHint::Text,
            "id" => TypeHint::Id,
            "ignore" | "drop" | "skip" => TypeHint::Ignore,
            _ => return None,
        })
    }

    /// The storage a hinted column is read into.
    pub fn value_type(self) -> Option<ValueType> {
        match self {
            TypeHint::Numeric => Some(ValueType::Float),
            TypeHint::Boolean => Some(ValueType::Boolean),
            TypeHint::Datetime => Some(ValueType::Datetime),
            TypeHint::Categorical | TypeHint::Text | TypeHint::Id => Some(ValueType::String),
            TypeHint::Ignore => None,
        }
    }
}

/// Parses `a=categorical,b=numeric` into hints, rejecting unknown kinds.
pub fn parse_type_hints(spec: &str) -> Result<BTreeMap<String, TypeHint>> {
    let mut hints = BTreeMap::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((col, kind)) = part.rsplit_once('=') else {
            return Err(DataError::invalid(
                format!("cannot read type override '{part}'"),
                "write overrides as COLUMN=KIND, e.g. --types zip=categorical,age=numeric",
            ));
        };
        let hint = TypeHint::parse(kind).ok_or_else(|| {
            DataError::invalid(
                format!("unknown kind '{kind}' for column '{col}'"),
                format!("kinds are: {}", TypeHint::NAMES),
            )
        })?;
        hints.insert(col.trim().to_string(), hint);
    }
    Ok(hints)
}

/// A column where most values are numbers but some are not: kept as strings, reported by profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixedTypes {
    pub numeric_values: u64,
    pub other_values: u64,
    /// First non-numeric value and its 1-based data row.
    pub example: String,
    pub example_row: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    pub value_type: ValueType,
    pub hint: Option<TypeHint>,
    pub mixed: Option<MixedTypes>,
    /// Values that could not be read as the hinted type and became missing.
    pub coerced_to_missing: u64,
}

#[derive(Clone, Debug)]
pub struct Table {
    pub batch: RecordBatch,
    pub columns: Vec<ColumnInfo>,
    pub source: Option<PathBuf>,
    /// Things the loader did that a user should know about (renamed headers, coerced values).
    pub notes: Vec<String>,
}

impl Table {
    pub fn new(columns: Vec<ColumnInfo>, arrays: Vec<ArrayRef>, n_rows: usize) -> Result<Table> {
        let fields: Vec<Field> = columns
            .iter()
            .map(|c| Field::new(&c.name, c.value_type.arrow_type(), true))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(n_rows));
        let batch = RecordBatch::try_new_with_options(schema, arrays, &options).map_err(|e| {
            DataError::Arrow {
                context: "building the table".into(),
                source: e,
            }
        })?;
        Ok(Table {
            batch,
            columns,
            source: None,
            notes: Vec::new(),
        })
    }

    /// A table from named, typed arrays (no type hints or load notes), e.g. built in code.
    pub fn from_columns(columns: Vec<(&str, ValueType, ArrayRef)>) -> Result<Table> {
        let n_rows = columns.first().map_or(0, |c| c.2.len());
        let infos = columns
            .iter()
            .map(|(name, value_type, _)| ColumnInfo {
                name: name.to_string(),
                value_type: *value_type,
                hint: None,
                mixed: None,
                coerced_to_missing: 0,
            })
            .collect();
        Table::new(infos, columns.into_iter().map(|c| c.2).collect(), n_rows)
    }

    pub fn n_rows(&self) -> usize {
        self.batch.num_rows()
    }

    pub fn n_cols(&self) -> usize {
        self.columns.len()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The column's index, or an error suggesting the closest name.
    pub fn require(&self, name: &str) -> Result<usize> {
        self.index_of(name)
            .ok_or_else(|| DataError::unknown_column(name, self.names()))
    }

    pub fn array(&self, index: usize) -> &ArrayRef {
        self.batch.column(index)
    }

    /// A new table holding only `rows` (in that order).
    pub fn take_rows(&self, rows: &[u32]) -> Result<Table> {
        let indices = UInt32Array::from(rows.to_vec());
        let arrays = self
            .batch
            .columns()
            .iter()
            .map(|a| arrow_select::take::take(a.as_ref(), &indices, None))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| DataError::Arrow {
                context: "selecting rows".into(),
                source: e,
            })?;
        let mut table = Table::new(self.columns.clone(), arrays, rows.len())?;
        table.source = self.source.clone();
        table.notes = self.notes.clone();
        Ok(table)
    }

    /// The table without one column (a weight or group column that must not become a feature).
    pub fn without_column(&self, index: usize) -> Result<Table> {
        let mut columns = self.columns.clone();
        columns.remove(index);
        let mut arrays = self.batch.columns().to_vec();
        arrays.remove(index);
        let mut table = Table::new(columns, arrays, self.n_rows())?;
        table.source = self.source.clone();
        table.notes = self.notes.clone();
        Ok(table)
    }

    /// Rows whose value in `column` is missing.
    pub fn null_count(&self, column: usize) -> usize {
        self.array(column).null_count()
    }
}
