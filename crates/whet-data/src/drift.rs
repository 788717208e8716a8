//! Drift: how far new data has moved from a reference profile, column by column.
//!
//! Each column gets an effect size and a test:
//! - numeric: the population stability index (PSI) on the reference's equal-frequency bins,
//!   and a two-sample Kolmogorov–Smirnov test on the cumulative counts at the bin edges (the
//!   statistic is the largest CDF gap at an edge, a lower bound of the exact one, so the test
//!   errs on the side of silence);
//! - categorical: PSI over the reference levels plus "other" (where unseen levels land), and a
//!   chi-square test of homogeneity on the 2×k table, rare cells pooled so that every expected
//!   count is at least 5;
//! - both: a two-proportion test of the missing rate.
//!
//! A column drifts when a test is significant at `alpha / tests` (Bonferroni over every test
//! in the report, so that a report on many columns of unchanged data raises a false alarm at
//! most `alpha` of the time) AND the change is large enough to matter: a KS gap or a total
//! variation distance of at least `min_effect`, or a missing rate moved by at least
//! `min_missing_change`. Severity is "major" from PSI 0.25 or a missing-rate change of 0.25,
//! the conventional PSI line for a population that has changed.

use serde::Serialize;

use crate::error::{DataError, Result};
use crate::prep::Prep;
use crate::reference::{
    CategoricalReference, ColumnReference, ColumnValues, Distribution, NumericReference,
    ReferenceProfile, bin_counts, canonical_level, level_counts, step_values, target_values,
};
use crate::table::Table;

/// New data against a model's reference profile.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftReport {
    /// True when any input column, prediction or the target drifted.
    pub drift: bool,
    pub rows: u64,
    pub reference_rows: u64,
    pub thresholds: Thresholds,
    /// The Bonferroni level each test is held to: `alpha / tests`.
    pub test_level: f64,
    pub columns: Vec<ColumnDrift>,
    pub predictions: Vec<ColumnDrift>,
    /// When the new data has the target column.
    pub target: Option<ColumnDrift>,
    /// Model inputs the profile does not describe (hashed text).
    pub not_compared: Vec<String>,
    /// Why the model's predictions were not compared, when they were not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictions_not_compared: Option<String>,
    /// What drifted, most severe (then highest PSI) first.
    pub drifted: Vec<String>,
}

/// Compares `table` (and the model's `predictions` on it, named as in the profile) with
/// `reference`. Fails when the table lacks a model input column.
pub fn compare_table(
    reference: &ReferenceProfile,
    prep: &Prep,
    table: &Table,
    predictions: &[(String, Vec<f64>)],
    thresholds: &Thresholds,
) -> Result<DriftReport> {
    let inputs = input_values(reference, prep, table)?;
    let target = target_values(prep, table);
    let mut report = compare_values(reference, &inputs, predictions, target.as_ref(), thresholds);
    report.rows = table.n_rows() as u64;
    Ok(report)
}

/// The model input columns of `table` that `reference` describes, read the way the Prep reads
/// them (hashed text is left out), in Prep order. Fails when the table lacks one.
pub fn input_values(
    reference: &ReferenceProfile,
    prep: &Prep,
    table: &Table,
) -> Result<Vec<(String, ColumnValues)>> {
    let missing: Vec<String> = reference
        .columns
        .iter()
        .filter(|c| table.index_of(&c.name).is_none())
        .map(|c| c.name.clone())
        .collect();
    if !missing.is_empty() {
        return Err(DataError::MissingColumns { columns: missing });
    }
    let mut out = Vec::with_capacity(reference.columns.len());
    for step in &prep.steps {
        if reference.column(step.column()).is_none() {
            continue;
        }
        let i = table.require(step.column())?;
        if let Some(values) = step_values(prep, step, table.array(i), table.columns[i].value_type)?
        {
            out.push((step.column().to_string(), values));
        }
    }
    Ok(out)
}

