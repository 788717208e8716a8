//! Times binning, fitting, batch prediction and single-row prediction of the GBDT on a CSV file:
//! `cargo run --release -p whet-learn --example gbdt_speed -- FILE TARGET [ROUNDS [TEST_FILE]]`.
//! `fit_seconds` counts binning and boosting (as LightGBM's Dataset construction and training);
//! with TEST_FILE the JSON line also holds `test_auc` (binary targets) or `test_log_loss`
//! (multiclass targets, whose `train_auc` is left out).
//! bench/gbdt_vs_lightgbm.sh runs it beside LightGBM. With `WHET_GBDT_PROFILE=1` the JSON line
//! also holds the fit's time per phase (`profile`, seconds).
//!
//! `WHET_GBDT_PARAMS=key=value,...` sets LightGBM-named parameters on top of the defaults.
//! `WHET_FIT_ONLY=N` fits N more times, prints every fit's seconds and stops (for `perf`).
//!
//! Memory (Linux): `fit_peak_mb` is the process's peak resident memory during binning and the
//! fit less its resident memory before them (the loaded table and features), measured by
//! resetting the kernel's high-water mark (`/proc/self/clear_refs`); `binned_mb` is the size of
//! one binned matrix (rows × features bytes) and `gradients_mb` of the fit's gradient pairs.
//!
//! `one_row_predict_us` times `GbdtModel::predict` on one-row tables (a served request after
//! prep), where `single_row_us` times `predict_raw_row` on a dense row.
//!
//! With TEST_FILE the line also holds batch prediction times on the test rows with 1 and 2
//! threads (`batch_1t_seconds`, `batch_2t_seconds`: median of `WHET_BATCH_REPS`, default 5,
//! probabilities from the in-memory features). `WHET_LGBM_DIR=DIR` writes the fitted trees as a
//! LightGBM text model (`model.txt`), the test features row-major as little-endian f32
//! (`test_x.f32`) and whet's raw test scores as f64 (`whet_raw.f64`), so bench/lgbm_predict.c
//! can time LightGBM on exactly the same trees and check that it agrees.

use std::path::Path;
use std::time::Instant;

#[path = "common/labelled.rs"]
mod labelled;
#[path = "common/lightgbm_text.rs"]
mod lightgbm_text;

use labelled::load_labelled;
use whet_data::prep::{Feature, FeatureData, Features, Prep, PrepOptions};
use whet_learn::binning::BinnedData;
use whet_learn::data::TrainSet;
use whet_learn::gbdt::tree::{DenseRow, code_to_f32};
use whet_learn::gbdt::{GbdtModel, GbdtParams, fit_gbdt, take_fit_profile};

fn mb(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The process's resident memory from `/proc/self/status` (Linux only; None elsewhere).
mod memory {
    fn status_kb(key: &str) -> Option<usize> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// Resets the peak (VmHWM) to the current resident size and returns that size in bytes.
    pub fn reset_peak() -> Option<usize> {
        std::fs::write("/proc/self/clear_refs", "5").ok()?;
        status_kb("VmRSS:").map(|kb| kb * 1024)
    }

    /// Peak resident bytes since the last reset.
    pub fn peak() -> Option<usize> {
        status_kb("VmHWM:").map(|kb| kb * 1024)
    }
}

/// Median seconds of `reps` runs of `f` in a pool of `threads` threads.
fn median_seconds(
    threads: usize,
    reps: usize,
    f: impl Fn() + Sync,
) -> Result<f64, Box<dyn std::error::Error>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let mut runs: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let started = Instant::now();
            pool.install(&f);
            started.elapsed().as_secs_f64()
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    Ok(runs[runs.len() / 2])
}

