//! Prints the bin upper bounds whet's GBDT gives each numeric feature of a CSV file, as one JSON
//! object `{feature name: [bounds...]}` (the last bound, +inf, left out):
//! `cargo run --release -p whet-learn --example bin_bounds -- FILE TARGET [MAX_BIN]`.
//! bench/binning_vs_lightgbm.py compares them with LightGBM's bins on the same data.

use std::collections::BTreeMap;

#[path = "common/labelled.rs"]
mod labelled;

use labelled::load_labelled;
use whet_data::prep::{Prep, PrepOptions};
use whet_learn::binning::{BinKind, BinnedData};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(file), Some(target)) = (args.get(1), args.get(2)) else {
        return Err("usage: bin_bounds FILE TARGET [MAX_BIN]".into());
    };
    let max_bin: usize = args.get(3).map_or(Ok(255), |m| m.parse())?;
    let t = load_labelled(file, target)?;
    let prep = Prep::fit(&t.table, Some((target, t.task)), &PrepOptions::default())?;
    let x = prep.transform(&t.table)?.features;
    let binned = BinnedData::fit(&x, max_bin)?;
    let mut out = BTreeMap::new();
    for (feature, mapper) in x.columns.iter().zip(binned.mappers()) {
        if let BinKind::Numeric { upper_bounds } = &mapper.kind {
            let finite: Vec<f64> = upper_bounds
                .iter()
                .copied()
                .filter(|b| b.is_finite())
                .collect();
            out.insert(feature.name.clone(), finite);
        }
    }
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}
