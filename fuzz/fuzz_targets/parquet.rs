//! The Parquet reader on arbitrary bytes: `load` (whole file) and the chunked reader of
//! `whet predict`.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use whet_data::csv::NoProgress;
use whet_data::load::{LoadOptions, ParquetChunks, load};
use whet_fuzz::scratch_file;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("in.parquet", data);
    let _ = load(&path, &LoadOptions::default(), &NoProgress);
    if let Ok(mut chunks) = ParquetChunks::open(&path, &BTreeMap::new(), 3) {
        while let Ok(Some(_)) = chunks.next_chunk() {}
    }
});
