//! The `model` fuzz target: see `whet_fuzz::targets::model`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| whet_fuzz::targets::model(data));
