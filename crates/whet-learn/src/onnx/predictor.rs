//! Predictors as graph nodes. Each returns double `[N, width]` in the layout of
//! `Predictions`: the value (regression), p(last class) (binary) or one probability per class.

use std::collections::HashMap;

use whet_data::Task;

use super::graph::{Builder, ML};
use super::prep::{FeatureValue, PrepGraph};
use super::proto::{Attr, DOUBLE, TensorData};
use crate::encode::{EncodeStep, NO_COLUMN};
use crate::error::{LearnError, Result};
use crate::gbdt::GbdtModel;
use crate::gbdt::params::{Boosting, Objective};
use crate::gbdt::tree::Tree;
use crate::linear::LinearModel;
use crate::model::{EnsembleModel, Predictor};

/// TreeEnsemble (ai.onnx.ml 5) node modes.
const BRANCH_LEQ: u8 = 0;
const BRANCH_EQ: u8 = 4;

pub(crate) fn predictor(
    b: &mut Builder,
    prep: &mut PrepGraph,
    p: &Predictor,
    part: &str,
) -> Result<String> {
    match p {
        Predictor::Gbdt(m) => trees(b, prep, m, part),
        Predictor::Linear(m) => linear(b, prep, m, part),
        Predictor::Ensemble(m) => ensemble(b, prep, m, part),
        // Fitted on ln(1 + y): scale·e^p − 1 brings the prediction back to the target's units.
        Predictor::LogTarget(m) => {
            let p = predictor(b, prep, &m.inner, part)?;
            let mut e = b.op("Exp", &[&p], vec![]);
            if m.scale != 1.0 {
                let scale = b.scalar(m.scale);
                e = b.op("Mul", &[&e, &scale], vec![]);
            }
            let one = b.scalar(1.0);
            Ok(b.op("Sub", &[&e, &one], vec![]))
        }
        Predictor::Knn(_) => Err(LearnError::data(
            format!(
                "cannot export {part}: a k-nearest-neighbours model predicts from the training rows it stores, and ONNX has no operator that finds neighbours exactly"
            ),
            "train without kNN (`whet train --learners gbdt,rf,et,linear`), or serve this model with `whet serve`",
        )),
    }
}

fn ensemble(
    b: &mut Builder,
    prep: &mut PrepGraph,
    m: &EnsembleModel,
    part: &str,
) -> Result<String> {
    let total: f64 = m.members.iter().map(|m| m.weight).sum();
    let mut acc: Option<String> = None;
    for member in m.members.iter().filter(|m| m.weight > 0.0) {
        let name = format!("ensemble member '{}'", member.label);
        let mut p = predictor(b, prep, &member.predictor, &name)?;
        if let Some([low, high]) = m.clip {
            let low = b.scalar(low);
            let high = b.scalar(high);
            let above = b.op("Max", &[&p, &low], vec![]);
            p = b.op("Min", &[&above, &high], vec![]);
        }
        let w = b.scalar(member.weight / total);
        let term = b.op("Mul", &[&p, &w], vec![]);
        acc = Some(match acc {
            None => term,
            Some(a) => b.op("Add", &[&a, &term], vec![]),
        });
    }
    acc.ok_or_else(|| {
        LearnError::data(
            format!("cannot export {part}: the ensemble has no member with a positive weight"),
            "the model file is damaged; train it again",
        )
    })
}

/// A double `[N, 1]` of zeros, shaped like the first input.
fn zeros(b: &mut Builder, prep: &PrepGraph) -> String {
    let input = prep.first_input().to_string();
    let shape = b.op("Shape", &[&input], vec![]);
    b.op(
        "ConstantOfShape",
        &[&shape],
        vec![(
            "value",
            Attr::Tensor(super::proto::Tensor {
                name: String::new(),
                dims: vec![1],
                data: TensorData::Double(vec![0.0]),
            }),
        )],
    )
}

