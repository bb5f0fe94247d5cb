//! The HTTP routes of `exchange-http-api.md` §5–§6, the authentication
//! middleware (§3.1) and the framework answers (404, 405, 413).
//!
//! Every route reads a JSON object from the body, also `GET` and `DELETE`.
//! A body that is not a JSON object, or a field of the wrong type, answers
//! 400 (Python answers 500, §12.7); nothing changes state before the whole
//! body has been validated.
//!
//! # Acknowledged delivery (extension, wire-compatible)
//!
//! Every message handed out gets a per-mailbox sequence number: SSE events
//! are written as `id: <seq>` + `data: <json>`, and `GET /message` answers
//! `{"message": "<json>", "id": <seq>}` (academy-py reads only `message`
//! and accepts integer `id:` fields). A handed-out message stays *in
//! flight* (at most [`crate::backend::INFLIGHT_LIMIT`] per mailbox; older
//! entries count as delivered) until the receiver comes back: at the start
//! of every `GET /mailbox/listen` (request header `Last-Event-ID`, honoured
//! only together with the opt-in header `academy-delivery: ack`) and
//! every `GET /message` (optional integer body field `last_id`), in-flight
//! messages up to that id are forgotten as delivered and later ones are
//! sent again, first, in their original order (with new ids). `0` means
//! "nothing received". Without the header or field every in-flight message
//! is forgotten.
//!
//! So delivery is exactly-once for clients that echo the last id they saw
//! on every reconnection and receive (as `academy-globus-client`'s
//! `listen_reconnecting`, `listen_from` and `recv_from` do), including
//! through cut connections and a server killed after a take (Redis keeps
//! the in-flight list); and at-most-once, as with the Python server, for
//! clients that do not (academy-py 1.0.0 builds its `Last-Event-Id` header
//! once per `listen()` call). One receiver per mailbox is assumed: a
//! second receiver's acknowledgement re-sends what the first one has in
//! flight. A message the server knows it did not write (a long poll
//! cancelled, a body dropped on a write error) goes back to the head of the
//! queue at once.
//!
//! An event stream that never goes idle would never reconnect, hence never
//! acknowledge, and its mailbox's in-flight list would fill to its bound;
//! so our clients reopen a busy stream, acknowledging, every 256 messages
//! or 5 s (`academy_globus_client::exchange_client::AckCadence`). For that
//! to be safe, a stream that opts in (`academy-delivery: ack`, with or
//! without `Last-Event-ID`) starts a new *receiver generation* of its
//! mailbox ([`MailboxBackend::new_receiver`], before the acknowledgement):
//! the takes of earlier acknowledging streams of that mailbox take nothing
//! any more and those streams end, so a stream the client dropped cannot
//! take a message meant for the new one. Streams without the opt-in
//! (academy-py's) neither supersede nor are superseded.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use academy_exchange::message::python_json_dumps;
use academy_exchange::{EntityId, MailboxStatus, Message};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Extension, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Map, Value, json};

use crate::auth::{Authenticator, ClientInfo};
use crate::backend::MailboxBackend;
use crate::delivery::{PendingTake, Receiver, Requeue};
use crate::error::ServerError;

/// Largest request body accepted (aiohttp's `client_max_size`, §2.5).
pub const MAX_BODY_BYTES: usize = 1_048_576;

pub use crate::config::SSE_PING_INTERVAL;

#[derive(Clone)]
pub(crate) struct AppState {
    pub backend: Arc<dyn MailboxBackend>,
    pub auth: Arc<dyn Authenticator>,
    pub receiver: Receiver,
    pub listen_timeout_s: u64,
    /// Interval of the `: ping` comments of event streams.
    pub sse_ping_interval: Duration,
    /// Time allowed to read a request body.
    pub body_read_timeout: Duration,
}

