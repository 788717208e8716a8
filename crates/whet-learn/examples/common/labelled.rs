//! A CSV file read with its target column settled (rows without a target dropped), as the
//! examples that fit or score need it (gbdt_speed, bin_bounds).

use std::path::Path;

use whet_data::profile::{TargetInfo, TargetMissing, prepare_target};

pub fn load_labelled(file: &str, target: &str) -> Result<TargetInfo, Box<dyn std::error::Error>> {
    let table = whet_data::load(
        Path::new(file),
        &Default::default(),
        &whet_data::csv::NoProgress,
    )?;
    Ok(prepare_target(&table, target, None, TargetMissing::Drop)?)
}
