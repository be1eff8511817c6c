//! The worker's side: listen, announce readiness, hand each connection to a handler.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncWrite};

/// A client connection, Unix or TCP.
pub trait Connection: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Connection for T {}

/// Why a worker cannot serve (the message names the address).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ServeError(pub String);

/// Listens on `unix:///path` (a stale socket file is replaced) or `tcp://host:port`, prints
/// `READY <uri>` on stdout (the supervisor waits for it) and notifies systemd, then runs
/// `handle` on its own task for every connection; a connection that ends in an error is
/// logged. Returns only on error.
pub async fn serve<H, F, E>(uri: &str, handle: H) -> Result<(), ServeError>
where
    H: Fn(Pin<Box<dyn Connection>>) -> F,
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display,
{
    let spawn = |stream: Pin<Box<dyn Connection>>| {
        let connection = handle(stream);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("connection ended: {e}");
            }
        });
    };
    if let Some(path) = uri.strip_prefix("unix://") {
        let path = PathBuf::from(path);
        if path.exists() {
            // A socket left by a worker that died; nothing else may own this path.
            std::fs::remove_file(&path).map_err(|e| {
                ServeError(format!(
                    "cannot remove stale socket {}: {e}",
                    path.display()
                ))
            })?;
        }
        let listener = tokio::net::UnixListener::bind(&path)
            .map_err(|e| ServeError(format!("cannot listen on {}: {e}", path.display())))?;
        ready(uri);
        loop {
            let (stream, _) = listener
                .accept()
                .await
                .map_err(|e| ServeError(format!("accept on {}: {e}", path.display())))?;
            spawn(Box::pin(stream));
        }
    } else if let Some(addr) = uri.strip_prefix("tcp://") {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| ServeError(format!("cannot listen on {addr}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| ServeError(format!("{addr}: {e}")))?;
        ready(&format!("tcp://{local}"));
        loop {
            let (stream, _) = listener
                .accept()
                .await
                .map_err(|e| ServeError(format!("accept on {addr}: {e}")))?;
            let _ = stream.set_nodelay(true);
            spawn(Box::pin(stream));
        }
    } else {
        Err(ServeError(format!(
            "--listen {uri:?}: expected unix:///path or tcp://host:port"
        )))
    }
}

fn ready(uri: &str) {
    tracing::info!(%uri, "listening");
    // The supervisor (or systemd, when the worker runs as its own unit) waits for this.
    println!("READY {uri}");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}

/// Logs to stderr (the supervisor's journal), filtered by `RUST_LOG` or `default_filter`.
pub fn init_logging(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// A worker whose parent died is re-parented: exit then, since nobody supervises it.
pub fn watch_parent() {
    let parent = std::os::unix::process::parent_id();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            if std::os::unix::process::parent_id() != parent {
                tracing::warn!(parent, "supervisor is gone; exiting");
                std::process::exit(0);
            }
        }
    });
}
