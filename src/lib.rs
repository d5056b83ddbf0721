//! signgate: a pull-through OCI registry proxy that enforces image
//! signatures in-line.
//!
//! A request takes this path, one module per stage:
//!
//! 1. [`server`] accepts the connection and hands each request to the app.
//! 2. [`route`] parses it into a typed [`route::Route`] and picks the upstream.
//! 3. [`proxy`] orchestrates the stages below for that route; its
//!    [`proxy::gate`] is the one place a manifest is admitted or denied.
//! 4. [`cache`] keeps manifests, tag resolutions, decisions, signature
//!    material and what admissions make servable, and reports its hits.
//! 5. [`upstream`] resolves tags to digests, fetches digest-checked manifests
//!    and streams blobs from the configured registry.
//! 6. [`signature`] discovers the signatures stored for a digest (the
//!    gate's evidence).
//! 7. [`policy`] says which policies apply to an image, and judges the
//!    evidence ([`policy::evaluate`], pure) into a [`policy::Decision`].
//! 8. [`verify`] checks signatures against trusted keys and mints the
//!    proofs the judgement needs.
//! 9. [`respond`] builds every response, and is the one place errors become
//!    OCI error JSON.
//!
//! [`oci`] is the shared vocabulary; [`config`] turns the YAML file into a
//! validated `Config`; [`telemetry`] sets up logging.

pub mod cache;
pub mod config;
pub mod doctor;
pub mod metrics;
pub mod mirror;
pub mod oci;
pub mod policy;
pub mod proxy;
pub mod respond;
pub mod route;
pub mod server;
pub mod signature;
pub mod store;
pub mod telemetry;
pub mod trust;
pub mod upstream;
pub mod verify;
