use std::path::PathBuf;

use super::*;
use crate::verify::Requirement;

const KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDWeWCVKhSgxaA+jFTUcjhzKpEXNN\nRuvXZDUbVdg6X+Ts1mspXFWVJqRs7Gqb4u9srJr1ww+RbNxmEuwUKAsNaw==\n-----END PUBLIC KEY-----\n";

fn policy(name: &str, globs: &[&str], authority: &str) -> String {
    let images: String = globs
        .iter()
        .map(|g| format!("    - glob: \"{g}\"\n"))
        .collect();
    format!("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: {name}\nspec:\n  images:\n{images}  authorities:\n{authority}")
}

const PASS: &str = "    - static:\n        action: pass\n";

fn set(docs: &[String], no_match: NoMatchPolicy) -> PolicySet {
    PolicySet::from_files(
        &[(PathBuf::from("/p/policies.yaml"), docs.join("---\n"))],
        no_match,
    )
    .unwrap()
}

fn names(set: &PolicySet, image: &str) -> Vec<String> {
    match set.applicable(image) {
        Applicable::Policies(p) => p.iter().map(|p| p.name.clone()).collect(),
        Applicable::NoMatch(m) => vec![format!("no-match:{m:?}")],
    }
}

#[test]
fn globs_follow_policy_controller_semantics() {
    let s = set(
        &[
            policy("one-level", &["ghcr.io/org/*"], PASS),
            policy("any-depth", &["ghcr.io/org/**"], PASS),
            policy("hub", &["index.docker.io/library/*"], PASS),
            policy("hub-alias", &["docker.io/bitnami/*"], PASS),
            policy("everything", &["**"], PASS),
        ],
        NoMatchPolicy::Deny,
    );
    let table: &[(&str, &[&str])] = &[
        ("ghcr.io/org/app", &["one-level", "any-depth", "everything"]),
        ("ghcr.io/org/team/app", &["any-depth", "everything"]),
        ("ghcr.io/other/app", &["everything"]),
        ("index.docker.io/library/nginx", &["hub", "everything"]),
        (
            "index.docker.io/bitnami/redis",
            &["hub-alias", "everything"],
        ),
    ];
    for (image, want) in table {
        assert_eq!(names(&s, image), want.to_vec(), "{image}");
    }
}

#[test]
fn images_matching_no_policy_follow_no_match() {
    let s = set(
        &[policy("a", &["ghcr.io/org/*"], PASS)],
        NoMatchPolicy::Warn,
    );
    assert_eq!(names(&s, "quay.io/x/y"), ["no-match:Warn"]);
    assert_eq!(
        names(&PolicySet::empty(NoMatchPolicy::Allow), "x/y"),
        ["no-match:Allow"]
    );
}

#[test]
fn the_image_name_is_written_as_policy_controller_writes_it() {
    let hub: RegistryName = "docker.io".parse().unwrap();
    let repo: Repository = "library/nginx".parse().unwrap();
    assert_eq!(image_name(&hub, &repo), "index.docker.io/library/nginx");
    let ghcr: RegistryName = "ghcr.io".parse().unwrap();
    assert_eq!(image_name(&ghcr, &repo), "ghcr.io/library/nginx");
}

#[test]
fn authorities_modes_and_sources_are_parsed() {
    let key_authority = format!(
        "    - name: release-key\n      key:\n        data: |\n{}      source:\n        - oci: registry.test/signatures\n    - static:\n        action: fail\n        message: nope\n",
        KEY.lines().map(|l| format!("          {l}\n")).collect::<String>()
    );
    let doc = policy("p", &["registry.test/**"], &key_authority).replace(
        "spec:\n",
        "spec:\n  mode: warn\n  platformManifests: child\n",
    );
    let s = set(&[doc], NoMatchPolicy::Deny);
    let p = &s.policies()[0];
    assert_eq!(p.mode, Mode::Warn);
    assert_eq!(p.platform_manifests, PlatformManifests::Child);
    assert_eq!(p.authorities.len(), 2);
    assert_eq!(p.authorities[0].name, "release-key");
    assert!(matches!(
        p.authorities[0].kind,
        AuthorityKind::Verify(crate::verify::Requirement::Key(_))
    ));
    assert_eq!(
        p.authorities[0].sources[0].repository.as_str(),
        "signatures"
    );
    assert_eq!(p.authorities[1].name, "authority-1");
    assert!(
        matches!(&p.authorities[1].kind, AuthorityKind::Static { pass: false, message: Some(m) } if m == "nope")
    );
}

