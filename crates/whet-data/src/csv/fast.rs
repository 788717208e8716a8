//! The one-pass reader for plain CSV files: not gzip, no quote character anywhere, and no
//! carriage return except before a line feed. Most machine-written numeric files are plain.
//!
//! The file is cut into chunks at line ends and each pass reads a chunk with a positioned
//! read into a per-thread buffer. A cheap parallel pre-pass
//! (`memchr` speed) checks each chunk is plain, validates UTF-8 and counts lines and
//! records, so every chunk knows its first row. The main pass then splits records on the
//! delimiter, classifies every field as pass 1 of the streaming reader does, and at the same
//! time writes each number in place into a speculative 8-byte column: i64 while a chunk's
//! column holds only integers, f64 from its first float on. Columns whose type turns out to
//! be numeric are finished from those buffers; the others (text, booleans, dates, type
//! overrides, and rare cases such as `-0` among integers) are parsed again from the map with
//! the streaming reader's slots. Anything that is not plain goes to the streaming reader.
//!
//! Resident memory stays near the decoded table plus one chunk per thread, as with the
//! streaming reader. The reader does not memory-map: a mapped file truncated by another process
//! while it is read kills the reader with SIGBUS, whereas a short positioned read is an
//! ordinary error ("the file changed while it was being read").

use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::ArrayRef;
use rayon::prelude::*;

use super::chunk::{BadRecord, CHUNK_BYTES, record_error};
use super::parse::{ColumnPlan, ParsedChunk, Sink, Slot, absorb_chunk, file_changed};
use super::scan::{ColumnStats, NaSet, decimal_f64, is_special_float, scan_decimal, trim_ascii};
use super::{FileCtx, Progress, assemble, io_err, is_gzip, plan_columns};
use crate::error::{DataError, Result};
use crate::table::{Table, TypeHint, ValueType};

