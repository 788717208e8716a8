//! Files larger than one 4 MB chunk: records with quoted newlines and escaped quotes that cross
//! chunk boundaries, parallel parsing, the fall-back from quote-parity to exact chunking, and
//! error positions (line, byte) counted across chunks.

mod common;

use common::*;
use whet_data::ValueType;

/// About 50 bytes a row: ~10 MB at 200k rows.
const BIG_ROWS: usize = 200_000;

fn note(i: usize) -> String {
    match i % 4 {
        0 => format!("first line {i}\nsecond \"quoted\" line\r\nthird, with comma"),
        1 => format!("plain {i}"),
        2 => format!("x{}", "y".repeat(i % 37)),
        _ => format!("{i}\n"),
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The `size` column is an unquoted word; at `stray` it holds a lone `"` which RFC 4180 readers
/// (csv-core) keep as a literal character but which flips naive quote parity for the rest of
/// the file.
fn size(i: usize, stray: Option<usize>) -> String {
    if Some(i) == stray {
        "5\" screen".to_string()
    } else {
        format!("s{}", i % 5)
    }
}

fn generate(rows: usize, stray: Option<usize>) -> String {
    let mut text = String::with_capacity(rows * 56);
    text.push_str("id,note,value,size,flag\n");
    for i in 0..rows {
        text.push_str(&format!(
            "{i},{},{},{},{}\n",
            quote(&note(i)),
            i as f64 * 0.25,
            size(i, stray),
            i % 3 == 0
        ));
    }
    text
}

fn check(t: &whet_data::Table, rows: usize, stray: Option<usize>) {
    assert_eq!(t.n_rows(), rows);
    assert_eq!(names(t), ["id", "note", "value", "size", "flag"]);
    assert_eq!(
        types(t),
        [
            ValueType::Integer,
            ValueType::String,
            ValueType::Float,
            ValueType::String,
            ValueType::Boolean
        ]
    );
    let ids = ints(t, "id");
    let notes = strs(t, "note");
    let values = floats(t, "value");
    let sizes = strs(t, "size");
    let flags = bools(t, "flag");
    for i in 0..rows {
        assert_eq!(ids[i], Some(i as i64), "row {i}");
        assert_eq!(notes[i].as_deref(), Some(note(i).as_str()), "row {i}");
        assert_eq!(values[i], Some(i as f64 * 0.25), "row {i}");
        assert_eq!(
            sizes[i].as_deref(),
            Some(size(i, stray).as_str()),
            "row {i}"
        );
        assert_eq!(flags[i], Some(i % 3 == 0), "row {i}");
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

#[test]
fn big_file_with_multiline_fields_parallel_parity_chunks() {
    let text = generate(BIG_ROWS, None);
    assert!(text.len() > 9 << 20, "{} bytes", text.len());
    let dir = TempDir::new("big");
    let p = dir.file("big.csv", &text);
    // Two threads: several chunks parsed at once within one batch.
    let t = pool(2).install(|| load(&p));
    check(&t, BIG_ROWS, None);
}

#[test]
fn big_file_whose_quotes_defeat_parity_falls_back_to_exact_chunks() {
    // One stray quote near the start: parity then believes every later chunk boundary is
    // outside quotes exactly where it is inside one, so the exact fallback must take over.
    let rows = 120_000;
    let stray = Some(10);
    let text = generate(rows, stray);
    assert!(text.len() > 5 << 20, "{} bytes", text.len());
    let dir = TempDir::new("stray");
    let p = dir.file("stray.csv", &text);
    // One thread: two chunks per batch, so the file spans several batches.
    let t = pool(1).install(|| load(&p));
    check(&t, rows, stray);
}

#[test]
fn mixed_types_example_row_counts_rows_of_earlier_chunks() {
    let rows = 160_000;
    let bad = 157_531;
    let mut text = String::from("n,note\n");
    for i in 0..rows {
        let n = if i == bad {
            "oops".to_string()
        } else {
            i.to_string()
        };
        text.push_str(&format!("{n},{}\n", quote(&note(i))));
    }
    assert!(text.len() > 4 << 20);
    let dir = TempDir::new("mixed");
    let p = dir.file("m.csv", &text);
    let t = pool(1).install(|| load(&p));
    assert_eq!(t.columns[0].value_type, ValueType::String);
    let m = t.columns[0].mixed.as_ref().expect("mixed types");
    assert_eq!(m.example, "oops");
    assert_eq!(m.example_row, bad as u64 + 1);
    assert_eq!(m.numeric_values, rows as u64 - 1);
}

/// 1-based line on which the record of data row `row` (0-based) starts.
fn line_of_row(text: &str, row: usize) -> usize {
    let start = text
        .match_indices('\n')
        .filter(|(pos, _)| {
            // Only newlines that end a record: the next byte starts a new id.
            text[pos + 1..].starts_with(&format!("{row},"))
        })
        .map(|(pos, _)| pos + 1)
        .next()
        .unwrap();
    text[..start].matches('\n').count() + 1
}

#[test]
fn ragged_row_after_the_first_chunk_reports_its_physical_line() {
    let rows = 110_000;
    let ragged = 104_321;
    let mut text = generate(rows, None);
    let line = line_of_row(&text, ragged);
    let needle = format!("\n{ragged},");
    let pos = text.find(&needle).unwrap() + 1;
    // Drop the record's last field: `...,size,flag\n` becomes `...,size\n`.
    let end = pos
        + text[pos..]
            .find(",true\n")
            .min(text[pos..].find(",false\n"))
            .unwrap();
    let cut_end = end + text[end + 1..].find('\n').unwrap() + 1;
    text.replace_range(end..cut_end, "");
    assert!(pos > 4 << 20);
    let dir = TempDir::new("ragged");
    let p = dir.file("r.csv", &text);
    let e = load_err(&p, &Default::default());
    assert!(
        e.contains(&format!(
            "line {line}: expected 5 fields (as in the header) but found 4"
        )),
        "expected line {line}: {e}"
    );
}

#[test]
fn invalid_utf8_after_the_first_chunk_reports_its_byte_offset() {
    let text = generate(110_000, None);
    let mut bytes = text.into_bytes();
    let needle = b"\n104321,\"";
    let pos = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
        + needle.len()
        + 2;
    bytes[pos] = 0xff;
    assert!(pos > 4 << 20);
    let dir = TempDir::new("utf8");
    let p = dir.file("u.csv", &bytes);
    let e = load_err(&p, &Default::default());
    assert!(
        e.contains(&format!("invalid UTF-8 at byte offset {pos}")),
        "expected offset {pos}: {e}"
    );
}

#[test]
fn ragged_row_found_by_exact_chunking_in_a_crlf_file_reports_its_line() {
    // CRLF everywhere and a stray quote: exact chunks may end between `\r` and `\n`.
    let rows = 110_000;
    let ragged = 103_999;
    let mut text = generate(rows, Some(7)).replace('\n', "\r\n");
    let line = line_of_row(&text, ragged);
    let pos = text.find(&format!("\n{ragged},")).unwrap() + 1;
    // Add a sixth field to the record.
    let end = pos + text[pos..].find("\r\n").unwrap();
    let end = if text[pos..end].matches('"').count() % 2 == 1 {
        // The record's quoted note spans lines; its end is the next line end after the close.
        let close = end + text[end..].find("\",").unwrap();
        close + text[close..].find("\r\n").unwrap()
    } else {
        end
    };
    text.insert_str(end, ",extra");
    let dir = TempDir::new("crlf");
    let p = dir.file("c.csv", &text);
    let e = pool(1).install(|| load_err(&p, &Default::default()));
    assert!(
        e.contains(&format!(
            "line {line}: expected 5 fields (as in the header) but found 6"
        )),
        "expected line {line}: {e}"
    );
}
