//! `whet profile` end to end: the binary's exit codes, messages, JSON and HTML output.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "whet-cli-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn file(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn whet(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_whet"))
        .args(args)
        .output()
        .expect("run whet");
    Run {
        code: out.status.code().expect("exit code, not a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(run: &Run) -> serde_json::Value {
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// Runs `whet profile FILE ARGS --html out.html` expecting a clean failure: exit code 1, every
/// `needle` in the message, no panic, and no report file left behind.
fn fails(file: &Path, args: &[&str], needles: &[&str]) -> String {
    let dir = TempDir::new();
    let html = dir.path("out.html");
    let mut all = vec!["profile", s(file), "--html", s(&html)];
    all.extend_from_slice(args);
    let run = whet(&all);
    assert_eq!(
        run.code, 1,
        "{all:?}\nstdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(run.stderr.contains("hint: "), "no hint: {}", run.stderr);
    for n in needles {
        assert!(
            run.stderr.contains(n),
            "{all:?}: {n:?} not in {}",
            run.stderr
        );
    }
    assert!(!html.exists(), "a report was written for a failed run");
    assert!(
        std::fs::read_dir(&dir.0).unwrap().next().is_none(),
        "files left behind"
    );
    assert!(run.stdout.is_empty(), "stdout on failure: {}", run.stdout);
    run.stderr
}

fn churn() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/churn.csv")
}

#[test]
fn missing_unreadable_and_empty_files() {
    let dir = TempDir::new();
    fails(
        &dir.path("no-such.csv"),
        &[],
        &["cannot read", "no-such.csv", "No such file"],
    );
    std::fs::create_dir(dir.path("folder.csv")).unwrap();
    fails(
        &dir.path("folder.csv"),
        &[],
        &["folder.csv", "is a directory"],
    );
    fails(&dir.file("empty.csv", ""), &[], &["empty.csv' is empty"]);
    fails(
        &dir.file("blank.csv", "\n\n"),
        &[],
        &["blank.csv' is empty"],
    );
    fails(
        &dir.file("header.csv", "a,b,c\n"),
        &[],
        &["has a header but no data rows"],
    );
}

#[test]
fn ragged_rows_name_the_line() {
    let dir = TempDir::new();
    fails(
        &dir.file("r.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n"),
        &[],
        &["line 3: expected 3 fields", "found 2", "delimiter (comma)"],
    );
    // An earlier field holds a newline: lines are physical lines of the file.
    fails(
        &dir.file("r2.csv", "a,b,c\n1,\"two\nlines\",3\n4,5,6,7\n"),
        &[],
        &["line 4: expected 3 fields", "found 4"],
    );
    fails(
        &dir.file("r3.tsv", "a\tb\r\nx\t\"y\r\nz\"\r\n1\r\n"),
        &[],
        &["line 4: expected 2 fields", "delimiter (tab)"],
    );
}

#[test]
fn invalid_utf8_names_the_byte() {
    let dir = TempDir::new();
    fails(
        &dir.file("latin1.csv", b"name,city\nx,M\xfcnchen\n"),
        &[],
        &["invalid UTF-8 at byte offset 13", "iconv"],
    );
    // After the first 4 MB chunk.
    let mut bytes = b"id,text\n".to_vec();
    let mut i = 0;
    while bytes.len() < (5 << 20) {
        bytes.extend_from_slice(format!("{i},\"row {i}\nsecond line\"\n").as_bytes());
        i += 1;
    }
    let offset = bytes.len() + "999,caf".len();
    bytes.extend_from_slice(b"999,caf\xe9\n1000,ok\n");
    fails(
        &dir.file("big.csv", &bytes),
        &[],
        &[&format!("invalid UTF-8 at byte offset {offset}\n")],
    );
}

#[test]
fn target_problems() {
    let dir = TempDir::new();
    let data = dir.file("t.csv", "churned,age,plan\nyes,30,a\nno,40,b\nyes,50,a\n");
    fails(
        &data,
        &["--target", "churn"],
        &["no column named 'churn'", "did you mean 'churned'?"],
    );
    // A target with one value is profiled with a critical warning (see below).
    fails(
        &data,
        &["--target", "age", "--task", "binary"],
        &["--task binary needs a target with 2 classes"],
    );
    // Type overrides naming an unknown column.
    fails(
        &data,
        &["--types", "agee=numeric"],
        &["no column named 'agee'", "did you mean 'age'?"],
    );
}

#[test]
fn target_missing_dropped_or_rejected() {
    let dir = TempDir::new();
    let mut text = String::from("y,x\n");
    for i in 0..40 {
        let y = match i % 10 {
            3 | 7 => "",
            4 => "NA",
            _ if i % 2 == 0 => "a",
            _ => "b",
        };
        text.push_str(&format!("{y},{i}\n"));
    }
    let p = dir.file("m.csv", &text);
    let j = json(&whet(&["profile", s(&p), "--target", "y", "--json"]));
    assert_eq!(j["target_rows_dropped"], 12);
    assert_eq!(j["rows"], 28);
    assert_eq!(j["task"], "binary");
    assert!(
        j["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["kind"] == "target_missing"
                && w["message"].as_str().unwrap().starts_with("12 rows")),
        "{}",
        j["warnings"]
    );
    let text_run = whet(&["profile", s(&p), "--target", "y"]);
    assert_eq!(text_run.code, 0, "{}", text_run.stderr);
    assert!(
        text_run
            .stdout
            .contains("12 rows have no value for the target and were dropped"),
        "{}",
        text_run.stdout
    );
    fails(
        &p,
        &["--target", "y", "--target-missing", "error"],
        &["target 'y' is missing in 12 rows (first at data row 4)"],
    );
}

#[test]
fn wide_file_of_ten_thousand_columns() {
    let dir = TempDir::new();
    let cols = 10_000;
    let mut text = (0..cols)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");
    text.push('\n');
    for r in 0..50 {
        let row: Vec<String> = (0..cols).map(|i| ((r * 7 + i) % 13).to_string()).collect();
        text.push_str(&row.join(","));
        text.push('\n');
    }
    let p = dir.file("wide.csv", &text);
    let j = json(&whet(&["profile", s(&p), "--json"]));
    assert_eq!(j["n_columns"], 10_000);
    assert_eq!(j["rows"], 50);
    let columns = j["columns"].as_array().unwrap();
    assert_eq!(columns.len(), 10_000);
    assert_eq!(columns[9_999]["name"], "c9999");
    assert_eq!(columns[9_999]["type"], "integer");
    // The text output cuts the terminal table but still succeeds.
    let run = whet(&["profile", s(&p)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("50 rows × 10000 columns"),
        "{}",
        &run.stdout[..200]
    );
    assert!(run.stdout.contains("and 9800 more columns"));
}

#[test]
fn all_missing_column_is_a_warning_not_an_error() {
    let dir = TempDir::new();
    let p = dir.file("am.csv", "a,b,c\n1,,x\n2,NA,y\n3,,z\n4,?,x\n");
    let j = json(&whet(&["profile", s(&p), "--json"]));
    let b = &j["columns"][1];
    assert_eq!(b["name"], "b");
    assert_eq!(b["missing"], 4);
    assert_eq!(b["missing_pct"], 100.0);
    let warnings = j["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["kind"] == "all_missing" && w["column"] == "b"),
        "{warnings:?}"
    );
}

#[test]
fn read_options_on_the_command_line() {
    let dir = TempDir::new();
    let p = dir.file("o.txt", "1;x;-999\n2;y;5\n3;z;-999\n");
    let j = json(&whet(&[
        "profile",
        s(&p),
        "--json",
        "--delimiter",
        ";",
        // `--na -999` is refused by clap (a value that looks like a flag); `=` works.
        "--na=-999",
        "--types",
        "column_1=categorical",
    ]));
    let cols = j["columns"].as_array().unwrap();
    let names: Vec<&str> = cols.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["column_1", "column_2", "column_3"]);
    assert_eq!(cols[0]["type"], "string");
    assert_eq!(cols[2]["type"], "integer");
    assert_eq!(cols[2]["missing"], 2);

    let j = json(&whet(&["profile", s(&p), "--json", "--no-header"]));
    assert_eq!(j["rows"], 3);
    let p2 = dir.file("h.csv", "1,2\n3,4\n");
    let j = json(&whet(&["profile", s(&p2), "--json", "--header"]));
    assert_eq!(j["rows"], 1);
    assert_eq!(j["columns"][0]["name"], "1");

    let run = whet(&["profile", s(&p2), "--no-header", "--header"]);
    assert_eq!(
        run.code, 2,
        "conflicting flags are a usage error: {}",
        run.stderr
    );
    let run = whet(&["profile", s(&p2), "--bogus"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn churn_profile_json_and_html() {
    let dir = TempDir::new();
    let html = dir.path("churn.html");
    let run = whet(&[
        "profile",
        s(&churn()),
        "--target",
        "churned",
        "--json",
        "--html",
        s(&html),
    ]);
    let j = json(&run);
    assert_eq!(j["schema_version"], 1);
    assert_eq!(j["rows"], 2000);
    assert_eq!(j["target"], "churned");
    assert_eq!(j["task"], "binary");
    assert_eq!(j["target_rows_dropped"], 0);
    let col = |name: &str| {
        j["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no column {name}"))
            .clone()
    };
    assert_eq!(col("customer_id")["role"], "id");
    assert_eq!(col("signup_date")["type"], "datetime");
    assert_eq!(col("signup_date")["role"], "datetime");
    assert_eq!(col("churned")["role"], "target");
    let classes = j["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 2);
    let total: u64 = classes.iter().map(|c| c["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 2000);
    let warnings = j["warnings"].as_array().unwrap();
    assert!(!warnings.is_empty());
    for w in warnings {
        assert!(w["kind"].is_string() && w["severity"].is_string(), "{w}");
        assert!(!w["message"].as_str().unwrap().is_empty(), "{w}");
        assert!(!w["suggestion"].as_str().unwrap().is_empty(), "{w}");
    }
    assert!(
        warnings
            .iter()
            .any(|w| w["kind"] == "id_like" && w["column"] == "customer_id"),
        "{warnings:?}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{}", &page[..50]);
    assert!(page.contains("<svg"));
    assert!(page.contains("customer_id"));
    assert!(page.trim_end().ends_with("</html>"));
}

#[test]
fn test_file_with_copied_rows_reports_shared_rows() {
    let dir = TempDir::new();
    let train = std::fs::read_to_string(churn()).unwrap();
    let mut lines = train.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let mut test = format!("{header}\n");
    // 23 rows copied verbatim, 40 rows made new by changing their id.
    for r in rows.iter().skip(100).step_by(37).take(23) {
        test.push_str(r);
        test.push('\n');
    }
    for (k, r) in rows.iter().skip(1000).take(40).enumerate() {
        let (_, rest) = r.split_once(',').unwrap();
        test.push_str(&format!("T{k:06},{rest}\n"));
    }
    let p = dir.file("test.csv", &test);
    let j = json(&whet(&[
        "profile",
        s(&churn()),
        "--target",
        "churned",
        "--test",
        s(&p),
        "--json",
    ]));
    assert_eq!(j["test"]["rows"], 63);
    assert_eq!(j["test"]["shared_rows"], 23);
    assert_eq!(j["test"]["missing_columns"].as_array().unwrap().len(), 0);
    assert!(
        j["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["kind"] == "train_test_overlap"
                && w["message"].as_str().unwrap().starts_with("23 test rows")),
        "{}",
        j["warnings"]
    );
    let run = whet(&[
        "profile",
        s(&churn()),
        "--target",
        "churned",
        "--test",
        s(&p),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("63 rows, 23 shared with training data"),
        "{}",
        run.stdout
    );
}

#[test]
fn profile_does_not_depend_on_the_thread_count() {
    let one = whet(&[
        "profile",
        s(&churn()),
        "--target",
        "churned",
        "--json",
        "--threads",
        "1",
    ]);
    let many = whet(&[
        "profile",
        s(&churn()),
        "--target",
        "churned",
        "--json",
        "--threads",
        "3",
    ]);
    assert_eq!(json(&one), json(&many));
    let zero = whet(&["profile", s(&churn()), "--threads", "0"]);
    assert_eq!(zero.code, 2, "{}", zero.stderr);
}

#[test]
fn an_absurd_thread_count_is_capped_with_a_note() {
    let dir = TempDir::new();
    let f = dir.file("one.csv", "a,b\n1,2\n");
    let run = whet(&["--threads", "100000", "profile", s(&f), "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("more than this machine can use"),
        "{}",
        run.stderr
    );
    let run = whet(&["--threads", "0", "profile", s(&f)]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn infinite_values_are_counted_in_a_warning_also_for_the_target() {
    let dir = TempDir::new();
    let f = dir.file("inf.csv", "x,y\n1,2\ninf,3\n3,-Infinity\n4,5\n5,6\n");
    let v = json(&whet(&["profile", s(&f), "--target", "y", "--json"]));
    let warnings = v["warnings"].as_array().unwrap();
    let of = |col: &str| {
        warnings
            .iter()
            .find(|w| w["kind"] == "non_finite" && w["column"] == col)
            .map(|w| w["message"].as_str().unwrap().to_string())
    };
    assert_eq!(
        of("x").unwrap(),
        "1 values are infinite (first at data row 2)"
    );
    assert!(of("y").unwrap().starts_with("1 values are infinite"));
}

#[test]
fn a_target_with_one_value_is_profiled_with_a_critical_warning() {
    let dir = TempDir::new();
    for (name, text) in [
        ("const.csv", "x,y\n1,a\n2,a\n3,a\n"),
        ("one.csv", "x,y\n1,a\n"),
    ] {
        let f = dir.file(name, text);
        let v = json(&whet(&["profile", s(&f), "--target", "y", "--json"]));
        let w = v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["kind"] == "unusable_target")
            .unwrap_or_else(|| panic!("{name}: no unusable_target warning in {v}"));
        assert_eq!(w["severity"], "critical");
        assert_eq!(w["column"], "y");
        let on_y = v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["column"] == "y")
            .count();
        assert_eq!(
            on_y, 1,
            "{name}: the target's one warning is the critical one: {v}"
        );
        assert_eq!(v["columns"].as_array().unwrap().len(), 2, "{name}");
    }
}

#[test]
fn a_damaged_gzip_file_is_called_damaged_not_missing() {
    let dir = TempDir::new();
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
        enc.write_all("a,b\n".repeat(2000).as_bytes()).unwrap();
    }
    let cut = dir.file("cut.csv.gz", &gz[..gz.len() / 2]);
    let err = fails(&cut, &[], &["damaged or cut short", "gzip -t"]);
    assert!(!err.contains("exists"), "{err}");
}

#[test]
fn a_date_target_is_explained_without_blaming_an_option_never_given() {
    let dir = TempDir::new();
    let f = dir.file(
        "dates.csv",
        "x,d\n1,2021-01-01\n2,2021-02-01\n3,2021-03-05\n",
    );
    let err = fails(&f, &["--target", "d"], &["holds dates and times"]);
    assert!(!err.contains("--task"), "{err}");
}
