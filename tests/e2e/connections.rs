//! Connection exhaustion against the real binary: half-sent requests,
//! silent and idle connections (HTTP/1, HTTP/2, TLS, the admin listener)
//! are closed after their `limits:` timeouts; connections beyond
//! `max-connections` wait in the listen backlog without costing signgate
//! file descriptors; and signgate keeps serving afterwards with no growth
//! in descriptors or memory. A request whose path puts a multi-byte
//! character at a cut gets an OCI error on a connection that stays open.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::signgate::{Signgate, Up};

/// No test here contacts an upstream: `/v2/` is answered by signgate.
fn signgate(limits: &str, extra: &str) -> Signgate {
    Signgate::start(
        &[Up::new("upstream.test", "http://127.0.0.1:9").default()],
        &format!("limits: {limits}\n{extra}"),
    )
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// What a client sends before stalling, by connection number: half a
/// request line (HTTP/1), nothing at all, or part of HTTP/2's preface.
fn stall(port: u16, i: usize) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let sent: &[u8] = match i % 3 {
        0 => b"GET /v2/ HT",
        1 => b"",
        _ => b"PRI * HTTP/2.0\r\n",
    };
    s.write_all(sent).unwrap();
    s
}

/// Read until the server closes; `None` if it did not within `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(got),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// A whole `GET path` on a fresh connection (`Connection: close`).
fn raw_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: signgate\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let got = closed_within(&mut s, Duration::from_secs(20)).expect("an answer");
    String::from_utf8_lossy(&got).into_owned()
}

/// Whether the server has closed `s` (non-blocking); a 200 answer fails.
fn is_closed(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                assert!(
                    !text.contains(" 200 "),
                    "a stalled request was answered: {text}"
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(e) => panic!("read: {e}"),
        }
    };
    s.set_nonblocking(false).unwrap();
    closed
}

/// Open `n` stalled connections, then wait until the server has closed
/// every one; returns the most descriptors signgate held meanwhile.
fn flood(sg: &Signgate, port: u16, n: usize, limit: Duration) -> usize {
    let started = Instant::now();
    let mut open: Vec<TcpStream> = (0..n).map(|i| stall(port, i)).collect();
    eprintln!("{n} connections opened in {:?}", started.elapsed());
    let mut peak = 0;
    while !open.is_empty() {
        peak = peak.max(open_fds(sg.child.pid));
        assert!(
            started.elapsed() < limit,
            "{} of {n} stalled connections still open after {:?}",
            open.len(),
            started.elapsed()
        );
        open.retain_mut(|s| !is_closed(s));
        std::thread::sleep(Duration::from_millis(20));
    }
    peak
}

#[test]
fn half_sent_requests_are_closed_after_the_header_timeout() {
    let sg = signgate("{header-read-timeout: 2s}", "");
    assert!(raw_get(sg.port, "/v2/").starts_with("HTTP/1.1 200"));
    let fds = open_fds(sg.child.pid);
    let started = Instant::now();
    // Before any limit, all 300 were still held after 75 s.
    let peak = flood(&sg, sg.port, 300, Duration::from_secs(15));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1900),
        "closed before the timeout ({took:?}): the test shows nothing"
    );
    assert!(
        peak >= fds + 200,
        "the flood was not accepted: peak {peak}, base {fds}"
    );
    assert!(raw_get(sg.port, "/v2/").starts_with("HTTP/1.1 200"));
    let rss = sg.child.rss_kib();
    // A second flood of the same size grows neither descriptors nor memory.
    flood(&sg, sg.port, 300, Duration::from_secs(15));
    assert!(raw_get(sg.port, "/v2/").starts_with("HTTP/1.1 200"));
    crate::support::wait_for(5, "descriptors back to the baseline", || {
        open_fds(sg.child.pid) <= fds + 2
    });
    let after = sg.child.rss_kib();
    // Allocator arenas move by a few MiB either way; a leak of the flood's
    // connections would not stay under this.
    assert!(
        after <= rss + 16 * 1024,
        "RSS grew from {rss} KiB to {after} KiB across a second flood"
    );
    eprintln!("300 stalled connections closed in {took:?}; fds {fds} → peak {peak}; RSS {rss} → {after} KiB");
}

#[test]
fn connections_over_the_cap_wait_in_the_backlog_and_cost_no_descriptors() {
    const CAP: usize = 20;
    let sg = signgate("{max-connections: 20, header-read-timeout: 1s}", "");
    assert!(raw_get(sg.port, "/v2/").starts_with("HTTP/1.1 200"));
    let fds = open_fds(sg.child.pid);
    let rss = sg.child.rss_kib();
    // cap + 40: three rounds of accepts, each closed after its timeout.
    let peak = flood(&sg, sg.port, CAP + 40, Duration::from_secs(20));
    assert!(
        peak <= fds + CAP + 2,
        "signgate held {peak} descriptors (base {fds}) with a cap of {CAP}"
    );
    assert!(
        peak >= fds + CAP / 2,
        "the cap was never reached: peak {peak}"
    );
    assert!(sg
        .log_text()
        .contains("connection limit reached: new connections wait in the listen backlog"));
    assert!(raw_get(sg.port, "/v2/").starts_with("HTTP/1.1 200"));
    crate::support::wait_for(5, "descriptors back to the baseline", || {
        open_fds(sg.child.pid) <= fds + 2
    });
    let after = sg.child.rss_kib();
    assert!(after <= rss + 16 * 1024, "RSS {rss} → {after} KiB");
    eprintln!(
        "cap {CAP}, {} connections: fds {fds} → peak {peak}; RSS {rss} → {after} KiB",
        CAP + 40
    );
}

