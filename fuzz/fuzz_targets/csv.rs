//! The CSV readers on arbitrary bytes: the one-pass and the two-pass reader of `load`, and the
//! chunked reader of `whet predict`, with options (delimiter, header, missing-value markers,
//! type overrides) and gzip taken from the input's first bytes.
#![no_main]

use std::collections::BTreeMap;
use std::io::Write;

use libfuzzer_sys::fuzz_target;
use whet_data::csv::{CsvOptions, NoProgress, read_csv_with};
use whet_data::stream::CsvChunks;
use whet_data::table::TypeHint;
use whet_fuzz::{scratch_file, take_byte};

const HINTS: [TypeHint; 7] = [
    TypeHint::Numeric,
    TypeHint::Categorical,
    TypeHint::Boolean,
    TypeHint::Datetime,
    TypeHint::Text,
    TypeHint::Id,
    TypeHint::Ignore,
];

fuzz_target!(|data: &[u8]| {
    let (flags, data) = take_byte(data);
    let (extra, data) = take_byte(data);
    let mut options = CsvOptions::default();
    options.delimiter = match (flags >> 4) & 7 {
        0 | 7 => None,
        1 => Some(b','),
        2 => Some(b';'),
        3 => Some(b'\t'),
        4 => Some(b'|'),
        5 => Some(b' '),
        // The command line takes any ASCII character.
        _ => Some(extra & 0x7f),
    };
    if flags & 0b100 != 0 {
        options.has_header = Some(flags & 0b1000 != 0);
    }
    if flags & 0x80 != 0 {
        options.na_values = vec![String::new(), "x".into(), "-".into()];
    }
    let mut hints = BTreeMap::new();
    if extra & 0x80 != 0 {
        // Column names are sniffed from the header; overriding the usual defaults exercises
        // the typed paths (a datetime or boolean column read as such, or ignored).
        for (i, name) in ["a", "b", "c", "0"].iter().enumerate() {
            let pick = (extra >> (i * 2)) & 7;
            hints.insert(name.to_string(), HINTS[pick as usize % HINTS.len()]);
        }
    }
    let bytes = if flags & 0b10 != 0 {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = gz.write_all(data);
        gz.finish().unwrap_or_default()
    } else {
        data.to_vec()
    };
    let path = scratch_file(
        if flags & 0b10 != 0 {
            "in.csv.gz"
        } else {
            "in.csv"
        },
        &bytes,
    );
    let fast = flags & 1 != 0;
    let _ = read_csv_with(&path, &options, &hints, false, &NoProgress, fast);
    if !fast {
        let chunk_rows = 1 + usize::from(extra & 0x0f);
        if let Ok(mut chunks) = CsvChunks::open(&path, &options, chunk_rows) {
            while let Ok(Some(_)) = chunks.next_chunk() {}
        }
    }
});
