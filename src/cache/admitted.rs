//! What admissions make servable: platform manifests listed by an admitted
//! index, blobs referenced by admitted manifests, and the blobs of proven
//! signature artifacts. Keyed by policy revision: a reload (a key rotation)
//! stops serving what it no longer admits.

use std::time::Duration;

use crate::oci::{Digest, Repository};
use crate::policy::DecisionTtls;
use crate::route::UpstreamId;
use crate::verify::Admission;

type AdmittedKey = (UpstreamId, Repository, Digest, u64);

pub struct Admitted {
    /// Platform manifests listed by an admitted index, with that admission.
    children: moka::sync::Cache<AdmittedKey, Admission>,
    /// Blobs referenced by admitted manifests; `None` = `blobs: passthrough`.
    blobs: Option<moka::sync::Cache<AdmittedKey, ()>>,
    /// Blobs of proven-inert signature artifacts, with their size (the
    /// fetch bound): served only as the bytes of that digest, which are the
    /// bytes the proof parsed.
    artifact_blobs: moka::sync::Cache<AdmittedKey, usize>,
}

impl Admitted {
    pub fn new(ttls: DecisionTtls, strict_blobs: bool) -> Admitted {
        Admitted {
            children: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(ttls.allow)
                .build(),
            blobs: strict_blobs.then(|| {
                moka::sync::Cache::builder()
                    .max_capacity(1_000_000)
                    .time_to_idle(Duration::from_secs(24 * 3600))
                    .build()
            }),
            // Outlives the admission it came with, so a cached admission's
            // blobs stay servable.
            artifact_blobs: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttls.allow + Duration::from_secs(60))
                .build(),
        }
    }

    /// The admission of an index that lists this manifest.
    pub fn listed_by(&self, key: &AdmittedKey) -> Option<Admission> {
        self.children.get(key)
    }

    pub fn admit_child(&self, key: AdmittedKey, index: Admission) {
        self.children.insert(key, index);
    }

    /// Whether a blob may be served (always, under `blobs: passthrough`).
    pub fn blob(&self, key: &AdmittedKey) -> bool {
        match &self.blobs {
            None => true,
            Some(blobs) => blobs.contains_key(key),
        }
    }

    /// Make a blob servable; one already servable is left as it is.
    pub fn admit_blob(&self, key: AdmittedKey) {
        if let Some(blobs) = &self.blobs {
            if !blobs.contains_key(&key) {
                blobs.insert(key, ());
            }
        }
    }

    /// The size of a proven signature artifact's blob.
    pub fn artifact_blob(&self, key: &AdmittedKey) -> Option<usize> {
        self.artifact_blobs.get(key)
    }

    pub fn admit_artifact_blob(&self, key: AdmittedKey, size: usize) {
        self.artifact_blobs.insert(key, size);
    }
}