#[test]
fn a_client_waits_for_a_slot_while_the_cap_is_full() {
    let sg = signgate("{max-connections: 4, header-read-timeout: 2s}", "");
    let held: Vec<TcpStream> = (0..4).map(|_| stall(sg.port, 0)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let answer = raw_get(sg.port, "/v2/");
    let waited = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Served only once the held connections timed out and freed a slot.
    assert!(
        waited >= Duration::from_millis(1200),
        "served after {waited:?} although every slot was held"
    );
    drop(held);
}

#[test]
fn a_kept_alive_http1_connection_is_closed_when_idle() {
    let sg = signgate("{header-read-timeout: 1s, idle-timeout: 1s}", "");
    let mut s = TcpStream::connect(("127.0.0.1", sg.port)).unwrap();
    s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: signgate\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let got = closed_within(&mut s, Duration::from_secs(10)).expect("closed when idle");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_connections_are_closed_when_silent_or_idle() {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let sg = signgate("{header-read-timeout: 1s, idle-timeout: 2s}", "");
    let connect = || async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", sg.port))
            .await
            .unwrap();
        hyper::client::conn::http2::handshake::<_, _, Empty<bytes::Bytes>>(
            TokioExecutor::new(),
            TokioIo::new(tcp),
        )
        .await
        .unwrap()
    };
    // A connection that never sends a request ends after the header timeout.
    let (_send, conn) = connect().await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .expect("silent HTTP/2 connection closed")
        .ok();
    assert!(started.elapsed() >= Duration::from_millis(900));
    // One that made a request ends after the idle timeout.
    let (mut send, conn) = connect().await;
    let conn = tokio::spawn(conn);
    let response = send
        .send_request(
            http::Request::get(sg.url("/v2/"))
                .body(Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    response.into_body().collect().await.unwrap();
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .expect("idle HTTP/2 connection closed")
        .unwrap()
        .ok();
    let idle = started.elapsed();
    assert!(idle >= Duration::from_millis(1800), "closed after {idle:?}");
}

#[test]
fn a_tls_handshake_that_never_comes_is_abandoned() {
    let certs = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signgate"))
        .args(["tls", "self-signed", certs.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let sg = signgate(
        "{tls-handshake-timeout: 1s, header-read-timeout: 30s}",
        &format!(
            "tls: {{cert: {}, key: {}}}\n",
            certs.path().join("server.crt").display(),
            certs.path().join("server.key").display()
        ),
    );
    let started = Instant::now();
    let mut silent = TcpStream::connect(("127.0.0.1", sg.port)).unwrap();
    let mut partial = TcpStream::connect(("127.0.0.1", sg.port)).unwrap();
    partial.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).unwrap(); // a record header, no body
    for s in [&mut silent, &mut partial] {
        closed_within(s, Duration::from_secs(10)).expect("handshake abandoned");
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

#[test]
fn the_admin_listener_closes_half_sent_requests_too() {
    let admin = crate::support::free_port();
    let sg = signgate(
        "{header-read-timeout: 1s}",
        &format!("admin: 127.0.0.1:{admin}\n"),
    );
    crate::support::wait_for(10, "the admin listener", || {
        crate::support::port_open(admin)
    });
    flood(&sg, admin, 60, Duration::from_secs(15));
    assert!(raw_get(admin, "/healthz").starts_with("HTTP/1.1 200"));
}

#[test]
fn a_multibyte_character_at_every_cut_gets_an_oci_error_not_a_dropped_connection() {
    let sg = signgate("{header-read-timeout: 10s}", "");
    let mut s = TcpStream::connect(("127.0.0.1", sg.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
    // Error messages quote 160 bytes of the path: put the cut inside a
    // 2-, 3- and 4-byte character, at every offset.
    for wide in ["é", "€", "😀"] {
        for pad in 150..=165 {
            let text = format!("{}{}", "a".repeat(pad), wide.repeat(10));
            for (path, status, code) in [
                (format!("/v1/{text}"), 404, "NAME_UNKNOWN"),
                (format!("/v2/{text}"), 404, "NAME_UNKNOWN"),
                (format!("/v2/{text}/manifests/latest"), 400, "NAME_INVALID"),
                (format!("/v2/a/manifests/{text}"), 400, "MANIFEST_INVALID"),
            ] {
                // One kept-alive connection for all: a panic would drop it.
                write!(s, "GET {path} HTTP/1.1\r\nHost: signgate\r\n\r\n").unwrap();
                let (got, body) = read_response(&mut reader);
                assert_eq!(got, status, "{path}: {body}");
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(v["errors"][0]["code"], code, "{path}: {body}");
                let message = v["errors"][0]["message"].as_str().unwrap();
                assert!(message.starts_with("signgate: "), "{message}");
            }
        }
    }
    assert!(!sg.log_text().contains("panicked"), "{}", sg.log_text());
}

/// One HTTP/1.1 response (status, body) read off a kept-alive connection.
fn read_response(reader: &mut impl std::io::BufRead) -> (u16, String) {
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .expect("status line: the connection was dropped");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line:?}"));
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}
