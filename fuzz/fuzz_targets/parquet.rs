//! The Parquet reader on arbitrary bytes: `load` (whole file) and the chunked reader of
//! `whet predict`.
#![no_main]

use std::collections::BTreeMap;
use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use whet_data::csv::NoProgress;
use whet_data::load::{LoadOptions, ParquetChunks, load};
use whet_fuzz::scratch_file;

static QUIET_CONTAINED_PANICS: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    // whet-data contains the parquet crate's panics on damaged pages (they become errors);
    // libfuzzer-sys's hook would abort at the panic before it is contained. With the default
    // hook back, a panic that escapes whet-data still reaches libfuzzer-sys's catch and aborts.
    QUIET_CONTAINED_PANICS.call_once(|| {
        let _ = std::panic::take_hook();
        std::panic::set_hook(Box::new(|info| eprintln!("contained? {info}")));
    });
    let path = scratch_file("in.parquet", data);
    let _ = load(&path, &LoadOptions::default(), &NoProgress);
    if let Ok(mut chunks) = ParquetChunks::open(&path, &BTreeMap::new(), 3) {
        while let Ok(Some(_)) = chunks.next_chunk() {}
    }
});