/// The drift report of input columns' values (as [`input_values`] reads them), the model's
/// predictions and the target's values, all of the same rows, against `reference`. Inputs and
/// predictions the profile does not describe are left out. `whet drift` reads them from a
/// file, `whet serve` keeps them over a window of the rows it scored.
pub fn compare_values(
    reference: &ReferenceProfile,
    inputs: &[(String, ColumnValues)],
    predictions: &[(String, Vec<f64>)],
    target: Option<&ColumnValues>,
    thresholds: &Thresholds,
) -> DriftReport {
    let mut columns: Vec<ColumnDrift> = inputs
        .iter()
        .filter_map(|(name, v)| reference.column(name).map(|r| compare(r, v)))
        .collect();
    let mut prediction_drift: Vec<ColumnDrift> = reference
        .predictions
        .iter()
        .filter_map(|r| {
            predictions
                .iter()
                .find(|(name, _)| *name == r.name)
                .map(|(_, v)| compare(r, &ColumnValues::Numeric(v.clone())))
        })
        .collect();
    let mut target = match (&reference.target, target) {
        (Some(r), Some(values)) => Some(compare(r, values)),
        _ => None,
    };
    {
        let mut all: Vec<&mut ColumnDrift> = columns
            .iter_mut()
            .chain(prediction_drift.iter_mut())
            .chain(target.iter_mut())
            .collect();
        judge(&mut all, thresholds);
    }
    let tests = (columns.len() + prediction_drift.len() + usize::from(target.is_some())) * 2;
    let mut flagged: Vec<&ColumnDrift> = columns
        .iter()
        .chain(&prediction_drift)
        .chain(target.iter())
        .filter(|d| d.drifted())
        .collect();
    flagged.sort_by(|a, b| {
        (b.severity as u8)
            .cmp(&(a.severity as u8))
            .then(b.psi.total_cmp(&a.psi))
    });
    let drifted: Vec<String> = flagged.iter().map(|d| d.column.clone()).collect();
    let rows = inputs
        .first()
        .map(|(_, v)| v.len())
        .or_else(|| predictions.first().map(|p| p.1.len()))
        .unwrap_or(0);
    DriftReport {
        drift: !drifted.is_empty(),
        rows: rows as u64,
        reference_rows: reference.rows,
        thresholds: *thresholds,
        test_level: thresholds.alpha / tests.max(1) as f64,
        columns,
        predictions: prediction_drift,
        target,
        not_compared: reference.skipped.clone(),
        predictions_not_compared: reference.predictions_not_compared.clone(),
        drifted,
    }
}

/// The thresholds of a drift verdict; `Default` gives the documented ones.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Thresholds {
    /// Family-wise false-alarm rate of the whole report.
    pub alpha: f64,
    /// Smallest KS gap or total variation distance that counts as drift.
    pub min_effect: f64,
    /// Smallest change of the missing rate that counts as drift.
    pub min_missing_change: f64,
    /// PSI from which a drift is "major".
    pub psi_major: f64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            alpha: 0.05,
            min_effect: 0.05,
            min_missing_change: 0.05,
            psi_major: 0.25,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    None,
    Moderate,
    Major,
}

/// One column compared with its reference.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ColumnDrift {
    pub column: String,
    /// "numeric" or "categorical".
    pub kind: &'static str,
    pub reference_rows: u64,
    pub rows: u64,
    pub reference_missing: f64,
    pub missing: f64,
    pub psi: f64,
    /// "ks" or "chi_square".
    pub test: &'static str,
    /// The KS gap, or the chi-square statistic.
    pub statistic: f64,
    pub p_value: f64,
    /// The KS gap, or the total variation distance between the level frequencies.
    pub effect: f64,
    pub missing_p_value: f64,
    /// New data's mean and the reference's (numeric columns).
    pub mean: Option<f64>,
    pub reference_mean: Option<f64>,
    /// Levels the reference does not name, most frequent first (at most 10), with counts.
    pub unseen_levels: Vec<(String, u64)>,
    /// Share of non-missing rows with a level the reference does not name.
    pub unseen_fraction: f64,
    /// Rare levels the reference counted together as "other" instead of naming them: when
    /// not 0, a level it does not name may have been seen in training after all.
    pub reference_other_levels: u64,
    pub severity: Severity,
    /// Why the column drifted, in words (empty when it did not).
    pub reasons: Vec<String>,
    /// The bins compared, for charts: the reference's quantile bins or levels (then "(other)"),
    /// and "(missing)" last; each bin's share of the reference's rows and of the new rows.
    /// Not in the JSON report, whose fields are documented in docs/drift.md.
    #[serde(skip)]
    pub bins: Vec<String>,
    #[serde(skip)]
    pub reference_shares: Vec<f64>,
    #[serde(skip)]
    pub shares: Vec<f64>,
}

