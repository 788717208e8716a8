//! What `whet server` is told on its command line.

use std::net::IpAddr;
use std::path::PathBuf;

/// Whether requests must carry a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    On,
    Off,
    /// On, unless the server listens on a loopback address only.
    Default,
}

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub host: IpAddr,
    /// 0: any free port (the chosen one is printed).
    pub port: u16,
    /// A SQLite path or a `postgres://` URL, as for every whet command.
    pub store: String,
    /// Where proxied artifacts are stored (default: the store's artifact folder).
    pub artifacts_destination: Option<PathBuf>,
    /// Artifact root URI given to clients verbatim instead of `mlflow-artifacts:/` (clients
    /// then write artifacts there themselves, not through this server).
    pub default_artifact_root: Option<String>,
    /// Worker threads of the runtime (default: the cores).
    pub workers: Option<usize>,
    pub auth: AuthMode,
    /// Largest JSON request body.
    pub max_request_bytes: usize,
    /// Largest artifact upload.
    pub max_artifact_bytes: u64,
    /// How long a run a whet client started (`--store http://…`) stays RUNNING without a
    /// heartbeat before it is marked KILLED.
    pub lease: std::time::Duration,
}

impl ServerConfig {
    pub fn new(store: impl Into<String>) -> ServerConfig {
        ServerConfig {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 5000,
            store: store.into(),
            artifacts_destination: None,
            default_artifact_root: None,
            workers: None,
            auth: AuthMode::Default,
            max_request_bytes: 32 << 20,
            max_artifact_bytes: 16 << 30,
            lease: whet_track::DEFAULT_LEASE,
        }
    }

    /// Whether requests need a token, or why this configuration is refused.
    pub fn auth_required(&self) -> Result<bool, String> {
        let loopback = self.host.is_loopback();
        match self.auth {
            AuthMode::On => Ok(true),
            AuthMode::Default => Ok(!loopback),
            AuthMode::Off if loopback => Ok(false),
            AuthMode::Off => Err(format!(
                "refusing to serve {} without authentication: anyone who can reach it could read and change every run\nhint: create tokens with `whet server token create --name NAME --role write` and drop --auth off, or bind 127.0.0.1",
                self.host
            )),
        }
    }
}
