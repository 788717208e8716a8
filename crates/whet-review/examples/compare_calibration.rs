//! The statistical behaviour of `whet compare` (bench/compare_calibration.sh runs this in a
//! release build; it is too slow for `cargo test`, which runs a smaller version in
//! `compare::tests`).
//!
//! Two simulated binary models score the same rows: a shared signal plus independent noise
//! on the log-odds. Under the null both have noise of the same size; with a real gain the
//! challenger's noise is smaller. For each replicate the ROC AUC gain gets its paired
//! percentile bootstrap interval (the one `whet compare` reports) and the verdict at
//! `--min-gain 0`; DeLong's test is counted alongside.
//!
//! Usage: compare_calibration [REPLICATES] [ROWS] [RESAMPLES] [CHALLENGER_NOISE ...]
//!
//! `WHET_BLB_MIN_ROWS=N` sets the row count from which the intervals come from the bag of
//! little bootstraps (default `whet_review::bootstrap::BLB_MIN_ROWS`, as `whet compare`), so
//! the large-data path can be checked on fewer rows; the table says which method ran.

use whet_data::Task;
use whet_data::rng::Rng;
use whet_learn::Predictions;
use whet_review::BootstrapSpec;
use whet_review::compare::{Verdict, gains};
use whet_review::eval::Scored;
use whet_review::paired::delong_test;

fn normal(rng: &mut Rng) -> f64 {
    let (u, v) = (1.0 - rng.next_f64(), rng.next_f64());
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: f64| {
        args.get(i)
            .and_then(|a| a.parse::<f64>().ok())
            .unwrap_or(default)
    };
    let replicates = num(0, 200.0) as usize;
    let rows = num(1, 1000.0) as usize;
    let resamples = num(2, 1000.0) as usize;
    let blb_min_rows = std::env::var("WHET_BLB_MIN_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(whet_review::bootstrap::BLB_MIN_ROWS);
    let mut noises: Vec<f64> = args.iter().skip(3).filter_map(|a| a.parse().ok()).collect();
    if noises.is_empty() {
        noises = vec![1.0, 0.5];
    }
    println!(
        "| challenger noise (champion 1.0) | replicates | rows | resamples | interval | mean AUC gain | mean interval width | interval covers 0 | interval covers the true gain | verdict better | verdict worse | DeLong p < 0.05 | seconds |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &noise in &noises {
        let started = std::time::Instant::now();
        // The true AUC gain of this noise level: both models on one large sample.
        let truth = {
            let mut rng = Rng::new(1_000_003);
            let n = 400_000;
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
                .map(|s| sigmoid(s + noise * normal(&mut rng)))
                .collect();
            let auc = |p: Vec<f64>| scored(&y, p).value_of("roc_auc").unwrap_or(f64::NAN);
            auc(b) - auc(a)
        };
        let (mut covers0, mut covers_truth, mut better, mut worse, mut delong) = (0, 0, 0, 0, 0);
        let (mut gain_sum, mut width_sum) = (0.0, 0.0);
        let mut kind = "";
        for r in 0..replicates {
            let mut rng = Rng::new(42).fork(r as u64);
            let signal: Vec<f64> = (0..rows).map(|_| normal(&mut rng)).collect();
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
                .map(|s| sigmoid(s + noise * normal(&mut rng)))
                .collect();
            if let Some(t) = delong_test(&y, &a, &b) {
                delong += usize::from(t.p_value < 0.05);
            }
            let spec = BootstrapSpec {
                resamples,
                seed: r as u64,
                confidence: 0.95,
                blb_min_rows,
            };
            let g = gains(&scored(&y, a), &scored(&y, b), &spec);
            let auc = &g[0].gain;
            kind = g[0].interval.label();
            gain_sum += auc.value;
            width_sum += auc.hi - auc.lo;
            covers0 += usize::from(auc.contains(0.0));
            covers_truth += usize::from(auc.contains(truth));
            match Verdict::from_gain(auc, 0.0) {
                Verdict::Better => better += 1,
                Verdict::Worse => worse += 1,
                Verdict::Indistinguishable => {}
            }
        }
        let pct = |k: usize| format!("{:.1}%", 100.0 * k as f64 / replicates as f64);
        println!(
            "| {noise} | {replicates} | {rows} | {resamples} | {kind} | {:+.4} (true {truth:+.4}) | {:.4} | {} | {} | {} | {} | {} | {:.1} |",
            gain_sum / replicates as f64,
            width_sum / replicates as f64,
            pct(covers0),
            pct(covers_truth),
            pct(better),
            pct(worse),
            pct(delong),
            started.elapsed().as_secs_f64()
        );
    }
}
