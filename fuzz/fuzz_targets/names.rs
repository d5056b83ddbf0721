//! Digest, tag, repository and registry parsing: never panics, and whatever
//! parses prints back to exactly the input (registry names: lowercased).
#![no_main]

use libfuzzer_sys::fuzz_target;
use signgate::oci::{Digest, RegistryName, Repository, Tag};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(d) = s.parse::<Digest>() {
        assert_eq!(d.as_str(), s);
        assert_eq!(d.to_string().parse::<Digest>().ok(), Some(d));
    }
    if let Ok(t) = s.parse::<Tag>() {
        assert_eq!(t.as_str(), s);
    }
    if let Ok(r) = s.parse::<Repository>() {
        assert_eq!(r.as_str(), s);
        assert!(!r.as_str().contains(".."));
    }
    if let Ok(r) = s.parse::<RegistryName>() {
        assert_eq!(r.as_str().parse::<RegistryName>().ok(), Some(r.clone()));
        assert!(!r.as_str().contains('/'));
    }
});
