//! Helpers shared by the CLI test binaries; each binary compiles its own copy (`mod common;`),
//! so each has its own scratch folder.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// This test binary's scratch folder under target/tmp, emptied the first time the binary asks
/// for it, so runs neither collide with nor pile up after earlier ones.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(env!("CARGO_CRATE_NAME"));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

/// `name` in this binary's scratch folder (not created).
pub fn tmp(name: &str) -> PathBuf {
    scratch().join(name)
}

/// A new, empty folder `name` in this binary's scratch folder.
pub fn fresh_dir(name: &str) -> PathBuf {
    let d = tmp(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
