//! The HTTP side of a remote store: one `ureq` agent, the bearer token, retries, and turning
//! what the server answers (MLflow's error JSON, a status, a refused connection) into
//! [`Error`] variants.
//!
//! Retries: a request that certainly never reached the server (connection refused, host not
//! found, connect timeout) is retried whatever it is; a read or an idempotent write is also
//! retried after a lost answer or a 429/502/503/504; a write that is not idempotent (starting
//! a run, registering a version, moving an alias, gc) never is once it may have been sent.

use std::io::Read;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Attempts per request, and the pause before each retry.
const BACKOFF_MS: [u64; 3] = [150, 400, 1000];
/// Largest JSON answer read (a page of 50,000 runs fits).
const JSON_LIMIT: u64 = 1 << 30;

/// Which failures a request may be repeated after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// A read: any transport failure or a 429/502/503/504.
    Read,
    /// A write whose repetition changes nothing (same params, identical metric points,
    /// tags, ending a run, an artifact's bytes): as a read.
    Idempotent,
    /// Any other write: only when the request cannot have reached the server.
    Unsent,
}

/// Where the token came from, so that messages name the variable to fix.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub secret: String,
    pub var: &'static str,
}

/// `WHET_TOKEN`, else `MLFLOW_TRACKING_TOKEN` (what the mlflow client sends).
pub(crate) fn token_from_env() -> Option<Token> {
    ["WHET_TOKEN", "MLFLOW_TRACKING_TOKEN"]
        .into_iter()
        .find_map(|var| match std::env::var(var) {
            Ok(s) if !s.trim().is_empty() => Some(Token {
                secret: s.trim().to_string(),
                var,
            }),
            _ => None,
        })
}

pub(crate) struct Http {
    /// `http(s)://host:port[/prefix]`, no trailing slash.
    pub base: String,
    agent: ureq::Agent,
    token: Option<Token>,
}

/// A request body that can be sent again on a retry.
pub(crate) enum Body<'a> {
    None,
    Json(Vec<u8>),
    Bytes(&'a [u8]),
    File(&'a std::path::Path),
}

impl Http {
    pub fn new(base: &str, token: Option<Token>) -> Http {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_resolve(Some(Duration::from_secs(10)))
            .timeout_connect(Some(Duration::from_secs(10)))
            // A long gc or a big upload may take a while to answer; a dead server does not
            // hang a command for ever.
            .timeout_recv_response(Some(Duration::from_secs(600)))
            .user_agent(format!("whet/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Http {
            base: base.trim_end_matches('/').to_string(),
            agent,
            token,
        }
    }

    pub fn token_var(&self) -> Option<&'static str> {
        self.token.as_ref().map(|t| t.var)
    }

    pub fn get_json<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T> {
        let url = self.url(path, query);
        let mut response = self.send("GET", &url, Body::None, Retry::Read)?;
        read_json(&self.base, &url, &mut response)
    }

    pub fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        retry: Retry,
    ) -> Result<T> {
        let url = self.url(path, &[]);
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::Invalid(format!("cannot encode the request to {url}: {e}")))?;
        let mut response = self.send("POST", &url, Body::Json(bytes), retry)?;
        read_json(&self.base, &url, &mut response)
    }

    /// Uploads a body with PUT; the answer's body is ignored.
    pub fn put(&self, path: &str, body: Body<'_>) -> Result<()> {
        let url = self.url(path, &[]);
        self.send("PUT", &url, body, Retry::Idempotent).map(|_| ())
    }

    /// Downloads a body of `expected` bytes (reading at most one more, to notice a longer one).
    pub fn get_bytes(&self, path: &str, expected: u64) -> Result<Vec<u8>> {
        let url = self.url(path, &[]);
        let mut last = None;
        // `send` retries failures to get an answer; this retries a body that broke off once.
        for attempt in 0..2 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(BACKOFF_MS[0]));
            }
            let mut response = self.send("GET", &url, Body::None, Retry::Read)?;
            let mut bytes = Vec::with_capacity(expected.min(1 << 30) as usize);
            let read = response
                .body_mut()
                .as_reader()
                .take(expected.saturating_add(1))
                .read_to_end(&mut bytes);
            match read {
                Ok(_) => return Ok(bytes),
                // The connection broke mid-body: a read, so try again.
                Err(e) => last = Some(e),
            }
        }
        Err(Error::Unreachable {
            url: self.base.clone(),
            detail: format!(
                "the download of {url} broke off: {}",
                last.map(|e| e.to_string()).unwrap_or_default()
            ),
            hint: "check the network and the server's log, then try again".into(),
        })
    }

    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!("{}{path}", self.base);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&encode(k));
            url.push('=');
            url.push_str(&encode(v));
        }
        url
    }

    /// Sends a request with retries; answers with a 2xx response, or the error the answer or
    /// the failure means.
    fn send(
        &self,
        method: &str,
        url: &str,
        body: Body<'_>,
        retry: Retry,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let mut attempt = 0;
        loop {
            let result = self.attempt(method, url, &body);
            let retryable = match &result {
                Ok(r) => retry != Retry::Unsent && retryable_status(r.status().as_u16()),
                Err(e) => unsent(e) || (retry != Retry::Unsent && !permanent(e)),
            };
            if retryable && attempt < BACKOFF_MS.len() {
                std::thread::sleep(Duration::from_millis(BACKOFF_MS[attempt]));
                attempt += 1;
                continue;
            }
            let mut response = result.map_err(|e| transport_error(&self.base, url, e))?;
            let status = response.status().as_u16();
            if (200..300).contains(&status) {
                return Ok(response);
            }
            let mut text = Vec::new();
            let _ = response
                .body_mut()
                .as_reader()
                .take(1 << 20)
                .read_to_end(&mut text);
            return Err(error_from_answer(
                &self.base,
                url,
                status,
                &text,
                self.token_var(),
            ));
        }
    }

    fn attempt(
        &self,
        method: &str,
        url: &str,
        body: &Body<'_>,
    ) -> std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let auth = self.token.as_ref().map(|t| format!("Bearer {}", t.secret));
        macro_rules! with_auth {
            ($req:expr) => {{
                let req = $req;
                match &auth {
                    Some(a) => req.header("Authorization", a),
                    None => req,
                }
            }};
        }
        match (method, body) {
            ("GET", _) => with_auth!(self.agent.get(url)).call(),
            ("POST", Body::Json(bytes)) => with_auth!(self.agent.post(url))
                .header("Content-Type", "application/json")
                .send(&bytes[..]),
            ("POST", _) => with_auth!(self.agent.post(url))
                .header("Content-Type", "application/json")
                .send(&b"{}"[..]),
            ("PUT", Body::Bytes(bytes)) => with_auth!(self.agent.put(url))
                .header("Content-Type", "application/octet-stream")
                .send(*bytes),
            ("PUT", Body::File(path)) => {
                let file = std::fs::File::open(path).map_err(ureq::Error::Io)?;
                with_auth!(self.agent.put(url))
                    .header("Content-Type", "application/octet-stream")
                    .send(file)
            }
            (m, _) => Err(ureq::Error::BadUri(format!(
                "unsupported request {m} {url}"
            ))),
        }
    }
}

