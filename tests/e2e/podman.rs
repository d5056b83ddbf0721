//! podman (Debian bookworm's 4.3, as a plain client: its sigstore support
//! is patched out) pulling through signgate with the primary registry
//! location remapped in `registries.conf`, as `deploy/podman/` ships it.

use std::path::Path;
use std::process::Command;

use crate::enforce::{enforcing, signed_world};

fn podman(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("podman")
        .env("CONTAINERS_REGISTRIES_CONF", dir.join("registries.conf"))
        .args(["--root", dir.join("storage").to_str().unwrap()])
        .args(["--runroot", dir.join("run").to_str().unwrap()])
        .args(["--storage-driver", "vfs"])
        .args(args)
        .output()
        .expect("podman runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn podman_with_the_primary_location_remapped_pulls_signed_and_is_refused_unsigned_with_the_reason(
) {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    let dir = tempfile::tempdir().unwrap();
    // deploy/podman/registries.conf, for the test registry's name.
    std::fs::write(
        dir.path().join("registries.conf"),
        format!("[[registry]]\nprefix = \"registry.test\"\nlocation = \"{}/registry.test\"\ninsecure = true\n", sg.host()),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("policy.json"),
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .unwrap();
    let policy = dir.path().join("policy.json");
    let policy = policy.to_str().unwrap();

    let (ok, out) = podman(
        dir.path(),
        &[
            "pull",
            "--signature-policy",
            policy,
            "registry.test/enf/signed:v1",
        ],
    );
    assert!(ok, "signed pull: {out}");
    assert!(
        out.contains(&w.signed.digest.replace("sha256:", "")[..12])
            || out.contains("Writing manifest"),
        "{out}"
    );

    // An unsigned image of this test's own, so the registry log speaks only of it.
    let layout_dir = tempfile::tempdir().unwrap();
    let mut layout = crate::support::image::Layout::new(layout_dir.path());
    let m = layout.image("amd64", &[("p", b"podman unsigned")]);
    layout.tag(&m, "v1");
    crate::support::image::push(
        layout_dir.path(),
        "v1",
        &format!("{}/enf/podman-unsigned:v1", w.registry.host()),
        None,
    );

    let (ok, out) = podman(
        dir.path(),
        &[
            "pull",
            "--signature-policy",
            policy,
            "registry.test/enf/podman-unsigned:v1",
        ],
    );
    assert!(!ok, "unsigned pull must fail: {out}");
    assert!(
        out.contains("denied by policy enforced") && out.contains("no signatures found"),
        "podman shows signgate's reason: {out}"
    );
    // No fallback: every request for that manifest reaching the registry
    // came from signgate itself.
    let log = w.registry.log_text();
    let requests: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("/v2/enf/podman-unsigned/manifests/") && l.contains("\"GET ")
                || l.contains("/v2/enf/podman-unsigned/manifests/") && l.contains("\"HEAD ")
        })
        .collect();
    assert!(!requests.is_empty(), "signgate asked the registry");
    let skopeo_push_and_signgate = |l: &&str| l.contains("signgate/") || l.contains("skopeo");
    let others: Vec<&&str> = requests
        .iter()
        .filter(|l| !skopeo_push_and_signgate(l))
        .collect();
    assert!(
        others.is_empty(),
        "someone else reached the registry: {others:?}"
    );
}