#[test]
fn revisions_change_with_every_load() {
    let a = set(&[policy("a", &["x/*"], PASS)], NoMatchPolicy::Deny);
    let b = set(&[policy("a", &["x/*"], PASS)], NoMatchPolicy::Deny);
    assert_ne!(a.revision(), b.revision());
}

fn errors(doc: &str) -> Vec<String> {
    let err = PolicySet::from_files(
        &[(PathBuf::from("/p/bad.yaml"), doc.to_owned())],
        NoMatchPolicy::Deny,
    )
    .unwrap_err();
    err.0.iter().map(ToString::to_string).collect()
}

#[test]
fn unsupported_and_invalid_fields_are_load_errors_with_their_path() {
    let cases: &[(String, &str)] = &[
        (
            policy("a", &["x/*"], "    - key:\n        kms: awskms:///x\n"),
            "document 1: spec.authorities[0].key.kms: KMS keys are not supported",
        ),
        (
            policy("a", &["x/*"], "    - key:\n        secretRef: {name: s}\n"),
            "spec.authorities[0].key.secretRef",
        ),
        (
            policy(
                "a",
                &["x/*"],
                "    - keyless:\n        trustRootRef: staging\n        identities: [{issuer: i, subject: s}]\n",
            ),
            "spec.authorities[0].keyless.trustRootRef: unknown trusted root 'staging' (known: github, public-good",
        ),
        (
            policy("a", &["x/*"], "    - keyless:\n        identities: []\n"),
            "spec.authorities[0].keyless.identities: at least one identity is required",
        ),
        (
            policy("a", &["x/*"], "    - keyless:\n        identities: [{issuer: i}]\n"),
            "spec.authorities[0].keyless.identities[0]: both an issuer and a subject",
        ),
        (
            policy(
                "a",
                &["x/*"],
                "    - keyless:\n        identities: [{issuer: i, subjectRegExp: '(unclosed'}]\n",
            ),
            "spec.authorities[0].keyless.identities[0].subjectRegExp: invalid regular expression",
        ),
        (
            policy(
                "a",
                &["x/*"],
                "    - keyless:\n        identities: [{issuer: i, subject: s, claims: {colour: blue}}]\n",
            ),
            "spec.authorities[0].keyless.identities[0].claims.colour: unknown claim",
        ),
        (
            policy(
                "a",
                &["x/*"],
                "    - static: {action: pass}\n      attestations: [{name: a, predicateType: vuln}]\n",
            ),
            "spec.authorities[0].attestations: a static authority has no signer",
        ),
        (
            policy(
                "a",
                &["x/*"],
                &format!("    - key: {{data: \"{}\"}}\n      attestations: [{{name: a, predicateType: vuln, policy: {{type: cue, data: 'x: 1'}}}}]\n", KEY.replace('\n', "\\n")),
            ),
            "spec.authorities[0].attestations[0].policy.type: CUE policies cannot be evaluated",
        ),
        (
            policy(
                "a",
                &["x/*"],
                &format!("    - key: {{data: \"{}\"}}\n      attestations: [{{name: a, predicateType: sbom-ish}}]\n", KEY.replace('\n', "\\n")),
            ),
            "spec.authorities[0].attestations[0].predicateType",
        ),
        (
            policy("a", &["x/*"], PASS)
                .replace("spec:\n", "spec:\n  policy: {type: cue, data: x}\n"),
            "spec.policy.type: CUE policies cannot be evaluated",
        ),
        (
            policy("a", &["x/*"], PASS).replace("spec:\n", "spec:\n  mode: audit\n"),
            "spec.mode: 'audit' is not enforce or warn",
        ),
        (
            policy("a", &["x/*"], "    - static: {action: maybe}\n"),
            "spec.authorities[0].static.action",
        ),
        (
            policy("a", &["x/*"], "    - key: {data: not-a-key}\n"),
            "spec.authorities[0].key: not a PEM public key",
        ),
        (
            policy("a", &["x/*"], "    - key: {path: missing.pub}\n"),
            "spec.authorities[0].key.path: cannot read '/p/missing.pub'",
        ),
        (
            policy(
                "a",
                &["x/*"],
                "    - static: {action: pass}\n      colour: blue\n",
            ),
            "spec.authorities[0].colour: unknown field `colour`",
        ),
        (
            policy("a", &["x/{a,b"], PASS),
            "spec.images[0].glob: 'x/{a,b' is not a glob policy-controller accepts",
        ),
        (
            policy("a", &["x/app:latest"], PASS),
            "tags and digests are not part of them",
        ),
        (
            policy(
                "a",
                &["x/*"],
                "    - static: {action: pass}\n      key: {data: x}\n",
            ),
            "exactly one of 'key', 'keyless' or 'static'",
        ),
        (
            policy("a", &["x/*"], PASS).replace("ClusterImagePolicy", "ImagePolicy"),
            "kind: 'ImagePolicy' is not ClusterImagePolicy",
        ),
        (
            format!(
                "{}---\n{}",
                policy("a", &["x/*"], PASS),
                policy("a", &["y/*"], PASS)
            ),
            "document 2: metadata.name: policy 'a' is defined twice",
        ),
    ];
    for (doc, want) in cases {
        let errs = errors(doc);
        assert!(
            errs.iter().any(|e| e.contains(want)),
            "want {want:?} in {errs:#?}"
        );
        assert!(
            errs.iter().all(|e| e.starts_with("/p/bad.yaml")),
            "{errs:?}"
        );
    }
}

