//! The final model: the bag of fold models the search validated, or every chosen trial refit
//! on all training rows, whichever scores better in nested cross-validation.
//!
//! A refit has no cross-validation score of its own, and the bag's out-of-fold score is not
//! the bag's (each row was predicted by one fold model, not by the average of k). So both
//! procedures are scored one level down, on the same outer folds: for outer fold i, the "bag"
//! is the average of models fitted on the rows outside folds i and j (for every j ≠ i,
//! early-stopped on fold j), and the "refit" is one model fitted on every row outside fold i
//! with the round count the inner folds chose, scaled up for the extra rows. Both predict
//! fold i, which neither saw, and the better pooled score decides.
//!
//! The fit on the rows outside folds i and j serves outer folds i and j alike (boosting follows
//! early stopping on both at once), so comparing on all k folds costs k(k-1)/2 fits per member
//! on (k-2)/k of the rows, and folds complete in order, so a time budget can stop after any.

use std::time::Instant;

use serde::Serialize;
use whet_data::split::Fold;
use whet_learn::data::Predictions;
use whet_learn::metrics::Metric;
use whet_learn::model::{EnsembleMember, Predictor};

use crate::space::{Config, LearnerKind, LearnerParams};
use crate::trial::{FoldError, Problem, fit_on_rows, loss_of, predict_rows};

/// What the user asked for with `--final`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FinalMode {
    /// Compare in nested cross-validation when the budget allows; keep the bag otherwise.
    #[default]
    Auto,
    Bag,
    Refit,
}

