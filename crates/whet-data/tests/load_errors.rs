//! Bad input at the library level: each error names the file and the exact line or byte.

mod common;

use std::io::Write;

use common::*;
use whet_data::LoadOptions;

fn err_of(name: &str, bytes: &[u8]) -> String {
    let dir = TempDir::new("err");
    let p = dir.file(name, bytes);
    load_err(&p, &LoadOptions::default())
}

#[test]
fn missing_empty_and_directory() {
    let dir = TempDir::new("missing");
    let e = load_err(&dir.path().join("nope.csv"), &LoadOptions::default());
    assert!(e.contains("cannot read") && e.contains("nope.csv"), "{e}");
    let e = load_err(dir.path(), &LoadOptions::default());
    assert!(e.contains("is a directory"), "{e}");

    for (name, bytes) in [
        ("empty.csv", &b""[..]),
        ("blank.csv", b"\n\n  \r\n"),
        ("bom.csv", b"\xef\xbb\xbf"),
    ] {
        let e = err_of(name, bytes);
        assert!(e.contains("is empty"), "{name}: {e}");
    }
}

#[test]
fn header_only() {
    for text in ["a,b,c\n", "a,b,c", "a,b,c\r\n\r\n"] {
        let e = err_of("h.csv", text.as_bytes());
        assert!(e.contains("has a header but no data rows"), "{text:?}: {e}");
    }
}

fn ragged_line(text: &str) -> String {
    err_of("r.csv", text.as_bytes())
}

#[test]
fn ragged_rows_report_the_physical_line() {
    let cases: &[(&str, u64, usize)] = &[
        ("a,b\n1,2\n3\n4,5\n", 3, 1),
        ("a,b\n1,2\n3,4,5\n", 3, 3),
        ("a,b\r\n1,2\r\n3\r\n", 3, 1),
        ("a,b\n\n1,2\n\n\n3\n", 6, 1),
        // An earlier record's quoted field spans lines.
        ("a,b\n1,\"x\ny\nz\"\n2\n", 5, 1),
        ("a,b\r\n1,\"x\r\ny\"\r\n2\r\n", 4, 1),
        // The record itself has a quoted newline: its first line is reported.
        ("a,b\n1,2\n\"p\nq\",2,3\n", 3, 3),
        // The last record without a newline.
        ("a,b\n1,2\n3", 3, 1),
        ("\u{feff}a,b\n1\n", 2, 1),
    ];
    for &(text, line, found) in cases {
        let e = ragged_line(text);
        assert!(
            e.contains(&format!(
                "line {line}: expected 2 fields (as in the header) but found {found}"
            )),
            "{text:?} should fail on line {line}: {e}"
        );
        assert!(e.contains("hint: check the delimiter (comma)"), "{e}");
    }
}

#[test]
fn invalid_utf8_reports_the_file_offset() {
    let e = err_of("u.csv", b"a,b\n1,\xff\n");
    assert!(e.contains("invalid UTF-8 at byte offset 6"), "{e}");
    assert!(e.contains("iconv"), "{e}");
    // The BOM is part of the file: offsets count it.
    let e = err_of("bom.csv", b"\xef\xbb\xbfa,b\n1,\xff\n");
    assert!(e.contains("invalid UTF-8 at byte offset 9"), "{e}");
    // A truncated multi-byte character: the offset of its first byte.
    let e = err_of(
        "cut.csv",
        "a,b\n1,é\n2,\u{e9}".as_bytes().split_last().unwrap().1,
    );
    assert!(e.contains("invalid UTF-8 at byte offset 11"), "{e}");
    // In the header.
    let e = err_of("hdr.csv", b"a,b\xe9\n1,2\n");
    assert!(e.contains("invalid UTF-8 at byte offset 3"), "{e}");
}

