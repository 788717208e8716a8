//! k-nearest neighbours: brute-force Euclidean search on the [`Encoder`] design (standardized
//! numeric features with missing indicators, capped one-hot categories).
//!
//! Written here rather than taken from `linfa` + `ndarray` for the same reasons as the linear
//! models: small, pure Rust, and full control of missing values, categorical features and
//! sample weights.
//!
//! Prediction finds, for every query row, the `k` training rows with the smallest squared
//! Euclidean distance by a partial selection (`select_nth_unstable_by`, O(n) per query, no
//! full sort); rows are processed in parallel with rayon. Ties are broken by training-row
//! position (the order of the training set's rows), so results are deterministic. The
//! neighbours vote with their sample weight, times `1 / distance` with
//! [`KnnWeights::Distance`]; when some neighbours are at distance 0 only those vote (as in
//! scikit-learn). Classification outputs the weighted vote shares as probabilities,
//! regression the weighted mean. Training rows with weight 0 are not stored.

use std::cmp::Ordering;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use whet_data::Task;
use whet_data::prep::Features;

use crate::data::{Predictions, TrainSet, check_train_set};
use crate::encode::Encoder;
use crate::error::{LearnError, Result};
use crate::param_text as text;

/// How neighbours' votes are weighted (on top of sample weights).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KnnWeights {
    Uniform,
    /// By inverse distance.
    Distance,
}

impl KnnWeights {
    pub fn parse(s: &str) -> Option<KnnWeights> {
        match s.trim().to_ascii_lowercase().as_str() {
            "uniform" => Some(KnnWeights::Uniform),
            "distance" => Some(KnnWeights::Distance),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KnnWeights::Uniform => "uniform",
            KnnWeights::Distance => "distance",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnParams {
    /// Number of neighbours (≥ 1, at most the number of training rows).
    pub k: usize,
    pub weights: KnnWeights,
    /// How categorical features become numbers (one-hot, ordinal or target). One-hot is
    /// not written, so models from before the choice existed encode as they did.
    #[serde(
        default,
        skip_serializing_if = "crate::encode::CatEncoding::is_one_hot"
    )]
    pub cat_encoding: crate::encode::CatEncoding,
}

impl Default for KnnParams {
    fn default() -> Self {
        KnnParams {
            k: 15,
            weights: KnnWeights::Distance,
            cat_encoding: crate::encode::CatEncoding::OneHot,
        }
    }
}

fn check_k(name: &str, k: usize) -> Result<()> {
    if k >= 1 {
        Ok(())
    } else {
        Err(LearnError::param(
            name,
            k,
            "must be at least 1",
            "use e.g. k=15",
        ))
    }
}

impl KnnParams {
    /// The parameter names `set` takes.
    pub const NAMES: &'static [&'static str] = &["k", "weights", "cat_encoding"];

    /// Sets one parameter from text. Returns `Ok(false)` for a key that is not a kNN
    /// parameter; keys: `k` (alias `n_neighbors`), `weights` (`uniform` or `distance`),
    /// `cat_encoding` (`onehot`, `ordinal` or `target`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "k" | "n_neighbors" => {
                let k = text::value(key, value)?;
                check_k(key, k)?;
                self.k = k;
            }
            "weights" => {
                self.weights = KnnWeights::parse(value).ok_or_else(|| {
                    LearnError::param(
                        key,
                        value,
                        "unknown neighbour weighting",
                        "use weights=uniform or weights=distance",
                    )
                })?;
            }
            "cat_encoding" => self.cat_encoding = crate::encode::parse_cat_encoding(key, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub fn validate(&self) -> Result<()> {
        check_k("k", self.k)
    }
}

/// A fitted k-nearest-neighbours model: the encoder and the encoded training rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnModel {
    encoder: Encoder,
    params: KnnParams,
    task: Task,
    n_classes: usize,
    /// Encoded training rows, row-major `n_train × encoder.width()`.
    x: Vec<f64>,
    y: Vec<f64>,
    weight: Vec<f64>,
}

