//! The caches keep what they should, forget what they must, share first
//! evaluations, and report every lookup themselves.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::policy::{Decision, Denial, DenialCode};
use crate::signature::{Discovered, DiscoveryError};
use crate::verify::{Admission, Exemption};

fn ttls() -> DecisionTtls {
    DecisionTtls {
        allow: Duration::from_secs(60),
        deny: Duration::from_secs(60),
    }
}

fn digest(n: u8) -> Digest {
    Digest::sha256_of(&[n])
}

fn repo() -> Repository {
    "app".parse().unwrap()
}

fn key(n: u8) -> decisions::DecisionKey {
    (UpstreamId(0), repo(), digest(n), 1, false)
}

fn admit(n: u8) -> Decision {
    Decision::Admit {
        admission: Admission::exempt(&digest(n), Exemption::NoMatch),
        warnings: Vec::new(),
    }
}

fn transient(n: u8) -> Denial {
    Denial {
        image: "registry.test/app".into(),
        digest: digest(n),
        policy: None,
        reasons: vec!["upstream down".into()],
        transient: true,
        code: DenialCode::UpstreamError,
    }
}

fn lookups(metrics: &Metrics, cache: &str, result: &str) -> u64 {
    let text = metrics.encode();
    let line = format!(r#"signgate_cache_lookups_total{{cache="{cache}",result="{result}"}} "#);
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[tokio::test]
async fn decisions_are_kept_transient_denials_are_not_and_each_lookup_is_counted() {
    let metrics = Arc::new(Metrics::new());
    let decisions = Decisions::new(ttls(), metrics.clone());
    let runs = AtomicUsize::new(0);
    let evaluate = |decision: Result<Decision, Denial>| {
        let runs = &runs;
        move || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            decision
        }
    };
    let (_, hit) = decisions
        .get_or_evaluate(key(1), evaluate(Ok(admit(1))))
        .await;
    assert!(!hit);
    let (kept, hit) = decisions
        .get_or_evaluate(key(1), evaluate(Err(transient(1))))
        .await;
    assert!(hit && matches!(kept, Decision::Admit { .. }));
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    for _ in 0..2 {
        let (denied, hit) = decisions
            .get_or_evaluate(key(2), evaluate(Err(transient(2))))
            .await;
        assert!(!hit);
        assert!(matches!(denied, Decision::Deny(d) if d.transient));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);

    decisions
        .forget(UpstreamId(0), &repo(), &digest(1), 1)
        .await;
    let (_, hit) = decisions
        .get_or_evaluate(key(1), evaluate(Ok(admit(1))))
        .await;
    assert!(!hit);
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    assert_eq!(lookups(&metrics, "decision", "hit"), 1);
    assert_eq!(lookups(&metrics, "decision", "miss"), 4);
}

#[tokio::test]
async fn concurrent_first_requests_share_one_evaluation() {
    let metrics = Arc::new(Metrics::new());
    let decisions = Decisions::new(ttls(), metrics.clone());
    let runs = AtomicUsize::new(0);
    let evaluate = || async {
        runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(admit(3))
    };
    let (a, b) = tokio::join!(
        decisions.get_or_evaluate(key(3), evaluate),
        decisions.get_or_evaluate(key(3), evaluate)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // One evaluated it, the other was served what it evaluated.
    assert!(a.1 != b.1, "{:?} {:?}", a.1, b.1);
}

#[tokio::test]
async fn discovered_material_is_kept_and_a_failed_discovery_is_not() {
    let metrics = Arc::new(Metrics::new());
    let evidence = EvidenceCache::new(ttls(), metrics.clone());
    let material_key = (UpstreamId(0), repo(), digest(4));
    let runs = AtomicUsize::new(0);
    let fails = || async {
        runs.fetch_add(1, Ordering::SeqCst);
        Err(DiscoveryError::Refused("no".into()))
    };
    assert!(evidence
        .discovered(material_key.clone(), fails)
        .await
        .is_err());
    let found = || async {
        runs.fetch_add(1, Ordering::SeqCst);
        Ok(Discovered {
            looked_at: vec!["app:sha256-….sig".into()],
            layers: Vec::new(),
        })
    };
    for _ in 0..2 {
        let got = evidence
            .discovered(material_key.clone(), found)
            .await
            .unwrap();
        assert_eq!(got.looked_at, ["app:sha256-….sig"]);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    // A failure is not a lookup that found anything: not counted.
    assert_eq!(lookups(&metrics, "signatures", "miss"), 1);
    assert_eq!(lookups(&metrics, "signatures", "hit"), 1);
}

#[test]
fn blobs_are_servable_only_once_admitted_unless_passthrough() {
    let key = (UpstreamId(0), repo(), digest(5), 1);
    let strict = Admitted::new(ttls(), true);
    assert!(!strict.blob(&key));
    strict.admit_blob(key.clone());
    assert!(strict.blob(&key));
    // Another revision (a reload) does not inherit it.
    assert!(!strict.blob(&(UpstreamId(0), repo(), digest(5), 2)));
    assert!(Admitted::new(ttls(), false).blob(&key));

    let index = Admission::exempt(&digest(6), Exemption::NoMatch);
    assert!(strict.listed_by(&key).is_none());
    strict.admit_child(key.clone(), index);
    assert!(strict.listed_by(&key).is_some());
    assert_eq!(strict.artifact_blob(&key), None);
    strict.admit_artifact_blob(key.clone(), 42);
    assert_eq!(strict.artifact_blob(&key), Some(42));
}

#[test]
fn tag_lookups_are_counted_only_when_tags_are_cached() {
    let metrics = Arc::new(Metrics::new());
    let tag_key = (
        UpstreamId(0),
        repo(),
        "v1".parse().unwrap(),
        HeaderValue::from_static("*/*"),
    );
    let off = Caches::new(1 << 20, Duration::ZERO, metrics.clone());
    assert!(!off.tags_enabled());
    off.insert_tag(tag_key.clone(), digest(7));
    assert_eq!(off.tag(&tag_key), None);
    assert_eq!(lookups(&metrics, "tag", "miss"), 0);

    let on = Caches::new(1 << 20, Duration::from_secs(60), metrics.clone());
    assert_eq!(on.tag(&tag_key), None);
    on.insert_tag(tag_key.clone(), digest(7));
    assert_eq!(on.tag(&tag_key), Some(digest(7)));
    assert_eq!(lookups(&metrics, "tag", "miss"), 1);
    assert_eq!(lookups(&metrics, "tag", "hit"), 1);
}
