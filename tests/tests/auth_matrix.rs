//! The auth matrix: every route × every kind of caller, against our server
//! with Globus authentication and the Globus Auth emulator (real
//! introspection, dependent tokens and Groups calls over loopback).
//!
//! Callers: no token, malformed header, unknown token, expired token,
//! revoked token, the owner, an active member of a group the mailbox is
//! shared with, another user (only *invited* to that group), and a user
//! with no groups after the owner tried to share through the empty group
//! id `""` (Python grants that; our server refuses it, see the server's
//! crate docs). Each cell uses a fresh mailbox, so a `DELETE` in one cell
//! cannot change another.

#![allow(clippy::unwrap_used)] // Test code: a panic is a failed assertion.

use academy_e2e::bounded;
use academy_e2e::http::{Answer, HttpClient, call, client};
use academy_exchange::message::Body;
use academy_exchange::{AgentId, EntityId, Message, UserId};
use academy_exchange_server::{AuthConfig, GlobusAuthKwargs, ServerConfig, ServerHandle, serve};
use academy_globus_emulator::model::{Membership, User};
use academy_globus_emulator::{EmulatorConfig, EmulatorHandle, defaults as d};
use serde_json::{Value, json};
use uuid::Uuid;

const CAROL_USERNAME: &str = "carol@example.org";
const MRO: &str = "e2e.Matrix,academy.agent.Agent";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoToken,
    Malformed,
    UnknownToken,
    Expired,
    Revoked,
    Owner,
    GroupMember,
    OtherUser,
    EmptyGroup,
}

const CALLERS: [Caller; 9] = [
    Caller::NoToken,
    Caller::Malformed,
    Caller::UnknownToken,
    Caller::Expired,
    Caller::Revoked,
    Caller::Owner,
    Caller::GroupMember,
    Caller::OtherUser,
    Caller::EmptyGroup,
];

const ROUTES: [(&str, &str); 13] = [
    ("POST", "/mailbox"),
    ("GET", "/mailbox"),
    ("DELETE", "/mailbox"),
    ("POST", "/mailbox/share"),
    ("GET", "/mailbox/share"),
    ("DELETE", "/mailbox/share"),
    ("PUT", "/message"),
    ("GET", "/message"),
    ("GET", "/mailbox/listen"),
    ("GET", "/discover"),
    ("GET", "/mailbox/heartbeat"),
    ("POST", "/mailbox/heartbeat"),
    ("GET", "/mailbox/stats"),
];

/// The expected status of one cell.
fn expected(route: (&str, &str), caller: Caller) -> u16 {
    match caller {
        Caller::NoToken | Caller::Malformed => 401,
        Caller::UnknownToken | Caller::Expired | Caller::Revoked => 403,
        Caller::Owner => match route {
            ("GET", "/message") => 408, // allowed, and the mailbox is empty
            _ => 200,
        },
        Caller::GroupMember => match route {
            // Shares are the owner's business only.
            (_, "/mailbox/share") => 403,
            ("GET", "/message") => 408,
            _ => 200,
        },
        Caller::OtherUser | Caller::EmptyGroup => match route {
            ("GET", "/discover") => 200, // filtered, checked separately
            _ => 403,
        },
    }
}

struct World {
    emulator: EmulatorHandle,
    server: ServerHandle,
    http: HttpClient,
    alice: String,
    bob: String,
    carol: String,
    expired: String,
    revoked: String,
    /// Each user's own mailbox, the `src` of the messages they send.
    homes: [(String, EntityId); 3],
}

fn access_token(emulator: &EmulatorHandle, user: &str) -> String {
    let tokens = emulator
        .issue_user_tokens(d::NATIVE_CLIENT_ID, user, d::EXCHANGE_SCOPE, true)
        .unwrap();
    tokens["access_token"].as_str().unwrap().to_string()
}

