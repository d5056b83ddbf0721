//! The I/O edge for trust material: trusted roots from files, from the
//! embedded seeds, and from TUF repositories kept current (refreshed on a
//! schedule, on start and on SIGHUP), each cached on disk so restarts and
//! outages need no network.
//!
//! One [`Trust`] is shared by the server and the CLI. [`Trust::roots`] is
//! the snapshot policies resolve `trustRootRef` against; a failed refresh
//! never removes trust in force, and expired TUF metadata follows
//! `trust.tuf.on-expired` (keep the last verified root, or deny).

mod export;
mod import;
mod source;
mod transport;
mod tuf;
mod validity;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use url::Url;

use crate::config::{OnExpired, TrustConfig};
use crate::policy::trust_root::TufRequest;
use crate::verify::trust::TrustRoots;
use crate::verify::TrustRoot;
use source::Source;

pub use import::Imported;
pub use source::SourceState;

/// The sigstore public-good TUF repository and its bootstrap root.
const PUBLIC_GOOD_MIRROR: &str = "https://tuf-repo-cdn.sigstore.dev";
const PUBLIC_GOOD_ROOT: &[u8] = include_bytes!("embedded/public-good-root.json");
/// GitHub's TUF repository and its bootstrap root.
const GITHUB_MIRROR: &str = "https://tuf-repo.github.com";
const GITHUB_ROOT: &[u8] = include_bytes!("embedded/github-root.json");
/// The target sigstore publishes its trusted root as.
pub const DEFAULT_TARGET: &str = "trusted_root.json";

/// A TUF repository a trusted root comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TufSource {
    pub mirror: Url,
    /// The bootstrap TUF `root.json`.
    pub root: Vec<u8>,
    /// The target holding the trusted root.
    pub target: String,
}

/// What one refresh did.
#[derive(Debug, Default)]
pub struct RefreshReport {
    /// A root in force changed: policies must be reloaded.
    pub changed: bool,
    /// Per source: `Ok(changed)` or why the refresh failed.
    pub sources: Vec<(String, Result<bool, String>)>,
}

/// One root in force, for `trust status`, `/metrics` and `/readyz`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RootStatus {
    pub name: String,
    /// `embedded`, a file path, or `TUF <mirror>`.
    pub origin: String,
    /// The root's own detail (name, origin, versions).
    pub detail: String,
    /// Set for TUF sources.
    pub tuf: Option<SourceState>,
    /// Why the root verifies nothing, if it does not.
    pub unavailable: Option<String>,
    /// How much of it is current (`CAs 1/1, tlogs 2/2, … current`).
    pub validity: Option<String>,
}

/// Trusted roots: files, embedded seeds, TUF sources.
pub struct Trust {
    cache_dir: Option<PathBuf>,
    on_expired: OnExpired,
    default_file: Option<Arc<TrustRoot>>,
    files: BTreeMap<String, Arc<TrustRoot>>,
    /// [`validity::describe`] of each file root, by name.
    file_validity: BTreeMap<String, String>,
    sources: Mutex<BTreeMap<String, Source>>,
}

impl Trust {
    /// Every root `config` names, each from its file, cache or seed:
    /// synchronous, no network.
    pub fn load(config: &TrustConfig) -> Result<Arc<Trust>, String> {
        let mut file_validity = BTreeMap::new();
        let mut read = |path: &std::path::Path, name: &str| {
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read '{}': {e}", path.display()))
                .and_then(|json| {
                    file_validity.insert(name.to_owned(), validity::describe(&json));
                    TrustRoot::from_json(name, &json)
                })
                .map(|r| Arc::new(r.with_origin(path.display().to_string())))
        };
        let mut files = BTreeMap::new();
        for (name, path) in &config.roots {
            files.insert(
                name.clone(),
                read(path, name).map_err(|e| format!("trust.roots.{name}: {e}"))?,
            );
        }
        let default_file = match &config.trusted_root {
            Some(path) => {
                Some(read(path, "default").map_err(|e| format!("trust.trusted-root: {e}"))?)
            }
            None => None,
        };
        let trust = Trust {
            cache_dir: config.tuf.cache_dir.clone(),
            on_expired: config.tuf.on_expired,
            default_file,
            files,
            file_validity,
            sources: Mutex::new(BTreeMap::new()),
        };
        for (name, mirror, root, seed) in [
            (
                "public-good",
                PUBLIC_GOOD_MIRROR,
                PUBLIC_GOOD_ROOT,
                crate::verify::trust::PUBLIC_GOOD,
            ),
            (
                "github",
                GITHUB_MIRROR,
                GITHUB_ROOT,
                crate::verify::trust::GITHUB,
            ),
        ] {
            let mirror = Url::parse(mirror).map_err(|e| e.to_string())?;
            let source = TufSource {
                mirror,
                root: root.to_vec(),
                target: DEFAULT_TARGET.into(),
            };
            trust.register(name, source, Some(seed));
        }
        for (name, repo) in &config.tuf.repositories {
            let root = std::fs::read(&repo.root).map_err(|e| {
                format!(
                    "trust.tuf.repositories.{name}.root: cannot read '{}': {e}",
                    repo.root.display()
                )
            })?;
            let source = TufSource {
                mirror: repo.mirror.clone(),
                root,
                target: repo.target.clone(),
            };
            trust.register(name, source, None);
        }
        Ok(Arc::new(trust))
    }

