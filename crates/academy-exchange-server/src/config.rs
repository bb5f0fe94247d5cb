//! Server configuration: the TOML file of academy-py's
//! `ExchangeServingConfig` (`exchange-http-api.md` §1.2), same keys, unknown
//! keys rejected.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::error::ServerError;

/// Default `listen_timeout_s`.
pub const DEFAULT_LISTEN_TIMEOUT_S: u64 = 60;
/// Default interval of the `: ping` comments of an event stream (§6.9).
pub const SSE_PING_INTERVAL: Duration = Duration::from_secs(15);
/// Default time a client has to send a request's headers (hyper's own
/// default once a timer is set).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time a client has to send a request's body, counted from the end
/// of its headers; a late body is answered 408.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default and maximum `message_size_limit_kb`.
pub const MAX_MESSAGE_SIZE_LIMIT_KB: u64 = 512;

/// The whole server configuration.
///
/// ```
/// use academy_exchange_server::{BackendConfig, ServerConfig};
/// let config = ServerConfig::from_toml_str(r#"
///     host = "127.0.0.1"
///     port = 0
///     listen_timeout_s = 30
///     [backend]
///     kind = "redis"
///     hostname = "localhost"
/// "#).unwrap();
/// assert!(matches!(config.backend, BackendConfig::Redis(_)));
/// assert!(ServerConfig::from_toml_str("colour = 'blue'").is_err());
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Bind interface. The Python default is `"localhost"`; ours is
    /// `"127.0.0.1"` so that the default never binds an IPv6-only address.
    pub host: String,
    /// Bind port (0 picks a free port).
    pub port: u16,
    /// PEM certificate chain; when set the server speaks HTTPS only.
    pub certfile: Option<String>,
    /// PEM private key; when absent the key is read from `certfile`.
    /// Setting it without `certfile` is a start-up error (Python ignores it).
    pub keyfile: Option<String>,
    /// Default and maximum `timeout` of receive and listen, in seconds.
    pub listen_timeout_s: u64,
    /// Authentication.
    pub auth: AuthConfig,
    /// Mailbox storage.
    pub backend: BackendConfig,
    /// Logging.
    pub logger: LoggerConfig,
    /// Optional path prefix (e.g. `/v1`) under which the routes are also
    /// served. An extension: not a key of the Python file.
    pub path_prefix: Option<String>,
    /// Interval of the `: ping` comments of an event stream (§6.9, default
    /// [`SSE_PING_INTERVAL`]). An extension: not a key of the Python file.
    pub sse_ping_interval: Duration,
    /// Time a client has to send a request's headers before the connection
    /// is closed (default [`HEADER_READ_TIMEOUT`]; HTTP/1). An extension.
    pub header_read_timeout: Duration,
    /// Time a client has to send a request's body, once its headers are in,
    /// before the request is answered 408 (default [`BODY_READ_TIMEOUT`]).
    /// An extension.
    pub body_read_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".to_string(),
            port: 8700,
            certfile: None,
            keyfile: None,
            listen_timeout_s: DEFAULT_LISTEN_TIMEOUT_S,
            auth: AuthConfig::default(),
            backend: BackendConfig::Memory(MemoryBackendConfig::default()),
            logger: LoggerConfig::default(),
            path_prefix: None,
            sse_ping_interval: SSE_PING_INTERVAL,
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Default)]
pub enum AuthConfig {
    /// No authentication (`method` absent).
    #[default]
    Null,
    /// `method = "globus"` with its `kwargs`.
    Globus(GlobusAuthKwargs),
}

/// `[auth.kwargs]` of the Globus authenticator. Values left `None` come from
/// the environment (see [`crate::auth::globus`]).
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobusAuthKwargs {
    /// The exchange's Globus Auth client id.
    pub client_id: Option<String>,
    /// Its secret.
    pub client_secret: Option<String>,
    /// Maximum entries of each cache (default 1024).
    pub token_cache_limit: Option<usize>,
    /// Introspection cache TTL in seconds (default 60).
    pub token_ttl_s: Option<f64>,
    /// Dependent-token and groups cache TTL in seconds (default 60).
    pub group_info_cache_ttl_s: Option<f64>,
    /// Extension: Globus Auth base URL (else from the environment).
    pub auth_base_url: Option<String>,
    /// Extension: Globus Groups base URL (else from the environment).
    pub groups_base_url: Option<String>,
}