#[test]
fn a_directory_loads_every_yaml_file_and_ignores_others() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), policy("a", &["x/*"], PASS)).unwrap();
    std::fs::write(
        dir.path().join("b.yml"),
        format!(
            "{}---\n{}",
            policy("b", &["y/*"], PASS),
            policy("c", &["z/*"], PASS)
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("README.md"), "# not a policy").unwrap();
    std::fs::write(dir.path().join("key.pub"), KEY).unwrap();
    std::fs::write(
        dir.path().join("d.yaml"),
        policy("d", &["k/*"], "    - key: {path: key.pub}\n"),
    )
    .unwrap();
    let s = PolicySet::load_dir(dir.path(), NoMatchPolicy::Deny).unwrap();
    let names: Vec<&str> = s.policies().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
}

#[test]
fn the_shipped_examples_load_and_the_builtin_set_is_the_same_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let from_dir = PolicySet::load_dir(&dir, NoMatchPolicy::Deny).unwrap();
    let builtin = PolicySet::builtin_examples(NoMatchPolicy::Deny).unwrap();
    let names = |s: &PolicySet| {
        s.policies()
            .iter()
            .map(|p| p.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&from_dir), names(&builtin));
    assert_eq!(from_dir.policies().len(), 3);
    assert_eq!(
        super::tests::names(&builtin, "index.docker.io/library/alpine"),
        ["docker-official-images"]
    );
    assert!(matches!(
        builtin.applicable("index.docker.io/bitnami/redis"),
        Applicable::NoMatch(NoMatchPolicy::Deny)
    ));
}

#[test]
fn the_example_policies_for_users_load() {
    let dir = tempfile::tempdir().unwrap();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policies");
    let mut n = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        n += 1;
    }
    assert!(n >= 4);
    std::fs::write(dir.path().join("cosign.pub"), KEY).unwrap();
    let set =
        PolicySet::load_dir(dir.path(), NoMatchPolicy::Deny).unwrap_or_else(|e| panic!("{e}"));
    assert!(set.policies().len() >= 4);
    let attested = set
        .policies()
        .iter()
        .flat_map(|p| &p.authorities)
        .filter(|a| a.attestations.iter().any(|r| r.condition.is_some()))
        .count();
    assert!(attested >= 3, "{attested}");
}

#[test]
fn a_policy_set_applies_globs_with_policy_controller_semantics() {
    let s = set(
        &[
            policy("hub-official", &["*"], PASS),
            policy("hub-users", &["*/*"], PASS),
            policy("anywhere-under", &["ghcr.io/org/**/app"], PASS),
            policy("case", &["GHCR.IO/team/*"], PASS),
        ],
        NoMatchPolicy::Deny,
    );
    let table: &[(&str, &[&str])] = &[
        (
            "index.docker.io/library/nginx",
            &["hub-official", "hub-users"],
        ),
        ("index.docker.io/bitnami/redis", &["hub-users"]),
        ("ghcr.io/org/a/b/app", &["anywhere-under"]),
        ("ghcr.io/team/app", &["case"]),
        ("ghcr.io/library/nginx", &["no-match:Deny"]),
    ];
    for (image, want) in table {
        assert_eq!(names(&s, image), want.to_vec(), "{image}");
    }
}

