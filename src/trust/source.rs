//! One TUF source: its cache directory (the TUF client's verified files,
//! signgate's `last-good.json` and `state.json`), the root in force, and
//! the rules that change it — a failed refresh keeps it, expired metadata
//! follows `on-expired`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sigstore_tuf::{FileStore, MemoryStore, MetadataStore};

use super::transport::HyperRepository;
use super::tuf::{self, Failure, Verified};
use super::TufSource;
use crate::config::OnExpired;
use crate::verify::TrustRoot;

/// A whole refresh of one source, every file included.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(10);
pub(super) const LAST_GOOD: &str = "last-good.json";
pub(super) const STATE: &str = "state.json";

/// What `trust status`, `/metrics` and `/readyz` say about a source; also
/// kept in its `state.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SourceState {
    /// Where the root in force came from: `TUF`, `last known good`, `seed`,
    /// `import`, `unavailable`.
    pub from: String,
    pub root_version: Option<u64>,
    pub targets_version: Option<u64>,
    /// Earliest expiry of the TUF metadata (unix seconds).
    pub expires: Option<i64>,
    /// Set while the metadata in force has expired: why, and the rule.
    pub expired: Option<String>,
    /// The last refresh attempt (unix seconds) and its result.
    pub last_refresh: Option<i64>,
    pub last_result: Option<String>,
    pub last_success: Option<i64>,
    /// sha256 of the trusted root in force (hex).
    pub digest: Option<String>,
    /// How much of the trusted root in force is current.
    pub validity: Option<String>,
}

/// A source and the root it gives now.
pub(super) struct Source {
    pub(super) name: String,
    pub(super) tuf: TufSource,
    /// The trusted root to use before any TUF run (embedded mirrors only).
    seed: Option<&'static str>,
    /// `<cache-dir>/<name>`, or `None`: then in memory only.
    dir: Option<PathBuf>,
    memory: Arc<MemoryStore>,
    pub(super) root: Arc<TrustRoot>,
    pub(super) state: SourceState,
}

impl Source {
    /// The source as its cache (or seed) has it: no network.
    pub(super) fn load(
        name: &str,
        tuf: TufSource,
        seed: Option<&'static str>,
        dir: Option<PathBuf>,
        on_expired: OnExpired,
    ) -> Source {
        let mut source = Source {
            name: name.to_owned(),
            tuf,
            seed,
            dir,
            memory: Arc::new(MemoryStore::new()),
            root: Arc::new(TrustRoot::unavailable(name, "not loaded")),
            state: SourceState::default(),
        };
        let saved = source.read_state();
        source.state.last_refresh = saved.last_refresh;
        source.state.last_result = saved.last_result;
        source.state.last_success = saved.last_success;
        let outcome = match &source.dir {
            Some(_) => tuf::run_local(source.store(), &source.tuf.root, &source.tuf.target),
            None => Err(Failure::Other("no cache directory".into())),
        };
        match outcome {
            Ok(verified) => {
                if let Err(e) = source.adopt(&verified, "TUF cache") {
                    tracing::error!(root = %name, error = %e, "cached TUF target is not a trusted root");
                    source.fall_back(None);
                }
            }
            Err(Failure::Expired(why)) => source.expired(&why, on_expired),
            Err(Failure::Other(_)) => {
                source.fall_back(None);
                source.expired_unrenewed(jiff::Timestamp::now().as_second(), on_expired);
            }
        }
        source
    }

    /// What a refresh needs, taken under the lock so the fetch runs
    /// without it.
    pub(super) fn plan(&self) -> (TufSource, Arc<dyn MetadataStore>) {
        (self.tuf.clone(), self.store())
    }

