//! Policies and trust that must not quietly mean less than they say
//! (issue 10, class 6 and parts of class 7), end to end with the real
//! binary: globs no configured upstream can match and identity regexps
//! that would escape their anchors are refused at load (`policy check`,
//! `serve`); a certificate without an SCT is refused under
//! `insecureIgnoreTlog` when SCTs are required (the real registry, the
//! test's own Fulcio and CT log); configured credentials go only to token
//! realms the upstream may send them to (the test token service, and an
//! in-process fake upstream naming a foreign realm).

use std::process::Command;

use crate::support::enforce::{denial_of, pull};
use crate::support::image::push_image;
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::signgate::{Signgate, Up};
use crate::support::sigstore_ca::{push_legacy, LeafIdentity, TestSigstore, ANN_BUNDLE};

const ISSUER: &str = "https://issuer.example.test";
const ALICE: &str = "alice@example.test";

fn signgate(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_signgate"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn static_pass(name: &str, glob: &str) -> String {
    format!("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {{name: {name}}}\nspec:\n  images: [{{glob: '{glob}'}}]\n  authorities: [{{static: {{action: pass}}}}]\n")
}

#[test]
fn policy_check_and_serve_refuse_globs_that_match_no_configured_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(
        policies.join("p.yaml"),
        [
            static_pass("ok", "registry.test/app/**"),
            static_pass("typo", "registyr.test/app/**"),
        ]
        .join("---\n"),
    )
    .unwrap();
    let config = dir.path().join("signgate.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\nupstreams:\n  - {{name: registry.test, url: 'https://registry.test'}}\npolicies: {}\n",
            policies.display()
        ),
    )
    .unwrap();
    let want = "p.yaml: document 2: spec.images[0].glob: 'registyr.test/app/**' can never match: 'registyr.test' is not a configured upstream (configured: registry.test)";
    let (code, out) = signgate(&[
        "policy",
        "check",
        policies.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 64, "{out}");
    assert!(out.contains(want), "{out}");
    // serve refuses the same directory before listening.
    let (code, out) = signgate(&["serve", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 64, "{out}");
    assert!(out.contains(want), "{out}");
    // Without --config the hosts cannot be checked, and it says so.
    let (code, out) = signgate(&["policy", "check", policies.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: ") && out.contains("give --config"),
        "{out}"
    );
}

#[test]
fn policy_check_warns_on_a_docker_hub_glob_of_one_component() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        static_pass("nginx", "docker.io/nginx"),
    )
    .unwrap();
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("signgate.yaml");
    std::fs::write(
        &config,
        "upstreams:\n  - {name: docker.io, url: 'https://registry-1.docker.io'}\n",
    )
    .unwrap();
    let (code, out) = signgate(&[
        "policy",
        "check",
        dir.path().to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: ")
            && out.contains("'docker.io/nginx' matches only the name index.docker.io/nginx")
            && out.contains("mean 'index.docker.io/library/nginx'"),
        "{out}"
    );
}

#[test]
fn policy_check_refuses_identity_regexps_that_would_escape_their_anchors() {
    for pattern in ["x)|(?:.*", "a)|(.*", "(unclosed", "trailing\\"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("p.yaml"),
            format!("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {{name: k}}\nspec:\n  images: [{{glob: 'registry.test/**'}}]\n  authorities:\n    - keyless:\n        identities: [{{issuer: '{ISSUER}', subjectRegExp: '{pattern}'}}]\n"),
        )
        .unwrap();
        let (code, out) = signgate(&["policy", "check", dir.path().to_str().unwrap()]);
        assert_eq!(code, 64, "{pattern}: {out}");
        assert!(
            out.contains(&format!(
                "spec.authorities[0].keyless.identities[0].subjectRegExp: invalid regular expression '{pattern}'"
            )),
            "{pattern}: {out}"
        );
    }
}

