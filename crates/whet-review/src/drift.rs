//! Has DATA moved away from the training data? Each model input column and the model's
//! predictions against the training reference profile stored in the model file, judged by
//! `whet_data::drift`, the same rule as `whet drift` (docs/drift.md): a test per column held
//! to a Bonferroni level, an effect large enough to matter, "major" from PSI 0.25. This module
//! only gathers the columns and shapes the result for the review's report.

use serde::Serialize;
use whet_data::Table;
use whet_data::drift::{ColumnDrift, Severity, Thresholds, compare_values};
use whet_data::prep::Prep;
use whet_data::reference::{ReferenceProfile, step_values};
use whet_learn::output::prediction_distributions;

use crate::eval::Scored;

#[derive(Clone, Debug, Serialize)]
pub struct ColumnShift {
    pub column: String,
    /// "input" or "prediction".
    pub kind: String,
    pub psi: f64,
    /// "ks" (numeric) or "chi_square" (categorical), its p-value and effect (KS gap or total
    /// variation distance).
    pub test: &'static str,
    pub p_value: f64,
    pub effect: f64,
    pub severity: Severity,
    /// Why the column counts as moved, in words (empty when it did not).
    pub reasons: Vec<String>,
    pub missing_train: f64,
    pub missing_data: f64,
    /// Bin labels and each bin's share in training and in DATA (missing is the last bin).
    pub bins: Vec<String>,
    pub train_share: Vec<f64>,
    pub data_share: Vec<f64>,
}

impl ColumnShift {
    fn new(d: ColumnDrift, kind: &str) -> ColumnShift {
        ColumnShift {
            column: d.column,
            kind: kind.into(),
            psi: d.psi,
            test: d.test,
            p_value: d.p_value,
            effect: d.effect,
            severity: d.severity,
            reasons: d.reasons,
            missing_train: d.reference_missing,
            missing_data: d.missing,
            bins: d.bins,
            train_share: d.reference_shares,
            data_share: d.shares,
        }
    }

    pub fn moved(&self) -> bool {
        self.severity != Severity::None
    }

    pub fn major(&self) -> bool {
        self.severity == Severity::Major
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct DriftReport {
    pub train_rows: u64,
    /// The level each test was held to (the report's alpha over its number of tests).
    pub test_level: f64,
    /// Moved columns first (major, then moderate), then by PSI.
    pub columns: Vec<ColumnShift>,
    /// Input columns the profile does not describe (hashed text).
    pub skipped: Vec<String>,
    /// Why the predictions were not compared, when they were not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictions_not_compared: Option<String>,
}

/// DATA's input columns and the model's predictions on DATA against the training profile.
/// None when the model file has no profile (written before profiles existed). Input columns
/// DATA lacks are left out (the review has already said the model cannot score without them).
pub fn drift(
    reference: &ReferenceProfile,
    prep: &Prep,
    table: &Table,
    scored: &Scored,
) -> Option<DriftReport> {
    if reference.is_empty() {
        return None;
    }
    let mut inputs = Vec::new();
    for step in &prep.steps {
        let (Some(_), Some(i)) = (
            reference.column(step.column()),
            table.index_of(step.column()),
        ) else {
            continue;
        };
        if let Ok(Some(values)) =
            step_values(prep, step, table.array(i), table.columns[i].value_type)
        {
            inputs.push((step.column().to_string(), values));
        }
    }
    let predictions = prediction_distributions(scored.task, &scored.classes, &scored.pred);
    let report = compare_values(
        reference,
        &inputs,
        &predictions,
        None,
        &Thresholds::default(),
    );
    let mut columns: Vec<ColumnShift> = report
        .columns
        .into_iter()
        .map(|d| ColumnShift::new(d, "input"))
        .chain(
            report
                .predictions
                .into_iter()
                .map(|d| ColumnShift::new(d, "prediction")),
        )
        .collect();
    columns.sort_by(|a, b| {
        (b.severity as u8)
            .cmp(&(a.severity as u8))
            .then(b.psi.total_cmp(&a.psi))
    });
    Some(DriftReport {
        train_rows: reference.rows,
        test_level: report.test_level,
        columns,
        skipped: reference.skipped.clone(),
        predictions_not_compared: report.predictions_not_compared,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use whet_data::reference::{ColumnReference, ColumnValues};

    fn judged(r: &ColumnReference, values: ColumnValues) -> ColumnShift {
        let profile = ReferenceProfile {
            rows: r.rows,
            columns: vec![r.clone()],
            ..Default::default()
        };
        let report = compare_values(
            &profile,
            &[(r.name.clone(), values)],
            &[],
            None,
            &Thresholds::default(),
        );
        ColumnShift::new(report.columns[0].clone(), "input")
    }

    #[test]
    fn a_shifted_column_is_found_and_noise_is_not() {
        let train: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        let r = ColumnReference::numeric("x", &train);
        let same = judged(&r, ColumnValues::Numeric(train.clone()));
        assert!(same.psi.abs() < 1e-9 && !same.moved(), "{same:?}");
        // Shares of all rows, the missing bin last, summing to 1 on both sides.
        assert_eq!(same.bins.last().map(String::as_str), Some("(missing)"));
        for shares in [&same.train_share, &same.data_share] {
            assert!(
                (shares.iter().sum::<f64>() - 1.0).abs() < 1e-9,
                "{shares:?}"
            );
        }
        let moved: Vec<f64> = train.iter().map(|v| v + 0.5).collect();
        let s = judged(&r, ColumnValues::Numeric(moved));
        assert!(s.major(), "{s:?}");
        // 120 levels seen ~5 times each on 600 rows: a large PSI, but noise.
        let levels = |n: usize, seed: u64| -> Vec<Option<String>> {
            let mut rng = whet_data::rng::Rng::new(seed);
            (0..n)
                .map(|_| Some(format!("city{}", rng.below(120))))
                .collect()
        };
        let r = ColumnReference::categorical("city", &levels(1400, 1));
        let s = judged(&r, ColumnValues::Labels(levels(600, 2)));
        assert!(!s.moved(), "PSI {} p {}", s.psi, s.p_value);
        // Half the rows missing and the rest a new level: moved, and the missing bin says so.
        let labels: Vec<Option<String>> = (0..100)
            .map(|i| Some(if i % 2 == 0 { "a" } else { "b" }.to_string()))
            .collect();
        let r = ColumnReference::categorical("c", &labels);
        let new: Vec<Option<String>> = (0..100)
            .map(|i| if i < 10 { None } else { Some("c".to_string()) })
            .collect();
        let s = judged(&r, ColumnValues::Labels(new));
        assert!(s.major() && (s.missing_data - 0.1).abs() < 1e-12, "{s:?}");
        assert_eq!(s.bins, ["a", "b", "(other)", "(missing)"]);
        assert!((s.data_share[2] - 0.9).abs() < 1e-12 && (s.data_share[3] - 0.1).abs() < 1e-12);
        assert_eq!(s.train_share, [0.5, 0.5, 0.0, 0.0]);
    }
}
