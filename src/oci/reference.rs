//! Tags and references. A `Reference` is a tag or a digest, never both, so
//! "which one do we trust" cannot be asked: only digests are trusted.

use std::fmt;
use std::str::FromStr;

use super::digest::{truncate, Digest, DigestError};

/// A tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(Box<str>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tag '{0}': expected up to 128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'")]
pub struct TagError(String);

/// What a manifest request names.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

// === impl Tag ===

impl Tag {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = TagError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        let first_ok = bytes
            .first()
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        let rest_ok = bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if first_ok && rest_ok && bytes.len() <= 128 {
            Ok(Tag(s.into()))
        } else {
            Err(TagError(truncate(s)))
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({})", self.0)
    }
}

// === impl Reference ===

/// Why a string is neither a tag nor a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error(transparent)]
    Tag(#[from] TagError),
    #[error(transparent)]
    Digest(#[from] DigestError),
}

impl Reference {
    /// A reference with a `:` is a digest (tags cannot contain one).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.contains(':') {
            Ok(Reference::Digest(s.parse()?))
        } else {
            Ok(Reference::Tag(s.parse()?))
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Reference::Tag(tag) => tag.as_str(),
            Reference::Digest(digest) => digest.as_str(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => write!(f, "Reference::Tag({t})"),
            Reference::Digest(d) => write!(f, "Reference::Digest({d})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_spec_grammar() {
        for ok in [
            "latest",
            "v1.2.3",
            "_x",
            "A-b_c.d",
            &"a".repeat(128),
            "sha256-abc.sig",
        ] {
            assert!(ok.parse::<Tag>().is_ok(), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", "a b", "ä", &"a".repeat(129)] {
            assert!(bad.parse::<Tag>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn references_are_tags_or_digests_never_both() {
        assert!(matches!(Reference::parse("latest"), Ok(Reference::Tag(_))));
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(matches!(Reference::parse(d), Ok(Reference::Digest(_))));
        assert!(Reference::parse("latest@sha256:abc").is_err());
        assert!(Reference::parse("sha256:zz").is_err());
    }
}
