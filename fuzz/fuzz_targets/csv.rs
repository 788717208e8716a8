//! The `csv` fuzz target: see `whet_fuzz::targets::csv`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| whet_fuzz::targets::csv(data, &whet_fuzz::scratch()));