/// Statuses worth another try: the server or a proxy in front of it was busy or restarting.
fn retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// True when the request cannot have reached the server, so repeating it is always safe.
fn unsent(e: &ureq::Error) -> bool {
    use ureq::Timeout;
    match e {
        ureq::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::AddrNotAvailable
                | std::io::ErrorKind::NotFound
        ),
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => true,
        ureq::Error::Timeout(t) => matches!(t, Timeout::Connect | Timeout::Resolve),
        _ => false,
    }
}

/// Failures that another try cannot cure: a bad URL, TLS refusing the certificate, a reply
/// that is not HTTP.
fn permanent(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::BadUri(_)
            | ureq::Error::Http(_)
            | ureq::Error::Tls(_)
            | ureq::Error::Rustls(_)
            | ureq::Error::Pem(_)
            | ureq::Error::RequireHttpsOnly(_)
            | ureq::Error::InvalidProxyUrl
            | ureq::Error::TlsRequired
    ) || matches!(e, ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound)
}

fn read_json<T: DeserializeOwned>(
    base: &str,
    url: &str,
    response: &mut ureq::http::Response<ureq::Body>,
) -> Result<T> {
    let bytes = response
        .body_mut()
        .with_config()
        .limit(JSON_LIMIT)
        .read_to_vec()
        .map_err(|e| transport_error(base, url, e))?;
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    serde_json::from_slice(bytes).map_err(|e| Error::Remote {
        url: base.to_string(),
        status: response.status().as_u16(),
        code: "BAD_ANSWER".into(),
        message: format!(
            "cannot read the answer to {url}: {e}\n  hint: is this a whet server of the same version? `whet --version` on both ends"
        ),
    })
}

