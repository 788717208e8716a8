//! Errors in MLflow's shape: `{"error_code": "...", "message": "..."}` with MLflow's HTTP status
//! per code. Bad input is always a 4xx: the mlflow client retries 5xx answers for minutes, so
//! a 5xx must mean the server really could not do it (a full disk, a lost database).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// MLflow's error codes (mlflow/protos/databricks.proto), the ones whet answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ResourceDoesNotExist,
    ResourceAlreadyExists,
    InvalidParameterValue,
    BadRequest,
    EndpointNotFound,
    InvalidState,
    Unauthenticated,
    PermissionDenied,
    RequestLimitExceeded,
    InternalError,
    TemporarilyUnavailable,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::ResourceDoesNotExist | ErrorCode::EndpointNotFound => StatusCode::NOT_FOUND,
            ErrorCode::ResourceAlreadyExists
            | ErrorCode::InvalidParameterValue
            | ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            // MLflow answers INVALID_STATE with 500; whet never sends it for bad input.
            ErrorCode::InvalidState => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorCode::RequestLimitExceeded => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ApiError {
    pub error_code: ErrorCode,
    pub message: String,
    /// Overrides the code's usual status (e.g. 413 for a body over the limit).
    #[serde(skip)]
    pub status: Option<StatusCode>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(error_code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            error_code,
            message: message.into(),
            status: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidParameterValue, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::ResourceDoesNotExist, message)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    pub fn with_status(mut self, status: StatusCode) -> ApiError {
        self.status = Some(status);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or(self.error_code.status())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(code = ?self.error_code, message = %self.message, "request failed");
        }
        (status, Json(self)).into_response()
    }
}

impl From<whet_track::Error> for ApiError {
    fn from(e: whet_track::Error) -> ApiError {
        use whet_track::Error as E;
        let message = e.to_string();
        let code = match &e {
            E::NotFound { .. } => ErrorCode::ResourceDoesNotExist,
            E::AlreadyExists { .. } => ErrorCode::ResourceAlreadyExists,
            E::Invalid(_) | E::ParamConflict { .. } | E::Filter(_) | E::PageToken(_) => {
                ErrorCode::InvalidParameterValue
            }
            // The store cannot take writes now (locked, full disk, read-only file): the
            // client may retry, and reads still work.
            E::Locked { .. } => ErrorCode::TemporarilyUnavailable,
            E::Io { source, .. } if is_unavailable(source) => ErrorCode::TemporarilyUnavailable,
            E::Db { .. } if is_unavailable_text(&message) => ErrorCode::TemporarilyUnavailable,
            _ => ErrorCode::InternalError,
        };
        ApiError::new(code, message)
    }
}

/// Disk full, quota or read-only file system: conditions an operator fixes while the server
/// keeps serving reads.
fn is_unavailable(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull
            | std::io::ErrorKind::ReadOnlyFilesystem
            | std::io::ErrorKind::QuotaExceeded
            | std::io::ErrorKind::PermissionDenied
    )
}

fn is_unavailable_text(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("database or disk is full")
        || m.contains("readonly database")
        || m.contains("read-only")
        || m.contains("no space left")
}
