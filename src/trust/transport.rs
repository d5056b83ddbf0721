//! `sigstore_tuf::Repository` over signgate's own hyper client (rustls, or
//! plain HTTP: TUF metadata is signed end to end, so a mirror over HTTP is
//! acceptable). Every fetch is bounded: connect and read timeouts, and the
//! body cut off at the `max_length` the TUF client allows while reading.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sigstore_tuf::transport::FetchFuture;
use sigstore_tuf::{Error, Repository};
use url::Url;

type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Time to connect to a mirror.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for one whole file: response headers and body.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A TUF mirror over HTTP(S): metadata at `<mirror>/<name>`, targets at
/// `<mirror>/targets/<path>`.
pub(crate) struct HyperRepository {
    client: HttpClient,
    metadata: Url,
    targets: Url,
}

impl HyperRepository {
    pub(crate) fn new(mirror: &Url) -> Result<HyperRepository, String> {
        let mut base = mirror.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let targets = base
            .join("targets/")
            .map_err(|e| format!("mirror '{mirror}': {e}"))?;
        Ok(HyperRepository {
            client: client()?,
            metadata: base,
            targets,
        })
    }

    async fn fetch(
        &self,
        base: &Url,
        name: &str,
        max_length: u64,
    ) -> sigstore_tuf::Result<Option<Vec<u8>>> {
        let url = base
            .join(name)
            .map_err(|e| Error::transport(format!("'{name}': {e}")))?;
        // Never leave the mirror: a name that joins to another origin is refused.
        if url.origin() != base.origin() || !url.as_str().starts_with(base.as_str()) {
            return Err(Error::transport(format!("'{name}' leaves the mirror")));
        }
        let request = http::Request::get(url.as_str())
            .header(
                http::header::USER_AGENT,
                concat!("signgate/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| Error::transport(format!("{url}: {e}")))?;
        let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
        let response = tokio::time::timeout_at(deadline, self.client.request(request))
            .await
            .map_err(|_| Error::transport(format!("{url}: timed out")))?
            .map_err(|e| Error::transport(format!("{url}: {}", error_chain(&e))))?;
        let status = response.status();
        if status == http::StatusCode::NOT_FOUND || status == http::StatusCode::FORBIDDEN {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(Error::transport(format!("{url}: HTTP {status}")));
        }
        let limit = usize::try_from(max_length).unwrap_or(usize::MAX);
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        loop {
            let frame = tokio::time::timeout_at(deadline, body.frame())
                .await
                .map_err(|_| Error::transport(format!("{url}: timed out reading the body")))?;
            match frame {
                None => return Ok(Some(bytes)),
                Some(Err(e)) => return Err(Error::transport(format!("{url}: {e}"))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if bytes.len().saturating_add(data.len()) > limit {
                            return Err(Error::transport(format!(
                                "{url}: larger than {max_length} bytes"
                            )));
                        }
                        bytes.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

impl Repository for HyperRepository {
    fn fetch_metadata<'a>(&'a self, name: &'a str, max_length: u64) -> FetchFuture<'a> {
        Box::pin(self.fetch(&self.metadata, name, max_length))
    }

    fn fetch_target<'a>(&'a self, path: &'a str, max_length: u64) -> FetchFuture<'a> {
        Box::pin(self.fetch(&self.targets, path, max_length))
    }
}

/// The error and its causes, for a log line that says why a connection failed.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A client with the system roots (the Mozilla set when the system has
/// none), HTTPS or plain HTTP.
fn client() -> Result<HttpClient, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = crate::upstream::system_roots();
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector))
}

#[cfg(test)]
mod tests {
    //! A hostile in-process mirror (no real server sends these): an endless
    //! body, a 404, a 500.
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Answer every connection with `head`, then `body_chunks` × 64 KiB.
    async fn fake(head: &'static str, body_chunks: usize) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = conn.read(&mut buf).await;
                    let _ = conn.write_all(head.as_bytes()).await;
                    let chunk = vec![b'x'; 64 * 1024];
                    for _ in 0..body_chunks {
                        if conn.write_all(&chunk).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn an_endless_body_is_cut_at_max_length() {
        let url = fake("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n", 10_000).await;
        let repo = HyperRepository::new(&url).unwrap();
        let e = repo
            .fetch_metadata("timestamp.json", 16_384)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("larger than 16384 bytes"), "{e}");
    }

    #[tokio::test]
    async fn not_found_is_none_and_a_server_error_is_an_error() {
        let url = fake("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", 0).await;
        let repo = HyperRepository::new(&url).unwrap();
        assert!(repo
            .fetch_metadata("2.root.json", 1000)
            .await
            .unwrap()
            .is_none());
        let url = fake("HTTP/1.1 500 Oops\r\ncontent-length: 0\r\n\r\n", 0).await;
        let repo = HyperRepository::new(&url).unwrap();
        let e = repo.fetch_target("x.json", 1000).await.unwrap_err();
        assert!(e.to_string().contains("HTTP 500"), "{e}");
    }

    #[tokio::test]
    async fn a_name_cannot_leave_the_mirror() {
        let url = fake("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 0).await;
        let repo = HyperRepository::new(&url).unwrap();
        for name in ["http://other.test/x.json", "../x.json", "//other.test/x"] {
            let e = repo.fetch_target(name, 1000).await.unwrap_err();
            assert!(e.to_string().contains("leaves the mirror"), "{name}: {e}");
        }
    }
}
