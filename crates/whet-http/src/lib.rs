//! HTTP plumbing shared by whet's two servers, `whet server` (the team's tracking server) and
//! `whet serve` (a model's scoring server): the answer to a request whose body was left
//! unread, and a graceful stop on SIGINT or SIGTERM.

mod unread_body;

pub use unread_body::finish_unread_bodies;

/// Resolves on SIGINT or SIGTERM; the server then stops accepting connections and finishes
/// the requests in flight.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT: finishing the requests in flight"),
        _ = terminate => tracing::info!("SIGTERM: finishing the requests in flight"),
    }
}