/// Reads a plain file; `Ok(None)` when the file is not plain (or holds no data rows) and the
/// streaming reader must take it.
pub(super) fn read(
    ctx: &FileCtx,
    na: &NaSet,
    hints: &BTreeMap<String, TypeHint>,
    strict_types: bool,
    progress: &dyn Progress,
) -> Result<Option<Table>> {
    if matches!(ctx.delimiter, b'"' | b'\r' | b'\n') || is_gzip(&ctx.path)? {
        return Ok(None);
    }
    let Some(source) = Source::open(ctx)? else {
        return Ok(None);
    };
    let bom = source.bom;
    let chunks = source.split_chunks().map_err(|e| source.error(ctx, e))?;

    let infos: Vec<std::io::Result<ChunkInfo>> = chunks
        .par_iter()
        .map(|r| source.with_chunk(r, inspect))
        .collect();
    let infos = infos
        .into_iter()
        .collect::<std::io::Result<Vec<ChunkInfo>>>()
        .map_err(|e| source.error(ctx, e))?;
    if infos.iter().any(|i| !i.plain) {
        return Ok(None);
    }
    #[cfg(test)]
    tests::BETWEEN_PASSES.with(|hook| hook.borrow_mut().take().map(|f| f(&ctx.path)));
    // The header is the first record of the file.
    let header_chunk = if ctx.has_header {
        match infos.iter().position(|i| i.records > 0) {
            Some(k) => Some(k),
            None => return Ok(None),
        }
    } else {
        None
    };
    let rows: Vec<usize> = infos
        .iter()
        .enumerate()
        .map(|(k, i)| i.records as usize - usize::from(header_chunk == Some(k)))
        .collect();
    let n_rows: usize = rows.iter().sum();
    if n_rows == 0 {
        return Ok(None);
    }

    // Main pass: classify every field and keep numbers in speculative columns.
    let total = source.len as u64;
    progress.start("reading", total);
    let n_fields = ctx.n_fields;
    let mut values: Vec<Vec<u64>> = (0..n_fields).map(|_| vec![0u64; n_rows]).collect();
    let mut valid: Vec<Vec<bool>> = (0..n_fields).map(|_| vec![false; n_rows]).collect();
    let mut per_chunk: Vec<Vec<Spec<'_>>> = (0..chunks.len())
        .map(|_| Vec::with_capacity(n_fields))
        .collect();
    for (vals, ok) in values.iter_mut().zip(valid.iter_mut()) {
        for (k, (v, o)) in split(vals, &rows)
            .into_iter()
            .zip(split(ok, &rows))
            .enumerate()
        {
            per_chunk[k].push(Spec {
                vals: v,
                ok: o,
                mode: Mode::Int,
                stats: ColumnStats::default(),
            });
        }
    }
    let results: Vec<std::result::Result<ChunkOut, ChunkError>> = per_chunk
        .into_par_iter()
        .enumerate()
        .map(|(k, specs)| {
            let r = chunks[k].clone();
            if progress.stop_requested() {
                return Err(ChunkError::Stopped);
            }
            let out = match infos[k].utf8_error {
                Some(at) => Err(ChunkError::Utf8((bom + r.start + at) as u64)),
                None => source
                    .with_chunk(&r, |data| {
                        parse_chunk(ctx, na, data, header_chunk == Some(k), specs)
                    })
                    .unwrap_or(Err(ChunkError::Changed)),
            };
            progress.advance(r.len() as u64);
            out
        })
        .collect();
    progress.finish();

    let mut stats = vec![ColumnStats::default(); n_fields];
    let mut modes: Vec<Vec<Mode>> = Vec::with_capacity(chunks.len());
    let mut header = None;
    let (mut lines_before, mut rows_before) = (0u64, 0u64);
    for (k, result) in results.into_iter().enumerate() {
        let out = match result {
            Ok(out) => out,
            Err(ChunkError::Utf8(offset)) => {
                return Err(DataError::InvalidUtf8 {
                    path: ctx.path.clone(),
                    offset,
                });
            }
            Err(ChunkError::Bad(bad)) => return Err(record_error(ctx, bad, lines_before)),
            Err(ChunkError::Changed) => return Err(file_changed(ctx)),
            Err(ChunkError::Stopped) => {
                return Err(DataError::Interrupted {
                    path: ctx.path.clone(),
                });
            }
        };
        if out.header.is_some() {
            header = out.header;
        }
        for (total, part) in stats.iter_mut().zip(&out.stats) {
            total.merge(part, rows_before);
        }
        modes.push(out.modes);
        lines_before += infos[k].lines;
        rows_before += rows[k] as u64;
    }

    let (plans, notes) = plan_columns(header, n_fields, hints, strict_types, &stats)?;

    // Finish numeric columns from their speculative buffers; mark the rest for a re-parse.
    let mut arrays: Vec<Option<ArrayRef>> = Vec::with_capacity(n_fields);
    let mut redo = vec![false; n_fields];
    for (c, (vals, ok)) in values.into_iter().zip(valid).enumerate() {
        let plan = &plans[c];
        let chunk_modes = modes.iter().map(|m| m[c]);
        let speculated = plan.hint.is_none() && chunk_modes.clone().all(|m| m != Mode::Dead);
        let array = match plan.value_type {
            Some(ValueType::Integer)
                if speculated && chunk_modes.clone().all(|m| m == Mode::Int) =>
            {
                Some(int_array(vals, ok))
            }
            Some(ValueType::Float) if speculated => {
                let mut vals = vals;
                let mut start = 0;
                for (m, &n) in chunk_modes.zip(&rows) {
                    if m == Mode::Int {
                        for v in &mut vals[start..start + n] {
                            *v = (*v as i64 as f64).to_bits();
                        }
                    }
                    start += n;
                }
                Some(float_array(vals, ok))
            }
            _ => {
                redo[c] = true;
                None
            }
        };
        arrays.push(array);
    }
    if redo.iter().any(|r| *r) {
        progress.start("parsing", total);
        let redone = reparse(
            ctx,
            na,
            &source,
            &chunks,
            &rows,
            header_chunk,
            &plans,
            &redo,
            progress,
        )?;
        progress.finish();
        for ((slot, again), r) in arrays.iter_mut().zip(redone).zip(&redo) {
            if *r {
                *slot = again;
            }
        }
    }
    #[cfg(test)]
    tests::TAKEN.with(|t| t.set(t.get() + 1));
    assemble(&ctx.path, plans, arrays, n_rows, notes).map(Some)
}

