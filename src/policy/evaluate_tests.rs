//! The judgement, table by table, on real verified material: cosign's own
//! key-signed containers/image vectors, and DSSE attestations signed here
//! with a generated P-256 key (a `Verified` only ever comes from
//! `verify::check`). Every case is also judged exhaustively (`explore`,
//! what `--explain` renders) and must come out the same.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::EncodePublicKey as _;

use super::*;
use crate::policy::rego::RegoPolicy;
use crate::policy::trace::SourceTrace;
use crate::policy::{AttestationRule, Authority, SignatureSource};
use crate::signature::SignatureLayer;
use crate::upstream::{UpstreamError, UpstreamErrorKind};
use crate::verify::{PublicKey, Requirement};

const ME: UpstreamId = UpstreamId(0);
const SIGS: UpstreamId = UpstreamId(1);
const VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
const SLSA: &str = "https://slsa.dev/provenance/v0.2";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/containers-image")
}

fn key(name: &str) -> PublicKey {
    PublicKey::from_pem(&std::fs::read_to_string(fixtures().join(name)).unwrap()).unwrap()
}

/// A containers/image vector: the image digest and its signature layers.
fn signed_image() -> (Digest, Vec<SignatureLayer>) {
    let dir = fixtures().join("dir-img-cosign-valid");
    let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
    let raw = std::fs::read(dir.join("signature-1")).unwrap();
    let json = raw.strip_prefix(b"\x00sigstore-json\n").unwrap();
    let v: serde_json::Value = serde_json::from_slice(json).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(v["payload"].as_str().unwrap())
        .unwrap();
    let annotations = v["annotations"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let layer = SignatureLayer {
        media_type: v["mimeType"].as_str().unwrap().to_owned(),
        digest: Digest::sha256_of(&payload),
        size: payload.len() as u64,
        payload: Bytes::from(payload),
        annotations,
        found_at: "app:sha256-….sig".into(),
    };
    (Digest::sha256_of(&manifest), vec![layer])
}

/// A legacy `.att` layer: a DSSE envelope over an in-toto statement about
/// `digest`, signed with `signer`.
fn attestation(
    signer: &p256::ecdsa::SigningKey,
    digest: &Digest,
    predicate_type: &str,
    level: u32,
) -> SignatureLayer {
    let hex = digest.as_str().trim_start_matches("sha256:");
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": "registry.test/app", "digest": {"sha256": hex}}],
        "predicate": {"level": level},
    })
    .to_string();
    let kind = "application/vnd.in-toto+json";
    let pae = format!(
        "DSSEv1 {} {kind} {} {statement}",
        kind.len(),
        statement.len()
    );
    let signature: p256::ecdsa::Signature = signer.sign(pae.as_bytes());
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let envelope = serde_json::json!({
        "payloadType": kind,
        "payload": b64(statement.as_bytes()),
        "signatures": [{"keyid": "", "sig": b64(signature.to_der().as_bytes())}],
    })
    .to_string();
    SignatureLayer {
        media_type: crate::oci::DSSE_ENVELOPE_MEDIA_TYPE.into(),
        digest: Digest::sha256_of(envelope.as_bytes()),
        size: envelope.len() as u64,
        payload: Bytes::from(envelope),
        annotations: Default::default(),
        found_at: format!("app:sha256-….att ({predicate_type})"),
    }
}

fn signing_key(seed: u8) -> (p256::ecdsa::SigningKey, PublicKey) {
    let signer = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
    let pem = signer
        .verifying_key()
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .unwrap();
    (signer, PublicKey::from_pem(&pem).unwrap())
}

fn verify(name: &str, key: PublicKey) -> Authority {
    Authority {
        name: name.into(),
        kind: AuthorityKind::Verify(Requirement::Key(key)),
        sources: Vec::new(),
        attestations: Vec::new(),
        signature_format: None,
    }
}

fn from(mut authority: Authority, registry: &str, repository: &str) -> Authority {
    authority.sources.push(SignatureSource {
        registry: registry.parse().unwrap(),
        repository: repository.parse().unwrap(),
    });
    authority
}

fn requiring(mut authority: Authority, predicate_type: &str, condition: Option<&str>) -> Authority {
    authority.attestations.push(AttestationRule {
        name: format!("rule-{}", authority.attestations.len()),
        predicate_type: predicate_type.into(),
        condition: condition.map(|c| Arc::new(RegoPolicy::compile("cond", c).unwrap())),
    });
    authority
}

