//! The ensemble candidates validated again, on a partition of the rows the search never saw,
//! before the ensemble is selected.
//!
//! The search ranks its trials by their score on one partition, and after thousands of trials
//! on a small dataset the best of them is the one whose folds happened to suit it: on wine
//! (142 rows) a linear trial scored a log loss of 0.015 in the search, 0.045 on another
//! partition of the same rows, and 0.13 on the test rows, while boosting defaults scored 0.005
//! there. Its search score is a maximum over noise; a fresh partition's is not. So the
//! candidates (the best trials and each learner's best) are fitted again on the folds of a
//! third partition, drawn independently of the search's and of the final stage's comparison
//! partition, and ensemble selection, the choice of the best single model included, works on
//! those out-of-fold predictions. The new fold models join the bag: each member then averages
//! the models of two partitions.
//!
//! It runs on small data only (where the noise is large and refitting a dozen trials is
//! cheap), when it fits a tenth of the time budget; in the search's process, with remote
//! workers too (as the final stage does by default), so both make the same model.

use std::time::Instant;

use whet_data::split::Fold;
use whet_learn::data::Predictions;
use whet_learn::metrics::Metric;

use crate::finalize::{comparable, run_paired};
use crate::space::Config;
use crate::trial::{FoldError, FoldModel, Problem, fit_fold};

/// Above this many rows a search's scores carry little selection noise, and refitting the
/// candidates costs more than it is likely to give.
pub const MAX_ROWS: usize = 10_000;
/// Largest share of the time budget the refits may take.
const BUDGET_SHARE: f64 = 0.1;

/// Seconds to reserve for revalidating candidates whose trials took `fit_seconds` (each over
/// the search's folds, as the revalidation fits as many folds) where it [`applies`]: nothing
/// when it would take over a tenth of `budget`.
pub fn reserve_seconds(fit_seconds: &[f64], budget: f64) -> f64 {
    let seconds: f64 = fit_seconds.iter().sum();
    if seconds <= BUDGET_SHARE * budget {
        seconds
    } else {
        0.0
    }
}

/// Whether revalidation is done at all for `n_rows` rows and this revalidation partition
/// (checked once per search: it walks every row).
pub fn applies(n_rows: usize, folds: &[Fold]) -> bool {
    n_rows <= MAX_ROWS && comparable(folds)
}

/// One candidate's fits on the revalidation partition.
pub struct Revalidated {
    /// Out-of-fold predictions over the partition's rows, ascending (the search's
    /// out-of-fold order: both partitions validate every row once).
    pub oof: Predictions,
    pub models: Vec<FoldModel>,
    /// Boosting rounds each fold model kept (empty for other learners).
    pub iterations: Vec<usize>,
    pub predict_seconds: f64,
}

/// Fits every candidate (config and trial seed) on every fold of `folds`, as the search fitted
/// it on its own folds (boosting stopped early on the fold's validation rows). Interrupted when
/// `deadline` passes: then nothing is revalidated.
pub fn revalidate(
    problem: &Problem,
    folds: &[Fold],
    oof_rows: &[u32],
    candidates: &[(&Config, u64)],
    metric: Metric,
    deadline: Option<Instant>,
) -> Result<Vec<Revalidated>, FoldError> {
    let jobs: Vec<(usize, usize)> = (0..candidates.len())
        .flat_map(|c| (0..folds.len()).map(move |f| (c, f)))
        .collect();
    let mut results = run_paired(jobs, |(c, f)| {
        let (config, seed) = candidates[c];
        fit_fold(
            problem,
            config,
            &folds[f],
            metric,
            seed.wrapping_add(0x5EC0_0000 + f as u64),
            deadline,
        )
    })
    .into_iter();
    let mut out = Vec::with_capacity(candidates.len());
    for _ in candidates {
        let fits = results
            .by_ref()
            .take(folds.len())
            .collect::<Result<Vec<_>, _>>()?;
        let iterations = fits.iter().filter_map(|r| r.iterations).collect();
        let (oof, models, predict_seconds) =
            crate::search::assemble_oof(problem, folds, oof_rows, fits);
        out.push(Revalidated {
            oof,
            models,
            iterations,
            predict_seconds,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{LearnerKind, portfolio};
    use crate::trial::predict_rows;
    use whet_data::Task;
    use whet_data::prep::{Feature, FeatureData, Features};
    use whet_data::rng::Rng;
    use whet_data::split::kfold;
    use whet_learn::binning::BinnedData;

    #[test]
    fn only_small_data_within_a_tenth_of_the_budget_is_revalidated() {
        let folds = kfold(200, 5, true, 3).unwrap();
        assert_eq!(reserve_seconds(&[0.5, 1.0], 60.0), 1.5);
        assert_eq!(reserve_seconds(&[4.0, 3.0], 60.0), 0.0);
        assert!(applies(200, &folds) && !applies(200, &folds[..1]));
        assert!(!applies(
            MAX_ROWS + 1,
            &kfold(MAX_ROWS + 1, 5, true, 3).unwrap()
        ));
        assert!(!applies(200, &[]));
    }

    #[test]
    fn each_row_is_predicted_by_the_fold_model_that_did_not_see_it() {
        let n = 150;
        let mut rng = Rng::new(9);
        let a: Vec<f32> = (0..n).map(|_| rng.next_f64() as f32).collect();
        let b: Vec<f32> = (0..n).map(|_| rng.next_f64() as f32).collect();
        let y: Vec<f64> = a
            .iter()
            .zip(&b)
            .map(|(a, b)| f64::from(3.0 * a - b))
            .collect();
        let x = Features {
            n_rows: n,
            columns: vec![
                Feature {
                    name: "a".into(),
                    data: FeatureData::Numeric(a),
                },
                Feature {
                    name: "b".into(),
                    data: FeatureData::Numeric(b),
                },
            ],
        };
        let binned = BinnedData::fit(&x, 255).unwrap();
        let problem = Problem {
            x: &x,
            y: &y,
            weight: None,
            task: Task::Regression,
            n_classes: 0,
            binned: Some(&binned),
            log_y: None,
        };
        let folds = kfold(n, 3, true, 11).unwrap();
        let rows: Vec<u32> = (0..n as u32).collect();
        let gbdt = portfolio(LearnerKind::Gbdt, Task::Regression).swap_remove(0);
        let linear = portfolio(LearnerKind::Linear, Task::Regression).swap_remove(0);
        let out = revalidate(
            &problem,
            &folds,
            &rows,
            &[(&gbdt, 5), (&linear, 6)],
            Metric::Rmse,
            None,
        )
        .unwrap();
        assert_eq!(out.len(), 2);
        for r in &out {
            assert_eq!(r.models.len(), 3);
            assert_eq!(r.oof.n_rows, n);
            for (fold, model) in folds.iter().zip(&r.models) {
                let model = model.predictor().unwrap();
                let direct = predict_rows(&problem, &model, &fold.valid);
                for (j, &row) in fold.valid.iter().enumerate() {
                    assert_eq!(r.oof.row(row as usize), direct.row(j));
                }
            }
        }
        // Boosting reports the rounds each fold kept; the linear model has none.
        assert_eq!(out[0].iterations.len(), 3);
        assert!(out[1].iterations.is_empty());
        // A passed deadline revalidates nothing.
        let past = Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(
            revalidate(
                &problem,
                &folds,
                &rows,
                &[(&gbdt, 5)],
                Metric::Rmse,
                Some(past)
            )
            .is_err()
        );
    }
}