impl ColumnDrift {
    pub fn drifted(&self) -> bool {
        self.severity != Severity::None
    }

    /// The levels the reference does not name, in words.
    pub fn unseen_text(&self) -> String {
        let names: Vec<&str> = self.unseen_levels.iter().map(|u| u.0.as_str()).collect();
        if self.reference_other_levels == 0 {
            format!(
                "{:.1}% of rows have levels not seen in training: {}",
                100.0 * self.unseen_fraction,
                names.join(", ")
            )
        } else {
            format!(
                "{:.1}% of rows have levels the reference does not name (it grouped {} rare levels as other): {}",
                100.0 * self.unseen_fraction,
                self.reference_other_levels,
                names.join(", ")
            )
        }
    }
}

/// Compares `values` with `reference`; `severity` and `reasons` are settled by [`judge`] once
/// the number of tests in the report is known.
pub fn compare(reference: &ColumnReference, values: &ColumnValues) -> ColumnDrift {
    let (rows, missing) = match values {
        ColumnValues::Numeric(v) => (v.len() as u64, v.iter().filter(|x| x.is_nan()).count()),
        ColumnValues::Labels(l) => (l.len() as u64, l.iter().filter(|x| x.is_none()).count()),
    };
    let missing = missing as u64;
    let mut d = ColumnDrift {
        column: reference.name.clone(),
        kind: "numeric",
        reference_rows: reference.rows,
        rows,
        reference_missing: reference.missing_fraction(),
        missing: if rows == 0 {
            0.0
        } else {
            missing as f64 / rows as f64
        },
        psi: 0.0,
        test: "ks",
        statistic: 0.0,
        p_value: 1.0,
        effect: 0.0,
        missing_p_value: two_proportion_p(reference.missing, reference.rows, missing, rows),
        mean: None,
        reference_mean: None,
        unseen_levels: Vec::new(),
        unseen_fraction: 0.0,
        reference_other_levels: 0,
        severity: Severity::None,
        reasons: Vec::new(),
        bins: Vec::new(),
        reference_shares: Vec::new(),
        shares: Vec::new(),
    };
    match (&reference.distribution, values) {
        (Distribution::Numeric(r), ColumnValues::Numeric(v)) => numeric(&mut d, r, v),
        (Distribution::Categorical(r), ColumnValues::Labels(l)) => categorical(&mut d, r, l),
        (Distribution::Numeric(r), ColumnValues::Labels(l)) => {
            // Labels against a numeric reference: read what parses as a number.
            let v: Vec<f64> = l
                .iter()
                .map(|x| {
                    x.as_deref()
                        .and_then(|s| s.trim().parse().ok())
                        .unwrap_or(f64::NAN)
                })
                .collect();
            numeric(&mut d, r, &v)
        }
        (Distribution::Categorical(r), ColumnValues::Numeric(v)) => {
            let l: Vec<Option<String>> = v
                .iter()
                .map(|x| (!x.is_nan()).then(|| crate::summary::format_float(*x)))
                .collect();
            categorical(&mut d, r, &l)
        }
    }
    d.bins.push("(missing)".into());
    d.reference_shares.push(reference.missing_fraction());
    d.shares.push(d.missing);
    // The other bins' shares were of the non-missing rows: make every share one of all rows.
    let (ref_present, new_present) = (1.0 - d.reference_missing, 1.0 - d.missing);
    let last = d.shares.len() - 1;
    for (i, (r, n)) in d
        .reference_shares
        .iter_mut()
        .zip(d.shares.iter_mut())
        .enumerate()
    {
        if i < last {
            *r *= ref_present;
            *n *= new_present;
        }
    }
    d
}

