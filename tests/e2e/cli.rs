//! The command line: config validation, exit codes.

use std::process::Command;

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

#[test]
fn config_check_reports_every_problem_and_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "listen: nowhere\nupstreams:\n  - {name: a.io, url: 'http://a.io'}\n  - {name: b.io, url: 'https://b.io', typo: 1}\nno-match-policy: maybe\n",
    )
    .unwrap();
    let (code, out) = signgate(&["config", "check", bad.to_str().unwrap()]);
    assert_eq!(code, 64, "{out}");
    assert!(out.contains("4 problems"), "{out}");
    for want in [
        "listen:",
        "upstreams[0].url:",
        "upstreams[1].typo:",
        "no-match-policy:",
    ] {
        assert!(out.contains(want), "missing {want} in {out}");
    }
}

#[test]
fn config_check_accepts_the_shipped_examples_and_the_embedded_default() {
    let (code, default_yaml) = signgate(&["config", "default"]);
    assert_eq!(code, 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("default.yaml");
    std::fs::write(&path, default_yaml).unwrap();
    let (code, out) = signgate(&["config", "check", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/signgate.yaml");
    let (code, out) = signgate(&["config", "check", example]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn serve_with_a_bad_config_exits_64_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "upstreams: []\n").unwrap();
    let (code, out) = signgate(&["serve", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 64, "{out}");
    assert!(out.contains("at least one upstream"), "{out}");
}

#[test]
fn policy_check_validates_a_directory_and_names_every_problem() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");
    let (code, out) = signgate(&["policy", "check", shipped]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 policies ok"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: a}\nspec:\n  images: [{glob: 'x/*'}]\n  authorities:\n    - key: {kms: 'awskms:///k'}\n",
    )
    .unwrap();
    let (code, out) = signgate(&["policy", "check", dir.path().to_str().unwrap()]);
    assert_eq!(code, 64, "{out}");
    assert!(
        out.contains(
            "bad.yaml: document 1: spec.authorities[0].key.kms: KMS keys are not supported"
        ),
        "{out}"
    );
}

#[test]
fn doctor_exits_non_zero_on_a_bypass_and_names_the_fix() {
    let root = tempfile::tempdir().unwrap();
    let hosts = root.path().join("etc/containerd/certs.d/docker.io");
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::write(
        hosts.join("hosts.toml"),
        "server = \"https://registry-1.docker.io\"\n[host.\"http://127.0.0.1:5000\"]\n",
    )
    .unwrap();
    let (code, out) = signgate(&["doctor", "--root", root.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("BYPASS") && out.contains("fix: server = \"http://127.0.0.1:5000\""),
        "{out}"
    );
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/containerd/docker.io/hosts.toml"
    ))
    .unwrap();
    std::fs::write(hosts.join("hosts.toml"), shipped).unwrap();
    let (code, out) = signgate(&["doctor", "--root", root.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("enforced"), "{out}");
}
