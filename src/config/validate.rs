//! Raw YAML → [`Config`], collecting every problem with its key path.
//!
//! Each top-level key (and each upstream entry) is deserialised on its own,
//! so one bad entry does not hide the problems in the next.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};
use url::Url;

use super::raw::{RawAuth, RawCache, RawStore, RawTimeouts, RawTls, RawTrust, RawUpstream};
use super::{
    docker_config, BlobMode, CacheConfig, Config, ConfigError, Credentials, HeadDenials, Mode,
    NoMatchPolicy, PolicySource, StoreConfig, Timeouts, TlsConfig, TrustConfig, UpstreamConfig,
};
use crate::oci::RegistryName;

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
struct Problems(Vec<ConfigError>);

impl Problems {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
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
    let trust = match map.get("trust") {
        None | Some(Value::Null) => TrustConfig::default(),
        Some(v) => deserialize::<RawTrust>(&mut problems, "trust", v)
            .map(|raw| {
                let trust = TrustConfig {
                    trusted_root: raw.trusted_root.as_deref().map(|p| resolve(base, p)),
                    roots: raw
                        .roots
                        .iter()
                        .map(|(name, p)| (name.clone(), resolve(base, p)))
                        .collect(),
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
                    if name == "public-good" {
                        problems.push(
                            format!("trust.roots.{name}"),
                            "'public-good' is the embedded root's name",
                        );
                    } else if !path.is_file() {
                        problems.push(
                            format!("trust.roots.{name}"),
                            format!("'{}' is not a readable file", path.display()),
                        );
                    }
                }
                trust
            })
            .unwrap_or_default(),
    };
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

fn validate_upstreams(
    problems: &mut Problems,
    value: Option<&Value>,
    base: &Path,
    mode: Mode,
) -> Vec<UpstreamConfig> {
    let Some(value) = value else {
        problems.push("upstreams", "required: at least one upstream registry");
        return Vec::new();
    };
    let Value::Sequence(entries) = value else {
        problems.push("upstreams", "expected a list of upstream registries");
        return Vec::new();
    };
    if entries.is_empty() {
        problems.push("upstreams", "required: at least one upstream registry");
    }
    let mut upstreams: Vec<UpstreamConfig> = Vec::new();
    let mut defaults = 0;
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("upstreams[{i}]");
        let Some(raw) = deserialize::<RawUpstream>(problems, &path, entry) else {
            continue;
        };
        if raw.default {
            defaults += 1;
        }
        let name = match raw.name.parse::<RegistryName>() {
            Ok(name) => {
                if upstreams.iter().any(|u| u.name == name) {
                    problems.push(
                        format!("{path}.name"),
                        format!("'{}' is configured twice", raw.name),
                    );
                }
                Some(name)
            }
            Err(e) => {
                problems.push(format!("{path}.name"), e.to_string());
                None
            }
        };
        // Offline, an upstream is only a name to route by: nothing is
        // ever sent to its URL.
        let raw_url = match (&raw.url, mode) {
            (Some(u), _) => u.clone(),
            (None, Mode::Offline) => format!("https://{}/", raw.name),
            (None, Mode::Online) => {
                problems.push(format!("{path}.url"), "required (unless mode: offline)");
                continue;
            }
        };
        let url = match Url::parse(&raw_url) {
            Ok(url) => match url.scheme() {
                "https" => Some(url),
                "http" if raw.insecure => Some(url),
                "http" => {
                    problems.push(
                        format!("{path}.url"),
                        "plain http needs 'insecure: true' on this upstream",
                    );
                    None
                }
                other => {
                    problems.push(
                        format!("{path}.url"),
                        format!("unsupported scheme '{other}' (expected https or http)"),
                    );
                    None
                }
            },
            Err(e) => {
                problems.push(
                    format!("{path}.url"),
                    format!("'{raw_url}' is not a URL: {e}"),
                );
                None
            }
        };
        if let Some(url) = &url {
            if url.query().is_some() || url.fragment().is_some() || url.path() != "/" {
                problems.push(
                    format!("{path}.url"),
                    "must be the registry's base URL with no path, query or fragment",
                );
            }
            if url.host().is_none() {
                problems.push(format!("{path}.url"), "has no host");
            }
        }
        let ca_file = raw.ca_file.as_deref().map(|p| resolve(base, p));
        if let Some(ca) = &ca_file {
            if !ca.is_file() {
                problems.push(
                    format!("{path}.ca-file"),
                    format!("'{}' is not a readable file", ca.display()),
                );
            }
        }
        let credentials = match (&raw.auth, &name) {
            (Some(auth), Some(name)) => {
                credentials(problems, &format!("{path}.auth"), auth, name, base)
            }
            _ => None,
        };
        let (token_realms, realm_problems) = super::realms::token_realms(
            raw.token_realms.as_deref(),
            &path,
            raw.insecure,
            raw.auth.is_some(),
        );
        problems.0.extend(realm_problems);
        if let (Some(name), Some(url)) = (name, url) {
            upstreams.push(UpstreamConfig {
                name,
                url,
                default: raw.default,
                insecure: raw.insecure,
                ca_file,
                credentials,
                token_realms,
                store: raw.store.unwrap_or(true),
            });
        }
    }
    if defaults > 1 {
        problems.push("upstreams", "at most one upstream can be 'default: true'");
    }
    upstreams
}

