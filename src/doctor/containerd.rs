//! containerd: `config_path` hosts directories (`<registry>/hosts.toml`,
//! `_default/hosts.toml`) and the legacy CRI `registry.mirrors`.
//!
//! containerd tries each `[host]` in order, then the `server`, on any
//! error; the `server` defaults to the registry itself.

use std::path::PathBuf;

use super::{read, Finding, Node, Verdict};

const CONFIG: &str = "/etc/containerd/config.toml";
const DEFAULT_HOSTS_DIR: &str = "/etc/containerd/certs.d";

pub(super) fn check(node: &Node, findings: &mut Vec<Finding>) {
    let config_file = node.path(CONFIG);
    let config: toml::Value = match read(&config_file).map(|t| t.parse::<toml::Value>()) {
        Some(Ok(v)) => v,
        Some(Err(_)) | None if !node.path(DEFAULT_HOSTS_DIR).is_dir() => return,
        _ => toml::Value::Table(Default::default()),
    };
    let cri = config
        .get("plugins")
        .and_then(|p| p.get("io.containerd.grpc.v1.cri"))
        .and_then(|c| c.get("registry"));
    let hosts_dir = cri
        .and_then(|r| r.get("config_path"))
        .and_then(|p| p.as_str())
        .map(|p| node.path(p))
        .unwrap_or_else(|| node.path(DEFAULT_HOSTS_DIR));

    let mut registries = node.registries.clone();
    if let Some(mirrors) = cri
        .and_then(|r| r.get("mirrors"))
        .and_then(|m| m.as_table())
    {
        for (registry, mirror) in mirrors {
            registries.push(registry.clone());
            let endpoints: Vec<String> = mirror
                .get("endpoint")
                .and_then(|e| e.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if endpoints.iter().any(|e| node.is_signgate(e)) {
                findings.push(Finding {
                    runtime: "containerd",
                    registry: registry.clone(),
                    verdict: Verdict::Bypass,
                    file: config_file.clone(),
                    detail: "legacy CRI registry.mirrors: containerd appends the registry itself after the mirrors".into(),
                    fix: Some(format!(
                        "remove registry.mirrors.\"{registry}\"; set config_path = \"{}\" and ship deploy/containerd/",
                        DEFAULT_HOSTS_DIR
                    )),
                });
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(&hosts_dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name != "_default" && e.path().join("hosts.toml").is_file() {
                registries.push(name);
            }
        }
    }
    registries.sort();
    registries.dedup();
    for registry in registries {
        findings.push(check_registry(node, "containerd", &hosts_dir, &registry));
    }
}

/// One registry under a hosts directory (containerd's, or Docker's certs.d
/// with the containerd image store).
pub(super) fn check_registry(
    node: &Node,
    runtime: &'static str,
    hosts_dir: &std::path::Path,
    registry: &str,
) -> Finding {
    let own = hosts_dir.join(registry).join("hosts.toml");
    let default = hosts_dir.join("_default").join("hosts.toml");
    let fix_server = format!("server = \"http://{}\"", node.signgate);
    let finding = |verdict, file: PathBuf, detail: String, fix: Option<String>| Finding {
        runtime,
        registry: registry.to_owned(),
        verdict,
        file,
        detail,
        fix,
    };
    let (file, shadows_default) = if own.is_file() {
        (own, default.is_file())
    } else if default.is_file() {
        (default, false)
    } else {
        return finding(
            Verdict::Bypass,
            hosts_dir.to_path_buf(),
            "no hosts.toml: containerd pulls from the registry directly".into(),
            Some(format!(
                "create {}/_default/hosts.toml with {fix_server}",
                hosts_dir.display()
            )),
        );
    };
    let Some(Ok(hosts)) = read(&file).map(|t| t.parse::<toml::Value>()) else {
        return finding(Verdict::Bypass, file, "unreadable hosts.toml".into(), None);
    };
    let server = hosts
        .get("server")
        .and_then(|s| s.as_str())
        .unwrap_or(registry)
        .to_owned();
    let hosts_in_order: Vec<String> = hosts
        .get("host")
        .and_then(|h| h.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    let shadow_note = if shadows_default {
        " (this per-registry file shadows _default/hosts.toml)"
    } else {
        ""
    };
    if !node.is_signgate(&server) {
        let detail = if hosts_in_order.iter().any(|h| node.is_signgate(h)) {
            format!(
                "signgate is only a [host]: containerd falls back to server {server}{shadow_note}"
            )
        } else {
            format!("server is {server}, not signgate{shadow_note}")
        };
        return finding(Verdict::Bypass, file, detail, Some(fix_server));
    }
    if let Some(other) = hosts_in_order.iter().find(|h| !node.is_signgate(h)) {
        return finding(
            Verdict::Bypass,
            file,
            format!("[host.\"{other}\"] is not signgate: containerd tries every host and the server until one answers"),
            Some(format!("remove [host.\"{other}\"]")),
        );
    }
    finding(
        Verdict::Enforced,
        file,
        "signgate is the server".into(),
        None,
    )
}