/// The router: routes at the root and, if given, under `prefix` as well.
pub(crate) fn router(state: AppState, prefix: Option<&str>) -> Router {
    let routes = Router::new()
        .route(
            "/mailbox",
            post(create_mailbox).get(check_mailbox).delete(terminate),
        )
        .route(
            "/mailbox/share",
            post(share).get(get_shares).delete(unshare),
        )
        .route("/message", put(send).get(recv))
        .route("/mailbox/listen", get(listen))
        .route("/discover", get(discover))
        .route(
            "/mailbox/heartbeat",
            get(get_heartbeat).post(record_heartbeat),
        )
        .route("/mailbox/stats", get(stats));
    let mut app = Router::new().merge(routes.clone());
    if let Some(prefix) = prefix
        .map(|p| p.trim_end_matches('/'))
        .filter(|p| !p.is_empty())
    {
        let prefix = if prefix.starts_with('/') {
            prefix.to_string()
        } else {
            format!("/{prefix}")
        };
        app = app.nest(&prefix, routes);
    }
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(
            state.body_read_timeout,
            body_timeout,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn authenticate(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    match app.auth.authenticate(request.headers()).await {
        Ok(client) => {
            request.extensions_mut().insert(client);
            next.run(request).await
        }
        Err(e) => {
            tracing::info!(status = %e.status(), "authentication failed");
            e.into_response()
        }
    }
}

/// Answers 408 when the body is not read within the timeout (counted from
/// the end of the headers), so a client trickling its body cannot hold a
/// request open forever.
async fn body_timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let expired = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let body = Body::new(TimedBody {
        inner: body,
        deadline: tokio::time::Instant::now() + limit,
        timer: None,
        expired: expired.clone(),
    });
    let response = next.run(Request::from_parts(parts, body)).await;
    if expired.load(Ordering::Acquire) {
        tracing::info!("request body not received in time");
        return ServerError::Timeout.into_response();
    }
    response
}

/// A request body that fails once its deadline passes.
struct TimedBody {
    inner: Body,
    deadline: tokio::time::Instant,
    /// Armed only when the body is not ready at once: most bodies arrive
    /// with their headers, and need no timer on the hot path.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    expired: Arc<AtomicBool>,
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(axum::Error::new("request body read timed out"))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

async fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "404: Not Found")
}

async fn method_not_allowed() -> Response {
    text(StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed")
}

fn text(status: StatusCode, body: &'static str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn ok() -> Response {
    StatusCode::OK.into_response()
}

/// A JSON answer in Python's `json.dumps` style (§2.2).
fn json_response(value: &Value) -> Response {
    let mut r = (StatusCode::OK, python_json_dumps(value)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

type Fields = Map<String, Value>;

fn parse_body(body: &Bytes) -> Result<Fields, ServerError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ServerError::BadBody(
            "the body must be a JSON object".into(),
        )),
        Err(e) => Err(ServerError::BadBody(format!("not valid JSON: {e}"))),
    }
}

fn required<'a>(fields: &'a Fields, name: &str) -> Result<&'a Value, ServerError> {
    fields
        .get(name)
        .ok_or_else(|| ServerError::BadRequest(format!("'{name}'")))
}

fn required_str<'a>(fields: &'a Fields, name: &str) -> Result<&'a str, ServerError> {
    required(fields, name)?
        .as_str()
        .ok_or_else(|| ServerError::BadRequest(format!("'{name}' must be a string")))
}

/// `mailbox`: a JSON string holding an identifier's JSON (§2.1).
fn mailbox_field(fields: &Fields) -> Result<EntityId, ServerError> {
    let text = required_str(fields, "mailbox")?;
    text.parse::<EntityId>()
        .map_err(|e| ServerError::BadRequest(format!("'mailbox': {e}")))
}

/// `timeout`: optional number of seconds, `0 < t <= listen_timeout_s` (§6.8).
fn timeout_field(fields: &Fields, max_s: u64) -> Result<Duration, ServerError> {
    let seconds = match fields.get("timeout") {
        None => max_s as f64,
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        // Python compares booleans as 1 and 0.
        Some(Value::Bool(b)) => f64::from(u8::from(*b)),
        Some(_) => {
            return Err(ServerError::BadRequest("'timeout' must be a number".into()));
        }
    };
    if !(seconds > 0.0 && seconds <= max_s as f64) {
        return Err(ServerError::InvalidTimeout(max_s));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `last_id`: optional non-negative integer, `null` meaning absent.
fn last_id_field(fields: &Fields) -> Result<Option<u64>, ServerError> {
    match fields.get("last_id") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            ServerError::BadRequest("'last_id' must be a non-negative integer".into())
        }),
    }
}

/// Request header by which a client opts in to acknowledged delivery.
///
/// `Last-Event-ID` is honoured only with `academy-delivery: ack`: academy-py
/// 1.0.0 remembers the last `id:` it saw and, on a second `listen()` call of
/// the same transport, sends that stale value on every reconnection; acting
/// on it would re-send the same messages again and again.
pub const DELIVERY_HEADER: &str = "academy-delivery";

/// The `Last-Event-ID` request header (case-insensitive name) of a client
/// that sent `academy-delivery: ack`: absent, empty or without the opt-in is
/// `None`; anything but a non-negative integer answers 400.
fn last_event_id(headers: &header::HeaderMap) -> Result<Option<u64>, ServerError> {
    if !acknowledging(headers) {
        return Ok(None);
    }
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ServerError::BadRequest("Last-Event-ID must be an integer".into()))?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u64>()
        .map(Some)
        .map_err(|_| ServerError::BadRequest("Last-Event-ID must be an integer".into()))
}