/// Stores the training rows of `data` (encoded). Errors when `k` exceeds the number of
/// training rows with positive weight.
pub fn fit_knn(data: &TrainSet, params: &KnnParams) -> Result<KnnModel> {
    params.validate()?;
    check_train_set(data)?;
    let (encoder, training) = Encoder::fit_for_training(data, params.cat_encoding)?;
    let width = encoder.width();
    let rows: Vec<usize> = (0..data.n_rows())
        .map(|i| data.row(i))
        .filter(|&r| data.weight_of(r) > 0.0)
        .collect();
    if params.k > rows.len() {
        return Err(LearnError::param(
            "k",
            params.k,
            format!(
                "more neighbours than the {} training rows{}",
                rows.len(),
                if rows.len() < data.n_rows() {
                    " with positive weight"
                } else {
                    ""
                }
            ),
            format!("use k ≤ {}", rows.len()),
        ));
    }
    let mut x = vec![0.0; rows.len() * width];
    if width > 0 {
        for (out, &r) in x.chunks_exact_mut(width).zip(&rows) {
            encoder.encode_row(data.x, r, out);
            training.apply(r, out);
        }
    }
    Ok(KnnModel {
        encoder,
        params: params.clone(),
        task: data.task,
        n_classes: data.n_classes,
        x,
        y: rows.iter().map(|&r| data.y[r]).collect(),
        weight: rows.iter().map(|&r| data.weight_of(r)).collect(),
    })
}

/// Orders candidates by squared distance, then by training-row position.
#[inline]
fn by_distance(a: &(f64, u32), b: &(f64, u32)) -> Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

impl KnnModel {
    pub fn task(&self) -> Task {
        self.task
    }

