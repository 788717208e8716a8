//! CSV into Arrow, in two streaming passes over the file.
//!
//! Pass 1 splits the byte stream into chunks at record boundaries, validates UTF-8, checks
//! field counts and classifies every field (missing, integer, float, boolean, datetime, other).
//! Pass 2 re-reads the same chunks and parses each column straight into its final Arrow type.
//! Reading twice costs less than holding the text: peak memory is the decoded table plus a few
//! chunks, and types are decided from every value, not a sample.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, new_null_array};
use rayon::prelude::*;

use crate::datetime::{self, DateFormat, FormatMask};
use crate::error::{DataError, Result};
use crate::table::{ColumnInfo, MixedTypes, Table, TypeHint, ValueType};

mod fast;

pub const DEFAULT_NA_VALUES: &[&str] = &["", "NA", "N/A", "null", "NULL", "NaN", "?"];

const CHUNK_BYTES: usize = 4 << 20;
const SNIFF_BYTES: usize = 256 << 10;
/// The sample grows up to this size until it holds the first lines of a very wide file.
const MAX_SNIFF_BYTES: usize = 64 << 20;
const CANDIDATE_DELIMITERS: &[u8] = b",\t;|";

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
}

pub struct NoProgress;
impl Progress for NoProgress {}

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> DataError {
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

/// `read_csv`; `allow_fast: false` forces the streaming reader (tests compare the two).
fn read_csv_with(
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

/// What the first lines of a file tell: its delimiter, whether it has a header, and its first
/// (up to two) records.
pub(crate) struct Sniffed {
    pub(crate) delimiter: u8,
    pub(crate) has_header: bool,
    pub(crate) first_rows: Vec<Vec<String>>,
}

/// Sniffs delimiter and header (unless `options` fixes them); an empty file is an error.
pub(crate) fn sniff(path: &Path, options: &CsvOptions, na: &NaSet) -> Result<Sniffed> {
    let (sample, complete) = read_sample(path)?;
    let sample = strip_bom(&sample);
    if sample.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let delimiter = match options.delimiter {
        Some(d) => d,
        None => sniff_delimiter(sample, complete),
    };
    let first_rows = parse_sample_rows(sample, delimiter, 2, complete);
    if first_rows.is_empty() {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            message: format!(
                "the first record is longer than {} MB",
                MAX_SNIFF_BYTES >> 20
            ),
            hint: "check the file's quoting: a quote that is never closed makes the rest of the file one field".into(),
        });
    }
    let has_header = match options.has_header {
        Some(h) => h,
        None => sniff_header(&first_rows, na),
    };
    Ok(Sniffed {
        delimiter,
        has_header,
        first_rows,
    })
}

/// The start of the decoded file for sniffing, and whether it is the whole file. The sample
/// grows until it holds at least two line ends, so a wide file's header is never cut.
fn read_sample(path: &Path) -> Result<(Vec<u8>, bool)> {
    let mut limit = SNIFF_BYTES;
    loop {
        let mut reader = open_decoded(path, Arc::new(AtomicU64::new(0)))?;
        let mut buf = vec![0u8; limit];
        let mut filled = 0;
        while filled < buf.len() {
            let n = reader
                .read(&mut buf[filled..])
                .map_err(|e| io_err(path, e))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        let complete = filled < limit;
        if complete || limit >= MAX_SNIFF_BYTES || memchr::memchr_iter(b'\n', &buf).nth(1).is_some()
        {
            return Ok((buf, complete));
        }
        limit *= 4;
    }
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)
}

/// Parses up to `max_rows` records of a sample; unless the sample is the `complete` file, a
/// record that reaches its end may be cut and is dropped.
fn parse_sample_rows(
    sample: &[u8],
    delimiter: u8,
    max_rows: usize,
    complete: bool,
) -> Vec<Vec<String>> {
    let mut rdr = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let mut rows = Vec::new();
    let mut input = sample;
    let mut out = vec![0u8; sample.len() + 1];
    let mut ends = vec![0usize; 1 << 10];
    let (mut out_len, mut ends_len) = (0usize, 0usize);
    loop {
        let (res, nin, nout, nend) =
            rdr.read_record(input, &mut out[out_len..], &mut ends[ends_len..]);
        input = &input[nin..];
        out_len += nout;
        ends_len += nend;
        match res {
            csv_core::ReadRecordResult::Record => {
                if input.is_empty() && !complete {
                    break;
                }
                let mut start = 0;
                let fields = ends[..ends_len]
                    .iter()
                    .map(|&e| {
                        let f = String::from_utf8_lossy(&out[start..e]).into_owned();
                        start = e;
                        f
                    })
                    .collect();
                rows.push(fields);
                out_len = 0;
                ends_len = 0;
                if rows.len() >= max_rows {
                    break;
                }
            }
            // With the whole file in hand, the next (empty) read flushes a last record that has
            // no line end; otherwise that record may be cut.
            csv_core::ReadRecordResult::InputEmpty => {
                if !complete {
                    break;
                }
            }
            csv_core::ReadRecordResult::End => break,
            csv_core::ReadRecordResult::OutputEndsFull => {
                let len = ends.len();
                ends.resize(len * 2, 0);
            }
            // `out` is as long as the sample and output never exceeds input.
            csv_core::ReadRecordResult::OutputFull => break,
        }
    }
    rows
}

/// Picks the candidate delimiter that splits the sample's lines into the most consistent
/// number (>1) of fields; ties go to the larger count, then to the order of candidates.
fn sniff_delimiter(sample: &[u8], complete: bool) -> u8 {
    let mut best = (b',', 0.0f64, 0usize);
    for &d in CANDIDATE_DELIMITERS {
        let rows = parse_sample_rows(sample, d, 200, complete);
        if rows.is_empty() {
            continue;
        }
        let mut counts: HashMap<usize, usize> = HashMap::new();
        for r in &rows {
            *counts.entry(r.len()).or_default() += 1;
        }
        let (&modal, &freq) = counts
            .iter()
            .max_by_key(|(len, freq)| (**freq, **len))
            .unwrap_or((&1, &0));
        if modal < 2 {
            continue;
        }
        let consistency = freq as f64 / rows.len() as f64;
        let better =
            consistency > best.1 + 1e-9 || ((consistency - best.1).abs() <= 1e-9 && modal > best.2);
        if better {
            best = (d, consistency, modal);
        }
    }
    best.0
}

