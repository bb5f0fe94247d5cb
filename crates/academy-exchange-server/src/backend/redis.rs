//! Redis backend (academy-py's `RedisBackend`, `exchange-http-api.md`
//! §11.2): the same keys, values and TTLs, so Rust and Python servers on one
//! Redis see the same mailboxes, and several Rust servers on one Redis form
//! one exchange.
//!
//! Keys use the UUID only (an `AgentId` and a `UserId` with the same UUID
//! share a mailbox, as in Python). Each multi-key step is one Lua script, so
//! concurrent servers cannot interleave inside it.
//!
//! Waiting receivers hold no connection: all commands go through one
//! multiplexed [`ConnectionManager`], and one pub/sub connection per process
//! subscribes to keyspace notifications of `queue:*` keys (enabled at start
//! with `CONFIG SET notify-keyspace-events`), waking local waiters, which
//! then pop with a non-blocking `LPOP`. Pushes from Python servers wake them
//! too. If notifications are unavailable, waiters re-check every
//! [`FALLBACK_POLL`].
//!
//! Differences from Python, wire format kept: re-creating an existing or
//! terminated mailbox changes nothing (§12.3, §12.4); the `<CLOSED>`
//! sentinel gets the mailbox TTL and is skipped by receivers; `agent:<uid>`
//! is written for agents only; retried sends are deduplicated through
//! `dedup:<dest uid>:<tag>:<kind>` keys (TTL [`DEDUP_WINDOW`]);
//! termination responses are delivered with server authority; a taken
//! message moves, in the same script, to `inflight:<uid>` (entries
//! `<seq>:<json>`, numbered by `seqno:<uid>`; the list has the mailbox TTL, the counter the gravestone TTL)
//! until acknowledged, so it survives this process being killed and a
//! reply lost with a Redis connection (Python servers on the same Redis
//! ignore these keys).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use academy_exchange::{AgentStats, EntityId, Header, MailboxStatus, Message, MessageKind};
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::{
    DEDUP_WINDOW, INFLIGHT_LIMIT, MailboxBackend, Taken, mro_matches, stats_from,
    termination_response,
};
use crate::auth::ClientInfo;
use crate::config::RedisBackendConfig;
use crate::error::ServerError;

/// Re-check interval of a waiting receiver when keyspace notifications
/// could not be enabled.
pub const FALLBACK_POLL: Duration = Duration::from_secs(2);

/// Re-check interval when notifications work: a safety net for a
/// notification lost while the subscriber reconnects.
pub const SAFETY_POLL: Duration = Duration::from_secs(15);

/// Longest wait for a Redis reply before the request answers 503.
pub const REDIS_RESPONSE_TIMEOUT: Duration = Duration::from_millis(1500);

/// Longest wait for a (re)connection to Redis.
pub const REDIS_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

const OWNER_SUFFIX: &str = "_";

/// The Redis backend.
pub struct RedisBackend {
    conn: ConnectionManager,
    size_limit: usize,
    mailbox_ttl: u64,
    gravestone_ttl: u64,
    waiters: Arc<Waiters>,
    poll: Duration,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("size_limit", &self.size_limit)
            .field("mailbox_ttl", &self.mailbox_ttl)
            .field("gravestone_ttl", &self.gravestone_ttl)
            .finish_non_exhaustive()
    }
}

/// Local receivers waiting on a queue, by UUID.
#[derive(Default)]
struct Waiters {
    map: Mutex<HashMap<Uuid, Arc<Notify>>>,
}

impl Waiters {
    fn register(self: &Arc<Self>, uid: Uuid) -> WaiterGuard {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let notify = map.entry(uid).or_default().clone();
        WaiterGuard {
            waiters: self.clone(),
            uid,
            notify,
        }
    }

    fn wake(&self, uid: &Uuid) {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get(uid) {
            n.notify_waiters();
        }
    }

    fn wake_all(&self) {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        for n in map.values() {
            n.notify_waiters();
        }
    }
}

struct WaiterGuard {
    waiters: Arc<Waiters>,
    uid: Uuid,
    notify: Arc<Notify>,
}

impl Drop for WaiterGuard {
    fn drop(&mut self) {
        let mut map = self.waiters.map.lock().unwrap_or_else(|e| e.into_inner());
        // The map and this guard: nobody else waits on this queue.
        if Arc::strong_count(&self.notify) == 2 {
            map.remove(&self.uid);
        }
    }
}

