//! `academy demo`: the whole system on one machine, end to end.
//!
//! 1. Starts a Globus Auth emulator (auto-approve) and an exchange server
//!    with Globus authentication on free loopback ports — or uses the
//!    servers of `--exchange`/`--auth`.
//! 2. Logs a user in through the native-app PKCE flow (auto-approved by
//!    the emulator; the console flow for external servers) and opens a
//!    user mailbox (`GlobusExchangeFactory` + `UserExchangeClient`).
//! 3. Registers an agent through the full Globus flow: a Globus client,
//!    its credential, its `launch` scope, and the user's delegated token.
//! 4. Ships the factory and registration JSON to a separate process
//!    (`academy agent run`, the same binary) that serves the agent.
//! 5. Sends `--requests` requests (`--concurrency` in flight) with a
//!    progress bar, checks every answer and times each round trip.
//! 6. Shuts the agent down, closes the user client (which terminates the
//!    user mailbox and deletes the agent's Globus client), stops the
//!    servers, and prints a report.
//!
//! Embedded runs keep tokens in a temporary `ACADEMY_HOME`; the user's own
//! token store is used only with external servers. The whole demo is
//! bounded by `--timeout`.

pub mod load;
pub mod report;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use academy_exchange::{ExchangeFactory, MailboxStatus, UserExchangeClient};
use academy_exchange_server::{AuthConfig, GlobusAuthKwargs, ServerConfig, ServerHandle};
use academy_globus_client::config as gconfig;
use academy_globus_client::{AuthClient, AuthClientConfig, TokenStore};
use academy_globus_emulator::{EmulatorConfig, EmulatorHandle, defaults};
use academy_globus_exchange::{
    AutoApproveLoginFlow, GlobusAgentRegistration, GlobusApp, GlobusAppConfig,
    GlobusExchangeFactory, HttpExchangeFactory, LoginFlow,
};
use tokio::io::AsyncBufReadExt as _;

use crate::agent;
use crate::cli::DemoArgs;
use crate::context::Context;
use crate::error::{CliError, Result, io};
use crate::output::Colour;
use academy_globus_exchange::ConsoleLoginFlow;
use report::{Item, Latency, Report};

/// How long the agent may take to stop after its shutdown request.
const AGENT_STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Everything the demo started or created, so that it can be cleaned up
/// whatever happens (including the `--timeout` expiring).
#[derive(Default)]
struct Resources {
    emulator: Option<EmulatorHandle>,
    exchange: Option<ServerHandle>,
    child: Option<tokio::process::Child>,
    user: Option<UserExchangeClient>,
    home: Option<tempfile::TempDir>,
    created: Vec<Item>,
    logins: Vec<String>,
    problems: Vec<String>,
    agent_exit_code: Option<i32>,
}

impl Resources {
    fn item(&mut self, kind: &str, id: impl std::fmt::Display) -> usize {
        self.created.push(Item {
            kind: kind.into(),
            id: id.to_string(),
            cleaned_up: false,
            how: "still there".into(),
        });
        self.created.len() - 1
    }

    fn cleaned(&mut self, idx: usize, ok: bool, how: impl Into<String>) {
        if let Some(i) = self.created.get_mut(idx) {
            i.cleaned_up = ok;
            i.how = how.into();
        }
    }
}

/// Counts the logins a flow performs (for the report).
#[derive(Debug)]
struct CountingFlow {
    inner: Arc<dyn LoginFlow>,
    count: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl LoginFlow for CountingFlow {
    async fn authorization_code(
        &self,
        url: &url::Url,
    ) -> std::result::Result<String, academy_globus_exchange::GlobusExchangeError> {
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.authorization_code(url).await
    }
}

/// What the load phase measured.
struct Measured {
    requests: usize,
    load: load::LoadResult,
    stats: Option<serde_json::Value>,
    exchange: String,
    auth: Option<String>,
    user: Option<String>,
}

fn step(ctx: &Context, text: &str) {
    ctx.out
        .note(format!("{} {text}", ctx.out.paint("•", Colour::Cyan)));
}

fn exchange_err(context: &str) -> impl FnOnce(academy_exchange::ExchangeError) -> CliError + '_ {
    move |source| match source {
        academy_exchange::ExchangeError::Unauthorized(m) => CliError::LoginRequired {
            reason: format!("{context}: {m}"),
        },
        source => CliError::Exchange {
            context: context.to_string(),
            source,
        },
    }
}

