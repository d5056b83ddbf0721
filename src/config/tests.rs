use std::path::Path;
use std::time::Duration;

use super::*;

fn errors_of(yaml: &str) -> Vec<String> {
    let err = Config::parse(yaml, "test.yaml", Path::new("/nonexistent")).unwrap_err();
    err.errors
        .iter()
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect()
}

#[test]
fn embedded_default_is_valid_and_points_at_docker_hub() {
    let c = Config::embedded_default().unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:5000");
    let d = c.default_upstream().unwrap();
    assert!(d.name.is_docker_hub());
    assert_eq!(d.url.as_str(), "https://registry-1.docker.io/");
    assert_eq!(c.cache.tag_ttl, Duration::ZERO);
    assert_eq!(c.no_match_policy, NoMatchPolicy::Deny);
    assert_eq!(c.policies, Some(PolicySource::BuiltinExamples));
    assert_eq!(c.blobs, BlobMode::Strict);
}

#[test]
fn the_shape_from_the_readme_loads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p"), "s3cret\n").unwrap();
    let yaml = r#"
listen: 127.0.0.1:5000
upstreams:
  - name: docker.io
    url: https://registry-1.docker.io
    default: true
  - name: registry.internal:5000
    url: http://127.0.0.1:15000
    insecure: true
    auth: {username: u, password-file: p}
policies: ./policies
no-match-policy: warn
cache: {tag-ttl: 30s, manifest-bytes: 1048576}
timeouts: {connect: 2s, response: 5s, idle: 1m}
"#;
    let c = Config::parse(yaml, "t", dir.path()).unwrap();
    assert_eq!(c.upstreams.len(), 2);
    let internal = &c.upstreams[1];
    assert_eq!(internal.name.as_str(), "registry.internal:5000");
    assert!(internal.insecure);
    let creds = internal.credentials.as_ref().unwrap();
    assert_eq!(
        (creds.username.as_str(), creds.password.as_str()),
        ("u", "s3cret")
    );
    assert_eq!(
        c.policies,
        Some(PolicySource::Dir(dir.path().join("./policies")))
    );
    assert_eq!(c.no_match_policy, NoMatchPolicy::Warn);
    assert_eq!(c.cache.tag_ttl, Duration::from_secs(30));
    assert_eq!(c.cache.manifest_bytes, 1048576);
    assert_eq!(c.timeouts.idle, Duration::from_secs(60));
}

#[test]
fn every_problem_is_reported_at_once_with_its_path() {
    let yaml = r#"
listen: nowhere
lisen: 1
upstreams:
  - name: "Bad Name"
    url: https://x.io
  - name: ok.io
    url: http://ok.io
  - name: two.io
    url: https://two.io
    default: true
    colour: blue
  - name: three.io
    url: https://three.io/some/path
    default: true
    auth: {username: u}
no-match-policy: maybe
cache: {tag-ttl: forever}
timeouts: {connect: 0s}
"#;
    let errors = errors_of(yaml);
    let want = [
        "lisen: unknown key",
        "listen: 'nowhere' is not an address",
        "upstreams[0].name: invalid registry name 'Bad Name'",
        "upstreams[1].url: plain http needs 'insecure: true'",
        "upstreams[2].colour: unknown field `colour`",
        "upstreams[3].url: must be the registry's base URL",
        "upstreams[3].auth: 'password' or 'password-file' is required",
        "no-match-policy: unknown variant `maybe`",
        "cache.tag-ttl: 'forever' is not a duration",
        "timeouts.connect: must be greater than zero",
    ];
    for w in want {
        assert!(
            errors.iter().any(|e| e.starts_with(w)),
            "missing {w:?} in {errors:#?}"
        );
    }
    assert_eq!(errors.len(), want.len(), "{errors:#?}");
}

#[test]
fn duplicate_names_two_defaults_and_missing_upstreams_are_errors() {
    let errors = errors_of(
        "upstreams:\n  - {name: a.io, url: 'https://a.io', default: true}\n  - {name: A.io, url: 'https://b.io', default: true}\n",
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("'A.io' is configured twice")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("at most one upstream")),
        "{errors:?}"
    );
    let errors = errors_of("listen: 127.0.0.1:1\n");
    assert!(
        errors.iter().any(|e| e.starts_with("upstreams: required")),
        "{errors:?}"
    );
}

#[test]
fn broken_yaml_is_one_clear_error() {
    let errors = errors_of("upstreams: [\n");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("not valid YAML"), "{errors:?}");
}

