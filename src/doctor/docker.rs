//! Docker: `daemon.json` `registry-mirrors` (classic image store: falls back
//! to Docker Hub on any mirror error) or, with the containerd image store,
//! hosts.toml files in `/etc/docker/certs.d`.

use super::containerd::check_registry;
use super::{read, Finding, Node, Verdict};

const DAEMON_JSON: &str = "/etc/docker/daemon.json";
const CERTS_D: &str = "/etc/docker/certs.d";

pub(super) fn check(node: &Node, findings: &mut Vec<Finding>) {
    let file = node.path(DAEMON_JSON);
    let Some(text) = read(&file) else { return };
    let daemon: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let containerd_store = daemon
        .get("features")
        .and_then(|f| f.get("containerd-snapshotter"))
        .and_then(serde_json::Value::as_bool)
        == Some(true);
    if containerd_store {
        findings.push(check_registry(
            node,
            "docker",
            &node.path(CERTS_D),
            "docker.io",
        ));
        return;
    }
    let mirrors: Vec<&str> = daemon
        .get("registry-mirrors")
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(|m| m.as_str()).collect())
        .unwrap_or_default();
    let detail = if mirrors.iter().any(|m| node.is_signgate(m)) {
        "classic image store: registry-mirrors falls back to Docker Hub on any mirror error"
    } else {
        "classic image store: Docker pulls from Docker Hub directly"
    };
    findings.push(Finding {
        runtime: "docker",
        registry: "docker.io".into(),
        verdict: Verdict::Bypass,
        file,
        detail: detail.into(),
        fix: Some(format!(
            "enable the containerd image store (\"features\": {{\"containerd-snapshotter\": true}}) with deploy/docker/certs.d/, or pull as {}/library/… and block egress to Docker Hub",
            node.signgate
        )),
    });
}
