//! What every handler shares: the store, where artifacts live, and how their URIs are shown.

use std::path::PathBuf;
use std::sync::Arc;

use whet_track::AsyncStore;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub store: Arc<AsyncStore>,
    /// Where proxied artifacts are written: `<root>/<experiment>/<run>/artifacts/<path>`.
    pub artifact_root: PathBuf,
    /// `--default-artifact-root`, given to clients verbatim instead of `mlflow-artifacts:/`.
    pub default_artifact_root: Option<String>,
    pub auth_required: bool,
    pub tokens: crate::auth::TokenCache,
    pub audit: crate::auth::Audit,
    pub max_artifact_bytes: u64,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }

    /// The URI clients see for a location the store keeps relative to the artifact root
    /// (`<experiment>/<run>/artifacts`). Locations an MLflow client chose itself (any URI or
    /// absolute path) are shown verbatim.
    pub fn artifact_uri(&self, relative: &str) -> String {
        if is_absolute_location(relative) {
            return relative.to_string();
        }
        match &self.default_artifact_root {
            Some(root) => format!("{}/{}", root.trim_end_matches('/'), relative),
            None => format!("mlflow-artifacts:/{relative}"),
        }
    }
}

/// A URI with a scheme or an absolute path: not under the server's artifact root.
pub fn is_absolute_location(location: &str) -> bool {
    location.starts_with('/') || location.contains("://") || location.contains(":/")
}