/// A failure to talk to the server at all.
pub(crate) fn transport_error(base: &str, url: &str, e: ureq::Error) -> Error {
    let start = "start it with `whet server --store PATH --port N`, or check the URL in --store / WHET_STORE";
    let (detail, hint) = match &e {
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => (
            "connection refused".to_string(),
            format!("no server is listening there; {start}"),
        ),
        ureq::Error::HostNotFound => (
            "host not found".to_string(),
            "check the host name in the URL".to_string(),
        ),
        ureq::Error::Timeout(t) => (
            format!("no answer in time ({t})"),
            format!("is the server up and reachable from here? {start}"),
        ),
        ureq::Error::Tls(_)
        | ureq::Error::Rustls(_)
        | ureq::Error::Pem(_)
        | ureq::Error::TlsRequired => (
            format!("TLS failed: {e}"),
            "check that the server speaks https with a certificate this machine trusts, or use http://".to_string(),
        ),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => (
            format!("bad URL {url}: {e}"),
            "write the store as http://HOST:PORT or https://HOST[:PORT]".to_string(),
        ),
        _ => (
            e.to_string(),
            format!("check the network and that the server is up; {start}"),
        ),
    };
    Error::Unreachable {
        url: base.to_string(),
        detail,
        hint,
    }
}

/// What a non-2xx answer means, from MLflow's error JSON (`error_code`, `message`) and the
/// status: the whet_track variant a local store would have given, where there is one.
pub(crate) fn error_from_answer(
    base: &str,
    url: &str,
    status: u16,
    body: &[u8],
    token_var: Option<&str>,
) -> Error {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |k: &str| {
        json.as_ref()
            .and_then(|v| v.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let code = field("error_code").unwrap_or_default();
    let message = field("message").unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            format!("HTTP {status}")
        } else {
            text.chars().take(300).collect()
        }
    });
    let location = base.to_string();
    if status == 401 || code == "UNAUTHENTICATED" {
        let hint = match token_var {
            Some(var) => format!(
                "the token in {var} is not valid (unknown or revoked); ask the server's admin for a new one (`whet server token create --name NAME --role write`) and set {var}"
            ),
            None => "this server needs a token: set WHET_TOKEN (or MLFLOW_TRACKING_TOKEN) to one the server's admin creates with `whet server token create --name NAME --role write`".to_string(),
        };
        return Error::Denied {
            url: location,
            status,
            message: first_line(&message),
            hint,
        };
    }
    if status == 403 || code == "PERMISSION_DENIED" {
        let var = token_var.unwrap_or("WHET_TOKEN");
        return Error::Denied {
            url: location,
            status,
            message: first_line(&message),
            hint: format!(
                "the token in {var} has too small a role for this: reading needs 'read', training and registering 'write', gc 'admin'; ask the server's admin for one (`whet server token create --name NAME --role write`)"
            ),
        };
    }
    match code.as_str() {
        "RESOURCE_DOES_NOT_EXIST" | "NOT_FOUND" => Error::NotFound {
            what: whet_subject(&subject(&message, &[" not found in store ", " not found"])),
            location,
        },
        "RESOURCE_ALREADY_EXISTS" | "ALREADY_EXISTS" => Error::AlreadyExists {
            what: subject(&message, &[" already exists in store ", " already exists"]),
            location,
        },
        "INVALID_PARAMETER_VALUE" | "BAD_REQUEST" => Error::Invalid(message),
        _ if status == 404 && url.contains(super::api::PREFIX) => Error::Remote {
            url: location,
            status,
            code: if code.is_empty() {
                "ENDPOINT_NOT_FOUND".into()
            } else {
                code
            },
            message: format!(
                "{message}\n  hint: this is not a whet server, or an older one: `--store http://…` needs `whet server` of this whet version (an MLflow server is for the mlflow client)"
            ),
        },
        _ => Error::Remote {
            url: location,
            status,
            code: if code.is_empty() {
                format!("HTTP_{status}")
            } else {
                code
            },
            message,
        },
    }
}

