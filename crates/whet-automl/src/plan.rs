//! The validation plan: which rows validate which trials. k-fold (stratified for
//! classification, grouped or time-ordered on request) for most data, one holdout for big data,
//! and a second, independent partition on which the final bag and refit are compared.

use whet_data::Task;
use whet_data::split::{
    Fold, SplitError, group_kfold, holdout, kfold, stratified_holdout, stratified_kfold, time_split,
};

use crate::finalize;

/// From this many rows, or cells (rows × features), the default is a 10% holdout instead of
/// 5-fold cross-validation (3 folds with a group or time order): a tenth of the rows scores a
/// model well, and a trial costs less than half of a 3-fold one, so the search tries more.
pub const LARGE_DATA_ROWS: usize = 100_000;
pub const LARGE_DATA_CELLS: usize = 20_000_000;

/// The cross-validation plan.
#[derive(Clone, Debug)]
pub struct CvPlan {
    pub folds: Vec<Fold>,
    /// A second partition of the same rows, drawn independently of `folds`, on which the
    /// final bag and refit are compared (empty: not compared); see `finalize`.
    pub comparison_folds: Vec<Fold>,
    /// A third partition of the same rows, on which the ensemble candidates are validated
    /// again before the ensemble is selected (empty: not done); see `revalidate`.
    pub revalidation_folds: Vec<Fold>,
    /// What kind of split, for reports ("stratified 5-fold", ...).
    pub description: String,
    pub notes: Vec<String>,
}

/// Seeds the comparison partition (`CvPlan::comparison_folds`) from the search's seed.
pub const COMPARISON_SEED: u64 = 0xC0FF_EE5E_ED00_0001;
/// Seeds the revalidation partition (`CvPlan::revalidation_folds`) from the search's seed.
pub const REVALIDATION_SEED: u64 = 0x5EC0_4D5E_ED00_0002;

/// Stratified k-fold for classification (rare classes pooled so every stratum spans the
/// folds), plain shuffled k-fold for regression.
pub fn plan_folds(
    task: Task,
    y: &[f64],
    n_classes: usize,
    folds: usize,
    seed: u64,
) -> Result<CvPlan, SplitError> {
    let n = y.len();
    let mut notes = Vec::new();
    let mut k = folds;
    if n < k {
        if n < 2 {
            return Err(SplitError::TooManyFolds {
                k,
                needed: k,
                n_rows: n,
            });
        }
        notes.push(format!(
            "only {n} rows: cross-validation uses {n} folds instead of {k}"
        ));
        k = n;
    }
    // The comparison partition: the same procedure, another seed.
    let other_seed = seed ^ COMPARISON_SEED;
    let third_seed = seed ^ REVALIDATION_SEED;
    if task == Task::Regression {
        return Ok(CvPlan {
            folds: kfold(n, k, true, seed)?,
            comparison_folds: kfold(n, k, true, other_seed)?,
            revalidation_folds: kfold(n, k, true, third_seed)?,
            description: format!("shuffled {k}-fold cross-validation"),
            notes,
        });
    }
    let mut counts = vec![0usize; n_classes.max(2)];
    for &v in y {
        if let Some(c) = counts.get_mut(v as usize) {
            *c += 1;
        }
    }
    let rare: Vec<usize> = (0..counts.len())
        .filter(|&c| counts[c] > 0 && counts[c] < k)
        .collect();
    let pooled_label = counts.len() as u32;
    let labels: Vec<u32> = y
        .iter()
        .map(|&v| {
            let c = v as usize;
            if rare.contains(&c) {
                pooled_label
            } else {
                c as u32
            }
        })
        .collect();
    if !rare.is_empty() {
        let rows: usize = rare.iter().map(|&c| counts[c]).sum();
        notes.push(format!(
            "{} class{} with fewer than {k} rows ({rows} rows in all): stratified together, so some folds miss {}",
            rare.len(),
            if rare.len() == 1 { "" } else { "es" },
            if rare.len() == 1 { "it" } else { "them" }
        ));
    }
    match stratified_kfold(&labels, k, seed) {
        Ok(folds) => Ok(CvPlan {
            folds,
            comparison_folds: stratified_kfold(&labels, k, other_seed)?,
            revalidation_folds: stratified_kfold(&labels, k, third_seed)?,
            description: format!("stratified {k}-fold cross-validation"),
            notes,
        }),
        Err(SplitError::ClassTooSmall { .. }) => {
            notes.push("rare classes too few even pooled: using shuffled k-fold".into());
            Ok(CvPlan {
                folds: kfold(n, k, true, seed)?,
                comparison_folds: kfold(n, k, true, other_seed)?,
                revalidation_folds: kfold(n, k, true, third_seed)?,
                description: format!("shuffled {k}-fold cross-validation"),
                notes,
            })
        }
        Err(e) => Err(e),
    }
}

