//! What one connection is doing — requests being answered, response bodies
//! being sent, when it last made progress — so that a connection that
//! never sends a request, sits idle, or stops reading its response is
//! closed instead of holding a slot forever.
//!
//! Progress is a request starting or ending, or response bytes written
//! while a body is in flight. Bytes the client sends do not count (a
//! trickled request head is no progress), nor do bytes written with no
//! body in flight (an HTTP/2 ping answer keeps nothing alive).

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::config::Limits;

/// The shared state of one connection.
#[derive(Debug)]
pub(super) struct Activity {
    origin: Instant,
    /// Milliseconds after `origin` of the last progress.
    last: AtomicU64,
    /// Requests whose response is being computed.
    handlers: AtomicUsize,
    /// Responses whose body is being sent.
    bodies: AtomicUsize,
    /// Whether any request has started on this connection.
    served: AtomicBool,
}

/// Why a connection is being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expiry {
    /// No complete request within `header-read-timeout` of the start.
    NoRequest,
    /// No request in flight for `idle-timeout`.
    Idle,
    /// A response body did not move a byte for `idle-timeout`.
    Stalled,
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expiry::NoRequest => "no request within limits.header-read-timeout",
            Expiry::Idle => "idle for limits.idle-timeout",
            Expiry::Stalled => "response not read for limits.idle-timeout",
        })
    }
}

impl Activity {
    pub(super) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            origin: Instant::now(),
            last: AtomicU64::new(0),
            handlers: AtomicUsize::new(0),
            bodies: AtomicUsize::new(0),
            served: AtomicBool::new(false),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last.store(self.now_ms(), Ordering::Relaxed);
    }

    /// A request has arrived; its guard ends the handler phase.
    pub(super) fn handling(self: &Arc<Self>) -> Handling {
        self.served.store(true, Ordering::Relaxed);
        self.handlers.fetch_add(1, Ordering::AcqRel);
        self.touch();
        Handling(self.clone())
    }

    /// Response bytes went out.
    fn wrote(&self) {
        if self.bodies.load(Ordering::Acquire) > 0 {
            self.touch();
        }
    }

    /// Completes when the connection has expired under `limits`. A running
    /// handler never expires it: its upstream waits are bounded by
    /// `timeouts:`.
    pub(super) async fn expired(&self, limits: &Limits) -> Expiry {
        loop {
            let wait = if self.handlers.load(Ordering::Acquire) > 0 {
                limits.idle_timeout
            } else {
                let (limit, expiry) = if !self.served.load(Ordering::Relaxed) {
                    (limits.header_read_timeout, Expiry::NoRequest)
                } else if self.bodies.load(Ordering::Acquire) > 0 {
                    (limits.idle_timeout, Expiry::Stalled)
                } else {
                    (limits.idle_timeout, Expiry::Idle)
                };
                let since = Duration::from_millis(
                    self.now_ms()
                        .saturating_sub(self.last.load(Ordering::Relaxed)),
                );
                if since >= limit {
                    return expiry;
                }
                limit.saturating_sub(since)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// A request's response is being computed.
pub(super) struct Handling(Arc<Activity>);

impl Handling {
    /// The response is ready: its body is now in flight.
    pub(super) fn sending(self) -> Sending {
        self.0.bodies.fetch_add(1, Ordering::AcqRel);
        Sending(self.0.clone())
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.handlers.fetch_sub(1, Ordering::AcqRel);
        self.0.touch();
    }
}

/// A response body is in flight.
pub(super) struct Sending(Arc<Activity>);

impl Drop for Sending {
    fn drop(&mut self) {
        self.0.bodies.fetch_sub(1, Ordering::AcqRel);
        self.0.touch();
    }
}

pin_project_lite::pin_project! {
    /// A response body that counts as in flight until it is dropped.
    pub(super) struct Guarded<B> {
        #[pin]
        body: B,
        sending: Sending,
    }
}

impl<B> Guarded<B> {
    pub(super) fn new(body: B, sending: Sending) -> Guarded<B> {
        Guarded { body, sending }
    }
}

impl<B: Body> Body for Guarded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection's socket, reporting written bytes to its [`Activity`].
pub(super) struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    pub(super) fn new(inner: S, activity: Arc<Activity>) -> Tracked<S> {
        Tracked { inner, activity }
    }

    fn wrote(&self, result: &Poll<std::io::Result<usize>>) {
        if matches!(result, Poll::Ready(Ok(n)) if *n > 0) {
            self.activity.wrote();
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(&result);
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(header: u64, idle: u64) -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(header),
            idle_timeout: Duration::from_millis(idle),
            ..Limits::default()
        }
    }

    #[tokio::test]
    async fn a_connection_without_a_request_expires_after_the_header_timeout() {
        let a = Activity::new();
        let started = tokio::time::Instant::now();
        assert_eq!(a.expired(&limits(100, 10_000)).await, Expiry::NoRequest);
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_running_handler_never_expires_and_idle_counts_from_its_end() {
        let a = Activity::new();
        let handling = a.handling();
        let l = limits(10, 50);
        assert!(
            tokio::time::timeout(Duration::from_millis(500), a.expired(&l))
                .await
                .is_err(),
            "expired while a handler ran"
        );
        drop(handling);
        assert_eq!(a.expired(&l).await, Expiry::Idle);
    }

    #[tokio::test]
    async fn a_body_in_flight_expires_only_when_it_stalls() {
        let a = Activity::new();
        let sending = a.handling().sending();
        assert_eq!(a.expired(&limits(10, 50)).await, Expiry::Stalled);
        drop(sending);
        assert_eq!(a.expired(&limits(10, 50)).await, Expiry::Idle);
    }
}
