//! CSV reading: delimiters, headers, quoting, line endings, encodings, compression, missing
//! values, type inference and overrides, header clean-up.

mod common;

use std::io::Write;

use common::*;
use whet_data::table::{TypeHint, parse_type_hints};
use whet_data::{LoadOptions, ValueType};

const SAMPLE_ROWS: [(&str, i64, &str, &str); 3] = [
    ("alice", 31, "1.5", "true"),
    ("bob", 42, "2.25", "false"),
    ("carol", 7, "-3", "true"),
];

fn delimited(d: char) -> String {
    let mut s = format!("name{d}age{d}score{d}member\n");
    for (n, a, sc, m) in SAMPLE_ROWS {
        s.push_str(&format!("{n}{d}{a}{d}{sc}{d}{m}\n"));
    }
    s
}

#[test]
fn sniffs_each_candidate_delimiter() {
    for (d, ext) in [(',', "csv"), ('\t', "tsv"), (';', "csv"), ('|', "txt")] {
        let (_dir, t) = load_text(&format!("people.{ext}"), &delimited(d));
        assert_eq!(
            names(&t),
            ["name", "age", "score", "member"],
            "delimiter {d:?}"
        );
        assert_eq!(t.n_rows(), 3, "delimiter {d:?}");
        assert_eq!(
            types(&t),
            [
                ValueType::String,
                ValueType::Integer,
                ValueType::Float,
                ValueType::Boolean
            ],
            "delimiter {d:?}"
        );
        assert_eq!(strs(&t, "name"), [s("alice"), s("bob"), s("carol")]);
        assert_eq!(ints(&t, "age"), [Some(31), Some(42), Some(7)]);
        assert_eq!(floats(&t, "score"), [Some(1.5), Some(2.25), Some(-3.0)]);
        assert_eq!(bools(&t, "member"), [Some(true), Some(false), Some(true)]);
    }
}

#[test]
fn sniffing_ignores_delimiters_inside_quotes() {
    // Commas inside the quoted fields must not make comma look like the delimiter.
    let text = "city;note\n\"Paris, France\";\"a, b, c\"\n\"Rome, Italy\";\"d, e\"\n";
    let (_dir, t) = load_text("q.csv", text);
    assert_eq!(names(&t), ["city", "note"]);
    assert_eq!(strs(&t, "city"), [s("Paris, France"), s("Rome, Italy")]);
    assert_eq!(strs(&t, "note"), [s("a, b, c"), s("d, e")]);
}

#[test]
fn explicit_delimiter_overrides_sniffing() {
    let dir = TempDir::new("delim");
    // Sniffing would pick ';' (3 fields per line); the user says ',' (2 fields).
    let p = dir.file("x.csv", "a;b,c;d\n1;2,3;4\n");
    let t = load_with(&p, &csv_options(|o| o.delimiter = Some(b','))).unwrap();
    assert_eq!(names(&t), ["a;b", "c;d"]);
    assert_eq!(strs(&t, "a;b"), [s("1;2")]);
    let t = load(&p);
    assert_eq!(names(&t), ["a", "b,c", "d"]);
}

#[test]
fn header_sniffing() {
    // Words in the first row: a header.
    let (_dir, t) = load_text("h.csv", "x,y\n1,2\n3,4\n");
    assert_eq!(names(&t), ["x", "y"]);
    assert_eq!(t.n_rows(), 2);
    assert!(t.notes.iter().all(|n| !n.contains("no header")));

    // A number in the first row: no header; generated names and a note saying so.
    let (_dir, t) = load_text("n.csv", "1,red\n2,blue\n3,green\n");
    assert_eq!(names(&t), ["column_1", "column_2"]);
    assert_eq!(t.n_rows(), 3);
    assert_eq!(ints(&t, "column_1"), [Some(1), Some(2), Some(3)]);
    assert_eq!(strs(&t, "column_2"), [s("red"), s("blue"), s("green")]);
    assert!(
        t.notes.iter().any(|n| n.contains("no header row detected")),
        "{:?}",
        t.notes
    );

    // A missing token in the first row is not a number: still a header.
    let (_dir, t) = load_text("na.csv", "NA,b\n1,2\n");
    assert_eq!(names(&t), ["NA", "b"]);
}

