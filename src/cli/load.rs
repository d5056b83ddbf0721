//! What every command that runs the pipeline loads first: the config, its
//! policies, and a runtime — or the exit code, after saying why not.

use std::path::Path;
use std::sync::Arc;

use signgate::config::Config;
use signgate::policy::PolicySet;
use signgate::trust::Trust;

use super::Exit;

/// Config (the embedded default without a path), its trusted roots (from
/// files, caches and seeds: no network) and its policies; exit 64 on a
/// problem, each printed.
pub(super) fn config_and_policies(
    config_path: Option<&Path>,
) -> Result<(Config, Arc<Trust>, PolicySet), Exit> {
    let config = match config_path {
        Some(path) => Config::load(path),
        None => Config::embedded_default(),
    };
    let config = config.map_err(|errors| {
        eprint!("{errors}");
        Exit::Config
    })?;
    let trust = Trust::load(&config.trust).map_err(|e| {
        eprintln!("signgate: {e}");
        Exit::Config
    })?;
    let policies =
        signgate::policy::load_configured(&config, &trust.roots(), &|r| trust.resolve(r)).map_err(
            |errors| {
                eprintln!("{errors}");
                Exit::Config
            },
        )?;
    Ok((config, trust, policies))
}

/// Config, policies and a runtime for a one-shot command (exit 2 on error).
pub(super) fn one_shot(
    config_path: Option<&Path>,
) -> Result<(Config, Arc<Trust>, PolicySet, tokio::runtime::Runtime), Exit> {
    let (config, trust, policies) = config_and_policies(config_path).map_err(|_| Exit::Error)?;
    let runtime = runtime().map_err(|_| Exit::Error)?;
    Ok((config, trust, policies, runtime))
}

/// Worker thread stack: tokio's default is 2 MiB.
const WORKER_STACK_BYTES: usize = 8 << 20;

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Builder::new_multi_thread()
        // A stack overflow aborts the process (every connection, not one
        // request): room for the deepest verification path with a margin
        // several times what a debug build needs. Untouched pages cost no
        // memory.
        .thread_stack_size(WORKER_STACK_BYTES)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("signgate: cannot start the runtime: {e}");
            Exit::Failed
        })
}
