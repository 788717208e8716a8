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
        let message = match &e {
            // MLflow's words (clients and scripts match on them), and no server file path.
            whet_track::Error::NotFound { what, .. } => mlflow_not_found(what),
            whet_track::Error::AlreadyExists { what, .. } => mlflow_already_exists(what),
            _ => e.to_string(),
        };
        if e.connection_lost() {
            // Answered as busy, so that whet clients (a worker, a submitter) wait and retry.
            return ApiError::new(
                ErrorCode::TemporarilyUnavailable,
                format!("{message}; the server lost its database for now: retry shortly"),
            );
        }
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
        if code == ErrorCode::TemporarilyUnavailable && !matches!(e, E::Locked { .. }) {
            return ApiError::new(
                code,
                format!(
                    "{message}; the server cannot write now (full disk or read-only store) but still answers reads: retry once the operator has freed space"
                ),
            );
        }
        ApiError::new(code, message)
    }
}

/// A store's "X not found" in the words MLflow's server uses for the same thing.
fn mlflow_not_found(what: &str) -> String {
    let quoted = |s: &str| {
        s.strip_prefix('\'')
            .and_then(|s| s.strip_suffix('\''))
            .map(str::to_string)
    };
    if let Some(rest) = what.strip_prefix("tag ")
        && let Some((key, owner)) = rest.split_once(" of ")
    {
        let key = quoted(key).unwrap_or_else(|| key.to_string());
        if let Some(run) = owner.strip_prefix("run ") {
            return format!("No tag with name: {key} in run with id {run}");
        }
        if let Some(model) = owner.strip_prefix("logged model ") {
            return format!("No tag with key '{key}' found for model with ID '{model}'.");
        }
    }
    if let Some(run) = what.strip_prefix("run ") {
        return format!("Run with id={run} not found");
    }
    if let Some(id) = what.strip_prefix("logged model ") {
        return format!("Logged model with ID '{id}' not found.");
    }
    if let Some(name) = what.strip_prefix("registered model ").and_then(quoted) {
        return format!("Registered Model with name={name} not found");
    }
    if let Some(rest) = what.strip_prefix("model ")
        && let Some((name, version)) = rest.rsplit_once(" version ")
        && version.parse::<i64>().is_ok()
    {
        return format!("Model Version (name={name}, version={version}) not found");
    }
    if let Some(id) = what.strip_prefix("experiment ") {
        if let Some(name) = quoted(id) {
            return format!("Could not find experiment with name '{name}'");
        }
        if id.parse::<i64>().is_ok() {
            return format!("No Experiment with id={id} exists");
        }
    }
    format!("{what} not found")
}

/// A store's "X already exists" in MLflow's words.
fn mlflow_already_exists(what: &str) -> String {
    let quoted = |s: &str| {
        s.strip_prefix('\'')
            .and_then(|s| s.strip_suffix('\''))
            .map(str::to_string)
    };
    if let Some(name) = what.strip_prefix("registered model ").and_then(quoted) {
        return format!("Registered Model (name={name}) already exists.");
    }
    // "experiment 'name'" or "experiment 'name' (id 3)"
    if let Some(rest) = what.strip_prefix("experiment '")
        && let Some(end) = rest.rfind('\'')
    {
        return format!("Experiment(name={}) already exists.", &rest[..end]);
    }
    format!("{what} already exists")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn message(what: &str) -> (StatusCode, String) {
        let e = ApiError::from(whet_track::Error::NotFound {
            what: what.to_string(),
            location: "/srv/whet.db".to_string(),
        });
        (e.status(), e.message)
    }

    #[test]
    fn not_found_speaks_mlflow_and_hides_the_store_path() {
        let cases = [
            ("run abc", "Run with id=abc not found"),
            (
                "tag 'k' of run abc",
                "No tag with name: k in run with id abc",
            ),
            (
                "tag 'k' of logged model m-1",
                "No tag with key 'k' found for model with ID 'm-1'.",
            ),
            ("logged model m-1", "Logged model with ID 'm-1' not found."),
            (
                "registered model 'My model'",
                "Registered Model with name=My model not found",
            ),
            (
                "model My model version 3",
                "Model Version (name=My model, version=3) not found",
            ),
            ("experiment 12", "No Experiment with id=12 exists"),
            (
                "experiment 'exp'",
                "Could not find experiment with name 'exp'",
            ),
            (
                "artifact 'a.txt' of run abc",
                "artifact 'a.txt' of run abc not found",
            ),
        ];
        for (what, want) in cases {
            let (status, got) = message(what);
            assert_eq!(status, StatusCode::NOT_FOUND, "{what}");
            assert_eq!(got, want, "{what}");
            assert!(!got.contains("/srv/whet.db"), "{got}");
        }
    }

    #[test]
    fn already_exists_speaks_mlflow() {
        for (what, want) in [
            (
                "registered model 'm'",
                "Registered Model (name=m) already exists.",
            ),
            ("experiment 'e'", "Experiment(name=e) already exists."),
            (
                "experiment 'it's' (id 3)",
                "Experiment(name=it's) already exists.",
            ),
            ("token 't'", "token 't' already exists"),
        ] {
            let e = ApiError::from(whet_track::Error::AlreadyExists {
                what: what.to_string(),
                location: "/srv/whet.db".to_string(),
            });
            assert_eq!(e.status(), StatusCode::BAD_REQUEST);
            assert_eq!(e.message, want);
        }
    }
}
