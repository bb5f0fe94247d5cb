//! Tokens: traffic through the Globus transport while access tokens expire
//! every few seconds, after the refresh token is revoked, across an
//! emulator restart, and while introspection fails transiently.
//!
//! What must hold: users see either success (and every message arrives
//! exactly once, in order) or a clear "log in again" error; a transient
//! failure of Globus Auth is never reported as "log in again".
//!
//! CI size: 4 pairs × 100 messages per scenario;
//! `ACADEMY_SOAK_TOKEN_MESSAGES` for more.

#![allow(clippy::unwrap_used)] // Test code: a panic is a failed assertion.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use academy_e2e::cutter::Cutter;
use academy_e2e::traffic::{Outcome, TrafficConfig, create_pairs, run};
use academy_e2e::{bounded, report, size};
use academy_exchange::message::Body;
use academy_exchange::{ExchangeError, Message};
use academy_exchange_server::{AuthConfig, GlobusAuthKwargs, ServerConfig, ServerHandle, serve};
use academy_globus_client::TokenStore;
use academy_globus_emulator::model::TokenKind;
use academy_globus_emulator::{EmulatorConfig, EmulatorHandle, defaults as d};
use academy_globus_exchange::app::TOKEN_NAMESPACE;
use academy_globus_exchange::{
    AutoApproveLoginFlow, GlobusApp, GlobusAppConfig, GlobusExchangeError, GlobusExchangeFactory,
    LoginFlow,
};
use academy_testkit::fault_proxy::{FaultPlan, FaultProxy};
use futures::StreamExt;

const PAIRS: usize = 4;

fn traffic() -> TrafficConfig {
    let total = size("ACADEMY_SOAK_TOKEN_MESSAGES", 400);
    TrafficConfig {
        per_pair: total.div_ceil(PAIRS as u64),
        idle_limit: Duration::from_secs(40),
        drain: Duration::from_secs(1),
        pad: 32,
        progress: None,
    }
}

