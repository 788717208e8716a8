//! Greedy ensemble selection with replacement over out-of-fold predictions (Caruana et al.,
//! "Ensemble Selection from Libraries of Models", ICML 2004): start from the best model, then
//! repeatedly add whichever model (possibly one already in) most improves the averaged
//! prediction's score, and keep the best prefix of that sequence.

use whet_learn::data::Predictions;
use whet_learn::metrics::{Metric, evaluate};

use crate::space::LearnerKind;
use crate::trial::{Problem, loss_of};

/// Selection steps (members added with replacement) of the final model's ensemble.
pub(crate) const ENSEMBLE_STEPS: usize = 30;

/// Chosen members as (candidate index, count); weights are count / total.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    pub members: Vec<(usize, usize)>,
    pub score: f64,
}

/// `candidates` are out-of-fold predictions over the same `rows`, best first.
pub fn select(
    problem: &Problem,
    metric: Metric,
    rows: &[u32],
    candidates: &[&Predictions],
    max_steps: usize,
) -> Option<Selection> {
    let first = candidates.first()?;
    let width = first.values.len();
    // Gathered once: every step scores every candidate on the same rows.
    let (y, w) = problem.targets(rows);
    let mut sum = vec![0.0; width];
    let mut counts = vec![0usize; candidates.len()];
    let mut best: Option<(f64, Vec<usize>)> = None;
    let mut scratch = Predictions {
        n_rows: first.n_rows,
        n_outputs: first.n_outputs,
        values: vec![0.0; width],
    };
    for step in 1..=max_steps {
        let mut step_best: Option<(usize, f64)> = None;
        for (i, c) in candidates.iter().enumerate() {
            if c.values.len() != width {
                continue;
            }
            let inv = 1.0 / step as f64;
            for ((s, &acc), &v) in scratch.values.iter_mut().zip(&sum).zip(&c.values) {
                *s = (acc + v) * inv;
            }
            let loss = loss_of(metric, evaluate(metric, &y, &scratch, w.as_deref()));
            // Strict `<` keeps the earlier (better single) candidate on ties.
            if step_best.is_none_or(|(_, b)| loss < b) {
                step_best = Some((i, loss));
            }
        }
        let (chosen, loss) = step_best?;
        for (s, &v) in sum.iter_mut().zip(&candidates[chosen].values) {
            *s += v;
        }
        counts[chosen] += 1;
        if best.as_ref().is_none_or(|(b, _)| loss < *b - 1e-12) {
            best = Some((loss, counts.clone()));
        }
    }
    let (loss, counts) = best?;
    let score = if metric.higher_is_better() {
        -loss
    } else {
        loss
    };
    Some(Selection {
        members: counts
            .into_iter()
            .enumerate()
            .filter(|(_, c)| *c > 0)
            .collect(),
        score,
    })
}

/// Candidates for ensemble selection: the best trials by CV score, plus each learner's best.
const ENSEMBLE_CANDIDATES: usize = 10;

/// Which of the trials, ranked best first by their learners, stay ensemble candidates: the
/// ENSEMBLE_CANDIDATES best, and each learner's best.
pub(crate) fn ensemble_candidates(ranked: &[LearnerKind]) -> Vec<bool> {
    let mut seen: Vec<LearnerKind> = Vec::new();
    ranked
        .iter()
        .enumerate()
        .map(|(rank, learner)| {
            let learners_best = !seen.contains(learner);
            if learners_best {
                seen.push(*learner);
            }
            rank < ENSEMBLE_CANDIDATES || learners_best
        })
        .collect()
}