#[test]
fn header_flags_force_the_choice() {
    let dir = TempDir::new("hdr");
    let words = dir.file("w.csv", "a,b\nx,y\nz,w\n");
    let t = load_with(&words, &csv_options(|o| o.has_header = Some(false))).unwrap();
    assert_eq!(names(&t), ["column_1", "column_2"]);
    assert_eq!(t.n_rows(), 3);
    assert_eq!(strs(&t, "column_1"), [s("a"), s("x"), s("z")]);

    let numbers = dir.file("n.csv", "1,2\n3,4\n5,6\n");
    let t = load_with(&numbers, &csv_options(|o| o.has_header = Some(true))).unwrap();
    assert_eq!(names(&t), ["1", "2"]);
    assert_eq!(t.n_rows(), 2);
    assert_eq!(ints(&t, "2"), [Some(4), Some(6)]);
}

#[test]
fn quoted_fields_delimiters_escaped_quotes_and_newlines() {
    let text = concat!(
        "id,text,n\n",
        "1,\"a, b, c\",10\n",
        "2,\"she said \"\"hi\"\"\",20\n",
        "3,\"line one\nline two\nline three\",30\n",
        "4,\"\",40\n",
        "5,\"\"\"\",50\n",
        "6,\"crlf\r\ninside\",60\n",
    );
    let (_dir, t) = load_text("q.csv", text);
    assert_eq!(t.n_rows(), 6);
    assert_eq!(ints(&t, "id"), (1..=6).map(Some).collect::<Vec<_>>());
    assert_eq!(
        strs(&t, "text"),
        [
            s("a, b, c"),
            s("she said \"hi\""),
            s("line one\nline two\nline three"),
            None, // "" is an empty field, and empty means missing
            s("\""),
            s("crlf\r\ninside"),
        ]
    );
    assert_eq!(ints(&t, "n"), [10, 20, 30, 40, 50, 60].map(Some).to_vec());
}

#[test]
fn crlf_line_endings() {
    let text = "a,b,c\r\n1,x,true\r\n2,y,false\r\n3,\"z\r\nz\",true\r\n";
    let (_dir, t) = load_text("crlf.csv", text);
    assert_eq!(names(&t), ["a", "b", "c"]);
    assert_eq!(
        types(&t),
        [ValueType::Integer, ValueType::String, ValueType::Boolean]
    );
    assert_eq!(ints(&t, "a"), [Some(1), Some(2), Some(3)]);
    assert_eq!(strs(&t, "b"), [s("x"), s("y"), s("z\r\nz")]);
    assert_eq!(bools(&t, "c"), [Some(true), Some(false), Some(true)]);
}

#[test]
fn utf8_bom_is_stripped() {
    let text = "\u{feff}größe\tname\n1\tJürgen\n2\t東京\n";
    let (_dir, t) = load_text("bom.tsv", text);
    assert_eq!(names(&t), ["größe", "name"]);
    assert_eq!(ints(&t, "größe"), [Some(1), Some(2)]);
    assert_eq!(strs(&t, "name"), [s("Jürgen"), s("東京")]);

    // A BOM on a header-less numeric file must not turn the first value into text.
    let (_dir, t) = load_text("bom2.csv", "\u{feff}1,2\n3,4\n");
    assert_eq!(names(&t), ["column_1", "column_2"]);
    assert_eq!(ints(&t, "column_1"), [Some(1), Some(3)]);
}

#[test]
fn gzip_gives_the_same_table() {
    let mut text = String::from("id,city,value,when\n");
    for i in 0..5000 {
        text.push_str(&format!(
            "{i},\"city {}, x\",{}.5,2024-01-{:02}\n",
            i % 17,
            i * 3,
            i % 28 + 1
        ));
    }
    let dir = TempDir::new("gz");
    let plain = dir.file("data.csv", &text);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    let gz = dir.file("data.csv.gz", enc.finish().unwrap());
    let a = load(&plain);
    let b = load(&gz);
    assert_eq!(a.n_rows(), 5000);
    assert_eq!(a.columns, b.columns);
    assert_eq!(a.batch, b.batch);
    assert_eq!(strs(&b, "city")[16], s("city 16, x"));
}