/// Each count's share of their sum (all zeros when the sum is 0).
fn shares_of(counts: &[u64]) -> Vec<f64> {
    let total = counts.iter().sum::<u64>();
    counts
        .iter()
        .map(|&c| {
            if total == 0 {
                0.0
            } else {
                c as f64 / total as f64
            }
        })
        .collect()
}

fn numeric(d: &mut ColumnDrift, r: &NumericReference, v: &[f64]) {
    let new_counts = bin_counts(&r.edges, v);
    d.psi = psi(&r.counts, &new_counts);
    d.bins = numeric_bin_labels(&r.edges);
    d.reference_shares = shares_of(&r.counts);
    d.shares = shares_of(&new_counts);
    let n: u64 = r.counts.iter().sum();
    let m: u64 = new_counts.iter().sum();
    let mut gap: f64 = 0.0;
    let (mut cr, mut cn) = (0u64, 0u64);
    for (a, b) in r.counts.iter().zip(&new_counts) {
        cr += a;
        cn += b;
        if n > 0 && m > 0 {
            gap = gap.max((cr as f64 / n as f64 - cn as f64 / m as f64).abs());
        }
    }
    d.statistic = gap;
    d.effect = gap;
    d.p_value = ks_p_value(gap, n, m);
    let finite: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    d.mean = (!finite.is_empty()).then(|| finite.iter().sum::<f64>() / finite.len() as f64);
    d.reference_mean = Some(r.mean).filter(|m| m.is_finite());
}

fn categorical(d: &mut ColumnDrift, r: &CategoricalReference, labels: &[Option<String>]) {
    d.kind = "categorical";
    d.test = "chi_square";
    d.reference_other_levels = r.other_levels;
    let index: std::collections::HashMap<&str, usize> = r
        .levels
        .iter()
        .enumerate()
        .map(|(i, (l, _))| (l.as_str(), i))
        .collect();
    let known = |s: &str| index.contains_key(s);
    let (counts, _) = level_counts(labels);
    // One cell per reference level, then "other".
    let mut new_counts = vec![0u64; r.levels.len() + 1];
    let mut unseen: Vec<(String, u64)> = Vec::new();
    for (label, c) in counts {
        let level = canonical_level(label, &known);
        match index.get(level.as_ref()) {
            Some(&i) => new_counts[i] += c,
            None => {
                new_counts[r.levels.len()] += c;
                unseen.push((level.into_owned(), c));
            }
        }
    }
    let ref_counts: Vec<u64> = r
        .levels
        .iter()
        .map(|l| l.1)
        .chain(std::iter::once(r.other_count))
        .collect();
    let m: u64 = new_counts.iter().sum();
    let n: u64 = ref_counts.iter().sum();
    d.bins = r
        .levels
        .iter()
        .map(|(l, _)| l.clone())
        .chain(["(other)".to_string()])
        .collect();
    d.reference_shares = shares_of(&ref_counts);
    d.shares = shares_of(&new_counts);
    unseen.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    d.unseen_fraction = if m == 0 {
        0.0
    } else {
        unseen.iter().map(|u| u.1).sum::<u64>() as f64 / m as f64
    };
    unseen.truncate(10);
    d.unseen_levels = unseen;
    d.psi = psi(&ref_counts, &new_counts);
    if n > 0 && m > 0 {
        d.effect = 0.5
            * ref_counts
                .iter()
                .zip(&new_counts)
                .map(|(&a, &b)| (a as f64 / n as f64 - b as f64 / m as f64).abs())
                .sum::<f64>();
    }
    let (stat, df) = chi_square_homogeneity(&ref_counts, &new_counts);
    d.statistic = stat;
    d.p_value = if df == 0 {
        1.0
    } else {
        chi_square_sf(stat, df as f64)
    };
}

