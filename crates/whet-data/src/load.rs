//! One entry point for every supported file format.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};

use crate::csv::{CsvOptions, Progress, io_err, read_csv};
use crate::error::{DataError, Result};
use crate::table::{ColumnInfo, Table, TypeHint, ValueType};

#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub csv: CsvOptions,
    pub types: BTreeMap<String, TypeHint>,
    /// Type overrides may name columns this file lacks (a test file read with the training
    /// file's overrides); otherwise such a name is an error.
    pub types_optional: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Parquet,
}

pub fn detect_format(path: &Path) -> FileFormat {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".parquet") || name.ends_with(".pq") {
        FileFormat::Parquet
    } else {
        FileFormat::Csv
    }
}

/// Reads a CSV (optionally gzipped) or Parquet file into a table.
pub fn load(path: &Path, options: &LoadOptions, progress: &dyn Progress) -> Result<Table> {
    let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
    if meta.is_dir() {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            message: "is a directory".into(),
            hint: "give the path of a CSV or Parquet file".into(),
        });
    }
    if meta.len() == 0 {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    match detect_format(path) {
        FileFormat::Csv => read_csv(
            path,
            &options.csv,
            &options.types,
            !options.types_optional,
            progress,
        ),
        FileFormat::Parquet => {
            read_parquet(path, &options.types, !options.types_optional, progress)
        }
    }
}

fn parquet_err(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> DataError + '_ {
    move |source| DataError::Parquet {
        path: path.to_path_buf(),
        source,
    }
}

fn open_parquet(
    path: &Path,
    batch_rows: usize,
) -> Result<(ParquetReader, arrow_schema::SchemaRef, u64)> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = File::open(path).map_err(|e| io_err(path, e))?;
    let file_len = file.metadata().map_err(|e| io_err(path, e))?.len();
    let probe = file.try_clone().map_err(|e| io_err(path, e))?;
    crate::parquet_pages::check_footer(path, &probe, file_len)?;
    let file = BoundedFile {
        file,
        len: file_len,
    };
    let builder = contain_panic(path, || ParquetRecordBatchReaderBuilder::try_new(file))?
        .map_err(parquet_err(path))?;
    check_column_chunks(path, builder.metadata(), file_len)?;
    crate::parquet_pages::check_pages(path, &probe, builder.metadata())?;
    let total_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    let schema = builder.schema().clone();
    let builder = builder.with_batch_size(batch_rows.max(1));
    let reader = contain_panic(path, || builder.build())?.map_err(parquet_err(path))?;
    Ok((reader, schema, total_rows))
}

type ParquetReader = parquet::arrow::arrow_reader::ParquetRecordBatchReader;

/// The file as the parquet crate reads it, with the bounds the crate does not check itself.
/// Its Thrift decoder skips unknown fields of a page header by reading through them, and a
/// read past the end of a `File` is an empty success: a header claiming a list of two billion
/// 8-byte fields then loops two billion times at the end of the file (a hang, found by
/// fuzzing). Here a read at the end of the file is an error, and a byte range is checked
/// against the file's length before a buffer of the claimed size is allocated.
struct BoundedFile {
    file: File,
    len: u64,
}

impl parquet::file::reader::Length for BoundedFile {
    fn len(&self) -> u64 {
        self.len
    }
}

impl parquet::file::reader::ChunkReader for BoundedFile {
    type T = EndIsError<std::io::BufReader<File>>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        if start > self.len {
            return Err(past_end(start, 0, self.len));
        }
        Ok(EndIsError(self.file.get_read(start)?))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        let inside = start
            .checked_add(length as u64)
            .is_some_and(|end| end <= self.len);
        if !inside {
            return Err(past_end(start, length, self.len));
        }
        self.file.get_bytes(start, length)
    }
}

fn past_end(start: u64, length: usize, len: u64) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::EOF(format!(
        "the file claims {length} bytes at offset {start} of a {len}-byte file"
    ))
}

/// A reader for which reaching the end of the file is an error rather than an empty read.
/// The parquet crate reads pages with exact lengths, so a well-formed file never gets there.
struct EndIsError<R>(R);

impl<R: std::io::Read> std::io::Read for EndIsError<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        if n == 0 && !buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "read past the end of the file",
            ));
        }
        Ok(n)
    }
}

/// Runs a step of the parquet crate, whose decoders panic on some damaged pages (e.g. a
/// dictionary-encoded page with no dictionary): such a panic is a damaged file, not a crash.
fn contain_panic<T>(path: &Path, step: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).map_err(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        DataError::Format {
            path: path.to_path_buf(),
            message: format!("the Parquet data is damaged (the reader stopped: {what})"),
            hint: "the file is incomplete or corrupt: write or copy it again".into(),
        }
    })
}