#[test]
fn last_line_without_newline() {
    let (_dir, t) = load_text("nonl.csv", "a,b\n1,x\n2,\"y\ny\"");
    assert_eq!(t.n_rows(), 2);
    assert_eq!(ints(&t, "a"), [Some(1), Some(2)]);
    assert_eq!(strs(&t, "b"), [s("x"), s("y\ny")]);
    let (_dir, t) = load_text("nonl2.csv", "a,b\n1,2\n3,4");
    assert_eq!(ints(&t, "b"), [Some(2), Some(4)]);
}

#[test]
fn blank_lines_are_skipped() {
    let (_dir, t) = load_text("blank.csv", "a,b\n\n1,2\n\n\n3,4\n\n");
    assert_eq!(t.n_rows(), 2);
    assert_eq!(ints(&t, "a"), [Some(1), Some(3)]);
}

#[test]
fn default_missing_tokens() {
    let tokens = ["", "NA", "N/A", "null", "NULL", "NaN", "?", " NA "];
    let mut text = String::from("k,v,w\n");
    for (i, tok) in tokens.iter().enumerate() {
        text.push_str(&format!("{i},{tok},{tok}\n"));
        text.push_str(&format!("{i},{i},word{i}\n"));
    }
    let (_dir, t) = load_text("na.csv", &text);
    assert_eq!(t.n_rows(), 2 * tokens.len());
    // Every token is missing, so the numbers decide the type.
    assert_eq!(t.columns[1].value_type, ValueType::Integer);
    assert_eq!(nulls(&t, "v"), tokens.len());
    assert_eq!(nulls(&t, "w"), tokens.len());
    let v = ints(&t, "v");
    for i in 0..tokens.len() {
        assert_eq!(v[2 * i], None, "token {:?}", tokens[i]);
        assert_eq!(v[2 * i + 1], Some(i as i64));
    }
}

#[test]
fn custom_missing_tokens_replace_the_defaults() {
    let dir = TempDir::new("na");
    let p = dir.file("x.csv", "a,b\n1,-999\n2,5\n-999,NA\n");
    let opts = csv_options(|o| o.na_values = vec!["-999".into()]);
    let t = load_with(&p, &opts).unwrap();
    assert_eq!(ints(&t, "a"), [Some(1), Some(2), None]);
    // NA is no longer a missing token, so column b holds text.
    assert_eq!(t.columns[1].value_type, ValueType::String);
    assert_eq!(strs(&t, "b"), [None, s("5"), s("NA")]);
}

#[test]
fn infers_value_types() {
    let text = concat!(
        "i,f,b,d,dt,iso,s,mixed_num\n",
        "1,1.5,true,2024-01-15,2024-01-15 10:30:00,2024-01-15T10:30:00Z,x,1\n",
        "-2,2,FALSE,2024-02-29,2024-02-29 23:59:59,2024-02-29T23:59:59+02:00,y,2.5\n",
        "30,,True,,,,z,1e3\n",
    );
    let (_dir, t) = load_text("types.csv", text);
    assert_eq!(
        types(&t),
        [
            ValueType::Integer,
            ValueType::Float,
            ValueType::Boolean,
            ValueType::Datetime,
            ValueType::Datetime,
            ValueType::Datetime,
            ValueType::String,
            ValueType::Float,
        ]
    );
    assert_eq!(ints(&t, "i"), [Some(1), Some(-2), Some(30)]);
    assert_eq!(floats(&t, "f"), [Some(1.5), Some(2.0), None]);
    assert_eq!(bools(&t, "b"), [Some(true), Some(false), Some(true)]);
    assert_eq!(
        times(&t, "d"),
        [
            Some(ms(2024, 1, 15, 0, 0, 0)),
            Some(ms(2024, 2, 29, 0, 0, 0)),
            None
        ]
    );
    assert_eq!(
        times(&t, "dt"),
        [
            Some(ms(2024, 1, 15, 10, 30, 0)),
            Some(ms(2024, 2, 29, 23, 59, 59)),
            None
        ]
    );
    assert_eq!(
        times(&t, "iso"),
        [
            Some(ms(2024, 1, 15, 10, 30, 0)),
            Some(ms(2024, 2, 29, 21, 59, 59)),
            None
        ]
    );
    assert_eq!(
        floats(&t, "mixed_num"),
        [Some(1.0), Some(2.5), Some(1000.0)]
    );
    // Arrow types are the normalised ones.
    for (c, info) in t.columns.iter().enumerate() {
        assert_eq!(
            t.batch.schema().field(c).data_type(),
            &info.value_type.arrow_type()
        );
    }
}

