//! Signature material waiting for its subject's verdict, in memory.
//!
//! Discovery fetches an image's signature manifests, referrer lists and
//! payloads before the gate decides; only an admitted digest's material
//! may be kept. So what discovery fetched is held here per subject digest,
//! written to disk when the gate admits that digest
//! ([`super::Store::commit_material`]), and otherwise dropped: by age, or
//! oldest first when the bounds are reached. Nothing here is ever a root.
//!
//! Besides the material, two lookups tie later fetches to a subject: the
//! digests a held signature manifest or referrer list names (its layers,
//! the referrer manifests), and the platform manifests of admitted indexes,
//! which are kept as they are fetched.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Descriptor;
use crate::oci::{Digest, RegistryName, Repository, Tag};

/// Total bytes held, across subjects. Discovery of one digest is bounded
/// far below this; the bytes are shared with the caches that hold them too.
const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Subjects with material held at once.
const MAX_SUBJECTS: usize = 1024;
/// Digests awaited (material layers, referrers, platform manifests).
const MAX_EXPECTED: usize = 16 * 1024;
/// A verdict follows discovery within one request; anything older belongs
/// to a digest that was not admitted.
const TTL: Duration = Duration::from_secs(600);
const EXPIRY_INTERVAL: Duration = Duration::from_secs(1);

/// One piece of material.
#[derive(Debug, Clone)]
pub enum Material {
    /// A blob: a payload, a referrer manifest, a manifest kept by digest.
    Blob { digest: Digest, bytes: Bytes },
    /// A manifest kept under a tag (`sha256-<hex>.sig`, `.att`, the
    /// referrers tag schema's `sha256-<hex>`).
    Tagged {
        registry: RegistryName,
        repository: Repository,
        tag: Tag,
        descriptor: Descriptor,
        bytes: Bytes,
    },
}

