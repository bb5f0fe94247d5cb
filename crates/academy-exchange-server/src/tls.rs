//! HTTPS (`exchange-http-api.md` §1.1 step 3): `certfile` and `keyfile`
//! loaded like Python's `SSLContext.load_cert_chain(certfile, keyfile)`, and a
//! listener that hands finished TLS connections to the HTTP server.
//!
//! Handshakes run in their own tasks, bounded by [`HANDSHAKE_TIMEOUT`], so
//! that a client that connects and never speaks cannot stall the accept loop.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::error::ServerError;

/// How long a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the HTTP server to take them.
const READY_BACKLOG: usize = 64;

/// Builds the rustls server configuration from PEM files. When `keyfile` is
/// `None` the private key is read from `certfile` (as Python does).
///
/// ```no_run
/// let config = academy_exchange_server::tls::server_config("cert.pem", None)?;
/// assert!(config.alpn_protocols.contains(&b"h2".to_vec()));
/// # Ok::<(), academy_exchange_server::ServerError>(())
/// ```
pub fn server_config(
    certfile: impl AsRef<Path>,
    keyfile: Option<&Path>,
) -> Result<rustls::ServerConfig, ServerError> {
    let certfile = certfile.as_ref();
    let keyfile = keyfile.unwrap_or(certfile);
    let certs = CertificateDer::pem_file_iter(certfile)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| ServerError::TlsFile {
            path: certfile.display().to_string(),
            what: "certificate",
            source,
        })?;
    if certs.is_empty() {
        return Err(ServerError::TlsFile {
            path: certfile.display().to_string(),
            what: "certificate",
            source: rustls::pki_types::pem::Error::NoItemsFound,
        });
    }
    let key = PrivateKeyDer::from_pem_file(keyfile).map_err(|source| ServerError::TlsFile {
        path: keyfile.display().to_string(),
        what: "private key",
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|source| ServerError::Tls {
            certfile: certfile.display().to_string(),
            keyfile: keyfile.display().to_string(),
            source,
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// An [`axum::serve::Listener`] yielding connections whose TLS handshake
/// has completed. A background task accepts TCP connections until the
/// shutdown token is cancelled.
#[derive(Debug)]
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
}

impl TlsListener {
    pub(crate) fn spawn(
        listener: TcpListener,
        local_addr: SocketAddr,
        config: rustls::ServerConfig,
        shutdown: CancellationToken,
    ) -> Self {
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (tx, ready) = mpsc::channel(READY_BACKLOG);
        tokio::spawn(accept_loop(listener, acceptor, tx, shutdown));
        TlsListener { ready, local_addr }
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    shutdown: CancellationToken,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // As axum does: per-connection errors (EMFILE, aborted
                    // connections) are transient; back off briefly.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
            let tls = tokio::select! {
                _ = shutdown.cancelled() => return,
                result = handshake => match result {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::info!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::info!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
            };
            // The server stopped accepting: the connection is dropped.
            let _ = tx.send((tls, peer)).await;
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop ended (shutdown): nothing more will come, and
            // axum's graceful shutdown is already selecting on the signal.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = server_config(&missing, None).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
        assert!(err.to_string().contains("certificate"), "{err}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a pem file\n").unwrap();
        let err = server_config(&empty, None).unwrap_err();
        assert!(err.to_string().contains("empty.pem"), "{err}");
    }
}
