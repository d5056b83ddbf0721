//! Sockets and HTTP: accept connections within `limits:`, serve HTTP/1.1
//! and HTTP/2 (hyper-util auto), hand every request to [`App::handle`], and
//! shut down gracefully; and the [`background`] tasks of a serving signgate
//! (policy reload, store GC, certificate reload).
//!
//! Architecture invariant: nothing here parses OCI paths or knows about
//! signatures; an `accept` error is logged and survived, never unwrapped;
//! every connection is bounded in number, in time and in buffered bytes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};
use tokio_rustls::TlsAcceptor;

use crate::config::Limits;
use crate::proxy::App;

mod accept;
mod activity;
pub mod admin;
pub mod background;
pub mod tls;

/// Connections the kernel completes and queues while signgate is at
/// `limits.max-connections` (capped by `net.core.somaxconn`); beyond it
/// the kernel drops their SYNs and clients retry. Rust's default is 128.
const LISTEN_BACKLOG: u32 = 1024;

/// A listening socket on `address` with a backlog of [`LISTEN_BACKLOG`].
pub fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serve `app` on `listener` (over TLS when `tls` is given) within
/// `limits` until `shutdown` completes, then let in-flight requests finish
/// (up to 30 s).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
    tls: Option<TlsAcceptor>,
) {
    accept::serve(listener, limits, tls, shutdown, move |request, peer| {
        let app = app.clone();
        async move { app.handle(request, Some(peer)).await }
    })
    .await;
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