async fn emulator(
    state: Option<std::path::PathBuf>,
    bind: Option<std::net::SocketAddr>,
) -> EmulatorHandle {
    academy_globus_emulator::serve(EmulatorConfig {
        bind: bind.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap()),
        auto_approve: Some(true),
        state_path: state,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

/// Our server with Globus auth; `auth_url` is the emulator or a proxy in front of it.
async fn server(auth_url: &str) -> ServerHandle {
    let kwargs = GlobusAuthKwargs {
        client_id: Some(d::EXCHANGE_CLIENT_ID.into()),
        client_secret: Some(d::EXCHANGE_CLIENT_SECRET.into()),
        auth_base_url: Some(auth_url.into()),
        groups_base_url: Some(auth_url.into()),
        // No introspection cache: every request sees the token's state.
        token_ttl_s: Some(0.0),
        group_info_cache_ttl_s: Some(1.0),
        ..GlobusAuthKwargs::default()
    };
    let mut config = ServerConfig::default().with_bind("127.0.0.1:0".parse().unwrap());
    config.auth = AuthConfig::Globus(kwargs);
    config.listen_timeout_s = 30;
    serve(config).await.unwrap()
}

/// Counts logins (each one is a user at a browser).
#[derive(Debug, Default)]
struct CountingFlow(AtomicUsize);

#[async_trait::async_trait]
impl LoginFlow for CountingFlow {
    async fn authorization_code(&self, url: &url::Url) -> Result<String, GlobusExchangeError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        AutoApproveLoginFlow.authorization_code(url).await
    }
}

struct User {
    app: Arc<GlobusApp>,
    flow: Arc<CountingFlow>,
    store: TokenStore,
    _dir: tempfile::TempDir,
}

/// Alice, logging in through PKCE (approved by the emulator), tokens on disk.
fn alice(emulator: &EmulatorHandle) -> User {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let flow = Arc::new(CountingFlow::default());
    let app = GlobusApp::user(
        GlobusAppConfig::new(emulator.base_url().parse().unwrap()),
        flow.clone(),
        Some(TokenStore::new(&path)),
    )
    .unwrap();
    User {
        app: Arc::new(app),
        flow,
        store: TokenStore::new(&path),
        _dir: dir,
    }
}

fn factory(
    emulator_url: &str,
    server: &ServerHandle,
    app: Arc<GlobusApp>,
) -> GlobusExchangeFactory {
    let mut f = GlobusExchangeFactory::new(d::PROJECT_ID, server.base_url().parse().unwrap())
        .with_auth_base_url(emulator_url.parse().unwrap())
        .with_request_timeout_s(5.0)
        .with_app(app);
    f.exchange_client_id = d::EXCHANGE_CLIENT_ID.into();
    f.exchange_scope_id = d::EXCHANGE_SCOPE_ID.into();
    f
}

fn access_tokens_issued(emulator: &EmulatorHandle) -> usize {
    emulator.with_state(|st| {
        st.tokens
            .values()
            .filter(|t| t.kind == TokenKind::Access && t.resource_server == d::EXCHANGE_CLIENT_ID)
            .count()
    })
}

fn figures(name: &str, out: &Outcome, extra: &[(&str, String)]) {
    let mut f = vec![
        ("messages", out.sent.to_string()),
        ("delivered", out.delivered.to_string()),
        ("lost", out.lost.to_string()),
        ("duplicated", out.duplicated.to_string()),
        ("out_of_order", out.out_of_order.to_string()),
        ("send_errors_surfaced", out.send_errors.to_string()),
        ("listen_errors_surfaced", out.listen_errors.to_string()),
        ("error_samples", format!("{:?}", out.error_samples)),
        ("max_send_ms", out.max_send.as_millis().to_string()),
        ("elapsed_s", format!("{:.1}", out.elapsed.as_secs_f64())),
    ];
    f.extend(extra.iter().cloned());
    report(name, &f);
}

fn assert_success(name: &str, out: &Outcome) {
    assert!(
        out.exact(),
        "{name}: lost {}, duplicated {}, out of order {} of {}",
        out.lost,
        out.duplicated,
        out.out_of_order,
        out.sent
    );
    assert_eq!(
        out.send_errors + out.listen_errors,
        0,
        "{name}: users saw errors: {:?}",
        out.error_samples
    );
}

/// Access tokens live 3 s, and the emulator's clock jumps 3 s every half
/// second, so every token in use keeps expiring under the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_expiring_every_few_seconds() {
    bounded(240, async {
        let emu = Arc::new(emulator(None, None).await);
        emu.set_access_token_lifetime(3);
        let server = server(emu.base_url()).await;
        let user = alice(&emu);
        let f = factory(emu.base_url(), &server, user.app.clone());
        let pairs = create_pairs(&f, PAIRS).await;
        let before = access_tokens_issued(&emu);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // The fault injector: a timer, not a synchronisation.
        let churn = tokio::spawn({
            let emu = emu.clone();
            let stop = stop.clone();
            async move {
                let mut jumps = 0u32;
                let mut tick = tokio::time::interval(Duration::from_millis(500));
                while !stop.load(Ordering::SeqCst) {
                    tick.tick().await;
                    emu.advance_clock(3);
                    jumps += 1;
                }
                jumps
            }
        });
        let mut config = traffic();
        // Long enough for many expiries: four times the CI size.
        config.per_pair *= 4;
        let out = run(&pairs, &config).await;
        stop.store(true, Ordering::SeqCst);
        let jumps = churn.await.unwrap();
        let renewals = access_tokens_issued(&emu) - before;
        figures(
            "tokens_expiring",
            &out,
            &[
                ("clock_jumps_of_3s", jumps.to_string()),
                ("access_tokens_renewed", renewals.to_string()),
                ("logins", user.flow.0.load(Ordering::SeqCst).to_string()),
            ],
        );
        assert_success("expiring access tokens", &out);
        assert!(
            renewals >= 2,
            "tokens were not renewed during the run ({renewals})"
        );
        assert_eq!(
            user.flow.0.load(Ordering::SeqCst),
            1,
            "renewal needed a new login"
        );
        server.shutdown().await;
    })
    .await;
}