fn fixed(name: &str, pass: bool) -> Authority {
    Authority {
        name: name.into(),
        kind: AuthorityKind::Static {
            pass,
            message: (!pass).then(|| "not here".to_owned()),
        },
        sources: Vec::new(),
        attestations: Vec::new(),
        signature_format: None,
    }
}

fn policy(name: &str, mode: Mode, authorities: Vec<Authority>) -> Policy {
    Policy {
        name: name.into(),
        mode,
        platform_manifests: PlatformManifests::Either,
        condition: None,
        authorities,
        file: PathBuf::from("/p/policies.yaml"),
    }
}

fn source(upstream: UpstreamId, repository: &str) -> Source {
    Source {
        upstream,
        repository: repository.parse().unwrap(),
    }
}

fn found(layers: Vec<SignatureLayer>) -> Result<Discovered, DiscoveryError> {
    Ok(Discovered {
        looked_at: vec!["app:sha256-….sig".into()],
        layers,
    })
}

fn upstream_error() -> DiscoveryError {
    DiscoveryError::from(UpstreamError::new(
        &"registry.test".parse().unwrap(),
        UpstreamErrorKind::BadResponse("boom".into()),
    ))
}

fn refused() -> DiscoveryError {
    DiscoveryError::Refused("too many layers".into())
}

/// The signatures in the image's own repository.
fn own(
    purpose: Want,
    material: Result<Discovered, DiscoveryError>,
) -> (Source, Want, Result<Discovered, DiscoveryError>) {
    (source(ME, "app"), purpose, material)
}

fn upstream_of(registry: &RegistryName) -> Option<UpstreamId> {
    (registry.as_str() == "sigs.test").then_some(SIGS)
}

fn facts<'a>(digest: &'a Digest, repository: &'a Repository, artifact: bool) -> SubjectFacts<'a> {
    SubjectFacts {
        image: "registry.test/app",
        digest,
        upstream: ME,
        repository,
        signature_artifact: artifact,
        upstream_of: &upstream_of,
    }
}

/// What a case must decide.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    /// Admitted, with this basis and this many warnings.
    Admit(&'static str, usize),
    /// Denied with this code, by this policy, transiently or not, with a
    /// reason containing this text.
    Deny(DenialCode, Option<&'static str>, bool, &'static str),
}

