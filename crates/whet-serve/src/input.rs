//! Request bodies to a table the model's Prep reads: JSON records, JSON columns, MLflow's
//! scoring formats (`dataframe_split`, `dataframe_records`, `instances`, `inputs`) and CSV.
//!
//! Every body becomes named columns of JSON values first; then each column the model needs is
//! typed the way its Prep step reads it (numbers for numeric steps, text for the rest), so a
//! value of the wrong type is refused naming its column, row and value. An unknown category
//! is not an error: Prep maps it to "other/unseen", as batch prediction does.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, StringArray};
use serde_json::Value;
use whet_data::prep::{Prep, Step};
use whet_data::{Table, ValueType};

/// A request the server refuses, with the HTTP status it gets.
#[derive(Debug, Clone, PartialEq)]
pub struct BadInput {
    pub status: u16,
    pub message: String,
    pub column: Option<String>,
    /// 1-based row of the request's data.
    pub row: Option<usize>,
    pub value: Option<String>,
}

impl BadInput {
    fn new(message: impl Into<String>) -> BadInput {
        BadInput {
            status: 400,
            message: message.into(),
            column: None,
            row: None,
            value: None,
        }
    }
}

/// Named columns of raw values, all of one length.
pub struct Columns {
    pub names: Vec<String>,
    pub values: Vec<Vec<Value>>,
    pub rows: usize,
}

/// Which body shapes an endpoint accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `/predict`: records, columns, or any MLflow shape.
    Whet,
    /// `/invocations`: MLflow's shapes only, as `mlflow models serve` checks them.
    Mlflow,
}

/// `body` with every bare `NaN` token (outside strings) written as `null`, or None when it
/// holds none.
fn nan_as_null(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() + 16);
    let (mut in_string, mut escaped, mut found) = (false, false, false);
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if c == b'"' {
            in_string = true;
        } else if body[i..].starts_with(b"NaN")
            && !body
                .get(i + 3)
                .is_some_and(|n| n.is_ascii_alphanumeric() || *n == b'_')
        {
            out.extend_from_slice(b"null");
            found = true;
            i += 3;
            continue;
        }
        out.push(c);
        i += 1;
    }
    found.then_some(out)
}

pub fn parse_body(
    content_type: &str,
    body: &[u8],
    protocol: Protocol,
) -> Result<Columns, BadInput> {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if ct == "text/csv" {
        return parse_csv(body);
    }
    if !(ct.is_empty() || ct == "application/json") {
        return Err(BadInput {
            status: 415,
            ..BadInput::new(format!(
                "content type '{ct}' is not supported; send application/json or text/csv"
            ))
        });
    }
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        // Python's json (MLflow's own scoring client, `json.dumps` of a DataFrame) writes a
        // missing value as the bare token NaN, which `mlflow models serve` reads; so do we,
        // as a missing value. Only bodies that fail to parse are scanned for it.
        Err(e) => match nan_as_null(body) {
            Some(fixed) => serde_json::from_slice(&fixed),
            None => Err(e),
        }
        .map_err(|e| {
            let hint = if e.to_string().contains("expected value")
                && body.windows(8).any(|w| w == b"Infinity")
            {
                "\nhint: Infinity is not a value a model can score; send a finite number, or null for a missing value"
            } else {
                ""
            };
            BadInput::new(format!("the body is not valid JSON: {e}{hint}"))
        })?,
    };
    match (&v, protocol) {
        (Value::Object(o), _) if o.contains_key("dataframe_split") => split(&o["dataframe_split"]),
        (Value::Object(o), _) if o.contains_key("dataframe_records") => {
            records(&o["dataframe_records"])
        }
        (Value::Object(o), _) if o.contains_key("instances") => any_shape(&o["instances"]),
        (Value::Object(o), _) if o.contains_key("inputs") => any_shape(&o["inputs"]),
        (_, Protocol::Mlflow) => Err(BadInput::new(
            "the body must hold one of dataframe_split, dataframe_records, instances or inputs (MLflow's scoring protocol)",
        )),
        (_, Protocol::Whet) => any_shape(&v),
    }
}

fn any_shape(v: &Value) -> Result<Columns, BadInput> {
    match v {
        Value::Array(_) => records(v),
        Value::Object(o) => columns(o),
        _ => Err(BadInput::new(
            "expected a list of records ([{\"col\": value}, ...]) or an object of columns ({\"col\": [values]})",
        )),
    }
}

