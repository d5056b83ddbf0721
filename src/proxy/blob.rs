//! The blob path: stream from upstream (following storage redirects) with
//! constant memory, verifying the digest of whole-blob transfers.

use http::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, RANGE};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::{Either, Full};

use super::{App, ProxyError};
use crate::oci::header::DOCKER_CONTENT_DIGEST;
use crate::oci::Digest;
use crate::respond::{self, ResponseBody};
use crate::route::{ReadMethod, Target};
use crate::store::FileBody;
use crate::upstream::BlobBody;

impl App {
    pub(super) async fn blob(
        &self,
        method: ReadMethod,
        target: &Target,
        digest: &Digest,
        headers: &HeaderMap,
    ) -> Result<Response<ResponseBody>, ProxyError> {
        let upstream = self.upstream(target)?;
        // A blob of a proven signature artifact is served as the bytes the
        // proof parsed, never streamed from upstream.
        if let Some(proven) = self
            .gate
            .artifact_blob(target.upstream, &target.repository, digest)
            .await
        {
            let bytes = proven.map_err(|why| ProxyError::ArtifactBlob {
                digest: digest.clone(),
                why,
            })?;
            return Ok(artifact_blob(method, digest, bytes));
        }
        if !self
            .gate
            .blob_admitted(target.upstream, &target.repository, digest)
        {
            return Err(ProxyError::BlobNotAdmitted {
                repository: target.repository.clone(),
                digest: digest.clone(),
            });
        }
        let range = headers.get(RANGE).filter(|v| is_byte_range(v)).cloned();
        let http_method = match method {
            ReadMethod::Get => Method::GET,
            ReadMethod::Head => Method::HEAD,
        };
        let response = if upstream.is_offline() {
            None
        } else {
            match upstream
                .blob(&target.repository, digest, http_method, range)
                .await
            {
                Ok(r) => Some(r),
                // The upstream cannot be reached: the store may hold it.
                Err(e) if upstream.store().is_some() && e.is_unreachable() => {
                    tracing::warn!(%digest, error = %e, "upstream unreachable: blob from the local store");
                    None
                }
                Err(e) => return Err(e.into()),
            }
        };
        let Some(response) = response else {
            return self.stored_blob(method, upstream, digest).await;
        };
        let status = response.status();
        let mut out = HeaderMap::new();
        for name in [CONTENT_LENGTH, CONTENT_RANGE, ACCEPT_RANGES, ETAG] {
            if let Some(v) = response.headers().get(&name) {
                out.insert(name, v.clone());
            }
        }
        // A manifest is never served through the blob endpoint: runtimes
        // that retry a denied manifest as a blob (containerd 1.7–2.x) must
        // not learn it exists. Blobs are served as octet streams.
        let as_manifest = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(crate::oci::is_manifest_media_type);
        if as_manifest {
            return Err(ProxyError::BlobNotAdmitted {
                repository: target.repository.clone(),
                digest: digest.clone(),
            });
        }
        octet_stream(&mut out, digest);
        let body = match method {
            ReadMethod::Head => Either::Left(Full::default()),
            ReadMethod::Get => {
                // Only a whole blob can be checked against its digest; a
                // range is checked by the client once it has every part.
                let verify = (status == StatusCode::OK).then(|| digest.clone());
                let mut body = BlobBody::new(
                    response.into_body(),
                    upstream.idle_timeout(),
                    verify,
                    upstream.metrics().clone(),
                );
                // A whole blob streamed to a client is kept as it passes,
                // committed only if every byte hashed to the digest.
                if status == StatusCode::OK {
                    if let Some(keeper) = upstream.blob_keeper(digest).await {
                        body = body.tee(keeper);
                    }
                }
                Either::Right(Either::Left(body))
            }
        };
        Ok(respond::blob(status, out, body))
    }

    /// A blob from the local store: offline, or the upstream unreachable.
    async fn stored_blob(
        &self,
        method: ReadMethod,
        upstream: &crate::upstream::Upstream,
        digest: &Digest,
    ) -> Result<Response<ResponseBody>, ProxyError> {
        let Some((file, size)) = upstream.stored_blob(digest).await else {
            return Err(crate::upstream::UpstreamError::new(
                upstream.name(),
                crate::upstream::UpstreamErrorKind::NotFound {
                    resource: crate::upstream::Resource::Blob,
                    in_store: true,
                },
            )
            .into());
        };
        let mut out = HeaderMap::new();
        out.insert(CONTENT_LENGTH, HeaderValue::from(size));
        out.insert(
            respond::SERVED_FROM,
            HeaderValue::from_static("local-store"),
        );
        octet_stream(&mut out, digest);
        let body = match method {
            ReadMethod::Head => Either::Left(Full::default()),
            ReadMethod::Get => Either::Right(Either::Right(FileBody::new(file, size))),
        };
        Ok(respond::blob(StatusCode::OK, out, body))
    }
}

/// Every blob answer is an octet stream named by its digest.
fn octet_stream(out: &mut HeaderMap, digest: &Digest) {
    out.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(digest.as_str()) {
        out.insert(DOCKER_CONTENT_DIGEST, v);
    }
}

/// A proven artifact blob, whole (small; ranges are not worth serving).
fn artifact_blob(
    method: ReadMethod,
    digest: &Digest,
    bytes: bytes::Bytes,
) -> Response<ResponseBody> {
    let mut out = HeaderMap::new();
    out.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    octet_stream(&mut out, digest);
    let body = match method {
        ReadMethod::Head => Full::default(),
        ReadMethod::Get => Full::new(bytes),
    };
    respond::blob(StatusCode::OK, out, Either::Left(body))
}

/// `bytes=…` ranges only, short and printable.
fn is_byte_range(v: &HeaderValue) -> bool {
    v.len() <= 128
        && v.to_str().is_ok_and(|s| {
            s.strip_prefix("bytes=")
                .is_some_and(|r| r.bytes().all(|b| b.is_ascii_digit() || b"-, ".contains(&b)))
        })
}
