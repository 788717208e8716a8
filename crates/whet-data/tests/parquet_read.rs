//! Parquet files written by the `parquet` crate's ArrowWriter load into the normalised types.

mod common;

use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, DictionaryArray, Float32Array, Int32Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use common::*;
use parquet::arrow::ArrowWriter;
use whet_data::table::parse_type_hints;
use whet_data::{LoadOptions, ValueType};

fn write_parquet(path: &std::path::Path, batches: &[RecordBatch]) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batches[0].schema(), None).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

fn sample_batch() -> RecordBatch {
    let dict: DictionaryArray<Int32Type> = vec![Some("red"), Some("blue"), None, Some("red")]
        .into_iter()
        .collect();
    let ts = TimestampMicrosecondArray::from(vec![
        Some(0),
        Some(1_700_000_000_123_000),
        None,
        Some(-86_400_000_000),
    ])
    .with_timezone("+02:00");
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "i32",
            Arc::new(Int32Array::from(vec![
                Some(1),
                None,
                Some(-3),
                Some(i32::MAX),
            ])),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(vec![
                Some(0.5),
                Some(-1.25),
                None,
                Some(3.0),
            ])),
        ),
        (
            "text",
            Arc::new(StringArray::from(vec![
                Some("a"),
                Some(""),
                None,
                Some("ünï"),
            ])),
        ),
        ("colour", Arc::new(dict)),
        (
            "day",
            Arc::new(Date32Array::from(vec![
                Some(0),
                Some(19_723),
                None,
                Some(-1),
            ])),
        ),
        ("at", Arc::new(ts)),
        (
            "flag",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
            ])),
        ),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|c| c.1).collect(),
    )
    .unwrap()
}

#[test]
fn parquet_round_trip_normalises_types() {
    let batch = sample_batch();
    assert!(matches!(
        batch.schema().field(5).data_type(),
        DataType::Timestamp(TimeUnit::Microsecond, Some(_))
    ));
    let dir = TempDir::new("pq");
    let p = dir.path().join("data.parquet");
    write_parquet(&p, &[batch.clone(), batch]);
    let t = load(&p);
    assert_eq!(t.n_rows(), 8);
    assert_eq!(
        names(&t),
        ["i32", "f32", "text", "colour", "day", "at", "flag"]
    );
    assert_eq!(
        types(&t),
        [
            ValueType::Integer,
            ValueType::Float,
            ValueType::String,
            ValueType::String,
            ValueType::Datetime,
            ValueType::Datetime,
            ValueType::Boolean,
        ]
    );
    for (c, info) in t.columns.iter().enumerate() {
        assert_eq!(
            t.batch.schema().field(c).data_type(),
            &info.value_type.arrow_type(),
            "{}",
            info.name
        );
        assert_eq!(info.coerced_to_missing, 0);
    }
    let twice = |v: Vec<Option<i64>>| [v.clone(), v].concat();
    assert_eq!(
        ints(&t, "i32"),
        twice(vec![Some(1), None, Some(-3), Some(i64::from(i32::MAX))])
    );
    assert_eq!(
        floats(&t, "f32")[..4],
        [Some(0.5), Some(-1.25), None, Some(3.0)]
    );
    assert_eq!(strs(&t, "text")[..4], [s("a"), s(""), None, s("ünï")]);
    assert_eq!(
        strs(&t, "colour")[..4],
        [s("red"), s("blue"), None, s("red")]
    );
    assert_eq!(
        times(&t, "day"),
        twice(vec![
            Some(0),
            Some(ms(2024, 1, 1, 0, 0, 0)),
            None,
            Some(ms(1969, 12, 31, 0, 0, 0))
        ])
    );
    // A timestamp with a zone is an instant: whet keeps its UTC value.
    assert_eq!(
        times(&t, "at"),
        twice(vec![
            Some(0),
            Some(1_700_000_000_123),
            None,
            Some(-86_400_000)
        ])
    );
    assert_eq!(
        bools(&t, "flag")[..4],
        [Some(true), Some(false), None, Some(true)]
    );
}