impl std::fmt::Debug for GlobusAuthKwargs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobusAuthKwargs")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("token_cache_limit", &self.token_cache_limit)
            .field("token_ttl_s", &self.token_ttl_s)
            .field("group_info_cache_ttl_s", &self.group_info_cache_ttl_s)
            .field("auth_base_url", &self.auth_base_url)
            .field("groups_base_url", &self.groups_base_url)
            .finish()
    }
}

/// `[backend]`: the in-memory table or the Redis table.
#[derive(Debug, Clone)]
pub enum BackendConfig {
    /// `kind = "python"` (the default): in memory.
    Memory(MemoryBackendConfig),
    /// `kind = "redis"`.
    Redis(RedisBackendConfig),
}

/// The in-memory table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryBackendConfig {
    /// Always `"python"`.
    #[serde(default = "python_kind")]
    pub kind: String,
    /// Message size limit in KiB (`0 < x <= 512`).
    #[serde(default = "default_size_kb")]
    pub message_size_limit_kb: u64,
}

impl Default for MemoryBackendConfig {
    fn default() -> Self {
        MemoryBackendConfig {
            kind: python_kind(),
            message_size_limit_kb: default_size_kb(),
        }
    }
}

/// The Redis table.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisBackendConfig {
    /// Always `"redis"`.
    #[serde(default = "redis_kind")]
    pub kind: String,
    /// Redis host.
    #[serde(default = "default_redis_host")]
    pub hostname: String,
    /// Redis port.
    #[serde(default = "default_redis_port")]
    pub port: u16,
    /// Message size limit in KiB (`0 < x <= 512`).
    #[serde(default = "default_size_kb")]
    pub message_size_limit_kb: u64,
    /// Queue and request-key TTL in days.
    #[serde(default = "default_mailbox_d")]
    pub mailbox_expiration_d: f64,
    /// Status, owner, agent and heartbeat TTL in days.
    #[serde(default = "default_gravestone_d")]
    pub gravestone_expiration_d: f64,
    /// Extra connection options, redis-py's keyword arguments: see
    /// [`RedisKwargs`] for what is honoured (read with
    /// [`RedisBackendConfig::redis_kwargs`], checked when the file is read).
    #[serde(default)]
    pub kwargs: toml::Table,
}

/// The `[backend.kwargs]` of the Redis backend, read as redis-py's
/// `redis.asyncio.Redis(**kwargs)` would take them.
///
/// Honoured: `username`, `password`, `db`, `socket_timeout` and
/// `socket_connect_timeout` (seconds; they replace our short defaults,
/// [`crate::backend::redis::REDIS_RESPONSE_TIMEOUT`] and
/// [`crate::backend::redis::REDIS_CONNECT_TIMEOUT`]). `decode_responses`,
/// and redis-py options that tune its own connection pool or encoding
/// ([`IGNORED_REDIS_KWARGS`]) are accepted and ignored, with a warning at
/// start-up, so that a file written for academy-py's server keeps working.
/// `ssl = true` is refused: this build has no TLS to Redis (use a TLS
/// tunnel on loopback). Any other key is an error, as an unknown keyword
/// argument is a `TypeError` in Python.
///
/// ```
/// use academy_exchange_server::{BackendConfig, ServerConfig};
/// let c = ServerConfig::from_toml_str(
///     "[backend]\nkind = 'redis'\n[backend.kwargs]\npassword = 'p@ss/w:rd'\ndb = 2",
/// ).unwrap();
/// let BackendConfig::Redis(r) = c.backend else { unreachable!() };
/// let kwargs = r.redis_kwargs().unwrap();
/// assert_eq!(kwargs.db, 2);
/// // Reserved characters are percent-encoded in the connection URL.
/// assert_eq!(r.url(), "redis://:p%40ss%2Fw%3Ard@localhost:6379/2");
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct RedisKwargs {
    /// ACL user name.
    pub username: Option<String>,
    /// Password (of `username`, or of the default user).
    pub password: Option<String>,
    /// Database number.
    pub db: u32,
    /// Time allowed for one command's answer.
    pub socket_timeout: Option<Duration>,
    /// Time allowed to connect.
    pub socket_connect_timeout: Option<Duration>,
    /// Keys accepted but without effect here.
    pub ignored: Vec<String>,
}

