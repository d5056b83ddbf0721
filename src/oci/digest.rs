//! `Digest`: a content address (`sha256:<64 hex>` or `sha512:<128 hex>`).
//!
//! Only algorithms signgate can recompute are accepted: a digest that cannot
//! be checked is a digest that cannot be trusted.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

/// The hash algorithms signgate recomputes itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    Sha256,
    Sha512,
}

/// A validated content digest. The hex part is always lowercase.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    /// The whole `algorithm:hex` string, kept so `as_str` costs nothing.
    text: Box<str>,
    algorithm: DigestAlgorithm,
}

/// Why a string is not a digest signgate accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("invalid digest '{0}': expected 'algorithm:hex'")]
    Malformed(String),
    #[error("unsupported digest algorithm '{0}': only sha256 and sha512 can be verified")]
    UnsupportedAlgorithm(String),
    #[error("invalid digest '{0}': expected {1} lowercase hex characters")]
    BadHex(String, usize),
}

/// Incremental hasher producing a [`Digest`] of the same algorithm.
pub enum DigestHasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

// === impl Digest ===

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        let mut hasher = DigestHasher::new(DigestAlgorithm::Sha256);
        hasher.update(bytes);
        hasher.finish()
    }

    /// The digest of `bytes` computed with this digest's algorithm.
    pub fn recompute(&self, bytes: &[u8]) -> Digest {
        let mut hasher = DigestHasher::new(self.algorithm);
        hasher.update(bytes);
        hasher.finish()
    }

    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The hex part, without the algorithm prefix.
    pub fn hex(&self) -> &str {
        self.text.split_once(':').map_or("", |(_, hex)| hex)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The tag cosign and the OCI referrers fallback derive from a digest:
    /// `sha256:abc…` becomes `sha256-abc…`.
    pub fn to_tag_form(&self) -> String {
        self.text.replacen(':', "-", 1)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((algorithm, hex)) = s.split_once(':') else {
            return Err(DigestError::Malformed(truncate(s)));
        };
        let (algorithm, hex_len) = match algorithm {
            "sha256" => (DigestAlgorithm::Sha256, 64),
            "sha512" => (DigestAlgorithm::Sha512, 128),
            other if !other.is_empty() && other.len() <= 32 => {
                return Err(DigestError::UnsupportedAlgorithm(other.to_owned()))
            }
            _ => return Err(DigestError::Malformed(truncate(s))),
        };
        let hex_ok = hex.len() == hex_len
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(DigestError::BadHex(truncate(s), hex_len));
        }
        Ok(Digest {
            text: s.into(),
            algorithm,
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.text)
    }
}

/// Error texts quote the offending value, but never unboundedly.
pub(crate) fn truncate(s: &str) -> String {
    const MAX: usize = 160;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", s.get(..end).unwrap_or_default())
}

// === impl DigestHasher ===

impl DigestHasher {
    pub fn new(algorithm: DigestAlgorithm) -> Self {
        match algorithm {
            DigestAlgorithm::Sha256 => DigestHasher::Sha256(sha2::Sha256::new()),
            DigestAlgorithm::Sha512 => DigestHasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            DigestHasher::Sha256(h) => h.update(bytes),
            DigestHasher::Sha512(h) => h.update(bytes),
        }
    }

    pub fn finish(self) -> Digest {
        let (algorithm, prefix, hex) = match self {
            DigestHasher::Sha256(h) => (
                DigestAlgorithm::Sha256,
                "sha256:",
                hex::encode(h.finalize()),
            ),
            DigestHasher::Sha512(h) => (
                DigestAlgorithm::Sha512,
                "sha512:",
                hex::encode(h.finalize()),
            ),
        };
        Digest {
            text: format!("{prefix}{hex}").into(),
            algorithm,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn sha256_of_empty_input_matches_the_well_known_value() {
        assert_eq!(Digest::sha256_of(b"").as_str(), EMPTY_SHA256);
    }

    #[test]
    fn parse_round_trips_and_recompute_agrees() {
        let d: Digest = EMPTY_SHA256.parse().unwrap();
        assert_eq!(d.to_string(), EMPTY_SHA256);
        assert_eq!(d.recompute(b""), d);
        assert_ne!(d.recompute(b"x"), d);
        assert_eq!(d.to_tag_form(), EMPTY_SHA256.replace(':', "-"));
    }

    #[test]
    fn sha512_is_supported() {
        let mut h = DigestHasher::new(DigestAlgorithm::Sha512);
        h.update(b"abc");
        let d = h.finish();
        assert!(d.as_str().starts_with("sha512:ddaf35a1"));
        assert_eq!(d.as_str().parse::<Digest>().unwrap(), d);
    }

    #[test]
    fn invalid_digests_are_rejected_with_the_reason() {
        let cases = [
            ("", "expected 'algorithm:hex'"),
            ("sha256", "expected 'algorithm:hex'"),
            (
                "md5:d41d8cd98f00b204e9800998ecf8427e",
                "unsupported digest algorithm 'md5'",
            ),
            ("sha256:abc", "expected 64 lowercase hex"),
            (
                &EMPTY_SHA256.to_uppercase().replace("SHA256", "sha256"),
                "lowercase hex",
            ),
            (&format!("{EMPTY_SHA256}0"), "expected 64"),
            ("sha256:../../../../etc/passwd", "expected 64"),
            (":e3b0", "expected 'algorithm:hex'"),
        ];
        for (input, want) in cases {
            let err = input.parse::<Digest>().unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: {err}");
        }
    }

    #[test]
    fn error_text_is_bounded_for_hostile_input() {
        let long = format!("sha256:{}", "z".repeat(10_000));
        let err = long.parse::<Digest>().unwrap_err().to_string();
        assert!(err.len() < 300, "{}", err.len());
    }
}
