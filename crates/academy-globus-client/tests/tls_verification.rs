//! `GLOBUS_SDK_VERIFY_SSL` (`globus-auth-api.md` §1.3): the parser, and
//! real HTTPS on loopback against a self-signed certificate made with the
//! `openssl` command.

// Helpers outside #[test] fns unwrap too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use academy_globus_client::config::{ENV_VERIFY_SSL, TlsVerification};
use academy_globus_client::http::RequestBody;
use academy_globus_client::{Error, HttpClient, RetryPolicy};
use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

const BOUND: Duration = Duration::from_secs(20);

fn lookup(value: &str) -> impl Fn(&str) -> Option<String> {
    let value = value.to_string();
    move |k| (k == ENV_VERIFY_SSL).then(|| value.clone())
}

#[test]
fn parser_accepts_every_spelling() {
    assert_eq!(
        TlsVerification::from_env_with(|_| None).unwrap(),
        TlsVerification::WebPki
    );
    for yes in ["y", "yes", "t", "true", "on", "1", "Y", "YES", "True", "On"] {
        assert_eq!(
            TlsVerification::from_env_with(lookup(yes)).unwrap(),
            TlsVerification::WebPki,
            "{yes}"
        );
    }
    for no in [
        "n", "no", "f", "false", "off", "0", "N", "No", "FALSE", "OFF",
    ] {
        assert_eq!(
            TlsVerification::from_env_with(lookup(no)).unwrap(),
            TlsVerification::Disabled,
            "{no}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, "not checked by the parser").unwrap();
    assert_eq!(
        TlsVerification::from_env_with(lookup(bundle.to_str().unwrap())).unwrap(),
        TlsVerification::CaBundle(bundle)
    );
}

#[test]
fn parser_rejects_missing_paths_and_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    // A directory is not a CA bundle file either.
    for bad in [
        missing.to_str().unwrap(),
        dir.path().to_str().unwrap(),
        "maybe",
        "2",
        "",
    ] {
        match TlsVerification::from_env_with(lookup(bad)) {
            Err(Error::Config(msg)) => assert!(msg.contains(ENV_VERIFY_SSL), "{msg}"),
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
}

#[test]
fn ca_bundle_without_certificates_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("empty.pem");
    std::fs::write(&bundle, "no PEM here\n").unwrap();
    let built = HttpClient::builder("https://127.0.0.1:1/".parse().unwrap())
        .tls_verification(TlsVerification::CaBundle(bundle))
        .build();
    match built {
        Err(Error::Config(msg)) => assert!(msg.contains("no PEM certificate"), "{msg}"),
        other => panic!("expected a config error, got {other:?}"),
    }
}

/// A self-signed certificate for `san`: (cert, key).
fn self_signed(dir: &Path, name: &str, san: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            &format!("subjectAltName={san}"),
            // webpki refuses a CA certificate as a server's end entity.
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the TLS tests need the `openssl` command");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// An HTTPS server on 127.0.0.1 answering every request with `{"ok":true}`.
struct Server {
    port: u16,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(cert: &Path, key: &Path) -> Server {
    let certs: Vec<_> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that rejects the certificate aborts the handshake.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(|_req| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                        b"{\"ok\":true}",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Server { port, task }
}

async fn get(port: u16, verification: TlsVerification) -> Result<serde_json::Value, Error> {
    let client = HttpClient::builder(format!("https://127.0.0.1:{port}/").parse().unwrap())
        .retry(RetryPolicy::none())
        .tls_verification(verification)
        .build()?;
    let resp = tokio::time::timeout(
        BOUND,
        client.execute(Method::GET, "ping", RequestBody::Empty, HeaderMap::new()),
    )
    .await
    .expect("request timed out")?;
    resp.json()
}

fn assert_certificate_rejected(result: Result<serde_json::Value, Error>) {
    let err = result.expect_err("the certificate should have been rejected");
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    let mut chain = String::new();
    let mut cur: Option<&dyn std::error::Error> = Some(&err);
    while let Some(e) = cur {
        chain.push_str(&format!("{e} / "));
        cur = e.source();
    }
    assert!(chain.contains("certificate"), "{chain}");
}

#[tokio::test]
async fn webpki_default_rejects_a_self_signed_server() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "server", "IP:127.0.0.1,DNS:localhost");
    let server = serve(&cert, &key).await;
    assert_certificate_rejected(get(server.port, TlsVerification::default()).await);
}

#[tokio::test]
async fn ca_bundle_trusts_its_certificates_only() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "server", "IP:127.0.0.1,DNS:localhost");
    let (other, _) = self_signed(dir.path(), "other", "IP:127.0.0.1,DNS:localhost");
    let server = serve(&cert, &key).await;
    let body = get(server.port, TlsVerification::CaBundle(cert))
        .await
        .unwrap();
    assert_eq!(body, serde_json::json!({"ok": true}));
    assert_certificate_rejected(get(server.port, TlsVerification::CaBundle(other)).await);
}

#[tokio::test]
async fn disabled_accepts_any_certificate() {
    let dir = tempfile::tempdir().unwrap();
    // Neither trusted nor naming 127.0.0.1.
    let (cert, key) = self_signed(dir.path(), "server", "DNS:elsewhere.invalid");
    let server = serve(&cert, &key).await;
    assert_certificate_rejected(get(server.port, TlsVerification::CaBundle(cert.clone())).await);
    let body = get(server.port, TlsVerification::Disabled).await.unwrap();
    assert_eq!(body, serde_json::json!({"ok": true}));
}