#[test]
fn parquet_type_overrides() {
    let dir = TempDir::new("pqh");
    let p = dir.path().join("h.parquet");
    let codes: ArrayRef = Arc::new(Int32Array::from(vec![7, 10115, 7]));
    let amounts: ArrayRef = Arc::new(StringArray::from(vec!["1.5", "n/a", "3"]));
    let drop: ArrayRef = Arc::new(StringArray::from(vec!["x", "y", "z"]));
    let b = RecordBatch::try_from_iter(vec![("code", codes), ("amount", amounts), ("drop", drop)])
        .unwrap();
    write_parquet(&p, &[b]);
    let options = LoadOptions {
        types: parse_type_hints("code=categorical,amount=numeric,drop=ignore").unwrap(),
        ..Default::default()
    };
    let t = load_with(&p, &options).unwrap();
    assert_eq!(names(&t), ["code", "amount"]);
    assert_eq!(strs(&t, "code"), [s("7"), s("10115"), s("7")]);
    assert_eq!(floats(&t, "amount"), [Some(1.5), None, Some(3.0)]);
    assert_eq!(t.columns[1].coerced_to_missing, 1);
    assert!(
        t.notes.iter().any(|n| n.contains("'drop' ignored")),
        "{:?}",
        t.notes
    );

    let options = LoadOptions {
        types: parse_type_hints("cod=categorical").unwrap(),
        ..Default::default()
    };
    let e = load_err(&p, &options);
    assert!(e.contains("did you mean 'code'?"), "{e}");
}

#[test]
fn empty_parquet_is_an_error() {
    let dir = TempDir::new("pq0");
    let p = dir.path().join("empty.parquet");
    let b = RecordBatch::try_from_iter(vec![(
        "a",
        Arc::new(Int32Array::from(Vec::<i32>::new())) as ArrayRef,
    )])
    .unwrap();
    write_parquet(&p, &[b]);
    let e = load_err(&p, &LoadOptions::default());
    assert!(e.contains("no data rows"), "{e}");
}

#[test]
fn parquet_timestamps_with_named_zones_keep_the_instant() {
    let dir = TempDir::new("pqtz");
    for zone in ["UTC", "Europe/Berlin", "America/New_York", "+05:30"] {
        let p = dir.path().join("tz.parquet");
        let ts: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![Some(1_700_000_000_000_000), None])
                .with_timezone(zone),
        );
        let b = RecordBatch::try_from_iter(vec![("at", ts)]).unwrap();
        write_parquet(&p, &[b]);
        let t =
            load_with(&p, &LoadOptions::default()).unwrap_or_else(|e| panic!("zone {zone}: {e}"));
        assert_eq!(
            times(&t, "at"),
            [Some(1_700_000_000_000), None],
            "zone {zone}"
        );
    }
}

#[test]
fn parquet_unsupported_column_type_names_the_way_out() {
    use arrow_array::builder::{Int32Builder, ListBuilder};
    let dir = TempDir::new("pqlist");
    let p = dir.path().join("list.parquet");
    let mut lb = ListBuilder::new(Int32Builder::new());
    lb.values().append_value(1);
    lb.append(true);
    lb.append(true);
    let list: ArrayRef = Arc::new(lb.finish());
    let x: ArrayRef = Arc::new(Int32Array::from(vec![5, 6]));
    let dec: ArrayRef = Arc::new(
        arrow_array::Decimal128Array::from(vec![12345, -50])
            .with_precision_and_scale(10, 2)
            .unwrap(),
    );
    let b = RecordBatch::try_from_iter(vec![("x", x), ("tags", list), ("price", dec)]).unwrap();
    write_parquet(&p, &[b]);
    let e = load_err(&p, &LoadOptions::default());
    assert!(e.contains("column 'tags' has type"), "{e}");
    assert!(e.contains("--types tags=ignore"), "{e}");
    let options = LoadOptions {
        types: parse_type_hints("tags=ignore").unwrap(),
        ..Default::default()
    };
    let t = load_with(&p, &options).unwrap();
    assert_eq!(names(&t), ["x", "price"]);
    assert_eq!(floats(&t, "price"), [Some(123.45), Some(-0.5)]);
}

/// Found by the `parquet` fuzz target: a footer whose column chunk has a negative offset made
/// the parquet crate panic (an assertion in `byte_range`) in both the whole-file and the
/// chunked reader; it is a damaged file.
#[test]
fn a_column_chunk_outside_the_file_is_a_damaged_file() {
    let dir = TempDir::new("pq-negative-offset");
    let path = dir.file(
        "damaged.parquet",
        include_bytes!("fixtures/negative_column_offset.parquet"),
    );
    let err = load_err(&path, &LoadOptions::default());
    assert!(err.contains("metadata is damaged"), "{err}");
    let chunks = whet_data::load::ParquetChunks::open(&path, &Default::default(), 100);
    assert!(chunks.is_err());
}

