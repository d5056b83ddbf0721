#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::string_slice,
    clippy::indexing_slicing
)] // test support may fail loudly

//! End-to-end tests: a real registry (Debian's docker-registry), real
//! clients (skopeo), the real signgate binary; in-process fakes only for
//! hostile upstreams no real registry would be.
//!
//! One registry per test binary, filled once (`support::world`), shared by tests
//! that only read from it.

mod support;

mod api;
mod blobs;
mod cli;
mod connections;
mod containerd;
mod deploy;
mod disguise;
mod enforce;
mod gate;
mod github_attest;
mod github_chart;
mod head_denials;
mod hostile;
mod hostile_export;
mod key_tlog;
mod keyless;
mod lifecycle;
mod mirror;
mod podman;
mod policy_trust;
mod pull;
mod sigstore_ca;
mod store;
mod strict_json;
mod tlog_entries;
mod tls;
mod tls_serve;
mod trust_root_docs;
mod tuf;
mod tuf_trust_root;
