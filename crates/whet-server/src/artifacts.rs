//! The artifact proxy: MLflow clients upload, download, list and delete artifacts through the
//! server (`/api/2.0/mlflow-artifacts/artifacts/<path>`), so a team shares one artifact folder
//! and needs no access to it. Paths are relative to the artifact root and confined to it.
//!
//! Uploads stream to a temporary file beside the target (constant memory, any size up to the
//! limit), are fsynced and renamed into place, so a reader never sees half a file and an
//! acknowledged upload survives a crash. Files under a run's folder
//! (`<experiment>/<run>/artifacts/…`) are also recorded in the store with their size and
//! sha256, so `whet run show` lists them like artifacts whet wrote itself.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::mlflow::wire::{QueryInput, string_opt};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for prefix in [
        "/api/2.0/mlflow-artifacts",
        "/ajax-api/2.0/mlflow-artifacts",
    ] {
        router = router
            .route(&format!("{prefix}/artifacts"), get(list_proxy))
            .route(
                &format!("{prefix}/artifacts/{{*path}}"),
                get(download).put(upload).delete(remove),
            );
    }
    router
}

/// A client's artifact path as a path under `root`, or 400: no `..`, no absolute paths, no
/// backslashes or NULs, and no symlink inside the root that leads out of it.
pub(crate) fn confined(root: &Path, relative: &str) -> ApiResult<PathBuf> {
    let bad = relative.starts_with('/')
        || relative.contains('\\')
        || relative.contains('\0')
        || relative
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(ApiError::invalid(format!(
            "Invalid path: '{relative}'. Artifact paths are relative, with no '..', '.' or empty parts"
        )));
    }
    let full = root.join(relative);
    // Resolve the deepest existing ancestor: a symlink anywhere on the way must stay inside.
    let canonical_root = root
        .canonicalize()
        .map_err(|e| io_error("cannot open the artifact root", "", e))?;
    let mut existing = full.as_path();
    while !existing.exists() {
        match existing.parent() {
            Some(p) => existing = p,
            None => break,
        }
    }
    if let Ok(resolved) = existing.canonicalize()
        && !resolved.starts_with(&canonical_root)
    {
        return Err(ApiError::invalid(format!(
            "Invalid artifact path: '{relative}' leads outside the artifact root"
        )));
    }
    Ok(full)
}

/// An I/O failure as the client sees it: `shown` names the artifact by its path under the
/// root (never the server's own file system path), and the cause decides the code.
fn io_error(what: &str, shown: &str, e: std::io::Error) -> ApiError {
    let code = match e.kind() {
        std::io::ErrorKind::NotFound => ErrorCode::ResourceDoesNotExist,
        std::io::ErrorKind::StorageFull
        | std::io::ErrorKind::ReadOnlyFilesystem
        | std::io::ErrorKind::QuotaExceeded
        | std::io::ErrorKind::PermissionDenied => ErrorCode::TemporarilyUnavailable,
        _ => ErrorCode::InternalError,
    };
    if code == ErrorCode::ResourceDoesNotExist {
        return ApiError::new(code, format!("No such artifact: '{shown}'"));
    }
    if code == ErrorCode::InternalError {
        tracing::error!(path = shown, error = %e, "{what}");
    }
    ApiError::new(code, format!("{what} '{shown}': {}", e.kind()))
}