/// A config whose policies are `dir` and whose upstreams are `names`.
fn config(dir: &std::path::Path, names: &[&str]) -> crate::config::Config {
    let upstreams: String = names
        .iter()
        .map(|n| format!("  - {{name: '{n}', url: 'https://{n}'}}\n"))
        .collect();
    crate::config::Config::parse(
        &format!("upstreams:\n{upstreams}policies: {}\n", dir.display()),
        "test.yaml",
        dir,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn serve_and_policy_check_refuse_globs_no_configured_upstream_can_match() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        [
            policy("ok", &["ghcr.io/org/**", "*"], PASS),
            policy("typo", &["ghcr.io/org/*", "gchr.io/org/*"], PASS),
        ]
        .join("---\n"),
    )
    .unwrap();
    let want = "p.yaml: document 2: spec.images[1].glob: 'gchr.io/org/*' can never match: 'gchr.io' is not a configured upstream (configured: ghcr.io, index.docker.io)";
    let cfg = config(dir.path(), &["ghcr.io", "docker.io"]);
    for err in [
        load_configured(
            &cfg,
            &crate::verify::trust::TrustRoots::embedded().unwrap(),
            &super::trust_root::no_tuf,
        )
        .unwrap_err(),
        check_dir(
            dir.path(),
            Some(&cfg),
            &crate::verify::trust::TrustRoots::embedded().unwrap(),
            &super::trust_root::no_tuf,
        )
        .unwrap_err(),
    ] {
        assert_eq!(err.0.len(), 1, "{err}");
        assert!(err.to_string().contains(want), "{err}");
    }
    // Without Docker Hub, policy-controller's `*` matches nothing either.
    let err = load_configured(
        &config(dir.path(), &["ghcr.io", "gchr.io"]),
        &crate::verify::trust::TrustRoots::embedded().unwrap(),
        &super::trust_root::no_tuf,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("document 1: spec.images[1].glob: '*' can never match: 'index.docker.io'"),
        "{err}"
    );
    // With every host configured it loads.
    let set = load_configured(
        &config(dir.path(), &["ghcr.io", "gchr.io", "docker.io"]),
        &crate::verify::trust::TrustRoots::embedded().unwrap(),
        &super::trust_root::no_tuf,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.policies().len(), 2);
    assert!(set.warnings().is_empty());
    // Without a config, `policy check` cannot check hosts, and says so.
    let set = check_dir(
        dir.path(),
        None,
        &crate::verify::trust::TrustRoots::embedded().unwrap(),
        &super::trust_root::no_tuf,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(set.warnings(), [w] if w.message.contains("not checked: give --config")),
        "{:?}",
        set.warnings()
    );
}

#[test]
fn a_docker_hub_glob_of_one_component_loads_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        policy("nginx", &["docker.io/nginx"], PASS),
    )
    .unwrap();
    let set = load_configured(
        &config(dir.path(), &["docker.io"]),
        &crate::verify::trust::TrustRoots::embedded().unwrap(),
        &super::trust_root::no_tuf,
    )
    .unwrap();
    let warnings: Vec<String> = set.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("p.yaml: document 1: spec.images[0].glob: 'docker.io/nginx' matches only the name index.docker.io/nginx")
            && warnings[0].contains("mean 'index.docker.io/library/nginx'"),
        "{warnings:?}"
    );
    // As warned: it does not apply to the official image.
    assert!(matches!(
        set.applicable("index.docker.io/library/nginx"),
        Applicable::NoMatch(_)
    ));
}

#[test]
fn the_builtin_examples_load_under_the_embedded_default_config() {
    // They name example registries the default config does not route to.
    let cfg = crate::config::Config::embedded_default().unwrap();
    let set = load_configured(
        &cfg,
        &crate::verify::trust::TrustRoots::embedded().unwrap(),
        &super::trust_root::no_tuf,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.policies().len(), 3);
}

