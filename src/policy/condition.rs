//! `spec.policy`: a Rego condition over what the policy's authorities
//! established, with policy-controller's semantics (`ValidatePolicy` in its
//! `pkg/webhook/validator.go`):
//!
//! - every authority is evaluated (not only up to the first that passes);
//!   the ones that fail are simply absent from the input;
//! - no authority passing denies, and the condition is not evaluated;
//! - otherwise the condition decides, on the input document
//!   `{"authorityMatches": {<authority name>: {"signatures": [...]} |
//!   {"attestations": {<attestation name>: [...]}} | {"static": true}}}`,
//!   each signature `{"id", "subject", "issuer", "github…"}` (fields
//!   omitted when empty, as Go's `omitempty` does) and each attestation the
//!   same plus `predicateType` and `digest`;
//! - the module is `package sigstore` with rule `isCompliant`, evaluated as
//!   for attestations ([`super::rego`]).
//!
//! One difference, stated: `id` is the signature layer's digest (what
//! policy-controller's documentation calls it, "typically the hash of this
//! signature's OCI layer"), not policy-controller's hash of the raw
//! signature and certificate PEM.
//! `fetchConfigFile`, `includeSpec`, `includeObjectMeta`, `includeTypeMeta`
//! are refused at load: signgate has no Kubernetes object, and fetches no
//! image configuration for a condition.

use serde_json::{json, Map, Value};

use super::rego::Verdict;
use super::Policy;
use crate::verify::{Claim, Verified};

/// What one passing authority contributes to the input.
#[derive(Debug)]
pub(crate) enum Matched<'a> {
    Static,
    Signatures(Vec<Verified>),
    /// Rule name → the verified attestations of its predicate type.
    Attestations(Vec<(&'a str, Vec<Verified>)>),
}

/// The condition's input and what it said, for `--explain`.
#[derive(Debug)]
pub struct ConditionTrace {
    pub input: Value,
    /// The verdict, or why it could not be evaluated.
    pub outcome: Result<Verdict, String>,
}

/// `{"authorityMatches": {...}}` for the passing authorities, in order.
pub(crate) fn input(matches: &[(&str, Matched<'_>)]) -> Value {
    let mut by_name = Map::new();
    for (name, matched) in matches {
        let entry = match matched {
            Matched::Static => json!({"static": true}),
            Matched::Signatures(verified) => {
                json!({"signatures": verified.iter().map(signature).collect::<Vec<_>>()})
            }
            Matched::Attestations(rules) => {
                let mut by_rule = Map::new();
                for (rule, verified) in rules {
                    let list: Vec<Value> = verified.iter().map(attestation).collect();
                    by_rule.insert((*rule).to_owned(), Value::Array(list));
                }
                json!({"attestations": by_rule})
            }
        };
        by_name.insert((*name).to_owned(), entry);
    }
    json!({"authorityMatches": by_name})
}

/// Evaluate the policy's condition on `input`.
pub(crate) fn evaluate(policy: &Policy, input: Value) -> Option<ConditionTrace> {
    let condition = policy.condition.as_ref()?;
    let outcome = condition.evaluate(&input);
    Some(ConditionTrace { input, outcome })
}

/// policy-controller's `PolicySignature`.
fn signature(v: &Verified) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(v.layer().hex()));
    if let Some(signer) = v.identity() {
        let mut put = |key: &str, value: Option<&str>| {
            if let Some(value) = value.filter(|s| !s.is_empty()) {
                out.insert(key.to_owned(), json!(value));
            }
        };
        put("subject", signer.subject.as_deref());
        put("issuer", signer.issuer.as_deref());
        for (key, claim) in [
            ("githubWorkflowTrigger", Claim::GithubWorkflowTrigger),
            ("githubWorkflowSha", Claim::GithubWorkflowSha),
            ("githubWorkflowName", Claim::GithubWorkflowName),
            ("githubWorkflowRepo", Claim::GithubWorkflowRepository),
            ("githubWorkflowRef", Claim::GithubWorkflowRef),
        ] {
            put(key, signer.claim(claim));
        }
    }
    Value::Object(out)
}

/// policy-controller's `PolicyAttestation`.
fn attestation(v: &Verified) -> Value {
    let mut out = signature(v);
    if let Some(map) = out.as_object_mut() {
        if let Some(s) = v.statement() {
            map.insert("predicateType".into(), json!(s.predicate_type));
        }
        map.insert("digest".into(), json!(v.layer().as_str()));
    }
    out
}
