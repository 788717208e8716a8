//! What learners take in and give back, and the checks every learner runs on what it takes in.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use whet_data::Task;
use whet_data::prep::{FeatureData, Features};

use crate::error::{LearnError, Result};

/// Training data: features, targets and optional weights, restricted to `rows` when given
/// (cross-validation folds share one `Features` and differ only in `rows`).
#[derive(Clone, Copy, Debug)]
pub struct TrainSet<'a> {
    pub x: &'a Features,
    /// Class index (0..n_classes) for classification, the value for regression.
    pub y: &'a [f64],
    pub weight: Option<&'a [f64]>,
    pub rows: Option<&'a [u32]>,
    pub task: Task,
    /// Number of classes for classification (2 for binary), 1 for regression.
    pub n_classes: usize,
}

impl<'a> TrainSet<'a> {
    pub fn n_rows(&self) -> usize {
        self.rows.map_or(self.x.n_rows, <[u32]>::len)
    }

    /// The i-th row of this set as a row index into `x`.
    #[inline]
    pub fn row(&self, i: usize) -> usize {
        self.rows.map_or(i, |r| r[i] as usize)
    }

    #[inline]
    pub fn weight_of(&self, row: usize) -> f64 {
        self.weight.map_or(1.0, |w| w[row])
    }

    /// This set's rows as indices into `x`: a listed subset, or every row of `x` in order
    /// without a list (4 bytes a row less while a learner keeps them).
    pub fn rows_of_x(&self) -> Rows<'a> {
        self.rows.map_or(Rows::span(0, self.x.n_rows), Rows::Listed)
    }
}

/// Row indices into a table, in order: consecutive rows (nothing stored) or a list.
#[derive(Clone, Copy, Debug)]
pub enum Rows<'a> {
    Span { start: u32, end: u32 },
    Listed(&'a [u32]),
}

impl<'a> Rows<'a> {
    /// Rows `start..end`.
    pub fn span(start: usize, end: usize) -> Rows<'a> {
        let at = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
        Rows::Span {
            start: at(start),
            end: at(end).max(at(start)),
        }
    }

    pub fn len(self) -> usize {
        match self {
            Rows::Span { start, end } => (end - start) as usize,
            Rows::Listed(rows) => rows.len(),
        }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The i-th row (i < len).
    #[inline]
    pub fn at(self, i: usize) -> u32 {
        match self {
            Rows::Span { start, .. } => start + i as u32,
            Rows::Listed(rows) => rows[i],
        }
    }

    /// Whether these are rows 0..n in order.
    pub fn is_every(self, n: usize) -> bool {
        match self {
            Rows::Span { start, end } => start == 0 && end as usize == n,
            Rows::Listed(rows) => {
                rows.len() == n && rows.iter().enumerate().all(|(i, &r)| r as usize == i)
            }
        }
    }

    /// The i-th to the (j-1)-th row.
    pub fn slice(self, i: usize, j: usize) -> Rows<'a> {
        match self {
            Rows::Span { start, .. } => Rows::span(start as usize + i, start as usize + j),
            Rows::Listed(rows) => Rows::Listed(&rows[i..j]),
        }
    }

    /// Calls `f` on every row in order, in a loop per kind (no branch on the kind per row).
    /// `f` appears in both loops, so the compiler may call a large `f` per row instead of
    /// inlining it twice: a hot loop with a large body matches on the kind itself.
    #[inline]
    pub fn for_each(self, mut f: impl FnMut(u32)) {
        match self {
            Rows::Span { start, end } => (start..end).for_each(f),
            Rows::Listed(rows) => rows.iter().for_each(|&r| f(r)),
        }
    }

    pub fn iter(self) -> impl Iterator<Item = u32> + 'a {
        (0..self.len()).map(move |i| self.at(i))
    }

    pub fn to_vec(self) -> Vec<u32> {
        let mut rows = Vec::with_capacity(self.len());
        self.extend_into(&mut rows);
        rows
    }

    pub fn extend_into(self, out: &mut Vec<u32>) {
        match self {
            Rows::Span { start, end } => out.extend(start..end),
            Rows::Listed(rows) => out.extend_from_slice(rows),
        }
    }

    /// Consecutive parts of `size` rows (the last may be shorter), for parallel work whose
    /// results are combined in part order.
    pub fn par_chunks(self, size: usize) -> impl IndexedParallelIterator<Item = Rows<'a>> + 'a {
        let size = size.max(1);
        let len = self.len();
        (0..len.div_ceil(size))
            .into_par_iter()
            .map(move |c| self.slice(c * size, ((c + 1) * size).min(len)))
    }

    /// Every row, in parallel, in order.
    pub fn par_iter(self) -> impl IndexedParallelIterator<Item = u32> + 'a {
        (0..self.len()).into_par_iter().map(move |i| self.at(i))
    }
}