impl std::fmt::Debug for RedisKwargs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKwargs")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .field("socket_timeout", &self.socket_timeout)
            .field("socket_connect_timeout", &self.socket_connect_timeout)
            .field("ignored", &self.ignored)
            .finish()
    }
}

/// redis-py keyword arguments accepted without effect: they tune redis-py's
/// own pool, retries or decoding, which have no counterpart here (responses
/// are always raw bytes, `exchange-http-api.md` §4).
pub const IGNORED_REDIS_KWARGS: &[&str] = &[
    "decode_responses",
    "encoding",
    "encoding_errors",
    "retry_on_timeout",
    "retry_on_error",
    "retry",
    "health_check_interval",
    "client_name",
    "max_connections",
    "single_connection_client",
    "socket_keepalive",
    "socket_keepalive_options",
    "lib_name",
    "lib_version",
    "protocol",
];

fn kwarg_error(key: &str, why: &str) -> ServerError {
    ServerError::Config(format!("[backend.kwargs] {key}: {why}"))
}

fn kwarg_seconds(key: &str, value: &toml::Value) -> Result<Option<Duration>, ServerError> {
    let secs = match value {
        toml::Value::Integer(i) => *i as f64,
        toml::Value::Float(f) => *f,
        _ => return Err(kwarg_error(key, "must be a number of seconds")),
    };
    if !positive(secs) || secs > 86_400.0 {
        return Err(kwarg_error(key, "must be > 0 and at most 86400 seconds"));
    }
    Ok(Some(Duration::from_secs_f64(secs)))
}

fn kwarg_string(key: &str, value: &toml::Value) -> Result<Option<String>, ServerError> {
    value
        .as_str()
        .map(|s| Some(s.to_string()))
        .ok_or_else(|| kwarg_error(key, "must be a string"))
}

impl std::fmt::Debug for RedisBackendConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&String> = self.kwargs.keys().collect();
        f.debug_struct("RedisBackendConfig")
            .field("hostname", &self.hostname)
            .field("port", &self.port)
            .field("message_size_limit_kb", &self.message_size_limit_kb)
            .field("mailbox_expiration_d", &self.mailbox_expiration_d)
            .field("gravestone_expiration_d", &self.gravestone_expiration_d)
            .field("kwargs (keys only)", &keys)
            .finish()
    }
}

impl Default for RedisBackendConfig {
    fn default() -> Self {
        RedisBackendConfig {
            kind: redis_kind(),
            hostname: default_redis_host(),
            port: default_redis_port(),
            message_size_limit_kb: default_size_kb(),
            mailbox_expiration_d: default_mailbox_d(),
            gravestone_expiration_d: default_gravestone_d(),
            kwargs: toml::Table::new(),
        }
    }
}