fn check(
    name: &str,
    applicable: &Applicable<'_>,
    evidence: &Evidence,
    facts: &SubjectFacts<'_>,
    want: &Expect,
) {
    let verdict = evaluate(applicable, evidence, facts);
    let explored = explore(applicable, evidence, facts);
    match (&verdict.decision, want) {
        (
            Decision::Admit {
                admission,
                warnings,
            },
            Expect::Admit(basis, n),
        ) => {
            assert!(
                admission.basis().contains(basis),
                "{name}: basis {}",
                admission.basis()
            );
            assert_eq!(warnings.len(), *n, "{name}: {warnings:?}");
            assert_eq!(admission.digest(), facts.digest, "{name}");
        }
        (Decision::Deny(d), Expect::Deny(code, policy, transient, reason)) => {
            assert_eq!(d.code, *code, "{name}: {d}");
            assert_eq!(d.policy.as_deref(), *policy, "{name}: {d}");
            assert_eq!(d.transient, *transient, "{name}: {d}");
            assert!(d.reasons.join("; ").contains(reason), "{name}: {d}");
        }
        (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
    }
    // The exhaustive judgement (the one `--explain` renders) agrees.
    assert_eq!(
        format!("{:?}", explored.decision),
        format!("{:?}", verdict.decision),
        "{name}: explore disagrees"
    );
}

#[test]
fn no_match_follows_no_match_policy() {
    let (digest, _) = signed_image();
    let repository: Repository = "app".parse().unwrap();
    let facts = facts(&digest, &repository, false);
    let table = [
        (NoMatchPolicy::Allow, Expect::Admit("no policy matches", 0)),
        (NoMatchPolicy::Warn, Expect::Admit("no policy matches", 1)),
        (
            NoMatchPolicy::Deny,
            Expect::Deny(DenialCode::NoMatch, None, false, "no-match-policy is deny"),
        ),
    ];
    for (no_match, want) in table {
        let applicable = Applicable::NoMatch(no_match);
        assert!(needs(&applicable, &facts).is_empty());
        check(
            &format!("{no_match:?}"),
            &applicable,
            &Evidence::default(),
            &facts,
            &want,
        );
        assert!(evaluate(&applicable, &Evidence::default(), &facts)
            .trace
            .policies
            .is_none());
    }
}

/// One case: the policies, the evidence, the verdict.
struct Case {
    name: &'static str,
    policies: Vec<Policy>,
    materials: Vec<(Source, Want, Result<Discovered, DiscoveryError>)>,
    want: Expect,
}

fn run_cases(digest: &Digest, cases: Vec<Case>) {
    let repository: Repository = "app".parse().unwrap();
    let facts = facts(digest, &repository, false);
    for case in cases {
        let applicable = Applicable::Policies(case.policies.iter().collect());
        let evidence = Evidence {
            materials: case.materials,
            ..Evidence::default()
        };
        check(case.name, &applicable, &evidence, &facts, &case.want);
    }
}

#[test]
fn policies_are_anded_authorities_ored_and_warn_mode_admits_with_a_warning() {
    let (digest, layers) = signed_image();
    let good = || verify("good", key("cosign.pub"));
    let other = || verify("other", key("cosign2.pub"));
    let sig = |l: &Vec<SignatureLayer>| own(Want::Signature, found(l.clone()));
    let none = || own(Want::Signature, found(Vec::new()));
    use Mode::{Enforce, Warn};
    run_cases(
        &digest,
        vec![
            Case {
                name: "signed by the trusted key",
                policies: vec![policy("p", Enforce, vec![good()])],
                materials: vec![sig(&layers)],
                want: Expect::Admit("authority 'good'", 0),
            },
            Case {
                name: "no signatures",
                policies: vec![policy("p", Enforce, vec![good()])],
                materials: vec![none()],
                want: Expect::Deny(
                    DenialCode::NoSignatures,
                    Some("p"),
                    false,
                    "authority 'good': no signatures found (looked at app:sha256-….sig)",
                ),
            },
            Case {
                name: "signed by another key",
                policies: vec![policy("p", Enforce, vec![other()])],
                materials: vec![sig(&layers)],
                want: Expect::Deny(
                    DenialCode::UntrustedSignature,
                    Some("p"),
                    false,
                    "authority 'other' (key sha256:",
                ),
            },
            Case {
                name: "any one authority suffices",
                policies: vec![policy("p", Enforce, vec![other(), good()])],
                materials: vec![sig(&layers)],
                want: Expect::Admit("authority 'good'", 0),
            },
            Case {
                name: "a static pass after a failure",
                policies: vec![policy(
                    "p",
                    Enforce,
                    vec![fixed("no", false), fixed("yes", true)],
                )],
                materials: vec![],
                want: Expect::Admit("static pass (policy 'p')", 0),
            },
            Case {
                name: "a static fail",
                policies: vec![policy("p", Enforce, vec![fixed("no", false)])],
                materials: vec![],
                want: Expect::Deny(
                    DenialCode::StaticFail,
                    Some("p"),
                    false,
                    "authority 'no' fails statically: not here",
                ),
            },
            Case {
                name: "the first failure names the code",
                policies: vec![policy("p", Enforce, vec![fixed("no", false), other()])],
                materials: vec![sig(&layers)],
                want: Expect::Deny(
                    DenialCode::StaticFail,
                    Some("p"),
                    false,
                    "no valid signature",
                ),
            },
            Case {
                name: "every policy must pass",
                policies: vec![
                    policy("passes", Enforce, vec![good()]),
                    policy("fails", Enforce, vec![other()]),
                ],
                materials: vec![sig(&layers)],
                want: Expect::Deny(
                    DenialCode::UntrustedSignature,
                    Some("fails"),
                    false,
                    "other",
                ),
            },
            Case {
                name: "warn mode admits with a warning",
                policies: vec![
                    policy("passes", Enforce, vec![good()]),
                    policy("warns", Warn, vec![other()]),
                ],
                materials: vec![sig(&layers)],
                want: Expect::Admit("policy 'warns' failed in warn mode", 1),
            },
            Case {
                name: "warn mode does not excuse an enforcing policy",
                policies: vec![
                    policy("warns", Warn, vec![other()]),
                    policy("enforces", Enforce, vec![fixed("no", false)]),
                ],
                materials: vec![sig(&layers)],
                want: Expect::Deny(
                    DenialCode::StaticFail,
                    Some("enforces"),
                    false,
                    "fails statically",
                ),
            },
        ],
    );
    // The same signature, judged for another digest.
    run_cases(
        &Digest::sha256_of(b"another manifest"),
        vec![Case {
            name: "a signature for another image",
            policies: vec![policy("p", Enforce, vec![good()])],
            materials: vec![sig(&layers)],
            want: Expect::Deny(DenialCode::OtherImage, Some("p"), false, "another image"),
        }],
    );
}

#[test]
fn sources_and_fetch_failures_decide_only_where_the_judgement_reaches_them() {
    let (digest, layers) = signed_image();
    let good = || verify("good", key("cosign.pub"));
    let sig = |m| own(Want::Signature, m);
    let elsewhere = |m| (source(SIGS, "sigs"), Want::Signature, m);
    use Mode::Enforce;
    run_cases(
        &digest,
        vec![
            Case {
                name: "an unconfigured source",
                policies: vec![policy(
                    "p",
                    Enforce,
                    vec![from(good(), "nowhere.test", "sigs")],
                )],
                materials: vec![],
                want: Expect::Deny(
                    DenialCode::SourceUnconfigured,
                    Some("p"),
                    false,
                    "signature source registry 'nowhere.test' is not a configured upstream",
                ),
            },
            Case {
                name: "an unconfigured source, then a configured one",
                policies: vec![policy(
                    "p",
                    Enforce,
                    vec![from(
                        from(good(), "nowhere.test", "sigs"),
                        "sigs.test",
                        "sigs",
                    )],
                )],
                materials: vec![elsewhere(found(layers.clone()))],
                want: Expect::Admit("authority 'good'", 0),
            },
            Case {
                name: "an upstream error is transient",
                policies: vec![policy("p", Enforce, vec![good()])],
                materials: vec![sig(Err(upstream_error()))],
                want: Expect::Deny(
                    DenialCode::UpstreamError,
                    Some("p"),
                    true,
                    "upstream error while fetching signatures",
                ),
            },
            Case {
                name: "an upstream error past the passing authority is not reached",
                policies: vec![policy(
                    "p",
                    Enforce,
                    vec![good(), from(good(), "sigs.test", "sigs")],
                )],
                materials: vec![sig(found(layers.clone())), elsewhere(Err(upstream_error()))],
                want: Expect::Admit("authority 'good'", 0),
            },
            Case {
                name: "refused material is definitive",
                policies: vec![policy("p", Enforce, vec![good()])],
                materials: vec![sig(Err(refused()))],
                want: Expect::Deny(
                    DenialCode::MaterialRefused,
                    Some("p"),
                    false,
                    "authority 'good': signature material refused: too many layers",
                ),
            },
            Case {
                name: "refused material, then a signed source",
                policies: vec![policy(
                    "p",
                    Enforce,
                    vec![good(), from(good(), "sigs.test", "sigs")],
                )],
                materials: vec![sig(Err(refused())), elsewhere(found(layers.clone()))],
                want: Expect::Admit("authority 'good'", 0),
            },
            Case {
                name: "evidence the gate did not gather",
                policies: vec![policy("p", Enforce, vec![good()])],
                materials: vec![],
                want: Expect::Deny(DenialCode::Internal, Some("p"), true, MISSING_MATERIAL),
            },
        ],
    );
}

#[test]
fn needs_name_each_source_and_purpose_once() {
    let (digest, _) = signed_image();
    let repository: Repository = "app".parse().unwrap();
    let good = || verify("good", key("cosign.pub"));
    let mut child_only = policy(
        "a",
        Mode::Enforce,
        vec![
            good(),
            from(good(), "nowhere.test", "x"),
            from(good(), "sigs.test", "sigs"),
            requiring(good(), VULN, None),
            fixed("s", true),
        ],
    );
    child_only.platform_manifests = PlatformManifests::Child;
    let mut again = policy("b", Mode::Enforce, vec![good()]);
    again.platform_manifests = PlatformManifests::Child;
    let list = [child_only, again];
    let applicable = Applicable::Policies(list.iter().collect());
    let material = |s, purpose| Need::Material { source: s, purpose };
    assert_eq!(
        needs(&applicable, &facts(&digest, &repository, false)),
        vec![
            material(source(ME, "app"), Want::Signature),
            material(source(SIGS, "sigs"), Want::Signature),
            material(source(ME, "app"), Want::Attestation),
        ]
    );
    let mut either = list;
    either[1].platform_manifests = PlatformManifests::Index;
    let applicable = Applicable::Policies(either.iter().collect());
    assert_eq!(
        needs(&applicable, &facts(&digest, &repository, false)).first(),
        Some(&Need::ListedBy)
    );
    assert_eq!(
        needs(&applicable, &facts(&digest, &repository, true)),
        vec![Need::ArtifactProof]
    );
}

#[test]
fn platform_manifests_and_signature_artifacts() {
    let (digest, _) = signed_image();
    let repository: Repository = "app".parse().unwrap();
    let index = Admission::exempt(
        &Digest::sha256_of(b"index"),
        Exemption::StaticPass { policy: "p".into() },
    );
    let unsigned = || own(Want::Signature, found(Vec::new()));
    let mut table = Vec::new();
    for (platform, want) in [
        (
            PlatformManifests::Either,
            Expect::Admit("listed by admitted index", 0),
        ),
        (
            PlatformManifests::Index,
            Expect::Admit("listed by admitted index", 0),
        ),
        (
            PlatformManifests::Child,
            Expect::Deny(
                DenialCode::NoSignatures,
                Some("p"),
                false,
                "no signatures found",
            ),
        ),
    ] {
        let mut p = policy("p", Mode::Enforce, vec![verify("good", key("cosign.pub"))]);
        p.platform_manifests = platform;
        table.push((p, want));
    }
    let facts_child = facts(&digest, &repository, false);
    for (p, want) in &table {
        let evidence = Evidence {
            materials: vec![unsigned()],
            listed_by: Some(index.clone()),
            ..Evidence::default()
        };
        let applicable = Applicable::Policies(vec![p]);
        check(
            &format!("{:?}", p.platform_manifests),
            &applicable,
            &evidence,
            &facts_child,
            want,
        );
    }

    let artifact = facts(&digest, &repository, true);
    let p = policy("p", Mode::Enforce, vec![fixed("no", false)]);
    for (proof, want) in [
        (Some(Ok(())), Expect::Admit("signature", 0)),
        (
            Some(Err(refused())),
            Expect::Deny(
                DenialCode::DisguisedArtifact,
                None,
                false,
                "labelled as a signature artifact, but it is not one: too many layers",
            ),
        ),
        (
            Some(Err(upstream_error())),
            Expect::Deny(
                DenialCode::UpstreamError,
                None,
                true,
                "upstream error while checking a signature artifact",
            ),
        ),
        (
            None,
            Expect::Deny(DenialCode::Internal, None, true, "not checked"),
        ),
    ] {
        let evidence = Evidence {
            artifact: proof,
            ..Evidence::default()
        };
        let applicable = Applicable::Policies(vec![&p]);
        check(
            &format!("artifact {want:?}"),
            &applicable,
            &evidence,
            &artifact,
            &want,
        );
        if let Decision::Admit { admission, .. } =
            evaluate(&applicable, &evidence, &artifact).decision
        {
            assert!(admission.is_signature_artifact());
        }
    }
}

#[test]
fn attestation_rules_need_a_verified_attestation_of_their_type_satisfying_the_condition() {
    let (digest, _) = signed_image();
    let (signer, public) = signing_key(7);
    let (stranger, _) = signing_key(9);
    let level3 = "package sigstore\ndefault isCompliant := false\nisCompliant if input.predicate.level >= 3\n";
    let att = || verify("att", public.clone());
    let vuln = |level| attestation(&signer, &digest, VULN, level);
    let material = |layers: Vec<SignatureLayer>| own(Want::Attestation, found(layers));
    use Mode::Enforce;
    run_cases(
        &digest,
        vec![
            Case {
                name: "a verified attestation of the type",
                policies: vec![policy("p", Enforce, vec![requiring(att(), VULN, None)])],
                materials: vec![material(vec![vuln(1)])],
                want: Expect::Admit("authority 'att'", 0),
            },
            Case {
                name: "only attestations of another type",
                policies: vec![policy("p", Enforce, vec![requiring(att(), SLSA, None)])],
                materials: vec![material(vec![vuln(1)])],
                want: Expect::Deny(DenialCode::NoAttestation, Some("p"), false, "no verified attestation of type https://slsa.dev/provenance/v0.2 (1 verified of other types"),
            },
            Case {
                name: "an attestation signed by someone else",
                policies: vec![policy("p", Enforce, vec![requiring(att(), VULN, None)])],
                materials: vec![material(vec![attestation(&stranger, &digest, VULN, 5)])],
                want: Expect::Deny(DenialCode::UntrustedSignature, Some("p"), false, "0 verified of other types"),
            },
            Case {
                name: "the condition holds",
                policies: vec![policy("p", Enforce, vec![requiring(att(), VULN, Some(level3))])],
                materials: vec![material(vec![vuln(3)])],
                want: Expect::Admit("authority 'att'", 0),
            },
            Case {
                name: "every attestation of the type must satisfy the condition",
                policies: vec![policy("p", Enforce, vec![requiring(att(), VULN, Some(level3))])],
                materials: vec![material(vec![vuln(3), vuln(1)])],
                want: Expect::Deny(DenialCode::AttestationPolicy, Some("p"), false, "does not satisfy its policy"),
            },
            Case {
                name: "every rule must be met",
                policies: vec![policy(
                    "p",
                    Enforce,
                    vec![requiring(requiring(att(), VULN, None), SLSA, None)],
                )],
                materials: vec![material(vec![vuln(1)])],
                want: Expect::Deny(DenialCode::NoAttestation, Some("p"), false, "attestation 'rule-1'"),
            },
            Case {
                name: "a signature authority does not accept attestations",
                policies: vec![policy("p", Enforce, vec![att()])],
                materials: vec![own(Want::Signature, found(vec![vuln(1)]))],
                want: Expect::Deny(DenialCode::NoSignatures, Some("p"), false, "no signature among 1 layer(s) found"),
            },
        ],
    );
}

#[test]
fn the_exhaustive_trace_records_past_the_verdict_and_the_verdict_trace_stops() {
    let (digest, layers) = signed_image();
    let repository: Repository = "app".parse().unwrap();
    let facts = facts(&digest, &repository, false);
    let list = [policy(
        "p",
        Mode::Enforce,
        vec![
            verify("good", key("cosign.pub")),
            from(verify("later", key("cosign2.pub")), "sigs.test", "sigs"),
        ],
    )];
    let applicable = Applicable::Policies(list.iter().collect());
    let evidence = Evidence {
        materials: vec![
            own(Want::Signature, found(layers.clone())),
            (source(SIGS, "sigs"), Want::Signature, Err(upstream_error())),
        ],
        ..Evidence::default()
    };
    let authorities = |e: &Evaluation<'_>| {
        e.trace
            .policies
            .as_ref()
            .and_then(|p| p.first())
            .map_or(0, |p| p.authorities.len())
    };
    let verdict = evaluate(&applicable, &evidence, &facts);
    assert_eq!(authorities(&verdict), 1);
    assert_eq!(verdict.trace.verifications.len(), 1);
    let explored = explore(&applicable, &evidence, &facts);
    assert_eq!(authorities(&explored), 2);
    assert!(matches!(explored.decision, Decision::Admit { .. }));
    let later = &explored.trace.policies.as_ref().unwrap()[0].authorities[1];
    assert!(matches!(
        later.sources.as_slice(),
        [SourceTrace::Unavailable(_)]
    ));
}

