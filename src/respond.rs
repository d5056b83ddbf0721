//! Building responses: the single place where errors become HTTP (an OCI
//! error envelope with the right status), and the success builders.
//!
//! Architecture invariant: no other module turns an error into a response,
//! and a manifest response can only be built from an [`Admission`] for the
//! exact digest being served.
// No request may panic: index with `get`, never `[]`.
#![deny(clippy::indexing_slicing)]

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WARNING};
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::{Either, Full};

use crate::oci::header::DOCKER_CONTENT_DIGEST;
use crate::oci::{ErrorCode, ErrorEnvelope, Manifest};
use crate::proxy::{Placeholder, ProxyError, PLACEHOLDER_MEDIA_TYPE};
use crate::route::RouteError;
use crate::upstream::{BlobBody, Resource, UpstreamErrorKind};
use crate::verify::Admission;

/// Set on a manifest admitted as a proven signature artifact (material, not
/// an image): `mirror` refuses to export it as one.
pub const ADMISSION_HEADER: &str = "signgate-admission";

/// Small bodies are shared `Bytes`; blobs stream from upstream.
pub type ResponseBody = Either<Full<Bytes>, Either<BlobBody, crate::store::FileBody>>;

const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");
const REGISTRY_2_0: HeaderValue = HeaderValue::from_static("registry/2.0");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

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
        return error(
            &ProxyError::Internal("admission does not match the manifest".into()),
            head,
        );
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
pub fn placeholder_head(placeholder: &Placeholder) -> Response<ResponseBody> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::new())));
    let headers = response.headers_mut();
    headers.insert(API_VERSION, REGISTRY_2_0);
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(PLACEHOLDER_MEDIA_TYPE),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(placeholder.size()));
    if let Ok(digest) = HeaderValue::from_str(placeholder.digest().as_str()) {
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

/// Turn any error on the request path into an OCI error response.
pub fn error(err: &ProxyError, head: bool) -> Response<ResponseBody> {
    let (status, code) = status_and_code(err);
    let message = match err {
        // Details of internal errors stay in the logs.
        ProxyError::Internal(_) => "signgate: internal error".to_owned(),
        other => format!("signgate: {other}"),
    };
    let detail = match err {
        ProxyError::Denied(denial) => Some(denial.detail()),
        _ => None,
    };
    let body = ErrorEnvelope::new(code, &message, detail.as_ref()).to_json();
    let mut response = bytes(status, JSON, Bytes::from(body), head);
    let headers = response.headers_mut();
    match err {
        ProxyError::Route(RouteError::MethodNotAllowed(_)) => {
            headers.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        ProxyError::Upstream(e) => {
            if let UpstreamErrorKind::RateLimited {
                retry_after: Some(r),
            } = &e.kind
            {
                if let Ok(v) = HeaderValue::from_str(r) {
                    headers.insert(RETRY_AFTER, v);
                }
            }
        }
        _ => {}
    }
    response
}

fn status_and_code(err: &ProxyError) -> (StatusCode, ErrorCode) {
    match err {
        ProxyError::Route(e) => match e {
            RouteError::NotFound(_) | RouteError::NoDefaultUpstream => {
                (StatusCode::NOT_FOUND, ErrorCode::NameUnknown)
            }
            RouteError::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::Unsupported)
            }
            RouteError::Name(_) => (StatusCode::BAD_REQUEST, ErrorCode::NameInvalid),
            RouteError::Reference(crate::oci::ReferenceError::Tag(_)) => {
                (StatusCode::BAD_REQUEST, ErrorCode::ManifestInvalid)
            }
            RouteError::Reference(crate::oci::ReferenceError::Digest(_))
            | RouteError::Digest(_) => (StatusCode::BAD_REQUEST, ErrorCode::DigestInvalid),
            RouteError::UnconfiguredRegistry(_) => (StatusCode::FORBIDDEN, ErrorCode::Denied),
            RouteError::Query(..) => (StatusCode::BAD_REQUEST, ErrorCode::Unsupported),
        },
        ProxyError::Upstream(e) => match &e.kind {
            UpstreamErrorKind::NotFound { resource, .. } => (
                StatusCode::NOT_FOUND,
                match resource {
                    Resource::Manifest | Resource::Tag => ErrorCode::ManifestUnknown,
                    Resource::Blob => ErrorCode::BlobUnknown,
                    Resource::Repository | Resource::Referrers => ErrorCode::NameUnknown,
                },
            ),
            UpstreamErrorKind::Unauthorized(_) | UpstreamErrorKind::Token(_) => {
                (StatusCode::BAD_GATEWAY, ErrorCode::Unauthorized)
            }
            UpstreamErrorKind::RateLimited { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyRequests)
            }
            UpstreamErrorKind::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, ErrorCode::Unknown),
            UpstreamErrorKind::DigestMismatch { .. } => {
                (StatusCode::BAD_GATEWAY, ErrorCode::DigestInvalid)
            }
            UpstreamErrorKind::TooLarge {
                what: "manifest", ..
            }
            | UpstreamErrorKind::Unreadable { .. } => {
                (StatusCode::BAD_GATEWAY, ErrorCode::ManifestInvalid)
            }
            UpstreamErrorKind::TooLarge { .. } => (StatusCode::BAD_GATEWAY, ErrorCode::SizeInvalid),
            UpstreamErrorKind::Status(..)
            | UpstreamErrorKind::Connect(_)
            | UpstreamErrorKind::BadResponse(_) => (StatusCode::BAD_GATEWAY, ErrorCode::Unknown),
        },
        ProxyError::Denied(_) | ProxyError::BlobNotAdmitted { .. } => {
            (StatusCode::FORBIDDEN, ErrorCode::Denied)
        }
        ProxyError::ArtifactBlob { .. } => (StatusCode::BAD_GATEWAY, ErrorCode::Unknown),
        ProxyError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Unknown),
    }
}
