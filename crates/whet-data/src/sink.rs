//! Writing tables batch by batch to CSV or Parquet, atomically: the rows go to a temporary
//! file beside the destination, which replaces the destination only when every batch is in.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Schema};
use parquet::arrow::ArrowWriter;

use crate::error::{DataError, Result};

enum Writer {
    Csv(BufWriter<File>),
    Parquet(Box<ArrowWriter<File>>),
    Stdout(BufWriter<std::io::Stdout>),
}

pub struct BatchSink {
    /// Final destination (None: standard output).
    path: Option<PathBuf>,
    tmp: Option<PathBuf>,
    writer: Option<Writer>,
    schema: Arc<Schema>,
    header_written: bool,
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// One record batch as a Parquet file in memory, for artifacts too small to stream.
pub fn parquet_bytes(schema: Arc<Schema>, columns: Vec<ArrayRef>) -> Result<Vec<u8>> {
    let label = Path::new("<parquet in memory>");
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| write_err(label, e))?;
    let mut out = Vec::new();
    // Small artifacts add up (one per trial): compressed, they take much less space.
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let mut writer =
        ArrowWriter::try_new(&mut out, schema, Some(props)).map_err(|e| write_err(label, e))?;
    writer.write(&batch).map_err(|e| write_err(label, e))?;
    writer.close().map_err(|e| write_err(label, e))?;
    Ok(out)
}

impl BatchSink {
    /// Parquet when `path` ends in .parquet/.pq, CSV otherwise; standard output (CSV) for None.
    pub fn create(path: Option<&Path>, schema: Arc<Schema>) -> Result<BatchSink> {
        let Some(path) = path else {
            return Ok(BatchSink {
                path: None,
                tmp: None,
                writer: Some(Writer::Stdout(BufWriter::new(std::io::stdout()))),
                schema,
                header_written: false,
            });
        };
        let lower_name = path.to_string_lossy().to_ascii_lowercase();
        let known = [".csv", ".parquet", ".pq"];
        if !known.iter().any(|ext| lower_name.ends_with(ext)) {
            return Err(DataError::invalid(
                format!(
                    "'{}': predictions are written as CSV (.csv) or Parquet (.parquet), not as this file type",
                    path.display()
                ),
                "name the output file .csv or .parquet",
            ));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let file = File::create(&tmp).map_err(|e| DataError::Write {
            path: path.to_path_buf(),
            source: e,
        })?;
        let lower = name.to_ascii_lowercase();
        let writer = if lower.ends_with(".parquet") || lower.ends_with(".pq") {
            Writer::Parquet(Box::new(
                ArrowWriter::try_new(file, schema.clone(), None).map_err(|e| write_err(path, e))?,
            ))
        } else {
            Writer::Csv(BufWriter::with_capacity(1 << 20, file))
        };
        Ok(BatchSink {
            path: Some(path.to_path_buf()),
            tmp: Some(tmp),
            writer: Some(writer),
            schema,
            header_written: false,
        })
    }

    fn label(&self) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| PathBuf::from("<stdout>"))
    }

    pub fn write(&mut self, columns: Vec<ArrayRef>) -> Result<()> {
        let label = self.label();
        let batch =
            RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| write_err(&label, e))?;
        let header = !self.header_written;
        self.header_written = true;
        match self.writer.as_mut() {
            Some(Writer::Parquet(w)) => w.write(&batch).map_err(|e| write_err(&label, e)),
            Some(Writer::Csv(w)) => write_csv(w, &batch, header).map_err(|e| write_err(&label, e)),
            Some(Writer::Stdout(w)) => {
                write_csv(w, &batch, header).map_err(|e| write_err(&label, e))
            }
            None => Err(write_err(&label, "the output is already closed")),
        }
    }

    /// Flushes and moves the file into place.
    pub fn finish(mut self) -> Result<()> {
        let label = self.label();
        match self.writer.take() {
            Some(Writer::Parquet(w)) => {
                w.close().map_err(|e| write_err(&label, e))?;
            }
            Some(Writer::Csv(mut w)) => {
                if !self.header_written {
                    write_header(&mut w, &self.schema).map_err(|e| write_err(&label, e))?;
                }
                w.flush().map_err(|e| write_err(&label, e))?;
                let f = w.into_inner().map_err(|e| write_err(&label, e))?;
                f.sync_all().map_err(|e| write_err(&label, e))?;
            }
            Some(Writer::Stdout(mut w)) => {
                if !self.header_written {
                    write_header(&mut w, &self.schema).map_err(|e| write_err(&label, e))?;
                }
                w.flush().map_err(|e| write_err(&label, e))?;
            }
            None => {}
        }
        if let (Some(tmp), Some(path)) = (self.tmp.take(), &self.path) {
            std::fs::rename(&tmp, path).map_err(|e| DataError::Write {
                path: path.clone(),
                source: e,
            })?;
        }
        Ok(())
    }
}

