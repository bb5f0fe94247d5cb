//! Server-sent events of `GET /mailbox/listen` (`exchange-http-api.md`
//! §6.9, `globus-exchange-client.md` §7.2): a line decoder and the stream
//! of messages of one connection.
//!
//! Our exchange server numbers its events (`id: <integer>`, per mailbox);
//! a client echoes the last number it processed as `Last-Event-ID` when it
//! reconnects, and the server re-sends what came later (acknowledged
//! delivery, see `academy-exchange-server`'s routes). [`Event::seq`] reads
//! that number; ids that are not integers are ignored.

use std::collections::VecDeque;
use std::pin::Pin;

use bytes::Bytes;
use futures::Stream;
use http_body_util::BodyExt as _;

use academy_exchange::Message;

use crate::error::{Error, Result};
use crate::http::ResponseBody;

/// Longest line accepted (the exchange's messages are at most 512 KiB;
/// the bound keeps a misbehaving server from exhausting memory).
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// Prefix of the errors after which the stream cannot be decoded further
/// (as opposed to one event that is not a valid message).
pub(crate) const BROKEN_STREAM: &str = "event-stream";

/// One decoded event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// `data` lines joined with `\n`.
    pub data: String,
    /// Last `id` field, if any.
    pub id: Option<String>,
    /// `retry` field (milliseconds), if any.
    pub retry_ms: Option<u64>,
}

impl Event {
    /// The event id as the exchange's sequence number: `None` without an
    /// id or when it is not a non-negative integer.
    ///
    /// ```
    /// use academy_globus_client::sse::SseDecoder;
    /// let mut d = SseDecoder::default();
    /// let e = d.push(b"id: 42\r\ndata: {}\r\n\r\nid: x\r\ndata: {}\r\n\r\n").unwrap();
    /// assert_eq!(e[0].seq(), Some(42));
    /// assert_eq!(e[1].seq(), None);
    /// ```
    pub fn seq(&self) -> Option<u64> {
        self.id.as_deref().and_then(|i| i.trim().parse().ok())
    }
}

/// Incremental SSE decoder: feed bytes, take complete events.
///
/// ```
/// use academy_globus_client::sse::SseDecoder;
/// let mut d = SseDecoder::default();
/// let events = d.push(b": ping\r\n\r\ndata: {\"a\": 1}\r\n\r\ndata: x").unwrap();
/// assert_eq!(events.len(), 1);
/// assert_eq!(events[0].data, "{\"a\": 1}");
/// ```
#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    data: Vec<String>,
    id: Option<String>,
    retry_ms: Option<u64>,
}

impl SseDecoder {
    /// Feeds bytes; returns the events completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        let mut rest = bytes;
        // Whole lines are handled straight from `bytes`; only a line split
        // across chunks is copied (a 500 KiB event is one line).
        while let Some(i) = memchr::memchr(b'\n', rest) {
            let head = &rest[..i];
            rest = &rest[i + 1..];
            let event = if self.line.is_empty() {
                check_line_len(head.len())?;
                self.line_done(strip_cr(head))?
            } else {
                check_line_len(self.line.len() + head.len())?;
                self.line.extend_from_slice(head);
                let mut line = std::mem::take(&mut self.line);
                let event = self.line_done(strip_cr(&line));
                line.clear();
                self.line = line;
                event?
            };
            if let Some(event) = event {
                events.push(event);
            }
        }
        if !rest.is_empty() {
            check_line_len(self.line.len() + rest.len())?;
            self.line.extend_from_slice(rest);
        }
        Ok(events)
    }

    fn line_done(&mut self, line: &[u8]) -> Result<Option<Event>> {
        if line.is_empty() {
            if self.data.is_empty() {
                return Ok(None);
            }
            let data = if self.data.len() == 1 {
                self.data.pop().unwrap_or_default()
            } else {
                std::mem::take(&mut self.data).join("\n")
            };
            return Ok(Some(Event {
                data,
                id: self.id.clone(),
                retry_ms: self.retry_ms,
            }));
        }
        if line[0] == b':' {
            return Ok(None);
        }
        let text = std::str::from_utf8(line)
            .map_err(|_| Error::InvalidResponse(format!("{BROKEN_STREAM} line is not UTF-8")))?;
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (text, ""),
        };
        match field {
            "data" => self.data.push(value.to_string()),
            "id" => self.id = Some(value.to_string()),
            "retry" => self.retry_ms = value.trim().parse().ok(),
            other => tracing::debug!(field = other, "ignoring unknown event-stream field"),
        }
        Ok(None)
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn check_line_len(len: usize) -> Result<()> {
    if len > MAX_LINE_BYTES {
        return Err(Error::InvalidResponse(format!(
            "{BROKEN_STREAM} line longer than {MAX_LINE_BYTES} bytes"
        )));
    }
    Ok(())
}

/// A boxed stream of messages.
pub type MessageStream = Pin<Box<dyn Stream<Item = Result<Message>> + Send>>;

/// A boxed stream of messages with their event ids ([`Event::seq`]).
pub type IdMessageStream = Pin<Box<dyn Stream<Item = Result<(Option<u64>, Message)>> + Send>>;