/// The file's bytes after an optional UTF-8 byte order mark, read a chunk at a time. Ranges
/// are offsets after the mark.
struct Source {
    file: File,
    bom: usize,
    /// Bytes after the mark when the file was opened.
    len: usize,
}

thread_local! {
    /// One chunk's bytes, reused by each thread for every chunk and pass.
    static CHUNK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Source {
    /// None where positioned reads are not available (the streaming reader takes the file).
    fn open(ctx: &FileCtx) -> Result<Option<Source>> {
        if !cfg!(unix) {
            return Ok(None);
        }
        let file = File::open(&ctx.path).map_err(|e| io_err(&ctx.path, e))?;
        let size = file.metadata().map_err(|e| io_err(&ctx.path, e))?.len();
        let size = usize::try_from(size).map_err(|_| DataError::Format {
            path: ctx.path.clone(),
            message: format!("{size} bytes is more than this machine can address"),
            hint: "split the file".into(),
        })?;
        let mut source = Source {
            file,
            bom: 0,
            len: size,
        };
        let mut head = [0u8; 3];
        if size >= 3 && source.read_at(&mut head, 0).is_ok() && head == *b"\xef\xbb\xbf" {
            source.bom = 3;
            source.len -= 3;
        }
        Ok(Some(source))
    }

    fn read_at(&self, buf: &mut [u8], offset: usize) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            self.file.read_exact_at(buf, (self.bom + offset) as u64)
        }
        #[cfg(not(unix))]
        {
            let _ = (buf, offset);
            Err(std::io::ErrorKind::Unsupported.into())
        }
    }

    /// Calls `f` with the bytes of `range`; a file now shorter is an `UnexpectedEof` error.
    fn with_chunk<T>(
        &self,
        range: &Range<usize>,
        f: impl FnOnce(&[u8]) -> T,
    ) -> std::io::Result<T> {
        CHUNK.with(|cell| {
            let mut buf = cell.borrow_mut();
            buf.resize(range.len(), 0);
            self.read_at(&mut buf, range.start)?;
            Ok(f(&buf))
        })
    }

    /// Cuts the file into chunks of about `CHUNK_BYTES` that end just after a line feed.
    fn split_chunks(&self) -> std::io::Result<Vec<Range<usize>>> {
        let mut out = Vec::new();
        let mut window = vec![0u8; 64 << 10];
        let mut start = 0;
        while start < self.len {
            let mut end = self.len;
            let mut probe = start + CHUNK_BYTES;
            while probe < self.len {
                let n = window.len().min(self.len - probe);
                self.read_at(&mut window[..n], probe)?;
                if let Some(p) = memchr::memchr(b'\n', &window[..n]) {
                    end = probe + p + 1;
                    break;
                }
                probe += n;
            }
            out.push(start..end);
            start = end;
        }
        Ok(out)
    }

    /// A read that came up short means another process truncated the file.
    fn error(&self, ctx: &FileCtx, e: std::io::Error) -> DataError {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            file_changed(ctx)
        } else {
            io_err(&ctx.path, e)
        }
    }
}

struct ChunkInfo {
    plain: bool,
    lines: u64,
    records: u64,
    /// Chunk-local offset of the first invalid UTF-8 byte.
    utf8_error: Option<usize>,
}

