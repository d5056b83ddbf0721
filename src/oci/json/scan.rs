//! The strict scanner: one pass over the bytes, RFC 8259 grammar exactly,
//! keys unescaped and checked against the document's shape as Go would
//! match them.

use std::collections::{HashMap, HashSet};

use super::error::{key_segment, StrictJsonError, StrictJsonErrorKind as Kind};
use super::fold::{fold, fold_eq, loose_eq};
use super::schema::{Field, Shape};

/// Deeper nesting is refused. Real manifests nest five levels; serde_json
/// stops at 128 and Go at 10,000, so below both they read the same tree.
pub const MAX_DEPTH: usize = 32;

/// Check `bytes` against `root`. Returns the known top-level fields whose
/// values are present and not `null`.
pub(super) fn scan(bytes: &[u8], root: Shape) -> Result<Vec<&'static str>, StrictJsonError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        StrictJsonError::new(
            "$".into(),
            "$".into(),
            Kind::InvalidUtf8 {
                offset: e.valid_up_to(),
            },
        )
    })?;
    let mut s = Scanner {
        text,
        bytes,
        pos: 0,
        path: Vec::new(),
    };
    s.skip_ws();
    if s.peek() != Some(b'{') {
        return Err(s.value_error(Kind::NotAnObject));
    }
    let present = s.object(root, 1)?;
    s.skip_ws();
    if s.pos < bytes.len() {
        return Err(s.value_error(Kind::TrailingData { offset: s.pos }));
    }
    Ok(present)
}

enum Segment {
    Key(String),
    Index(usize),
}

/// What a value was, as far as the caller cares.
#[derive(PartialEq, Eq)]
enum Value {
    Null,
    Other,
}

/// How an object's keys are matched.
enum Mode {
    Struct(&'static [Field]),
    Map(&'static Shape),
    Unknown,
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    path: Vec<Segment>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn path(&self) -> String {
        let mut out = String::from("$");
        for segment in &self.path {
            match segment {
                Segment::Key(k) => out.push_str(&key_segment(k)),
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    /// An error about the value at the current path.
    fn value_error(&self, kind: Kind) -> StrictJsonError {
        let path = self.path();
        StrictJsonError::new(path.clone(), path, kind)
    }

    /// An error about `key` of the object at the current path.
    fn key_error(&self, key: &str, kind: Kind) -> StrictJsonError {
        let at = self.path();
        StrictJsonError::new(format!("{at}{}", key_segment(key)), at, kind)
    }

    fn syntax(&self, message: &'static str) -> StrictJsonError {
        self.value_error(Kind::Syntax {
            offset: self.pos,
            message,
        })
    }

    fn value(&mut self, shape: Shape, depth: usize) -> Result<Value, StrictJsonError> {
        self.skip_ws();
        self.of_shape(shape)?;
        match self.peek() {
            Some(b'{') => self.object(shape, depth).map(|_| Value::Other),
            Some(b'[') => self.array(shape, depth).map(|()| Value::Other),
            Some(b'"') => self.string(None).map(|()| Value::Other),
            Some(b't') => self.literal("true").map(|()| Value::Other),
            Some(b'f') => self.literal("false").map(|()| Value::Other),
            Some(b'n') => self.literal("null").map(|()| Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(|()| Value::Other),
            Some(_) => Err(self.syntax("expected a value")),
            None => Err(self.syntax("unexpected end of the document")),
        }
    }

    /// A known struct written as an array: Go refuses the document, and
    /// serde would read it, fields by position — refused here, so the two
    /// never differ. (Other kinds of mismatch serde refuses itself.)
    fn of_shape(&self, shape: Shape) -> Result<(), StrictJsonError> {
        match (shape, self.peek()) {
            (Shape::Struct(_), Some(b'[')) => Err(self.value_error(Kind::Type {
                message: "an array where Go reads an object".into(),
            })),
            _ => Ok(()),
        }
    }

    fn enter(&mut self, depth: usize) -> Result<(), StrictJsonError> {
        if depth > MAX_DEPTH {
            return Err(self.value_error(Kind::TooDeep { limit: MAX_DEPTH }));
        }
        self.pos += 1;
        Ok(())
    }

    /// An object at the current position (`{`), read as `shape` says.
    fn object(&mut self, shape: Shape, depth: usize) -> Result<Vec<&'static str>, StrictJsonError> {
        self.enter(depth)?;
        let mode = match shape {
            Shape::Struct(fields) => Mode::Struct(fields),
            Shape::Map(values) => Mode::Map(values),
            Shape::Any => Mode::Map(&Shape::Any),
            Shape::Array(_) | Shape::Scalar | Shape::Unknown => Mode::Unknown,
        };
        let mut present = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut folded: HashMap<String, String> = HashMap::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(present);
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a key"));
            }
            let mut key = String::new();
            self.string(Some(&mut key))?;
            if seen.contains(&key) {
                return Err(self.key_error(&key, Kind::Duplicate { key: key.clone() }));
            }
            let (child, known) = match mode {
                Mode::Struct(fields) => self.struct_key(fields, &key)?,
                Mode::Map(values) => (*values, None),
                Mode::Unknown => (Shape::Unknown, None),
            };
            if !matches!(mode, Mode::Map(_)) {
                let f = fold(&key);
                if let Some(first) = folded.get(&f) {
                    let kind = Kind::FoldCollision {
                        first: first.clone(),
                        key: key.clone(),
                    };
                    return Err(self.key_error(&key, kind));
                }
                folded.insert(f, key.clone());
            }
            seen.insert(key.clone());
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.syntax("expected ':' after a key"));
            }
            self.pos += 1;
            self.path.push(Segment::Key(key));
            let value = self.value(child, depth + 1)?;
            self.path.pop();
            if let (Some(name), Value::Other) = (known, value) {
                present.push(name);
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(present);
                }
                _ => return Err(self.syntax("expected ',' or '}'")),
            }
        }
    }

