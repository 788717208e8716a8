/// Failures of fitting, predicting and model files. Messages are shown to users as they are.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error("invalid parameter {name} = {value}: {reason}\nhint: {hint}")]
    Param {
        name: String,
        value: String,
        reason: String,
        hint: String,
    },
    #[error("unknown learner '{name}'\nhint: use gbdt, rf, et, linear or knn")]
    UnknownLearner { name: String },
    #[error(
        "unknown parameter '{key}' for learner {learner}{suggestion}\nhint: {learner} takes {known}"
    )]
    UnknownParam {
        learner: String,
        key: String,
        /// "; did you mean 'x'?" or empty.
        suggestion: String,
        known: String,
    },
    #[error("{message}\nhint: {hint}")]
    Data { message: String, hint: String },
    #[error("model file '{path}': {message}\nhint: {hint}")]
    ModelFile {
        path: String,
        message: String,
        hint: String,
    },
    #[error("fit stopped by its deadline after {done} of {planned} iterations")]
    Interrupted { done: usize, planned: usize },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl LearnError {
    /// Whether the caller asked for something that does not exist or is out of range (a usage
    /// error), rather than the data or a file being wrong.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            LearnError::Param { .. }
                | LearnError::UnknownParam { .. }
                | LearnError::UnknownLearner { .. }
        )
    }
}

pub type Result<T, E = LearnError> = std::result::Result<T, E>;

impl LearnError {
    pub fn param(
        name: &str,
        value: impl ToString,
        reason: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        LearnError::Param {
            name: name.to_string(),
            value: value.to_string(),
            reason: reason.into(),
            hint: hint.into(),
        }
    }

    pub fn data(message: impl Into<String>, hint: impl Into<String>) -> Self {
        LearnError::Data {
            message: message.into(),
            hint: hint.into(),
        }
    }
}