#[test]
fn docker_config_credentials_are_found_by_registry_name() {
    let dir = tempfile::tempdir().unwrap();
    // "user:pa:ss" in base64: a password may contain ':'.
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYTpzcw=="},"other.io":{"username":"o","password":"p"}}}"#,
    )
    .unwrap();
    let yaml = r#"
upstreams:
  - name: docker.io
    url: https://registry-1.docker.io
    auth: {docker-config: config.json}
  - name: other.io
    url: https://other.io
    auth: {docker-config: config.json}
  - name: missing.io
    url: https://missing.io
    auth: {docker-config: config.json}
"#;
    let err = Config::parse(yaml, "t", dir.path()).unwrap_err();
    assert_eq!(err.errors.len(), 1, "{err}");
    assert!(
        err.errors[0]
            .message
            .contains("no credentials for 'missing.io'"),
        "{err}"
    );
    let ok = yaml.replace("  - name: missing.io\n    url: https://missing.io\n    auth: {docker-config: config.json}\n", "");
    let c = Config::parse(&ok, "t", dir.path()).unwrap();
    let hub = c.upstreams[0].credentials.as_ref().unwrap();
    assert_eq!(
        (hub.username.as_str(), hub.password.as_str()),
        ("user", "pa:ss")
    );
    let other = c.upstreams[1].credentials.as_ref().unwrap();
    assert_eq!(other.username, "o");
}

#[test]
fn passwords_never_appear_in_debug_output() {
    let c = Credentials {
        username: "u".into(),
        password: "hunter2".into(),
    };
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn plain_http_is_for_loopback_only_unless_dangerously_allowed() {
    let up = "upstreams:\n  - {name: a.io, url: 'https://a.io'}\n";
    let errors = errors_of(&format!("listen: 0.0.0.0:5000\n{up}"));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("not a loopback address: configure 'tls'")),
        "{errors:?}"
    );
    assert!(Config::parse(
        &format!("listen: 0.0.0.0:5000\ndangerously-allow-plain-http: true\n{up}"),
        "t",
        Path::new(".")
    )
    .is_ok());
    assert!(Config::parse(&format!("listen: '[::1]:5000'\n{up}"), "t", Path::new(".")).is_ok());
    let errors = errors_of(&format!(
        "listen: 0.0.0.0:5000\ntls: {{cert: /no/cert.pem, key: /no/key.pem}}\n{up}"
    ));
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("tls.cert: '/no/cert.pem' is not a readable file")),
        "{errors:?}"
    );
    assert!(!errors.iter().any(|e| e.contains("loopback")), "{errors:?}");
}

#[test]
fn trust_tuf_defaults_follow_the_store_and_repositories_resolve_against_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("corp-root.json"), "{}").unwrap();
    let up = "upstreams:\n  - {name: a.io, url: 'https://a.io'}\n";
    let config = Config::parse(
        &format!("{up}store: {{path: store}}\ntrust:\n  tuf:\n    refresh: 1h\n    on-expired: deny\n    repositories:\n      corp: {{mirror: 'http://127.0.0.1:8080', root: corp-root.json}}\n"),
        "test.yaml",
        dir.path(),
    )
    .unwrap();
    let tuf = &config.trust.tuf;
    assert_eq!(tuf.cache_dir, Some(dir.path().join("store").join("trust")));
    assert_eq!(tuf.refresh, Duration::from_secs(3600));
    assert_eq!(tuf.on_expired, OnExpired::Deny);
    let corp = &tuf.repositories["corp"];
    assert_eq!(corp.mirror.as_str(), "http://127.0.0.1:8080/");
    assert_eq!(corp.root, dir.path().join("corp-root.json"));
    assert_eq!(corp.target, "trusted_root.json");
    // Without a trust section: a day, keep, and an explicit cache dir wins.
    let config = Config::parse(up, "test.yaml", dir.path()).unwrap();
    assert_eq!(config.trust.tuf.refresh, Duration::from_secs(24 * 3600));
    assert_eq!(config.trust.tuf.on_expired, OnExpired::Keep);
    let config = Config::parse(
        &format!("{up}store: {{path: store}}\ntrust: {{tuf: {{cache-dir: /var/cache/t}}}}\n"),
        "test.yaml",
        dir.path(),
    )
    .unwrap();
    assert_eq!(
        config.trust.tuf.cache_dir,
        Some(PathBuf::from("/var/cache/t"))
    );
}
