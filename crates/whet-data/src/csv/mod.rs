//! CSV into Arrow.
//!
//! The streaming reader makes two passes over the file. Pass 1 splits the byte stream into
//! chunks at record boundaries, validates UTF-8, checks field counts and classifies every field
//! (missing, integer, float, boolean, datetime, other). Pass 2 re-reads the same chunks and
//! parses each column straight into its final Arrow type. Reading twice costs less than holding
//! the text: peak memory is the decoded table plus a few chunks, and types are decided from
//! every value, not a sample. Plain files (no quotes, not gzip) take a one-pass reader instead.
//!
//! Where things live:
//! - this file: options and progress, the entry point `read_csv`, column names and plans,
//!   assembling the table, opening (and un-gzipping) the file, and helpers shared with
//!   `crate::stream`;
//! - `sniff`: delimiter and header from the first lines of the file;
//! - `scan`: missing-value tokens, scanning and parsing numbers and booleans, and classifying
//!   fields into per-column counts;
//! - `chunk`: cutting the decoded stream into chunks at record boundaries and walking a chunk's
//!   records, with the errors for malformed ones;
//! - `parse`: the streaming reader's two passes, from column plans to Arrow arrays;
//! - `fast`: the one-pass reader over a memory map for plain files.

mod chunk;
mod fast;
mod parse;
pub(crate) mod scan;
pub(crate) mod sniff;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::ArrayRef;

use crate::error::{DataError, Result};
use crate::table::{ColumnInfo, Table, TypeHint};
use chunk::ChunkReader;
use parse::{ColumnPlan, parse_pass, scan_pass};
use scan::{ColumnStats, NaSet};
use sniff::{Sniffed, sniff};

pub const DEFAULT_NA_VALUES: &[&str] = &["", "NA", "N/A", "null", "NULL", "NaN", "?"];

#[derive(Clone, Debug)]
pub struct CsvOptions {
    /// None: sniffed from the first lines.
    pub delimiter: Option<u8>,
    /// None: sniffed (a header is assumed unless the first row holds numbers).
    pub has_header: Option<bool>,
    pub na_values: Vec<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: None,
            has_header: None,
            na_values: DEFAULT_NA_VALUES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Receives progress of long reads; the binary draws a bar, libraries and tests ignore it.
pub trait Progress: Sync {
    fn start(&self, _label: &str, _total: u64) {}
    fn advance(&self, _delta: u64) {}
    fn finish(&self) {}
    /// Whether the user asked to stop (Ctrl-C): the read then ends with
    /// [`DataError::Interrupted`] at its next chunk instead of reading the rest.
    fn stop_requested(&self) -> bool {
        false
    }
}

pub struct NoProgress;
impl Progress for NoProgress {}

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> DataError {
    // A damaged compressed file opens fine and fails while reading: that is not a missing
    // file or a permission problem, and the hint must say so.
    let name = path.to_string_lossy().to_ascii_lowercase();
    let text = source.to_string().to_ascii_lowercase();
    let decoding = matches!(
        source.kind(),
        std::io::ErrorKind::InvalidInput
            | std::io::ErrorKind::InvalidData
            | std::io::ErrorKind::UnexpectedEof
    ) || text.contains("deflate")
        || text.contains("gzip");
    if name.ends_with(".gz") && decoding {
        return DataError::Format {
            path: path.to_path_buf(),
            message: format!("the gzip data is damaged or cut short ({source})"),
            hint: "the file is incomplete or corrupt: copy or compress it again (`gzip -t FILE` checks it)".into(),
        };
    }
    DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads `path` (`.csv`, `.tsv`, `.txt`, optionally `.gz`) into a table.
pub fn read_csv(
    path: &Path,
    options: &CsvOptions,
    hints: &BTreeMap<String, TypeHint>,
    strict_types: bool,
    progress: &dyn Progress,
) -> Result<Table> {
    read_csv_with(path, options, hints, strict_types, progress, true)
}

/// `read_csv`; `allow_fast: false` forces the streaming reader (tests and the fuzz targets
/// drive both readers).
pub fn read_csv_with(
    path: &Path,
    options: &CsvOptions,
    hints: &BTreeMap<String, TypeHint>,
    strict_types: bool,
    progress: &dyn Progress,
    allow_fast: bool,
) -> Result<Table> {
    let na = NaSet::new(&options.na_values);
    let Sniffed {
        delimiter,
        has_header,
        first_rows,
    } = sniff(path, options, &na)?;
    let n_fields = first_rows.first().map_or(0, Vec::len);

    let total = std::fs::metadata(path).map_err(|e| io_err(path, e))?.len();
    let ctx = FileCtx {
        path: path.to_path_buf(),
        delimiter,
        n_fields,
        has_header,
    };

    // Plain files (no quote characters, not gzip) take the one-pass reader over a memory map.
    if allow_fast && let Some(table) = fast::read(&ctx, &na, hints, strict_types, progress)? {
        return Ok(table);
    }

    // Pass 1: structure, encoding and types.
    progress.start("scanning", total);
    let (scan, header_fields) = scan_pass(&ctx, &na, progress)?;
    progress.finish();

    let n_rows = scan.n_rows;
    if n_rows == 0 {
        return Err(if has_header {
            DataError::HeaderOnly {
                path: path.to_path_buf(),
            }
        } else {
            DataError::EmptyFile {
                path: path.to_path_buf(),
            }
        });
    }

    let (plans, notes) = plan_columns(header_fields, n_fields, hints, strict_types, &scan.columns)?;

    // Pass 2: typed values.
    progress.start("parsing", total);
    let arrays = parse_pass(&ctx, &na, &plans, &scan, progress)?;
    progress.finish();
    assemble(path, plans, arrays, n_rows, notes)
}

/// Column names (made unique), checked type overrides and each column's reading plan.
fn plan_columns(
    header_fields: Option<Vec<String>>,
    n_fields: usize,
    hints: &BTreeMap<String, TypeHint>,
    strict_types: bool,
    stats: &[ColumnStats],
) -> Result<(Vec<ColumnPlan>, Vec<String>)> {
    let (names, notes) = column_names(header_fields, n_fields);
    for name in hints.keys().filter(|_| strict_types) {
        if !names.iter().any(|n| n == name) {
            return Err(DataError::unknown_column(
                name,
                names.iter().map(String::as_str),
            ));
        }
    }
    let plans = names
        .iter()
        .zip(stats)
        .map(|(name, stats)| ColumnPlan::decide(name, stats, hints.get(name).copied()))
        .collect();
    Ok((plans, notes))
}

/// The table from each column's plan and array (None: ignored as requested).
fn assemble(
    path: &Path,
    plans: Vec<ColumnPlan>,
    arrays: Vec<Option<ArrayRef>>,
    n_rows: usize,
    mut notes: Vec<String>,
) -> Result<Table> {
    let mut infos = Vec::new();
    let mut kept = Vec::new();
    for (plan, array) in plans.into_iter().zip(arrays) {
        let (Some(value_type), Some(array)) = (plan.value_type, array) else {
            notes.push(format!("column '{}' ignored as requested", plan.name));
            continue;
        };
        if plan.coerced.load(Ordering::Relaxed) > 0 {
            notes.push(format!(
                "column '{}': {} values could not be read as {} and are treated as missing",
                plan.name,
                plan.coerced.load(Ordering::Relaxed),
                value_type.name()
            ));
        }
        infos.push(ColumnInfo {
            name: plan.name,
            value_type,
            hint: plan.hint,
            mixed: plan.mixed,
            coerced_to_missing: plan.coerced.load(Ordering::Relaxed),
        });
        kept.push(array);
    }
    let mut table = Table::new(infos, kept, n_rows)?;
    table.source = Some(path.to_path_buf());
    table.notes = notes;
    Ok(table)
}

struct FileCtx {
    path: PathBuf,
    delimiter: u8,
    n_fields: usize,
    has_header: bool,
}

impl FileCtx {
    fn reader(&self) -> Result<ChunkReader> {
        ChunkReader::open(&self.path, self.delimiter)
    }

    fn csv_core(&self) -> csv_core::Reader {
        csv_core::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .build()
    }
}

fn is_gzip(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 2];
    let mut f = File::open(path).map_err(|e| io_err(path, e))?;
    let n = f.read(&mut magic).map_err(|e| io_err(path, e))?;
    Ok(n == 2 && magic == [0x1f, 0x8b])
}

/// Counts compressed bytes consumed so progress tracks the file on disk.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

pub(crate) fn open_decoded(path: &Path, count: Arc<AtomicU64>) -> Result<Box<dyn Read + Send>> {
    let gz = is_gzip(path)?;
    let file = File::open(path).map_err(|e| io_err(path, e))?;
    let counted = CountingReader { inner: file, count };
    Ok(if gz {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 20,
            counted,
        )))
    } else {
        Box::new(counted)
    })
}