/// A header is assumed unless some first-row field is a number: column names are rarely numbers.
fn sniff_header(rows: &[Vec<String>], na: &NaSet) -> bool {
    let Some(first) = rows.first() else {
        return true;
    };
    !first
        .iter()
        .any(|f| !na.contains(f.as_bytes()) && classify_number(f.as_bytes()).is_some())
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

/// Missing-value tokens, compared after trimming surrounding spaces.
pub(crate) struct NaSet {
    tokens: Vec<Vec<u8>>,
    max_len: usize,
    /// Bytes a field can start with and still be a token: first bytes of the tokens, and
    /// whitespace (trimmed before comparing). Most numbers are ruled out by their first byte.
    starts: [bool; 256],
}

impl NaSet {
    pub(crate) fn new(tokens: &[String]) -> NaSet {
        let mut tokens: Vec<Vec<u8>> = tokens
            .iter()
            .map(|t| t.trim().as_bytes().to_vec())
            .collect();
        // An empty field is missing whatever else the user lists.
        if !tokens.iter().any(Vec::is_empty) {
            tokens.push(Vec::new());
        }
        let max_len = tokens.iter().map(Vec::len).max().unwrap_or(0);
        let mut starts = [false; 256];
        for t in &tokens {
            if let Some(&b) = t.first() {
                starts[usize::from(b)] = true;
            }
        }
        for b in 0..=255u8 {
            if b.is_ascii_whitespace() {
                starts[usize::from(b)] = true;
            }
        }
        NaSet {
            tokens,
            max_len,
            starts,
        }
    }

    #[inline]
    pub(crate) fn contains(&self, field: &[u8]) -> bool {
        if let Some(&b) = field.first()
            && !self.starts[usize::from(b)]
        {
            return false;
        }
        let f = trim_ascii(field);
        f.len() <= self.max_len && self.tokens.iter().any(|t| t.as_slice() == f)
    }
}

#[inline]
fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum NumberKind {
    Int,
    Float,
}

/// A decimal number split into its parts by one scan: sign, up to 19 significant digits as an
/// integer, and a power of ten. Anything else (inf, nan, hex, stray characters) is not `Plain`.
#[derive(Debug, PartialEq)]
struct Decimal {
    negative: bool,
    mantissa: u64,
    exponent: i32,
    /// More than 19 significant digits: the mantissa was truncated.
    truncated: bool,
    /// No dot and no exponent.
    integer: bool,
    int_digits: usize,
}

#[inline]
fn scan_decimal(f: &[u8]) -> Option<Decimal> {
    // Most numeric fields are short plain decimals: every digit fits the mantissa, so one
    // tight loop without the long-number bookkeeping reads them.
    if f.len() <= 19
        && let Some(d) = scan_short_decimal(f)
    {
        return Some(d);
    }
    scan_long_decimal(f)
}

/// `[+-]digits[.digits]` of at most 19 bytes (so at most 19 digits, which fit a u64); None
/// for anything else, which the general scanner then reads.
#[inline]
fn scan_short_decimal(f: &[u8]) -> Option<Decimal> {
    let (negative, body) = match f.first() {
        Some(b'-') => (true, &f[1..]),
        Some(b'+') => (false, &f[1..]),
        _ => (false, f),
    };
    let mut mantissa = 0u64;
    let mut dot = None;
    for (i, &c) in body.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            mantissa = mantissa * 10 + u64::from(d);
        } else if c == b'.' && dot.is_none() {
            dot = Some(i);
        } else {
            return None;
        }
    }
    let int_digits = dot.unwrap_or(body.len());
    let frac_digits = body.len() - int_digits - usize::from(dot.is_some());
    if int_digits + frac_digits == 0 {
        return None;
    }
    Some(Decimal {
        negative,
        mantissa,
        exponent: -(frac_digits as i32),
        truncated: false,
        integer: dot.is_none(),
        int_digits,
    })
}

