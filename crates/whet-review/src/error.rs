/// Why a review or comparison cannot be made. Messages are shown to users as they are.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The data, the models or the options do not fit together.
    #[error("{message}\nhint: {hint}")]
    Input { message: String, hint: String },
    /// An option asks for something impossible (a usage error).
    #[error("{message}\nhint: {hint}")]
    Usage { message: String, hint: String },
    #[error(transparent)]
    Data(#[from] whet_data::DataError),
    #[error(transparent)]
    Learn(#[from] whet_learn::LearnError),
}

impl ReviewError {
    pub fn input(message: impl Into<String>, hint: impl Into<String>) -> ReviewError {
        ReviewError::Input {
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> ReviewError {
        ReviewError::Usage {
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn is_usage(&self) -> bool {
        matches!(self, ReviewError::Usage { .. })
    }
}

pub type Result<T> = std::result::Result<T, ReviewError>;