fn owner_key(uid: Uuid) -> String {
    format!("owner:{uid}")
}
fn active_key(uid: Uuid) -> String {
    format!("active:{uid}")
}
fn agent_key(uid: Uuid) -> String {
    format!("agent:{uid}")
}
fn queue_key(uid: Uuid) -> String {
    format!("queue:{uid}")
}
fn share_key(uid: Uuid) -> String {
    format!("share:{uid}")
}
fn request_key(uid: Uuid, tag: Uuid) -> String {
    format!("request:{uid}:{tag}")
}
fn seqno_key(uid: Uuid) -> String {
    format!("seqno:{uid}")
}
fn inflight_key(uid: Uuid) -> String {
    format!("inflight:{uid}")
}
/// The mailbox's receiver generation (see `MailboxBackend::new_receiver`).
fn receivers_key(uid: Uuid) -> String {
    format!("receivers:{uid}")
}
/// An in-flight list entry: `<seq>:<json>`.
fn inflight_entry(taken: &Taken) -> String {
    format!("{}:{}", taken.seq, taken.json)
}
fn heartbeat_key(uid: Uuid) -> String {
    format!("heartbeat:{uid}")
}
fn completions_key(uid: Uuid) -> String {
    format!("completions:{uid}")
}
fn outgoing_key(uid: Uuid) -> String {
    format!("outgoing:{uid}")
}
fn dedup_key(uid: Uuid, tag: Uuid, kind: MessageKind) -> String {
    let kind = match kind {
        MessageKind::Request => "request",
        MessageKind::Response => "response",
    };
    format!("dedup:{uid}:{tag}:{kind}")
}

/// Refreshes the gravestone TTLs (Python's `_update_expirations`).
/// KEYS: active, owner, heartbeat, agent-or-"". ARGV: ttl.
const REFRESH_LUA: &str = r"
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
if KEYS[4] ~= '' then redis.call('EXPIRE', KEYS[4], ARGV[1]) end
";

/// KEYS: active, owner, heartbeat, agent-or-"". ARGV: gravestone ttl,
/// owner value, mro-or-"".
const CREATE_LUA: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], 'ACTIVE', 'EX', ARGV[1])
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[1])
  if KEYS[4] ~= '' and ARGV[3] ~= '' then redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[1]) end
  return 1
end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
if KEYS[4] ~= '' then redis.call('EXPIRE', KEYS[4], ARGV[1]) end
return 0
";

/// KEYS: active, queue, agent-or-"", seqno, inflight. ARGV: gravestone
/// ttl, mailbox ttl.
const TERMINATE_LUA: &str = r"
local st = redis.call('GET', KEYS[1])
if (not st) or st ~= 'ACTIVE' then return 0 end
redis.call('SET', KEYS[1], 'TERMINATED', 'EX', ARGV[1])
redis.call('DEL', KEYS[2], KEYS[4], KEYS[5])
redis.call('RPUSH', KEYS[2], '<CLOSED>')
redis.call('EXPIRE', KEYS[2], ARGV[2])
if KEYS[3] ~= '' then redis.call('DEL', KEYS[3]) end
return 1
";

/// KEYS: active:dest, queue:dest, dedup, request:dest:tag, outgoing:src,
/// request:src:tag, completions:src. ARGV: json, size, limit, kind,
/// header json, mailbox ttl, dedup ttl.
/// Returns 0 queued, 1 duplicate, -404, -419, -413.
const PUT_LUA: &str = r"
local st = redis.call('GET', KEYS[1])
if not st then return -404 end
if st ~= 'ACTIVE' then return -419 end
if tonumber(ARGV[2]) > tonumber(ARGV[3]) then return -413 end
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[7]) then return 1 end
if ARGV[4] == 'request' then
  redis.call('SET', KEYS[4], ARGV[5], 'EX', ARGV[6])
  redis.call('INCR', KEYS[5])
elseif KEYS[6] ~= '' then
  if redis.call('DEL', KEYS[6]) == 1 then redis.call('INCR', KEYS[7]) end
end
redis.call('RPUSH', KEYS[2], ARGV[1])
if redis.call('TTL', KEYS[2]) == -1 then redis.call('EXPIRE', KEYS[2], ARGV[6]) end
return 0
";

