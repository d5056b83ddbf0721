//! Trusted roots loaded from files are named in what clients receive by
//! their name alone; the file path is local detail, kept for logs and
//! `--explain`. Built the way the gate builds a denial reason
//! (`authority '<name>' (<policy::describe>): <reject reasons>`).

use std::collections::BTreeMap;

use super::*;
use crate::config::TrustConfig;

#[test]
fn denial_reasons_name_a_trusted_root_without_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc/signgate/roots");
    std::fs::create_dir_all(&etc).unwrap();
    let corp = etc.join("corp-trusted_root.json");
    std::fs::copy(
        fixtures().join("sigstore/sigstore_trusted_root.json"),
        &corp,
    )
    .unwrap();
    let other = etc.join("other-trusted_root.json");
    std::fs::copy(
        fixtures().join(
            "sigstore-conformance/bundle-verify/intoto-with-custom-trust-root/trusted_root.json",
        ),
        &other,
    )
    .unwrap();
    let trust = crate::policy::trust_roots(&TrustConfig {
        trusted_root: None,
        roots: BTreeMap::from([
            ("corp".to_owned(), corp.clone()),
            ("other".to_owned(), other),
        ]),
        ..TrustConfig::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let local = dir.path().display().to_string();

    let requirement = |root: &str, subject: &str| {
        let Some(root) = trust.get(Some(root)) else {
            panic!("{root} not loaded")
        };
        // The log has the detail, the name is what responses carry.
        assert!(root.detail().contains(&local), "{}", root.detail());
        assert!(!root.name().contains('/'), "{}", root.name());
        Requirement::Keyless(Keyless {
            trust: TrustSource::Sigstore(root),
            identities: vec![Identity {
                subject: Some(Matcher::Exact(subject.into())),
                issuer: Some(Matcher::Exact("https://github.com/login/oauth".into())),
                claims: Vec::new(),
            }],
            strictness: Strictness::default(),
        })
    };
    let (digest, layers) = image("dir-img-cosign-fulcio-rekor-valid");
    let (other_digest, _) = image("dir-img-cosign-valid");
    let mut no_log = layers[0].clone();
    no_log.annotations.remove(keyless::BUNDLE_ANNOTATION);
    let cases = [
        (
            "corp",
            "eve@example.com",
            &digest,
            layers.clone(),
            "signed by someone else",
        ),
        (
            "corp",
            "mitr@redhat.com",
            &other_digest,
            layers.clone(),
            "another image",
        ),
        (
            "corp",
            "mitr@redhat.com",
            &digest,
            vec![no_log],
            "transparency-log entry is required",
        ),
        (
            "other",
            "mitr@redhat.com",
            &digest,
            layers.clone(),
            "keyless signature rejected",
        ),
    ];
    for (root, subject, digest, layers, want) in cases {
        let req = requirement(root, subject);
        let rejects = verify_signature(digest, &layers, "release", &req).unwrap_err();
        let reasons: Vec<String> = rejects.iter().map(ToString::to_string).collect();
        let reason = format!(
            "authority 'release' ({}): {}",
            crate::policy::describe(&req),
            reasons.join("; ")
        );
        assert!(reason.contains(want), "{reason}");
        assert!(
            reason.contains(&format!("trusted root '{root}'")),
            "{reason}"
        );
        for local in [local.as_str(), "/etc/", "trusted_root.json", "embedded"] {
            assert!(!reason.contains(local), "{local} in {reason}");
        }
    }
    // `--explain` shows where the root that verified came from.
    let v = verify_signature(
        &digest,
        &layers,
        "release",
        &requirement("corp", "mitr@redhat.com"),
    )
    .unwrap();
    let evidence = v.evidence().unwrap();
    assert_eq!(evidence.trust_root, format!("'corp' ({})", corp.display()));
}
