//! Who may do what. A request carries a token as `Authorization: Bearer <token>` (what the
//! mlflow client sends for `MLFLOW_TRACKING_TOKEN`) or as the password of HTTP Basic
//! (`MLFLOW_TRACKING_USERNAME`/`PASSWORD`). Roles: `read` may only read, `write` may also log
//! and change, `admin` may do everything. Without a token: 401; with too small a role: 403.
//!
//! The store keeps only a hash of each token; answers are cached for a few seconds so a busy
//! client does not cost a database read per request (a revoked token stops working within
//! that time). Every mutating request is recorded in the store's audit log with the token's
//! name, written in batches off the request path.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use std::sync::Arc;
use tokio::sync::mpsc;

use whet_track::{AsyncStore, AuditEntry, Role, TokenInfo};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// How long a token lookup is trusted.
const CACHE_TTL: Duration = Duration::from_secs(5);
/// The name audit records carry when the server runs without authentication.
pub const ANONYMOUS: &str = "(no auth)";

#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (Option<TokenInfo>, Instant)>>,
}

impl TokenCache {
    async fn lookup(
        &self,
        store: &AsyncStore,
        secret: &str,
    ) -> whet_track::Result<Option<TokenInfo>> {
        if let Ok(map) = self.entries.lock()
            && let Some((info, at)) = map.get(secret)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(info.clone());
        }
        let info = store.authenticate(secret).await?;
        if let Ok(mut map) = self.entries.lock() {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(secret.to_string(), (info.clone(), Instant::now()));
        }
        Ok(info)
    }
}

/// Who sent a request, as the token proves it: the token's name on a server that requires
/// tokens, None otherwise. Handlers record it as who registered a model version or moved an
/// alias; without tokens they fall back to the name a whet client sends, if any.
#[derive(Clone, Debug, Default)]
pub struct Caller(pub Option<String>);

impl Caller {
    /// The token's name, else the name the client gave (empty when it gave none).
    pub fn or(&self, claimed: &str) -> String {
        self.0.clone().unwrap_or_else(|| claimed.to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or_default())
    }
}

/// Sends audit records to a task that writes them in batches.
pub struct Audit {
    sender: mpsc::UnboundedSender<AuditEntry>,
}

impl Audit {
    pub fn start(store: Arc<AsyncStore>) -> (Audit, tokio::task::JoinHandle<()>) {
        let (sender, mut receiver) = mpsc::unbounded_channel::<AuditEntry>();
        let task = tokio::spawn(async move {
            let mut batch = Vec::new();
            while receiver.recv_many(&mut batch, 500).await > 0 {
                if let Err(e) = store.record_audit_batch(&batch).await {
                    tracing::warn!(error = %e, records = batch.len(), "could not write the audit log");
                }
                batch.clear();
            }
        });
        (Audit { sender }, task)
    }

    fn record(&self, record: AuditEntry) {
        // The receiver lives as long as the server; a send can fail only during shutdown.
        let _ = self.sender.send(record);
    }
}

/// The smallest role an endpoint needs. Reads are GETs and the searches MLflow sends as POST
/// (and whet's own run search); whet's gc, which deletes for good, needs admin.
fn needed_role(method: &Method, path: &str) -> Role {
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        return Role::Read;
    }
    if let Some(rest) = path.strip_prefix(whet_track::remote::api::PREFIX) {
        return match rest {
            whet_track::remote::api::GC => Role::Admin,
            whet_track::remote::api::RUNS_SEARCH => Role::Read,
            _ => Role::Write,
        };
    }
    let read_posts = [
        "/runs/search",
        "/experiments/search",
        "/logged-models/search",
        "/registered-models/search",
        "/model-versions/search",
        "/registered-models/get-latest-versions",
    ];
    if method == Method::POST && read_posts.iter().any(|p| path.ends_with(p)) {
        return Role::Read;
    }
    Role::Write
}

/// Whether a request is recorded in the audit log: every write but the ones a whet client
/// repeats as it works: a run's lease heartbeat, and a worker's trial claims (an idle worker
/// asks several times a second) and claim heartbeats, which change nothing but the queue.
fn mutates(method: &Method, path: &str) -> bool {
    use whet_track::remote::api;
    needed_role(method, path) != Role::Read
        && path.strip_prefix(api::PREFIX).is_none_or(|rest| {
            ![api::RUNS_HEARTBEAT, api::QUEUE_CLAIM, api::QUEUE_HEARTBEAT].contains(&rest)
        })
}