impl Material {
    fn len(&self) -> usize {
        match self {
            Material::Blob { bytes, .. } | Material::Tagged { bytes, .. } => bytes.len(),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Pending {
    held: HashMap<Digest, Held>,
    /// Digest → the subjects whose held material names it.
    expected: HashMap<Digest, Expected>,
    /// Platform manifests an admitted index lists.
    children: HashMap<Digest, Instant>,
    bytes: usize,
    /// When entries were last aged out: at most once a second, so a hold
    /// costs a map insert, not a scan of every entry.
    expired_at: Option<Instant>,
}

#[derive(Debug)]
struct Held {
    since: Instant,
    items: Vec<Material>,
    bytes: usize,
}

#[derive(Debug)]
struct Expected {
    since: Instant,
    subjects: Vec<Digest>,
}

impl Pending {
    /// Hold `item` for `subject`; false when it does not fit at all.
    pub(super) fn hold(&mut self, subject: &Digest, item: Material) -> bool {
        let now = Instant::now();
        self.expire(now);
        let len = item.len();
        if len > MAX_BYTES {
            return false;
        }
        if let Some(held) = self.held.get(subject) {
            if held.items.iter().any(|i| same(i, &item)) {
                return true;
            }
        }
        while self.bytes + len > MAX_BYTES
            || (!self.held.contains_key(subject) && self.held.len() >= MAX_SUBJECTS)
        {
            if !self.evict_oldest(subject) {
                break;
            }
        }
        if self.bytes + len > MAX_BYTES {
            return false;
        }
        let held = self.held.entry(subject.clone()).or_insert_with(|| Held {
            since: now,
            items: Vec::new(),
            bytes: 0,
        });
        held.items.push(item);
        held.bytes += len;
        self.bytes += len;
        true
    }

    /// `digests` belong to `subject`'s material: hold them for it when
    /// they are fetched.
    pub(super) fn expect(&mut self, subject: &Digest, digests: impl IntoIterator<Item = Digest>) {
        let now = Instant::now();
        self.expire(now);
        for digest in digests {
            if !self.expected.contains_key(&digest) && self.expected.len() >= MAX_EXPECTED {
                self.evict_oldest_expected();
            }
            let entry = self.expected.entry(digest).or_insert_with(|| Expected {
                since: now,
                subjects: Vec::new(),
            });
            if !entry.subjects.contains(subject) {
                entry.subjects.push(subject.clone());
            }
        }
    }

    /// The subjects whose material names `digest`.
    pub(super) fn subjects_of(&self, digest: &Digest) -> Vec<Digest> {
        self.expected
            .get(digest)
            .filter(|e| e.since.elapsed() < TTL)
            .map(|e| e.subjects.clone())
            .unwrap_or_default()
    }

    /// Remember the platform manifests of an admitted index.
    pub(super) fn expect_children(&mut self, children: impl IntoIterator<Item = Digest>) {
        let now = Instant::now();
        self.expire(now);
        for child in children {
            if !self.children.contains_key(&child) && self.children.len() >= MAX_EXPECTED {
                if let Some(oldest) = oldest(self.children.iter().map(|(d, t)| (d, *t))) {
                    self.children.remove(&oldest);
                }
            }
            self.children.insert(child, now);
        }
    }

    pub(super) fn is_child(&self, digest: &Digest) -> bool {
        self.children.get(digest).is_some_and(|t| t.elapsed() < TTL)
    }

    /// Everything held for `subject`, no longer held.
    pub(super) fn take(&mut self, subject: &Digest) -> Vec<Material> {
        self.expire(Instant::now());
        let Some(held) = self.held.remove(subject) else {
            return Vec::new();
        };
        self.bytes -= held.bytes;
        self.expected.retain(|_, e| {
            e.subjects.retain(|s| s != subject);
            !e.subjects.is_empty()
        });
        if held.since.elapsed() >= TTL {
            return Vec::new();
        }
        held.items
    }

    #[cfg(test)]
    pub(super) fn held_bytes(&self) -> usize {
        self.bytes
    }

    fn expire(&mut self, now: Instant) {
        if self
            .expired_at
            .is_some_and(|t| now.duration_since(t) < EXPIRY_INTERVAL)
        {
            return;
        }
        self.expired_at = Some(now);
        let mut freed = 0;
        self.held.retain(|_, h| {
            let keep = now.duration_since(h.since) < TTL;
            if !keep {
                freed += h.bytes;
            }
            keep
        });
        self.bytes -= freed;
        self.expected
            .retain(|_, e| now.duration_since(e.since) < TTL);
        self.children.retain(|_, t| now.duration_since(*t) < TTL);
    }

    /// Drop the oldest subject other than `keep`; false when there is none.
    fn evict_oldest(&mut self, keep: &Digest) -> bool {
        let victim = oldest(
            self.held
                .iter()
                .filter(|(d, _)| *d != keep)
                .map(|(d, h)| (d, h.since)),
        );
        match victim {
            Some(victim) => {
                tracing::debug!(subject = %victim, "store: dropping signature material never admitted");
                self.take(&victim);
                true
            }
            None => false,
        }
    }

    fn evict_oldest_expected(&mut self) {
        if let Some(victim) = oldest(self.expected.iter().map(|(d, e)| (d, e.since))) {
            self.expected.remove(&victim);
        }
    }
}

fn oldest<'a>(entries: impl Iterator<Item = (&'a Digest, Instant)>) -> Option<Digest> {
    entries.min_by_key(|(_, t)| *t).map(|(d, _)| d.clone())
}

fn same(a: &Material, b: &Material) -> bool {
    match (a, b) {
        (Material::Blob { digest: x, .. }, Material::Blob { digest: y, .. }) => x == y,
        (
            Material::Tagged {
                registry: r1,
                repository: p1,
                tag: t1,
                descriptor: d1,
                ..
            },
            Material::Tagged {
                registry: r2,
                repository: p2,
                tag: t2,
                descriptor: d2,
                ..
            },
        ) => r1 == r2 && p1 == p2 && t1 == t2 && d1.digest == d2.digest,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(n: usize, fill: u8) -> Material {
        let bytes = Bytes::from(vec![fill; n]);
        Material::Blob {
            digest: Digest::sha256_of(&bytes),
            bytes,
        }
    }

    fn d(s: &[u8]) -> Digest {
        Digest::sha256_of(s)
    }

    #[test]
    fn held_material_is_taken_once_for_its_subject_only() {
        let mut p = Pending::default();
        assert!(p.hold(&d(b"a"), blob(10, 1)));
        assert!(
            p.hold(&d(b"a"), blob(10, 1)),
            "the same blob twice is held once"
        );
        assert!(p.hold(&d(b"b"), blob(5, 2)));
        assert_eq!(p.held_bytes(), 15);
        assert_eq!(p.take(&d(b"a")).len(), 1);
        assert!(p.take(&d(b"a")).is_empty());
        assert_eq!(p.held_bytes(), 5);
    }

    #[test]
    fn the_byte_bound_drops_the_oldest_subject() {
        let mut p = Pending::default();
        let half = MAX_BYTES / 2 + 1;
        assert!(p.hold(&d(b"old"), blob(half, 1)));
        assert!(p.hold(&d(b"new"), blob(half, 2)));
        assert!(p.take(&d(b"old")).is_empty(), "evicted");
        assert_eq!(p.take(&d(b"new")).len(), 1);
        assert!(!p.hold(&d(b"x"), blob(MAX_BYTES + 1, 3)), "never fits");
        assert_eq!(p.held_bytes(), 0);
    }

    #[test]
    fn the_subject_bound_drops_the_oldest_subject() {
        let mut p = Pending::default();
        for n in 0..=MAX_SUBJECTS {
            assert!(p.hold(&d(&n.to_be_bytes()), blob(1, 1)));
        }
        assert!(p.take(&d(&0usize.to_be_bytes())).is_empty());
        assert_eq!(p.take(&d(&MAX_SUBJECTS.to_be_bytes())).len(), 1);
    }

    #[test]
    fn expected_digests_name_their_subjects_until_taken() {
        let mut p = Pending::default();
        let (s, layer) = (d(b"subject"), d(b"layer"));
        p.expect(&s, [layer.clone()]);
        assert!(p.hold(&s, blob(1, 1)));
        assert_eq!(p.subjects_of(&layer), vec![s.clone()]);
        p.take(&s);
        assert!(p.subjects_of(&layer).is_empty());
        p.expect_children([layer.clone()]);
        assert!(p.is_child(&layer));
        assert!(!p.is_child(&s));
    }
}
