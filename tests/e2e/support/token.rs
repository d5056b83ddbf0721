//! A small registry token service (the `auth: token` flow of distribution):
//! issues ES256 JWTs whose `x5c` header carries its self-signed certificate.
//!
//! Anonymous callers get `pull` on `public/*` only; callers with the right
//! basic credentials get what they ask for; wrong credentials get 401.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use p256::ecdsa::signature::Signer;
use p256::pkcs8::DecodePrivateKey;

pub(crate) const SERVICE: &str = "signgate-test-registry";
pub(crate) const ISSUER: &str = "signgate-test-token-issuer";
pub(crate) const USER: &str = "puller";
pub(crate) const PASSWORD: &str = "pull-s3cret";

pub(crate) struct TokenService {
    pub port: u16,
    pub cert_pem: String,
    /// Token requests served.
    pub issued: Arc<AtomicUsize>,
    /// (authenticated, scope) of every token issued, so tests running in
    /// parallel can count only their own.
    pub log: Arc<std::sync::Mutex<Vec<(bool, String)>>>,
}

impl TokenService {
    /// Start on its own thread and runtime, so it outlives any one test.
    pub(crate) fn start() -> TokenService {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["token.test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let cert_pem = cert.pem();
        let cert_der = base64::engine::general_purpose::STANDARD.encode(cert.der());
        let signing = p256::ecdsa::SigningKey::from_pkcs8_der(&key.serialize_der()).unwrap();
        let issued = Arc::new(AtomicUsize::new(0));
        let counter = issued.clone();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log_writer = log.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let state = Arc::new((signing, cert_der, counter, log_writer));
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let state = state.clone();
                    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let state = state.clone();
                        async move {
                            Ok::<_, Infallible>(issue(&req, &state.0, &state.1, &state.2, &state.3))
                        }
                    });
                    tokio::spawn(async move {
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        TokenService {
            port,
            cert_pem,
            issued,
            log,
        }
    }

    pub(crate) fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    pub(crate) fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }

    /// Tokens issued with credentials for exactly `scope`.
    pub(crate) fn issued_with_credentials_for(&self, scope: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(auth, s)| *auth && s == scope)
            .count()
    }
}

fn issue(
    req: &http::Request<hyper::body::Incoming>,
    key: &p256::ecdsa::SigningKey,
    cert_der: &str,
    counter: &AtomicUsize,
    log: &std::sync::Mutex<Vec<(bool, String)>>,
) -> Response<Full<Bytes>> {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let authenticated = match req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        None => false,
        Some(v) if v == expected => true,
        Some(_) => {
            return Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .body(Full::new(Bytes::from_static(
                    b"{\"details\":\"bad credentials\"}",
                )))
                .unwrap()
        }
    };
    counter.fetch_add(1, Ordering::SeqCst);
    let scopes: Vec<String> =
        form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.into_owned())
            .collect();
    log.lock().unwrap().push((authenticated, scopes.join(" ")));
    let mut access = Vec::new();
    for (key, value) in form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()) {
        if key != "scope" {
            continue;
        }
        // repository:<name>:<actions>
        let mut parts = value.splitn(3, ':');
        let (Some(kind), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let actions: Vec<&str> = actions
            .split(',')
            .filter(|a| authenticated || (*a == "pull" && name.starts_with("public/")))
            .collect();
        access.push(serde_json::json!({"type": kind, "name": name, "actions": actions}));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [cert_der]});
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": if authenticated { USER } else { "" },
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("{}", counter.load(Ordering::SeqCst)),
        "access": access,
    });
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let signing_input = format!("{}.{}", b64(&header), b64(&claims));
    let signature: p256::ecdsa::Signature = key.sign(signing_input.as_bytes());
    let jwt = format!(
        "{signing_input}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature.to_bytes())
    );
    let body = serde_json::json!({"token": jwt, "expires_in": 300});
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(&body).unwrap())))
        .unwrap()
}
