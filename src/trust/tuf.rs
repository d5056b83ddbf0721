//! One run of the TUF client workflow (`sigstore_tuf::Updater`): root
//! chain, timestamp, snapshot, targets, then the trusted-root target, all
//! verified from a bootstrap root. The same run serves a mirror (online), a
//! cache directory (offline restart) and an in-memory repository copy.

use std::future::Future;
use std::sync::Arc;

use sigstore_tuf::{MetadataStore, Repository, Updater};

/// A verified target and the metadata that vouched for it.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    pub(crate) target: Vec<u8>,
    pub(crate) root_version: u64,
    pub(crate) targets_version: u64,
    /// The earliest expiry of root, timestamp, snapshot and targets.
    pub(crate) expires: jiff::Timestamp,
}

/// Why a run did not produce a target. Expiry is told apart: it follows
/// the `on-expired` rule instead of keeping quietly.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    Expired(String),
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Expired(m) | Failure::Other(m) => f.write_str(m),
        }
    }
}

/// Run the workflow over `repo`, writing verified files through to `store`.
pub(crate) async fn run(
    repo: impl Repository + 'static,
    bootstrap: &[u8],
    store: Arc<dyn MetadataStore>,
    target: &str,
) -> Result<Verified, Failure> {
    let now = jiff::Timestamp::now();
    let mut updater = Updater::new(repo, bootstrap)
        .map_err(|e| {
            Failure::Other(format!(
                "bootstrap root: {}",
                super::transport::error_chain(&e)
            ))
        })?
        .with_store(store);
    updater.refresh(now).await.map_err(failure)?;
    let bytes = updater.get_target(target, now).await.map_err(failure)?;
    let trusted = updater.trusted();
    let targets = trusted
        .targets_role("targets")
        .ok_or_else(|| Failure::Other("no targets metadata".into()))?;
    let mut expires = trusted.root().expires.min(targets.expires);
    if let Some(t) = trusted.timestamp() {
        expires = expires.min(t.expires);
    }
    if let Some(s) = trusted.snapshot() {
        expires = expires.min(s.expires);
    }
    Ok(Verified {
        target: bytes,
        root_version: trusted.root().version,
        targets_version: targets.version,
        expires,
    })
}

/// Run the workflow over a repository that never waits (a cache directory
/// or files in memory), without an async runtime.
pub(crate) fn run_local(
    store: Arc<dyn MetadataStore>,
    bootstrap: &[u8],
    target: &str,
) -> Result<Verified, Failure> {
    run_copy(store.clone(), store, bootstrap, target)
}

/// As [`run_local`], reading `from` and writing what verified to `to` (an
/// import: a repository copy into a cache directory).
pub(crate) fn run_copy(
    from: Arc<dyn MetadataStore>,
    to: Arc<dyn MetadataStore>,
    bootstrap: &[u8],
    target: &str,
) -> Result<Verified, Failure> {
    let repo = sigstore_tuf::StoreRepository::new(from);
    now_or_never(run(repo, bootstrap, to, target))
        .unwrap_or_else(|| Err(Failure::Other("local repository would block".into())))
}

fn failure(e: sigstore_tuf::Error) -> Failure {
    match &e {
        sigstore_tuf::Error::Expired { role, expires } => {
            Failure::Expired(format!("TUF {role} metadata expired at {expires}"))
        }
        _ => Failure::Other(super::transport::error_chain(&e)),
    }
}

/// Poll once: local repositories answer without waiting.
fn now_or_never<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}