/// `academy demo`.
pub async fn run(ctx: &Context, args: &DemoArgs) -> Result<()> {
    if args.requests == 0 || args.concurrency == 0 {
        return Err(CliError::BadInput(
            "--requests and --concurrency must be at least 1".into(),
        ));
    }
    let limit = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            CliError::BadInput("--timeout must be a positive number of seconds".into())
        })?;
    let started = Instant::now();
    let mut res = Resources::default();
    let outcome = match tokio::time::timeout(limit, body(ctx, args, &mut res)).await {
        Ok(r) => r,
        Err(_) => Err(CliError::Timeout(format!(
            "the demo did not finish within {} s (--timeout)",
            args.timeout
        ))),
    };
    cleanup_after_failure(&mut res).await;
    let measured = match outcome {
        Ok(m) => m,
        Err(e) => {
            shutdown_servers(&mut res).await;
            return Err(e);
        }
    };
    shutdown_servers(&mut res).await;
    let answered = measured.load.latencies.len();
    let secs = measured.load.elapsed.as_secs_f64().max(1e-9);
    let mut problems = std::mem::take(&mut res.problems);
    problems.extend(measured.load.problems.iter().cloned());
    let report = Report {
        ok: measured.load.errors == 0
            && answered == measured.requests
            && res.created.iter().all(|i| i.cleaned_up)
            && res.agent_exit_code == Some(0)
            && problems.is_empty(),
        embedded: ctx.global.exchange.is_none(),
        exchange: measured.exchange,
        auth: measured.auth,
        user: measured.user,
        requests: measured.requests,
        responses: answered,
        errors: measured.load.errors,
        concurrency: args.concurrency,
        latency_ms: Latency::from_samples(&measured.load.latencies),
        requests_per_second: answered as f64 / secs,
        messages_per_second: 2.0 * answered as f64 / secs,
        load_seconds: measured.load.elapsed.as_secs_f64(),
        total_seconds: started.elapsed().as_secs_f64(),
        agent_stats: measured.stats,
        agent_exit_code: res.agent_exit_code,
        logins: std::mem::take(&mut res.logins),
        created: std::mem::take(&mut res.created),
        problems,
    };
    let value =
        serde_json::to_value(&report).map_err(|e| CliError::Other(format!("report: {e}")))?;
    ctx.out.emit(&value, || report.render(&ctx.out));
    if report.ok {
        Ok(())
    } else {
        Err(CliError::Other(
            "the demo finished with problems (see the report)".into(),
        ))
    }
}

/// The Globus side of the demo: which Auth server, which login flow,
/// which token store.
struct GlobusSetup {
    auth: AuthClientConfig,
    flow: Arc<dyn LoginFlow>,
    store: TokenStore,
    project: Option<String>,
}