/// `(run_id, path inside the run's artifacts)` when `relative` is `<exp>/<run>/artifacts/<p>`.
fn run_artifact(relative: &str) -> Option<(&str, &str)> {
    let mut parts = relative.trim_start_matches('/').splitn(4, '/');
    let (_exp, run, marker, rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (marker == "artifacts" && run.len() == 32 && !rest.is_empty()).then_some((run, rest))
}

async fn upload(
    State(state): State<AppState>,
    UrlPath(path): UrlPath<String>,
    body: Body,
) -> ApiResult<Response> {
    let target = confined(&state.artifact_root, &path)?;
    let dir = target
        .parent()
        .ok_or_else(|| ApiError::invalid(format!("Invalid artifact path: '{path}'")))?
        .to_path_buf();
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| io_error("cannot create the folder of", &path, e))?;
    // Created now: check again that no symlink led the new folders out of the root.
    confined(&state.artifact_root, &path)?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.upload-{}", uuid_like()));
    let result = write_stream(&temp, &path, body, state.max_artifact_bytes).await;
    let (size, sha) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(e);
        }
    };
    if let Err(e) = tokio::fs::rename(&temp, &target).await {
        let _ = tokio::fs::remove_file(&temp).await;
        return Err(io_error("cannot store", &path, e));
    }
    if let Ok(d) = tokio::fs::File::open(&dir).await {
        let _ = d.sync_all().await;
    }
    if let Some((run, inside)) = run_artifact(&path) {
        match state.store.record_artifact(run, inside, size, &sha).await {
            Ok(_) | Err(whet_track::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // MLflow answers an upload with an empty 200.
    Ok(StatusCode::OK.into_response())
}

/// Streams a request body into a new file; returns its size and sha256. A blocking thread
/// hashes and writes while the request task keeps receiving, so the upload runs at the speed
/// of the slower of the two instead of their sum (each write through tokio's file would also
/// be a hand-off to the blocking pool per chunk).
async fn write_stream(
    path: &Path,
    shown: &str,
    mut body: Body,
    limit: u64,
) -> ApiResult<(u64, String)> {
    // A few MB in flight: enough to ride out a slow fsync-free write, and bounded memory.
    let (chunks, mut received) = tokio::sync::mpsc::channel::<axum::body::Bytes>(64);
    let target = path.to_path_buf();
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        use std::io::Write;
        let mut file = std::fs::File::create(&target)?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = received.blocking_recv() {
            hasher.update(&chunk);
            file.write_all(&chunk)?;
        }
        file.sync_all()?;
        Ok(hex::encode(hasher.finalize()))
    });
    let mut size: u64 = 0;
    let mut failure = None;
    while let Some(frame) = body.frame().await {
        let data = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Err(e) => {
                failure = Some(ApiError::bad_request(format!("upload interrupted: {e}")));
                break;
            }
        };
        size += data.len() as u64;
        if size > limit {
            failure = Some(
                ApiError::new(
                    ErrorCode::RequestLimitExceeded,
                    format!("artifact larger than the server's limit of {limit} bytes"),
                )
                .with_status(StatusCode::PAYLOAD_TOO_LARGE),
            );
            break;
        }
        if chunks.send(data).await.is_err() {
            // The writer stopped on an I/O error: its result says which.
            break;
        }
    }
    drop(chunks);
    // Waited for even after a failure, so the caller removes a file nobody writes any more.
    let written = writer.await.map_err(|e| {
        tracing::error!(path = shown, error = %e, "artifact writer thread failed");
        ApiError::new(ErrorCode::InternalError, format!("cannot store '{shown}'"))
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let sha = written.map_err(|e| io_error("cannot store", shown, e))?;
    Ok((size, sha))
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", std::process::id(), nanos)
}

async fn download(
    State(state): State<AppState>,
    UrlPath(path): UrlPath<String>,
) -> ApiResult<Response> {
    let target = confined(&state.artifact_root, &path)?;
    send_file(&target, &path).await
}

/// Streams one artifact file (`shown`: its path as the client named it) with MLflow's headers.
async fn send_file(target: &Path, shown: &str) -> ApiResult<Response> {
    let meta = tokio::fs::metadata(target)
        .await
        .map_err(|e| io_error("cannot read", shown, e))?;
    if meta.is_dir() {
        return Err(ApiError::invalid(format!(
            "'{shown}' is a directory; list it with GET …/artifacts?path={shown}"
        )));
    }
    let file = tokio::fs::File::open(target)
        .await
        .map_err(|e| io_error("cannot read", shown, e))?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
    let mut response = Body::from_stream(stream).into_response();
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type(&name));
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&name)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(len) = HeaderValue::from_str(&meta.len().to_string()) {
        headers.insert(header::CONTENT_LENGTH, len);
    }
    Ok(response)
}

