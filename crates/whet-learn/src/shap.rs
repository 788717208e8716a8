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

#[allow(clippy::too_many_arguments)]
fn recurse(
    tree: &Tree,
    row: &impl RowView,
    phi: &mut [f64],
    scale: f64,
    node: i32,
    parent_path: &[PathElement],
    mut depth: usize,
    zero: f64,
    one: f64,
    feature: i64,
) {
    let mut path = parent_path.to_vec();
    path.resize(depth + 1, PathElement::default());
    extend(&mut path, depth, zero, one, feature);
    if node < 0 {
        let value = tree.leaf_value[!node as usize] * scale;
        for i in 1..=depth {
            let w = unwound_sum(&path, depth, i);
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
        unwind(&mut path, depth, k);
        depth -= 1;
        path.truncate(depth + 1);
    }
    recurse(
        tree,
        row,
        phi,
        scale,
        hot,
        &path,
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
        &path,
        depth + 1,
        cold_zero * incoming_zero,
        0.0,
        split,
    );
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
    recurse(tree, row, phi, scale, 0, &[], 0, 1.0, 1.0, -1);
}