/// Takes the head of the queue into the in-flight list in one step, so a
/// taken message lives in Redis until acknowledged (a server killed after
/// the take, or a reply lost with the connection, loses nothing).
/// KEYS: active, queue, seqno, inflight, receivers. ARGV: in-flight limit, mailbox
/// ttl, gravestone ttl (the numbering outlives idle queues, so a receiver's
/// remembered id never outruns a restarted counter). Returns {'message', seq, json} | {'empty'} | {'missing'} |
/// {'terminated'}; skips stale close sentinels.
/// ARGV[4]: the receiver generation of the take, or '' for none; a take
/// of a superseded generation returns {'superseded'} and takes nothing.
const TAKE_LUA: &str = r"
local st = redis.call('GET', KEYS[1])
if not st then return {'missing'} end
if st ~= 'ACTIVE' then return {'terminated'} end
if ARGV[4] ~= '' and redis.call('GET', KEYS[5]) ~= ARGV[4] then return {'superseded'} end
while true do
  local v = redis.call('LPOP', KEYS[2])
  if not v then return {'empty'} end
  if v ~= '<CLOSED>' then
    local n = redis.call('INCR', KEYS[3])
    redis.call('RPUSH', KEYS[4], n .. ':' .. v)
    redis.call('LTRIM', KEYS[4], -tonumber(ARGV[1]), -1)
    redis.call('EXPIRE', KEYS[3], ARGV[3])
    redis.call('EXPIRE', KEYS[4], ARGV[2])
    return {'message', tostring(n), v}
  end
end
";

/// KEYS: active, queue, inflight. ARGV: in-flight entry, json, mailbox ttl.
const REQUEUE_LUA: &str = r"
if redis.call('LREM', KEYS[3], 1, ARGV[1]) == 0 then return -1 end
if redis.call('GET', KEYS[1]) == 'ACTIVE' then
  redis.call('LPUSH', KEYS[2], ARGV[2])
  if redis.call('TTL', KEYS[2]) == -1 then redis.call('EXPIRE', KEYS[2], ARGV[3]) end
  return 1
end
return 0
";

/// KEYS: active, queue, inflight. ARGV: last seen seq, or '' to forget
/// everything in flight; mailbox ttl. Returns how many messages went back to the queue.
const ACK_LUA: &str = r"
local items = redis.call('LRANGE', KEYS[3], 0, -1)
redis.call('DEL', KEYS[3])
if ARGV[1] == '' then return 0 end
if redis.call('GET', KEYS[1]) ~= 'ACTIVE' then return 0 end
local last = tonumber(ARGV[1])
local back = {}
for _, e in ipairs(items) do
  local p = string.find(e, ':', 1, true)
  if p and tonumber(string.sub(e, 1, p - 1)) > last then
    table.insert(back, string.sub(e, p + 1))
  end
end
for i = #back, 1, -1 do redis.call('LPUSH', KEYS[2], back[i]) end
if #back > 0 and redis.call('TTL', KEYS[2]) == -1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return #back
";

/// KEYS: heartbeat, active, owner, agent-or-"". ARGV: gravestone ttl.
/// Unknown ids store nothing (Python stores a key per arbitrary id, §12.13).
const RECORD_HEARTBEAT_LUA: &str = r"
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local t = redis.call('TIME')
redis.call('SET', KEYS[1], t[1] .. '.' .. string.format('%06d', tonumber(t[2])), 'EX', ARGV[1])
for i = 2, 3 do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
if KEYS[4] ~= '' then redis.call('EXPIRE', KEYS[4], ARGV[1]) end
return 1
";

/// KEYS: active, heartbeat. Returns {status|false, heartbeat|false, sec, usec}.
const HEARTBEAT_AGE_LUA: &str = r"
local t = redis.call('TIME')
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), t[1], t[2]}
";

fn script(src: &'static str) -> redis::Script {
    redis::Script::new(src)
}

fn rerr(context: &'static str) -> impl FnOnce(redis::RedisError) -> ServerError {
    move |e| ServerError::redis(context, e)
}