/// A feature as a double `[N, 1]`: categorical codes as numbers, NaN when missing (as the
/// trees' `DenseRow` holds them).
fn numeric_view(b: &mut Builder, v: &FeatureValue) -> String {
    match v {
        FeatureValue::Numeric(x) => x.clone(),
        FeatureValue::Categorical {
            index,
            n_categories,
        } => {
            let missing = b.i64s("missing", vec![], vec![i64::from(*n_categories)]);
            let is_missing = b.op("Equal", &[index, &missing], vec![]);
            let code = b.cast(index, DOUBLE);
            let nan = b.scalar(f64::NAN);
            let v = b.op("Where", &[&is_missing, &nan, &code], vec![]);
            let shape = b.i64s("shape", vec![2], vec![-1, 1]);
            b.op("Reshape", &[&v, &shape], vec![])
        }
    }
}

/// The trees as one TreeEnsemble over a matrix of the numeric features they split on and,
/// for each categorical split, a 0/1 column "the row's category goes left" (NaN when
/// missing), so that `BRANCH_EQ 1` with missing-tracks-true = default-left decides exactly
/// as `Tree::leaf_index` does. Numeric splits keep whet's f64 thresholds (`BRANCH_LEQ` on
/// double inputs, which hold the f32 feature values exactly).
fn trees(b: &mut Builder, prep: &mut PrepGraph, m: &GbdtModel, part: &str) -> Result<String> {
    let k = m.n_outputs.max(1);
    let scale = if m.boosting == Boosting::Gbdt {
        1.0
    } else {
        1.0 / m.n_iterations().max(1) as f64
    };
    let max_code = |f: usize| {
        m.mappers
            .get(f)
            .map_or(255, |mp| mp.n_value_bins.saturating_sub(1))
    };

    // Columns of the ensemble's input: numeric features, then category-set indicators.
    let mut numeric_cols: HashMap<u32, i64> = HashMap::new();
    let mut set_cols: HashMap<(u32, &[[u64; 4]]), usize> = HashMap::new();
    let mut sets_by_feature: Vec<(u32, Vec<&[[u64; 4]]>)> = Vec::new();
    let mut numeric_order: Vec<u32> = Vec::new();
    for t in &m.trees {
        for n in &t.nodes {
            if n.cat_set >= 0 {
                let set = Tree::category_set(n, &t.cat_sets);
                if let std::collections::hash_map::Entry::Vacant(e) =
                    set_cols.entry((n.feature, set))
                {
                    let at = match sets_by_feature.iter().position(|(f, _)| *f == n.feature) {
                        Some(i) => i,
                        None => {
                            sets_by_feature.push((n.feature, Vec::new()));
                            sets_by_feature.len() - 1
                        }
                    };
                    e.insert(sets_by_feature[at].1.len());
                    sets_by_feature[at].1.push(set);
                }
            } else if let std::collections::hash_map::Entry::Vacant(e) =
                numeric_cols.entry(n.feature)
            {
                e.insert(numeric_order.len() as i64);
                numeric_order.push(n.feature);
            }
        }
    }
    let mut blocks = Vec::new();
    for &f in &numeric_order {
        let v = prep.feature(b, f as usize)?;
        blocks.push(numeric_view(b, &v));
    }
    let mut set_base: HashMap<u32, i64> = HashMap::new();
    let mut width = numeric_order.len() as i64;
    for (f, sets) in &sets_by_feature {
        let FeatureValue::Categorical {
            index,
            n_categories,
        } = prep.feature(b, *f as usize)?
        else {
            return Err(LearnError::data(
                format!(
                    "cannot export {part}: it splits numeric feature '{}' by category sets",
                    m.feature_names.get(*f as usize).map_or("?", String::as_str)
                ),
                "the model does not match its Prep; train it again",
            ));
        };
        let rows = n_categories as usize + 1;
        let mut table = Vec::with_capacity(rows * sets.len());
        for c in 0..rows {
            for set in sets {
                table.push(if c == n_categories as usize {
                    f64::NAN
                } else {
                    f64::from(u8::from(Tree::in_category_set(
                        set,
                        (c as u32).min(max_code(*f as usize)),
                    )))
                });
            }
        }
        let t = b.f64s("sets", vec![rows as i64, sets.len() as i64], table);
        blocks.push(b.op("Gather", &[&t, &index], vec![("axis", Attr::Int(0))]));
        set_base.insert(*f, width);
        width += sets.len() as i64;
    }

    let mut base = m.init_score.clone();
    base.resize(k, 0.0);
    let mut roots = Vec::new();
    let (mut feature_ids, mut modes, mut splits) = (Vec::new(), Vec::new(), Vec::new());
    let (mut true_ids, mut true_leafs, mut false_ids, mut false_leafs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut missing_true = Vec::new();
    let (mut leaf_targets, mut leaf_weights) = (Vec::new(), Vec::new());
    for (i, t) in m.trees.iter().enumerate() {
        let target = (i % k) as i64;
        if t.nodes.is_empty() {
            // A tree that never split adds the same value to every row.
            base[i % k] += scale * t.leaf_value.first().copied().unwrap_or(0.0);
            continue;
        }
        let node_base = feature_ids.len() as i64;
        let leaf_base = leaf_weights.len() as i64;
        roots.push(node_base);
        for n in &t.nodes {
            if n.cat_set >= 0 {
                let set = Tree::category_set(n, &t.cat_sets);
                let col = set_base[&n.feature] + set_cols[&(n.feature, set)] as i64;
                feature_ids.push(col);
                modes.push(BRANCH_EQ);
                splits.push(1.0);
            } else {
                feature_ids.push(numeric_cols[&n.feature]);
                modes.push(BRANCH_LEQ);
                splits.push(n.threshold);
            }
            missing_true.push(i64::from(n.default_left));
            for (child, ids, leafs) in [
                (n.left, &mut true_ids, &mut true_leafs),
                (n.right, &mut false_ids, &mut false_leafs),
            ] {
                if child < 0 {
                    ids.push(leaf_base + i64::from(!child));
                    leafs.push(1);
                } else {
                    ids.push(node_base + i64::from(child));
                    leafs.push(0);
                }
            }
        }
        leaf_targets.extend(std::iter::repeat_n(target, t.n_leaves()));
        leaf_weights.extend(t.leaf_value.iter().map(|v| v * scale));
    }
    let base = b.f64s("base", vec![1, k as i64], base);
    let raw = if roots.is_empty() {
        let z = zeros(b, prep);
        b.op("Add", &[&z, &base], vec![])
    } else {
        let x = b.concat_columns(&blocks);
        let n_nodes = feature_ids.len() as i64;
        let n_leaves = leaf_weights.len() as i64;
        let sums = b.op_in(
            ML,
            "TreeEnsemble",
            &[&x],
            vec![
                ("aggregate_function", Attr::Int(1)),
                ("n_targets", Attr::Int(k as i64)),
                ("post_transform", Attr::Int(0)),
                ("tree_roots", Attr::Ints(roots)),
                ("nodes_featureids", Attr::Ints(feature_ids)),
                (
                    "nodes_modes",
                    Attr::Tensor(tensor(vec![n_nodes], TensorData::Uint8(modes))),
                ),
                (
                    "nodes_splits",
                    Attr::Tensor(tensor(vec![n_nodes], TensorData::Double(splits))),
                ),
                ("nodes_truenodeids", Attr::Ints(true_ids)),
                ("nodes_trueleafs", Attr::Ints(true_leafs)),
                ("nodes_falsenodeids", Attr::Ints(false_ids)),
                ("nodes_falseleafs", Attr::Ints(false_leafs)),
                ("nodes_missing_value_tracks_true", Attr::Ints(missing_true)),
                ("leaf_targetids", Attr::Ints(leaf_targets)),
                (
                    "leaf_weights",
                    Attr::Tensor(tensor(vec![n_leaves], TensorData::Double(leaf_weights))),
                ),
            ],
        );
        b.op("Add", &[&sums, &base], vec![])
    };

    let out = if m.class_shares {
        if k == 1 {
            let (lo, hi) = (b.scalar(0.0), b.scalar(1.0));
            b.op("Clip", &[&raw, &lo, &hi], vec![])
        } else {
            // Shares clipped at 0 and normalised; all-zero rows are uniform.
            let pos = b.op("Relu", &[&raw], vec![]);
            let axes = b.i64s("axes", vec![1], vec![1]);
            let sum = b.op(
                "ReduceSum",
                &[&pos, &axes],
                vec![("keepdims", Attr::Int(1))],
            );
            let zero = b.scalar(0.0);
            let has = b.op("Greater", &[&sum, &zero], vec![]);
            let share = b.op("Div", &[&pos, &sum], vec![]);
            let uniform = b.scalar(1.0 / k as f64);
            b.op("Where", &[&has, &share, &uniform], vec![])
        }
    } else {
        match m.objective {
            Objective::Binary => b.op("Sigmoid", &[&raw], vec![]),
            Objective::Multiclass => b.op("Softmax", &[&raw], vec![("axis", Attr::Int(1))]),
            Objective::Poisson => b.op("Exp", &[&raw], vec![]),
            Objective::L2 | Objective::L1 | Objective::Huber => raw,
        }
    };
    Ok(if m.task == Task::Binary && k == 2 {
        b.column(&out, 1)
    } else {
        out
    })
}

/// `eta` plus a categorical feature's contribution looked up by its code: `row` appends the
/// contribution of each code (None: a missing value, the table's last row) to each of the `k`
/// outputs,
/// and the table is gathered by `index`.
fn add_per_code(
    b: &mut Builder,
    eta: &str,
    index: &str,
    hint: &str,
    n_categories: u32,
    k: usize,
    mut row: impl FnMut(Option<u32>, &mut Vec<f64>),
) -> String {
    let mut table = Vec::new();
    for c in 0..n_categories {
        row(Some(c), &mut table);
    }
    row(None, &mut table);
    let t = b.f64s(hint, vec![i64::from(n_categories) + 1, k as i64], table);
    let term = b.op("Gather", &[&t, index], vec![("axis", Attr::Int(0))]);
    b.op("Add", &[eta, &term], vec![])
}

fn tensor(dims: Vec<i64>, data: TensorData) -> super::proto::Tensor {
    super::proto::Tensor {
        name: String::new(),
        dims,
        data,
    }
}

/// The linear score as whet's encoder computes it: standardized numbers (0 when missing or
/// infinite) and missing indicators through two matrix products, each categorical feature's
/// one-hot columns as a row of coefficients looked up by code.
fn linear(b: &mut Builder, prep: &mut PrepGraph, m: &LinearModel, part: &str) -> Result<String> {
    let k = m.n_outputs.max(1);
    let w = m.encoder.width();
    let coef = |o: usize, c: u32| -> f64 {
        if c == NO_COLUMN {
            0.0
        } else {
            m.coef.get(o * w + c as usize).copied().unwrap_or(0.0)
        }
    };
    let intercept = b.f64s("intercept", vec![1, k as i64], m.intercept.clone());
    let mut eta = intercept;
    let (mut xs, mut means, mut stds, mut wv, mut wm) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for step in &m.encoder.steps {
        match step {
            EncodeStep::Numeric {
                feature,
                mean,
                std,
                value,
                missing,
            } => {
                let v = prep.feature(b, *feature)?;
                let FeatureValue::Numeric(x) = v else {
                    return Err(mismatch(part, *feature));
                };
                xs.push(x);
                means.push(*mean);
                stds.push(*std);
                for o in 0..k {
                    wv.push(value.map_or(0.0, |c| coef(o, c)));
                }
                for o in 0..k {
                    wm.push(missing.map_or(0.0, |c| coef(o, c)));
                }
            }
            EncodeStep::Categorical {
                feature,
                columns,
                missing,
            } => {
                let FeatureValue::Categorical {
                    index,
                    n_categories,
                } = prep.feature(b, *feature)?
                else {
                    return Err(mismatch(part, *feature));
                };
                eta = add_per_code(b, &eta, &index, "onehot", n_categories, k, |code, table| {
                    let col = match code {
                        Some(c) => columns.get(c as usize).copied().unwrap_or(NO_COLUMN),
                        None => missing.unwrap_or(NO_COLUMN),
                    };
                    table.extend((0..k).map(|o| coef(o, col)));
                });
            }
            EncodeStep::Lookup {
                feature,
                columns,
                values,
            } => {
                // A code's contribution is fixed: its encoded values times their coefficients,
                // gathered by code as the one-hot terms are.
                let FeatureValue::Categorical {
                    index,
                    n_categories,
                } = prep.feature(b, *feature)?
                else {
                    return Err(mismatch(part, *feature));
                };
                eta = add_per_code(b, &eta, &index, "lookup", n_categories, k, |code, table| {
                    let code = code.unwrap_or(whet_data::prep::MISSING_CODE);
                    let row = EncodeStep::lookup_row(columns, values, code);
                    table.extend((0..k).map(|o| {
                        columns
                            .iter()
                            .zip(row)
                            .map(|(&col, &v)| coef(o, col) * v)
                            .sum::<f64>()
                    }));
                });
            }
        }
    }
    if !xs.is_empty() {
        let n = xs.len() as i64;
        let x = b.concat_columns(&xs);
        let nan = b.op("IsNaN", &[&x], vec![]);
        let inf = b.op("IsInf", &[&x], vec![]);
        let absent = b.op("Or", &[&nan, &inf], vec![]);
        let mean = b.f64s("mean", vec![1, n], means);
        let std = b.f64s("std", vec![1, n], stds);
        let centered = b.op("Sub", &[&x, &mean], vec![]);
        let z = b.op("Div", &[&centered, &std], vec![]);
        let zero = b.scalar(0.0);
        let z = b.op("Where", &[&absent, &zero, &z], vec![]);
        let wv = b.f64s("coef", vec![n, k as i64], wv);
        let term = b.op("MatMul", &[&z, &wv], vec![]);
        eta = b.op("Add", &[&eta, &term], vec![]);
        if wm.iter().any(|&c| c != 0.0) {
            let ind = b.cast(&absent, DOUBLE);
            let wm = b.f64s("coef_missing", vec![n, k as i64], wm);
            let term = b.op("MatMul", &[&ind, &wm], vec![]);
            eta = b.op("Add", &[&eta, &term], vec![]);
        }
    } else if m
        .encoder
        .steps
        .iter()
        .all(|s| matches!(s, EncodeStep::Numeric { .. }))
    {
        // No feature at all: the intercept for every row.
        let z = zeros(b, prep);
        eta = b.op("Add", &[&z, &eta], vec![]);
    }
    Ok(match m.task {
        Task::Regression => eta,
        Task::Binary => b.op("Sigmoid", &[&eta], vec![]),
        Task::Multiclass => {
            if m.present.iter().all(|&p| p) {
                b.op("Softmax", &[&eta], vec![("axis", Attr::Int(1))])
            } else {
                // Classes absent from training get probability 0, as in `predict_row`.
                let mask: Vec<f64> = m
                    .present
                    .iter()
                    .map(|&p| if p { 0.0 } else { f64::NEG_INFINITY })
                    .collect();
                let mask = b.f64s("absent", vec![1, k as i64], mask);
                let eta = b.op("Add", &[&eta, &mask], vec![]);
                b.op("Softmax", &[&eta], vec![("axis", Attr::Int(1))])
            }
        }
    })
}

fn mismatch(part: &str, feature: usize) -> LearnError {
    LearnError::data(
        format!("cannot export {part}: feature {feature} changed between numeric and categorical"),
        "the model does not match its Prep; train it again",
    )
}