impl FinalMode {
    pub fn parse(s: &str) -> Option<FinalMode> {
        match s {
            "auto" => Some(FinalMode::Auto),
            "bag" => Some(FinalMode::Bag),
            "refit" => Some(FinalMode::Refit),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalStrategy {
    /// The fold models (with a holdout: the model fitted outside it), averaged.
    Bag,
    /// Each member fitted once more on every training row.
    Refit,
}

/// Both procedures scored in nested cross-validation on the same outer folds.
#[derive(Clone, Debug, Serialize)]
pub struct RefitComparison {
    pub folds_compared: usize,
    pub folds: usize,
    pub bag_score: f64,
    pub refit_score: f64,
}

/// One trial of the final model, with what its search left behind.
pub struct Member<'a> {
    pub trial: usize,
    pub learner: LearnerKind,
    pub config: &'a Config,
    /// The trial's seed; its fold f was fitted with `seed + f`.
    pub seed: u64,
    pub weight: f64,
    pub fold_models: &'a [Predictor],
    /// Boosting rounds each fold model kept (empty for other learners).
    pub fold_iterations: &'a [usize],
    /// Out-of-fold predictions over the plan's validated rows, ascending.
    pub oof: &'a Predictions,
    /// Wall seconds of the whole trial, for estimates.
    pub fit_seconds: f64,
}

/// Whether the plan's folds partition its rows (each row validated once, trained on by every
/// other fold), as nested comparison needs; with three folds or more, so the rows outside two
/// folds are not empty.
pub fn comparable(folds: &[Fold]) -> bool {
    let k = folds.len();
    if k < 3 {
        return false;
    }
    let validated: usize = folds.iter().map(|f| f.valid.len()).sum();
    let mut seen = std::collections::HashSet::with_capacity(validated);
    folds.iter().all(|f| {
        f.valid.iter().all(|&r| seen.insert(r)) && f.train.len() + f.valid.len() == validated
    })
}

/// Wall seconds of one fold fit of a trial that took `fit_seconds` over `k` folds (fitted two
/// at a time on two threads, so this is the trial's share per fold either way).
fn per_fit(fit_seconds: f64, k: usize) -> f64 {
    fit_seconds / k.max(1) as f64
}

/// Seconds to keep free for the final stage, from the trials likely to be in the final model
/// (`fit_seconds` of each) and the whole budget: enough for every nested fold when that is
/// cheap, for one fold and the refit at least, and nothing when even that would take more than
/// a fifth of the budget (the search needs the time more; the bag is kept).
pub fn reserve_seconds(mode: FinalMode, folds: &[Fold], fit_seconds: &[f64], budget: f64) -> f64 {
    let k = folds.len();
    let s: f64 = fit_seconds.iter().map(|&t| per_fit(t, k)).sum();
    let refit = 1.5 * s;
    match mode {
        FinalMode::Bag => 0.0,
        FinalMode::Refit => refit,
        FinalMode::Auto if !comparable(folds) => 0.0,
        FinalMode::Auto => {
            let kf = k as f64;
            let first = kf * s + refit;
            let all = (kf * (kf - 1.0) / 2.0 + kf) * s + refit;
            if first > 0.2 * budget {
                0.0
            } else {
                all.min(first.max(0.1 * budget))
            }
        }
    }
}

/// The bag: every member's fold models, the member's weight shared among them.
pub fn bag(members: &[Member]) -> Vec<EnsembleMember> {
    let mut out = Vec::new();
    for m in members {
        let n = m.fold_models.len() as f64;
        for (f, model) in m.fold_models.iter().enumerate() {
            out.push(EnsembleMember {
                weight: m.weight / n,
                label: format!("{} trial {}, fold {}", m.learner, m.trial, f + 1),
                predictor: model.clone(),
            });
        }
    }
    out
}

/// Boosting rounds for a model fitted on `to_rows` rows, from the best rounds found on
/// `from_rows`: more rows support more rounds before overfitting; the square root of the ratio
/// is the usual, mild, correction.
pub fn refit_rounds(best: &[usize], from_rows: f64, to_rows: f64) -> usize {
    if best.is_empty() {
        return 1;
    }
    let mean = best.iter().sum::<usize>() as f64 / best.len() as f64;
    let scale = (to_rows / from_rows.max(1.0)).max(1.0).sqrt();
    ((mean * scale).round() as usize).max(1)
}

fn is_boosting(params: &LearnerParams) -> bool {
    matches!(params, LearnerParams::Tree(p) if p.boosting == whet_learn::params::Boosting::Gbdt)
}

fn with_rounds(params: LearnerParams, rounds: usize) -> LearnerParams {
    match params {
        LearnerParams::Tree(mut p) => {
            p.num_iterations = rounds;
            p.early_stopping_round = 0;
            LearnerParams::Tree(p)
        }
        other => other,
    }
}

/// Runs `jobs` two at a time when there are threads to spare; results come back in job order.
fn run_paired<T: Send, R: Send>(jobs: Vec<T>, run: impl Fn(T) -> R + Sync) -> Vec<R> {
    let width = if rayon::current_num_threads() > 1 {
        2
    } else {
        1
    };
    let mut out = Vec::with_capacity(jobs.len());
    let mut it = jobs.into_iter();
    loop {
        let Some(a) = it.next() else { break };
        if width == 2
            && let Some(b) = it.next()
        {
            let (ra, rb) = rayon::join(|| run(a), || run(b));
            out.push(ra);
            out.push(rb);
        } else {
            out.push(run(a));
        }
    }
    out
}

/// Every member fitted on all the plan's rows: boosting with the mean of its folds' best
/// rounds scaled to the larger data, the other learners as configured.
pub fn refit(
    problem: &Problem,
    folds: &[Fold],
    members: &[Member],
    deadline: Option<Instant>,
) -> Result<Vec<EnsembleMember>, FoldError> {
    let Some(first) = folds.first() else {
        return Err(FoldError::Failed("no folds".into()));
    };
    let mut all: Vec<u32> = first.train.iter().chain(&first.valid).copied().collect();
    all.sort_unstable();
    let k = folds.len();
    let mean_train = folds.iter().map(|f| f.train.len()).sum::<usize>() as f64 / k as f64;
    let jobs: Vec<&Member> = members.iter().collect();
    let fitted = run_paired(jobs, |m| {
        let params = m.config.params(all.len(), m.seed.wrapping_add(k as u64));
        let params = if is_boosting(&params) {
            let rounds = refit_rounds(m.fold_iterations, mean_train, all.len() as f64);
            with_rounds(params, rounds)
        } else {
            params
        };
        fit_on_rows(problem, params, &all, &[], deadline).map(|(model, _)| model)
    });
    let mut out = Vec::with_capacity(members.len());
    for (m, model) in members.iter().zip(fitted) {
        out.push(EnsembleMember {
            weight: m.weight,
            label: format!("{} trial {}, refit on all rows", m.learner, m.trial),
            predictor: model?,
        });
    }
    Ok(out)
}

/// Per member and outer fold: the running sum of inner-bag predictions for the fold's rows and
/// the best rounds the inner fits found.
struct Inner {
    bag_sum: Vec<Vec<f64>>,
    best_rounds: Vec<Vec<usize>>,
    rows: Vec<usize>,
}

/// Scores the bag and the refit procedures in nested cross-validation, outer fold by outer
/// fold, until `deadline` (a fold interrupted part-way is not counted). None when not even one
/// fold finished, or the folds are not comparable.
pub fn compare(
    problem: &Problem,
    folds: &[Fold],
    oof_rows: &[u32],
    members: &[Member],
    metric: Metric,
    deadline: Option<Instant>,
) -> Option<RefitComparison> {
    compare_folds(
        problem,
        folds,
        oof_rows,
        members,
        metric,
        deadline,
        folds.len(),
    )
}

fn compare_folds(
    problem: &Problem,
    folds: &[Fold],
    oof_rows: &[u32],
    members: &[Member],
    metric: Metric,
    deadline: Option<Instant>,
    max_folds: usize,
) -> Option<RefitComparison> {
    if !comparable(folds) || members.is_empty() {
        return None;
    }
    let k = folds.len();
    let n_out = members[0].oof.n_outputs;
    let mut fold_of = vec![usize::MAX; problem.x.n_rows];
    for (i, f) in folds.iter().enumerate() {
        for &r in &f.valid {
            fold_of[r as usize] = i;
        }
    }
    let mut position = vec![usize::MAX; problem.x.n_rows];
    for (p, &r) in oof_rows.iter().enumerate() {
        position[r as usize] = p;
    }
    let mut inner: Vec<Inner> = members
        .iter()
        .map(|_| Inner {
            bag_sum: folds
                .iter()
                .map(|f| vec![0.0; f.valid.len() * n_out])
                .collect(),
            best_rounds: vec![Vec::new(); k],
            rows: vec![0; k],
        })
        .collect();
    let mut scored_rows: Vec<u32> = Vec::new();
    let mut bag_pred: Vec<f64> = Vec::new();
    let mut refit_pred: Vec<f64> = Vec::new();
    let mut folds_compared = 0;
    let total_seconds: f64 = members.iter().map(|m| per_fit(m.fit_seconds, k)).sum();

    'outer: for i in 0..k.min(max_folds) {
        // Pairs (i, j > i) finish outer fold i; those with j < i were fitted for earlier folds.
        let estimate = (k - 1 - i) as f64 * total_seconds;
        if deadline.is_some_and(|d| {
            d.checked_duration_since(Instant::now())
                .is_none_or(|left| left.as_secs_f64() < estimate)
        }) {
            break;
        }
        let mut jobs = Vec::new();
        for j in i + 1..k {
            for mi in 0..members.len() {
                jobs.push((j, mi));
            }
        }
        let results = run_paired(jobs, |(j, mi)| {
            let m = &members[mi];
            let rows: Vec<u32> = oof_rows
                .iter()
                .copied()
                .filter(|&r| {
                    let f = fold_of[r as usize];
                    f != i && f != j
                })
                .collect();
            let seed = m.seed.wrapping_add(0x9E57_0000 + (i * k + j) as u64);
            let params = m.config.params(rows.len(), seed);
            let boosting = is_boosting(&params);
            let stop_on: Vec<&[u32]> = if boosting {
                vec![&folds[i].valid, &folds[j].valid]
            } else {
                Vec::new()
            };
            let (model, best) = fit_on_rows(problem, params, &rows, &stop_on, deadline)?;
            // Fold i's rows are predicted by the model stopped on fold j, and vice versa.
            let predict = |rows: &[u32], rounds: Option<usize>| match (&model, rounds) {
                (Predictor::Gbdt(g), Some(r)) => {
                    predict_rows(problem, &Predictor::Gbdt(Box::new(g.truncated(r))), rows)
                }
                _ => predict_rows(problem, &model, rows),
            };
            let (stop_i, stop_j) = match best.as_slice() {
                [a, b] => (Some(*a), Some(*b)),
                _ => (None, None),
            };
            let on_i = predict(&folds[i].valid, stop_j);
            let on_j = predict(&folds[j].valid, stop_i);
            Ok::<_, FoldError>((j, mi, rows.len(), stop_i, stop_j, on_i, on_j))
        });
        for r in results {
            let Ok((j, mi, n_rows, stop_i, stop_j, on_i, on_j)) = r else {
                break 'outer;
            };
            let s = &mut inner[mi];
            for (acc, v) in s.bag_sum[i].iter_mut().zip(&on_i.values) {
                *acc += v;
            }
            for (acc, v) in s.bag_sum[j].iter_mut().zip(&on_j.values) {
                *acc += v;
            }
            if let (Some(bi), Some(bj)) = (stop_i, stop_j) {
                s.best_rounds[i].push(bj);
                s.best_rounds[j].push(bi);
            }
            s.rows[i] = n_rows;
            s.rows[j] = n_rows;
        }
        // Outer fold i is complete: the refit procedure on the rows outside it.
        let fold = &folds[i];
        let mut fold_bag = vec![0.0; fold.valid.len() * n_out];
        let mut fold_refit = vec![0.0; fold.valid.len() * n_out];
        let total_weight: f64 = members.iter().map(|m| m.weight).sum();
        for (mi, m) in members.iter().enumerate() {
            let w = m.weight / total_weight.max(f64::MIN_POSITIVE);
            let s = &inner[mi];
            for (acc, v) in fold_bag.iter_mut().zip(&s.bag_sum[i]) {
                *acc += w * v / (k - 1) as f64;
            }
            let refit_values: Vec<f64> = if s.best_rounds[i].is_empty() {
                // Not boosting: the fold model is exactly this refit.
                fold.valid
                    .iter()
                    .flat_map(|&r| m.oof.row(position[r as usize]).iter().copied())
                    .collect()
            } else {
                let rounds =
                    refit_rounds(&s.best_rounds[i], s.rows[i] as f64, fold.train.len() as f64);
                let model = match m.fold_models.get(i) {
                    // The fold model is the same fit (same rows, same seed) stopped later:
                    // truncating it gives the fixed-round fit without fitting again.
                    Some(Predictor::Gbdt(g)) if g.n_iterations() >= rounds => {
                        Predictor::Gbdt(Box::new(g.truncated(rounds)))
                    }
                    _ => {
                        let params = with_rounds(
                            m.config
                                .params(fold.train.len(), m.seed.wrapping_add(i as u64)),
                            rounds,
                        );
                        match fit_on_rows(problem, params, &fold.train, &[], deadline) {
                            Ok((model, _)) => model,
                            Err(_) => break 'outer,
                        }
                    }
                };
                predict_rows(problem, &model, &fold.valid).values
            };
            for (acc, v) in fold_refit.iter_mut().zip(&refit_values) {
                *acc += w * v;
            }
        }
        scored_rows.extend_from_slice(&fold.valid);
        bag_pred.extend(fold_bag);
        refit_pred.extend(fold_refit);
        folds_compared += 1;
    }
    if folds_compared == 0 {
        return None;
    }
    let as_predictions = |values: Vec<f64>| Predictions {
        n_rows: scored_rows.len(),
        n_outputs: n_out,
        values,
    };
    let bag_score = problem.score(metric, &scored_rows, &as_predictions(bag_pred));
    let refit_score = problem.score(metric, &scored_rows, &as_predictions(refit_pred));
    Some(RefitComparison {
        folds_compared,
        folds: k,
        bag_score,
        refit_score,
    })
}

impl RefitComparison {
    /// The refit wins only when strictly better: the bag is already fitted and validated.
    pub fn refit_wins(&self, metric: Metric) -> bool {
        loss_of(metric, self.refit_score) < loss_of(metric, self.bag_score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::portfolio;
    use crate::trial::fit_fold;
    use whet_data::Task;
    use whet_data::prep::{Feature, FeatureData, Features};
    use whet_data::rng::Rng;
    use whet_data::split::{holdout, kfold, time_split};
    use whet_learn::binning::BinnedData;

    /// y = 1 when x0 + x1² + noise > 0.6; x2 is noise.
    fn data(n: usize) -> (Features, Vec<f64>) {
        let mut rng = Rng::new(7);
        let mut cols = vec![Vec::new(), Vec::new(), Vec::new()];
        let mut y = Vec::new();
        for _ in 0..n {
            let v: Vec<f64> = (0..3).map(|_| rng.next_f64()).collect();
            let noise = (rng.next_f64() - 0.5) * 0.6;
            y.push(f64::from(u8::from(v[0] + v[1] * v[1] + noise > 0.6)));
            for (c, x) in cols.iter_mut().zip(&v) {
                c.push(*x as f32);
            }
        }
        let columns = cols
            .into_iter()
            .enumerate()
            .map(|(i, c)| Feature {
                name: format!("x{i}"),
                data: FeatureData::Numeric(c),
            })
            .collect();
        (Features { n_rows: n, columns }, y)
    }

    struct Trial {
        config: Config,
        models: Vec<Predictor>,
        iterations: Vec<usize>,
        oof: Predictions,
    }

    fn cross_validate(problem: &Problem, folds: &[Fold], config: Config, seed: u64) -> Trial {
        let n_out = problem.n_outputs();
        let mut oof = vec![0.0; problem.x.n_rows * n_out];
        let mut models = Vec::new();
        let mut iterations = Vec::new();
        for (f, fold) in folds.iter().enumerate() {
            let r = fit_fold(
                problem,
                &config,
                fold,
                Metric::RocAuc,
                seed + f as u64,
                None,
            )
            .unwrap();
            for (j, &row) in fold.valid.iter().enumerate() {
                oof[row as usize * n_out..(row as usize + 1) * n_out]
                    .copy_from_slice(r.predictions.row(j));
            }
            iterations.extend(r.iterations);
            models.push(r.model);
        }
        Trial {
            config,
            models,
            iterations,
            oof: Predictions {
                n_rows: problem.x.n_rows,
                n_outputs: n_out,
                values: oof,
            },
        }
    }

    fn member<'a>(t: &'a Trial, learner: LearnerKind, seed: u64) -> Member<'a> {
        Member {
            trial: 0,
            learner,
            config: &t.config,
            seed,
            weight: 1.0,
            fold_models: &t.models,
            fold_iterations: if learner == LearnerKind::Gbdt {
                &t.iterations
            } else {
                &[]
            },
            oof: &t.oof,
            fit_seconds: 0.1,
        }
    }

