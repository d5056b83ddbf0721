//! `signgate mirror IMAGE… --to DIR` and `mirror import DIR`: carry
//! verified images across an air gap; the report lines and exit codes.
//! Exit 0: everything done; 1: something refused; 2: error.

use std::path::{Path, PathBuf};

use signgate::config::Config;
use signgate::policy::PolicySet;
use signgate::telemetry::{self, LogFormat};
use tokio::runtime::Runtime;

use super::{load, Exit, MirrorCommand};

pub(super) fn run(
    command: Option<MirrorCommand>,
    images: Vec<String>,
    from: Option<PathBuf>,
    to: Option<PathBuf>,
    platforms: Vec<String>,
    config: Option<PathBuf>,
) -> Exit {
    telemetry::init_with_default(LogFormat::Human, "warn");
    let config_path = match &command {
        Some(MirrorCommand::Import { config, .. }) => config.clone(),
        None => config,
    };
    let (config, trust, policies, runtime) = match load::one_shot(config_path.as_deref()) {
        Ok(loaded) => loaded,
        Err(exit) => return exit,
    };
    match command {
        Some(MirrorCommand::Import { dir, .. }) => import(&config, policies, &runtime, &dir),
        None => export(
            &config,
            trust,
            policies,
            &runtime,
            Images {
                images,
                from,
                to,
                platforms,
            },
        ),
    }
}

/// `mirror import DIR`.
fn import(config: &Config, policies: PolicySet, runtime: &Runtime, dir: &Path) -> Exit {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            eprintln!(
                "signgate mirror import: '{}' is not a directory: give the export directory",
                dir.display()
            );
            return Exit::Usage;
        }
        Err(e) => {
            eprintln!("signgate mirror import: '{}': {e}", dir.display());
            return Exit::Usage;
        }
    }
    match runtime.block_on(signgate::mirror::import(config, policies, dir)) {
        Ok(report) => mirror_report(
            &format!(
                "imported {} image(s), refused {}, {} blob(s) checked",
                report.imported.len(),
                report.refused.len(),
                report.blobs
            ),
            &report.imported,
            &report.refused,
        ),
        Err(e) => {
            eprintln!("signgate mirror import: {e}");
            Exit::Error
        }
    }
}

/// The export's arguments as typed.
struct Images {
    images: Vec<String>,
    from: Option<PathBuf>,
    to: Option<PathBuf>,
    platforms: Vec<String>,
}

/// `mirror IMAGE… [--from FILE] --to DIR`: every argument checked (each
/// unusable one named) before anything is fetched.
fn export(
    config: &Config,
    trust: std::sync::Arc<signgate::trust::Trust>,
    policies: PolicySet,
    runtime: &Runtime,
    args: Images,
) -> Exit {
    let Images {
        mut images,
        from,
        to,
        platforms,
    } = args;
    // Where each image was typed, for error messages.
    let mut sources = vec![String::new(); images.len()];
    if let Some(file) = from {
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                for (n, line) in text.lines().enumerate() {
                    let line = line.trim();
                    if !line.is_empty() && !line.starts_with('#') {
                        images.push(line.to_owned());
                        sources.push(format!(" ({} line {})", file.display(), n + 1));
                    }
                }
            }
            Err(e) => {
                eprintln!("signgate mirror: {}: {e}", file.display());
                return Exit::Error;
            }
        }
    }
    let Some(to) = to else {
        eprintln!("signgate mirror: --to DIR is required");
        return Exit::Error;
    };
    if images.is_empty() {
        eprintln!("signgate mirror: no images given");
        return Exit::Error;
    }
    let router = signgate::route::Router::new(&config.upstreams);
    let mut unusable = false;
    for (image, source) in images.iter().zip(&sources) {
        if let Err(e) = router.image(image) {
            eprintln!("signgate mirror: {e}{source}");
            unusable = true;
        }
    }
    for platform in platforms.iter().filter(|p| !is_platform(p)) {
        eprintln!("signgate mirror: --platform '{platform}': expected os/arch[/variant], such as linux/amd64 or linux/arm64/v8");
        unusable = true;
    }
    if unusable {
        return Exit::Usage;
    }
    let options = signgate::mirror::ExportOptions {
        images,
        to,
        platforms,
        trust: Some(trust),
    };
    match runtime.block_on(signgate::mirror::export(config, policies, &options)) {
        Ok(report) => mirror_report(
            &format!(
                "exported {} image(s) ({} bytes fetched), refused {}, into {}",
                report.exported.len(),
                report.bytes,
                report.refused.len(),
                options.to.display()
            ),
            &report.exported,
            &report.refused,
        ),
        Err(e) => {
            eprintln!("signgate mirror: {e}");
            Exit::Error
        }
    }
}

/// The summary of a mirror run; exit 1 when anything was refused.
fn mirror_report(summary: &str, done: &[(String, String)], refused: &[(String, String)]) -> Exit {
    println!("{summary}");
    for (image, digest) in done {
        println!("  ok       {image} {digest}");
    }
    for (image, reason) in refused {
        println!("  refused  {image}: {reason}");
    }
    if refused.is_empty() {
        Exit::Ok
    } else {
        Exit::Refused
    }
}

/// `--platform`: `os/arch[/variant]`, each part as OCI platforms write it.
fn is_platform(text: &str) -> bool {
    let parts: Vec<&str> = text.split('/').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_os_arch_and_an_optional_variant() {
        for ok in [
            "linux/amd64",
            "linux/arm64/v8",
            "windows/amd64",
            "linux/ppc64le",
        ] {
            assert!(is_platform(ok), "{ok}");
        }
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "Linux/amd64",
            "a/b/c/d",
            "linux/amd 64",
        ] {
            assert!(!is_platform(bad), "{bad}");
        }
    }
}
