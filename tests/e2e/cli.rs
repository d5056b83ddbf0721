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

/// A config naming one upstream (never contacted: every case here fails
/// before any I/O) and, optionally, extra top-level YAML.
fn config(dir: &std::path::Path, default: bool, extra: &str) -> String {
    let path = dir.join("signgate.yaml");
    std::fs::write(
        &path,
        format!("upstreams:\n  - {{name: registry.test, url: 'http://127.0.0.1:9', insecure: true, default: {default}}}\nadmin: 127.0.0.1:0\n{extra}"),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn verify_names_the_image_reference_it_cannot_use_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let with_default = config(dir.path(), true, "");
    let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let both = format!("app:1.0@{digest}");
    for (image, why) in [
        ("bad image", "invalid repository name 'bad image'"),
        ("Alpine", "invalid repository name 'Alpine'"),
        ("app:bad tag!", "invalid tag 'bad tag!'"),
        ("app@sha256:zz", "invalid digest 'sha256:zz'"),
        (
            "evil.example/x:1",
            "registry 'evil.example' is not a configured upstream",
        ),
        (
            both.as_str(),
            "give a tag or a digest, not both (tag '1.0')",
        ),
    ] {
        let (code, out) = signgate(&["verify", image, "--config", &with_default]);
        assert_eq!(code, 2, "{image}: {out}");
        assert!(
            out.contains(&format!(
                "signgate verify: invalid image reference '{image}': "
            )),
            "{image}: {out}"
        );
        assert!(out.contains(why), "{image}: {out}");
        assert!(!out.contains("unknown endpoint"), "{image}: {out}");
    }
    let (code, out) = signgate(&[
        "verify",
        "bad image",
        "--output",
        "json",
        "--config",
        &with_default,
    ]);
    assert_eq!(code, 2, "{out}");
    let report: serde_json::Value =
        serde_json::from_str(out.lines().next().unwrap()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["verdict"], "error");
    assert_eq!(report["image"], "bad image");
    assert!(report["message"]
        .as_str()
        .unwrap()
        .contains("invalid repository name"));
    // Without a default upstream, a name with no registry says so.
    let other = tempfile::tempdir().unwrap();
    let without_default = config(other.path(), false, "");
    let (code, out) = signgate(&["verify", "app:1", "--config", &without_default]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("invalid image reference 'app:1': it names no configured registry and no upstream is 'default: true'"),
        "{out}"
    );
}

#[test]
fn mirror_refuses_unusable_arguments_before_doing_anything_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), true, "");
    let to = dir.path().join("export");
    let to_arg = to.to_str().unwrap();
    let (code, out) = signgate(&[
        "mirror",
        "--config",
        &cfg,
        "--to",
        to_arg,
        "app:1",
        "bad image",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(
            "signgate mirror: invalid image reference 'bad image': invalid repository name"
        ),
        "{out}"
    );
    let list = dir.path().join("images.txt");
    std::fs::write(&list, "app:1\n# a comment\n\nBad/Name:1\napp@sha256:zz\n").unwrap();
    let (code, out) = signgate(&[
        "mirror",
        "--config",
        &cfg,
        "--to",
        to_arg,
        "--from",
        list.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{out}");
    for (image, why, line) in [
        ("Bad/Name:1", "invalid repository name 'Bad/Name'", 4),
        ("app@sha256:zz", "invalid digest 'sha256:zz'", 5),
    ] {
        let said = out
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "signgate mirror: invalid image reference '{image}': "
                ))
            })
            .unwrap_or_else(|| panic!("{image} not named in {out}"));
        assert!(said.contains(why), "{said}");
        assert!(
            said.ends_with(&format!("({} line {line})", list.display())),
            "{said}"
        );
    }
    let (code, out) = signgate(&[
        "mirror",
        "--config",
        &cfg,
        "--to",
        to_arg,
        "--platform",
        "linux",
        "app:1",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("--platform 'linux': expected os/arch[/variant]"),
        "{out}"
    );
    // Nothing was exported: the directory was never created.
    assert!(!to.exists());
    let missing = dir.path().join("no-such-export");
    let (code, out) = signgate(&[
        "mirror",
        "import",
        missing.to_str().unwrap(),
        "--config",
        &cfg,
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!(
            "signgate mirror import: '{}': No such file or directory",
            missing.display()
        )),
        "{out}"
    );
}

#[test]
fn policy_check_names_the_config_it_cannot_read() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");
    let (code, out) = signgate(&[
        "policy",
        "check",
        shipped,
        "--config",
        "/nonexistent/signgate.yaml",
    ]);
    assert_eq!(code, 64, "{out}");
    assert!(
        out.starts_with("--config /nonexistent/signgate.yaml: 1 problem\n  - cannot read file: "),
        "{out}"
    );
    let (code, out) = signgate(&["policy", "check", "/nonexistent-policies"]);
    assert_eq!(code, 64, "{out}");
    assert!(
        out.contains("/nonexistent-policies: cannot read policy directory"),
        "{out}"
    );
}