fn inspect(d: &[u8]) -> ChunkInfo {
    let plain = memchr::memchr(b'"', d).is_none()
        && memchr::memchr_iter(b'\r', d).all(|p| d.get(p + 1) == Some(&b'\n'));
    let mut info = ChunkInfo {
        plain,
        lines: 0,
        records: 0,
        utf8_error: None,
    };
    if !plain {
        return info;
    }
    info.utf8_error = std::str::from_utf8(d).err().map(|e| e.valid_up_to());
    let mut start = 0;
    for p in memchr::memchr_iter(b'\n', d) {
        info.lines += 1;
        let line = &d[start..p];
        if !(line.is_empty() || line == b"\r") {
            info.records += 1;
        }
        start = p + 1;
    }
    if start < d.len() {
        info.records += 1;
    }
    info
}

/// High bit of each byte of `x` that is zero (exact: no carries between bytes).
#[inline]
fn zero_bytes(x: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !(((x & LOW7).wrapping_add(LOW7)) | x) & !LOW7
}

/// Calls `f` with the fields of each record of a plain chunk; `f` returns false to stop.
/// Blank lines are skipped, as csv-core does; a record with the wrong field count stops the
/// walk (`line` is 1-based and chunk-local). Delimiters and line feeds are found eight bytes
/// at a time.
fn plain_records<'a>(
    data: &'a [u8],
    delimiter: u8,
    n_fields: usize,
    mut f: impl FnMut(&[&'a [u8]]) -> bool,
) -> std::result::Result<(), BadRecord> {
    let mut fields: Vec<&'a [u8]> = Vec::with_capacity(n_fields + 1);
    let mut line = 0u64;
    let mut field_start = 0usize;
    // Ends the line whose content stops at `p`; Ok(false) stops the walk.
    let mut end_line = |p: usize,
                        field_start: usize,
                        fields: &mut Vec<&'a [u8]>|
     -> std::result::Result<bool, BadRecord> {
        line += 1;
        let mut last = &data[field_start..p];
        if let [head @ .., b'\r'] = last {
            last = head;
        }
        if fields.is_empty() && last.is_empty() {
            return Ok(true);
        }
        fields.push(last);
        if fields.len() != n_fields {
            return Err(BadRecord::Ragged {
                line,
                found: fields.len(),
            });
        }
        let go_on = f(fields);
        fields.clear();
        Ok(go_on)
    };
    let dpat = u64::from_ne_bytes([delimiter; 8]);
    let npat = u64::from_ne_bytes([b'\n'; 8]);
    let mut words = data.chunks_exact(8);
    let mut base = 0usize;
    for w in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        let w = u64::from_le_bytes(word);
        let mut m = zero_bytes(w ^ dpat) | zero_bytes(w ^ npat);
        while m != 0 {
            let p = base + (m.trailing_zeros() / 8) as usize;
            m &= m - 1;
            if data[p] == b'\n' {
                if !end_line(p, field_start, &mut fields)? {
                    return Ok(());
                }
            } else {
                fields.push(&data[field_start..p]);
            }
            field_start = p + 1;
        }
        base += 8;
    }
    for p in base..data.len() {
        if data[p] == b'\n' {
            if !end_line(p, field_start, &mut fields)? {
                return Ok(());
            }
            field_start = p + 1;
        } else if data[p] == delimiter {
            fields.push(&data[field_start..p]);
            field_start = p + 1;
        }
    }
    if field_start < data.len() || !fields.is_empty() {
        end_line(data.len(), field_start, &mut fields)?;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Every value stored so far is an i64.
    Int,
    /// Every value stored is an f64 (bits).
    Float,
    /// A value that is not a number (or needs the slow path): storage stopped.
    Dead,
}

/// One column's speculative storage for one chunk.
struct Spec<'a> {
    vals: &'a mut [u64],
    ok: &'a mut [bool],
    mode: Mode,
    stats: ColumnStats,
}