async fn body(ctx: &Context, args: &DemoArgs, res: &mut Resources) -> Result<Measured> {
    let no_auth = ctx.global.no_auth;
    let embedded_exchange = ctx.global.exchange.is_none();
    let embedded_auth = !no_auth && ctx.global.auth.is_none() && embedded_exchange;

    // 1. Servers.
    let globus = if no_auth {
        None
    } else if embedded_auth {
        step(
            ctx,
            "starting the Globus Auth emulator (auto-approve) on a free loopback port",
        );
        let config = EmulatorConfig {
            auto_approve: Some(true),
            ..EmulatorConfig::default()
        };
        let emulator = academy_globus_emulator::serve(config)
            .await
            .map_err(CliError::Emulator)?;
        let url = crate::context::parse_url(emulator.base_url(), "emulator")?;
        res.emulator = Some(emulator);
        let home = tempfile::Builder::new()
            .prefix("academy-demo-")
            .tempdir()
            .map_err(io("cannot create a temporary ACADEMY_HOME"))?;
        let store = TokenStore::new(
            home.path()
                .join(academy_globus_client::token_store::FILE_NAME),
        );
        res.home = Some(home);
        let mut auth = AuthClientConfig::with_base_url(url);
        auth.retry = crate::context::cli_retry();
        Some(GlobusSetup {
            auth,
            flow: Arc::new(AutoApproveLoginFlow),
            store,
            project: Some(defaults::PROJECT_ID.to_string()),
        })
    } else {
        Some(GlobusSetup {
            auth: ctx.auth_config()?,
            flow: if args.auto_approve {
                Arc::new(AutoApproveLoginFlow)
            } else {
                Arc::new(ConsoleLoginFlow)
            },
            store: TokenStore::default_location()
                .map_err(|e| CliError::BadInput(format!("token store: {e}")))?,
            project: args.project.clone(),
        })
    };
    let exchange_url = if embedded_exchange {
        step(ctx, "starting the exchange server on a free loopback port");
        let mut config = ServerConfig::default()
            .with_bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .with_path_prefix("/v1");
        if let Some(g) = &globus {
            let auth_url = g.auth.base_url.to_string();
            let (client_id, client_secret) = if embedded_auth {
                (
                    Some(defaults::EXCHANGE_CLIENT_ID.to_string()),
                    Some(defaults::EXCHANGE_CLIENT_SECRET.to_string()),
                )
            } else {
                (None, None)
            };
            config.auth = AuthConfig::Globus(GlobusAuthKwargs {
                client_id,
                client_secret,
                auth_base_url: Some(auth_url.clone()),
                groups_base_url: Some(auth_url),
                ..GlobusAuthKwargs::default()
            });
        }
        let server = academy_exchange_server::serve(config)
            .await
            .map_err(CliError::Server)?;
        let url = format!("{}/v1", server.base_url());
        res.exchange = Some(server);
        crate::context::parse_url(&url, "exchange")?
    } else {
        ctx.exchange_url()?
    };
    let auth_text = globus.as_ref().map(|g| g.auth.base_url.to_string());
    if let Some(a) = &auth_text {
        step(ctx, &format!("Globus Auth at {a}"));
    }
    step(ctx, &format!("exchange at {exchange_url}"));

    // 2. The user: login and mailbox.
    let mut flow_counter: Option<Arc<CountingFlow>> = None;
    let (factory, app): (Box<dyn ExchangeFactory>, Option<Arc<GlobusApp>>) = match globus {
        None => (
            Box::new(HttpExchangeFactory::new(exchange_url.clone())),
            None,
        ),
        Some(g) => {
            let mut config = GlobusAppConfig::new(g.auth.base_url.clone());
            config.auth = g.auth.clone();
            let counter = Arc::new(CountingFlow {
                inner: g.flow,
                count: 0.into(),
            });
            flow_counter = Some(counter.clone());
            let app = Arc::new(
                GlobusApp::user(config, counter, Some(g.store))
                    .map_err(|e| CliError::Other(format!("Globus app: {e}")))?,
            );
            // Ask for everything at the first login, so that a person
            // approves once: the exchange (added by the factory), client
            // management for the registration, and the identity.
            app.add_scope_requirements(
                gconfig::AUTH_RESOURCE_SERVER,
                [gconfig::MANAGE_PROJECTS_SCOPE, "openid", "profile", "email"],
            );
            let project = match g.project {
                Some(p) => p,
                None => first_project(&app, &g.auth).await?,
            };
            let factory = GlobusExchangeFactory::new(project, exchange_url.clone())
                .with_auth_base_url(g.auth.base_url.clone())
                .with_app(app.clone());
            (Box::new(factory), Some(app))
        }
    };
    step(
        ctx,
        if no_auth {
            "opening a user mailbox"
        } else {
            "logging the user in (native-app PKCE) and opening a user mailbox"
        },
    );
    let user = factory
        .create_user_client(Some("demo-user"), true)
        .await
        .map_err(exchange_err("creating the user client"))?;
    let user_item = res.item("user mailbox", user.user_id().uid());
    res.user = Some(user.clone());

    // 3. The agent's registration.
    step(
        ctx,
        if no_auth {
            "registering the agent's mailbox"
        } else {
            "registering the agent (Globus client, credential, launch scope, delegated token)"
        },
    );
    let registration = user
        .register_agent(&agent::demo_agent_type(), Some("calculator"))
        .await
        .map_err(exchange_err("registering the agent"))?;
    let agent_id = registration.agent_id().clone();
    let agent_item = res.item("agent mailbox", agent_id.uid());
    let globus_client = registration
        .as_any()
        .downcast_ref::<GlobusAgentRegistration>()
        .map(|r| r.client_id.to_string());
    let client_item = globus_client
        .as_ref()
        .map(|id| res.item("Globus client (agent)", id));

    // 4. The agent process.
    if res.home.is_none() {
        let d = tempfile::Builder::new()
            .prefix("academy-demo-")
            .tempdir()
            .map_err(io("cannot create a temporary directory"))?;
        res.home = Some(d);
    }
    let dir = res
        .home
        .as_ref()
        .map(|h| h.path().to_path_buf())
        .unwrap_or_default();
    let factory_path = dir.join("factory.json");
    let registration_path = dir.join("registration.json");
    write_private(&factory_path, &agent::factory_file(factory.as_ref())?)?;
    write_private(
        &registration_path,
        &registration
            .to_json()
            .map_err(exchange_err("registration JSON"))?,
    )?;
    step(ctx, "starting the agent in its own process");
    let pid = spawn_agent(ctx, res, &factory_path, &registration_path).await?;
    res.logins.push(format!(
        "agent (pid {pid}): dependent-token grant with its own client credentials"
    ));

    // 5. Requests.
    let handle = user.get_handle(agent_id.clone());
    handle
        .ping_timeout(Duration::from_secs(10))
        .await
        .map_err(exchange_err("pinging the agent"))?;
    step(
        ctx,
        &format!(
            "sending {} requests, {} in flight",
            args.requests, args.concurrency
        ),
    );
    let bar = load::progress_bar(args.requests, ctx.out.interactive());
    let load = load::run(&handle, args.requests, args.concurrency, &bar).await;
    let stats = match handle.agent_stats().await {
        Ok(s) => serde_json::to_value(s).ok(),
        Err(e) => {
            res.problems.push(format!("agent stats: {e}"));
            None
        }
    };

    // 6. Cleanup, checked.
    step(ctx, "shutting the agent down and cleaning up");
    if let Err(e) = handle.shutdown(Some(true)).await {
        res.problems.push(format!("shutdown request: {e}"));
    }
    wait_agent(res).await;
    match user.status(&agent_id.clone().into()).await {
        Ok(MailboxStatus::Terminated) => {
            res.cleaned(agent_item, true, "terminated by the agent on shutdown");
        }
        other => {
            tracing::info!(?other, "agent mailbox still open; terminating it");
            match user.terminate(&agent_id.clone().into()).await {
                Ok(()) => res.cleaned(agent_item, true, "terminated by the demo"),
                Err(e) => res.cleaned(agent_item, false, format!("terminate failed: {e}")),
            }
        }
    }
    res.user = None;
    match user.close().await {
        Ok(()) => res.cleaned(user_item, true, "terminated by the user client's close"),
        Err(e) => res.cleaned(user_item, false, format!("close failed: {e}")),
    }
    if let Some(c) = &flow_counter {
        let n = c.count.load(std::sync::atomic::Ordering::Relaxed);
        res.logins.insert(
            0,
            format!(
                "user: {n} native-app PKCE login(s){}",
                if embedded_auth || args.auto_approve {
                    ", auto-approved by the emulator"
                } else {
                    ""
                }
            ),
        );
    }
    let identity = match &app {
        Some(app) => who_is(app).await,
        None => None,
    };
    if let (Some(idx), Some(client_id), Some(app)) = (client_item, &globus_client, &app) {
        let (ok, how) = delete_globus_client(app, client_id).await;
        res.cleaned(idx, ok, how);
    }
    Ok(Measured {
        requests: args.requests,
        load,
        stats,
        exchange: exchange_url.to_string(),
        auth: auth_text,
        user: identity,
    })
}

