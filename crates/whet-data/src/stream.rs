//! Reading a CSV file in chunks of rows, for work that must not hold the whole file in memory
//! (batch prediction over files larger than RAM).
//!
//! Every column comes out as text (missing-value tokens as nulls): the consumer already knows
//! the types it expects (a fitted Prep parses and checks them), so no inference pass is needed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::ArrayRef;
use arrow_array::builder::StringBuilder;

use crate::csv::scan::NaSet;
use crate::csv::sniff::{Sniffed, sniff};
use crate::csv::{CsvOptions, column_names, describe_delimiter, open_decoded};
use crate::error::{DataError, Result};
use crate::table::{ColumnInfo, Table, ValueType};

const READ_BYTES: usize = 1 << 20;

pub struct CsvChunks {
    path: PathBuf,
    input: Box<dyn Read + Send>,
    consumed: Arc<AtomicU64>,
    total_bytes: u64,
    rdr: csv_core::Reader,
    delimiter: u8,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    finished: bool,
    at_file_start: bool,
    skip_header: bool,
    has_header: bool,
    names: Vec<String>,
    na: NaSet,
    /// Data rows returned before the current chunk.
    rows_before: u64,
    rows_total: u64,
    chunk_rows: usize,
    record: Vec<u8>,
    ends: Vec<usize>,
    /// Decoded bytes handed to the parser, for error offsets.
    decoded_offset: u64,
}

impl CsvChunks {
    pub fn open(path: &Path, options: &CsvOptions, chunk_rows: usize) -> Result<CsvChunks> {
        let na = NaSet::new(&options.na_values);
        let Sniffed {
            delimiter,
            has_header,
            first_rows,
        } = sniff(path, options, &na)?;
        let n_fields = first_rows.first().map_or(0, Vec::len);
        let header = has_header.then(|| first_rows.first().cloned().unwrap_or_default());
        let (names, _) = column_names(header, n_fields);
        let consumed = Arc::new(AtomicU64::new(0));
        let input = open_decoded(path, consumed.clone())?;
        let total_bytes = std::fs::metadata(path)
            .map_err(|e| crate::csv::io_err(path, e))?
            .len();
        Ok(CsvChunks {
            path: path.to_path_buf(),
            input,
            consumed,
            total_bytes,
            rdr: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            delimiter,
            buf: vec![0; READ_BYTES],
            start: 0,
            end: 0,
            eof: false,
            finished: false,
            at_file_start: true,
            skip_header: has_header,
            has_header,
            names,
            na,
            rows_before: 0,
            rows_total: 0,
            chunk_rows: chunk_rows.max(1),
            record: vec![0; 1 << 16],
            ends: vec![0; 1 << 10],
            decoded_offset: 0,
        })
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Data rows before the chunk last returned (0-based), to turn chunk rows into file rows.
    pub fn rows_before_chunk(&self) -> u64 {
        self.rows_before
    }

    /// File bytes read so far and the file's size, for progress.
    pub fn progress(&self) -> (u64, u64) {
        (self.consumed.load(Ordering::Relaxed), self.total_bytes)
    }

    fn fill(&mut self) -> Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self
            .input
            .read(&mut self.buf[self.end..])
            .map_err(|e| crate::csv::io_err(&self.path, e))?;
        if n == 0 {
            self.eof = true;
        }
        self.end += n;
        if self.at_file_start && self.end >= 3 {
            if self.buf[..3] == *b"\xef\xbb\xbf" {
                self.start = 3;
            }
            self.at_file_start = false;
        }
        Ok(())
    }