fn records(v: &Value) -> Result<Columns, BadInput> {
    let Value::Array(rows) = v else {
        return Err(BadInput::new("records must be a list of objects"));
    };
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut names: Vec<String> = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let Value::Object(o) = row else {
            return Err(BadInput {
                row: Some(r + 1),
                ..BadInput::new(format!("row {} is not an object of column values", r + 1))
            });
        };
        for k in o.keys() {
            if !index.contains_key(k) {
                index.insert(k.clone(), names.len());
                names.push(k.clone());
            }
        }
    }
    let mut values = vec![Vec::with_capacity(rows.len()); names.len()];
    for row in rows {
        if let Value::Object(o) = row {
            for (name, col) in names.iter().zip(values.iter_mut()) {
                // A key absent from one record is a missing value there.
                col.push(o.get(name).cloned().unwrap_or(Value::Null));
            }
        }
    }
    Ok(Columns {
        names,
        values,
        rows: rows.len(),
    })
}

fn columns(o: &serde_json::Map<String, Value>) -> Result<Columns, BadInput> {
    let mut names = Vec::new();
    let mut values = Vec::new();
    let mut rows: Option<usize> = None;
    for (k, v) in o {
        let col = match v {
            Value::Array(a) => a.clone(),
            scalar => vec![scalar.clone()],
        };
        match rows {
            Some(n) if n != col.len() => {
                return Err(BadInput {
                    column: Some(k.clone()),
                    ..BadInput::new(format!(
                        "column '{k}' has {} values, the others {n}; every column needs one value per row",
                        col.len()
                    ))
                });
            }
            _ => rows = Some(col.len()),
        }
        names.push(k.clone());
        values.push(col);
    }
    Ok(Columns {
        names,
        values,
        rows: rows.unwrap_or(0),
    })
}