/// Who logged in, from userinfo with the app's Globus Auth token (best
/// effort: `None` if that token lacks the OpenID scopes).
async fn who_is(app: &Arc<GlobusApp>) -> Option<String> {
    let service = management_client(app, &app.config().auth).await.ok()?;
    let info = service.userinfo().await.ok()?;
    info.extra
        .get("preferred_username")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .or(info.email)
        .or(Some(info.sub))
}

/// The first project the user administers (external Globus Auth without
/// `--project`).
async fn first_project(app: &Arc<GlobusApp>, auth: &AuthClientConfig) -> Result<String> {
    let service = management_client(app, auth).await?;
    let projects = service
        .get_projects()
        .await
        .map_err(crate::error::client("listing your Globus projects"))?;
    projects.into_iter().next().map(|p| p.id).ok_or_else(|| {
        CliError::BadInput("you administer no Globus project: create one, or pass --project".into())
    })
}

async fn management_client(app: &Arc<GlobusApp>, auth: &AuthClientConfig) -> Result<AuthClient> {
    app.add_scope_requirements(
        gconfig::AUTH_RESOURCE_SERVER,
        [gconfig::MANAGE_PROJECTS_SCOPE],
    );
    let authorizer = app
        .authorizer(gconfig::AUTH_RESOURCE_SERVER)
        .await
        .map_err(|e| CliError::LoginRequired {
            reason: format!("cannot get a manage_projects token ({e})"),
        })?;
    AuthClient::service(authorizer, auth.clone()).map_err(crate::error::client("Globus Auth"))
}