impl Spec<'_> {
    #[inline]
    fn put(&mut self, row: usize, field: &[u8], na: &NaSet) {
        if na.contains(field) {
            self.stats.missing += 1;
            return;
        }
        let f = trim_ascii(field);
        match scan_decimal(f) {
            Some(d) if d.integer && d.int_digits <= 18 => {
                self.stats.ints += 1;
                match self.mode {
                    Mode::Int if d.negative && d.mantissa == 0 => {
                        // -0 is 0 as an integer but -0.0 as a float: let the slow path decide.
                        self.mode = Mode::Dead;
                    }
                    Mode::Int => {
                        let v = d.mantissa as i64;
                        self.vals[row] = (if d.negative { -v } else { v }) as u64;
                        self.ok[row] = true;
                    }
                    Mode::Float => self.put_float(row, decimal_f64(&d, f)),
                    Mode::Dead => {}
                }
            }
            Some(d) => {
                self.stats.floats += 1;
                self.put_float(row, decimal_f64(&d, f));
            }
            None if is_special_float(f) => {
                self.stats.floats += 1;
                let v = std::str::from_utf8(f)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok());
                self.put_float(row, v);
            }
            None => {
                self.stats.observe_other(field, row as u64);
                self.mode = Mode::Dead;
            }
        }
    }

    #[inline]
    fn put_float(&mut self, row: usize, v: Option<f64>) {
        if self.mode == Mode::Int {
            // The integers stored so far become floats: exact conversion of an exact integer,
            // rounded to nearest as the float parser rounds the same digits.
            for (v, _) in self.vals[..row]
                .iter_mut()
                .zip(self.ok.iter())
                .filter(|(_, ok)| **ok)
            {
                *v = (*v as i64 as f64).to_bits();
            }
            self.mode = Mode::Float;
        }
        if self.mode == Mode::Float {
            match v {
                Some(x) => {
                    self.vals[row] = x.to_bits();
                    self.ok[row] = true;
                }
                None => self.mode = Mode::Dead,
            }
        }
    }
}

enum ChunkError {
    Utf8(u64),
    Bad(BadRecord),
    Changed,
    /// Skipped because the user asked to stop.
    Stopped,
}

struct ChunkOut {
    stats: Vec<ColumnStats>,
    modes: Vec<Mode>,
    header: Option<Vec<String>>,
}

fn parse_chunk(
    ctx: &FileCtx,
    na: &NaSet,
    data: &[u8],
    with_header: bool,
    mut specs: Vec<Spec<'_>>,
) -> std::result::Result<ChunkOut, ChunkError> {
    let expected = specs.first().map_or(0, |s| s.vals.len());
    let mut header_pending = with_header;
    let mut header = None;
    let mut row = 0usize;
    let mut overflow = false;
    plain_records(data, ctx.delimiter, ctx.n_fields, |fields| {
        if header_pending {
            header_pending = false;
            header = Some(
                fields
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect(),
            );
            return true;
        }
        if row >= expected {
            overflow = true;
            return false;
        }
        for (spec, field) in specs.iter_mut().zip(fields) {
            spec.put(row, field, na);
        }
        row += 1;
        true
    })
    .map_err(ChunkError::Bad)?;
    if overflow || row != expected {
        return Err(ChunkError::Changed);
    }
    let (stats, modes) = specs.into_iter().map(|s| (s.stats, s.mode)).unzip();
    Ok(ChunkOut {
        stats,
        modes,
        header,
    })
}

fn split<'a, T>(mut v: &'a mut [T], sizes: &[usize]) -> Vec<&'a mut [T]> {
    let mut out = Vec::with_capacity(sizes.len());
    for &n in sizes {
        let (head, tail) = std::mem::take(&mut v).split_at_mut(n);
        out.push(head);
        v = tail;
    }
    out
}

fn int_array(vals: Vec<u64>, ok: Vec<bool>) -> ArrayRef {
    let buffer = arrow_buffer::Buffer::from_vec(vals);
    let len = ok.len();
    Arc::new(arrow_array::Int64Array::new(
        arrow_buffer::ScalarBuffer::new(buffer, 0, len),
        nulls(ok),
    ))
}

fn float_array(vals: Vec<u64>, ok: Vec<bool>) -> ArrayRef {
    let buffer = arrow_buffer::Buffer::from_vec(vals);
    let len = ok.len();
    Arc::new(arrow_array::Float64Array::new(
        arrow_buffer::ScalarBuffer::new(buffer, 0, len),
        nulls(ok),
    ))
}

