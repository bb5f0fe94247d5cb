//! The clients alone, over a mocked transport.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::channel::mpsc as fmpsc;
use mockall::mock;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::*;
use crate::identifier::{AgentId, UserId};
use crate::status::AgentStats;
use crate::transport::{AgentRegistration, AgentType, MessageStream};

/// The transport contract with an owned `name` in `register_agent`
/// (mockall cannot mock `Option<&str>` through async-trait).
#[async_trait]
pub trait TestTransport: Send + Sync {
    fn mailbox_id(&self) -> &EntityId;
    async fn close(&self) -> Result<(), ExchangeError>;
    async fn discover(
        &self,
        agent: &str,
        allow_subclasses: bool,
    ) -> Result<Vec<AgentId>, ExchangeError>;
    fn listen(&self, timeout: Option<Duration>) -> MessageStream;
    async fn recv(&self, timeout: Option<Duration>) -> Result<Message, ExchangeError>;
    async fn register_agent(
        &self,
        agent: &AgentType,
        name: Option<String>,
    ) -> Result<Box<dyn AgentRegistration>, ExchangeError>;
    async fn send(&self, message: &Message) -> Result<(), ExchangeError>;
    async fn terminate(&self, uid: &EntityId) -> Result<(), ExchangeError>;
    async fn heartbeat_status(&self, uid: &EntityId) -> Result<Option<f64>, ExchangeError>;
    async fn update_heartbeat(&self) -> Result<(), ExchangeError>;
    async fn agent_stats(&self, uid: &EntityId) -> Result<AgentStats, ExchangeError>;
}

mock! {
    pub Transport {}
    #[async_trait]
    impl TestTransport for Transport {
        fn mailbox_id(&self) -> &EntityId;
        async fn close(&self) -> Result<(), ExchangeError>;
        async fn discover(&self, agent: &str, allow_subclasses: bool) -> Result<Vec<AgentId>, ExchangeError>;
        fn listen(&self, timeout: Option<Duration>) -> MessageStream;
        async fn recv(&self, timeout: Option<Duration>) -> Result<Message, ExchangeError>;
        async fn register_agent(&self, agent: &AgentType, name: Option<String>) -> Result<Box<dyn AgentRegistration>, ExchangeError>;
        async fn send(&self, message: &Message) -> Result<(), ExchangeError>;
        async fn terminate(&self, uid: &EntityId) -> Result<(), ExchangeError>;
        async fn heartbeat_status(&self, uid: &EntityId) -> Result<Option<f64>, ExchangeError>;
        async fn update_heartbeat(&self) -> Result<(), ExchangeError>;
        async fn agent_stats(&self, uid: &EntityId) -> Result<AgentStats, ExchangeError>;
    }
}

/// Adapts the mock to [`ExchangeTransport`].
struct Mocked(MockTransport);

impl std::fmt::Debug for Mocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mocked")
    }
}

#[async_trait]
impl ExchangeTransport for Mocked {
    fn mailbox_id(&self) -> &EntityId {
        self.0.mailbox_id()
    }
    async fn close(&self) -> Result<(), ExchangeError> {
        self.0.close().await
    }
    async fn discover(
        &self,
        agent: &str,
        allow_subclasses: bool,
    ) -> Result<Vec<AgentId>, ExchangeError> {
        self.0.discover(agent, allow_subclasses).await
    }
    fn listen(&self, timeout: Option<Duration>) -> MessageStream {
        self.0.listen(timeout)
    }
    async fn recv(&self, timeout: Option<Duration>) -> Result<Message, ExchangeError> {
        self.0.recv(timeout).await
    }
    async fn register_agent(
        &self,
        agent: &AgentType,
        name: Option<&str>,
    ) -> Result<Box<dyn AgentRegistration>, ExchangeError> {
        self.0.register_agent(agent, name.map(str::to_string)).await
    }
    async fn send(&self, message: &Message) -> Result<(), ExchangeError> {
        self.0.send(message).await
    }
    async fn terminate(&self, uid: &EntityId) -> Result<(), ExchangeError> {
        self.0.terminate(uid).await
    }
    async fn heartbeat_status(&self, uid: &EntityId) -> Result<Option<f64>, ExchangeError> {
        self.0.heartbeat_status(uid).await
    }
    async fn update_heartbeat(&self) -> Result<(), ExchangeError> {
        self.0.update_heartbeat().await
    }
    async fn agent_stats(&self, uid: &EntityId) -> Result<AgentStats, ExchangeError> {
        self.0.agent_stats(uid).await
    }
}

