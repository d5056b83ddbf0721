//! How much of a trusted root is current: for `trust status` only (it
//! decides nothing; verification checks every key's window itself).

/// `"CAs 1/2, tlogs 2/2, ctlogs 1/1, TSAs 0/0 current"`: of each kind, the
/// entries whose `validFor` covers now.
pub(super) fn describe(json: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else {
        return "unreadable".to_owned();
    };
    let now = jiff::Timestamp::now();
    let parts: Vec<String> = [
        ("certificateAuthorities", "CAs"),
        ("tlogs", "tlogs"),
        ("ctlogs", "ctlogs"),
        ("timestampAuthorities", "TSAs"),
    ]
    .iter()
    .map(|(key, label)| {
        let entries = value
            .get(key)
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let current = entries.iter().filter(|e| covers(e, now)).count();
        format!("{label} {current}/{}", entries.len())
    })
    .collect();
    format!("{} current", parts.join(", "))
}

/// Whether an entry's `validFor` (its own, or its public key's) covers `now`.
fn covers(entry: &serde_json::Value, now: jiff::Timestamp) -> bool {
    let valid = entry
        .get("validFor")
        .or_else(|| entry.get("publicKey").and_then(|k| k.get("validFor")));
    let time = |k: &str| {
        valid
            .and_then(|v| v.get(k))
            .and_then(serde_json::Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    };
    time("start").is_none_or(|s| s <= now) && time("end").is_none_or(|e| now < e)
}

#[cfg(test)]
mod tests {
    #[test]
    fn entries_are_current_when_their_window_covers_now() {
        let json = r#"{"tlogs":[{"publicKey":{"validFor":{"start":"2020-01-01T00:00:00Z"}}},
            {"publicKey":{"validFor":{"start":"2020-01-01T00:00:00Z","end":"2021-01-01T00:00:00Z"}}}],
            "certificateAuthorities":[{"validFor":{"start":"2999-01-01T00:00:00Z"}}]}"#;
        assert_eq!(
            super::describe(json),
            "CAs 0/1, tlogs 1/2, ctlogs 0/0, TSAs 0/0 current"
        );
        assert_eq!(super::describe("nope"), "unreadable");
    }
}