/// After the refresh token (and the access tokens minted with it) is
/// revoked, every call fails promptly with `Unauthorized` saying to log
/// in again, without leaking a token; after a new login all works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_refresh_token_means_log_in_again() {
    bounded(120, async {
        let emu = emulator(None, None).await;
        let server = server(emu.base_url()).await;
        let user = alice(&emu);
        let f = factory(emu.base_url(), &server, user.app.clone());
        let pairs = create_pairs(&f, 1).await;
        let (a, b) = (pairs[0].sender.clone(), pairs[0].receiver.clone());
        let ping = || {
            Message::request(
                a.mailbox_id().clone(),
                b.mailbox_id().clone(),
                Body::PingRequest,
                None,
            )
        };
        a.send(&ping()).await.unwrap();
        b.recv(Some(Duration::from_secs(5))).await.unwrap();

        let tokens = user
            .store
            .get(TOKEN_NAMESPACE, d::EXCHANGE_CLIENT_ID)
            .unwrap()
            .unwrap();
        let refresh = tokens.refresh_token.clone().unwrap();
        let current = user.app.access_token(d::EXCHANGE_CLIENT_ID).await.unwrap();
        assert!(emu.revoke_token(refresh.expose()));
        emu.revoke_token(current.expose());
        emu.revoke_token(tokens.access_token.expose());

        let secrets = [refresh.expose().to_string(), current.expose().to_string()];
        let check = |what: &str, r: Result<(), ExchangeError>| match r {
            Err(ExchangeError::Unauthorized(m)) => {
                assert!(m.contains("log in again"), "{what}: {m}");
                for s in &secrets {
                    assert!(!m.contains(s.as_str()), "{what}: the error shows a token");
                }
            }
            other => panic!("{what}: expected Unauthorized(log in again), got {other:?}"),
        };
        let t = Instant::now();
        check("send", a.send(&ping()).await);
        check(
            "recv",
            b.recv(Some(Duration::from_secs(5))).await.map(|_| ()),
        );
        check("heartbeat", a.update_heartbeat().await);
        let mut stream = b.listen(None);
        let item = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("the listener hangs instead of reporting")
            .expect("the listener ended silently");
        check("listen", item.map(|_| ()));
        let reported_in = t.elapsed();

        // The user logs in again, as told.
        user.app.login().await.unwrap();
        report(
            "tokens_refresh_revoked",
            &[
                ("errors_reported_in_ms", reported_in.as_millis().to_string()),
                ("logins", user.flow.0.load(Ordering::SeqCst).to_string()),
            ],
        );
        // Transports created after the login work (for the ones created
        // before, see `existing_transports_recover_after_logging_in_again`).
        let again = create_pairs(&f, 1).await;
        let m = Message::request(
            again[0].sender.mailbox_id().clone(),
            b.mailbox_id().clone(),
            Body::PingRequest,
            None,
        );
        again[0].sender.send(&m).await.unwrap();
        again[0].receiver.update_heartbeat().await.unwrap();
        server.shutdown().await;
    })
    .await;
}

/// The emulator (Globus Auth) stops mid-run and comes back on the same
/// address with its saved state: calls ride through the outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn globus_auth_restarted_mid_run() {
    bounded(240, async {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("emulator-state.json");
        let emu = emulator(Some(state.clone()), None).await;
        let addr = emu.addr();
        let url = emu.base_url().to_string();
        let server = server(&url).await;
        let user = alice(&emu);
        let f = factory(&url, &server, user.app.clone());
        let pairs = create_pairs(&f, PAIRS).await;
        let (tx, mut rx) = tokio::sync::watch::channel(0);
        let mut config = traffic();
        config.progress = Some(tx);
        let total = config.per_pair * PAIRS as u64;
        let run = tokio::spawn({
            let pairs = pairs.clone();
            async move { run(&pairs, &config).await }
        });
        rx.wait_for(|v| *v >= total / 3).await.unwrap();
        let stopped = Instant::now();
        let token = user.app.access_token(d::EXCHANGE_CLIENT_ID).await.unwrap();
        emu.shutdown().await.unwrap();
        // While Globus Auth is away the exchange cannot check tokens: it
        // must say so with a server error (retried), not reject the token.
        let http = academy_e2e::http::client();
        let auth = format!("Bearer {}", token.expose());
        let probe = academy_e2e::http::call(
            &http,
            "GET",
            &format!("{}/mailbox/heartbeat", server.base_url()),
            serde_json::json!({"mailbox": pairs[0].sender.mailbox_id().to_json()}).to_string(),
            &[("authorization", auth.as_str())],
        )
        .await;
        assert!(
            probe.status >= 500,
            "with Globus Auth down the exchange answered {} {}",
            probe.status,
            probe.text
        );
        // Globus Auth stays away for a while (the fault's duration).
        tokio::time::sleep(Duration::from_millis(size("ACADEMY_SOAK_OUTAGE_MS", 2_000))).await;
        let emu = emulator(Some(state), Some(addr)).await;
        let outage = stopped.elapsed();
        let at = *rx.borrow();
        let restarted = Instant::now();
        rx.wait_for(|v| *v > at).await.unwrap();
        let recovery = restarted.elapsed();
        let out = run.await.unwrap();
        figures(
            "tokens_auth_restart",
            &out,
            &[
                ("outage_ms", outage.as_millis().to_string()),
                ("status_during_outage", probe.status.to_string()),
                ("recovery_ms", recovery.as_millis().to_string()),
                ("logins", user.flow.0.load(Ordering::SeqCst).to_string()),
            ],
        );
        assert_success("Globus Auth restart", &out);
        assert_eq!(
            user.flow.0.load(Ordering::SeqCst),
            1,
            "the restart forced a new login"
        );
        server.shutdown().await;
        emu.shutdown().await.unwrap();
    })
    .await;
}