pub(crate) fn column_names(
    header: Option<Vec<String>>,
    n_fields: usize,
) -> (Vec<String>, Vec<String>) {
    let mut notes = Vec::new();
    let raw: Vec<String> = match header {
        Some(h) => h,
        None => {
            notes.push("no header row detected; columns are named column_1, column_2, …".into());
            (1..=n_fields).map(|i| format!("column_{i}")).collect()
        }
    };
    let candidates: Vec<String> = raw
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let trimmed = name.trim();
            if trimmed.is_empty() {
                notes.push(format!(
                    "column {} has no name in the header; named column_{}",
                    i + 1,
                    i + 1
                ));
                format!("column_{}", i + 1)
            } else {
                trimmed.to_string()
            }
        })
        .collect();
    // A repeat is renamed `name.k` with the smallest k that collides with no name in the header
    // (before or after it) and no earlier rename, so every column stays addressable by name.
    let mut taken: HashSet<String> = candidates.iter().cloned().collect();
    let mut emitted: HashSet<String> = HashSet::with_capacity(candidates.len());
    let mut next_suffix: HashMap<String, usize> = HashMap::new();
    let mut names = Vec::with_capacity(candidates.len());
    for name in candidates {
        if emitted.insert(name.clone()) {
            names.push(name);
            continue;
        }
        let k = next_suffix.entry(name.clone()).or_insert(1);
        let renamed = loop {
            let candidate = format!("{name}.{k}");
            *k += 1;
            if taken.insert(candidate.clone()) {
                break candidate;
            }
        };
        notes.push(format!(
            "column name '{name}' appears more than once; renamed the repeat to '{renamed}'"
        ));
        emitted.insert(renamed.clone());
        names.push(renamed);
    }
    (names, notes)
}

pub(crate) fn describe_delimiter(d: u8) -> String {
    match d {
        b'\t' => "tab".into(),
        b',' => "comma".into(),
        b';' => "semicolon".into(),
        b'|' => "pipe".into(),
        other => format!("'{}'", other as char),
    }
}