async fn world() -> World {
    let emulator = academy_globus_emulator::serve(EmulatorConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    // Carol: a third user, an active member of the seeded group (Bob is
    // only invited to it, so he is not a member).
    let carol_id = Uuid::new_v4();
    emulator.with_state(|st| {
        st.users.insert(
            carol_id,
            User {
                id: carol_id,
                username: CAROL_USERNAME.into(),
                name: "carol".into(),
                email: CAROL_USERNAME.into(),
            },
        );
        let group = st
            .groups
            .get_mut(&Uuid::parse_str(d::GROUP_ID).unwrap())
            .unwrap();
        group.memberships.push(Membership {
            identity: carol_id,
            role: "member".into(),
            status: "active".into(),
        });
    });
    let kwargs = GlobusAuthKwargs {
        client_id: Some(d::EXCHANGE_CLIENT_ID.into()),
        client_secret: Some(d::EXCHANGE_CLIENT_SECRET.into()),
        auth_base_url: Some(emulator.base_url().into()),
        groups_base_url: Some(emulator.base_url().into()),
        // No caching: expiry and revocation show at once.
        token_ttl_s: Some(0.0),
        group_info_cache_ttl_s: Some(0.0),
        ..GlobusAuthKwargs::default()
    };
    let mut config = ServerConfig::default().with_bind("127.0.0.1:0".parse().unwrap());
    config.auth = AuthConfig::Globus(kwargs);
    config.listen_timeout_s = 5;
    let server = serve(config).await.unwrap();

    let alice = access_token(&emulator, d::ALICE_USERNAME);
    let bob = access_token(&emulator, d::BOB_USERNAME);
    let carol = access_token(&emulator, CAROL_USERNAME);
    let revoked = access_token(&emulator, d::ALICE_USERNAME);
    assert!(emulator.revoke_token(&revoked));
    // A token that expires in 60 s, then two minutes pass (the others live two days).
    emulator.set_access_token_lifetime(60);
    let expired = access_token(&emulator, d::ALICE_USERNAME);
    emulator.set_access_token_lifetime(d::ACCESS_TOKEN_LIFETIME_SECS);
    emulator.advance_clock(120);

    let http = client();
    let mut homes = Vec::new();
    for token in [&alice, &bob, &carol] {
        let home: EntityId = UserId::new(None).into();
        let a = post(
            &http,
            &server,
            token,
            "POST",
            "/mailbox",
            json!({"mailbox": home.to_json()}),
        )
        .await;
        assert_eq!(a.status, 200, "creating a home mailbox: {}", a.text);
        homes.push((token.clone(), home));
    }
    let homes: [(String, EntityId); 3] = homes.try_into().unwrap();
    World {
        emulator,
        server,
        http,
        alice,
        bob,
        carol,
        expired,
        revoked,
        homes,
    }
}

async fn post(
    http: &HttpClient,
    server: &ServerHandle,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> Answer {
    let auth = format!("Bearer {token}");
    call(
        http,
        method,
        &format!("{}{path}", server.base_url()),
        body.to_string(),
        &[("authorization", auth.as_str())],
    )
    .await
}

impl World {
    fn home(&self, token: &str) -> EntityId {
        self.homes
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, id)| id.clone())
            .unwrap_or_else(|| self.homes[0].1.clone())
    }

    /// A fresh mailbox of Alice's, an agent with a unique type so discover
    /// results are exact; shared with the group unless `empty_group`, in
    /// which case Alice tries (and fails) to share it through `""`.
    async fn fresh_mailbox(&self, empty_group: bool) -> (EntityId, String) {
        let id: EntityId = AgentId::new(None).into();
        let ty = format!("e2e.Matrix{}", Uuid::new_v4().simple());
        let a = post(
            &self.http,
            &self.server,
            &self.alice,
            "POST",
            "/mailbox",
            json!({"mailbox": id.to_json(), "agent": format!("{ty},{MRO}")}),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.text);
        let group = if empty_group { "" } else { d::GROUP_ID };
        let a = post(
            &self.http,
            &self.server,
            &self.alice,
            "POST",
            "/mailbox/share",
            json!({"mailbox": id.to_json(), "group_id": group}),
        )
        .await;
        let want = if empty_group { 403 } else { 200 };
        assert_eq!(a.status, want, "sharing with {group:?}: {}", a.text);
        (id, ty)
    }

    fn header(&self, caller: Caller) -> Option<String> {
        Some(match caller {
            Caller::NoToken => return None,
            Caller::Malformed => format!("bearer {}", self.alice),
            Caller::UnknownToken => "Bearer not-a-token-at-all".into(),
            Caller::Expired => format!("Bearer {}", self.expired),
            Caller::Revoked => format!("Bearer {}", self.revoked),
            Caller::Owner => format!("Bearer {}", self.alice),
            Caller::GroupMember => format!("Bearer {}", self.carol),
            Caller::OtherUser | Caller::EmptyGroup => format!("Bearer {}", self.bob),
        })
    }

    fn token(&self, caller: Caller) -> &str {
        match caller {
            Caller::GroupMember => &self.carol,
            Caller::OtherUser | Caller::EmptyGroup => &self.bob,
            _ => &self.alice,
        }
    }

    /// Runs one cell; returns the status and, for discover, whether the
    /// fresh mailbox was listed.
    async fn cell(&self, route: (&str, &str), caller: Caller) -> (u16, Option<bool>) {
        let (mailbox, ty) = self.fresh_mailbox(caller == Caller::EmptyGroup).await;
        let mb = mailbox.to_json();
        let body = match route {
            ("POST", "/mailbox") => json!({"mailbox": mb, "agent": format!("{ty},{MRO}")}),
            (_, "/mailbox/share") => json!({"mailbox": mb, "group_id": d::GROUP_ID}),
            ("PUT", "/message") => {
                let src = self.home(self.token(caller));
                let m = Message::request(src, mailbox.clone(), Body::PingRequest, None);
                json!({"message": m.to_json()})
            }
            ("GET", "/message") | ("GET", "/mailbox/listen") => {
                json!({"mailbox": mb, "timeout": 0.2})
            }
            ("GET", "/discover") => json!({"agent": ty, "allow_subclasses": false}),
            _ => json!({"mailbox": mb}),
        };
        let mut headers = Vec::new();
        let auth = self.header(caller);
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        if caller == Caller::Malformed {
            // Also the other malformed shapes: each must be 401 as well.
            for bad in ["Bearer", "Basic dXNlcjpwYXNz", "Bearer  two  spaces"] {
                let a = call(
                    &self.http,
                    route.0,
                    &format!("{}{}", self.server.base_url(), route.1),
                    body.to_string(),
                    &[("authorization", bad)],
                )
                .await;
                assert_eq!(a.status, 401, "{route:?} with {bad:?}: {}", a.text);
            }
        }
        let a = call(
            &self.http,
            route.0,
            &format!("{}{}", self.server.base_url(), route.1),
            body.to_string(),
            &headers,
        )
        .await;
        let listed = (route == ("GET", "/discover") && a.status == 200).then(|| {
            a.json()["agent_ids"]
                .as_str()
                .unwrap_or_default()
                .contains(&mailbox.uid().to_string())
        });
        (a.status, listed)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_for_every_kind_of_caller() {
    bounded(180, async {
        let w = world().await;
        let mut table = String::from("| route |");
        for c in CALLERS {
            table.push_str(&format!(" {c:?} |"));
        }
        table.push('\n');
        let mut wrong = Vec::new();
        for route in ROUTES {
            table.push_str(&format!("| {} {} |", route.0, route.1));
            for caller in CALLERS {
                let (status, listed) = w.cell(route, caller).await;
                let want = expected(route, caller);
                table.push_str(&format!(" {status} |"));
                if status != want {
                    wrong.push(format!(
                        "{} {} as {caller:?}: {status}, expected {want}",
                        route.0, route.1
                    ));
                }
                if let Some(listed) = listed {
                    let visible = matches!(caller, Caller::Owner | Caller::GroupMember);
                    if listed != visible {
                        wrong.push(format!(
                            "discover as {caller:?}: mailbox {} but should {}",
                            if listed { "listed" } else { "hidden" },
                            if visible { "be listed" } else { "not be" }
                        ));
                    }
                }
            }
            table.push('\n');
        }
        println!("{table}");
        // An unknown route needs authentication first, too.
        let a = call(
            &w.http,
            "GET",
            &format!("{}/nope", w.server.base_url()),
            "{}",
            &[],
        )
        .await;
        assert_eq!(a.status, 401, "unknown route without a token");
        assert!(
            wrong.is_empty(),
            "auth matrix mismatches:\n{}\n{table}",
            wrong.join("\n")
        );
        w.server.shutdown().await;
        w.emulator.shutdown().await.unwrap();
    })
    .await;
}
