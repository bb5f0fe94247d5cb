//! The hosted exchange's HTTP contract, once, for both ends: the routes,
//! the request body and answer of each, the status codes and texts, the
//! headers, and the event-stream framing. The server decodes requests and
//! encodes answers with these types; the client encodes requests and
//! decodes answers with the same ones, so a field name, header name or
//! answer shape is spelled in this module only.
//!
//! Like kube-core, this module has no HTTP dependency: methods, statuses
//! and headers are plain strings and numbers, which `http`'s types parse.
//!
//! # Conventions academy-py 1.0.0 set
//!
//! * Every route reads a JSON object from the request body, `GET` and
//!   `DELETE` included.
//! * Identifiers and messages are *double-encoded*: the `mailbox` field is
//!   a JSON string holding an identifier's JSON, and `message` a string
//!   holding a message's JSON ([`json_string`]).
//! * Successful mutating routes answer 200 with an empty body; queries
//!   answer JSON written with Python's separators (`{"status": "ACTIVE"}`,
//!   [`encode_answer`]); errors answer a short plain text ([`status`]).
//! * Python's type leniency that clients rely on is accepted on decoding:
//!   `timeout` may be an int, a float or a boolean; `allow_subclasses` is
//!   read for its truthiness ([`python`]).
//!
//! # Acknowledged delivery (our extension; academy-py ignores it)
//!
//! Every message handed out carries a per-mailbox id: the `id` of
//! [`MessageAnswer`] and the `id:` field of an event
//! ([`sse::event`]). A receiver that comes back with the last id it
//! processed — [`RecvRequest::last_id`], or the [`header::LAST_EVENT_ID`]
//! header together with the opt-in [`header::DELIVERY`]` =
//! `[`header::DELIVERY_ACK`] on a listen — gets everything handed out after
//! it again; `0` means "nothing received yet".
//!
//! ```
//! use academy_exchange::wire::{self, MailboxRequest, RecvRequest};
//! use academy_exchange::{EntityId, UserId};
//!
//! let me = EntityId::from(UserId::new(None));
//! // What a client sends to `GET /message` …
//! let request = RecvRequest { mailbox: me.clone(), timeout: Some(30.0), last_id: Some(7) };
//! let body = serde_json::to_vec(&request).unwrap();
//! // … and what the server reads from it.
//! let read: RecvRequest = wire::decode_request(&body).unwrap();
//! assert_eq!(read.mailbox, me);
//! assert_eq!(read.wait(60).unwrap(), std::time::Duration::from_secs(30));
//! # let _ = MailboxRequest { mailbox: me };
//! ```

mod body;
pub mod python;
pub mod sse;

pub use body::{
    AgentIds, CreateMailboxRequest, DiscoverAnswer, DiscoverRequest, HeartbeatAnswer,
    ListenRequest, MailboxRequest, MessageAnswer, RecvRequest, Request, SendRequest, ShareRequest,
    SharesAnswer, StatusAnswer, TimeoutOutOfRange, json_string,
};
pub use python::{BodyError, decode_request, encode_answer};

/// The discover rule (`GET /discover`): `query` is the most-derived name
/// of an MRO (most-derived first), or, when `allow_subclasses`, any name in
/// it. The wire form of an MRO is its names joined by [`MRO_SEPARATOR`].
///
/// ```
/// use academy_exchange::wire::{MRO_SEPARATOR, mro_matches};
/// let mro = "m.D,m.A,academy.agent.Agent";
/// assert!(mro_matches(mro.split(MRO_SEPARATOR), "m.D", false));
/// assert!(!mro_matches(mro.split(MRO_SEPARATOR), "m.A", false));
/// assert!(mro_matches(mro.split(MRO_SEPARATOR), "m.A", true));
/// assert!(!mro_matches(mro.split(MRO_SEPARATOR), "m.X", true));
/// ```
pub fn mro_matches<'a>(
    mro: impl IntoIterator<Item = &'a str>,
    query: &str,
    allow_subclasses: bool,
) -> bool {
    let mut names = mro.into_iter();
    if names.next() == Some(query) {
        return true;
    }
    allow_subclasses && names.any(|n| n == query)
}

/// Separates the names of an MRO in `POST /mailbox`'s `agent` field.
pub const MRO_SEPARATOR: char = ',';

/// One route of the hosted exchange: a method and a path.
///
/// ```
/// use academy_exchange::wire::route;
/// assert_eq!((route::SEND.method, route::SEND.path), ("PUT", "/message"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The HTTP method, upper case.
    pub method: &'static str,
    /// The path below the exchange's base URL, with a leading `/`.
    pub path: &'static str,
}

/// Every route, with the request body it reads and the answer it gives.
pub mod route {
    use super::Route;