impl RedisBackendConfig {
    /// The `kwargs` read and checked.
    pub fn redis_kwargs(&self) -> Result<RedisKwargs, ServerError> {
        let mut out = RedisKwargs::default();
        for (key, value) in &self.kwargs {
            match key.as_str() {
                "username" => out.username = kwarg_string(key, value)?,
                "password" => out.password = kwarg_string(key, value)?,
                "db" => {
                    out.db = value
                        .as_integer()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| kwarg_error(key, "must be a non-negative integer"))?;
                }
                "socket_timeout" => out.socket_timeout = kwarg_seconds(key, value)?,
                "socket_connect_timeout" => {
                    out.socket_connect_timeout = kwarg_seconds(key, value)?;
                }
                "ssl" => {
                    if value.as_bool() != Some(false) {
                        return Err(kwarg_error(
                            key,
                            "TLS connections to Redis are not supported by this server \
                             (reach a TLS Redis through a local TLS tunnel)",
                        ));
                    }
                }
                k if k.starts_with("ssl_") || IGNORED_REDIS_KWARGS.contains(&k) => {
                    out.ignored.push(key.clone());
                }
                _ => {
                    return Err(kwarg_error(
                        key,
                        "unknown option (honoured: username, password, db, socket_timeout, \
                         socket_connect_timeout)",
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The `redis://` URL built from host, port and `kwargs` (user name and
    /// password percent-encoded, an IPv6 address in brackets). Options that
    /// do not parse are left out here; [`Self::redis_kwargs`] reports them,
    /// and a configuration read from a file has been checked already.
    pub fn url(&self) -> String {
        self.url_for(&self.redis_kwargs().unwrap_or_default())
    }

    /// The `redis://` URL for host, port and already-read `kwargs`.
    pub(crate) fn url_for(&self, kwargs: &RedisKwargs) -> String {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let encode = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
        let auth = match (&kwargs.username, &kwargs.password) {
            (Some(u), Some(p)) => format!("{}:{}@", encode(u), encode(p)),
            (Some(u), None) => format!("{}@", encode(u)),
            (None, Some(p)) => format!(":{}@", encode(p)),
            (None, None) => String::new(),
        };
        let host = if self.hostname.contains(':') && !self.hostname.starts_with('[') {
            format!("[{}]", self.hostname)
        } else {
            self.hostname.clone()
        };
        format!("redis://{auth}{host}:{}/{}", self.port, kwargs.db)
    }

    /// Queue TTL in seconds (`int(d × 86400)`, at least 1).
    pub fn mailbox_ttl_s(&self) -> u64 {
        days_to_s(self.mailbox_expiration_d)
    }

    /// Gravestone TTL in seconds.
    pub fn gravestone_ttl_s(&self) -> u64 {
        days_to_s(self.gravestone_expiration_d)
    }
}

fn days_to_s(d: f64) -> u64 {
    // Validated > 0; truncation as Python's int().
    ((d * 86400.0) as u64).max(1)
}

/// `[logger]`, applied by the binary through [`crate::logging::subscriber`]
/// (the library itself never installs a subscriber).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggerConfig {
    /// Console level, an int (Python levels) or a name (default WARNING).
    pub level: Option<LogLevel>,
    /// Log file, appended to; parent directories are created.
    pub logfile: Option<String>,
    /// File level (default INFO).
    pub logfile_level: Option<LogLevel>,
    /// Rotate the file every `rotation_interval_days` (default false).
    pub rotate: Option<bool>,
    /// Days between rotations (default 1, `> 0`).
    pub rotation_interval_days: Option<u32>,
    /// Rotated files kept (default 7, `> 0`).
    pub backup_count: Option<u32>,
}

/// A Python logging level: a number or a name.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LogLevel {
    /// Numeric level (10 DEBUG … 50 CRITICAL).
    Number(i64),
    /// Level name.
    Name(String),
}

impl LogLevel {
    /// The `tracing` filter directive for this level.
    pub fn as_filter(&self) -> &'static str {
        let n = match self {
            LogLevel::Number(n) => *n,
            LogLevel::Name(s) => match s.to_ascii_uppercase().as_str() {
                "DEBUG" => 10,
                "INFO" => 20,
                "WARNING" | "WARN" => 30,
                "ERROR" => 40,
                "CRITICAL" | "FATAL" => 50,
                _ => 30,
            },
        };
        match n {
            i64::MIN..=9 => "trace",
            10..=19 => "debug",
            20..=29 => "info",
            30..=39 => "warn",
            _ => "error",
        }
    }
}

fn python_kind() -> String {
    "python".to_string()
}
fn redis_kind() -> String {
    "redis".to_string()
}
fn default_size_kb() -> u64 {
    MAX_MESSAGE_SIZE_LIMIT_KB
}
fn default_redis_host() -> String {
    "localhost".to_string()
}
fn default_redis_port() -> u16 {
    6379
}
fn default_mailbox_d() -> f64 {
    7.0
}
fn default_gravestone_d() -> f64 {
    365.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    host: Option<String>,
    port: Option<u16>,
    certfile: Option<String>,
    keyfile: Option<String>,
    listen_timeout_s: Option<u64>,
    auth: Option<RawAuth>,
    backend: Option<toml::Table>,
    logger: Option<LoggerConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    method: Option<String>,
    #[serde(default)]
    kwargs: toml::Table,
}

impl ServerConfig {
    /// Parses the TOML text of a configuration file.
    pub fn from_toml_str(text: &str) -> Result<ServerConfig, ServerError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| ServerError::Config(e.message().to_string()))?;
        let defaults = ServerConfig::default();
        let auth = match raw.auth {
            None => AuthConfig::Null,
            Some(RawAuth { method: None, .. }) => AuthConfig::Null,
            Some(RawAuth {
                method: Some(m),
                kwargs,
            }) if m == "globus" => {
                let kwargs: GlobusAuthKwargs =
                    toml::Value::Table(kwargs)
                        .try_into()
                        .map_err(|e: toml::de::Error| {
                            ServerError::Config(format!("[auth.kwargs]: {}", e.message()))
                        })?;
                AuthConfig::Globus(kwargs)
            }
            Some(RawAuth {
                method: Some(m), ..
            }) => {
                return Err(ServerError::Config(format!(
                    "[auth] method must be \"globus\" or absent, not {m:?}"
                )));
            }
        };
        let backend = match raw.backend {
            None => BackendConfig::Memory(MemoryBackendConfig::default()),
            Some(table) => parse_backend(table)?,
        };
        let logger = raw.logger.unwrap_or_default();
        if logger.rotation_interval_days == Some(0) || logger.backup_count == Some(0) {
            return Err(ServerError::Config(
                "[logger] rotation_interval_days and backup_count must be > 0".into(),
            ));
        }
        let listen_timeout_s = raw.listen_timeout_s.unwrap_or(DEFAULT_LISTEN_TIMEOUT_S);
        if listen_timeout_s == 0 {
            return Err(ServerError::Config("listen_timeout_s must be > 0".into()));
        }
        let config = ServerConfig {
            host: raw.host.unwrap_or(defaults.host),
            port: raw.port.unwrap_or(defaults.port),
            certfile: raw.certfile,
            keyfile: raw.keyfile,
            listen_timeout_s,
            auth,
            backend,
            logger,
            path_prefix: None,
            sse_ping_interval: SSE_PING_INTERVAL,
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
        };
        Ok(config)
    }

    /// Reads and parses a configuration file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<ServerConfig, ServerError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ServerError::ConfigRead {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// Sets host and port from a socket address (tests use `127.0.0.1:0`).
    pub fn with_bind(mut self, addr: SocketAddr) -> Self {
        self.host = addr.ip().to_string();
        self.port = addr.port();
        self
    }

    /// Also serves every route under `prefix` (e.g. `/v1`).
    pub fn with_path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }

