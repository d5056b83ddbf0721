//! `signgate doctor`: can this node's runtimes pull around signgate?
//! Exit 0: every pull goes through signgate; 1: a bypass exists.

use std::path::{Path, PathBuf};

use super::Exit;

pub(super) fn run(signgate: String, registries: Vec<String>, root: PathBuf) -> Exit {
    if let Err(e) = check_args(&signgate, &registries, &root) {
        eprintln!("signgate doctor: {e}");
        return Exit::Usage;
    }
    let findings = signgate::doctor::check(&signgate::doctor::Node {
        root,
        signgate,
        registries,
    });
    if findings.is_empty() {
        println!("no containerd, Docker or containers configuration found");
    }
    for f in &findings {
        println!("{f}");
    }
    if signgate::doctor::has_bypass(&findings) {
        Exit::Refused
    } else {
        Exit::Ok
    }
}

/// `doctor`'s arguments, each refused with what was typed: signgate's
/// address and the registries as runtimes name them, and an existing root.
fn check_args(signgate: &str, registries: &[String], root: &Path) -> Result<(), String> {
    signgate
        .parse::<signgate::oci::RegistryName>()
        .map_err(|e| format!("--signgate '{signgate}': not a host[:port] ({e})"))?;
    for registry in registries {
        registry
            .parse::<signgate::oci::RegistryName>()
            .map_err(|e| format!("--registry '{registry}': {e}"))?;
    }
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!("--root '{}': not a directory", root.display())),
        Err(e) => Err(format!("--root '{}': {e}", root.display())),
    }
}