fn token_from(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_user, password) = text.split_once(':')?;
        return Some(password.to_string());
    }
    None
}

pub async fn authorize(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let open = path == "/health" || path == "/version" || crate::ui::is_open(&path);
    let caller = if !state.auth_required || open {
        ANONYMOUS.to_string()
    } else {
        let Some(secret) = token_from(req.headers()) else {
            return ApiError::new(
                ErrorCode::Unauthenticated,
                "this server needs a token: set MLFLOW_TRACKING_TOKEN (or send Authorization: Bearer <token>); an admin creates one with `whet server token create --name NAME --role write`",
            )
            .into_response();
        };
        match state.tokens.lookup(&state.store, &secret).await {
            Ok(Some(info)) => {
                let needed = needed_role(&method, &path);
                if info.role < needed {
                    let response = ApiError::new(
                        ErrorCode::PermissionDenied,
                        format!(
                            "token '{}' has the {} role; {method} {path} needs {}",
                            info.name,
                            info.role.as_str(),
                            needed.as_str()
                        ),
                    )
                    .into_response();
                    state.audit.record(AuditEntry {
                        id: 0,
                        time: 0,
                        token_name: info.name,
                        method: method.to_string(),
                        path,
                        status: i64::from(response.status().as_u16()),
                        detail: "permission denied".into(),
                    });
                    return response;
                }
                info.name
            }
            Ok(None) => {
                return ApiError::new(
                    ErrorCode::Unauthenticated,
                    "the token is not valid (unknown or revoked)",
                )
                .into_response();
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    };
    let audited = mutates(&method, &path);
    let verified = (state.auth_required && !open).then(|| caller.clone());
    req.extensions_mut().insert(Caller(verified));
    let response = next.run(req).await;
    if audited {
        state.audit.record(AuditEntry {
            id: 0,
            time: 0,
            token_name: caller,
            method: method.to_string(),
            path,
            status: i64::from(response.status().as_u16()),
            detail: String::new(),
        });
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_bearer_or_basic() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer abc123".parse().unwrap());
        assert_eq!(token_from(&h).as_deref(), Some("abc123"));
        let basic = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {basic}").parse().unwrap(),
        );
        assert_eq!(token_from(&h).as_deref(), Some("s3cret"));
        h.insert(header::AUTHORIZATION, "Digest x".parse().unwrap());
        assert_eq!(token_from(&h), None);
    }

    #[test]
    fn searches_are_reads_and_logging_is_a_write() {
        let p = "/api/2.0/mlflow/runs/search";
        assert_eq!(needed_role(&Method::POST, p), Role::Read);
        assert_eq!(
            needed_role(&Method::GET, "/api/2.0/mlflow/runs/get"),
            Role::Read
        );
        assert_eq!(
            needed_role(&Method::POST, "/api/2.0/mlflow/runs/log-batch"),
            Role::Write
        );
        assert_eq!(
            needed_role(&Method::PUT, "/api/2.0/mlflow-artifacts/artifacts/1/x"),
            Role::Write
        );
        assert!(Role::Admin > Role::Write && Role::Write > Role::Read);
    }

    #[test]
    fn whet_api_reads_writes_and_gc_need_their_roles() {
        let p = |rest: &str| format!("/api/2.0/whet{rest}");
        assert_eq!(needed_role(&Method::GET, &p("/runs/get")), Role::Read);
        assert_eq!(needed_role(&Method::POST, &p("/runs/search")), Role::Read);
        assert_eq!(needed_role(&Method::POST, &p("/runs/start")), Role::Write);
        assert_eq!(
            needed_role(&Method::POST, &p("/runs/heartbeat")),
            Role::Write
        );
        assert_eq!(
            needed_role(&Method::POST, &p("/model-versions/register")),
            Role::Write
        );
        assert_eq!(needed_role(&Method::POST, &p("/gc")), Role::Admin);
        assert!(!mutates(&Method::POST, &p("/runs/heartbeat")));
        // A worker's claim (which may carry a result) is a write a read token cannot make.
        assert_eq!(needed_role(&Method::POST, &p("/queue/claim")), Role::Write);
        assert_eq!(
            needed_role(&Method::POST, &p("/queue/complete")),
            Role::Write
        );
        assert_eq!(needed_role(&Method::GET, &p("/queue/task")), Role::Read);
        assert!(!mutates(&Method::POST, &p("/queue/claim")));
        assert!(mutates(&Method::POST, &p("/queue/complete")));
        assert!(mutates(&Method::POST, &p("/runs/start")));
    }
}
