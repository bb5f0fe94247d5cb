//! Acknowledged delivery against a scripted loopback server: event ids,
//! `Last-Event-ID` on reconnection, `last_id` / `id` of long polls.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use academy_exchange::{Body, EntityId, Message, UserId};
use academy_globus_client::authorizer::StaticTokenAuthorizer;
use academy_globus_client::{
    AcademyGlobusClient, Error, ExchangeClientConfig, ReconnectPolicy, RetryPolicy,
};
use common::{Action, ScriptServer, bounded};
use futures::StreamExt as _;
use http::Method;
use serde_json::json;

fn client(server: &ScriptServer) -> AcademyGlobusClient {
    let config = ExchangeClientConfig::new(server.url())
        .with_authorizer(Arc::new(StaticTokenAuthorizer::new("xtok".into())));
    AcademyGlobusClient::new(config).unwrap()
}

fn ping(dest: &EntityId) -> Message {
    Message::request(
        UserId::new(None).into(),
        dest.clone(),
        Body::PingRequest,
        None,
    )
}

fn event(id: &str, m: &Message) -> String {
    format!("id: {id}\r\ndata: {}\r\n\r\n", m.to_json())
}

fn fast_policy() -> ReconnectPolicy {
    ReconnectPolicy {
        max_failures: 5,
        backoff: RetryPolicy {
            max_sleep: Duration::from_millis(20),
            ..RetryPolicy::default()
        },
    }
}

fn last_event_ids(server: &ScriptServer) -> Vec<Option<String>> {
    let seen = server.seen_at("mailbox/listen");
    // Every stream opts in to acknowledged delivery (the first one of a
    // session without a Last-Event-ID).
    for s in &seen {
        assert_eq!(s.header("academy-delivery").as_deref(), Some("ack"));
    }
    seen.iter().map(|s| s.header("last-event-id")).collect()
}

#[tokio::test]
async fn listen_from_sends_the_header_and_yields_ids() {
    let server = ScriptServer::start().await;
    let id: EntityId = UserId::new(None).into();
    let (m1, m2, m3) = (ping(&id), ping(&id), ping(&id));
    server.script(
        Method::GET,
        "mailbox/listen",
        vec![
            Action::Sse(vec![
                event("4", &m1),
                event("not-a-number", &m2),
                format!("data: {}\r\n\r\n", m3.to_json()),
            ]),
            Action::Sse(vec![]),
        ],
    );
    let c = client(&server);
    let items: Vec<_> = bounded(10, async {
        c.listen_from(&id, Some(5.0), Some(3))
            .await
            .unwrap()
            .collect::<Vec<_>>()
            .await
    })
    .await;
    let items: Vec<_> = items.into_iter().map(Result::unwrap).collect();
    // A non-integer id is ignored; the SSE id buffer persists per the
    // specification, so the event without `id:` keeps the non-integer one.
    assert_eq!(items, vec![(Some(4), m1), (None, m2), (None, m3.clone()),]);
    // `None`: no header, as `listen`.
    bounded(10, async {
        c.listen_from(&id, Some(5.0), None)
            .await
            .unwrap()
            .collect::<Vec<_>>()
            .await
    })
    .await;
    assert_eq!(last_event_ids(&server), vec![Some("3".into()), None]);
}

#[tokio::test]
async fn plain_listen_sends_no_header() {
    let server = ScriptServer::start().await;
    let id: EntityId = UserId::new(None).into();
    let m = ping(&id);
    server.script(
        Method::GET,
        "mailbox/listen",
        vec![Action::Sse(vec![event("1", &m)])],
    );
    let c = client(&server);
    let items: Vec<_> = bounded(10, async {
        c.listen(&id, None).await.unwrap().collect::<Vec<_>>().await
    })
    .await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].as_ref().unwrap(), &m);
    assert_eq!(last_event_ids(&server), vec![None]);
}

