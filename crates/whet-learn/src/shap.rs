//! TreeSHAP (Lundberg et al., "Consistent Individualized Feature Attribution for Tree
//! Ensembles", Algorithm 2): exact Shapley values of a tree's prediction in polynomial time,
//! using the covers recorded while growing. Contributions of a row plus the expected value sum
//! to the model's raw prediction.

use crate::gbdt::tree::{RowView, Tree};

#[derive(Clone, Copy, Debug, Default)]
struct PathElement {
    feature: i64,
    zero_fraction: f64,
    one_fraction: f64,
    weight: f64,
}

fn extend(path: &mut [PathElement], depth: usize, zero: f64, one: f64, feature: i64) {
    path[depth] = PathElement {
        feature,
        zero_fraction: zero,
        one_fraction: one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let d = depth as f64;
    for i in (0..depth).rev() {
        let fi = i as f64;
        path[i + 1].weight += one * path[i].weight * (fi + 1.0) / (d + 1.0);
        path[i].weight = zero * path[i].weight * (d - fi) / (d + 1.0);
    }
}

fn unwind(path: &mut [PathElement], depth: usize, index: usize) {
    let one = path[index].one_fraction;
    let zero = path[index].zero_fraction;
    let d = depth as f64;
    let mut next_one = path[depth].weight;
    for i in (0..depth).rev() {
        let fi = i as f64;
        if one != 0.0 {
            let tmp = path[i].weight;
            path[i].weight = next_one * (d + 1.0) / ((fi + 1.0) * one);
            next_one = tmp - path[i].weight * zero * (d - fi) / (d + 1.0);
        } else {
            path[i].weight = path[i].weight * (d + 1.0) / (zero * (d - fi));
        }
    }
    for i in index..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero_fraction = path[i + 1].zero_fraction;
        path[i].one_fraction = path[i + 1].one_fraction;
    }
}

fn unwound_sum(path: &[PathElement], depth: usize, index: usize) -> f64 {
    let one = path[index].one_fraction;
    let zero = path[index].zero_fraction;
    let d = depth as f64;
    let mut next_one = path[depth].weight;
    let mut total = 0.0;
    for i in (0..depth).rev() {
        let fi = i as f64;
        if one != 0.0 {
            let tmp = next_one * (d + 1.0) / ((fi + 1.0) * one);
            total += tmp;
            next_one = path[i].weight - tmp * zero * ((d - fi) / (d + 1.0));
        } else if zero != 0.0 {
            total += (path[i].weight / zero) / ((d - fi) / (d + 1.0));
        }
    }
    total
}

/// Cover of a node given as a child reference (negative = leaf).
fn cover(tree: &Tree, child: i32) -> f64 {
    if child < 0 {
        tree.leaf_cover[!child as usize]
    } else {
        tree.internal_cover[child as usize]
    }
}

/// `parent` is the path down to this node's parent (as many elements as `depth`); this
/// node's path is built in the front of `scratch` and the children's in the rest, so a row's
/// walk allocates nothing (LightGBM's layout: each depth owns a segment of one buffer).
#[allow(clippy::too_many_arguments)]
fn recurse(
    tree: &Tree,
    row: &impl RowView,
    phi: &mut [f64],
    scale: f64,
    node: i32,
    parent: &[PathElement],
    scratch: &mut [PathElement],
    mut depth: usize,
    zero: f64,
    one: f64,
    feature: i64,
) {
    let (path, rest) = scratch.split_at_mut(depth + 1);
    path[..depth].copy_from_slice(&parent[..depth]);
    extend(path, depth, zero, one, feature);
    if node < 0 {
        let value = tree.leaf_value[!node as usize] * scale;
        for i in 1..=depth {
            let w = unwound_sum(path, depth, i);
            let el = path[i];
            phi[el.feature as usize] += w * (el.one_fraction - el.zero_fraction) * value;
        }
        return;
    }
    let i = node as usize;
    let (hot, cold) = if tree.goes_left(i, row) {
        (tree.nodes[i].left, tree.nodes[i].right)
    } else {
        (tree.nodes[i].right, tree.nodes[i].left)
    };
    let w = tree.internal_cover[i];
    let hot_zero = if w > 0.0 { cover(tree, hot) / w } else { 0.0 };
    let cold_zero = if w > 0.0 { cover(tree, cold) / w } else { 0.0 };
    let split = i64::from(tree.nodes[i].feature);
    let (mut incoming_zero, mut incoming_one) = (1.0, 1.0);
    // A feature already on the path is undone first, so each feature appears once.
    if let Some(k) = (1..=depth).find(|&k| path[k].feature == split) {
        incoming_zero = path[k].zero_fraction;
        incoming_one = path[k].one_fraction;
        unwind(path, depth, k);
        depth -= 1;
    }
    let path = &path[..=depth];
    recurse(
        tree,
        row,
        phi,
        scale,
        hot,
        path,
        rest,
        depth + 1,
        hot_zero * incoming_zero,
        incoming_one,
        split,
    );
    recurse(
        tree,
        row,
        phi,
        scale,
        cold,
        path,
        rest,
        depth + 1,
        cold_zero * incoming_zero,
        0.0,
        split,
    );
}

