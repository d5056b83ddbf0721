//! The typed door to the gate: one image in, the gate's verdict out, with
//! everything the manifest path does on the way — resolve the tag to a
//! digest, fetch (or reuse) the digest-checked bytes, ask the gate, and
//! keep what it admitted in the local store. The HTTP manifest handler
//! (`manifest.rs`) and the one-shot commands (`verify`, `mirror`) both
//! come through here, so they cannot disagree.

use std::net::SocketAddr;
use std::sync::Arc;

use http::HeaderValue;

use super::gate::Subject;
use super::{App, ProxyError};
use crate::oci::Manifest;
use crate::oci::{Digest, ImageRef, Reference, DEFAULT_MANIFEST_ACCEPT};
use crate::policy::{Decision, Denial};
use crate::route::Target;
use crate::upstream::Resolved;
use crate::verify::Admission;

/// What the gate said about one image.
#[derive(Debug)]
pub enum ImageVerdict {
    Admitted(AdmittedImage),
    Denied(Denial),
}

/// An admitted manifest: exactly the bytes to serve, and why.
#[derive(Debug)]
pub struct AdmittedImage {
    pub admission: Admission,
    pub manifest: Arc<Manifest>,
    /// Failures tolerated by `mode: warn` or `no-match-policy: warn`, and
    /// a note when the local store answered for an unreachable upstream.
    pub warnings: Vec<String>,
    /// Answered by the local store (offline, or the upstream unreachable).
    pub from_local_store: bool,
}

impl ImageVerdict {
    /// The digest decided on.
    pub fn digest(&self) -> &Digest {
        match self {
            ImageVerdict::Admitted(admitted) => admitted.admission.digest(),
            ImageVerdict::Denied(denial) => &denial.digest,
        }
    }
}

impl App {
    /// Decide on `image` as a client pulling it would be answered (with
    /// the full manifest list `Accept`): by its admission or its denial;
    /// an error is what stopped the gate from deciding.
    pub async fn decide_image(&self, image: &ImageRef) -> Result<ImageVerdict, ProxyError> {
        let target = self.router.image_target(image)?;
        self.decide(
            &target,
            &image.reference,
            HeaderValue::from_static(DEFAULT_MANIFEST_ACCEPT),
            None,
        )
        .await
    }

    /// The manifest path up to the verdict, for a client whose `Accept`
    /// decides which manifest a tag resolves to.
    pub(super) async fn decide(
        &self,
        target: &Target,
        reference: &Reference,
        accept: HeaderValue,
        client: Option<SocketAddr>,
    ) -> Result<ImageVerdict, ProxyError> {
        let upstream = self.upstream(target)?;
        // A placeholder announced for a denied manifest (`head-denials:
        // defer-to-get`): refused with the denial's reason, nothing fetched.
        if let Reference::Digest(digest) = reference {
            if let Some(denial) =
                self.placeholders
                    .denial(target.upstream, &target.repository, digest)
            {
                tracing::info!(placeholder = %digest, denied = %denial.digest, "placeholder of a denied manifest: denied with the original reason");
                return Ok(ImageVerdict::Denied((*denial).clone()));
            }
        }

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
                match self.caches.tag(&key) {
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
                let fetch = upstream.fetch_manifest(&target.repository, &digest, &accept);
                self.caches.manifest(key, fetch).await?
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
                // The one check `respond::manifest` makes, here too, before
                // anything is kept: the CLI reads this verdict directly.
                if admission.digest() != manifest.digest() {
                    return Err(ProxyError::Internal(format!(
                        "admission for {} offered for {}",
                        admission.digest(),
                        manifest.digest()
                    )));
                }
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
                let from_local_store =
                    tag_from_store || manifest.is_from_store() || upstream.is_offline();
                Ok(ImageVerdict::Admitted(AdmittedImage {
                    admission,
                    manifest,
                    warnings,
                    from_local_store,
                }))
            }
            Decision::Deny(denial) => Ok(ImageVerdict::Denied(denial)),
        }
    }
}

impl ProxyError {
    /// The message a client is sent for this error (the OCI error body's
    /// `message`): an internal error's detail stays in the logs.
    pub fn public_message(&self) -> String {
        match self {
            ProxyError::Internal(_) => "signgate: internal error".to_owned(),
            other => format!("signgate: {other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_keeps_its_detail_out_of_the_public_message() {
        assert_eq!(
            ProxyError::Internal("the secret path".into()).public_message(),
            "signgate: internal error"
        );
        let e = ProxyError::Route(crate::route::RouteError::NoDefaultUpstream);
        assert_eq!(e.public_message(), format!("signgate: {e}"));
    }
}
