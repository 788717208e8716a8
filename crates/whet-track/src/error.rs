//! The one error type of whet-track. Every variant names the store, file or object it is
//! about, and the `Display` text ends with a hint where there is something to do.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open store {location}: {source}\n  hint: {hint}")]
    Open {
        location: String,
        hint: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "store {location} is damaged or is not a whet database ({detail})\n  hint: restore it from a backup, or move it aside to start a new store"
    )]
    Corrupt { location: String, detail: String },
    #[error(
        "store {location} is locked by another process and stayed locked ({detail})\n  hint: wait for the other whet process to finish, or check for a stuck one holding the file"
    )]
    Locked { location: String, detail: String },
    #[error("store {location}: {context}: {source}")]
    Db {
        location: String,
        context: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "store {location} has schema version {found}, newer than this whet understands ({known})\n  hint: upgrade whet"
    )]
    SchemaTooNew {
        location: String,
        found: i64,
        known: i64,
    },
    #[error("{what} not found in store {location}")]
    NotFound { what: String, location: String },
    /// An experiment, registered model or token name that is taken (MLflow's
    /// RESOURCE_ALREADY_EXISTS).
    #[error("{what} already exists in store {location}")]
    AlreadyExists { what: String, location: String },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "param '{key}' of run {run} is already '{old}', cannot change it to '{new}'\n  hint: params are immutable; record the new value in a new run or under another key"
    )]
    ParamConflict {
        run: String,
        key: String,
        old: String,
        new: String,
    },
    #[error(transparent)]
    Filter(#[from] crate::filter::FilterError),
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "artifact {} is damaged: expected sha256 {expected} ({expected_size} bytes), found {actual} ({actual_size} bytes)\n  hint: the file was changed or truncated after it was written; log it again from its source",
        path.display()
    )]
    ArtifactChecksum {
        path: PathBuf,
        expected: String,
        actual: String,
        expected_size: u64,
        actual_size: u64,
    },
    #[error(
        "invalid page token: {0}\n  hint: pass the token returned by the previous page of the same search"
    )]
    PageToken(String),
    #[error("cannot start the store's runtime: {0}")]
    Runtime(std::io::Error),
    /// A remote store (`http://…`) could not be reached: nothing was done.
    #[error("cannot reach the whet server at {url}: {detail}\n  hint: {hint}")]
    Unreachable {
        url: String,
        detail: String,
        hint: String,
    },
    /// A remote store refused the request: no token, an unknown or revoked one (401), or a
    /// token whose role is too small (403).
    #[error("the whet server at {url} refused the request: {message}\n  hint: {hint}")]
    Denied {
        url: String,
        status: u16,
        message: String,
        hint: String,
    },
    /// Any other failure a remote store reported, with MLflow's error code.
    #[error(
        "there is no store at {location}\n  hint: `whet train` creates one; to read another store pass --store or set WHET_STORE"
    )]
    NoStore { location: String },
    #[error("the whet server at {url} failed ({status} {code}): {message}")]
    Remote {
        url: String,
        status: u16,
        code: String,
        message: String,
    },
}

impl Error {
    /// True when the database connection failed or went away (the server restarting, the
    /// network), as opposed to the request being wrong: worth trying again shortly.
    pub fn connection_lost(&self) -> bool {
        let source = match self {
            Error::Db { source, .. } | Error::Open { source, .. } => source,
            _ => return false,
        };
        match source {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
            // SQLSTATE classes 08 (connection exception) and 57P (the server shutting down).
            sqlx::Error::Database(d) => d
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
            _ => false,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn not_found(what: impl Into<String>, location: &str) -> Self {
        Error::NotFound {
            what: what.into(),
            location: location.to_string(),
        }
    }

    pub(crate) fn already_exists(what: impl Into<String>, location: &str) -> Self {
        Error::AlreadyExists {
            what: what.into(),
            location: location.to_string(),
        }
    }

    /// True when a statement broke a UNIQUE or PRIMARY KEY constraint: a concurrent writer
    /// took the name between this transaction's check and its insert (PostgreSQL only; SQLite
    /// writers are serialized by `BEGIN IMMEDIATE`).
    pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
        matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
    }

    /// Turns a driver error into the most specific variant: damaged and locked databases get
    /// their own messages because "file is not a database" alone does not say which file.
    pub(crate) fn db(location: &str, context: impl Into<String>, source: sqlx::Error) -> Self {
        if let Some(kind) = classify(&source) {
            let detail = source.to_string();
            return match kind {
                Class::Corrupt => Error::Corrupt {
                    location: location.to_string(),
                    detail,
                },
                Class::Locked => Error::Locked {
                    location: location.to_string(),
                    detail,
                },
            };
        }
        Error::Db {
            location: location.to_string(),
            context: context.into(),
            source,
        }
    }

    /// True for errors worth retrying after a pause (a busy SQLite file, a PostgreSQL
    /// serialization failure or deadlock).
    pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
        if let sqlx::Error::Database(d) = e
            && let Some(code) = d.code()
        {
            let code = code.as_ref();
            if code == "40001" || code == "40P01" {
                return true;
            }
            if let Ok(n) = code.parse::<i64>() {
                return n & 0xff == 5 || n & 0xff == 6;
            }
        }
        false
    }
}

enum Class {
    Corrupt,
    Locked,
}

fn classify(e: &sqlx::Error) -> Option<Class> {
    if let sqlx::Error::Database(d) = e {
        // SQLite primary result codes: 11 CORRUPT, 26 NOTADB, 5 BUSY, 6 LOCKED.
        if let Some(code) = d.code()
            && let Ok(n) = code.as_ref().parse::<i64>()
        {
            match n & 0xff {
                11 | 26 => return Some(Class::Corrupt),
                5 | 6 => return Some(Class::Locked),
                _ => {}
            }
        }
        let m = d.message();
        if m.contains("file is not a database") || m.contains("malformed") {
            return Some(Class::Corrupt);
        }
        if m.contains("database is locked") {
            return Some(Class::Locked);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_is_told_from_a_bad_request() {
        let db = |source| Error::Db {
            location: "postgres://h/db".into(),
            context: "claim a trial".into(),
            source,
        };
        assert!(db(sqlx::Error::PoolTimedOut).connection_lost());
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(db(sqlx::Error::Io(io)).connection_lost());
        assert!(!db(sqlx::Error::RowNotFound).connection_lost());
        assert!(!Error::Invalid("bad".into()).connection_lost());
    }
}
