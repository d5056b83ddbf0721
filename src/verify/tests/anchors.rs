//! Identity regexps cannot escape their anchors: attempts that would close
//! a textual `^(?:…)$` wrapper are refused as they parse alone, and what
//! parses is anchored on the parsed expression — at load and on the real
//! 2023 public-good keyless signature (subject `mitr@redhat.com`, issuer
//! `https://github.com/login/oauth`).

use super::keyless_legacy::requirement;
use super::*;

/// Patterns that, pasted into `^(?:…)$`, would match more than they say.
const ESCAPES: [&str; 7] = [
    "x)|(?:.*",
    "a)|(.*",
    "nobody)|(",
    ")|.*|(",
    "(unclosed",
    "unopened)",
    "trailing\\",
];

#[test]
fn escape_attempts_are_refused_with_the_pattern_named() {
    for pattern in ESCAPES {
        match Matcher::regex(pattern) {
            Ok(m) => panic!("{pattern:?} compiled as {m}"),
            Err(e) => assert!(
                e.starts_with(&format!("invalid regular expression '{pattern}': ")),
                "{pattern:?}: {e}"
            ),
        }
    }
}

#[test]
fn what_parses_matches_the_whole_value_only() {
    let table: &[(&str, &str, bool)] = &[
        ("a|b", "a", true),
        ("a|b", "ab", false),
        ("a|b", "xb", false),
        (".*@example\\.com", "eve@example.com", true),
        (".*@example\\.com", "eve@example.com.evil", false),
        // Verbose mode: a trailing comment cannot swallow the end anchor.
        ("(?x) nobody  # the rest is a comment", "nobody", true),
        ("(?x) nobody  # the rest is a comment", "nobody-else", false),
        // Multi-line mode inside the pattern: `$` before a newline is not
        // the end of the value.
        ("(?m)nobody$", "nobody\nelse", false),
        ("(?m)^nobody$", "somebody\nnobody", false),
        ("(?s)nobody.*", "nobody\nelse", true),
        ("", "", true),
        ("", "x", false),
    ];
    for (pattern, value, want) in table {
        let m = Matcher::regex(pattern).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.matches(value), *want, "{pattern:?} vs {value:?}");
    }
    assert_eq!(
        Matcher::regex("a|b").unwrap().to_string(),
        "/a|b/ (anchored)"
    );
}

#[test]
fn escape_attempts_verified_against_a_real_signature_admit_nobody_else() {
    let (digest, layers) = image("dir-img-cosign-fulcio-rekor-valid");
    let verify = |subject: &str| {
        let id = Identity {
            subject: Some(Matcher::regex(subject).unwrap_or_else(|e| panic!("{e}"))),
            issuer: Some(Matcher::Exact("https://github.com/login/oauth".into())),
            claims: Vec::new(),
        };
        verify_signature(&digest, &layers, "k", &requirement(vec![id]))
    };
    // The signer itself, however the pattern is grouped or commented.
    for ok in [
        "mitr@redhat\\.com",
        "(?:mitr)@redhat\\.com",
        "(?x) mitr@redhat\\.com # the signer",
        "eve@example\\.com|mitr@redhat\\.com",
    ] {
        assert!(verify(ok).is_ok(), "{ok}");
    }
    // Written to escape a textual wrapper, these parse as something else
    // and stay anchored: nobody else gets in.
    for denied in [
        "(?x)nobody # )|(?:.*\n",
        "nobody|(?x) # )|(?:.*",
        "mitr@redhat\\.co(?m)$",
        "itr@redhat\\.com",
        "mitr@redhat",
    ] {
        let r = verify(denied).unwrap_err();
        assert!(
            matches!(&r[..], [RejectReason::Identity(m)] if m.contains("does not match")),
            "{denied:?}: {r:?}"
        );
    }
}