    /// The snapshot policies resolve `trustRootRef` against.
    pub fn roots(&self) -> TrustRoots {
        let mut named: BTreeMap<String, Arc<TrustRoot>> = self.files.clone();
        for (name, source) in self.lock().iter() {
            named.insert(name.clone(), source.root.clone());
        }
        let default = match (&self.default_file, named.get("public-good")) {
            (Some(file), _) => file.clone(),
            (None, Some(public_good)) => public_good.clone(),
            // Unreachable: public-good is always registered.
            (None, None) => Arc::new(TrustRoot::unavailable("public-good", "not loaded")),
        };
        TrustRoots { default, named }
    }

    /// Register (idempotently) a TUF source defined elsewhere (a
    /// `TrustRoot` document's `spec.remote`) and give the root in force now:
    /// the last verified from the cache; else the embedded seed for an
    /// embedded mirror; else an unavailable root.
    pub fn tuf_root(&self, name: &str, source: TufSource) -> Arc<TrustRoot> {
        if let Some(existing) = self.lock().get(name) {
            if existing.tuf == source {
                return existing.root.clone();
            }
        }
        let seed = embedded_seed(&source.mirror);
        self.register(name, source, seed)
    }

    /// What policy loading is handed for `TrustRoot` documents' TUF forms:
    /// `spec.remote` registers a source (refreshed like any other),
    /// `spec.repository` is verified offline.
    pub fn resolve(&self, request: TufRequest<'_>) -> Result<Arc<TrustRoot>, String> {
        match request {
            TufRequest::Remote {
                name,
                mirror,
                root,
                target,
            } => Ok(self.tuf_root(
                name,
                TufSource {
                    mirror: mirror.clone(),
                    root: root.to_vec(),
                    target: target.to_owned(),
                },
            )),
            TufRequest::Repository {
                name,
                root,
                files,
                target,
            } => Trust::offline_repository(name, root, files.clone(), target).map(Arc::new),
        }
    }

    /// Verify an in-memory TUF repository (`spec.repository`, MirrorFS) —
    /// files named as in its tarball (`1.root.json`, `timestamp.json`,
    /// `N.snapshot.json`, `N.targets.json`, `targets/<hash>.<name>`) —
    /// against `root`, and parse its `target`. No network.
    pub fn offline_repository(
        name: &str,
        root: &[u8],
        files: BTreeMap<String, Vec<u8>>,
        target: &str,
    ) -> Result<TrustRoot, String> {
        use sigstore_tuf::MetadataStore as _;
        let store = sigstore_tuf::MemoryStore::new();
        for (file, bytes) in &files {
            store.store(file, bytes).map_err(|e| e.to_string())?;
        }
        let verified = tuf::run_local(Arc::new(store), root, target)
            .map_err(|e| format!("trusted root '{name}': {e}"))?;
        let json = std::str::from_utf8(&verified.target)
            .map_err(|e| format!("trusted root '{name}': {e}"))?;
        Ok(TrustRoot::from_json(name, json)?.with_origin(format!(
            "TUF repository copy (root v{}, targets v{})",
            verified.root_version, verified.targets_version
        )))
    }

