//! HTTPS with `certfile`/`keyfile`: a self-signed certificate made by the
//! `openssl` command, a hyper + rustls client that trusts only it.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use academy_exchange::{EntityId, UserId};
use academy_exchange_server::{ServerConfig, ServerError, ServerHandle, serve};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(60);

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A self-signed certificate for 127.0.0.1 and localhost: (cert, key).
fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
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
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
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

fn https_client(trusted: &Path) -> HttpsClient {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(trusted).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_all_versions()
        .build();
    Client::builder(TokioExecutor::new()).build(connector)
}

async fn call(
    client: &HttpsClient,
    method: &str,
    url: &str,
    body: &Value,
) -> Result<(u16, http::Version, String), hyper_util::client::legacy::Error> {
    let req = http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let resp = client.request(req).await?;
    let status = resp.status().as_u16();
    let version = resp.version();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Ok((status, version, String::from_utf8(bytes.to_vec()).unwrap()))
}

async fn tls_server(cert: &Path, key: Option<&Path>) -> Result<ServerHandle, ServerError> {
    let config = ServerConfig::default()
        .with_bind("127.0.0.1:0".parse().unwrap())
        .with_tls(
            cert.display().to_string(),
            key.map(|k| k.display().to_string()),
        );
    serve(config).await
}

/// `POST /mailbox` then `GET /mailbox` over HTTPS.
async fn round_trip(client: &HttpsClient, base: &str) -> http::Version {
    let user: EntityId = UserId::new(None).into();
    let body = json!({ "mailbox": user.to_json() });
    let (status, _, text) = call(client, "POST", &format!("{base}/mailbox"), &body)
        .await
        .unwrap();
    assert_eq!((status, text.as_str()), (200, ""));
    let (status, version, text) = call(client, "GET", &format!("{base}/mailbox"), &body)
        .await
        .unwrap();
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["status"], "ACTIVE");
    version
}

#[tokio::test]
async fn https_round_trip_and_graceful_shutdown() {
    tokio::time::timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path(), "server");
        let server = tls_server(&cert, Some(&key)).await.unwrap();
        let base = server.base_url();
        assert!(base.starts_with("https://127.0.0.1:"), "{base}");
        let client = https_client(&cert);
        // ALPN offers h2 and the client accepts it.
        assert_eq!(round_trip(&client, &base).await, http::Version::HTTP_2);

        // A client that does not trust the certificate is refused.
        let (other, _) = self_signed(dir.path(), "other");
        let stranger = https_client(&other);
        let refused = call(&stranger, "GET", &format!("{base}/mailbox"), &json!({})).await;
        assert!(refused.is_err(), "{refused:?}");

        // The pooled HTTPS connection does not hold up shutdown.
        tokio::time::timeout(Duration::from_secs(15), server.shutdown())
            .await
            .unwrap();
        let after = call(
            &https_client(&cert),
            "GET",
            &format!("{base}/mailbox"),
            &json!({}),
        )
        .await;
        assert!(after.is_err(), "{after:?}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn key_read_from_certfile_when_keyfile_absent() {
    tokio::time::timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path(), "server");
        let combined = dir.path().join("combined.pem");
        let mut pem = std::fs::read(&cert).unwrap();
        pem.extend(std::fs::read(&key).unwrap());
        std::fs::write(&combined, pem).unwrap();
        let server = tls_server(&combined, None).await.unwrap();
        round_trip(&https_client(&cert), &server.base_url()).await;
        server.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn plain_http_to_the_tls_port_fails() {
    tokio::time::timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path(), "server");
        let server = tls_server(&cert, Some(&key)).await.unwrap();
        let plain = format!("http://{}/mailbox", server.addr());
        let req = http::Request::builder()
            .method("GET")
            .uri(&plain)
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let answer = common::client().request(req).await;
        assert!(answer.is_err(), "plain HTTP got an answer: {answer:?}");
        // The failed handshake did not break the server.
        round_trip(&https_client(&cert), &server.base_url()).await;
        server.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn bad_certificate_or_key_is_a_startup_error_naming_the_file() {
    tokio::time::timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path(), "server");
        let (_, other_key) = self_signed(dir.path(), "other");

        let missing = dir.path().join("missing.crt");
        let err = tls_server(&missing, Some(&key)).await.unwrap_err();
        assert!(matches!(err, ServerError::TlsFile { .. }), "{err:?}");
        assert!(err.to_string().contains("missing.crt"), "{err}");

        // The certificate alone, without a key in it.
        let err = tls_server(&cert, None).await.unwrap_err();
        assert!(matches!(err, ServerError::TlsFile { .. }), "{err:?}");
        assert!(err.to_string().contains("private key"), "{err}");
        assert!(err.to_string().contains("server.crt"), "{err}");

        // A key file that holds a certificate only.
        let err = tls_server(&cert, Some(&cert)).await.unwrap_err();
        assert!(err.to_string().contains("server.crt"), "{err}");

        // A key that does not belong to the certificate.
        let err = tls_server(&cert, Some(&other_key)).await.unwrap_err();
        assert!(matches!(err, ServerError::Tls { .. }), "{err:?}");
        assert!(err.to_string().contains("other.key"), "{err}");

        // keyfile without certfile is refused rather than silently ignored.
        let mut config = ServerConfig::default().with_bind("127.0.0.1:0".parse().unwrap());
        config.keyfile = Some(key.display().to_string());
        let err = serve(config).await.unwrap_err();
        assert!(matches!(err, ServerError::Config(_)), "{err:?}");
    })
    .await
    .unwrap();
}
