//! Has DATA moved away from the training data? Each model input column and the model's
//! predictions, binned the way the model file's reference profile binned them at training
//! time (`whet_data::reference`), compared by the population stability index.

use serde::Serialize;
use whet_data::Table;
use whet_data::prep::Prep;
use whet_data::reference::{
    ColumnReference, ColumnValues, Distribution, ReferenceProfile, bin_counts, canonical_level,
    level_counts, step_values,
};
use whet_learn::output::prediction_distributions;

use crate::eval::Scored;

/// PSI above this is a major shift (the usual rule of thumb: < 0.1 stable, 0.1–0.25 some).
pub const PSI_MAJOR: f64 = 0.25;
pub const PSI_MODERATE: f64 = 0.1;
/// A shift must also be unlikely as sampling noise: PSI over many sparse bins (a city column
/// with 120 levels on 600 rows) is large by chance alone.
pub const SHIFT_P_VALUE: f64 = 0.001;

#[derive(Clone, Debug, Serialize)]
pub struct ColumnShift {
    pub column: String,
    /// "input" or "prediction".
    pub kind: String,
    pub psi: f64,
    /// The PSI expected from sampling alone, `(bins − 1)·(1/n_train + 1/n_data)`: PSI divided
    /// by `1/n_train + 1/n_data` is about chi-square with `bins − 1` degrees of freedom when
    /// nothing moved.
    pub psi_noise: f64,
    /// Probability of a PSI this large by chance (Wilson–Hilferty approximation).
    pub p_value: f64,
    pub missing_train: f64,
    pub missing_data: f64,
    /// Bin labels and each bin's share in training and in DATA (missing is the last bin).
    pub bins: Vec<String>,
    pub train_share: Vec<f64>,
    pub data_share: Vec<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DriftReport {
    pub train_rows: u64,
    /// Largest shift first.
    pub columns: Vec<ColumnShift>,
    /// Input columns the profile does not describe (hashed text).
    pub skipped: Vec<String>,
}

/// Whether a column moved: PSI beyond `threshold` and beyond sampling noise.
pub fn shifted(c: &ColumnShift, threshold: f64) -> bool {
    c.psi > threshold && c.p_value < SHIFT_P_VALUE
}

/// Population stability index of two count vectors over the same bins, as `whet drift`
/// computes it (`whet_data::drift::psi`: shares floored at 1e-4); NaN when a side is empty
/// (there is nothing to compare).
pub fn psi(expected: &[u64], actual: &[u64]) -> f64 {
    if expected.iter().all(|&c| c == 0) || actual.iter().all(|&c| c == 0) {
        return f64::NAN;
    }
    whet_data::drift::psi(expected, actual)
}

fn shares(c: &[u64]) -> Vec<f64> {
    let t = c.iter().sum::<u64>().max(1) as f64;
    c.iter().map(|&x| x as f64 / t).collect()
}

fn shift(reference: &ColumnReference, values: &ColumnValues, kind: &str) -> Option<ColumnShift> {
    let (mut bins, mut expected, mut actual, missing_data);
    match (&reference.distribution, values) {
        (Distribution::Numeric(n), ColumnValues::Numeric(v)) => {
            expected = n.counts.clone();
            actual = bin_counts(&n.edges, v);
            bins = (0..=n.edges.len())
                .map(
                    |b| match (b.checked_sub(1).map(|i| n.edges[i]), n.edges.get(b)) {
                        (None, Some(hi)) => format!("< {}", whet_data::report::fmt_short(*hi)),
                        (Some(lo), None) => format!("≥ {}", whet_data::report::fmt_short(lo)),
                        (Some(lo), Some(hi)) => format!(
                            "{} – {}",
                            whet_data::report::fmt_short(lo),
                            whet_data::report::fmt_short(*hi)
                        ),
                        (None, None) => "all".into(),
                    },
                )
                .collect::<Vec<_>>();
            missing_data = v.iter().filter(|x| x.is_nan()).count() as u64;
        }
        (Distribution::Categorical(c), ColumnValues::Labels(l)) => {
            let (counts, missing) = level_counts(l);
            let known = |s: &str| c.levels.iter().any(|(name, _)| name == s);
            let mut per_level = vec![0u64; c.levels.len() + 1];
            for (label, n) in counts {
                let level = canonical_level(label, &known);
                match c
                    .levels
                    .iter()
                    .position(|(name, _)| name.as_str() == level.as_ref())
                {
                    Some(i) => per_level[i] += n,
                    None => per_level[c.levels.len()] += n,
                }
            }
            expected = c
                .levels
                .iter()
                .map(|(_, n)| *n)
                .chain([c.other_count])
                .collect();
            actual = per_level;
            bins = c
                .levels
                .iter()
                .map(|(n, _)| n.clone())
                .chain(["(other)".to_string()])
                .collect();
            missing_data = missing;
        }
        _ => return None,
    }
    expected.push(reference.missing);
    actual.push(missing_data);
    bins.push("(missing)".into());
    let data_rows = actual.iter().sum::<u64>().max(1) as f64;
    let train_rows = expected.iter().sum::<u64>().max(1) as f64;
    let used = expected
        .iter()
        .zip(&actual)
        .filter(|(e, a)| **e + **a > 0)
        .count();
    let df = used.saturating_sub(1) as f64;
    let scale = 1.0 / train_rows + 1.0 / data_rows;
    let value = psi(&expected, &actual);
    Some(ColumnShift {
        column: reference.name.clone(),
        kind: kind.into(),
        psi: value,
        psi_noise: df * scale,
        p_value: if df > 0.0 {
            whet_data::drift::chi_square_sf(value / scale, df)
        } else {
            1.0
        },
        missing_train: reference.missing_fraction(),
        missing_data: missing_data as f64 / data_rows,
        train_share: shares(&expected),
        data_share: shares(&actual),
        bins,
    })
}

/// DATA's input columns and the model's predictions on DATA against the training profile.
/// None when the model file has no profile (written before profiles existed).
pub fn drift(
    reference: &ReferenceProfile,
    prep: &Prep,
    table: &Table,
    scored: &Scored,
) -> Option<DriftReport> {
    if reference.is_empty() {
        return None;
    }
    let mut columns = Vec::new();
    for step in &prep.steps {
        let (Some(r), Some(i)) = (
            reference.column(step.column()),
            table.index_of(step.column()),
        ) else {
            continue;
        };
        if let Ok(Some(values)) =
            step_values(prep, step, table.array(i), table.columns[i].value_type)
            && let Some(s) = shift(r, &values, "input")
        {
            columns.push(s);
        }
    }
    for (name, values) in prediction_distributions(scored.task, &scored.classes, &scored.pred) {
        if let Some(r) = reference.predictions.iter().find(|p| p.name == name)
            && let Some(s) = shift(r, &ColumnValues::Numeric(values), "prediction")
        {
            columns.push(s);
        }
    }
    columns.sort_by(|a, b| b.psi.total_cmp(&a.psi));
    Some(DriftReport {
        train_rows: reference.rows,
        columns,
        skipped: reference.skipped.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_of_known_counts() {
        // Equal shares: 0. Shares (0.5, 0.5) → (0.25, 0.75):
        // (0.25 − 0.5)·ln(0.5) + (0.75 − 0.5)·ln(1.5) = 0.1733 + 0.1014 = 0.2747.
        assert_eq!(psi(&[10, 10], &[30, 30]), 0.0);
        assert!((psi(&[50, 50], &[25, 75]) - 0.274653).abs() < 1e-6);
        assert!(psi(&[0, 0], &[1, 2]).is_nan());
    }

    #[test]
    fn a_shifted_numeric_column_is_found_on_its_training_bins() {
        let train: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        let r = ColumnReference::numeric("x", &train);
        let same = shift(&r, &ColumnValues::Numeric(train.clone()), "input").unwrap();
        assert!(same.psi.abs() < 1e-9, "{}", same.psi);
        let moved: Vec<f64> = train.iter().map(|v| v + 0.5).collect();
        let s = shift(&r, &ColumnValues::Numeric(moved), "input").unwrap();
        assert!(shifted(&s, PSI_MAJOR), "{}", s.psi);
        // 120 levels seen ~5 times each on 600 rows: a large PSI, but noise.
        let levels = |n: usize, seed: u64| -> Vec<Option<String>> {
            let mut rng = whet_data::rng::Rng::new(seed);
            (0..n)
                .map(|_| Some(format!("city{}", rng.below(120))))
                .collect()
        };
        let r = ColumnReference::categorical("city", &levels(1400, 1));
        let noisy = levels(600, 2);
        let s = shift(&r, &ColumnValues::Labels(noisy), "input").unwrap();
        assert!(!shifted(&s, PSI_MAJOR), "PSI {} p {}", s.psi, s.p_value);
        let labels: Vec<Option<String>> = (0..100)
            .map(|i| Some(if i % 2 == 0 { "a" } else { "b" }.to_string()))
            .collect();
        let r = ColumnReference::categorical("c", &labels);
        let new: Vec<Option<String>> = (0..100)
            .map(|i| if i < 10 { None } else { Some("c".to_string()) })
            .collect();
        let s = shift(&r, &ColumnValues::Labels(new), "input").unwrap();
        assert!(shifted(&s, PSI_MAJOR) && (s.missing_data - 0.1).abs() < 1e-12);
        assert_eq!(s.bins.last().map(String::as_str), Some("(missing)"));
    }
}
