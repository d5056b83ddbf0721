//! The accept loop both listeners share: at most `limits.max-connections`
//! connections at once (the rest wait in the kernel's listen backlog), a
//! bounded TLS handshake, hyper's HTTP/1 and HTTP/2 limits, connections
//! closed when they expire (see [`super::activity`]), and a bounded drain
//! on shutdown.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::activity::{Activity, Guarded, Tracked};
use crate::config::Limits;

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an expired connection may take to close before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Response bytes buffered per HTTP/2 stream for a client that does not
/// read: with `max-concurrent-streams` this bounds a connection's buffers.
const H2_SEND_BUFFER: usize = 64 * 1024;
/// hyper refuses (panics on) an HTTP/1 buffer below this.
const H1_MIN_BUFFER: usize = 8 * 1024;

/// Serve `handler` on `listener` until `shutdown` completes, then let
/// in-flight requests finish (up to 30 s).
pub(super) async fn serve<H, F, B>(
    listener: TcpListener,
    limits: &Limits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    handler: H,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let builder = Arc::new(builder(limits));
    let limits = Arc::new(limits.clone());
    let cap = limits.max_connections;
    let slots = Arc::new(Semaphore::new(cap as usize));
    let (stop, stopping) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                tracing::warn!(
                    max_connections = cap,
                    "connection limit reached: new connections wait in the listen backlog"
                );
                tokio::select! {
                    permit = slots.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let connection = Connection {
            peer,
            builder: builder.clone(),
            limits: limits.clone(),
            stopping: stopping.clone(),
            _slot: permit,
        };
        tokio::spawn(connection.run(stream, tls.clone(), handler.clone()));
    }
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    let _ = stop.send(());
    let drained = slots.acquire_many_owned(cap);
    match tokio::time::timeout(DRAIN_TIMEOUT + CLOSE_GRACE, drained).await {
        Ok(_) => tracing::info!("all connections closed"),
        Err(_) => {
            tracing::warn!("in-flight requests still running after {DRAIN_TIMEOUT:?}; exiting")
        }
    }
}

/// hyper-util's auto (HTTP/1.1 + HTTP/2) builder with `limits` applied.
fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let head = usize::try_from(limits.max_header_bytes)
        .unwrap_or(usize::MAX)
        .max(H1_MIN_BUFFER);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(head);
    let h2 = &limits.http2;
    let resets = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(h2.max_concurrent_streams)
        .max_header_list_size(limits.max_header_bytes)
        .max_send_buf_size(H2_SEND_BUFFER)
        .keep_alive_interval(h2.keep_alive_interval)
        .keep_alive_timeout(h2.keep_alive_timeout)
        .max_pending_accept_reset_streams(resets(h2.max_pending_reset_streams))
        .max_local_error_reset_streams(resets(h2.max_local_reset_streams));
    builder
}

/// One accepted connection, holding its slot until it ends.
struct Connection {
    peer: SocketAddr,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: Arc<Limits>,
    stopping: watch::Receiver<()>,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    async fn run<H, F, B>(self, stream: TcpStream, tls: Option<TlsAcceptor>, handler: H)
    where
        H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<B>> + Send + 'static,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let _ = stream.set_nodelay(true);
        let Some(acceptor) = tls else {
            return self.drive(stream, handler).await;
        };
        let peer = self.peer;
        match tokio::time::timeout(self.limits.tls_handshake_timeout, acceptor.accept(stream)).await
        {
            Ok(Ok(stream)) => self.drive(stream, handler).await,
            Ok(Err(e)) => tracing::debug!(client = %peer, error = %e, "tls handshake failed"),
            Err(_) => tracing::debug!(client = %peer, "tls handshake timed out"),
        }
    }

    /// Serve HTTP on `stream` until the client closes it, it expires, or
    /// signgate shuts down.
    async fn drive<S, H, F, B>(mut self, stream: S, handler: H)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<B>> + Send + 'static,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let peer = self.peer;
        let activity = Activity::new();
        let io = TokioIo::new(Tracked::new(stream, activity.clone()));
        let tracked = activity.clone();
        let service = service_fn(move |request| {
            let handling = tracked.handling();
            let response = handler(request, peer);
            async move {
                let response = response.await;
                Ok::<_, Infallible>(response.map(|body| Guarded::new(body, handling.sending())))
            }
        });
        let connection = self.builder.serve_connection(io, service);
        tokio::pin!(connection);
        // Once closing: when to stop waiting and drop the connection.
        let mut deadline: Option<Instant> = None;
        loop {
            let hard = deadline.unwrap_or_else(|| Instant::now() + DRAIN_TIMEOUT);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(client = %peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                expiry = activity.expired(&self.limits), if deadline.is_none() => {
                    tracing::debug!(client = %peer, reason = %expiry, "closing connection");
                    connection.as_mut().graceful_shutdown();
                    deadline = Some(Instant::now() + CLOSE_GRACE);
                }
                _ = self.stopping.changed(), if deadline.is_none() => {
                    connection.as_mut().graceful_shutdown();
                    deadline = Some(Instant::now() + DRAIN_TIMEOUT);
                }
                () = tokio::time::sleep_until(hard), if deadline.is_some() => {
                    tracing::debug!(client = %peer, "connection did not close in time: dropped");
                    return;
                }
            }
        }
    }
}