    /// Reads the next record into `self.record`/`self.ends`; returns the field count, or None
    /// at the end of the file.
    fn next_record(&mut self) -> Result<Option<usize>> {
        let (mut out_len, mut ends_len) = (0usize, 0usize);
        loop {
            if self.start == self.end && !self.eof {
                self.fill()?;
                continue;
            }
            let input = &self.buf[self.start..self.end];
            let (res, nin, nout, nend) = self.rdr.read_record(
                input,
                &mut self.record[out_len..],
                &mut self.ends[ends_len..],
            );
            self.start += nin;
            self.decoded_offset += nin as u64;
            out_len += nout;
            ends_len += nend;
            match res {
                csv_core::ReadRecordResult::Record => {
                    // A blank line is no record.
                    if ends_len == 1 && out_len == 0 {
                        out_len = 0;
                        ends_len = 0;
                        continue;
                    }
                    return Ok(Some(ends_len));
                }
                csv_core::ReadRecordResult::InputEmpty => {
                    if self.eof && self.start == self.end {
                        // Flush a last record without a line end.
                        let (res, _, nout, nend) = self.rdr.read_record(
                            &[],
                            &mut self.record[out_len..],
                            &mut self.ends[ends_len..],
                        );
                        out_len += nout;
                        ends_len += nend;
                        if let csv_core::ReadRecordResult::Record = res
                            && !(ends_len == 1 && out_len == 0)
                        {
                            return Ok(Some(ends_len));
                        }
                        return Ok(None);
                    }
                    if self.start == self.end {
                        self.fill()?;
                    }
                }
                csv_core::ReadRecordResult::OutputFull => {
                    let len = self.record.len();
                    self.record.resize(len * 2, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len();
                    self.ends.resize(len * 2, 0);
                }
                csv_core::ReadRecordResult::End => return Ok(None),
            }
        }
    }

    /// The next chunk of up to `chunk_rows` rows, or None when the file is done.
    pub fn next_chunk(&mut self) -> Result<Option<Table>> {
        if self.finished {
            return Ok(None);
        }
        if self.skip_header {
            self.skip_header = false;
            self.next_record()?;
        }
        let n_cols = self.names.len();
        let mut builders: Vec<StringBuilder> = (0..n_cols).map(|_| StringBuilder::new()).collect();
        let mut rows = 0usize;
        while rows < self.chunk_rows {
            let Some(n_fields) = self.next_record()? else {
                self.finished = true;
                break;
            };
            let file_row = self.rows_total + 1;
            if n_fields != n_cols {
                return Err(DataError::RaggedRow {
                    path: self.path.clone(),
                    // Data row number plus the header line; exact unless fields hold newlines.
                    line: file_row + u64::from(self.has_header),
                    expected: n_cols,
                    found: n_fields,
                    delimiter: describe_delimiter(self.delimiter),
                });
            }
            let mut from = 0;
            for (b, &to) in builders.iter_mut().zip(&self.ends[..n_fields]) {
                let field = &self.record[from..to];
                from = to;
                if self.na.contains(field) {
                    b.append_null();
                } else {
                    match std::str::from_utf8(field) {
                        Ok(s) => b.append_value(s),
                        Err(e) => {
                            return Err(DataError::InvalidUtf8 {
                                path: self.path.clone(),
                                offset: self.decoded_offset.saturating_sub(1)
                                    + e.valid_up_to() as u64,
                            });
                        }
                    }
                }
            }
            rows += 1;
            self.rows_total += 1;
        }
        if rows == 0 {
            return Ok(None);
        }
        self.rows_before = self.rows_total - rows as u64;
        let arrays: Vec<ArrayRef> = builders
            .into_iter()
            .map(|mut b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let columns = self
            .names
            .iter()
            .map(|n| ColumnInfo {
                name: n.clone(),
                value_type: ValueType::String,
                hint: None,
                mixed: None,
                coerced_to_missing: 0,
            })
            .collect();
        let mut table = Table::new(columns, arrays, rows)?;
        table.source = Some(self.path.clone());
        Ok(Some(table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;

    fn write(name: &str, body: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join("whet-stream-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    fn collect(path: &Path, chunk: usize) -> Vec<Vec<Option<String>>> {
        let mut s = CsvChunks::open(path, &CsvOptions::default(), chunk).unwrap();
        let mut rows = Vec::new();
        while let Some(t) = s.next_chunk().unwrap() {
            assert!(t.n_rows() <= chunk);
            for r in 0..t.n_rows() {
                rows.push(
                    (0..t.n_cols())
                        .map(|c| {
                            let a = t.array(c).as_string::<i32>();
                            a.is_valid(r).then(|| a.value(r).to_string())
                        })
                        .collect(),
                );
            }
        }
        rows
    }

    #[test]
    fn chunks_cover_every_row_once_with_quotes_bom_and_missing() {
        let p = write(
            "a.csv",
            b"\xef\xbb\xbfid,name,x\n1,\"a, b\",2.5\n2,\"line\nbreak\",NA\n3,,7\n\n4,d,8",
        );
        for chunk in [1, 2, 3, 100] {
            let rows = collect(&p, chunk);
            assert_eq!(rows.len(), 4, "chunk {chunk}");
            assert_eq!(rows[0][1].as_deref(), Some("a, b"));
            assert_eq!(rows[1][1].as_deref(), Some("line\nbreak"));
            assert_eq!(rows[1][2], None);
            assert_eq!(rows[2][1], None);
            assert_eq!(rows[3][0].as_deref(), Some("4"));
        }
        let s = CsvChunks::open(&p, &CsvOptions::default(), 10).unwrap();
        assert_eq!(s.names(), ["id", "name", "x"]);
    }

    #[test]
    fn ragged_row_names_its_line() {
        let p = write("ragged.csv", b"a,b\n1,2\n3\n");
        let mut s = CsvChunks::open(&p, &CsvOptions::default(), 10).unwrap();
        let e = s.next_chunk().unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn gzip_streams_too() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut body = String::from("k,v\n");
        for i in 0..5000 {
            body.push_str(&format!("{i},{}\n", i * 2));
        }
        enc.write_all(body.as_bytes()).unwrap();
        let p = write("big.csv.gz", &enc.finish().unwrap());
        let rows = collect(&p, 777);
        assert_eq!(rows.len(), 5000);
        assert_eq!(rows[4999][1].as_deref(), Some("9998"));
    }
}