/// The media type a file's extension suggests, as MLflow's proxy answers.
fn content_type(name: &str) -> HeaderValue {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let t = match ext.as_deref() {
        Some("txt" | "log" | "yaml" | "yml" | "md" | "csv" | "py") => "text/plain",
        Some("json") => "application/json",
        Some("html" | "htm") => "text/html",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("svg") => "image/svg+xml",
        _ if name == "MLmodel" || name == "requirements.txt" => "text/plain",
        _ => "application/octet-stream",
    };
    HeaderValue::from_static(t)
}

/// `attachment; filename=…`, with the RFC 5987 form for names that are not plain ASCII.
fn content_disposition(name: &str) -> String {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' && c != ';');
    if plain {
        return format!("attachment; filename={name}");
    }
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

async fn remove(
    State(state): State<AppState>,
    UrlPath(path): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    let target = confined(&state.artifact_root, &path)?;
    let meta = tokio::fs::metadata(&target)
        .await
        .map_err(|e| io_error("cannot read", &path, e))?;
    if meta.is_dir() {
        tokio::fs::remove_dir_all(&target).await
    } else {
        tokio::fs::remove_file(&target).await
    }
    .map_err(|e| io_error("cannot delete", &path, e))?;
    if let Some((run, inside)) = run_artifact(&path) {
        match state.store.delete_artifact_record(run, inside).await {
            Ok(_) | Err(whet_track::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default, deserialize_with = "string_opt")]
    path: Option<String>,
}

/// The files and folders directly inside `dir`, named relative to `base` (MLflow lists a
/// run's artifacts relative to the run's root, the proxy relative to the listed folder).
async fn list_dir(dir: &Path, base: &Path, shown: &str) -> ApiResult<Vec<Value>> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("cannot list", shown, e)),
    };
    let mut files = Vec::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| io_error("cannot list", shown, e))?
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Uploads in progress are not artifacts yet.
        if name.starts_with('.') && name.contains(".upload-") {
            continue;
        }
        let meta = entry
            .metadata()
            .await
            .map_err(|e| io_error("cannot list", shown, e))?;
        let shown = entry
            .path()
            .strip_prefix(base)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or(name);
        let mut f = json!({ "path": shown, "is_dir": meta.is_dir() });
        // MLflow leaves out the size of folders, and of empty files.
        if !meta.is_dir() && meta.len() > 0 {
            f["file_size"] = json!(meta.len());
        }
        files.push(f);
    }
    files.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    Ok(files)
}

async fn list_proxy(
    State(state): State<AppState>,
    QueryInput(q): QueryInput<ListQuery>,
) -> ApiResult<Json<Value>> {
    let relative = q.path.unwrap_or_default();
    let dir = if relative.trim_matches('/').is_empty() {
        state.artifact_root.clone()
    } else {
        confined(&state.artifact_root, relative.trim_end_matches('/'))?
    };
    if dir.is_file() {
        return Ok(Json(json!({})));
    }
    let files = list_dir(&dir, &dir, &relative).await?;
    Ok(Json(if files.is_empty() {
        json!({})
    } else {
        json!({ "files": files })
    }))
}

#[derive(Deserialize)]
pub struct ListRun {
    #[serde(default, deserialize_with = "string_opt")]
    run_id: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    run_uuid: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    path: Option<String>,
}

