//! Go's key folding, as `encoding/json` matches object keys to struct fields.
//!
//! Go folds a key with `foldName`: ASCII letters to upper case, every other
//! rune to the smallest rune of its Unicode simple-folding orbit. The only
//! non-ASCII runes whose orbit reaches ASCII are `ſ` (U+017F, with `s`/`S`)
//! and the Kelvin sign `K` (U+212A, with `k`/`K`); every other non-ASCII rune
//! folds to a non-ASCII rune. signgate's known field names are all ASCII, so
//! folding those two and leaving other non-ASCII runes as they are gives
//! exactly Go's answer to "does this key fold to that field?". For two
//! non-ASCII keys it may call fold-equal keys different (`é`/`É`); no Go
//! struct read from these documents has such a field name.

/// The rune Go folds `c` to, for every rune whose fold can equal ASCII.
fn fold_char(c: char) -> char {
    match c {
        'a'..='z' => c.to_ascii_uppercase(),
        '\u{017F}' => 'S',
        '\u{212A}' => 'K',
        _ => c,
    }
}

/// `key` folded as Go's `encoding/json` folds it (see the module
/// documentation for the one approximation, which never concerns an ASCII
/// field name).
pub(super) fn fold(key: &str) -> String {
    key.chars().map(fold_char).collect()
}

/// Whether Go's `encoding/json` would match `key` to the field `field`.
pub(super) fn fold_eq(key: &str, field: &str) -> bool {
    key.chars().map(fold_char).eq(field.chars().map(fold_char))
}

/// Whether a reader matching names case-insensitively *and* ignoring `_`
/// and `-` (Go's `encoding/json/v2` with `nocase`) would match `key` to
/// `field`. Refused too: no real document has such a near-miss key.
pub(super) fn loose_eq(key: &str, field: &str) -> bool {
    let loose = |s: &'_ str| {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .map(fold_char)
            .collect::<String>()
    };
    loose(key) == loose(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_case_long_s_and_kelvin_fold_like_go() {
        assert!(fold_eq("Layers", "layers"));
        assert!(fold_eq("LAYERS", "layers"));
        assert!(fold_eq("layer\u{17F}", "layers"));
        assert!(fold_eq("\u{212A}eyid", "keyid"));
        assert!(fold_eq("mediatype", "mediaType"));
        assert!(!fold_eq("layer", "layers"));
        assert!(!fold_eq("layers ", "layers"));
        // Turkish dotted and dotless i fold only to themselves in Go.
        assert!(!fold_eq("\u{130}d", "id"));
        assert!(!fold_eq("\u{131}d", "id"));
        assert_eq!(fold("os.version"), "OS.VERSION");
    }

    #[test]
    fn loose_matching_ignores_delimiters() {
        assert!(loose_eq("media_type", "mediaType"));
        assert!(loose_eq("dockerreference", "docker-reference"));
        assert!(!loose_eq("media.type", "mediaType"));
    }
}