/// First connection: no header; then the last id received, through ended
/// streams, resets, errors and a stream cut mid-event.
#[tokio::test]
async fn reconnecting_listener_echoes_the_last_id() {
    let server = ScriptServer::start().await;
    let id: EntityId = UserId::new(None).into();
    let (m1, m2, m3) = (ping(&id), ping(&id), ping(&id));
    let cut = event("7", &m3);
    server.script(
        Method::GET,
        "mailbox/listen",
        vec![
            Action::Sse(vec![event("5", &m1), event("6", &m2)]),
            Action::Sse(vec![": ping\r\n\r\n".into()]),
            Action::Reset,
            Action::text(503, "busy"),
            // Cut after the first bytes of an event: never delivered.
            Action::Sse(vec![cut[..20].to_string()]),
            Action::Sse(vec![event("8", &m3)]),
            Action::text(419, "Mailbox was closed"),
        ],
    );
    let c = client(&server);
    let items: Vec<_> = bounded(
        20,
        c.listen_reconnecting(id, Some(1.0), fast_policy())
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(items.len(), 4, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), &m1);
    assert_eq!(items[1].as_ref().unwrap(), &m2);
    assert_eq!(items[2].as_ref().unwrap(), &m3);
    assert_eq!(items[3].as_ref().unwrap_err().http_status(), Some(419));
    let six = Some("6".to_string());
    assert_eq!(
        last_event_ids(&server),
        vec![
            None,
            six.clone(),
            six.clone(),
            six.clone(),
            six.clone(),
            six,
            Some("8".into())
        ]
    );
}

/// Before any event, a reconnection says `0` ("nothing received"); the
/// `_from` variant starts from the given id and yields ids.
#[tokio::test]
async fn reconnecting_without_events_sends_zero_and_from_starts_at_given_id() {
    let server = ScriptServer::start().await;
    let id: EntityId = UserId::new(None).into();
    let m = ping(&id);
    server.script(
        Method::GET,
        "mailbox/listen",
        vec![
            Action::Sse(vec![": ping\r\n\r\n".into()]),
            Action::text(419, "Mailbox was closed"),
            Action::Sse(vec![event("12", &m), "data: not json\r\n\r\n".into()]),
            Action::text(419, "Mailbox was closed"),
        ],
    );
    let c = client(&server);
    let items: Vec<_> = bounded(
        20,
        c.listen_reconnecting(id.clone(), Some(1.0), fast_policy())
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(items.len(), 1);
    let items: Vec<_> = bounded(
        20,
        c.listen_reconnecting_from(id, Some(1.0), fast_policy(), Some(11))
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), &(Some(12), m));
    assert!(matches!(items[1], Err(Error::InvalidResponse(_))));
    assert_eq!(items[2].as_ref().unwrap_err().http_status(), Some(419));
    assert_eq!(
        last_event_ids(&server),
        vec![None, Some("0".into()), Some("11".into()), Some("12".into())]
    );
}

#[tokio::test]
async fn recv_from_sends_last_id_and_returns_the_id() {
    let server = ScriptServer::start().await;
    let id: EntityId = UserId::new(None).into();
    let (m1, m2) = (ping(&id), ping(&id));
    server.script(
        Method::GET,
        "message",
        vec![
            Action::json(200, json!({"message": m1.to_json(), "id": 4})),
            // academy-py's server: no id.
            Action::json(200, json!({"message": m2.to_json()})),
            Action::json(200, json!({"message": m2.to_json(), "id": 5})),
        ],
    );
    let c = client(&server);
    let got = bounded(10, c.recv_from(&id, Some(2.0), Some(3)))
        .await
        .unwrap();
    assert_eq!(got, (Some(4), m1));
    let got = bounded(10, c.recv_from(&id, None, None)).await.unwrap();
    assert_eq!(got, (None, m2.clone()));
    let got = bounded(10, c.recv(&id, None)).await.unwrap();
    assert_eq!(got, m2);
    let bodies: Vec<_> = server.seen_at("message").iter().map(|s| s.json()).collect();
    assert_eq!(
        bodies,
        vec![
            json!({"mailbox": id.to_json(), "timeout": 2.0, "last_id": 3}),
            json!({"mailbox": id.to_json()}),
            json!({"mailbox": id.to_json()}),
        ]
    );
}