/// Whether the request carries `academy-delivery: ack`.
fn acknowledging(headers: &header::HeaderMap) -> bool {
    headers
        .get(DELIVERY_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("ack"))
}

/// Python truthiness of a JSON value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

async fn create_mailbox(
    State(app): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let fields = parse_body(&body)?;
    let id = mailbox_field(&fields)?;
    let agent = match fields.get("agent") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(ServerError::BadRequest("'agent' must be a string".into())),
    };
    app.backend.create_mailbox(&client, &id, agent).await?;
    tracing::info!(mailbox = %id.uid(), role = id.role().as_str(), "mailbox created");
    Ok(ok())
}

async fn check_mailbox(
    State(app): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let fields = parse_body(&body)?;
    let id = mailbox_field(&fields)?;
    let status = app.backend.check_mailbox(&client, &id).await?;
    Ok(json_response(&json!({ "status": status_text(status) })))
}

fn status_text(status: MailboxStatus) -> &'static str {
    match status {
        MailboxStatus::Missing => "MISSING",
        MailboxStatus::Active => "ACTIVE",
        MailboxStatus::Inactive => "INACTIVE",
        MailboxStatus::Terminated => "TERMINATED",
    }
}

async fn terminate(
    State(app): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let fields = parse_body(&body)?;
    let id = mailbox_field(&fields)?;
    app.backend.terminate(&client, &id).await?;
    Ok(ok())
}

fn group_field(fields: &Fields) -> Result<&str, ServerError> {
    required_str(fields, "group_id")
}

async fn share(
    State(app): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let fields = parse_body(&body)?;
    let id = mailbox_field(&fields)?;
    let group = group_field(&fields)?;
    app.backend.share(&client, &id, group).await?;
    Ok(ok())
}

async fn get_shares(
    State(app): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let fields = parse_body(&body)?;
    let id = mailbox_field(&fields)?;
    let groups = app.backend.shares(&client, &id).await?;
    Ok(json_response(&json!({ "group_ids": groups })))
}

async fn unshare(
    State(app): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let fields = parse_body(&body)?;
    let id = mailbox_field(&fields)?;
    let group = group_field(&fields)?;
    app.backend.unshare(&client, &id, group).await?;
    Ok(ok())
}

async fn send(
    State(app): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let fields = parse_body(&body)?;
    let raw = required_str(&fields, "message")?;
    let message =
        Message::from_json(raw).map_err(|e| ServerError::BadRequest(format!("'message': {e}")))?;
    let json = message.to_json();
    app.backend.put(&client, &message, &json).await?;
    tracing::info!(
        tag = %message.tag(),
        src = %message.src().uid(),
        dest = %message.dest().uid(),
        size = json.len(),
        "message placed"
    );
    Ok(ok())
}

async fn recv(
    State(app): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let fields = parse_body(&body)?;
    let id = mailbox_field(&fields)?;
    let timeout = timeout_field(&fields, app.listen_timeout_s)?;
    let last_id = last_id_field(&fields)?;
    app.backend.check_receive(&client, &id).await?;
    app.backend.acknowledge(&id, last_id).await?;
    let mut take = app.receiver.start_take(&id, timeout, None);
    let taken = take.wait().await?;
    tracing::info!(mailbox = %id.uid(), seq = taken.seq, "message fetched");
    let guard = app.receiver.guard(&id, taken);
    let payload = python_json_dumps(&json!({ "message": guard.json(), "id": guard.seq() }));
    Ok(one_shot_response(payload, guard))
}

enum OneShot {
    Send(Bytes, Requeue),
    Sent(Requeue),
}