fn split(v: &Value) -> Result<Columns, BadInput> {
    let names: Vec<String> = match v.get("columns") {
        Some(Value::Array(c)) => c
            .iter()
            .map(|c| match c {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        _ => {
            return Err(BadInput::new(
                "dataframe_split needs \"columns\": [names] and \"data\": [[row values]]",
            ));
        }
    };
    let Some(Value::Array(data)) = v.get("data") else {
        return Err(BadInput::new(
            "dataframe_split needs \"data\": [[row values]]",
        ));
    };
    let mut values = vec![Vec::with_capacity(data.len()); names.len()];
    for (r, row) in data.iter().enumerate() {
        let cells: Vec<Value> = match row {
            Value::Array(a) => a.clone(),
            // A one-column frame may send bare values.
            scalar if names.len() == 1 => vec![scalar.clone()],
            _ => {
                return Err(BadInput {
                    row: Some(r + 1),
                    ..BadInput::new(format!("data row {} is not a list of values", r + 1))
                });
            }
        };
        if cells.len() != names.len() {
            return Err(BadInput {
                row: Some(r + 1),
                ..BadInput::new(format!(
                    "data row {} has {} values for {} columns",
                    r + 1,
                    cells.len(),
                    names.len()
                ))
            });
        }
        for (col, cell) in values.iter_mut().zip(cells) {
            col.push(cell);
        }
    }
    Ok(Columns {
        names,
        values,
        rows: data.len(),
    })
}

/// CSV with a header row; fields arrive as text, an empty field is missing.
fn parse_csv(body: &[u8]) -> Result<Columns, BadInput> {
    let text = std::str::from_utf8(body)
        .map_err(|e| BadInput::new(format!("the CSV is not UTF-8: {e}")))?;
    let mut reader = csv_core::Reader::new();
    let mut records: Vec<Vec<String>> = Vec::new();
    let mut input = text.as_bytes();
    let mut field = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut out = [0u8; 4096];
    loop {
        let (result, nin, nout) = reader.read_field(input, &mut out);
        input = &input[nin..];
        field.extend_from_slice(&out[..nout]);
        match result {
            csv_core::ReadFieldResult::InputEmpty => {
                if input.is_empty() {
                    // Signal the end of input on the next call.
                    let (r, _, nout) = reader.read_field(&[], &mut out);
                    field.extend_from_slice(&out[..nout]);
                    match r {
                        csv_core::ReadFieldResult::Field { record_end } => {
                            record.push(String::from_utf8_lossy(&field).into_owned());
                            field.clear();
                            if record_end {
                                records.push(std::mem::take(&mut record));
                            }
                        }
                        _ => break,
                    }
                }
            }
            csv_core::ReadFieldResult::OutputFull => {}
            csv_core::ReadFieldResult::Field { record_end } => {
                record.push(String::from_utf8_lossy(&field).into_owned());
                field.clear();
                if record_end {
                    records.push(std::mem::take(&mut record));
                }
            }
            csv_core::ReadFieldResult::End => break,
        }
    }
    let mut rows = records.into_iter();
    let Some(header) = rows.next() else {
        return Err(BadInput::new(
            "the CSV is empty; send a header row and data rows",
        ));
    };
    let names: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    let mut values = vec![Vec::new(); names.len()];
    let mut n = 0;
    for (r, rec) in rows.enumerate() {
        if rec.len() == 1 && rec[0].is_empty() && names.len() > 1 {
            continue;
        }
        if rec.len() != names.len() {
            return Err(BadInput {
                row: Some(r + 1),
                ..BadInput::new(format!(
                    "CSV row {} has {} fields, the header {}",
                    r + 1,
                    rec.len(),
                    names.len()
                ))
            });
        }
        for (col, f) in values.iter_mut().zip(rec) {
            col.push(if f.is_empty() {
                Value::Null
            } else {
                Value::String(f)
            });
        }
        n += 1;
    }
    Ok(Columns {
        names,
        values,
        rows: n,
    })
}

/// The table the model's Prep reads: its input columns, typed by their steps.
pub fn to_table(prep: &Prep, cols: &Columns) -> Result<Table, BadInput> {
    let index: HashMap<&str, usize> = cols
        .names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let missing: Vec<&str> = prep
        .required_columns()
        .into_iter()
        .filter(|c| !index.contains_key(c))
        .collect();
    if !missing.is_empty() {
        return Err(BadInput {
            column: missing.first().map(|c| c.to_string()),
            ..BadInput::new(format!(
                "missing column{}: {} (the model needs every column it was trained on; null values are fine)",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", ")
            ))
        });
    }
    let mut out: Vec<(&str, ValueType, ArrayRef)> = Vec::with_capacity(prep.steps.len());
    for step in &prep.steps {
        let name = step.column();
        let values = &cols.values[index[name]];
        match step {
            Step::Numeric { .. } => {
                let mut v = Vec::with_capacity(values.len());
                for (r, x) in values.iter().enumerate() {
                    v.push(number(x).map_err(|shown| BadInput {
                        column: Some(name.to_string()),
                        row: Some(r + 1),
                        value: Some(shown.clone()),
                        ..BadInput::new(format!(
                            "column '{name}', row {}: expected a number, got {shown}",
                            r + 1
                        ))
                    })?);
                }
                out.push((name, ValueType::Float, Arc::new(Float64Array::from(v))));
            }
            _ => {
                let mut v = Vec::with_capacity(values.len());
                for (r, x) in values.iter().enumerate() {
                    v.push(label(x).map_err(|shown| BadInput {
                        column: Some(name.to_string()),
                        row: Some(r + 1),
                        value: Some(shown.clone()),
                        ..BadInput::new(format!(
                            "column '{name}', row {}: expected a single value, got {shown}",
                            r + 1
                        ))
                    })?);
                }
                out.push((name, ValueType::String, Arc::new(StringArray::from(v))));
            }
        }
    }
    Table::from_columns(out).map_err(|e| BadInput::new(e.to_string()))
}

fn number(v: &Value) -> Result<Option<f64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        Value::Bool(b) => Ok(Some(if *b { 1.0 } else { 0.0 })),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() || matches!(t, "NA" | "N/A" | "null" | "NULL" | "NaN" | "?") {
                return Ok(None);
            }
            t.parse::<f64>()
                .map(|x| Some(x).filter(|x| !x.is_nan()))
                .map_err(|_| v.to_string())
        }
        other => Err(other.to_string()),
    }
}

fn label(v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Number(n) => Ok(Some(match n.as_i64() {
            Some(i) => i.to_string(),
            None => n.to_string(),
        })),
        other => Err(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_nan_tokens_are_missing_values_and_nan_in_text_is_kept() {
        // What MLflow's ScoringServerClient sends for a DataFrame with a missing value.
        let body = br#"{"dataframe_split": {"columns": ["age", "note"], "data": [[NaN, "NaN \"x\" NaN"], [3.5, "ok"]]}}"#;
        let cols = parse_body("application/json", body, Protocol::Mlflow).unwrap();
        assert_eq!(cols.names, ["age", "note"]);
        assert_eq!(cols.values[0], [Value::Null, json!(3.5)]);
        assert_eq!(cols.values[1], [json!("NaN \"x\" NaN"), json!("ok")]);
        assert_eq!(nan_as_null(br#"{"a": "NaN"}"#), None);
        assert_eq!(nan_as_null(b"[NaN,NaNx]").unwrap(), b"[null,NaNx]");
        // Still not JSON: an error, with a hint for Infinity.
        let e = parse_body("application/json", b"[{\"a\": Infinity}]", Protocol::Whet)
            .err()
            .unwrap();
        assert!(e.message.contains("hint: Infinity"), "{}", e.message);
    }
}
