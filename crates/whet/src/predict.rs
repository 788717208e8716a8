//! `whet predict`: a model file applied to new data, CSV or Parquet streamed in chunks so
//! files larger than memory work; output written atomically.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow_array::ArrayRef;
use arrow_schema::{DataType, Field, Schema};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use whet_data::error::DataError;
use whet_data::load::{FileFormat, ParquetChunks, detect_format};
use whet_data::sink::{BatchSink, to_utf8};
use whet_data::stream::CsvChunks;
use whet_data::{Table, Task};
use whet_learn::output::{prediction_columns, prediction_fields};

use crate::model_ref::load_model;
use crate::read::ReadArgs;

#[derive(Args)]
pub struct PredictArgs {
    /// Model file written by `whet train` or `whet fit --out`, or a registered model in the
    /// tracking store: `models:/NAME@ALIAS`, `models:/NAME/VERSION` or `models:/NAME` (latest).
    pub model: PathBuf,
    /// Data to score: CSV (optionally .gz) or Parquet, streamed in chunks.
    pub data: PathBuf,
    /// Output file: .csv or .parquet (default: CSV on standard output).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Add one proba_<class> column per class (classification).
    #[arg(long)]
    pub proba: bool,
    /// Copy this input column to the output, first, to join predictions back.
    #[arg(long, value_name = "COLUMN")]
    pub id: Option<String>,
    /// Rows per chunk read, transformed and scored at a time.
    #[arg(long, default_value_t = 100_000, hide = true)]
    pub chunk_rows: usize,
    #[command(flatten)]
    pub read: ReadArgs,
}

pub fn cmd_predict(args: &PredictArgs, store_flag: Option<&str>, quiet: bool) -> Result<()> {
    if let Some(out) = &args.out {
        let name = out.to_string_lossy().to_ascii_lowercase();
        if ![".csv", ".parquet", ".pq"]
            .iter()
            .any(|e| name.ends_with(e))
        {
            return Err(crate::exit::usage(format!(
                "-o '{}': predictions are written as CSV (.csv) or Parquet (.parquet)\nhint: name the output file .csv or .parquet, or leave out -o for CSV on standard output",
                out.display()
            )));
        }
    }
    let (model, _) = load_model(&args.model, store_flag)?;
    let task = model.metadata.task;
    let classes = model.metadata.classes.clone();
    if args.proba && task == Task::Regression {
        return Err(crate::exit::usage(
            "--proba needs a classification model; this one predicts a number\nhint: drop --proba",
        ));
    }

    let mut fields = Vec::new();
    if let Some(id) = &args.id {
        fields.push(Field::new(id, DataType::Utf8, true));
    }
    fields.extend(prediction_fields(task, &classes, args.proba));
    let schema = Arc::new(Schema::new(fields));
    let mut sink = BatchSink::create(args.out.as_deref(), schema)?;
    let mut notes: Vec<String> = Vec::new();
    let mut rows = 0u64;

    let mut score_chunk = |table: &Table, offset: u64, sink: &mut BatchSink| -> Result<()> {
        let out = model
            .prep
            .transform(table)
            .map_err(|e| shift_rows(e, offset))?;
        if notes.is_empty() {
            notes.extend(out.notes);
        }
        let p = model.predictor.predict(&out.features);
        let mut columns: Vec<ArrayRef> = Vec::new();
        if let Some(id) = &args.id {
            let i = table
                .index_of(id)
                .with_context(|| format!("--id: no column '{id}' in '{}'", args.data.display()))?;
            columns.push(to_utf8(table.array(i))?);
        }
        columns.extend(prediction_columns(task, &classes, &p, args.proba));
        sink.write(columns)?;
        Ok(())
    };

    let options = args.read.load_options()?;
    let chunk_rows = args.chunk_rows.max(1);
    let mut chunks = match detect_format(&args.data) {
        FileFormat::Csv => Chunks::Csv(Box::new(CsvChunks::open(
            &args.data,
            &options.csv,
            chunk_rows,
        )?)),
        FileFormat::Parquet => {
            Chunks::Parquet(ParquetChunks::open(&args.data, &options.types, chunk_rows)?)
        }
    };
    let missing: Vec<&str> = model
        .prep
        .required_columns()
        .into_iter()
        .filter(|c| !chunks.names().iter().any(|n| n == c))
        .collect();
    if !missing.is_empty() {
        bail!(
            "'{}' lacks column{} the model needs: {}\nhint: the model was trained with these columns; add them (empty values are fine)",
            args.data.display(),
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        );
    }
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let (_, total) = chunks.progress();
        let b = ProgressBar::new(total);
        let template = match chunks {
            Chunks::Csv(_) => {
                "  predicting [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}"
            }
            Chunks::Parquet(_) => "  predicting [{bar:30}] {pos}/{len} rows ({per_sec}, {eta})",
        };
        if let Ok(s) = ProgressStyle::with_template(template) {
            b.set_style(s.progress_chars("=> "));
        }
        b
    });
    // On a stop the sink is dropped unfinished: its temporary file goes, no output appears
    // (a previous file of that name is left as it was).
    let stopped = |rows: u64| {
        crate::interrupt::check(|| {
            format!("stopped on request after {rows} rows; no predictions were written")
        })
    };
    while let Some(table) = chunks.next_chunk()? {
        stopped(rows)?;
        score_chunk(&table, chunks.rows_before_chunk(), &mut sink)?;
        rows += table.n_rows() as u64;
        if let Some(b) = &bar {
            b.set_position(chunks.progress().0);
            b.set_message(format!("{rows} rows"));
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    // A stop during the last chunk: the user asked for no output, so none appears.
    stopped(rows)?;
    sink.finish()?;
    if !quiet {
        if let Some(out) = &args.out {
            eprintln!("{rows} predictions written to {}", out.display());
        }
        for n in &notes {
            eprintln!("note: {n}");
        }
    }
    Ok(())
}

/// The input, a chunk of rows at a time: files larger than memory stream through.
enum Chunks {
    Csv(Box<CsvChunks>),
    Parquet(ParquetChunks),
}

impl Chunks {
    fn names(&self) -> &[String] {
        match self {
            Chunks::Csv(c) => c.names(),
            Chunks::Parquet(p) => p.names(),
        }
    }

    /// (done, total) in the unit the progress bar shows: bytes for CSV, rows for Parquet.
    fn progress(&self) -> (u64, u64) {
        match self {
            Chunks::Csv(c) => c.progress(),
            Chunks::Parquet(p) => p.progress(),
        }
    }

    fn rows_before_chunk(&self) -> u64 {
        match self {
            Chunks::Csv(c) => c.rows_before_chunk(),
            Chunks::Parquet(p) => p.rows_before_chunk(),
        }
    }

    fn next_chunk(&mut self) -> whet_data::Result<Option<Table>> {
        match self {
            Chunks::Csv(c) => c.next_chunk(),
            Chunks::Parquet(p) => p.next_chunk(),
        }
    }
}

/// Row numbers in errors from a chunk are made file-wide.
fn shift_rows(e: DataError, offset: u64) -> anyhow::Error {
    match e {
        DataError::TypeDrift {
            column,
            row,
            expected,
            value,
            hint,
        } => DataError::TypeDrift {
            column,
            row: row + offset as usize,
            expected,
            value,
            hint,
        }
        .into(),
        other => other.into(),
    }
}
