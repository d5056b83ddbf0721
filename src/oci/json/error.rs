//! `StrictJsonError`: why a document was refused, naming the key path.

use std::fmt;

/// A document the strict reader refused. Its `Display` is safe to show
/// clients: keys are shown escaped and cut short, never whole documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrictJsonError(Box<Inner>);

/// Boxed: errors travel inside `UpstreamError`, which stays small.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    /// Where: the offending key (`$.config.MediaType`), or the value at
    /// fault for errors that are not about a key.
    key_path: String,
    /// The object holding the offending key (`$.config`).
    at: String,
    kind: StrictJsonErrorKind,
}

/// What was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrictJsonErrorKind {
    /// The same key twice in one object.
    Duplicate { key: String },
    /// A key Go would read as the known field `field`.
    FoldsToField { key: String, field: &'static str },
    /// Two keys of one struct object that Go folds to the same name.
    FoldCollision { first: String, key: String },
    /// A manifest of two kinds at once (an index with layers, say).
    Ambiguous {
        first: &'static str,
        key: &'static str,
    },
    /// Not JSON (RFC 8259), at this byte offset.
    Syntax {
        offset: usize,
        message: &'static str,
    },
    /// Bytes that are not UTF-8 (Go would read them as U+FFFD).
    InvalidUtf8 { offset: usize },
    /// A `\u` escape of half a surrogate pair (Go would read U+FFFD).
    LoneSurrogate { offset: usize },
    /// Nesting deeper than the limit.
    TooDeep { limit: usize },
    /// Non-whitespace after the document.
    TrailingData { offset: usize },
    /// The document is not a JSON object.
    NotAnObject,
    /// Strict JSON, but not of the type the reader expects.
    Type { message: String },
}

impl StrictJsonError {
    pub(super) fn new(key_path: String, at: String, kind: StrictJsonErrorKind) -> Self {
        StrictJsonError(Box::new(Inner { key_path, at, kind }))
    }

    /// The path of the offending key (or value): `$`, `$.layers[0].digest`,
    /// `$.config["os.version"]`.
    pub fn key_path(&self) -> &str {
        &self.0.key_path
    }

    pub fn kind(&self) -> &StrictJsonErrorKind {
        &self.0.kind
    }
}

impl fmt::Display for StrictJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Inner { key_path, at, kind } = &*self.0;
        match kind {
            StrictJsonErrorKind::Duplicate { key } => {
                write!(f, "duplicate key `{}` at `{at}`", show(key))
            }
            StrictJsonErrorKind::FoldsToField { key, field } => write!(
                f,
                "key `{}` at `{at}` would be read as `{field}` by Go",
                show(key)
            ),
            StrictJsonErrorKind::FoldCollision { first, key } => write!(
                f,
                "keys `{}` and `{}` at `{at}` are one key to Go",
                show(first),
                show(key)
            ),
            StrictJsonErrorKind::Ambiguous { first, key } => write!(
                f,
                "keys `{first}` and `{key}` at `{at}`: two kinds of manifest at once"
            ),
            StrictJsonErrorKind::Syntax { offset, message } => {
                write!(
                    f,
                    "invalid JSON at byte {offset} (`{}`): {message}",
                    key_path
                )
            }
            StrictJsonErrorKind::InvalidUtf8 { offset } => {
                write!(f, "invalid UTF-8 at byte {offset}")
            }
            StrictJsonErrorKind::LoneSurrogate { offset } => write!(
                f,
                "unpaired UTF-16 surrogate escape at byte {offset} (`{}`)",
                key_path
            ),
            StrictJsonErrorKind::TooDeep { limit } => {
                write!(f, "nested deeper than {limit} levels at `{}`", key_path)
            }
            StrictJsonErrorKind::TrailingData { offset } => {
                write!(f, "data after the document at byte {offset}")
            }
            StrictJsonErrorKind::NotAnObject => write!(f, "the document is not a JSON object"),
            StrictJsonErrorKind::Type { message } => {
                write!(f, "`{}`: {message}", key_path)
            }
        }
    }
}

impl std::error::Error for StrictJsonError {}

/// The longest key shown in a message, in characters.
const SHOWN_KEY_CHARS: usize = 64;

/// A key as shown in messages: non-ASCII and control characters escaped
/// (`layer\u{17f}` makes the trick visible), cut after a few dozen
/// characters (by character, never inside one).
pub(super) fn show(key: &str) -> String {
    let mut out = String::new();
    for (i, c) in key.chars().enumerate() {
        if i == SHOWN_KEY_CHARS {
            out.push('…');
            break;
        }
        match c {
            ' '..='~' if c != '`' => out.push(c),
            _ => out.extend(c.escape_unicode()),
        }
    }
    out
}

/// A path segment for a key: `.name` for plain names, `["…"]` otherwise.
pub(super) fn key_segment(key: &str) -> String {
    let plain = !key.is_empty()
        && key.len() <= SHOWN_KEY_CHARS
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        format!(".{key}")
    } else {
        format!("[\"{}\"]", show(key))
    }
}