    /// Path of the mailbox routes.
    pub const MAILBOX_PATH: &str = "/mailbox";
    /// Path of the sharing routes.
    pub const SHARE_PATH: &str = "/mailbox/share";
    /// Path of send and receive.
    pub const MESSAGE_PATH: &str = "/message";
    /// Path of the event stream.
    pub const LISTEN_PATH: &str = "/mailbox/listen";
    /// Path of discovery.
    pub const DISCOVER_PATH: &str = "/discover";
    /// Path of the heartbeat routes.
    pub const HEARTBEAT_PATH: &str = "/mailbox/heartbeat";
    /// Path of the statistics route.
    pub const STATS_PATH: &str = "/mailbox/stats";

    /// Register a mailbox: [`super::CreateMailboxRequest`] → 200 empty.
    pub const CREATE_MAILBOX: Route = Route {
        method: "POST",
        path: MAILBOX_PATH,
    };
    /// Mailbox status: [`super::MailboxRequest`] → [`super::StatusAnswer`].
    pub const CHECK_MAILBOX: Route = Route {
        method: "GET",
        path: MAILBOX_PATH,
    };
    /// Terminate a mailbox: [`super::MailboxRequest`] → 200 empty.
    pub const TERMINATE: Route = Route {
        method: "DELETE",
        path: MAILBOX_PATH,
    };
    /// Share with a group: [`super::ShareRequest`] → 200 empty.
    pub const SHARE: Route = Route {
        method: "POST",
        path: SHARE_PATH,
    };
    /// The groups of a mailbox: [`super::MailboxRequest`] → [`super::SharesAnswer`].
    pub const SHARES: Route = Route {
        method: "GET",
        path: SHARE_PATH,
    };
    /// Stop sharing with a group: [`super::ShareRequest`] → 200 empty.
    pub const UNSHARE: Route = Route {
        method: "DELETE",
        path: SHARE_PATH,
    };
    /// Send: [`super::SendRequest`] → 200 empty.
    pub const SEND: Route = Route {
        method: "PUT",
        path: MESSAGE_PATH,
    };
    /// Receive one message by long poll: [`super::RecvRequest`] →
    /// [`super::MessageAnswer`] (408 when none arrives in time).
    pub const RECV: Route = Route {
        method: "GET",
        path: MESSAGE_PATH,
    };
    /// The event stream: [`super::ListenRequest`] → `text/event-stream`
    /// ([`super::sse`]).
    pub const LISTEN: Route = Route {
        method: "GET",
        path: LISTEN_PATH,
    };
    /// Discovery: [`super::DiscoverRequest`] → [`super::DiscoverAnswer`].
    pub const DISCOVER: Route = Route {
        method: "GET",
        path: DISCOVER_PATH,
    };
    /// Read a heartbeat: [`super::MailboxRequest`] → [`super::HeartbeatAnswer`].
    pub const GET_HEARTBEAT: Route = Route {
        method: "GET",
        path: HEARTBEAT_PATH,
    };
    /// Record a heartbeat: [`super::MailboxRequest`] → 200 empty.
    pub const RECORD_HEARTBEAT: Route = Route {
        method: "POST",
        path: HEARTBEAT_PATH,
    };
    /// Request statistics: [`super::MailboxRequest`] → [`crate::AgentStats`].
    pub const STATS: Route = Route {
        method: "GET",
        path: STATS_PATH,
    };
}

/// Request and response headers of the contract (lower case; HTTP header
/// names are case-insensitive).
pub mod header {
    /// The client's academy-py version, sent on every request by 1.0.0
    /// clients (with an underscore; no server reads it).
    pub const ACADEMY_VERSION: &str = "academy_version";
    /// The opt-in to acknowledged delivery on `GET /mailbox/listen`.
    ///
    /// `Last-Event-ID` is honoured only with it: academy-py 1.0.0
    /// remembers the last `id:` it saw and, on a second `listen()` of the
    /// same transport, sends that stale value on every reconnection;
    /// acting on it would re-send the same messages again and again.
    pub const DELIVERY: &str = "academy-delivery";
    /// The value of [`DELIVERY`] that opts in.
    pub const DELIVERY_ACK: &str = "ack";
    /// The id of the last event a reconnecting listener processed.
    pub const LAST_EVENT_ID: &str = "last-event-id";

    /// Whether a [`DELIVERY`] header value opts in (case and surrounding
    /// white space ignored).
    ///
    /// ```
    /// assert!(academy_exchange::wire::header::is_ack(" ACK "));
    /// assert!(!academy_exchange::wire::header::is_ack("no"));
    /// ```
    pub fn is_ack(value: &str) -> bool {
        value.trim().eq_ignore_ascii_case(DELIVERY_ACK)
    }