/// "< a", "a – b", …, "≥ z" for the bins between `edges`.
fn numeric_bin_labels(edges: &[f64]) -> Vec<String> {
    use crate::report::fmt_short;
    (0..=edges.len())
        .map(
            |b| match (b.checked_sub(1).map(|i| edges[i]), edges.get(b)) {
                (None, Some(hi)) => format!("< {}", fmt_short(*hi)),
                (Some(lo), None) => format!("≥ {}", fmt_short(lo)),
                (Some(lo), Some(hi)) => format!("{} – {}", fmt_short(lo), fmt_short(*hi)),
                (None, None) => "all".into(),
            },
        )
        .collect()
}

/// Settles every column's severity with a Bonferroni level over all `tests` in the report.
pub fn judge(columns: &mut [&mut ColumnDrift], t: &Thresholds) {
    let tests = (columns.len() * 2).max(1);
    let level = t.alpha / tests as f64;
    for d in columns.iter_mut() {
        let mut reasons = Vec::new();
        if d.p_value < level && d.effect >= t.min_effect {
            reasons.push(match d.kind {
                "numeric" => format!(
                    "distribution moved: KS gap {:.3} (p = {:.2e}), PSI {:.3}",
                    d.effect, d.p_value, d.psi
                ),
                _ => format!(
                    "level frequencies moved: total variation {:.3} (p = {:.2e}), PSI {:.3}",
                    d.effect, d.p_value, d.psi
                ),
            });
        }
        let missing_change = (d.missing - d.reference_missing).abs();
        if d.missing_p_value < level && missing_change >= t.min_missing_change {
            reasons.push(format!(
                "missing rate {:.1}% (was {:.1}%)",
                100.0 * d.missing,
                100.0 * d.reference_missing
            ));
        }
        if !reasons.is_empty() && !d.unseen_levels.is_empty() {
            reasons.push(d.unseen_text());
        }
        d.severity = if reasons.is_empty() {
            Severity::None
        } else if d.psi >= t.psi_major || missing_change >= 0.25 {
            Severity::Major
        } else {
            Severity::Moderate
        };
        d.reasons = reasons;
    }
}

/// PSI of `new` against `reference` counts, shares floored at 1e-4 so an empty bin on one side
/// gives a large but finite term.
pub fn psi(reference: &[u64], new: &[u64]) -> f64 {
    let n: u64 = reference.iter().sum();
    let m: u64 = new.iter().sum();
    if n == 0 || m == 0 {
        return 0.0;
    }
    reference
        .iter()
        .zip(new)
        .map(|(&a, &b)| {
            let p = (a as f64 / n as f64).max(1e-4);
            let q = (b as f64 / m as f64).max(1e-4);
            (q - p) * (q / p).ln()
        })
        .sum()
}

/// Two-sided p-value of a two-sample KS gap between samples of sizes `n` and `m`
/// (the asymptotic Kolmogorov distribution with Stephens' small-sample correction).
pub fn ks_p_value(gap: f64, n: u64, m: u64) -> f64 {
    if n == 0 || m == 0 || gap <= 0.0 {
        return 1.0;
    }
    let ne = (n as f64 * m as f64) / (n + m) as f64;
    let s = ne.sqrt();
    let lambda = (s + 0.12 + 0.11 / s) * gap;
    kolmogorov_q(lambda)
}