impl Drop for BatchSink {
    fn drop(&mut self) {
        // Not finished: leave no partial file behind.
        if let Some(tmp) = self.tmp.take() {
            self.writer = None;
            let _ = std::fs::remove_file(tmp);
        }
    }
}

fn quote(field: &str) -> std::borrow::Cow<'_, str> {
    if field.contains([',', '"', '\n', '\r']) {
        std::borrow::Cow::Owned(format!("\"{}\"", field.replace('"', "\"\"")))
    } else {
        std::borrow::Cow::Borrowed(field)
    }
}

fn write_header(w: &mut impl Write, schema: &Schema) -> std::io::Result<()> {
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| quote(f.name()).into_owned())
        .collect();
    writeln!(w, "{}", names.join(","))
}

fn write_csv(w: &mut impl Write, batch: &RecordBatch, header: bool) -> std::io::Result<()> {
    if header {
        write_header(w, &batch.schema())?;
    }
    let columns = batch.columns();
    let mut line = String::new();
    for r in 0..batch.num_rows() {
        line.clear();
        for (c, a) in columns.iter().enumerate() {
            if c > 0 {
                line.push(',');
            }
            if a.is_null(r) {
                continue;
            }
            match a.data_type() {
                DataType::Float64 => {
                    let v = a.as_primitive::<Float64Type>().value(r);
                    // Shortest text that reads back to the same f64.
                    line.push_str(&format!("{v}"));
                }
                DataType::Utf8 => line.push_str(&quote(a.as_string::<i32>().value(r))),
                _ => {}
            }
        }
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// Any column as text (for carrying an id column through to the output).
pub fn to_utf8(array: &ArrayRef) -> Result<ArrayRef> {
    arrow_cast::cast(array, &DataType::Utf8).map_err(|e| {
        DataError::invalid(
            format!("cannot show the column as text: {e}"),
            "pick another --id column",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, StringArray};
    use arrow_schema::Field;

    fn schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("prediction", DataType::Float64, true),
        ]))
    }

    #[test]
    fn csv_batches_land_atomically_with_quoting() {
        let dir = std::env::temp_dir().join(format!("whet-sink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("p.csv");
        let mut sink = BatchSink::create(Some(&out), schema()).unwrap();
        sink.write(vec![
            Arc::new(StringArray::from(vec![Some("a,b"), None])),
            Arc::new(Float64Array::from(vec![0.5, 1e-7])),
        ])
        .unwrap();
        assert!(!out.exists(), "nothing visible before finish");
        sink.write(vec![
            Arc::new(StringArray::from(vec![Some("c")])),
            Arc::new(Float64Array::from(vec![2.0])),
        ])
        .unwrap();
        sink.finish().unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text, "id,prediction\n\"a,b\",0.5\n,0.0000001\nc,2\n");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn dropped_sink_leaves_no_file() {
        let dir = std::env::temp_dir().join(format!("whet-sink-drop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("p.parquet");
        {
            let mut sink = BatchSink::create(Some(&out), schema()).unwrap();
            sink.write(vec![
                Arc::new(StringArray::from(vec![Some("x")])),
                Arc::new(Float64Array::from(vec![1.0])),
            ])
            .unwrap();
        }
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
