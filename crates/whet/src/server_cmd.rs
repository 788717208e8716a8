//! `whet server`: the team's tracking server, and `whet server token …` to manage its tokens.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use whet_server::{AuthMode, ServerConfig};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServerArgs {
    #[command(subcommand)]
    pub command: Option<ServerCommand>,
    /// Address to listen on. Anything but a loopback address requires authentication.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 5000)]
    pub port: u16,
    /// Where proxied artifacts are stored (default: the store's artifact folder).
    #[arg(long, value_name = "DIR")]
    pub artifacts_destination: Option<PathBuf>,
    /// Give clients this artifact root URI instead of proxying artifacts (they then write
    /// there themselves).
    #[arg(long, value_name = "URI")]
    pub default_artifact_root: Option<String>,
    /// Worker threads (default: the cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Require tokens (default: on, except when listening on loopback only).
    #[arg(long, value_enum)]
    pub auth: Option<Toggle>,
    /// Largest JSON request body, in MiB.
    #[arg(long, default_value_t = 32)]
    pub max_request_mib: usize,
    /// Log one JSON object per line instead of text.
    #[arg(long)]
    pub log_json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Toggle {
    On,
    Off,
}

#[derive(Subcommand)]
pub enum ServerCommand {
    /// Manage the server's access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Who changed what: the newest requests that wrote to the store, with their token.
    Audit {
        /// How many entries, newest first.
        #[arg(long, short = 'n', default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once (only its hash is stored).
    Create {
        /// Who or what uses the token; recorded with every change made with it.
        #[arg(long)]
        name: String,
        /// read (look only), write (log and change), admin (everything).
        #[arg(long, value_parser = ["read", "write", "admin"])]
        role: String,
    },
    /// List tokens (names, roles, last use; never the secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by name.
    Revoke { name: String },
}

pub fn cmd_server(store_flag: Option<&str>, args: &ServerArgs, quiet: bool) -> Result<()> {
    match &args.command {
        Some(ServerCommand::Token(cmd)) => return cmd_token(store_flag, cmd),
        Some(ServerCommand::Audit { limit, json }) => return cmd_audit(store_flag, *limit, *json),
        None => {}
    }
    let mut config = ServerConfig::new(whet_track::store_spec(store_flag));
    config.host = args.host;
    config.port = args.port;
    config.artifacts_destination = args.artifacts_destination.clone();
    config.default_artifact_root = args.default_artifact_root.clone();
    config.workers = args.workers;
    config.auth = match args.auth {
        Some(Toggle::On) => AuthMode::On,
        Some(Toggle::Off) => AuthMode::Off,
        None => AuthMode::Default,
    };
    config.max_request_bytes = args.max_request_mib.max(1) << 20;
    let auth = config.auth_required().map_err(crate::exit::usage)?;
    whet_server::init_logging(args.log_json, quiet);
    let store = config.store.clone();
    whet_server::run(config, |addr| {
        // The one line scripts wait for; logs go to stderr.
        println!(
            "whet server listening on http://{addr} (store {store}, auth {})",
            if auth { "on" } else { "off" }
        );
    })?;
    Ok(())
}

fn cmd_token(store_flag: Option<&str>, cmd: &TokenCommand) -> Result<()> {
    let store = whet_track::Store::open_default(store_flag)?;
    match cmd {
        TokenCommand::Create { name, role } => {
            let role = match role.as_str() {
                "read" => whet_track::Role::Read,
                "admin" => whet_track::Role::Admin,
                _ => whet_track::Role::Write,
            };
            let secret = store
                .create_token(name, role)
                .with_context(|| format!("creating token '{name}'"))?;
            eprintln!(
                "created {} token '{name}'; it is shown only now. Clients use it as MLFLOW_TRACKING_TOKEN:",
                role.as_str()
            );
            println!("{secret}");
        }
        TokenCommand::List { json } => {
            let tokens = store.list_tokens()?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else if tokens.is_empty() {
                println!(
                    "no tokens; create one with `whet server token create --name NAME --role write`"
                );
            } else {
                println!("{:<24} {:<6} {:<8} last used", "name", "role", "state");
                for t in tokens {
                    println!(
                        "{:<24} {:<6} {:<8} {}",
                        t.name,
                        t.role.as_str(),
                        if t.revoked_time.is_some() {
                            "revoked"
                        } else {
                            "active"
                        },
                        t.last_used_time
                            .map(|ms| format!("{ms} ms since the epoch"))
                            .unwrap_or_else(|| "never".into())
                    );
                }
            }
        }
        TokenCommand::Revoke { name } => {
            store.revoke_token(name).with_context(|| {
                format!("revoking token '{name}'\nhint: `whet server token list` shows the tokens")
            })?;
            println!("revoked token '{name}'");
        }
    }
    Ok(())
}

fn cmd_audit(store_flag: Option<&str>, limit: usize, json: bool) -> Result<()> {
    let store = whet_track::Store::open_existing(store_flag)?;
    let entries = store.audit_log(limit.max(1))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    if entries.is_empty() {
        println!("no requests recorded yet");
    }
    for e in entries {
        println!(
            "{}  {:<16} {:>3} {:<6} {}",
            e.time,
            if e.token_name.is_empty() {
                "-"
            } else {
                e.token_name.as_str()
            },
            e.status,
            e.method,
            e.path
        );
    }
    Ok(())
}
