//! The `params` fuzz target: see `whet_fuzz::targets::params`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| whet_fuzz::targets::params(data));
