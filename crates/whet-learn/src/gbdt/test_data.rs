//! Synthetic data shared by the engine's tests.

use whet_data::Task;
use whet_data::prep::{Feature, FeatureData, Features};
use whet_data::rng::Rng;

use crate::data::TrainSet;

pub(super) fn numeric_features(cols: Vec<Vec<f32>>) -> Features {
    Features {
        n_rows: cols[0].len(),
        columns: cols
            .into_iter()
            .enumerate()
            .map(|(i, v)| Feature {
                name: format!("f{i}"),
                data: FeatureData::Numeric(v),
            })
            .collect(),
    }
}

pub(super) fn synthetic(n: usize, seed: u64) -> (Features, Vec<f64>, Vec<f64>) {
    let mut rng = Rng::new(seed);
    let mut cols: Vec<Vec<f32>> = (0..4).map(|_| Vec::with_capacity(n)).collect();
    let mut yreg = Vec::with_capacity(n);
    let mut ybin = Vec::with_capacity(n);
    for _ in 0..n {
        let a = rng.next_f64() as f32;
        let b = rng.next_f64() as f32;
        let c = rng.next_f64() as f32;
        let d = if rng.next_f64() < 0.1 {
            f32::NAN
        } else {
            rng.next_f64() as f32
        };
        let z = 3.0 * f64::from(a) - 2.0 * f64::from(b) * f64::from(b)
            + if d.is_nan() { 1.0 } else { f64::from(d) }
            + 0.1 * rng.next_f64();
        cols[0].push(a);
        cols[1].push(b);
        cols[2].push(c);
        cols[3].push(d);
        yreg.push(z);
        ybin.push(if z > 1.0 { 1.0 } else { 0.0 });
    }
    (numeric_features(cols), yreg, ybin)
}

pub(super) fn set<'a>(x: &'a Features, y: &'a [f64], task: Task, k: usize) -> TrainSet<'a> {
    TrainSet {
        x,
        y,
        weight: None,
        rows: None,
        task,
        n_classes: k,
    }
}

/// A categorical feature of `levels` levels (codes in random order, each about as frequent)
/// next to a numeric one of weak signal, and a binary target that follows the level: levels
/// whose hashed code is odd are 90% positive, the others 10%. Past 255 levels only wide bins
/// (see `binning`) tell the levels apart.
pub(super) fn wide_categorical(n: usize, levels: u32, seed: u64) -> (Features, Vec<f64>) {
    let mut rng = Rng::new(seed);
    let (mut codes, mut values, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let code = rng.below(u64::from(levels)) as u32;
        let v = rng.next_f64() as f32;
        let p = if level_is_positive(code) { 0.9 } else { 0.1 };
        let p = p + 0.05 * (f64::from(v) - 0.5);
        codes.push(code);
        values.push(v);
        y.push(f64::from(u8::from(rng.next_f64() < p)));
    }
    let x = Features {
        n_rows: n,
        columns: vec![
            Feature {
                name: "level".into(),
                data: FeatureData::Categorical {
                    codes,
                    n_categories: levels,
                },
            },
            Feature {
                name: "value".into(),
                data: FeatureData::Numeric(values),
            },
        ],
    };
    (x, y)
}

/// Which levels of [`wide_categorical`] are mostly positive.
pub(super) fn level_is_positive(code: u32) -> bool {
    (code.wrapping_mul(2_654_435_761) >> 7) & 1 == 1
}