/// Legacy keyless `.sig` layers without a Rekor entry — a leaf with the CT
/// log's SCT, and one without — under `insecureIgnoreTlog`, with SCTs
/// required (the default) and with `insecureIgnoreSCT`.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_log_entry_a_certificate_still_needs_its_sct_unless_ignored() {
    let registry = Registry::start(RegistryAuth::None);
    let ca = TestSigstore::new();
    let url = registry.url();
    let with_sct = ca.issue(&LeafIdentity::email(ALICE, ISSUER));
    let without_sct = ca.issue(&LeafIdentity::email(ALICE, ISSUER).without_sct());
    for (repo, signer) in [("pt/sct", &with_sct), ("pt/nosct", &without_sct)] {
        let digest = push_image(&registry, repo, repo);
        let mut layer = signer.sign_legacy(&ca, &digest, &format!("registry.test/{repo}"));
        layer.annotations.remove(ANN_BUNDLE);
        push_legacy(&url, repo, &digest, "sig", &[layer]).await;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.json"), ca.trusted_root_json()).unwrap();
    let gate = |sct: &str| {
        let policies = dir.path().join(format!("policies{}", sct.len()));
        std::fs::create_dir_all(&policies).unwrap();
        std::fs::write(
            policies.join("p.yaml"),
            format!("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {{name: no-log}}\nspec:\n  images: [{{glob: 'registry.test/pt/*'}}]\n  authorities:\n    - keyless:\n        trustRootRef: test\n        identities: [{{issuer: '{ISSUER}', subject: '{ALICE}'}}]\n{sct}      ctlog: {{insecureIgnoreTlog: true}}\n"),
        )
        .unwrap();
        Signgate::start(
            &[Up::new("registry.test", &url).default()],
            &format!(
                "policies: {}\nno-match-policy: deny\ntrust:\n  roots:\n    test: {}\n",
                policies.display(),
                dir.path().join("root.json").display()
            ),
        )
    };
    let strict = gate("");
    let ok = pull(&strict, "pt/sct", "v1").await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let m = denial_of(&pull(&strict, "pt/nosct", "v1").await);
    assert!(m.contains("certificate has no embedded SCT"), "{m}");
    let lax = gate("        insecureIgnoreSCT: true\n");
    for repo in ["pt/sct", "pt/nosct"] {
        let r = pull(&lax, repo, "v1").await;
        assert_eq!(
            r.status,
            200,
            "{repo}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

/// An in-process fake upstream (no real registry is configured this way by
/// accident, but anyone who controls an upstream's answers can): every
/// request without a bearer token gets a challenge naming the test token
/// service under another host name (`localhost`, while the upstream is
/// `127.0.0.1`); with one, a tag list.
async fn foreign_realm_upstream(realm: String) -> crate::support::fake::Fake {
    use crate::support::fake::{reply, Fake};
    use http::StatusCode;
    Fake::start(move |r| {
        let bearer = r
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer "));
        if bearer {
            reply(
                StatusCode::OK,
                &[("content-type", "application/json")],
                r#"{"name":"private/app","tags":["v1"]}"#,
            )
        } else {
            let challenge = format!(
                r#"Bearer realm="{realm}",service="{}",scope="repository:private/app:pull""#,
                crate::support::token::SERVICE
            );
            reply(
                StatusCode::UNAUTHORIZED,
                &[
                    ("content-type", "application/json"),
                    ("www-authenticate", &challenge),
                ],
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            )
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_reach_a_token_realm_only_if_it_belongs_to_the_upstream() {
    use crate::support::token::{TokenService, PASSWORD, USER};
    let tokens = TokenService::start();
    let realm = format!("http://localhost:{}/token", tokens.port);
    let fake = foreign_realm_upstream(realm.clone()).await;
    let scope = "repository:private/app:pull";
    let auth = format!("auth: {{username: {USER}, password: {PASSWORD}}}");
    let tags = |sg: &Signgate| {
        let url = sg.url("/v2/private/app/tags/list");
        async move { crate::support::http::get(&url).await }
    };
    let anonymous = |tokens: &TokenService| {
        tokens
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|(authenticated, s)| !authenticated && s == scope)
            .count()
    };

    // Not the upstream's host, not listed: asked anonymously, and logged.
    let sg = Signgate::start(
        &[Up::new("fake.test", &fake.url()).default().extra(&auth)],
        "",
    );
    let r = tags(&sg).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(anonymous(&tokens) >= 1, "the realm was asked");
    assert_eq!(
        tokens.issued_with_credentials_for(scope),
        0,
        "the realm never received the Authorization header"
    );
    let log = sg.log_text();
    assert!(
        log.contains("token realm not trusted with the configured credentials")
            && log.contains("'localhost' is not the upstream's host (127.0.0.1)"),
        "{log}"
    );
    drop(sg);

    // Listed for this upstream: the credentials go.
    let listed = format!("{auth}\ntoken-realms: ['{realm}']");
    let sg = Signgate::start(
        &[Up::new("fake.test", &fake.url()).default().extra(&listed)],
        "",
    );
    let before = anonymous(&tokens);
    let r = tags(&sg).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(tokens.issued_with_credentials_for(scope) >= 1);
    assert_eq!(anonymous(&tokens), before, "no anonymous request this time");
}
