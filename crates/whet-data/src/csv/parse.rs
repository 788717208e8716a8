//! The streaming reader's two passes. Pass 1 (`scan_pass`) classifies every field of every
//! chunk into per-column counts, from which each column gets a `ColumnPlan`; pass 2
//! (`parse_pass`) reads the same chunks again and writes each column straight into its final
//! Arrow array.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, new_null_array};
use rayon::prelude::*;

use super::chunk::{BadRecord, Chunk, for_each_record, record_error};
use super::scan::{ColumnStats, NaSet, parse_bool_loose, parse_f64, parse_i64};
use super::{FileCtx, NoProgress, Progress};
use crate::datetime::{self, DateFormat, FormatMask};
use crate::error::{DataError, Result};
use crate::table::{MixedTypes, TypeHint, ValueType};

/// How pass 2 reads one column.
pub(super) struct ColumnPlan {
    pub(super) name: String,
    pub(super) hint: Option<TypeHint>,
    pub(super) value_type: Option<ValueType>,
    date_format: Option<DateFormat>,
    pub(super) mixed: Option<MixedTypes>,
    pub(super) coerced: AtomicU64,
}

impl ColumnPlan {
    pub(super) fn decide(name: &str, s: &ColumnStats, hint: Option<TypeHint>) -> ColumnPlan {
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

pub(super) struct Scan {
    pub(super) n_rows: usize,
    pub(super) columns: Vec<ColumnStats>,
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

pub(super) fn scan_pass(
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
        if progress.stop_requested() {
            return Err(DataError::Interrupted {
                path: ctx.path.clone(),
            });
        }
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

/// Where pass 2 puts one column's values for one chunk: fixed-width columns are written in
/// place into the final buffers (no per-chunk arrays, no concatenation); text is built per
/// chunk and joined at the end.
pub(super) enum Slot<'a> {
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
    pub(super) fn put(&mut self, i: usize, field: &[u8], na: &NaSet) -> bool {
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
pub(super) enum Sink {
    Int(Vec<i64>, Vec<bool>),
    Float(Vec<f64>, Vec<bool>),
    Bool(Vec<bool>, Vec<bool>),
    Date(Vec<i64>, Vec<bool>, Option<DateFormat>),
    Text(Vec<ArrayRef>),
    Skip,
}

impl Sink {
    pub(super) fn new(plan: &ColumnPlan, n: usize) -> Sink {
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
    pub(super) fn slots(
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

    pub(super) fn finish(self, name: &str) -> Result<Option<ArrayRef>> {
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
pub(super) fn file_changed(ctx: &FileCtx) -> DataError {
    DataError::Format {
        path: ctx.path.clone(),
        message: "the file changed while it was being read".into(),
        hint: "read a file that is not being written to".into(),
    }
}

/// Text arrays by column (None for fixed-width columns) and values read as missing by column.
pub(super) type ParsedChunk = (Vec<Option<ArrayRef>>, Vec<u64>);

/// Adds one parsed chunk to the columns: its text pieces (numbers were written in place) and
/// its count of values coerced to missing.
pub(super) fn absorb_chunk(sinks: &mut [Sink], plans: &[ColumnPlan], (text, coerced): ParsedChunk) {
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

pub(super) fn parse_pass(
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
        if progress.stop_requested() {
            return Err(DataError::Interrupted {
                path: ctx.path.clone(),
            });
        }
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