/// One holdout split instead of k folds, for data big enough that a tenth of it scores a model
/// well and k-fold would leave time for only a few trials. Stratified for classification
/// (classes with a single row train only).
pub fn plan_holdout(
    task: Task,
    y: &[f64],
    valid_fraction: f64,
    seed: u64,
) -> Result<CvPlan, SplitError> {
    let percent = valid_fraction * 100.0;
    if task == Task::Regression {
        return Ok(CvPlan {
            folds: vec![holdout(y.len(), valid_fraction, seed)?],
            comparison_folds: Vec::new(),
            revalidation_folds: Vec::new(),
            description: format!("shuffled {percent:.0}% holdout"),
            notes: Vec::new(),
        });
    }
    let labels: Vec<u32> = y.iter().map(|&v| v as u32).collect();
    Ok(CvPlan {
        folds: vec![stratified_holdout(&labels, valid_fraction, seed)?],
        comparison_folds: Vec::new(),
        revalidation_folds: Vec::new(),
        description: format!("stratified {percent:.0}% holdout"),
        notes: Vec::new(),
    })
}

/// How the rows are to be validated, as the user asked.
#[derive(Clone, Debug, Default)]
pub struct PlanRequest<'a> {
    /// k for k-fold; None: 5, or the large-data default.
    pub folds: Option<usize>,
    /// Group keys per row and the column they came from: group k-fold.
    pub groups: Option<(&'a [u64], &'a str)>,
    /// Order keys per row (missing first) and their column: time-ordered folds.
    pub time_order: Option<(&'a [i64], &'a str)>,
}

/// The validation plan for `y` (`n_features` wide): group k-fold, time-ordered folds, a 10%
/// holdout for large data unless folds were asked for, or (stratified) k-fold. Notes about
/// the large-data defaults are added to `notes`.
pub fn plan_validation(
    task: Task,
    y: &[f64],
    n_classes: usize,
    n_features: usize,
    request: &PlanRequest,
    seed: u64,
    notes: &mut Vec<String>,
) -> Result<CvPlan, SplitError> {
    let n_rows = y.len();
    let large = n_rows >= LARGE_DATA_ROWS || n_rows * n_features > LARGE_DATA_CELLS;
    let folds_wanted = request.folds.unwrap_or(if large { 3 } else { 5 });
    let plan = if let Some((keys, column)) = request.groups {
        let folds = group_kfold(keys, folds_wanted, seed)?;
        let other = group_kfold(keys, folds_wanted, seed ^ COMPARISON_SEED)?;
        CvPlan {
            comparison_folds: finalize::unless_same_partition(&folds, other),
            revalidation_folds: Vec::new(),
            folds,
            description: format!("group {folds_wanted}-fold cross-validation by '{column}'"),
            notes: Vec::new(),
        }
    } else if let Some((keys, column)) = request.time_order {
        // Rows with a missing order key sort first, so they are only ever trained on.
        CvPlan {
            folds: time_split(keys, folds_wanted, 0)?,
            comparison_folds: Vec::new(),
            revalidation_folds: Vec::new(),
            description: format!("time-ordered {folds_wanted}-fold cross-validation by '{column}'"),
            notes: Vec::new(),
        }
    } else if large && request.folds.is_none() {
        notes.push(format!(
            "{n_rows} rows × {n_features} features: models are validated on a 10% holdout instead of cross-validated, so more trials fit (set --folds to cross-validate)"
        ));
        plan_holdout(task, y, 0.1, seed)?
    } else {
        plan_folds(task, y, n_classes, folds_wanted, seed)?
    };
    if large
        && request.folds.is_none()
        && (request.groups.is_some() || request.time_order.is_some())
    {
        notes.push(format!(
            "{n_rows} rows × {n_features} features: 3-fold cross-validation (set --folds to change)"
        ));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holdout_plan_stratifies_a_tenth_of_the_rows() {
        let y: Vec<f64> = (0..1000).map(|i| f64::from(u8::from(i % 4 == 0))).collect();
        let plan = plan_holdout(Task::Binary, &y, 0.1, 3).unwrap();
        assert_eq!(plan.folds.len(), 1);
        let fold = &plan.folds[0];
        assert_eq!(fold.valid.len(), 100);
        assert_eq!(fold.train.len(), 900);
        let positives = fold.valid.iter().filter(|&&r| y[r as usize] == 1.0).count();
        assert_eq!(positives, 25);
        assert_eq!(plan.description, "stratified 10% holdout");
        assert_eq!(
            plan_holdout(Task::Binary, &y, 0.1, 3).unwrap().folds,
            plan.folds
        );
        let r = plan_holdout(Task::Regression, &y, 0.1, 3).unwrap();
        assert_eq!(r.description, "shuffled 10% holdout");
        assert_eq!(r.folds[0].valid.len(), 100);
    }

    #[test]
    fn rare_classes_are_pooled_for_stratification() {
        // Class 2 has 2 rows, fewer than 5 folds.
        let mut y = vec![0.0; 30];
        y.extend(vec![1.0; 30]);
        y.extend([2.0, 2.0]);
        let plan = plan_folds(Task::Multiclass, &y, 3, 5, 0).unwrap();
        assert_eq!(plan.folds.len(), 5);
        assert!(
            plan.notes[0].contains("fewer than 5 rows"),
            "{:?}",
            plan.notes
        );
        let mut seen = vec![0; y.len()];
        for f in &plan.folds {
            for &r in &f.valid {
                seen[r as usize] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
    }
}