    #[test]
    fn only_partitions_into_three_folds_or_more_are_comparable() {
        assert!(comparable(&kfold(100, 5, true, 1).unwrap()));
        assert!(comparable(&kfold(100, 3, true, 1).unwrap()));
        assert!(!comparable(&kfold(100, 2, true, 1).unwrap()));
        assert!(!comparable(&[holdout(100, 0.1, 1).unwrap()]));
        let order: Vec<i64> = (0..100).collect();
        assert!(!comparable(&time_split(&order, 3, 0).unwrap()));
    }

    #[test]
    fn refit_rounds_scale_the_mean_by_the_root_of_the_row_ratio() {
        assert_eq!(refit_rounds(&[90, 110], 400.0, 400.0), 100);
        assert_eq!(refit_rounds(&[100], 400.0, 1600.0), 200);
        // Never fewer rounds for fewer rows, never zero.
        assert_eq!(refit_rounds(&[100], 400.0, 100.0), 100);
        assert_eq!(refit_rounds(&[], 400.0, 500.0), 1);
    }

    #[test]
    fn nested_scores_match_the_procedures_done_by_hand() {
        let (x, y) = data(600);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let problem = Problem {
            x: &x,
            y: &y,
            weight: None,
            task: Task::Binary,
            n_classes: 2,
            binned: Some(&binned),
        };
        let folds = kfold(600, 4, true, 3).unwrap();
        let rows: Vec<u32> = (0..600).collect();
        let seed = 40;
        let gbdt = cross_validate(
            &problem,
            &folds,
            portfolio(LearnerKind::Gbdt)[0].clone(),
            seed,
        );
        let m = member(&gbdt, LearnerKind::Gbdt, seed);
        let c = compare_folds(
            &problem,
            &folds,
            &rows,
            std::slice::from_ref(&m),
            Metric::RocAuc,
            None,
            1,
        )
        .unwrap();
        assert_eq!((c.folds_compared, c.folds), (1, 4));

        // Outer fold 0 by hand: the bag averages fits outside folds 0 and j, each stopped on
        // fold j alone; the refit is one fit outside fold 0 with their rounds, scaled.
        let k = folds.len();
        let valid = &folds[0].valid;
        let mut bag = vec![0.0; valid.len()];
        let mut best = Vec::new();
        let mut inner_rows = 0;
        for j in 1..k {
            let train: Vec<u32> = rows
                .iter()
                .copied()
                .filter(|r| !folds[0].valid.contains(r) && !folds[j].valid.contains(r))
                .collect();
            inner_rows = train.len();
            let inner = Fold {
                train,
                valid: folds[j].valid.clone(),
            };
            let pair_seed = seed.wrapping_add(0x9E57_0000 + j as u64);
            let r = fit_fold(
                &problem,
                &m.config.clone(),
                &inner,
                Metric::RocAuc,
                pair_seed,
                None,
            )
            .unwrap();
            best.push(r.iterations.unwrap());
            let p = predict_rows(&problem, &r.model, valid);
            for (a, v) in bag.iter_mut().zip(&p.values) {
                *a += v;
            }
        }
        let bag: Vec<f64> = bag.iter().map(|v| v / (k - 1) as f64).collect();
        let rounds = refit_rounds(&best, inner_rows as f64, folds[0].train.len() as f64);
        let params = with_rounds(m.config.params(folds[0].train.len(), seed), rounds);
        let (refit_model, _) = fit_on_rows(&problem, params, &folds[0].train, &[], None).unwrap();
        let refit = predict_rows(&problem, &refit_model, valid);
        let as_p = |values: Vec<f64>| Predictions {
            n_rows: valid.len(),
            n_outputs: 1,
            values,
        };
        assert_eq!(
            c.bag_score,
            problem.score(Metric::RocAuc, valid, &as_p(bag))
        );
        assert_eq!(c.refit_score, problem.score(Metric::RocAuc, valid, &refit));

        // A learner without early stopping: its refit one level down is its fold model, so the
        // refit's nested score over every fold is exactly its out-of-fold score.
        let linear = cross_validate(
            &problem,
            &folds,
            portfolio(LearnerKind::Linear)[0].clone(),
            seed,
        );
        let m = member(&linear, LearnerKind::Linear, seed);
        let c = compare(
            &problem,
            &folds,
            &rows,
            std::slice::from_ref(&m),
            Metric::RocAuc,
            None,
        )
        .unwrap();
        assert_eq!(c.folds_compared, 4);
        let mut pooled_rows = Vec::new();
        let mut pooled = Vec::new();
        for f in &folds {
            for &r in &f.valid {
                pooled_rows.push(r);
                pooled.push(linear.oof.values[r as usize]);
            }
        }
        let n = pooled.len();
        let oof_score = problem.score(
            Metric::RocAuc,
            &pooled_rows,
            &Predictions {
                n_rows: n,
                n_outputs: 1,
                values: pooled,
            },
        );
        assert_eq!(c.refit_score, oof_score);
        assert!(c.bag_score > 0.8 && c.refit_score > 0.8, "{c:?}");
    }