#[test]
fn mostly_numeric_text_column_is_flagged_mixed() {
    let (_dir, t) = load_text("mixed.csv", "v\n1\n2\nunknown\n4\n5\n");
    assert_eq!(t.columns[0].value_type, ValueType::String);
    let m = t.columns[0].mixed.as_ref().expect("mixed types reported");
    assert_eq!(m.numeric_values, 4);
    assert_eq!(m.other_values, 1);
    assert_eq!(m.example, "unknown");
    assert_eq!(m.example_row, 3);
}

#[test]
fn an_all_missing_column_loads() {
    let (_dir, t) = load_text("allna.csv", "a,b\n1,\n2,NA\n3,\n");
    assert_eq!(t.n_rows(), 3);
    assert_eq!(nulls(&t, "b"), 3);
}

#[test]
fn type_hints_parse() {
    let h =
        parse_type_hints("zip=categorical, age = numeric ,notes=text,x=drop,when=date").unwrap();
    assert_eq!(h.get("zip"), Some(&TypeHint::Categorical));
    assert_eq!(h.get("age"), Some(&TypeHint::Numeric));
    assert_eq!(h.get("notes"), Some(&TypeHint::Text));
    assert_eq!(h.get("x"), Some(&TypeHint::Ignore));
    assert_eq!(h.get("when"), Some(&TypeHint::Datetime));
    assert_eq!(h.len(), 5);
    // A column name containing '=' keeps everything before the last '='.
    assert_eq!(
        parse_type_hints("a=b=id").unwrap().get("a=b"),
        Some(&TypeHint::Id)
    );
    let e = parse_type_hints("zip").unwrap_err().to_string();
    assert!(e.contains("COLUMN=KIND"), "{e}");
    let e = parse_type_hints("zip=colour").unwrap_err().to_string();
    assert!(
        e.contains("unknown kind 'colour'") && e.contains("categorical"),
        "{e}"
    );
}

fn with_types(spec: &str) -> LoadOptions {
    LoadOptions {
        types: parse_type_hints(spec).unwrap(),
        ..Default::default()
    }
}

#[test]
fn type_overrides() {
    let dir = TempDir::new("hints");
    let p = dir.file(
        "h.csv",
        "zip,amount,drop_me,flag,when\n007,12,a,yes,2024-01-02\n10115,n/a?,b,no,x\n007,3.5,c,y,2024-03-04\n",
    );
    let t = load_with(
        &p,
        &with_types("zip=categorical,amount=numeric,drop_me=ignore,flag=boolean,when=datetime"),
    )
    .unwrap();
    assert_eq!(names(&t), ["zip", "amount", "flag", "when"]);
    // Categorical keeps the text as written, leading zeros included.
    assert_eq!(t.columns[0].value_type, ValueType::String);
    assert_eq!(t.columns[0].hint, Some(TypeHint::Categorical));
    assert_eq!(strs(&t, "zip"), [s("007"), s("10115"), s("007")]);
    // Numeric over text: unreadable values become missing and are counted.
    assert_eq!(t.columns[1].value_type, ValueType::Float);
    assert_eq!(floats(&t, "amount"), [Some(12.0), None, Some(3.5)]);
    assert_eq!(t.columns[1].coerced_to_missing, 1);
    assert_eq!(bools(&t, "flag"), [Some(true), Some(false), Some(true)]);
    assert_eq!(
        times(&t, "when"),
        [
            Some(ms(2024, 1, 2, 0, 0, 0)),
            None,
            Some(ms(2024, 3, 4, 0, 0, 0))
        ]
    );
    assert_eq!(t.columns[3].coerced_to_missing, 1);
    assert!(
        t.notes
            .iter()
            .any(|n| n.contains("drop_me") && n.contains("ignored")),
        "{:?}",
        t.notes
    );
    assert!(
        t.notes
            .iter()
            .any(|n| n.contains("'amount'") && n.contains("1 values")),
        "{:?}",
        t.notes
    );
}

