//! What the benchmarks measured: the rows of `target/bench/results.json`.

use serde::{Deserialize, Serialize};

use crate::server_process::{Backend, Implementation};
use crate::stats::Summary;

/// One cell of the matrix: which server, which client, which store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Config {
    /// The server.
    pub server: Implementation,
    /// The client (both ends of every conversation).
    pub client: Implementation,
    /// The server's mailbox store.
    pub backend: Backend,
    /// Globus authentication on (our server introspecting against the
    /// emulator).
    pub auth: bool,
}

impl Config {
    /// `server rs / client py / memory` as `rs-srv py-cli memory`.
    pub fn label(&self) -> String {
        format!(
            "{}-srv {}-cli {}{}",
            self.server.short(),
            self.client.short(),
            self.backend.name(),
            if self.auth { " +auth" } else { "" }
        )
    }

    /// The academy-py/academy-py cell with the same backend.
    pub fn baseline(&self) -> Config {
        Config {
            server: Implementation::Python,
            client: Implementation::Python,
            backend: self.backend,
            auth: false,
        }
    }
}

/// Scenario 1 (and 5): request/response latency.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoundTripRow {
    /// The matrix cell.
    pub config: Config,
    /// `ping`, `100B`, `10KiB`, `500KiB`.
    pub payload: String,
    /// `transport` (the exchange path, both languages) or `handle` (our
    /// full client path: `Handle` ↔ `AgentExchangeClient`).
    pub path: String,
    /// Latency percentiles.
    pub latency: Summary,
    /// Server CPU time per message (request and response each count once).
    pub server_cpu_us_per_msg: f64,
    /// Client CPU time per message (both ends together).
    pub client_cpu_us_per_msg: f64,
}

/// Scenario 2: one-way throughput.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThroughputRow {
    /// The matrix cell.
    pub config: Config,
    /// Concurrent sender→receiver pairs.
    pub pairs: usize,
    /// Messages sent.
    pub sent: u64,
    /// Messages delivered.
    pub received: u64,
    /// From the start signal to the last delivery.
    pub elapsed_s: f64,
    /// Delivered messages per second.
    pub msgs_per_s: f64,
    /// Delivered message bytes (wire JSON) per second, in MB (10⁶ B).
    pub mb_per_s: f64,
    /// Server CPU time per delivered message.
    pub server_cpu_us_per_msg: f64,
    /// Client CPU time per delivered message (sender and receiver together).
    pub client_cpu_us_per_msg: f64,
}

/// Scenario 3: what a server costs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerCostRow {
    /// The server.
    pub server: Implementation,
    /// Its store.
    pub backend: Backend,
    /// RSS right after start.
    pub rss_idle_kib: u64,
    /// RSS after the round-trip and throughput runs of both clients.
    pub rss_after_runs_kib: u64,
    /// Server CPU per message over all throughput runs against it.
    pub throughput_cpu_us_per_msg: f64,
}

/// Scenario 3: idle mailboxes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdleMailboxRow {
    /// The server.
    pub server: Implementation,
    /// Its store.
    pub backend: Backend,
    /// Mailboxes created (registered, never used).
    pub mailboxes: u64,
    /// RSS before creating them.
    pub rss_before_kib: u64,
    /// RSS with all of them.
    pub rss_after_kib: u64,
    /// (after − before) / mailboxes.
    pub bytes_per_mailbox: f64,
    /// Redis `used_memory` growth per mailbox (Redis backend).
    pub redis_bytes_per_mailbox: Option<f64>,
    /// Time to create them.
    pub create_s: f64,
}

/// Scenario 4: many listening mailboxes on one server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanInRow {
    /// The matrix cell (our client: it holds the listeners).
    pub config: Config,
    /// Mailboxes with an open event stream.
    pub listeners: usize,
    /// Messages sent to random mailboxes.
    pub sent: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Send-to-delivery latency.
    pub latency: Summary,
    /// Server RSS before the listeners connected.
    pub rss_before_kib: u64,
    /// Server RSS with every listener connected.
    pub rss_listening_kib: u64,
    /// Server RSS after the messages.
    pub rss_after_kib: u64,
}

/// A target of the issue, checked against this run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetRow {
    /// What is required.
    pub target: String,
    /// What was measured.
    pub measured: String,
    /// Met or not (`None`: not measured in this run).
    pub met: Option<bool>,
}

/// Everything, as written to `results.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    /// When, where and how.
    pub meta: serde_json::Value,
    /// Scenario 1 and 5.
    pub round_trip: Vec<RoundTripRow>,
    /// Scenario 5's control: the same server without authentication,
    /// measured in turns with the authenticated one.
    pub auth_control: Vec<RoundTripRow>,
    /// Scenario 2.
    pub throughput: Vec<ThroughputRow>,
    /// Scenario 3.
    pub server_cost: Vec<ServerCostRow>,
    /// Scenario 3, idle mailboxes.
    pub idle_mailboxes: Vec<IdleMailboxRow>,
    /// Scenario 4.
    pub fan_in: Vec<FanInRow>,
    /// The targets.
    pub targets: Vec<TargetRow>,
    /// Scenarios that failed, with the error.
    pub failures: Vec<String>,
}
