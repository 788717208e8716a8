//! A walk over the page headers of a Parquet file's column chunks before the parquet crate
//! reads them. The crate trusts a page header's sizes and counts: a dictionary page claiming
//! four billion values makes it allocate and zero that many (32 GB from a 1.5 KB file, found by
//! fuzzing), and page sizes are used as allocation sizes. Here each header is decoded from a
//! small buffer (Thrift compact protocol, only the fields checked) and every claim is held to
//! the bytes that back it: pages inside their chunk, at most [`MAX_PAGE_BYTES`] uncompressed,
//! and a dictionary of no more values than its bytes can hold.

use std::fs::File;
use std::path::Path;

use parquet::basic::{Compression, Type as PhysicalType};
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData};

use crate::error::{DataError, Result};

/// Writers cut pages at about 1 MB (arrow-rs, parquet-mr, DuckDB, Polars); a page claiming
/// more than this is refused rather than allocated.
pub const MAX_PAGE_BYTES: i64 = 128 << 20;

/// Reads `len` bytes at `offset` (fewer at the end of the file).
fn read_at(mut file: &File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(len);
    file.take(len as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The parquet crate decodes the footer's Thrift with a skip for unknown fields that takes a
/// list of booleans to occupy no bytes, so a footer of a few bytes can claim a list of two
/// billion of them and keep the crate looping for seconds (tens in a fuzzing build). This walks
/// the footer as the crate's skip does, with a budget of one value per byte of footer plus a
/// million, which no real footer comes near; a footer past it, or not Thrift, is damaged.
pub fn check_footer(path: &Path, file: &File, file_len: u64) -> Result<()> {
    let damaged = |message: String| DataError::Format {
        path: path.to_path_buf(),
        message: format!("the Parquet footer is damaged: {message}"),
        hint: "the file is incomplete or corrupt: write or copy it again".into(),
    };
    if file_len < 12 {
        // Too short to hold a footer: the crate says so itself.
        return Ok(());
    }
    let tail = read_at(file, file_len - 8, 8).map_err(|e| damaged(e.to_string()))?;
    let Some(len) = tail.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
        return Ok(());
    };
    let len = u64::from(u32::from_le_bytes(len));
    if len + 8 > file_len || &tail[4..] != b"PAR1" {
        // The crate reports a missing magic or an impossible length itself.
        return Ok(());
    }
    let footer =
        read_at(file, file_len - 8 - len, len as usize).map_err(|e| damaged(e.to_string()))?;
    let mut t = Thrift {
        buf: &footer,
        pos: 0,
        as_the_crate_skips: true,
        budget: len + (1 << 20),
    };
    if t.skip(STRUCT, 0).is_none() && t.budget == 0 {
        return Err(damaged(format!(
            "its {len} bytes claim more than {} values",
            len + (1 << 20)
        )));
    }
    Ok(())
}

/// Checks every page header of every column chunk in `metadata` (chunks already known to lie
/// inside the file).
pub fn check_pages(path: &Path, file: &File, metadata: &ParquetMetaData) -> Result<()> {
    for (g, group) in metadata.row_groups().iter().enumerate() {
        for column in group.columns() {
            check_chunk(file, column).map_err(|message| DataError::Format {
                path: path.to_path_buf(),
                message: format!(
                    "the Parquet data is damaged: column '{}' of row group {g}: {message}",
                    column.column_path().string()
                ),
                hint: "the file is incomplete or corrupt: write or copy it again".into(),
            })?;
        }
    }
    Ok(())
}

fn check_chunk(file: &File, column: &ColumnChunkMetaData) -> std::result::Result<(), String> {
    let start = column
        .dictionary_page_offset()
        .unwrap_or_else(|| column.data_page_offset()) as u64;
    let end = start + column.compressed_size() as u64;
    let uncompressed = column.compression() == Compression::UNCOMPRESSED;
    let width = match column.column_descr().physical_type() {
        PhysicalType::INT32 | PhysicalType::FLOAT | PhysicalType::BYTE_ARRAY => 4,
        PhysicalType::INT64 | PhysicalType::DOUBLE => 8,
        PhysicalType::INT96 => 12,
        PhysicalType::FIXED_LEN_BYTE_ARRAY => i64::from(column.column_descr().type_length().max(1)),
        PhysicalType::BOOLEAN => 1,
    };
    let mut offset = start;
    while offset < end {
        let remaining = end - offset;
        // Headers are tens of bytes; large statistics can make one longer.
        let mut header = None;
        for window in [4096u64, 1 << 20] {
            let buf = read_at(file, offset, window.min(remaining) as usize)
                .map_err(|e| format!("cannot read a page header: {e}"))?;
            match PageHeader::decode(&buf) {
                Some(h) => {
                    header = Some(h);
                    break;
                }
                None if window >= remaining => {
                    return Err(format!("the page header at byte {offset} is damaged"));
                }
                None => {}
            }
        }
        // A header longer than 1 MB: leave the rest of the chunk to the reader's own checks.
        let Some(h) = header else { return Ok(()) };
        if h.compressed < 0 || h.uncompressed < 0 {
            return Err(format!("the page at byte {offset} claims a negative size"));
        }
        if h.uncompressed > MAX_PAGE_BYTES || h.compressed > MAX_PAGE_BYTES {
            return Err(format!(
                "the page at byte {offset} claims {} bytes (whet reads pages of at most {} MB)",
                h.uncompressed.max(h.compressed),
                MAX_PAGE_BYTES >> 20
            ));
        }
        let page_end = offset + h.len as u64 + h.compressed as u64;
        if page_end > end {
            return Err(format!(
                "the page at byte {offset} runs past the end of its column chunk"
            ));
        }
        if let Some(values) = h.dictionary_values {
            // The crate checks a decompressed page against its claimed size, but not an
            // uncompressed one, whose bytes are its compressed size.
            let bytes = if uncompressed {
                h.compressed
            } else {
                h.uncompressed
            };
            if values < 0 || values > bytes / width {
                return Err(format!(
                    "the dictionary page at byte {offset} claims {values} values in {bytes} bytes"
                ));
            }
        }
        offset = page_end;
    }
    Ok(())
}

/// The fields of a Parquet `PageHeader` checked here, and the header's length in bytes.
#[derive(Debug, PartialEq)]
struct PageHeader {
    len: usize,
    uncompressed: i64,
    compressed: i64,
    dictionary_values: Option<i64>,
}

impl PageHeader {
    /// None when `buf` ends inside the header or the header is not valid Thrift.
    fn decode(buf: &[u8]) -> Option<PageHeader> {
        let mut t = Thrift {
            buf,
            pos: 0,
            as_the_crate_skips: false,
            budget: u64::MAX,
        };
        let mut header = PageHeader {
            len: 0,
            uncompressed: -1,
            compressed: -1,
            dictionary_values: None,
        };
        let mut last = 0;
        while let Some((id, ty)) = t.field(&mut last)? {
            match (id, ty) {
                (2, I32) => header.uncompressed = t.int()?,
                (3, I32) => header.compressed = t.int()?,
                (7, STRUCT) => header.dictionary_values = Some(t.dictionary_values()?),
                _ => t.skip(ty, 0)?,
            }
        }
        header.len = t.pos;
        Some(header)
    }
}

const BOOL_TRUE: u8 = 1;
const BOOL_FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;
const UUID: u8 = 13;

/// Thrift compact protocol over a slice: every read consumes at least one byte, so decoding
/// ends within the slice whatever counts the bytes claim.
struct Thrift<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The parquet crate's skip (see [`check_footer`]): booleans in lists take no byte.
    as_the_crate_skips: bool,
    /// Values left to visit before the walk gives up.
    budget: u64,
}