#[test]
fn invalid_utf8_in_gzip_reports_the_decompressed_offset() {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(b"a,b\n1,2\n3,\xc3\x28\n").unwrap();
    let e = err_of("u.csv.gz", &enc.finish().unwrap());
    assert!(e.contains("invalid UTF-8 at byte offset 10"), "{e}");
}

#[test]
fn damaged_inputs_do_not_panic() {
    // Not gzip after all, a truncated gzip stream and an unterminated quote.
    let e = err_of("x.parquet", b"PAR1 this is not parquet");
    assert!(e.contains("cannot read Parquet"), "{e}");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&b"a,b\n1,2\n".repeat(1000)).unwrap();
    let gz = enc.finish().unwrap();
    let e = err_of("t.csv.gz", &gz[..gz.len() / 2]);
    assert!(e.contains("t.csv.gz"), "{e}");
    // An unterminated quote would swallow the rest of the file into one field.
    for (text, line) in [
        ("a,b\n1,\"open\n2,3\n", 2),
        ("a,b\r\n1,2\r\n3,\"x\"\"\r\n4,5\r\n", 3),
        ("a,b\n1,2\n\"3,4", 3),
    ] {
        let e = ragged_line(text);
        assert!(
            e.contains(&format!(
                "line {line}: a quoted field starts in this record and is never closed"
            )),
            "{text:?}: {e}"
        );
    }
    // A wide record (more fields than csv-core is handed slots for at once).
    let header = (0..100)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let row = vec!["1"; 100].join(",");
    let e = ragged_line(&format!("{header}\n{row}\n{row}\n{row},\"x\n{row}\n"));
    assert!(e.contains("line 4: a quoted field"), "{e}");
    // Quotes inside an unquoted field are text, also on a last line without a line end.
    let (_dir, t) = load_text("lit.csv", "a,b\n1,5\" screen\n2,x\"y");
    assert_eq!(strs(&t, "b"), [s("5\" screen"), s("x\"y")]);
    let (_dir, t) = load_text("closed.csv", "a,b\n1,\"x\ny\"");
    assert_eq!(strs(&t, "b"), [s("x\ny")]);
}

/// A reader whose user has asked to stop (Ctrl-C in the binary).
struct Stopped;

impl whet_data::csv::Progress for Stopped {
    fn stop_requested(&self) -> bool {
        true
    }
}

/// A stop ends every kind of read with `Interrupted` naming the file, never a partial table;
/// the same files load in full when no stop is asked.
#[test]
fn a_requested_stop_ends_the_read_with_interrupted() {
    let dir = TempDir::new("stop");
    let mut text = String::from("a,b,c\n");
    for i in 0..5_000 {
        text.push_str(&format!("{i},{}.5,x{}\n", i * 3, i % 7));
    }
    let csv = dir.file("stop.csv", &text);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    let gz = dir.file("stop.csv.gz", enc.finish().unwrap());
    let table =
        whet_data::load(&csv, &LoadOptions::default(), &whet_data::csv::NoProgress).unwrap();
    let parquet = dir.path().join("stop.parquet");
    let bytes =
        whet_data::sink::parquet_bytes(table.batch.schema(), table.batch.columns().to_vec())
            .unwrap();
    std::fs::write(&parquet, bytes).unwrap();
    for path in [&csv, &gz, &parquet] {
        let full =
            whet_data::load(path, &LoadOptions::default(), &whet_data::csv::NoProgress).unwrap();
        assert_eq!(full.n_rows(), 5_000, "{}", path.display());
        match whet_data::load(path, &LoadOptions::default(), &Stopped) {
            Err(e @ whet_data::DataError::Interrupted { .. }) => {
                assert!(e.to_string().contains("stopped on request"), "{e}");
                assert!(e.to_string().contains("stop."), "{e}");
            }
            Err(e) => panic!("{}: not Interrupted: {e}", path.display()),
            Ok(t) => panic!(
                "{}: read {} rows despite the stop",
                path.display(),
                t.n_rows()
            ),
        }
    }
}
