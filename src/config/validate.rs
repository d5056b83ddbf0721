//! Raw YAML → [`Config`], collecting every problem with its key path.
//!
//! Each top-level key (and each upstream entry) is deserialised on its own,
//! so one bad entry does not hide the problems in the next.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};

use super::durations::{validate_cache, validate_timeouts};
use super::raw::{RawStore, RawTls};
use super::upstreams::validate_upstreams;
use super::{
    BlobMode, Config, ConfigError, HeadDenials, Mode, NoMatchPolicy, PolicySource, StoreConfig,
    TlsConfig,
};

const TOP_LEVEL_KEYS: [&str; 15] = [
    "limits",
    "store",
    "mode",
    "trust",
    "listen",
    "head-denials",
    "admin",
    "tls",
    "dangerously-allow-plain-http",
    "upstreams",
    "policies",
    "no-match-policy",
    "cache",
    "timeouts",
    "blobs",
];

/// Collects problems while walking the file.
pub(super) struct Problems(pub(super) Vec<ConfigError>);

impl Problems {
    pub(super) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }
}

pub(super) fn validate(text: &str, base: &Path) -> Result<Config, Vec<ConfigError>> {
    let mut problems = Problems(Vec::new());
    let root: Value = match serde_yaml_ng::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            problems.push("", format!("not valid YAML: {e}"));
            return Err(problems.0);
        }
    };
    let empty = Mapping::new();
    let map = match &root {
        Value::Mapping(m) => m,
        Value::Null => &empty,
        _ => {
            problems.push("", "expected a mapping of keys at the top level");
            return Err(problems.0);
        }
    };
    for key in map.keys() {
        let known = key.as_str().is_some_and(|k| TOP_LEVEL_KEYS.contains(&k));
        if !known {
            problems.push(
                key_text(key),
                format!(
                    "unknown key (expected one of: {})",
                    TOP_LEVEL_KEYS.join(", ")
                ),
            );
        }
    }

    let listen = match map.get("listen") {
        None => Some(SocketAddr::from(([127, 0, 0, 1], 5000))),
        Some(v) => parse_with(&mut problems, "listen", v, |s: String| {
            s.parse::<SocketAddr>()
                .map_err(|_| format!("'{s}' is not an address:port such as 127.0.0.1:5000"))
        }),
    };

    let admin = match map.get("admin") {
        None => Some(SocketAddr::from(([127, 0, 0, 1], 5001))),
        Some(v) => parse_with(&mut problems, "admin", v, |s: String| {
            s.parse::<SocketAddr>()
                .map_err(|_| format!("'{s}' is not an address:port such as 127.0.0.1:5001"))
        }),
    };
    let mode = match map.get("mode") {
        None => Mode::Online,
        Some(v) => deserialize::<Mode>(&mut problems, "mode", v).unwrap_or(Mode::Online),
    };
    let upstreams = validate_upstreams(&mut problems, map.get("upstreams"), base, mode);
    let store = match map.get("store") {
        None | Some(Value::Null) => None,
        Some(v) => deserialize::<RawStore>(&mut problems, "store", v).map(|raw| StoreConfig {
            path: resolve(base, &raw.path),
            budget_bytes: raw.budget_bytes.unwrap_or(10 * 1024 * 1024 * 1024),
        }),
    };
    if mode == Mode::Offline && store.is_none() {
        problems.push(
            "mode",
            "offline mode serves from the store: configure 'store'",
        );
    }
    let tls = match map.get("tls") {
        None | Some(Value::Null) => None,
        Some(v) => deserialize::<RawTls>(&mut problems, "tls", v).map(|raw| TlsConfig {
            cert: resolve(base, &raw.cert),
            key: resolve(base, &raw.key),
            client_ca: raw.client_ca.as_deref().map(|p| resolve(base, p)),
        }),
    };
    if let Some(tls) = &tls {
        let files = [
            ("tls.cert", Some(&tls.cert)),
            ("tls.key", Some(&tls.key)),
            ("tls.client-ca", tls.client_ca.as_ref()),
        ];
        for (key, path) in files {
            if let Some(path) = path {
                if !path.is_file() {
                    problems.push(key, format!("'{}' is not a readable file", path.display()));
                }
            }
        }
    }
    let trust = super::trust::validate_trust(&mut problems, map.get("trust"), base, store.as_ref());
    let head_denials = match map.get("head-denials") {
        None => HeadDenials::Status,
        Some(v) => deserialize::<HeadDenials>(&mut problems, "head-denials", v)
            .unwrap_or(HeadDenials::Status),
    };
    let allow_plain = match map.get("dangerously-allow-plain-http") {
        None => false,
        Some(v) => {
            deserialize::<bool>(&mut problems, "dangerously-allow-plain-http", v).unwrap_or(false)
        }
    };
    if let Some(listen) = listen {
        if tls.is_none() && !listen.ip().is_loopback() && !allow_plain {
            problems.push(
                "listen",
                format!("plain HTTP on {listen}, which is not a loopback address: configure 'tls', or set 'dangerously-allow-plain-http: true'"),
            );
        }
    }

    let policies = match map.get("policies") {
        None | Some(Value::Null) => None,
        Some(v) => deserialize::<String>(&mut problems, "policies", v).and_then(|p| {
            match p.strip_prefix("builtin:") {
                Some("examples") => Some(PolicySource::BuiltinExamples),
                Some(other) => {
                    problems.push(
                        "policies",
                        format!("unknown built-in policy set '{other}' (only 'builtin:examples')"),
                    );
                    None
                }
                None => Some(PolicySource::Dir(resolve(base, &p))),
            }
        }),
    };

    let no_match_policy = match map.get("no-match-policy") {
        None => Some(NoMatchPolicy::Deny),
        Some(v) => deserialize::<NoMatchPolicy>(&mut problems, "no-match-policy", v),
    };

    let cache = validate_cache(&mut problems, map.get("cache"));
    let blobs = match map.get("blobs") {
        None => Some(BlobMode::Strict),
        Some(v) => deserialize::<BlobMode>(&mut problems, "blobs", v),
    };
    let timeouts = validate_timeouts(&mut problems, map.get("timeouts"));
    let limits = super::limits::validate(map.get("limits")).unwrap_or_else(|errors| {
        problems.0.extend(errors);
        super::Limits::default()
    });

    match (listen, admin, no_match_policy, cache, timeouts, blobs) {
        (
            Some(listen),
            Some(admin),
            Some(no_match_policy),
            Some(cache),
            Some(timeouts),
            Some(blobs),
        ) if problems.0.is_empty() => Ok(Config {
            listen,
            admin,
            upstreams,
            policies,
            no_match_policy,
            cache,
            timeouts,
            blobs,
            tls,
            head_denials,
            trust,
            store,
            mode,
            limits,
        }),
        _ => Err(problems.0),
    }
}

pub(super) fn deserialize<T: DeserializeOwned>(
    problems: &mut Problems,
    path: &str,
    value: &Value,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value.clone()) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let full = if inner == "." || inner.is_empty() {
                path.to_owned()
            } else {
                format!("{path}.{inner}")
            };
            problems.push(full, e.into_inner().to_string());
            None
        }
    }
}

fn parse_with<T, R: DeserializeOwned>(
    problems: &mut Problems,
    path: &str,
    value: &Value,
    f: impl FnOnce(R) -> Result<T, String>,
) -> Option<T> {
    let raw = deserialize::<R>(problems, path, value)?;
    match f(raw) {
        Ok(v) => Some(v),
        Err(message) => {
            problems.push(path, message);
            None
        }
    }
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
    }
}

pub(super) fn resolve(base: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}