/// A JSON response carrying a taken message: the message goes back to its
/// queue unless the body is consumed to its end.
fn one_shot_response(payload: String, guard: Requeue) -> Response {
    let stream = futures::stream::unfold(
        Some(OneShot::Send(Bytes::from(payload), guard)),
        |s| async move {
            match s? {
                OneShot::Send(bytes, guard) => {
                    Some((Ok::<Bytes, Infallible>(bytes), Some(OneShot::Sent(guard))))
                }
                OneShot::Sent(guard) => {
                    guard.confirm();
                    None
                }
            }
        },
    );
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

struct Listen {
    receiver: Receiver,
    id: EntityId,
    timeout: Duration,
    /// Receiver generation of an acknowledging stream.
    generation: Option<u64>,
    take: Option<PendingTake>,
    sent: Option<Requeue>,
    ping: tokio::time::Interval,
}

async fn listen(
    State(app): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    headers: header::HeaderMap,
    body: Bytes,
) -> Result<Response, ServerError> {
    let fields = parse_body(&body)?;
    let id = mailbox_field(&fields)?;
    let timeout = timeout_field(&fields, app.listen_timeout_s)?;
    let last_seen = last_event_id(&headers)?;
    match app.backend.check_mailbox(&client, &id).await? {
        MailboxStatus::Missing => return Err(ServerError::NotFound),
        MailboxStatus::Terminated => return Err(ServerError::Terminated),
        MailboxStatus::Active | MailboxStatus::Inactive => {}
    }
    // An acknowledging stream supersedes the mailbox's earlier ones first
    // (their client dropped them to reopen), so none of them can take a
    // message after the acknowledgement below re-queued what they had.
    let generation = if acknowledging(&headers) {
        Some(app.backend.new_receiver(&id).await?)
    } else {
        None
    };
    app.backend.acknowledge(&id, last_seen).await?;
    tracing::debug!(mailbox = %id.uid(), "listening");
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + app.sse_ping_interval,
        app.sse_ping_interval,
    );
    // A stream paused by a slow reader gets one ping afterwards, not a burst.
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = Listen {
        receiver: app.receiver.clone(),
        id,
        timeout,
        generation,
        take: None,
        sent: None,
        ping,
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        // Being polled again means the previous event was handed to the
        // connection; it stays in flight until acknowledged.
        if let Some(sent) = st.sent.take() {
            sent.confirm();
        }
        let Listen {
            receiver,
            id,
            timeout,
            generation,
            take,
            ping,
            ..
        } = &mut st;
        let pending = take.get_or_insert_with(|| receiver.start_take(id, *timeout, *generation));
        tokio::select! {
            result = pending.wait() => {
                st.take = None;
                match result {
                    Ok(taken) => {
                        let event = Bytes::from(format!(
                            "id: {}\r\ndata: {}\r\n\r\n",
                            taken.seq, taken.json
                        ));
                        st.sent = Some(st.receiver.guard(&st.id, taken));
                        Some((Ok::<Bytes, Infallible>(event), st))
                    }
                    Err(e) => {
                        tracing::info!(mailbox = %st.id.uid(), reason = %e, "ending event stream");
                        None
                    }
                }
            }
            _ = ping.tick() => Some((Ok(Bytes::from_static(b": ping\r\n\r\n")), st)),
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(r)
}

async fn discover(
    State(app): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let fields = parse_body(&body)?;
    let agent = required_str(&fields, "agent")?;
    let allow_subclasses = truthy(required(&fields, "allow_subclasses")?);
    let ids = app
        .backend
        .discover(&client, agent, allow_subclasses)
        .await?;
    let joined = ids
        .iter()
        .map(|u| u.to_string())
        .collect::<Vec<_>>()
        .join(",");
    Ok(json_response(&json!({ "agent_ids": joined })))
}

async fn get_heartbeat(
    State(app): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let fields = parse_body(&body)?;
    let id = mailbox_field(&fields)?;
    let age = app.backend.heartbeat_age(&client, &id).await?;
    Ok(json_response(&json!({ "heartbeat": age })))
}

async fn record_heartbeat(
    State(app): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let fields = parse_body(&body)?;
    let id = mailbox_field(&fields)?;
    app.backend.record_heartbeat(&client, &id).await?;
    Ok(ok())
}

async fn stats(
    State(app): State<AppState>,
    Extension(client): Extension<ClientInfo>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let fields = parse_body(&body)?;
    let id = mailbox_field(&fields)?;
    let stats = app.backend.stats(&client, &id).await?;
    let value = serde_json::to_value(stats).map_err(|e| ServerError::Internal(e.to_string()))?;
    Ok(json_response(&value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_rules() {
        let f = |v: Value| -> Fields { json!({ "timeout": v }).as_object().unwrap().clone() };
        assert_eq!(
            timeout_field(&Fields::new(), 60).unwrap(),
            Duration::from_secs(60)
        );
        assert_eq!(
            timeout_field(&f(json!(60)), 60).unwrap(),
            Duration::from_secs(60)
        );
        assert!(timeout_field(&f(json!(0.5)), 60).is_ok());
        assert!(matches!(
            timeout_field(&f(json!(0)), 60),
            Err(ServerError::InvalidTimeout(60))
        ));
        assert!(matches!(
            timeout_field(&f(json!(60.01)), 60),
            Err(ServerError::InvalidTimeout(60))
        ));
        assert!(matches!(
            timeout_field(&f(json!("x")), 60),
            Err(ServerError::BadRequest(_))
        ));
        assert!(matches!(
            timeout_field(&f(json!(null)), 60),
            Err(ServerError::BadRequest(_))
        ));
        assert!(timeout_field(&f(json!(true)), 60).is_ok());
    }

    #[test]
    fn truthiness() {
        for v in [
            json!(null),
            json!(false),
            json!(0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert!(!truthy(&v));
        }
        for v in [json!(true), json!(1), json!("x"), json!([0])] {
            assert!(truthy(&v));
        }
    }
}
