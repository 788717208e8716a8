//! Helpers shared by the whet-data integration tests: temporary directories, loading with
//! options, and typed access to a table's values.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType};
use whet_data::csv::{CsvOptions, NoProgress};
use whet_data::{DataError, LoadOptions, Table, ValueType};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("whet-data-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `bytes` to `name` inside the directory and returns the full path.
    pub fn file(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn load(path: &Path) -> Table {
    load_with(path, &LoadOptions::default()).unwrap_or_else(|e| panic!("loading failed: {e}"))
}

pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Table, DataError> {
    whet_data::load(path, options, &NoProgress)
}

pub fn csv_options(f: impl FnOnce(&mut CsvOptions)) -> LoadOptions {
    let mut o = LoadOptions::default();
    f(&mut o.csv);
    o
}

pub fn load_err(path: &Path, options: &LoadOptions) -> String {
    match load_with(path, options) {
        Ok(t) => panic!("expected an error, got a table with {} rows", t.n_rows()),
        Err(e) => e.to_string(),
    }
}

/// Writes `text` to a file in a fresh temp dir and loads it with default options.
pub fn load_text(name: &str, text: &str) -> (TempDir, Table) {
    let dir = TempDir::new("t");
    let p = dir.file(name, text);
    let t = load(&p);
    (dir, t)
}

pub fn names(t: &Table) -> Vec<String> {
    t.names().map(str::to_string).collect()
}

pub fn types(t: &Table) -> Vec<ValueType> {
    t.columns.iter().map(|c| c.value_type).collect()
}

fn col<'a>(t: &'a Table, name: &str) -> &'a arrow_array::ArrayRef {
    let i = t
        .index_of(name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", names(t)));
    t.array(i)
}

pub fn ints(t: &Table, name: &str) -> Vec<Option<i64>> {
    col(t, name).as_primitive::<Int64Type>().iter().collect()
}

pub fn floats(t: &Table, name: &str) -> Vec<Option<f64>> {
    col(t, name).as_primitive::<Float64Type>().iter().collect()
}

pub fn bools(t: &Table, name: &str) -> Vec<Option<bool>> {
    col(t, name).as_boolean().iter().collect()
}

pub fn times(t: &Table, name: &str) -> Vec<Option<i64>> {
    col(t, name)
        .as_primitive::<TimestampMillisecondType>()
        .iter()
        .collect()
}

pub fn strs(t: &Table, name: &str) -> Vec<Option<String>> {
    col(t, name)
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

pub fn nulls(t: &Table, name: &str) -> usize {
    col(t, name).null_count()
}

pub fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// Milliseconds since the epoch of a UTC civil time.
pub fn ms(y: i64, mo: i64, d: i64, h: i64, mi: i64, sec: i64) -> i64 {
    // Days from civil (Hinnant), independent of the crate's own implementation.
    let y = y - i64::from(mo <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400_000 + (h * 3600 + mi * 60 + sec) * 1000
}
