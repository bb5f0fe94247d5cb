//! The framing of `GET /mailbox/listen`: a `text/event-stream` of one
//! event per message, `data: <message JSON>` (our server adds
//! `id: <delivery id>` first), and a `: ping` comment every 15 s
//! (aiohttp-sse's default). Lines end with `\r\n`; events with a blank line.
//! A message's JSON has no line breaks, so one `data:` line carries it.

use std::time::Duration;

/// The content type of the stream.
pub const CONTENT_TYPE: &str = "text/event-stream";

/// The keep-alive comment, a whole event.
pub const PING: &[u8] = b": ping\r\n\r\n";

/// How often the server writes [`PING`] while a stream is open.
pub const PING_INTERVAL: Duration = Duration::from_secs(15);

/// The field that carries the message's JSON.
pub const DATA_FIELD: &str = "data";

/// The field that carries the delivery id (acknowledged delivery).
pub const ID_FIELD: &str = "id";

/// One event: the delivery id and the message's JSON.
///
/// ```
/// assert_eq!(academy_exchange::wire::sse::event(3, "{}"), "id: 3\r\ndata: {}\r\n\r\n");
/// ```
pub fn event(id: u64, message_json: &str) -> String {
    format!("{ID_FIELD}: {id}\r\n{DATA_FIELD}: {message_json}\r\n\r\n")
}