#[test]
fn doctor_refuses_arguments_it_cannot_use_naming_them() {
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_str().unwrap();
    for (args, want) in [
        (
            vec!["--root", "/nonexistent-root"],
            "signgate doctor: --root '/nonexistent-root': No such file or directory".to_owned(),
        ),
        (
            vec!["--root", "/etc/hostname"],
            "signgate doctor: --root '/etc/hostname': not a directory".to_owned(),
        ),
        (
            vec!["--root", root_arg, "--signgate", "not an address"],
            "signgate doctor: --signgate 'not an address': not a host[:port]".to_owned(),
        ),
        (
            vec!["--root", root_arg, "--registry", "Bad Name"],
            "signgate doctor: --registry 'Bad Name': invalid registry name".to_owned(),
        ),
    ] {
        let (code, out) = signgate(&[&["doctor"], args.as_slice()].concat());
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.contains(&want), "{args:?}: {out}");
    }
    let (code, out) = signgate(&["doctor", "--root", root_arg, "--signgate", "[::1]:5000"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn config_check_warns_about_a_plain_http_admin_listener_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let exposed = dir.path().join("exposed.yaml");
    std::fs::write(
        &exposed,
        "upstreams:\n  - {name: docker.io, url: 'https://registry-1.docker.io', default: true}\nadmin: 0.0.0.0:5001\n",
    )
    .unwrap();
    let (code, out) = signgate(&["config", "check", exposed.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "{}: warning: admin: plain HTTP on 0.0.0.0:5001, which is not a loopback address: /metrics, /healthz and /readyz are served without TLS or authentication",
            exposed.display()
        )),
        "{out}"
    );
    for admin in ["127.0.0.1:5001", "'[::1]:5001'"] {
        let local = dir.path().join("local.yaml");
        std::fs::write(
            &local,
            format!("upstreams:\n  - {{name: docker.io, url: 'https://registry-1.docker.io', default: true}}\nadmin: {admin}\n"),
        )
        .unwrap();
        let (code, out) = signgate(&["config", "check", local.to_str().unwrap()]);
        assert_eq!(code, 0, "{out}");
        assert!(!out.contains("warning"), "{admin}: {out}");
    }
}

#[test]
fn config_check_validates_limits_with_their_key_paths() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("limits.yaml");
    std::fs::write(
        &bad,
        "upstreams:\n  - {name: docker.io, url: 'https://registry-1.docker.io', default: true}\nlimits: {idle-timeout: 0s, max-connections: 0, http2: {max-concurrent-streams: 0}}\n",
    )
    .unwrap();
    let (code, out) = signgate(&["config", "check", bad.to_str().unwrap()]);
    assert_eq!(code, 64, "{out}");
    for want in [
        "3 problems",
        "limits.idle-timeout: must be greater than zero",
        "limits.max-connections: 0 is out of range",
        "limits.http2.max-concurrent-streams: 0 is out of range",
    ] {
        assert!(out.contains(want), "missing {want} in {out}");
    }
}

#[test]
fn tls_self_signed_writes_private_keys_for_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let (code, out) = signgate(&["tls", "self-signed", certs.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let mode = |p: &str| {
        std::fs::metadata(certs.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("server.key"), 0o600);
    assert_eq!(mode("client/client.key"), 0o600);
    assert_eq!(mode("server.crt"), 0o644);
    assert_eq!(mode("client/ca.crt"), 0o644);
    let (code, out) = signgate(&[
        "tls",
        "self-signed",
        certs.to_str().unwrap(),
        "--name",
        "bad name",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(
            "signgate tls self-signed: --name 'bad name': not a DNS name or an IP address"
        ),
        "{out}"
    );
}

#[test]
fn config_files_that_cannot_be_read_are_named() {
    let missing = "/nonexistent/signgate.yaml";
    for args in [
        vec!["config", "check", missing],
        vec!["serve", "--config", missing],
        vec!["verify", "app:1", "--config", missing],
        vec![
            "mirror",
            "--to",
            "/nonexistent/export",
            "app:1",
            "--config",
            missing,
        ],
    ] {
        let (code, out) = signgate(&args);
        assert!(code == 64 || code == 2, "{args:?}: exit {code}: {out}");
        assert!(
            out.starts_with(&format!("{missing}: 1 problem\n  - cannot read file: ")),
            "{args:?}: {out}"
        );
    }
}
