//! A plain HTTP/1.1 client for asserting exact statuses, headers and bytes.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The first OCI error's code and message.
    pub(crate) fn oci_error(&self) -> (String, String) {
        let v = self.json();
        (
            v["errors"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            v["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }
}

pub(crate) fn client() -> Client<HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub(crate) async fn send(method: Method, url: &str, headers: &[(&str, &str)]) -> Reply {
    let response = stream(method, url, headers).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

pub(crate) async fn stream(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
) -> http::Response<Incoming> {
    let mut request = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    client()
        .request(request.body(Empty::new()).unwrap())
        .await
        .unwrap_or_else(|e| panic!("request to {url}: {e}"))
}

pub(crate) async fn get(url: &str) -> Reply {
    send(Method::GET, url, &[]).await
}

/// PUT a small document (to seed a registry with what skopeo cannot push).
pub(crate) async fn put(url: &str, content_type: &str, body: Vec<u8>) -> StatusCode {
    let client: Client<HttpConnector, http_body_util::Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let request = Request::put(url)
        .header("content-type", content_type)
        .body(http_body_util::Full::new(Bytes::from(body)))
        .unwrap();
    client.request(request).await.expect("put").status()
}
