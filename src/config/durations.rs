//! `cache:` and `timeouts:` — durations with their defaults, every wait
//! bounded.

use std::time::Duration;

use serde_yaml_ng::Value;

use super::raw::{RawCache, RawTimeouts};
use super::validate::{deserialize, Problems};
use super::{CacheConfig, Timeouts};

pub(super) fn validate_cache(
    problems: &mut Problems,
    value: Option<&Value>,
) -> Option<CacheConfig> {
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

pub(super) fn validate_timeouts(
    problems: &mut Problems,
    value: Option<&Value>,
) -> Option<Timeouts> {
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

pub(super) fn duration(
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