/// The gate fetches signature material only as the judgement reaches it
/// (`Trace::missing`), so what the verdict never reads is never fetched:
/// a platform manifest its index admitted, a static pass, the first
/// passing authority end the search.
#[test]
fn the_judgement_asks_only_for_the_material_it_reaches() {
    let (digest, layers) = signed_image();
    let repository: Repository = "app".parse().unwrap();
    let facts = facts(&digest, &repository, false);
    let good = || verify("good", key("cosign.pub"));
    let index = Admission::exempt(
        &Digest::sha256_of(b"index"),
        Exemption::StaticPass { policy: "p".into() },
    );
    let own_material = Need::Material {
        source: source(ME, "app"),
        purpose: Want::Signature,
    };
    let elsewhere = Need::Material {
        source: source(SIGS, "sigs"),
        purpose: Want::Signature,
    };
    let two = policy(
        "p",
        Mode::Enforce,
        vec![good(), from(good(), "sigs.test", "sigs")],
    );
    let static_first = policy("p", Mode::Enforce, vec![fixed("yes", true), good()]);
    let one = policy("p", Mode::Enforce, vec![good()]);
    let sig = |m| own(Want::Signature, m);
    let cases: Vec<(&str, &Policy, Evidence, Option<Need>)> = vec![
        (
            "nothing gathered: the first source is asked for",
            &one,
            Evidence::default(),
            Some(own_material.clone()),
        ),
        (
            "listed by an admitted index: no material",
            &one,
            Evidence {
                listed_by: Some(index),
                ..Evidence::default()
            },
            None,
        ),
        (
            "a static pass first: no material",
            &static_first,
            Evidence::default(),
            None,
        ),
        (
            "the first authority passes: the second source is not asked for",
            &two,
            Evidence {
                materials: vec![sig(found(layers.clone()))],
                ..Evidence::default()
            },
            None,
        ),
        (
            "the first source is refused: the second is asked for",
            &two,
            Evidence {
                materials: vec![sig(Err(refused()))],
                ..Evidence::default()
            },
            Some(elsewhere),
        ),
    ];
    for (name, p, evidence, want) in cases {
        let applicable = Applicable::Policies(vec![p]);
        let evaluation = evaluate(&applicable, &evidence, &facts);
        assert_eq!(evaluation.trace.missing, want, "{name}");
    }
}