    /// Sets the interval of the `: ping` comments of event streams (tests
    /// use a short one). A zero interval is raised to 1 ms.
    ///
    /// ```
    /// use std::time::Duration;
    /// use academy_exchange_server::ServerConfig;
    /// let c = ServerConfig::default().with_sse_ping_interval(Duration::from_millis(100));
    /// assert_eq!(c.sse_ping_interval, Duration::from_millis(100));
    /// ```
    pub fn with_sse_ping_interval(mut self, interval: Duration) -> Self {
        self.sse_ping_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Sets the header-read and body-read timeouts (slow clients are closed
    /// or answered 408; tests use short ones). Zero is raised to 1 ms.
    ///
    /// ```
    /// use std::time::Duration;
    /// use academy_exchange_server::ServerConfig;
    /// let c = ServerConfig::default()
    ///     .with_read_timeouts(Duration::from_secs(1), Duration::from_secs(2));
    /// assert_eq!(c.header_read_timeout, Duration::from_secs(1));
    /// assert_eq!(c.body_read_timeout, Duration::from_secs(2));
    /// ```
    pub fn with_read_timeouts(mut self, header: Duration, body: Duration) -> Self {
        self.header_read_timeout = header.max(Duration::from_millis(1));
        self.body_read_timeout = body.max(Duration::from_millis(1));
        self
    }

    /// Serves HTTPS with this PEM certificate chain and key (`None`: the key
    /// is in `certfile`).
    pub fn with_tls(mut self, certfile: impl Into<String>, keyfile: Option<String>) -> Self {
        self.certfile = Some(certfile.into());
        self.keyfile = keyfile;
        self
    }

    /// The message size limit in bytes.
    pub fn message_size_limit(&self) -> usize {
        let kb = match &self.backend {
            BackendConfig::Memory(m) => m.message_size_limit_kb,
            BackendConfig::Redis(r) => r.message_size_limit_kb,
        };
        (kb as usize) * 1024
    }
}

/// pydantic's smart union: the in-memory table wins when it validates, the
/// Redis table is chosen by `kind = "redis"` or a Redis-only key.
fn parse_backend(table: toml::Table) -> Result<BackendConfig, ServerError> {
    let kind = table
        .get("kind")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let value = toml::Value::Table(table);
    let config = match kind.as_deref() {
        Some("redis") => BackendConfig::Redis(value.try_into().map_err(backend_error)?),
        Some("python") => BackendConfig::Memory(value.try_into().map_err(backend_error)?),
        Some(other) => {
            return Err(ServerError::Config(format!(
                "[backend] kind must be \"python\" or \"redis\", not {other:?}"
            )));
        }
        None => match value.clone().try_into::<MemoryBackendConfig>() {
            Ok(m) => BackendConfig::Memory(m),
            Err(_) => BackendConfig::Redis(value.try_into().map_err(backend_error)?),
        },
    };
    let kb = match &config {
        BackendConfig::Memory(m) => m.message_size_limit_kb,
        BackendConfig::Redis(r) => r.message_size_limit_kb,
    };
    if kb == 0 || kb > MAX_MESSAGE_SIZE_LIMIT_KB {
        return Err(ServerError::Config(format!(
            "[backend] message_size_limit_kb must be > 0 and <= {MAX_MESSAGE_SIZE_LIMIT_KB}, not {kb}"
        )));
    }
    if let BackendConfig::Redis(r) = &config {
        if !(positive(r.mailbox_expiration_d) && positive(r.gravestone_expiration_d)) {
            return Err(ServerError::Config(
                "[backend] mailbox_expiration_d and gravestone_expiration_d must be > 0".into(),
            ));
        }
        r.redis_kwargs()?;
    }
    Ok(config)
}

/// True for a finite number above zero (rejects NaN).
fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn backend_error(e: toml::de::Error) -> ServerError {
    ServerError::Config(format!("[backend]: {}", e.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_defaults() {
        let c = ServerConfig::from_toml_str("").unwrap();
        assert_eq!(c.port, 8700);
        assert_eq!(c.listen_timeout_s, 60);
        assert!(matches!(c.auth, AuthConfig::Null));
        assert_eq!(c.message_size_limit(), 524_288);
    }

    #[test]
    fn redis_selected_by_redis_only_key() {
        let c = ServerConfig::from_toml_str("[backend]\nhostname = 'h'\nport = 7000").unwrap();
        let BackendConfig::Redis(r) = c.backend else {
            panic!("expected redis")
        };
        assert_eq!(r.url(), "redis://h:7000/0");
        assert_eq!(r.mailbox_ttl_s(), 604_800);
        assert_eq!(r.gravestone_ttl_s(), 31_536_000);
    }

    #[test]
    fn redis_kwargs_read_as_redis_py_would() {
        let redis = |kwargs: &str| {
            ServerConfig::from_toml_str(&format!(
                "[backend]\nkind = 'redis'\nhostname = '::1'\n[backend.kwargs]\n{kwargs}"
            ))
            .map(|c| match c.backend {
                BackendConfig::Redis(r) => r,
                BackendConfig::Memory(_) => panic!("expected redis"),
            })
        };
        let r = redis(
            "username = 'app user'\npassword = 'a:b@c/d#e%f'\ndb = 3\nsocket_timeout = 2.5\n\
             socket_connect_timeout = 1\ndecode_responses = true\nssl = false\nssl_certfile = 'x'",
        )
        .unwrap();
        let k = r.redis_kwargs().unwrap();
        assert_eq!(k.username.as_deref(), Some("app user"));
        assert_eq!(k.password.as_deref(), Some("a:b@c/d#e%f"));
        assert_eq!(k.db, 3);
        assert_eq!(k.socket_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(k.socket_connect_timeout, Some(Duration::from_secs(1)));
        assert_eq!(k.ignored, vec!["decode_responses", "ssl_certfile"]);
        assert!(!format!("{k:?}").contains("a:b@c"), "password in Debug");
        assert_eq!(
            r.url(),
            "redis://app%20user:a%3Ab%40c%2Fd%23e%25f@[::1]:6379/3"
        );
        // The URL means what the options say to the Redis client itself.
        let info = redis::IntoConnectionInfo::into_connection_info(r.url()).unwrap();
        assert_eq!(info.redis_settings().password(), Some("a:b@c/d#e%f"));
        assert_eq!(info.redis_settings().username(), Some("app user"));
        assert_eq!(info.redis_settings().db(), 3);

        for bad in [
            "ssl = true",
            "db = -1",
            "db = 'x'",
            "password = 7",
            "socket_timeout = 0",
            "socket_timeout = 'soon'",
            "sentinel = 'x'",
        ] {
            let e = redis(bad).unwrap_err().to_string();
            assert!(e.contains("[backend.kwargs]"), "{bad}: {e}");
        }
    }

    #[test]
    fn size_limit_bounds() {
        assert!(ServerConfig::from_toml_str("[backend]\nmessage_size_limit_kb = 1024").is_err());
        assert!(ServerConfig::from_toml_str("[backend]\nmessage_size_limit_kb = 0").is_err());
        let c = ServerConfig::from_toml_str("[backend]\nmessage_size_limit_kb = 1").unwrap();
        assert_eq!(c.message_size_limit(), 1024);
    }

    #[test]
    fn unknown_keys_rejected() {
        assert!(ServerConfig::from_toml_str("[logger]\nlog_file = 'x'").is_err());
        assert!(ServerConfig::from_toml_str("[auth]\nmethod = 'other'").is_err());
        assert!(
            ServerConfig::from_toml_str("[auth]\nmethod = 'globus'\n[auth.kwargs]\nfoo = 1")
                .is_err()
        );
        assert!(ServerConfig::from_toml_str("[backend]\nkind = 'python'\nhostname = 'x'").is_err());
    }

    #[test]
    fn logger_keys_parsed_and_validated() {
        let c = ServerConfig::from_toml_str(
            "[logger]\nlevel = 'INFO'\nlogfile = 'x/y.log'\nlogfile_level = 10\nrotate = true\nrotation_interval_days = 3\nbackup_count = 2",
        )
        .unwrap();
        assert_eq!(c.logger.logfile.as_deref(), Some("x/y.log"));
        assert_eq!(
            c.logger.level.as_ref().map(LogLevel::as_filter),
            Some("info")
        );
        assert_eq!(
            c.logger.logfile_level.as_ref().map(LogLevel::as_filter),
            Some("debug")
        );
        assert_eq!(c.logger.rotation_interval_days, Some(3));
        assert!(ServerConfig::from_toml_str("[logger]\nbackup_count = 0").is_err());
        assert!(ServerConfig::from_toml_str("[logger]\nrotation_interval_days = 0").is_err());
    }

    #[test]
    fn globus_kwargs_parsed_and_secret_redacted() {
        let c = ServerConfig::from_toml_str(
            "[auth]\nmethod = 'globus'\n[auth.kwargs]\nclient_id = 'abc'\nclient_secret = 'hunter2'",
        )
        .unwrap();
        let AuthConfig::Globus(k) = &c.auth else {
            panic!("expected globus")
        };
        assert_eq!(k.client_id.as_deref(), Some("abc"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
