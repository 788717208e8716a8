//! The web UI: static files compiled into the binary and served at `/` and `/ui/…`, plus the
//! one read-only endpoint the UI needs beyond MLflow's API (run counts, last activity and best
//! study per experiment).
//!
//! The page is a plain ES-module application (`crates/whet-server/ui/`) that reads only the
//! REST API, so a fresh clone builds it with `cargo build` alone and it works offline. Routes
//! live in the URL fragment (`/#/experiments/1?filter=…`), so every view survives a reload
//! without the server knowing the UI's routes.

use std::sync::LazyLock;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

/// Where the UI's extra endpoints live (documented in docs/ui.md).
pub const ACTIVITY_PATH: &str = "/api/2.0/whet/ui/experiments";
pub const PREVIEW_PATH: &str = "/api/2.0/whet/ui/preview";
/// The most rows a Parquet preview shows.
const PREVIEW_MAX_ROWS: usize = 200;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../ui/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/app.js"),
    },
    Asset {
        name: "api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/api.js"),
    },
    Asset {
        name: "chart.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/chart.js"),
    },
    Asset {
        name: "runs.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/runs.js"),
    },
    Asset {
        name: "pages.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/pages.js"),
    },
    Asset {
        name: "status.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/status.js"),
    },
    Asset {
        name: "study.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../ui/study.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../ui/style.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../ui/favicon.svg"),
    },
];

/// Strong ETags from the content, computed once: a new binary with changed assets gets new
/// tags, so browsers revalidate (`no-cache`) and download only what changed.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let digest = Sha256::digest(a.body);
            format!("\"{}\"", hex::encode(&digest[..12]))
        })
        .collect()
});

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{file}", get(asset))
        .route(ACTIVITY_PATH, get(activity))
        .route(PREVIEW_PATH, get(preview))
}

/// Paths anyone may fetch without a token: the UI's files hold no data (the API calls they
/// make are authorised as usual).
pub fn is_open(path: &str) -> bool {
    path == "/" || path.starts_with("/ui/")
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers)
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no UI file '{name}'"),
        )
            .into_response();
    };
    let asset = &ASSETS[i];
    let etag = &ETAGS[i];
    let etag_value = HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"0\""));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == etag.as_str() || t.trim() == "*")
        });
    let common = [
        (header::ETAG, etag_value),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if matches {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        StatusCode::OK,
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        asset.body,
    )
        .into_response()
}

async fn activity(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let rows = state.store.experiment_activity().await?;
    let bests = state.store.experiment_bests().await?;
    let mut out: Vec<Value> = Vec::with_capacity(rows.len());
    for row in rows {
        let mut v = json!(row);
        if let Some(b) = bests.iter().find(|b| b.experiment_id == row.experiment_id) {
            v["metric"] = json!(b.metric);
            v["best"] = json!(b.best);
        }
        out.push(v);
    }
    Ok(Json(json!({ "experiments": out })))
}

#[derive(serde::Deserialize)]
struct PreviewQuery {
    /// An artifact path as the proxy names it (`<experiment>/<run>/artifacts/<file>`).
    path: String,
    rows: Option<usize>,
}

/// The first rows of a Parquet artifact as text cells, for the run page's artifact preview
/// (the browser cannot read Parquet). Only the first batch of rows is decoded.
async fn preview(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<PreviewQuery>,
) -> ApiResult<Json<Value>> {
    let file = crate::artifacts::confined(&state.artifact_root, &q.path)?;
    let rows = q.rows.unwrap_or(50).clamp(1, PREVIEW_MAX_ROWS);
    let shown = q.path.clone();
    tokio::task::spawn_blocking(move || parquet_preview(&file, &shown, rows))
        .await
        .map_err(|e| ApiError::new(ErrorCode::InternalError, format!("preview failed: {e}")))?
        .map(Json)
}

fn parquet_preview(file: &std::path::Path, shown: &str, rows: usize) -> ApiResult<Value> {
    use arrow_cast::display::{ArrayFormatter, FormatOptions};
    if !file.is_file() {
        return Err(ApiError::new(
            ErrorCode::ResourceDoesNotExist,
            format!("No such artifact: '{shown}'"),
        ));
    }
    let unreadable = |e: whet_data::DataError| {
        // The server's own path stays out of the answer.
        let text = e.to_string().replace(&file.display().to_string(), shown);
        ApiError::invalid(format!("cannot preview '{shown}' as Parquet: {text}"))
    };
    let mut chunks = whet_data::load::ParquetChunks::open(file, &Default::default(), rows)
        .map_err(unreadable)?;
    let total_rows = chunks.progress().1;
    let table = chunks.next_chunk().map_err(unreadable)?;
    let columns: Vec<Value> = chunks
        .names()
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let kind = table
                .as_ref()
                .and_then(|t| t.columns.get(i))
                .map_or("", |c| c.value_type.name());
            json!({"name": name, "type": kind})
        })
        .collect();
    let mut out_rows: Vec<Vec<Value>> = Vec::new();
    if let Some(t) = &table {
        let options = FormatOptions::default().with_null("");
        let formatters = t
            .batch
            .columns()
            .iter()
            .map(|a| ArrayFormatter::try_new(a.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::invalid(format!("cannot preview '{shown}': {e}")))?;
        for r in 0..t.batch.num_rows().min(rows) {
            out_rows.push(
                t.batch
                    .columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(a, f)| {
                        if a.is_null(r) {
                            Value::Null
                        } else {
                            Value::String(f.value(r).to_string())
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(json!({"columns": columns, "rows": out_rows, "total_rows": total_rows}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_page_imports_is_served() {
        let names: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        for a in ASSETS {
            let text = String::from_utf8_lossy(a.body);
            for part in text.split("/ui/").skip(1) {
                let file: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
                    .collect();
                // Assets have extensions; `/api/2.0/whet/ui/experiments` is an endpoint.
                if !file.contains('.') {
                    continue;
                }
                assert!(
                    names.contains(&file.as_str()),
                    "{} refers to /ui/{file}, which is not embedded",
                    a.name
                );
            }
        }
    }

    #[test]
    fn etag_match_gives_304_and_a_miss_gives_the_file() {
        let mut h = HeaderMap::new();
        let r = serve("app.js", &h);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        let tag = r.headers()[header::ETAG].clone();
        h.insert(header::IF_NONE_MATCH, tag);
        assert_eq!(serve("app.js", &h).status(), StatusCode::NOT_MODIFIED);
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"old\""));
        assert_eq!(serve("app.js", &h).status(), StatusCode::OK);
        assert_eq!(serve("../Cargo.toml", &h).status(), StatusCode::NOT_FOUND);
    }
}
