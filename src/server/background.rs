//! The tasks a serving signgate runs beside its listeners: policies
//! reloaded on SIGHUP and when their directory changes, trusted roots
//! refreshed from TUF (on start, on the schedule, on SIGHUP; policies
//! reloaded when a root changed), the store kept within its budget, the TLS
//! certificate reloaded when its files change.
//!
//! Each task logs what it did and survives its own failures: a bad policy
//! edit or a broken certificate keeps the previous one in force.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::tls::ReloadingCert;
use crate::config::{Config, Mode, PolicySource};
use crate::proxy::App;
use crate::trust::Trust;

/// How often the policy directory is checked for changes.
const POLICY_POLL: Duration = Duration::from_secs(2);
/// How often the store is garbage-collected down to its budget.
const STORE_GC_INTERVAL: Duration = Duration::from_secs(300);
/// How often the certificate files are checked for changes.
const CERT_POLL: Duration = Duration::from_secs(5);

/// Start every background task `app` needs under `config` (on the current
/// tokio runtime; they run until it stops): the policy watcher for a
/// policy directory, store GC for a store, and reloading `cert` for TLS.
pub fn start(
    app: &Arc<App>,
    config: &Config,
    trust: &Arc<Trust>,
    cert: Option<Arc<ReloadingCert>>,
) {
    record_trust(app, trust);
    if config.mode == Mode::Online {
        tokio::spawn(refresh_trust(config.clone(), trust.clone(), app.clone()));
    }
    if let Some(PolicySource::Dir(dir)) = &config.policies {
        // Taken now, so an edit made once the server is up is never
        // mistaken for the starting state.
        let seen = fingerprint(dir);
        tokio::spawn(watch_policies(
            config.clone(),
            dir.clone(),
            seen,
            app.clone(),
            trust.clone(),
        ));
    }
    if let Some(store) = app.store().cloned() {
        tokio::spawn(collect_garbage(store));
    }
    if let Some(cert) = cert {
        tokio::spawn(watch_cert(cert));
    }
}

/// Reload policies on SIGHUP and when the directory changes. A bad edit
/// keeps the previous set and says why.
async fn watch_policies(
    config: Config,
    dir: PathBuf,
    mut seen: Fingerprint,
    app: Arc<App>,
    trust: Arc<Trust>,
) {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        let signalled = async {
            match hangup.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let reason = tokio::select! {
            () = signalled => "SIGHUP",
            () = tokio::time::sleep(POLICY_POLL) => {
                let now = fingerprint(&dir);
                if now == seen { continue; }
                seen = now;
                "policy directory changed"
            }
        };
        reload_policies(&config, &app, &trust, reason);
    }
}

/// Reload the configured policies against the roots in force, as SIGHUP
/// does; a bad set keeps the previous one.
fn reload_policies(config: &Config, app: &App, trust: &Trust, reason: &str) {
    match crate::policy::load_configured(config, &trust.roots(), &|r| trust.resolve(r)) {
        Ok(set) => {
            tracing::info!(
                trigger = reason,
                policies = set.policies().len(),
                revision = set.revision(),
                "policies reloaded"
            );
            app.replace_policies(set);
        }
        Err(errors) => {
            tracing::error!(trigger = reason, errors = %errors, "policy reload failed: keeping the previous policies")
        }
    }
}

/// Refresh the TUF roots now, then every `trust.tuf.refresh` and on
/// SIGHUP; when a root changed, reload the policies (their revision bumps,
/// so no decision made under the old root is reused).
async fn refresh_trust(config: Config, trust: Arc<Trust>, app: Arc<App>) {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut trigger = "start";
    loop {
        tracing::debug!(trigger, "refreshing trusted roots");
        let report = trust.refresh().await;
        for (name, result) in &report.sources {
            if result.is_err() {
                app.metrics().trust_refresh_failed(name);
            }
        }
        record_trust(&app, &trust);
        if report.changed {
            reload_policies(&config, &app, &trust, "trusted root changed");
        }
        let signalled = async {
            match hangup.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        trigger = tokio::select! {
            () = signalled => "SIGHUP",
            () = tokio::time::sleep(config.trust.tuf.refresh) => "schedule",
        };
    }
}

/// Every TUF root's expiry, last success and expired flag, into `/metrics`.
fn record_trust(app: &App, trust: &Trust) {
    for root in trust.status() {
        if let Some(state) = &root.tuf {
            app.metrics().trust_root(
                &root.name,
                state.expires,
                state.last_success,
                state.expired.is_some(),
            );
        }
    }
}

/// Names, sizes and modification times of the files in a directory.
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

fn fingerprint(dir: &Path) -> Fingerprint {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    e.metadata()
                        .ok()
                        .map(|m| (e.path(), m.len(), m.modified().ok()))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Keep the store within its budget: collect every few minutes, never
/// removing what a retained, verified tag references.
async fn collect_garbage(store: crate::store::Store) {
    loop {
        tokio::time::sleep(STORE_GC_INTERVAL).await;
        match store.gc().await {
            Ok(report) => tracing::info!(
                removed = report.removed_blobs,
                freed = report.freed_bytes,
                kept = report.kept_bytes,
                over_budget_but_referenced = report.over_budget_but_referenced,
                "store garbage collection"
            ),
            Err(e) => tracing::warn!(error = %e, "store garbage collection failed"),
        }
    }
}

/// Keep `cert` fresh: poll its files, log reloads and failures.
async fn watch_cert(cert: Arc<ReloadingCert>) {
    loop {
        tokio::time::sleep(CERT_POLL).await;
        match cert.reload_if_changed() {
            Ok(true) => {
                tracing::info!(cert = %cert.cert_file().display(), "tls certificate reloaded")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "tls certificate reload failed: keeping the current one")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_changes_with_the_files_of_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let empty = fingerprint(dir.path());
        assert!(empty.is_empty());
        std::fs::write(dir.path().join("a.yaml"), "a").unwrap();
        let one = fingerprint(dir.path());
        assert_eq!(one.len(), 1);
        assert_ne!(one, empty);
        std::fs::write(dir.path().join("a.yaml"), "ab").unwrap();
        assert_ne!(fingerprint(dir.path()), one, "a size change is a change");
        assert!(fingerprint(&dir.path().join("missing")).is_empty());
    }
}
