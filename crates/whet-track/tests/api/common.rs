//! The harness: a fresh store per test and back end, opened as an `AsyncStore` inside the
//! test's own runtime.

use std::future::Future;
use std::path::PathBuf;

use whet_track::{AsyncStore, OpenOptions};

pub struct Api {
    pub rt: tokio::runtime::Runtime,
    pub s: AsyncStore,
    pub spec: String,
    pub dir: PathBuf,
}

impl Api {
    /// Opens the store at `spec` (creating or migrating it) with artifacts under `dir`.
    pub fn open(spec: String, dir: PathBuf) -> Api {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let s = rt
            .block_on(AsyncStore::open(
                &spec,
                OpenOptions {
                    artifact_root: Some(dir.join("artifacts")),
                    ..Default::default()
                },
            ))
            .unwrap_or_else(|e| panic!("open {spec}: {e}"));
        Api { rt, s, spec, dir }
    }

    pub fn run<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.rt.block_on(self.s.close());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "whet-track-api-{name}-{}-{}",
        std::process::id(),
        uuid_ish()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn uuid_ish() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// A store location for `name` on SQLite, and the folder to put it and its artifacts in.
pub fn sqlite_spec(name: &str) -> (String, PathBuf) {
    let dir = temp_dir(name);
    (dir.join("whet.db").display().to_string(), dir)
}

/// A fresh PostgreSQL schema for `name`, or None when no server is configured.
pub fn postgres_spec(name: &str) -> Option<(String, PathBuf)> {
    let base = std::env::var("WHET_TEST_POSTGRES_URL").ok()?;
    let spec = whet_track::testing::fresh_postgres_schema(&base).expect("create test schema");
    Some((spec, temp_dir(name)))
}

pub fn sqlite(name: &str) -> Api {
    let (spec, dir) = sqlite_spec(name);
    Api::open(spec, dir)
}

pub fn postgres(name: &str) -> Option<Api> {
    postgres_spec(name).map(|(spec, dir)| Api::open(spec, dir))
}

/// Written past libtest's capture so that the skip shows in a passing run's output.
pub fn say_skipped(test: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {test} (WHET_TEST_POSTGRES_URL not set)"
    );
}

pub fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Sleeps past the current millisecond so that the next write gets a later timestamp.
pub fn tick() {
    std::thread::sleep(std::time::Duration::from_millis(3));
}

/// Defines `NAME::sqlite` and `NAME::postgres` running `body(&Api)` on each back end.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn sqlite() {
                let api = crate::common::sqlite(stringify!($name));
                ($body)(&api);
            }
            #[test]
            fn postgres() {
                match crate::common::postgres(stringify!($name)) {
                    Some(api) => ($body)(&api),
                    None => crate::common::say_skipped(concat!(stringify!($name), "::postgres")),
                }
            }
        }
    };
}