#[test]
fn integer_column_as_categorical_becomes_strings() {
    let (dir, _) = load_text("c.csv", "code,y\n1,a\n2,b\n1,c\n");
    let t = load_with(&dir.path().join("c.csv"), &with_types("code=categorical")).unwrap();
    assert_eq!(t.columns[0].value_type, ValueType::String);
    assert_eq!(strs(&t, "code"), [s("1"), s("2"), s("1")]);
    assert_eq!(t.columns[0].coerced_to_missing, 0);
}

#[test]
fn override_of_unknown_column_suggests_the_closest() {
    let dir = TempDir::new("unknown");
    let p = dir.file("u.csv", "customer_id,amount\n1,2\n");
    let e = load_err(&p, &with_types("ammount=numeric"));
    assert!(e.contains("no column named 'ammount'"), "{e}");
    assert!(e.contains("did you mean 'amount'?"), "{e}");
    assert!(e.contains("customer_id, amount"), "{e}");
}

#[test]
fn duplicate_and_empty_header_names_are_made_unique() {
    let (_dir, t) = load_text("dup.csv", "a,a,b,a,\n1,2,3,4,5\n");
    assert_eq!(names(&t), ["a", "a.1", "b", "a.2", "column_5"]);
    assert_eq!(ints(&t, "a.2"), [Some(4)]);
    assert!(
        t.notes
            .iter()
            .any(|n| n.contains("renamed the repeat to 'a.1'")),
        "{:?}",
        t.notes
    );
    assert!(
        t.notes.iter().any(|n| n.contains("column 5 has no name")),
        "{:?}",
        t.notes
    );

    // The user's own "a.1" keeps its name; the repeat of "a" skips to "a.2".
    let (_dir, t) = load_text("dup3.csv", "a,a,a.1\n1,2,3\n");
    assert_eq!(names(&t), ["a", "a.2", "a.1"]);
    assert_eq!(ints(&t, "a.2"), [Some(2)]);

    // A generated name must not collide with a name that appears later or earlier.
    for header in ["a.1,a,a", "a,a,a.1", "x,column_2,", "a,a,a.1,a.1"] {
        let n = header.split(',').count();
        let row = vec!["1"; n].join(",");
        let (_dir, t) = load_text("dup2.csv", &format!("{header}\n{row}\n"));
        let got = names(&t);
        let mut unique = got.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), n, "{header} gave {got:?}");
        // Names that were unique to begin with are kept.
        assert!(got.contains(&header.split(',').next().unwrap().to_string()));
    }
}

#[test]
fn header_longer_than_the_sniffing_sample() {
    // 30,000 columns with long names: the header alone is ~780 KB, beyond the 256 KB sample.
    let cols = 30_000;
    let header: Vec<String> = (0..cols)
        .map(|i| format!("feature_number_{i:06}"))
        .collect();
    let mut text = header.join(";");
    text.push('\n');
    for r in 0..3 {
        let row: Vec<String> = (0..cols).map(|i| ((i + r) % 10).to_string()).collect();
        text.push_str(&row.join(";"));
        text.push('\n');
    }
    assert!(text.find('\n').unwrap() > 256 << 10);
    let (_dir, t) = load_text("wide.csv", &text);
    assert_eq!(t.n_cols(), cols);
    assert_eq!(t.n_rows(), 3);
    assert_eq!(names(&t)[29_999], "feature_number_029999");
    assert_eq!(
        ints(&t, "feature_number_029999"),
        [Some(9), Some(0), Some(1)]
    );
}
