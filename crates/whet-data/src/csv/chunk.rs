//! Cutting the decoded byte stream into chunks that end on record boundaries (quote parity,
//! or csv-core's exact boundaries when a file's quoting defeats parity), and walking the
//! records of one chunk.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{FileCtx, describe_delimiter, io_err, open_decoded};
use crate::error::{DataError, Result};

pub(super) const CHUNK_BYTES: usize = 4 << 20;

/// Yields the decoded byte stream in chunks that end on record boundaries.
pub(super) struct ChunkReader {
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
    pub(super) exact: bool,
    delimiter: u8,
    offset: u64,
}

pub(super) struct Chunk {
    pub(super) data: Vec<u8>,
    /// Offset of `data` in the decoded stream (counting any BOM, which `data` omits).
    pub(super) offset: u64,
}

impl ChunkReader {
    pub(super) fn open(path: &Path, delimiter: u8) -> Result<ChunkReader> {
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

    pub(super) fn take_progress(&mut self) -> u64 {
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
    pub(super) fn next_batch(&mut self, n: usize) -> Result<Vec<Chunk>> {
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
pub(super) fn for_each_record(
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
pub(super) enum BadRecord {
    /// The field count differs from the header's.
    Ragged { line: u64, found: usize },
    /// A quoted field starts in this record and is never closed.
    OpenQuote { line: u64 },
}

/// The error for a malformed record; `lines_before` counts the lines of earlier chunks.
pub(super) fn record_error(ctx: &FileCtx, bad: BadRecord, lines_before: u64) -> DataError {
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