/// Whether ensemble selection generalises on these out-of-fold rows: selected on one half
/// (a seeded shuffle), the blend is scored on the other against the single candidate that is
/// best on the same selection half (the best overall was chosen on the check rows too, which
/// would favour it), and the other way round; it holds when the two gains sum to more than
/// nothing. Selection fits its weights to the very rows it is scored on, and on small data
/// that optimism alone can make a blend win out-of-fold and lose on the test set.
pub(crate) fn holds_out_of_sample(
    problem: &Problem,
    metric: Metric,
    rows: &[u32],
    candidates: &[&Predictions],
    seed: u64,
) -> bool {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    whet_data::rng::Rng::new(seed ^ 0x4A1F_5EED).shuffle(&mut order);
    let (a, b) = order.split_at(order.len() / 2);
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    let mut gain = 0.0;
    for (select_on, check_on) in [(&a, &b), (&b, &a)] {
        let sel_rows: Vec<u32> = select_on.iter().map(|&i| rows[i]).collect();
        let check_rows: Vec<u32> = check_on.iter().map(|&i| rows[i]).collect();
        let sel_preds: Vec<Predictions> = candidates.iter().map(|c| subset(c, select_on)).collect();
        let refs: Vec<&Predictions> = sel_preds.iter().collect();
        let Some(sel) = select(problem, metric, &sel_rows, &refs, ENSEMBLE_STEPS) else {
            return false;
        };
        let total: usize = sel.members.iter().map(|m| m.1).sum();
        let single_on_half = (0..refs.len())
            .min_by(|&i, &j| {
                let l = |k: usize| loss_of(metric, problem.score(metric, &sel_rows, refs[k]));
                l(i).total_cmp(&l(j)).then(i.cmp(&j))
            })
            .unwrap_or(0);
        let first = subset(candidates[single_on_half], check_on);
        let mut blend = Predictions {
            n_rows: first.n_rows,
            n_outputs: first.n_outputs,
            values: vec![0.0; first.values.len()],
        };
        for &(i, count) in &sel.members {
            let w = count as f64 / total as f64;
            for (acc, v) in blend
                .values
                .iter_mut()
                .zip(&subset(candidates[i], check_on).values)
            {
                *acc += w * v;
            }
        }
        let blended = loss_of(metric, problem.score(metric, &check_rows, &blend));
        let single = loss_of(metric, problem.score(metric, &check_rows, &first));
        gain += single - blended;
    }
    gain > 0.0
}

/// The rows at `positions` of `p`.
fn subset(p: &Predictions, positions: &[usize]) -> Predictions {
    let k = p.n_outputs;
    let mut values = Vec::with_capacity(positions.len() * k);
    for &i in positions {
        values.extend_from_slice(&p.values[i * k..(i + 1) * k]);
    }
    Predictions {
        n_rows: positions.len(),
        n_outputs: k,
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whet_data::prep::Features;

    fn preds(values: Vec<f64>) -> Predictions {
        Predictions {
            n_rows: values.len(),
            n_outputs: 1,
            values,
        }
    }

    #[test]
    fn averaging_two_opposite_errors_beats_either() {
        let x = Features {
            n_rows: 4,
            columns: vec![],
        };
        let y = [1.0, 2.0, 3.0, 4.0];
        let p = Problem::regression(&x, &y);
        let high = preds(vec![2.0, 3.0, 4.0, 5.0]);
        let low = preds(vec![0.0, 1.0, 2.0, 3.0]);
        let bad = preds(vec![9.0, 9.0, 9.0, 9.0]);
        let rows = [0, 1, 2, 3];
        let s = select(&p, Metric::Rmse, &rows, &[&high, &low, &bad], 10).unwrap();
        assert_eq!(s.members, vec![(0, 1), (1, 1)]);
        assert!(s.score.abs() < 1e-12);
    }

    #[test]
    fn a_single_dominant_model_stays_alone() {
        let x = Features {
            n_rows: 3,
            columns: vec![],
        };
        let y = [1.0, 2.0, 3.0];
        let p = Problem::regression(&x, &y);
        let exact = preds(vec![1.0, 2.0, 3.0]);
        let off = preds(vec![1.5, 2.5, 3.5]);
        let s = select(&p, Metric::Rmse, &[0, 1, 2], &[&exact, &off], 5).unwrap();
        assert_eq!(s.members, vec![(0, 1)]);
    }

    #[test]
    fn ensemble_candidates_are_the_best_ten_and_each_learners_best() {
        use LearnerKind::*;
        let mut ranked = vec![Gbdt; 12];
        ranked.extend([Linear, Gbdt, Rf, Linear]);
        let keep = ensemble_candidates(&ranked);
        let mut want = vec![true; 10];
        want.extend([false, false, true, false, true, false]);
        assert_eq!(keep, want);
        // Under ten trials everything stays.
        assert!(ensemble_candidates(&[Knn, Knn, Gbdt]).iter().all(|&k| k));
    }
}