impl Thrift<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn bytes(&mut self, n: u64) -> Option<()> {
        let end = self.pos.checked_add(usize::try_from(n).ok()?)?;
        (end <= self.buf.len()).then(|| self.pos = end)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            if self.as_the_crate_skips {
                // The crate reads a varint of any length, its high bits wrapped away: a walk
                // that stopped at the tenth byte would end where the crate goes on (found by
                // fuzzing: a 17-byte field id hid a footer that looped for 21 s).
                value |= u64::from(b & 0x7f).wrapping_shl(shift);
                shift = shift.wrapping_add(7);
            } else {
                value |= u64::from(b & 0x7f).checked_shl(shift)?;
                shift += 7;
                if shift >= 70 && b & 0x80 != 0 {
                    return None;
                }
            }
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
    }

    fn int(&mut self) -> Option<i64> {
        let v = self.varint()?;
        Some((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    /// The next field's id and type, None (inside Some) at the struct's end.
    fn field(&mut self, last: &mut i64) -> Option<Option<(i64, u8)>> {
        let b = self.byte()?;
        let ty = b & 0x0f;
        if ty == 0 {
            return Some(None);
        }
        let delta = i64::from(b >> 4);
        let id = if delta == 0 {
            let id = self.int()?;
            // The crate keeps field ids as i16, truncating a long one.
            if self.as_the_crate_skips {
                i64::from(id as i16)
            } else {
                id
            }
        } else if self.as_the_crate_skips {
            // The crate's skip reads every field as the first of its struct, so a delta never
            // overflows there: the walk must not stop where the crate goes on.
            last.wrapping_add(delta)
        } else {
            // A long field id (delta 0) can be anything, so the next delta may overflow it: a
            // file that does is corrupt (found by fuzzing; it aborted the process).
            last.checked_add(delta)?
        };
        *last = id;
        Some(Some((id, ty)))
    }

    /// A boolean element of a list or map: a byte on the wire, none in the crate's skip.
    fn skip_bool_element(&mut self) -> Option<()> {
        if self.as_the_crate_skips {
            Some(())
        } else {
            self.byte().map(drop)
        }
    }

    fn skip(&mut self, ty: u8, depth: u32) -> Option<()> {
        if depth > 64 {
            return None;
        }
        self.budget = self.budget.checked_sub(1)?;
        match ty {
            BOOL_TRUE | BOOL_FALSE => Some(()),
            BYTE => self.byte().map(drop),
            I16 | I32 | I64 => self.varint().map(drop),
            DOUBLE => self.bytes(8),
            BINARY => {
                let n = self.varint()?;
                self.bytes(n)
            }
            UUID => self.bytes(16),
            LIST | SET => {
                let h = self.byte()?;
                if h == 0 {
                    // Some writers mark an empty list by a zero header; the crate takes it so.
                    return Some(());
                }
                let n = match h >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                let element = h & 0x0f;
                for _ in 0..n {
                    // A boolean element is a byte of its own in a list.
                    if matches!(element, BOOL_TRUE | BOOL_FALSE) {
                        self.budget = self.budget.checked_sub(1)?;
                        self.skip_bool_element()?;
                    } else {
                        self.skip(element, depth + 1)?;
                    }
                }
                Some(())
            }
            MAP => {
                let n = self.varint()?;
                if n > 0 {
                    let kv = self.byte()?;
                    for _ in 0..n {
                        for t in [kv >> 4, kv & 0x0f] {
                            if matches!(t, BOOL_TRUE | BOOL_FALSE) {
                                self.budget = self.budget.checked_sub(1)?;
                                self.skip_bool_element()?;
                            } else {
                                self.skip(t, depth + 1)?;
                            }
                        }
                    }
                }
                Some(())
            }
            STRUCT => {
                let mut last = 0;
                while let Some((_, t)) = self.field(&mut last)? {
                    self.skip(t, depth + 1)?;
                }
                Some(())
            }
            _ => None,
        }
    }

    /// A `DictionaryPageHeader`'s `num_values` (field 1).
    fn dictionary_values(&mut self) -> Option<i64> {
        let mut values = None;
        let mut last = 0;
        while let Some((id, ty)) = self.field(&mut last)? {
            match (id, ty) {
                (1, I32) => values = Some(self.int()?),
                _ => self.skip(ty, 1)?,
            }
        }
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header as the compact protocol writes it: type 2 (dictionary), sizes 100 and 40, and
    /// a dictionary page header of 7 values (encoding PLAIN).
    const DICT_HEADER: [u8; 10] = [0x15, 0x04, 0x15, 0xc8, 0x01, 0x15, 0x50, 0x4c, 0x15, 0x0e];

    #[test]
    fn a_dictionary_page_header_is_decoded() {
        let mut bytes = DICT_HEADER.to_vec();
        bytes.extend_from_slice(&[0x15, 0x00, 0x00, 0x00]);
        let h = PageHeader::decode(&bytes).unwrap();
        assert_eq!(
            h,
            PageHeader {
                len: 14,
                uncompressed: 100,
                compressed: 40,
                dictionary_values: Some(7),
            }
        );
        // Any shorter prefix ends inside the header.
        for n in 0..bytes.len() {
            assert_eq!(PageHeader::decode(&bytes[..n]), None, "{n}");
        }
    }

    #[test]
    fn a_footer_claiming_billions_of_booleans_runs_out_of_budget() {
        // A struct whose field 1 is a list of 2^31 - 1 booleans, then the end of the struct.
        let bytes = [0x19, 0xf1, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00];
        assert!(runs_out_as_the_crate_skips(&bytes));
        // Read as the protocol means it (a byte per boolean), the same bytes simply end.
        let mut t = Thrift {
            buf: &bytes,
            pos: 0,
            as_the_crate_skips: false,
            budget: u64::MAX,
        };
        assert_eq!(t.skip(STRUCT, 0), None);
    }

    #[test]
    fn a_field_id_longer_than_ten_bytes_does_not_hide_the_booleans_after_it() {
        // A field whose long id takes 17 varint bytes (the crate wraps it), type i16, value 0;
        // then field +1: a list of 2^31 - 1 booleans.
        let mut bytes = vec![0x04];
        bytes.extend_from_slice(&[0xff; 16]);
        bytes.extend_from_slice(&[0x01, 0x00, 0x19, 0xf1, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00]);
        assert!(runs_out_as_the_crate_skips(&bytes));
    }

    /// Whether walking `bytes` as one struct, as the parquet crate's skip does, runs out of a
    /// budget of a thousand values.
    fn runs_out_as_the_crate_skips(bytes: &[u8]) -> bool {
        let mut t = Thrift {
            buf: bytes,
            pos: 0,
            as_the_crate_skips: true,
            budget: 1000,
        };
        t.skip(STRUCT, 0).is_none() && t.budget == 0
    }

    #[test]
    fn a_field_id_delta_past_the_largest_id_is_corrupt_not_an_overflow() {
        // A field with a long id of i64::MAX (zigzag varint of 2^64 - 2), type i32, value 0;
        // then a field whose delta of 1 would take the id past i64::MAX.
        let mut bytes = vec![0x05];
        bytes.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        bytes.extend_from_slice(&[0x00, 0x15, 0x00, 0x00]);
        assert_eq!(PageHeader::decode(&bytes), None);
    }

    #[test]
    fn a_claimed_list_length_cannot_outrun_the_bytes() {
        // Field 9 (after 7 skips nothing): a list of 2^31 doubles in a 12-byte buffer.
        let bytes = [0x99, 0xf7, 0x80, 0x80, 0x80, 0x80, 0x08, 0, 0, 0, 0, 0];
        assert_eq!(PageHeader::decode(&bytes), None);
    }
}
