//! The operations an MLflow-compatible server needs, through [`whet_track::AsyncStore`], on
//! SQLite and (when WHET_TEST_POSTGRES_URL is set) PostgreSQL. One test binary for all of
//! them keeps `cargo test` from linking one per file.

#[macro_use]
mod common;

mod concurrency;
mod experiments;
mod logged_models;
mod migration;
mod registry;
mod runs;
mod search;
mod tokens;
