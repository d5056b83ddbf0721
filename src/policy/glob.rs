//! `spec.images[].glob`, matched exactly as policy-controller matches it —
//! sigstore/policy-controller `pkg/apis/glob/glob.go` (`Compile`): a glob
//! that is exactly `*` means `index.docker.io/library/*` and `*/*` means
//! `index.docker.io/*/*`; only letters, digits and `-_:/*.@` are allowed;
//! `**` is any characters including `/` (anywhere, not only as a whole
//! component); `*` is any characters but `/`; `.` is a dot; the glob
//! matches the whole name. Registry hosts are case-insensitive (signgate's
//! names are lowercase, so the glob's host part is lowercased), and Docker
//! Hub's aliases (`docker.io`, `registry-1.docker.io`) mean
//! `index.docker.io`, the name policy-controller builds for it.
//!
//! On top of that, signgate refuses at load what can never match a name it
//! builds (a policy that silently applies to nothing lets images fall to
//! `no-match-policy`): a host that is not a configured upstream, a glob with
//! no repository part, upper-case repository components.

use regex::Regex;

use crate::config::Config;
use crate::oci::RegistryName;

/// The host part of every Docker Hub image name (policy-controller's).
const DOCKER_HUB_HOST: &str = "index.docker.io";
const DOCKER_HUB_ALIASES: [&str; 2] = ["docker.io", "registry-1.docker.io"];

/// A `spec.images[].glob`, validated and compiled.
#[derive(Debug, Clone)]
pub struct Glob {
    /// As the policy wrote it.
    pub written: String,
    /// The anchored regular expression it means.
    pub regex: String,
    /// The registry part: lowercased, Docker Hub folded to `index.docker.io`.
    host: String,
    /// After the first `/`, if there is one.
    rest: Option<String>,
}

/// The registry hosts image names are built with: one per configured
/// upstream, or unknown (a policy directory checked without a config).
#[derive(Debug, Clone)]
pub enum Registries {
    /// Host parts are not checked.
    Unchecked,
    /// `index.docker.io` for Docker Hub, else the upstream's name.
    Configured(Vec<String>),
}

// === impl Registries ===

impl Registries {
    /// The names `config`'s upstreams give images.
    pub fn from_config(config: &Config) -> Registries {
        Registries::Configured(
            config
                .upstreams
                .iter()
                .map(|u| image_host(&u.name).to_owned())
                .collect(),
        )
    }
}

/// The host part policies see for `registry`.
pub fn image_host(registry: &RegistryName) -> &str {
    if registry.is_docker_hub() {
        DOCKER_HUB_HOST
    } else {
        registry.as_str()
    }
}

// === impl Glob ===

impl Glob {
    /// Validate and compile `written`, or say why it can never be matched.
    pub fn parse(written: &str) -> Result<Glob, String> {
        // policy-controller's two rewrites, on the whole glob only.
        let glob = match written {
            "*" => "index.docker.io/library/*",
            "*/*" => "index.docker.io/*/*",
            other => other,
        };
        if glob.is_empty()
            || !glob
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_:/*.@".contains(&b))
        {
            return Err(format!(
                "'{written}' is not a glob policy-controller accepts: only letters, digits and - _ : / * . @ (no ?, [ ] or {{ }})"
            ));
        }
        let last = glob.rsplit('/').next().unwrap_or_default();
        if glob.contains('@') || (glob.contains('/') && last.contains(':')) {
            return Err(format!(
                "'{written}': globs match repository names; tags and digests are not part of them"
            ));
        }
        let (host, rest) = match glob.split_once('/') {
            Some((host, rest)) => (host.to_ascii_lowercase(), Some(rest.to_owned())),
            None => (glob.to_ascii_lowercase(), None),
        };
        let host = if DOCKER_HUB_ALIASES.contains(&host.as_str()) {
            DOCKER_HUB_HOST.to_owned()
        } else {
            host
        };
        if !glob.contains('/') && !glob.contains("**") {
            return Err(format!(
                "'{written}' has no repository part, and every image name has one (registry/repository): write e.g. '{written}/**'"
            ));
        }
        if let Some(rest) = &rest {
            if rest.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(format!(
                    "'{written}' can never match: repository names are lower-case"
                ));
            }
        }
        let regex = match &rest {
            Some(rest) => translate(&format!("{host}/{rest}")),
            None => translate(&host),
        };
        Ok(Glob {
            written: written.to_owned(),
            regex,
            host,
            rest,
        })
    }

    /// Refuse a glob whose host can match none of `registries`; a warning
    /// for what matches, but surely not what the author meant.
    pub fn check(&self, registries: &Registries) -> Result<Option<String>, String> {
        if let Registries::Configured(hosts) = registries {
            let known = || {
                let mut sorted = hosts.clone();
                sorted.sort();
                sorted.dedup();
                sorted.join(", ")
            };
            if !self.host.contains('*') {
                if !hosts.contains(&self.host) {
                    return Err(format!(
                        "'{}' can never match: '{}' is not a configured upstream (configured: {}), and signgate names images only by their upstream",
                        self.written,
                        self.host,
                        known()
                    ));
                }
            } else if !self.host.contains("**") {
                // A wildcard within the host: it must fit one of them.
                let host = Regex::new(&translate(&self.host)).map_err(|e| e.to_string())?;
                if !hosts.iter().any(|h| host.is_match(h)) {
                    return Err(format!(
                        "'{}' can never match: its registry part '{}' matches no configured upstream (configured: {})",
                        self.written,
                        self.host,
                        known()
                    ));
                }
            }
        }
        match &self.rest {
            Some(rest)
                if self.host == DOCKER_HUB_HOST && !rest.contains('/') && !rest.contains("**") =>
            {
                Ok(Some(format!(
                    "'{}' matches only the name index.docker.io/{rest}, which no Docker Hub image has: single-component names are library/<name>, so it matches nothing. policy-controller users writing this mean 'index.docker.io/library/{rest}'",
                    self.written
                )))
            }
            _ => Ok(None),
        }
    }
}

/// policy-controller's translation, in the same order: `.` is literal,
/// `**` is `.*`, `*` is `[^/]*`, anchored at both ends. Every other
/// allowed character is literal.
fn translate(glob: &str) -> String {
    let mut out = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '*' {
            if chars.next_if_eq(&'*').is_some() {
                out.push_str(".*");
            } else {
                out.push_str("[^/]*");
            }
        } else {
            out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
        }
    }
    out.push('$');
    out
}

#[cfg(test)]
#[path = "glob_tests.rs"]
mod tests;
