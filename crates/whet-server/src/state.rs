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

impl AppState {
    /// The local folder holding the artifacts at `location` (a run's or a logged model's), if
    /// this server can read it: locations under the proxied artifact root, and locations under
    /// a `--default-artifact-root` that is a local path or `file:` URI (clients write there
    /// themselves; the server reads it for listings, as MLflow's does). Any other location
    /// (another host, object storage, a path a client chose outside that root) is `None`: the
    /// server never reads files a client merely named.
    pub fn local_artifact_dir(&self, location: &str) -> crate::error::ApiResult<Option<PathBuf>> {
        let local_default = self.default_artifact_root.as_deref().and_then(local_path);
        if !is_absolute_location(location) {
            return match (&self.default_artifact_root, local_default) {
                (None, _) => crate::artifacts::confined(&self.artifact_root, location).map(Some),
                // MLflow clients write there themselves; whet's own client uploads through
                // the proxy, so a folder only the proxy has is read from the proxy's root.
                (Some(_), Some(root)) => {
                    let direct = crate::artifacts::confined(&root, location)?;
                    if direct.exists() {
                        Ok(Some(direct))
                    } else {
                        crate::artifacts::confined(&self.artifact_root, location).map(Some)
                    }
                }
                (Some(root), None) if root.starts_with("mlflow-artifacts:") => {
                    crate::artifacts::confined(&self.artifact_root, location).map(Some)
                }
                (Some(_), None) => Ok(None),
            };
        }
        let (Some(root), Some(path)) = (local_default, local_path(location)) else {
            return Ok(None);
        };
        match path.strip_prefix(&root) {
            Ok(rest) if !rest.as_os_str().is_empty() => {
                crate::artifacts::confined(&root, &rest.to_string_lossy()).map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// The local path of a `file:` URI (`file:///p`, `file:/p`, no host) or an absolute path.
fn local_path(uri: &str) -> Option<PathBuf> {
    let path = match uri.strip_prefix("file://") {
        Some(rest) => rest.starts_with('/').then_some(rest)?,
        None => uri.strip_prefix("file:").unwrap_or(uri),
    };
    path.starts_with('/')
        .then(|| PathBuf::from(path.trim_end_matches('/')))
}

/// A URI with a scheme or an absolute path: not under the server's artifact root.
pub fn is_absolute_location(location: &str) -> bool {
    location.starts_with('/') || location.contains("://") || location.contains(":/")
}
