//! `trust:` — trusted-root files and TUF repositories, with their defaults
//! (the cache directory follows the store, else the user's cache).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml_ng::Value;

use super::durations::duration;
use super::raw::{RawTrust, RawTuf, RawTufRepository};
use super::validate::{deserialize, resolve, Problems};
use super::{OnExpired, StoreConfig, TrustConfig, TufConfig, TufRepositoryConfig};

/// Names of the embedded roots: no configured root may take them.
const EMBEDDED_NAMES: [&str; 2] = ["public-good", "github"];

pub(super) fn validate_trust(
    problems: &mut Problems,
    value: Option<&Value>,
    base: &Path,
    store: Option<&StoreConfig>,
) -> TrustConfig {
    let default = || TrustConfig {
        tuf: TufConfig {
            cache_dir: default_cache_dir(store),
            ..TufConfig::default()
        },
        ..TrustConfig::default()
    };
    let raw = match value {
        None | Some(Value::Null) => return default(),
        Some(v) => match deserialize::<RawTrust>(problems, "trust", v) {
            Some(raw) => raw,
            None => return default(),
        },
    };
    let trust = TrustConfig {
        trusted_root: raw.trusted_root.as_deref().map(|p| resolve(base, p)),
        roots: raw
            .roots
            .iter()
            .map(|(name, p)| (name.clone(), resolve(base, p)))
            .collect(),
        tuf: validate_tuf(problems, raw.tuf, base, store),
    };
    if let Some(path) = &trust.trusted_root {
        if !path.is_file() {
            problems.push(
                "trust.trusted-root",
                format!("'{}' is not a readable file", path.display()),
            );
        }
    }
    for (name, path) in &trust.roots {
        if EMBEDDED_NAMES.contains(&name.as_str()) {
            problems.push(
                format!("trust.roots.{name}"),
                format!("'{name}' is the embedded root's name"),
            );
        } else if !path.is_file() {
            problems.push(
                format!("trust.roots.{name}"),
                format!("'{}' is not a readable file", path.display()),
            );
        }
    }
    for name in trust.tuf.repositories.keys() {
        if trust.roots.contains_key(name) {
            problems.push(
                format!("trust.tuf.repositories.{name}"),
                format!("'{name}' is also a trust.roots name: one name, one root"),
            );
        }
    }
    trust
}

fn validate_tuf(
    problems: &mut Problems,
    raw: Option<RawTuf>,
    base: &Path,
    store: Option<&StoreConfig>,
) -> TufConfig {
    let Some(raw) = raw else {
        return TufConfig {
            cache_dir: default_cache_dir(store),
            ..TufConfig::default()
        };
    };
    let refresh = duration(
        problems,
        "trust.tuf.refresh",
        raw.refresh.as_deref(),
        Duration::from_secs(24 * 3600),
    )
    .unwrap_or(Duration::from_secs(24 * 3600));
    if refresh < Duration::from_secs(1) {
        problems.push("trust.tuf.refresh", "must be at least 1s");
    }
    let mut repositories = std::collections::BTreeMap::new();
    for (name, value) in raw.repositories {
        let key = format!("trust.tuf.repositories.{name}");
        let Some(repo) = deserialize::<RawTufRepository>(problems, &key, &value) else {
            continue;
        };
        if EMBEDDED_NAMES.contains(&name.as_str()) {
            problems.push(&key, format!("'{name}' is the embedded root's name"));
            continue;
        }
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            problems.push(
                &key,
                "a name must be usable as a directory name (no '/', not starting with '.')",
            );
            continue;
        }
        let mirror = match url::Url::parse(&repo.mirror) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            Ok(u) => {
                problems.push(
                    format!("{key}.mirror"),
                    format!("'{}' is not http or https", u.scheme()),
                );
                continue;
            }
            Err(e) => {
                problems.push(
                    format!("{key}.mirror"),
                    format!("'{}' is not a URL: {e}", repo.mirror),
                );
                continue;
            }
        };
        let root = resolve(base, &repo.root);
        if !root.is_file() {
            problems.push(
                format!("{key}.root"),
                format!("'{}' is not a readable file", root.display()),
            );
        }
        let target = repo.target.unwrap_or_else(|| "trusted_root.json".into());
        repositories.insert(
            name,
            TufRepositoryConfig {
                mirror,
                root,
                target,
            },
        );
    }
    TufConfig {
        cache_dir: match raw.cache_dir {
            Some(dir) => Some(resolve(base, &dir)),
            None => default_cache_dir(store),
        },
        refresh,
        on_expired: raw
            .on_expired
            .and_then(|v| deserialize::<OnExpired>(problems, "trust.tuf.on-expired", &v))
            .unwrap_or(OnExpired::Keep),
        repositories,
    }
}

/// `<store>/trust` with a store, else `$XDG_CACHE_HOME/signgate/trust` or
/// `~/.cache/signgate/trust`; `None` when none of these exists.
pub(super) fn default_cache_dir(store: Option<&StoreConfig>) -> Option<PathBuf> {
    if let Some(store) = store {
        return Some(store.path.join("trust"));
    }
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("XDG_CACHE_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| env("HOME").map(|h| h.join(".cache")))
        .map(|c| c.join("signgate").join("trust"))
}
