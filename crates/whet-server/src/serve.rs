//! Starting, logging and stopping the server.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use whet_track::{AsyncStore, OpenOptions};

use crate::config::ServerConfig;
use crate::state::{AppState, Shared};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] whet_track::Error),
    #[error(
        "cannot listen on {addr}: {source}\nhint: is another server using the port? pick another with --port"
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the server until SIGINT or SIGTERM: then it stops accepting connections, finishes the
/// requests in flight, and closes the store. `ready` is called with the bound address once
/// requests are accepted.
pub fn run(config: ServerConfig, ready: impl FnOnce(SocketAddr)) -> Result<(), ServerError> {
    let auth_required = config.auth_required().map_err(ServerError::Config)?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = config.workers {
        builder.worker_threads(n.max(1));
    }
    let runtime = builder.enable_all().thread_name("whet-server").build()?;
    runtime.block_on(async move {
        let options = OpenOptions {
            artifact_root: config.artifacts_destination.clone(),
            lease: config.lease,
            ..OpenOptions::default()
        };
        let store = std::sync::Arc::new(AsyncStore::open(&config.store, options).await?);
        let artifact_root = store.artifact_root().to_path_buf();
        std::fs::create_dir_all(&artifact_root).map_err(|e| {
            ServerError::Config(format!(
                "cannot create the artifact folder {}: {e}\nhint: pass --artifacts-destination DIR with a folder you can write to",
                artifact_root.display()
            ))
        })?;
        let (audit, audit_task) = crate::auth::Audit::start(std::sync::Arc::clone(&store));
        let state = AppState::new(Shared {
            artifact_root,
            store,
            default_artifact_root: config.default_artifact_root.clone(),
            auth_required,
            tokens: crate::auth::TokenCache::default(),
            audit,
            max_artifact_bytes: config.max_artifact_bytes,
        });
        let addr = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let bound = listener.local_addr()?;
        let app = router(state.clone(), &config);
        ready(bound);
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(whet_http::shutdown_signal())
        .await?;
        tracing::info!("stopped accepting requests; closing the store");
        // Dropping the last sender ends the audit task after it wrote what it holds.
        let store = std::sync::Arc::clone(&state.store);
        drop(state);
        let _ = audit_task.await;
        store.close().await;
        Ok(())
    })
}

fn router(state: AppState, config: &ServerConfig) -> Router {
    Router::new()
        .merge(crate::mlflow::routes())
        .merge(crate::artifacts::routes())
        .merge(crate::whet_api::routes())
        .merge(crate::ui::routes())
        .route("/health", axum::routing::get(|| async { "OK" }))
        .route(
            "/version",
            axum::routing::get(|| async { env!("CARGO_PKG_VERSION") }),
        )
        .fallback(crate::mlflow::unknown_endpoint)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authorize,
        ))
        .layer(DefaultBodyLimit::max(config.max_request_bytes))
        .layer(middleware::from_fn(compress_json))
        .layer(middleware::from_fn(whet_http::finish_unread_bodies))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// JSON answers of at least this many bytes are compressed for clients that accept gzip.
const COMPRESS_FROM_BYTES: usize = 1024;

/// Gzip for JSON answers when the client accepts it: a runs page of 500 runs with 40 values
/// each is ~1.3 MB of JSON and a tenth of that compressed, which is what a browser on a team's
/// network waits for. JSON answers are built in memory anyway; streamed artifacts are left as
/// they are.
async fn compress_json(req: Request, next: Next) -> Response {
    use axum::http::header::{
        ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, VARY,
    };
    use http_body_util::BodyExt;
    use std::io::Write;
    let accepts = req
        .headers()
        .get(ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    let response = next.run(req).await;
    let json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !accepts || !json || response.headers().contains_key(CONTENT_ENCODING) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            tracing::error!(error = %e, "could not read an answer to compress it");
            return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    if bytes.len() < COMPRESS_FROM_BYTES {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::fast(),
    );
    let compressed = encoder.write_all(&bytes).and_then(|()| encoder.finish());
    let Ok(compressed) = compressed else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.insert(
        CONTENT_ENCODING,
        axum::http::HeaderValue::from_static("gzip"),
    );
    parts.headers.append(
        VARY,
        axum::http::HeaderValue::from_static("accept-encoding"),
    );
    Response::from_parts(parts, axum::body::Body::from(compressed))
}

/// Whether an Accept-Encoding value allows gzip (by name or `*`, with a q-value above zero).
fn accepts_gzip(header: &str) -> bool {
    header.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default();
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

/// One line per request: method, path, status and milliseconds.
async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        ms = (ms * 100.0).round() / 100.0,
        "request"
    );
    response
}

#[cfg(test)]
mod compression_tests {
    use super::accepts_gzip;

    #[test]
    fn gzip_is_accepted_by_name_or_star_unless_q_is_zero() {
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("deflate, br"));
        assert!(!accepts_gzip(""));
    }
}
