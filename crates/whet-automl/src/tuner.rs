//! Per-learner local search in the spirit of FLAML's CFO / FLOW2: from the best point so far,
//! step along a random direction, then the opposite one; move when a step improves, shrink
//! the step after a run of failures, and restart elsewhere once the step is too small to
//! matter. The start point is the learner's best portfolio configuration, so search begins
//! from something strong and cheap.
//!
//! Every proposal depends only on the seed and the scores told back, never on time, so a
//! fixed trial budget replays exactly.

use whet_data::rng::Rng;

use crate::space::{Config, LearnerKind};

const INITIAL_STEP: f64 = 0.25;
const MIN_STEP: f64 = 0.02;

#[derive(Clone, Debug)]
pub struct Tuner {
    learner: LearnerKind,
    rng: Rng,
    best: Option<(Vec<f64>, f64)>,
    /// Whether the best configuration fits ln(1 + y): every proposal keeps that choice.
    best_log_target: bool,
    step: f64,
    /// Direction of the last forward step, to try its opposite when it fails.
    pending_opposite: Option<Vec<f64>>,
    failures: usize,
    restarts: u64,
    /// The best configuration with a larger round cap, asked next: it used every round it was
    /// allowed, so it had not finished learning.
    grow: Option<Config>,
    /// Dimensions the tuner may move; the others stay where the start point put them.
    active: Vec<bool>,
}

impl Tuner {
    pub fn new(learner: LearnerKind, seed: u64) -> Tuner {
        let active = vec![true; crate::space::dims(learner).len()];
        Tuner::with_active(learner, seed, active)
    }

    /// A tuner that moves only the dimensions marked in `active` (see
    /// [`crate::space::active_dims`]).
    pub fn with_active(learner: LearnerKind, seed: u64, active: Vec<bool>) -> Tuner {
        Tuner {
            active,
            learner,
            rng: Rng::new(seed).fork(learner as u64 + 0x7E7),
            best: None,
            best_log_target: false,
            step: INITIAL_STEP,
            pending_opposite: None,
            failures: 0,
            restarts: 0,
            grow: None,
        }
    }

    fn dims(&self) -> usize {
        self.active.iter().filter(|&&a| a).count().max(1)
    }

    /// Records a finished configuration; `loss` is lower-is-better (NaN for a failed trial).
    pub fn tell(&mut self, config: &Config, loss: f64) {
        let improved = match &self.best {
            None => loss.is_finite(),
            Some((_, b)) => loss.is_finite() && loss < *b,
        };
        if improved {
            self.best = Some((config.point.clone(), loss));
            self.best_log_target = config.log_target;
            self.failures = 0;
            self.pending_opposite = None;
        } else {
            self.failures += 1;
            // FLOW2 halves the step after about 2^(d-1) failed directions; capped so that small
            // budgets still see the step adapt.
            let patience = (1usize << (self.dims().saturating_sub(1)).min(4)).max(2);
            if self.failures >= patience {
                self.step *= 0.5;
                self.failures = 0;
            }
        }
    }

    /// Says that `config`, just told, stopped at its round cap rather than by early stopping.
    /// If it is the best so far, the same configuration with three times the cap is asked next.
    pub fn tell_capped(&mut self, config: &Config) {
        let Some((best, _)) = &self.best else { return };
        if *best != config.point || self.best_log_target != config.log_target {
            return;
        }
        let Some(dim) = crate::space::dims(self.learner)
            .iter()
            .position(|d| d.name == "num_iterations")
        else {
            return;
        };
        let d = &crate::space::dims(self.learner)[dim];
        let current = d.decode(config.point[dim]);
        if current >= d.high {
            return;
        }
        let mut point = config.point.clone();
        point[dim] = d.encode((current * 3.0).min(d.high));
        self.grow = Some(Config {
            learner: self.learner,
            point,
            log_target: self.best_log_target,
        });
    }

    /// The next configuration to try (`None` before the first result is told).
    pub fn ask(&mut self) -> Option<Config> {
        if let Some(grown) = self.grow.take() {
            return Some(grown);
        }
        let (center, _) = self.best.clone()?;
        if self.step < MIN_STEP {
            // Converged here: restart from a random point near the middle of the space.
            self.restarts += 1;
            let mut r = self.rng.fork(0x5EED + self.restarts);
            let point: Vec<f64> = center
                .iter()
                .zip(&self.active)
                .map(|(&c, &active)| {
                    let u = r.next_f64();
                    if active {
                        (0.5 * c + 0.5 * u).clamp(0.0, 1.0)
                    } else {
                        c
                    }
                })
                .collect();
            self.step = INITIAL_STEP;
            self.failures = 0;
            self.pending_opposite = None;
            return Some(Config {
                learner: self.learner,
                point,
                log_target: self.best_log_target,
            });
        }
        let direction = match self.pending_opposite.take() {
            Some(d) => d,
            None => {
                let d = self.random_direction();
                self.pending_opposite = Some(d.iter().map(|v| -v).collect());
                d
            }
        };
        let point = center
            .iter()
            .zip(&direction)
            .map(|(&c, &d)| (c + self.step * d).clamp(0.0, 1.0))
            .collect();
        Some(Config {
            learner: self.learner,
            point,
            log_target: self.best_log_target,
        })
    }