/// Found by the `parquet` fuzz target: a dictionary-encoded data page without a dictionary
/// page made the parquet crate's decoder panic ("Decoder for dict should have been set").
#[test]
fn a_page_the_parquet_decoder_panics_on_is_a_damaged_file() {
    let dir = TempDir::new("pq-no-dictionary");
    let path = dir.file(
        "damaged.parquet",
        include_bytes!("fixtures/dictionary_page_missing.parquet"),
    );
    let err = load_err(&path, &LoadOptions::default());
    assert!(err.contains("damaged"), "{err}");
    // The page header walk at open now refuses this file (a page claims a negative size);
    // the decoder's panic stays contained should a file get past it.
    let Ok(mut chunks) = whet_data::load::ParquetChunks::open(&path, &Default::default(), 100)
    else {
        return;
    };
    let mut failed = false;
    for _ in 0..1000 {
        match chunks.next_chunk() {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the damaged page must be an error");
}

/// Found by the `parquet` fuzz target: a page header whose unknown field claims a list of
/// hundreds of millions of 8-byte values near the end of the file. The parquet crate skips such
/// a list by reading through it, and reads past the end of a file succeed empty, so it looped
/// for minutes (37 s in a debug build). whet-data decodes page headers from bounded buffers
/// before the crate reads them, and makes the end of the file an error for the crate.
#[test]
fn a_page_header_that_reads_past_the_end_of_the_file_is_an_error_at_once() {
    let dir = TempDir::new("pq-past-end");
    let path = dir.file(
        "damaged.parquet",
        include_bytes!("fixtures/thrift_list_past_end.parquet"),
    );
    let started = std::time::Instant::now();
    let err = load_err(&path, &LoadOptions::default());
    assert!(
        err.contains("row group 2: the page header at byte 847 is damaged"),
        "{err}"
    );
    assert!(whet_data::load::ParquetChunks::open(&path, &Default::default(), 3).is_err());
    // A hang guard, not a speed test: the loop took tens of seconds, the check milliseconds.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// Found by the `parquet` fuzz target: a dictionary page header claiming 872,943,648 values in
/// 24 bytes. The parquet crate sized and zeroed the dictionary from the claim (6.8 GB of memory
/// for a 1.5 KB file); whet-data checks each page header's claims against its bytes first.
#[test]
fn a_dictionary_page_claiming_more_values_than_its_bytes_is_refused() {
    let dir = TempDir::new("pq-dictionary-count");
    let path = dir.file(
        "damaged.parquet",
        include_bytes!("fixtures/dictionary_count_past_its_bytes.parquet"),
    );
    let err = load_err(&path, &LoadOptions::default());
    assert!(
        err.contains("claims 872943648 values in 24 bytes") && err.contains("row group 0"),
        "{err}"
    );
    assert!(whet_data::load::ParquetChunks::open(&path, &Default::default(), 3).is_err());
}

/// Found by the `parquet` fuzz target: a row group claiming -11 rows made the parquet crate
/// overflow summing the row counts (a panic outside any step whet-data contained).
#[test]
fn a_row_group_with_a_negative_row_count_is_a_damaged_file() {
    let dir = TempDir::new("pq-negative-rows");
    let path = dir.file(
        "damaged.parquet",
        include_bytes!("fixtures/negative_row_group_rows.parquet"),
    );
    let err = load_err(&path, &LoadOptions::default());
    assert!(err.contains("row group 2 claims -11 rows"), "{err}");
    assert!(whet_data::load::ParquetChunks::open(&path, &Default::default(), 3).is_err());
}

/// Found by the `parquet` fuzz target: a footer with an unknown field holding a list of about
/// two billion booleans, which the parquet crate's Thrift skip takes to occupy no bytes: it
/// looped for 2 s per footer read (21 s in the fuzzing build). whet-data walks the footer as the
/// crate would, on a budget, first.
#[test]
fn a_footer_claiming_billions_of_values_is_refused_before_the_parquet_crate_loops() {
    let dir = TempDir::new("pq-footer-booleans");
    let path = dir.file(
        "damaged.parquet",
        include_bytes!("fixtures/footer_claiming_billions_of_booleans.parquet"),
    );
    let err = load_err(&path, &LoadOptions::default());
    assert!(
        err.contains("footer is damaged: its 1007 bytes claim more than"),
        "{err}"
    );
    assert!(whet_data::load::ParquetChunks::open(&path, &Default::default(), 3).is_err());
}
