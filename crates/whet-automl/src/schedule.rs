//! Which configuration runs next: the portfolio of defaults first, in an order that puts the
//! likely winners early, then the learner with the lowest estimated cost of improvement asks
//! its tuner (FLAML's ECI, on deterministic cost units, so the schedule never depends on the
//! machine's speed).

use std::collections::{BTreeMap, VecDeque};

use whet_data::Task;

use crate::space::{Config, EARLY_STOPPING_ROUNDS, LearnerKind, portfolio};
use crate::tuner::Tuner;

/// What the scheduler knows of one learner.
pub(crate) struct LearnerState {
    pub(crate) tuner: Tuner,
    /// Its first portfolio trial was pruned or failed: skip its other defaults.
    pub(crate) skip_portfolio: bool,
    /// Its first portfolio trial trailed the best far on a holdout: skip its log-scale twin
    /// too (see `with_log_twins`), which a pruned first default keeps.
    pub(crate) skip_twin: bool,
    /// Its first portfolio trial is proposed but not yet told (the search proposes one trial
    /// ahead): its other defaults wait, so the skip above can still apply to them.
    pub(crate) first_pending: bool,
    pub(crate) best_loss: f64,
    pub(crate) first_loss: f64,
    pub(crate) spent: f64,
    pub(crate) since_improvement: f64,
    pub(crate) best_trial_cost: f64,
}

impl LearnerState {
    /// A learner nothing has been tried with yet.
    pub(crate) fn new(tuner: Tuner) -> LearnerState {
        LearnerState {
            tuner,
            skip_portfolio: false,
            skip_twin: false,
            first_pending: false,
            best_loss: f64::INFINITY,
            first_loss: f64::NAN,
            spent: 0.0,
            since_improvement: 0.0,
            best_trial_cost: 0.0,
        }
    }
}

/// Whether a boosting trial used every round it was allowed in some fold: early stopping
/// would have ended it otherwise, so more rounds would likely still help.
pub(crate) fn ran_to_cap(config: &Config, iterations: &[usize]) -> bool {
    let Some(cap) = config
        .values()
        .into_iter()
        .find(|(n, _)| *n == "num_iterations")
        .map(|(_, v)| v as usize)
    else {
        return false;
    };
    iterations
        .iter()
        .any(|&kept| kept + EARLY_STOPPING_ROUNDS > cap)
}

/// The portfolio in the order it is tried: boosting's HGB-like default and its two cheapest
/// LightGBM-like ones first (it wins most tabular problems), then its large default (many leaves, slow learning rate: on big or
/// hard data it wins by a wide margin, and there a 60 s budget fits only a handful of trials,
/// so it must not come last), then the forests' cheapest, then boosting's many-small-trees
/// default, then every other default round-robin.
pub(crate) fn portfolio_queue(
    learners: &[LearnerKind],
    task: Task,
) -> VecDeque<(LearnerKind, usize, Config)> {
    let lists: BTreeMap<LearnerKind, Vec<Config>> =
        learners.iter().map(|&l| (l, portfolio(l, task))).collect();
    let mut order: Vec<(LearnerKind, usize)> = Vec::new();
    let gbdt = learners.contains(&LearnerKind::Gbdt);
    if gbdt {
        order.extend([
            (LearnerKind::Gbdt, 0),
            (LearnerKind::Gbdt, 1),
            (LearnerKind::Gbdt, 2),
            (LearnerKind::Gbdt, 4),
        ]);
    }
    for &l in learners {
        if matches!(l, LearnerKind::Rf | LearnerKind::Et) {
            order.push((l, 0));
        }
    }
    if gbdt {
        order.push((LearnerKind::Gbdt, 3));
    }
    let rounds = lists.values().map(Vec::len).max().unwrap_or(0);
    for round in 0..rounds {
        for &l in learners {
            if !order.contains(&(l, round)) {
                order.push((l, round));
            }
        }
    }
    order
        .into_iter()
        .filter_map(|(l, i)| lists.get(&l)?.get(i).map(|c| (l, i, c.clone())))
        .collect()
}