/// Levels of internal nodes on the tree's longest root-to-leaf path.
fn depth(tree: &Tree) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(0i32, 1usize)];
    while let Some((node, d)) = stack.pop() {
        if node < 0 {
            continue;
        }
        deepest = deepest.max(d);
        let n = &tree.nodes[node as usize];
        stack.push((n.left, d + 1));
        stack.push((n.right, d + 1));
    }
    deepest
}

/// The tree's expected output under its covers (the prediction with no features known).
pub fn expected_value(tree: &Tree) -> f64 {
    let total: f64 = tree.leaf_cover.iter().sum();
    if total <= 0.0 {
        return tree.leaf_value.iter().sum::<f64>() / tree.n_leaves().max(1) as f64;
    }
    tree.leaf_value
        .iter()
        .zip(&tree.leaf_cover)
        .map(|(v, c)| v * c)
        .sum::<f64>()
        / total
}

/// Adds `scale ×` this tree's SHAP contributions for `row` to `phi` (one slot per feature).
pub fn tree_shap(tree: &Tree, row: &impl RowView, phi: &mut [f64], scale: f64) {
    if tree.nodes.is_empty() {
        return;
    }
    // The path at depth d holds d + 1 elements; a leaf sits one below the deepest node.
    let levels = depth(tree) + 2;
    let mut scratch = vec![PathElement::default(); levels * (levels + 1) / 2];
    recurse(tree, row, phi, scale, 0, &[], &mut scratch, 0, 1.0, 1.0, -1);
}

/// How a predictor's raw score (what SHAP values add up to) becomes its prediction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// The raw score is the prediction (regression).
    Identity,
    /// p = 1 / (1 + e^−raw): log-odds of the positive class.
    Logistic,
    /// Class probabilities are the softmax of the per-class raw scores.
    Softmax,
    /// The prediction is e^raw (Poisson).
    Log,
    /// The prediction is e^raw − 1 (a model of ln(1 + y), for a skewed positive target).
    Log1p,
    /// Averaged class shares of a random forest: probabilities are the shares clipped at 0
    /// and normalized (a single output: clipped to [0, 1]).
    Shares,
}

/// Exact SHAP values of a predictor on some rows.
#[derive(Clone, Debug)]
pub struct ShapValues {
    /// Row-major `n_rows × n_outputs × (n_features + 1)`: per output, one value per feature,
    /// then the expected raw score; each row's values for an output sum to its raw score.
    pub values: Vec<f64>,
    pub n_outputs: usize,
    pub n_features: usize,
    pub link: Link,
    /// How the values were computed, for reports.
    pub method: &'static str,
}

impl ShapValues {
    /// The values of `row` for `output`: `n_features` contributions, then the expected value.
    pub fn of(&self, row: usize, output: usize) -> &[f64] {
        let w = self.n_features + 1;
        let start = (row * self.n_outputs + output) * w;
        &self.values[start..start + w]
    }
}

