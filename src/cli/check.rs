//! `signgate config check FILE`, `config default` and `policy check DIR`:
//! validate what an operator wrote, naming every problem (exit 64).

use std::path::Path;

use signgate::config::Config;

use super::Exit;

/// `config check FILE`: every problem, or the warnings and `ok`.
pub(super) fn config(file: &Path) -> Exit {
    match Config::load(file) {
        Ok(config) => {
            for w in config.warnings() {
                eprintln!("{}: warning: {}: {}", file.display(), w.path, w.message);
            }
            println!("{}: ok", file.display());
            Exit::Ok
        }
        Err(errors) => {
            eprint!("{errors}");
            Exit::Config
        }
    }
}

/// `config default`: the embedded default configuration, verbatim.
pub(super) fn default_config() -> Exit {
    print!("{}", signgate::config::EMBEDDED_DEFAULT);
    Exit::Ok
}

/// `policy check DIR [--config FILE]`: every policy file in `dir`, with
/// the config's `trust.roots` resolving `trustRootRef`s.
pub(super) fn policy(dir: &Path, config: Option<&Path>) -> Exit {
    let config = match config.map(Config::load).transpose() {
        Ok(config) => config,
        Err(errors) => {
            eprint!("--config {errors}");
            return Exit::Config;
        }
    };
    let default = signgate::config::TrustConfig::default();
    let trust = match signgate::trust::Trust::load(config.as_ref().map_or(&default, |c| &c.trust)) {
        Ok(trust) => trust,
        Err(e) => {
            eprintln!("signgate: {e}");
            return Exit::Config;
        }
    };
    match signgate::policy::check_dir(dir, config.as_ref(), &trust.roots(), &|r| trust.resolve(r)) {
        Ok(set) => {
            for w in set.warnings() {
                eprintln!("warning: {w}");
            }
            for p in set.policies() {
                println!(
                    "{}: policy '{}': ok ({} authorities)",
                    p.file.display(),
                    p.name,
                    p.authorities.len()
                );
            }
            println!("{}: {} policies ok", dir.display(), set.policies().len());
            Exit::Ok
        }
        Err(errors) => {
            eprintln!("{errors}");
            Exit::Config
        }
    }
}
