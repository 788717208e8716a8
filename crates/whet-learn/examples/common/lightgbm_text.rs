//! A whet GBDT's trees as a LightGBM text model, so LightGBM can run exactly the same trees
//! (examples shap_lightgbm and gbdt_speed). Only one-output binary and squared-error models
//! with numeric splits are written. The first tree's leaves carry the model's initial score.

use std::fmt::Write as _;

use whet_learn::gbdt::tree::Tree;
use whet_learn::gbdt::{GbdtModel, Objective};

pub type Error = Box<dyn std::error::Error>;

fn join<T: std::fmt::Display>(v: impl IntoIterator<Item = T>) -> String {
    v.into_iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Row counts under each internal node (LightGBM's `internal_count`).
fn internal_counts(tree: &Tree) -> Vec<f64> {
    fn count(tree: &Tree, child: i32, out: &mut [f64]) -> f64 {
        if child < 0 {
            return f64::from(tree.leaf_count[!child as usize]);
        }
        let n = &tree.nodes[child as usize];
        let c = count(tree, n.left, out) + count(tree, n.right, out);
        out[child as usize] = c;
        c
    }
    let mut out = vec![0.0; tree.nodes.len()];
    if !tree.nodes.is_empty() {
        count(tree, 0, &mut out);
    }
    out
}

/// Gives the trees their row counts as covers (LightGBM weighs a split's branches by counts,
/// whet by hessian sums; the two agree for squared error).
pub fn use_counts_as_covers(m: &mut GbdtModel) {
    for t in &mut m.trees {
        t.internal_cover = internal_counts(t);
        t.leaf_cover = t.leaf_count.iter().map(|&c| f64::from(c)).collect();
    }
}

/// A cover as LightGBM's integer count; whet's covers must be whole numbers for that.
fn as_count(v: f64, what: &str) -> Result<i64, Error> {
    if v.fract() != 0.0 || v < 0.0 {
        return Err(format!(
            "{what} cover {v} is not a row count: the covers are hessian sums; pass --count-covers"
        )
        .into());
    }
    Ok(v as i64)
}

fn tree_text(tree: &Tree, index: usize, init: f64, out: &mut String) -> Result<(), Error> {
    let leaves: Vec<f64> = tree.leaf_value.iter().map(|v| v + init).collect();
    let _ = writeln!(out, "Tree={index}");
    let _ = writeln!(out, "num_leaves={}", leaves.len());
    let _ = writeln!(out, "num_cat=0");
    if !tree.nodes.is_empty() {
        if tree.nodes.iter().any(|n| n.cat_set >= 0) {
            return Err("the model has categorical splits; use data with numeric features".into());
        }
        let n = &tree.nodes;
        let _ = writeln!(out, "split_feature={}", join(n.iter().map(|x| x.feature)));
        let _ = writeln!(out, "split_gain={}", join(n.iter().map(|_| 0)));
        let _ = writeln!(out, "threshold={}", join(n.iter().map(|x| x.threshold)));
        // Missing type NaN (2 << 2), default-left bit 2: a NaN goes where whet sends it.
        let _ = writeln!(
            out,
            "decision_type={}",
            join(n.iter().map(|x| 8 | if x.default_left { 2 } else { 0 }))
        );
        let _ = writeln!(out, "left_child={}", join(n.iter().map(|x| x.left)));
        let _ = writeln!(out, "right_child={}", join(n.iter().map(|x| x.right)));
    }
    let _ = writeln!(out, "leaf_value={}", join(&leaves));
    let leaf_counts = tree
        .leaf_cover
        .iter()
        .map(|&c| as_count(c, "a leaf"))
        .collect::<Result<Vec<i64>, Error>>()?;
    let _ = writeln!(out, "leaf_weight={}", join(&tree.leaf_cover));
    let _ = writeln!(out, "leaf_count={}", join(leaf_counts));
    if !tree.nodes.is_empty() {
        let internal = tree
            .internal_cover
            .iter()
            .map(|&c| as_count(c, "a node"))
            .collect::<Result<Vec<i64>, Error>>()?;
        let _ = writeln!(out, "internal_value={}", join(tree.nodes.iter().map(|_| 0)));
        let _ = writeln!(out, "internal_weight={}", join(&tree.internal_cover));
        let _ = writeln!(out, "internal_count={}", join(internal));
    }
    let _ = writeln!(out, "is_linear=0");
    let _ = writeln!(out, "shrinkage=1");
    let _ = writeln!(out);
    let _ = writeln!(out);
    Ok(())
}

/// The model as LightGBM's text format; `ranges` holds each feature's `(min, max)` (LightGBM's
/// `feature_infos`, which prediction does not use).
pub fn model_text(m: &GbdtModel, ranges: &[(f32, f32)]) -> Result<String, Error> {
    let objective = match m.objective {
        Objective::Binary if m.n_outputs == 1 && !m.class_shares => "binary sigmoid:1",
        Objective::L2 => "regression",
        _ => return Err("only binary (log loss) and squared-error models are written".into()),
    };
    let nf = ranges.len();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1"
    );
    let _ = writeln!(text, "label_index=0\nmax_feature_idx={}", nf - 1);
    let _ = writeln!(text, "objective={objective}");
    let _ = writeln!(
        text,
        "feature_names={}",
        join((0..nf).map(|i| format!("f{i}")))
    );
    let infos = ranges.iter().map(|(lo, hi)| format!("[{lo}:{hi}]"));
    let _ = writeln!(text, "feature_infos={}\n", join(infos));
    for (i, t) in m.trees.iter().enumerate() {
        tree_text(t, i, if i == 0 { m.init_score[0] } else { 0.0 }, &mut text)?;
    }
    text.push_str("end of trees\n\nparameters:\nend of parameters\n");
    Ok(text)
}

/// Each column's smallest and largest non-missing value.
pub fn ranges(columns: &[&[f32]]) -> Vec<(f32, f32)> {
    columns
        .iter()
        .map(|v| {
            v.iter()
                .filter(|x| !x.is_nan())
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| {
                    (l.min(x), h.max(x))
                })
        })
        .collect()
}
