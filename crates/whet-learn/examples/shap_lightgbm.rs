//! Writes a whet GBDT model's trees as a LightGBM text model, the model's input features and
//! whet's TreeSHAP values, so LightGBM's `pred_contrib` can be computed on exactly the same
//! trees and compared (bench/shap_vs_lightgbm.sh).
//!
//! `cargo run -p whet-learn --example shap_lightgbm -- MODEL DATA OUTDIR [--count-covers]`
//!
//! LightGBM's TreeSHAP weighs a split's branches by their training row counts, whet's by
//! their covers (sums of hessians). The two are the same numbers for squared error (every
//! hessian is 1); for other objectives `--count-covers` gives whet's trees their row counts
//! as covers before whet computes its values, so both sides run on identical trees. Only
//! binary and regression models with numeric splits are written.
//!
//! OUTDIR gets `model.txt` (LightGBM's format), `features.csv` (the features as whet
//! predicts from them, every value exact), `whet_shap.csv` (per row: one value per feature,
//! then the expected value) and `whet_raw.csv` (whet's raw score per row).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use whet_data::prep::FeatureData;
use whet_learn::gbdt::Objective;
use whet_learn::gbdt::tree::Tree;
use whet_learn::model::{Model, Predictor};

type Error = Box<dyn std::error::Error>;

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

fn write(path: PathBuf, text: &str) -> Result<(), Error> {
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()).into())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_path, data, outdir] = match &args[..] {
        [a, b, c, ..] => [a, b, c],
        _ => return Err("usage: shap_lightgbm MODEL DATA OUTDIR [--count-covers]".into()),
    };
    let count_covers = args.iter().any(|a| a == "--count-covers");
    let bytes = std::fs::read(model_path).map_err(|e| format!("{model_path}: {e}"))?;
    let model = Model::from_bytes(&bytes, model_path)?;
    let Predictor::Gbdt(gbdt) = &model.predictor else {
        return Err("the model is not a single GBDT (fit one with --learner gbdt)".into());
    };
    let mut m = (**gbdt).clone();
    let objective = match m.objective {
        Objective::Binary if m.n_outputs == 1 && !m.class_shares => "binary sigmoid:1",
        Objective::L2 => "regression",
        _ => return Err("only binary (log loss) and squared-error models are written".into()),
    };
    if count_covers {
        for t in &mut m.trees {
            t.internal_cover = internal_counts(t);
            t.leaf_cover = t.leaf_count.iter().map(|&c| f64::from(c)).collect();
        }
    }
    let table = whet_data::load(
        Path::new(data),
        &whet_data::LoadOptions::default(),
        &whet_data::csv::NoProgress,
    )?;
    let x = model.prep.transform(&table)?.features;
    let nf = x.columns.len();
    let mut columns: Vec<&[f32]> = Vec::with_capacity(nf);
    for c in &x.columns {
        match &c.data {
            FeatureData::Numeric(v) => columns.push(v),
            FeatureData::Categorical { .. } => {
                return Err(format!("feature '{}' is categorical", c.name).into());
            }
        }
    }
    let infos = columns.iter().map(|v| {
        let (lo, hi) = v
            .iter()
            .filter(|x| !x.is_nan())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| {
                (l.min(x), h.max(x))
            });
        format!("[{lo}:{hi}]")
    });
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
    let _ = writeln!(text, "feature_infos={}\n", join(infos));
    for (i, t) in m.trees.iter().enumerate() {
        tree_text(t, i, if i == 0 { m.init_score[0] } else { 0.0 }, &mut text)?;
    }
    text.push_str("end of trees\n\nparameters:\nend of parameters\n");
    let out = Path::new(outdir);
    std::fs::create_dir_all(out).map_err(|e| format!("{outdir}: {e}"))?;
    write(out.join("model.txt"), &text)?;

    let mut features = String::new();
    for r in 0..x.n_rows {
        // f32 → f64 is exact, and Display prints the shortest text that reads back the same.
        let _ = writeln!(
            features,
            "{}",
            columns
                .iter()
                .map(|c| f64::from(c[r]).to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    write(out.join("features.csv"), &features)?;

    let shap = m.shap_values(&x);
    let raw = m.predict_raw(&x);
    let (mut s, mut p) = (String::new(), String::new());
    for r in 0..x.n_rows {
        let row = &shap[r * (nf + 1)..(r + 1) * (nf + 1)];
        let _ = writeln!(
            s,
            "{}",
            row.iter()
                .map(|v| format!("{v:e}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let _ = writeln!(p, "{:e}", raw[r]);
    }
    write(out.join("whet_shap.csv"), &s)?;
    write(out.join("whet_raw.csv"), &p)?;
    println!(
        "{}: {} trees, {} rows × {nf} features, covers: {}",
        model_path,
        m.trees.len(),
        x.n_rows,
        if count_covers {
            "row counts (--count-covers)"
        } else {
            "as fitted"
        }
    );
    Ok(())
}
