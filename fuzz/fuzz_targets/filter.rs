//! The `filter` fuzz target: see `whet_fuzz::targets::filter`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| whet_fuzz::targets::filter(data));
