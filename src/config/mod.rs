//! Configuration: the YAML file (or the embedded default) → a validated
//! [`Config`].
//!
//! Loading walks the whole file and reports every problem with its key path
//! in one run (`upstreams[1].url: …`), so an operator fixes a file in one go.
//! Secrets referenced by path are read here, once, at load time. Architecture
//! invariant: nothing in this module does network I/O, and request code only
//! ever sees the validated, immutable `Config`.

mod docker_config;
mod durations;
mod limits;
mod raw;
mod realms;
mod trust;
mod upstreams;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::oci::RegistryName;

pub use limits::{Http2Limits, Limits};

/// The configuration `signgate serve` uses when given no `--config`.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.yaml");

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub admin: SocketAddr,
    pub upstreams: Vec<UpstreamConfig>,
    /// Where the policies come from.
    pub policies: Option<PolicySource>,
    pub no_match_policy: NoMatchPolicy,
    pub cache: CacheConfig,
    pub timeouts: Timeouts,
    /// Serve only blobs referenced by admitted manifests (`strict`, the
    /// default), or any blob (`passthrough`).
    pub blobs: BlobMode,
    /// HTTPS for the registry API; without it, plain HTTP on loopback only.
    pub tls: Option<TlsConfig>,
    /// How a denied manifest answers a `HEAD`.
    pub head_denials: HeadDenials,
    /// Trust material for keyless signatures.
    pub trust: TrustConfig,
    /// The local store of admitted content, if any.
    pub store: Option<StoreConfig>,
    /// `offline`: never contact an upstream; serve from the store alone.
    pub mode: Mode,
    /// Connection limits of the registry and admin listeners.
    pub limits: Limits,
}

/// `store:` — a verified, content-addressed OCI layout on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// Garbage collection keeps the store under this size, except for
    /// content a retained, verified tag references.
    pub budget_bytes: u64,
}

/// `mode:` — whether upstreams may be contacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Online,
    /// Air-gapped: no network at all; the store answers everything.
    Offline,
}

/// `trust:` — sigstore `trusted_root.json` files and TUF repositories.
/// Keyless authorities use `trusted-root` (the embedded public-good root
/// when unset), or the root a policy names with `trustRootRef`;
/// `public-good` and `github` name the embedded ones (kept current by TUF).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustConfig {
    pub trusted_root: Option<PathBuf>,
    pub roots: std::collections::BTreeMap<String, PathBuf>,
    pub tuf: TufConfig,
}

/// `trust.tuf:` — where verified TUF metadata is kept, how often it is
/// refreshed, what expired metadata means, and the configured repositories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TufConfig {
    /// `None` when no default could be found (no store, no `$HOME`): TUF
    /// roots then live in memory only, from their seeds.
    pub cache_dir: Option<PathBuf>,
    pub refresh: Duration,
    pub on_expired: OnExpired,
    pub repositories: std::collections::BTreeMap<String, TufRepositoryConfig>,
}

/// One `trust.tuf.repositories` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TufRepositoryConfig {
    pub mirror: Url,
    /// The bootstrap TUF `root.json`.
    pub root: PathBuf,
    /// The target holding the trusted root (default `trusted_root.json`).
    pub target: String,
}

/// `trust.tuf.on-expired:` — what expired TUF metadata does to its root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnExpired {
    /// Keep the last verified trusted root in force (loudly).
    Keep,
    /// Replace it by an unavailable root: its keyless signatures are denied.
    Deny,
}

impl Default for TufConfig {
    fn default() -> TufConfig {
        TufConfig {
            cache_dir: trust::default_cache_dir(None),
            refresh: Duration::from_secs(24 * 3600),
            on_expired: OnExpired::Keep,
            repositories: std::collections::BTreeMap::new(),
        }
    }
}

/// `head-denials:` — a `HEAD` answer has no body, and containerd (before
/// 2.x) resolves tags with `HEAD` and shows its users only the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeadDenials {
    /// `403` on `HEAD` as on `GET` (the default).
    Status,
    /// Answer a denied `HEAD` by tag with the digest, size and type of a
    /// placeholder document (never the denied digest, which a runtime that
    /// holds it would use without a `GET`; never any bytes), so the
    /// client's `GET` of the placeholder receives the `403` with the full
    /// reason in its body. A `HEAD` by digest is `403` as in `Status`.
    DeferToGet,
}

/// `tls:` — PEM files, relative to the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Require client certificates signed by these CAs (mTLS).
    pub client_ca: Option<PathBuf>,
}