    /// Refresh every TUF source from its mirror, each bounded in time. A
    /// failed refresh keeps the root in force.
    pub async fn refresh(&self) -> RefreshReport {
        let names: Vec<String> = self.lock().keys().cloned().collect();
        let mut report = RefreshReport::default();
        for name in names {
            let Some((tuf, store)) = self.lock().get(&name).map(Source::plan) else {
                continue;
            };
            let outcome = Source::fetch(tuf.clone(), store).await;
            let Some((changed, result)) = self.lock().get_mut(&name).and_then(|s| {
                // Re-registered meanwhile with another source: not ours to apply.
                (s.tuf == tuf).then(|| s.apply(outcome, self.on_expired))
            }) else {
                continue;
            };
            match &result {
                Ok(()) if changed => tracing::info!(root = %name, "trusted root updated from TUF"),
                Ok(()) => tracing::debug!(root = %name, "trusted root unchanged"),
                Err(e) => {
                    tracing::warn!(root = %name, error = %e, "TUF refresh failed: keeping the trusted root in force unless the rule says otherwise")
                }
            }
            report.changed |= changed;
            report.sources.push((name, result.map(|()| changed)));
        }
        report
    }

    /// Every root in force, by name.
    pub fn status(&self) -> Vec<RootStatus> {
        let mut out = Vec::new();
        let validity = |name: &str| self.file_validity.get(name).cloned();
        if let Some(file) = &self.default_file {
            out.push(file_status(
                "default (trust.trusted-root)",
                file,
                validity("default"),
            ));
        }
        for (name, root) in &self.files {
            out.push(file_status(name, root, validity(name)));
        }
        for (name, source) in self.lock().iter() {
            out.push(RootStatus {
                name: name.clone(),
                origin: format!("TUF {}", source.tuf.mirror),
                detail: source.root.detail(),
                tuf: Some(source.state.clone()),
                unavailable: source.root.unavailable_reason().map(str::to_owned),
                validity: source.state.validity.clone(),
            });
        }
        out
    }

    /// What `/readyz` adds: every root whose TUF metadata has expired.
    pub fn warnings(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter_map(|(name, s)| {
                s.state
                    .expired
                    .as_ref()
                    .map(|why| format!("trusted root '{name}': {why}"))
            })
            .collect()
    }

    /// `signgate trust import DIR`: a TUF repository copy verified offline
    /// against `root` (else the bootstrap root of the source `name`:
    /// embedded or configured), or a plain `trusted_root.json`, written
    /// into `name`'s cache directory for the next start to use.
    pub fn import(
        &self,
        dir: &std::path::Path,
        name: &str,
        root: Option<&[u8]>,
    ) -> Result<Imported, String> {
        let cache = self.cache_dir.as_ref().ok_or(
            "no cache directory: set trust.tuf.cache-dir (or configure a store, or $HOME)",
        )?;
        let (bootstrap, target) = match self.lock().get(name) {
            Some(source) => (Some(source.tuf.root.clone()), source.tuf.target.clone()),
            None => (None, DEFAULT_TARGET.to_owned()),
        };
        let bootstrap = root.map(<[u8]>::to_vec).or(bootstrap);
        import::import(cache, name, dir, bootstrap.as_deref(), &target)
    }

    /// Write every TUF source's verified metadata in force to `dir/<name>/`
    /// as a repository copy (`signgate mirror export`); the names written.
    /// A source never verified (nothing cached) is skipped.
    pub fn export_repositories(&self, dir: &std::path::Path) -> Result<Vec<String>, String> {
        let Some(cache) = &self.cache_dir else {
            return Ok(Vec::new());
        };
        let names: Vec<String> = self.lock().keys().cloned().collect();
        let mut written = Vec::new();
        for name in names {
            let from = cache.join(&name);
            if !from.join("timestamp.json").is_file() {
                continue;
            }
            export::repository_copy(&from, &dir.join(&name))
                .map_err(|e| format!("trusted root '{name}': {e}"))?;
            written.push(name);
        }
        Ok(written)
    }

    fn register(
        &self,
        name: &str,
        source: TufSource,
        seed: Option<&'static str>,
    ) -> Arc<TrustRoot> {
        let dir = self.cache_dir.as_ref().map(|d| d.join(name));
        let loaded = Source::load(name, source, seed, dir, self.on_expired);
        let root = loaded.root.clone();
        self.lock().insert(name.to_owned(), loaded);
        root
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Source>> {
        self.sources.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn file_status(name: &str, root: &TrustRoot, validity: Option<String>) -> RootStatus {
    RootStatus {
        name: name.to_owned(),
        origin: root.detail(),
        detail: root.detail(),
        tuf: None,
        unavailable: None,
        validity,
    }
}

/// The seed of an embedded mirror (trailing slash ignored).
fn embedded_seed(mirror: &Url) -> Option<&'static str> {
    let m = mirror.as_str().trim_end_matches('/');
    if m == PUBLIC_GOOD_MIRROR {
        Some(crate::verify::trust::PUBLIC_GOOD)
    } else if m == GITHUB_MIRROR {
        Some(crate::verify::trust::GITHUB)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
