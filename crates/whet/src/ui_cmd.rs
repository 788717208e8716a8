//! `whet ui`: the web UI over a local store, for someone who just wants to look. It is
//! `whet server` bound to loopback on a free port, without tokens.

use std::net::IpAddr;

use anyhow::Result;
use clap::Args;
use whet_server::{AuthMode, ServerConfig};

#[derive(Args)]
pub struct UiArgs {
    /// Port to listen on (default: any free port; the URL is printed).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Also open the URL in the desktop's browser (xdg-open / open).
    #[arg(long)]
    pub open: bool,
}

pub fn cmd_ui(store_flag: Option<&str>, args: &UiArgs, quiet: bool) -> Result<()> {
    let store = whet_track::store_spec(store_flag);
    check_store(&store)?;
    let mut config = ServerConfig::new(store.clone());
    config.host = IpAddr::from([127, 0, 0, 1]);
    config.port = args.port;
    config.auth = AuthMode::Off;
    // Request lines would drown the URL; problems still show.
    whet_server::init_logging(false, true);
    let open = args.open;
    whet_server::run(config, |addr| {
        let url = format!("http://{addr}/");
        println!("{url}");
        if !quiet {
            eprintln!("whet ui: store {store}; press Ctrl-C to stop");
        }
        if open {
            open_browser(&url);
        }
    })?;
    Ok(())
}

/// The UI shows a store that exists; an empty new one would only confuse. A server's URL is
/// opened in the browser directly.
fn check_store(store: &str) -> Result<()> {
    if store.starts_with("http://") || store.starts_with("https://") {
        return Err(crate::exit::usage(format!(
            "whet ui opens a local store, and {store} is a whet server\nhint: open {}/ in a browser: the server serves the same UI",
            store.trim_end_matches('/')
        )));
    }
    if store.contains("://") {
        return Ok(());
    }
    let path = store.strip_prefix("sqlite:").unwrap_or(store);
    if !std::path::Path::new(path).exists() {
        return Err(crate::exit::usage(format!(
            "no store at {path}\nhint: `whet train data.csv --target y` records a study there, or pass --store PATH (or set WHET_STORE)"
        )));
    }
    Ok(())
}

fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        eprintln!("note: could not start {opener} ({e}); open {url} yourself");
    }
}