/// A server's MLflow wording of what was not found, in the words a local store uses
/// (`Run with id=X` is `run X`), so that both kinds of store report it alike.
fn whet_subject(what: &str) -> String {
    if let Some(id) = what.strip_prefix("Run with id=") {
        return format!("run {id}");
    }
    if let Some(name) = what.strip_prefix("Registered Model with name=") {
        return format!("registered model '{name}'");
    }
    what.to_string()
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

/// What a "not found" or "already exists" message is about: the text before the first of
/// `markers` (whet's "run 1f… not found in store X" gives "run 1f…"), else the first line.
fn subject(message: &str, markers: &[&str]) -> String {
    let line = first_line(message);
    for m in markers {
        if let Some(at) = line.find(m) {
            return line[..at].to_string();
        }
    }
    line
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An artifact path for a URL: each '/'-separated part encoded.
pub(crate) fn encode_path(path: &str) -> String {
    path.split('/').map(encode).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://srv:5000";

    fn answer(status: u16, code: &str, message: &str) -> Error {
        let body = serde_json::json!({"error_code": code, "message": message}).to_string();
        error_from_answer(
            BASE,
            "http://srv:5000/api/2.0/whet/runs/get",
            status,
            body.as_bytes(),
            Some("WHET_TOKEN"),
        )
    }

    #[test]
    fn mlflow_codes_become_the_variants_a_local_store_gives() {
        match answer(
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "run 1f2e not found in store /srv/whet.db",
        ) {
            Error::NotFound { what, location } => {
                assert_eq!(what, "run 1f2e");
                assert_eq!(location, BASE);
            }
            e => panic!("{e:?}"),
        }
        match answer(404, "RESOURCE_DOES_NOT_EXIST", "Run with id=abc not found") {
            Error::NotFound { what, .. } => assert_eq!(what, "run abc"),
            e => panic!("{e:?}"),
        }
        match answer(
            400,
            "RESOURCE_ALREADY_EXISTS",
            "experiment 'x' already exists in store /srv/whet.db",
        ) {
            Error::AlreadyExists { what, location } => {
                assert_eq!(what, "experiment 'x'");
                assert_eq!(location, BASE);
            }
            e => panic!("{e:?}"),
        }
        let conflict = "param 'lr' of run R is already '1', cannot change it to '2'\n  hint: params are immutable";
        match answer(400, "INVALID_PARAMETER_VALUE", conflict) {
            Error::Invalid(m) => assert_eq!(m, conflict, "the message and its hint are kept"),
            e => panic!("{e:?}"),
        }
        match answer(500, "INTERNAL_ERROR", "disk on fire") {
            Error::Remote {
                status,
                code,
                message,
                ..
            } => {
                assert_eq!(
                    (status, code.as_str(), message.as_str()),
                    (500, "INTERNAL_ERROR", "disk on fire")
                );
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn auth_failures_name_the_token_variable() {
        let e = answer(
            401,
            "UNAUTHENTICATED",
            "the token is not valid (unknown or revoked)",
        );
        assert!(matches!(e, Error::Denied { status: 401, .. }));
        let text = e.to_string();
        assert!(
            text.contains("WHET_TOKEN") && text.contains("revoked"),
            "{text}"
        );
        let e = error_from_answer(BASE, "u", 401, b"You are not authenticated", None);
        let text = e.to_string();
        assert!(
            text.contains("set WHET_TOKEN (or MLFLOW_TRACKING_TOKEN)"),
            "{text}"
        );
        let e = error_from_answer(
            BASE,
            "u",
            403,
            br#"{"error_code":"PERMISSION_DENIED","message":"token 'r' has the read role; POST /x needs write"}"#,
            Some("MLFLOW_TRACKING_TOKEN"),
        );
        let text = e.to_string();
        assert!(matches!(e, Error::Denied { status: 403, .. }));
        assert!(
            text.contains("read role") && text.contains("MLFLOW_TRACKING_TOKEN"),
            "{text}"
        );
    }

    #[test]
    fn a_server_without_the_whet_api_is_named() {
        let e = error_from_answer(
            BASE,
            "http://srv:5000/api/2.0/whet/info",
            404,
            b"<html>Not Found</html>",
            None,
        );
        let text = e.to_string();
        assert!(text.contains("not a whet server"), "{text}");
        assert!(text.contains(BASE), "{text}");
    }

    #[test]
    fn a_refused_connection_names_the_url_and_how_to_start_a_server() {
        let e = transport_error(
            BASE,
            "http://srv:5000/api/2.0/whet/info",
            ureq::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        );
        let text = e.to_string();
        assert!(matches!(e, Error::Unreachable { .. }));
        assert!(
            text.contains(BASE) && text.contains("whet server"),
            "{text}"
        );
    }

    #[test]
    fn only_unsent_requests_are_safe_for_every_write() {
        let refused = ureq::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let reset = ureq::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(unsent(&refused) && unsent(&ureq::Error::HostNotFound));
        assert!(!unsent(&reset) && !permanent(&reset));
        assert!(unsent(&ureq::Error::Timeout(ureq::Timeout::Connect)));
        assert!(!unsent(&ureq::Error::Timeout(ureq::Timeout::RecvResponse)));
        assert!(retryable_status(503) && !retryable_status(500) && !retryable_status(400));
    }

    #[test]
    fn urls_are_encoded() {
        assert_eq!(encode("a b/é"), "a%20b%2F%C3%A9");
        assert_eq!(
            encode_path("1/abc/artifacts/x y.txt"),
            "1/abc/artifacts/x%20y.txt"
        );
        let h = Http::new("http://h:1/", None);
        assert_eq!(
            h.url("/p", &[("name", "a&b"), ("v", "1")]),
            "http://h:1/p?name=a%26b&v=1"
        );
    }
}
