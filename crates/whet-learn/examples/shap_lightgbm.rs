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
use whet_learn::model::{Model, Predictor};

#[path = "common/lightgbm_text.rs"]
mod lightgbm_text;
use lightgbm_text::Error;

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
    if count_covers {
        lightgbm_text::use_counts_as_covers(&mut m);
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
    let text = lightgbm_text::model_text(&m, &lightgbm_text::ranges(&columns))?;
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
