//! Helpers shared by the fuzz targets.

use std::path::PathBuf;

// The filter grammar is one std-only file of whet-track; compiling it here keeps the fuzz
// build free of whet-track's database, async runtime and TLS dependencies.
#[path = "../../crates/whet-track/src"]
pub mod track {
    #[allow(dead_code)]
    pub mod filter;
}

/// Writes `bytes` to a file named `name` in this process's scratch folder and returns its path.
/// The readers under test take paths, so every input goes through a real file.
pub fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("whet-fuzz-{}", std::process::id()));
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir).expect("scratch folder");
    }
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("scratch file");
    path
}

/// Takes the first byte of `data` (0 when empty) and returns it with the rest.
pub fn take_byte(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((b, rest)) => (*b, rest),
        None => (0, data),
    }
}
