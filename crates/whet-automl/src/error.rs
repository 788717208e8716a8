//! The one error type of whet-automl. Messages are shown to users as they are: each names
//! what is wrong and, after "hint:", what to do.

use whet_data::error::DataError;
use whet_data::split::SplitError;
use whet_learn::LearnError;

#[derive(Debug, thiserror::Error)]
pub enum AutomlError {
    /// A study asked for something that cannot be done (bad options, a missing column).
    #[error("{message}\nhint: {hint}")]
    Invalid { message: String, hint: String },
    /// The data would not fit in memory; refused before loading it.
    #[error(
        "'{data}' needs an estimated {need} of memory to train on, but only {available} is available\nhint: sample the rows (or drop columns) first, or train on a machine with more memory"
    )]
    Memory {
        data: String,
        need: String,
        available: String,
    },
    /// The data cannot give a validated model (too few rows, no finite score).
    #[error("{message}\nhint: {hint}")]
    Unusable { message: String, hint: String },
    /// Stopped on request before any trial finished: there is nothing to build a model from.
    #[error("stopped before any trial finished; no model was written")]
    Interrupted,
    /// The trial queue of a distributed study failed (its database, a worker's result).
    #[error("{0}")]
    Queue(String),
    #[error("no trial could be fitted: {0}")]
    NothingFitted(String),
    /// An error in a part of the data named by `context` (e.g. "in the test data").
    #[error("{context}")]
    In {
        context: String,
        #[source]
        source: Box<AutomlError>,
    },
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Split(#[from] SplitError),
    #[error(transparent)]
    Learn(#[from] LearnError),
}

pub type Result<T, E = AutomlError> = std::result::Result<T, E>;

impl AutomlError {
    pub fn invalid(message: impl Into<String>, hint: impl Into<String>) -> AutomlError {
        AutomlError::Invalid {
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// Whether the request itself was wrong (a usage error), not the data or the machine.
    pub fn is_usage(&self) -> bool {
        match self {
            AutomlError::Invalid { .. } => true,
            AutomlError::Learn(e) => e.is_usage(),
            AutomlError::In { source, .. } => source.is_usage(),
            _ => false,
        }
    }
}

/// Adds where an error happened, like anyhow's `context`.
pub(crate) trait Context<T> {
    fn context(self, context: impl Into<String>) -> Result<T>;
}

impl<T, E: Into<AutomlError>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| AutomlError::In {
            context: context.into(),
            source: Box::new(e.into()),
        })
    }
}