    /// Fetch from the mirror and verify, bounded in time.
    pub(super) async fn fetch(
        tuf: TufSource,
        store: Arc<dyn MetadataStore>,
    ) -> Result<Verified, Failure> {
        let repo = HyperRepository::new(&tuf.mirror).map_err(Failure::Other)?;
        let run = tuf::run(repo, &tuf.root, store, &tuf.target);
        match tokio::time::timeout(REFRESH_TIMEOUT, run).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::Other(format!(
                "timed out after {REFRESH_TIMEOUT:?}"
            ))),
        }
    }

    /// Adopt what verified; `Ok(true)` when the root in force changed.
    /// Trust in force is never removed by a failure (expiry under `deny`
    /// aside, which is the rule).
    pub(super) fn apply(
        &mut self,
        outcome: Result<Verified, Failure>,
        on_expired: OnExpired,
    ) -> (bool, Result<(), String>) {
        let before = self.state.digest.clone();
        let was_available = self.root.unavailable_reason().is_none();
        let now = jiff::Timestamp::now().as_second();
        self.state.last_refresh = Some(now);
        let result = match outcome {
            Ok(verified) => match self.adopt(&verified, "TUF") {
                Ok(()) => {
                    self.state.last_success = Some(now);
                    Ok(())
                }
                Err(e) => Err(format!("target is not a trusted root: {e}")),
            },
            Err(Failure::Expired(why)) => {
                self.expired(&why, on_expired);
                Err(why)
            }
            Err(Failure::Other(e)) => {
                self.expired_unrenewed(now, on_expired);
                Err(e)
            }
        };
        self.state.last_result = Some(match &result {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("failed: {e}"),
        });
        self.write_state();
        let available = self.root.unavailable_reason().is_none();
        (
            before != self.state.digest || was_available != available,
            result,
        )
    }

    /// Make a verified target the root in force and keep it as last good.
    fn adopt(&mut self, verified: &Verified, from: &str) -> Result<(), String> {
        let json = std::str::from_utf8(&verified.target).map_err(|e| e.to_string())?;
        let origin = format!(
            "TUF {} (root v{}, targets v{})",
            self.tuf.mirror, verified.root_version, verified.targets_version
        );
        let root = TrustRoot::from_json(&self.name, json)?.with_origin(origin);
        self.root = Arc::new(root);
        self.state.from = from.to_owned();
        self.state.root_version = Some(verified.root_version);
        self.state.targets_version = Some(verified.targets_version);
        self.state.expires = Some(verified.expires.as_second());
        self.state.expired = None;
        self.state.digest = Some(hex::encode(Sha256::digest(&verified.target)));
        self.state.validity = Some(super::validity::describe(json));
        if let Some(dir) = &self.dir {
            if let Err(e) = FileStore::new(dir).store(LAST_GOOD, &verified.target) {
                tracing::warn!(root = %self.name, error = %e, "cannot keep the last good trusted root");
            }
        }
        self.write_state();
        Ok(())
    }

    /// Expired metadata: loud, and the rule decides.
    fn expired(&mut self, why: &str, rule: OnExpired) {
        match rule {
            OnExpired::Keep => {
                tracing::error!(root = %self.name, reason = %why, "TUF metadata expired: keeping the last verified trusted root (trust.tuf.on-expired: keep)");
                if self.state.digest.is_none() {
                    self.fall_back(Some("last known good, TUF metadata expired"));
                }
                self.state.expired = Some(format!("{why}; trust.tuf.on-expired is keep"));
            }
            OnExpired::Deny => {
                tracing::error!(root = %self.name, reason = %why, "TUF metadata expired: trusted root unavailable (trust.tuf.on-expired: deny)");
                let reason = format!("{why}, trust.tuf.on-expired is deny");
                self.root = Arc::new(TrustRoot::unavailable(&self.name, reason.clone()));
                self.state.from = "unavailable".into();
                self.state.digest = None;
                self.state.expired = Some(reason);
            }
        }
    }

    /// A refresh that could not reach the mirror still reads the clock:
    /// metadata past its expiry has expired whether or not a mirror says
    /// so. Otherwise whoever blocks the mirror keeps a site on old trust
    /// without a word (TUF's freeze attack), and `deny` never applies.
    fn expired_unrenewed(&mut self, now: i64, rule: OnExpired) {
        let Some(expires) = self.state.expires else {
            return;
        };
        if now < expires || self.state.expired.is_some() {
            return;
        }
        let at = jiff::Timestamp::from_second(expires)
            .map_or_else(|_| expires.to_string(), |t| t.to_string());
        self.expired(
            &format!(
                "TUF metadata expired at {at} and the mirror could not be reached to renew it"
            ),
            rule,
        );
    }

    /// No verified metadata: the last good copy, else the seed, else
    /// unavailable.
    fn fall_back(&mut self, note: Option<&str>) {
        let last_good = self
            .dir
            .as_ref()
            .and_then(|d| std::fs::read(d.join(LAST_GOOD)).ok());
        let saved = self.read_state();
        let kept = if saved.from == "import" {
            "import"
        } else {
            "last known good"
        };
        let (json, from) = match (last_good, self.seed) {
            (Some(bytes), _) => (String::from_utf8(bytes).ok(), note.unwrap_or(kept)),
            (None, Some(seed)) => (Some(seed.to_owned()), "seed"),
            (None, None) => (None, "unavailable"),
        };
        let parsed = json.as_deref().map(|j| {
            TrustRoot::from_json(&self.name, j)
                .map(|r| r.with_origin(format!("{from} for TUF {}", self.tuf.mirror)))
        });
        match parsed {
            Some(Ok(root)) => {
                self.root = Arc::new(root);
                self.state.from = from.to_owned();
                self.state.validity = json.as_deref().map(super::validity::describe);
                self.state.digest = json.map(|j| hex::encode(Sha256::digest(j.as_bytes())));
                if from != "seed" {
                    self.state.root_version = saved.root_version;
                    self.state.targets_version = saved.targets_version;
                    self.state.expires = saved.expires;
                }
            }
            Some(Err(e)) => self.unavailable(&format!("its last good copy does not parse: {e}")),
            None => self.unavailable(&format!("not yet fetched from {}", self.tuf.mirror)),
        }
    }

    fn unavailable(&mut self, why: &str) {
        self.root = Arc::new(TrustRoot::unavailable(&self.name, why));
        self.state.from = "unavailable".into();
        self.state.digest = None;
        self.state.validity = None;
    }

    fn store(&self) -> Arc<dyn MetadataStore> {
        match &self.dir {
            Some(dir) => Arc::new(FileStore::new(dir)),
            None => self.memory.clone(),
        }
    }

    fn read_state(&self) -> SourceState {
        self.dir
            .as_ref()
            .and_then(|d| std::fs::read(d.join(STATE)).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn write_state(&self) {
        if let (Some(dir), Ok(json)) = (&self.dir, serde_json::to_vec_pretty(&self.state)) {
            if let Err(e) = FileStore::new(dir).store(STATE, &json) {
                tracing::warn!(root = %self.name, error = %e, "cannot write the TUF state file");
            }
        }
    }
}
