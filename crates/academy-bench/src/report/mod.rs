//! The outputs: markdown tables (printed and written to `table.md`),
//! `results.json` and `plot.svg`.

pub mod plot;
pub mod targets;

use std::fmt::Write as _;

use crate::results::Results;

/// How a round trip and a throughput run are measured, for readers of
/// the table.
pub const METHOD: &str = "Round trips and throughput run at the transport level on both sides \
(user `send` → agent's listen stream → agent `send`s the answer → user's listen stream; \
server-sent events, one HTTP connection pool per mailbox), so both languages measure the \
exchange path, not their agent runtimes. Ratios compare with the academy-py server + \
academy-py client cell of the same backend. Server CPU comes from /proc/<pid>/stat of the \
server process around the measured phase only.";

fn ratio(base: Option<f64>, x: f64, higher_is_better: bool) -> String {
    match base {
        Some(b) if b > 0.0 && x > 0.0 => {
            let r = if higher_is_better { x / b } else { b / x };
            format!("{r:.1}×")
        }
        _ => "–".into(),
    }
}

fn kib(v: u64) -> String {
    format!("{:.1} MiB", v as f64 / 1024.0)
}

/// All tables as markdown.
pub fn markdown(results: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{METHOD}\n");
    if !results.round_trip.is_empty() {
        let _ = writeln!(
            out,
            "### Round trip (scenario 1; +auth = scenario 5)\n\n| server | client | backend | payload | p50 µs | p90 µs | p99 µs | trips | server CPU µs/msg | client CPU µs/msg | p50 vs py/py |\n|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in &results.round_trip {
            let base = results
                .round_trip
                .iter()
                .find(|b| {
                    b.config == r.config.baseline()
                        && b.payload == r.payload
                        && b.path == "transport"
                })
                .map(|b| b.latency.p50_us);
            let _ = writeln!(
                out,
                "| {} | {}{} | {}{} | {} | {:.0} | {:.0} | {:.0} | {} | {:.0} | {:.0} | {} |",
                r.config.server.short(),
                r.config.client.short(),
                if r.path == "handle" { " (Handle)" } else { "" },
                r.config.backend.name(),
                if r.config.auth { " +auth" } else { "" },
                r.payload,
                r.latency.p50_us,
                r.latency.p90_us,
                r.latency.p99_us,
                r.latency.count,
                r.server_cpu_us_per_msg,
                r.client_cpu_us_per_msg,
                ratio(base, r.latency.p50_us, false),
            );
        }
        out.push('\n');
    }
    let auth_rows: Vec<_> = results
        .round_trip
        .iter()
        .filter(|r| r.config.auth)
        .collect();
    if !auth_rows.is_empty() {
        let _ = writeln!(
            out,
            "### What Globus authentication costs (scenario 5: rs-srv with auth vs the same server without, measured in turns)\n\n| client | path | payload | p50 µs without auth | p50 µs with auth | added p50 µs | server CPU µs/msg without → with |\n|---|---|---|---:|---:|---:|---:|"
        );
        for r in auth_rows {
            let plain = results.auth_control.iter().find(|b| {
                b.config.client == r.config.client && b.payload == r.payload && b.path == r.path
            });
            let (p50, cpu, added) = plain.map_or(
                ("–".to_string(), "–".to_string(), "–".to_string()),
                |b| {
                    (
                        format!("{:.0}", b.latency.p50_us),
                        format!("{:.0}", b.server_cpu_us_per_msg),
                        format!("{:+.0}", r.latency.p50_us - b.latency.p50_us),
                    )
                },
            );
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.0} | {} | {} → {:.0} |",
                r.config.client.short(),
                r.path,
                r.payload,
                p50,
                r.latency.p50_us,
                added,
                cpu,
                r.server_cpu_us_per_msg
            );
        }
        out.push('\n');
    }
    if !results.throughput.is_empty() {
        let _ = writeln!(
            out,
            "### One-way throughput (scenario 2)\n\n| server | client | backend | pairs | msg/s | MB/s | delivered/sent | server CPU µs/msg | client CPU µs/msg | msg/s vs py/py |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in &results.throughput {
            let base = results
                .throughput
                .iter()
                .find(|b| b.config == r.config.baseline() && b.pairs == r.pairs)
                .map(|b| b.msgs_per_s);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.0} | {:.2} | {}/{} | {:.0} | {:.0} | {} |",
                r.config.server.short(),
                r.config.client.short(),
                r.config.backend.name(),
                r.pairs,
                r.msgs_per_s,
                r.mb_per_s,
                r.received,
                r.sent,
                r.server_cpu_us_per_msg,
                r.client_cpu_us_per_msg,
                ratio(base, r.msgs_per_s, true),
            );
        }
        out.push('\n');
    }
    if !results.server_cost.is_empty() || !results.idle_mailboxes.is_empty() {
        let _ = writeln!(
            out,
            "### Server cost (scenario 3)\n\n| server | backend | RSS idle | RSS after runs | CPU µs/msg (throughput runs) |\n|---|---|---:|---:|---:|"
        );
        for r in &results.server_cost {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.0} |",
                r.server.short(),
                r.backend.name(),
                kib(r.rss_idle_kib),
                kib(r.rss_after_runs_kib),
                r.throughput_cpu_us_per_msg
            );
        }
        out.push('\n');
        if !results.idle_mailboxes.is_empty() {
            let _ = writeln!(
                out,
                "| server | backend | idle mailboxes | RSS before | RSS with them | server bytes/mailbox | Redis bytes/mailbox | created in |\n|---|---|---:|---:|---:|---:|---:|---:|"
            );
            for r in &results.idle_mailboxes {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {:.0} | {} | {:.1} s |",
                    r.server.short(),
                    r.backend.name(),
                    r.mailboxes,
                    kib(r.rss_before_kib),
                    kib(r.rss_after_kib),
                    r.bytes_per_mailbox,
                    r.redis_bytes_per_mailbox
                        .map_or("–".to_string(), |b| format!("{b:.0}")),
                    r.create_s
                );
            }
            out.push('\n');
        }
    }
    if !results.fan_in.is_empty() {
        let _ = writeln!(
            out,
            "### Fan-in (scenario 4; listeners held by our client)\n\n| server | listeners | delivered/sent | p50 µs | p99 µs | RSS before | RSS listening | RSS after |\n|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in &results.fan_in {
            let _ = writeln!(
                out,
                "| {} | {} | {}/{} | {:.0} | {:.0} | {} | {} | {} |",
                r.config.server.short(),
                r.listeners,
                r.delivered,
                r.sent,
                r.latency.p50_us,
                r.latency.p99_us,
                kib(r.rss_before_kib),
                kib(r.rss_listening_kib),
                kib(r.rss_after_kib)
            );
        }
        out.push('\n');
    }
    if !results.targets.is_empty() {
        let _ = writeln!(
            out,
            "### Targets\n\n| target | measured | met |\n|---|---|---|"
        );
        for t in &results.targets {
            let met = match t.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "–",
            };
            let _ = writeln!(out, "| {} | {} | {} |", t.target, t.measured, met);
        }
        out.push('\n');
    }
    if !results.failures.is_empty() {
        let _ = writeln!(out, "### Failures\n");
        for f in &results.failures {
            let _ = writeln!(out, "* {f}");
        }
        out.push('\n');
    }
    out
}