/// The exchange server's calls to Globus Auth (introspection, dependent
/// tokens, groups) go through a fault proxy: transient failures there
/// must end in success for the user, never in "log in again".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_failing_transiently() {
    bounded(240, async {
        let emu = emulator(None, None).await;
        let proxy = FaultProxy::start(
            emu.addr(),
            FaultPlan {
                seed: 5,
                fault_rate: 0.3,
                max_offset: 512,
                max_delay: Duration::from_millis(50),
            },
        )
        .await
        .unwrap();
        let cutter = Cutter::start(proxy.addr(), 5, 2 << 10, 16 << 10).await;
        let server = server(&format!("{}/", cutter.url())).await;
        let user = alice(&emu);
        let f = factory(emu.base_url(), &server, user.app.clone());
        let pairs = create_pairs(&f, PAIRS).await;
        let out = run(&pairs, &traffic()).await;
        let c = proxy.counts();
        figures(
            "tokens_introspection_faults",
            &out,
            &[
                ("auth_faults", (c.faults() + cutter.cuts()).to_string()),
                (
                    "auth_connections",
                    c.connections.load(Ordering::Relaxed).to_string(),
                ),
                ("logins", user.flow.0.load(Ordering::SeqCst).to_string()),
            ],
        );
        assert!(c.faults() + cutter.cuts() > 0, "no fault was injected");
        let said_login = out.error_samples.iter().any(|e| e.contains("log in again"));
        assert!(
            !said_login,
            "a transient auth failure told the user to log in again: {:?}",
            out.error_samples
        );
        assert!(
            out.exact(),
            "lost {}, duplicated {}",
            out.lost,
            out.duplicated
        );
        assert_eq!(user.flow.0.load(Ordering::SeqCst), 1);
        // Errors the library surfaced (and the program retried) are counted
        // in the figures; success for the user is the exact delivery above.
        server.shutdown().await;
        emu.shutdown().await.unwrap();
    })
    .await;
}

/// A long-running program told to "log in again" keeps its transports:
/// once the user has logged in again, those transports should work again
/// without restarting the program.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_transports_recover_after_logging_in_again() {
    bounded(120, async {
        let emu = emulator(None, None).await;
        let server = server(emu.base_url()).await;
        let user = alice(&emu);
        let f = factory(emu.base_url(), &server, user.app.clone());
        let pairs = create_pairs(&f, 1).await;
        let a = pairs[0].sender.clone();
        a.update_heartbeat().await.unwrap();
        let tokens = user
            .store
            .get(TOKEN_NAMESPACE, d::EXCHANGE_CLIENT_ID)
            .unwrap()
            .unwrap();
        let current = user.app.access_token(d::EXCHANGE_CLIENT_ID).await.unwrap();
        assert!(emu.revoke_token(tokens.refresh_token.clone().unwrap().expose()));
        emu.revoke_token(current.expose());
        assert!(matches!(
            a.update_heartbeat().await,
            Err(ExchangeError::Unauthorized(_))
        ));
        user.app.login().await.unwrap();
        let after = a.update_heartbeat().await;
        assert!(
            after.is_ok(),
            "after logging in again, a transport created before still fails: {after:?}"
        );
        server.shutdown().await;
    })
    .await;
}

/// Globus Auth comes back *without* its state (every token forgotten):
/// the user is told to log in again — not a hang, not a retry loop, not a
/// generic server error — and after logging in, new transports work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn globus_auth_restarted_without_state_means_log_in_again() {
    bounded(120, async {
        let emu = emulator(None, None).await;
        let addr = emu.addr();
        let url = emu.base_url().to_string();
        let server = server(&url).await;
        let user = alice(&emu);
        let f = factory(&url, &server, user.app.clone());
        let pairs = create_pairs(&f, 1).await;
        let (a, b) = (pairs[0].sender.clone(), pairs[0].receiver.clone());
        let ping = Message::request(
            a.mailbox_id().clone(),
            b.mailbox_id().clone(),
            Body::PingRequest,
            None,
        );
        a.send(&ping).await.unwrap();
        emu.shutdown().await.unwrap();
        let emu = emulator(None, Some(addr)).await;
        let t = Instant::now();
        match a.send(&ping).await {
            Err(ExchangeError::Unauthorized(m)) => assert!(m.contains("log in again"), "{m}"),
            other => panic!("expected Unauthorized(log in again), got {other:?}"),
        }
        let told_in = t.elapsed();
        user.app.login().await.unwrap();
        let again = create_pairs(&f, 1).await;
        again[0].sender.update_heartbeat().await.unwrap();
        report(
            "tokens_auth_state_lost",
            &[(
                "log_in_again_reported_in_ms",
                told_in.as_millis().to_string(),
            )],
        );
        server.shutdown().await;
        emu.shutdown().await.unwrap();
    })
    .await;
}