impl RedisBackend {
    /// Connects, enables keyspace notifications and starts the notification
    /// subscriber (it stops when `shutdown` is cancelled).
    pub async fn connect(
        config: &RedisBackendConfig,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<RedisBackend, ServerError> {
        let kwargs = config.redis_kwargs()?;
        for key in &kwargs.ignored {
            tracing::warn!(option = %key, "[backend.kwargs] option has no effect on this server");
        }
        let client =
            redis::Client::open(config.url_for(&kwargs)).map_err(rerr("invalid Redis address"))?;
        // Short timeouts and one reconnection attempt per request: during an
        // outage requests fail fast with 503 + Retry-After instead of
        // hanging (clients retry those). `socket_timeout` and
        // `socket_connect_timeout` replace them when configured.
        let manager_config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(
                kwargs.socket_timeout.unwrap_or(REDIS_RESPONSE_TIMEOUT),
            ))
            .set_connection_timeout(Some(
                kwargs
                    .socket_connect_timeout
                    .unwrap_or(REDIS_CONNECT_TIMEOUT),
            ))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let mut conn = client
            .get_connection_manager_with_config(manager_config)
            .await
            .map_err(rerr("connecting"))?;
        let poll = if enable_notifications(&mut conn).await {
            SAFETY_POLL
        } else {
            FALLBACK_POLL
        };
        let db = i64::from(kwargs.db);
        let waiters = Arc::new(Waiters::default());
        tracker.spawn(subscriber(client, db, waiters.clone(), shutdown));
        Ok(RedisBackend {
            conn,
            size_limit: config.message_size_limit_kb as usize * 1024,
            mailbox_ttl: config.mailbox_ttl_s(),
            gravestone_ttl: config.gravestone_ttl_s(),
            waiters,
            poll,
        })
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// `perm(C, M)` for each id, in one round trip.
    async fn perms(&self, client: &ClientInfo, ids: &[Uuid]) -> Result<bool, ServerError> {
        let mut pipe = redis::pipe();
        for uid in ids {
            pipe.get(owner_key(*uid)).smembers(share_key(*uid));
        }
        let values: Vec<redis::Value> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(rerr("permission check"))?;
        let mut it = values.into_iter();
        for _ in ids {
            let owner: Option<String> =
                redis::from_redis_value(it.next().unwrap_or(redis::Value::Nil))
                    .map_err(|e| ServerError::Internal(format!("owner record: {e}")))?;
            let shares: Vec<String> =
                redis::from_redis_value(it.next().unwrap_or(redis::Value::Nil))
                    .map_err(|e| ServerError::Internal(format!("share record: {e}")))?;
            if !permitted(client, owner.as_deref(), &shares) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn require_perm(&self, client: &ClientInfo, id: &EntityId) -> Result<(), ServerError> {
        if self.perms(client, &[id.uid()]).await? {
            Ok(())
        } else {
            Err(ServerError::Forbidden)
        }
    }

    /// Status (404/419) then ownership (403) for the share routes.
    async fn require_owner_of_active(
        &self,
        client: &ClientInfo,
        id: &EntityId,
    ) -> Result<(), ServerError> {
        let uid = id.uid();
        let (status, owner): (Option<String>, Option<String>) = redis::pipe()
            .get(active_key(uid))
            .get(owner_key(uid))
            .query_async(&mut self.conn())
            .await
            .map_err(rerr("share check"))?;
        match status.as_deref() {
            None => return Err(ServerError::NotFound),
            Some("ACTIVE") => {}
            Some(_) => return Err(ServerError::Terminated),
        }
        if !owns(client, owner.as_deref()) {
            return Err(ServerError::Forbidden);
        }
        Ok(())
    }

    fn agent_key_for(id: &EntityId) -> String {
        if id.is_agent() {
            agent_key(id.uid())
        } else {
            String::new()
        }
    }

    /// The put script without permission checks; `Ok(false)` for a duplicate.
    async fn put_unchecked(&self, message: &Message, json: &str) -> Result<bool, ServerError> {
        let dest = message.dest().uid();
        let src = message.src().uid();
        let tag = message.tag();
        let kind = message.header.kind;
        let header_json = serde_json::to_string(&message.header)
            .map_err(|e| ServerError::Internal(format!("header: {e}")))?;
        let (kind_text, response_key) = match kind {
            MessageKind::Request => ("request", String::new()),
            MessageKind::Response => ("response", request_key(src, tag)),
        };
        let code: i64 = script(PUT_LUA)
            .key(active_key(dest))
            .key(queue_key(dest))
            .key(dedup_key(dest, tag, kind))
            .key(request_key(dest, tag))
            .key(outgoing_key(src))
            .key(response_key)
            .key(completions_key(src))
            .arg(json)
            .arg(json.len())
            .arg(self.size_limit)
            .arg(kind_text)
            .arg(header_json)
            .arg(self.mailbox_ttl)
            .arg(DEDUP_WINDOW.as_secs())
            .invoke_async(&mut self.conn())
            .await
            .map_err(rerr("put"))?;
        match code {
            0 => Ok(true),
            1 => Ok(false),
            -404 => Err(ServerError::NotFound),
            -419 => Err(ServerError::Terminated),
            -413 => Err(ServerError::TooLarge {
                size: json.len(),
                limit: self.size_limit,
            }),
            other => Err(ServerError::Internal(format!(
                "put script returned {other}"
            ))),
        }
    }

    /// Keys matching `pattern`, with Python's count hint.
    async fn scan(&self, pattern: &str) -> Result<Vec<String>, ServerError> {
        let mut conn = self.conn();
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(rerr("scan"))?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    /// Answers the requests pending at a terminated mailbox (§7.2), with
    /// server authority; failures are logged, never returned.
    async fn answer_pending(&self, id: &EntityId) {
        let keys = match self.scan(&format!("request:{}:*", id.uid())).await {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(error = %e, "cannot list pending requests");
                return;
            }
        };
        let mut answered = 0usize;
        for chunk in keys.chunks(512) {
            let mut pipe = redis::pipe();
            for k in chunk {
                pipe.cmd("GETDEL").arg(k);
            }
            let headers: Vec<Option<String>> = match pipe.query_async(&mut self.conn()).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read pending requests");
                    continue;
                }
            };
            for text in headers.into_iter().flatten() {
                let header: Header = match serde_json::from_str(&text) {
                    Ok(h) => h,
                    Err(e) => {
                        tracing::warn!(error = %e, "unreadable pending request skipped");
                        continue;
                    }
                };
                let response = termination_response(id, &header);
                match self.put_unchecked(&response, &response.to_json()).await {
                    Ok(_) => answered += 1,
                    Err(ServerError::NotFound | ServerError::Terminated) => {}
                    Err(e) => tracing::warn!(error = %e, "termination response not delivered"),
                }
            }
        }
        tracing::info!(mailbox = %id.uid(), answered, "mailbox terminated");
    }
}

fn owns(client: &ClientInfo, owner: Option<&str>) -> bool {
    match owner {
        None => true,
        Some(o) => o.strip_suffix(OWNER_SUFFIX) == Some(client.client_id.as_str()),
    }
}

fn permitted(client: &ClientInfo, owner: Option<&str>, shares: &[String]) -> bool {
    owns(client, owner) || client.shares_any(shares)
}

/// Adds `K` (keyspace events) and `l` (list commands) to the server's
/// notification flags, keeping the flags already set. False when they
/// cannot be enabled (e.g. `CONFIG` is disabled on a managed Redis).
async fn enable_notifications(conn: &mut ConnectionManager) -> bool {
    let current: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("notify-keyspace-events")
        .query_async(conn)
        .await;
    let mut flags = match current {
        Ok(v) => v.get(1).cloned().unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read notify-keyspace-events; receivers will poll");
            return false;
        }
    };
    // `A` already includes `l`.
    let has_l = flags.contains('l') || flags.contains('A');
    if flags.contains('K') && has_l {
        return true;
    }
    if !flags.contains('K') {
        flags.push('K');
    }
    if !has_l {
        flags.push('l');
    }
    let set: redis::RedisResult<()> = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg(&flags)
        .query_async(conn)
        .await;
    match set {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "cannot enable keyspace notifications; receivers will poll");
            false
        }
    }
}