/// `policy` with a `spec.policy` Rego condition.
fn conditioned(mut p: Policy, rego: &str) -> Policy {
    p.condition = Some(Arc::new(RegoPolicy::compile("spec.policy", rego).unwrap()));
    p
}

/// Two of two: both named authorities must have passed.
const BOTH: &str = "package sigstore\ndefault isCompliant = false\nisCompliant {\n  count(input.authorityMatches.good.signatures) > 0\n  input.authorityMatches.second\n}\n";

#[test]
fn a_policy_level_condition_judges_every_authority_and_decides() {
    let (digest, layers) = signed_image();
    let good = || verify("good", key("cosign.pub"));
    let sig = |l: &Vec<SignatureLayer>| own(Want::Signature, found(l.clone()));
    use Mode::{Enforce, Warn};
    run_cases(
        &digest,
        vec![
            Case {
                name: "both authorities pass: the condition admits",
                policies: vec![conditioned(
                    policy("p", Enforce, vec![good(), fixed("second", true)]),
                    BOTH,
                )],
                materials: vec![sig(&layers)],
                want: Expect::Admit("authority 'good'", 0),
            },
            Case {
                name: "one authority fails: the condition denies, the failure is a reason",
                policies: vec![conditioned(
                    policy("p", Enforce, vec![good(), verify("second", key("cosign2.pub"))]),
                    BOTH,
                )],
                materials: vec![sig(&layers)],
                want: Expect::Deny(
                    DenialCode::PolicyCondition,
                    Some("p"),
                    false,
                    "spec.policy is not satisfied by the authorities that passed: isCompliant is false; authority 'second' (key sha256:",
                ),
            },
            Case {
                name: "no authority passes: the condition is not evaluated",
                policies: vec![conditioned(
                    policy("p", Enforce, vec![verify("good", key("cosign2.pub"))]),
                    "package sigstore\nisCompliant = true\n",
                )],
                materials: vec![sig(&layers)],
                want: Expect::Deny(
                    DenialCode::UntrustedSignature,
                    Some("p"),
                    false,
                    "authority 'good' (key sha256:",
                ),
            },
            Case {
                name: "a condition that always holds admits on one authority",
                policies: vec![conditioned(
                    policy("p", Enforce, vec![verify("bad", key("cosign2.pub")), good()]),
                    "package sigstore\nisCompliant = true\n",
                )],
                materials: vec![sig(&layers)],
                want: Expect::Admit("authority 'good'", 0),
            },
            Case {
                name: "a static pass alone, condition holds: static admission",
                policies: vec![conditioned(
                    policy("p", Enforce, vec![fixed("second", true)]),
                    "package sigstore\nisCompliant { input.authorityMatches.second.static }\n",
                )],
                materials: vec![],
                want: Expect::Admit("static pass (policy 'p')", 0),
            },
            Case {
                name: "the condition's error messages are the reason",
                policies: vec![conditioned(
                    policy("p", Enforce, vec![good()]),
                    "package sigstore\nisCompliant[r] {\n  r := {\"result\": false, \"error\": \"two signers required\"}\n}\n",
                )],
                materials: vec![sig(&layers)],
                want: Expect::Deny(DenialCode::PolicyCondition, Some("p"), false, "two signers required"),
            },
            Case {
                name: "warn mode: a failed condition admits with a warning",
                policies: vec![conditioned(
                    policy("p", Warn, vec![good(), fixed("no", false)]),
                    BOTH,
                )],
                materials: vec![sig(&layers)],
                want: Expect::Admit("policy 'p' failed in warn mode", 1),
            },
            Case {
                name: "the first passing authority does not end the search: missing material is fetched",
                policies: vec![conditioned(
                    policy(
                        "p",
                        Enforce,
                        vec![good(), from(verify("second", key("cosign.pub")), "sigs.test", "sigs")],
                    ),
                    BOTH,
                )],
                materials: vec![sig(&layers)],
                want: Expect::Deny(DenialCode::Internal, Some("p"), true, MISSING_MATERIAL),
            },
            Case {
                name: "…and with it, both pass",
                policies: vec![conditioned(
                    policy(
                        "p",
                        Enforce,
                        vec![good(), from(verify("second", key("cosign.pub")), "sigs.test", "sigs")],
                    ),
                    BOTH,
                )],
                materials: vec![
                    sig(&layers),
                    (source(SIGS, "sigs"), Want::Signature, found(layers.clone())),
                ],
                want: Expect::Admit("authority 'good'", 0),
            },
        ],
    );
}