/// One decoded event of a stream: its id, and its message or why its data
/// is not one.
pub(crate) type IdEvent = (Option<u64>, Result<Message>);

/// Events with ids and parse outcomes; `Err` items are read or decoding
/// errors that end the stream.
pub(crate) type EventStream = Pin<Box<dyn Stream<Item = Result<IdEvent>> + Send>>;

/// Turns one `text/event-stream` body into messages. A `data` that is not
/// a valid message yields an `InvalidResponse` item and the stream goes
/// on; a read error yields a `Transport` item and ends it.
pub fn message_stream(body: ResponseBody) -> MessageStream {
    use futures::StreamExt as _;
    Box::pin(event_stream(body).map(|item| item.and_then(|(_, message)| message)))
}

/// As [`message_stream`], with each message's event id.
pub fn message_stream_with_ids(body: ResponseBody) -> IdMessageStream {
    use futures::StreamExt as _;
    Box::pin(
        event_stream(body).map(|item| item.and_then(|(seq, message)| message.map(|m| (seq, m)))),
    )
}

pub(crate) fn event_stream(body: ResponseBody) -> EventStream {
    struct State {
        body: ResponseBody,
        decoder: SseDecoder,
        ready: VecDeque<Result<IdEvent>>,
        done: bool,
    }
    let state = State {
        body,
        decoder: SseDecoder::default(),
        ready: VecDeque::new(),
        done: false,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.ready.pop_front() {
                return Some((item, st));
            }
            if st.done {
                return None;
            }
            match st.body.frame().await {
                None => st.done = true,
                Some(Err(e)) => {
                    st.done = true;
                    st.ready.push_back(Err(e));
                }
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    push_bytes(&mut st.decoder, &mut st.ready, &mut st.done, data);
                }
            }
        }
    }))
}

fn push_bytes(
    decoder: &mut SseDecoder,
    ready: &mut VecDeque<Result<IdEvent>>,
    done: &mut bool,
    data: Bytes,
) {
    match decoder.push(&data) {
        Ok(events) => {
            for event in events {
                let message = Message::from_json(&event.data)
                    .map_err(|e| Error::InvalidResponse(format!("event is not a message: {e}")));
                ready.push_back(Ok((event.seq(), message)));
            }
        }
        Err(e) => {
            *done = true;
            ready.push_back(Err(e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_split_chunks_crlf_comments_and_multiline() {
        let mut d = SseDecoder::default();
        assert!(d.push(b"da").unwrap().is_empty());
        assert!(d.push(b"ta: one\r").unwrap().is_empty());
        let e = d.push(b"\n\r\n").unwrap();
        assert_eq!(e[0].data, "one");
        let e = d
            .push(b": ping\n\nid: 7\nretry: 1500\ndata:a\ndata: b\n\n\n")
            .unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].data, "a\nb");
        assert_eq!(e[0].id.as_deref(), Some("7"));
        assert_eq!(e[0].retry_ms, Some(1500));
    }

    #[test]
    fn integer_ids_are_sequence_numbers_others_ignored() {
        let mut d = SseDecoder::default();
        let e = d
            .push(b"id: 1\r\ndata: a\r\n\r\nid:2\r\ndata: b\r\n\r\nid: -3\r\ndata: c\r\n\r\n")
            .unwrap();
        let seqs: Vec<_> = e.iter().map(Event::seq).collect();
        assert_eq!(seqs, vec![Some(1), Some(2), None]);
        let e = d
            .push(b"id: abc\r\ndata: d\r\n\r\nid: 18446744073709551616\r\ndata: e\r\n\r\n")
            .unwrap();
        assert_eq!(e[0].seq(), None);
        assert_eq!(e[1].seq(), None);
        // No id on the wire: none, even before any event had one.
        let mut fresh = SseDecoder::default();
        assert_eq!(fresh.push(b"data: f\n\n").unwrap()[0].seq(), None);
    }

    #[test]
    fn overlong_line_is_an_error() {
        let mut d = SseDecoder::default();
        let big = vec![b'x'; MAX_LINE_BYTES + 1];
        assert!(d.push(&big).is_err());
        // Also when the line arrives in pieces, and when it is terminated.
        let mut d = SseDecoder::default();
        assert!(d.push(&big[..MAX_LINE_BYTES]).unwrap().is_empty());
        assert!(d.push(b"yz\n").is_err());
        let mut d = SseDecoder::default();
        let mut line = big.clone();
        line.push(b'\n');
        assert!(d.push(&line).is_err());
    }

    #[test]
    fn every_split_point_decodes_the_same() {
        let stream: &[u8] =
            b": ping\r\n\r\nid: 3\r\ndata: {\"a\": 1}\r\n\r\ndata: x\ndata: y\n\nid: 4\ndata: z\n\n";
        let whole = SseDecoder::default().push(stream).unwrap();
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[1].data, "x\ny");
        for cut in 0..stream.len() {
            let mut d = SseDecoder::default();
            let mut events = d.push(&stream[..cut]).unwrap();
            events.extend(d.push(&stream[cut..]).unwrap());
            assert_eq!(events, whole, "split at {cut}");
        }
    }
}