fn scan_long_decimal(f: &[u8]) -> Option<Decimal> {
    let mut i = 0;
    let negative = match f.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let mut mantissa: u64 = 0;
    let mut significant = 0usize;
    let mut dropped_exp = 0i32;
    let mut truncated = false;
    let start = i;
    while i < f.len() && f[i].is_ascii_digit() {
        let d = u64::from(f[i] - b'0');
        if significant < 19 {
            if mantissa != 0 || d != 0 {
                significant += 1;
            }
            mantissa = mantissa * 10 + d;
        } else {
            dropped_exp += 1;
            truncated |= d != 0;
        }
        i += 1;
    }
    let int_digits = i - start;
    let mut frac_digits = 0usize;
    let mut exponent = dropped_exp;
    let mut integer = true;
    if i < f.len() && f[i] == b'.' {
        integer = false;
        i += 1;
        while i < f.len() && f[i].is_ascii_digit() {
            let d = u64::from(f[i] - b'0');
            if significant < 19 {
                if mantissa != 0 || d != 0 {
                    significant += 1;
                }
                mantissa = mantissa * 10 + d;
                exponent -= 1;
            } else {
                truncated |= d != 0;
            }
            frac_digits += 1;
            i += 1;
        }
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if i < f.len() && (f[i] == b'e' || f[i] == b'E') {
        integer = false;
        i += 1;
        let exp_negative = match f.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let exp_start = i;
        let mut e: i32 = 0;
        while i < f.len() && f[i].is_ascii_digit() {
            e = e.saturating_mul(10).saturating_add(i32::from(f[i] - b'0'));
            i += 1;
        }
        if i == exp_start {
            return None;
        }
        exponent = exponent.saturating_add(if exp_negative { -e } else { e });
    }
    if i != f.len() {
        return None;
    }
    Some(Decimal {
        negative,
        mantissa,
        exponent,
        truncated,
        integer,
        int_digits,
    })
}

fn is_special_float(f: &[u8]) -> bool {
    let body = match f.first() {
        Some(b'+' | b'-') => &f[1..],
        _ => f,
    };
    body.eq_ignore_ascii_case(b"inf")
        || body.eq_ignore_ascii_case(b"infinity")
        || body.eq_ignore_ascii_case(b"nan")
}

/// Integer when it fits i64 exactly, float for any other decimal number (or inf/nan).
#[inline]
fn classify_number(field: &[u8]) -> Option<NumberKind> {
    let f = trim_ascii(field);
    if f.is_empty() {
        return None;
    }
    match scan_decimal(f) {
        Some(d) if d.integer && d.int_digits <= 18 => Some(NumberKind::Int),
        Some(_) => Some(NumberKind::Float),
        None if is_special_float(f) => Some(NumberKind::Float),
        None => None,
    }
}

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Clinger's fast path: a mantissa below 2^53 and a power of ten up to 22 are both exact
/// doubles, so one multiplication or division rounds correctly. Everything else goes to
/// Rust's full parser.
#[inline]
fn parse_f64(field: &[u8]) -> Option<f64> {
    let f = trim_ascii(field);
    match scan_decimal(f) {
        Some(d) => decimal_f64(&d, f),
        None => std::str::from_utf8(f).ok()?.parse::<f64>().ok(),
    }
}

/// The value of `f` (trimmed), already scanned into `d`.
#[inline]
fn decimal_f64(d: &Decimal, f: &[u8]) -> Option<f64> {
    if !d.truncated && d.mantissa < (1 << 53) && (-22..=22).contains(&d.exponent) {
        let m = d.mantissa as f64;
        let v = if d.exponent >= 0 {
            m * POW10[d.exponent as usize]
        } else {
            m / POW10[(-d.exponent) as usize]
        };
        return Some(if d.negative { -v } else { v });
    }
    std::str::from_utf8(f).ok()?.parse::<f64>().ok()
}

#[inline]
fn parse_i64(field: &[u8]) -> Option<i64> {
    let f = trim_ascii(field);
    let (neg, digits) = match f.first() {
        Some(b'-') => (true, &f[1..]),
        Some(b'+') => (false, &f[1..]),
        _ => (false, f),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(d - b'0');
    }
    Some(if neg { -v } else { v })
}

#[inline]
fn parse_bool(field: &[u8]) -> Option<bool> {
    let f = trim_ascii(field);
    if f.len() > 5 {
        return None;
    }
    if f.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if f.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}

/// Looser boolean reading for a column the user declared boolean.
fn parse_bool_loose(field: &[u8]) -> Option<bool> {
    let f = trim_ascii(field);
    parse_bool(f).or_else(|| {
        let lower = f.to_ascii_lowercase();
        match lower.as_slice() {
            b"1" | b"yes" | b"y" | b"t" => Some(true),
            b"0" | b"no" | b"n" | b"f" => Some(false),
            _ => None,
        }
    })
}

/// What pass 1 learned about one column.
#[derive(Clone, Debug, Default)]
struct ColumnStats {
    missing: u64,
    ints: u64,
    floats: u64,
    bools: u64,
    dates: u64,
    others: u64,
    date_mask: Option<FormatMask>,
    /// First value that is not a number, with its row (chunk-local until merged).
    first_other: Option<(u64, String)>,
}

impl ColumnStats {
    #[inline]
    fn observe(&mut self, field: &[u8], row: u64, na: &NaSet) {
        if na.contains(field) {
            self.missing += 1;
            return;
        }
        match classify_number(field) {
            Some(NumberKind::Int) => {
                self.ints += 1;
                return;
            }
            Some(NumberKind::Float) => {
                self.floats += 1;
                return;
            }
            None => {}
        }
        self.observe_other(field, row);
    }

    /// A value that is neither missing nor a number.
    #[inline]
    fn observe_other(&mut self, field: &[u8], row: u64) {
        if parse_bool(field).is_some() {
            self.bools += 1;
        } else {
            let mask = datetime::detect(field);
            if mask.is_empty() {
                self.others += 1;
            } else {
                self.dates += 1;
                self.date_mask = Some(self.date_mask.map_or(mask, |m| m.and(mask)));
            }
        }
        if self.first_other.is_none() {
            self.first_other = Some((row, String::from_utf8_lossy(field).into_owned()));
        }
    }

    fn merge(&mut self, other: &ColumnStats, row_offset: u64) {
        self.missing += other.missing;
        self.ints += other.ints;
        self.floats += other.floats;
        self.bools += other.bools;
        self.dates += other.dates;
        self.others += other.others;
        self.date_mask = match (self.date_mask, other.date_mask) {
            (Some(a), Some(b)) => Some(a.and(b)),
            (a, b) => a.or(b),
        };
        if self.first_other.is_none() {
            self.first_other = other
                .first_other
                .as_ref()
                .map(|(r, v)| (r + row_offset, v.clone()));
        }
    }

    fn non_missing(&self) -> u64 {
        self.ints + self.floats + self.bools + self.dates + self.others
    }
}

/// How pass 2 reads one column.
struct ColumnPlan {
    name: String,
    hint: Option<TypeHint>,
    value_type: Option<ValueType>,
    date_format: Option<DateFormat>,
    mixed: Option<MixedTypes>,
    coerced: AtomicU64,
}

impl ColumnPlan {
    fn decide(name: &str, s: &ColumnStats, hint: Option<TypeHint>) -> ColumnPlan {
        let non_missing = s.non_missing();
        let numeric = s.ints + s.floats;
        let date_format = s.date_mask.and_then(FormatMask::first);
        let inferred = if non_missing == 0 || numeric == non_missing {
            if s.floats == 0 && non_missing > 0 {
                ValueType::Integer
            } else {
                ValueType::Float
            }
        } else if s.bools == non_missing {
            ValueType::Boolean
        } else if s.dates == non_missing && date_format.is_some() {
            ValueType::Datetime
        } else {
            ValueType::String
        };
        let value_type = match hint {
            Some(h) => h.value_type(),
            None => Some(inferred),
        };
        let mixed = match (inferred, &s.first_other) {
            (ValueType::String, Some((row, example)))
                if numeric > 0 && numeric * 2 >= non_missing =>
            {
                Some(MixedTypes {
                    numeric_values: numeric,
                    other_values: non_missing - numeric,
                    example: example.clone(),
                    example_row: row + 1,
                })
            }
            _ => None,
        };
        ColumnPlan {
            name: name.to_string(),
            hint,
            value_type,
            // A hinted datetime column that inference did not recognise is read with whatever
            // format its date-like values agree on.
            date_format,
            mixed,
            coerced: AtomicU64::new(0),
        }
    }
}

/// Yields the decoded byte stream in chunks that end on record boundaries.
struct ChunkReader {
    inner: Box<dyn Read + Send>,
    path: PathBuf,
    consumed: Arc<AtomicU64>,
    reported: u64,
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned for quotes/newlines, and the quote parity there.
    scanned: usize,
    in_quotes: bool,
    eof: bool,
    first: bool,
    /// Parity splitting assumes RFC 4180 quoting; `exact` instead asks csv-core where records
    /// end, which is always right but sequential.
    exact: bool,
    delimiter: u8,
    offset: u64,
}

struct Chunk {
    data: Vec<u8>,
    /// Offset of `data` in the decoded stream (counting any BOM, which `data` omits).
    offset: u64,
}

impl ChunkReader {
    fn open(path: &Path, delimiter: u8) -> Result<ChunkReader> {
        let consumed = Arc::new(AtomicU64::new(0));
        Ok(ChunkReader {
            inner: open_decoded(path, consumed.clone())?,
            path: path.to_path_buf(),
            consumed,
            reported: 0,
            buf: Vec::new(),
            scanned: 0,
            in_quotes: false,
            eof: false,
            first: true,
            exact: false,
            delimiter,
            offset: 0,
        })
    }

    fn take_progress(&mut self) -> u64 {
        let now = self.consumed.load(Ordering::Relaxed);
        let delta = now - self.reported;
        self.reported = now;
        delta
    }

    fn fill(&mut self, target: usize) -> Result<()> {
        while self.buf.len() < target && !self.eof {
            let start = self.buf.len();
            self.buf.resize(target, 0);
            let n = self
                .inner
                .read(&mut self.buf[start..])
                .map_err(|e| io_err(&self.path, e))?;
            self.buf.truncate(start + n);
            if n == 0 {
                self.eof = true;
            }
        }
        if self.first && self.buf.len() >= 3 {
            self.first = false;
            if self.buf.starts_with(b"\xef\xbb\xbf") {
                self.buf.drain(..3);
                // Offsets in messages count the BOM, as a hex editor does.
                self.offset = 3;
            }
        }
        Ok(())
    }

    /// Position just past the last record end in `buf`, if any.
    fn last_boundary(&mut self) -> Option<usize> {
        if self.exact {
            return self.last_boundary_exact();
        }
        let mut last = None;
        let mut in_quotes = self.in_quotes;
        for pos in memchr::memchr2_iter(b'"', b'\n', &self.buf[self.scanned..]) {
            let pos = pos + self.scanned;
            if self.buf[pos] == b'"' {
                in_quotes = !in_quotes;
            } else if !in_quotes {
                last = Some(pos + 1);
            }
        }
        self.scanned = self.buf.len();
        self.in_quotes = in_quotes;
        last
    }

    fn last_boundary_exact(&self) -> Option<usize> {
        let mut rdr = csv_core::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .build();
        let mut out = vec![0u8; 64 << 10];
        let mut ends = vec![0usize; 4096];
        let mut pos = 0;
        let mut last = None;
        loop {
            let (res, nin, _, _) = rdr.read_record(&self.buf[pos..], &mut out, &mut ends);
            pos += nin;
            match res {
                csv_core::ReadRecordResult::Record => last = Some(pos),
                csv_core::ReadRecordResult::InputEmpty | csv_core::ReadRecordResult::End => {
                    return last;
                }
                // Only record ends matter here, not field contents.
                csv_core::ReadRecordResult::OutputFull
                | csv_core::ReadRecordResult::OutputEndsFull => {}
            }
        }
    }

    fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        let mut target = CHUNK_BYTES.max(self.buf.len() + CHUNK_BYTES / 2);
        loop {
            self.fill(target)?;
            if self.eof {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let data = std::mem::take(&mut self.buf);
                return Ok(Some(self.emit(data)));
            }
            if let Some(end) = self.last_boundary() {
                let rest = self.buf.split_off(end);
                let data = std::mem::replace(&mut self.buf, rest);
                // The remainder starts at a record boundary, outside quotes.
                self.scanned = 0;
                self.in_quotes = false;
                return Ok(Some(self.emit(data)));
            }
            target = self.buf.len() * 2;
        }
    }

    fn emit(&mut self, data: Vec<u8>) -> Chunk {
        let chunk = Chunk {
            offset: self.offset,
            data,
        };
        self.offset += chunk.data.len() as u64;
        chunk
    }

    /// Reads up to `n` chunks, the unit of parallel work.
    fn next_batch(&mut self, n: usize) -> Result<Vec<Chunk>> {
        let mut batch = Vec::with_capacity(n);
        while batch.len() < n {
            match self.next_chunk()? {
                Some(c) => batch.push(c),
                None => break,
            }
        }
        Ok(batch)
    }
}

