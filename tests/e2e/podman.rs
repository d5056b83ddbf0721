//! podman (Debian bookworm's 4.3, as a plain client: its sigstore support
//! is patched out) pulling through signgate with the primary registry
//! location remapped in `registries.conf`, as `deploy/podman/` ships it.

use std::path::Path;
use std::process::Command;

use crate::support::enforce::enforcing;
use crate::support::signed::signed_world;

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

/// The trixie root with podman 5.4 (`tests/tools/trixie-podman`, made once).
fn trixie_root() -> &'static Path {
    static ROOT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/trixie-podman");
        let out = Command::new(script).output().expect("trixie-podman runs");
        assert!(
            out.status.success(),
            "making the trixie root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// podman 5.4 in the trixie root, in private mount and pid namespaces,
/// with `conf` as its /etc/containers and vfs storage under `conf`.
fn podman5(conf: &Path, args: &[&str]) -> (bool, String) {
    let root = trixie_root();
    let script = r#"set -e
root="$1"; conf="$2"; shift 2
mount --make-rprivate /
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mkdir -p "$root/var/lib/signgate-test" "$conf/storage"
mount --bind "$conf" "$root/etc/containers"
mount --bind "$conf/storage" "$root/var/lib/signgate-test"
exec chroot "$root" podman --storage-driver vfs --root /var/lib/signgate-test --runroot /run/signgate-test "$@"
"#;
    let out = Command::new("unshare")
        .args(["-m", "-p", "-f", "sh", "-c", script, "sh"])
        .arg(root)
        .arg(conf)
        .args(args)
        .output()
        .expect("unshare runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// /etc/containers for podman 5.4: the primary location remapped to
/// signgate, sigstore attachments on, and its own policy requiring a cosign
/// signature by `key_pem` for registry.test.
fn podman5_conf(signgate: &str, registry: &str, key_pem: &str) -> tempfile::TempDir {
    let conf = tempfile::tempdir().unwrap();
    let c = conf.path();
    std::fs::write(
        c.join("registries.conf"),
        format!("[[registry]]\nprefix = \"registry.test\"\nlocation = \"{signgate}/registry.test\"\ninsecure = true\n"),
    )
    .unwrap();
    std::fs::create_dir_all(c.join("registries.d")).unwrap();
    std::fs::write(
        c.join("registries.d/default.yaml"),
        "default-docker:\n  use-sigstore-attachments: true\n",
    )
    .unwrap();
    std::fs::write(c.join("cosign.pub"), key_pem).unwrap();
    // cosign signed the images under the registry's real address (and its
    // signatures carry only the repository); podman knows them as
    // registry.test: accept exactly the signed repository.
    std::fs::write(
        c.join("policy.json"),
        format!(
            r#"{{"default":[{{"type":"reject"}}],"transports":{{"docker":{{"registry.test":[{{"type":"sigstoreSigned","keyPath":"/etc/containers/cosign.pub","signedIdentity":{{"type":"exactRepository","dockerRepository":"{registry}/enf/recursive"}}}}]}}}}}}"#
        ),
    )
    .unwrap();
    conf
}

#[tokio::test(flavor = "multi_thread")]
async fn podman_5_verifies_signatures_itself_through_signgate_so_both_gates_hold() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    let conf = podman5_conf(&sg.host(), &w.registry.host(), &w.trusted.public_pem());

    // Signed per platform (`cosign sign --recursive`): signgate admits it,
    // and podman verifies the .sig artifacts signgate passed through intact.
    let (ok, out) = podman5(
        conf.path(),
        &["pull", "--arch", "amd64", "registry.test/enf/recursive:v1"],
    );
    assert!(ok, "signed pull through both gates: {out}");

    // Unsigned: signgate refuses first, and podman shows why.
    let (ok, out) = podman5(conf.path(), &["pull", "registry.test/enf/unsigned:v1"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("denied by policy enforced") && out.contains("no signatures found"),
        "{out}"
    );

    // Control: when signgate only warns, podman's own policy still rejects
    // the unsigned image — podman's gate is really on.
    let warn = enforcing(&w.trusted.public_pem(), "  mode: warn\n");
    let conf = podman5_conf(&warn.host(), &w.registry.host(), &w.trusted.public_pem());
    let (ok, out) = podman5(conf.path(), &["pull", "registry.test/enf/unsigned:v1"]);
    assert!(!ok, "{out}");
    assert!(
        !out.contains("denied by policy"),
        "signgate served it: {out}"
    );
    assert!(
        out.to_lowercase().contains("signature"),
        "podman's own refusal: {out}"
    );
}