/// `/api/2.0/mlflow/artifacts/list`: a run's artifacts under `path`, relative to the run root.
pub async fn list_run_artifacts(
    State(state): State<AppState>,
    crate::mlflow::wire::Input(q): crate::mlflow::wire::Input<ListRun>,
) -> ApiResult<Json<Value>> {
    let run_id = q
        .run_id
        .clone()
        .filter(|r| !r.is_empty())
        .or(q.run_uuid.clone())
        .unwrap_or_default();
    if run_id.is_empty() {
        return Err(ApiError::invalid(
            "Missing value for required parameter 'run_id'.",
        ));
    }
    let run = state.store.get_run(&run_id).await?;
    let root_uri = state.artifact_uri(&run.info.artifact_uri);
    let Some(run_root) = state.local_artifact_dir(&run.info.artifact_uri)? else {
        // Artifacts the client writes elsewhere itself: nothing for the server to list.
        return Ok(Json(json!({ "root_uri": root_uri })));
    };
    let sub = q.path.clone().unwrap_or_default();
    let dir = if sub.trim_matches('/').is_empty() {
        run_root.clone()
    } else {
        confined(&run_root, sub.trim_end_matches('/'))?
    };
    let files = list_dir(&dir, &run_root, &sub).await?;
    let mut out = json!({ "root_uri": root_uri });
    if !files.is_empty() {
        out["files"] = Value::Array(files);
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
pub struct LoggedModelList {
    #[serde(default, deserialize_with = "string_opt")]
    artifact_directory_path: Option<String>,
}

/// A logged model's artifact URI as clients see it, and its folder if this server can read it.
async fn logged_model_root(
    state: &AppState,
    model_id: &str,
) -> ApiResult<(String, Option<PathBuf>)> {
    let model = state.store.get_logged_model(model_id).await?;
    let root_uri = state.artifact_uri(&model.artifact_location);
    Ok((
        root_uri,
        state.local_artifact_dir(&model.artifact_location)?,
    ))
}

/// `GET …/logged-models/<id>/artifacts/directories`: MLflow's ListLoggedModelArtifacts, the
/// files of a logged model under `artifact_directory_path`, relative to the model's root.
pub async fn list_logged_model_artifacts(
    State(state): State<AppState>,
    UrlPath(model_id): UrlPath<String>,
    QueryInput(q): QueryInput<LoggedModelList>,
) -> ApiResult<Json<Value>> {
    let (root_uri, root) = logged_model_root(&state, &model_id).await?;
    let mut out = json!({ "root_uri": root_uri });
    let Some(root) = root else {
        return Ok(Json(out));
    };
    let sub = q.artifact_directory_path.unwrap_or_default();
    let dir = if sub.trim_matches('/').is_empty() {
        root.clone()
    } else {
        confined(&root, sub.trim_end_matches('/'))?
    };
    let files = list_dir(&dir, &root, &sub).await?;
    if !files.is_empty() {
        out["files"] = Value::Array(files);
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
pub struct LoggedModelFile {
    #[serde(default, deserialize_with = "string_opt")]
    artifact_file_path: Option<String>,
}

/// `GET …/logged-models/<id>/artifacts/files?artifact_file_path=P`: one file of a logged model
/// (what MLflow's web UI reads to show a model's MLmodel and other files).
pub async fn logged_model_artifact_file(
    State(state): State<AppState>,
    UrlPath(model_id): UrlPath<String>,
    QueryInput(q): QueryInput<LoggedModelFile>,
) -> ApiResult<Response> {
    let path = q
        .artifact_file_path
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            ApiError::invalid("Request must include the \"artifact_file_path\" query parameter.")
        })?;
    let (_, root) = logged_model_root(&state, &model_id).await?;
    let Some(root) = root else {
        return Err(ApiError::invalid(format!(
            "The files of logged model '{model_id}' are not stored on this server; read them from its artifact_uri"
        )));
    };
    let target = confined(&root, &path)?;
    send_file(&target, &path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_confined_to_the_root() {
        let root = std::env::temp_dir().join(format!("whet-art-{}", std::process::id()));
        std::fs::create_dir_all(root.join("1")).unwrap();
        assert!(confined(&root, "1/abc/artifacts/model.pkl").is_ok());
        for bad in ["../etc/passwd", "1/../../x", "a\\b", "1/./x", "a\0b"] {
            assert!(confined(&root, bad).is_err(), "{bad:?}");
        }
        #[cfg(unix)]
        {
            let outside = std::env::temp_dir();
            let link = root.join("escape");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&outside, &link).unwrap();
            assert!(confined(&root, "escape/x").is_err());
        }
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn run_artifact_paths_are_recognised() {
        let run = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            run_artifact(&format!("3/{run}/artifacts/model/MLmodel")),
            Some((run, "model/MLmodel"))
        );
        assert_eq!(run_artifact(&format!("3/{run}/artifacts")), None);
        assert_eq!(run_artifact("3/models/m-1/artifacts/x"), None);
    }
}