    pub fn params(&self) -> &KnnParams {
        &self.params
    }

    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// Number of classes (2 for binary), 1 for regression.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    pub fn n_outputs(&self) -> usize {
        match self.task {
            Task::Multiclass => self.n_classes,
            Task::Binary | Task::Regression => 1,
        }
    }

    /// Number of stored training rows.
    pub fn n_train(&self) -> usize {
        self.y.len()
    }

    pub fn predict(&self, x: &Features) -> Predictions {
        let k = self.n_outputs();
        let width = self.encoder.width();
        let mut values = vec![0.0; x.n_rows * k];
        values.par_chunks_mut(k).enumerate().for_each_init(
            || (vec![0.0; width], Vec::with_capacity(self.n_train())),
            |(query, candidates), (row, out)| {
                self.encoder.encode_row(x, row, query);
                self.predict_encoded(query, candidates, out);
            },
        );
        Predictions {
            n_rows: x.n_rows,
            n_outputs: k,
            values,
        }
    }

    /// Writes the prediction for `row` into `out[..n_outputs]`. Allocates its scratch space
    /// per call; prefer [`KnnModel::predict`] for many rows.
    pub fn predict_row(&self, x: &Features, row: usize, out: &mut [f64]) {
        let mut query = vec![0.0; self.encoder.width()];
        self.encoder.encode_row(x, row, &mut query);
        let mut candidates = Vec::with_capacity(self.n_train());
        self.predict_encoded(&query, &mut candidates, &mut out[..self.n_outputs()]);
    }

    /// The `k` nearest training rows of an encoded query as (squared distance, position),
    /// in `candidates[..k]` (unordered).
    fn neighbours(&self, query: &[f64], candidates: &mut Vec<(f64, u32)>) {
        let width = query.len();
        candidates.clear();
        if width == 0 {
            candidates.extend((0..self.n_train() as u32).map(|i| (0.0, i)));
        } else {
            candidates.extend(self.x.chunks_exact(width).enumerate().map(|(i, t)| {
                let d: f64 = t.iter().zip(query).map(|(a, b)| (a - b) * (a - b)).sum();
                (d, i as u32)
            }));
        }
        let k = self.params.k.min(candidates.len());
        if k < candidates.len() {
            candidates.select_nth_unstable_by(k - 1, by_distance);
        }
        candidates.truncate(k);
    }

    fn predict_encoded(&self, query: &[f64], candidates: &mut Vec<(f64, u32)>, out: &mut [f64]) {
        self.neighbours(query, candidates);
        let exact = self.params.weights == KnnWeights::Distance
            && candidates.iter().any(|&(d, _)| d == 0.0);
        let vote = |(d, i): (f64, u32)| -> f64 {
            let w = self.weight[i as usize];
            match self.params.weights {
                KnnWeights::Uniform => w,
                KnnWeights::Distance if exact => {
                    if d == 0.0 {
                        w
                    } else {
                        0.0
                    }
                }
                KnnWeights::Distance => w / d.sqrt(),
            }
        };
        match self.task {
            Task::Regression => {
                let (mut sw, mut swy) = (0.0, 0.0);
                for &c in candidates.iter() {
                    let w = vote(c);
                    sw += w;
                    swy += w * self.y[c.1 as usize];
                }
                out[0] = swy / sw;
            }
            Task::Binary => {
                let (mut sw, mut pos) = (0.0, 0.0);
                for &c in candidates.iter() {
                    let w = vote(c);
                    sw += w;
                    if self.y[c.1 as usize] == 1.0 {
                        pos += w;
                    }
                }
                out[0] = pos / sw;
            }
            Task::Multiclass => {
                out.fill(0.0);
                let mut sw = 0.0;
                for &c in candidates.iter() {
                    let w = vote(c);
                    sw += w;
                    out[self.y[c.1 as usize] as usize] += w;
                }
                for o in out.iter_mut() {
                    *o /= sw;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::MIN_MISSING_ROWS;
    use whet_data::prep::{Feature, FeatureData, MISSING_CODE};

    fn num(name: &str, v: &[f32]) -> Feature {
        Feature {
            name: name.to_string(),
            data: FeatureData::Numeric(v.to_vec()),
        }
    }

    fn cat(name: &str, codes: &[u32], n_categories: u32) -> Feature {
        Feature {
            name: name.to_string(),
            data: FeatureData::Categorical {
                codes: codes.to_vec(),
                n_categories,
            },
        }
    }

    fn features(columns: Vec<Feature>) -> Features {
        let n_rows = match &columns[0].data {
            FeatureData::Numeric(v) => v.len(),
            FeatureData::Categorical { codes, .. } => codes.len(),
        };
        Features { n_rows, columns }
    }

    fn train<'a>(x: &'a Features, y: &'a [f64], task: Task, n_classes: usize) -> TrainSet<'a> {
        TrainSet {
            x,
            y,
            weight: None,
            rows: None,
            task,
            n_classes,
        }
    }

    fn params(k: usize, weights: KnnWeights) -> KnnParams {
        KnnParams {
            k,
            weights,
            ..KnnParams::default()
        }
    }

    // Eight points on a line (standardization keeps the order), three classes.
    const X: &[f32] = &[0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 20.0, 21.5];
    const Y3: &[f64] = &[0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0];

    #[test]
    fn k1_returns_the_nearest_training_label() {
        let x = features(vec![num("x", X)]);
        let m = fit_knn(
            &train(&x, Y3, Task::Multiclass, 3),
            &params(1, KnnWeights::Uniform),
        )
        .unwrap();
        // Training rows predict themselves.
        assert_eq!(
            m.predict(&x).classes(),
            Y3.iter().map(|&c| c as usize).collect::<Vec<_>>()
        );
        let q = features(vec![num("x", &[2.9, 9.0, 30.0, -5.0, 15.4, 15.6])]);
        let p = m.predict(&q);
        assert_eq!(p.classes(), vec![1, 1, 2, 0, 1, 2]);
        assert_eq!(p.row(0), &[0.0, 1.0, 0.0]);
        // Regression returns the neighbour's value.
        let yr: Vec<f64> = X.iter().map(|&v| f64::from(v) * 10.0 + 1.0).collect();
        let r = fit_knn(
            &train(&x, &yr, Task::Regression, 1),
            &params(1, KnnWeights::Distance),
        )
        .unwrap();
        let got = r.predict(&q).values;
        for (g, w) in got.iter().zip([31.0, 101.0, 216.0, 1.0, 111.0, 201.0]) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
    }

    #[test]
    fn k_equal_to_n_gives_class_shares() {
        let x = features(vec![num("x", X)]);
        let m = fit_knn(
            &train(&x, Y3, Task::Multiclass, 3),
            &params(8, KnnWeights::Uniform),
        )
        .unwrap();
        let q = features(vec![num("x", &[-100.0, 5.0, f32::NAN])]);
        let p = m.predict(&q);
        for i in 0..3 {
            assert_eq!(p.row(i), &[3.0 / 8.0, 3.0 / 8.0, 2.0 / 8.0]);
        }
        // Binary: share of class 1; weighted: weight shares.
        let yb = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0];
        let w = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 3.0];
        let mut set = train(&x, &yb, Task::Binary, 2);
        let b = fit_knn(&set, &params(8, KnnWeights::Uniform)).unwrap();
        assert_eq!(b.predict(&q).values, vec![0.5; 3]);
        set.weight = Some(&w);
        let b = fit_knn(&set, &params(8, KnnWeights::Uniform)).unwrap();
        assert_eq!(b.predict(&q).values, vec![0.4; 3]);
    }

    #[test]
    fn distance_weighting() {
        let x = features(vec![num("x", &[0.0, 1.0, 4.0, 6.0])]);
        let y = [0.0, 10.0, 20.0, 30.0];
        let m = fit_knn(
            &train(&x, &y, Task::Regression, 1),
            &params(2, KnnWeights::Distance),
        )
        .unwrap();
        // Query at 2.4: neighbours 1.0 and 4.0 at distances 1.4 and 1.6 (standardizing
        // scales both alike).
        let q = features(vec![num("x", &[2.4, 4.0, 2.0])]);
        let p = m.predict(&q).values;
        let (d1, d2) = (f64::from(2.4f32) - 1.0, 4.0 - f64::from(2.4f32));
        let want = (10.0 / d1 + 20.0 / d2) / (1.0 / d1 + 1.0 / d2);
        assert!((p[0] - want).abs() < 1e-12, "{p:?} vs {want}");
        // At 2.0 rows 0 and 2 tie at distance 2: the earlier row is the second neighbour.
        assert!((p[2] - 10.0 / 1.5).abs() < 1e-12, "{p:?}");
        // An exact match takes all the weight.
        assert_eq!(p[1], 20.0);
        let u = fit_knn(
            &train(&x, &y, Task::Regression, 1),
            &params(2, KnnWeights::Uniform),
        )
        .unwrap();
        assert_eq!(u.predict(&q).values, vec![15.0, 25.0, 5.0]);
    }

    #[test]
    fn ties_are_broken_by_training_row() {
        // Rows 0..4 all at the same point; k = 2 must pick rows 0 and 1.
        let x = features(vec![num("x", &[1.0, 1.0, 1.0, 1.0, 5.0])]);
        let y = [0.0, 1.0, 2.0, 2.0, 2.0];
        let m = fit_knn(
            &train(&x, &y, Task::Multiclass, 3),
            &params(2, KnnWeights::Uniform),
        )
        .unwrap();
        let q = features(vec![num("x", &[1.0, 0.0, 2.0])]);
        let p = m.predict(&q);
        for i in 0..3 {
            assert_eq!(p.row(i), &[0.5, 0.5, 0.0]);
        }
        // Equidistant between 0.0 and 2.0: the earlier row wins with k = 1.
        let x = features(vec![num("x", &[2.0, 0.0, 7.0])]);
        let y = [1.0, 0.0, 0.0];
        let m = fit_knn(
            &train(&x, &y, Task::Binary, 2),
            &params(1, KnnWeights::Distance),
        )
        .unwrap();
        assert_eq!(m.predict(&features(vec![num("x", &[1.0])])).values, [1.0]);
    }

    #[test]
    fn categorical_missing_and_unseen() {
        // Each feature misses on MIN_MISSING_ROWS rows, so each gets an indicator column.
        let nan = f32::NAN;
        let m_ = MISSING_CODE;
        let x = features(vec![
            num(
                "x",
                &[0.0, nan, 1.0, 2.0, nan, 4.0, nan, 5.0, nan, 6.0, nan, 7.0],
            ),
            cat("c", &[0, 0, 1, 1, m_, 2, m_, 2, m_, 1, m_, m_], 4),
        ]);
        let y = [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0];
        assert_eq!(
            MIN_MISSING_ROWS, 5,
            "the data above has five missing rows per feature"
        );
        let m = fit_knn(
            &train(&x, &y, Task::Binary, 2),
            &params(3, KnnWeights::Distance),
        )
        .unwrap();
        assert_eq!(
            m.encoder().names(),
            ["x", "x__missing", "c__1", "c__0", "c__2", "c__missing"]
        );
        let q = features(vec![
            num("x", &[f32::NAN, 2.0, 2.0, f32::INFINITY]),
            cat("c", &[3, MISSING_CODE, 77, 1], 4),
        ]);
        let p = m.predict(&q).values;
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)), "{p:?}");
        // predict_row agrees with the parallel predict.
        for (i, &want) in p.iter().enumerate() {
            let mut out = [f64::NAN];
            m.predict_row(&q, i, &mut out);
            assert_eq!(out[0], want);
        }
    }

    #[test]
    fn zero_weight_rows_and_subsets_are_not_neighbours() {
        let x = features(vec![num("x", X)]);
        let w = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0];
        let mut set = train(&x, Y3, Task::Multiclass, 3);
        set.weight = Some(&w);
        let m = fit_knn(&set, &params(1, KnnWeights::Uniform)).unwrap();
        assert_eq!(m.n_train(), 5);
        // 10.0 would be class 1 (rows 4, 5), which have weight 0: 2.0 (class 0) is nearest.
        let q = features(vec![num("x", &[10.0, 16.0])]);
        assert_eq!(m.predict(&q).classes(), vec![0, 2]);
        let rows = [0u32, 1, 2, 6, 7];
        let mut sub = train(&x, Y3, Task::Multiclass, 3);
        sub.rows = Some(&rows);
        let s = fit_knn(&sub, &params(1, KnnWeights::Uniform)).unwrap();
        assert_eq!(s.predict(&q).classes(), vec![0, 2]);
        // k larger than the usable rows is an error.
        let err = fit_knn(&set, &params(6, KnnWeights::Uniform))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("5 training rows with positive weight"),
            "{err}"
        );
    }

    #[test]
    fn larger_problem_matches_brute_force_sort() {
        let n = 500;
        let a: Vec<f32> = (0..n).map(|i| ((i * 37) % 101) as f32 / 7.0).collect();
        let b: Vec<f32> = (0..n).map(|i| ((i * 53) % 89) as f32 / 3.0).collect();
        let y: Vec<f64> = (0..n).map(|i| ((i * 7) % 4) as f64).collect();
        let x = features(vec![num("a", &a), num("b", &b)]);
        let m = fit_knn(
            &train(&x, &y, Task::Multiclass, 4),
            &params(7, KnnWeights::Distance),
        )
        .unwrap();
        let qa: Vec<f32> = (0..50).map(|i| i as f32 * 0.29).collect();
        let qb: Vec<f32> = (0..50).map(|i| 29.0 - i as f32 * 0.61).collect();
        let q = features(vec![num("a", &qa), num("b", &qb)]);
        let p = m.predict(&q);
        let width = m.encoder.width();
        let mut query = vec![0.0; width];
        for i in 0..50 {
            m.encoder.encode_row(&q, i, &mut query);
            let mut all: Vec<(f64, u32)> =
                m.x.chunks_exact(width)
                    .enumerate()
                    .map(|(j, t)| {
                        let d = t.iter().zip(&query).map(|(a, b)| (a - b) * (a - b)).sum();
                        (d, j as u32)
                    })
                    .collect();
            all.sort_by(by_distance);
            let mut want = [0.0; 4];
            let mut total = 0.0;
            for &(d, j) in &all[..7] {
                let w = if d == 0.0 { 1e300 } else { 1.0 / d.sqrt() };
                want[y[j as usize] as usize] += w;
                total += w;
            }
            for (g, w) in p.row(i).iter().zip(want) {
                assert!((g - w / total).abs() < 1e-12);
            }
            assert!((p.row(i).iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn serde_round_trip() {
        let x = features(vec![num("x", X), cat("c", &[0, 1, 0, 1, 0, 1, 0, 1], 3)]);
        let m = fit_knn(
            &train(&x, Y3, Task::Multiclass, 3),
            &KnnParams::default().tap_k(3),
        )
        .unwrap();
        let bytes = rmp_serde::to_vec(&m).unwrap();
        let back: KnnModel = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, m);
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"distance\""), "{json}");
        let back: KnnModel = serde_json::from_str(&json).unwrap();
        assert_eq!(back.predict(&x).classes(), m.predict(&x).classes());
    }

    #[test]
    fn bad_params_are_errors() {
        let mut p = KnnParams::default();
        assert_eq!((p.k, p.weights), (15, KnnWeights::Distance));
        assert!(p.set("n_neighbors", "4").unwrap());
        assert!(p.set("weights", "Uniform").unwrap());
        assert_eq!(p, params(4, KnnWeights::Uniform));
        assert!(!p.set("alpha", "1").unwrap());
        for (k, v) in [
            ("k", "0"),
            ("k", "-2"),
            ("k", "many"),
            ("weights", "gaussian"),
        ] {
            let err = p.set(k, v).unwrap_err().to_string();
            assert!(err.contains(k) && err.contains("hint"), "{err}");
        }
        assert!(params(0, KnnWeights::Uniform).validate().is_err());
        let x = features(vec![num("x", X)]);
        let set = train(&x, Y3, Task::Multiclass, 3);
        assert!(fit_knn(&set, &params(0, KnnWeights::Uniform)).is_err());
        let err = fit_knn(&set, &params(9, KnnWeights::Uniform))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("k = 9") && err.contains("8 training rows"),
            "{err}"
        );
        assert!(fit_knn(&set, &params(8, KnnWeights::Uniform)).is_ok());
        let bad_y = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 3.0];
        assert!(
            fit_knn(
                &train(&x, &bad_y, Task::Multiclass, 3),
                &params(1, KnnWeights::Uniform)
            )
            .is_err()
        );
    }

    impl KnnParams {
        fn tap_k(mut self, k: usize) -> Self {
            self.k = k;
            self
        }
    }
}
