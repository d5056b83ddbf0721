//! `signgate trust status` and `signgate trust import DIR`: the trusted
//! roots in force (where each came from, versions, expiry, last refresh),
//! and an air-gapped site's way to bring one in.

use std::path::Path;

use signgate::config::Config;
use signgate::trust::{RootStatus, Trust};

use super::Exit;

fn load(config: Option<&Path>) -> Result<std::sync::Arc<Trust>, Exit> {
    let config = match config {
        Some(path) => Config::load(path),
        None => Config::embedded_default(),
    }
    .map_err(|errors| {
        eprint!("{errors}");
        Exit::Config
    })?;
    Trust::load(&config.trust).map_err(|e| {
        eprintln!("signgate: {e}");
        Exit::Config
    })
}

/// `trust status [--config FILE] [--json]`: every root in force. No network:
/// what the cache and the seeds hold now.
pub(super) fn status(config: Option<&Path>, json: bool) -> Exit {
    let trust = match load(config) {
        Ok(t) => t,
        Err(exit) => return exit,
    };
    let roots = trust.status();
    if json {
        match serde_json::to_string_pretty(&roots) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("signgate: {e}");
                return Exit::Error;
            }
        }
        return Exit::Ok;
    }
    for root in &roots {
        println!("{}", line(root));
    }
    Exit::Ok
}

/// One root on one line: name, origin, then what TUF says.
fn line(root: &RootStatus) -> String {
    let mut out = format!("{}: {}", root.name, root.origin);
    if let Some(state) = &root.tuf {
        out.push_str(&format!("; in force: {}", root.detail));
        out.push_str(&format!("; from {}", state.from));
        if let (Some(r), Some(t)) = (state.root_version, state.targets_version) {
            out.push_str(&format!("; TUF root v{r}, targets v{t}"));
        }
        if let Some(expires) = state
            .expires
            .and_then(|t| jiff::Timestamp::from_second(t).ok())
        {
            out.push_str(&format!("; metadata expires {expires}"));
        }
        if let Some(why) = &state.expired {
            out.push_str(&format!("; EXPIRED: {why}"));
        }
        match (
            &state.last_result,
            state
                .last_refresh
                .and_then(|t| jiff::Timestamp::from_second(t).ok()),
        ) {
            (Some(result), Some(at)) => out.push_str(&format!("; last refresh: {result} at {at}")),
            _ => out.push_str("; last refresh: never"),
        }
    }
    if let Some(validity) = &root.validity {
        out.push_str(&format!("; trusted root: {validity}"));
    }
    if let Some(why) = &root.unavailable {
        out.push_str(&format!("; UNAVAILABLE: {why}"));
    }
    out
}

/// `trust import DIR [--config FILE] [--name N] [--root ROOT.json]`.
pub(super) fn import(dir: &Path, config: Option<&Path>, name: &str, root: Option<&Path>) -> Exit {
    let trust = match load(config) {
        Ok(t) => t,
        Err(exit) => return exit,
    };
    let root = match root.map(std::fs::read).transpose() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("signgate: --root: {e}");
            return Exit::Error;
        }
    };
    let known = trust
        .status()
        .iter()
        .any(|r| r.name == name && r.tuf.is_some());
    match trust.import(dir, name, root.as_deref()) {
        Ok(imported) => {
            println!(
                "{}: imported {} into {}",
                imported.name,
                imported.what,
                imported.cache.display()
            );
            if !known {
                eprintln!("warning: '{name}' is not a TUF source of this configuration: add it under trust.tuf.repositories to use it");
            }
            Exit::Ok
        }
        Err(e) => {
            eprintln!("signgate: trust import: {e}");
            Exit::Refused
        }
    }
}
