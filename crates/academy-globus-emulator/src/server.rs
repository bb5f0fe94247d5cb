//! Starting, inspecting and stopping an emulator: [`serve`],
//! [`EmulatorConfig`], [`EmulatorHandle`].

use crate::error::EmulatorError;
use crate::oidc::Signer;
use crate::seed::Seed;
use crate::state::State;
use crate::{auth_api, authorize, groups, oauth2};
use axum::Router;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How to run an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to listen on (default `127.0.0.1:0`).
    pub bind: SocketAddr,
    /// Allow a non-loopback bind address.
    pub allow_remote: bool,
    /// Initial state (ignored for entities when the state file exists).
    pub seed: Seed,
    /// JSON file that keeps clients and tokens across restarts.
    pub state_path: Option<PathBuf>,
    /// Override of the seed's `auto_approve`.
    pub auto_approve: Option<bool>,
    /// Override of the seed's access-token lifetime (seconds).
    pub access_token_lifetime: Option<u64>,
    /// Override of the seed's `groups_tokens`.
    pub groups_tokens: Option<bool>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            allow_remote: false,
            seed: Seed::default(),
            state_path: None,
            auto_approve: None,
            access_token_lifetime: None,
            groups_tokens: None,
        }
    }
}

/// Settings that tests may change while the emulator runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Approve authorization requests at once.
    pub auto_approve: bool,
    /// Access-token lifetime, seconds.
    pub access_token_lifetime: u64,
    /// Whether the dependent-token grant issues Groups tokens.
    pub groups_tokens: bool,
    /// User that approves in auto-approve mode.
    pub default_user: Uuid,
}

/// State shared by all handlers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) settings: Mutex<Settings>,
    clock_offset: AtomicI64,
    pub(crate) base_url: String,
    pub(crate) signer: Signer,
    persist: Option<Arc<Notify>>,
}

/// Locks a mutex, recovering from poisoning (a panicking handler must not
/// wedge the emulator).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Emulated time, epoch seconds.
    pub(crate) fn now(&self) -> u64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        real.saturating_add_signed(self.clock_offset.load(Ordering::SeqCst))
    }

    pub(crate) fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    /// Asks the persistence task to save the state.
    pub(crate) fn changed(&self) {
        if let Some(n) = &self.persist {
            n.notify_one();
        }
    }
}

/// A running emulator.
///
/// ```no_run
/// # async fn demo() -> Result<(), academy_globus_emulator::EmulatorError> {
/// use academy_globus_emulator::{serve, EmulatorConfig};
/// let emulator = serve(EmulatorConfig::default()).await?;
/// println!("Globus Auth emulator at {}", emulator.base_url());
/// for (key, value) in emulator.env() {
///     // SAFETY of env mutation aside, a child process can take these.
///     let _ = (key, value);
/// }
/// emulator.shutdown().await?;
/// # Ok(()) }
/// ```
pub struct EmulatorHandle {
    addr: SocketAddr,
    base_url: String,
    env: Vec<(String, String)>,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    persister: Option<(JoinHandle<()>, oneshot::Sender<()>)>,
}

/// Starts an emulator and returns once it listens.
pub async fn serve(config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
    if !config.allow_remote && !config.bind.ip().is_loopback() {
        return Err(EmulatorError::NonLoopback(config.bind));
    }
    let seed_state = config.seed.to_state()?;
    let state = match &config.state_path {
        Some(path) if path.exists() => {
            let text =
                tokio::fs::read_to_string(path)
                    .await
                    .map_err(|source| EmulatorError::Io {
                        path: path.clone(),
                        source,
                    })?;
            serde_json::from_str(&text).map_err(|source| EmulatorError::State {
                path: path.clone(),
                source,
            })?
        }
        _ => seed_state,
    };
    let s = &config.seed.settings;
    let default_user = s
        .default_user
        .as_deref()
        .and_then(|u| state.find_user(u))
        .or_else(|| state.users.values().next())
        .map(|u| u.id)
        .ok_or_else(|| EmulatorError::Seed("no user to approve logins".to_owned()))?;
    let settings = Settings {
        auto_approve: config.auto_approve.or(s.auto_approve).unwrap_or(false),
        access_token_lifetime: config
            .access_token_lifetime
            .or(s.access_token_lifetime)
            .unwrap_or(crate::defaults::ACCESS_TOKEN_LIFETIME_SECS),
        groups_tokens: config.groups_tokens.or(s.groups_tokens).unwrap_or(true),
        default_user,
    };

    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| EmulatorError::Bind {
            addr: config.bind,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind {
            addr: config.bind,
            source,
        })?;
    let base_url = format!("http://{addr}/");
    let persist = config.state_path.as_ref().map(|_| Arc::new(Notify::new()));
    let shared = Arc::new(Shared {
        state: Mutex::new(state),
        settings: Mutex::new(settings),
        clock_offset: AtomicI64::new(0),
        base_url: base_url.clone(),
        signer: Signer::dev()?,
        persist: persist.clone(),
    });

    let persister = match (&config.state_path, persist) {
        (Some(path), Some(notify)) => {
            // Save once at start so the file exists and reflects the seed.
            save(&shared, path).await?;
            let (tx, rx) = oneshot::channel();
            let task = tokio::spawn(persist_loop(shared.clone(), path.clone(), notify, rx));
            Some((task, tx))
        }
        _ => None,
    };

    let app = router(shared.clone());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await
    });
    tracing::info!(%addr, "Globus Auth emulator listening (development only)");
    Ok(EmulatorHandle {
        addr,
        env: crate::env::environment(&base_url, &config.seed),
        base_url,
        shared,
        stop: Some(stop_tx),
        server: Some(server),
        persister,
    })
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(oauth2::routes())
        .merge(authorize::routes())
        .merge(auth_api::routes())
        .merge(groups::routes())
        .fallback(|| async { crate::error::ApiError::not_found("No such endpoint") })
        .layer(axum::extract::DefaultBodyLimit::max(1 << 20))
        .with_state(shared)
}

