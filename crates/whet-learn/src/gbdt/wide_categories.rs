//! Categorical features of more than 255 levels, end to end: their bins are u16 (see
//! `binning`), and a split's category set spans several 256-bin blocks (see `tree::Node`).

use whet_data::Task;
use whet_data::prep::{FeatureData, Features, MISSING_CODE};

use super::flat::FlatForest;
use super::test_data::{level_is_positive, set, wide_categorical};
use super::tree::{DenseRow, Tree, code_to_f32};
use super::{GbdtModel, GbdtParams, fit_gbdt};
use crate::binning::BinnedData;

fn params() -> GbdtParams {
    GbdtParams {
        num_iterations: 40,
        ..GbdtParams::default()
    }
}

fn fit(x: &Features, y: &[f64]) -> GbdtModel {
    let binned = BinnedData::fit(x, 255).unwrap();
    fit_gbdt(&set(x, y, Task::Binary, 2), &binned, None, &params()).unwrap()
}

fn codes(x: &Features) -> &[u32] {
    match &x.columns[0].data {
        FeatureData::Categorical { codes, .. } => codes,
        FeatureData::Numeric(_) => unreachable!("the first feature is the categorical one"),
    }
}

/// Of the rows whose level is past 255, the share the model puts on their level's side.
fn accuracy_past_255(m: &GbdtModel, x: &Features) -> f64 {
    let raw = m.predict_raw(x);
    let past: Vec<(u32, f64)> = codes(x)
        .iter()
        .zip(&raw)
        .filter(|(c, _)| **c > 255)
        .map(|(&c, &r)| (c, r))
        .collect();
    let right = past
        .iter()
        .filter(|&&(c, r)| (r > 0.0) == level_is_positive(c))
        .count();
    right as f64 / past.len() as f64
}

#[test]
fn levels_past_255_get_bins_of_their_own_and_the_trees_split_them() {
    let (x, y) = wide_categorical(20_000, 700, 1);
    let binned = BinnedData::fit(&x, 255).unwrap();
    let m = &binned.mappers[0];
    assert!(m.is_wide() && m.is_categorical());
    assert_eq!((m.n_value_bins, m.missing_index()), (700, 700));
    let wide = binned.wide[0].as_ref().unwrap();
    assert!(codes(&x).iter().zip(wide).all(|(&c, &b)| c == u32::from(b)));
    assert!((0..x.n_rows).all(|r| binned.bin(r, 0) == codes(&x)[r] as usize));
    // The placeholder bytes, and a narrow feature as before.
    assert!(binned.columns[0].iter().all(|&b| b == 0));
    assert!(binned.wide[1].is_none() && !binned.mappers[1].is_wide());
    // Levels are kept, past 255 too, until they cover 99% of the rows (the rarest ~1% go).
    let kept = &binned.categorical_bins_kept(crate::data::Rows::span(0, x.n_rows), 255, 3, 0)[0];
    assert_eq!(kept.len(), 701usize.div_ceil(64));
    let n_kept: u32 = kept.iter().map(|w| w.count_ones()).sum();
    assert!((680..700).contains(&n_kept), "{n_kept}");
    assert!(kept.iter().skip(4).any(|&w| w != 0));

    let model = fit(&x, &y);
    assert!(model.trees.iter().any(Tree::has_wide_sets));
    let wide_acc = accuracy_past_255(&model, &x);
    // The same rows with the levels past 255 merged into one, as a 255-level cap would.
    let mut capped = x.clone();
    if let FeatureData::Categorical {
        codes,
        n_categories,
    } = &mut capped.columns[0].data
    {
        codes.iter_mut().for_each(|c| *c = (*c).min(255));
        *n_categories = 256;
    }
    let capped_acc = accuracy_past_255(&fit(&capped, &y), &x);
    assert!(wide_acc > 0.95, "{wide_acc}");
    assert!(capped_acc < 0.7, "{capped_acc}");
}

