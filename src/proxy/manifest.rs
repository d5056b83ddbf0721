//! The manifest path: resolve the tag to a digest, fetch (or reuse) the
//! digest-checked bytes, ask the gate, serve exactly the admitted bytes.

use std::sync::Arc;

use http::header::ACCEPT;
use http::{HeaderMap, HeaderValue, Response};

use std::net::SocketAddr;

use super::gate::Subject;
use super::{App, ProxyError};
use crate::config::HeadDenials;
use crate::oci::{Reference, DEFAULT_MANIFEST_ACCEPT};
use crate::policy::Decision;
use crate::respond::{self, ResponseBody};
use crate::route::{ReadMethod, Target};
use crate::upstream::Resolved;

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
        let upstream = self.upstream(target)?;
        // A placeholder announced for a denied manifest (`head-denials:
        // defer-to-get`): refused with the denial's reason, nothing fetched.
        if let Reference::Digest(digest) = reference {
            if let Some(denial) =
                self.placeholders
                    .denial(target.upstream, &target.repository, digest)
            {
                tracing::info!(placeholder = %digest, denied = %denial.digest, "placeholder of a denied manifest: denied with the original reason");
                return Err(ProxyError::Denied((*denial).clone()));
            }
        }
        // The client's Accept decides which manifest a tag resolves to
        // (index or single-platform); pass it on, bounded.
        let accept = accept_header(headers);

        // Set when the upstream could not be asked and the local store
        // answered the tag with its last verified mapping.
        let mut tag_from_store = false;
        let (digest, prefetched) = match reference {
            Reference::Digest(digest) => (digest.clone(), None),
            Reference::Tag(tag) => {
                let key = (
                    target.upstream,
                    target.repository.clone(),
                    tag.clone(),
                    accept.clone(),
                );
                let cached = self.caches.tag(&key);
                match cached {
                    Some(digest) => (digest, None),
                    None => {
                        let (digest, prefetched) = match upstream
                            .resolve_tag(&target.repository, tag, &accept)
                            .await?
                        {
                            Resolved::Digest(digest) => (digest, None),
                            Resolved::Fetched(manifest) => {
                                (manifest.digest().clone(), Some(Arc::new(manifest)))
                            }
                            Resolved::Stored(digest) => {
                                tag_from_store = true;
                                (digest, None)
                            }
                        };
                        if !tag_from_store {
                            self.caches.insert_tag(key, digest.clone());
                        }
                        (digest, prefetched)
                    }
                }
            }
        };
        tracing::Span::current().record("digest", digest.as_str());

        let key = (target.upstream, target.repository.clone(), digest.clone());
        let manifest = match prefetched {
            Some(manifest) => {
                self.caches.insert_manifest(key, manifest.clone()).await;
                manifest
            }
            None => {
                let fetched = std::sync::atomic::AtomicBool::new(false);
                let fetch = async {
                    fetched.store(true, std::sync::atomic::Ordering::Relaxed);
                    upstream
                        .fetch_manifest(&target.repository, &digest, &accept)
                        .await
                };
                let manifest = self.caches.manifest(key, fetch).await;
                manifest?
            }
        };

        let subject = Subject {
            upstream: target.upstream,
            registry: upstream.name(),
            repository: &target.repository,
            reference: reference.as_str(),
            manifest: &manifest,
            client,
        };
        match self.gate.decide(subject).await {
            Decision::Admit {
                admission,
                mut warnings,
            } => {
                if upstream.is_offline() {
                    tracing::debug!(%digest, "offline: served from the local store");
                } else if tag_from_store || manifest.is_from_store() {
                    tracing::warn!(%digest, from_store = true, "upstream unreachable: served from the local store, verified again from the signature material kept there");
                    warnings.push(format!(
                        "signgate: upstream {} unreachable: {} served from the local store{}",
                        upstream.name(),
                        digest,
                        if tag_from_store {
                            format!(" (the last verified mapping of tag {})", reference.as_str())
                        } else {
                            String::new()
                        }
                    ));
                } else if upstream.store().is_some()
                    // A platform manifest is kept through its index's root;
                    // a signature artifact is material, never an image.
                    && !admission.is_signature_artifact()
                    && !(admission.is_listed_by_index() && matches!(reference, Reference::Digest(_)))
                {
                    let tag = match reference {
                        Reference::Tag(tag) => Some(tag),
                        Reference::Digest(_) => None,
                    };
                    upstream
                        .remember_admitted(&target.repository, tag, &manifest)
                        .await;
                }
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
                if tag_from_store || manifest.is_from_store() || upstream.is_offline() {
                    response.headers_mut().insert(
                        "signgate-served-from",
                        HeaderValue::from_static("local-store"),
                    );
                }
                Ok(response)
            }
            // Only a HEAD by tag: by digest, a runtime uses the digest it
            // asked for whatever the answer names, so any 2xx would vouch for
            // the denied digest.
            Decision::Deny(denial)
                if method == ReadMethod::Head
                    && self.head_denials == HeadDenials::DeferToGet
                    && matches!(reference, Reference::Tag(_)) =>
            {
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
                        Ok(respond::placeholder_head(&placeholder))
                    }
                    None => Err(ProxyError::Denied(denial)),
                }
            }
            Decision::Deny(denial) => Err(ProxyError::Denied(denial)),
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
