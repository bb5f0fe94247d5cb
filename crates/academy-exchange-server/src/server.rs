//! Starting, addressing and stopping a server ([`serve`], [`ServerHandle`]).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::globus::GlobusAuthenticator;
use crate::auth::{Authenticator, NullAuthenticator};
use crate::backend::MailboxBackend;
use crate::backend::memory::MemoryBackend;
use crate::backend::redis::RedisBackend;
use crate::config::{AuthConfig, BackendConfig, ServerConfig};
use crate::delivery::Receiver;
use crate::error::ServerError;
use crate::routes::{AppState, router};
use crate::tls::{self, TlsListener};

/// How long shutdown waits for in-flight hand-backs of undelivered messages.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts a server and returns once it listens.
///
/// ```no_run
/// # async fn demo() -> Result<(), academy_exchange_server::ServerError> {
/// use academy_exchange_server::{ServerConfig, serve};
/// let config = ServerConfig::default().with_bind("127.0.0.1:0".parse().unwrap());
/// let server = serve(config).await?;
/// println!("exchange at {}", server.base_url());
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub async fn serve(config: ServerConfig) -> Result<ServerHandle, ServerError> {
    // Read before anything is started, so that a bad file fails fast.
    let tls = match (&config.certfile, &config.keyfile) {
        (Some(cert), key) => Some(tls::server_config(cert, key.as_deref().map(Path::new))?),
        (None, Some(key)) => {
            return Err(ServerError::Config(format!(
                "keyfile {key} is set without certfile (TLS needs a certificate)"
            )));
        }
        (None, None) => None,
    };
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let waiting = Arc::new(watch::channel(0usize).0);
    let backend: Arc<dyn MailboxBackend> = match &config.backend {
        BackendConfig::Memory(_) => Arc::new(MemoryBackend::new(config.message_size_limit())),
        BackendConfig::Redis(redis) => {
            Arc::new(RedisBackend::connect(redis, shutdown.clone(), &tracker).await?)
        }
    };
    let auth: Arc<dyn Authenticator> = match &config.auth {
        AuthConfig::Null => Arc::new(NullAuthenticator),
        AuthConfig::Globus(kwargs) => Arc::new(GlobusAuthenticator::from_kwargs(kwargs)?),
    };
    let state = AppState {
        backend: backend.clone(),
        auth,
        receiver: Receiver {
            backend,
            tracker: tracker.clone(),
            shutdown: shutdown.clone(),
            waiting: waiting.clone(),
        },
        listen_timeout_s: config.listen_timeout_s,
        sse_ping_interval: config.sse_ping_interval,
        body_read_timeout: config.body_read_timeout,
    };
    let app = router(state, config.path_prefix.as_deref());
    let bind = format!("{}:{}", config.host, config.port);
    let listener = TcpListener::bind(&bind)
        .await
        .map_err(|source| ServerError::Bind {
            addr: bind.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: bind.clone(),
        source,
    })?;
    let signal = shutdown.clone();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let header_timeout = config.header_read_timeout;
    let task = match tls {
        None => {
            // Small SSE events and answers must not wait for Nagle's
            // algorithm (it adds up to 40 ms with delayed ACKs).
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
            });
            tokio::spawn(accept_loop(listener, app, header_timeout, signal))
        }
        Some(tls) => {
            let listener = TlsListener::spawn(listener, addr, tls, shutdown.clone());
            tokio::spawn(accept_loop(listener, app, header_timeout, signal))
        }
    };
    tracing::info!(%addr, scheme, "exchange server listening");
    Ok(ServerHandle {
        addr,
        scheme,
        shutdown,
        tracker,
        waiting: waiting.subscribe(),
        task: Some(task),
    })
}

/// Serves connections from `listener` until `shutdown`, then lets the open
/// ones finish (bounded by [`DRAIN_TIMEOUT`]).
///
/// hyper-util's server rather than `axum::serve`, because only it takes a
/// timer: without one hyper has no header-read timeout, and a client that
/// never finishes its headers holds a connection forever (slow-loris).
async fn accept_loop<L>(
    mut listener: L,
    app: Router,
    header_timeout: Duration,
    shutdown: CancellationToken,
) where
    L: axum::serve::Listener,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    loop {
        let (io, _peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let service = TowerToHyperService::new(app.clone());
        let conn = builder
            .serve_connection(TokioIo::new(io), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: connections did not finish in time");
    }
}

/// A live count of the receives waiting on a server, so that a caller
/// can act once its receivers have really reached the server instead of
/// guessing with a sleep. Cheap to clone.
#[derive(Debug, Clone)]
pub struct WaitingReceivers(watch::Receiver<usize>);

impl WaitingReceivers {
    /// How many receives are waiting now.
    pub fn now(&self) -> usize {
        *self.0.borrow()
    }

    /// Waits until at least `n` receives are waiting (returns at once if
    /// the server has stopped: nothing will wait any more).
    pub async fn at_least(&self, n: usize) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|count| *count >= n).await;
    }
}

/// A running server. Dropping it starts a graceful shutdown without waiting.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    scheme: &'static str,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    waiting: watch::Receiver<usize>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The count of receives (long polls and event streams waiting for a
    /// message) pending on this server right now.
    pub fn receivers(&self) -> WaitingReceivers {
        WaitingReceivers(self.waiting.clone())
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, or `https://<addr>` with TLS (without a path
    /// prefix).
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// A token that is cancelled when the server shuts down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting connections, ends long polls (408) and event streams,
    /// waits for in-flight requests and for undelivered messages to be put
    /// back in their queues.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "server task failed");
        }
        self.tracker.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("shutdown: background tasks did not finish in time");
        }
        tracing::info!("exchange server stopped");
    }

    /// Waits until the server task ends (after [`ServerHandle::shutdown_token`]
    /// is cancelled), then drains like [`ServerHandle::shutdown`].
    pub async fn wait(self) {
        self.shutdown.cancelled().await;
        self.shutdown().await;
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