/// Iterates the records of a chunk, handing each one's fields to `f`.
/// Returns the number of newlines in the chunk, or the first record that is malformed.
fn for_each_record(
    rdr: &mut csv_core::Reader,
    delimiter: u8,
    data: &[u8],
    n_fields: usize,
    mut f: impl FnMut(&[u8], &[usize]),
) -> std::result::Result<u64, BadRecord> {
    let mut out = vec![0u8; 1 << 16];
    let mut ends = vec![0usize; n_fields.max(1) + 1];
    let mut input = data;
    let (mut out_len, mut ends_len) = (0usize, 0usize);
    // csv-core counts lines from 1 and returns a record as soon as it reads the terminator,
    // before the `\n` of a `\r\n` and before any blank lines, which it skips on the next call.
    let start_line = rdr.line();
    let mut record_line = record_start_line(rdr, input);
    let mut record_start = 0usize;
    let mut flushed = false;
    loop {
        let (res, nin, nout, nend) =
            rdr.read_record(input, &mut out[out_len..], &mut ends[ends_len..]);
        input = &input[nin..];
        out_len += nout;
        ends_len += nend;
        match res {
            csv_core::ReadRecordResult::InputEmpty => {
                // An empty read flushes a final record that has no trailing newline.
                if flushed {
                    return Ok(rdr.line() - start_line);
                }
                flushed = input.is_empty();
            }
            csv_core::ReadRecordResult::OutputFull => {
                let len = out.len();
                out.resize(len * 2, 0);
            }
            csv_core::ReadRecordResult::OutputEndsFull => {
                let len = ends.len();
                ends.resize(len * 2, 0);
            }
            csv_core::ReadRecordResult::Record => {
                let line = record_line - start_line + 1;
                // csv-core ends a quoted field that is never closed at the end of the input,
                // silently swallowing everything after the quote.
                if flushed && ends_in_open_quote(&data[record_start..], delimiter) {
                    return Err(BadRecord::OpenQuote { line });
                }
                if ends_len != n_fields {
                    return Err(BadRecord::Ragged {
                        line,
                        found: ends_len,
                    });
                }
                f(&out[..out_len], &ends[..ends_len]);
                out_len = 0;
                ends_len = 0;
                record_line = record_start_line(rdr, input);
                record_start = data.len() - input.len();
            }
            csv_core::ReadRecordResult::End => return Ok(rdr.line() - start_line),
        }
    }
}

