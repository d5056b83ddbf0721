//! `http::Request` parts → a typed [`Route`], parsed once at the edge.
//!
//! This is also where the upstream is chosen, covering how each runtime talks
//! to a mirror: containerd's `?ns=<registry>`, a path prefix naming a
//! configured registry (`/v2/ghcr.io/org/img/...`, as CRI-O/podman mirrors
//! with a path send it), or the configured default upstream (Docker's
//! `registry-mirrors`). Only configured registries are ever routed to: a
//! request naming any other is refused here, before any I/O (no open relay).
//!
//! Architecture invariant: no I/O, no policy; everything downstream receives
//! only validated types.

use std::fmt;

use http::Method;

use crate::config::UpstreamConfig;
use crate::oci::{
    Digest, DigestError, NameError, Reference, ReferenceError, RegistryName, Repository, Tag,
};

mod image;
pub use image::ImageError;

/// The most bytes of client text an error message quotes.
const MAX_SHOWN: usize = 160;

/// Index of an upstream in the configuration's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UpstreamId(pub usize);

/// The registry names requests may use, in configuration order.
#[derive(Debug, Clone)]
pub struct Router {
    names: Vec<RegistryName>,
    default: Option<UpstreamId>,
}

/// The two methods of the pull side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMethod {
    Get,
    Head,
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /v2/`: the API version check.
    ApiBase,
    Manifest {
        target: Target,
        reference: Reference,
    },
    Blob {
        target: Target,
        digest: Digest,
    },
    TagsList {
        target: Target,
        n: Option<u32>,
        last: Option<Tag>,
    },
    Referrers {
        target: Target,
        digest: Digest,
        artifact_type: Option<String>,
    },
}

/// Which repository of which upstream a request is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub upstream: UpstreamId,
    /// The repository on the upstream, normalised (`library/alpine` on Docker Hub).
    pub repository: Repository,
    /// The name as the client wrote it in the path (`docker.io/library/alpine`,
    /// `alpine`), used to build links back to signgate.
    pub client_name: Box<str>,
    /// The `?ns=` the client sent, echoed into links.
    pub ns: Option<RegistryName>,
}

/// Why a request cannot be routed. Mapped to an OCI error in `respond`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("unknown endpoint '{0}'")]
    NotFound(String),
    #[error("method {0} is not supported: signgate is a read-only pull-through proxy")]
    MethodNotAllowed(String),
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("invalid reference: {0}")]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("registry '{0}' is not a configured upstream of this signgate")]
    UnconfiguredRegistry(String),
    #[error("no default upstream is configured: name the registry with '?ns=' or a path prefix")]
    NoDefaultUpstream,
    #[error("invalid query parameter '{0}': {1}")]
    Query(&'static str, String),
}

// === impl Router ===

impl Router {
    pub fn new(upstreams: &[UpstreamConfig]) -> Router {
        Router {
            names: upstreams.iter().map(|u| u.name.clone()).collect(),
            default: upstreams.iter().position(|u| u.default).map(UpstreamId),
        }
    }

    fn find(&self, name: &RegistryName) -> Option<UpstreamId> {
        self.names.iter().position(|n| n == name).map(UpstreamId)
    }

    /// Parse a request's method, path and query.
    pub fn route(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
    ) -> Result<(ReadMethod, Route), RouteError> {
        let read_method = match *method {
            Method::GET => ReadMethod::Get,
            Method::HEAD => ReadMethod::Head,
            ref other => return Err(RouteError::MethodNotAllowed(shown(other.as_str()))),
        };
        let rest = if path == "/v2" || path == "/v2/" {
            return Ok((read_method, Route::ApiBase));
        } else if let Some(rest) = path.strip_prefix("/v2/") {
            rest
        } else {
            return Err(not_found(path));
        };
        let query = Query::parse(query)?;
        let mut parts = rest.rsplitn(3, '/');
        let (Some(last), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(not_found(path));
        };
        let route = match (kind, last) {
            ("tags", "list") => Route::TagsList {
                target: self.target(name, query.ns)?,
                n: query.n,
                last: query.last,
            },
            ("manifests", reference) => {
                let reference = Reference::parse(reference)?;
                Route::Manifest {
                    target: self.target(name, query.ns)?,
                    reference,
                }
            }
            ("blobs", digest) => {
                let digest = digest.parse()?;
                Route::Blob {
                    target: self.target(name, query.ns)?,
                    digest,
                }
            }
            ("referrers", digest) => {
                let digest = digest.parse()?;
                Route::Referrers {
                    target: self.target(name, query.ns)?,
                    digest,
                    artifact_type: query.artifact_type,
                }
            }
            _ => return Err(not_found(path)),
        };
        Ok((read_method, route))
    }

    /// Choose the upstream and the repository on it for a path name.
    fn target(&self, name: &str, ns: Option<RegistryName>) -> Result<Target, RouteError> {
        let (upstream, registry, repository) = if let Some(ns) = &ns {
            let id = self
                .find(ns)
                .ok_or_else(|| RouteError::UnconfiguredRegistry(ns.to_string()))?;
            (id, ns.clone(), name.parse::<Repository>()?)
        } else {
            let (first, remainder) = name.split_once('/').unwrap_or((name, ""));
            if RegistryName::looks_like_registry(first) {
                let registry: RegistryName = first.parse()?;
                let id = self
                    .find(&registry)
                    .ok_or_else(|| RouteError::UnconfiguredRegistry(registry.to_string()))?;
                (id, registry, remainder.parse::<Repository>()?)
            } else {
                let id = self.default.ok_or(RouteError::NoDefaultUpstream)?;
                let registry = self
                    .names
                    .get(id.0)
                    .cloned()
                    .ok_or(RouteError::NoDefaultUpstream)?;
                (id, registry, name.parse::<Repository>()?)
            }
        };
        Ok(Target {
            upstream,
            repository: registry.normalize_repository(repository),
            client_name: name.into(),
            ns,
        })
    }
}

fn not_found(path: &str) -> RouteError {
    RouteError::NotFound(shown(path))
}

/// Client text quoted in an error, cut to at most [`MAX_SHOWN`] bytes at a
/// char boundary: a byte-index cut inside a multi-byte character panics.
fn shown(text: &str) -> String {
    if text.len() <= MAX_SHOWN {
        return text.to_owned();
    }
    let end = text
        .char_indices()
        .map(|(i, _)| i)
        .take_while(|&i| i <= MAX_SHOWN)
        .last()
        .unwrap_or(0);
    format!("{}…", text.get(..end).unwrap_or_default())
}

/// The query parameters the pull side understands; others are ignored, as
/// registries do.
#[derive(Default)]
struct Query {
    ns: Option<RegistryName>,
    n: Option<u32>,
    last: Option<Tag>,
    artifact_type: Option<String>,
}

impl Query {
    fn parse(query: Option<&str>) -> Result<Query, RouteError> {
        let mut q = Query::default();
        let Some(query) = query else {
            return Ok(q);
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "ns" => q.ns = Some(value.parse()?),
                "n" => {
                    let n = value.parse::<u32>().map_err(|_| {
                        RouteError::Query("n", format!("'{}' is not a count", shown(&value)))
                    })?;
                    q.n = Some(n);
                }
                "last" => {
                    q.last = Some(value.parse().map_err(|e: crate::oci::TagError| {
                        RouteError::Query("last", e.to_string())
                    })?)
                }
                "artifactType" => {
                    let ok = value.len() <= 255
                        && value.split_once('/').is_some()
                        && value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+/".contains(&b));
                    if !ok {
                        return Err(RouteError::Query("artifactType", "not a media type".into()));
                    }
                    q.artifact_type = Some(value.into_owned());
                }
                _ => {}
            }
        }
        Ok(q)
    }
}

impl fmt::Display for ReadMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReadMethod::Get => "GET",
            ReadMethod::Head => "HEAD",
        })
    }
}

#[cfg(test)]
mod tests;
