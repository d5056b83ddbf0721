//! In-process fake upstreams, for hostile behaviour no real registry shows:
//! lying digests, oversized manifests, endless slow blobs, storage
//! redirects, a referrers API. Each records the requests it received.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

pub(crate) type FakeBody = BoxBody<Bytes, std::io::Error>;

#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
}

pub(crate) type Handler = Arc<dyn Fn(&Recorded) -> Response<FakeBody> + Send + Sync>;

pub(crate) struct Fake {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Fake {
    pub(crate) async fn start(
        handler: impl Fn(&Recorded) -> Response<FakeBody> + Send + Sync + 'static,
    ) -> Fake {
        let handler: Handler = Arc::new(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let handler = handler.clone();
                let recorded = recorded.clone();
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let r = Recorded {
                        method: req.method().clone(),
                        path: req.uri().path().to_owned(),
                        query: req.uri().query().map(str::to_owned),
                        headers: req.headers().clone(),
                    };
                    recorded.lock().unwrap().push(r.clone());
                    let response = handler(&r);
                    async move { Ok::<_, Infallible>(response) }
                });
                tokio::spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Fake { port, requests }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

/// A complete response.
pub(crate) fn reply(
    status: StatusCode,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Response<FakeBody> {
    let body: Bytes = body.into();
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.header("content-length", body.len())
        .body(Full::new(body).map_err(|never| match never {}).boxed())
        .unwrap()
}

pub(crate) fn not_found() -> Response<FakeBody> {
    reply(
        StatusCode::NOT_FOUND,
        &[("content-type", "application/json")],
        r#"{"errors":[{"code":"NAME_UNKNOWN","message":"not here"}]}"#,
    )
}

/// An endless body: one chunk every `interval`. `dropped` turns true when
/// the server drops it, i.e. when the transfer is cancelled.
pub(crate) struct Dripping {
    pub chunk: Bytes,
    pub interval: Duration,
    pub dropped: Arc<AtomicBool>,
    /// Chunks left to send; `None` drips forever.
    pub remaining: Option<usize>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Dripping {
    pub(crate) fn new(chunk_size: usize, interval: Duration, dropped: Arc<AtomicBool>) -> Dripping {
        Dripping {
            chunk: Bytes::from(vec![7u8; chunk_size]),
            interval,
            dropped,
            remaining: None,
            sleep: None,
        }
    }

    /// Stop after `chunks` chunks.
    pub(crate) fn finite(mut self, chunks: usize) -> Dripping {
        self.remaining = Some(chunks);
        self
    }
}

impl Body for Dripping {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.remaining == Some(0) {
            return Poll::Ready(None);
        }
        let interval = self.interval;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(interval)));
        match sleep.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.sleep = None;
                if let Some(n) = self.remaining.as_mut() {
                    *n -= 1;
                }
                Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
            }
        }
    }
}

impl Drop for Dripping {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

use std::future::Future as _;