/// Q_KS(λ) = 2 Σ (-1)^{j-1} exp(-2 j² λ²).
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    let mut sign = 1.0;
    for j in 1..=100 {
        let term = (-2.0 * (j * j) as f64 * lambda * lambda).exp();
        sum += sign * term;
        if term < 1e-12 {
            break;
        }
        sign = -sign;
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// The chi-square statistic of a 2×k homogeneity table and its degrees of freedom, cells pooled
/// (smallest first) until every expected count is at least 5.
pub fn chi_square_homogeneity(a: &[u64], b: &[u64]) -> (f64, usize) {
    let n: u64 = a.iter().sum();
    let m: u64 = b.iter().sum();
    if n == 0 || m == 0 {
        return (0.0, 0);
    }
    let total = (n + m) as f64;
    let min_share = (n.min(m)) as f64 / total;
    let mut cells: Vec<(u64, u64)> = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x, y))
        .filter(|&(x, y)| x + y > 0)
        .collect();
    cells.sort_unstable_by_key(|&(x, y)| x + y);
    let mut pooled: Vec<(u64, u64)> = Vec::new();
    let mut acc = (0u64, 0u64);
    for (x, y) in cells {
        acc = (acc.0 + x, acc.1 + y);
        if (acc.0 + acc.1) as f64 * min_share >= 5.0 {
            pooled.push(acc);
            acc = (0, 0);
        }
    }
    if acc.0 + acc.1 > 0 {
        match pooled.last_mut() {
            Some(last) => *last = (last.0 + acc.0, last.1 + acc.1),
            None => pooled.push(acc),
        }
    }
    if pooled.len() < 2 {
        return (0.0, 0);
    }
    let mut stat = 0.0;
    for &(x, y) in &pooled {
        let col = (x + y) as f64;
        let ex = col * n as f64 / total;
        let ey = col * m as f64 / total;
        stat += (x as f64 - ex).powi(2) / ex + (y as f64 - ey).powi(2) / ey;
    }
    (stat, pooled.len() - 1)
}

/// Two-sided p-value that two missing rates differ (pooled two-proportion z test).
pub fn two_proportion_p(x1: u64, n1: u64, x2: u64, n2: u64) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let p = (x1 + x2) as f64 / (n1 + n2) as f64;
    let se = (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    if se == 0.0 {
        return 1.0;
    }
    let z = (x1 as f64 / n1 as f64 - x2 as f64 / n2 as f64).abs() / se;
    erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// P(X > x) for X chi-square with `df` degrees of freedom: Q(df/2, x/2).
pub fn chi_square_sf(x: f64, df: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    gamma_q(df / 2.0, x / 2.0)
}

fn ln_gamma(x: f64) -> f64 {
    // Lanczos approximation (g = 7, n = 9).
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, &c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized upper incomplete gamma function Q(a, x).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x < a + 1.0 {
        // Series for P, then Q = 1 - P.
        let mut sum = 1.0 / a;
        let mut term = sum;
        let mut ap = a;
        for _ in 0..1000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        let p = sum * (-x + a * x.ln() - ln_gamma(a)).exp();
        (1.0 - p).clamp(0.0, 1.0)
    } else {
        // Continued fraction (modified Lentz).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-15 {
                break;
            }
        }
        ((-x + a * x.ln() - ln_gamma(a)).exp() * h).clamp(0.0, 1.0)
    }
}

