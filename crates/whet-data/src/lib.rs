//! whet-data: reading tabular files into Arrow, inferring column roles, profiling,
//! the fitted Prep transform, and deterministic splits. Each module's doc says what it owns;
//! `csv/mod.rs` maps the CSV reader's files. Helpers shared across modules: `hash` (every hash
//! function the crate computes), `text` (string helpers) and `fsutil` (atomic writes).

pub mod csv;
pub mod datetime;
pub mod error;
pub mod rng;
pub mod sink;
pub mod split;
pub mod stream;
pub mod table;

pub use error::{DataError, Result};
pub use table::{ColumnInfo, Table, TypeHint, ValueType};
pub mod load;
mod parquet_pages;
pub mod roles;
pub mod summary;

pub use load::{LoadOptions, load};
pub use roles::{Role, Task};
pub mod drift;
pub mod fsutil;
pub mod hash;
pub mod prep;
pub mod profile;
pub mod reference;
pub mod report;
pub mod text;