/// Keeps one pub/sub subscription to `queue:*` keyspace events and wakes
/// local waiters; reconnects with backoff and wakes everyone after a gap.
async fn subscriber(
    client: redis::Client,
    db: i64,
    waiters: Arc<Waiters>,
    shutdown: CancellationToken,
) {
    let prefix = format!("__keyspace@{db}__:queue:");
    let pattern = format!("{prefix}*");
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.psubscribe(&pattern).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::select! {
            r = connected => r,
            _ = shutdown.cancelled() => return,
        };
        match pubsub {
            Ok(pubsub) => {
                backoff = Duration::from_millis(100);
                // Anything pushed while we were not subscribed is re-checked.
                waiters.wake_all();
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        msg = messages.next() => match msg {
                            Some(msg) => {
                                if let Some(uid) = msg
                                    .get_channel_name()
                                    .strip_prefix(&prefix)
                                    .and_then(|u| Uuid::parse_str(u).ok())
                                {
                                    waiters.wake(&uid);
                                }
                            }
                            None => break,
                        },
                        _ = shutdown.cancelled() => return,
                    }
                }
                tracing::warn!("Redis notification subscription lost; reconnecting");
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot subscribe to Redis notifications");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[async_trait::async_trait]
impl MailboxBackend for RedisBackend {
    async fn check_mailbox(
        &self,
        client: &ClientInfo,
        id: &EntityId,
    ) -> Result<MailboxStatus, ServerError> {
        self.require_perm(client, id).await?;
        let status: Option<String> = redis::cmd("GET")
            .arg(active_key(id.uid()))
            .query_async(&mut self.conn())
            .await
            .map_err(rerr("status"))?;
        Ok(match status.as_deref() {
            None => MailboxStatus::Missing,
            Some("TERMINATED") => MailboxStatus::Terminated,
            Some(_) => MailboxStatus::Active,
        })
    }

    async fn create_mailbox(
        &self,
        client: &ClientInfo,
        id: &EntityId,
        agent: Option<&str>,
    ) -> Result<(), ServerError> {
        self.require_perm(client, id).await?;
        let uid = id.uid();
        let mro = if id.is_agent() {
            agent.unwrap_or("")
        } else {
            ""
        };
        let _: i64 = script(CREATE_LUA)
            .key(active_key(uid))
            .key(owner_key(uid))
            .key(heartbeat_key(uid))
            .key(Self::agent_key_for(id))
            .arg(self.gravestone_ttl)
            .arg(format!("{}{OWNER_SUFFIX}", client.client_id))
            .arg(mro)
            .invoke_async(&mut self.conn())
            .await
            .map_err(rerr("create"))?;
        Ok(())
    }

    async fn terminate(&self, client: &ClientInfo, id: &EntityId) -> Result<(), ServerError> {
        self.require_perm(client, id).await?;
        let uid = id.uid();
        let terminated: i64 = script(TERMINATE_LUA)
            .key(active_key(uid))
            .key(queue_key(uid))
            .key(Self::agent_key_for(id))
            .key(seqno_key(uid))
            .key(inflight_key(uid))
            .arg(self.gravestone_ttl)
            .arg(self.mailbox_ttl)
            .invoke_async(&mut self.conn())
            .await
            .map_err(rerr("terminate"))?;
        if terminated == 1 {
            self.answer_pending(id).await;
        }
        Ok(())
    }

    async fn share(
        &self,
        client: &ClientInfo,
        id: &EntityId,
        group: &str,
    ) -> Result<(), ServerError> {
        self.require_owner_of_active(client, id).await?;
        if !client.in_group(group) {
            return Err(ServerError::Forbidden);
        }
        let _: i64 = redis::cmd("SADD")
            .arg(share_key(id.uid()))
            .arg(group)
            .query_async(&mut self.conn())
            .await
            .map_err(rerr("share"))?;
        Ok(())
    }

    async fn shares(&self, client: &ClientInfo, id: &EntityId) -> Result<Vec<String>, ServerError> {
        self.require_owner_of_active(client, id).await?;
        let mut groups: Vec<String> = redis::cmd("SMEMBERS")
            .arg(share_key(id.uid()))
            .query_async(&mut self.conn())
            .await
            .map_err(rerr("shares"))?;
        groups.sort();
        Ok(groups)
    }

    async fn unshare(
        &self,
        client: &ClientInfo,
        id: &EntityId,
        group: &str,
    ) -> Result<(), ServerError> {
        self.require_owner_of_active(client, id).await?;
        let _: i64 = redis::cmd("SREM")
            .arg(share_key(id.uid()))
            .arg(group)
            .query_async(&mut self.conn())
            .await
            .map_err(rerr("unshare"))?;
        Ok(())
    }

    async fn put(
        &self,
        client: &ClientInfo,
        message: &Message,
        json: &str,
    ) -> Result<(), ServerError> {
        let ids = [message.dest().uid(), message.src().uid()];
        if !self.perms(client, &ids).await? {
            return Err(ServerError::Forbidden);
        }
        if !self.put_unchecked(message, json).await? {
            tracing::info!(tag = %message.tag(), dest = %ids[0], "duplicate send dropped");
        }
        Ok(())
    }

    async fn check_receive(&self, client: &ClientInfo, id: &EntityId) -> Result<(), ServerError> {
        self.require_perm(client, id).await?;
        let uid = id.uid();
        let status: Option<String> = redis::cmd("GET")
            .arg(active_key(uid))
            .query_async(&mut self.conn())
            .await
            .map_err(rerr("status"))?;
        match status.as_deref() {
            None => return Err(ServerError::NotFound),
            Some("ACTIVE") => {}
            Some(_) => return Err(ServerError::Terminated),
        }
        let _: () = script(REFRESH_LUA)
            .key(active_key(uid))
            .key(owner_key(uid))
            .key(heartbeat_key(uid))
            .key(Self::agent_key_for(id))
            .arg(self.gravestone_ttl)
            .invoke_async(&mut self.conn())
            .await
            .map_err(rerr("refresh"))?;
        let _: () = redis::pipe()
            .expire(queue_key(uid), self.mailbox_ttl as i64)
            .ignore()
            .expire(seqno_key(uid), self.mailbox_ttl as i64)
            .ignore()
            .expire(inflight_key(uid), self.mailbox_ttl as i64)
            .ignore()
            .query_async(&mut self.conn())
            .await
            .map_err(rerr("refresh"))?;
        Ok(())
    }

    async fn take(
        &self,
        id: &EntityId,
        deadline: Instant,
        cancel: &CancellationToken,
        generation: Option<u64>,
    ) -> Result<Taken, ServerError> {
        let uid = id.uid();
        let waiter = self.waiters.register(uid);
        let pop = script(TAKE_LUA);
        loop {
            let notified = waiter.notify.notified();
            tokio::pin!(notified);
            // Registered before the pop: a push in between wakes us.
            notified.as_mut().enable();
            let result: Vec<String> = pop
                .key(active_key(uid))
                .key(queue_key(uid))
                .key(seqno_key(uid))
                .key(inflight_key(uid))
                .key(receivers_key(uid))
                .arg(INFLIGHT_LIMIT)
                .arg(self.mailbox_ttl)
                .arg(self.gravestone_ttl)
                .arg(generation.map(|g| g.to_string()).unwrap_or_default())
                .invoke_async(&mut self.conn())
                .await
                .map_err(rerr("receive"))?;
            match result.first().map(String::as_str) {
                Some("message") => {
                    let mut it = result.into_iter().skip(1);
                    let seq = it.next().and_then(|s| s.parse::<u64>().ok());
                    return match (seq, it.next()) {
                        (Some(seq), Some(json)) => Ok(Taken { seq, json }),
                        _ => Err(ServerError::Internal("take script: malformed reply".into())),
                    };
                }
                Some("missing") => return Err(ServerError::NotFound),
                Some("terminated") => return Err(ServerError::Terminated),
                Some("superseded") => return Err(ServerError::Timeout),
                _ => {}
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(self.poll) => {}
                _ = tokio::time::sleep_until(deadline.into()) => return Err(ServerError::Timeout),
                _ = cancel.cancelled() => return Err(ServerError::Timeout),
            }
        }
    }

    async fn requeue_front(&self, id: &EntityId, taken: Taken) {
        let uid = id.uid();
        let result: redis::RedisResult<i64> = script(REQUEUE_LUA)
            .key(active_key(uid))
            .key(queue_key(uid))
            .key(inflight_key(uid))
            .arg(inflight_entry(&taken))
            .arg(&taken.json)
            .arg(self.mailbox_ttl)
            .invoke_async(&mut self.conn())
            .await;
        match result {
            Ok(1) => {}
            Ok(-1) => {
                tracing::debug!(mailbox = %uid, seq = taken.seq, "message no longer in flight")
            }
            // Still in flight in Redis: the next acknowledgement re-sends it.
            Ok(_) => {
                tracing::info!(mailbox = %uid, "undelivered message dropped: mailbox terminated")
            }
            Err(e) => {
                tracing::warn!(mailbox = %uid, error = %e, "undelivered message left in flight")
            }
        }
    }

    async fn new_receiver(&self, id: &EntityId) -> Result<u64, ServerError> {
        let uid = id.uid();
        let (generation,): (u64,) = redis::pipe()
            .incr(receivers_key(uid), 1)
            .expire(receivers_key(uid), self.mailbox_ttl as i64)
            .ignore()
            .query_async(&mut self.conn())
            .await
            .map_err(rerr("receiver generation"))?;
        Ok(generation)
    }

    async fn acknowledge(&self, id: &EntityId, last_seen: Option<u64>) -> Result<(), ServerError> {
        let uid = id.uid();
        let resent: i64 = script(ACK_LUA)
            .key(active_key(uid))
            .key(queue_key(uid))
            .key(inflight_key(uid))
            .arg(last_seen.map(|l| l.to_string()).unwrap_or_default())
            .arg(self.mailbox_ttl)
            .invoke_async(&mut self.conn())
            .await
            .map_err(rerr("acknowledge"))?;
        if resent > 0 {
            tracing::info!(mailbox = %uid, last_seen, resent, "unacknowledged messages re-queued");
        }
        Ok(())
    }

    async fn discover(
        &self,
        client: &ClientInfo,
        agent: &str,
        allow_subclasses: bool,
    ) -> Result<Vec<Uuid>, ServerError> {
        let keys = self.scan("agent:*").await?;
        let mut found = Vec::new();
        for chunk in keys.chunks(512) {
            let mut pipe = redis::pipe();
            for k in chunk {
                pipe.get(k);
            }
            let mros: Vec<Option<String>> = pipe
                .query_async(&mut self.conn())
                .await
                .map_err(rerr("discover"))?;
            for (k, mro) in chunk.iter().zip(mros) {
                let Some(mro) = mro else { continue };
                if !mro_matches(&mro, agent, allow_subclasses) {
                    continue;
                }
                if let Some(uid) = k
                    .strip_prefix("agent:")
                    .and_then(|u| Uuid::parse_str(u).ok())
                {
                    found.push(uid);
                }
            }
        }
        let mut visible = Vec::new();
        for uid in found {
            let (status, owner, shares): (Option<String>, Option<String>, Vec<String>) =
                redis::pipe()
                    .get(active_key(uid))
                    .get(owner_key(uid))
                    .smembers(share_key(uid))
                    .query_async(&mut self.conn())
                    .await
                    .map_err(rerr("discover"))?;
            if status.as_deref() == Some("ACTIVE") && permitted(client, owner.as_deref(), &shares) {
                visible.push(uid);
            }
        }
        Ok(visible)
    }

    async fn heartbeat_age(
        &self,
        client: &ClientInfo,
        id: &EntityId,
    ) -> Result<Option<f64>, ServerError> {
        self.require_perm(client, id).await?;
        let uid = id.uid();
        let (status, beat, sec, usec): (Option<String>, Option<String>, i64, i64) =
            script(HEARTBEAT_AGE_LUA)
                .key(active_key(uid))
                .key(heartbeat_key(uid))
                .invoke_async(&mut self.conn())
                .await
                .map_err(rerr("heartbeat"))?;
        match status.as_deref() {
            None => return Err(ServerError::NotFound),
            Some("TERMINATED") => return Err(ServerError::Terminated),
            Some(_) => {}
        }
        let now = sec as f64 + usec as f64 / 1e6;
        Ok(beat
            .and_then(|b| b.trim().parse::<f64>().ok())
            .map(|at| now - at))
    }

    async fn record_heartbeat(
        &self,
        client: &ClientInfo,
        id: &EntityId,
    ) -> Result<(), ServerError> {
        self.require_perm(client, id).await?;
        let uid = id.uid();
        let _: i64 = script(RECORD_HEARTBEAT_LUA)
            .key(heartbeat_key(uid))
            .key(active_key(uid))
            .key(owner_key(uid))
            .key(Self::agent_key_for(id))
            .arg(self.gravestone_ttl)
            .invoke_async(&mut self.conn())
            .await
            .map_err(rerr("heartbeat"))?;
        Ok(())
    }

    async fn stats(&self, client: &ClientInfo, id: &EntityId) -> Result<AgentStats, ServerError> {
        self.require_perm(client, id).await?;
        let uid = id.uid();
        let pending = self.scan(&format!("request:{uid}:*")).await?.len() as u64;
        let (queued, completed, outgoing): (u64, Option<u64>, Option<u64>) = redis::pipe()
            .llen(queue_key(uid))
            .get(completions_key(uid))
            .get(outgoing_key(uid))
            .query_async(&mut self.conn())
            .await
            .map_err(rerr("stats"))?;
        Ok(stats_from(
            queued,
            pending,
            completed.unwrap_or(0),
            outgoing.unwrap_or(0),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_uses_python_suffix() {
        let c = ClientInfo {
            client_id: "alice".into(),
            groups: ["g1".to_string()].into_iter().collect(),
        };
        assert!(owns(&c, None));
        assert!(owns(&c, Some("alice_")));
        assert!(!owns(&c, Some("alice")));
        assert!(!owns(&c, Some("bob_")));
        assert!(permitted(&c, Some("bob_"), &["g1".into()]));
        assert!(!permitted(&c, Some("bob_"), &["".into(), "g2".into()]));
    }
}