fn credentials(
    problems: &mut Problems,
    path: &str,
    auth: &RawAuth,
    name: &RegistryName,
    base: &Path,
) -> Option<Credentials> {
    if let Some(file) = &auth.docker_config {
        if auth.username.is_some() || auth.password.is_some() || auth.password_file.is_some() {
            problems.push(
                path,
                "use either 'docker-config' or 'username' with 'password'/'password-file', not both",
            );
            return None;
        }
        let file = resolve(base, file);
        return match docker_config::lookup(&file, name) {
            Ok(Some(c)) => Some(c),
            Ok(None) => {
                problems.push(
                    format!("{path}.docker-config"),
                    format!("'{}' has no credentials for '{name}'", file.display()),
                );
                None
            }
            Err(message) => {
                problems.push(format!("{path}.docker-config"), message);
                None
            }
        };
    }
    let Some(username) = auth.username.clone() else {
        problems.push(
            format!("{path}.username"),
            "required with 'password' or 'password-file'",
        );
        return None;
    };
    let password = match (&auth.password, &auth.password_file) {
        (Some(p), None) => p.clone(),
        (None, Some(file)) => {
            let file = resolve(base, file);
            match std::fs::read_to_string(&file) {
                // A trailing newline from `echo secret > file` is not part of the secret.
                Ok(p) => p.trim_end_matches(['\r', '\n']).to_owned(),
                Err(e) => {
                    problems.push(
                        format!("{path}.password-file"),
                        format!("cannot read '{}': {e}", file.display()),
                    );
                    return None;
                }
            }
        }
        (Some(_), Some(_)) => {
            problems.push(path, "set 'password' or 'password-file', not both");
            return None;
        }
        (None, None) => {
            problems.push(
                path,
                "'password' or 'password-file' is required with 'username'",
            );
            return None;
        }
    };
    Some(Credentials { username, password })
}

fn validate_cache(problems: &mut Problems, value: Option<&Value>) -> Option<CacheConfig> {
    let raw = match value {
        None | Some(Value::Null) => RawCache {
            manifest_bytes: None,
            tag_ttl: None,
            decision_ttl: None,
            denial_ttl: None,
        },
        Some(v) => deserialize::<RawCache>(problems, "cache", v)?,
    };
    let tag_ttl = duration(
        problems,
        "cache.tag-ttl",
        raw.tag_ttl.as_deref(),
        Duration::ZERO,
    );
    let decision_ttl = duration(
        problems,
        "cache.decision-ttl",
        raw.decision_ttl.as_deref(),
        Duration::from_secs(600),
    );
    let denial_ttl = duration(
        problems,
        "cache.denial-ttl",
        raw.denial_ttl.as_deref(),
        Duration::from_secs(60),
    );
    Some(CacheConfig {
        manifest_bytes: raw.manifest_bytes.unwrap_or(64 * 1024 * 1024),
        tag_ttl: tag_ttl?,
        decision_ttl: decision_ttl?,
        denial_ttl: denial_ttl?,
    })
}

fn validate_timeouts(problems: &mut Problems, value: Option<&Value>) -> Option<Timeouts> {
    let raw = match value {
        None | Some(Value::Null) => RawTimeouts {
            connect: None,
            response: None,
            idle: None,
        },
        Some(v) => deserialize::<RawTimeouts>(problems, "timeouts", v)?,
    };
    let connect = duration(
        problems,
        "timeouts.connect",
        raw.connect.as_deref(),
        Duration::from_secs(10),
    );
    let response = duration(
        problems,
        "timeouts.response",
        raw.response.as_deref(),
        Duration::from_secs(30),
    );
    let idle = duration(
        problems,
        "timeouts.idle",
        raw.idle.as_deref(),
        Duration::from_secs(60),
    );
    for (key, d) in [("connect", connect), ("response", response), ("idle", idle)] {
        if d == Some(Duration::ZERO) {
            problems.push(
                format!("timeouts.{key}"),
                "must be greater than zero: every wait is bounded",
            );
        }
    }
    Some(Timeouts {
        connect: connect?,
        response: response?,
        idle: idle?,
    })
}

fn duration(
    problems: &mut Problems,
    path: &str,
    text: Option<&str>,
    default: Duration,
) -> Option<Duration> {
    match text {
        None => Some(default),
        Some(t) => match humantime::parse_duration(t) {
            Ok(d) => Some(d),
            Err(e) => {
                problems.push(
                    path,
                    format!("'{t}' is not a duration such as 30s or 5m: {e}"),
                );
                None
            }
        },
    }
}

fn deserialize<T: DeserializeOwned>(
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

fn resolve(base: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}