/// The line (in `rdr`'s count) on which the next record starts: csv-core skips line ends
/// before a record (the rest of a `\r\n`, blank lines), so those newlines come first.
fn record_start_line(rdr: &csv_core::Reader, rest: &[u8]) -> u64 {
    let skipped = rest
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .filter(|&&b| b == b'\n')
        .count();
    rdr.line() + skipped as u64
}

/// Whether `record` (one record's raw bytes, without a line end) stops inside a quoted field.
fn ends_in_open_quote(record: &[u8], delimiter: u8) -> bool {
    let mut rdr = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let mut out = vec![0u8; record.len() + 1];
    let mut ends = vec![0usize; 64];
    let (mut input, mut out_len) = (record, 0usize);
    // Fed a line end after the record, a closed record is complete at once; an open quoted
    // field takes the line end as text and asks for more.
    let mut tail: &[u8] = b"\n";
    loop {
        let (res, nin, nout, _) = rdr.read_record(input, &mut out[out_len..], &mut ends);
        input = &input[nin..];
        out_len += nout;
        match res {
            csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => return false,
            csv_core::ReadRecordResult::OutputEndsFull => {}
            csv_core::ReadRecordResult::OutputFull => {
                let len = out.len();
                out.resize(len * 2, 0);
            }
            csv_core::ReadRecordResult::InputEmpty => {
                if tail.is_empty() {
                    return true;
                }
                input = tail;
                tail = &[];
            }
        }
    }
}

/// A malformed record; `line` is chunk-local (1-based).
enum BadRecord {
    /// The field count differs from the header's.
    Ragged { line: u64, found: usize },
    /// A quoted field starts in this record and is never closed.
    OpenQuote { line: u64 },
}

struct ChunkScan {
    records: u64,
    lines: u64,
    columns: Vec<ColumnStats>,
    header: Option<Vec<String>>,
    bad: Option<BadRecord>,
    utf8_error: Option<u64>,
    /// Parity splitting guessed a boundary inside a quoted field.
    bad_boundary: bool,
}

struct Scan {
    n_rows: usize,
    columns: Vec<ColumnStats>,
    /// Chunk boundaries had to come from csv-core (quotes that parity splitting misread).
    exact: bool,
    /// Data rows in each chunk, in file order: pass 2 writes each chunk's values straight
    /// into its rows of the final columns.
    chunk_rows: Vec<usize>,
}

fn scan_chunk(ctx: &FileCtx, na: &NaSet, chunk: &Chunk, with_header: bool) -> ChunkScan {
    let mut scan = ChunkScan {
        records: 0,
        lines: 0,
        columns: vec![ColumnStats::default(); ctx.n_fields],
        header: None,
        bad: None,
        utf8_error: None,
        bad_boundary: false,
    };
    if let Err(e) = std::str::from_utf8(&chunk.data) {
        scan.utf8_error = Some(chunk.offset + e.valid_up_to() as u64);
        return scan;
    }
    let mut rdr = ctx.csv_core();
    let mut row: u64 = 0;
    let mut header_pending = with_header;
    let result = for_each_record(
        &mut rdr,
        ctx.delimiter,
        &chunk.data,
        ctx.n_fields,
        |out, ends| {
            if header_pending {
                header_pending = false;
                let mut start = 0;
                scan.header = Some(
                    ends.iter()
                        .map(|&e| {
                            let s = String::from_utf8_lossy(&out[start..e]).into_owned();
                            start = e;
                            s
                        })
                        .collect(),
                );
                return;
            }
            let mut start = 0;
            for (stats, &end) in scan.columns.iter_mut().zip(ends) {
                stats.observe(&out[start..end], row, na);
                start = end;
            }
            row += 1;
        },
    );
    match result {
        Ok(lines) => scan.lines = lines,
        Err(r) => scan.bad = Some(r),
    }
    scan.records = row;
    // A chunk cut inside a quoted field ends in the middle of a record: csv-core then sees the
    // closing quote of the next chunk as an opening one and the counts go wrong, so any bad
    // record under parity splitting is re-checked with exact splitting before it is reported.
    scan.bad_boundary = scan.bad.is_some();
    scan
}

fn scan_pass(
    ctx: &FileCtx,
    na: &NaSet,
    progress: &dyn Progress,
) -> Result<(Scan, Option<Vec<String>>)> {
    match scan_pass_with(ctx, na, progress, false)? {
        Ok(done) => Ok(done),
        Err(()) => match scan_pass_with(ctx, na, &NoProgress, true)? {
            Ok(done) => Ok(done),
            Err(()) => Err(DataError::Format {
                path: ctx.path.clone(),
                message: "cannot find record boundaries".into(),
                hint: "check the file's quoting".into(),
            }),
        },
    }
}

