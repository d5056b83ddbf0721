//! `upstreams:` — each registry entry checked on its own (name, URL,
//! CA file, credentials, token realms), so one bad entry does not hide
//! the problems in the next.

use std::path::Path;

use serde_yaml_ng::Value;
use url::Url;

use super::raw::{RawAuth, RawUpstream};
use super::validate::{deserialize, resolve, Problems};
use super::{docker_config, Credentials, Mode, UpstreamConfig};
use crate::oci::RegistryName;

pub(super) fn validate_upstreams(
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