#[test]
fn identity_regexps_that_would_escape_their_anchors_are_load_errors() {
    for pattern in [
        "x)|(?:.*",
        "a)|(.*",
        ")|.*|(",
        "(unclosed",
        "unopened)",
        "trailing\\",
    ] {
        for field in ["subjectRegExp", "issuerRegExp"] {
            let other = if field == "subjectRegExp" {
                "issuer: i"
            } else {
                "subject: s"
            };
            let doc = policy(
                "a",
                &["x/*"],
                &format!(
                    "    - keyless:\n        identities: [{{{other}, {field}: '{pattern}'}}]\n"
                ),
            );
            let want = format!("spec.authorities[0].keyless.identities[0].{field}: invalid regular expression '{pattern}'");
            let errors = errors(&doc);
            assert!(
                errors.iter().any(|e| e.contains(&want)),
                "{pattern}: {errors:?}"
            );
        }
    }
}

#[test]
fn spec_policy_loads_inline_rego_and_refuses_what_it_cannot_evaluate() {
    let with = |block: &str| {
        policy("p", &["x/*"], PASS).replace("spec:\n", &format!("spec:\n  policy:\n{block}"))
    };
    let s = set(
        &[with(
            "    type: rego\n    data: |\n      package sigstore\n      isCompliant = true\n",
        )],
        NoMatchPolicy::Deny,
    );
    assert!(s.policies()[0].condition.is_some());
    let cases = [
        ("    type: cue\n    data: 'x: 1'\n", "spec.policy.type: CUE policies cannot be evaluated"),
        ("    type: rego\n", "spec.policy.data: the Rego policy text is required"),
        ("    type: rego\n    remote: {url: https://x.test/p.rego}\n", "spec.policy.remote: only inline policies"),
        ("    type: rego\n    configMapRef: {name: p}\n", "spec.policy.configMapRef: only inline policies"),
        ("    type: rego\n    data: 'package sigstore\n\n      isCompliant = true'\n    includeSpec: true\n", "spec.policy.includeSpec: there is no Kubernetes resource"),
        ("    type: rego\n    data: 'package sigstore\n\n      isCompliant = true'\n    fetchConfigFile: true\n", "spec.policy.fetchConfigFile: signgate does not fetch"),
        ("    type: rego\n    data: 'package other\n\n      isCompliant = true'\n", "spec.policy.data: rego policy 'spec.policy': the module must declare `package sigstore`"),
    ];
    for (block, want) in cases {
        let errors = errors(&with(block));
        assert!(
            errors.iter().any(|e| e.contains(want)),
            "{block}: {errors:?}"
        );
    }
}

#[test]
fn spec_match_loads_with_a_warning_and_the_policy_applies_to_every_pull() {
    let doc = policy("p", &["x/*"], PASS).replace(
        "spec:\n",
        "spec:\n  match:\n    - group: apps\n      version: v1\n      resource: deployments\n",
    );
    let s = set(&[doc], NoMatchPolicy::Deny);
    assert!(
        matches!(s.warnings(), [w] if w.to_string() == "/p/policies.yaml: document 1: spec.match: signgate applies this policy to every pull: resource selectors have no meaning at a registry"),
        "{:?}",
        s.warnings()
    );
    assert_eq!(names(&s, "x/app"), ["p"]);
}