/// Puts after each learner's first default the same configuration fitted on ln(1 + y) (for
/// a target that qualifies, see `trial::log_target_values`), with portfolio index `len` of
/// that learner's portfolio: the two decide, by cross-validation, which scale the learner's
/// tuner starts from.
pub(crate) fn with_log_twins(
    queue: VecDeque<(LearnerKind, usize, Config)>,
    task: Task,
) -> VecDeque<(LearnerKind, usize, Config)> {
    let mut out = VecDeque::with_capacity(queue.len() * 2);
    for (l, i, c) in queue {
        let twin = (i == 0).then(|| (l, portfolio(l, task).len(), c.clone().on_log_target()));
        out.push_back((l, i, c));
        out.extend(twin);
    }
    out
}

/// Moves each probe learner's first default (a forest, the softmax linear model, extra
/// trees, kNN: see [`crate::expense::PROBES`]) to the front of the queue, in that order: when
/// one boosting trial takes a large share of the budget, they are what tells the search
/// early which kind of model the problem wants.
pub(crate) fn probes_first(queue: &mut VecDeque<(LearnerKind, usize, Config)>) {
    let mut front = Vec::new();
    for probe in crate::expense::PROBES {
        if let Some(at) = queue.iter().position(|(l, _, _)| *l == probe) {
            front.extend(queue.remove(at));
        }
    }
    for entry in front.into_iter().rev() {
        queue.push_front(entry);
    }
}

/// Picks the next configuration: the portfolio queue first, then the learner with the lowest
/// estimated cost of improvement (FLAML's ECI, on deterministic cost units) asks its tuner.
/// A default whose learner's first default is still untold waits in the queue for the next
/// entry (or, when only such defaults are left, for a tuner's proposal): run at once, a
/// learner whose first default gets pruned would still run its second, and that pair's
/// difference would pass for fast progress in the cost of improvement.
pub(crate) fn next_config(
    learners: &[LearnerKind],
    states: &mut BTreeMap<LearnerKind, LearnerState>,
    queue: &mut VecDeque<(LearnerKind, usize, Config)>,
) -> Option<(LearnerKind, Config, Option<usize>)> {
    let mut waiting = Vec::new();
    let mut found = None;
    while let Some((l, i, c)) = queue.pop_front() {
        match states.get(&l) {
            // The log-scale twin is the other half of a choice, not one more default: a
            // learner that trailed on y may lead on ln(1 + y).
            Some(s) if s.skip_portfolio && (!c.log_target || s.skip_twin) => {}
            Some(s) if s.first_pending => waiting.push((l, i, c)),
            Some(_) => {
                found = Some((l, c, Some(i)));
                break;
            }
            None => {}
        }
    }
    for entry in waiting.into_iter().rev() {
        queue.push_front(entry);
    }
    if found.is_some() {
        return found;
    }
    if let Some(tuned) = tuner_choice(learners, states) {
        return Some(tuned);
    }
    // Nothing to tune yet: the waiting default after all.
    queue.pop_front().map(|(l, i, c)| (l, c, Some(i)))
}

