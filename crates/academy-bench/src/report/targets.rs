//! The targets, checked against one run's results.

use crate::results::{Config, Results, TargetRow};
use crate::server_process::{Backend, Implementation};

const RS: Implementation = Implementation::Rust;
const PY: Implementation = Implementation::Python;

fn cell(server: Implementation, client: Implementation, backend: Backend) -> Config {
    Config {
        server,
        client,
        backend,
        auth: false,
    }
}

/// p50 of the ping round trip of a cell.
pub fn ping_p50(results: &Results, config: Config) -> Option<f64> {
    results
        .round_trip
        .iter()
        .find(|r| {
            r.config == config
                && r.payload == "ping"
                && r.path == "transport"
                && r.latency.count > 0
        })
        .map(|r| r.latency.p50_us)
}

/// Best messages/s of a cell over its pair counts.
pub fn best_rate(results: &Results, config: Config) -> Option<f64> {
    results
        .throughput
        .iter()
        .filter(|r| r.config == config)
        .map(|r| r.msgs_per_s)
        .fold(None, |best, x| Some(best.map_or(x, |b: f64| b.max(x))))
}

/// Evaluates every target on the in-memory cells.
pub fn evaluate(results: &Results) -> Vec<TargetRow> {
    let mut rows = Vec::new();
    let backend = Backend::Memory;
    let base = cell(PY, PY, backend);
    let ours = cell(RS, RS, backend);
    let fmt_ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };

    let (bp, op) = (ping_p50(results, base), ping_p50(results, ours));
    let speedup = fmt_ratio(bp, op);
    rows.push(TargetRow {
        target: "p50 ping round trip, rs-srv rs-cli ≤ 1/10 of py-srv py-cli (memory)".into(),
        measured: match (bp, op, speedup) {
            (Some(b), Some(o), Some(s)) => format!("{o:.0} µs vs {b:.0} µs: {s:.1}× faster"),
            _ => "not measured".into(),
        },
        met: speedup.map(|s| s >= 10.0),
    });

    let (br, or) = (best_rate(results, base), best_rate(results, ours));
    let gain = fmt_ratio(or, br);
    rows.push(TargetRow {
        target: "best throughput, rs-srv rs-cli ≥ 10× py-srv py-cli (memory)".into(),
        measured: match (br, or, gain) {
            (Some(b), Some(o), Some(g)) => format!("{o:.0} vs {b:.0} msg/s: {g:.1}×"),
            _ => "not measured".into(),
        },
        met: gain.map(|g| g >= 10.0),
    });

    let (pyc, rsc) = (
        ping_p50(results, cell(PY, PY, backend)),
        ping_p50(results, cell(PY, RS, backend)),
    );
    let (pyt, rst) = (
        best_rate(results, cell(PY, PY, backend)),
        best_rate(results, cell(PY, RS, backend)),
    );
    let lat = fmt_ratio(pyc, rsc);
    let thr = fmt_ratio(rst, pyt);
    rows.push(TargetRow {
        target: "our client faster than academy-py's against academy-py's server (memory)".into(),
        measured: match (lat, thr) {
            (Some(l), Some(t)) => format!("p50 ping {l:.2}× faster, best throughput {t:.2}×"),
            (Some(l), None) => format!("p50 ping {l:.2}× faster"),
            _ => "not measured".into(),
        },
        met: match (lat, thr) {
            (Some(l), Some(t)) => Some(l > 1.0 && t > 1.0),
            (Some(l), None) => Some(l > 1.0),
            _ => None,
        },
    });

    let idle = results
        .idle_mailboxes
        .iter()
        .find(|r| r.server == RS && r.backend == Backend::Memory);
    rows.push(TargetRow {
        target: "idle mailbox < 2 KiB of server memory (rs-srv)".into(),
        measured: idle.map_or("not measured".into(), |r| {
            format!(
                "{:.0} B per mailbox ({} mailboxes)",
                r.bytes_per_mailbox, r.mailboxes
            )
        }),
        met: idle.map(|r| r.bytes_per_mailbox < 2048.0),
    });
    rows
}