/// `Ok(Err(()))` means parity splitting went wrong and the pass must be redone exactly.
#[allow(clippy::type_complexity)]
fn scan_pass_with(
    ctx: &FileCtx,
    na: &NaSet,
    progress: &dyn Progress,
    exact: bool,
) -> Result<std::result::Result<(Scan, Option<Vec<String>>), ()>> {
    let mut reader = ctx.reader()?;
    reader.exact = exact;
    let batch_size = rayon::current_num_threads() * 2;
    let mut columns = vec![ColumnStats::default(); ctx.n_fields];
    let mut header = None;
    let mut rows: u64 = 0;
    let mut lines: u64 = 0;
    let mut first = true;
    let mut chunk_rows = Vec::new();
    loop {
        let batch = reader.next_batch(batch_size)?;
        progress.advance(reader.take_progress());
        if batch.is_empty() {
            break;
        }
        let scans: Vec<ChunkScan> = batch
            .par_iter()
            .enumerate()
            .map(|(i, c)| scan_chunk(ctx, na, c, first && i == 0 && ctx.has_header))
            .collect();
        first = false;
        for s in scans {
            if let Some(offset) = s.utf8_error {
                return Err(DataError::InvalidUtf8 {
                    path: ctx.path.clone(),
                    offset,
                });
            }
            if let Some(bad) = s.bad {
                if !exact && s.bad_boundary {
                    return Ok(Err(()));
                }
                return Err(record_error(ctx, bad, lines));
            }
            if s.header.is_some() {
                header = s.header;
            }
            for (total, part) in columns.iter_mut().zip(&s.columns) {
                total.merge(part, rows);
            }
            rows += s.records;
            lines += s.lines;
            chunk_rows.push(s.records as usize);
        }
    }
    let n_rows = usize::try_from(rows).map_err(|_| DataError::Format {
        path: ctx.path.clone(),
        message: "too many rows".into(),
        hint: "split the file".into(),
    })?;
    Ok(Ok((
        Scan {
            n_rows,
            columns,
            exact,
            chunk_rows,
        },
        header,
    )))
}

/// The error for a malformed record; `lines_before` counts the lines of earlier chunks.
fn record_error(ctx: &FileCtx, bad: BadRecord, lines_before: u64) -> DataError {
    match bad {
        BadRecord::Ragged { line, found } => DataError::RaggedRow {
            path: ctx.path.clone(),
            line: lines_before + line,
            expected: ctx.n_fields,
            found,
            delimiter: describe_delimiter(ctx.delimiter),
        },
        BadRecord::OpenQuote { line } => DataError::Format {
            path: ctx.path.clone(),
            message: format!(
                "line {}: a quoted field starts in this record and is never closed",
                lines_before + line
            ),
            hint: "close the quote; a quote inside a quoted field is written twice (\"\")".into(),
        },
    }
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

/// Where pass 2 puts one column's values for one chunk: fixed-width columns are written in
/// place into the final buffers (no per-chunk arrays, no concatenation); text is built per
/// chunk and joined at the end.
enum Slot<'a> {
    Int(&'a mut [i64], &'a mut [bool]),
    Float(&'a mut [f64], &'a mut [bool]),
    Bool(&'a mut [bool], &'a mut [bool]),
    Date(&'a mut [i64], &'a mut [bool], Option<DateFormat>),
    Text(StringBuilder),
    Skip,
}

impl Slot<'_> {
    /// Writes row `i`; returns false when the value had to be read as missing.
    #[inline]
    fn put(&mut self, i: usize, field: &[u8], na: &NaSet) -> bool {
        if matches!(self, Slot::Skip) {
            return true;
        }
        if na.contains(field) {
            if let Slot::Text(b) = self {
                b.append_null();
            }
            // Fixed-width validity starts false: nothing to write.
            return true;
        }
        match self {
            Slot::Int(v, ok) => match parse_i64(field) {
                Some(x) => {
                    v[i] = x;
                    ok[i] = true;
                }
                None => return false,
            },
            Slot::Float(v, ok) => match parse_f64(field) {
                Some(x) => {
                    v[i] = x;
                    ok[i] = true;
                }
                None => return false,
            },
            Slot::Bool(v, ok) => match parse_bool_loose(field) {
                Some(x) => {
                    v[i] = x;
                    ok[i] = true;
                }
                None => return false,
            },
            Slot::Date(v, ok, fmt) => {
                let parsed = match fmt {
                    Some(f) => datetime::parse(field, *f),
                    None => datetime::detect(field)
                        .first()
                        .and_then(|f| datetime::parse(field, f)),
                };
                match parsed {
                    Some(x) => {
                        v[i] = x;
                        ok[i] = true;
                    }
                    None => return false,
                }
            }
            Slot::Text(b) => match std::str::from_utf8(field) {
                // Chunks were validated as UTF-8 in pass 1 and csv-core only removes ASCII quotes.
                Ok(s) => b.append_value(s),
                Err(_) => {
                    b.append_null();
                    return false;
                }
            },
            Slot::Skip => {}
        }
        true
    }
}

/// Final storage of one column while pass 2 runs.
enum Sink {
    Int(Vec<i64>, Vec<bool>),
    Float(Vec<f64>, Vec<bool>),
    Bool(Vec<bool>, Vec<bool>),
    Date(Vec<i64>, Vec<bool>, Option<DateFormat>),
    Text(Vec<ArrayRef>),
    Skip,
}

impl Sink {
    fn new(plan: &ColumnPlan, n: usize) -> Sink {
        match plan.value_type {
            Some(ValueType::Integer) => Sink::Int(vec![0; n], vec![false; n]),
            Some(ValueType::Float) => Sink::Float(vec![0.0; n], vec![false; n]),
            Some(ValueType::Boolean) => Sink::Bool(vec![false; n], vec![false; n]),
            Some(ValueType::Datetime) => Sink::Date(vec![0; n], vec![false; n], plan.date_format),
            Some(ValueType::String) => Sink::Text(Vec::new()),
            None => Sink::Skip,
        }
    }

