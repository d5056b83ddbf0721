//! The OCI error envelope: `{"errors":[{"code":…,"message":…,"detail":…}]}`.

use serde::Serialize;

/// The error codes of the distribution spec that signgate answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    BlobUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    #[serde(rename = "TOOMANYREQUESTS")]
    TooManyRequests,
    Unknown,
}

/// The JSON body of an OCI error response.
#[derive(Debug, Serialize)]
pub struct ErrorEnvelope<'a> {
    errors: [ErrorItem<'a>; 1],
}

#[derive(Debug, Serialize)]
struct ErrorItem<'a> {
    code: ErrorCode,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a serde_json::Value>,
}

impl<'a> ErrorEnvelope<'a> {
    pub fn new(code: ErrorCode, message: &'a str, detail: Option<&'a serde_json::Value>) -> Self {
        ErrorEnvelope {
            errors: [ErrorItem {
                code,
                message,
                detail,
            }],
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain strings and enums into a Vec cannot fail; the
        // fallback keeps the response well-formed even so.
        serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"errors":[{"code":"UNKNOWN","message":"internal error"}]}"#.to_vec()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_the_spec_shape() {
        let json = ErrorEnvelope::new(ErrorCode::TooManyRequests, "slow down", None).to_json();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["errors"][0]["code"], "TOOMANYREQUESTS");
        assert_eq!(v["errors"][0]["message"], "slow down");
        assert!(v["errors"][0].get("detail").is_none());
        let detail = serde_json::json!({"policy": "p"});
        let json = ErrorEnvelope::new(ErrorCode::NameInvalid, "m", Some(&detail)).to_json();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["errors"][0]["code"], "NAME_INVALID");
        assert_eq!(v["errors"][0]["detail"]["policy"], "p");
    }
}
