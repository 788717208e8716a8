//! The checks MLflow's server makes on a model version's `source` before registering it: a
//! local path must lie inside the artifact folder of the run (or logged model) it names, and
//! any other URI must be an absolute path without `..`, `.`, NUL or %-encoded tricks. A
//! source is handed to every client that downloads the version, so a registry must not
//! accept one that points elsewhere on the server or walks out of a bucket.

use crate::error::{ApiError, ApiResult};

/// The parts of a URI the checks look at, as Python's `urllib.parse.urlparse` splits them.
struct Parsed<'a> {
    scheme: &'a str,
    host: Option<String>,
    path: &'a str,
}

fn parse(uri: &str) -> Parsed<'_> {
    let (scheme, rest) = match uri.split_once(':') {
        Some((s, rest))
            if s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            (s, rest)
        }
        _ => ("", uri),
    };
    let (netloc, after) = match rest.strip_prefix("//") {
        Some(r) => match r.find(['/', '?', '#']) {
            Some(at) => (Some(&r[..at]), &r[at..]),
            None => (Some(r), ""),
        },
        None => (None, rest),
    };
    let path = &after[..after.find(['?', '#']).unwrap_or(after.len())];
    let host = netloc.and_then(|n| {
        let n = n.rsplit_once('@').map_or(n, |(_, h)| h);
        let h = match n.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => n.split(':').next().unwrap_or(""),
        };
        (!h.is_empty()).then(|| h.to_ascii_lowercase())
    });
    Parsed { scheme, host, path }
}

/// MLflow's `is_local_uri` for a model version source. A `file://` URI naming another host
/// is refused outright.
pub fn is_local(uri: &str) -> ApiResult<bool> {
    let p = parse(uri);
    if p.scheme.is_empty() {
        return Ok(true);
    }
    let remote_host = p
        .host
        .as_deref()
        .is_some_and(|h| h != "." && !h.starts_with("localhost") && !h.starts_with("127.0.0.1"));
    if p.scheme.eq_ignore_ascii_case("file") {
        if remote_host {
            return Err(ApiError::invalid(format!(
                "Invalid model version source: '{uri}': {uri} is not a valid remote uri. A file URI names a path on this server, not on another host."
            )));
        }
        return Ok(true);
    }
    if remote_host {
        return Ok(false);
    }
    // a Windows drive letter (`C:\models\m`)
    Ok(p.scheme.len() == 1)
}