    /// Splits rows `start..` of this column into one slot per chunk of `sizes` rows.
    fn slots(
        &mut self,
        start: usize,
        sizes: &[usize],
        rows_per_byte_capacity: &[usize],
    ) -> Vec<Slot<'_>> {
        fn split<'a, T>(mut v: &'a mut [T], sizes: &[usize]) -> Vec<&'a mut [T]> {
            let mut out = Vec::with_capacity(sizes.len());
            for &n in sizes {
                let (head, tail) = std::mem::take(&mut v).split_at_mut(n);
                out.push(head);
                v = tail;
            }
            out
        }
        let total: usize = sizes.iter().sum();
        match self {
            Sink::Int(v, ok) => split(&mut v[start..start + total], sizes)
                .into_iter()
                .zip(split(&mut ok[start..start + total], sizes))
                .map(|(v, ok)| Slot::Int(v, ok))
                .collect(),
            Sink::Float(v, ok) => split(&mut v[start..start + total], sizes)
                .into_iter()
                .zip(split(&mut ok[start..start + total], sizes))
                .map(|(v, ok)| Slot::Float(v, ok))
                .collect(),
            Sink::Bool(v, ok) => split(&mut v[start..start + total], sizes)
                .into_iter()
                .zip(split(&mut ok[start..start + total], sizes))
                .map(|(v, ok)| Slot::Bool(v, ok))
                .collect(),
            Sink::Date(v, ok, fmt) => {
                let fmt = *fmt;
                split(&mut v[start..start + total], sizes)
                    .into_iter()
                    .zip(split(&mut ok[start..start + total], sizes))
                    .map(|(v, ok)| Slot::Date(v, ok, fmt))
                    .collect()
            }
            Sink::Text(_) => rows_per_byte_capacity
                .iter()
                .zip(sizes)
                .map(|(&bytes, &n)| Slot::Text(StringBuilder::with_capacity(n, bytes)))
                .collect(),
            Sink::Skip => sizes.iter().map(|_| Slot::Skip).collect(),
        }
    }

    fn finish(self, name: &str) -> Result<Option<ArrayRef>> {
        fn nulls(ok: Vec<bool>) -> Option<arrow_buffer::NullBuffer> {
            if ok.iter().all(|v| *v) {
                None
            } else {
                Some(arrow_buffer::NullBuffer::from(ok))
            }
        }
        Ok(Some(match self {
            Sink::Int(v, ok) => Arc::new(arrow_array::Int64Array::new(v.into(), nulls(ok))),
            Sink::Float(v, ok) => Arc::new(arrow_array::Float64Array::new(v.into(), nulls(ok))),
            Sink::Bool(v, ok) => Arc::new(arrow_array::BooleanArray::new(
                arrow_buffer::BooleanBuffer::from(v),
                nulls(ok),
            )),
            Sink::Date(v, ok, _) => Arc::new(arrow_array::TimestampMillisecondArray::new(
                v.into(),
                nulls(ok),
            )),
            Sink::Text(pieces) => match pieces.len() {
                0 => new_null_array(&ValueType::String.arrow_type(), 0),
                1 => pieces
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| new_null_array(&ValueType::String.arrow_type(), 0)),
                _ => {
                    let refs: Vec<&dyn arrow_array::Array> =
                        pieces.iter().map(|a| a.as_ref()).collect();
                    arrow_select::concat::concat(&refs).map_err(|e| DataError::Arrow {
                        context: format!("joining column '{name}'"),
                        source: e,
                    })?
                }
            },
            Sink::Skip => return Ok(None),
        }))
    }
}

/// Pass 2 found records where pass 1 found others.
fn file_changed(ctx: &FileCtx) -> DataError {
    DataError::Format {
        path: ctx.path.clone(),
        message: "the file changed while it was being read".into(),
        hint: "read a file that is not being written to".into(),
    }
}

/// Text arrays by column (None for fixed-width columns) and values read as missing by column.
type ParsedChunk = (Vec<Option<ArrayRef>>, Vec<u64>);

/// Adds one parsed chunk to the columns: its text pieces (numbers were written in place) and
/// its count of values coerced to missing.
fn absorb_chunk(sinks: &mut [Sink], plans: &[ColumnPlan], (text, coerced): ParsedChunk) {
    for ((sink, t), (plan, c)) in sinks.iter_mut().zip(text).zip(plans.iter().zip(coerced)) {
        plan.coerced.fetch_add(c, Ordering::Relaxed);
        if let (Sink::Text(pieces), Some(t)) = (sink, t) {
            pieces.push(t);
        }
    }
}

/// Parses one chunk into its slots; returns the finished text arrays (by column) and the
/// count of values read as missing per column.
fn parse_chunk(
    ctx: &FileCtx,
    na: &NaSet,
    chunk: &Chunk,
    skip_header: bool,
    expected_rows: usize,
    mut slots: Vec<Slot<'_>>,
) -> Result<ParsedChunk> {
    let mut coerced = vec![0u64; slots.len()];
    let mut rdr = ctx.csv_core();
    let mut header_pending = skip_header;
    let mut row = 0usize;
    let mut overflow = false;
    let result = for_each_record(
        &mut rdr,
        ctx.delimiter,
        &chunk.data,
        ctx.n_fields,
        |out, ends| {
            if header_pending {
                header_pending = false;
                return;
            }
            if row >= expected_rows {
                overflow = true;
                return;
            }
            let mut start = 0;
            for ((slot, &end), c) in slots.iter_mut().zip(ends).zip(coerced.iter_mut()) {
                if !slot.put(row, &out[start..end], na) {
                    *c += 1;
                }
                start = end;
            }
            row += 1;
        },
    );
    if result.is_err() || overflow || row != expected_rows {
        return Err(file_changed(ctx));
    }
    let text = slots
        .into_iter()
        .map(|s| match s {
            Slot::Text(mut b) => Some(Arc::new(b.finish()) as ArrayRef),
            _ => None,
        })
        .collect();
    Ok((text, coerced))
}

