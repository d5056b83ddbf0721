//! The shipped deployment files stay valid: every signgate config in them
//! passes validation, every policy in them loads.

use std::path::Path;

use signgate::config::{Config, HeadDenials, NoMatchPolicy};
use signgate::policy::{PolicySet, Registries};

fn deploy(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy")
            .join(path),
    )
    .unwrap()
}

/// The `data` entries of every ConfigMap in a multi-document YAML file.
fn configmap_data(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let v: serde_yaml_ng::Value = serde::Deserialize::deserialize(doc).unwrap();
        if v["kind"] != "ConfigMap" {
            continue;
        }
        if let Some(data) = v["data"].as_mapping() {
            for (k, v) in data {
                out.push((
                    k.as_str().unwrap().to_owned(),
                    v.as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    out
}

#[test]
fn the_kubernetes_configmaps_hold_valid_configs_and_policies() {
    let certs = tempfile::tempdir().unwrap();
    for f in ["tls.crt", "tls.key"] {
        std::fs::write(certs.path().join(f), "placeholder").unwrap();
    }
    let mut configs = Vec::new();
    let mut policies = Vec::new();
    for file in ["kubernetes/configmap.yaml", "kubernetes/deployment.yaml"] {
        for (name, text) in configmap_data(&deploy(file)) {
            if name == "signgate.yaml" {
                let text = text.replace("/etc/signgate/tls", certs.path().to_str().unwrap());
                let config = Config::parse(&text, &format!("{file}: {name}"), Path::new("/"))
                    .unwrap_or_else(|e| panic!("{e}"));
                // The mode tests/e2e/head_denials.rs proves safe with containerd.
                assert_eq!(config.head_denials, HeadDenials::DeferToGet, "{file}");
                configs.push(config);
            } else {
                policies.push((name.into(), text));
            }
        }
    }
    assert_eq!(configs.len(), 2);
    // The policies load under each config as `serve` loads them: every
    // glob names a configured upstream.
    for config in &configs {
        let trust = signgate::policy::trust_roots(&config.trust).unwrap();
        let set = PolicySet::from_files_checked(
            &policies,
            NoMatchPolicy::Deny,
            &trust,
            &Registries::from_config(config),
            &signgate::policy::trust_root::no_tuf,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.policies().len(), 2);
        assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    }
}

#[test]
fn the_example_config_and_runtime_files_agree_on_signgates_address() {
    let config = Config::parse(
        &deploy("signgate.yaml"),
        "deploy/signgate.yaml",
        Path::new("/"),
    )
    .unwrap();
    assert_eq!(config.head_denials, HeadDenials::DeferToGet);
    let address = config.listen.to_string();
    for file in [
        "containerd/docker.io/hosts.toml",
        "containerd/_default/hosts.toml",
        "docker/certs.d/docker.io/hosts.toml",
    ] {
        let text = deploy(file);
        assert!(
            text.contains(&format!("server = \"http://{address}\"")),
            "{file} makes signgate the server"
        );
    }
    assert!(deploy("docker/daemon.json").contains(&address));
    assert!(
        deploy("podman/registries.conf").contains(&format!("location = \"{address}/docker.io\""))
    );
    let podman = deploy("podman/registries.conf");
    let entries: Vec<&str> = podman
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        !entries.iter().any(|l| l.contains("[[registry.mirror]]")),
        "no mirror entries: they fall back"
    );
    assert!(deploy("k3s/registries.yaml").contains(&format!("http://{address}")));
}

/// `kubernetes-validate`: `$KUBERNETES_VALIDATE`, else the venv
/// `tests/tools/kubernetes-validate` makes.
fn kubernetes_validate() -> std::path::PathBuf {
    if let Ok(path) = std::env::var("KUBERNETES_VALIDATE") {
        return path.into();
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/tools/kubernetes-validate"
    );
    let out = std::process::Command::new(script)
        .output()
        .expect("tests/tools/kubernetes-validate runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().into()
}

fn validate(files: &[std::path::PathBuf]) -> (bool, String) {
    let out = std::process::Command::new(kubernetes_validate())
        .arg("--strict")
        .args(files)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The shipped Kubernetes manifests validate against the Kubernetes
/// schemas (strict: no unknown field), every resource in them; the same
/// validator refuses a manifest with a misspelled field.
#[test]
fn the_kubernetes_manifests_validate_against_the_kubernetes_schemas() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let (ok, out) = validate(&files);
    assert!(ok, "{out}");
    for resource in [
        "configmap/signgate ",
        "configmap/signgate-policies ",
        "daemonset/signgate ",
        "deployment/signgate-shared ",
        "service/signgate ",
    ] {
        assert!(
            out.contains(&format!("passed for resource {resource}")),
            "{resource}: {out}"
        );
    }
    assert!(!out.contains("ERROR"), "{out}");

    let bad = tempfile::tempdir().unwrap();
    let misspelled = bad.path().join("daemonset.yaml");
    let text = deploy("kubernetes/daemonset.yaml");
    assert!(text.contains("image:"), "{text}");
    std::fs::write(&misspelled, text.replacen("image:", "imag:", 1)).unwrap();
    let (ok, out) = validate(&[misspelled]);
    assert!(!ok, "{out}");
    assert!(out.contains("'imag' was unexpected"), "{out}");
}
