//! Registry host names and repository names, validated against the
//! distribution-spec grammar, with Docker Hub's normalisation in one place.

use std::fmt;
use std::str::FromStr;

use super::digest::truncate;

/// The canonical name of Docker Hub, and the host names that mean it.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_ALIASES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// Longest repository name distribution accepts.
const MAX_REPOSITORY_LEN: usize = 255;
/// Longest registry host[:port] signgate accepts (a DNS name is at most 253).
const MAX_REGISTRY_LEN: usize = 260;

/// A registry host name with optional port (`ghcr.io`, `127.0.0.1:5000`),
/// lowercased, with Docker Hub's aliases folded into `docker.io`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistryName(Box<str>);

/// A repository name inside a registry (`library/alpine`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository(Box<str>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("invalid repository name '{0}': components must be lowercase letters and digits separated by '.', '_', '__' or '-', joined by '/'")]
    Repository(String),
    #[error("invalid repository name '{0}': longer than {MAX_REPOSITORY_LEN} characters")]
    RepositoryTooLong(String),
    #[error("invalid registry name '{0}': expected host[:port]")]
    Registry(String),
}

// === impl RegistryName ===

impl RegistryName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_docker_hub(&self) -> bool {
        &*self.0 == DOCKER_HUB
    }

    /// Whether the first component of a path names a registry rather than a
    /// repository namespace. This is Docker's own rule: a registry has a dot or
    /// a port, or is `localhost`; repository components can have neither.
    pub fn looks_like_registry(component: &str) -> bool {
        component.contains('.') || component.contains(':') || component == "localhost"
    }

    /// The repository this registry really serves for `repository`: on Docker
    /// Hub a single-component name lives under `library/`. This is the only
    /// place that rule is applied.
    pub fn normalize_repository(&self, repository: Repository) -> Repository {
        if self.is_docker_hub() && !repository.as_str().contains('/') {
            Repository(format!("library/{}", repository.as_str()).into())
        } else {
            repository
        }
    }
}

impl FromStr for RegistryName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || NameError::Registry(truncate(s));
        if s.is_empty() || s.len() > MAX_REGISTRY_LEN {
            return Err(bad());
        }
        let (host, port) = split_host_port(s).ok_or_else(bad)?;
        if let Some(port) = port {
            let port_ok = !port.is_empty()
                && port.len() <= 5
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u16>().is_ok();
            if !port_ok {
                return Err(bad());
            }
        }
        let host_ok = if let Some(inner) = host.strip_prefix('[') {
            // An IPv6 literal.
            inner.strip_suffix(']').is_some_and(|ip| {
                !ip.is_empty()
                    && ip
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            })
        } else {
            !host.is_empty() && host.split('.').all(valid_host_label)
        };
        if !host_ok {
            return Err(bad());
        }
        let lower = s.to_ascii_lowercase();
        if DOCKER_HUB_ALIASES.contains(&lower.as_str()) {
            return Ok(RegistryName(DOCKER_HUB.into()));
        }
        Ok(RegistryName(lower.into()))
    }
}

fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if s.starts_with('[') {
        let end = s.find(']')?;
        let (host, rest) = s.split_at_checked(end + 1)?;
        return match rest.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if rest.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match s.split_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((s, None)),
    }
}

fn valid_host_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            label.len() <= 63
                && first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        _ => false,
    }
}

impl fmt::Display for RegistryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RegistryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegistryName({})", self.0)
    }
}

// === impl Repository ===

impl Repository {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Repository {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_REPOSITORY_LEN {
            return Err(NameError::RepositoryTooLong(truncate(s)));
        }
        if s.is_empty() || !s.split('/').all(valid_path_component) {
            return Err(NameError::Repository(truncate(s)));
        }
        Ok(Repository(s.into()))
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, without a regex engine on the hot path.
fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    let mut expect_alnum = true;
    while i < bytes.len() {
        if bytes.get(i).copied().is_some_and(is_alnum) {
            i += 1;
            expect_alnum = false;
            continue;
        }
        if expect_alnum {
            return false;
        }
        let start = i;
        while bytes.get(i).is_some_and(|b| !is_alnum(*b)) {
            i += 1;
        }
        let Some(separator) = component.get(start..i) else {
            return false;
        };
        let separator_ok =
            matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !separator_ok {
            return false;
        }
        expect_alnum = true;
    }
    !expect_alnum
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Repository({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_grammar_accepts_what_distribution_accepts() {
        for ok in [
            "alpine",
            "library/alpine",
            "a/b/c/d",
            "foo.bar",
            "foo_bar",
            "foo__bar",
            "foo---bar",
            "a0/9z",
            "sigstore/cosign-test",
        ] {
            assert!(ok.parse::<Repository>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn repository_grammar_rejects_everything_else() {
        for bad in [
            "", "/", "Alpine", "alpine/", "/alpine", "a//b", "a/../b", "..", "a___b", "a._b", "-a",
            "a-", "a.", "a b", "a%2fb", "a?b", "ünï",
        ] {
            assert!(bad.parse::<Repository>().is_err(), "{bad:?}");
        }
        let long = "a/".repeat(128) + "a";
        assert!(matches!(
            long.parse::<Repository>(),
            Err(NameError::RepositoryTooLong(_))
        ));
    }

    #[test]
    fn registry_names_are_lowercased_and_docker_hub_is_folded() {
        for alias in [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "Docker.IO",
        ] {
            let r: RegistryName = alias.parse().unwrap();
            assert!(r.is_docker_hub(), "{alias}");
            assert_eq!(r.as_str(), "docker.io");
        }
        let r: RegistryName = "GHCR.io".parse().unwrap();
        assert_eq!(r.as_str(), "ghcr.io");
        assert!(!r.is_docker_hub());
        assert!("127.0.0.1:5000".parse::<RegistryName>().is_ok());
        assert!("localhost".parse::<RegistryName>().is_ok());
        assert!("[::1]:5000".parse::<RegistryName>().is_ok());
    }

    #[test]
    fn invalid_registry_names_are_rejected() {
        for bad in [
            "",
            ":5000",
            "a..b",
            "-a.io",
            "a.io:",
            "a.io:99999",
            "a.io:x",
            "a/b",
            "[::1",
            "a_b.io",
            "a.io:5000:1",
        ] {
            assert!(bad.parse::<RegistryName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn docker_hub_single_component_names_go_under_library() {
        let hub: RegistryName = "docker.io".parse().unwrap();
        let ghcr: RegistryName = "ghcr.io".parse().unwrap();
        let alpine: Repository = "alpine".parse().unwrap();
        assert_eq!(
            hub.normalize_repository(alpine.clone()).as_str(),
            "library/alpine"
        );
        assert_eq!(ghcr.normalize_repository(alpine.clone()).as_str(), "alpine");
        let nested: Repository = "bitnami/redis".parse().unwrap();
        assert_eq!(hub.normalize_repository(nested).as_str(), "bitnami/redis");
    }

    #[test]
    fn registry_detection_follows_dockers_rule() {
        assert!(RegistryName::looks_like_registry("ghcr.io"));
        assert!(RegistryName::looks_like_registry("localhost"));
        assert!(RegistryName::looks_like_registry("host:5000"));
        assert!(!RegistryName::looks_like_registry("library"));
    }
}
