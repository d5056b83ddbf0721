//! The manifest path: resolve the tag to a digest, fetch (or reuse) the
//! digest-checked bytes, ask the gate, serve exactly the admitted bytes.

use std::sync::Arc;

use http::header::ACCEPT;
use http::{HeaderMap, HeaderValue, Response};

use super::{App, ProxyError};
use crate::decide::{Decision, Subject};
use crate::oci::{Reference, DEFAULT_MANIFEST_ACCEPT};
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
    ) -> Result<Response<ResponseBody>, ProxyError> {
        let upstream = self.upstream(target)?;
        // The client's Accept decides which manifest a tag resolves to
        // (index or single-platform); pass it on, bounded.
        let accept = headers
            .get(ACCEPT)
            .filter(|v| v.len() <= MAX_ACCEPT_LEN && !v.is_empty())
            .cloned()
            .unwrap_or(HeaderValue::from_static(DEFAULT_MANIFEST_ACCEPT));

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
                        };
                        self.caches.insert_tag(key, digest.clone());
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
            upstream: upstream.name(),
            repository: &target.repository,
            manifest: &manifest,
        };
        match self.gate.decide(subject).await {
            Decision::Admit(admission) => Ok(respond::manifest(
                &admission,
                &manifest,
                method == ReadMethod::Head,
            )),
            Decision::Deny(denial) => Err(ProxyError::Denied(denial)),
        }
    }
}
