//! The rustls client configuration for a [`TlsVerification`] choice
//! (`GLOBUS_SDK_VERIFY_SSL`, `globus-auth-api.md` §1.3).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{ENV_VERIFY_SSL, TlsVerification};
use crate::error::{Error, Result};

/// A rustls client configuration (ring provider, default protocol
/// versions, no client certificate, ALPN left empty for hyper-rustls to
/// fill) verifying servers as `verification` says.
pub fn client_config(verification: &TlsVerification) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS set-up failed: {e}")))?;
    let config = match verification {
        TlsVerification::WebPki => {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TlsVerification::CaBundle(path) => builder
            .with_root_certificates(load_ca_bundle(path)?)
            .with_no_client_auth(),
        TlsVerification::Disabled => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoCertificateVerification::new(&provider)))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// The certificates of a PEM file as trust roots; an error if the file
/// cannot be read or holds no usable certificate.
pub fn load_ca_bundle(path: &Path) -> Result<RootCertStore> {
    let bad = |what: String| {
        Error::Config(format!(
            "{ENV_VERIFY_SSL}: CA bundle {}: {what}",
            path.display()
        ))
    };
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))?;
    for cert in certs {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(bad("no PEM certificate found".into()));
    }
    Ok(roots)
}

/// Accepts any server certificate, whoever it names and whoever signed
/// it. **For development only** (`GLOBUS_SDK_VERIFY_SSL=0`): it gives up
/// all protection against an active attacker, who can then read bearer
/// tokens and messages. Handshake signatures are still checked, so the
/// peer must at least hold the key of the certificate it presents.
#[derive(Debug)]
struct NoCertificateVerification {
    algorithms: WebPkiSupportedAlgorithms,
}

impl NoCertificateVerification {
    fn new(provider: &CryptoProvider) -> Self {
        // Once per built client, which is rare enough not to flood logs.
        tracing::warn!(
            "TLS certificate verification is DISABLED ({ENV_VERIFY_SSL}); use this for development only"
        );
        NoCertificateVerification {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for NoCertificateVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
