//! Runs the selected scenarios over the matrix {our server, academy-py
//! server} × {our client, academy-py client} × {memory, Redis} and
//! collects the rows. A failing scenario is recorded and the run goes on.

use academy_testkit::redis::RedisServer;

use crate::error::BenchError;
use crate::payload::Payload;
use crate::results::{Config, Results, RoundTripRow, ServerCostRow, ThroughputRow};
use crate::scenario::auth::AuthSetup;
use crate::scenario::{Env, Target, fan_in, handle_path, idle_mailboxes, round_trip, throughput};
use crate::server_process::{Backend, Implementation, ServerProcess, ServerSettings};
use crate::stats::Summary;

/// The scenarios, by CLI name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// 1: request/response latency.
    RoundTrip,
    /// 2: one-way throughput.
    Throughput,
    /// 3: server CPU and memory, idle mailboxes.
    ServerCost,
    /// 4: many listening mailboxes.
    FanIn,
    /// 5: round trip with Globus authentication.
    Auth,
}

/// Runs everything selected.
pub async fn run(env: &Env, scenarios: &[Scenario], backends: &[Backend]) -> Results {
    let mut results = Results::default();
    let wants = |s: Scenario| scenarios.contains(&s);
    let wants_matrix = wants(Scenario::RoundTrip) || wants(Scenario::Throughput);
    if wants_matrix || wants(Scenario::ServerCost) {
        for &backend in backends {
            if let Err(e) = matrix(env, backend, scenarios, &mut results).await {
                results
                    .failures
                    .push(format!("{} matrix: {e}", backend.name()));
            }
        }
    }
    if wants(Scenario::Auth)
        && let Err(e) = auth(env, &mut results).await
    {
        results.failures.push(format!("auth: {e}"));
    }
    if wants(Scenario::ServerCost) {
        for &backend in backends {
            for &server in &env.servers {
                progress(&format!(
                    "idle mailboxes on {}-srv {}",
                    server.short(),
                    backend.name()
                ));
                match idle_mailboxes::run(env, server, backend).await {
                    Ok(row) => results.idle_mailboxes.push(row),
                    Err(e) => results.failures.push(format!(
                        "idle mailboxes {}-srv {}: {e}",
                        server.short(),
                        backend.name()
                    )),
                }
            }
        }
    }
    if wants(Scenario::FanIn) {
        for &server in &env.servers {
            progress(&format!(
                "fan-in: {} listeners on {}-srv",
                env.plan.fan_in_listeners,
                server.short()
            ));
            match fan_in::run(env, server).await {
                Ok(row) => results.fan_in.push(row),
                Err(e) => results
                    .failures
                    .push(format!("fan-in {}-srv: {e}", server.short())),
            }
        }
    }
    results.targets = crate::report::targets::evaluate(&results);
    results
}

fn progress(what: &str) {
    eprintln!("[academy-bench] {what}");
}

/// One server of the matrix, with its Redis and running totals.
struct Running {
    server: ServerProcess,
    implementation: Implementation,
    target: Target,
    idle_rss_kib: u64,
    tp_cpu_us: f64,
    tp_msgs: u64,
    // Dropped (killed) after the server.
    _redis: Option<RedisServer>,
}

/// Every cell of one backend. All servers run at once (an idle server
/// costs no CPU) and the cells take turns: round trips in blocks, each
/// throughput pair count for every cell in a row, so that a drift of the
/// shared machine's speed hits every cell alike.
async fn matrix(
    env: &Env,
    backend: Backend,
    scenarios: &[Scenario],
    results: &mut Results,
) -> Result<(), BenchError> {
    let mut running = Vec::new();
    for &implementation in &env.servers {
        // A private Redis per server, so that one server's keys never meet the other's.
        let redis = match backend {
            Backend::Redis => Some(
                RedisServer::start()
                    .await
                    .map_err(|e| BenchError::Redis(format!("{e:#}")))?,
            ),
            Backend::Memory => None,
        };
        let settings = ServerSettings {
            redis_port: redis.as_ref().map(RedisServer::port),
            ..ServerSettings::default()
        };
        let server = ServerProcess::start(implementation, &settings, &env.python).await?;
        let idle = server.sample()?;
        let target = Target {
            url: server.base_url().to_string(),
            token: None,
        };
        running.push(Running {
            server,
            implementation,
            target,
            idle_rss_kib: idle.rss_kib,
            tp_cpu_us: 0.0,
            tp_msgs: 0,
            _redis: redis,
        });
    }
    let cells: Vec<(usize, Config)> = running
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            env.clients.iter().map(move |&client| {
                (
                    i,
                    Config {
                        server: r.implementation,
                        client,
                        backend,
                        auth: false,
                    },
                )
            })
        })
        .collect();
    if scenarios.contains(&Scenario::RoundTrip) {
        let targets: Vec<(&ServerProcess, &Target, Config)> = cells
            .iter()
            .map(|&(i, c)| (&running[i].server, &running[i].target, c))
            .collect();
        let (rows, failures) = round_trips(env, &targets).await;
        results.round_trip.extend(rows);
        results.failures.extend(failures);
    }
    if scenarios.contains(&Scenario::Throughput) {
        for &pairs in &env.plan.tp_pairs {
            for &(i, config) in &cells {
                let r = &mut running[i];
                progress(&format!("throughput {} pairs={pairs}", config.label()));
                match throughput::run(env, &r.server, &r.target, config.client, pairs).await {
                    Ok(m) => {
                        let o = m.value;
                        r.tp_cpu_us += m.server_cpu_us;
                        r.tp_msgs += o.received;
                        let rate = if o.elapsed_s > 0.0 {
                            o.received as f64 / o.elapsed_s
                        } else {
                            0.0
                        };
                        let wire = Payload::Bytes(env.plan.tp_payload).wire_bytes() as f64;
                        results.throughput.push(ThroughputRow {
                            config,
                            pairs,
                            sent: o.sent,
                            received: o.received,
                            elapsed_s: o.elapsed_s,
                            msgs_per_s: rate,
                            mb_per_s: rate * wire / 1e6,
                            server_cpu_us_per_msg: per(m.server_cpu_us, o.received),
                            client_cpu_us_per_msg: per(m.client_cpu_us, o.received),
                        });
                    }
                    Err(e) => results
                        .failures
                        .push(format!("throughput {} pairs={pairs}: {e}", config.label())),
                }
            }
        }
        // Keep the table grouped by cell.
        results.throughput.sort_by_key(|r| {
            (
                r.config.backend.name(),
                r.config.server.short(),
                r.config.client.short(),
                r.pairs,
            )
        });
    }
    for r in running {
        let after = r.server.sample()?;
        results.server_cost.push(ServerCostRow {
            server: r.implementation,
            backend,
            rss_idle_kib: r.idle_rss_kib,
            rss_after_runs_kib: after.rss_kib,
            throughput_cpu_us_per_msg: per(r.tp_cpu_us, r.tp_msgs),
        });
        r.server.stop().await;
    }
    Ok(())
}

