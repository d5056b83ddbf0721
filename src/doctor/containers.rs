//! podman / CRI-O / skopeo: `registries.conf` (and `registries.conf.d`).
//! Mirrors are tried first and the primary `location` after every one of
//! them, so only a primary location remapped to signgate enforces.

use serde::Deserialize;

use super::{read, Finding, Node, Verdict};

const REGISTRIES_CONF: &str = "/etc/containers/registries.conf";
const REGISTRIES_CONF_D: &str = "/etc/containers/registries.conf.d";

#[derive(Deserialize, Default)]
struct Conf {
    #[serde(default)]
    registry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    prefix: Option<String>,
    location: Option<String>,
    #[serde(default)]
    mirror: Vec<Mirror>,
}

#[derive(Deserialize)]
struct Mirror {
    location: String,
}

pub(super) fn check(node: &Node, findings: &mut Vec<Finding>) {
    let mut files = vec![node.path(REGISTRIES_CONF)];
    if let Ok(entries) = std::fs::read_dir(node.path(REGISTRIES_CONF_D)) {
        let mut extra: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        extra.sort();
        files.extend(extra);
    }
    let mut seen = Vec::new();
    let mut any_file = false;
    for file in files {
        let Some(text) = read(&file) else { continue };
        any_file = true;
        let conf: Conf = match toml::from_str(&text) {
            Ok(c) => c,
            Err(e) => {
                findings.push(Finding {
                    runtime: "containers",
                    registry: "*".into(),
                    verdict: Verdict::Bypass,
                    file: file.clone(),
                    detail: format!("unreadable registries.conf: {e}"),
                    fix: None,
                });
                continue;
            }
        };
        for entry in conf.registry {
            let Some(prefix) = entry.prefix.clone().or_else(|| entry.location.clone()) else {
                continue;
            };
            let location = entry.location.clone().unwrap_or_else(|| prefix.clone());
            seen.push(prefix.clone());
            let fix = Some(format!(
                "location = \"{}/{prefix}\" (and no [[registry.mirror]])",
                node.signgate
            ));
            let (verdict, detail, fix) = if node.is_signgate(&location) {
                match entry.mirror.iter().find(|m| !node.is_signgate(&m.location)) {
                    Some(m) => (
                        Verdict::Bypass,
                        format!("mirror {} is not signgate and is tried first", m.location),
                        Some(format!("remove the [[registry.mirror]] {}", m.location)),
                    ),
                    None => (
                        Verdict::Enforced,
                        "the primary location is signgate".to_owned(),
                        None,
                    ),
                }
            } else if entry.mirror.iter().any(|m| node.is_signgate(&m.location)) {
                (
                    Verdict::Bypass,
                    format!("signgate is only a mirror: the primary location {location} is tried after it"),
                    fix,
                )
            } else {
                (
                    Verdict::Bypass,
                    format!("pulls go to {location} directly"),
                    fix,
                )
            };
            findings.push(Finding {
                runtime: "containers",
                registry: prefix,
                verdict,
                file: file.clone(),
                detail,
                fix,
            });
        }
    }
    if !any_file {
        return;
    }
    for registry in &node.registries {
        if !seen.iter().any(|s| s == registry) {
            findings.push(Finding {
                runtime: "containers",
                registry: registry.clone(),
                verdict: Verdict::Bypass,
                file: node.path(REGISTRIES_CONF),
                detail: "no [[registry]] entry: pulls go to the registry directly".into(),
                fix: Some(format!(
                    "[[registry]] prefix = \"{registry}\" location = \"{}/{registry}\"",
                    node.signgate
                )),
            });
        }
    }
}
