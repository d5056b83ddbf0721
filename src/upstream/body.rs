//! Reading upstream bodies within bounds: whole small documents with a size
//! and time limit, and streamed blobs with an idle limit and an end-to-end
//! digest check.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use std::sync::Arc;

use crate::metrics::Metrics;
use crate::oci::{Digest, DigestHasher};
use crate::store::Keeper;

/// Why a bounded read stopped.
#[derive(Debug, thiserror::Error)]
pub(super) enum BodyError {
    #[error("larger than {0} bytes")]
    TooLarge(usize),
    #[error("timed out")]
    Timeout,
    #[error("connection failed mid-body: {0}")]
    Io(String),
}

/// Read a whole body of at most `limit` bytes before `deadline`.
pub(super) async fn read_bounded(
    mut body: Incoming,
    limit: usize,
    deadline: Instant,
) -> Result<Bytes, BodyError> {
    let mut buffer = BytesMut::new();
    loop {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .map_err(|_| BodyError::Timeout)?;
        match frame {
            None => return Ok(buffer.freeze()),
            Some(Err(e)) => return Err(BodyError::Io(e.to_string())),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if buffer.len() + data.len() > limit {
                        return Err(BodyError::TooLarge(limit));
                    }
                    buffer.extend_from_slice(&data);
                }
            }
        }
    }
}

/// Why a streamed blob was cut off. Hyper aborts the client connection when
/// a body yields an error, so the client never sees a complete response.
#[derive(Debug)]
pub enum StreamError {
    Idle(Duration),
    Upstream(String),
    DigestMismatch { expected: Digest, actual: Digest },
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Idle(d) => write!(f, "upstream sent nothing for {d:?}"),
            StreamError::Upstream(e) => write!(f, "upstream failed mid-blob: {e}"),
            StreamError::DigestMismatch { expected, actual } => {
                write!(f, "upstream blob {expected} hashed to {actual}")
            }
        }
    }
}

impl std::error::Error for StreamError {}

pin_project_lite::pin_project! {
    /// An upstream blob body on its way to the client.
    ///
    /// Memory stays constant: at most one upstream chunk is held. When the
    /// whole blob is requested, its digest is computed on the fly and the last
    /// chunk is held back until the digest is known to match, so a client
    /// never receives a complete blob whose bytes signgate did not verify.
    /// Dropping it (client gone) drops the upstream connection, which cancels
    /// the upstream transfer.
    pub struct BlobBody {
        #[pin]
        inner: Incoming,
        #[pin]
        idle: Sleep,
        idle_timeout: Duration,
        check: Option<(DigestHasher, Digest)>,
        held: Option<Bytes>,
        done: bool,
        metrics: Arc<Metrics>,
        keeper: Option<Keeper>,
    }
}

impl BlobBody {
    /// `verify`: the digest the full body must hash to; `None` for ranges.
    pub fn new(
        inner: Incoming,
        idle_timeout: Duration,
        verify: Option<Digest>,
        metrics: Arc<Metrics>,
    ) -> BlobBody {
        BlobBody {
            inner,
            idle: tokio::time::sleep(idle_timeout),
            idle_timeout,
            check: verify.map(|d| (DigestHasher::new(d.algorithm()), d)),
            held: None,
            done: false,
            metrics,
            keeper: None,
        }
    }

    /// Also hand every chunk to `keeper` (the local store), and tell it to
    /// publish only once the whole body verified. Whole-blob transfers only.
    pub fn tee(mut self, keeper: Keeper) -> BlobBody {
        if self.check.is_some() {
            self.keeper = Some(keeper);
        }
        self
    }
}

impl Body for BlobBody {
    type Data = Bytes;
    type Error = StreamError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamError>>> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        loop {
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => {
                    ready!(this.idle.as_mut().poll(cx));
                    *this.done = true;
                    return Poll::Ready(Some(Err(StreamError::Idle(*this.idle_timeout))));
                }
                Poll::Ready(Some(Err(e))) => {
                    *this.done = true;
                    return Poll::Ready(Some(Err(StreamError::Upstream(e.to_string()))));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    this.idle
                        .as_mut()
                        .reset(Instant::now() + *this.idle_timeout);
                    let Ok(data) = frame.into_data() else {
                        // Trailers carry nothing a registry client needs.
                        continue;
                    };
                    this.metrics.blob_bytes(data.len() as u64);
                    let Some((hasher, _)) = this.check.as_mut() else {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    };
                    hasher.update(&data);
                    if this.keeper.as_ref().is_some_and(|k| !k.chunk(&data)) {
                        *this.keeper = None;
                    }
                    // Release the previous chunk, hold this one.
                    match this.held.replace(data) {
                        Some(previous) => return Poll::Ready(Some(Ok(Frame::data(previous)))),
                        None => continue,
                    }
                }
                Poll::Ready(None) => {
                    *this.done = true;
                    let Some((hasher, expected)) = this.check.take() else {
                        return Poll::Ready(None);
                    };
                    let actual = hasher.finish();
                    if actual != expected {
                        return Poll::Ready(Some(Err(StreamError::DigestMismatch {
                            expected,
                            actual,
                        })));
                    }
                    if let Some(keeper) = this.keeper.take() {
                        keeper.done();
                    }
                    // Verified: the held last chunk may go; the next poll ends the body.
                    return Poll::Ready(this.held.take().map(|last| Ok(Frame::data(last))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

// `Sleep` is `!Unpin`; `poll` comes from `Future`.
use std::future::Future as _;