fn nulls(ok: Vec<bool>) -> Option<arrow_buffer::NullBuffer> {
    if ok.iter().all(|v| *v) {
        None
    } else {
        Some(arrow_buffer::NullBuffer::from(ok))
    }
}

/// Parses the `redo` columns again with the streaming reader's slots, a few chunks at a time.
#[allow(clippy::too_many_arguments)]
fn reparse(
    ctx: &FileCtx,
    na: &NaSet,
    source: &Source,
    chunks: &[Range<usize>],
    rows: &[usize],
    header_chunk: Option<usize>,
    plans: &[ColumnPlan],
    redo: &[bool],
    progress: &dyn Progress,
) -> Result<Vec<Option<ArrayRef>>> {
    let n_rows: usize = rows.iter().sum();
    let mut sinks: Vec<Sink> = plans
        .iter()
        .zip(redo)
        .map(|(p, &r)| if r { Sink::new(p, n_rows) } else { Sink::Skip })
        .collect();
    let batch = rayon::current_num_threads() * 2;
    let mut row_start = 0;
    let mut k0 = 0;
    while k0 < chunks.len() {
        let k1 = (k0 + batch).min(chunks.len());
        let sizes = &rows[k0..k1];
        let bytes: Vec<usize> = chunks[k0..k1].iter().map(|r| r.len()).collect();
        let mut per_chunk: Vec<Vec<Slot<'_>>> =
            (k0..k1).map(|_| Vec::with_capacity(sinks.len())).collect();
        for sink in sinks.iter_mut() {
            for (k, slot) in sink.slots(row_start, sizes, &bytes).into_iter().enumerate() {
                per_chunk[k].push(slot);
            }
        }
        let results: Vec<std::result::Result<ParsedChunk, ()>> = per_chunk
            .into_par_iter()
            .enumerate()
            .map(|(i, mut slots)| {
                let k = k0 + i;
                let r = chunks[k].clone();
                let expected = rows[k];
                let mut coerced = vec![0u64; slots.len()];
                let mut header_pending = header_chunk == Some(k);
                let mut row = 0usize;
                let mut overflow = false;
                let walked = source.with_chunk(&r, |data| {
                    plain_records(data, ctx.delimiter, ctx.n_fields, |fields| {
                        if header_pending {
                            header_pending = false;
                            return true;
                        }
                        if row >= expected {
                            overflow = true;
                            return false;
                        }
                        for ((slot, field), c) in
                            slots.iter_mut().zip(fields).zip(coerced.iter_mut())
                        {
                            if !slot.put(row, field, na) {
                                *c += 1;
                            }
                        }
                        row += 1;
                        true
                    })
                });
                progress.advance(r.len() as u64);
                if !matches!(walked, Ok(Ok(()))) || overflow || row != expected {
                    return Err(());
                }
                let text = slots
                    .into_iter()
                    .map(|s| match s {
                        Slot::Text(mut b) => Some(Arc::new(b.finish()) as ArrayRef),
                        _ => None,
                    })
                    .collect();
                Ok((text, coerced))
            })
            .collect();
        for r in results {
            absorb_chunk(&mut sinks, plans, r.map_err(|_| file_changed(ctx))?);
        }
        row_start += sizes.iter().sum::<usize>();
        k0 = k1;
    }
    sinks
        .into_iter()
        .zip(plans)
        .map(|(sink, plan)| sink.finish(&plan.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{CsvOptions, NoProgress, read_csv_with};
    use super::*;
    use arrow_array::Array;

    type Hook = Box<dyn FnOnce(&std::path::Path)>;

    thread_local! {
        /// Files this thread's fast reader finished (errors and fallbacks do not count).
        pub(super) static TAKEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
        /// Run once between the inspecting pass and the main pass, to change the file.
        pub(super) static BETWEEN_PASSES: std::cell::RefCell<Option<Hook>> =
            const { std::cell::RefCell::new(None) };
    }

    /// A file truncated by another process while it is read is an error that says so (with
    /// a memory map it was a SIGBUS that killed the process).
    #[test]
    fn a_file_truncated_during_the_read_is_an_error_not_a_crash() {
        let dir = tmp("truncated");
        let path = dir.0.join("t.csv");
        let mut text = String::from("a,b,c\n");
        for i in 0..400_000 {
            text.push_str(&format!("{i},{}.5,x{}\n", i % 97, i % 13));
        }
        assert!(text.len() > CHUNK_BYTES, "more than one chunk");
        for keep in [0, 10, text.len() / 2, text.len() - 1] {
            std::fs::write(&path, &text).unwrap();
            BETWEEN_PASSES.with(|h| {
                *h.borrow_mut() = Some(Box::new(move |p: &std::path::Path| {
                    let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
                    f.set_len(keep as u64).unwrap();
                }))
            });
            let err = load(&path, &BTreeMap::new(), true).unwrap_err();
            assert!(
                err.contains("changed while it was being read"),
                "cut to {keep}: {err}"
            );
        }
        // Without interference the same file reads whole.
        std::fs::write(&path, &text).unwrap();
        let table = load(&path, &BTreeMap::new(), true).unwrap();
        assert_eq!(table.n_rows(), 400_000);
    }

    struct Tmp(std::path::PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tmp(tag: &str) -> Tmp {
        let dir = std::env::temp_dir().join(format!("whet-fast-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Tmp(dir)
    }

    fn load(
        path: &std::path::Path,
        hints: &BTreeMap<String, TypeHint>,
        fast: bool,
    ) -> std::result::Result<Table, String> {
        read_csv_with(path, &CsvOptions::default(), hints, true, &NoProgress, fast)
            .map_err(|e| e.to_string())
    }

    /// Loads `bytes` with both readers and checks they agree bit for bit; returns whether the
    /// fast reader took the file.
    fn same(tag: &str, bytes: &[u8], hints: &str) -> bool {
        let dir = tmp(tag);
        let path = dir.0.join("t.csv");
        std::fs::write(&path, bytes).unwrap();
        let hints = crate::table::parse_type_hints(hints).unwrap();
        let slow = load(&path, &hints, false);
        let before = TAKEN.with(|t| t.get());
        let fast = load(&path, &hints, true);
        let took = TAKEN.with(|t| t.get()) > before;
        match (slow, fast) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.columns, b.columns, "{tag}");
                assert_eq!(a.notes, b.notes, "{tag}");
                assert_eq!(a.n_rows(), b.n_rows(), "{tag}");
                for i in 0..a.n_cols() {
                    let (x, y) = (a.array(i), b.array(i));
                    assert_eq!(x.data_type(), y.data_type(), "{tag} col {i}");
                    assert_eq!(x.nulls(), y.nulls(), "{tag} col {i}");
                    match x.data_type() {
                        arrow_schema::DataType::Float64 => {
                            let bits = |a: &ArrayRef| -> Vec<u64> {
                                a.as_any()
                                    .downcast_ref::<arrow_array::Float64Array>()
                                    .unwrap()
                                    .values()
                                    .iter()
                                    .map(|v| v.to_bits())
                                    .collect()
                            };
                            assert_eq!(bits(x), bits(y), "{tag} col {i}");
                        }
                        _ => assert_eq!(x.to_data(), y.to_data(), "{tag} col {i}"),
                    }
                }
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{tag}"),
            (a, b) => panic!("{tag}: {:?} vs {:?}", a.err(), b.err()),
        }
        took
    }

    /// About `bytes` of rows covering the cases the speculative columns must get right.
    fn generate(bytes: usize, crlf: bool) -> String {
        let mut rng = crate::rng::Rng::new(11);
        let mut out = String::from(
            "int,float,late_float,mid_float,na_int,neg_zero,zero_float,late_text,flag,day,word,big,pad\n",
        );
        let mut row = 0usize;
        while out.len() < bytes {
            let late = out.len() > bytes * 3 / 4;
            let v = (rng.next_f64() - 0.5) * 1000.0;
            let fields = [
                format!("{}", rng.below(1000) as i64 - 500),
                format!("{v:.4}"),
                if late && row.is_multiple_of(7) {
                    format!("{v:.2}")
                } else {
                    format!("{}", row % 13)
                },
                if row % 5000 == 4999 {
                    "2.5".to_string()
                } else {
                    format!("{}", row % 17)
                },
                match row % 9 {
                    0 => String::new(),
                    1 => "NA".into(),
                    2 => " 12 ".into(),
                    _ => format!("{}", row % 4),
                },
                if row.is_multiple_of(1001) {
                    "-0".into()
                } else {
                    format!("{}", row % 3)
                },
                if row.is_multiple_of(97) {
                    "-0.0".into()
                } else {
                    format!("{:e}", v)
                },
                if late && row.is_multiple_of(50_000) {
                    "n/a".into()
                } else {
                    format!("{}", row % 11)
                },
                if row.is_multiple_of(2) {
                    "true"
                } else {
                    "False"
                }
                .to_string(),
                format!("2024-01-{:02}", row % 28 + 1),
                format!("w{}", row % 37),
                if row.is_multiple_of(3) {
                    "123456789012345678".into()
                } else {
                    format!("{}.5", row)
                },
                if row.is_multiple_of(10) {
                    "inf".into()
                } else {
                    format!("\t{v:.1} ")
                },
            ];
            out.push_str(&fields.join(","));
            out.push_str(if crlf { "\r\n" } else { "\n" });
            if row % 10_000 == 5 {
                out.push('\n');
            }
            row += 1;
        }
        out
    }

    #[test]
    fn agrees_with_the_streaming_reader_on_many_chunks() {
        let text = generate(10 << 20, false);
        assert!(same("big", text.as_bytes(), ""));
        assert!(same(
            "hints",
            text.as_bytes(),
            "int=categorical,float=ignore,late_text=numeric,word=numeric,day=text"
        ));
        let crlf = generate(9 << 20, true);
        let mut bom = b"\xef\xbb\xbf".to_vec();
        bom.extend_from_slice(crlf.trim_end().as_bytes());
        assert!(same("crlf", &bom, ""));
    }

    #[test]
    fn agrees_on_small_and_odd_files() {
        let cases: &[&[u8]] = &[
            b"a,b\n1,2\n3,4",
            b"a,b\n1,2\n\n\n3,4\n",
            b"1,2\n3,4\n",
            b"a\n1\n\n2\n",
            b"a,b\n-0,1\n2,3\n",
            b"a,b\n1,x\n2,3\n",
            b"a,b\n1,2\n3\n4,5\n",
            b"a,b\n1,2\n3,4,5\n",
            b"a,b\r\n1,2\r\n3\r\n",
            b"a,b\n1,\xff\n",
            b"\xef\xbb\xbfa,b\n1,\xff\n",
            b"a,b\xe9\n1,2\n",
            b"a,b\n",
            b"a,a,\n1,2,3\n",
            b"a,b\n1,2\r3,4\n",
            b"a,b\n1,\"2\"\n",
            b"x;y\n1;2\n3.5;z\n",
        ];
        let mut taken = 0;
        for (i, c) in cases.iter().enumerate() {
            taken += usize::from(same(&format!("small{i}"), c, ""));
        }
        // Every file without quotes, lone carriage returns or errors.
        assert_eq!(taken, 8);
        same("hint", b"a,b\n1,x\n2,3\n", "b=numeric");
    }

    #[test]
    fn errors_after_the_first_chunk_agree() {
        let text = generate(9 << 20, false);
        let mut ragged = text.clone();
        let at = ragged[6 << 20..].find('\n').unwrap() + (6 << 20) + 1;
        let end = at + ragged[at..].find(',').unwrap();
        ragged.replace_range(at..end + 1, "");
        same("ragged", ragged.as_bytes(), "");
        let mut bytes = text.into_bytes();
        bytes[5 << 20] = 0xff;
        same("utf8", &bytes, "");
    }
}
