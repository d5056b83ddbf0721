//! One structured audit record per decision (`signgate::audit`).

use std::time::Duration;

use super::gate::Subject;
use crate::policy::Decision;

/// Log the decision on `subject`.
pub(super) fn record(
    subject: &Subject<'_>,
    image: &str,
    decision: &Decision,
    cache_hit: bool,
    elapsed: Duration,
) {
    let digest = subject.manifest.digest();
    let client = subject.client.map(|c| c.to_string()).unwrap_or_default();
    match decision {
        Decision::Admit {
            admission,
            warnings,
        } => tracing::info!(
            target: "signgate::audit",
            %image, %digest, reference = subject.reference, upstream = %subject.registry,
            repository = %subject.repository, %client,
            verdict = if warnings.is_empty() { "allow" } else { "warn" },
            basis = %admission.basis(), warnings = ?warnings, cache_hit,
            elapsed_us = elapsed.as_micros() as u64,
            "decision"
        ),
        Decision::Deny(denial) => tracing::warn!(
            target: "signgate::audit",
            %image, %digest, reference = subject.reference, upstream = %subject.registry,
            repository = %subject.repository, %client,
            verdict = "deny", policy = denial.policy.as_deref().unwrap_or(""),
            reasons = ?denial.reasons, transient = denial.transient, cache_hit,
            elapsed_us = elapsed.as_micros() as u64,
            "decision"
        ),
    }
}