/// The report as a self-contained HTML page (no scripts, no external resources).
pub fn render_html(r: &DriftReport, model: &str, data: &str) -> String {
    use crate::report::escape;
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>whet drift: {}</title><style>\
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse}}\
td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}}td:first-child,th:first-child{{text-align:left}}\
.major{{background:#fdd}}.moderate{{background:#ffe9c6}}.verdict{{font-size:1.4em;font-weight:600}}\
.bar{{display:inline-block;height:10px;background:#c44}}</style></head><body>",
        escape(data)
    );
    let _ = write!(
        s,
        "<p class=\"verdict\">{}</p><p>{} rows of <code>{}</code> against {} training rows of <code>{}</code>.</p>",
        if r.drift { "Drift" } else { "No drift" },
        r.rows,
        escape(data),
        r.reference_rows,
        escape(model)
    );
    let section = |s: &mut String, title: &str, rows: &[&ColumnDrift]| {
        if rows.is_empty() {
            return;
        }
        let _ = write!(
            s,
            "<h2>{title}</h2><table><tr><th>column</th><th>kind</th><th>PSI</th><th>test</th><th>statistic</th><th>p-value</th><th>missing</th><th>was</th><th>why</th></tr>"
        );
        for d in rows {
            let class = match d.severity {
                Severity::None => "",
                Severity::Moderate => "moderate",
                Severity::Major => "major",
            };
            let mut why: Vec<String> = d.reasons.clone();
            if why.is_empty() && !d.unseen_levels.is_empty() {
                why.push(format!("{:.1}% unseen levels", 100.0 * d.unseen_fraction));
            }
            let _ = write!(
                s,
                "<tr class=\"{class}\"><td>{}</td><td>{}</td><td><span class=\"bar\" style=\"width:{:.0}px\"></span> {:.3}</td><td>{}</td><td>{:.3}</td><td>{:.2e}</td><td>{:.1}%</td><td>{:.1}%</td><td style=\"text-align:left\">{}</td></tr>",
                escape(&d.column),
                d.kind,
                (d.psi.min(1.0) * 80.0),
                d.psi,
                d.test,
                d.statistic,
                d.p_value,
                100.0 * d.missing,
                100.0 * d.reference_missing,
                escape(&why.join("; "))
            );
        }
        s.push_str("</table>");
    };
    let inputs: Vec<&ColumnDrift> = r.columns.iter().collect();
    let predictions: Vec<&ColumnDrift> = r.predictions.iter().collect();
    let target: Vec<&ColumnDrift> = r.target.iter().collect();
    section(&mut s, "Inputs", &inputs);
    section(&mut s, "Predictions", &predictions);
    if let Some(why) = &r.predictions_not_compared {
        let _ = write!(
            s,
            "<p>Predictions not compared: {}.</p>",
            crate::report::escape(why)
        );
    }
    section(&mut s, "Target", &target);
    let _ = write!(
        s,
        "<p>A column drifts when its test is significant at p &lt; {:.2e} (alpha {} over all tests) and its KS gap or total variation is at least {}, or its missing rate moved by at least {}; PSI from {} is major.</p></body></html>",
        r.test_level,
        r.thresholds.alpha,
        r.thresholds.min_effect,
        r.thresholds.min_missing_change,
        r.thresholds.psi_major
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi_square_tail_matches_known_values() {
        // Critical values from standard tables.
        assert!((chi_square_sf(3.841_458_8, 1.0) - 0.05).abs() < 1e-6);
        assert!((chi_square_sf(18.307_038, 10.0) - 0.05).abs() < 1e-6);
        assert!((chi_square_sf(6.634_897, 1.0) - 0.01).abs() < 1e-6);
        assert!((chi_square_sf(2.0, 2.0) - (-1.0f64).exp()).abs() < 1e-9);
    }

    #[test]
    fn normal_tail_and_ks_tail_match_known_values() {
        assert!((two_sided_z(1.959_964) - 0.05).abs() < 1e-6);
        // Q_KS(1.358) is the 5% point of the Kolmogorov distribution.
        assert!((kolmogorov_q(1.358_1) - 0.05).abs() < 1e-3);
        assert!((kolmogorov_q(1.627_6) - 0.01).abs() < 1e-3);
    }

    fn two_sided_z(z: f64) -> f64 {
        erfc(z / std::f64::consts::SQRT_2)
    }

    #[test]
    fn psi_is_zero_for_equal_shares_and_grows_with_a_shift() {
        assert_eq!(psi(&[10, 20, 30], &[20, 40, 60]), 0.0);
        let small = psi(&[50, 50], &[55, 45]);
        let large = psi(&[50, 50], &[80, 20]);
        assert!(small > 0.0 && large > 5.0 * small, "{small} {large}");
    }

    #[test]
    fn rare_cells_are_pooled_before_the_chi_square() {
        // A level seen once in 1000 rows must not make an unseen-by-chance cell significant.
        let (stat, df) = chi_square_homogeneity(&[500, 499, 1], &[510, 490, 0]);
        assert_eq!(df, 1);
        assert!(chi_square_sf(stat, df as f64) > 0.5);
    }
}