fn gbdt_link(m: &crate::gbdt::GbdtModel) -> Link {
    use crate::gbdt::Objective;
    if m.class_shares {
        return Link::Shares;
    }
    match m.objective {
        Objective::Binary => Link::Logistic,
        Objective::Multiclass => Link::Softmax,
        Objective::Poisson => Link::Log,
        Objective::L2 | Objective::L1 | Objective::Huber => Link::Identity,
    }
}

fn linear_link(m: &crate::linear::LinearModel) -> Link {
    match m.task() {
        whet_data::Task::Regression => Link::Identity,
        whet_data::Task::Binary => Link::Logistic,
        whet_data::Task::Multiclass => Link::Softmax,
    }
}

impl crate::model::Predictor {
    /// Exact SHAP values of this predictor's raw score on the rows of `x`, or why there are
    /// none. Trees use TreeSHAP (path-dependent, on the training covers); linear models treat
    /// features as independent with `background`'s rows (default: `x`'s own) as the
    /// reference; an ensemble of regressors with identity links averages its members'.
    pub fn shap_values(
        &self,
        x: &whet_data::prep::Features,
        background: Option<&whet_data::prep::Features>,
    ) -> std::result::Result<ShapValues, String> {
        use crate::model::Predictor;
        let n_features = x.columns.len();
        match self {
            Predictor::Gbdt(m) => Ok(ShapValues {
                values: m.shap_values(x),
                n_outputs: m.n_outputs,
                n_features,
                link: gbdt_link(m),
                method: "TreeSHAP (exact, path-dependent)",
            }),
            Predictor::Linear(m) => Ok(ShapValues {
                values: m.shap_values_against(x, background.unwrap_or(x)),
                n_outputs: m.n_outputs(),
                n_features,
                link: linear_link(m),
                method: "exact for a linear model (features independent)",
            }),
            Predictor::Ensemble(e) => {
                // A regression ensemble's clip (members held to the training range) is left
                // out: on the rare rows where a member is clipped the values sum to the
                // unclipped blend. Averages of raw scores stay additive; averages of probabilities (classifiers)
                // or of e^raw (Poisson) are not sums of the members' contributions.
                let mut acc: Option<Vec<f64>> = None;
                let total: f64 = e.members.iter().map(|m| m.weight).sum();
                for m in e.members.iter().filter(|m| m.weight > 0.0) {
                    if matches!(m.predictor, Predictor::Knn(_)) {
                        return Err(format!(
                            "the ensemble holds a kNN model ('{}'), which has no exact SHAP values",
                            m.label
                        ));
                    }
                    let s = m.predictor.shap_values(x, background)?;
                    if s.link != Link::Identity || s.n_outputs != 1 {
                        return Err("this ensemble averages the predictions (probabilities, e^raw for Poisson, or e^raw − 1 for a model of ln(1 + y)) of several models, which SHAP values cannot split exactly".into());
                    }
                    let w = m.weight / total;
                    match acc.as_mut() {
                        None => acc = Some(s.values.into_iter().map(|a| a * w).collect()),
                        Some(a) => a.iter_mut().zip(s.values).for_each(|(a, v)| *a += v * w),
                    }
                }
                acc.map(|values| ShapValues {
                    values,
                    n_outputs: 1,
                    n_features,
                    link: Link::Identity,
                    method: "exact per member (TreeSHAP or linear), averaged by ensemble weight",
                })
                .ok_or_else(|| "the ensemble has no members with weight".into())
            }
            Predictor::LogTarget(m) => {
                // The inner model's values are exact on its own scale, ln(1 + y); the
                // back-transform is not additive, so they are reported on that scale.
                let inner = m.inner.shap_values(x, background)?;
                if inner.link != Link::Identity {
                    return Err("a model of ln(1 + y) whose inner model has a non-identity link has no exact SHAP values".into());
                }
                Ok(ShapValues {
                    link: Link::Log1p,
                    method: "exact (TreeSHAP or linear) on ln(1 + y), the scale the model was fitted on",
                    ..inner
                })
            }
            Predictor::Knn(_) => Err(
                "kNN models have no exact SHAP values (a prediction is a vote of neighbours, not a sum over features)".into(),
            ),
        }
    }
}
