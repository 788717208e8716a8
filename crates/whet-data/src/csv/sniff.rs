//! Sniffing: the delimiter, whether there is a header, and the first records (which fix the
//! field count), all from a sample of the file's start; options can fix the first two.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::scan::{NaSet, classify_number};
use super::{CsvOptions, io_err, open_decoded};
use crate::error::{DataError, Result};

const SNIFF_BYTES: usize = 256 << 10;
/// The sample grows up to this size until it holds the first lines of a very wide file.
const MAX_SNIFF_BYTES: usize = 64 << 20;
const CANDIDATE_DELIMITERS: &[u8] = b",\t;|";

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

#[cfg(test)]
mod tests {
    use super::*;

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
