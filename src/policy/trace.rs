//! What an evaluation looked at, check by check: the record
//! [`super::evaluate`] keeps while it judges, and the only input of
//! `--explain` ([`super::explain`]), so the two can never disagree.

use std::time::Duration;

use super::evaluate::Need;
use super::{Authority, Policy};
use crate::oci::RegistryName;
use crate::signature::{DiscoveryError, SignatureLayer};
use crate::verify::{RejectReason, Verified};

/// Every check one evaluation made, in the order it made them. A verdict
/// evaluation stops recording where it stops judging; an exhaustive one
/// ([`super::evaluate::explore`]) records every policy, authority, source
/// and layer.
#[derive(Debug, Default)]
pub struct Trace<'a> {
    /// `None` when no policy matches (then `no-match-policy` decided).
    pub policies: Option<Vec<PolicyTrace<'a>>>,
    /// How long each verification (one authority, one source) took, for
    /// the gate's latency histogram.
    pub verifications: Vec<Duration>,
    /// The first evidence the judgement reached and did not have: the gate
    /// fetches it and judges again, so nothing is fetched that the verdict
    /// does not read (the first passing authority still ends the search).
    pub missing: Option<Need>,
}

/// One applicable policy.
#[derive(Debug)]
pub struct PolicyTrace<'a> {
    pub policy: &'a Policy,
    /// An admitted index lists this manifest, and the policy accepts that.
    pub listed_by: bool,
    pub authorities: Vec<AuthorityTrace<'a>>,
    /// `spec.policy`: its input and verdict, when it was evaluated.
    pub condition: Option<super::ConditionTrace>,
}

/// One authority of a policy.
#[derive(Debug)]
pub struct AuthorityTrace<'a> {
    pub authority: &'a Authority,
    /// `source[].oci` registries that are not configured upstreams.
    pub unconfigured: Vec<&'a RegistryName>,
    /// Each signature source, in order.
    pub sources: Vec<SourceTrace<'a>>,
}

/// One signature source of an authority.
#[derive(Debug)]
pub enum SourceTrace<'a> {
    /// Its material could not be read.
    Unavailable(&'a DiscoveryError),
    /// The gate gathered no evidence for it (an internal error).
    Missing,
    Found {
        /// Where discovery looked.
        looked_at: &'a [String],
        layers: Vec<LayerTrace<'a>>,
    },
}

/// One signature layer and what its check said.
#[derive(Debug)]
pub struct LayerTrace<'a> {
    pub layer: &'a SignatureLayer,
    pub result: Result<Verified, RejectReason>,
    /// A verified attestation: each rule of its predicate type, in order.
    pub rules: Vec<RuleCheck<'a>>,
}

/// One attestation rule applied to one verified attestation.
#[derive(Debug)]
pub struct RuleCheck<'a> {
    pub rule: &'a str,
    pub outcome: RuleOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOutcome {
    /// The rule only requires the attestation.
    Required,
    Satisfied,
    NotSatisfied(Vec<String>),
    /// The condition could not be evaluated.
    Failed(String),
}