#[test]
fn the_condition_input_is_policy_controllers_authority_matches_document() {
    let (digest, layers) = signed_image();
    let (signer, att_key) = signing_key(7);
    let vuln = attestation(&signer, &digest, VULN, 2);
    let mut att = verify("att", att_key);
    att.name = "att".into();
    let att = requiring(att, VULN, None);
    let p = conditioned(
        policy(
            "p",
            Mode::Enforce,
            vec![
                verify("good", key("cosign.pub")),
                fixed("pass", true),
                verify("bad", key("cosign2.pub")),
                att,
            ],
        ),
        "package sigstore\nisCompliant = true\n",
    );
    let repository: Repository = "app".parse().unwrap();
    let facts = facts(&digest, &repository, false);
    let applicable = Applicable::Policies(vec![&p]);
    let evidence = Evidence {
        materials: vec![
            own(Want::Signature, found(layers.clone())),
            own(Want::Attestation, found(vec![vuln.clone()])),
        ],
        ..Evidence::default()
    };
    let verdict = evaluate(&applicable, &evidence, &facts);
    assert!(
        matches!(verdict.decision, Decision::Admit { .. }),
        "{:?}",
        verdict.decision
    );
    let traces = verdict.trace.policies.as_ref().unwrap();
    let condition = traces[0].condition.as_ref().unwrap();
    // A key-signed signature has no certificate: only its id (the layer
    // digest); the failing authority is absent.
    assert_eq!(
        condition.input,
        serde_json::json!({"authorityMatches": {
            "good": {"signatures": [{"id": layers[0].digest.hex()}]},
            "pass": {"static": true},
            "att": {"attestations": {"rule-0": [{
                "id": vuln.digest.hex(),
                "predicateType": VULN,
                "digest": vuln.digest.as_str(),
            }]}},
        }})
    );
    assert_eq!(condition.outcome.as_ref().map(|v| v.compliant), Ok(true));
    // `--explain` shows the same input and verdict.
    let explained = crate::policy::explain::explanation(
        "registry.test/app".into(),
        &digest,
        &explore(&applicable, &evidence, &facts).trace,
    );
    let text = explained.to_string();
    assert!(
        text.contains("every authority is judged, then spec.policy decides"),
        "{text}"
    );
    assert!(
        text.contains("spec.policy (Rego over the authorities that passed): compliant"),
        "{text}"
    );
    assert!(text.contains("\"pass\":{\"static\":true}"), "{text}");
}