/// Makes sure the agent's Globus client is gone: a 404 means the user
/// client's close already deleted it.
async fn delete_globus_client(app: &Arc<GlobusApp>, client_id: &str) -> (bool, String) {
    let service = match management_client(app, &app.config().auth).await {
        Ok(s) => s,
        Err(e) => return (false, format!("cannot check: {e}")),
    };
    match service.delete_client(client_id).await {
        Err(e) if e.http_status() == Some(404) => {
            (true, "deleted when the user client closed".into())
        }
        Ok(_) => (true, "deleted by the demo".into()),
        Err(e) => (false, format!("delete failed: {e}")),
    }
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // The registration holds the agent's secret and token.
        options.mode(0o600);
    }
    let ctx = format!("cannot write {}", path.display());
    let mut f = options.open(path).map_err(io(ctx.clone()))?;
    f.write_all(text.as_bytes()).map_err(io(ctx))
}

/// Starts `academy agent run` and waits for its ready line; returns its pid.
async fn spawn_agent(
    ctx: &Context,
    res: &mut Resources,
    factory: &PathBuf,
    registration: &PathBuf,
) -> Result<u32> {
    let exe = std::env::current_exe().map_err(io("cannot find the academy executable"))?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("agent")
        .arg("run")
        .arg("--factory")
        .arg(factory)
        .arg("--registration")
        .arg(registration)
        .arg("--json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for _ in 0..ctx.global.verbose {
        cmd.arg("-v");
    }
    let mut child = cmd.spawn().map_err(io("cannot start the agent process"))?;
    let pid = child.id().unwrap_or(0);
    let stdout = child.stdout.take();
    res.child = Some(child);
    let Some(stdout) = stdout else {
        return Err(CliError::Other("the agent's stdout is not piped".into()));
    };
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                let ready = serde_json::from_str::<serde_json::Value>(&line)
                    .ok()
                    .and_then(|v| v.get("ready").and_then(serde_json::Value::as_bool))
                    == Some(true);
                if ready {
                    // Keep draining so the agent never blocks on a full pipe.
                    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                    return Ok(pid);
                }
            }
            Ok(None) | Err(_) => {
                let code = match res.child.as_mut() {
                    Some(c) => c.wait().await.ok().and_then(|s| s.code()),
                    None => None,
                };
                res.agent_exit_code = code;
                return Err(CliError::Other(format!(
                    "the agent process exited before it was ready (exit code {code:?}); see its error above"
                )));
            }
        }
    }
}

/// Waits for the agent process to exit (killing it after
/// [`AGENT_STOP_TIMEOUT`]) and records its exit code.
async fn wait_agent(res: &mut Resources) {
    let Some(mut child) = res.child.take() else {
        return;
    };
    match tokio::time::timeout(AGENT_STOP_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) => res.agent_exit_code = status.code(),
        Ok(Err(e)) => res.problems.push(format!("waiting for the agent: {e}")),
        Err(_) => {
            res.problems
                .push("the agent did not stop after its shutdown request; killed it".into());
            let _ = child.kill().await;
            res.agent_exit_code = child.wait().await.ok().and_then(|s| s.code());
        }
    }
}

/// After an error or the timeout: stop the agent and close the user
/// client (best effort, bounded).
async fn cleanup_after_failure(res: &mut Resources) {
    if let Some(mut child) = res.child.take() {
        let _ = child.kill().await;
        res.agent_exit_code = child.wait().await.ok().and_then(|s| s.code());
    }
    if let Some(user) = res.user.take() {
        let _ = tokio::time::timeout(Duration::from_secs(5), user.close()).await;
    }
}

async fn shutdown_servers(res: &mut Resources) {
    if let Some(server) = res.exchange.take() {
        let idx = res.item("exchange server (embedded)", server.base_url());
        server.shutdown().await;
        res.cleaned(idx, true, "shut down");
    }
    if let Some(emulator) = res.emulator.take() {
        let idx = res.item("Globus Auth emulator (embedded)", emulator.base_url());
        match emulator.shutdown().await {
            Ok(()) => res.cleaned(idx, true, "shut down"),
            Err(e) => res.cleaned(idx, false, format!("shutdown failed: {e}")),
        }
    }
    if let Some(home) = res.home.take() {
        let path = home.path().display().to_string();
        let idx = res.item("temporary ACADEMY_HOME (tokens, registration)", &path);
        match home.close() {
            Ok(()) => res.cleaned(idx, true, "deleted"),
            Err(e) => res.cleaned(idx, false, format!("delete failed: {e}")),
        }
    }
}