fn arc(m: MockTransport) -> Arc<dyn ExchangeTransport> {
    Arc::new(Mocked(m))
}

const T: Duration = Duration::from_secs(10);

type Inbox = fmpsc::UnboundedSender<Result<Message, ExchangeError>>;

/// A mock bound to a new user, whose `listen` yields what the test pushes
/// into the returned sender and whose `send` reports to the returned receiver.
fn user_mock() -> (
    MockTransport,
    UserId,
    Inbox,
    mpsc::UnboundedReceiver<Message>,
) {
    let user = UserId::new(Some("u".into()));
    let mut m = MockTransport::new();
    m.expect_mailbox_id()
        .return_const(EntityId::from(user.clone()));
    let (in_tx, in_rx) = fmpsc::unbounded();
    m.expect_listen().return_once(move |_| Box::pin(in_rx));
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    m.expect_send().returning(move |msg| {
        let _ = out_tx.send(msg.clone());
        Ok(())
    });
    m.expect_update_heartbeat().returning(|| Ok(()));
    (m, user, in_tx, out_rx)
}

#[tokio::test]
async fn unknown_tags_and_labels_do_not_stop_the_listener() {
    let (mut m, _user, inbox, mut sent) = user_mock();
    m.expect_terminate().returning(|_| Ok(()));
    m.expect_close().returning(|| Ok(()));
    let client = UserExchangeClient::new(arc(m), ExchangeClientConfig::default(), true).unwrap();
    let agent: EntityId = AgentId::new(None).into();
    let c2 = client.clone();
    let dest = agent.clone();
    let call = tokio::spawn(async move { c2.request(&dest, Body::PingRequest).await });
    let request = tokio::time::timeout(T, sent.recv()).await.unwrap().unwrap();
    // Garbage first: an unknown label, an unknown tag, an undecodable body.
    let stray_label = Message::create(
        agent.clone(),
        client.client_id().clone(),
        Body::SuccessResponse,
        Some(Uuid::new_v4()),
        request.tag(),
    );
    let stray_tag = Message::create(
        agent.clone(),
        client.client_id().clone(),
        Body::SuccessResponse,
        None,
        Uuid::new_v4(),
    );
    let mut junk = request.create_response(Body::SuccessResponse).unwrap();
    junk.header.tag = Uuid::new_v4();
    let junk = Message::with_raw_body(junk.header, serde_json::json!({"what": 1}));
    for m in [stray_label, stray_tag, junk] {
        inbox.unbounded_send(Ok(m)).unwrap();
    }
    inbox
        .unbounded_send(Ok(request.create_response(Body::SuccessResponse).unwrap()))
        .unwrap();
    let answer = tokio::time::timeout(T, call)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(answer.tag(), request.tag());
    tokio::time::timeout(T, client.close())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn requests_to_a_user_get_code_4_and_incompatible_ones_code_5() {
    let (mut m, user, inbox, mut sent) = user_mock();
    m.expect_terminate().returning(|_| Ok(()));
    m.expect_close().returning(|| Ok(()));
    let client = UserExchangeClient::new(arc(m), ExchangeClientConfig::default(), true).unwrap();
    let other: EntityId = AgentId::new(None).into();
    let ping = Message::request(other.clone(), user.clone().into(), Body::PingRequest, None);
    let mut old = Message::request(other.clone(), user.clone().into(), Body::PingRequest, None);
    old.header.protocol_version = Some("not a version".into());
    inbox.unbounded_send(Ok(ping.clone())).unwrap();
    inbox.unbounded_send(Ok(old.clone())).unwrap();
    for (request, code) in [
        (ping, ErrorCode::InvalidClient),
        (old, ErrorCode::IncompatibleProtocol),
    ] {
        let reply = tokio::time::timeout(T, sent.recv()).await.unwrap().unwrap();
        assert_eq!(reply.tag(), request.tag());
        assert_eq!(reply.dest(), &other);
        assert_eq!(
            reply.body().unwrap(),
            Body::AcademyErrorResponse {
                error_code: code,
                mailbox_id: Some(user.clone().into())
            }
        );
    }
    tokio::time::timeout(T, client.close())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn close_fails_pending_terminates_once_and_is_idempotent() {
    let (mut m, user, _inbox, mut sent) = user_mock();
    let uid: EntityId = user.into();
    let expected = uid.clone();
    m.expect_terminate()
        .withf(move |id| *id == expected)
        .times(1)
        .returning(|_| Ok(()));
    m.expect_close().times(1).returning(|| Ok(()));
    let client = UserExchangeClient::new(arc(m), ExchangeClientConfig::default(), true).unwrap();
    let handle = client.get_handle(AgentId::new(None));
    let h = handle.clone();
    let call = tokio::spawn(async move { h.action("slow", vec![], Default::default()).await });
    tokio::time::timeout(T, sent.recv()).await.unwrap().unwrap();
    let (a, b) = tokio::join!(client.close(), client.close());
    a.unwrap();
    b.unwrap();
    client.close().await.unwrap();
    assert!(matches!(
        tokio::time::timeout(T, call).await.unwrap().unwrap(),
        Err(ExchangeError::Closed)
    ));
    assert!(matches!(handle.ping().await, Err(ExchangeError::Closed)));
}

#[tokio::test]
async fn a_failing_listener_fails_pending_calls_with_its_error() {
    let (mut m, _user, inbox, mut sent) = user_mock();
    m.expect_terminate().returning(|_| Ok(()));
    m.expect_close().returning(|| Ok(()));
    let client = UserExchangeClient::new(arc(m), ExchangeClientConfig::default(), true).unwrap();
    let c2 = client.clone();
    let call = tokio::spawn(async move {
        c2.request(&AgentId::new(None).into(), Body::PingRequest)
            .await
    });
    tokio::time::timeout(T, sent.recv()).await.unwrap().unwrap();
    inbox
        .unbounded_send(Err(ExchangeError::transport_msg("connection reset")))
        .unwrap();
    match tokio::time::timeout(T, call).await.unwrap().unwrap() {
        Err(ExchangeError::Transport { message, .. }) => {
            assert!(message.contains("connection reset"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    client.close().await.unwrap();
}

#[tokio::test]
async fn dropping_an_action_sends_a_cancel_request() {
    let (mut m, _user, _inbox, mut sent) = user_mock();
    m.expect_terminate().returning(|_| Ok(()));
    m.expect_close().returning(|| Ok(()));
    let client = UserExchangeClient::new(arc(m), ExchangeClientConfig::default(), true).unwrap();
    let handle = client.get_handle(AgentId::new(None));
    let h = handle.clone();
    let call = tokio::spawn(async move { h.action("slow", vec![], Default::default()).await });
    let request = tokio::time::timeout(T, sent.recv()).await.unwrap().unwrap();
    call.abort();
    let cancel = tokio::time::timeout(T, sent.recv()).await.unwrap().unwrap();
    assert_eq!(
        cancel.body().unwrap(),
        Body::CancelRequest {
            target_tag: request.tag()
        }
    );
    assert_eq!(cancel.label(), Some(handle.label()));
    assert_ne!(cancel.tag(), request.tag());
    client.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn heartbeat_survives_transient_errors_and_stops_on_termination() {
    let (beats_tx, mut beats) = mpsc::unbounded_channel();
    let mut m = MockTransport::new();
    m.expect_mailbox_id()
        .return_const(EntityId::from(UserId::new(None)));
    let mut n = 0;
    m.expect_update_heartbeat().returning(move || {
        n += 1;
        let _ = beats_tx.send(n);
        match n {
            1 | 2 => Err(ExchangeError::transport_msg("503")),
            3 => Ok(()),
            _ => Err(ExchangeError::MailboxTerminated(UserId::new(None).into())),
        }
    });
    m.expect_terminate().returning(|_| Ok(()));
    m.expect_close().returning(|| Ok(()));
    let client = UserExchangeClient::new(arc(m), ExchangeClientConfig::default(), false).unwrap();
    for want in 1..=4 {
        let got = tokio::time::timeout(Duration::from_secs(120), beats.recv())
            .await
            .unwrap();
        assert_eq!(got, Some(want));
    }
    // After MailboxTerminated the loop is over: nothing within an hour.
    assert!(
        tokio::time::timeout(Duration::from_secs(3600), beats.recv())
            .await
            .is_err()
    );
    client.close().await.unwrap();
}

struct Echo;

#[async_trait]
impl RequestHandler for Echo {
    async fn action(&self, call: ActionInvocation) -> Result<serde_json::Value, ActionError> {
        match call.name.as_str() {
            "echo" => Ok(call.args.into_iter().next().unwrap_or_default()),
            other => Err(ActionError::UnknownAction(other.into())),
        }
    }
}

fn agent_mock() -> (
    MockTransport,
    AgentId,
    Inbox,
    mpsc::UnboundedReceiver<Message>,
) {
    let agent = AgentId::new(Some("echo".into()));
    let mut m = MockTransport::new();
    m.expect_mailbox_id()
        .return_const(EntityId::from(agent.clone()));
    let (in_tx, in_rx) = fmpsc::unbounded();
    m.expect_listen().return_once(move |_| Box::pin(in_rx));
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    m.expect_send().returning(move |msg| {
        let _ = out_tx.send(msg.clone());
        Ok(())
    });
    m.expect_update_heartbeat().returning(|| Ok(()));
    m.expect_close().returning(|| Ok(()));
    (m, agent, in_tx, out_rx)
}

#[tokio::test]
async fn agent_listener_error_stops_the_agent_and_terminates_by_default() {
    let (mut m, agent, inbox, _sent) = agent_mock();
    let me = EntityId::from(agent);
    m.expect_terminate()
        .withf(move |id| *id == me)
        .times(1)
        .returning(|_| Ok(()));
    let client =
        AgentExchangeClient::new(arc(m), ExchangeClientConfig::default(), Arc::new(Echo)).unwrap();
    inbox
        .unbounded_send(Err(ExchangeError::transport_msg("stream broke")))
        .unwrap();
    match tokio::time::timeout(T, client.wait_stopped())
        .await
        .unwrap()
    {
        AgentStopReason::ListenerError(text) => assert!(text.contains("stream broke"), "{text}"),
        other => panic!("{other:?}"),
    }
    client.close().await.unwrap();
}

#[tokio::test]
async fn agent_answers_bad_requests_with_user_errors() {
    let (mut m, agent, inbox, mut sent) = agent_mock();
    m.expect_terminate().times(0);
    let client =
        AgentExchangeClient::new(arc(m), ExchangeClientConfig::default(), Arc::new(Echo)).unwrap();
    let user: EntityId = UserId::new(None).into();
    let to = EntityId::from(agent.clone());
    let mut pickle_result = crate::message::ActionRequest::json(
        "echo",
        &[serde_json::json!(1)],
        &serde_json::Value::Null,
    );
    pickle_result.result_serialization = Some(crate::message::SerializationStrategy::Pickle);
    let mut bad_args = crate::message::ActionRequest::json("echo", &[], &serde_json::Value::Null);
    bad_args.pargs = serde_json::Value::String("[1,".into());
    let cases = [
        (
            Message::request(
                user.clone(),
                to.clone(),
                Body::ActionRequest(crate::message::ActionRequest::json(
                    "nope",
                    &[],
                    &serde_json::Value::Null,
                )),
                None,
            ),
            format!("AttributeError: {agent} does not have an action named \"nope\"."),
        ),
        (
            Message::request(
                user.clone(),
                to.clone(),
                Body::ActionRequest(pickle_result),
                None,
            ),
            "SerializationError".to_string(),
        ),
        (
            Message::request(
                user.clone(),
                to.clone(),
                Body::ActionRequest(bad_args),
                None,
            ),
            "TypeError".to_string(),
        ),
        (
            Message::with_raw_body(
                Message::request(user.clone(), to.clone(), Body::PingRequest, None).header,
                serde_json::json!({"kind": "bogus"}),
            ),
            "ValueError".to_string(),
        ),
    ];
    for (request, want) in cases {
        inbox.unbounded_send(Ok(request.clone())).unwrap();
        let reply = tokio::time::timeout(T, sent.recv()).await.unwrap().unwrap();
        assert_eq!(reply.tag(), request.tag());
        match response_result(&reply) {
            Err(ExchangeError::RemoteAction(text)) => {
                assert!(text.starts_with(&want), "{text} !~ {want}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        client.stop_reason(),
        None,
        "bad requests must not stop the agent"
    );
    client.close().await.unwrap();
    assert_eq!(client.wait_stopped().await, AgentStopReason::Closed);
}