/// Percent-decoding as Python's `unquote_plus`: `+` is a space, a bad escape stays as is.
fn unquote_plus(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `path` with `.` and `..` resolved (never above the root) and repeated slashes merged.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn relative_reference(source: &str) -> ApiError {
    ApiError::invalid(format!(
        "Invalid model version source: '{source}'. If supplying a source as an http, https, local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without relative path references present. Please provide an absolute path."
    ))
}

/// MLflow's check for a source that is not a local path.
fn check_no_relative_parts(source: &str) -> ApiResult<()> {
    let mut decoded = source.to_string();
    for _ in 0..8 {
        let next = unquote_plus(&decoded);
        if next == decoded {
            break;
        }
        decoded = next;
    }
    let p = parse(&decoded);
    let mut path = p.path.trim_end_matches('/').to_string();
    while path.contains("//") {
        path = path.replace("//", "/");
    }
    if path.contains('\0') || decoded.split('/').any(|part| part == "..") {
        return Err(relative_reference(source));
    }
    if !path.is_empty() && normalize(&path) != path {
        return Err(relative_reference(source));
    }
    Ok(())
}

/// The local path a local URI names (`file:///a/b` or `/a/b`), resolved.
fn local_path(uri: &str) -> String {
    let p = parse(uri);
    let path = if p.scheme.eq_ignore_ascii_case("file") {
        p.path
    } else {
        uri
    };
    normalize(&unquote_plus(path))
}

/// Whether local `source` lies in the folder `root` (a URI the server hands out).
fn inside(source: &str, root: &str) -> ApiResult<bool> {
    if !is_local(root)? {
        return Ok(false);
    }
    let (source, root) = (local_path(source), local_path(root));
    Ok(source == root || source.starts_with(&format!("{}/", root.trim_end_matches('/'))))
}

/// What owns a local source: the run or logged model whose artifact folder must hold it.
pub enum Owner {
    Run,
    LoggedModel,
}

/// MLflow's `_validate_source_run` / `_validate_source_model`. `owner_root` is the artifact
/// URI of the run or logged model named in the request (None when the request names none).
pub fn check(source: &str, owner: Owner, owner_root: Option<&str>) -> ApiResult<()> {
    if !is_local(source)? {
        return check_no_relative_parts(source);
    }
    if let Some(root) = owner_root
        && inside(source, root)?
    {
        return Ok(());
    }
    let by = match owner {
        Owner::Run => {
            "run_id request parameter has to be specified and the local path has to be contained within the artifact directory of the run specified by the run_id"
        }
        Owner::LoggedModel => {
            "model_id request parameter has to be specified and the local path has to be contained within the artifact directory of the logged model specified by the model_id"
        }
    };
    Err(ApiError::invalid(format!(
        "Invalid model version source: '{source}'. To use a local path as a model version source, the {by}."
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_remote(s: &str) -> bool {
        check(s, Owner::Run, None).is_ok()
    }

    #[test]
    fn remote_sources_must_be_absolute_without_relative_parts() {
        for good in [
            "runs:/abc/model",
            "models:/m-0123/",
            "models:/name/1",
            "mlflow-artifacts:/models",
            "mlflow-artifacts:/models///",
            "mlflow-artifacts:/models/foo///bar",
            "mlflow-artifacts://host:9000/models",
            "mlflow-artifacts://host:9000/models/artifact/..../",
            "s3://bucket/path/to/model",
        ] {
            assert!(ok_remote(good), "{good}");
        }
        for bad in [
            "mlflow-artifacts://host:9000/models/../../../",
            "http://host:9000/models/../../../",
            "https://host/api/2.0/mlflow-artifacts/artifacts/../../../",
            "s3a://my_bucket/api/2.0/mlflow-artifacts/artifacts/../../../",
            "ftp://host:8888/api/2.0/mlflow-artifacts/artifacts/../../../",
            "mlflow-artifacts://host:9000/models/..%2f..%2fartifacts",
            "mlflow-artifacts://host:9000/models/artifact%00",
            "dbfs:/abc/artifacts/a%3f/../../../../",
            "s3://bucket/a/./b",
        ] {
            let e = check(bad, Owner::Run, None).unwrap_err();
            assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST, "{bad}");
            assert!(e.message.contains("Invalid model version source"), "{bad}");
        }
    }

    #[test]
    fn local_sources_must_lie_in_the_owners_artifact_folder() {
        let root = Some("file:///srv/art/1/abc/artifacts");
        for good in [
            "file:///srv/art/1/abc/artifacts",
            "file:///srv/art/1/abc/artifacts/model",
            "file:///srv/art/1/abc/artifacts/.",
            "file:///srv/art/1/abc/artifacts/model/..",
            "/srv/art/1/abc/artifacts/model",
        ] {
            assert!(check(good, Owner::Run, root).is_ok(), "{good}");
        }
        for bad in [
            "/tmp",
            "file:///tmp",
            "file:///srv/art/1/abc/artifacts/../../other",
            "/srv/art/1/abc/artifacts-not",
        ] {
            let e = check(bad, Owner::Run, root).unwrap_err();
            assert!(e.message.contains("To use a local path"), "{bad}");
        }
        // no run named, or a run whose artifacts are not local
        assert!(check("/srv/art/1/abc/artifacts", Owner::Run, None).is_err());
        assert!(
            check(
                "/srv/x",
                Owner::Run,
                Some("mlflow-artifacts:/1/abc/artifacts")
            )
            .is_err()
        );
        // a file URI naming another host is refused with a 400, not a 500
        let e = check("file://123.456.789.123/path", Owner::Run, root).unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        assert!(e.message.contains("is not a valid remote uri"));
        assert!(
            check(
                "file://localhost/srv/art/1/abc/artifacts/m",
                Owner::Run,
                root
            )
            .is_ok()
        );
    }
}
