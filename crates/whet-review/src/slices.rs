//! Slices of the data: every frequent level of a categorical column and quantile bins of a
//! numeric one, each with enough rows to say something.

use rayon::prelude::*;
use serde::Serialize;
use whet_data::Table;
use whet_data::prep::{Prep, Step, labels_of};

use crate::error::{Result, ReviewError};

/// Levels shown per categorical column at most (the most frequent).
const MAX_LEVELS: usize = 12;
/// Quantile bins per numeric column.
const NUMERIC_BINS: usize = 4;

/// A named subset of the rows.
#[derive(Clone, Debug, Serialize)]
pub struct SliceDef {
    pub column: String,
    /// e.g. `plan = basic`, `age in [31, 45)`, `age missing`.
    pub label: String,
    #[serde(skip)]
    pub rows: Vec<u32>,
}

/// The columns a review slices by default: the model's categorical, boolean and numeric input
/// columns (dates and free text are left out).
pub fn default_columns(prep: &Prep) -> Vec<String> {
    prep.steps
        .iter()
        .filter(|s| {
            matches!(
                s,
                Step::Numeric { .. } | Step::Categorical { .. } | Step::Boolean { .. }
            )
        })
        .map(|s| s.column().to_string())
        .collect()
}

fn fmt_edge(v: f64) -> String {
    whet_data::report::fmt_short(v)
}

/// The slices of `columns` with at least `min_rows` rows each. An unknown column is a usage
/// error naming the columns there are.
pub fn define(
    table: &Table,
    prep: &Prep,
    columns: &[String],
    min_rows: usize,
) -> Result<Vec<SliceDef>> {
    let mut seen = std::collections::HashSet::new();
    // A column named twice is sliced once: the slices of a column are disjoint, which
    // `rows_in_order` relies on.
    let mut named = Vec::new();
    for name in columns.iter().filter(|c| seen.insert(c.as_str())) {
        let Some(index) = table.index_of(name) else {
            let known: Vec<&str> = table.names().collect();
            return Err(ReviewError::usage(
                format!("--slices: no column '{name}' in the data"),
                format!("columns: {}", known.join(", ")),
            ));
        };
        named.push((name, index));
    }
    // Columns side by side (each sorts its values for the quantile bins), in column order.
    let per_column: Vec<Vec<SliceDef>> = named
        .par_iter()
        .map(|&(name, index)| column_slices(table, prep, name, index, min_rows))
        .collect();
    Ok(per_column.into_iter().flatten().collect())
}

/// One column's slices: quantile bins (and missing values) of a numeric column, the most
/// frequent levels of any other.
fn column_slices(
    table: &Table,
    prep: &Prep,
    name: &String,
    index: usize,
    min_rows: usize,
) -> Vec<SliceDef> {
    let mut out = Vec::new();
    {
        let array = table.array(index);
        let numeric = prep
            .steps
            .iter()
            .any(|s| s.column() == name && matches!(s, Step::Numeric { .. }))
            || (!prep.steps.iter().any(|s| s.column() == name)
                && table.columns[index].value_type.is_numeric());
        if numeric && let Some(values) = whet_data::summary::numeric_values(array.as_ref()) {
            let mut finite: Vec<f64> = values
                .iter()
                .flatten()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            finite.sort_unstable_by(f64::total_cmp);
            let mut edges: Vec<f64> = (1..NUMERIC_BINS)
                .map(|b| crate::stats::quantile_sorted(&finite, b as f64 / NUMERIC_BINS as f64))
                .collect();
            edges.dedup();
            let mut bins: Vec<Vec<u32>> = vec![Vec::new(); edges.len() + 1];
            let mut missing = Vec::new();
            for (r, v) in values.iter().enumerate() {
                match v {
                    Some(v) if v.is_finite() => {
                        bins[edges.partition_point(|e| e <= v)].push(r as u32)
                    }
                    _ => missing.push(r as u32),
                }
            }
            for (b, rows) in bins.into_iter().enumerate() {
                if rows.len() < min_rows {
                    continue;
                }
                let label = match (b, b == edges.len()) {
                    (0, true) => format!("{name} (all values)"),
                    (0, false) => format!("{name} < {}", fmt_edge(edges[0])),
                    (b, true) => format!("{name} ≥ {}", fmt_edge(edges[b - 1])),
                    (b, false) => format!(
                        "{name} in [{}, {})",
                        fmt_edge(edges[b - 1]),
                        fmt_edge(edges[b])
                    ),
                };
                out.push(SliceDef {
                    column: name.clone(),
                    label,
                    rows,
                });
            }
            if missing.len() >= min_rows {
                out.push(SliceDef {
                    column: name.clone(),
                    label: format!("{name} missing"),
                    rows: missing,
                });
            }
            return out;
        }
        let labels = labels_of(array);
        let mut levels: std::collections::HashMap<Option<&str>, Vec<u32>> = Default::default();
        for (r, l) in labels.iter().enumerate() {
            levels.entry(l.as_deref()).or_default().push(r as u32);
        }
        let mut levels: Vec<(Option<&str>, Vec<u32>)> = levels
            .into_iter()
            .filter(|(_, rows)| rows.len() >= min_rows)
            .collect();
        levels.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        for (level, rows) in levels.into_iter().take(MAX_LEVELS) {
            let label = match level {
                Some(l) => format!("{name} = {l}"),
                None => format!("{name} missing"),
            };
            out.push(SliceDef {
                column: name.clone(),
                label,
                rows,
            });
        }
    }
    out
}

/// Each slice's rows in the order `order` lists all rows (e.g. by descending score): one pass
/// over `order` per column, since a column's slices are disjoint.
pub fn rows_in_order(defs: &[SliceDef], order: &[u32], n_rows: usize) -> Vec<Vec<u32>> {
    let mut out: Vec<Vec<u32>> = defs
        .iter()
        .map(|d| Vec::with_capacity(d.rows.len()))
        .collect();
    let mut which = vec![u32::MAX; n_rows];
    let mut start = 0;
    while start < defs.len() {
        let end = start
            + defs[start..]
                .iter()
                .take_while(|d| d.column == defs[start].column)
                .count();
        which.fill(u32::MAX);
        for (i, d) in defs.iter().enumerate().take(end).skip(start) {
            for &r in &d.rows {
                which[r as usize] = i as u32;
            }
        }
        for &r in order {
            if let Some(rows) = out.get_mut(which[r as usize] as usize) {
                rows.push(r);
            }
        }
        start = end;
    }
    out
}
