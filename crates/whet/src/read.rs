//! How commands read data files: the shared reading flags and loading with a progress bar.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use clap::Args;
use whet_data::csv::CsvOptions;
use whet_data::profile::TargetMissing;
use whet_data::{LoadOptions, Table, Task, TypeHint};

use crate::progress;

/// How to read input files; shared by every command that loads data.
#[derive(Args, Clone, Debug)]
pub struct ReadArgs {
    /// Override inferred column kinds: COL=KIND,... with KIND one of numeric, categorical,
    /// boolean, datetime, text, id, ignore.
    #[arg(long, value_name = "COL=KIND,...", value_parser = parse_types)]
    types: Option<BTreeMap<String, TypeHint>>,
    /// Tokens read as missing, comma-separated (default: NA,N/A,null,NULL,NaN,?); an empty
    /// field is always missing.
    #[arg(long, value_name = "TOKENS", allow_hyphen_values = true)]
    na: Option<String>,
    /// Field delimiter (default: sniffed from , tab ; |). Use "\t" or "tab" for tabs.
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    delimiter: Option<u8>,
    /// The first row is data, not column names.
    #[arg(long, conflicts_with = "header")]
    no_header: bool,
    /// The first row holds column names (default: sniffed).
    #[arg(long)]
    header: bool,
}

impl ReadArgs {
    pub fn load_options(&self) -> Result<LoadOptions> {
        let mut csv = CsvOptions::default();
        if let Some(na) = &self.na {
            csv.na_values = na.split(',').map(str::to_string).collect();
        }
        csv.delimiter = self.delimiter;
        if self.no_header {
            csv.has_header = Some(false);
        } else if self.header {
            csv.has_header = Some(true);
        }
        Ok(LoadOptions {
            csv,
            types: self.types.clone().unwrap_or_default(),
            types_optional: false,
        })
    }
}

fn parse_delimiter(d: &str) -> Result<u8, String> {
    match d {
        "\\t" | "tab" | "\t" => Ok(b'\t'),
        s if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        _ => Err(format!(
            "must be one ASCII character (or \"tab\"), not '{d}'"
        )),
    }
}

fn parse_types(spec: &str) -> Result<BTreeMap<String, TypeHint>, String> {
    whet_data::table::parse_type_hints(spec).map_err(|e| e.to_string())
}

pub fn parse_task(s: &str) -> Result<Task, String> {
    Task::parse(s)
        .ok_or_else(|| format!("unknown task '{s}'; use binary, multiclass or regression"))
}

pub fn parse_target_missing(s: &str) -> Result<TargetMissing, String> {
    match s {
        "drop" => Ok(TargetMissing::Drop),
        "error" => Ok(TargetMissing::Error),
        other => Err(format!("must be 'drop' or 'error', not '{other}'")),
    }
}

/// Loads a data file. Secondary files (test, validation) may lack columns named in --types.
pub fn load_table(path: &Path, read: &ReadArgs, quiet: bool, secondary: bool) -> Result<Table> {
    let mut options = read.load_options()?;
    options.types_optional = secondary;
    let bar = progress::Bar::new(quiet, path);
    let table = whet_data::load(path, &options, &bar)?;
    Ok(table)
}
