//! Prometheus metrics (`prometheus-client`), served on the admin listener:
//! requests, decisions, cache results, upstream and verification latency,
//! blob bytes streamed.
//!
//! Recording is a few atomic increments behind a read lock; label values
//! are `&'static str`s and small integers, so the hot path allocates only
//! for label sets never seen before.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    verdict: &'static str,
    policy: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RootLabels {
    root: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
}

type HistogramFamily = Family<UpstreamLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    decisions: Family<DecisionLabels, Counter>,
    cache: Family<CacheLabels, Counter>,
    upstream_latency: HistogramFamily,
    verification: Histogram,
    blob_bytes: Counter,
    trust_expiry: Family<RootLabels, Gauge>,
    trust_last_success: Family<RootLabels, Gauge>,
    trust_expired: Family<RootLabels, Gauge>,
    trust_failures: Family<RootLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~26 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("signgate");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by route and status",
            requests.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Manifest decisions, by verdict, deciding policy and reason",
            decisions.clone(),
        );
        let cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_lookups",
            "Cache lookups, by cache and result",
            cache.clone(),
        );
        let upstream_latency = HistogramFamily::new_with_constructor(latency_histogram);
        registry.register(
            "upstream_request_duration_seconds",
            "Time to an upstream's response headers",
            upstream_latency.clone(),
        );
        let verification = latency_histogram();
        registry.register(
            "verification_duration_seconds",
            "Time to discover and verify signatures for one decision",
            verification.clone(),
        );
        let blob_bytes = Counter::default();
        registry.register(
            "blob_bytes_streamed",
            "Blob bytes streamed to clients",
            blob_bytes.clone(),
        );
        let trust_expiry = Family::<RootLabels, Gauge>::default();
        registry.register(
            "trust_root_metadata_expiry_seconds",
            "When the TUF metadata of each trusted root expires (unix time)",
            trust_expiry.clone(),
        );
        let trust_last_success = Family::<RootLabels, Gauge>::default();
        registry.register(
            "trust_root_last_refresh_success_seconds",
            "When each trusted root was last refreshed from TUF (unix time)",
            trust_last_success.clone(),
        );
        let trust_expired = Family::<RootLabels, Gauge>::default();
        registry.register(
            "trust_root_metadata_expired",
            "1 while the TUF metadata of a trusted root has expired",
            trust_expired.clone(),
        );
        let trust_failures = Family::<RootLabels, Counter>::default();
        registry.register(
            "trust_root_refresh_failures",
            "Failed TUF refreshes, by trusted root",
            trust_failures.clone(),
        );
        Metrics {
            registry,
            requests,
            decisions,
            cache,
            upstream_latency,
            verification,
            blob_bytes,
            trust_expiry,
            trust_last_success,
            trust_expired,
            trust_failures,
        }
    }

    /// A TUF root's state: expiry and last success (unix seconds), expired.
    pub fn trust_root(&self, root: &str, expiry: Option<i64>, success: Option<i64>, expired: bool) {
        let labels = RootLabels {
            root: root.to_owned(),
        };
        if let Some(t) = expiry {
            self.trust_expiry.get_or_create(&labels).set(t);
        }
        if let Some(t) = success {
            self.trust_last_success.get_or_create(&labels).set(t);
        }
        self.trust_expired
            .get_or_create(&labels)
            .set(i64::from(expired));
    }

    pub fn trust_refresh_failed(&self, root: &str) {
        self.trust_failures
            .get_or_create(&RootLabels {
                root: root.to_owned(),
            })
            .inc();
    }

    pub fn request(&self, route: &'static str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
    }

    pub fn decision(&self, verdict: &'static str, policy: &str, reason: &'static str) {
        self.decisions
            .get_or_create(&DecisionLabels {
                verdict,
                policy: policy.to_owned(),
                reason,
            })
            .inc();
    }

    pub fn cache(&self, cache: &'static str, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache
            .get_or_create(&CacheLabels { cache, result })
            .inc();
    }

    pub fn upstream_latency(&self, upstream: &str, seconds: f64) {
        self.upstream_latency
            .get_or_create(&UpstreamLabels {
                upstream: upstream.to_owned(),
            })
            .observe(seconds);
    }

    pub fn verification(&self, seconds: f64) {
        self.verification.observe(seconds);
    }

    pub fn blob_bytes(&self, n: u64) {
        self.blob_bytes.inc_by(n);
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_appear_in_the_exposition() {
        let m = Metrics::new();
        m.request("manifest", 200);
        m.request("manifest", 200);
        m.decision("deny", "p", "no-signatures");
        m.cache("decision", true);
        m.upstream_latency("docker.io", 0.01);
        m.verification(0.002);
        m.blob_bytes(1024);
        m.trust_root("corp", Some(1_900_000_000), Some(1_800_000_000), true);
        m.trust_refresh_failed("corp");
        let text = m.encode();
        for want in [
            r#"signgate_requests_total{route="manifest",status="200"} 2"#,
            r#"signgate_decisions_total{verdict="deny",policy="p",reason="no-signatures"} 1"#,
            r#"signgate_cache_lookups_total{cache="decision",result="hit"} 1"#,
            r#"signgate_upstream_request_duration_seconds_count{upstream="docker.io"} 1"#,
            "signgate_verification_duration_seconds_count 1",
            "signgate_blob_bytes_streamed_total 1024",
            r#"signgate_trust_root_metadata_expiry_seconds{root="corp"} 1900000000"#,
            r#"signgate_trust_root_last_refresh_success_seconds{root="corp"} 1800000000"#,
            r#"signgate_trust_root_metadata_expired{root="corp"} 1"#,
            r#"signgate_trust_root_refresh_failures_total{root="corp"} 1"#,
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
    }
}