/// The parquet crate asserts (panics) when a column chunk's offset or size is negative, and
/// overflows summing row groups' row counts, so a damaged footer is checked here first: every
/// chunk must lie inside the file, and the row counts must be counts.
fn check_column_chunks(
    path: &Path,
    metadata: &parquet::file::metadata::ParquetMetaData,
    file_len: u64,
) -> Result<()> {
    let mut rows: i64 = 0;
    for (g, group) in metadata.row_groups().iter().enumerate() {
        let counted = (group.num_rows() >= 0)
            .then(|| rows.checked_add(group.num_rows()))
            .flatten();
        let Some(total) = counted else {
            return Err(DataError::Format {
                path: path.to_path_buf(),
                message: format!(
                    "the Parquet metadata is damaged: row group {g} claims {} rows",
                    group.num_rows()
                ),
                hint: "the file is incomplete or corrupt: write or copy it again".into(),
            });
        };
        rows = total;
        for column in group.columns() {
            let start = column
                .dictionary_page_offset()
                .unwrap_or_else(|| column.data_page_offset());
            let len = column.compressed_size();
            let inside = u64::try_from(start)
                .ok()
                .zip(u64::try_from(len).ok())
                .and_then(|(s, l)| s.checked_add(l))
                .is_some_and(|end| end <= file_len);
            if !inside {
                return Err(DataError::Format {
                    path: path.to_path_buf(),
                    message: format!(
                        "the Parquet metadata is damaged: column '{}' of row group {g} claims bytes {start}..+{len} of a {file_len}-byte file",
                        column.column_path()
                    ),
                    hint: "the file is incomplete or corrupt: write or copy it again".into(),
                });
            }
        }
    }
    Ok(())
}

fn read_parquet(
    path: &Path,
    hints: &BTreeMap<String, TypeHint>,
    strict_types: bool,
    progress: &dyn Progress,
) -> Result<Table> {
    let (reader, schema, total_rows) = open_parquet(path, 64 * 1024)?;
    progress.start("reading", total_rows);
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut reader = reader;
    while let Some(batch) = contain_panic(path, || reader.next())? {
        let batch = batch.map_err(|e| DataError::Arrow {
            context: format!("reading '{}'", path.display()),
            source: e,
        })?;
        progress.advance(batch.num_rows() as u64);
        batches.push(batch);
        if progress.stop_requested() {
            return Err(DataError::Interrupted {
                path: path.to_path_buf(),
            });
        }
    }
    progress.finish();
    let n_rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if n_rows == 0 {
        return Err(DataError::HeaderOnly {
            path: path.to_path_buf(),
        });
    }
    check_hinted_columns(&schema, hints, strict_types)?;
    let mut joined = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let pieces: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
        joined.push(
            arrow_select::concat::concat(&pieces).map_err(|e| DataError::Arrow {
                context: format!("joining column '{}'", field.name()),
                source: e,
            })?,
        );
    }
    drop(batches);
    parquet_table(path, &schema, joined, n_rows, hints)
}

fn check_hinted_columns(
    schema: &arrow_schema::Schema,
    hints: &BTreeMap<String, TypeHint>,
    strict_types: bool,
) -> Result<()> {
    for name in hints.keys().filter(|_| strict_types) {
        if schema.index_of(name).is_err() {
            return Err(DataError::unknown_column(
                name,
                schema.fields().iter().map(|f| f.name().as_str()),
            ));
        }
    }
    Ok(())
}

/// A table from a Parquet file's columns: each mapped to its whet type (or the type a hint
/// asks for), counting values a cast could not keep.
fn parquet_table(
    path: &Path,
    schema: &arrow_schema::Schema,
    columns: Vec<ArrayRef>,
    n_rows: usize,
    hints: &BTreeMap<String, TypeHint>,
) -> Result<Table> {
    let mut infos = Vec::new();
    let mut arrays = Vec::new();
    let mut notes = Vec::new();
    for (field, column) in schema.fields().iter().zip(columns) {
        let name = field.name().clone();
        let hint = hints.get(&name).copied();
        if hint == Some(TypeHint::Ignore) {
            notes.push(format!("column '{name}' ignored as requested"));
            continue;
        }
        let natural = natural_type(field.data_type()).ok_or_else(|| DataError::Format {
            path: path.to_path_buf(),
            message: format!(
                "column '{name}' has type {} which whet cannot use",
                field.data_type()
            ),
            hint: format!("drop the column or pass --types {name}=ignore"),
        })?;
        let value_type = hint.and_then(TypeHint::value_type).unwrap_or(natural);
        let (array, coerced) = cast_counting(&column, value_type, &name)?;
        if coerced > 0 {
            notes.push(format!(
                "column '{name}': {coerced} values could not be read as {} and are treated as missing",
                value_type.name()
            ));
        }
        infos.push(ColumnInfo {
            name,
            value_type,
            hint,
            mixed: None,
            coerced_to_missing: coerced,
        });
        arrays.push(array);
    }
    let mut table = Table::new(infos, arrays, n_rows)?;
    table.source = Some(path.to_path_buf());
    table.notes = notes;
    Ok(table)
}

