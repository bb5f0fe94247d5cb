//! The five scenarios of the issue. Every scenario has a message count and
//! a wall-clock cap, talks over loopback only, and measures the server's
//! CPU time from `/proc` around the measured phase only (after set-up and
//! warm-up, before clean-up).

pub mod auth;
pub mod fan_in;
pub mod handle_path;
pub mod idle_mailboxes;
pub mod round_trip;
pub mod throughput;

use std::path::PathBuf;
use std::time::Duration;

use academy_globus_client::Secret;

use crate::payload::Payload;
use crate::server_process::Implementation;

/// Counts and caps of one run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Round trips per payload (ping, 100 B, 10 KiB).
    pub rtt_count: usize,
    /// Round trips of the 500 KiB payload.
    pub rtt_count_large: usize,
    /// Unmeasured trips first (split over the blocks).
    pub rtt_warmup: usize,
    /// Cap of one payload's measured trips (split over the blocks).
    pub rtt_cap: Duration,
    /// Blocks the trips are split into, run in turn for every cell.
    pub rtt_blocks: usize,
    /// Messages per throughput run (split over the pairs).
    pub tp_messages: usize,
    /// Payload of each throughput message.
    pub tp_payload: usize,
    /// Pair counts.
    pub tp_pairs: Vec<usize>,
    /// Cap of one throughput run.
    pub tp_cap: Duration,
    /// Idle mailboxes created for the memory cost.
    pub idle_mailboxes: usize,
    /// Listening mailboxes of the fan-in.
    pub fan_in_listeners: usize,
    /// Messages of the fan-in.
    pub fan_in_messages: usize,
    /// Cap of the fan-in's messages.
    pub fan_in_cap: Duration,
    /// Round-trip payloads measured (default all of [`Payload::ROUND_TRIP`]).
    pub rtt_payloads: Vec<Payload>,
}

impl Plan {
    /// The full run.
    pub fn full() -> Plan {
        Plan {
            rtt_count: 3000,
            rtt_count_large: 300,
            rtt_warmup: 100,
            rtt_cap: Duration::from_secs(20),
            rtt_blocks: 5,
            tp_messages: 30_000,
            tp_payload: 1024,
            tp_pairs: vec![1, 4, 16, 64],
            tp_cap: Duration::from_secs(20),
            idle_mailboxes: 100_000,
            fan_in_listeners: 10_000,
            fan_in_messages: 20_000,
            fan_in_cap: Duration::from_secs(60),
            rtt_payloads: Payload::ROUND_TRIP.to_vec(),
        }
    }

    /// `--quick`: small counts, well under a minute per backend.
    pub fn quick() -> Plan {
        Plan {
            rtt_count: 200,
            rtt_count_large: 20,
            rtt_warmup: 20,
            rtt_cap: Duration::from_secs(4),
            rtt_blocks: 2,
            tp_messages: 2000,
            tp_payload: 1024,
            tp_pairs: vec![1, 4, 16, 64],
            tp_cap: Duration::from_secs(4),
            idle_mailboxes: 2000,
            fan_in_listeners: 300,
            fan_in_messages: 1000,
            fan_in_cap: Duration::from_secs(10),
            rtt_payloads: Payload::ROUND_TRIP.to_vec(),
        }
    }
}

/// What every scenario needs.
#[derive(Debug, Clone)]
pub struct Env {
    /// The academy-py venv interpreter.
    pub python: PathBuf,
    /// Counts and caps.
    pub plan: Plan,
    /// Servers to measure.
    pub servers: Vec<Implementation>,
    /// Clients to measure.
    pub clients: Vec<Implementation>,
}

/// A server to talk to: its URL and, with authentication, a bearer token.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Access token for the exchange scope.
    pub token: Option<Secret>,
}

impl Target {
    /// Extra request headers for the Python driver.
    pub fn py_headers(&self) -> serde_json::Value {
        match &self.token {
            Some(t) => serde_json::json!({ "Authorization": format!("Bearer {}", t.expose()) }),
            None => serde_json::json!({}),
        }
    }
}

/// A result and the server CPU time spent producing it.
#[derive(Debug, Clone)]
pub struct Measured<T> {
    /// The scenario's result.
    pub value: T,
    /// Server CPU µs between the start and end of the measured phase.
    pub server_cpu_us: f64,
    /// Client CPU µs over the same phase (the academy-py driver process,
    /// or this process for our client; both ends of the conversation).
    pub client_cpu_us: f64,
}

/// CPU time of this process (our client runs in it).
pub fn own_cpu_us() -> f64 {
    crate::proc_stats::sample(std::process::id()).map_or(0.0, |s| s.cpu_us)
}
