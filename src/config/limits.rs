//! `limits:` — what one client connection may hold, so that a flood of
//! half-sent, idle or stalled connections cannot exhaust signgate. The
//! server applies them to the registry listener and to the admin listener.

use std::time::Duration;

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::ConfigError;

/// Connection limits (every wait bounded, every count capped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once, per listener. Further connections are
    /// not accepted: they wait in the kernel's listen backlog (holding no
    /// file descriptor of signgate's) until one closes.
    pub max_connections: u32,
    /// From a connection's start (after TLS) to its first complete request
    /// head; for HTTP/1 also every later head, including the wait for it
    /// on a kept-alive connection.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight, or whose response has not
    /// moved a byte, for this long is closed.
    pub idle_timeout: Duration,
    /// A TLS handshake longer than this is abandoned.
    pub tls_handshake_timeout: Duration,
    /// Request head bound: HTTP/1's read buffer (at least 8 KiB, hyper's
    /// minimum) and HTTP/2's header list size.
    pub max_header_bytes: u32,
    pub http2: Http2Limits,
}

/// `limits.http2:` — per-connection HTTP/2 bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http2Limits {
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub max_concurrent_streams: u32,
    /// How often an idle-looking connection is pinged.
    pub keep_alive_interval: Duration,
    /// A ping unanswered for this long closes the connection.
    pub keep_alive_timeout: Duration,
    /// Streams reset by the client before signgate saw them, tolerated at
    /// once before a GOAWAY (rapid reset, CVE-2023-44487).
    pub max_pending_reset_streams: u32,
    /// Streams signgate had to reset for protocol errors, tolerated before a
    /// GOAWAY (RUSTSEC-2024-0003).
    pub max_local_reset_streams: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(10),
            max_header_bytes: 32 * 1024,
            http2: Http2Limits {
                max_concurrent_streams: 100,
                keep_alive_interval: Duration::from_secs(30),
                keep_alive_timeout: Duration::from_secs(10),
                max_pending_reset_streams: 20,
                max_local_reset_streams: 1024,
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLimits {
    max_connections: Option<u32>,
    header_read_timeout: Option<String>,
    idle_timeout: Option<String>,
    tls_handshake_timeout: Option<String>,
    max_header_bytes: Option<u32>,
    http2: Option<RawHttp2>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawHttp2 {
    max_concurrent_streams: Option<u32>,
    keep_alive_interval: Option<String>,
    keep_alive_timeout: Option<String>,
    max_pending_reset_streams: Option<u32>,
    max_local_reset_streams: Option<u32>,
}

/// Validate `limits:`; problems carry their key path (`limits.idle-timeout`).
pub(super) fn validate(value: Option<&Value>) -> Result<Limits, Vec<ConfigError>> {
    let mut limits = Limits::default();
    let raw = match value {
        None | Some(Value::Null) => return Ok(limits),
        Some(v) => match serde_path_to_error::deserialize::<_, RawLimits>(v.clone()) {
            Ok(raw) => raw,
            Err(e) => {
                let inner = e.path().to_string();
                let path = if inner == "." || inner.is_empty() {
                    "limits".to_owned()
                } else {
                    format!("limits.{inner}")
                };
                return Err(vec![problem(path, e.into_inner().to_string())]);
            }
        },
    };
    let mut problems = Vec::new();
    let mut count = |key: &str, v: Option<u32>, range: (u32, u32), into: &mut u32| {
        if let Some(v) = v {
            if v < range.0 || v > range.1 {
                problems.push(problem(
                    format!("limits.{key}"),
                    format!("{v} is out of range: expected {} to {}", range.0, range.1),
                ));
            } else {
                *into = v;
            }
        }
    };
    count(
        "max-connections",
        raw.max_connections,
        (1, 1_000_000),
        &mut limits.max_connections,
    );
    count(
        "max-header-bytes",
        raw.max_header_bytes,
        (8 * 1024, 1024 * 1024),
        &mut limits.max_header_bytes,
    );
    let h2 = raw.http2.unwrap_or(RawHttp2 {
        max_concurrent_streams: None,
        keep_alive_interval: None,
        keep_alive_timeout: None,
        max_pending_reset_streams: None,
        max_local_reset_streams: None,
    });
    count(
        "http2.max-concurrent-streams",
        h2.max_concurrent_streams,
        (1, 10_000),
        &mut limits.http2.max_concurrent_streams,
    );
    count(
        "http2.max-pending-reset-streams",
        h2.max_pending_reset_streams,
        (1, 100_000),
        &mut limits.http2.max_pending_reset_streams,
    );
    count(
        "http2.max-local-reset-streams",
        h2.max_local_reset_streams,
        (1, 100_000),
        &mut limits.http2.max_local_reset_streams,
    );
    for (key, text, into) in [
        (
            "header-read-timeout",
            raw.header_read_timeout,
            &mut limits.header_read_timeout,
        ),
        ("idle-timeout", raw.idle_timeout, &mut limits.idle_timeout),
        (
            "tls-handshake-timeout",
            raw.tls_handshake_timeout,
            &mut limits.tls_handshake_timeout,
        ),
        (
            "http2.keep-alive-interval",
            h2.keep_alive_interval,
            &mut limits.http2.keep_alive_interval,
        ),
        (
            "http2.keep-alive-timeout",
            h2.keep_alive_timeout,
            &mut limits.http2.keep_alive_timeout,
        ),
    ] {
        let Some(text) = text else { continue };
        match humantime::parse_duration(&text) {
            Ok(d) if d.is_zero() => problems.push(problem(
                format!("limits.{key}"),
                "must be greater than zero: every wait is bounded".to_owned(),
            )),
            Ok(d) => *into = d,
            Err(e) => problems.push(problem(
                format!("limits.{key}"),
                format!("'{text}' is not a duration such as 10s or 1m: {e}"),
            )),
        }
    }
    if problems.is_empty() {
        Ok(limits)
    } else {
        Err(problems)
    }
}

fn problem(path: String, message: String) -> ConfigError {
    ConfigError { path, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(yaml: &str) -> Result<Limits, Vec<String>> {
        let v: Value = serde_yaml_ng::from_str(yaml).unwrap();
        validate(Some(&v)).map_err(|es| {
            es.into_iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect()
        })
    }

    #[test]
    fn defaults_bound_every_wait_and_count() {
        let d = validate(None).unwrap();
        assert_eq!(d, Limits::default());
        assert_eq!(d.max_connections, 1024);
        assert_eq!(d.header_read_timeout, Duration::from_secs(10));
        assert_eq!(d.idle_timeout, Duration::from_secs(60));
        assert_eq!(d.http2.max_concurrent_streams, 100);
    }

    #[test]
    fn every_key_is_read() {
        let l = limits(
            "{max-connections: 20, header-read-timeout: 1s, idle-timeout: 2s, tls-handshake-timeout: 3s, max-header-bytes: 8192, http2: {max-concurrent-streams: 4, keep-alive-interval: 5s, keep-alive-timeout: 6s, max-pending-reset-streams: 7, max-local-reset-streams: 8}}",
        )
        .unwrap();
        assert_eq!(l.max_connections, 20);
        assert_eq!(l.header_read_timeout, Duration::from_secs(1));
        assert_eq!(l.idle_timeout, Duration::from_secs(2));
        assert_eq!(l.tls_handshake_timeout, Duration::from_secs(3));
        assert_eq!(l.max_header_bytes, 8192);
        assert_eq!(l.http2.max_concurrent_streams, 4);
        assert_eq!(l.http2.keep_alive_interval, Duration::from_secs(5));
        assert_eq!(l.http2.keep_alive_timeout, Duration::from_secs(6));
        assert_eq!(l.http2.max_pending_reset_streams, 7);
        assert_eq!(l.http2.max_local_reset_streams, 8);
    }

    #[test]
    fn problems_name_their_key_path() {
        let errs = limits(
            "{max-connections: 0, idle-timeout: 0s, header-read-timeout: soon, max-header-bytes: 100, http2: {max-concurrent-streams: 0}}",
        )
        .unwrap_err();
        for want in [
            "limits.max-connections: 0 is out of range",
            "limits.idle-timeout: must be greater than zero",
            "limits.header-read-timeout: 'soon' is not a duration",
            // Below hyper's minimum buffer (which would panic at startup).
            "limits.max-header-bytes: 100 is out of range: expected 8192",
            "limits.http2.max-concurrent-streams: 0 is out of range",
        ] {
            assert!(errs.iter().any(|e| e.starts_with(want)), "{want}: {errs:?}");
        }
        let errs = limits("{http2: {typo: 1}}").unwrap_err();
        assert!(
            errs[0].starts_with("limits.http2.typo: unknown field"),
            "{errs:?}"
        );
        let errs = limits("{max-connections: many}").unwrap_err();
        assert!(errs[0].starts_with("limits.max-connections: "), "{errs:?}");
    }
}
