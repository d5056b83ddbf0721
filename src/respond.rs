//! Building responses: the success builders, the one error framing (an OCI
//! error envelope with its status, from an [`ErrorReply`]), and the names of
//! the headers signgate writes.
//!
//! Architecture invariant: no other module frames an error response (which
//! error gets which status and code is decided once, in
//! `proxy::ProxyError::reply`), this module imports nothing of `proxy`, and
//! a manifest response can only be built from an [`Admission`] for the
//! exact digest being served.

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WARNING};
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::{Either, Full};

pub use crate::oci::header::{DOCKER_CONTENT_DIGEST, OCI_FILTERS_APPLIED};
use crate::oci::{Digest, ErrorCode, ErrorEnvelope, Manifest};
use crate::upstream::BlobBody;
use crate::verify::Admission;

/// Set on a manifest admitted as a proven signature artifact (material, not
/// an image): `mirror` refuses to export it as one.
pub const ADMISSION_HEADER: HeaderName = HeaderName::from_static("signgate-admission");

/// Set when the answer came from the local store, not the upstream.
pub const SERVED_FROM: HeaderName = HeaderName::from_static("signgate-served-from");

/// The distribution spec's API version header, on every answer.
const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");

/// Small bodies are shared `Bytes`; blobs stream from upstream.
pub type ResponseBody = Either<Full<Bytes>, Either<BlobBody, crate::store::FileBody>>;

const REGISTRY_2_0: HeaderValue = HeaderValue::from_static("registry/2.0");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The methods signgate serves: the `Allow` of a `405`.
pub const ALLOWED_METHODS: HeaderValue = HeaderValue::from_static("GET, HEAD");

/// What a client is told about an error: the status, the OCI code, the
/// public message and detail, and the headers that go with them. Chosen by
/// the one mapping (`proxy::ProxyError::reply`), framed by [`error`].
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorReply {
    pub status: StatusCode,
    pub code: ErrorCode,
    /// Public: never credentials, upstream URLs or internal detail.
    pub message: String,
    pub detail: Option<serde_json::Value>,
    /// `Allow` (on a `405`).
    pub allow: Option<HeaderValue>,
    /// `Retry-After`, passed on from a rate-limited upstream.
    pub retry_after: Option<HeaderValue>,
}

// === impl ErrorReply ===

impl ErrorReply {
    /// An error with no detail and no extra header.
    pub fn new(status: StatusCode, code: ErrorCode, message: String) -> ErrorReply {
        ErrorReply {
            status,
            code,
            message,
            detail: None,
            allow: None,
            retry_after: None,
        }
    }

    /// A bug: the client learns only that, the logs get the rest.
    pub fn internal() -> ErrorReply {
        ErrorReply::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unknown,
            "signgate: internal error".to_owned(),
        )
    }
}

/// A response with a small body; HEAD keeps the headers, drops the body.
pub fn bytes(
    status: StatusCode,
    content_type: HeaderValue,
    body: Bytes,
    head: bool,
) -> Response<ResponseBody> {
    let length = HeaderValue::from(body.len());
    let body = if head { Bytes::new() } else { body };
    let mut response = Response::new(Either::Left(Full::new(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(API_VERSION, REGISTRY_2_0);
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(CONTENT_LENGTH, length);
    response
}

/// `GET /v2/`: the version check every client makes first.
pub fn api_base(head: bool) -> Response<ResponseBody> {
    bytes(StatusCode::OK, JSON, Bytes::from_static(b"{}"), head)
}

/// A JSON document (tag lists, referrers).
pub fn json(content_type: HeaderValue, body: Bytes, head: bool) -> Response<ResponseBody> {
    bytes(StatusCode::OK, content_type, body, head)
}

/// Serve an admitted manifest: exactly the verified bytes, with their digest.
pub fn manifest(
    admission: &Admission,
    manifest: &Manifest,
    warnings: &[String],
    head: bool,
) -> Response<ResponseBody> {
    if admission.digest() != manifest.digest() {
        // Unreachable by construction; refusing is the only safe answer.
        tracing::error!(admitted = %admission.digest(), serving = %manifest.digest(), "admission does not match the manifest");
        return error(&ErrorReply::internal(), head);
    }
    let mut response = bytes(
        StatusCode::OK,
        manifest.media_type().clone(),
        manifest.bytes().clone(),
        head,
    );
    if let Ok(digest) = HeaderValue::from_str(manifest.digest().as_str()) {
        response.headers_mut().insert(DOCKER_CONTENT_DIGEST, digest);
    }
    for warning in warnings {
        // warn-code 299 ("miscellaneous persistent warning"), as the
        // distribution spec and Kubernetes use it.
        let text = warning.replace(['"', '\\'], "'");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{text}\"")) {
            response.headers_mut().append(WARNING, v);
        }
    }
    response
}

/// `head-denials: defer-to-get`, a `HEAD` by tag of a denied manifest: the
/// digest, type and size of a placeholder (never the denied manifest's own
/// digest, which a runtime holding it would use without asking again), so
/// the client's `GET` by that digest receives the denial with its reason.
pub fn placeholder_head(
    media_type: &'static str,
    digest: &Digest,
    size: usize,
) -> Response<ResponseBody> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::new())));
    let headers = response.headers_mut();
    headers.insert(API_VERSION, REGISTRY_2_0);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
    if let Ok(digest) = HeaderValue::from_str(digest.as_str()) {
        headers.insert(DOCKER_CONTENT_DIGEST, digest);
    }
    response
}

/// A streamed blob response with the upstream's headers already chosen.
pub fn blob(
    status: StatusCode,
    headers: http::HeaderMap,
    body: ResponseBody,
) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response.headers_mut().insert(API_VERSION, REGISTRY_2_0);
    response
}

/// Frame an error as an OCI error response: the envelope with its status
/// and the reply's headers.
pub fn error(reply: &ErrorReply, head: bool) -> Response<ResponseBody> {
    let body = ErrorEnvelope::new(reply.code, &reply.message, reply.detail.as_ref()).to_json();
    let mut response = bytes(reply.status, JSON, Bytes::from(body), head);
    let headers = response.headers_mut();
    if let Some(allow) = &reply.allow {
        headers.insert(ALLOW, allow.clone());
    }
    if let Some(retry_after) = &reply.retry_after {
        headers.insert(RETRY_AFTER, retry_after.clone());
    }
    response
}