/// The part of [`check_train_set`] that needs no targets (the encoder is fitted on it): one
/// value per row in every feature, row indices in range, one finite weight ≥ 0 per row, at
/// least one row, and a positive total weight.
pub(crate) fn check_rows_and_weights(data: &TrainSet) -> Result<()> {
    let x = data.x;
    for feature in &x.columns {
        let len = match &feature.data {
            FeatureData::Numeric(v) => v.len(),
            FeatureData::Categorical { codes, .. } => codes.len(),
        };
        if len != x.n_rows {
            return Err(LearnError::data(
                format!(
                    "feature '{}' has {len} values for {} rows",
                    feature.name, x.n_rows
                ),
                "every feature column needs one value per row",
            ));
        }
    }
    if let Some(rows) = data.rows
        && let Some(&bad) = rows.iter().find(|&&r| r as usize >= x.n_rows)
    {
        return Err(LearnError::data(
            format!("row index {bad} is out of range for {} rows", x.n_rows),
            "row subsets must index into the features",
        ));
    }
    if let Some(w) = data.weight {
        if w.len() != x.n_rows {
            return Err(LearnError::data(
                format!("{} weights for {} rows", w.len(), x.n_rows),
                "give one weight per row",
            ));
        }
        if let Some(row) = (0..data.n_rows())
            .map(|i| data.row(i))
            .find(|&r| !(w[r].is_finite() && w[r] >= 0.0))
        {
            return Err(LearnError::data(
                format!(
                    "row {}: weight {} is not a finite number ≥ 0",
                    row + 1,
                    w[row]
                ),
                "fix or drop the row's weight",
            ));
        }
    }
    if data.n_rows() == 0 {
        return Err(LearnError::data(
            "no training rows",
            "train on a non-empty data set",
        ));
    }
    let total: f64 = (0..data.n_rows())
        .map(|i| data.weight_of(data.row(i)))
        .sum();
    if !(total > 0.0 && total.is_finite()) {
        return Err(LearnError::data(
            "the training rows' weights sum to 0",
            "give some rows a positive weight",
        ));
    }
    Ok(())
}

/// Checks the shape of `data`, weights and targets for its task: what every learner needs of
/// its training set, run by every `fit_*` before it trains. Checks that depend on a learner
/// or its parameters (GBDT's objective and binning, linear classifiers' two classes with
/// positive weight, kNN's `k`) stay with the learner.
pub(crate) fn check_train_set(data: &TrainSet) -> Result<()> {
    check_rows_and_weights(data)?;
    if data.y.len() != data.x.n_rows {
        return Err(LearnError::data(
            format!("{} targets for {} rows", data.y.len(), data.x.n_rows),
            "give one target value per row",
        ));
    }
    match data.task {
        Task::Binary if data.n_classes != 2 => {
            return Err(LearnError::data(
                format!("a binary task needs 2 classes, got {}", data.n_classes),
                "use the multiclass task for more than two classes",
            ));
        }
        Task::Multiclass if data.n_classes < 2 => {
            return Err(LearnError::data(
                format!(
                    "a multiclass task needs 2 or more classes, got {}",
                    data.n_classes
                ),
                "check the target column",
            ));
        }
        _ => {}
    }
    for i in 0..data.n_rows() {
        let row = data.row(i);
        let y = data.y[row];
        let ok = match data.task {
            Task::Regression => y.is_finite(),
            Task::Binary | Task::Multiclass => {
                y >= 0.0 && y.fract() == 0.0 && (y as usize) < data.n_classes
            }
        };
        if !ok {
            return Err(LearnError::data(
                format!(
                    "row {}: target {y} is not valid for a {:?} task",
                    row + 1,
                    data.task
                ),
                match data.task {
                    Task::Regression => "regression targets must be finite numbers",
                    _ => "classification targets must be class indices 0..n_classes",
                },
            ));
        }
    }
    Ok(())
}

/// Model output, row-major `n_rows × n_outputs`: probability of the positive class (binary,
/// one output), class probabilities (multiclass), or the predicted value (regression).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Predictions {
    pub n_rows: usize,
    pub n_outputs: usize,
    pub values: Vec<f64>,
}

impl Predictions {
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.n_outputs..(i + 1) * self.n_outputs]
    }

    /// Predicted class per row for classification outputs.
    pub fn classes(&self) -> Vec<usize> {
        if self.n_outputs == 1 {
            self.values.iter().map(|&p| usize::from(p >= 0.5)).collect()
        } else {
            (0..self.n_rows)
                .map(|i| {
                    let r = self.row(i);
                    let mut best = 0;
                    for (k, &v) in r.iter().enumerate() {
                        if v > r[best] {
                            best = k;
                        }
                    }
                    best
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Consecutive rows behave as the same rows listed, whole and in parts.
    #[test]
    fn a_span_of_rows_is_its_list() {
        let listed: Vec<u32> = (7..7 + 1000).collect();
        let (span, list) = (Rows::span(7, 1007), Rows::Listed(&listed));
        let every: Vec<u32> = (0..1000).collect();
        assert!(Rows::span(0, 1000).is_every(1000) && Rows::Listed(&every).is_every(1000));
        assert!(!span.is_every(1000) && !list.is_every(1000) && !Rows::span(0, 999).is_every(1000));
        for rows in [span, list] {
            assert_eq!(rows.len(), 1000);
            assert_eq!(rows.to_vec(), listed);
            assert_eq!(rows.iter().collect::<Vec<_>>(), listed);
            assert_eq!(rows.par_iter().collect::<Vec<_>>(), listed);
            let mut seen = Vec::new();
            rows.for_each(|r| seen.push(r));
            assert_eq!(seen, listed);
            assert_eq!(rows.slice(10, 13).to_vec(), [17, 18, 19]);
            let parts: Vec<Vec<u32>> = rows.par_chunks(300).map(Rows::to_vec).collect();
            let lens: Vec<usize> = parts.iter().map(Vec::len).collect();
            assert_eq!(lens, [300, 300, 300, 100]);
            assert_eq!(parts.concat(), listed);
        }
        assert!(Rows::span(5, 3).is_empty());
    }
}