/// Writes `DIR/{model.txt, test_x.f32, whet_raw.f64}` (see the file's doc).
fn write_lightgbm_files(
    dir: &Path,
    m: &GbdtModel,
    x: &Features,
    tx: &Features,
) -> Result<(), Box<dyn std::error::Error>> {
    let numeric = |f: &Features| -> Result<Vec<Vec<f32>>, String> {
        f.columns
            .iter()
            .map(|c| match &c.data {
                FeatureData::Numeric(v) => Ok(v.clone()),
                FeatureData::Categorical { .. } => {
                    Err(format!("feature '{}' is categorical", c.name))
                }
            })
            .collect()
    };
    let (train, test) = (numeric(x)?, numeric(tx)?);
    let mut counted = m.clone();
    lightgbm_text::use_counts_as_covers(&mut counted);
    let columns: Vec<&[f32]> = train.iter().map(Vec::as_slice).collect();
    let text = lightgbm_text::model_text(&counted, &lightgbm_text::ranges(&columns))?;
    let mut rows = Vec::with_capacity(tx.n_rows * test.len() * 4);
    for r in 0..tx.n_rows {
        for c in &test {
            rows.extend_from_slice(&c[r].to_le_bytes());
        }
    }
    let raw: Vec<u8> = m
        .predict_raw(tx)
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, bytes) in [
        ("model.txt", text.as_bytes()),
        ("test_x.f32", &rows),
        ("whet_raw.f64", &raw),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (file, target) = (&args[1], &args[2]);
    let rounds: usize = args.get(3).map_or(Ok(100), |r| r.parse())?;
    let t = load_labelled(file, target)?;
    // Every level of a categorical column, as `whet fit` keeps them for the tree learners.
    let options = whet_learn::binning::keeping_every_level(PrepOptions::default());
    let prep = Prep::fit(&t.table, Some((target, t.task)), &options)?;
    let x = prep.transform(&t.table)?.features;
    let y = prep.transform_target(&t.table)?;
    let n_classes = prep.target.as_ref().map_or(1, |s| s.classes.len().max(1));
    let mut params = GbdtParams {
        num_iterations: rounds,
        ..GbdtParams::default()
    };
    // `WHET_GBDT_PARAMS="use_quantized_grad=true,num_grad_quant_bins=8"`: LightGBM-named
    // parameters on top of the defaults.
    for pair in std::env::var("WHET_GBDT_PARAMS")
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.trim().is_empty())
    {
        let (k, v) = pair
            .split_once('=')
            .ok_or("WHET_GBDT_PARAMS: use key=value,...")?;
        if !params.set(k, v)? {
            return Err(format!("WHET_GBDT_PARAMS: unknown parameter {k}").into());
        }
    }
    let bin = || {
        BinnedData::fit_layout(
            &x,
            params.max_bin,
            params.min_data_in_bin,
            params.seed,
            params.bin_layout(),
        )
    };
    let rss_before_fit = memory::reset_peak();
    let started = Instant::now();
    let binned = bin()?;
    let bin_s = started.elapsed().as_secs_f64();
    let data = TrainSet {
        x: &x,
        y: &y,
        weight: None,
        rows: None,
        task: t.task,
        n_classes,
    };
    let m = fit_gbdt(&data, &binned, None, &params)?;
    let fit_s = started.elapsed().as_secs_f64();
    let memory = match (rss_before_fit, memory::peak()) {
        (Some(before), Some(peak)) => format!(
            ", \"rss_before_fit_mb\": {:.1}, \"fit_peak_mb\": {:.1}, \"binned_mb\": {:.1}, \"gradients_mb\": {:.1}",
            mb(before),
            mb(peak.saturating_sub(before)),
            mb(x.n_rows * x.n_features()),
            mb(x.n_rows * m.n_outputs * std::mem::size_of::<[f32; 2]>())
        ),
        _ => String::new(),
    };
    // For profilers: `WHET_FIT_ONLY=N` fits N more times and stops, so the samples are the fit's.
    if let Some(more) = std::env::var("WHET_FIT_ONLY")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        let mut runs = vec![fit_s];
        for _ in 0..more {
            let started = Instant::now();
            let binned = bin()?;
            std::hint::black_box(fit_gbdt(&data, &binned, None, &params)?);
            runs.push(started.elapsed().as_secs_f64());
        }
        println!("{{\"fit_seconds_runs\": {runs:?}}}");
        return Ok(());
    }
    let profile = take_fit_profile().map_or(String::new(), |p| {
        format!(
            ", \"profile\": {{\"gradients\": {:.4}, \"histograms\": {:.4}, \"splits\": {:.4}, \"partition\": {:.4}, \"scores\": {:.4}, \"losses\": {:.4}, \"boost_total\": {:.4}}}",
            p.gradients, p.histograms, p.splits, p.partition, p.scores, p.losses, p.total
        )
    });
    let started = Instant::now();
    let p = m.predict(&x);
    let pred_s = started.elapsed().as_secs_f64();
    let multiclass = n_classes > 2;
    // Train AUC, or for multiclass the train log loss (AUC does not apply).
    let train_score = if multiclass {
        format!(
            "\"train_log_loss\": {:.10}",
            whet_learn::metrics::log_loss(&y, &p.values, n_classes, None)
        )
    } else {
        format!(
            "\"train_auc\": {:.6}",
            whet_learn::metrics::roc_auc(&y, &p.values, None)
        )
    };
    let mut test_auc = String::new();
    if let Some(test_file) = args.get(4) {
        let t = load_labelled(test_file, target)?;
        let tx = prep.transform(&t.table)?.features;
        let ty = prep.transform_target(&t.table)?;
        let tp = m.predict(&tx);
        test_auc = if multiclass {
            format!(
                ", \"test_log_loss\": {:.10}",
                whet_learn::metrics::log_loss(&ty, &tp.values, n_classes, None)
            )
        } else {
            format!(
                ", \"test_auc\": {:.6}",
                whet_learn::metrics::roc_auc(&ty, &tp.values, None)
            )
        };
        let reps: usize = std::env::var("WHET_BATCH_REPS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(5);
        for threads in [1, 2] {
            let s = median_seconds(threads, reps, || {
                std::hint::black_box(m.predict(&tx));
            })?;
            test_auc.push_str(&format!(", \"batch_{threads}t_seconds\": {s:.5}"));
        }
        test_auc.push_str(&format!(", \"batch_rows\": {}", tx.n_rows));
        if let Some(dir) = std::env::var_os("WHET_LGBM_DIR") {
            write_lightgbm_files(Path::new(&dir), &m, &x, &tx)?;
        }
    }

    // Single-row latency: rows gathered into dense buffers first, as a serving path holds them.
    let n_probe = x.n_rows.min(20_000);
    let nf = x.n_features();
    let mut dense = vec![0f32; n_probe * nf];
    for (f, c) in x.columns.iter().enumerate() {
        for r in 0..n_probe {
            dense[r * nf + f] = match &c.data {
                FeatureData::Numeric(v) => v[r],
                FeatureData::Categorical { codes, .. } => code_to_f32(codes[r]),
            };
        }
    }
    let max_codes: Vec<u32> = m
        .mappers
        .iter()
        .map(|b| b.n_value_bins.saturating_sub(1))
        .collect();
    // One pass over the probe rows takes ~0.1 s, short enough for other processes on a shared
    // machine to skew it; the median and minimum of several passes are steadier.
    let reps: usize = std::env::var("WHET_ROW_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(15)
        .max(1);
    let mut out = vec![0.0; m.n_outputs];
    let mut checksum = 0.0;
    let mut pass_us = Vec::with_capacity(reps);
    for rep in 0..reps {
        let started = Instant::now();
        for r in 0..n_probe {
            let row = DenseRow {
                values: &dense[r * nf..(r + 1) * nf],
                max_code: &max_codes,
            };
            m.predict_raw_row(&row, &mut out);
            if rep == 0 {
                checksum += out[0];
            }
        }
        pass_us.push(started.elapsed().as_secs_f64() * 1e6 / n_probe as f64);
    }
    pass_us.sort_by(f64::total_cmp);
    let row_us = pass_us[reps / 2];
    let row_min_us = pass_us[0];

    // One-row requests through `predict` (the serving path after prep: Features in,
    // probabilities out), median over passes of 2,000 one-row tables made beforehand.
    let one_row: Vec<Features> = (0..x.n_rows.min(2_000))
        .map(|r| Features {
            n_rows: 1,
            columns: x
                .columns
                .iter()
                .map(|c| Feature {
                    name: c.name.clone(),
                    data: match &c.data {
                        FeatureData::Numeric(v) => FeatureData::Numeric(vec![v[r]]),
                        FeatureData::Categorical {
                            codes,
                            n_categories,
                        } => FeatureData::Categorical {
                            codes: vec![codes[r]],
                            n_categories: *n_categories,
                        },
                    },
                })
                .collect(),
        })
        .collect();
    let mut request_us: Vec<f64> = (0..reps)
        .map(|_| {
            let started = Instant::now();
            for f in &one_row {
                std::hint::black_box(m.predict(f));
            }
            started.elapsed().as_secs_f64() * 1e6 / one_row.len().max(1) as f64
        })
        .collect();
    request_us.sort_by(f64::total_cmp);
    let request_us = request_us[reps / 2];
    println!(
        "{{\"bin_seconds\": {bin_s:.4}, \"fit_seconds\": {fit_s:.4}, \"predict_seconds\": {pred_s:.4}, \"single_row_us\": {row_us:.3}, \"single_row_min_us\": {row_min_us:.3}, \"one_row_predict_us\": {request_us:.3}, \"row_reps\": {reps}, {train_score}, \"trees\": {}, \"checksum\": {checksum:.3}, \"checksum_bits\": \"{:016x}\"{test_auc}{profile}{memory}}}",
        m.trees.len(),
        checksum.to_bits()
    );
    Ok(())
}