#[test]
fn a_key_authority_with_ctlog_requires_a_log_entry_unless_told_to_ignore_it() {
    let key = |ctlog: &str| {
        let indented: String = KEY.lines().map(|l| format!("          {l}\n")).collect();
        format!("    - key:\n        data: |\n{indented}{ctlog}")
    };
    let kind = |ctlog: &str| {
        let s = set(&[policy("p", &["x/*"], &key(ctlog))], NoMatchPolicy::Deny);
        match &s.policies()[0].authorities[0].kind {
            AuthorityKind::Verify(Requirement::Key(_)) => "key".to_owned(),
            AuthorityKind::Verify(Requirement::KeyWithLog(k)) => {
                format!("key+log {}", k.root.name())
            }
            other => format!("{other:?}"),
        }
    };
    assert_eq!(kind(""), "key");
    assert_eq!(
        kind("      ctlog: {url: https://rekor.sigstore.dev}\n"),
        "key+log public-good"
    );
    assert_eq!(
        kind("      ctlog: {trustRootRef: public-good}\n"),
        "key+log public-good"
    );
    assert_eq!(kind("      ctlog: {insecureIgnoreTlog: true}\n"), "key");
    let unknown = errors(&policy(
        "p",
        &["x/*"],
        &key("      ctlog: {trustRootRef: corp}\n"),
    ));
    assert!(
        unknown
            .iter()
            .any(|e| e
                .contains("spec.authorities[0].ctlog.trustRootRef: unknown trusted root 'corp'")),
        "{unknown:?}"
    );
    let tsa = errors(&policy(
        "p",
        &["x/*"],
        &key("      rfc3161timestamp: {trustRootRef: public-good}\n"),
    ));
    assert!(
        tsa.iter().any(|e| e.contains(
            "spec.authorities[0].rfc3161timestamp: timestamps are not supported on key authorities"
        )),
        "{tsa:?}"
    );
}

/// policy-controller's authority fields for GitHub's chart:
/// `signatureFormat`, `keyless.url`, `ctlog.url` and
/// `rfc3161timestamp.trustRootRef` load; the timestamp sets the keyless
/// strictness; a bad format or a timestamp on a private CA is refused.
#[test]
fn signature_format_urls_and_timestamps_load_with_their_meaning() {
    let github = "    - name: github\n      keyless:\n        url: https://fulcio.githubapp.com\n        insecureIgnoreSCT: true\n        identities:\n          - issuer: https://token.actions.githubusercontent.com\n            subjectRegExp: https://github.com/acme-corp/.*\n      rfc3161timestamp: {trustRootRef: public-good}\n      signatureFormat: bundle\n    - name: public-good\n      keyless:\n        identities: [{issuer: i, subject: s}]\n      ctlog: {url: https://rekor.sigstore.dev}\n      signatureFormat: legacy\n    - name: both\n      keyless:\n        identities: [{issuer: i, subject: s}]\n";
    let s = set(
        &[policy("gh", &["ghcr.io/acme-corp/**"], github)],
        NoMatchPolicy::Deny,
    );
    let a = &s.policies()[0].authorities;
    let strictness = |i: usize| match &a[i].kind {
        AuthorityKind::Verify(crate::verify::Requirement::Keyless(k)) => k.strictness,
        other => panic!("{other:?}"),
    };
    assert_eq!(a[0].signature_format, Some(SignatureFormat::Bundle));
    assert_eq!(a[1].signature_format, Some(SignatureFormat::Legacy));
    assert_eq!(a[2].signature_format, None);
    let (ts, plain) = (strictness(0), strictness(1));
    assert!(ts.timestamp && ts.tlog && !ts.sct, "{ts:?}");
    assert!(!plain.timestamp && plain.tlog && plain.sct, "{plain:?}");
    assert!(SignatureFormat::Bundle.admits("application/vnd.dev.sigstore.bundle.v0.3+json"));
    assert!(!SignatureFormat::Bundle.admits("application/vnd.dsse.envelope.v1+json"));
    assert!(SignatureFormat::Legacy.admits("application/vnd.dev.cosign.simplesigning.v1+json"));
    assert!(!SignatureFormat::Legacy.admits("application/vnd.dev.sigstore.bundle+json;version=0.3"));

    let errs = errors(&policy(
        "a",
        &["x/*"],
        "    - keyless:\n        identities: [{issuer: i, subject: s}]\n      signatureFormat: cosign\n",
    ));
    assert!(
        errs.iter()
            .any(|e| e
                .contains("spec.authorities[0].signatureFormat: 'cosign' is not legacy or bundle")),
        "{errs:?}"
    );
    let ca = format!(
        "    - keyless:\n        ca-cert:\n          data: |\n{}        identities: [{{subject: s}}]\n      rfc3161timestamp: {{}}\n",
        KEY.lines().map(|l| format!("            {l}\n")).collect::<String>()
    );
    let errs = errors(&policy("a", &["x/*"], &ca));
    assert!(
        errs.iter().any(|e| e.contains(
            "spec.authorities[0].rfc3161timestamp: a private CA has no timestamp authorities"
        )),
        "{errs:?}"
    );
}