#[test]
fn wide_splits_predict_alike_from_bins_trees_and_the_flat_forest() {
    let (x, y) = wide_categorical(20_000, 700, 2);
    let model = fit(&x, &y);
    assert!(model.trees.iter().any(Tree::has_wide_sets));
    assert!(FlatForest::new(&model.trees, 1).is_some());
    // Every block's edges, the last level, unseen levels past it, and missing values.
    let edge_codes = [
        0,
        1,
        255,
        256,
        257,
        511,
        512,
        513,
        698,
        699,
        700,
        5000,
        MISSING_CODE,
    ];
    let mut new = x.clone();
    new.n_rows = edge_codes.len() * 40;
    if let FeatureData::Categorical { codes, .. } = &mut new.columns[0].data {
        *codes = (0..new.n_rows)
            .map(|i| edge_codes[i % edge_codes.len()])
            .collect();
    }
    if let FeatureData::Numeric(v) = &mut new.columns[1].data {
        v.truncate(new.n_rows);
        v[7] = f32::NAN;
    }
    let flat = model.predict_raw(&new);
    let binned = BinnedData::with_mappers(&new, model.mappers.clone());
    let max_code: Vec<u32> = model.mappers.iter().map(|m| m.n_value_bins - 1).collect();
    for r in 0..new.n_rows {
        let from_bins: f64 = model.init_score[0]
            + model
                .trees
                .iter()
                .map(|t| t.leaf_value[t.leaf_index_binned(&binned, r)])
                .sum::<f64>();
        let FeatureData::Numeric(v) = &new.columns[1].data else {
            unreachable!()
        };
        let values = [code_to_f32(codes(&new)[r]), v[r]];
        let row = DenseRow {
            values: &values,
            max_code: &max_code,
        };
        let from_trees: f64 = model.init_score[0]
            + model
                .trees
                .iter()
                .map(|t| t.leaf_value[t.leaf_index(&row)])
                .sum::<f64>();
        assert!((from_bins - flat[r]).abs() < 1e-9, "row {r}");
        assert!((from_trees - flat[r]).abs() < 1e-9, "row {r}");
    }
}

#[test]
fn wide_fits_are_the_same_on_any_thread_count() {
    let (x, y) = wide_categorical(30_000, 900, 3);
    let fits: Vec<GbdtModel> = [1, 3]
        .iter()
        .map(|&threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| fit(&x, &y))
        })
        .collect();
    assert!(fits[0].trees.iter().any(Tree::has_wide_sets));
    assert_eq!(fits[0].trees, fits[1].trees);
}

/// Class-share forests grow one tree for all classes on class histograms (see `classes`):
/// their wide categoricals' groups come from the u16 bins too.
#[test]
fn class_share_forests_split_wide_categoricals_too() {
    let (x, _) = wide_categorical(12_000, 600, 4);
    let class_of = |c: u32| f64::from((c.wrapping_mul(2_654_435_761) >> 7) % 3);
    let y: Vec<f64> = codes(&x).iter().map(|&c| class_of(c)).collect();
    let train_rows: Vec<u32> = (0..10_000).collect();
    let train = crate::data::TrainSet {
        rows: Some(&train_rows),
        ..set(&x, &y, Task::Multiclass, 3)
    };
    let binned = BinnedData::fit(&x, 255).unwrap();
    for boosting in [super::Boosting::Rf, super::Boosting::Et] {
        let p = GbdtParams {
            num_iterations: 10,
            min_data_per_group: 1,
            cat_smooth: 1.0,
            cat_l2: 0.0,
            ..GbdtParams::for_mode(boosting)
        };
        let fit = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| fit_gbdt(&train, &binned, None, &p).unwrap())
        };
        let one = fit(1);
        assert_eq!(one, fit(3), "{boosting:?}");
        assert!(one.trees.iter().any(Tree::has_wide_sets), "{boosting:?}");
        let classes = one.predict(&x).classes();
        let held_out: Vec<usize> = (10_000..12_000).filter(|&r| codes(&x)[r] > 255).collect();
        let right = held_out
            .iter()
            .filter(|&&r| classes[r] as f64 == y[r])
            .count();
        let acc = right as f64 / held_out.len() as f64;
        assert!(acc > 0.8, "{boosting:?}: {acc}");
    }
}