    /// Reads a [`LAST_EVENT_ID`] value: empty is `None`, anything but a
    /// non-negative integer an error.
    ///
    /// ```
    /// use academy_exchange::wire::header::parse_last_event_id;
    /// assert_eq!(parse_last_event_id(" 12 "), Ok(Some(12)));
    /// assert_eq!(parse_last_event_id(""), Ok(None));
    /// assert!(parse_last_event_id("x").is_err());
    /// ```
    pub fn parse_last_event_id(value: &str) -> Result<Option<u64>, InvalidLastEventId> {
        let text = value.trim();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some).map_err(|_| InvalidLastEventId)
    }

    /// A `Last-Event-ID` that is not a non-negative integer.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
    #[error("Last-Event-ID must be an integer")]
    pub struct InvalidLastEventId;
}

/// Status codes and the texts that go with them (academy-py 1.0.0's
/// `StatusCode` and `exception_to_response`). Error answers are
/// `text/plain; charset=utf-8`.
pub mod status {
    /// Success: an empty body (mutations) or JSON (queries).
    pub const OK: u16 = 200;
    /// A missing or invalid field ([`invalid_field`]), a timeout out of
    /// range ([`invalid_timeout`]).
    pub const BAD_REQUEST: u16 = 400;
    /// No `Authorization: Bearer <token>` header ([`MISSING_HEADERS`]).
    pub const UNAUTHORIZED: u16 = 401;
    /// A rejected token ([`TOKEN_REJECTED`]) or missing permissions
    /// ([`INCORRECT_PERMISSIONS`]).
    pub const FORBIDDEN: u16 = 403;
    /// A mailbox never created ([`UNKNOWN_MAILBOX`]).
    pub const NOT_FOUND: u16 = 404;
    /// `GET /message`: no message within the timeout ([`REQUEST_TIMEOUT`]).
    pub const REQUEST_TIMEOUT: u16 = 408;
    /// A message over the size limit ([`too_large`]) or a request body
    /// over 1 MiB (framework text).
    pub const TOO_LARGE: u16 = 413;
    /// A terminated mailbox ([`MAILBOX_CLOSED`]); not a registered code.
    pub const TERMINATED: u16 = 419;

    /// Text of 401.
    pub const MISSING_HEADERS: &str = "Missing required headers.";
    /// Text of 403 from authentication.
    pub const TOKEN_REJECTED: &str = "Token expired or revoked.";
    /// Text of 403 from a permission check.
    pub const INCORRECT_PERMISSIONS: &str = "Incorrect permissions";
    /// Text of 404.
    pub const UNKNOWN_MAILBOX: &str = "Unknown mailbox ID";
    /// Text of 408.
    pub const REQUEST_TIMEOUT_TEXT: &str = "Request timeout";
    /// Text of 419.
    pub const MAILBOX_CLOSED: &str = "Mailbox was closed";

    /// Text of 400 for a field: `Missing or invalid field: <detail>`
    /// (`<detail>` is the quoted key for a missing one, e.g. `'mailbox'`).
    pub fn invalid_field(detail: &str) -> String {
        format!("Missing or invalid field: {detail}")
    }

    /// Text of 400 for a `timeout` outside `(0, max]`.
    pub fn invalid_timeout(max_s: u64) -> String {
        format!("Invalid timeout (must be less than {max_s} and greater than 0)")
    }

    /// Text of 413 from the message size check.
    ///
    /// ```
    /// use academy_exchange::wire::status::{parse_too_large, too_large};
    /// assert_eq!(too_large(614737, 524288), "Message of size 614737 larger than limit 524288.");
    /// assert_eq!(parse_too_large(&too_large(5, 4)), Some((5, 4)));
    /// ```
    pub fn too_large(size: usize, limit: usize) -> String {
        format!("Message of size {size} larger than limit {limit}.")
    }

    /// The sizes of a [`too_large`] text (academy-py's exception text,
    /// with `bytes is` in between, is read too); `None` for any other 413
    /// text, such as the framework's body limit.
    pub fn parse_too_large(text: &str) -> Option<(usize, usize)> {
        let rest = text.trim().strip_prefix("Message of size ")?;
        let (size, rest) = rest.split_once(' ')?;
        let limit = rest
            .trim_start_matches("bytes is ")
            .strip_prefix("larger than limit ")?
            .trim_end_matches('.');
        Some((size.parse().ok()?, limit.parse().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::status::parse_too_large;

    #[test]
    fn too_large_texts() {
        assert_eq!(
            parse_too_large("Message of size 614737 larger than limit 524288."),
            Some((614737, 524288))
        );
        assert_eq!(
            parse_too_large("Message of size 10 bytes is larger than limit 4."),
            Some((10, 4))
        );
        assert_eq!(
            parse_too_large("Maximum request body size 1048576 exceeded."),
            None
        );
        assert_eq!(
            parse_too_large("Message of size x larger than limit 4."),
            None
        );
    }
}
