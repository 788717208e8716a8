//! What each fuzz target does with one input. The libFuzzer binaries (fuzz_targets/) call these,
//! and so does `crates/whet/tests/fuzz_corpus.rs`, which replays the committed corpus (every
//! seed and every input that once crashed or hung) on each `cargo test` with no fuzzing build.
//! The including crate provides `crate::track::filter` (whet-track's filter grammar).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use whet_data::csv::{CsvOptions, NoProgress, read_csv_with};
use whet_data::load::{LoadOptions, ParquetChunks, load};
use whet_data::stream::CsvChunks;
use whet_data::table::TypeHint;
use whet_learn::model::{FORMAT_VERSION, MAGIC, Model};
use whet_learn::{LearnerKind, LearnerParams};

use crate::track::filter::{Entity, OrderBy, parse, parse_for};

/// The targets by name, as fuzz/corpus/<name>/ names them.
pub const NAMES: [&str; 6] = ["csv", "parquet", "model", "filter", "duration", "params"];

/// Runs target `name` on `data`; readers that take paths get a file in `scratch`.
pub fn run(name: &str, data: &[u8], scratch: &Path) {
    match name {
        "csv" => csv(data, scratch),
        "parquet" => parquet(data, scratch),
        "model" => model(data),
        "filter" => filter(data),
        "duration" => duration(data),
        "params" => params(data),
        other => panic!("no fuzz target named {other}"),
    }
}

/// Writes `bytes` to `scratch/name` and returns its path: the readers under test take paths.
fn scratch_file(scratch: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    if !scratch.is_dir() {
        std::fs::create_dir_all(scratch).expect("scratch folder");
    }
    let path = scratch.join(name);
    std::fs::write(&path, bytes).expect("scratch file");
    path
}

/// Takes the first byte of `data` (0 when empty) and returns it with the rest.
fn take_byte(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((b, rest)) => (*b, rest),
        None => (0, data),
    }
}

const HINTS: [TypeHint; 7] = [
    TypeHint::Numeric,
    TypeHint::Categorical,
    TypeHint::Boolean,
    TypeHint::Datetime,
    TypeHint::Text,
    TypeHint::Id,
    TypeHint::Ignore,
];

/// The CSV readers on arbitrary bytes: the one-pass and the two-pass reader of `load`, and the
/// chunked reader of `whet predict`, with options (delimiter, header, missing-value markers,
/// type overrides) and gzip taken from the input's first bytes.
pub fn csv(data: &[u8], scratch: &Path) {
    let (flags, data) = take_byte(data);
    let (extra, data) = take_byte(data);
    let delimiter = match (flags >> 4) & 7 {
        0 | 7 => None,
        1 => Some(b','),
        2 => Some(b';'),
        3 => Some(b'\t'),
        4 => Some(b'|'),
        5 => Some(b' '),
        // The command line takes any ASCII character.
        _ => Some(extra & 0x7f),
    };
    let mut options = CsvOptions {
        delimiter,
        ..CsvOptions::default()
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
    let gzip = flags & 0b10 != 0;
    let bytes = if gzip {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = gz.write_all(data);
        gz.finish().unwrap_or_default()
    } else {
        data.to_vec()
    };
    let name = if gzip { "in.csv.gz" } else { "in.csv" };
    let path = scratch_file(scratch, name, &bytes);
    let fast = flags & 1 != 0;
    let _ = read_csv_with(&path, &options, &hints, false, &NoProgress, fast);
    if !fast {
        let chunk_rows = 1 + usize::from(extra & 0x0f);
        if let Ok(mut chunks) = CsvChunks::open(&path, &options, chunk_rows) {
            while let Ok(Some(_)) = chunks.next_chunk() {}
        }
    }
}

/// The Parquet reader on arbitrary bytes: `load` (whole file) and the chunked reader of
/// `whet predict`.
pub fn parquet(data: &[u8], scratch: &Path) {
    let path = scratch_file(scratch, "in.parquet", data);
    let _ = load(&path, &LoadOptions::default(), &NoProgress);
    if let Ok(mut chunks) = ParquetChunks::open(&path, &BTreeMap::new(), 3) {
        while let Ok(Some(_)) = chunks.next_chunk() {}
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn wrap(version: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(28 + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&fnv1a(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The model-file loader. The header's checksum would stop almost every mutated input at the
/// first check, so the first byte chooses how the rest is presented: as a whole file, or as a
/// payload wrapped here in a valid header (format 1: MessagePack; format 2 and later:
/// compressed here, or claimed to be compressed as is) so the decoder behind the checksum is
/// reached.
pub fn model(data: &[u8]) {
    let (mode, rest) = take_byte(data);
    let file = match mode % 4 {
        0 => data.to_vec(),
        1 => wrap(1, rest),
        2 => {
            let Ok(compressed) = zstd::bulk::compress(rest, 1) else {
                return;
            };
            let mut payload = (rest.len() as u64).to_le_bytes().to_vec();
            payload.extend_from_slice(&compressed);
            wrap(FORMAT_VERSION, &payload)
        }
        _ => wrap(FORMAT_VERSION, rest),
    };
    let _ = Model::from_bytes(&file, "fuzz.whet");
}

const ENTITIES: [Entity; 5] = [
    Entity::Runs,
    Entity::Experiments,
    Entity::RegisteredModels,
    Entity::ModelVersions,
    Entity::LoggedModels,
];

/// The filter and order-by grammar of `whet runs`, the server's searches and the registry,
/// for every entity searched.
pub fn filter(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse(text);
    let _ = OrderBy::parse(text);
    for entity in ENTITIES {
        let _ = parse_for(text, entity);
        let _ = OrderBy::parse_for(text, entity);
    }
}

/// `--time` parsing.
pub fn duration(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = whet_automl::budget::parse_duration(text);
    }
}

/// Learner parameter parsing (`whet fit --learner L -p KEY=VALUE ...`) for every learner, and
/// the `--types COL=TYPE,...` parser beside it.
pub fn params(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line names the learner; each further line is one -p pair.
    let mut lines = text.split('\n');
    let name = lines.next().unwrap_or_default();
    let pairs: Vec<&str> = lines.collect();
    let kinds: Vec<LearnerKind> = match LearnerKind::from_name(name) {
        Ok(kind) => vec![kind],
        Err(_) => LearnerKind::ALL.to_vec(),
    };
    for kind in kinds {
        let mut params = LearnerParams::defaults(kind);
        if params.set_all(pairs.iter().copied()).is_ok() {
            let _ = params.binning();
        }
    }
    let _ = whet_data::table::parse_type_hints(text);
}
