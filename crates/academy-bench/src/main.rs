//! `cargo xtask bench`: academy-rs and academy-py 1.0.0 measured side by
//! side, in the same run, on this machine, over loopback.
//!
//! ```text
//! academy-bench [--quick] [--scenario NAME]… [--backend memory|redis]… [--server rust|python]…
//!               [--client rust|python]… [--payload ping|100B|10KiB|500KiB]… [--client-threads N]
//!               [--out target/bench]
//! ```
//!
//! Prints markdown tables with ratios against the academy-py server +
//! academy-py client baseline, and writes `results.json`, `table.md` and
//! `plot.svg` under `--out`. The Python interpreter comes from
//! `ACADEMY_PY_PYTHON` (the xtask sets it to the pinned venv).

mod client;
mod error;
mod payload;
mod proc_stats;
mod python_driver;
mod report;
mod results;
mod run;
mod scenario;
mod server_process;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::BenchError;
use crate::payload::Payload;
use crate::run::Scenario;
use crate::scenario::{Env, Plan};
use crate::server_process::{Backend, Implementation};

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "academy-bench",
    about = "academy-rs vs academy-py 1.0.0 benchmarks"
)]
struct Cli {
    /// Small counts (well under a minute per backend), for development.
    #[arg(long)]
    quick: bool,
    /// Scenarios to run (repeatable; default all).
    #[arg(long = "scenario", value_enum)]
    scenarios: Vec<Scenario>,
    /// Backends of the matrix (repeatable; default memory and redis).
    #[arg(long = "backend", value_enum)]
    backends: Vec<BackendArg>,
    /// Servers of the matrix (repeatable; default both).
    #[arg(long = "server", value_enum)]
    servers: Vec<ImplArg>,
    /// Clients of the matrix (repeatable; default both).
    #[arg(long = "client", value_enum)]
    clients: Vec<ImplArg>,
    /// Worker threads of our client's runtime (this process). Default 1:
    /// a current-thread runtime, one event loop for every mailbox of the
    /// process, as the academy-py driver's one asyncio loop. N > 1 is
    /// tokio's multi-thread scheduler with N workers (measured slower for
    /// one-at-a-time round trips on this 2-vCPU VM: every hand-off between
    /// workers wakes an idle vCPU).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Round-trip payloads (repeatable: ping, 100B, 10KiB, 500KiB; default
    /// all four).
    #[arg(long = "payload", value_parser = parse_payload)]
    payloads: Vec<Payload>,
    /// Output directory.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Internal commands.
    #[command(subcommand)]
    command: Option<Internal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendArg {
    Memory,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ImplArg {
    Rust,
    Python,
}

fn parse_payload(text: &str) -> Result<Payload, String> {
    Payload::ROUND_TRIP
        .into_iter()
        .find(|p| p.label().eq_ignore_ascii_case(text))
        .ok_or_else(|| format!("unknown payload {text:?} (ping, 100B, 10KiB, 500KiB)"))
}

fn impls(args: &[ImplArg]) -> Vec<Implementation> {
    if args.is_empty() {
        return vec![Implementation::Python, Implementation::Rust];
    }
    let mut out = Vec::new();
    for a in args {
        let i = match a {
            ImplArg::Rust => Implementation::Rust,
            ImplArg::Python => Implementation::Python,
        };
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

#[derive(Debug, Subcommand)]
enum Internal {
    /// Runs our exchange server (used by the harness to measure it as a
    /// separate process).
    #[command(hide = true)]
    ServeExchange {
        /// TOML configuration.
        #[arg(long)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Some(Internal::ServeExchange { config }) => server_process::serve_exchange(config),
        None => bench(&cli),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("academy-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench(cli: &Cli) -> Result<(), BenchError> {
    let python = std::env::var_os("ACADEMY_PY_PYTHON")
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .ok_or_else(|| {
            BenchError::Python("set ACADEMY_PY_PYTHON (cargo xtask bench does)".into())
        })?;
    let mut plan = if cli.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    if !cli.payloads.is_empty() {
        plan.rtt_payloads = cli.payloads.clone();
    }
    let env = Env {
        python,
        servers: impls(&cli.servers),
        clients: impls(&cli.clients),
        plan,
    };
    let scenarios = if cli.scenarios.is_empty() {
        vec![
            Scenario::RoundTrip,
            Scenario::Throughput,
            Scenario::ServerCost,
            Scenario::FanIn,
            Scenario::Auth,
        ]
    } else {
        cli.scenarios.clone()
    };
    let backends: Vec<Backend> = if cli.backends.is_empty() {
        vec![Backend::Memory, Backend::Redis]
    } else {
        cli.backends
            .iter()
            .map(|b| match b {
                BackendArg::Memory => Backend::Memory,
                BackendArg::Redis => Backend::Redis,
            })
            .collect()
    };
    let runtime = match cli.client_threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
    .map_err(|e| BenchError::io("tokio runtime", e))?;
    let started = std::time::Instant::now();
    let cpu_before = proc_stats::machine_cpu();
    let mut results = runtime.block_on(run::run(&env, &scenarios, &backends));
    results.meta = serde_json::json!({
        "quick": cli.quick,
        "client_threads": cli.client_threads,
        "scenarios": format!("{scenarios:?}"),
        "backends": backends,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "clock_ticks": proc_stats::clock_ticks(),
        "duration_s": started.elapsed().as_secs_f64(),
        "machine_cpu": proc_stats::machine_cpu().zip(cpu_before).map(|(a, b)| {
            let total = (a.total - b.total).max(1) as f64;
            serde_json::json!({
                "busy_share": (a.busy - b.busy) as f64 / total,
                "steal_share": (a.steal - b.steal) as f64 / total,
            })
        }),
        "loadavg_end": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "method": report::METHOD,
        "plan": format!("{:?}", env.plan),
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));

    std::fs::create_dir_all(&cli.out).map_err(|e| BenchError::Write {
        path: cli.out.clone(),
        source: e,
    })?;
    let table = report::markdown(&results);
    println!("{table}");
    let write = |name: &str, text: &str| {
        let path = cli.out.join(name);
        std::fs::write(&path, text).map_err(|e| BenchError::Write { path, source: e })
    };
    write("results.json", &serde_json::to_string_pretty(&results)?)?;
    write("table.md", &table)?;
    report::plot::draw(&results, &cli.out.join("plot.svg"))?;
    println!(
        "wrote {}/results.json, table.md, plot.svg",
        cli.out.display()
    );
    Ok(())
}
