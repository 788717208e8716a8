//! The fuzz targets' bodies (targets.rs, shared with the corpus replay test of the whet crate)
//! and what the libFuzzer binaries need around them.

use std::path::PathBuf;

// The filter grammar is one std-only file of whet-track; compiling it here keeps the fuzz
// build free of whet-track's database, async runtime and TLS dependencies.
#[path = "../../crates/whet-track/src"]
pub mod track {
    #[allow(dead_code)]
    pub mod filter;
}

pub mod targets;

/// This process's scratch folder for the readers that take paths.
pub fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("whet-fuzz-{}", std::process::id()))
}
