//! The `duration` fuzz target: see `whet_fuzz::targets::duration`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| whet_fuzz::targets::duration(data));
