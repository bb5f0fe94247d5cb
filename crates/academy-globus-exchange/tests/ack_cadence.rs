//! A listener whose stream never goes idle still acknowledges what it
//! received (it reopens its stream per `AckCadence`), so the server's
//! in-flight list of a busy mailbox stays short instead of growing to its
//! bound.
#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns: a panic is a failed assertion.

mod common;

use std::collections::HashSet;

use academy_exchange::{AgentType, Body, EntityId, ExchangeTransport, Message};
use academy_globus_client::exchange_client::AckCadence;
use academy_globus_client::{AcademyGlobusClient, ExchangeClientConfig};
use common::*;
use futures::StreamExt;

const MESSAGES: u32 = 700;

/// How many messages the server still holds in flight for `id`: a new
/// session that acknowledges nothing (`Last-Event-ID: 0`) gets exactly
/// those re-sent first. Counted until the stream has nothing more to give.
async fn in_flight(server: &academy_exchange_server::ServerHandle, id: &EntityId) -> usize {
    let client = AcademyGlobusClient::new(ExchangeClientConfig::new(
        server.base_url().parse().unwrap(),
    ))
    .unwrap();
    let mut stream = client.listen_from(id, Some(0.5), Some(0)).await.unwrap();
    let mut n = 0;
    while let Some(item) = stream.next().await {
        item.unwrap();
        n += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_listener_keeps_its_in_flight_list_short() {
    bounded(60, async {
        let server = null_server(None).await;
        let factory = http_factory(&server);
        let user = factory.transport(None, Some("sender")).await.unwrap();
        let reg = user
            .register_agent(&AgentType::new("tests.Sink"), None)
            .await
            .unwrap();
        let agent_id = EntityId::from(reg.agent_id().clone());
        let agent = factory
            .transport(Some(agent_id.clone()), None)
            .await
            .unwrap();

        // Everything is queued first, so the stream is never idle.
        let mut tags = HashSet::new();
        for _ in 0..MESSAGES {
            let m = Message::request(
                user.mailbox_id().clone(),
                agent_id.clone(),
                Body::PingRequest,
                None,
            );
            tags.insert(m.tag());
            user.send(&m).await.unwrap();
        }
        let mut stream = agent.listen(None);
        for _ in 0..MESSAGES {
            let m = stream.next().await.unwrap().unwrap();
            // Reopening never delivers a message twice.
            assert!(tags.remove(&m.tag()), "duplicate or unknown {}", m.tag());
        }
        drop(stream);

        // Acknowledged in steps of the cadence: what is left in flight is
        // less than one step (without the cadence: all 700).
        let left = in_flight(&server, &agent_id).await;
        let step = AckCadence::default().messages as usize;
        assert!(step < MESSAGES as usize / 2);
        assert!(left < step, "{left} messages still in flight");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconnecting_client_stream_acknowledges_as_it_goes() {
    bounded(60, async {
        let server = null_server(None).await;
        let client = AcademyGlobusClient::new(ExchangeClientConfig::new(
            server.base_url().parse().unwrap(),
        ))
        .unwrap();
        let me: EntityId = academy_exchange::UserId::new(None).into();
        client.register_client(&me).await.unwrap();
        let mut tags = HashSet::new();
        for _ in 0..MESSAGES {
            let m = Message::request(me.clone(), me.clone(), Body::PingRequest, None);
            tags.insert(m.tag());
            client.send(&m).await.unwrap();
        }
        let mut stream = client.listen_reconnecting(me.clone(), None, Default::default());
        for _ in 0..MESSAGES {
            let m = stream.next().await.unwrap().unwrap();
            assert!(tags.remove(&m.tag()), "duplicate or unknown {}", m.tag());
        }
        drop(stream);
        let left = in_flight(&server, &me).await;
        let step = AckCadence::default().messages as usize;
        assert!(step < MESSAGES as usize / 2);
        assert!(left < step, "{left} in flight");
    })
    .await;
}