/// The learner with the lowest estimated cost of improvement, and its tuner's proposal.
fn tuner_choice(
    learners: &[LearnerKind],
    states: &mut BTreeMap<LearnerKind, LearnerState>,
) -> Option<(LearnerKind, Config, Option<usize>)> {
    let global_best = states
        .values()
        .map(|s| s.best_loss)
        .fold(f64::INFINITY, f64::min);
    let mut choice: Option<(LearnerKind, f64)> = None;
    for &l in learners {
        let Some(s) = states.get(&l) else { continue };
        if !s.best_loss.is_finite() {
            continue;
        }
        let eci1 = s.since_improvement.max(2.0 * s.best_trial_cost).max(1e-6);
        let eci = if s.best_loss > global_best {
            let gained = s.first_loss - s.best_loss;
            let speed = gained / s.spent.max(1e-9);
            if speed > 0.0 {
                eci1.max((s.best_loss - global_best) / speed)
            } else {
                eci1 * 4.0 + (s.best_loss - global_best) * 1e3
            }
        } else {
            eci1
        };
        if choice.is_none_or(|(_, e)| eci < e) {
            choice = Some((l, eci));
        }
    }
    let (l, _) = choice?;
    let config = states.get_mut(&l)?.tuner.ask()?;
    Some((l, config, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portfolio_starts_with_boosting_then_every_learner() {
        let q: Vec<(LearnerKind, usize)> = portfolio_queue(&LearnerKind::ALL, Task::Binary)
            .into_iter()
            .map(|(l, i, _)| (l, i))
            .collect();
        use LearnerKind::*;
        assert_eq!(
            q[..10],
            [
                (Gbdt, 0),
                (Gbdt, 1),
                (Gbdt, 2),
                (Gbdt, 4),
                (Rf, 0),
                (Et, 0),
                (Gbdt, 3),
                (Linear, 0),
                (Knn, 0),
                (Rf, 1),
            ]
        );
        let total: usize = LearnerKind::ALL
            .iter()
            .map(|&l| portfolio(l, Task::Binary).len())
            .sum();
        assert_eq!(q.len(), total);
        let only_linear = portfolio_queue(&[LearnerKind::Linear], Task::Binary);
        assert!(only_linear.iter().all(|e| e.0 == LearnerKind::Linear));
    }

    fn state(l: LearnerKind) -> LearnerState {
        LearnerState::new(Tuner::new(l, 0))
    }

    #[test]
    fn a_learners_defaults_wait_while_its_first_is_untold() {
        use LearnerKind::*;
        let learners = [Linear, Knn];
        let mut states: BTreeMap<LearnerKind, LearnerState> =
            learners.iter().map(|&l| (l, state(l))).collect();
        let mut queue: VecDeque<(LearnerKind, usize, Config)> =
            portfolio_queue(&learners, Task::Binary)
                .into_iter()
                .filter(|e| e.1 < 2)
                .collect();
        let order = |q: &VecDeque<(LearnerKind, usize, Config)>| {
            q.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>()
        };
        assert_eq!(
            order(&queue),
            [(Linear, 0), (Knn, 0), (Linear, 1), (Knn, 1)]
        );
        let pick = |states: &mut BTreeMap<_, _>, queue: &mut VecDeque<_>| {
            next_config(&learners, states, queue).map(|(l, _, i)| (l, i))
        };
        assert_eq!(pick(&mut states, &mut queue), Some((Linear, Some(0))));
        states.get_mut(&Linear).unwrap().first_pending = true;
        // Linear's second default waits; knn's first goes ahead of it.
        assert_eq!(pick(&mut states, &mut queue), Some((Knn, Some(0))));
        states.get_mut(&Knn).unwrap().first_pending = true;
        // Only waiting defaults are left and no learner has a result to tune from: the
        // first of them runs after all, and the other stays queued.
        assert_eq!(pick(&mut states, &mut queue), Some((Linear, Some(1))));
        assert_eq!(order(&queue), [(Knn, 1)]);
        // Knn's first default was pruned: its second never runs.
        let knn = states.get_mut(&Knn).unwrap();
        knn.first_pending = false;
        knn.skip_portfolio = true;
        assert_eq!(pick(&mut states, &mut queue), None);
        assert!(queue.is_empty());
    }

    #[test]
    fn a_skipped_learner_keeps_its_log_twin_unless_it_trailed_far_on_a_holdout() {
        use LearnerKind::*;
        let learners = [Rf];
        let queue = || {
            with_log_twins(
                portfolio_queue(&learners, Task::Regression),
                Task::Regression,
            )
            .into_iter()
            .skip(1)
            .collect::<VecDeque<_>>()
        };
        // After rf's first default: its log twin, then its other defaults.
        let twin = queue().front().map(|e| e.2.log_target);
        assert_eq!(twin, Some(true));
        let picks = |skip_twin: bool| {
            let mut states: BTreeMap<LearnerKind, LearnerState> =
                learners.iter().map(|&l| (l, state(l))).collect();
            let rf = states.get_mut(&Rf).unwrap();
            rf.skip_portfolio = true;
            rf.skip_twin = skip_twin;
            let mut q = queue();
            let mut log_scale = Vec::new();
            while let Some((_, c, Some(_))) = next_config(&learners, &mut states, &mut q) {
                log_scale.push(c.log_target);
            }
            log_scale
        };
        // Pruned (or failed): only the twin still runs.
        assert_eq!(picks(false), [true]);
        // Trailed far on a holdout: nothing more of its defaults.
        assert_eq!(picks(true), Vec::<bool>::new());
    }
}
