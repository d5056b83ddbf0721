//! Test support: real processes (Debian's docker-registry, skopeo, the
//! signgate binary) on loopback, plus in-process fakes for hostile upstreams
//! no real registry would be.

#![allow(dead_code)]

pub(crate) mod containerd;
pub(crate) mod cosign;
pub(crate) mod disguise;
pub(crate) mod enforce;
pub(crate) mod fake;
pub(crate) mod http;
pub(crate) mod image;
pub(crate) mod process;
pub(crate) mod registry;
pub(crate) mod signed;
pub(crate) mod signgate;
pub(crate) mod sigstore_ca;
pub(crate) mod token;
pub(crate) mod tsa;
pub(crate) mod tuf;
pub(crate) mod world;

use std::net::TcpListener;

/// A free loopback port (bound, then released for the process to take).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Wait until `check` is true, for at most `seconds`.
pub(crate) fn wait_for(seconds: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("timed out after {seconds}s waiting for {what}");
}

/// Whether a TCP port accepts connections.
pub(crate) fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Run a future to completion on a thread of its own (world setup runs
/// inside a test's runtime, which must not be blocked on).
pub(crate) fn block_on<T: Send + 'static>(
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    })
    .join()
    .unwrap()
}
