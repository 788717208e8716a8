//! Champion against challenger on the same rows: every metric's gain with a paired bootstrap
//! interval, the paired tests of the task, the same per slice, and a verdict.
//!
//! The gain is oriented so that positive always means the challenger is better (for a loss,
//! champion − challenger). Both models see the same resamples of the same rows, so the
//! interval of the gain is far narrower than the two models' intervals would suggest.

use rayon::prelude::*;
use serde::Serialize;
use whet_data::{Table, Task};
use whet_learn::model::Model;

use crate::bootstrap::{BootstrapSpec, Estimate, IntervalKind, Strata, intervals};
use crate::error::{Result, ReviewError};
use crate::eval::{MetricDef, Scored};
use crate::influence;
use crate::paired::{TestResult, delong_test, mcnemar, paired_t};
use crate::review::{apply, primary_metric, slice_rows_in_score_order};
use crate::slices::{default_columns, define};

#[derive(Clone, Debug)]
pub struct CompareOptions {
    pub bootstrap: BootstrapSpec,
    pub metric: Option<String>,
    /// The gain's interval must lie above this for `better`.
    pub min_gain: f64,
    pub threshold: f64,
    pub slices: Option<Vec<String>>,
    pub min_slice_rows: usize,
    pub champion_label: String,
    pub challenger_label: String,
    pub data_label: String,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            bootstrap: BootstrapSpec::default(),
            metric: None,
            min_gain: 0.0,
            threshold: 0.5,
            slices: None,
            min_slice_rows: 50,
            champion_label: String::new(),
            challenger_label: String::new(),
            data_label: String::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Better,
    Indistinguishable,
    Worse,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Indistinguishable => "indistinguishable",
            Verdict::Worse => "worse",
        }
    }

    /// `better` when the gain's interval lies above `min_gain`, `worse` when it lies below 0.
    pub fn from_gain(gain: &Estimate, min_gain: f64) -> Verdict {
        if gain.lo > min_gain {
            Verdict::Better
        } else if gain.hi < 0.0 {
            Verdict::Worse
        } else {
            Verdict::Indistinguishable
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct MetricGain {
    #[serde(flatten)]
    pub def: MetricDef,
    pub champion: f64,
    pub challenger: f64,
    /// Challenger's advantage (positive = better), with its paired interval.
    pub gain: Estimate,
    /// How the interval was computed.
    pub interval: IntervalKind,
}

#[derive(Clone, Debug, Serialize)]
pub struct SliceGain {
    pub column: String,
    pub label: String,
    pub rows: u64,
    pub champion: f64,
    pub challenger: f64,
    pub gain: Estimate,
    pub interval: IntervalKind,
    pub verdict: Verdict,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub schema_version: u32,
    pub champion: String,
    pub challenger: String,
    pub data: String,
    pub task: Task,
    pub target: String,
    pub rows: u64,
    pub metric: MetricDef,
    pub min_gain: f64,
    pub verdict: Verdict,
    /// The verdict in a sentence.
    pub summary: String,
    pub bootstrap: BootstrapSpec,
    pub interval_method: String,
    pub metrics: Vec<MetricGain>,
    pub tests: Vec<TestResult>,
    pub slices: Vec<SliceGain>,
    pub notes: Vec<String>,
}

fn oriented(def: &MetricDef, champion: f64, challenger: f64) -> f64 {
    if def.higher_is_better {
        challenger - champion
    } else {
        champion - challenger
    }
}

/// Gains of every metric of `a` → `b` with paired intervals, on the rows `a` and `b` share.
pub fn gains(a: &Scored, b: &Scored, spec: &BootstrapSpec) -> Vec<MetricGain> {
    let defs = a.metric_defs();
    let (va, vb) = (a.values(None), b.values(None));
    let strata = Strata::by_class(&a.y, a.n_classes());
    let gain_of = |ra: &[f64], rb: &[f64]| -> Vec<f64> {
        defs.iter()
            .zip(ra.iter().zip(rb))
            .map(|(d, (x, y))| oriented(d, *x, *y))
            .collect()
    };
    let point = gain_of(&va, &vb);
    let (estimates, kind) = intervals(
        &strata,
        spec,
        &point,
        |c| gain_of(&a.resample_values(c), &b.resample_values(c)),
        |rows| (a.subset(rows), b.subset(rows)),
        |(x, y), c| gain_of(&x.resample_values(c), &y.resample_values(c)),
        |(x, y), w| gain_of(&x.values(Some(w)), &y.values(Some(w))),
    );
    defs.into_iter()
        .zip(estimates)
        .enumerate()
        .map(|(k, (def, gain))| MetricGain {
            champion: va[k],
            challenger: vb[k],
            gain,
            interval: kind,
            def,
        })
        .collect()
}

/// The gain on one slice with its paired interval: the influence (delta-method) normal
/// interval of the difference on a slice of at least `influence::MIN_ROWS` rows where the
/// metric has one, else the paired percentile bootstrap of the slice's own resamples.
/// `ordered` holds the slice's rows in each model's score order (see
/// `slice_rows_in_score_order`). Returns the champion's and challenger's values too.
fn slice_gain(
    a: &Scored,
    b: &Scored,
    metric: &MetricDef,
    rows: &[u32],
    ordered: (&[u32], &[u32]),
    spec: BootstrapSpec,
) -> (f64, f64, Estimate, IntervalKind) {
    let (oa, ob) = ordered;
    if rows.len() >= influence::MIN_ROWS
        && let Some((va, ga)) = influence::influence(a, &metric.name, oa)
        && let Some((vb, gb)) = influence::influence(b, &metric.name, ob)
    {
        // The challenger's influence values by row, read in the champion's row order.
        let mut by_row = vec![0.0; a.n_rows()];
        for (&r, g) in ob.iter().zip(&gb) {
            by_row[r as usize] = *g;
        }
        let g: Vec<f64> = oa
            .iter()
            .zip(&ga)
            .map(|(&r, ga)| oriented(metric, *ga, by_row[r as usize]))
            .collect();
        let se = influence::standard_error(a, oa, &g);
        let gain = influence::normal_interval(oriented(metric, va, vb), se, spec.confidence);
        return (va, vb, gain, IntervalKind::Influence);
    }
    let (xa, xb) = (a.subset(rows), b.subset(rows));
    let (pa, pb) = (
        xa.value_of(&metric.name).unwrap_or(f64::NAN),
        xb.value_of(&metric.name).unwrap_or(f64::NAN),
    );
    let Some(k) = xa.metric_index(&metric.name) else {
        return (
            pa,
            pb,
            Estimate::point(oriented(metric, pa, pb)),
            IntervalKind::Bootstrap,
        );
    };
    let strata = Strata::by_class(&xa.y, xa.n_classes());
    let gain_of = |x: &Scored, y: &Scored, c: &[u8]| {
        vec![oriented(
            metric,
            x.resample_value(c, k),
            y.resample_value(c, k),
        )]
    };
    let (estimates, kind) = intervals(
        &strata,
        &spec,
        &[oriented(metric, pa, pb)],
        |c| gain_of(&xa, &xb, c),
        |r| (xa.subset(r), xb.subset(r)),
        |(x, y), c| gain_of(x, y, c),
        |(x, y), w| vec![oriented(metric, x.values(Some(w))[k], y.values(Some(w))[k])],
    );
    (pa, pb, estimates[0], kind)
}

fn check_same_target(a: &Model, b: &Model) -> Result<()> {
    let (Some(ta), Some(tb)) = (&a.prep.target, &b.prep.target) else {
        return Err(ReviewError::input(
            "a model records no target column",
            "compare models written by `whet train` or `whet fit`",
        ));
    };
    if ta.task != tb.task {
        return Err(ReviewError::input(
            format!(
                "the champion is a {} model and the challenger a {} model",
                ta.task.name(),
                tb.task.name()
            ),
            "compare two models of the same task on the same target",
        ));
    }
    if ta.name != tb.name {
        return Err(ReviewError::input(
            format!(
                "the champion predicts '{}' and the challenger '{}'",
                ta.name, tb.name
            ),
            "compare two models of the same target",
        ));
    }
    if ta.classes != tb.classes {
        return Err(ReviewError::input(
            format!(
                "the models know different classes: [{}] vs [{}]",
                ta.classes.join(", "),
                tb.classes.join(", ")
            ),
            "compare models trained on the same classes",
        ));
    }
    Ok(())
}

/// Compares `champion` and `challenger` on `table`.
pub fn compare(
    champion: &Model,
    challenger: &Model,
    table: &Table,
    options: &CompareOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Comparison> {
    check_same_target(champion, challenger)?;
    if !options.min_gain.is_finite() {
        return Err(ReviewError::usage(
            "--min-gain must be a finite number",
            "e.g. --min-gain 0.005",
        ));
    }
    if options.bootstrap.resamples < 10 {
        return Err(ReviewError::usage(
            "--resamples must be at least 10",
            "1000 is the default",
        ));
    }
    progress("scoring");
    // The two models side by side: each scoring has serial stretches (preparing the columns,
    // sorting the scores) that the other's parallel work fills.
    let (a, b) = rayon::join(
        || apply(champion, table, &options.data_label, options.threshold),
        || apply(challenger, table, &options.data_label, options.threshold),
    );
    let (a, b) = (a?, b?);
    let (sa, sb) = (&a.scored, &b.scored);
    let metric = primary_metric(sa, options.metric.as_deref())?;
    progress("bootstrap");
    // The paired tests (DeLong sorts all rows) run beside the resamples.
    let (metrics, tests) = rayon::join(
        || gains(sa, sb, &options.bootstrap),
        || paired_tests(sa, sb),
    );
    let Some(main) = metrics.iter().find(|m| m.def.name == metric.name).cloned() else {
        return Err(ReviewError::input(
            format!("metric {} was not computed", metric.name),
            "this is a bug in whet; please report it",
        ));
    };

    progress("slices");
    let columns = options
        .slices
        .clone()
        .unwrap_or_else(|| default_columns(&champion.prep));
    let defs = define(
        &a.table,
        &champion.prep,
        &columns,
        options.min_slice_rows.max(1),
    )?;
    let (ordered_a, ordered_b) = rayon::join(
        || slice_rows_in_score_order(sa, &defs),
        || slice_rows_in_score_order(sb, &defs),
    );
    let slices: Vec<SliceGain> = defs
        .par_iter()
        .enumerate()
        .map(|(i, d)| {
            let (pa, pb, gain, interval) = slice_gain(
                sa,
                sb,
                &metric,
                &d.rows,
                (&ordered_a[i], &ordered_b[i]),
                options.bootstrap.for_slice(i),
            );
            SliceGain {
                column: d.column.clone(),
                label: d.label.clone(),
                rows: d.rows.len() as u64,
                champion: pa,
                challenger: pb,
                verdict: Verdict::from_gain(&gain, 0.0),
                gain,
                interval,
            }
        })
        .collect();

    let verdict = Verdict::from_gain(&main.gain, options.min_gain);
    let g = &main.gain;
    let summary = match verdict {
        Verdict::Better => format!(
            "The challenger is better: {} gains {:+.4} (95% interval {:+.4} to {:+.4}), above the required {}.",
            metric.label, g.value, g.lo, g.hi, options.min_gain
        ),
        Verdict::Worse => format!(
            "The challenger is worse: {} changes by {:+.4} (interval {:+.4} to {:+.4}), entirely below 0.",
            metric.label, g.value, g.lo, g.hi
        ),
        Verdict::Indistinguishable => format!(
            "No real difference: {} changes by {:+.4}, but the interval {:+.4} to {:+.4} does not lie above {}.",
            metric.label, g.value, g.lo, g.hi, options.min_gain
        ),
    };
    let mut notes = a.notes.clone();
    if slices.iter().any(|x| x.interval == IntervalKind::Influence) {
        notes.push(crate::review::SLICE_INTERVAL_NOTE.to_string());
    }
    notes.extend(b.notes.iter().filter(|n| !a.notes.contains(n)).cloned());
    Ok(Comparison {
        schema_version: crate::review::SCHEMA_VERSION,
        champion: options.champion_label.clone(),
        challenger: options.challenger_label.clone(),
        data: options.data_label.clone(),
        task: sa.task,
        target: champion
            .prep
            .target
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        rows: sa.n_rows() as u64,
        metric,
        min_gain: options.min_gain,
        verdict,
        summary,
        bootstrap: options.bootstrap,
        interval_method: crate::review::interval_method(
            sa.task,
            &options.bootstrap,
            sa.n_rows(),
            true,
        ),
        metrics,
        tests,
        slices,
        notes,
    })
}

/// The paired tests of the two models' predictions on the same rows: DeLong's for ROC AUC,
/// paired t-tests of the errors for regression, McNemar's for right and wrong labels.
fn paired_tests(sa: &Scored, sb: &Scored) -> Vec<TestResult> {
    let mut tests = Vec::new();
    match sa.task {
        Task::Binary => {
            if let Some(t) = delong_test(&sa.y, &sa.pred.values, &sb.pred.values) {
                tests.push(t);
            }
        }
        Task::Regression => {
            let sq = |s: &Scored| -> Vec<f64> {
                s.y.iter()
                    .zip(&s.pred.values)
                    .map(|(y, p)| (y - p).powi(2))
                    .collect()
            };
            let ab = |s: &Scored| -> Vec<f64> {
                s.y.iter()
                    .zip(&s.pred.values)
                    .map(|(y, p)| (y - p).abs())
                    .collect()
            };
            tests.push(paired_t("squared errors", &sq(sa), &sq(sb)));
            tests.push(paired_t("absolute errors", &ab(sa), &ab(sb)));
        }
        Task::Multiclass => {}
    }
    if sa.task != Task::Regression {
        let right = |s: &Scored| -> Vec<bool> {
            s.pred_class
                .iter()
                .zip(&s.y)
                .map(|(p, y)| *p == *y as usize)
                .collect()
        };
        tests.push(mcnemar(&right(sa), &right(sb)));
    }
    tests
}

#[cfg(test)]
mod tests {
    use super::*;
    use whet_data::rng::Rng;
    use whet_learn::Predictions;

    fn scored(y: &[f64], p: Vec<f64>) -> Scored {
        Scored::new(
            Task::Binary,
            vec!["0".into(), "1".into()],
            y.to_vec(),
            Predictions {
                n_rows: y.len(),
                n_outputs: 1,
                values: p,
            },
            0.5,
        )
    }

    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    fn normal(rng: &mut Rng) -> f64 {
        let (u, v) = (1.0 - rng.next_f64(), rng.next_f64());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Two models: a shared signal plus independent noise of the same size (the null), or the
    /// challenger with less noise (a real gain). `n` rows, 200 resamples; `blb_min_rows` 0
    /// takes the bag of little bootstraps at any size.
    fn verdicts(
        challenger_noise: f64,
        replicates: usize,
        n: usize,
        blb_min_rows: usize,
    ) -> (usize, usize) {
        let spec = BootstrapSpec {
            resamples: 200,
            seed: 3,
            confidence: 0.95,
            blb_min_rows,
        };
        let mut rng = Rng::new(99);
        let (mut covered, mut better) = (0, 0);
        for _ in 0..replicates {
            let signal: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
            let y: Vec<f64> = signal
                .iter()
                .map(|s| f64::from(u8::from(rng.next_f64() < sigmoid(1.5 * s))))
                .collect();
            let a: Vec<f64> = signal
                .iter()
                .map(|s| sigmoid(s + normal(&mut rng)))
                .collect();
            let b: Vec<f64> = signal
                .iter()
                .map(|s| sigmoid(s + challenger_noise * normal(&mut rng)))
                .collect();
            let g = gains(&scored(&y, a), &scored(&y, b), &spec);
            let auc = &g[0].gain;
            covered += usize::from(auc.contains(0.0));
            better += usize::from(Verdict::from_gain(auc, 0.0) == Verdict::Better);
        }
        (covered, better)
    }

    /// A slice of 6,000 rows takes the influence interval of the paired gain, and its width
    /// is the paired bootstrap's on the same rows, for ROC AUC (DeLong's paired variance)
    /// and log loss.
    #[test]
    fn large_slices_get_the_paired_influence_interval_of_the_bootstrap_width() {
        let mut rng = Rng::new(8);
        let n = 6000;
        let signal: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
        let y: Vec<f64> = signal
            .iter()
            .map(|s| f64::from(u8::from(rng.next_f64() < sigmoid(1.5 * s))))
            .collect();
        let a = scored(
            &y,
            signal
                .iter()
                .map(|s| sigmoid(s + normal(&mut rng)))
                .collect(),
        );
        let b = scored(
            &y,
            signal
                .iter()
                .map(|s| sigmoid(s + 0.8 * normal(&mut rng)))
                .collect(),
        );
        let spec = BootstrapSpec {
            resamples: 400,
            seed: 1,
            confidence: 0.95,
            ..Default::default()
        };
        let boot = gains(&a, &b, &spec);
        let all: Vec<u32> = (0..n as u32).collect();
        for (k, name) in [(0, "roc_auc"), (2, "log_loss")] {
            let def = a.metric_defs()[k].clone();
            assert_eq!(def.name, name);
            let (pa, pb, gain, kind) =
                slice_gain(&a, &b, &def, &all, (a.score_order(), b.score_order()), spec);
            assert_eq!(kind, IntervalKind::Influence);
            assert!((gain.value - boot[k].gain.value).abs() < 1e-12);
            assert!(
                (pa - boot[k].champion).abs() < 1e-12 && (pb - boot[k].challenger).abs() < 1e-12
            );
            let (w, wb) = (gain.hi - gain.lo, boot[k].gain.hi - boot[k].gain.lo);
            assert!(
                (0.85..1.15).contains(&(w / wb)),
                "{name}: influence width {w} vs bootstrap {wb}"
            );
        }
    }

    #[test]
    fn null_rarely_better_and_a_real_gain_usually_is() {
        let (covered, better) = verdicts(1.0, 60, 400, usize::MAX);
        assert!(
            covered >= 53,
            "the interval covered 0 in {covered} of 60 null replicates"
        );
        assert!(better <= 4, "said better in {better} of 60 null replicates");
        let (_, better) = verdicts(0.3, 30, 400, usize::MAX);
        assert!(
            better >= 24,
            "said better in only {better} of 30 replicates with a real gain"
        );
    }

    /// The same with the bag of little bootstraps (the path of large data), on 3,000 rows.
    #[test]
    fn little_bootstraps_null_rarely_better_and_a_real_gain_usually_is() {
        let (covered, better) = verdicts(1.0, 60, 3000, 0);
        assert!(
            covered >= 53,
            "the interval covered 0 in {covered} of 60 null replicates"
        );
        assert!(better <= 4, "said better in {better} of 60 null replicates");
        let (_, better) = verdicts(0.6, 30, 3000, 0);
        assert!(
            better >= 24,
            "said better in only {better} of 30 replicates with a real gain"
        );
    }
}