/// Pooled samples of one round-trip row.
#[derive(Default)]
struct Pool {
    latencies: Vec<f64>,
    server_cpu_us: f64,
    client_cpu_us: f64,
    failed: Option<String>,
}

/// Round trips for every cell, in blocks (see [`matrix`]); the transport
/// path for every client, and the `Handle` path for ours.
async fn round_trips(
    env: &Env,
    cells: &[(&ServerProcess, &Target, Config)],
) -> (Vec<RoundTripRow>, Vec<String>) {
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    // (cell, path, payload); path 0 = transport, 1 = handle.
    type Key = (usize, usize, usize);
    let mut pools: std::collections::BTreeMap<Key, Pool> = Default::default();
    const PATHS: [&str; 2] = ["transport", "handle"];
    let paths = |c: &Config| -> usize {
        if c.client == Implementation::Rust {
            2
        } else {
            1
        }
    };
    for block_no in 0..env.plan.rtt_blocks.max(1) {
        for (p, &payload) in env.plan.rtt_payloads.iter().enumerate() {
            let block = round_trip::block(env, payload);
            for (c, (server, target, config)) in cells.iter().enumerate() {
                for (path_no, path) in PATHS.iter().enumerate().take(paths(config)) {
                    let pool = pools.entry((c, path_no, p)).or_default();
                    if pool.failed.is_some() {
                        continue;
                    }
                    progress(&format!(
                        "round trip {} {} {path} (block {})",
                        config.label(),
                        payload.label(),
                        block_no + 1
                    ));
                    let outcome = if *path == "handle" {
                        handle_path::run(server, target, payload, block).await
                    } else {
                        round_trip::run(env, server, target, config.client, payload, block).await
                    };
                    match outcome {
                        Ok(m) => {
                            pool.latencies.extend(m.value);
                            pool.server_cpu_us += m.server_cpu_us;
                            pool.client_cpu_us += m.client_cpu_us;
                        }
                        Err(e) => pool.failed = Some(e.to_string()),
                    }
                }
            }
        }
    }
    for ((c, path_no, p), pool) in pools {
        let path = PATHS[path_no];
        let config = cells[c].2;
        let payload = env.plan.rtt_payloads[p];
        if let Some(e) = pool.failed {
            failures.push(format!(
                "round trip {} {} {path}: {e}",
                config.label(),
                payload.label()
            ));
            continue;
        }
        let latency = Summary::of(&pool.latencies);
        rows.push(RoundTripRow {
            config,
            payload: payload.label(),
            path: path.into(),
            latency,
            server_cpu_us_per_msg: per(pool.server_cpu_us, 2 * latency.count as u64),
            client_cpu_us_per_msg: per(pool.client_cpu_us, 2 * latency.count as u64),
        });
    }
    (rows, failures)
}

/// Scenario 5: our server with Globus authentication and, as the
/// control, the same server without, measured in turns.
async fn auth(env: &Env, results: &mut Results) -> Result<(), BenchError> {
    let setup = AuthSetup::start().await?;
    let settings = ServerSettings {
        auth_section: Some(setup.auth_section.clone()),
        ..ServerSettings::default()
    };
    let outcome = async {
        let secured = ServerProcess::start(Implementation::Rust, &settings, &env.python).await?;
        let plain = ServerProcess::start(
            Implementation::Rust,
            &ServerSettings::default(),
            &env.python,
        )
        .await?;
        let secured_target = Target {
            url: secured.base_url().to_string(),
            token: Some(setup.token.clone()),
        };
        let plain_target = Target {
            url: plain.base_url().to_string(),
            token: None,
        };
        let mut cells = Vec::new();
        for &client in &env.clients {
            let config = Config {
                server: Implementation::Rust,
                client,
                backend: Backend::Memory,
                auth: true,
            };
            cells.push((&secured, &secured_target, config));
            cells.push((
                &plain,
                &plain_target,
                Config {
                    auth: false,
                    ..config
                },
            ));
        }
        let (rows, failures) = round_trips(env, &cells).await;
        for row in rows {
            if row.config.auth {
                results.round_trip.push(row);
            } else {
                results.auth_control.push(row);
            }
        }
        results.failures.extend(failures);
        secured.stop().await;
        plain.stop().await;
        Ok(())
    }
    .await;
    setup.stop().await;
    outcome
}

fn per(total_us: f64, n: u64) -> f64 {
    if n == 0 { 0.0 } else { total_us / n as f64 }
}