async fn save(shared: &Shared, path: &std::path::Path) -> Result<(), EmulatorError> {
    let text = {
        let mut st = lock(&shared.state);
        st.prune(shared.now());
        serde_json::to_string_pretty(&*st).map_err(EmulatorError::Serialize)?
    };
    let tmp = path.with_extension("tmp");
    let io = |source| EmulatorError::Io {
        path: path.to_owned(),
        source,
    };
    tokio::fs::write(&tmp, text).await.map_err(io)?;
    tokio::fs::rename(&tmp, path).await.map_err(io)
}

async fn persist_loop(
    shared: Arc<Shared>,
    path: PathBuf,
    notify: Arc<Notify>,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        let stopping = tokio::select! {
            () = notify.notified() => false,
            _ = &mut stop => true,
        };
        if let Err(e) = save(&shared, &path).await {
            tracing::error!(error = %e, "cannot save emulator state");
        }
        if stopping {
            return;
        }
    }
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `env` holds (dev) secrets: leave it out.
        f.debug_struct("EmulatorHandle")
            .field("addr", &self.addr)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/`, with the trailing slash globus-sdk needs.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The environment pointing clients at this emulator (see [`crate::env`]),
    /// in a stable order.
    pub fn env(&self) -> Vec<(String, String)> {
        self.env.clone()
    }

    /// Issues tokens as if `user` (username or identity id) had logged in
    /// through `client_id` and consented to `scopes` (space-separated): the
    /// same token response the authorization-code grant returns. Saves tests
    /// elsewhere the browser flow.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use academy_globus_emulator::{defaults as d, serve, EmulatorConfig};
    /// let emulator = serve(EmulatorConfig::default()).await?;
    /// let tokens = emulator.issue_user_tokens(d::NATIVE_CLIENT_ID, d::BOB_USERNAME, d::EXCHANGE_SCOPE, true)?;
    /// let bearer = tokens["access_token"].as_str().unwrap_or_default();
    /// # let _ = bearer; Ok(()) }
    /// ```
    pub fn issue_user_tokens(
        &self,
        client_id: &str,
        user: &str,
        scopes: &str,
        offline: bool,
    ) -> Result<serde_json::Value, crate::ApiError> {
        let settings = self.shared.settings();
        let issuer = self.base_url.trim_end_matches('/').to_owned();
        let ctx = crate::grants::GrantContext {
            now: self.shared.now(),
            lifetime: settings.access_token_lifetime,
            groups_tokens: settings.groups_tokens,
            signer: &self.shared.signer,
            issuer: &issuer,
        };
        let out = {
            let mut st = lock(&self.shared.state);
            let client = Uuid::parse_str(client_id)
                .ok()
                .filter(|id| st.clients.contains_key(id))
                .ok_or_else(|| crate::ApiError::invalid_client("Unknown client"))?;
            let identity = st
                .find_user(user)
                .map(|u| u.id)
                .ok_or_else(|| crate::ApiError::invalid_request(format!("Unknown user: {user}")))?;
            let scope_ids = st.resolve_scopes(scopes)?;
            for s in &scope_ids {
                st.record_consent(identity, *s);
            }
            crate::grants::token_response(
                &mut st, &ctx, client, identity, &scope_ids, offline, None,
            )
        };
        self.shared.changed();
        Ok(out)
    }

    /// Current emulated time, epoch seconds.
    pub fn now(&self) -> u64 {
        self.shared.now()
    }

    /// Moves the emulated clock forward (tokens and codes expire by it;
    /// id_tokens keep real time because the SDK checks them against it).
    pub fn advance_clock(&self, secs: u64) {
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        self.shared.clock_offset.fetch_add(secs, Ordering::SeqCst);
    }

    /// Current settings.
    pub fn settings(&self) -> Settings {
        self.shared.settings()
    }

    /// Sets the lifetime of access tokens issued from now on.
    pub fn set_access_token_lifetime(&self, secs: u64) {
        lock(&self.shared.settings).access_token_lifetime = secs;
    }

    /// Turns auto-approval of authorization requests on or off.
    pub fn set_auto_approve(&self, on: bool) {
        lock(&self.shared.settings).auto_approve = on;
    }

    /// Turns Groups dependent tokens on or off.
    pub fn set_groups_tokens(&self, on: bool) {
        lock(&self.shared.settings).groups_tokens = on;
    }

    /// Revokes a token (access or refresh) at once; returns whether it existed.
    pub fn revoke_token(&self, token: &str) -> bool {
        let found = lock(&self.shared.state).revoke(token);
        self.shared.changed();
        found
    }

    /// Runs `f` on the state (read or mutate) under the state lock.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let r = f(&mut lock(&self.shared.state));
        self.shared.changed();
        r
    }

    /// Stops accepting, finishes in-flight requests, saves the state file.
    pub async fn shutdown(mut self) -> Result<(), EmulatorError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .map_err(EmulatorError::Join)?
                .map_err(EmulatorError::Serve)?;
        }
        if let Some((task, stop)) = self.persister.take() {
            let _ = stop.send(());
            task.await.map_err(EmulatorError::Join)?;
        }
        Ok(())
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some((_, stop)) = self.persister.take() {
            let _ = stop.send(());
        }
    }
}
