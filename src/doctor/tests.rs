//! Fixture config trees for each runtime, the traps included, and the
//! shipped `deploy/` files.

use std::path::Path;

use super::*;

const SG: &str = "127.0.0.1:5000";

fn deploy(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy")
            .join(path),
    )
    .unwrap()
}

struct Tree(tempfile::TempDir);

impl Tree {
    fn new() -> Tree {
        Tree(tempfile::tempdir().unwrap())
    }

    fn file(self, path: &str, text: &str) -> Tree {
        let p = self.0.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }

    fn check(&self, registries: &[&str]) -> Vec<Finding> {
        check(&Node {
            root: self.0.path().to_path_buf(),
            signgate: SG.into(),
            registries: registries.iter().map(|r| r.to_string()).collect(),
        })
    }
}

fn verdict_of<'a>(findings: &'a [Finding], runtime: &str, registry: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.runtime == runtime && f.registry == registry)
        .unwrap_or_else(|| panic!("no finding for {runtime} {registry}: {findings:#?}"))
}

#[test]
fn the_shipped_deploy_files_pass() {
    let tree = Tree::new()
        .file("/etc/containerd/config.toml", "version = 2\n")
        .file(
            "/etc/containerd/certs.d/docker.io/hosts.toml",
            &deploy("containerd/docker.io/hosts.toml"),
        )
        .file(
            "/etc/containerd/certs.d/_default/hosts.toml",
            &deploy("containerd/_default/hosts.toml"),
        )
        .file(
            "/etc/docker/daemon.json",
            r#"{"features": {"containerd-snapshotter": true}}"#,
        )
        .file(
            "/etc/docker/certs.d/docker.io/hosts.toml",
            &deploy("docker/certs.d/docker.io/hosts.toml"),
        )
        .file(
            "/etc/containers/registries.conf.d/signgate.conf",
            &deploy("podman/registries.conf"),
        );
    let findings = tree.check(&["docker.io", "ghcr.io"]);
    assert!(!has_bypass(&findings), "{findings:#?}");
    assert_eq!(
        verdict_of(&findings, "containerd", "ghcr.io").verdict,
        Verdict::Enforced,
        "via _default"
    );
    assert_eq!(
        verdict_of(&findings, "docker", "docker.io").verdict,
        Verdict::Enforced
    );
    assert_eq!(
        verdict_of(&findings, "containers", "ghcr.io").verdict,
        Verdict::Enforced
    );
}

#[test]
fn a_per_registry_directory_shadowing_default_is_a_bypass() {
    let tree = Tree::new()
        .file("/etc/containerd/config.toml", "")
        .file(
            "/etc/containerd/certs.d/_default/hosts.toml",
            &deploy("containerd/_default/hosts.toml"),
        )
        .file(
            "/etc/containerd/certs.d/ghcr.io/hosts.toml",
            "server = \"https://ghcr.io\"\n",
        );
    let findings = tree.check(&["docker.io"]);
    let f = verdict_of(&findings, "containerd", "ghcr.io");
    assert_eq!(f.verdict, Verdict::Bypass);
    assert!(f.detail.contains("shadows _default"), "{f}");
    assert_eq!(f.fix.as_deref(), Some("server = \"http://127.0.0.1:5000\""));
    assert_eq!(
        verdict_of(&findings, "containerd", "docker.io").verdict,
        Verdict::Enforced
    );
}

#[test]
fn signgate_as_a_mirror_host_with_the_upstream_as_server_is_a_bypass() {
    let tree = Tree::new().file(
        "/etc/containerd/certs.d/docker.io/hosts.toml",
        "server = \"https://registry-1.docker.io\"\n[host.\"http://127.0.0.1:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
    );
    let findings = tree.check(&[]);
    let f = verdict_of(&findings, "containerd", "docker.io");
    assert_eq!(f.verdict, Verdict::Bypass);
    assert!(f.detail.contains("only a [host]"), "{f}");
}

#[test]
fn another_host_beside_signgate_is_a_bypass() {
    let tree = Tree::new().file(
        "/etc/containerd/certs.d/docker.io/hosts.toml",
        "server = \"http://127.0.0.1:5000\"\n[host.\"https://mirror.gcr.io\"]\n  capabilities = [\"pull\"]\n",
    );
    let f = tree
        .check(&[])
        .into_iter()
        .find(|f| f.registry == "docker.io")
        .unwrap();
    assert_eq!(f.verdict, Verdict::Bypass);
    assert!(f.detail.contains("mirror.gcr.io"), "{f}");
}

#[test]
fn no_hosts_file_and_legacy_cri_mirrors_are_bypasses() {
    let tree = Tree::new().file(
        "/etc/containerd/config.toml",
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n  endpoint = [\"http://127.0.0.1:5000\"]\n",
    );
    let findings = tree.check(&[]);
    let legacy: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.detail.contains("legacy CRI"))
        .collect();
    assert_eq!(legacy.len(), 1, "{findings:#?}");
    let direct = verdict_of(&findings, "containerd", "docker.io");
    assert!(
        findings.iter().any(|f| f.detail.contains("no hosts.toml")),
        "{direct}"
    );
    assert!(has_bypass(&findings));
}

#[test]
fn docker_registry_mirrors_on_the_classic_store_are_a_bypass() {
    let tree = Tree::new().file("/etc/docker/daemon.json", &deploy("docker/daemon.json"));
    let f = verdict_of(&tree.check(&[]), "docker", "docker.io").clone();
    assert_eq!(f.verdict, Verdict::Bypass);
    assert!(f.detail.contains("falls back to Docker Hub"), "{f}");
}

#[test]
fn registries_conf_mirrors_and_missing_entries_are_bypasses() {
    let tree = Tree::new().file(
        "/etc/containers/registries.conf",
        "[[registry]]\nprefix = \"docker.io\"\nlocation = \"registry-1.docker.io\"\n[[registry.mirror]]\nlocation = \"127.0.0.1:5000/docker.io\"\n",
    );
    let findings = tree.check(&["docker.io", "quay.io"]);
    let f = verdict_of(&findings, "containers", "docker.io");
    assert_eq!(f.verdict, Verdict::Bypass);
    assert!(f.detail.contains("only a mirror"), "{f}");
    assert!(verdict_of(&findings, "containers", "quay.io")
        .detail
        .contains("no [[registry]] entry"));
}

#[test]
fn a_node_without_runtimes_reports_nothing() {
    assert!(Tree::new().check(&["docker.io"]).is_empty());
}
