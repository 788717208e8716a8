use std::path::PathBuf;

/// Every failure of the data layer. Messages name the file, column, row or byte involved and
/// end with a hint, because the binary prints them to the user as they are.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(
        "cannot read '{path}': {source}\nhint: check that the file exists and that you have permission to read it"
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot write '{path}': {source}\nhint: check that the folder exists and is writable, and that the disk has space"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("'{path}' is empty\nhint: the file needs a header row and at least one data row")]
    EmptyFile { path: PathBuf },
    #[error(
        "'{path}' has a header but no data rows\nhint: the file needs at least one row below the header"
    )]
    HeaderOnly { path: PathBuf },
    #[error(
        "'{path}' line {line}: expected {expected} fields (as in the header) but found {found}\nhint: check the delimiter ({delimiter}) and quoting on that line; fields containing the delimiter must be quoted"
    )]
    RaggedRow {
        path: PathBuf,
        line: u64,
        expected: usize,
        found: usize,
        delimiter: String,
    },
    #[error(
        "'{path}': invalid UTF-8 at byte offset {offset}\nhint: whet reads UTF-8 (with or without BOM); convert the file first, e.g. `iconv -f latin1 -t utf-8`"
    )]
    InvalidUtf8 { path: PathBuf, offset: u64 },
    #[error("'{path}': {message}\nhint: {hint}")]
    Format {
        path: PathBuf,
        message: String,
        hint: String,
    },
    #[error("no column named '{name}'{}\nhint: columns are: {available}", suggestion.as_ref().map(|s| format!("; did you mean '{s}'?")).unwrap_or_default())]
    UnknownColumn {
        name: String,
        suggestion: Option<String>,
        available: String,
    },
    #[error("{message}\nhint: {hint}")]
    Invalid { message: String, hint: String },
    #[error("column '{column}' row {row}: expected {expected}, found '{value}'\nhint: {hint}")]
    TypeDrift {
        column: String,
        row: usize,
        expected: String,
        value: String,
        hint: String,
    },
    #[error("missing columns: {}\nhint: the model was fitted on data with these columns; supply them (values may be empty)", columns.join(", "))]
    MissingColumns { columns: Vec<String> },
    #[error("{context}: {source}")]
    Arrow {
        context: String,
        #[source]
        source: arrow_schema::ArrowError,
    },
    #[error("stopped on request while reading '{path}'")]
    Interrupted { path: PathBuf },
    #[error(
        "'{path}': cannot read Parquet: {source}\nhint: check that the file is a complete Parquet file"
    )]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    pub fn invalid(message: impl Into<String>, hint: impl Into<String>) -> Self {
        DataError::Invalid {
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// Builds an unknown-column error that suggests the closest existing name.
    pub fn unknown_column<'a>(name: &str, available: impl IntoIterator<Item = &'a str>) -> Self {
        let names: Vec<&str> = available.into_iter().collect();
        let suggestion = closest_name(name, &names).map(str::to_string);
        let mut listed: Vec<&str> = names.iter().copied().take(20).collect();
        let more = names.len().saturating_sub(listed.len());
        let mut available = listed.join(", ");
        if more > 0 {
            available.push_str(&format!(" … and {more} more"));
        }
        listed.clear();
        DataError::UnknownColumn {
            name: name.to_string(),
            suggestion,
            available,
        }
    }
}

/// The most similar candidate by case-insensitive edit distance, if it is plausibly a typo.
pub fn closest_name<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let target = name.to_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&target, &c.to_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.chars().count().max(name.chars().count()) / 2).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_closest_column() {
        let names = ["species", "sepal_length", "petal_width"];
        assert_eq!(closest_name("specie", &names), Some("species"));
        assert_eq!(closest_name("Species", &names), Some("species"));
        assert_eq!(closest_name("zzzzzzzzzz", &names), None);
    }

    #[test]
    fn edit_distance_known_values() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
    }
}
