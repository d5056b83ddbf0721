//! Config diagnostics, pinned: a table of bad config files (the cases of
//! `tests.rs`) → the text `signgate` prints for each. Wording, key paths
//! and the order of problems are user-facing; a change is accepted on
//! purpose (`cargo insta review`).

use std::fmt::Write as _;

use super::*;

const UP: &str = "upstreams:\n  - {name: a.io, url: 'https://a.io'}\n";

fn cases() -> Vec<(&'static str, String)> {
    vec![
        (
            "every problem at once",
            r#"
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
"#
            .to_owned(),
        ),
        (
            "duplicate names and two defaults",
            "upstreams:\n  - {name: a.io, url: 'https://a.io', default: true}\n  - {name: A.io, url: 'https://b.io', default: true}\n".to_owned(),
        ),
        ("no upstreams", "listen: 127.0.0.1:1\n".to_owned()),
        ("broken yaml", "upstreams: [\n".to_owned()),
        (
            "docker config without the registry",
            "upstreams:\n  - name: missing.io\n    url: https://missing.io\n    auth: {docker-config: config.json}\n".to_owned(),
        ),
        ("plain http off loopback", format!("listen: 0.0.0.0:5000\n{UP}")),
        (
            "unreadable tls files",
            format!("listen: 0.0.0.0:5000\ntls: {{cert: /no/cert.pem, key: /no/key.pem}}\n{UP}"),
        ),
        (
            "bad trust.tuf",
            format!("{UP}trust:\n  roots: {{github: /no/root.json}}\n  tuf:\n    refresh: soon\n    on-expired: maybe\n"),
        ),
        (
            "bad trust.tuf repositories",
            format!("{UP}trust:\n  tuf:\n    repositories:\n      public-good: {{mirror: 'https://x.io', root: r.json}}\n      corp: {{mirror: 'ftp://x.io', root: r.json}}\n      lab: {{mirror: 'http://127.0.0.1:8080', root: /no/root.json}}\n      edge: {{mirror: 'https://x.io', root: r.json, colour: blue}}\n"),
        ),
    ]
}

#[test]
fn bad_config_files_are_reported_in_these_words() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"auths":{"other.io":{"username":"o","password":"p"}}}"#,
    )
    .unwrap();
    let mut table = String::new();
    for (name, yaml) in cases() {
        let err = Config::parse(&yaml, "test.yaml", dir.path()).unwrap_err();
        let text = err
            .to_string()
            .replace(&dir.path().display().to_string(), "<dir>");
        writeln!(table, "## {name}\n{}", text.trim_end()).unwrap();
    }
    insta::assert_snapshot!(table);
}