fn parse_pass(
    ctx: &FileCtx,
    na: &NaSet,
    plans: &[ColumnPlan],
    scan: &Scan,
    progress: &dyn Progress,
) -> Result<Vec<Option<ArrayRef>>> {
    let n_rows = scan.n_rows;
    let mut reader = ctx.reader()?;
    reader.exact = scan.exact;
    let batch_size = rayon::current_num_threads() * 2;
    let mut sinks: Vec<Sink> = plans.iter().map(|p| Sink::new(p, n_rows)).collect();
    let mut chunk_index = 0usize;
    let mut row_start = 0usize;
    loop {
        let batch = reader.next_batch(batch_size)?;
        progress.advance(reader.take_progress());
        if batch.is_empty() {
            break;
        }
        let Some(sizes) = scan.chunk_rows.get(chunk_index..chunk_index + batch.len()) else {
            return Err(file_changed(ctx));
        };
        let text_bytes: Vec<usize> = batch.iter().map(|c| c.data.len()).collect();
        // Slots by chunk: column c's slot for chunk k is per_chunk[k][c].
        let mut per_chunk: Vec<Vec<Slot<'_>>> = (0..batch.len())
            .map(|_| Vec::with_capacity(sinks.len()))
            .collect();
        for sink in sinks.iter_mut() {
            for (k, slot) in sink
                .slots(row_start, sizes, &text_bytes)
                .into_iter()
                .enumerate()
            {
                per_chunk[k].push(slot);
            }
        }
        let first_chunk = chunk_index == 0;
        let results: Vec<Result<ParsedChunk>> = batch
            .par_iter()
            .zip(per_chunk)
            .zip(sizes.par_iter())
            .enumerate()
            .map(|(k, ((chunk, slots), &expected))| {
                parse_chunk(
                    ctx,
                    na,
                    chunk,
                    first_chunk && k == 0 && ctx.has_header,
                    expected,
                    slots,
                )
            })
            .collect();
        for r in results {
            absorb_chunk(&mut sinks, plans, r?);
        }
        row_start += sizes.iter().sum::<usize>();
        chunk_index += batch.len();
    }
    sinks
        .into_iter()
        .zip(plans)
        .map(|(sink, plan)| sink.finish(&plan.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_numbers() {
        assert_eq!(classify_number(b"12"), Some(NumberKind::Int));
        assert_eq!(classify_number(b" -7 "), Some(NumberKind::Int));
        assert_eq!(classify_number(b"1.5e3"), Some(NumberKind::Float));
        assert_eq!(classify_number(b".5"), Some(NumberKind::Float));
        assert_eq!(classify_number(b"abc"), None);
        assert_eq!(classify_number(b"2024-01-01"), None);
        assert_eq!(
            classify_number(b"1234567890123456789012"),
            Some(NumberKind::Float)
        );
    }

    #[test]
    fn parses_numbers_exactly() {
        assert_eq!(parse_f64(b"0.1"), Some(0.1));
        assert_eq!(parse_f64(b"-42"), Some(-42.0));
        assert_eq!(parse_i64(b"-9000000000"), Some(-9_000_000_000));
        assert_eq!(parse_i64(b"1.0"), None);
    }

    #[test]
    fn short_decimal_scan_agrees_with_the_general_one() {
        let mut rng = crate::rng::Rng::new(11);
        let alphabet = b"0123456789000.-+e ";
        for _ in 0..200_000 {
            let len = rng.below(20) as usize;
            let f: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            if let Some(short) = scan_short_decimal(&f) {
                assert_eq!(
                    Some(short),
                    scan_long_decimal(&f),
                    "{:?}",
                    String::from_utf8_lossy(&f)
                );
            }
        }
        for f in [
            "0.379076",
            "-1.49977",
            "+7",
            "12.",
            ".5",
            "1234567890123456789",
        ] {
            assert!(scan_short_decimal(f.as_bytes()).is_some(), "{f}");
            assert_eq!(
                scan_decimal(f.as_bytes()),
                scan_long_decimal(f.as_bytes()),
                "{f}"
            );
        }
        for f in ["", ".", "-", "1e5", "1.2.3", "1 ", "--1"] {
            assert!(scan_short_decimal(f.as_bytes()).is_none(), "{f}");
        }
    }

    #[test]
    fn fast_float_parsing_agrees_with_std_bit_for_bit() {
        let mut rng = crate::rng::Rng::new(3);
        let mut cases: Vec<String> = [
            "0",
            "-0",
            "0.0",
            "-0.0",
            "1",
            "+1",
            "007",
            "1.",
            ".5",
            "-.5",
            "1e5",
            "1E-5",
            "2.5e+3",
            "123456789012345678",
            "1234567890123456789012",
            "0.000000000000000000000123",
            "9007199254740993",
            "1e22",
            "1e23",
            "4.35e-310",
            "1.7976931348623157e308",
            "inf",
            "-Infinity",
            "NaN",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..20_000 {
            let v = (rng.next_f64() - 0.5) * 10f64.powi(rng.below(40) as i32 - 20);
            let digits = rng.below(18) as usize;
            cases.push(format!("{v:.digits$}"));
            cases.push(format!("{v:e}"));
            cases.push(format!("{v}"));
        }
        for c in cases {
            let ours = parse_f64(c.as_bytes());
            let std = c.parse::<f64>().ok();
            match (ours, std) {
                (Some(a), Some(b)) => assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "{c}: {a} vs {b}"
                ),
                (a, b) => assert_eq!(a.is_some(), b.is_some(), "{c}"),
            }
            let kind = classify_number(c.as_bytes());
            assert_eq!(kind.is_some(), std.is_some(), "{c}");
        }
        for not_numbers in [
            "", "-", ".", "e5", "1e", "1.2.3", "12a", "0x10", "1,000", "--1",
        ] {
            assert_eq!(
                classify_number(not_numbers.as_bytes()),
                None,
                "{not_numbers}"
            );
        }
    }

    #[test]
    fn sniffs_delimiters() {
        assert_eq!(sniff_delimiter(b"a;b;c\n1;2;3\n4;5;6\n", true), b';');
        assert_eq!(sniff_delimiter(b"a\tb\n1\t2\n", true), b'\t');
        assert_eq!(sniff_delimiter(b"a,b\n\"x;y\",2\n", true), b',');
        assert_eq!(sniff_delimiter(b"a|b|c\n1|2|3\n", true), b'|');
        assert_eq!(sniff_delimiter(b"only\n1\n2\n", true), b',');
    }

    #[test]
    fn sniffs_header() {
        let na = NaSet::new(&["".to_string()]);
        let rows = vec![vec!["a".to_string(), "b".to_string()]];
        assert!(sniff_header(&rows, &na));
        let rows = vec![vec!["1".to_string(), "x".to_string()]];
        assert!(!sniff_header(&rows, &na));
    }
}