/// `policies:` — a directory, or the example policies built into signgate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    Dir(PathBuf),
    /// `builtin:examples`: the files of the repository's `policies/`.
    BuiltinExamples,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlobMode {
    Strict,
    Passthrough,
}

/// One registry signgate may contact.
#[derive(Clone)]
pub struct UpstreamConfig {
    /// The name clients use for it (`?ns=`, path prefix).
    pub name: RegistryName,
    /// Where it really is.
    pub url: Url,
    /// Serves requests that name no registry.
    pub default: bool,
    /// Allows plain HTTP, and HTTPS without certificate verification.
    pub insecure: bool,
    /// Extra PEM CA certificates trusted for this upstream.
    pub ca_file: Option<PathBuf>,
    pub credentials: Option<Credentials>,
    /// Token realms besides the upstream's own host that `credentials` may
    /// be sent to (`token-realms`); matched by scheme, host, port and path.
    pub token_realms: Vec<Url>,
    /// Keep this upstream's admitted content in the store.
    pub store: bool,
}

/// Username and password for an upstream, already read from wherever the
/// configuration pointed.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// What happens to images no policy matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoMatchPolicy {
    Deny,
    Warn,
    Allow,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Upper bound of the manifest cache, in bytes of manifest bodies.
    pub manifest_bytes: u64,
    /// How long a tag → digest resolution is reused; zero asks upstream every time.
    pub tag_ttl: Duration,
    /// How long an allow decision is reused (per digest and policy revision).
    pub decision_ttl: Duration,
    /// How long a definitive denial is reused; transient failures never are.
    pub denial_ttl: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP + TLS connect to an upstream.
    pub connect: Duration,
    /// From sending a request upstream to its response headers; also bounds
    /// reading a whole manifest or token response.
    pub response: Duration,
    /// Longest pause between two chunks of a streamed blob.
    pub idle: Duration,
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where: `upstreams[1].auth.password-file`, or empty for the whole file.
    pub path: String,
    pub message: String,
}

/// Every problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    pub source: String,
    pub errors: Vec<ConfigError>,
}

// === impl Config ===

impl Config {
    /// Load and validate a configuration file. Relative paths inside it are
    /// resolved against the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
            source: source.clone(),
            errors: vec![ConfigError {
                path: String::new(),
                message: format!("cannot read file: {e}"),
            }],
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Config::parse(&text, &source, base)
    }

    /// The embedded default: listen on loopback, Docker Hub as default upstream.
    pub fn embedded_default() -> Result<Config, ConfigErrors> {
        Config::parse(EMBEDDED_DEFAULT, "<embedded default>", Path::new("."))
    }

    /// Parse and validate YAML text. `source` names it in errors; `base`
    /// resolves relative paths.
    pub fn parse(text: &str, source: &str, base: &Path) -> Result<Config, ConfigErrors> {
        validate::validate(text, base).map_err(|errors| ConfigErrors {
            source: source.to_owned(),
            errors,
        })
    }

    /// The upstream that serves requests naming no registry.
    pub fn default_upstream(&self) -> Option<&UpstreamConfig> {
        self.upstreams.iter().find(|u| u.default)
    }

    /// Settings that load but deserve the operator's attention: `config
    /// check` prints them, `serve` logs them.
    pub fn warnings(&self) -> Vec<ConfigError> {
        let mut warnings = Vec::new();
        if !self.admin.ip().to_canonical().is_loopback() {
            warnings.push(ConfigError {
                path: "admin".to_owned(),
                message: format!(
                    "plain HTTP on {}, which is not a loopback address: /metrics, /healthz and /readyz are served without TLS or authentication to anyone who can reach it; bind it to 127.0.0.1 or firewall it",
                    self.admin
                ),
            });
        }
        warnings
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        writeln!(
            f,
            "{}: {n} problem{}",
            self.source,
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            if e.path.is_empty() {
                writeln!(f, "  - {}", e.message)?;
            } else {
                writeln!(f, "  - {}: {}", e.path, e.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl fmt::Debug for UpstreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .field("default", &self.default)
            .field("insecure", &self.insecure)
            .field("ca_file", &self.ca_file)
            .field("credentials", &self.credentials)
            .field(
                "token_realms",
                &self
                    .token_realms
                    .iter()
                    .map(Url::as_str)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Never print a password, not even in debug logs.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

#[cfg(test)]
mod diagnostics_tests;
#[cfg(test)]
mod tests;