    fn random_direction(&mut self) -> Vec<f64> {
        let active = self.active.clone();
        loop {
            // Gaussian coordinates (Box–Muller) normalized: uniform on the sphere of the
            // active dimensions.
            let v: Vec<f64> = active
                .iter()
                .map(|&a| {
                    let u1 = self.rng.next_f64().max(1e-300);
                    let u2 = self.rng.next_f64();
                    let g = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                    if a { g } else { 0.0 }
                })
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 1e-9 {
                return v.into_iter().map(|x| x / norm).collect();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::portfolio;
    use whet_data::Task;

    /// A smooth bowl with its minimum away from the start point.
    fn bowl(c: &Config) -> f64 {
        c.point
            .iter()
            .enumerate()
            .map(|(i, &u)| (u - 0.2 - 0.1 * i as f64).powi(2))
            .sum()
    }

    #[test]
    fn descends_a_bowl() {
        let mut t = Tuner::new(LearnerKind::Gbdt, 3);
        let start = portfolio(LearnerKind::Gbdt, Task::Binary)[0].clone();
        let first = bowl(&start);
        t.tell(&start, first);
        let mut best = first;
        for _ in 0..150 {
            let c = t.ask().unwrap();
            let l = bowl(&c);
            best = best.min(l);
            t.tell(&c, l);
        }
        assert!(best < first * 0.1, "{first} -> {best}");
    }

    #[test]
    fn same_seed_same_proposals() {
        let run = |seed| {
            let mut t = Tuner::new(LearnerKind::Rf, seed);
            let start = portfolio(LearnerKind::Rf, Task::Binary)[0].clone();
            t.tell(&start, bowl(&start));
            (0..20)
                .map(|_| {
                    let c = t.ask().unwrap();
                    t.tell(&c, bowl(&c));
                    c.point
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn a_capped_best_is_retried_with_more_rounds() {
        let mut t = Tuner::new(LearnerKind::Gbdt, 1);
        let start = portfolio(LearnerKind::Gbdt, Task::Binary)[2].clone();
        t.tell(&start, 0.5);
        t.tell_capped(&start);
        let grown = t.ask().unwrap();
        let rounds = |c: &Config| {
            c.values()
                .into_iter()
                .find(|(n, _)| *n == "num_iterations")
                .unwrap()
                .1
        };
        assert_eq!(rounds(&start), 300.0);
        assert_eq!(rounds(&grown), 900.0);
        let others = |c: &Config| {
            c.values()
                .into_iter()
                .filter(|(n, _)| *n != "num_iterations")
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
        };
        assert_eq!(others(&grown), others(&start));
        // A capped trial that is not the best changes nothing.
        let mut t = Tuner::new(LearnerKind::Gbdt, 1);
        t.tell(&start, 0.5);
        let worse = portfolio(LearnerKind::Gbdt, Task::Binary)[1].clone();
        t.tell(&worse, 0.9);
        t.tell_capped(&worse);
        assert!(t.grow.is_none());
    }

    #[test]
    fn inactive_dimensions_stay_put() {
        let active = crate::space::active_dims(LearnerKind::Gbdt, false);
        let fixed: Vec<usize> = (0..active.len()).filter(|&i| !active[i]).collect();
        assert_eq!(fixed.len(), 2, "the categorical dimensions");
        let mut t = Tuner::with_active(LearnerKind::Gbdt, 4, active);
        let start = portfolio(LearnerKind::Gbdt, Task::Binary)[1].clone();
        t.tell(&start, bowl(&start));
        let mut moved = false;
        for _ in 0..200 {
            let c = t.ask().unwrap();
            for &i in &fixed {
                assert_eq!(c.point[i], start.point[i]);
            }
            moved |= c.point != start.point;
            t.tell(&c, bowl(&c));
        }
        assert!(moved);
    }

    #[test]
    fn asks_nothing_before_a_result() {
        assert!(Tuner::new(LearnerKind::Linear, 0).ask().is_none());
    }
}