    #[test]
    fn refit_fits_each_member_once_on_every_row_with_its_weight() {
        let (x, y) = data(300);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let problem = Problem {
            x: &x,
            y: &y,
            weight: None,
            task: Task::Binary,
            n_classes: 2,
            binned: Some(&binned),
        };
        let folds = kfold(300, 3, true, 3).unwrap();
        let gbdt = cross_validate(&problem, &folds, portfolio(LearnerKind::Gbdt)[0].clone(), 1);
        let linear = cross_validate(
            &problem,
            &folds,
            portfolio(LearnerKind::Linear)[0].clone(),
            2,
        );
        let mut a = member(&gbdt, LearnerKind::Gbdt, 1);
        a.weight = 0.75;
        let mut b = member(&linear, LearnerKind::Linear, 2);
        b.weight = 0.25;
        let members = [a, b];
        let refit = refit(&problem, &folds, &members, None).unwrap();
        assert_eq!(refit.len(), 2);
        assert_eq!((refit[0].weight, refit[1].weight), (0.75, 0.25));
        let Predictor::Gbdt(g) = &refit[0].predictor else {
            panic!("a boosting member stays boosting");
        };
        let mean_train = folds.iter().map(|f| f.train.len()).sum::<usize>() as f64 / 3.0;
        assert_eq!(
            g.n_iterations(),
            refit_rounds(&gbdt.iterations, mean_train, 300.0)
        );
        // The bag keeps every fold model, sharing the member's weight.
        let bag = bag(&members);
        assert_eq!(bag.len(), 6);
        assert!((bag.iter().map(|m| m.weight).sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
