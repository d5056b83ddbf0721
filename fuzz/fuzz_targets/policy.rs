//! Policy files: loading arbitrary text never panics, and a loaded set
//! answers matching queries for any image name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signgate::config::NoMatchPolicy;
use signgate::policy::{Applicable, PolicySet};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (policy, image) = text.split_once('\u{0}').unwrap_or((text, "registry.test/app"));
    if let Ok(set) = PolicySet::from_files(&[("fuzz.yaml".into(), policy.to_owned())], NoMatchPolicy::Deny) {
        match set.applicable(image) {
            Applicable::Policies(p) => assert!(!p.is_empty()),
            Applicable::NoMatch(m) => assert_eq!(m, NoMatchPolicy::Deny),
        }
    }
});
