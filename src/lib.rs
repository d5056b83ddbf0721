//! signgate: a pull-through OCI registry proxy that enforces image
//! signatures in-line.
//!
//! A request takes this path, one module per stage:
//!
//! 1. [`server`] accepts the connection and hands each request to the app.
//! 2. [`route`] parses it into a typed [`route::Route`] and picks the upstream.
//! 3. [`proxy`] orchestrates the stages below for that route.
//! 4. [`upstream`] resolves tags to digests, fetches digest-checked manifests
//!    and streams blobs from the configured registry.
//! 5. [`signature`] discovers the signatures stored for a digest.
//! 6. [`verify`] checks them against trusted keys and mints the proofs.
//! 7. [`policy`] says which policies apply to an image.
//! 8. [`decide`] turns policy and verification into an admission or a
//!    denial, and caches decisions.
//! 9. [`cache`] keeps manifests by digest and, briefly, tag resolutions.
//! 10. [`respond`] builds every response, and is the one place errors become
//!     OCI error JSON.
//!
//! [`oci`] is the shared vocabulary; [`config`] turns the YAML file into a
//! validated `Config`; [`telemetry`] sets up logging.

pub mod cache;
pub mod config;
pub mod decide;
pub mod doctor;
pub mod explain;
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
pub mod upstream;
pub mod verify;