    /// The shape of `key`'s value in a struct, and the field it is; a key
    /// Go (or a delimiter-blind reader) would take for a field it does not
    /// exactly name is refused.
    fn struct_key(
        &self,
        fields: &'static [Field],
        key: &str,
    ) -> Result<(Shape, Option<&'static str>), StrictJsonError> {
        if let Some(f) = fields.iter().find(|f| f.name == key) {
            return Ok((f.shape, Some(f.name)));
        }
        if let Some(f) = fields
            .iter()
            .find(|f| fold_eq(key, f.name) || loose_eq(key, f.name))
        {
            let kind = Kind::FoldsToField {
                key: key.to_owned(),
                field: f.name,
            };
            return Err(self.key_error(key, kind));
        }
        Ok((Shape::Unknown, None))
    }

    fn array(&mut self, shape: Shape, depth: usize) -> Result<(), StrictJsonError> {
        self.enter(depth)?;
        let element = match shape {
            Shape::Array(element) => *element,
            Shape::Any => Shape::Any,
            Shape::Struct(_) | Shape::Map(_) | Shape::Scalar | Shape::Unknown => Shape::Unknown,
        };
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        let mut index = 0;
        loop {
            self.path.push(Segment::Index(index));
            self.value(element, depth + 1)?;
            self.path.pop();
            index += 1;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.syntax("expected ',' or ']'")),
            }
        }
    }

    /// A string at the current position (`"`), unescaped into `out` when
    /// given (keys), only validated otherwise.
    fn string(&mut self, mut out: Option<&mut String>) -> Result<(), StrictJsonError> {
        self.pos += 1;
        let mut run = self.pos;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.syntax("unterminated string"));
            };
            match b {
                b'"' | b'\\' => {
                    if let Some(out) = out.as_deref_mut() {
                        let Some(s) = self.text.get(run..self.pos) else {
                            return Err(self.syntax("string cut inside a character"));
                        };
                        out.push_str(s);
                    }
                    if b == b'"' {
                        self.pos += 1;
                        return Ok(());
                    }
                    let c = self.escape()?;
                    if let Some(out) = out.as_deref_mut() {
                        out.push(c);
                    }
                    run = self.pos;
                }
                0x00..=0x1f => return Err(self.syntax("control character in a string")),
                _ => self.pos += 1,
            }
        }
    }

    /// One escape at the current position (`\`), as the character it means.
    fn escape(&mut self) -> Result<char, StrictJsonError> {
        let start = self.pos;
        self.pos += 1;
        let Some(b) = self.peek() else {
            return Err(self.syntax("unterminated string"));
        };
        self.pos += 1;
        let c = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let lone = || Kind::LoneSurrogate { offset: start };
                let unit = self.hex4()?;
                let code = match unit {
                    0xD800..=0xDBFF => {
                        if self.bytes.get(self.pos..self.pos + 2) != Some(&b"\\u"[..]) {
                            return Err(self.value_error(lone()));
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.value_error(lone()));
                        }
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(self.value_error(lone())),
                    other => other,
                };
                return char::from_u32(code).ok_or_else(|| self.value_error(lone()));
            }
            _ => {
                self.pos = start;
                return Err(self.syntax("invalid escape"));
            }
        };
        Ok(c)
    }

    fn hex4(&mut self) -> Result<u32, StrictJsonError> {
        let mut value = 0;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or_else(|| self.syntax("invalid \\u escape"))?;
            value = value * 16 + digit;
            self.pos += 1;
        }
        Ok(value)
    }

    fn literal(&mut self, word: &'static str) -> Result<(), StrictJsonError> {
        if self.bytes.get(self.pos..self.pos + word.len()) != Some(word.as_bytes()) {
            return Err(self.syntax("expected a value"));
        }
        self.pos += word.len();
        Ok(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<(), StrictJsonError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.syntax("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.syntax("invalid number"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.syntax("invalid number"));
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }
}
