//! The manifest path over HTTP: the verdict from `App::decide` (tag
//! resolved, digest-checked bytes fetched or reused, the gate asked), then
//! exactly the admitted bytes served, or the denial.

use http::header::ACCEPT;
use http::{HeaderMap, HeaderValue, Response};

use std::net::SocketAddr;

use super::image::{AdmittedImage, ImageVerdict};
use super::{App, ProxyError, PLACEHOLDER_MEDIA_TYPE};
use crate::config::HeadDenials;
use crate::oci::{Reference, DEFAULT_MANIFEST_ACCEPT};
use crate::respond::{self, ResponseBody};
use crate::route::{ReadMethod, Target};

/// Longest client `Accept` header passed upstream.
const MAX_ACCEPT_LEN: usize = 1024;

impl App {
    pub(super) async fn manifest(
        &self,
        method: ReadMethod,
        target: &Target,
        reference: &Reference,
        headers: &HeaderMap,
        client: Option<SocketAddr>,
    ) -> Result<Response<ResponseBody>, ProxyError> {
        // The client's Accept decides which manifest a tag resolves to
        // (index or single-platform); pass it on, bounded.
        let accept = accept_header(headers);
        // Boxed, off the worker's stack: verifying from the local store
        // nests deep enough to overflow a debug build's 2 MiB worker stack.
        match Box::pin(self.decide(target, reference, accept, client)).await? {
            ImageVerdict::Admitted(AdmittedImage {
                admission,
                manifest,
                warnings,
                from_local_store,
            }) => {
                let mut response =
                    respond::manifest(&admission, &manifest, &warnings, method == ReadMethod::Head);
                // Says what was admitted, so `mirror` never exports signature
                // material as an image.
                if admission.is_signature_artifact() {
                    response.headers_mut().insert(
                        crate::respond::ADMISSION_HEADER,
                        HeaderValue::from_static("signature-artifact"),
                    );
                }
                if from_local_store {
                    response.headers_mut().insert(
                        respond::SERVED_FROM,
                        HeaderValue::from_static("local-store"),
                    );
                }
                Ok(response)
            }
            // Only a HEAD by tag: by digest, a runtime uses the digest it
            // asked for whatever the answer names, so any 2xx would vouch for
            // the denied digest.
            ImageVerdict::Denied(denial)
                if method == ReadMethod::Head
                    && self.head_denials == HeadDenials::DeferToGet
                    && matches!(reference, Reference::Tag(_)) =>
            {
                let upstream = self.upstream(target)?;
                let revision = self.gate.policies().revision();
                match self.placeholders.make(
                    target.upstream,
                    upstream.name(),
                    &target.repository,
                    &denial,
                    revision,
                ) {
                    Some(placeholder) => {
                        tracing::info!(digest = %denial.digest, placeholder = %placeholder.digest(), "denied manifest: HEAD answered with a placeholder, its GET is denied (head-denials: defer-to-get)");
                        Ok(respond::placeholder_head(
                            PLACEHOLDER_MEDIA_TYPE,
                            placeholder.digest(),
                            placeholder.size(),
                        ))
                    }
                    None => Err(ProxyError::Denied(denial)),
                }
            }
            ImageVerdict::Denied(denial) => Err(ProxyError::Denied(denial)),
        }
    }
}

/// The client's `Accept`, all header lines joined (skopeo sends one line per
/// type), bounded; the full manifest list when it sent none.
fn accept_header(headers: &HeaderMap) -> HeaderValue {
    let mut joined = Vec::new();
    for value in headers.get_all(ACCEPT) {
        if !joined.is_empty() {
            joined.extend_from_slice(b", ");
        }
        joined.extend_from_slice(value.as_bytes());
    }
    if joined.is_empty() || joined.len() > MAX_ACCEPT_LEN {
        return HeaderValue::from_static(DEFAULT_MANIFEST_ACCEPT);
    }
    HeaderValue::from_bytes(&joined).unwrap_or(HeaderValue::from_static(DEFAULT_MANIFEST_ACCEPT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_lines_are_joined_and_bounded() {
        let mut h = HeaderMap::new();
        assert_eq!(accept_header(&h), DEFAULT_MANIFEST_ACCEPT);
        h.append(ACCEPT, HeaderValue::from_static("a/b"));
        h.append(ACCEPT, HeaderValue::from_static("c/d"));
        assert_eq!(accept_header(&h), "a/b, c/d");
        h.append(ACCEPT, HeaderValue::from_str(&"x".repeat(2000)).unwrap());
        assert_eq!(accept_header(&h), DEFAULT_MANIFEST_ACCEPT);
    }
}