/// A Parquet file read a batch of rows at a time, each batch a table typed as `load` types the
/// whole file: memory stays bounded by a row group, not the file.
pub struct ParquetChunks {
    path: std::path::PathBuf,
    reader: ParquetReader,
    schema: arrow_schema::SchemaRef,
    hints: BTreeMap<String, TypeHint>,
    names: Vec<String>,
    total_rows: u64,
    rows_before: u64,
    rows_read: u64,
}

impl ParquetChunks {
    /// Type hints may name columns the file lacks (they come from a model's training data).
    pub fn open(
        path: &Path,
        hints: &BTreeMap<String, TypeHint>,
        chunk_rows: usize,
    ) -> Result<ParquetChunks> {
        let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
        if meta.len() == 0 {
            return Err(DataError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        let (reader, schema, total_rows) = open_parquet(path, chunk_rows)?;
        let names = schema.fields().iter().map(|f| f.name().clone()).collect();
        Ok(ParquetChunks {
            path: path.to_path_buf(),
            reader,
            schema,
            hints: hints.clone(),
            names,
            total_rows,
            rows_before: 0,
            rows_read: 0,
        })
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Rows read so far and in the whole file.
    pub fn progress(&self) -> (u64, u64) {
        (self.rows_read, self.total_rows)
    }

    /// Data rows in the file before the chunk last returned.
    pub fn rows_before_chunk(&self) -> u64 {
        self.rows_before
    }

    pub fn next_chunk(&mut self) -> Result<Option<Table>> {
        let reader = &mut self.reader;
        let Some(batch) = contain_panic(&self.path, || reader.next())? else {
            return Ok(None);
        };
        let batch = batch.map_err(|e| DataError::Arrow {
            context: format!("reading '{}'", self.path.display()),
            source: e,
        })?;
        let n = batch.num_rows();
        let table = parquet_table(
            &self.path,
            &self.schema,
            batch.columns().to_vec(),
            n,
            &self.hints,
        )?;
        self.rows_before = self.rows_read;
        self.rows_read += n as u64;
        Ok(Some(table))
    }
}

/// The whet value type a Parquet/Arrow column maps to.
fn natural_type(dt: &DataType) -> Option<ValueType> {
    Some(match dt {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => ValueType::Integer,
        DataType::UInt64
        | DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal32(_, _)
        | DataType::Decimal64(_, _)
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => ValueType::Float,
        DataType::Boolean => ValueType::Boolean,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => ValueType::Datetime,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ValueType::String,
        DataType::Dictionary(_, v) => return natural_type(v),
        _ => return None,
    })
}

/// Casts to the canonical Arrow type of `to`, counting values that became missing.
fn cast_counting(array: &ArrayRef, to: ValueType, name: &str) -> Result<(ArrayRef, u64)> {
    let target = match to {
        ValueType::Datetime => DataType::Timestamp(TimeUnit::Millisecond, None),
        other => other.arrow_type(),
    };
    if array.data_type() == &target {
        return Ok((array.clone(), 0));
    }
    // Timestamps with a zone are instants; dropping the zone keeps the UTC value.
    let source: ArrayRef = match array.data_type() {
        DataType::Timestamp(unit, Some(_)) => {
            arrow_cast::cast(array, &DataType::Timestamp(*unit, None)).map_err(|e| {
                DataError::Arrow {
                    context: format!("converting column '{name}'"),
                    source: e,
                }
            })?
        }
        _ => array.clone(),
    };
    let cast = arrow_cast::cast(&source, &target).map_err(|e| DataError::Arrow {
        context: format!("converting column '{name}' to {}", to.name()),
        source: e,
    })?;
    let coerced = cast.null_count().saturating_sub(array.null_count()) as u64;
    Ok((cast, coerced))
}
